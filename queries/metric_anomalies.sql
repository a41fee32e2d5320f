-- Metric changes: each point where a series leaves its own recent baseline, beyond $k standard deviations of its preceding points and beyond $min_change of their mean; a counter is judged by its per-second rate.
-- @param from=null        start of the window (inclusive); the baseline may reach back before it
-- @param to=null          end of the window (exclusive); null for no bound
-- @param site=null        only this site
-- @param service=null     only this service
-- @param k=3              how many standard deviations from the baseline's mean make a change
-- @param min_change=0.2   the least change that counts, as a fraction of the baseline's mean (a flat series's tiny noise is none)
-- @param points=10        how many preceding points of the series make its baseline (a point with fewer than 3 is not judged)
WITH
points AS (
    SELECT ts, name,
           dvlab_labels_text(labels) AS labels,
           site, service, value, source, line,
           dvlab_cumulative(type, name, labels) AS cumulative
    FROM metrics
    WHERE isfinite(value)
      AND ($to IS NULL OR ts < dvlab_ts($to::VARCHAR))
      AND ($site IS NULL OR site = $site::VARCHAR)
      AND ($service IS NULL OR service = $service::VARCHAR)
),
measured AS (
    -- the value, or a counter's per-second rate since its previous point (a drop is a restart)
    SELECT *,
           CASE WHEN NOT cumulative THEN value
                WHEN ts > before_ts
                THEN (CASE WHEN value >= before THEN value - before ELSE value END)
                     / epoch(ts - before_ts) END AS measure
    FROM (SELECT *, lag(value) OVER series AS before, lag(ts) OVER series AS before_ts
          FROM points
          WINDOW series AS (PARTITION BY name, labels, site, service ORDER BY ts, source, line))
),
judged AS (
    SELECT *, count(*) OVER recent AS baseline_points, avg(measure) OVER recent AS baseline,
           stddev_pop(measure) OVER recent AS spread
    FROM measured
    WHERE measure IS NOT NULL
    WINDOW recent AS (PARTITION BY name, labels, site, service ORDER BY ts, source, line
                      ROWS BETWEEN $points::BIGINT PRECEDING AND 1 PRECEDING)
),
flagged AS (
    SELECT *,
           CASE WHEN baseline_points >= 3
                 AND abs(measure - baseline) > $k::DOUBLE * spread
                 AND abs(measure - baseline) > $min_change::DOUBLE * abs(baseline)
                THEN sign(measure - baseline) ELSE 0 END AS direction
    FROM judged
),
changes AS (
    -- the first point of each excursion: one beyond the baseline on a side the point
    -- before it was not
    SELECT *, lag(direction, 1, 0) OVER series AS direction_before
    FROM flagged
    WINDOW series AS (PARTITION BY name, labels, site, service ORDER BY ts, source, line)
)
SELECT ts, site, service, name, labels, measure AS value, baseline, spread,
       CASE WHEN direction > 0 THEN 'rose' ELSE 'fell' END AS direction, cumulative AS is_rate,
       'metric ' || name || labels || CASE WHEN cumulative THEN ' rate ' ELSE ' ' END
           || CASE WHEN direction > 0 THEN 'rose' ELSE 'fell' END
           || ' to ' || printf('%.6g', measure) || CASE WHEN cumulative THEN '/s' ELSE '' END
           || ' (baseline ' || printf('%.6g', baseline) || CASE WHEN cumulative THEN '/s' ELSE '' END
           || ')' AS message,
       source, line
FROM changes
WHERE direction <> 0 AND direction <> direction_before
  AND ($from IS NULL OR ts >= dvlab_ts($from::VARCHAR))
ORDER BY ts, name, labels, site, service, source, line
