-- A counter's increase and per-second rate per series (name, site, service and labels) over a window or each step of it: resets handled and the result extrapolated to the window's edges as Prometheus's increase() and rate() do.
-- @param metric     the counter's metric name, such as http_requests_total
-- @param from=null  start of the window (inclusive), any time dvlab parses; null for the counter's first sample
-- @param to=null    end of the window (exclusive); null to end at the counter's last sample (included)
-- @param step=null  one row per series and step of this length (a fixed length: weeks to seconds, such as '5 minutes'), steps starting at the window's start; null for one row per series
--
-- Only the samples inside a window (or step) count, and a series needs two there to get a
-- row. A value lower than the one before is a counter reset: the counter restarted from 0,
-- so the increase across it is the new value. observed_increase is what the samples show
-- (last - first + the value before each reset); increase extrapolates it as Prometheus's
-- rate() does now: towards each edge of the window by the distance to that edge when that
-- is under 1.1 average sample intervals, else by half an interval; then, at the start,
-- never back past the moment the counter would have been 0. rate is increase divided by
-- the window's length in seconds. An increase across a step boundary belongs to neither
-- step, as in Prometheus.
-- The window is [from, to) like every window in the lab; Prometheus's range is
-- (start, end], which differs only for a sample exactly on a bound. A series sampled twice
-- at one moment (one scrape loaded from two files) counts once; NaN samples are skipped.
WITH
bounds AS (
    -- (a step is checked: a month has no fixed length, see dvlab.lab.metricmacros)
    SELECT dvlab_step_start($step, coalesce(dvlab_ts($from::VARCHAR), min(ts))) AS lo,
           dvlab_ts($to::VARCHAR) AS hi,
           coalesce(dvlab_ts($to::VARCHAR), max(ts)) AS range_end
    FROM metrics
    WHERE name = $metric::VARCHAR
),
samples AS (
    SELECT m.site, m.service, map_from_entries(list_sort(map_entries(m.labels))) AS labels,
           m.ts, max(m.value) AS value,
           CASE WHEN $step IS NULL THEN b.lo
                ELSE time_bucket($step::INTERVAL, m.ts, b.lo) END AS window_start,
           CASE WHEN $step IS NULL THEN b.range_end
                ELSE least(time_bucket($step::INTERVAL, m.ts, b.lo) + $step::INTERVAL,
                           b.range_end) END AS window_end
    FROM metrics AS m, bounds AS b
    WHERE m.name = $metric::VARCHAR
      AND m.ts >= b.lo AND (b.hi IS NULL OR m.ts < b.hi)
      AND m.value IS NOT NULL AND NOT isnan(m.value)
    GROUP BY ALL
),
deltas AS (
    SELECT *,
           lag(value) OVER (PARTITION BY site, service, labels, window_start ORDER BY ts) AS prev
    FROM samples
),
windows AS (
    SELECT site, service, labels, window_start, window_end,
           count(*) AS samples,
           min(ts) AS first_ts,
           max(ts) AS last_ts,
           arg_min(value, ts) AS first_value,
           count(*) FILTER (WHERE value < prev) AS resets,
           sum(CASE WHEN value < prev THEN value ELSE value - prev END) AS observed_increase
    FROM deltas
    GROUP BY ALL
    HAVING count(*) >= 2
),
spacing AS (
    SELECT *,
           epoch(last_ts - first_ts) AS sampled,
           epoch(last_ts - first_ts) / (samples - 1) AS gap
    FROM windows
),
edges AS (
    -- how far to extrapolate at each edge: the whole way when the edge is under 1.1 gaps
    -- away, else half a gap; then, at the start, never back past the counter's zero point
    SELECT *,
           CASE WHEN observed_increase > 0 AND first_value >= 0
                THEN least(start_reach, sampled * first_value / observed_increase)
                ELSE start_reach END AS to_start,
           CASE WHEN epoch(window_end - last_ts) < 1.1 * gap THEN epoch(window_end - last_ts)
                ELSE gap / 2 END AS to_end
    FROM (SELECT *,
                 CASE WHEN epoch(first_ts - window_start) < 1.1 * gap
                      THEN epoch(first_ts - window_start) ELSE gap / 2 END AS start_reach
          FROM spacing)
),
extrapolated AS (
    SELECT *, observed_increase * (sampled + to_start + to_end) / sampled AS increase
    FROM edges
)
SELECT $metric::VARCHAR AS name, site, service, labels, window_start, window_end, samples,
       first_ts, last_ts, resets, observed_increase, increase,
       increase / nullif(epoch(window_end - window_start), 0) AS rate
FROM extrapolated
ORDER BY window_start, site NULLS FIRST, service NULLS FIRST, labels::VARCHAR
