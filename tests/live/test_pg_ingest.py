"""``dvlab ingest postgresql://…`` against the real server: values, time zones, the
watermark, rejects, a connection dropped mid-COPY, and refused connections."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from dvlab.cli import main
from dvlab.live import pgconn
from tests.live.labrows import rows

TASKS = """CREATE TABLE {} (
    task_id text PRIMARY KEY, workflow_id text, state text, attempt integer,
    created_at timestamptz, started_at timestamp, finished_at timestamptz,
    note text, updated_at timestamptz)"""


def make_tasks(pg: psycopg.Connection, schema: str) -> sql.Composable:
    table = sql.Identifier(schema, "tasks")
    pg.execute(sql.SQL(TASKS).format(table))
    pg.execute(
        sql.SQL(
            """INSERT INTO {} VALUES
            ('t1', 'w1', 'running', 1, '2026-01-01 10:00:00+01', '2026-07-01 10:00:01', NULL,
             'a,b "quoted"', '2026-01-01 10:00:01+00'),
            ('t2', 'w1', 'FAILED', 2, '2026-01-01 10:00:00+01', NULL, '2026-01-01 10:05:00+00',
             'line one
line two', '2026-01-01 10:05:00+00')"""
        ).format(table)
    )
    return table


@pytest.fixture
def tasks(pg: psycopg.Connection, scratch_schema: str) -> str:
    """The two-row task table of :func:`make_tasks` in the test's schema, by its name."""
    make_tasks(pg, scratch_schema)
    return f"{scratch_schema}.tasks"


#: the columns of a task table with an updated_at watermark
TASK_STATES = "task_id text, state text, updated_at timestamptz"


class Table:
    """A table of the test's own in ``schema``: made with ``columns`` (SQL), a row added
    by :meth:`add` (its values for the columns ``filled``, else for all)."""

    def __init__(
        self,
        pg: psycopg.Connection,
        schema: str,
        name: str,
        columns: str,
        *,
        filled: tuple[str, ...] = (),
    ) -> None:
        self.pg, self.name = pg, f"{schema}.{name}"
        self.ident = sql.Identifier(schema, name)
        self.filled = filled
        pg.execute(sql.SQL("CREATE TABLE {} ({})").format(self.ident, sql.SQL(columns)))

    def add(self, *values: object) -> None:
        into = sql.SQL(" ({})").format(sql.SQL(", ").join(map(sql.Identifier, self.filled)))
        self.pg.execute(
            sql.SQL("INSERT INTO {}{} VALUES ({})").format(
                self.ident,
                into if self.filled else sql.SQL(""),
                sql.SQL(", ").join(sql.Placeholder() * len(values)),
            ),
            list(values),
        )


def ingest(lab: Path, *args: str) -> int:
    return main(["--db", str(lab), "ingest", *args])


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_task_table_is_pulled_with_its_times_in_utc(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    make_tasks(pg, scratch_schema)
    # a server whose TimeZone is Oslo: its `timestamp` column holds Oslo wall-clock time
    oslo = in_zone(pg_dsn, "Europe/Oslo")
    assert ingest(lab_path, oslo, "--table", f"{scratch_schema}.tasks") == 0
    got = rows(
        lab_path,
        "SELECT task_id, workflow_id, state, state_raw, attempt, created, started, finished, "
        "attributes ->> 'note', line FROM tasks ORDER BY task_id",
    )
    # 10:00 at +01 is 09:00 UTC; 10:00:01 in Oslo in July (+02) is 08:00:01 UTC
    by_id = {r[0]: r for r in got}
    assert by_id["t1"][:9] == (
        "t1",
        "w1",
        "running",
        "running",
        1,
        utc(2026, 1, 1, 9),
        utc(2026, 7, 1, 8, 0, 1),
        None,
        'a,b "quoted"',
    )
    assert by_id["t2"][:9] == (
        "t2",
        "w1",
        "failed",
        "FAILED",
        2,
        utc(2026, 1, 1, 9),
        None,
        utc(2026, 1, 1, 10, 5),
        "line one\nline two",
    )
    assert sorted(r[9] for r in got) == [1, 2]


def in_zone(dsn: str, zone: str) -> str:
    """``dsn`` for sessions whose TimeZone is ``zone``, as a server set so gives them."""
    return dsn + ("&" if "?" in dsn else "?") + "options=-c%20TimeZone%3D" + zone


def test_a_zone_named_as_an_abbreviation_is_read_with_its_summer_time(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    """A server set to CET: PostgreSQL's ``AT TIME ZONE 'CET'`` reads the name as the
    abbreviation, +01 all year, and July's wall-clock times had been stored an hour late."""
    table = Table(pg, scratch_schema, "cet", "task_id text, state text, created_at timestamp")
    table.add("summer", "running", "2026-07-01 12:00:00")
    table.add("winter", "running", "2026-01-15 12:00:00")
    # shown twice as summer time ends (02:00-03:00 on 25 October): the first of the two
    table.add("twice", "running", "2026-10-25 02:30:00")

    assert ingest(lab_path, in_zone(pg_dsn, "CET"), "--table", table.name) == 0

    assert rows(lab_path, "SELECT task_id, created FROM tasks ORDER BY 1") == [
        ("summer", utc(2026, 7, 1, 10)),
        ("twice", utc(2026, 10, 25, 0, 30)),
        ("winter", utc(2026, 1, 15, 11)),
    ]


def test_a_query_turns_one_kind_of_time_into_the_other_in_the_sources_zone(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    """``created_at::timestamp`` in a --query is the wall-clock time in the session's zone,
    which the wall-clock times are read in: the cast had run in UTC, and its result been
    read in St John's time, 2.5 hours off in July."""
    table = Table(pg, scratch_schema, "cast", "task_id text, state text, created_at timestamptz")
    table.add("t1", "running", utc(2026, 7, 1, 0, 1))
    query = f"SELECT task_id, state, created_at::timestamp AS created_at FROM {table.name}"

    assert ingest(lab_path, in_zone(pg_dsn, "America/St_Johns"), "--query", query) == 0

    assert rows(lab_path, "SELECT task_id, created FROM tasks") == [("t1", utc(2026, 7, 1, 0, 1))]


def test_tz_overrides_the_server_zone_for_timestamp_columns(
    pg_dsn: str, tasks: str, lab_path: Path
) -> None:
    assert ingest(lab_path, pg_dsn, "--table", tasks, "--tz", "Asia/Tokyo") == 0
    # 10:00:01 in Tokyo (+09) is 01:00:01 UTC; timestamptz columns are not affected
    assert rows(lab_path, "SELECT started, created FROM tasks WHERE task_id = 't1'") == [
        (utc(2026, 7, 1, 1, 0, 1), utc(2026, 1, 1, 9))
    ]


def test_a_scheduled_run_takes_only_what_changed_since_the_watermark(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    table = make_tasks(pg, scratch_schema)
    name = f"{scratch_schema}.tasks"
    assert ingest(lab_path, pg_dsn, "--table", name) == 0
    first = rows(lab_path, "SELECT task_id, state, ingest_id FROM tasks ORDER BY 1")
    # nothing changed: the run reads the rows at the watermark again and writes nothing
    assert ingest(lab_path, pg_dsn, "--table", name) == 0
    assert rows(lab_path, "SELECT task_id, state, ingest_id FROM tasks ORDER BY 1") == first
    pg.execute(
        sql.SQL(
            "UPDATE {} SET state = 'succeeded', updated_at = '2026-01-01 11:00:00+00' "
            "WHERE task_id = 't1'"
        ).format(table)
    )
    pg.execute(
        sql.SQL(
            "INSERT INTO {} (task_id, state, updated_at) VALUES ('t3', 'queued', "
            "'2026-01-01 11:30:00+00'), ('t0', 'queued', '2025-12-31 00:00:00+00')"
        ).format(table)
    )
    assert ingest(lab_path, pg_dsn, "--table", name) == 0
    # t0 was written with an old updated_at: below the watermark, so not taken
    assert rows(lab_path, "SELECT task_id, state FROM tasks ORDER BY 1") == [
        ("t1", "succeeded"),
        ("t2", "failed"),
        ("t3", "pending"),
    ]
    ledger = rows(
        lab_path,
        "SELECT status, rows_loaded, rows_skipped, position, options ->> 'watermark' "
        "FROM ingests ORDER BY ingest_id",
    )
    assert ledger == [
        ("loaded", 2, 0, "2026-01-01 10:05:00+00", "updated_at"),
        ("unchanged", 0, 1, "2026-01-01 10:05:00+00", "updated_at"),
        # t2 sits at the last watermark: read again, unchanged, skipped
        ("loaded", 2, 1, "2026-01-01 11:30:00+00", "updated_at"),
    ]
    # --full reads everything, t0 included
    assert ingest(lab_path, pg_dsn, "--table", name, "--full") == 0
    assert [r[0] for r in rows(lab_path, "SELECT task_id FROM tasks ORDER BY 1")] == [
        "t0",
        "t1",
        "t2",
        "t3",
    ]


def test_a_sequence_watermark_and_a_query(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    table = sql.Identifier(scratch_schema, "moves")
    pg.execute(
        sql.SQL(
            "CREATE TABLE {} (id bigint GENERATED ALWAYS AS IDENTITY, task text, "
            "new_state text, changed timestamptz)"
        ).format(table)
    )
    insert = sql.SQL("INSERT INTO {} (task, new_state, changed) VALUES (%s, %s, %s)").format(table)
    for n in range(1, 4):
        pg.execute(insert, [f"t{n}", "running", f"2026-01-01 10:0{n}:00+00"])
    query = f"SELECT id, task, new_state, changed, 1 AS seq FROM {scratch_schema}.moves"
    args = ["--query", query, "--watermark", "id", "--kind", "transitions"]
    args += ["--map", "task_id=task", "--map", "ts=changed"]
    assert ingest(lab_path, pg_dsn, *args) == 0
    pg.execute(insert, ["t4", "done", "2026-01-01 10:09:00+00"])
    assert ingest(lab_path, pg_dsn, *args) == 0
    assert rows(lab_path, "SELECT task_id, to_state FROM task_transitions ORDER BY 1") == [
        ("t1", "running"),
        ("t2", "running"),
        ("t3", "running"),
        ("t4", "succeeded"),
    ]
    assert rows(lab_path, "SELECT rows_loaded, position FROM ingests ORDER BY ingest_id") == [
        (3, "3"),
        (1, "4"),
    ]


def test_a_bad_row_is_rejected_with_its_row_number_and_strict_writes_nothing(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    table = make_tasks(pg, scratch_schema)
    pg.execute(
        sql.SQL(
            "INSERT INTO {} (task_id, state, updated_at) VALUES ('t9', 'sideways', now())"
        ).format(table)
    )
    name = f"{scratch_schema}.tasks"
    assert ingest(lab_path, pg_dsn, "--table", name, "--strict") == 2
    assert not lab_path.exists() or rows(lab_path, "SELECT count(*) FROM tasks") == [(0,)]
    assert ingest(lab_path, pg_dsn, "--table", name) == 0
    # rows come in the table's order: the third row is t9
    rejects = rows(lab_path, "SELECT source, line, reason FROM rejects")
    assert len(rejects) == 1
    source, line, reason = rejects[0]
    assert source == f"{pgconn.describe(pg_dsn)}?table={name}"
    assert line == 3
    assert "sideways" in reason
    assert rows(lab_path, "SELECT count(*) FROM tasks") == [(2,)]


def backend_of(pg: psycopg.Connection, marker: str) -> int | None:
    found = pg.execute(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY%%' AND query LIKE %s "
        "AND state = 'active' AND pid <> pg_backend_pid()",
        [f"%{marker}%"],
    ).fetchall()
    return found[0][0] if found else None


def test_a_connection_dropped_mid_copy_leaves_nothing_and_the_rerun_completes(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path, tmp_path: Path
) -> None:
    table = sql.Identifier(scratch_schema, "big")
    pg.execute(
        sql.SQL(
            "CREATE TABLE {} AS SELECT 'task-' || g AS task_id, 'running' AS state, "
            "g AS n, timestamptz '2026-01-01' + g * interval '1 second' AS updated_at "
            "FROM generate_series(1, 20000) AS g"
        ).format(table)
    )
    flag = sql.Identifier(scratch_schema, "stall")
    pg.execute(sql.SQL("CREATE TABLE {} (on_ boolean)").format(flag))
    pg.execute(sql.SQL("INSERT INTO {} VALUES (true)").format(flag))
    # the COPY stalls at row 15,000 while the flag is set: time to cut its connection
    query = (
        f"SELECT task_id, state, n FROM {scratch_schema}.big AS b WHERE (SELECT CASE WHEN "
        f"on_ AND b.n = 15000 THEN pg_sleep(60) IS NOT NULL ELSE true END "
        f"FROM {scratch_schema}.stall)"
    )
    args = ["--query", query, "--kind", "tasks"]
    result: dict[str, int] = {}
    runner = threading.Thread(target=lambda: result.update(code=ingest(lab_path, pg_dsn, *args)))
    runner.start()
    deadline = time.monotonic() + 30
    pid = None
    while pid is None and time.monotonic() < deadline:
        pid = backend_of(pg, f"{scratch_schema}.stall")
        time.sleep(0.05)
    assert pid is not None, "the COPY never started"
    pg.execute("SELECT pg_terminate_backend(%s)", [pid])
    runner.join(60)
    assert result["code"] == 2
    assert not lab_path.exists() or rows(lab_path, "SELECT count(*) FROM tasks") == [(0,)]
    if lab_path.exists():
        assert rows(lab_path, "SELECT count(*) FROM ingests WHERE status = 'loaded'") == [(0,)]
    pg.execute(sql.SQL("UPDATE {} SET on_ = false").format(flag))
    assert ingest(lab_path, pg_dsn, *args) == 0
    assert rows(lab_path, "SELECT count(*), count(DISTINCT task_id) FROM tasks") == [
        (20000, 20000)
    ]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dvlab.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://dvlab_no_such_role:s3cr3t-pw@{host}:{port}/{db}",
        "postgresql://{user}:s3cr3t-pw@{host}:{port}/dvlab_no_such_db",
        "postgresql://{user}:s3cr3t-pw@127.0.0.1:1/{db}",
    ],
    ids=["unknown-role", "unknown-database", "unreachable"],
)
def test_a_refused_or_unreachable_server_is_one_line_and_exit_2(
    pg_dsn: str, pg: psycopg.Connection, tmp_path: Path, dsn: str
) -> None:
    info = pg.info
    given = dsn.format(host=info.host, port=info.port, db=info.dbname, user=info.user)
    lab = tmp_path / "lab.duckdb"
    done = run_cli("--db", str(lab), "ingest", given, "--table", "tasks")
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "s3cr3t-pw" not in done.stderr + done.stdout
    assert "cannot connect" in done.stderr
    assert not lab.exists() or b"s3cr3t-pw" not in lab.read_bytes()


def test_an_unknown_table_is_one_line_and_exit_2(
    pg_dsn: str, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ingest(lab_path, pg_dsn, "--table", "dvlab_no_such_schema.tasks") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "does not exist" in err


@pytest.mark.slow
def test_pg_variables_fill_a_bare_dsn_and_the_password_is_never_stored(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, tmp_path: Path
) -> None:
    make_tasks(pg, scratch_schema)
    info = pg.info
    lab = tmp_path / "lab.duckdb"
    env = {
        "PGHOST": info.host,
        "PGPORT": str(info.port),
        "PGDATABASE": info.dbname,
        "PGUSER": info.user,
        # trust authentication ignores it; dvlab must still never write it down
        "PGPASSWORD": "s3cr3t-pw",
    }
    done = run_cli(
        "--db", str(lab), "ingest", "postgresql://", "--table", f"{scratch_schema}.tasks", env=env
    )
    assert done.returncode == 0, done.stderr
    assert rows(lab, "SELECT count(*) FROM tasks") == [(2,)]
    assert rows(lab, "SELECT DISTINCT source FROM ingests") == [
        (
            f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}?table={scratch_schema}.tasks",
        )
    ]
    assert b"s3cr3t-pw" not in lab.read_bytes()
    assert "s3cr3t-pw" not in done.stdout + done.stderr


def test_rows_without_a_watermark_value_are_read_every_time(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    table = make_tasks(pg, scratch_schema)
    pg.execute(sql.SQL("INSERT INTO {} (task_id, state) VALUES ('t3', 'queued')").format(table))
    name = f"{scratch_schema}.tasks"
    assert ingest(lab_path, pg_dsn, "--table", name) == 0
    assert rows(lab_path, "SELECT task_id FROM tasks ORDER BY 1") == [("t1",), ("t2",), ("t3",)]
    pg.execute(sql.SQL("UPDATE {} SET state = 'running' WHERE task_id = 't3'").format(table))
    assert ingest(lab_path, pg_dsn, "--table", name) == 0
    assert rows(lab_path, "SELECT state FROM tasks WHERE task_id = 't3'") == [("running",)]
    assert rows(lab_path, "SELECT rows_loaded, position FROM ingests ORDER BY ingest_id") == [
        (3, "2026-01-01 10:05:00+00"),
        (1, "2026-01-01 10:05:00+00"),
    ]


def test_table_names_are_read_as_postgresql_reads_them(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    make_tasks(pg, scratch_schema)
    odd = sql.Identifier(scratch_schema, 'Odd "dot.ted"')
    pg.execute(sql.SQL("CREATE TABLE {} AS SELECT 'x1' AS task_id, 'done' AS state").format(odd))
    # unquoted: folded to lower case; quoted: kept, dots and quotes included
    assert ingest(lab_path, pg_dsn, "--table", f"{scratch_schema}.TASKS") == 0
    assert ingest(lab_path, pg_dsn, "--table", f'{scratch_schema}."Odd ""dot.ted"""') == 0
    assert rows(lab_path, "SELECT task_id FROM tasks ORDER BY 1") == [("t1",), ("t2",), ("x1",)]
    # one table, however it is spelled, is one source, with one position
    assert ingest(lab_path, pg_dsn, "--table", f'"{scratch_schema}".tasks') == 0
    sources = rows(lab_path, "SELECT DISTINCT source FROM ingests ORDER BY 1")
    assert [s.partition("?table=")[2] for (s,) in sources] == [
        f'{scratch_schema}."Odd ""dot.ted"""',
        f"{scratch_schema}.tasks",
    ]
    assert rows(lab_path, "SELECT status FROM ingests ORDER BY ingest_id DESC LIMIT 1") == [
        ("unchanged",)
    ]


def test_a_query_may_end_in_a_semicolon_and_a_comment(
    pg_dsn: str, tasks: str, lab_path: Path
) -> None:
    query = f"SELECT task_id, state FROM {tasks}; -- both of them"
    assert ingest(lab_path, pg_dsn, "--query", query, "--kind", "tasks") == 0
    assert rows(lab_path, "SELECT count(*) FROM tasks") == [(2,)]


def test_an_empty_string_is_not_null(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    table = make_tasks(pg, scratch_schema)
    pg.execute(sql.SQL("UPDATE {} SET note = '' WHERE task_id = 't1'").format(table))
    assert ingest(lab_path, pg_dsn, "--table", f"{scratch_schema}.tasks") == 0
    assert rows(lab_path, "SELECT task_id, attributes -> 'note' FROM tasks ORDER BY 1") == [
        ("t1", '""'),
        ("t2", '"line one\\nline two"'),
    ]


def test_a_source_keeps_the_zone_it_was_first_read_in(
    pg_dsn: str, tasks: str, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ingest(lab_path, pg_dsn, "--table", tasks, "--tz", "Asia/Tokyo") == 0
    assert ingest(lab_path, pg_dsn, "--table", tasks, "--full", "--tz", "Europe/Oslo") == 0
    assert "keeps the zone it was first read in (Asia/Tokyo)" in capsys.readouterr().err
    assert rows(lab_path, "SELECT started FROM tasks WHERE task_id = 't1'") == [
        (utc(2026, 7, 1, 1, 0, 1),)
    ]


@pytest.mark.slow
def test_sigterm_mid_pull_writes_nothing_and_leaves_no_spill(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, tmp_path: Path
) -> None:
    pg.execute(
        sql.SQL(
            "CREATE TABLE {} AS SELECT 'task-' || g AS task_id, 'running' AS state, g AS n "
            "FROM generate_series(1, 5000) AS g"
        ).format(sql.Identifier(scratch_schema, "big"))
    )
    query = (
        f"SELECT task_id, state FROM {scratch_schema}.big AS b "
        "WHERE CASE WHEN b.n = 4000 THEN pg_sleep(60) IS NOT NULL ELSE true END"
    )
    lab = tmp_path / "lab.duckdb"
    # a spill folder of a run killed earlier (its process is gone) is removed too
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f".dvlab-staging-{gone.stdout.strip()}-abc"
    stale.mkdir()
    (stale / "pulled.csv").write_text("x\n")
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dvlab.cli",
            "--db",
            str(lab),
            "ingest",
            pg_dsn,
            "--query",
            query,
            "--kind",
            "tasks",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while backend_of(pg, f"{scratch_schema}.big") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    child.send_signal(15)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert not list(tmp_path.glob(".dvlab-staging-*")), list(tmp_path.iterdir())
    assert not lab.exists() or rows(lab, "SELECT count(*) FROM tasks") == [(0,)]


def test_wide_rows_are_written_a_few_megabytes_at_a_time(
    pg_dsn: str,
    pg: psycopg.Connection,
    scratch_schema: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows are written (and Ctrl-C looked for) every 8,192 rows or every 8 MiB, whichever
    comes first. With the byte bound at 3 KiB, the header and ten rows of a 1 KiB note are
    written in batches ending at rows 3, 6 and 9 (each past 3 KiB), then the last row: three
    more checks than with the bound out of reach."""
    from dvlab.lab import ingest as lab_ingest
    from dvlab.live import pgingest

    table = f"{scratch_schema}.wide"
    pg.execute(f"CREATE TABLE {table} (task_id text, state text, note text)")
    pg.execute(
        f"INSERT INTO {table} SELECT 'w' || i, 'running', repeat('x', 1024) "
        "FROM generate_series(1, 10) AS i"
    )
    checks: list[int] = []
    real_check = lab_ingest._interrupts.check

    def counted() -> None:
        checks.append(1)
        real_check()

    monkeypatch.setattr(lab_ingest._interrupts, "check", counted)
    counts = []
    for bound in (1 << 40, 3 * 1024):
        monkeypatch.setattr(pgingest, "_COPY_BATCH_BYTES", bound)
        checks.clear()
        lab = tmp_path / f"lab-{bound}.duckdb"
        assert ingest(lab, pg_dsn, "--table", table) == 0
        assert rows(lab, "SELECT count(*) FROM tasks") == [(10,)]
        counts.append(len(checks))

    assert counts[1] - counts[0] == 3


def test_a_row_longer_than_the_readers_default_line_loads_whole(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    """The CSV reader is told the longest row copied. One row of 3 MiB among 2,000 short
    ones (past its default line of 2 MiB, and after the first rows) loads, all of it."""
    table = f"{scratch_schema}.long"
    pg.execute(f"CREATE TABLE {table} (task_id text, state text, note text)")
    pg.execute(
        f"INSERT INTO {table} SELECT 't' || i, 'running', "
        "CASE WHEN i = 1500 THEN repeat('y', 3 * 1024 * 1024) ELSE 'short' END "
        "FROM generate_series(1, 2000) AS i"
    )

    assert ingest(lab_path, pg_dsn, "--table", table) == 0

    assert rows(lab_path, "SELECT count(*) FROM tasks") == [(2000,)]
    assert rows(
        lab_path, "SELECT length(attributes ->> 'note') FROM tasks WHERE task_id = 't1500'"
    ) == [(3 * 1024 * 1024,)]


@pytest.mark.parametrize(
    ("odd", "stored"),
    [
        ("  padded  ", "padded"),  # spaces around a value are trimmed, as in a file
        ("back\\slash", "back\\slash"),  # COPY writes it escaped: read back as one
        ("tab\there", "tab\there"),
        ("\u00a0no-break\u00a0", "no-break"),  # Unicode's space separators are trimmed too
    ],
)
def test_a_value_needing_trim_or_unescape_late_in_the_copy_is_read_as_the_first_rows_are(
    pg_dsn: str,
    pg: psycopg.Connection,
    scratch_schema: str,
    lab_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    odd: str,
    stored: str,
) -> None:
    """Rows holding no escape, no character beyond ASCII and no space at a value's ends
    are read without unescaping or trimming; a copy is read so only when all its rows are.
    With the rows written two at a time, the one value that needs either comes in the
    last batch, after batches of plain rows."""
    from dvlab.live import pgingest

    monkeypatch.setattr(pgingest, "_COPY_BATCH", 2)
    monkeypatch.setattr(pgingest, "_COPY_STEP", 1)
    table = f"{scratch_schema}.late"
    pg.execute(f"CREATE TABLE {table} (task_id text, state text, workflow_id text)")
    pg.execute(
        f"INSERT INTO {table} SELECT 't' || i, 'running', 'plain' FROM generate_series(1, 8) AS i"
    )
    pg.execute(f"INSERT INTO {table} VALUES ('t9', 'running', %s)", [odd])

    assert ingest(lab_path, pg_dsn, "--table", table) == 0

    assert rows(lab_path, "SELECT workflow_id FROM tasks WHERE task_id = 't9'") == [(stored,)]
    assert rows(lab_path, "SELECT count(*) FROM tasks WHERE workflow_id = 'plain'") == [(8,)]


@pytest.mark.parametrize(
    ("copied", "plain"),
    [
        (b"1\tt1\trunning\n2\tt2\t\\N\n", True),
        (b"1\tt1\t\n", True),  # an empty value
        (b"1\tt1\t a\n", False),  # a space at a value's start
        (b"1\tt1 \ta\n", False),  # at its end, before a tab
        (b"1\tt1\ta \n", False),  # at its end, before the line's
        (b"1\tt\\\\1\ta\n", False),  # an escaped backslash
        (b"1\tt1\ta\\tb\n", False),  # an escaped tab
        (b"1\tt1\t\\\\N\n", False),  # the text \N (an escaped backslash, then N), no NULL
        ("1\tt\u00e91\ta\n".encode(), False),  # beyond ASCII
    ],
)
def test_copied_rows_are_plain_without_escapes_spaces_at_ends_or_non_ascii(
    copied: bytes, plain: bool
) -> None:
    from dvlab.live import pgingest

    assert pgingest._plain(copied) is plain


def test_a_rejected_older_version_does_not_make_the_newer_one_a_duplicate(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    """Twenty tasks each with an older row of an unknown state and a newer one that loads:
    the newer rows are kept (and the older ones are rejects of their own), as when the two
    versions come in two runs. The older reject had made the newer row a duplicate, by
    which of the two a hash chose: about half of the tasks were lost."""
    table = f"{scratch_schema}.versions"
    pg.execute(f"CREATE TABLE {table} (task_id text, state text, updated_at timestamptz)")
    pg.execute(
        f"INSERT INTO {table} SELECT 'id' || i, 'bogus', '2026-01-01 00:00:00+00' "
        "FROM generate_series(1, 20) AS i"
    )
    pg.execute(
        f"INSERT INTO {table} SELECT 'id' || i, 'running', '2026-01-02 00:00:00+00' "
        "FROM generate_series(1, 20) AS i"
    )

    assert ingest(lab_path, pg_dsn, "--table", table) == 0

    assert rows(lab_path, "SELECT count(*), count(*) FILTER (state = 'running') FROM tasks") == [
        (20, 20)
    ]
    assert rows(
        lab_path,
        "SELECT count(*) FILTER (reason LIKE '%unknown state%'), "
        "count(*) FILTER (reason LIKE '%duplicate%') FROM rejects",
    ) == [(20, 0)]


def test_map_with_a_dotted_path_into_a_jsonb_column_is_refused_naming_a_query(
    pg_dsn: str,
    pg: psycopg.Connection,
    scratch_schema: str,
    lab_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A database's columns come as text, a jsonb one's too: a dotted path into it had
    left every row without a state (each a reject). The run is refused, saying how to
    take the member instead; nothing is stored."""
    table = f"{scratch_schema}.pods"
    pg.execute(f"CREATE TABLE {table} (id int, spec jsonb)")
    pg.execute(f"""INSERT INTO {table} VALUES (1, '{{"status": {{"phase": "Running"}}}}')""")
    capsys.readouterr()

    status = ingest(
        lab_path,
        pg_dsn,
        "--table",
        table,
        "--map",
        "task_id=id",
        "--map",
        "state=spec.status.phase",
    )

    err = capsys.readouterr().err
    assert status == 2
    assert "--map state=spec.status.phase: column 'spec' holds text" in err
    assert "--query" in err
    assert not lab_path.exists() or rows(lab_path, "SELECT count(*) FROM tasks") == [(0,)]


def test_a_source_keeps_the_kind_and_mapping_it_was_first_read_with(
    pg_dsn: str,
    pg: psycopg.Connection,
    scratch_schema: str,
    lab_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Read past its recorded position another way, a source's new rows would sit beside
    the old ones read the first way (or in another table): it keeps its first reading,
    and the run says so, as a file does."""
    table = make_tasks(pg, scratch_schema)
    name = f"{scratch_schema}.tasks"
    assert ingest(lab_path, pg_dsn, "--table", name) == 0
    pg.execute(
        sql.SQL(
            "INSERT INTO {} VALUES ('t3', 'w2', 'running', 1, '2026-01-02 10:00:00+00', NULL, "
            "NULL, NULL, '2026-01-02 10:00:00+00')"
        ).format(table)
    )
    capsys.readouterr()

    given = ["--kind", "transitions", "--map", "to_state=state", "--map", "ts=updated_at"]
    assert ingest(lab_path, pg_dsn, "--table", name, *given) == 0

    err = capsys.readouterr().err
    assert "loaded before with other options (none; now --kind transitions, --map" in err
    assert rows(lab_path, "SELECT task_id FROM tasks ORDER BY 1") == [("t1",), ("t2",), ("t3",)]
    assert rows(lab_path, "SELECT count(*) FROM task_transitions") == [(0,)]


def test_kind_logs_is_refused_and_maps_in_another_order_are_the_same(
    pg_dsn: str, tasks: str, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ingest(lab_path, pg_dsn, "--table", tasks, "--kind", "logs") == 2
    assert "--kind logs: rows pulled from PostgreSQL load as tasks, transitions or events" in (
        capsys.readouterr().err
    )
    maps = ["--map", "task_id=task_id", "--map", "state=state"]
    assert ingest(lab_path, pg_dsn, "--table", tasks, *maps) == 0
    capsys.readouterr()
    again = ["--map", "state=state", "--map", "task_id=task_id", "--map", "state=state"]
    assert ingest(lab_path, pg_dsn, "--table", tasks, *again) == 0
    assert "other options" not in capsys.readouterr().err


def test_a_source_keeps_its_zone_for_times_held_as_text(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    """A time column of text is read in the first run's --tz on every run, as a timestamp
    column is: a later run without --tz had read it in UTC (and rejected every row, its
    start then before its creation)."""
    table = Table(
        pg,
        scratch_schema,
        "texty",
        "task_id text, state text, created_at text, started_at timestamp, updated_at timestamptz",
    )
    nine = "2026-11-30 09:00:00"
    table.add("t1", "running", nine, nine, utc(2026, 11, 30, 10))
    name = table.name
    assert ingest(lab_path, pg_dsn, "--table", name, "--tz", "Asia/Kathmandu") == 0
    table.add("t2", "running", nine, nine, utc(2026, 11, 30, 11))
    assert ingest(lab_path, pg_dsn, "--table", name) == 0

    # 09:00 in Kathmandu (+05:45) is 03:15 UTC, for both columns of both rows
    at = utc(2026, 11, 30, 3, 15)
    assert rows(lab_path, "SELECT task_id, created, started FROM tasks ORDER BY 1") == [
        ("t1", at, at),
        ("t2", at, at),
    ]
    assert rows(lab_path, "SELECT count(*) FROM rejects") == [(0,)]


def test_a_tz_given_after_the_first_run_is_not_applied_to_times_held_as_text_either(
    pg_dsn: str,
    pg: psycopg.Connection,
    scratch_schema: str,
    lab_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The run said the later --tz was not applied, and read the text times in it all the
    same (each row then an hour or two off the first run's), and kept it for later runs."""
    table = Table(
        pg,
        scratch_schema,
        "later",
        "task_id text, state text, created_at text, updated_at timestamptz",
    )
    noon = "2026-07-01 12:00:00"
    table.add("t1", "running", noon, utc(2026, 7, 1, 12))
    assert ingest(lab_path, pg_dsn, "--table", table.name) == 0
    table.add("t2", "running", noon, utc(2026, 7, 1, 13))
    capsys.readouterr()
    assert ingest(lab_path, pg_dsn, "--table", table.name, "--tz", "Europe/Oslo") == 0
    assert "--tz Europe/Oslo not applied" in capsys.readouterr().err
    table.add("t3", "running", noon, utc(2026, 7, 1, 14))
    assert ingest(lab_path, pg_dsn, "--table", table.name) == 0

    # read as UTC, as the first run read them
    at = utc(2026, 7, 1, 12)
    assert rows(lab_path, "SELECT task_id, created FROM tasks ORDER BY 1") == [
        ("t1", at),
        ("t2", at),
        ("t3", at),
    ]


def test_an_interval_watermark_read_back_in_another_style_misses_nothing(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    """A first run in the sql_standard IntervalStyle had recorded -1 days -2 hours as
    '-1 2:00:00', which the next run, in the default style, read as -22 hours: the row at
    -25 hours was missed ("nothing new")."""
    table = Table(pg, scratch_schema, "wi", "task_id text, state text, w interval")
    table.add("a", "running", "-1 days -2 hours")
    args = ("--table", table.name, "--watermark", "w")
    styled = pg_dsn + ("&" if "?" in pg_dsn else "?") + "options=-c%20IntervalStyle%3Dsql_standard"
    assert ingest(lab_path, styled, *args) == 0
    table.add("b", "running", "-1 days -1 hours")

    assert ingest(lab_path, pg_dsn, *args) == 0

    assert rows(lab_path, "SELECT task_id FROM tasks ORDER BY 1") == [("a",), ("b",)]


def test_a_timestamp_watermark_in_a_skipped_hour_is_ordered_as_postgresql_orders_it(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    """02:30 on 29 March does not happen in Oslo; read as an instant it passed 03:00, and
    the version kept changed from one run to the next. PostgreSQL orders the wall-clock
    values: 03:00 is the later."""
    table = Table(pg, scratch_schema, "wgap", "task_id text, state text, updated_at timestamp")
    table.add("g", "failed", "2026-03-29 03:00:00")
    table.add("g", "running", "2026-03-29 02:30:00")
    for _ in range(2):
        assert ingest(lab_path, pg_dsn, "--table", table.name, "--tz", "Europe/Oslo") == 0
        assert rows(lab_path, "SELECT state FROM tasks") == [("failed",)]


def test_a_session_zone_python_has_no_name_for_gives_no_warning(
    pg_dsn: str, tasks: str, lab_path: Path
) -> None:
    """psycopg had warned that it would parse times in UTC (which it does not do for
    dvlab, whose times arrive as text), outside dvlab's one-line messages."""
    env = {**os.environ, "PGTZ": "UTC+3"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dvlab.launch",
            "--db",
            str(lab_path),
            "ingest",
            pg_dsn,
            "--table",
            tasks,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "psycopg" not in done.stderr
    # 10:00:01 in a zone 3 hours behind UTC (POSIX signs are the other way round)
    assert rows(lab_path, "SELECT started FROM tasks WHERE task_id = 't1'") == [
        (utc(2026, 7, 1, 13, 0, 1),)
    ]


def test_a_watermark_of_text_is_said_to_order_rows_as_text(
    pg_dsn: str,
    pg: psycopg.Connection,
    scratch_schema: str,
    lab_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """updated_at as text, taken by default: 09:30Z sorts before 10:00+02:00 (08:00Z) as
    text, so the later row is missed, and that had gone without a word."""
    table = Table(pg, scratch_schema, "texty", "task_id text, state text, updated_at text")
    table.add("a", "running", "2026-01-01T10:00:00+02:00")
    assert ingest(lab_path, pg_dsn, "--table", table.name) == 0
    table.add("b", "running", "2026-01-01T09:30:00Z")
    capsys.readouterr()

    assert ingest(lab_path, pg_dsn, "--table", table.name) == 0

    err = capsys.readouterr().err
    assert "the watermark column updated_at holds text" in err
    assert "give --watermark a timestamptz or sequence column" in err


def test_transitions_without_numbers_pulled_in_runs_keep_every_one(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    """Each run numbers the rows it reads from 1: the second run's rows had replaced the
    first's of the same numbers (pending -> running was lost)."""
    table = Table(
        pg,
        scratch_schema,
        "trn",
        "id serial PRIMARY KEY, task_id text, from_state text, to_state text, ts timestamptz",
        filled=("task_id", "from_state", "to_state", "ts"),
    )
    table.add("a", "pending", "running", utc(2026, 11, 30, 9))
    table.add("a", "running", "retrying", utc(2026, 11, 30, 9, 1))
    table.add("b", None, "pending", utc(2026, 11, 30, 9, 2))
    args = ("--table", table.name, "--kind", "transitions", "--watermark", "id")
    assert ingest(lab_path, pg_dsn, *args) == 0
    table.add("a", "retrying", "failed", utc(2026, 11, 30, 9, 3))
    assert ingest(lab_path, pg_dsn, *args) == 0
    assert ingest(lab_path, pg_dsn, *args) == 0  # nothing new

    assert rows(
        lab_path, "SELECT task_id, seq, from_state, to_state FROM task_transitions ORDER BY 1, 2"
    ) == [
        ("a", 1, "pending", "running"),
        ("a", 2, "running", "retrying"),
        ("a", 3, "retrying", "failed"),
        ("b", 1, None, "pending"),
    ]
    assert rows(lab_path, "SELECT status FROM ingests ORDER BY ingest_id") == [
        ("loaded",),
        ("loaded",),
        ("unchanged",),
    ]


def test_too_little_staging_memory_blames_the_setting_not_the_rows(
    pg_dsn: str, tmp_path: Path
) -> None:
    lab = tmp_path / "lab.duckdb"
    query = (
        "SELECT 'task-' || g AS task_id, 'running' AS state, repeat('x', 200) AS note "
        "FROM generate_series(1, 200000) AS g"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dvlab.launch",
            "--db",
            str(lab),
            "ingest",
            pg_dsn,
            "--query",
            query,
            "--kind",
            "tasks",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "DVLAB_STAGING_MEMORY": "10MB"},
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert "ran out of memory" in line and "DVLAB_STAGING_MEMORY" in line
    assert "COPY's text format" not in line
    assert not lab.exists()


def test_of_two_rows_of_one_id_the_later_watermark_is_kept_and_a_rerun_changes_nothing(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    """A history table holds t twice: running at 09:00, failed at 10:00. The row of the
    later watermark is t as it is now; the earlier is skipped, not a reject. (The first
    row read had been kept, the other rejected, and the next run, which reads from 10:00
    only, then turned t failed with nothing changed in the database.)"""
    table = Table(pg, scratch_schema, "hist", TASK_STATES)
    table.add("t", "running", utc(2026, 11, 30, 9))
    table.add("t", "failed", utc(2026, 11, 30, 10))
    table.add("u", "running", utc(2026, 11, 30, 9, 30))
    args = ("--table", table.name)
    for _ in range(3):
        assert ingest(lab_path, pg_dsn, *args) == 0
        assert rows(lab_path, "SELECT task_id, state FROM tasks ORDER BY 1") == [
            ("t", "failed"),
            ("u", "running"),
        ]
    assert rows(lab_path, "SELECT count(*) FROM rejects") == [(0,)]
    assert rows(
        lab_path, "SELECT status, rows_loaded, rows_skipped FROM ingests ORDER BY ingest_id"
    ) == [("loaded", 2, 1), ("unchanged", 0, 1), ("unchanged", 0, 1)]


def test_two_rows_of_one_id_at_one_watermark_are_duplicates(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    """Nothing tells which of them is the later: the first is kept, the other a reject."""
    table = Table(pg, scratch_schema, "tied", TASK_STATES)
    at = utc(2026, 11, 30, 10)
    table.add("t", "running", at)
    table.add("t", "failed", at)
    assert ingest(lab_path, pg_dsn, "--table", table.name) == 0
    [(reason,)] = rows(lab_path, "SELECT reason FROM rejects")
    assert reason == 'tasks: column task_id: duplicate id "t" (another row of it, as old, is kept)'
    assert rows(lab_path, "SELECT count(*) FROM tasks") == [(1,)]


def test_a_bad_row_at_the_watermark_is_one_reject_however_often_it_is_read(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    table = Table(pg, scratch_schema, "badtop", TASK_STATES)
    table.add("t", "running", utc(2026, 11, 30, 9))
    table.add("u", "sideways", utc(2026, 11, 30, 10))
    args = ("--table", table.name)
    for _ in range(3):
        assert ingest(lab_path, pg_dsn, *args) == 0
    assert rows(lab_path, "SELECT count(*) FROM rejects") == [(1,)]
    assert rows(
        lab_path,
        "SELECT status, rows_loaded, rows_rejected, rows_skipped FROM ingests ORDER BY ingest_id",
    ) == [("loaded", 1, 1, 0), ("unchanged", 0, 0, 1), ("unchanged", 0, 0, 1)]


def test_an_empty_table_says_it_has_no_rows(
    pg_dsn: str,
    pg: psycopg.Connection,
    scratch_schema: str,
    lab_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    table = Table(pg, scratch_schema, "empty", "task_id text, state text")
    assert ingest(lab_path, pg_dsn, "--table", table.name) == 0
    assert capsys.readouterr().err.rstrip().endswith(": no rows")
    assert rows(lab_path, "SELECT status, message FROM ingests") == [("unchanged", "no rows")]


def test_a_wall_clock_time_at_the_end_of_postgresqls_range_is_one_reject(
    pg_dsn: str, lab_path: Path
) -> None:
    """Read in a zone west of UTC it would leave PostgreSQL's range: the pull had failed
    whole ("timestamp out of range")."""
    query = (
        "SELECT 't1' AS task_id, 'running' AS state, '294276-12-31 23:59:59'::timestamp "
        "AS created_at UNION ALL SELECT 't2', 'running', '2026-11-30 09:00:00'::timestamp"
    )
    args = ("--query", query, "--kind", "tasks", "--tz", "America/St_Johns")
    assert ingest(lab_path, pg_dsn, *args) == 0
    # 09:00 at -03:30 is 12:30 UTC
    assert rows(lab_path, "SELECT task_id, created FROM tasks") == [
        ("t2", utc(2026, 11, 30, 12, 30))
    ]
    [(reason,)] = rows(lab_path, "SELECT reason FROM rejects")
    assert reason == 'tasks: column created_at: "294276-12-31 23:59:59" is not a time'


def test_options_left_out_later_are_kept_and_others_given_are_said(
    pg_dsn: str,
    pg: psycopg.Connection,
    scratch_schema: str,
    lab_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    table = Table(pg, scratch_schema, "op", "tid text, st text, seqno int, v2 int")
    table.add("a", "running", 1, 9)
    name = table.name
    first = ("--kind", "tasks", "--map", "task_id=tid", "--map", "state=st")
    assert ingest(lab_path, pg_dsn, "--table", name, *first, "--watermark", "seqno") == 0
    capsys.readouterr()
    table.add("b", "running", 2, 8)
    # all left out: kept, without a word
    assert ingest(lab_path, pg_dsn, "--table", name) == 0
    assert capsys.readouterr().err == ""
    table.add("c", "running", 3, 7)
    # another watermark: said, and not applied (the source goes on from seqno 2)
    assert ingest(lab_path, pg_dsn, "--table", name, "--watermark", "v2") == 0
    assert "--watermark v2 not applied" in capsys.readouterr().err
    assert rows(lab_path, "SELECT task_id FROM tasks ORDER BY 1") == [("a",), ("b",), ("c",)]
    assert rows(
        lab_path, "SELECT position, options ->> 'watermark' FROM ingests ORDER BY ingest_id"
    ) == [("1", "seqno"), ("2", "seqno"), ("3", "seqno")]


def test_a_source_without_a_watermark_keeps_its_zone_too(
    pg_dsn: str,
    pg: psycopg.Connection,
    scratch_schema: str,
    lab_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Read whole each time: the zone of the first run still holds (the times had moved with
    each run's --tz, and the transitions been stored again at each new time)."""
    table = Table(
        pg, scratch_schema, "tt", "task_id text, from_state text, to_state text, ts text"
    )
    table.add("a", None, "pending", "2026-07-01 10:00")
    table.add("a", "pending", "running", "2026-07-01 10:02")
    name = table.name
    assert ingest(lab_path, pg_dsn, "--table", name, "--tz", "Europe/Oslo") == 0
    assert ingest(lab_path, pg_dsn, "--table", name) == 0
    capsys.readouterr()
    assert ingest(lab_path, pg_dsn, "--table", name, "--tz", "Asia/Tokyo") == 0
    assert "--tz Asia/Tokyo not applied" in capsys.readouterr().err
    # 10:00 in Oslo in summer (+02:00) is 08:00 UTC
    assert rows(lab_path, "SELECT seq, to_state, ts FROM task_transitions ORDER BY seq") == [
        (1, "pending", utc(2026, 7, 1, 8)),
        (2, "running", utc(2026, 7, 1, 8, 2)),
    ]


@pytest.mark.parametrize(
    ("column", "older", "newer"),
    [
        # two values a double cannot tell apart
        ("bigint", "99999999999999999", "100000000000000001"),
        ("text", "10", "9"),  # text, compared as text, as PostgreSQL does
        ("timestamptz", "-infinity", "2026-01-01 00:00:00+00"),
        ("numeric", "2.5", "10"),
        # these had been compared as a double (taken for one value: the newer row a
        # duplicate reject) or as text, byte by byte
        ("numeric(20,0)", "12345678901234567890", "12345678901234567891"),
        ("interval", "9 days", "10 days"),
        ("pg_lsn", "0/9", "0/10"),
        ('text COLLATE "en-x-icu"', "a", "B"),
        ("enum", "zeta", "alpha"),  # in the order the type declares
    ],
)
def test_the_later_version_is_the_one_postgresql_orders_later(
    pg_dsn: str,
    pg: psycopg.Connection,
    scratch_schema: str,
    lab_path: Path,
    column: str,
    older: str,
    newer: str,
) -> None:
    if column == "enum":
        pg.execute(
            sql.SQL("CREATE TYPE {} AS ENUM ('zeta', 'alpha')").format(
                sql.Identifier(scratch_schema, "phase")
            )
        )
        column = f'"{scratch_schema}".phase'
    table = Table(pg, scratch_schema, "v", f"task_id text, state text, w {column}")
    table.add("t", "failed", newer)
    table.add("t", "running", older)
    args = ("--table", table.name, "--watermark", "w")
    for _ in range(2):  # and a rerun changes nothing
        assert ingest(lab_path, pg_dsn, *args) == 0
        assert rows(lab_path, "SELECT state FROM tasks") == [("failed",)]
    assert rows(lab_path, "SELECT count(*) FROM rejects") == [(0,)]


def test_a_rejected_latest_version_leaves_the_one_before_as_runs_one_at_a_time_would(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path, tmp_path: Path
) -> None:
    """Read in one run, the rejected later version had superseded the earlier one, and the
    task was gone; read one run at a time, the earlier one stays. Now both ways agree."""
    columns = "task_id text, state text, created_at timestamptz, finished_at timestamptz, updated_at timestamptz"
    table = Table(pg, scratch_schema, "tv", columns)
    table.add("v1", "running", utc(2026, 7, 1, 10), None, utc(2026, 7, 1, 10))
    # finished before it was created: a reject
    table.add("v1", "failed", utc(2026, 7, 1, 10), utc(2026, 7, 1, 9), utc(2026, 7, 1, 11))
    apart = Table(pg, scratch_schema, "tv2", columns)
    apart.add("v1", "running", utc(2026, 7, 1, 10), None, utc(2026, 7, 1, 10))
    other = tmp_path / "apart.duckdb"
    assert ingest(other, pg_dsn, "--table", apart.name) == 0
    apart.add("v1", "failed", utc(2026, 7, 1, 10), utc(2026, 7, 1, 9), utc(2026, 7, 1, 11))
    assert ingest(other, pg_dsn, "--table", apart.name) == 0

    assert ingest(lab_path, pg_dsn, "--table", table.name) == 0

    for lab in (lab_path, other):
        assert rows(lab, "SELECT task_id, state FROM tasks") == [("v1", "running")]
        assert rows(lab, "SELECT count(*) FROM rejects") == [(1,)]


def test_a_row_without_a_watermark_is_the_latest_version_on_every_run(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    """Read on every run, it would otherwise win on the runs that read it alone."""
    table = Table(pg, scratch_schema, "n", "task_id text, state text, w float8")
    table.add("t", "failed", None)
    table.add("t", "running", 1)
    args = ("--table", table.name, "--watermark", "w")
    for full in ((), ("--full",), (), ("--full",)):
        assert ingest(lab_path, pg_dsn, *args, *full) == 0
        assert rows(lab_path, "SELECT state FROM tasks") == [("failed",)]


def test_strict_does_not_count_a_reject_the_lab_holds_already(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    """The bad row at the watermark, read again by each run, is known: a later --strict run
    loads what is new (it had failed on that row for good)."""
    table = Table(pg, scratch_schema, "st", "task_id text, state text, w int")
    table.add("a", "running", 1)
    table.add("b", "bogus", 2)
    args = ("--table", table.name, "--watermark", "w")
    assert ingest(lab_path, pg_dsn, *args) == 0
    table.add("c", "running", 2)
    assert ingest(lab_path, pg_dsn, *args, "--strict") == 0
    assert rows(lab_path, "SELECT task_id FROM tasks ORDER BY 1") == [("a",), ("c",)]
    table.add("d", "sideways", 3)
    assert ingest(lab_path, pg_dsn, *args, "--strict") == 2  # a new bad row still fails it
    assert rows(lab_path, "SELECT count(*) FROM rejects") == [(1,)]


def test_which_of_two_rows_at_one_watermark_is_kept_does_not_hang_on_their_order(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, lab_path: Path
) -> None:
    """PostgreSQL sends rows in no set order (an UPDATE moves one to the end): the row kept
    is chosen by what the two hold, so the lab does not flip between runs."""
    table = Table(pg, scratch_schema, "tie", "task_id text, state text, w int")
    table.add("b", "running", 2)
    table.add("b", "failed", 2)
    args = ("--table", table.name, "--watermark", "w")
    assert ingest(lab_path, pg_dsn, *args) == 0
    kept = rows(lab_path, "SELECT state FROM tasks")
    for state in ("running", "failed", "running"):
        # rewrite one row as it is: it moves to the end of the table's order
        pg.execute(
            sql.SQL("UPDATE {} SET state = state WHERE state = %s").format(table.ident), [state]
        )
        assert ingest(lab_path, pg_dsn, *args) == 0
        assert rows(lab_path, "SELECT state FROM tasks") == kept
    assert rows(lab_path, "SELECT count(*) FROM rejects") == [(1,)]


def test_utc_by_another_name_is_no_other_zone(
    pg_dsn: str, tasks: str, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ingest(lab_path, pg_dsn, "--table", tasks, "--tz", "Etc/UTC") == 0
    capsys.readouterr()
    assert ingest(lab_path, pg_dsn, "--table", tasks, "--tz", "UTC") == 0
    assert "not applied" not in capsys.readouterr().err
