"""Where a scheduled PostgreSQL pull resumes: rows a slow transaction commits late, and the
zone ``timestamp`` columns keep. Expected values come from the server (psql's view of the
table) or are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from dvlab.cli import main
from tests.live.labrows import rows


def ingest(lab: Path, dsn: str, table: str) -> int:
    return main(["--db", str(lab), "ingest", dsn, "--table", table])


def test_a_row_committed_after_a_run_moved_past_its_time_is_read_by_the_next(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    """A transaction updates x1 (updated_at = its start) and commits only after another has
    updated x2 later and a run has read x2: the next run must still see x1's update."""
    table = sql.Identifier(scratch_schema, "live")
    name = f"{scratch_schema}.live"
    pg.execute(
        sql.SQL(
            "CREATE TABLE {} (task_id text PRIMARY KEY, state text, "
            "updated_at timestamptz NOT NULL DEFAULT now())"
        ).format(table)
    )
    pg.execute(
        sql.SQL(
            "INSERT INTO {} (task_id, state) VALUES ('x1', 'running'), ('x2', 'running')"
        ).format(table)
    )
    assert ingest(lab_path, pg_dsn, name) == 0

    with psycopg.connect(pg_dsn) as slow:  # a transaction of its own, left open
        slow.execute(
            sql.SQL(
                "UPDATE {} SET state = 'failed', updated_at = now() WHERE task_id = 'x1'"
            ).format(table)
        )
        pg.execute(
            sql.SQL(
                "UPDATE {} SET state = 'done', updated_at = now() WHERE task_id = 'x2'"
            ).format(table)
        )
        assert ingest(lab_path, pg_dsn, name) == 0
        assert rows(lab_path, "SELECT task_id, state_raw FROM tasks ORDER BY 1") == [
            ("x1", "running"),
            ("x2", "done"),
        ]
        slow.commit()
    # the server's own view, once the slow transaction has committed
    assert pg.execute(
        sql.SQL("SELECT task_id, state FROM {} ORDER BY 1").format(table)
    ).fetchall() == [
        ("x1", "failed"),
        ("x2", "done"),
    ]
    # its x1 carries a time before x2's, which the last run had already read
    x1, x2 = (
        r[0]
        for r in pg.execute(
            sql.SQL("SELECT updated_at FROM {} ORDER BY task_id").format(table)
        ).fetchall()
    )
    assert x1 < x2

    assert ingest(lab_path, pg_dsn, name) == 0

    assert rows(lab_path, "SELECT task_id, state_raw FROM tasks ORDER BY 1") == [
        ("x1", "failed"),
        ("x2", "done"),
    ]


def test_timestamp_columns_keep_the_zone_of_the_first_read(
    pg_dsn: str,
    pg: psycopg.Connection,
    scratch_schema: str,
    lab_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """First read with the session's TimeZone at America/New_York (PGTZ), then without it
    (the server's own setting): q1's wall-clock 12:00 on 1 July stays 16:00Z (EDT, UTC-4)."""
    table = sql.Identifier(scratch_schema, "naive")
    name = f"{scratch_schema}.naive"
    pg.execute(
        sql.SQL(
            "CREATE TABLE {} (task_id text PRIMARY KEY, state text, created_at timestamp, "
            "updated_at timestamp)"
        ).format(table)
    )
    pg.execute(
        sql.SQL(
            "INSERT INTO {} VALUES ('q1', 'done', '2026-07-01 12:00', '2026-07-01 12:00')"
        ).format(table)
    )
    server_zone = pg.execute("SHOW TimeZone").fetchall()[0][0]
    assert server_zone != "America/New_York"
    monkeypatch.setenv("PGTZ", "America/New_York")
    assert ingest(lab_path, pg_dsn, name) == 0
    monkeypatch.delenv("PGTZ")
    pg.execute(
        sql.SQL(
            "INSERT INTO {} VALUES ('q2', 'done', '2026-07-01 13:00', '2026-07-01 13:00')"
        ).format(table)
    )

    assert ingest(lab_path, pg_dsn, name) == 0

    assert rows(
        lab_path,
        "SELECT task_id, strftime(created AT TIME ZONE 'UTC', '%H:%M') FROM tasks ORDER BY 1",
    ) == [("q1", "16:00"), ("q2", "17:00")]
    assert rows(lab_path, "SELECT options ->> 'naive_tz' FROM ingests ORDER BY ingest_id") == [
        ("America/New_York",),
        ("America/New_York",),
    ]
