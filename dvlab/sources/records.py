"""The shape every log source produces before the lab normalises it.

A parser turns lines into *raw records*: plain dicts whose values are strings
(or None), plus ``attributes`` (a dict of everything the format carries that
has no column of its own). Times stay text here (``ts_raw``); the lab turns
them into UTC in one place (``dvlab.lab.timeconv``), so every format shares
one parsing path. Lines that cannot be parsed become :class:`Reject`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

#: Columns of a raw record, in order, after ``line``.
RAW_FIELDS: tuple[str, ...] = (
    "ts_raw",
    "level_raw",
    "message",
    "service",
    "host",
    "site",
    "correlation_id",
    "causation_id",
    "task_id",
    "trace_id",
    "attributes",
)

#: The longest raw excerpt a reject keeps, in characters.
REJECT_EXCERPT = 1024

RawRecord = dict[str, Any]
"""``line`` (int, the record's first line), every name in RAW_FIELDS
(str or None; ``attributes`` a dict), and optionally ``end_line``."""


@dataclass(frozen=True, slots=True)
class Reject:
    """One line that could not be parsed, and why; with ``end_line``, the record of lines
    ``line`` to ``end_line`` it starts (its continuation lines: a stack trace under it)."""

    line: int
    reason: str
    raw: str
    end_line: int | None = None

    def excerpt(self) -> str:
        return self.raw[:REJECT_EXCERPT]


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """What a parser may need beyond the lines themselves.

    ``year`` fills formats whose times have none (RFC 3164 syslog); when it is
    None the parser uses ``mtime``'s year, stepping back a year for dates that
    would lie after ``mtime``. ``pattern`` is the ``--pattern`` expression.
    """

    source: str = "<input>"
    tz: str = "UTC"
    year: int | None = None
    mtime: datetime | None = None
    pattern: str | None = None
    #: ``--time-format``: times are kept as written, for it to read (none is rewritten)
    time_format: str | None = None
    #: ``--service``: a record's service when it names none (before any guess from the
    #: file's name)
    service: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class LineParser(Protocol):
    """A text format: lines in, raw records and rejects out, in line order."""

    name: str

    def parse(
        self, lines: Iterable[tuple[int, str]], options: ParseOptions
    ) -> Iterator[RawRecord | Reject]: ...

    def looks_like(self, sample: list[str]) -> float:
        """Share (0..1) of the non-blank sample lines that start a record of this format."""
        ...


def empty_record(line: int) -> RawRecord:
    """A raw record with every field None and no attributes."""
    record: RawRecord = dict.fromkeys(RAW_FIELDS)
    record["line"] = line
    record["attributes"] = {}
    return record
