"""The window a report covers, kept to the times Python can hold.

A lab can hold times before year 1 or after 9999 (DuckDB's range is wider,
and the ingest reads ``12026-01-01T00:00:00Z``), but Python's datetime
cannot, and a report turns the window's first and last event into Python
times. So a bound the report is not given is the edge of Python's range
rather than no bound at all: records beyond it are left out, counted, and
:meth:`ReportWindow.note` says how many. A bound that is given is already
in range (a report's window parameters are checked as times Python holds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dvlab.analyses.timeline import EARLIEST_BOUND, END_BOUND
from dvlab.reporting.charts import utc_text

if TYPE_CHECKING:
    import duckdb

    from dvlab.lab.store import Lab


@dataclass(frozen=True)
class ReportWindow:
    """The window of a report over the lab ``store`` (see :func:`report_window`).

    ``filters`` are the report's own: ``from`` and ``to`` (None for a bound
    not given), ``site`` and ``service``. :meth:`query` runs a curated query
    under them. ``extent`` is the row of the ``window_extent`` query
    (``first_ts``, ``last_ts``, ``events``, ``services``, ``series``).
    ``left_out_before`` and ``left_out_after`` count the records under the
    site and service filters that the window would have held but for being
    before year 1 or after 9999.
    """

    store: Lab
    filters: dict[str, str | None]
    extent: dict[str, Any]
    left_out_before: int
    left_out_after: int

    def query(self, name: str, **params: Any) -> duckdb.DuckDBPyRelation:
        """Curated query ``name`` over the window, with ``params`` besides its filters.

        A bound not given is the edge of Python's range rather than none.
        """
        return _bounded_query(self.store, name, {**self.filters, **params})

    def note(self) -> str | None:
        """What was left out, in a sentence; None when nothing was."""
        left_out = self.left_out_before + self.left_out_after
        if not left_out:
            return None
        return (
            f"Left out: {left_out:,} event{'' if left_out == 1 else 's'} dated outside the"
            f" years 1 to 9999 ({self.left_out_before:,} before, {self.left_out_after:,} after),"
            " which this report cannot show."
        )


def report_window(
    store: Lab,
    *,
    start: str | None = None,
    end: str | None = None,
    site: str | None = None,
    service: str | None = None,
) -> ReportWindow:
    """The window from ``start`` (inclusive) to ``end`` (exclusive) of the lab ``store``.

    A bound not given is the edge of what Python holds: the start of year 1
    for ``start``, the end of 9999 for ``end``.
    """
    place = {"site": site, "service": service}
    filters = {"from": start, "to": end, **place}
    # the first and last event become Python times here, so the window must be in range
    extent = _bounded_query(store, "window_extent", filters).pl().row(0, named=True)

    def events(first: str | None, last: str | None) -> int:
        # only the count: the first and last of these records are what Python cannot hold
        unbounded = {"from": None, "to": None, **place}
        relation = _bounded_query(store, "window_extent", unbounded, first=first, last=last)
        ((count,),) = relation.select("events").fetchall()
        return int(count)

    return ReportWindow(
        store=store,
        filters=filters,
        extent=extent,
        left_out_before=events(None, EARLIEST_BOUND) if start is None else 0,
        left_out_after=events(END_BOUND, None) if end is None else 0,
    )


def _bounded_query(
    store: Lab,
    name: str,
    params: Mapping[str, Any],
    *,
    first: str | None = EARLIEST_BOUND,
    last: str | None = END_BOUND,
) -> duckdb.DuckDBPyRelation:
    """Curated query ``name`` with ``params``, its window's bounds not given ``first`` and ``last``.

    The values given are checked as :meth:`~dvlab.lab.store.Lab.query` checks
    them; the bounds are put in afterwards, as that check reads a time the way
    Python holds it, and so refuses ``END_BOUND`` (the start of year 10000).
    """
    from dvlab.lab import queries

    curated = queries.load(name)
    values = curated.bind(params, flag="")
    for key, bound in (("from", first), ("to", last)):
        if key in values and values[key] is None:
            values[key] = bound
    return store.sql(curated.sql, values)


def comparison_note(first: datetime, last: datetime, before_start: datetime) -> str | None:
    """What to say when the stretch a window is compared with is shorter than the window.

    The window is ``first`` to ``last``; the stretch before it starts at
    ``before_start`` (see :func:`~dvlab.analyses.metrics.metric_changes`),
    which is as long before ``first`` as the window is long unless that
    would be before year 1. None when the stretch is as long as the window.
    """
    if first - before_start >= last - first:
        return None
    if before_start >= first:
        return (
            f"The window starts at {utc_text(first)} UTC: no time before it can be shown,"
            " so there is nothing to compare it with."
        )
    return (
        f"The window is compared with {utc_text(before_start)} to {utc_text(first)} UTC,"
        " a shorter time than itself: no time before year 1 can be shown."
    )
