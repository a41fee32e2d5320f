-- The lineage of the work an id belongs to: its workflows' task trees and each task's events in causal order (never before their cause, whatever the sites' clocks: a task comes after the event that asked for it), and the gaps.
-- @param id=null  a correlation, causation, event, task, workflow, request or idempotency id, a trace id its logs carry, or a target resource id
WITH RECURSIVE
correlations AS (
    SELECT correlation_id FROM tasks
    WHERE $id::VARCHAR IN (task_id, workflow_id, correlation_id, target_id, idempotency_key)
    UNION
    SELECT correlation_id FROM events
    WHERE $id::VARCHAR IN (event_id, correlation_id, causation_id, task_id, workflow_id)
    UNION
    SELECT correlation_id FROM logs
    WHERE correlation_id = $id::VARCHAR OR task_id = $id::VARCHAR
       OR lower(trace_id) = lower($id::VARCHAR)
       OR contains(attributes::VARCHAR, '"' || $id::VARCHAR || '"')
),
t AS (
    -- the work's tasks; one that carries no correlation id, when it is the one asked for
    SELECT * FROM tasks
    WHERE correlation_id IN (SELECT correlation_id FROM correlations)
       OR (correlation_id IS NULL
           AND $id::VARCHAR IN (task_id, workflow_id, target_id, idempotency_key))
),
e AS (
    -- the work's events; one without a correlation id belongs to its task's work, or is
    -- the one asked for
    SELECT ev.* REPLACE (coalesce(ev.correlation_id, (
               SELECT any_value(t.correlation_id) FROM t WHERE t.task_id = ev.task_id))
               AS correlation_id), row_number() OVER () AS event_row
    FROM events AS ev
    WHERE ev.correlation_id IN (SELECT correlation_id FROM correlations)
       OR (ev.correlation_id IS NULL
           AND (ev.task_id IN (SELECT task_id FROM t)
                OR $id::VARCHAR IN (ev.event_id, ev.causation_id, ev.task_id, ev.workflow_id)))
),
causal_paths AS (
    -- each event's place in its causal chain: never before its cause, whatever the clocks
    -- (an event is its id and CloudEvents source; a cause is named by id alone)
    SELECT event_id, event_source, time AS ctime, 0 AS depth
    FROM e
    WHERE causation_id IS NULL OR causation_id NOT IN (SELECT event_id FROM e)
    UNION ALL
    SELECT c.event_id, c.event_source, greatest(c.time, p.ctime), p.depth + 1
    FROM e AS c JOIN causal_paths AS p ON c.causation_id = p.event_id
    WHERE p.depth < 10000
),
causal AS (
    -- one place per event, after the latest of its causes when its id names several
    SELECT event_id, event_source, max(ctime) AS ctime, max(depth) AS depth
    FROM causal_paths GROUP BY event_id, event_source
),
task_after AS (
    -- a task is placed no earlier than the first event, of another task, that caused one
    -- of its own (a child created just before, by another clock, the parent's event that
    -- asked for it comes after that event)
    SELECT ev.task_id, min(ca.ctime) AS cause_time
    FROM e AS ev
    JOIN e AS cause ON cause.event_id = ev.causation_id
                   AND cause.task_id IS DISTINCT FROM ev.task_id
    JOIN causal AS ca ON ca.event_id = cause.event_id
                     AND ca.event_source IS NOT DISTINCT FROM cause.event_source
    WHERE ev.task_id IS NOT NULL
    GROUP BY ev.task_id
),
placed AS (
    -- a task's key among its siblings and its parent's events: its time, then its id (after
    -- an event of the same moment)
    SELECT t.task_id, t.parent_task_id,
           strftime(timezone('UTC', greatest(coalesce(t.created, t.started, t.finished),
                                             ta.cause_time)), '%Y%m%d%H%M%S%f')
           || '~' || t.task_id AS key
    FROM t LEFT JOIN task_after AS ta USING (task_id)
),
task_tree AS (
    -- roots: tasks whose parent is not among them
    SELECT task_id, 0 AS depth, [key] AS path,
           CASE WHEN parent_task_id IS NOT NULL
                THEN 'parent task ' || parent_task_id || ' not loaded' END AS gap
    FROM placed
    WHERE parent_task_id IS NULL OR parent_task_id NOT IN (SELECT task_id FROM t)
    UNION ALL
    SELECT c.task_id, p.depth + 1, list_append(p.path, c.key), NULL
    FROM placed AS c JOIN task_tree AS p ON c.parent_task_id = p.task_id
    WHERE p.depth < 64
),
requests AS (
    -- ids a log of the same work carries (an API request id that caused the first event)
    SELECT DISTINCT e.causation_id
    FROM e JOIN logs AS l ON l.correlation_id = e.correlation_id
    WHERE e.causation_id IS NOT NULL
      AND e.causation_id NOT IN (SELECT event_id FROM events)
      AND contains(l.attributes::VARCHAR, '"' || e.causation_id || '"')
),
event_rows AS (
    SELECT e.*, cause.seq AS cause_seq, cause.published AS cause_published,
           cause.event_id IS NOT NULL AS cause_loaded,
           e.causation_id IN (SELECT causation_id FROM requests) AS cause_is_request
    FROM e LEFT JOIN events AS cause ON cause.event_id = e.causation_id
    -- a cause id that two sources' events share: the one from the event's own source,
    -- else the earliest
    QUALIFY row_number() OVER (
        PARTITION BY e.event_row
        ORDER BY (cause.event_source IS NOT DISTINCT FROM e.event_source) DESC,
                 cause.seq, cause.published) = 1
)
SELECT depth, kind, id, parent_id, ts, site, service, name, state, attempt, cause_id, gap,
       correlation_id
FROM (
    SELECT tt.depth, 'task' AS kind, t.task_id AS id, t.parent_task_id AS parent_id,
           coalesce(t.created, t.started, t.finished) AS ts, t.site, t.service,
           coalesce(t.attributes ->> 'name', t.workflow_type) AS name,
           t.state, t.attempt, NULL AS cause_id, tt.gap, t.correlation_id,
           tt.path AS sort_path
    FROM task_tree AS tt JOIN t USING (task_id)
    UNION ALL
    SELECT coalesce(tt.depth + 1, 0), 'event', ev.event_id, ev.task_id, ev.time, ev.site,
           ev.service, ev.type, NULL, TRY_CAST(ev.payload ->> 'attempt' AS INTEGER),
           ev.causation_id,
           CASE
               WHEN ev.causation_id IS NOT NULL AND NOT ev.cause_loaded AND NOT ev.cause_is_request
                   THEN 'cause ' || ev.causation_id || ' not loaded'
               WHEN ev.cause_loaded AND ev.seq IS NOT NULL AND ev.cause_seq IS NOT NULL
                    AND ev.seq < ev.cause_seq
                   THEN 'arrived before its cause (stream seq ' || ev.seq || ' < ' || ev.cause_seq || ')'
               WHEN ev.cause_loaded AND ev.published < ev.cause_published
                   THEN 'arrived before its cause (published '
                        || strftime(timezone('UTC', ev.published), '%H:%M:%S.%f') || ' < '
                        || strftime(timezone('UTC', ev.cause_published), '%H:%M:%S.%f') || ')'
           END,
           ev.correlation_id,
           list_append(coalesce(tt.path, ['~']),
                       strftime(timezone('UTC', coalesce(ca.ctime, ev.time)), '%Y%m%d%H%M%S%f')
                       || lpad(coalesce(ca.depth, 0)::VARCHAR, 6, '0') || ev.event_id)
    FROM event_rows AS ev
    LEFT JOIN task_tree AS tt ON tt.task_id = ev.task_id
    LEFT JOIN causal AS ca
        ON ca.event_id = ev.event_id AND ca.event_source IS NOT DISTINCT FROM ev.event_source
)
ORDER BY correlation_id, sort_path
