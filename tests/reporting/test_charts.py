"""Bucket widths and the counts chart, on the incident lab."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import altair as alt
import polars as pl
import pytest
import vl_convert
from incident_fixture import SERVICES, at

from dvlab.errors import BadInputError
from dvlab.lab.store import open_lab
from dvlab.reporting import charts

START = at("10:00:00")

# pick_bucket


@pytest.mark.parametrize(
    ("span", "series", "expected"),
    [
        (timedelta(0), 9, "1 minute"),
        (timedelta(minutes=6, seconds=55), 9, "1 minute"),
        # 499 minutes touch at most 500 one-minute buckets: 10 series x 500 = 5000 rows, the limit
        (timedelta(minutes=499), 10, "1 minute"),
        (timedelta(minutes=499, seconds=1), 10, "5 minutes"),
        (timedelta(hours=12), 12, "5 minutes"),
        (timedelta(hours=40), 12, "15 minutes"),
        (timedelta(days=3), 18, "1 hour"),
        (timedelta(days=90), 18, "1 day"),
        # 5000 // 18 = 277 buckets; 730 days / 276 gaps -> 3 days (245 buckets, 4410 rows)
        (timedelta(days=730), 18, "3 days"),
        (timedelta(days=3650), 0, "1 minute"),
    ],
)
def test_pick_bucket(span: timedelta, series: int, expected: str) -> None:
    assert charts.pick_bucket(START, START + span, series) == expected


def test_pick_bucket_with_a_lower_row_limit() -> None:
    # 1 minute: 8 buckets x 9 series = 72 rows > 40; 5 minutes: 3 x 9 = 27
    assert charts.pick_bucket(at("10:00:05"), at("10:07:00"), 9, max_rows=40) == "5 minutes"


def test_picked_bucket_keeps_the_real_rows_under_the_limit(incident_lab: Path) -> None:
    lab = open_lab(incident_lab)
    first, last, _, _, series = lab.query("window_extent").fetchall()[0]

    bucket = charts.pick_bucket(first, last, series, max_rows=27)
    rows = lab.query("counts_per_bucket", bucket=bucket).fetchall()

    # one minute may need 8 buckets x 9 series = 72 rows; five minutes 3 x 9 = 27
    assert bucket == "5 minutes"
    assert len(rows) == 11


def test_pick_bucket_refuses_a_window_that_ends_before_it_starts() -> None:
    with pytest.raises(BadInputError, match=r"ends .* before it starts"):
        charts.pick_bucket(at("10:05:00"), at("10:00:00"), 3)


def test_pick_bucket_refuses_more_series_than_a_chart_can_hold() -> None:
    with pytest.raises(BadInputError, match=r"3000 .* too many .* choose one site or service"):
        charts.pick_bucket(START, START + timedelta(days=400), 3000)


def test_a_metric_chart_of_too_many_series_says_how_to_choose_some() -> None:
    # more points than a chart holds, in more series than any bucket can hold
    series = charts.MAX_ROWS // 2 + 1
    frame = pl.DataFrame(
        {
            "series": [f"s{i}" for i in range(series) for _ in range(2)],
            "ts": [START, START + timedelta(minutes=1)] * series,
            "value": [1.0, 2.0] * series,
        }
    )
    with pytest.raises(BadInputError, match=r"too many .* choose some with --labels"):
        charts.metric_chart(frame, title="m")


# counts_chart


@pytest.fixture(scope="module")
def counts(incident_lab: Path) -> pl.DataFrame:
    return open_lab(incident_lab).query("counts_per_bucket", bucket="1 minute").pl()


def chart_rows(chart: alt.Chart) -> list[dict[str, object]]:
    (rows,) = chart.to_dict()["datasets"].values()
    return rows


def test_counts_chart_has_one_row_per_bucket_service_and_level(counts: pl.DataFrame) -> None:
    rows = chart_rows(charts.counts_chart(counts, bucket="1 minute"))

    keys = [(row["bucket"], row["service"], row["level"]) for row in rows]
    assert len(keys) == len(set(keys)) == 14
    assert sum(int(str(row["events"])) for row in rows) == 15
    assert rows[0] == {
        "bucket": "2026-12-04T10:00:00+0000",
        "bucket_end": "2026-12-04T10:01:00+0000",
        "service": "gateway",
        "level": "debug",
        "events": 1,
    }


def test_counts_chart_encodings(counts: pl.DataFrame) -> None:
    spec = charts.counts_chart(counts, bucket="1 minute").to_dict()
    encoding = spec["encoding"]

    assert encoding["x"]["field"] == "bucket"
    assert encoding["x"]["scale"] == {"type": "utc"}
    assert "UTC" in encoding["x"]["axis"]["title"]
    assert encoding["color"]["field"] == "level"
    assert encoding["color"]["scale"]["domain"] == [
        "trace",
        "debug",
        "info",
        "warn",
        "error",
        "fatal",
    ]
    assert encoding["row"]["field"] == "service"


def test_counts_chart_svg_names_each_service_on_a_utc_axis(counts: pl.DataFrame) -> None:
    svg = vl_convert.vegalite_to_svg(charts.counts_chart(counts, bucket="1 minute").to_json())
    labels = set(re.findall(r"<text[^>]*>([^<]*)</text>", svg))

    assert set(SERVICES) <= labels
    assert {"time (UTC)", "10:00", "10:08", "2026-12-04 10:00 to 2026-12-04 10:08 UTC"} <= labels
    assert "<script" not in svg


def test_small_counts_over_two_minutes_label_each_whole_count_and_minute_once() -> None:
    """The renderer puts ticks at half counts and half minutes (tickMinStep aside); they had
    been labelled 0, 1, 1, 2, 2 and 00:01, 00:01."""
    start = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    minute = timedelta(minutes=1)
    frame = pl.DataFrame(
        {
            "bucket": [start, start + minute],
            "bucket_end": [start + minute, start + 2 * minute],
            "service": ["nova", "nova"],
            "level": ["info", "error"],
            "events": [2, 1],
        }
    )

    svg = vl_convert.vegalite_to_svg(charts.counts_chart(frame, bucket="1 minute").to_json())

    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    axis = texts[texts.index("nova") + 1 : texts.index("events")]
    assert axis == ["10:00", "10:01", "10:02", "time (UTC)", "0", "1", "2"]


def test_counts_chart_level_colours_skip_absent_levels(counts: pl.DataFrame) -> None:
    only_errors = counts.filter(pl.col("level").is_in(["error", "fatal"]))

    color = charts.counts_chart(only_errors, bucket="1 minute").to_dict()["encoding"]["color"]

    assert color["scale"] == {"domain": ["error", "fatal"], "range": ["#e45756", "#7f0000"]}


def test_counts_chart_needs_the_query_columns(counts: pl.DataFrame) -> None:
    with pytest.raises(BadInputError, match="missing: bucket_end"):
        charts.counts_chart(counts.drop("bucket_end"), bucket="1 minute")


def test_counts_chart_refuses_more_rows_than_altair_embeds(counts: pl.DataFrame) -> None:
    too_many = pl.concat([counts] * (charts.MAX_ROWS // counts.height + 1))

    with pytest.raises(BadInputError, match="wider bucket"):
        charts.counts_chart(too_many, bucket="1 minute")


def test_enable_offline_rendering_selects_svg() -> None:
    before = alt.renderers.active
    try:
        charts.enable_offline_rendering()
        bundle = (
            alt.Chart(pl.DataFrame({"a": [1]})).mark_point().encode(x="a:Q")._repr_mimebundle_()
        )
    finally:
        alt.renderers.enable(before)

    assert list(bundle) == ["image/svg+xml"]
    assert bundle["image/svg+xml"].startswith("<svg")


def test_counts_description_says_what_the_chart_shows(counts: pl.DataFrame) -> None:
    assert charts.counts_description(counts, bucket="1 minute") == (
        "Stacked bars of events per 1 minute for 3 services (gateway, ledger, orders),"
        " one row of bars each, coloured by level (trace, debug, info, warn, error, fatal);"
        " 15 events, 2026-12-04 10:00 to 2026-12-04 10:08 UTC."
    )


def test_offline_rendering_passes_the_description_on_as_alt_text(counts: pl.DataFrame) -> None:
    before = alt.renderers.active
    try:
        charts.enable_offline_rendering()
        bundle, metadata = charts.counts_chart(counts, bucket="1 minute")._repr_mimebundle_()
    finally:
        alt.renderers.enable(before)

    assert list(bundle) == ["image/svg+xml"]
    assert metadata == {
        "image/svg+xml": {"alt": charts.counts_description(counts, bucket="1 minute")}
    }


def test_control_characters_in_labels_render_escaped() -> None:
    # the static SVG renderer aborted the whole kernel on an ESC in a service name
    import vl_convert

    frame = pl.DataFrame(
        {
            "bucket": [datetime(2026, 12, 1, 10, 0, tzinfo=UTC)],
            "bucket_end": [datetime(2026, 12, 1, 10, 1, tzinfo=UTC)],
            "service": ["svc\x1b[1m"],
            "level": ["error"],
            "events": [3],
        }
    )
    svg = vl_convert.vegalite_to_svg(charts.counts_chart(frame, bucket="1 minute").to_dict())
    assert "svc\\x1b[1m" in svg
    assert "\x1b" not in svg


def test_records_without_a_level_or_a_service_are_drawn_and_named() -> None:
    """A null level had no colour on the scale: its bars were an unlabelled gap, missing
    from the legend, and a null service a row called "null"."""
    start = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    minute = timedelta(minutes=1)
    frame = pl.DataFrame(
        {
            "bucket": [start, start, start],
            "bucket_end": [start + minute] * 3,
            "service": ["nova", "nova", None],
            "level": ["info", None, "error"],
            "events": [2, 6, 1],
        }
    )

    chart = charts.counts_chart(frame, bucket="1 minute")
    svg = vl_convert.vegalite_to_svg(chart.to_json())

    assert chart.to_dict()["encoding"]["color"]["scale"]["domain"] == [
        "info",
        "error",
        "(no level)",
    ]
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "(no level)" in texts and "(no service)" in texts
    assert "null" not in texts
