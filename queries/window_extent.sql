-- The extent of a window: its first and last event, how many events, and how many services and (service, level) series it has.
-- @param from=null     start of the window (inclusive), any time dvlab parses; null for no bound
-- @param to=null       end of the window (exclusive); null for no bound
-- @param site=null     only this site
-- @param service=null  only this service
SELECT
    min(ts) AS first_ts,
    max(ts) AS last_ts,
    count(*) AS events,
    count(DISTINCT service) AS services,
    count(DISTINCT (service, level)) AS series
FROM logs
WHERE ($from IS NULL OR ts >= dvlab_ts($from::VARCHAR))
  AND ($to IS NULL OR ts < dvlab_ts($to::VARCHAR))
  AND ($site IS NULL OR site = $site::VARCHAR)
  AND ($service IS NULL OR service = $service::VARCHAR)
