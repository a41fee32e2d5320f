-- The time-ordered view of a window: log records, filtered by site, service, level and any id.
-- @param from=null     start of the window (inclusive), any time dvlab parses; null for no bound
-- @param to=null       end of the window (exclusive); null for no bound
-- @param site=null     only this site
-- @param service=null  only this service
-- @param level=null    this level or more severe (trace, debug, info, warn, error, fatal)
-- @param id=null       a correlation, causation, task or trace id, or an id anywhere in attributes
-- @param limit=100000  at most this many rows
SELECT
    ts,
    'log' AS kind,
    site,
    host,
    service,
    level,
    message,
    correlation_id,
    causation_id,
    task_id,
    trace_id,
    source,
    line
FROM logs
WHERE ($from IS NULL OR ts >= dvlab_ts($from::VARCHAR))
  AND ($to IS NULL OR ts < dvlab_ts($to::VARCHAR))
  AND ($site IS NULL OR site = $site::VARCHAR)
  AND ($service IS NULL OR service = $service::VARCHAR)
  AND ($level IS NULL OR list_position(['trace', 'debug', 'info', 'warn', 'error', 'fatal'], level)
                         >= list_position(['trace', 'debug', 'info', 'warn', 'error', 'fatal'], lower($level::VARCHAR)))
  AND ($id IS NULL
       OR correlation_id = $id::VARCHAR
       OR causation_id = $id::VARCHAR
       OR task_id = $id::VARCHAR
       OR trace_id = $id::VARCHAR
       OR contains(attributes::VARCHAR, '"' || $id::VARCHAR || '"'))
ORDER BY ts, source, line
LIMIT $limit::BIGINT
