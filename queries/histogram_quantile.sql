-- The q-quantile of a classic histogram per series group (site, service and labels but le) and time, from its _bucket series, computed as Prometheus's histogram_quantile() does.
-- @param metric     the histogram: its family name (http_request_duration_seconds) or its _bucket series' name
-- @param q=0.95     the quantile, from 0 to 1
-- @param from=null  start of the window (inclusive), any time dvlab parses; null for the first sample
-- @param to=null    end of the window (exclusive); null for no bound
-- @param step=null  null: the quantile at each sample time, of the buckets' counts then; an interval of fixed length (weeks to seconds, such as '5 minutes'): the quantile of what the buckets gained in each step of the window, steps starting at the window's start
--
-- Buckets are sorted by their upper bound (le; "+Inf" is infinity), buckets with the same
-- bound are added together, and the cumulative counts are forced to rise (a count below
-- the one of a lower bucket counts as that one's), as Prometheus does. With observations
-- the count of the +Inf bucket, the rank is q * observations and the answer lies in the
-- first bucket whose count reaches the rank: interpolated linearly between the bucket's
-- lower bound (the previous bucket's upper bound, or 0 for the first bucket) and its upper
-- bound. A first bucket whose upper bound is 0 or less gives that bound; a rank only the
-- +Inf bucket reaches gives the largest finite upper bound. q below 0 gives -infinity and
-- q above 1 +infinity. Where Prometheus gives NaN the quantile is NULL: no +Inf bucket,
-- no finite bucket, no observations (or none in the step), or q = 0 with an empty first
-- bucket. Prometheus's tolerance for tiny floating-point dips between buckets is not
-- applied. Buckets count together when they were sampled at the same moment (one scrape).
-- With a step, a bucket's gain is the sum of its rises between consecutive samples in the
-- step, a drop being a counter reset (the new value is the gain); a bucket needs two
-- samples in the step. That is histogram_quantile(q, increase(x_bucket[step])) without
-- increase()'s extrapolation, which scales every bucket alike when they are scraped
-- together (and so does not move the quantile) unless a bucket is extrapolated to zero.
WITH
bounds AS (
    -- (a step is checked: a month has no fixed length, see dvlab.lab.metricmacros)
    SELECT dvlab_step_start($step, coalesce(dvlab_ts($from::VARCHAR), min(ts))) AS lo,
           dvlab_ts($to::VARCHAR) AS hi
    FROM metrics
    WHERE name = CASE WHEN suffix($metric::VARCHAR, '_bucket') THEN $metric::VARCHAR
                      ELSE $metric::VARCHAR || '_bucket' END
),
samples AS (
    SELECT m.site, m.service,
           map_from_entries(list_sort(list_filter(map_entries(m.labels),
                                                  lambda e: e.key <> 'le'))) AS labels,
           m.labels['le'] AS le_text,
           TRY_CAST(m.labels['le'] AS DOUBLE) AS le,
           m.ts, m.value,
           CASE WHEN $step IS NULL THEN m.ts
                ELSE time_bucket($step::INTERVAL, m.ts, b.lo) END AS moment
    FROM metrics AS m, bounds AS b
    WHERE m.name = CASE WHEN suffix($metric::VARCHAR, '_bucket') THEN $metric::VARCHAR
                        ELSE $metric::VARCHAR || '_bucket' END
      AND m.ts >= b.lo AND (b.hi IS NULL OR m.ts < b.hi)
      AND m.value IS NOT NULL AND NOT isnan(m.value)
      AND TRY_CAST(m.labels['le'] AS DOUBLE) IS NOT NULL
),
gains AS (
    -- a sample's count (no step), or its bucket's gain since the sample before in the step
    SELECT site, service, labels, moment, le,
           CASE WHEN $step IS NULL THEN value
                WHEN value < prev THEN value
                ELSE value - prev END AS gain
    FROM (SELECT *, lag(value) OVER (PARTITION BY site, service, labels, le_text, moment
                                     ORDER BY ts) AS prev
          FROM samples)
),
buckets AS (
    SELECT site, service, labels, moment, le, sum(gain) AS count
    FROM gains
    GROUP BY ALL
    HAVING count(gain) > 0
),
cumulative AS (
    SELECT *,
           max(count) OVER (PARTITION BY site, service, labels, moment ORDER BY le
                            ROWS UNBOUNDED PRECEDING) AS cum
    FROM buckets
),
neighbours AS (
    SELECT *,
           lag(le) OVER w AS lower_le,
           lag(cum) OVER w AS lower_cum,
           max(cum) FILTER (WHERE le = 'inf'::DOUBLE) OVER g AS observations
    FROM cumulative
    WINDOW w AS (PARTITION BY site, service, labels, moment ORDER BY le),
           g AS (PARTITION BY site, service, labels, moment)
),
groups AS (
    SELECT site, service, labels, moment,
           any_value(observations) AS observations,
           count(*) FILTER (WHERE le < 'inf'::DOUBLE) AS finite_buckets,
           max(le) FILTER (WHERE le < 'inf'::DOUBLE) AS largest_finite,
           -- the first finite bucket whose cumulative count reaches the rank
           arg_min({'le': le, 'lower_le': lower_le, 'cum': cum, 'lower_cum': lower_cum}, le)
               FILTER (WHERE le < 'inf'::DOUBLE AND cum >= $q::DOUBLE * observations) AS hit
    FROM neighbours
    GROUP BY ALL
)
SELECT site, service, labels, moment AS ts, observations,
       CASE
           WHEN $q::DOUBLE < 0 THEN '-inf'::DOUBLE
           WHEN $q::DOUBLE > 1 THEN 'inf'::DOUBLE
           WHEN observations IS NULL OR observations = 0 OR finite_buckets = 0 THEN NULL
           WHEN hit IS NULL THEN largest_finite
           WHEN hit.lower_le IS NULL AND hit.le <= 0 THEN hit.le
           ELSE coalesce(hit.lower_le, 0)
                + (hit.le - coalesce(hit.lower_le, 0))
                  * ($q::DOUBLE * observations - coalesce(hit.lower_cum, 0))
                  / nullif(hit.cum - coalesce(hit.lower_cum, 0), 0)
       END AS quantile
FROM groups
ORDER BY ts, site NULLS FIRST, service NULLS FIRST, labels::VARCHAR
