"""The incident report's panel of the metric series that changed most, run headlessly.

The telemetry lab is ``tests/telemetry_fixture.py``; the panel's rows are
worked out in tests/analyses/test_timeline_telemetry.py, which tests the
function the notebook calls. Here: the panel shows them, and says when there
is nothing to show.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import polars as pl
import pytest

from dvlab.reporting import charts
from dvlab.reporting.notebooks import run_report
from tests.telemetry_fixture import make_telemetry_lab


def panel_outputs(notebook: Path) -> list[dict[str, str]]:
    """The display data of the panel's code cell, each as {mime type: text}."""
    nb = nbformat.read(notebook, as_version=4)
    (cell,) = [c for c in nb.cells if c.get("id") == "metric-changes"]
    return [dict(output.get("data", {})) for output in cell.outputs]


def test_panel_ranks_the_changed_series_and_draws_them(tmp_path: Path) -> None:
    lab = make_telemetry_lab(tmp_path / "lab.duckdb")

    result = run_report(
        "incident-timeline",
        {"start": "2026-12-04T10:04:00Z", "end": "2026-12-04T10:06:00Z"},
        out_dir=tmp_path / "out",
        lab=lab,
    )

    table, chart = panel_outputs(result.notebook)
    rows = [line for line in table["text/plain"].splitlines() if "[osl1" in line]
    # errors_open from 0, queue_depth +100 %, requests_total 500 -25 %, cpu_ratio +1.6 %
    assert [line.split("┆")[-1].strip(" │") for line in rows] == [
        "from 0",
        "100.0%",
        "-25.0%",
        "1.6%",
    ]
    assert "image/svg+xml" in chart
    assert "Most changed metric series" in chart["image/svg+xml"]
    assert "Metrics that changed most" in result.html.read_text(encoding="utf-8")


def test_panel_says_when_there_are_no_metrics(incident_lab: Path, tmp_path: Path) -> None:
    result = run_report("incident-timeline", {}, out_dir=tmp_path, lab=incident_lab)

    (note,) = panel_outputs(result.notebook)
    assert note["text/markdown"] == "No metrics in this window, or none before it to compare with."


def test_metric_chart_draws_bucket_means_beyond_the_row_limit() -> None:
    start = datetime(2026, 12, 4, 10, tzinfo=UTC)
    # 6,000 points a second apart, value = the second: 100 one-minute buckets, each
    # the mean of its 60 seconds (0..59 -> 29.5, 60..119 -> 89.5, ...)
    frame = pl.DataFrame(
        {
            "series": ["up"] * 6000,
            "ts": [start + timedelta(seconds=s) for s in range(6000)],
            "value": [float(s) for s in range(6000)],
        }
    )

    spec = charts.metric_chart(frame, title="up").to_dict()

    (rows,) = spec["datasets"].values()
    assert spec["title"]["text"] == "up (mean per 1 minute)"
    assert len(rows) == 100
    assert [row["value"] for row in rows[:2]] == [29.5, 89.5]


def test_metric_chart_needs_its_columns() -> None:
    with pytest.raises(ValueError, match="missing: value"):
        charts.metric_chart(pl.DataFrame({"series": [], "ts": []}), title="x")


def changes_outputs(notebook: Path) -> list[dict[str, str]]:
    nb = nbformat.read(notebook, as_version=4)
    (cell,) = [c for c in nb.cells if c.get("id") == "span-metric-changes"]
    return [dict(output.get("data", {})) for output in cell.outputs]


def test_report_lists_the_windows_failed_spans_and_metric_changes(tmp_path: Path) -> None:
    lab = make_telemetry_lab(tmp_path / "lab.duckdb")

    # 10:02 to 10:06: the failed charge span at 10:02:00.150 and the two changes at 10:05
    # (see tests/analyses/test_timeline_telemetry.py for how each is worked out); 10:06's
    # changes fall at the window's (exclusive) end
    result = run_report(
        "incident-timeline",
        {"start": "2026-12-04T10:02:00Z", "end": "2026-12-04T10:06:00Z"},
        out_dir=tmp_path / "out",
        lab=lab,
    )

    (table,) = changes_outputs(result.notebook)
    text = table["text/plain"]
    rows = [line for line in text.splitlines() if "2026-12-04" in line]
    assert len(rows) == 3, text
    assert "span charge (client)" in rows[0] and "error" in rows[0]
    assert 'queue_depth{queue="jobs"} rose to 12 (baseline 4)' in text
    assert 'requests_total{code="500"} rate fell to 0.5/s (baseline 1/s)' in text


def test_report_says_when_nothing_failed_or_moved(incident_lab: Path, tmp_path: Path) -> None:
    result = run_report("incident-timeline", {}, out_dir=tmp_path, lab=incident_lab)

    (note,) = changes_outputs(result.notebook)
    assert (
        note["text/markdown"] == "No span failed and no metric left its baseline in this window."
    )
