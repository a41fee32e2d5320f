-- The critical path of one trace: from its root span, each step down to the child that ended last (the one its parent waited on), with each span's own time on the path.
-- @param trace_id  the trace, as lower-case hex
--
-- The root is the span without a parent in the trace (a parent not loaded counts as none);
-- of several, the one that started first, then the longest. From a span the path goes to
-- the child that ended last; of children ending together, the one that started last (it
-- held the parent alone for longest), then the lowest span id. The path ends at a span
-- without children. self_ms is the time of a span not covered by the next span on the
-- path: its duration less the part of the next span's interval inside its own, so the
-- self times add up to the root's duration when children end within their parents. A
-- span without an end time lasts no time. step counts from 0 at the root.
WITH RECURSIVE
trace AS (
    SELECT span_id, parent_span_id, name, kind, service, status, start_time,
           coalesce(end_time, start_time) AS end_time,
           epoch_us(coalesce(end_time, start_time)) - epoch_us(start_time) AS duration_us
    FROM spans
    WHERE trace_id = lower($trace_id::VARCHAR)
),
last_child AS (
    SELECT DISTINCT ON (c.parent_span_id) c.parent_span_id AS parent, c.span_id AS child
    FROM trace AS c
    WHERE c.parent_span_id IN (SELECT span_id FROM trace)
    ORDER BY c.parent_span_id, c.end_time DESC, c.start_time DESC, c.span_id
),
root AS (
    SELECT span_id
    FROM trace
    WHERE parent_span_id IS NULL OR parent_span_id NOT IN (SELECT span_id FROM trace)
    ORDER BY start_time, duration_us DESC, span_id
    LIMIT 1
),
path AS (
    SELECT 0 AS step, span_id FROM root
    UNION ALL
    SELECT p.step + 1, l.child
    FROM path AS p JOIN last_child AS l ON l.parent = p.span_id
    WHERE p.step < 10000
)
SELECT p.step, t.span_id, t.parent_span_id, t.service, t.name, t.kind, t.status,
       t.start_time, t.end_time, t.duration_us / 1000 AS duration_ms,
       (t.duration_us
        - CASE WHEN n.span_id IS NULL THEN 0
               ELSE greatest(0, epoch_us(least(n.end_time, t.end_time))
                                - epoch_us(greatest(n.start_time, t.start_time))) END)
       / 1000 AS self_ms
FROM path AS p
JOIN trace AS t USING (span_id)
LEFT JOIN last_child AS l ON l.parent = p.span_id
LEFT JOIN trace AS n ON n.span_id = l.child
ORDER BY p.step
