-- The first error (level error or fatal) of each service in a window, and how many errors the service had there.
-- @param from=null     start of the window (inclusive), any time dvlab parses; null for no bound
-- @param to=null       end of the window (exclusive); null for no bound
-- @param site=null     only this site
-- @param service=null  only this service
WITH errors AS (
    SELECT
        *,
        count(*) OVER (PARTITION BY service) AS errors,
        row_number() OVER (PARTITION BY service ORDER BY ts, source, line) AS nth
    FROM logs
    WHERE level IN ('error', 'fatal')
      AND ($from IS NULL OR ts >= dvlab_ts($from::VARCHAR))
      AND ($to IS NULL OR ts < dvlab_ts($to::VARCHAR))
      AND ($site IS NULL OR site = $site::VARCHAR)
      AND ($service IS NULL OR service = $service::VARCHAR)
)
SELECT
    service,
    ts,
    site,
    host,
    level,
    message,
    correlation_id,
    task_id,
    errors,
    source,
    line
FROM errors
WHERE nth = 1
ORDER BY ts, service
