"""Altair charts for the report notebooks, built here so they are tested as code.

Altair embeds a chart's rows in the chart itself and refuses more than
:data:`MAX_ROWS` of them, so every chart here draws rows DuckDB has already
aggregated, and :func:`pick_bucket` chooses a bucket width that keeps their
number under the limit.

Altair is imported inside the functions that use it: importing this module
costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvlab.errors import BadInputError
from dvlab.lab.schema import LEVELS

if TYPE_CHECKING:
    import altair as alt
    import polars as pl

#: Altair's default limit on the rows embedded in one chart.
MAX_ROWS = 5000

#: The bucket widths :func:`pick_bucket` tries, narrowest first, as DuckDB intervals.
BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("1 minute", timedelta(minutes=1)),
    ("5 minutes", timedelta(minutes=5)),
    ("15 minutes", timedelta(minutes=15)),
    ("1 hour", timedelta(hours=1)),
    ("1 day", timedelta(days=1)),
)

#: One colour a level, from grey (trace) to dark red (fatal).
LEVEL_COLOURS: dict[str, str] = {
    "trace": "#bab0ac",
    "debug": "#9ecae9",
    "info": "#4c78a8",
    "warn": "#f58518",
    "error": "#e45756",
    "fatal": "#7f0000",
}
OTHER_LEVEL_COLOUR = "#000000"

COUNTS_COLUMNS = ("bucket", "bucket_end", "service", "level", "events")


#: The Altair renderer :func:`enable_offline_rendering` turns on.
RENDERER = "dvlab-svg"


def enable_offline_rendering() -> None:
    """Make Altair display charts as static SVG drawn by vl-convert, with alt text.

    The default renderer loads Vega's JavaScript from a CDN when the page is
    opened, so a report's charts would be blank offline; SVG needs no script.
    A chart's ``description`` goes with its image as alt text (the display's
    ``alt`` metadata), which the report page puts on the ``<img>``.
    """
    import altair as alt

    alt.renderers.enable("svg")
    draw_svg = alt.renderers.get()
    if draw_svg is None:  # pragma: no cover - Altair ships the svg renderer
        raise RuntimeError("Altair has no svg renderer")

    def svg_with_alt_text(spec: dict[str, Any], **options: Any) -> Any:
        bundle = draw_svg(spec, **options)
        description = spec.get("description")
        if not isinstance(description, str) or not description:
            return bundle
        return bundle, {"image/svg+xml": {"alt": description}}

    alt.renderers.register(RENDERER, svg_with_alt_text)
    alt.renderers.enable(RENDERER)


def bucket_count(start: datetime, end: datetime, width: timedelta) -> int:
    """The most buckets of ``width`` that events between ``start`` and ``end`` can fall in.

    Buckets are aligned to a fixed origin, not to ``start``, so the span can
    touch one bucket more than ``span / width``.
    """
    span = end - start
    return math.ceil(span / width) + 1


def pick_bucket(
    start: datetime,
    end: datetime,
    series: int,
    max_rows: int = MAX_ROWS,
    *,
    narrow: str = "choose one site or service",
) -> str:
    """The narrowest bucket width whose chart stays within ``max_rows`` rows.

    ``start`` and ``end`` are the first and last event charted and ``series``
    how many series there are; a chart has at most one row per bucket and
    series (too many series for any width are refused, saying how to ``narrow``
    them down). The widths tried are those of :data:`BUCKETS`; a span
    too long even for one day gets the smallest whole number of days that fits.
    The answer is a DuckDB interval, such as ``"15 minutes"``.

    >>> from datetime import datetime, UTC
    >>> pick_bucket(datetime(2026, 12, 4, 10, tzinfo=UTC), datetime(2026, 12, 4, 22, tzinfo=UTC), 12)
    '5 minutes'
    """
    if end < start:
        raise BadInputError(f"the window ends ({end}) before it starts ({start})")
    if series < 0:
        raise BadInputError(f"series must be 0 or more, not {series}")
    if max_rows < 1:
        raise BadInputError(f"max_rows must be 1 or more, not {max_rows}")

    if series == 0:
        return BUCKETS[0][0]
    for name, width in BUCKETS:
        if bucket_count(start, end, width) * series <= max_rows:
            return name

    buckets_allowed = max_rows // series
    if buckets_allowed < 2:
        raise BadInputError(
            f"{series} series are too many for a chart of at most {max_rows} rows; {narrow}"
        )
    days = math.ceil((end - start) / (timedelta(days=1) * (buckets_allowed - 1)))
    return f"{days} days"


def level_order(levels: Sequence[str | None]) -> list[str]:
    """``levels`` without repeats or nulls, least severe first; unknown ones after ``fatal``."""
    known = [level for level in LEVELS if level in levels]
    others = sorted({level for level in levels if level is not None and level not in LEVELS})
    return [*known, *others]


def _printable(text: str | None) -> str | None:
    """``text`` with control characters written as ``\\xNN``."""
    if text is None:
        return None
    return "".join(
        f"\\x{ord(ch):02x}" if (ord(ch) < 32 or 127 <= ord(ch) < 160) else ch for ch in text
    )


#: how the counts chart names records without a service, or without a level
NO_SERVICE = "(no service)"
NO_LEVEL = "(no level)"


def counts_chart(frame: pl.DataFrame, *, bucket: str) -> alt.Chart:
    """Events over time, one row of stacked bars per service, coloured by level.

    ``frame`` holds the rows of the ``counts_per_bucket`` query (``bucket``,
    ``bucket_end``, ``service``, ``level``, ``events``), one per bucket, service
    and level; ``bucket`` is the width they were counted in, for the title.
    Times are drawn on a UTC scale whatever the viewer's time zone. Each
    service has its own y scale, so a quiet service's errors stay visible.
    """
    import altair as alt

    missing = [column for column in COUNTS_COLUMNS if column not in frame.columns]
    if missing:
        raise BadInputError(
            f"counts_chart needs the columns {', '.join(COUNTS_COLUMNS)}; missing: {', '.join(missing)}"
        )
    if frame.height > MAX_ROWS:
        raise BadInputError(
            f"{frame.height} rows are more than Altair's {MAX_ROWS}-row limit;"
            " count them in a wider bucket (see pick_bucket)"
        )

    import polars as pl

    # a label with a control character (ESC in a service name, say) is not valid in SVG
    # text, and the static renderer aborts on it: show such characters as \xNN instead
    frame = frame.with_columns(
        pl.col(name).map_elements(_printable, return_dtype=pl.String)
        for name in ("service", "level")
        if frame.schema[name] == pl.String
    )
    # records without a level or a service are drawn, and named so: a null level has no
    # colour on the scale, and its bars had been an unlabelled gap
    frame = frame.with_columns(
        pl.col("service").cast(pl.String).fill_null(NO_SERVICE),
        pl.col("level").cast(pl.String).fill_null(NO_LEVEL),
    )
    levels = level_order(frame.get_column("level").unique().to_list())
    colours = [LEVEL_COLOURS.get(level, OTHER_LEVEL_COLOUR) for level in levels]
    time_axis = alt.Axis(
        title="time (UTC)",
        labelExpr=_UTC_MINUTE_LABEL,
        labelOverlap=True,
        tickMinStep=60_000,  # milliseconds: no tick between two whole minutes
    )

    return (
        alt.Chart(
            frame,
            title=alt.Title(f"Events per {bucket}, by service and level", subtitle=_span(frame)),
            description=counts_description(frame, bucket=bucket),
        )
        .transform_calculate(severity=f"indexof({list(LEVELS)!r}, datum.level)")
        .transform_stack(
            stack="events",
            groupby=["bucket", "service"],
            sort=[alt.SortField("severity")],
            as_=["stack_low", "stack_high"],
        )
        .mark_bar(stroke="white", strokeWidth=0.5)
        .encode(
            x=alt.X("bucket:T", scale=alt.Scale(type="utc"), axis=time_axis),
            x2="bucket_end:T",
            # a count is whole: a tick between two (the static renderer places them though
            # asked not to) goes unlabelled, not labelled as the whole number next to it
            y=alt.Y(
                "stack_low:Q",
                axis=alt.Axis(
                    title="events",
                    tickMinStep=1,
                    labelExpr="datum.value == floor(datum.value) ? format(datum.value, ',d') : ''",
                ),
            ),
            y2="stack_high:Q",
            color=alt.Color(
                "level:N",
                title="level",
                scale=alt.Scale(domain=levels, range=colours),
                sort=levels,
            ),
            row=alt.Row(
                "service:N",
                title=None,
                header=alt.Header(labelAngle=0, labelAlign="left", labelFontWeight="bold"),
            ),
            tooltip=[
                alt.Tooltip(
                    "bucket:T", title="from (UTC)", format="%Y-%m-%d %H:%M", formatType="utc"
                ),
                alt.Tooltip("service:N"),
                alt.Tooltip("level:N"),
                alt.Tooltip("events:Q"),
            ],
        )
        .properties(width=720, height=90)
        .resolve_scale(y="independent")
    )


def counts_description(frame: pl.DataFrame, *, bucket: str) -> str:
    """The counts chart in words, for readers who cannot see it: its alt text in a report.

    >>> import polars as pl
    >>> from datetime import datetime
    >>> ten, one_past = datetime(2026, 12, 4, 10), datetime(2026, 12, 4, 10, 1)
    >>> counts_description(
    ...     pl.DataFrame({"bucket": [ten, ten], "bucket_end": [one_past, one_past],
    ...                   "service": ["nett", "api"], "level": ["info", "error"],
    ...                   "events": [3, 2]}),
    ...     bucket="1 minute",
    ... )
    'Stacked bars of events per 1 minute for 2 services (api, nett), one row of bars each, coloured by level (info, error); 5 events, 2026-12-04 10:00 to 2026-12-04 10:01 UTC.'
    """
    named = frame.get_column("service").to_list()
    services = sorted({s for s in named if s is not None})
    services += [NO_SERVICE] if None in named else []
    levels = level_order(frame.get_column("level").to_list())
    events = int(frame.get_column("events").sum()) if frame.height else 0
    return (
        f"Stacked bars of events per {bucket} for {_count(len(services), 'service')}"
        f" ({', '.join(services)}), one row of bars each, coloured by level"
        f" ({', '.join(levels)}); {_count(events, 'event')}, {_span(frame)}."
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


# A date at midnight, the time of day (24-hour clock) at any other tick.
_UTC_TIME_LABEL = (
    "utchours(datum.value) == 0 && utcminutes(datum.value) == 0"
    " ? utcFormat(datum.value, '%Y-%m-%d') : utcFormat(datum.value, '%H:%M')"
)

# The same for ticks meant a whole minute or more apart: one the static renderer places
# between two minutes (though asked not to) goes unlabelled, not named as the minute.
_UTC_MINUTE_LABEL = (
    "utcseconds(datum.value) != 0 || utcmilliseconds(datum.value) != 0 ? '' : " + _UTC_TIME_LABEL
)

# The same, with the seconds at a tick that falls between two minutes.
_UTC_SECOND_LABEL = (
    "utcseconds(datum.value) != 0 ? utcFormat(datum.value, '%H:%M:%S') : " + _UTC_TIME_LABEL
)


def utc_text(value: datetime, *, seconds: bool = False) -> str:
    """``value`` as ``YYYY-MM-DD HH:MM`` (``:SS`` with ``seconds``), the year in four digits.

    (``strftime``'s ``%Y`` writes year 1 as ``1`` on Linux.)

    >>> from datetime import datetime
    >>> utc_text(datetime(1, 1, 1)), utc_text(datetime(2026, 12, 4, 10, 0, 5), seconds=True)
    ('0001-01-01 00:00', '2026-12-04 10:00:05')
    """
    return f"{value.year:04d}-{value:%m-%d %H:%M{':%S' if seconds else ''}}"


def _python_range(frame: pl.DataFrame, first: str, last: str) -> tuple[datetime, datetime]:
    """The least of column ``first`` and the greatest of ``last``, as Python datetimes.

    A time before year 1 or after 9999 (a lab can hold them, Python cannot) is
    taken as the nearest one Python holds.
    """
    import polars as pl

    from dvlab.analyses.timeline import EARLIEST, LATEST

    def bounded(name: str, end: pl.Expr) -> pl.Expr:
        dtype = frame.schema[name]
        if not isinstance(dtype, pl.Datetime):
            return end
        if dtype.time_zone is None:
            return end.clip(EARLIEST.replace(tzinfo=None), LATEST.replace(tzinfo=None))
        return end.dt.convert_time_zone("UTC").clip(EARLIEST, LATEST)

    lowest, highest = frame.select(
        bounded(first, pl.col(first).min()).alias("lowest"),
        bounded(last, pl.col(last).max()).alias("highest"),
    ).row(0)
    if not isinstance(lowest, datetime) or not isinstance(highest, datetime):
        raise BadInputError(f"{first} and {last} must be times, not {lowest!r} and {highest!r}")
    return lowest, highest


def _span(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "no events"
    first, last = _python_range(frame, "bucket", "bucket_end")
    return f"{utc_text(first)} to {utc_text(last)} UTC"


#: The files :func:`save_chart` writes, by suffix: static images drawn by vl-convert.
CHART_SUFFIXES = (".svg", ".png")

METRIC_COLUMNS = ("series", "ts", "value")


def metric_chart(
    frame: pl.DataFrame,
    *,
    title: str,
    value_title: str = "value",
    facet: bool = False,
    window_start: datetime | None = None,
) -> alt.Chart | alt.FacetChart:
    """Metric series over time, one line per series (``series``, ``ts``, ``value``).

    With ``facet`` each series gets its own row and y scale (a small chart
    per series); otherwise the lines share one chart, coloured by series.
    ``window_start``, when given, is drawn as a dashed rule in every row (the
    start of the window a report compares with what came before). More than
    :data:`MAX_ROWS` points are drawn as their means per bucket of the width
    :func:`pick_bucket` chooses, and the title says so.
    """
    import altair as alt
    import polars as pl

    missing = [column for column in METRIC_COLUMNS if column not in frame.columns]
    if missing:
        raise BadInputError(
            f"metric_chart needs the columns {', '.join(METRIC_COLUMNS)}; missing: {', '.join(missing)}"
        )
    frame = frame.select(METRIC_COLUMNS).with_columns(
        pl.col("series").map_elements(_printable, return_dtype=pl.String)
    )
    subtitle = _metric_span(frame)
    if frame.height > MAX_ROWS:
        frame, bucket = _bucket_means(frame)
        title = f"{title} (mean per {bucket})"
    if window_start is not None:
        frame = frame.with_columns(window_start=pl.lit(window_start))

    time_axis = alt.Axis(title="time (UTC)", labelExpr=_UTC_SECOND_LABEL, labelOverlap=True)
    x = alt.X("ts:T", scale=alt.Scale(type="utc"), axis=time_axis)
    y = alt.Y("value:Q", title=value_title, scale=alt.Scale(zero=False))
    tooltip = [
        alt.Tooltip("series:N"),
        alt.Tooltip("ts:T", title="time (UTC)", format="%Y-%m-%d %H:%M:%S", formatType="utc"),
        alt.Tooltip("value:Q", format=",.6~g"),
    ]
    description = metric_description(frame, title=title)
    heading = alt.Title(title, subtitle=subtitle)
    if not facet:
        legend = alt.Legend(orient="bottom", columns=1, labelLimit=0)
        return (
            alt.Chart(frame, title=heading, description=description)
            .mark_line(point=alt.OverlayMarkDef(size=12))
            .encode(x=x, y=y, color=alt.Color("series:N", legend=legend), tooltip=tooltip)
            .properties(width=720, height=240)
        )

    line = (
        alt.Chart().mark_line(point=alt.OverlayMarkDef(size=12)).encode(x=x, y=y, tooltip=tooltip)
    )
    layers: list[Any] = [line]
    if window_start is not None:
        rule = alt.Chart().mark_rule(strokeDash=[4, 3], color="#888888")
        layers.append(rule.encode(x=alt.X("min(window_start):T", scale=alt.Scale(type="utc"))))
    header = alt.Header(labelAngle=0, labelAlign="left", labelFontWeight="bold", labelLimit=0)
    return (
        alt.layer(*layers, data=frame)
        .properties(width=720, height=90)
        .facet(row=alt.Row("series:N", title=None, header=header), title=heading)
        .properties(description=description)
        .resolve_scale(y="independent")
    )


def metric_description(frame: pl.DataFrame, *, title: str) -> str:
    """A metric chart in words, for readers who cannot see it: its alt text.

    >>> import polars as pl
    >>> from datetime import datetime
    >>> metric_description(
    ...     pl.DataFrame({"series": ["up", "up"], "ts": [datetime(2026, 12, 4, 10),
    ...                   datetime(2026, 12, 4, 10, 5)], "value": [1.0, 0.0]}),
    ...     title="up",
    ... )
    'up: lines of 1 series (up); 2 points, 2026-12-04 10:00 to 2026-12-04 10:05 UTC.'
    """
    names = sorted(set(frame.get_column("series").to_list()))
    return (
        f"{title}: lines of {len(names):,} series"
        f" ({', '.join(names)}); {_count(frame.height, 'point')}, {_metric_span(frame)}."
    )


def save_chart(chart: alt.TopLevelMixin, path: Path) -> None:
    """Write ``chart`` as a static image: SVG or PNG by the suffix of ``path``."""
    if path.suffix.lower() not in CHART_SUFFIXES:
        raise BadInputError(
            f"cannot write a chart as {path.name!r}; name a {' or '.join(CHART_SUFFIXES)} file"
        )
    chart.save(str(path))


def _metric_span(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "no points"
    first, last = _python_range(frame, "ts", "ts")
    return f"{utc_text(first)} to {utc_text(last)} UTC"


def _bucket_means(frame: pl.DataFrame) -> tuple[pl.DataFrame, str]:
    """``frame``'s values as the mean of each series per bucket, and the bucket's width."""
    import polars as pl

    first, last = _python_range(frame, "ts", "ts")
    bucket = pick_bucket(
        first,
        last,
        frame.get_column("series").n_unique(),
        narrow="choose some with --labels, --site or --service",
    )
    widths = dict(BUCKETS)
    width = widths.get(bucket) or timedelta(days=int(bucket.split()[0]))
    means = (
        frame.sort("series", "ts")
        .group_by_dynamic("ts", every=width, group_by="series")
        .agg(pl.col("value").mean())
        .select(METRIC_COLUMNS)
    )
    return means, bucket
