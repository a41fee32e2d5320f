"""The store: what it refuses to open, and readers waiting out a writer."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from dvlab.errors import BadInputError, LabLockedError
from dvlab.lab.ingest import IngestOptions, ingest
from dvlab.lab.store import Lab, connect_file


def test_a_sqlite_file_is_refused_before_duckdb_opens_it(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(BadInputError, match="is not a DuckDB database"):
        connect_file(path, read_only=True)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="is a folder"):
        connect_file(tmp_path, read_only=True)


@contextmanager
def lock_held(path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process that opens ``path`` for writing and keeps it ``seconds``."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('locked', flush=True); time.sleep(float(sys.argv[2])); c.close()",
            str(path),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()


def test_reader_waits_for_a_writer_then_reads(tmp_path: Path) -> None:
    path = tmp_path / "lab.duckdb"
    with Lab(path, read_only=False).connect(write=True) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    with lock_held(path, 1.0):
        started = time.monotonic()
        rows = Lab(path).sql("SELECT x FROM t").fetchall()
        waited = time.monotonic() - started
    assert rows == [(1,)]
    assert waited > 0.2  # it really had to wait for the holder to let go


def test_reader_gives_up_after_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lab.duckdb"
    duckdb.connect(str(path)).close()
    with lock_held(path, 5.0) as holder:
        monkeypatch.setenv("DVLAB_LOCK_TIMEOUT", "0.3")
        with pytest.raises(LabLockedError, match=f"locked by process {holder.pid}"):
            Lab(path).sql("SELECT 1")


def test_a_bad_lock_timeout_is_a_clear_error_for_ingest_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dvlab.lab.ingest import ingest

    source = tmp_path / "a.log"
    source.write_text("ts=2026-12-01T10:00:00Z msg=a\n")
    monkeypatch.setenv("DVLAB_LOCK_TIMEOUT", "abc")
    with pytest.raises(
        BadInputError, match="DVLAB_LOCK_TIMEOUT must be a number of seconds, not 'abc'"
    ):
        ingest(tmp_path / "lab.duckdb", [str(source)])


def test_a_time_with_its_offset_keeps_the_offset(tmp_path: Path) -> None:
    """Arrow has no TIME WITH TIME ZONE: the copy into memory had dropped the offset
    (10:00:00+05:45 came out as 10:00:00)."""
    path = tmp_path / "lab.duckdb"
    with Lab(path, read_only=False).connect(write=True) as con:
        con.execute("CREATE TABLE t AS SELECT TIMETZ '10:00:00+05:45' AS \"at\", 1 AS n")

    got = Lab(path).sql("SELECT \"at\", n, TIME '09:00' AS plain FROM t").fetchall()

    assert [(str(at), n, str(plain)) for at, n, plain in got] == [
        ("10:00:00+05:45", 1, "09:00:00")
    ]


def test_log_messages_are_stored_with_zstd(tmp_path: Path) -> None:
    """Log text is most of a lab: zstd keeps it in about a third of the space DuckDB's
    default string compression does, and writes it in about half the time."""
    log = tmp_path / "app.jsonl"
    with log.open("w") as fh:
        for i in range(5000):
            fh.write(
                f'{{"ts": "2026-12-01T10:00:00Z", "msg": "request {i} for tenant t{i % 97}"}}\n'
            )
    lab = tmp_path / "lab.duckdb"
    assert not ingest(lab, [str(log)], IngestOptions()).failed

    con = duckdb.connect(str(lab), read_only=True)
    try:
        methods = {
            row[0]
            for row in con.execute(
                "SELECT compression FROM pragma_storage_info('logs') "
                "WHERE column_name = 'message' AND segment_type = 'VARCHAR'"
            ).fetchall()
        }
    finally:
        con.close()
    assert methods == {"ZSTD"}


def test_a_query_from_python_names_its_values_as_python_gives_them(tmp_path: Path) -> None:
    """The errors had named --param, the command line's flag, to a Python caller."""
    path = tmp_path / "lab.duckdb"
    with Lab(path, read_only=False).connect(write=True) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    lab = Lab(path)

    with pytest.raises(BadInputError) as refused:
        lab.query("timeline", **{"from": "yesterday-ish"})
    assert "query 'timeline': from='yesterday-ish' is not a time" in str(refused.value)
    with pytest.raises(BadInputError) as refused:
        lab.query("timeline", limit="-1")
    assert "query 'timeline': limit='-1' is not a whole number of rows" in str(refused.value)
    with pytest.raises(BadInputError) as refused:
        lab.query("metric_rate")
    assert "query 'metric_rate' needs metric=VALUE" in str(refused.value)
    with pytest.raises(BadInputError) as refused:
        lab.query("timeline", **{"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"})
    assert "from='2026-12-02T00:00:00Z' is not before to='2026-12-01T00:00:00Z'" in str(
        refused.value
    )
