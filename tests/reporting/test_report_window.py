"""The incident report over times Python cannot hold, and over windows as long as they come.

A lab can hold times before year 1 or after 9999 (the ingest takes
``12026-01-01T00:00:00Z``); Python's datetime cannot. The report leaves such
records out of its default window and says how many; a window reaching
back to 1970 compares with a stretch before it cut at year 1.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import nbformat
import pytest
from incident_fixture import INCIDENT_ROWS, make_lab

from dvlab.lab.store import open_lab
from dvlab.reporting import charts
from dvlab.reporting.notebooks import run_report
from dvlab.reporting.window import comparison_note, report_window
from tests.telemetry_fixture import make_telemetry_lab

# (time as DuckDB reads it, site, service, message): two records out of Python's range
FAR_ROWS = [
    ("12026-01-01T00:00:00Z", "oslo", "gateway", "far future"),
    ("0000-06-01T00:00:00Z", "oslo", "orders", "year zero"),
]


def make_far_lab(path: Path) -> Path:
    """The incident lab and the two records of :data:`FAR_ROWS`, both at level error."""
    make_lab(path, INCIDENT_ROWS)
    con = duckdb.connect(str(path))
    try:
        con.executemany(
            "INSERT INTO logs (ts, site, host, service, level, level_raw, message, source, line,"
            " ingest_id) VALUES ($1::TIMESTAMPTZ, $2, 'far-1', $3, 'error', 'ERROR', $4,"
            " 'far.jsonl', $5, 2)",
            [(*row, line) for line, row in enumerate(FAR_ROWS, start=1)],
        )
    finally:
        con.close()
    return path


def cell_outputs(notebook: Path, cell_id: str) -> list[dict[str, str]]:
    """The display data of one code cell of an executed notebook, each as {mime type: text}."""
    nb = nbformat.read(notebook, as_version=4)
    (cell,) = [c for c in nb.cells if c.get("id") == cell_id]
    assert not [out for out in cell.outputs if out.output_type == "error"]
    return [dict(output.get("data", {})) for output in cell.outputs]


def test_default_window_leaves_out_the_records_python_cannot_hold(tmp_path: Path) -> None:
    lab = make_far_lab(tmp_path / "lab.duckdb")

    window = report_window(open_lab(lab))

    # the fifteen incident records, 10:00:05 to 10:07:00 on 4 December 2026; one record
    # before year 1 and one after 9999 are left out
    assert (window.extent["events"], window.extent["services"]) == (15, 3)
    assert window.extent["first_ts"] == datetime(2026, 12, 4, 10, 0, 5, tzinfo=UTC)
    assert window.extent["last_ts"] == datetime(2026, 12, 4, 10, 7, tzinfo=UTC)
    assert (window.left_out_before, window.left_out_after) == (1, 1)
    assert window.note() == (
        "Left out: 2 events dated outside the years 1 to 9999 (1 before, 1 after),"
        " which this report cannot show."
    )
    # the queries of the report leave them out too: with them, the first error of orders
    # would be "year zero", and gateway would have 4 errors
    assert window.query("first_errors").select("service, message, errors").fetchall() == [
        ("orders", "payment 5511 failed: upstream 10.0.3.7 timed out after 3000 ms", 3),
        ("ledger", "connection pool exhausted (used 20 of 20)", 3),
        ("gateway", "session deadbeefcafe01 expired for 10.0.0.12", 3),
    ]


def test_a_window_given_leaves_nothing_out_and_a_filter_counts_only_its_records(
    tmp_path: Path,
) -> None:
    lab = make_far_lab(tmp_path / "lab.duckdb")

    bounded = report_window(open_lab(lab), start="2026-12-04T10:05:00Z", end=None)
    orders = report_window(open_lab(lab), service="orders")

    # from 10:05 on: 10:05:00, 10:05:30, 10:06:00 (two), 10:06:30, 10:07:00; the far
    # future record is after the window's start but is not shown, so it is counted
    assert bounded.extent["events"] == 6
    assert (bounded.left_out_before, bounded.left_out_after) == (0, 1)
    # orders: 10:01:10, 10:01:20, 10:02:30, 10:06:00, 10:07:00; its year-zero record
    assert orders.extent["events"] == 5
    assert (orders.left_out_before, orders.left_out_after) == (1, 0)
    assert orders.note() == (
        "Left out: 1 event dated outside the years 1 to 9999 (1 before, 0 after),"
        " which this report cannot show."
    )


def test_nothing_left_out_gives_no_note(incident_lab: Path) -> None:
    assert report_window(open_lab(incident_lab)).note() is None


def test_comparison_note_says_when_the_stretch_before_is_cut() -> None:
    first, last = datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
    year_one = datetime(1, 1, 1, tzinfo=UTC)

    assert comparison_note(first, last, year_one) == (
        "The window is compared with 0001-01-01 00:00 to 1970-01-01 00:00 UTC, a shorter"
        " time than itself: no time before year 1 can be shown."
    )
    assert comparison_note(year_one, last, year_one) == (
        "The window starts at 0001-01-01 00:00 UTC: no time before it can be shown,"
        " so there is nothing to compare it with."
    )
    assert (
        comparison_note(
            first, datetime(1970, 1, 2, tzinfo=UTC), datetime(1969, 12, 31, tzinfo=UTC)
        )
        is None
    )


def test_counts_chart_of_a_bucket_ending_after_9999() -> None:
    # the last minute of 9999: its bucket ends at 10000-01-01, which Python cannot hold
    counts = (
        duckdb.connect()
        .sql(
            "SELECT '9999-12-31 23:59:00+00'::TIMESTAMPTZ AS bucket,"
            " '10000-01-01 00:00:00+00'::TIMESTAMPTZ AS bucket_end,"
            " 'db' AS service, 'error' AS level, 1::BIGINT AS events"
        )
        .pl()
    )

    description = charts.counts_description(counts, bucket="1 minute")

    assert description.endswith("1 event, 9999-12-31 23:59 to 9999-12-31 23:59 UTC.")
    assert charts.counts_chart(counts, bucket="1 minute").to_dict()["description"] == description


@pytest.mark.slow
def test_report_over_a_lab_with_a_year_12026_record(tmp_path: Path) -> None:
    lab = make_far_lab(tmp_path / "lab.duckdb")

    result = run_report("incident-timeline", {}, out_dir=tmp_path / "out", lab=lab)

    (summary,) = cell_outputs(result.notebook, "setup")
    assert summary["text/markdown"].endswith(
        "15 events from 3 services, 2026-12-04 10:00:05 to 2026-12-04 10:07:00 UTC.\n\n"
        "Left out: 2 events dated outside the years 1 to 9999 (1 before, 1 after),"
        " which this report cannot show."
    )
    page = result.html.read_text(encoding="utf-8")
    assert "Left out: 2 events" in page
    assert "far future" not in page and "year zero" not in page


@pytest.mark.slow
def test_report_of_a_window_from_1970_to_9999(tmp_path: Path) -> None:
    lab = make_telemetry_lab(tmp_path / "lab.duckdb")

    result = run_report(
        "incident-timeline",
        {"start": "1970-01-01T00:00Z", "end": "9999-01-01T00:00Z"},
        out_dir=tmp_path / "out",
        lab=lab,
    )

    # every metric point (4 December 2026) is in the window, none in the stretch before
    # it, which is cut at year 1 (as long as the window, it would start 8029 years BC)
    assert [
        output["text/markdown"] for output in cell_outputs(result.notebook, "metric-changes")
    ] == [
        "The window is compared with 0001-01-01 00:00 to 1970-01-01 00:00 UTC, a shorter"
        " time than itself: no time before year 1 can be shown.",
        "No metrics in this window, or none before it to compare with.",
    ]
    assert result.html.is_file()
