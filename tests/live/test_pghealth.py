"""``dvlab snapshot``: a real PostgreSQL server's health into the lab's ``metrics``.

Every test talks to the server of ``pg_dsn`` and makes what it measures
itself: a table with a known number of dead tuples, a lock held by one
session and awaited by another, an idle session, a role and a database it
may not connect to. All of them have unique names and are dropped after.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from dvlab.cli import main
from dvlab.errors import BadInputError, SourceConnectError
from dvlab.lab import metricstore
from dvlab.lab.store import open_lab
from dvlab.live import pgconn, pghealth
from tests.live.conftest import unique_name

SECRET = "s3cr3t-word"

Row = dict[str, Any]


def rows_of(table: pa.Table) -> list[Row]:
    rows = table.to_pylist()
    for row in rows:
        row["labels"] = dict(row["labels"] or [])
    return rows


def find(rows: list[Row], name: str, **labels: str) -> list[Row]:
    """The rows called ``name`` whose labels include ``labels``."""
    return [
        r
        for r in rows
        if r["name"] == name and all(r["labels"].get(k) == v for k, v in labels.items())
    ]


def one(rows: list[Row], name: str, **labels: str) -> float:
    found = find(rows, name, **labels)
    assert len(found) == 1, f"{name} {labels}: {found}"
    return float(found[0]["value"])


def wait_until(check: Any, *, timeout: float = 20.0, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


def ident(*names: str) -> sql.Identifier:
    return sql.Identifier(*names)


# --------------------------------------------------------------------------- one snapshot


def test_one_snapshot_is_one_moment_of_one_server(pg_dsn: str, pg: psycopg.Connection) -> None:
    before = pg.execute("SELECT now()").fetchall()[0][0]
    rows = rows_of(pghealth.snapshot(pg_dsn, site="osl1"))
    after = pg.execute("SELECT now()").fetchall()[0][0]

    stamps = {r["ts"] for r in rows}
    assert len(stamps) == 1
    ts = stamps.pop()
    assert ts.utcoffset().total_seconds() == 0
    assert before <= ts <= after
    assert {r["service"] for r in rows} == {"postgresql"}
    assert {r["site"] for r in rows} == {"osl1"}
    assert all(r["name"].startswith("pg_") for r in rows)
    assert {r["type"] for r in rows} <= {"gauge", "counter"}
    assert {r["labels"]["server"] for r in rows} == {pghealth.server_name(pg_dsn)}

    version, limit, database, standbys = pg.execute(
        "SELECT current_setting('server_version_num')::int, "
        "current_setting('max_connections')::int, current_database(), "
        "(SELECT count(*) FROM pg_stat_replication)"
    ).fetchall()[0]
    assert one(rows, "pg_up") == 1
    assert one(rows, "pg_server_version_num") == version
    assert one(rows, "pg_in_recovery") == 0
    assert one(rows, "pg_max_connections") == limit
    assert one(rows, "pg_replication_standbys") == standbys
    if not standbys:
        assert not find(rows, "pg_replication_replay_lag_bytes")
    assert one(rows, "pg_database_size_bytes", database=database) > 0
    assert not find(rows, "pg_database_size_bytes", database="template1")
    age = one(rows, "pg_database_xid_age", database="template1")
    assert one(rows, "pg_database_xid_age_ratio", database="template1") == age / 2**31
    assert find(rows, "pg_database_deadlocks_total", database=database)[0]["type"] == "counter"
    assert not find(rows, "pg_snapshot_skipped")


@pytest.mark.parametrize("style", ["SQL,DMY", "Postgres", "German"])
def test_a_snapshot_is_taken_whatever_the_datestyle(pg_dsn: str, style: str) -> None:
    """psycopg parses times only in the ISO style: a server, database or client set to
    another had crashed the snapshot ("can't parse timestamptz with DateStyle")."""
    styled = pg_dsn + ("&" if "?" in pg_dsn else "?") + "options=" + quote(f"-c DateStyle={style}")

    rows = rows_of(pghealth.snapshot(styled, site=None))

    assert one(rows, "pg_up") == 1
    assert {r["ts"].utcoffset().total_seconds() for r in rows} == {0}


def test_no_site_leaves_it_empty(pg_dsn: str) -> None:
    rows = rows_of(pghealth.snapshot(pg_dsn, site=None))
    assert {r["site"] for r in rows} == {None}


def test_server_label_is_host_and_port_without_the_password() -> None:
    assert pghealth.server_name(f"postgresql://u:{SECRET}@db1:5433/app") == "db1:5433"
    assert pghealth.server_name("host=/run/postgresql dbname=app user=u") == "[local]:5432"


# --------------------------------------------------------------------------- connections


def _client_states(pg: psycopg.Connection) -> dict[str, int]:
    return dict(
        pg.execute(
            "SELECT coalesce(state, 'unknown'), count(*)::int FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' GROUP BY 1"
        ).fetchall()
    )


def test_connections_by_state_match_pg_stat_activity(pg_dsn: str, pg: psycopg.Connection) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as idle:
        idle.execute("SELECT 1").fetchall()  # then it sits idle
        for _ in range(20):
            before = _client_states(pg)
            rows = rows_of(pghealth.snapshot(pg_dsn, site=None))
            if _client_states(pg) == before:
                break
        else:
            pytest.fail("other sessions came and went through 20 snapshots in a row")

    # while the snapshot ran, the session counting sat idle and the snapshot's was active
    expected = {**dict.fromkeys(pghealth.STATES, 0), **before}
    expected["idle"] += 1
    seen = {r["labels"]["state"]: r["value"] for r in find(rows, "pg_connections")}
    assert seen == expected
    assert seen["idle"] >= 2  # the idle session, and the counting one
    limit = one(rows, "pg_max_connections")
    assert one(rows, "pg_connections_used_ratio") == pytest.approx(sum(seen.values()) / limit)


# --------------------------------------------------------------------------- dead tuples


@pytest.fixture
def bloated(pg_dsn: str, pg: psycopg.Connection, scratch_schema: str) -> str:
    """A table of 1,000 rows, 400 of them deleted and not vacuumed; its schema's name."""
    table = ident(scratch_schema, "bloated")
    # a session of its own, closed at once: a backend flushes its statistics as it ends
    with psycopg.connect(pg_dsn, autocommit=True) as writer:
        writer.execute(
            sql.SQL(
                "CREATE TABLE {} (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = false)"
            ).format(table)
        )
        writer.execute(
            sql.SQL(
                "INSERT INTO {} SELECT g, repeat('x', 200) FROM generate_series(1, 1000) g"
            ).format(table)
        )
        writer.execute(sql.SQL("DELETE FROM {} WHERE id <= 400").format(table))

    def counted() -> bool:
        found = pg.execute(
            "SELECT n_dead_tup, n_live_tup FROM pg_stat_user_tables "
            "WHERE schemaname = %s AND relname = 'bloated'",
            [scratch_schema],
        ).fetchall()
        return found == [(400, 600)]

    wait_until(counted, what="the statistics to count 400 dead and 600 live tuples")
    return scratch_schema


def test_dead_tuples_and_size_of_a_known_table(
    pg_dsn: str, pg: psycopg.Connection, bloated: str
) -> None:
    rows = rows_of(pghealth.snapshot(pg_dsn, site=None, top_tables=100_000))
    database = pg.execute("SELECT current_database()").fetchall()[0][0]
    where = {"database": database, "schema": bloated, "table": "bloated"}
    assert one(rows, "pg_table_dead_tuples", **where) == 400
    assert one(rows, "pg_table_live_tuples", **where) == 600
    size = pg.execute(
        "SELECT pg_total_relation_size(%s::regclass)", [f'"{bloated}".bloated']
    ).fetchall()[0][0]
    assert one(rows, "pg_table_size_bytes", **where) == size > 0


def test_top_tables_keeps_the_worst(pg_dsn: str, bloated: str) -> None:
    rows = rows_of(pghealth.snapshot(pg_dsn, site=None, top_tables=1))
    dead = find(rows, "pg_table_dead_tuples")
    assert len(dead) == 1
    assert dead[0]["value"] >= 400  # ours has 400; the one kept has at least as many
    assert len(find(rows, "pg_table_size_bytes")) == 1

    none = rows_of(pghealth.snapshot(pg_dsn, site=None, top_tables=0))
    assert not find(none, "pg_table_dead_tuples")
    assert not find(none, "pg_table_size_bytes")


# --------------------------------------------------------------------------- locks


@pytest.fixture
def contended(pg_dsn: str, pg: psycopg.Connection, scratch_schema: str) -> Iterator[int]:
    """A table locked ACCESS EXCLUSIVE by one session while another waits to read it.

    Yields the waiting session's pid; both sessions end with the test.
    """
    table = ident(scratch_schema, "contended")
    pg.execute(sql.SQL("CREATE TABLE {} (id int)").format(table))
    holder = psycopg.connect(pg_dsn)
    waiter = psycopg.connect(pg_dsn, autocommit=True)
    outcome: list[object] = []

    def wait_for_the_lock() -> None:
        try:
            waiter.execute("SET statement_timeout = '60s'")
            outcome.append(waiter.execute(sql.SQL("SELECT count(*) FROM {}").format(table)))
        except psycopg.Error as exc:
            outcome.append(exc)

    thread = threading.Thread(target=wait_for_the_lock)
    try:
        holder.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table))
        pid = waiter.info.backend_pid
        thread.start()
        wait_until(
            lambda: pg.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock' "
                "AND now() - query_start > interval '1 second'",
                [pid],
            ).fetchall(),
            what="the second session to wait a second for the lock",
        )
        yield pid
    finally:
        holder.rollback()
        holder.close()
        thread.join(timeout=30)
        waiter.close()
    assert outcome and not isinstance(outcome[0], Exception), outcome


def test_a_waiting_query_and_the_lock_it_waits_for(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, contended: int
) -> None:
    started = time.monotonic()
    rows = rows_of(pghealth.snapshot(pg_dsn, site=None, long_query=0.5, top_tables=100_000))
    assert time.monotonic() - started < 10  # the locked table was not waited for

    database = pg.execute("SELECT current_database()").fetchall()[0][0]
    on_table = {"database": database, "schema": scratch_schema, "relation": "contended"}
    assert one(rows, "pg_queries_waiting_lock") >= 1
    assert one(rows, "pg_locks_contended", mode="AccessExclusiveLock", granted="true", **on_table)
    assert one(rows, "pg_locks_contended", mode="AccessShareLock", granted="false", **on_table)
    assert (
        one(rows, "pg_locks", locktype="relation", mode="AccessExclusiveLock", granted="true") >= 1
    )
    assert one(rows, "pg_locks", locktype="relation", mode="AccessShareLock", granted="false") >= 1
    # the waiting SELECT is active, and has been for over a second
    assert one(rows, "pg_queries_long_running", threshold_seconds="0.5") >= 1
    assert one(rows, "pg_query_longest_seconds") >= 1
    assert one(rows, "pg_transaction_longest_seconds") >= 1
    # its size would have waited behind the lock: recorded as skipped, not measured
    table = {"database": database, "schema": scratch_schema, "table": "contended"}
    assert one(rows, "pg_snapshot_skipped", what="table_size", reason="locked", **table) == 1
    assert not find(rows, "pg_table_size_bytes", **table)


def test_nothing_contended_without_a_waiter(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str
) -> None:
    table = ident(scratch_schema, "quiet")
    pg.execute(sql.SQL("CREATE TABLE {} (id int)").format(table))
    with psycopg.connect(pg_dsn) as holder:
        holder.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(table))
        rows = rows_of(pghealth.snapshot(pg_dsn, site=None, top_tables=100_000))
        holder.rollback()
    assert not find(rows, "pg_locks_contended", schema=scratch_schema)
    assert one(rows, "pg_locks", locktype="relation", mode="ShareLock", granted="true") >= 1
    # SHARE does not keep a reader out: its size was measured
    assert find(rows, "pg_table_size_bytes", schema=scratch_schema, table="quiet")


# --------------------------------------------------------------------------- a normal role


@pytest.fixture
def plain_role(pg_dsn: str, pg: psycopg.Connection) -> Iterator[tuple[str, str]]:
    """A login role with no privileges, and a database it may not connect to."""
    role, database = unique_name(), unique_name()
    pg.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident(role)))
    try:
        pg.execute(sql.SQL("CREATE DATABASE {}").format(ident(database)))
        try:
            pg.execute(
                sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(ident(database))
            )
            yield role, database
        finally:
            pg.execute(sql.SQL("DROP DATABASE {}").format(ident(database)))
    finally:
        pg.execute(sql.SQL("DROP ROLE {}").format(ident(role)))


def test_a_normal_role_gets_a_snapshot_with_what_it_may_not_read_skipped(
    pg_dsn: str, pg: psycopg.Connection, plain_role: tuple[str, str]
) -> None:
    role, forbidden = plain_role
    dsn = psycopg.conninfo.make_conninfo(pg_dsn, user=role)
    rows = rows_of(pghealth.snapshot(dsn, site=None))

    database = pg.execute("SELECT current_database()").fetchall()[0][0]
    skipped = find(rows, "pg_snapshot_skipped", what="database_size", database=forbidden)
    assert len(skipped) == 1
    assert skipped[0]["labels"]["reason"] == "permission denied"
    assert not find(rows, "pg_database_size_bytes", database=forbidden)
    assert one(rows, "pg_database_size_bytes", database=database) > 0
    assert one(rows, "pg_database_xid_age", database=forbidden) >= 0
    assert one(rows, "pg_up") == 1
    # the test's own superuser session is one the role may not see into
    assert sorted(r["labels"]["what"] for r in find(rows, "pg_snapshot_skipped")) == [
        "database_size",
        "queries",
    ]


def test_a_normal_role_does_not_report_a_lock_pile_up_as_calm(
    pg_dsn: str, pg: psycopg.Connection, plain_role: tuple[str, str], scratch_schema: str
) -> None:
    """A superuser's session holds a lock another waits for; a role that may not see into
    their sessions reports the query figures as skipped, never as zeros."""
    role, _ = plain_role
    table = ident(scratch_schema, "piled")
    pg.execute(sql.SQL("CREATE TABLE {} (id int)").format(table))
    with psycopg.connect(pg_dsn) as holder, psycopg.connect(pg_dsn, autocommit=True) as waiter:
        holder.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table))
        waiting = threading.Thread(
            target=waiter.execute, args=(sql.SQL("SELECT count(*) FROM {}").format(table),)
        )
        waiting.start()
        try:
            for _ in range(200):  # until the server shows the waiter waiting
                shown = pg.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                ).fetchall()[0][0]
                if shown:
                    break
                time.sleep(0.05)
            assert shown
            plain = rows_of(
                pghealth.snapshot(psycopg.conninfo.make_conninfo(pg_dsn, user=role), site=None)
            )
            full = rows_of(pghealth.snapshot(pg_dsn, site=None))
        finally:
            holder.rollback()
            waiting.join()
    skipped = find(plain, "pg_snapshot_skipped", what="queries")
    assert [r["labels"]["reason"] for r in skipped] == [pghealth.HIDDEN_SESSIONS]
    for name in ("pg_queries_waiting_lock", "pg_queries_long_running", "pg_query_longest_seconds"):
        assert not find(plain, name)
    assert one(full, "pg_queries_waiting_lock") >= 1


# --------------------------------------------------------------------------- into the lab


def test_two_snapshots_make_a_time_series(pg_dsn: str, lab_path: Path) -> None:
    first = pghealth.record(lab_path, pg_dsn, site="osl1", long_query=5, top_tables=3)
    second = pghealth.record(lab_path, pg_dsn, site="osl1", long_query=5, top_tables=3)

    assert second.ingest_id == first.ingest_id + 1
    lab = open_lab(lab_path)
    ledger = lab.sql(
        "SELECT ingest_id, run_id, source, format, status, rows_loaded, started, finished, "
        "options, position FROM ingests ORDER BY ingest_id"
    ).fetchall()
    assert [row[0] for row in ledger] == [first.ingest_id, second.ingest_id]
    assert len({row[1] for row in ledger}) == 2
    for (_, run_id, source, fmt, status, loaded, started, finished, options, position), rec in zip(
        ledger, (first, second), strict=True
    ):
        uuid.UUID(run_id)
        assert (source, fmt, status, position) == (
            pgconn.describe(pg_dsn),
            "pg_snapshot",
            "loaded",
            None,
        )
        assert loaded == rec.metrics
        assert started <= rec.ts <= finished  # the server runs on this machine's clock
        assert json.loads(options) == {"site": "osl1", "long_query": 5, "top_tables": 3}

    per_ingest = lab.sql(
        "SELECT ingest_id, count(*), count(DISTINCT ts), min(ts), any_value(source), "
        "count(*) FILTER (WHERE site = 'osl1' AND service = 'postgresql') "
        "FROM metrics GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in per_ingest] == [
        (first.ingest_id, first.metrics, 1),
        (second.ingest_id, second.metrics, 1),
    ]
    assert per_ingest[0][3] < per_ingest[1][3]
    assert per_ingest[0][3] == first.ts and per_ingest[1][3] == second.ts
    assert {r[4] for r in per_ingest} == {pgconn.describe(pg_dsn)}
    assert [r[5] for r in per_ingest] == [first.metrics, second.metrics]
    up = lab.sql(
        "SELECT count(*) FROM metrics WHERE name = 'pg_up' AND value = 1 "
        "AND labels['server'] = $server",
        {"server": pghealth.server_name(pg_dsn)},
    ).fetchall()
    assert up == [(2,)]


def test_store_writes_nothing_when_a_row_fails(lab_path: Path) -> None:
    ts = datetime(2026, 12, 1, 10, tzinfo=UTC)
    good = metricstore.to_table([{"ts": ts, "name": "m", "value": 1.0, "type": "gauge"}])
    kept = metricstore.store(lab_path, good, source="first", format="test")

    bad = pa.table(
        {
            "ts": pa.array([ts, ts], pa.timestamp("us", tz="UTC")),
            "name": ["m", "m"],
            "value": ["2.0", "not a number"],
        }
    )
    with pytest.raises(BadInputError):
        metricstore.store(lab_path, bad, source="second", format="test")
    # the rows go in first, then the ledger row, which fails here: the rows go too
    with pytest.raises(BadInputError):
        no_time: Any = "no time"
        metricstore.store(lab_path, good, source="second", format="test", started=no_time)

    lab = open_lab(lab_path)
    assert lab.sql("SELECT ingest_id, source, value FROM metrics").fetchall() == [
        (kept, "first", 1.0)
    ]
    assert lab.sql("SELECT ingest_id, source FROM ingests").fetchall() == [(kept, "first")]
    assert metricstore.store(lab_path, good, source="third", format="test") == kept + 1


def test_store_refuses_rows_it_cannot_place(lab_path: Path) -> None:
    naive = pa.table({"ts": pa.array([datetime(2026, 12, 1)]), "name": ["m"]})
    with pytest.raises(BadInputError, match="time zone"):
        metricstore.store(lab_path, naive, source="s", format="test")
    with pytest.raises(BadInputError, match="unknown"):
        metricstore.to_table([{"ts": datetime.now(UTC), "name": "m", "unit": "s"}])
    misspelt = metricstore.to_table(
        [{"ts": datetime.now(UTC), "name": "m", "type": "histogramme"}]
    )
    with pytest.raises(BadInputError, match="metric type"):
        metricstore.store(lab_path, misspelt, source="s", format="test")
    assert not lab_path.exists()


# --------------------------------------------------------------------------- the command


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_one_line_per_snapshot(
    pg_dsn: str, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--db", str(lab_path), "snapshot", pg_dsn, "--site", "osl1")
    assert (code, err) == (0, "")
    match = re.fullmatch(
        rf"snapshot of {re.escape(pgconn.describe(pg_dsn))}: (\d+) metrics into "
        rf"{re.escape(str(lab_path))}\n",
        out,
    )
    assert match, out
    stored = open_lab(lab_path).sql("SELECT count(*) FROM metrics WHERE site = 'osl1'")
    assert stored.fetchall() == [(int(match.group(1)),)]


def test_cli_json_and_repeat(
    pg_dsn: str, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "snapshot",
        pg_dsn,
        "--db",
        str(lab_path),
        "--json",
        "--repeat",
        "2",
        "--every",
        "0.5",
    )
    assert (code, err) == (0, "")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["ingest_id"] for line in lines] == [1, 2]
    assert {line["source"] for line in lines} == {pgconn.describe(pg_dsn)}
    assert lines[0]["ts"] < lines[1]["ts"]
    assert all(line["ts"].endswith("Z") and line["skipped"] == [] for line in lines)
    counts = (
        open_lab(lab_path)
        .sql(
            "SELECT ingest_id, count(*), strftime(min(ts), '%Y-%m-%dT%H:%M:%S.%fZ') "
            "FROM metrics GROUP BY 1 ORDER BY 1"
        )
        .fetchall()
    )
    assert counts == [
        (1, lines[0]["metrics"], lines[0]["ts"]),
        (2, lines[1]["metrics"], lines[1]["ts"]),
    ]


def _lab_bytes(lab_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(lab_path.parent.iterdir()) if p.is_file())


def test_the_password_never_appears(
    pg_dsn: str, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the server trusts 127.0.0.1, so a login with a password works and the password is unused
    host = psycopg.conninfo.conninfo_to_dict(pg_dsn)
    place = f"{host.get('host', '127.0.0.1')}:{host.get('port', 5432)}"
    dbname = host.get("dbname", "test")
    with_password = f"postgresql://postgres:{SECRET}@{place}/{dbname}"
    code, out, err = run(capsys, "-v", "--db", str(lab_path), "snapshot", with_password)
    assert code == 0, err
    assert f"snapshot of postgresql://postgres@{place}/{dbname}: " in out
    assert SECRET not in out + err

    missing = f"postgresql://postgres:{SECRET}@{place}/nosuchdb_{uuid.uuid4().hex}"
    code, out, err = run(capsys, "--db", str(lab_path), "snapshot", missing)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1 and err.endswith("\n")
    assert "does not exist" in err
    assert err.startswith(f"dvlab: postgresql://postgres@{place}/nosuchdb_")
    assert SECRET not in err

    assert SECRET.encode() not in _lab_bytes(lab_path)
    sources = open_lab(lab_path).sql("SELECT DISTINCT source FROM ingests").fetchall()
    assert sources == [(f"postgresql://postgres@{place}/{dbname}",)]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_server_is_one_line(
    lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _closed_port()
    dsn = f"postgresql://nobody:{SECRET}@127.0.0.1:{port}/test"
    code, out, err = run(capsys, "--db", str(lab_path), "snapshot", dsn)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(f"dvlab: postgresql://nobody@127.0.0.1:{port}/test: cannot connect: ")
    assert SECRET not in err
    assert not lab_path.exists()
    with pytest.raises(SourceConnectError):
        pghealth.snapshot(dsn, site=None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lab.duckdb"], "takes a postgresql:// DSN"),
        (["postgresql://", "--repeat", "3"], "needs --every"),
        (["postgresql://", "--every", "5"], "goes with --repeat"),
        (["postgresql://", "--repeat", "0"], "--repeat takes a count"),
        (["postgresql://", "--long-query", "-1"], "--long-query takes seconds"),
        (["postgresql://", "--long-query", "nan"], "--long-query takes seconds"),
        (["postgresql://", "--long-query", "inf"], "--long-query takes seconds"),
        (["postgresql://", "--repeat", "2", "--every", "nan"], "--every takes seconds"),
        (["postgresql://", "--top-tables", "-1"], "--top-tables takes a count"),
    ],
)
def test_bad_options_are_one_line(
    args: list[str], message: str, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--db", str(lab_path), "snapshot", *args)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and message in err, err
    assert not lab_path.exists()
