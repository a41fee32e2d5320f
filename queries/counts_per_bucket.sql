-- Events per time bucket (UTC), service and level: the rows behind the counts chart.
-- @param bucket=00:01:00  bucket width, any DuckDB interval such as '5 minutes', '1 hour' or '1 day'
-- @param from=null        start of the window (inclusive), any time dvlab parses; null for no bound
-- @param to=null          end of the window (exclusive); null for no bound
-- @param site=null        only this site
-- @param service=null     only this service
SELECT
    time_bucket($bucket::INTERVAL, ts, 'UTC') AS bucket,
    time_bucket($bucket::INTERVAL, ts, 'UTC') + $bucket::INTERVAL AS bucket_end,
    service,
    level,
    count(*) AS events
FROM logs
WHERE ($from IS NULL OR ts >= dvlab_ts($from::VARCHAR))
  AND ($to IS NULL OR ts < dvlab_ts($to::VARCHAR))
  AND ($site IS NULL OR site = $site::VARCHAR)
  AND ($service IS NULL OR service = $service::VARCHAR)
GROUP BY bucket, bucket_end, service, level
ORDER BY bucket, service, list_position(['trace', 'debug', 'info', 'warn', 'error', 'fatal'], level)
