"""Metrics, traces and log records in the formats exporters and collectors write.

Each such format has a *reader*: an object with a ``format`` name (what
``--format`` takes and the ledger records), a ``sniff(head)`` that tells the
format from a file's first bytes, and a ``stage(con, source)`` that reads the
whole file into temporary tables of the staging connection and says what it
made. ``dvlab ingest`` asks the readers in :data:`MODULES` before it tries
the task/event tables and the log formats, and commits what a reader staged
like any other source: one ledger row, the file's rows replaced when it
changes.

A staged table is a temporary table named by :func:`table_name` (so that a
source that fails leaves none behind); it holds the lab columns of its kind (``metrics``, ``spans`` or
``logs``, see ``dvlab.sources.tables.insert_sql``) and ``line``: the file's
line of the record, for a JSON document the line its object starts on. A
bad record goes to ``stage_rejects`` (``src, source, line, reason, raw``)
with the JSON path or the line in its reason, written by :func:`stage_rejects`;
the rest of the file is kept.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa

#: the modules whose readers ``dvlab ingest`` knows, asked in this order
MODULES: tuple[str, ...] = ("dvlab.sources.otlp", "dvlab.sources.prometheus")


@dataclass(frozen=True)
class Staged:
    """One temporary table a reader filled: ``kind`` is metrics, families (a
    ``metric_families`` row per family an exposition declares), spans or logs."""

    kind: str
    table: str
    rows: int
    rejects: int


@dataclass(frozen=True)
class Source:
    """What a reader is given: the file, its number in the run and how it is named,
    and what the user said about it."""

    path: Path
    src: int
    name: str
    #: the scrape time (``--at``) for a format whose samples carry none; None: the
    #: file's own timestamps, else its modification time
    at: str | None = None
    #: site and service for records that name none (``--site``, ``--service``)
    site: str | None = None
    service: str | None = None


class Reader(Protocol):
    """A telemetry format ``dvlab ingest`` can read whole."""

    format: str
    #: whether the file's rows take their time from the file (its modification time): such a
    #: file is one measurement, and the same bytes under another path, or written at another
    #: moment, are another one; else another path with the same bytes is the same content
    timed_by_file: bool

    def sniff(self, head: bytes) -> bool:
        """Whether a file starting with ``head`` (its first 4 KiB or more) is this format."""
        ...

    def stage(self, con: duckdb.DuckDBPyConnection, source: Source) -> list[Staged]:
        """Read the file into temporary tables of ``con``; rejects into ``stage_rejects``.

        Raises ``BadInputError`` (with the file, and the line when there is one)
        when the file as a whole cannot be read as this format."""
        ...


def table_prefix(src: int) -> str:
    """How the names of source ``src``'s staged tables begin."""
    return f"tel_{int(src)}_"


def table_name(src: int, kind: str) -> str:
    """The staged table of source ``src``'s rows of ``kind`` (metrics, families, spans,
    logs)."""
    return f"{table_prefix(src)}{kind}"


_REJECTS = pa.schema(
    [
        ("src", pa.int64()),
        ("source", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)


def stage_rejects(
    con: duckdb.DuckDBPyConnection, source: Source, rejects: Sequence[tuple[int, str, str]]
) -> None:
    """Write a source's (line, reason, raw) rejects into ``stage_rejects``, all in one
    statement: a file of many bad lines is staged as fast as one of many good ones."""
    if not rejects:
        return
    lines, reasons, raws = zip(*rejects, strict=True)
    rows = pa.Table.from_pydict(
        {
            "src": [source.src] * len(rejects),
            "source": [source.name] * len(rejects),
            "line": lines,
            "reason": reasons,
            "raw": raws,
        },
        schema=_REJECTS,
    )
    registered = f"{table_prefix(source.src)}rejects_arrow"
    over_rows(
        con,
        "INSERT INTO stage_rejects (src, source, line, reason, raw) "
        f"SELECT src, source, line, reason, raw FROM {registered}",
        registered,
        rows,
    )


def over_rows(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    name: str,
    rows: pa.Table,
    params: dict[str, object] | None = None,
) -> None:
    """Run ``sql``, which reads ``name``, with the Arrow table ``rows`` registered under
    that name for the one statement."""
    con.register(name, rows)
    try:
        con.execute(sql, params or {})
    finally:
        con.unregister(name)


def readers() -> list[Reader]:
    """Every known reader, in the order they are asked."""
    found: list[Reader] = []
    for module in MODULES:
        found.extend(importlib.import_module(module).READERS)
    return found


def formats() -> tuple[str, ...]:
    """The ``--format`` names of the readers."""
    return tuple(r.format for r in readers())


def by_format(name: str | None) -> Reader | None:
    """The reader of format ``name``, if one reads it."""
    return next((r for r in readers() if r.format == name), None)


def sniff(head: bytes) -> Reader | None:
    """The first reader that takes a file starting with ``head``."""
    return next((r for r in readers() if r.sniff(head)), None)
