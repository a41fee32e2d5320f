"""The timeline: every record of a window in time order (the ``timeline`` curated query)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from dvlab.errors import BadInputError
from dvlab.lab.schema import LEVELS
from dvlab.lab.store import open_lab


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
) -> duckdb.DuckDBPyRelation:
    """Records between ``start`` (inclusive) and ``end`` (exclusive), oldest first.

    Times are any text the ingest's time path accepts; a bound that does not
    parse is an error rather than an empty answer.
    """
    if level is not None and level.lower() not in LEVELS:
        raise BadInputError(f"unknown level {level!r}; accepted: {', '.join(LEVELS)}")
    the_lab = open_lab(Path(lab) if lab is not None else None)
    for name, value in (("--from", start), ("--to", end)):
        if value is not None:
            parsed = the_lab.sql("SELECT dvlab_ts($t)", {"t": value}).fetchall()[0][0]
            if parsed is None:
                raise BadInputError(
                    f"{name} {value!r} is not a time; use e.g. 2026-12-01T10:00:00Z or an epoch number"
                )
    if limit < 1:
        raise BadInputError(f"--limit must be at least 1, not {limit}")
    return the_lab.query(
        "timeline",
        **{
            "from": start,
            "to": end,
            "site": site,
            "service": service,
            "level": level,
            "id": id,
            "limit": limit,
        },
    )
