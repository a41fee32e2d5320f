-- The points of metric series in a window: each value and, for a counter, its per-second rate (a drop read as a restart from zero), with the series' labels as text.
-- @param metric=null   only this metric name
-- @param labels=null   only series carrying these labels, a JSON object such as {"code": "500"}
-- @param from=null     start of the window (inclusive), any time dvlab parses; null for no bound
-- @param to=null       end of the window (exclusive); null for no bound
-- @param site=null     only this site
-- @param service=null  only this service
WITH
points AS (
    SELECT ts, name,
           dvlab_labels_text(labels) AS labels,
           site, service, type, value, source, line,
           dvlab_cumulative(type, name, labels) AS cumulative
    FROM metrics
    WHERE ($metric IS NULL OR name = $metric::VARCHAR)
      AND ($labels IS NULL
           OR list_bool_and(list_transform(map_entries($labels::JSON::MAP(VARCHAR, VARCHAR)),
                                           lambda f: coalesce(labels[f.key] = f.value, false))))
      AND ($to IS NULL OR ts < dvlab_ts($to::VARCHAR))
      AND ($site IS NULL OR site = $site::VARCHAR)
      AND ($service IS NULL OR service = $service::VARCHAR)
),
paired AS (
    -- each point beside the one before it in its series (before the window too)
    SELECT *, lag(value) OVER series AS before, lag(ts) OVER series AS before_ts
    FROM points
    WINDOW series AS (PARTITION BY name, labels, site, service ORDER BY ts, source, line)
)
SELECT ts, name, labels, site, service, type, value,
       CASE WHEN cumulative AND ts > before_ts
            THEN (CASE WHEN value >= before THEN value - before ELSE value END)
                 / epoch(ts - before_ts) END AS rate,
       cumulative, source, line
FROM paired
WHERE $from IS NULL OR ts >= dvlab_ts($from::VARCHAR)
ORDER BY name, labels, site, service, ts, source, line
