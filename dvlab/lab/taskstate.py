"""The state of every task at a moment, as SQL macros the status queries share.

``dvlab_blocking_error(reason)`` tells an error class that means a dependency
did not answer (``dvlab_unavailable_error``) or a site is cut off from the
control plane (``dvlab_cut_off_error``) from any other error.
``dvlab_moment(text)`` reads a moment through the lab's time path, or, given
NULL, takes the latest time the lab's task history knows.
``dvlab_task_states(at)`` is a table: one row per task created by ``at``,
its state then (the last transition at or before ``at``; for a table without
transitions, its own created / started / finished times) and what it was
doing. Task times are the control plane's clock, so these answers do not
depend on the sites' clocks.
"""

from __future__ import annotations

import duckdb

MACROS = [
    # error classes that say a dependency did not answer (the work waits for it), as
    # opposed to one that answered with an error; a cross-site timeout is a site cut off
    # from the control plane
    """CREATE OR REPLACE TEMP MACRO dvlab_unavailable_error(reason) AS (
        coalesce(regexp_matches(reason, 'Unavailable|Unreachable|ConnectionRefused|NoRoute'),
                 false))""",
    """CREATE OR REPLACE TEMP MACRO dvlab_cut_off_error(reason) AS (
        coalesce(regexp_matches(reason, 'CrossSite'), false))""",
    """CREATE OR REPLACE TEMP MACRO dvlab_blocking_error(reason) AS (
        dvlab_unavailable_error(reason) OR dvlab_cut_off_error(reason))""",
    """CREATE OR REPLACE TEMP MACRO dvlab_moment(text) AS (
        coalesce(dvlab_ts(text::VARCHAR),
                 (SELECT max(ts) FROM task_transitions),
                 (SELECT max(greatest(created, started, finished)) FROM tasks)))""",
    """CREATE OR REPLACE TEMP MACRO dvlab_task_states(moment) AS TABLE
    WITH
    last_change AS (
        SELECT DISTINCT ON (tr.task_id) tr.task_id, tr.to_state AS state, tr.ts AS since,
               tr.attempt, tr.reason
        FROM task_transitions AS tr
        WHERE tr.ts <= moment
        ORDER BY tr.task_id, tr.ts DESC, tr.seq DESC
    ),
    by_times AS (
        SELECT t.task_id,
               CASE WHEN t.finished <= moment THEN t.state
                    WHEN t.started <= moment THEN 'running'
                    ELSE 'pending' END AS state,
               CASE WHEN t.finished <= moment THEN t.finished
                    WHEN t.started <= moment THEN t.started ELSE t.created END AS since,
               t.attempt, CASE WHEN t.finished <= moment THEN t.error_class END AS reason
        FROM tasks AS t
        WHERE coalesce(t.created, t.started) <= moment
          AND NOT EXISTS (SELECT 1 FROM task_transitions AS x WHERE x.task_id = t.task_id)
    ),
    first_retry AS (
        SELECT task_id, min(ts) AS first_retry_at, arg_min(reason, ts) AS first_retry_reason
        FROM task_transitions
        WHERE to_state = 'retrying' AND ts <= moment
        GROUP BY task_id
    )
    SELECT t.task_id, t.workflow_id, t.workflow_type, t.parent_task_id,
           coalesce(t.attributes ->> 'name', t.workflow_type) AS name, t.site, t.service,
           t.target_kind, t.target_id, s.state, s.since, s.attempt, s.reason,
           fr.first_retry_at, fr.first_retry_reason, t.created, t.started, t.finished,
           t.state AS final_state, t.error_class, t.error_message, t.idempotency_key,
           t.retry_policy, t.correlation_id
    FROM (SELECT * FROM last_change UNION ALL SELECT * FROM by_times) AS s
    JOIN tasks AS t USING (task_id)
    LEFT JOIN first_retry AS fr USING (task_id)""",
]


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create the macros on ``con``; a connection without task tables gets none."""
    has = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('tasks', 'task_transitions')"
    ).fetchall()[0][0]
    if has < 2:
        return
    for statement in MACROS:
        con.execute(statement)
