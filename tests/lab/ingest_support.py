"""Helpers for the ingest tests: writing sources, reading the lab back, the CLI in-process.

The lab is read with plain DuckDB (read-only), so a test sees exactly what
the ingest committed. Expected values never come from here: they are written
by hand in the tests or counted from the raw files there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dvlab.cli import main
from dvlab.lab import ingest as ingest_module
from dvlab.sources import jsonlines

#: ``logs`` columns that say what a record is (not which ingest or file it came from)
CONTENT_COLUMNS = (
    "ts",
    "site",
    "host",
    "service",
    "level",
    "level_raw",
    "message",
    "correlation_id",
    "causation_id",
    "task_id",
    "trace_id",
    "attributes",
    "line",
)


def record(second: int, message: str | None = None, **extra: Any) -> dict[str, Any]:
    """A well-formed JSON-lines record at 2026-05-01 12:MM:SS UTC."""
    minute, sec = divmod(second, 60)
    return {
        "time": f"2026-05-01T12:{minute:02d}:{sec:02d}Z",
        "level": "info",
        "msg": message if message is not None else f"m{second}",
        **extra,
    }


def jsonl(records: Sequence[dict[str, Any]]) -> str:
    """JSON lines text, one record a line, ending in a newline."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def query(lab: Path, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(lab), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def table_counts(lab: Path) -> dict[str, int]:
    """Rows in logs, rejects and ingests; zeros when there is no lab (or no tables) yet."""
    if not lab.exists():
        return {"logs": 0, "rejects": 0, "ingests": 0}
    con = duckdb.connect(str(lab), read_only=True)
    try:
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        return {
            name: (
                con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
                if name in present
                else 0
            )
            for name in ("logs", "rejects", "ingests")
        }
    finally:
        con.close()


def ledger(lab: Path) -> list[dict[str, Any]]:
    """The ingests table, oldest first, as dicts."""
    con = duckdb.connect(str(lab), read_only=True)
    try:
        cursor = con.execute("SELECT * FROM ingests ORDER BY ingest_id")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def messages_by_line(lab: Path, source: Path | None = None) -> list[tuple[int, str]]:
    """(line, message) of every row (of one source), in line order."""
    if source is None:
        return [(r[0], r[1]) for r in query(lab, "SELECT line, message FROM logs ORDER BY line")]
    rows = query(
        lab, "SELECT line, message FROM logs WHERE source = ? ORDER BY line", [str(source)]
    )
    return [(r[0], r[1]) for r in rows]


def content_rows(lab: Path) -> list[tuple[Any, ...]]:
    """Every row's content columns in line order, attributes parsed (key order is not content)."""
    rows = query(
        lab,
        f"SELECT {', '.join(CONTENT_COLUMNS[:-2])}, attributes::VARCHAR, line "
        "FROM logs ORDER BY line",
    )
    return [
        (*row[:-2], json.loads(row[-2]) if row[-2] is not None else None, row[-1]) for row in rows
    ]


def force_lines_reader(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Keep every JSON-lines file from the whole-file reader (the documented seam), and
    record, per file, whether the lines reader took it."""
    monkeypatch.setattr(jsonlines, "whole_file_plan", lambda con, path: None)
    taken: list[bool] = []
    real = ingest_module._Staging.add_json_lines

    def watched(self: ingest_module._Staging, *args: Any, **kwargs: Any) -> bool:
        done = real(self, *args, **kwargs)
        taken.append(done)
        return done

    monkeypatch.setattr(ingest_module._Staging, "add_json_lines", watched)
    return taken


def force_chunk_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the ingest use the chunk reader for every JSON-lines file: neither the
    whole-file reader nor the lines reader takes one."""
    monkeypatch.setattr(jsonlines, "whole_file_plan", lambda con, path: None)
    monkeypatch.setattr(ingest_module._Staging, "add_json_lines", lambda self, path, lines: False)


def watch_whole_file_reader(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, per JSON-lines file the plan let through, whether the whole-file read took it."""
    taken: list[bool] = []
    real = ingest_module._Staging.add_whole_json

    def watched(self: ingest_module._Staging, *args: Any, **kwargs: Any) -> tuple[int, int] | None:
        rows = real(self, *args, **kwargs)
        taken.append(rows is not None)
        return rows

    monkeypatch.setattr(ingest_module._Staging, "add_whole_json", watched)
    return taken


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``dvlab ARGS`` in this process: (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err
