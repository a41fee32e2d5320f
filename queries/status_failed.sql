-- What failed in the hour (or window) before a moment, why, what it was trying to affect and what else touches that, and whether a retry is safe.
-- @param at=null      the moment, any time dvlab parses; null for the latest time in the task history
-- @param site=null    only tasks of this site
-- @param window=3600  how far back a failure counts, in seconds
WITH
s AS (SELECT * FROM dvlab_task_states(dvlab_moment($at))),
failed AS (
    SELECT * FROM s
    WHERE state = 'failed' AND since > dvlab_moment($at) - to_seconds($window::BIGINT)
      AND ($site IS NULL OR site = $site::VARCHAR)
),
effects AS (
    -- events a task emitted that are not its own or its workflow's lifecycle: side effects
    SELECT task_id, count(DISTINCT (event_id, event_source)) AS side_effects, list(DISTINCT type ORDER BY type) AS effect_types
    FROM events
    WHERE task_id IN (SELECT task_id FROM failed)
      AND NOT regexp_matches(type, '(^|\.)(task|workflow)\.[a-z_]+$')
    GROUP BY task_id
),
first_error AS (
    SELECT DISTINCT ON (correlation_id) correlation_id, ts AS error_ts, service AS error_service,
           message AS first_error
    FROM logs
    WHERE level IN ('error', 'fatal')
      AND correlation_id IN (SELECT correlation_id FROM failed)
      AND ts <= dvlab_moment($at) + INTERVAL 1 SECOND
    ORDER BY correlation_id, ts, source, line
),
neighbours AS (
    -- other tasks that touch the same target
    SELECT f.task_id, count(o.task_id) AS others_on_target,
           list(o.task_id || ' ' || o.state ORDER BY o.created) FILTER (WHERE o.task_id IS NOT NULL)[:5] AS others
    FROM failed AS f LEFT JOIN s AS o
      ON o.target_id = f.target_id AND o.target_kind = f.target_kind AND o.task_id <> f.task_id
    GROUP BY f.task_id
)
SELECT f.task_id, f.workflow_id, f.workflow_type, f.name, f.site, f.service, f.since AS failed_at,
       f.attempt,
       -- the task's own class of its final failure; else why it changed to failed
       coalesce(CASE WHEN f.final_state = 'failed' THEN f.error_class END, f.reason) AS error_class,
       f.error_message,
       fe.first_error, fe.error_ts AS first_error_at,
       f.target_kind, f.target_id, n.others_on_target, n.others,
       coalesce(e.side_effects, 0) AS side_effects, e.effect_types,
       f.idempotency_key, f.retry_policy,
       CASE WHEN f.retry_policy = 'none' THEN 'unsafe'
            WHEN f.idempotency_key IS NOT NULL THEN 'safe'
            WHEN coalesce(e.side_effects, 0) = 0 THEN 'safe'
            ELSE 'reconcile first' END AS retry_verdict,
       CASE WHEN f.retry_policy = 'none'
                THEN 'retry policy none: the operation must not run twice'
            WHEN f.idempotency_key IS NOT NULL
                THEN 'idempotency key ' || f.idempotency_key || ' makes a repeat harmless'
            WHEN coalesce(e.side_effects, 0) = 0
                THEN 'no side-effect event was emitted, so nothing happened yet'
            ELSE 'no idempotency key and ' || e.side_effects || ' side-effect event(s) ('
                 || array_to_string(e.effect_types, ', ') || ') emitted: check '
                 || coalesce(f.target_kind || ' ' || f.target_id, 'the target') || ' first'
       END AS retry_reason,
       f.correlation_id
FROM failed AS f
LEFT JOIN effects AS e USING (task_id)
LEFT JOIN first_error AS fe USING (correlation_id)
LEFT JOIN neighbours AS n USING (task_id)
ORDER BY f.since, f.task_id
