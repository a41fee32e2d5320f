-- The time-ordered view of a window: log records, workflow events, task state changes and spans, filtered by site, service, level and any id.
-- @param from=null     start of the window (inclusive), any time dvlab parses; null for no bound
-- @param to=null       end of the window (exclusive); null for no bound
-- @param site=null     only this site
-- @param service=null  only this service
-- @param level=null    this level or more severe (trace, debug, info, warn, error, fatal)
-- @param id=null       a correlation, causation, task, trace, event or workflow id, or a value anywhere in attributes or a payload, or a task's target or idempotency key (text, or a number; not a key); the traces its logs carry come with it
-- @param spans=key     which spans: key (those with status error, the roots of what is loaded, and every span of the id's traces), all, or none
-- @param limit=100000  at most this many rows
WITH
id_traces AS (
    -- the traces the logs of the id carry: their spans and logs belong to its story (a
    -- trace id is hex, written in either case)
    SELECT DISTINCT lower(trace_id) AS trace_id FROM logs
    WHERE $id IS NOT NULL AND trace_id IS NOT NULL
      AND ($id::VARCHAR IN (correlation_id, causation_id, task_id)
           OR lower(trace_id) = lower($id::VARCHAR))
),
chosen_spans AS (
    SELECT * FROM spans AS s
    WHERE $spans::VARCHAR = 'all'
       OR ($spans::VARCHAR = 'key'
           AND ($id IS NOT NULL
                OR s.status = 'error'
                OR s.parent_span_id IS NULL
                OR NOT EXISTS (SELECT 1 FROM spans AS p
                               WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id)))
),
task_changes AS (
    -- a task's state changes: its transitions, or (a table without them) its own times
    SELECT tr.ts, t.site, t.service, tr.to_state AS state, tr.from_state, tr.attempt, tr.reason,
           tr.task_id, t.workflow_id, t.correlation_id, t.parent_task_id,
           coalesce(t.attributes ->> 'name', t.workflow_type) AS name, t.target_kind, t.target_id,
           t.error_class, t.idempotency_key, t.attributes, tr.source, tr.line
    FROM task_transitions AS tr LEFT JOIN tasks AS t USING (task_id)
    UNION ALL
    SELECT c.ts, t.site, t.service, c.state, NULL, t.attempt, NULL, t.task_id, t.workflow_id,
           t.correlation_id, t.parent_task_id, coalesce(t.attributes ->> 'name', t.workflow_type),
           t.target_kind, t.target_id, t.error_class, t.idempotency_key, t.attributes, t.source,
           t.line
    FROM tasks AS t,
         LATERAL (VALUES (t.created, 'pending'), (t.started, 'running'),
                         (t.finished, CASE WHEN t.state IN ('succeeded', 'failed', 'cancelled')
                                           THEN t.state END)) AS c(ts, state)
    WHERE c.ts IS NOT NULL AND c.state IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM task_transitions AS x WHERE x.task_id = t.task_id)
),
everything AS (
    SELECT ts, 'log' AS kind, site, host, service, level, message, correlation_id, causation_id,
           task_id, trace_id, NULL AS event_id, NULL AS workflow_id, attributes::VARCHAR AS other,
           source, line
    FROM logs
    UNION ALL
    SELECT time, 'event', site, NULL, service,
           CASE WHEN regexp_matches(type, '(failed|rejected|error)$') THEN 'error'
                WHEN regexp_matches(type, '(retrying|degraded)$') THEN 'warn'
                ELSE 'info' END,
           type || coalesce(' #' || seq, ''),
           correlation_id, causation_id, task_id, NULL, event_id, workflow_id,
           payload::VARCHAR, source, line
    FROM events
    UNION ALL
    SELECT ts, 'task', site, NULL, service,
           CASE state WHEN 'failed' THEN 'error' WHEN 'retrying' THEN 'warn' ELSE 'info' END,
           'task ' || coalesce(name || ' ', '') || task_id || ' '
               || coalesce(from_state || ' -> ', '') || state
               || coalesce(' (attempt ' || attempt || ')', '')
               || coalesce(': ' || coalesce(reason, CASE WHEN state = 'failed' THEN error_class END), '')
               || coalesce(' on ' || target_kind || ' ' || target_id, ''),
           correlation_id, parent_task_id, task_id, NULL, NULL, workflow_id,
           -- what else an id may be of: the task's target, idempotency key, attributes
           json_object('target_id', target_id, 'idempotency_key', idempotency_key,
                       'attributes', attributes)::VARCHAR,
           source, line
    FROM task_changes
    UNION ALL
    SELECT start_time, 'span', site, NULL, service,
           CASE WHEN status = 'error' THEN 'error' ELSE 'info' END,
           'span ' || coalesce(name, '?') || ' (' || coalesce(kind, 'unspecified') || ') '
               || coalesce(printf('%.6g', duration_ms) || ' ms', 'no duration') || ', '
               || coalesce(status, 'unset') || coalesce(': ' || status_message, ''),
           NULL, NULL, NULL, trace_id, NULL, NULL, attributes::VARCHAR, source, line
    FROM chosen_spans
)
SELECT ts, kind, site, host, service, level, message, correlation_id, causation_id, task_id,
       trace_id, source, line
FROM everything
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
       OR lower(trace_id) = lower($id::VARCHAR)
       OR lower(trace_id) IN (SELECT trace_id FROM id_traces)
       OR event_id = $id::VARCHAR
       OR workflow_id = $id::VARCHAR
       -- a value anywhere in the attributes (or payload), not a key: a text, or a number
       -- as written; looked for only where the text holds the id as JSON writes it
       OR (contains(other, (to_json($id::VARCHAR)::VARCHAR)[2:-2])
           AND list_contains(json_extract_string(other, '$..*'), $id::VARCHAR)))
ORDER BY ts, kind, source, line
LIMIT $limit::BIGINT
