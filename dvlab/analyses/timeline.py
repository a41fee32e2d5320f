"""The timeline: every record of a window in time order.

Log records, workflow events, task state changes and spans come from the
``timeline`` curated query; metric changes (a series leaving its own recent
baseline) from ``metric_anomalies``, merged in by :func:`timeline`.

:func:`check_window` and :func:`check_level` are the checks every command that
takes a window or a level runs before it reads the lab, so a mistyped bound
or level is an error rather than an empty answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dvlab.errors import BadInputError
from dvlab.lab.schema import LEVELS
from dvlab.lab.store import open_lab, prepare
from dvlab.lab.timeconv import parse_utc

#: What ``--spans`` accepts: which spans the timeline shows (see :func:`timeline`).
SPAN_CHOICES = ("key", "all", "none")

#: The first and the last instant Python's datetime holds (years 1 to 9999), in UTC. A lab
#: can hold times outside them (DuckDB's range is wider, and the ingest reads a year of five
#: digits), and turning such a time into a Python object fails (OverflowError, ValueError).
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)

#: The same range as the bounds of a curated query's window: ``from`` (inclusive) and
#: ``to`` (exclusive), as text dvlab's time path reads.
EARLIEST_BOUND = "0001-01-01T00:00:00Z"
END_BOUND = "10000-01-01T00:00:00Z"


def check_window(
    start: str | None,
    end: str | None,
    *,
    names: tuple[str, str] = ("--from", "--to"),
) -> tuple[datetime | None, datetime | None]:
    """``start`` and ``end`` read as the ingest reads times; refused unless start < end.

    Either may be None (no bound). ``names`` are what the caller calls the two
    bounds, for the message (``--from``/``--to`` on the command line,
    ``start``/``end`` in a report). Returns the bounds as aware UTC datetimes.

    >>> check_window("2026-12-01T11:00:00+01:00", None)[0].isoformat()
    '2026-12-01T10:00:00+00:00'
    """
    bounds = tuple(
        None if value is None else parse_time(value, name=name)
        for name, value in zip(names, (start, end), strict=True)
    )
    first, last = bounds
    if first is not None and last is not None and first >= last:
        raise BadInputError(
            f"{names[0]} {start!r} is not before {names[1]} {end!r}; the window is empty"
            f" ({names[0]} is inclusive, {names[1]} exclusive)"
        )
    return first, last


def check_level(level: str) -> str:
    """The level name (one of :data:`~dvlab.lab.schema.LEVELS`) a user's level word means.

    Any word the ingest normalises is accepted (``WARNING``, ``err``, ``40``),
    because the same ``dvlab_level`` macro reads it.
    """
    with _session() as con:
        rows = con.execute("SELECT dvlab_level($level)", {"level": level}).fetchall()
    name = rows[0][0]
    if name is None:
        raise BadInputError(
            f"unknown level {level!r}; accepted: {', '.join(LEVELS)}"
            " (or a word logs use for one, such as WARNING or err)"
        )
    return str(name)


def timeline(
    lab: str | os.PathLike[str] | None = None,
    *,
    start: str | None = None,
    end: str | None = None,
    site: str | None = None,
    service: str | None = None,
    level: str | None = None,
    id: str | None = None,
    limit: int = 100_000,
    spans: str = "key",
    metrics: bool = True,
) -> duckdb.DuckDBPyRelation:
    """Records between ``start`` (inclusive) and ``end`` (exclusive), oldest first.

    Times are any text the ingest's time path accepts; a bound that does not
    parse, or a start not before the end, is an error rather than an empty
    answer. ``level`` keeps that level and the more severe ones.

    ``spans`` says which spans are entries, so a busy trace store does not
    drown the logs: ``key`` (those with status error, the roots of what is
    loaded, and with ``id`` every span of its traces), ``all`` or ``none``.
    With ``metrics``, each metric change of the window (see
    ``queries/metric_anomalies.sql``, run with its default thresholds) is an
    entry of kind ``metric`` at level warn; an id selects no metric change, as
    a series belongs to no request.
    """
    check_window(start, end)
    if level is not None:
        level = check_level(level)
    if limit < 1:
        raise BadInputError(f"--limit must be at least 1, not {limit}")
    if spans not in SPAN_CHOICES:
        raise BadInputError(f"unknown --spans {spans!r}; accepted: {', '.join(SPAN_CHOICES)}")

    store = open_lab(Path(lab) if lab is not None else None)
    window = {"from": start, "to": end, "site": site, "service": service}
    records = store.query("timeline", **window, level=level, id=id, limit=limit, spans=spans)
    if not metrics or id is not None or LEVELS.index(level or "warn") > LEVELS.index("warn"):
        return records
    changes = store.query("metric_anomalies", **window).select(
        "ts, 'metric' AS kind, site, NULL::VARCHAR AS host, service, 'warn' AS level, message,"
        " NULL::VARCHAR AS correlation_id, NULL::VARCHAR AS causation_id,"
        " NULL::VARCHAR AS task_id, NULL::VARCHAR AS trace_id, source, line"
    )
    return records.union(changes).order("ts, kind, source, line").limit(limit)


def parse_time(value: str, *, name: str) -> datetime:
    """``value`` read as the ingest reads times, or an error naming option ``name``."""
    parsed = parse_utc(value)
    if parsed is None:
        raise BadInputError(
            f"{name} {value!r} is not a time; use e.g. 2026-12-01T10:00:00Z or an epoch "
            "number (seconds to nanoseconds, 9 to 19 digits)"
        )
    return parsed


@contextmanager
def _session() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory connection with dvlab's macros: the checks need no lab file."""
    con = duckdb.connect()
    try:
        prepare(con)
        yield con
    finally:
        con.close()
