"""`dvlab export`: the lab as Parquet, logs partitioned by UTC day, read back whole."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dvlab.cli import main
from dvlab.errors import BadInputError
from dvlab.lab.export import export_parquet
from dvlab.lab.ingest import IngestOptions, ingest
from tests.stopping import stop_midway

# two records before and one after UTC midnight; the +02:00 one is 23:30 on the 1st in UTC
RECORDS = [
    {"ts": "2026-12-01T23:59:59Z", "msg": "a", "service": "api"},
    {"ts": "2026-12-02T01:30:00+02:00", "msg": "b", "service": "api"},
    {"ts": "2026-12-02T00:00:00Z", "msg": "c", "service": "nett", "http": {"status": 503}},
]


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\nnot json\n")
    db = tmp_path / "lab.duckdb"
    assert main(["--db", str(db), "ingest", str(source), "--format", "jsonl"]) == 0
    return db


def test_logs_partitioned_by_utc_day_and_small_tables_whole(lab: Path, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    written = export_parquet(lab, out)
    assert {name: rows for name, (_, rows) in written.items()} == {
        "ingests": 1,
        "logs": 3,
        "rejects": 1,
        # a lab of logs alone still exports the task and event tables, empty
        "tasks": 0,
        "task_transitions": 0,
        "events": 0,
        "metrics": 0,
        "metric_families": 0,
        "spans": 0,
    }
    days = sorted(p.name for p in (out / "logs").iterdir())
    assert days == ["day=2026-12-01", "day=2026-12-02"]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(
        f"SELECT day, message, attributes FROM read_parquet('{out}/logs/**/*.parquet', "
        "hive_partitioning = true) ORDER BY ts"
    ).fetchall()
    assert [(str(d), m) for d, m, _ in rows] == [
        ("2026-12-01", "b"),
        ("2026-12-01", "a"),
        ("2026-12-02", "c"),
    ]
    assert json.loads(rows[2][2]) == {"http.status": 503}
    rejects = con.execute(f"SELECT line, raw FROM '{out}/rejects.parquet'").fetchall()
    assert rejects == [(4, "not json")]
    # nothing half-written is left beside the tables and the manifest naming them
    tables = json.loads((out / ".dvlab-export.json").read_text())["tables"]
    assert sorted(tables) == sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert {t["lab"] for t in tables.values()} == {str(lab.resolve())}
    assert sorted(p.name for p in out.iterdir()) == [
        ".dvlab-export.json",
        ".dvlab-export.lock",
        "events.parquet",
        "ingests.parquet",
        "logs",
        "metric_families.parquet",
        "metrics.parquet",
        "rejects.parquet",
        "spans.parquet",
        "task_transitions.parquet",
        "tasks.parquet",
    ]


def test_export_again_replaces_and_one_table_alone(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "parquet"
    export_parquet(lab, out)
    assert main(["--db", str(lab), "export", str(out), "--table", "logs"]) == 0
    assert "logs: 3 rows" in capsys.readouterr().out
    count = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/logs/**/*.parquet')").fetchall()
    assert count == [(3,)]


def test_unknown_table_is_named(lab: Path, tmp_path: Path) -> None:
    with pytest.raises(
        BadInputError,
        match="no table nope in the lab; it has: events, ingests, logs, metric_families, metrics, "
        "rejects, spans, task_transitions, tasks",
    ):
        export_parquet(lab, tmp_path / "out", tables=["nope"])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_export_stopped_midway_leaves_no_half_written_folder(
    tmp_path: Path, signum: int
) -> None:
    """A scheduler stopping an export (SIGTERM) or Ctrl-C ends it as an interruption:
    exit 130, one line, no hidden staging folder, and the earlier export as it was,
    every table of it (not some tables of each)."""
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps(RECORDS[0]) + "\n")
    db = tmp_path / "lab.duckdb"
    assert main(["--db", str(db), "ingest", str(source)]) == 0
    out = tmp_path / "parquet"
    export_parquet(db, out)
    before = {p.name: _stored(p) for p in out.iterdir() if not p.name.startswith(".")}
    manifest = (out / ".dvlab-export.json").read_text()
    # enough rows, over enough days, that writing them takes a while
    con = duckdb.connect(str(db))
    try:
        con.execute(
            """INSERT INTO logs (ts, message, service, source, line, ingest_id)
               SELECT TIMESTAMPTZ '2020-01-01 00:00:00+00' + i * INTERVAL 37 SECOND,
                      'message ' || (i * 7919 % 1000003), 'svc' || (i % 13), 'bulk', i, 1
               FROM range(6000000) t(i)"""
        )
    finally:
        con.close()
    # stopped once it is writing
    code, _, err = stop_midway(
        ["--db", str(db), "export", str(out)],
        lambda _pid: any(p.name.startswith(".dvlab-export-") for p in out.iterdir()),
        signum,
        settle=0.3,
    )

    assert (code, err) == (130, "dvlab: interrupted\n")
    assert {p.name: _stored(p) for p in out.iterdir() if not p.name.startswith(".")} == before
    hidden = {p.name for p in out.iterdir() if p.name.startswith(".")}
    assert hidden == {".dvlab-export.json", ".dvlab-export.lock"}  # no staging folder
    assert (out / ".dvlab-export.json").read_text() == manifest
    assert before["logs"] == 1


def _stored(path: Path) -> int:
    """The rows an exported table holds."""
    pattern = f"{path}/**/*.parquet" if path.is_dir() else str(path)
    return int(duckdb.sql(f"SELECT count(*) FROM read_parquet('{pattern}')").fetchall()[0][0])


def test_what_is_not_an_exports_is_never_replaced(lab: Path, tmp_path: Path) -> None:
    """A folder of one's own logs, or a file, where the export would put a table is left
    as it is, and the export refused before it writes anything."""
    out = tmp_path / "sim"
    (out / "logs" / "api").mkdir(parents=True)
    (out / "logs" / "api" / "app.log").write_text("precious\n")
    # a Parquet file of one's own, as a simulation writes them
    duckdb.sql(f"COPY (SELECT 'mine' AS task_id) TO '{out / 'tasks.parquet'}' (FORMAT parquet)")
    mine = (out / "tasks.parquet").read_bytes()

    with pytest.raises(BadInputError, match="is not a dvlab export's") as refused:
        export_parquet(lab, out)

    assert f"{out / 'logs'}, {out / 'tasks.parquet'} is there" in str(refused.value)
    assert (out / "logs" / "api" / "app.log").read_text() == "precious\n"
    assert (out / "tasks.parquet").read_bytes() == mine
    assert sorted(p.name for p in out.iterdir()) == ["logs", "tasks.parquet"]
    # a table the folder does not clash with is exported
    assert export_parquet(lab, out, tables=["rejects"])["rejects"][1] == 1
    # and an export's own tables are replaced by the next
    other = tmp_path / "parquet"
    export_parquet(lab, other)
    assert main(["--db", str(lab), "export", str(other)]) == 0
    assert _stored(other / "logs") == len(RECORDS)


def test_a_table_named_twice_is_exported_once(lab: Path, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    export_parquet(lab, out)
    written = export_parquet(lab, out, tables=["logs", "rejects", "logs", "rejects"])
    assert {t: n for t, (_, n) in written.items()} == {"logs": len(RECORDS), "rejects": 1}
    assert _stored(out / "logs") == len(RECORDS)
    assert _stored(out / "rejects.parquet") == 1
    assert _stored(out / "tasks.parquet") == 0  # the first export's, still there


def test_a_killed_exports_staging_folder_is_removed_by_the_next(lab: Path, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    out.mkdir()
    ended = subprocess.Popen(["true"])  # its process id is no one's once it has ended
    ended.wait()

    def staging(name: str, pid: int | None, host: str = socket.gethostname()) -> Path:
        path = out / name
        (path / "new").mkdir(parents=True)
        (path / "new" / "tasks.parquet").write_bytes(b"PAR1 half of it")
        if pid is not None:
            (path / "owner.json").write_text(json.dumps({"pid": pid, "host": host}))
        return path

    abandoned = staging(f".dvlab-export-{ended.pid}-abc123", ended.pid)
    running = staging(f".dvlab-export-{os.getpid()}-def456", os.getpid())  # alive
    elsewhere = staging(f".dvlab-export-{ended.pid}-ghi789", ended.pid, host="another-host")
    mine = staging(f".dvlab-export-{ended.pid}-notes", None)  # says nothing of an owner

    export_parquet(lab, out)

    assert not abandoned.exists()
    assert running.is_dir() and elsewhere.is_dir() and mine.is_dir()


def test_exports_into_one_folder_take_turns(lab: Path, tmp_path: Path) -> None:
    """Three exports of one table each, at once: every table is written, and the manifest
    names all three (each had written what it read, and the last one's stood)."""
    out = tmp_path / "parquet"
    command = [sys.executable, "-m", "dvlab.launch", "--db", str(lab), "export", str(out)]
    children = [
        subprocess.Popen(
            [*command, "--table", table],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for table in ("tasks", "logs", "events")
    ]
    ended = [child.communicate(timeout=120) for child in children]
    assert [(c.returncode, e) for c, (_, e) in zip(children, ended, strict=True)] == [(0, "")] * 3
    tables = json.loads((out / ".dvlab-export.json").read_text())["tables"]
    assert sorted(tables) == ["events.parquet", "logs", "tasks.parquet"]
    assert main(["--db", str(lab), "export", str(out)]) == 0


def test_a_folder_holding_two_labs_tables_says_so(
    lab: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "parquet"
    export_parquet(lab, out)
    other = tmp_path / "other.duckdb"
    source = tmp_path / "other.jsonl"
    source.write_text(json.dumps(RECORDS[0]) + "\n")
    assert main(["--db", str(other), "ingest", str(source)]) == 0

    export_parquet(other, out, tables=["logs"])

    tables = json.loads((out / ".dvlab-export.json").read_text())["tables"]
    assert tables["logs"]["lab"] == str(other.resolve())
    assert tables["tasks.parquet"]["lab"] == str(lab.resolve())
    assert "now holds tables of 2 labs" in caplog.text


def test_an_empty_logs_table_keeps_its_columns(tmp_path: Path) -> None:
    """A lab without logs had written an empty logs/ folder, from which no reader can take
    a schema ("No files found")."""
    source = tmp_path / "tasks.csv"
    source.write_text("task_id,state,created_at\nt1,running,2026-12-01T10:00:00Z\n")
    db = tmp_path / "lab.duckdb"
    assert main(["--db", str(db), "ingest", str(source)]) == 0
    out = tmp_path / "parquet"

    written = export_parquet(db, out, tables=["logs"])

    assert written["logs"][1] == 0
    con = duckdb.connect()
    described = con.execute(
        f"DESCRIBE SELECT * FROM read_parquet('{out}/logs/**/*.parquet')"
    ).fetchall()
    lab_columns = [
        r[0] for r in duckdb.connect(str(db), read_only=True).execute("DESCRIBE logs").fetchall()
    ]
    assert [r[0] for r in described] == [*lab_columns, "day"]
    assert dict((r[0], r[1]) for r in described)["day"] == "DATE"
    assert con.execute(
        f"SELECT count(*) FROM read_parquet('{out}/logs/**/*.parquet')"
    ).fetchall() == [(0,)]


def test_exported_logs_load_again_as_they_were(tmp_path: Path) -> None:
    """A lab's exported logs ingested into another lab: the attributes had come back nested
    under "attributes", and the level as written replaced by the normalised word."""
    source = tmp_path / "app.jsonl"
    source.write_text(
        '{"ts": "2026-12-01T10:00:00Z", "level": "WARNING", "msg": "slow", "service": "api",'
        ' "http": {"status": 500, "path": "/x"}, "k": "v"}\n'
        '{"ts": "2026-12-01T10:00:01Z", "level": "info", "msg": "ok", "service": "api"}\n',
        encoding="utf-8",
    )
    first, second = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    assert not ingest(first, [str(source)], IngestOptions()).failed
    export_parquet(first, tmp_path / "out")

    again = ingest(second, [str(tmp_path / "out" / "logs")], IngestOptions(kind="logs"))

    assert not again.failed
    con = duckdb.connect(str(second), read_only=True)
    try:
        rows = con.execute(
            "SELECT ts, level, level_raw, message, service, attributes::VARCHAR FROM logs "
            "ORDER BY ts"
        ).fetchall()
    finally:
        con.close()
    # the record's own attributes, then where it was read first: the provenance columns
    provenance = {"source": str(source), "ingest_id": 1, "day": "2026-12-01"}
    assert [(r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows] == [
        (
            "warn",
            "WARNING",
            "slow",
            "api",
            {"http.status": 500, "http.path": "/x", "k": "v", "line": 1, **provenance},
        ),
        ("info", "info", "ok", "api", {"line": 2, **provenance}),
    ]
