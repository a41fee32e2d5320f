"""Helpers for the source tests: feed text to a parser the way the ingest does, and a
staging connection for the readers that stage a file whole."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from dvlab.sources.records import LineParser, ParseOptions, RawRecord, Reject

Run = Callable[..., tuple[list[RawRecord], list[Reject]]]


def numbered_lines(text: str) -> list[tuple[int, str]]:
    """Lines numbered from 1, endings stripped, blank lines left out (as the ingest hands them)."""
    return [
        (number, line.rstrip("\r"))
        for number, line in enumerate(text.split("\n"), start=1)
        if line.strip()
    ]


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """A staging connection as the ingest gives one: with ``stage_rejects``."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(
        "CREATE TABLE stage_rejects (src BIGINT, source VARCHAR, line BIGINT, "
        "reason VARCHAR, raw VARCHAR)"
    )
    return connection


@pytest.fixture
def raw_lines() -> Callable[[Path], list[str]]:
    """The non-blank lines of a file, endings stripped, for counting by hand in a test."""

    def read(path: Path) -> list[str]:
        return [line for _, line in numbered_lines(path.read_text(encoding="utf-8"))]

    return read


@pytest.fixture
def run() -> Run:
    """``run(parser, text, **options)`` -> (records, rejects), checking line order on the way."""

    def run_parser(
        parser: LineParser,
        text: str,
        *,
        source: str = "<input>",
        year: int | None = None,
        mtime: datetime | None = None,
        tz: str = "UTC",
    ) -> tuple[list[RawRecord], list[Reject]]:
        options = ParseOptions(source=source, year=year, mtime=mtime, tz=tz)
        out = list(parser.parse(numbered_lines(text), options))
        firsts = [item.line if isinstance(item, Reject) else item["line"] for item in out]
        assert firsts == sorted(firsts), "records and rejects must come in line order"
        records = [item for item in out if not isinstance(item, Reject)]
        rejects = [item for item in out if isinstance(item, Reject)]
        return records, rejects

    return run_parser
