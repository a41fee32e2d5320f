"""Metric series: their points (``dvlab metrics``) and the series a window changed most.

The points come from the ``metric_points`` curated query, which turns a
counter into its per-second rate (a drop read as a restart from zero). A
series is one metric name with one set of labels at one site and service;
its labels are written as text, Prometheus style: ``{code="500",method="GET"}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from dvlab.analyses.timeline import EARLIEST, check_window
from dvlab.errors import BadInputError
from dvlab.lab.store import Lab, open_lab

if TYPE_CHECKING:
    import polars as pl

#: How many names an unknown metric name is answered with.
CLOSEST = 3


def metric_points(
    lab: str | os.PathLike[str] | None,
    name: str,
    *,
    labels: Mapping[str, str] | None = None,
    start: str | None = None,
    end: str | None = None,
    site: str | None = None,
    service: str | None = None,
    rate: bool = False,
) -> duckdb.DuckDBPyRelation:
    """The points of metric ``name`` (``ts``, ``labels``, ``site``, ``service``, ``value``).

    ``labels`` keeps the series carrying each of those labels with that value
    (others may carry more). With ``rate`` the last column is ``rate``, the
    per-second increase since the series' previous point, for counters only.
    Rows come series by series, each oldest first. Nothing to show is an
    error that says why: a name the lab lacks (with the closest ones it has),
    labels no series of the name carries, a window its points miss.
    """
    check_window(start, end)
    store = open_lab(Path(lab) if lab is not None else None)
    wanted = json.dumps(dict(labels)) if labels else None
    points = store.query(
        "metric_points",
        **{"metric": name, "labels": wanted, "from": start, "to": end},
        site=site,
        service=service,
    )
    if not points.limit(1).fetchall():
        _explain_nothing(store, name, labels or {}, start=start, end=end)
    if rate:
        what = _not_a_count(points, name)
        if what is not None:
            raise BadInputError(
                f"--rate is for counters, and {name!r} is {what}; show its values without --rate"
            )
    return points.select(f"ts, labels, site, service, {'rate' if rate else 'value'}")


def _not_a_count(points: duckdb.DuckDBPyRelation, name: str) -> str | None:
    """What metric ``name`` is, when some of its series are no count to take a rate of."""
    others = points.filter("NOT cumulative")
    kinds = sorted(str(row[0]) for row in others.select("type").distinct().fetchall())
    if not kinds:
        return None
    if name.endswith("_created"):
        return "a counter's creation time, not a count"
    if others.filter("contains(labels, 'temporality=\"delta\"')").limit(1).fetchall():
        return "a delta series (each point counts since the one before)"
    listed = ", ".join(kinds)
    return f"{'an' if listed[0] in 'aeiou' else 'a'} {listed}"


def _explain_nothing(
    store: Lab,
    name: str,
    labels: Mapping[str, str],
    *,
    start: str | None,
    end: str | None,
) -> None:
    """Raise the error that says why metric ``name`` has no point to show."""
    known = store.sql("SELECT count(*) FROM metrics WHERE name = $name", {"name": name})
    if not known.fetchall()[0][0]:
        closest = store.sql(
            "SELECT name FROM (SELECT DISTINCT name FROM metrics)"
            " ORDER BY jaro_winkler_similarity(name, $name) DESC, name LIMIT $n",
            {"name": name, "n": CLOSEST},
        ).fetchall()
        if not closest:
            raise BadInputError(
                f"no metric {name!r}: the lab holds no metrics (load a scrape or a monitoring"
                " response with `dvlab ingest`)"
            )
        names = ", ".join(row[0] for row in closest)
        raise BadInputError(f"no metric {name!r} in the lab; the closest names: {names}")

    for key, value in labels.items():
        found = store.sql(
            "SELECT DISTINCT labels[$key] AS v FROM metrics WHERE name = $name ORDER BY v",
            {"key": key, "name": name},
        ).fetchall()
        values = [row[0] for row in found if row[0] is not None]
        if value in values:
            continue
        if not values:
            raise BadInputError(f"no series of {name!r} has a label {key!r}")
        raise BadInputError(
            f"no series of {name!r} has {key}={value}; its {key} values: {', '.join(values)}"
        )

    extent = store.sql(
        "SELECT min(ts), max(ts) FROM metrics WHERE name = $name", {"name": name}
    ).fetchall()[0]
    first, last = (f"{t:%Y-%m-%dT%H:%M:%SZ}" for t in extent)
    raise BadInputError(
        f"no point of {name!r} with these filters"
        f" from {start or 'the first'} to {end or 'the last'}; its points run from {first}"
        f" to {last}"
    )


@dataclass(frozen=True)
class MetricChanges:
    """The series a window changed most, and their points (see :func:`metric_changes`).

    ``series`` has one row per series, most changed first: ``series`` (its
    name, labels, and site and service when known), ``name``, ``labels``,
    ``site``, ``service``, ``rate`` (compared as a per-second rate),
    ``before`` and ``during`` (the mean before the window and in it) and
    ``change`` (``during`` less ``before``, as a fraction of ``before``;
    infinite for a series that rose from a mean of zero). ``points`` has
    ``series``, ``ts`` and ``value`` (the rate for a counter) for those
    series, before the window and in it, oldest first. ``compared`` is how
    many series had points both before the window and in it. ``before_start``
    is where the stretch compared with starts: as long before the window as
    the window is long, or :data:`~dvlab.analyses.timeline.EARLIEST` (year 1)
    when that would be earlier than Python can hold.
    """

    series: pl.DataFrame
    points: pl.DataFrame
    compared: int
    before_start: datetime


def metric_changes(
    lab: str | os.PathLike[str] | None,
    *,
    start: str | datetime,
    end: str | datetime,
    site: str | None = None,
    service: str | None = None,
    top: int = 6,
) -> MetricChanges:
    """The ``top`` series whose mean changed most between the window and as long before it.

    The window is ``start`` (inclusive) to ``end`` (exclusive); what it is
    compared with is the same length of time just before ``start``, cut at
    year 1 (the earliest time Python holds) for a window longer than the time
    before it, such as 1970 to 9999. A
    counter is compared by its per-second rate. A series needs points on
    both sides to be compared; one that did not change is left out.
    """
    import polars as pl

    first, last = check_window(_text(start), _text(end), names=("start", "end"))
    if first is None or last is None:  # pragma: no cover - both bounds are required text
        raise BadInputError("metric_changes needs both start and end")
    if top < 1:
        raise BadInputError(f"top must be 1 or more, not {top}")

    span = last - first
    before_start = first - span if first - EARLIEST >= span else EARLIEST
    points = (
        open_lab(Path(lab) if lab is not None else None)
        .query(
            "metric_points",
            **{"from": before_start.isoformat(), "to": last.isoformat()},
            site=site,
            service=service,
        )
        .pl()
        .with_columns(
            pl.when(pl.col("cumulative"))
            .then(pl.col("rate"))
            .otherwise(pl.col("value"))
            .alias("measure"),
            series=series_key(),
        )
        .filter(pl.col("measure").is_not_null() & pl.col("measure").is_finite())
    )
    keys = ["series", "name", "labels", "site", "service"]
    before = pl.col("measure").filter(pl.col("ts") < first).mean()
    during = pl.col("measure").filter(pl.col("ts") >= first).mean()
    compared = (
        points.group_by(keys)
        .agg(rate=pl.col("cumulative").first(), before=before, during=during)
        .filter(pl.col("before").is_not_null() & pl.col("during").is_not_null())
    )
    ranked = (
        compared.with_columns(
            change=pl.when(pl.col("before") != 0)
            .then((pl.col("during") - pl.col("before")) / pl.col("before").abs())
            .otherwise(pl.col("during").sign() * float("inf"))
        )
        .filter(pl.col("change").fill_nan(0) != 0)
        .sort([pl.col("change").abs(), *keys], descending=[True] + [False] * len(keys))
        .head(top)
    )
    chosen = (
        points.join(ranked.select("series"), on="series", how="semi")
        .select("series", "ts", value="measure")
        .sort("series", "ts")
    )
    return MetricChanges(
        series=ranked, points=chosen, compared=compared.height, before_start=before_start
    )


def series_key() -> pl.Expr:
    """A series' name and labels, then its site and service in brackets when it has them."""
    import polars as pl

    where = pl.concat_str(pl.col("site"), pl.col("service"), separator=" ", ignore_nulls=True)
    return pl.concat_str(
        pl.col("name"),
        pl.col("labels"),
        pl.when(where != "").then(pl.lit(" [") + where + pl.lit("]")).otherwise(pl.lit("")),
    )


def _text(value: str | datetime) -> str:
    return value.isoformat() if isinstance(value, datetime) else value
