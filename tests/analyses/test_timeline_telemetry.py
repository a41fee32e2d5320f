"""Spans and metric changes on the timeline, and the series a window changed most.

The lab is ``tests/telemetry_fixture.py``; each expected value is worked out
by hand from its rows, with the reasoning beside it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dvlab.analyses.lineage import trace
from dvlab.analyses.metrics import metric_changes
from dvlab.analyses.timeline import timeline
from dvlab.cli import main
from dvlab.errors import BadInputError
from dvlab.lab.store import open_lab
from tests.telemetry_fixture import make_telemetry_lab

INF = float("inf")


def at(clock: str) -> datetime:
    """A time of the fixture's day, ``"10:02:00.150"``, as an aware UTC datetime."""
    return datetime.fromisoformat(f"2026-12-04T{clock}+00:00").astimezone(UTC)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_telemetry_lab(tmp_path_factory.mktemp("telemetry") / "lab.duckdb")


def entries(lab: Path, **options: Any) -> list[tuple[Any, ...]]:
    relation = timeline(lab, **options)
    return relation.select("ts, kind, service, level, message, trace_id").fetchall()


SPAN_01 = (at("10:02:00"), "span", "api", "info", "span GET /orders (server) 250 ms, ok", "ab01")
SPAN_02 = (
    at("10:02:00.100"),
    "span",
    "api",
    "info",
    "span SELECT orders (client) 120 ms, ok",
    "ab01",
)
SPAN_03 = (
    at("10:02:00.150"),
    "span",
    "payments",
    "error",
    "span charge (client) 80.5 ms, error: card declined",
    "ab01",
)
SPAN_04 = (at("10:03:00"), "span", "worker", "info", "span consume (consumer) 5 ms, unset", "cd02")
SPAN_05 = (at("10:03:00.001"), "span", "worker", "info", "span write (internal) 2 ms, ok", "cd02")
LOG_1 = (at("10:02:00.050"), "log", "api", "info", "loading orders", "ab01")
LOG_2 = (at("10:02:00.200"), "log", "payments", "error", "charge failed", "ab01")
LOG_3 = (at("10:03:30"), "log", "worker", "info", "done", None)

# Metric changes with the default thresholds (k 3, 20 %, 10 points, 3 at least):
# queue_depth at 10:05: 12 against five 4s (spread 0); at 10:06 40 is beyond its baseline
#   too (mean 32/6, spread 2.98) but on the same side, so the same excursion;
# requests_total{code="500"}: rates 1, 1, 1, 1 per second, then 30/60 = 0.5 after the
#   restart at 10:05 (fell), then (930 - 30)/60 = 15 against mean 4.5/5 = 0.9 (rose);
# free_bytes at 10:06: 50 against six 100s.
# Not changes: cpu_ratio's 0.5078125 is beyond a spread of 0 but less than 20 % of 0.5;
# errors_open's 3 has two points before it; requests_total{code="200"} is 2/s throughout.
QUEUE_ROSE = (
    at("10:05:00"),
    "metric",
    "api",
    "warn",
    'metric queue_depth{queue="jobs"} rose to 12 (baseline 4)',
    None,
)
REQUESTS_FELL = (
    at("10:05:00"),
    "metric",
    "gateway",
    "warn",
    'metric requests_total{code="500"} rate fell to 0.5/s (baseline 1/s)',
    None,
)
BYTES_FELL = (
    at("10:06:00"),
    "metric",
    "api",
    "warn",
    'metric free_bytes{disk="sda"} fell to 50 (baseline 100)',
    None,
)
REQUESTS_ROSE = (
    at("10:06:00"),
    "metric",
    "gateway",
    "warn",
    'metric requests_total{code="500"} rate rose to 15/s (baseline 0.9/s)',
    None,
)


def test_the_window_shows_key_spans_logs_and_metric_changes_in_time_order(lab: Path) -> None:
    # key spans: 01 (a root), 03 (error), 04 (its parent ff is not loaded); not 02 or 05.
    # At 10:05 the two changes are ordered by kind, source (the same) and line (6 < 29).
    assert entries(lab) == [
        SPAN_01,
        LOG_1,
        SPAN_03,
        LOG_2,
        SPAN_04,
        LOG_3,
        QUEUE_ROSE,
        REQUESTS_FELL,
        BYTES_FELL,
        REQUESTS_ROSE,
    ]


def test_spans_all_and_none(lab: Path) -> None:
    assert entries(lab, spans="all", metrics=False) == [
        SPAN_01,
        LOG_1,
        SPAN_02,
        SPAN_03,
        LOG_2,
        SPAN_04,
        SPAN_05,
        LOG_3,
    ]
    assert entries(lab, spans="none", metrics=False) == [LOG_1, LOG_2, LOG_3]


def test_an_unknown_span_choice_is_refused(lab: Path) -> None:
    with pytest.raises(BadInputError, match="unknown --spans 'some'; accepted: key, all, none"):
        timeline(lab, spans="some")


def test_a_trace_id_shows_every_span_of_the_trace_and_its_logs(lab: Path) -> None:
    # all of ab01 (02 too, though not a key span) and both logs carrying ab01; no metrics
    assert entries(lab, id="ab01") == [SPAN_01, LOG_1, SPAN_02, SPAN_03, LOG_2]
    # a trace id is hex: written in capitals (as OTLP's own examples write them) it is the same
    assert entries(lab, id="AB01") == [SPAN_01, LOG_1, SPAN_02, SPAN_03, LOG_2]


def test_a_correlation_id_brings_the_traces_its_logs_carry(lab: Path) -> None:
    # c-9's log carries trace ab01: its spans and its other log (no correlation) come along
    assert entries(lab, id="c-9") == [SPAN_01, LOG_1, SPAN_02, SPAN_03, LOG_2]
    # c-10's log carries no trace
    assert entries(lab, id="c-10") == [LOG_3]


def test_level_site_service_and_window_apply_to_spans_and_metrics(lab: Path) -> None:
    # error: the failed span and the error log; metric changes are warn
    assert entries(lab, level="error") == [SPAN_03, LOG_2]
    assert entries(lab, level="warn", spans="none") == [
        LOG_2,
        QUEUE_ROSE,
        REQUESTS_FELL,
        BYTES_FELL,
        REQUESTS_ROSE,
    ]
    assert entries(lab, service="gateway") == [REQUESTS_FELL, REQUESTS_ROSE]
    assert entries(lab, site="hel1") == []
    # the baseline reaches back before the window: 10:06's changes are still found
    assert entries(lab, start="2026-12-04T10:05:30Z") == [BYTES_FELL, REQUESTS_ROSE]
    assert entries(lab, metrics=False, start="2026-12-04T10:04:00Z") == []


def test_the_limit_applies_to_the_merged_entries(lab: Path) -> None:
    assert entries(lab, spans="none", limit=4) == [LOG_1, LOG_2, LOG_3, QUEUE_ROSE]


def test_cli_prints_a_span_with_its_trace_id(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(lab), "timeline", "--level", "error", "--service", "payments"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "2026-12-04T10:02:00.150000Z  osl1  payments  error  "
        "span charge (client) 80.5 ms, error: card declined  [trace_id=ab01]",
        "2026-12-04T10:02:00.200000Z  osl1  payments  error  charge failed  [trace_id=ab01]",
    ]


def test_cli_leaves_metrics_and_spans_out_on_request(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--db", str(lab), "timeline", "--spans", "none", "--no-metrics"])

    assert (code, capsys.readouterr().out.splitlines()) == (
        0,
        [
            "2026-12-04T10:02:00.050000Z  osl1  api  info   loading orders"
            "  [correlation_id=c-9 trace_id=ab01]",
            "2026-12-04T10:02:00.200000Z  osl1  payments  error  charge failed  [trace_id=ab01]",
            "2026-12-04T10:03:30.000000Z  osl1  worker  info   done  [correlation_id=c-10]",
        ],
    )


# metric_anomalies, the curated query


def anomalies(lab: Path, **params: Any) -> list[tuple[Any, ...]]:
    relation = open_lab(lab).query("metric_anomalies", **params)
    columns = "ts, name, labels, service, value, baseline, direction, is_rate, line"
    return relation.select(columns).fetchall()


def test_metric_anomalies_rows(lab: Path) -> None:
    # lines: queue_depth 1-8, free_bytes 9-15, requests_total{code="500"} 24-30
    assert anomalies(lab) == [
        (at("10:05:00"), "queue_depth", '{queue="jobs"}', "api", 12.0, 4.0, "rose", False, 6),
        (at("10:05:00"), "requests_total", '{code="500"}', "gateway", 0.5, 1.0, "fell", True, 29),
        (at("10:06:00"), "free_bytes", '{disk="sda"}', "api", 50.0, 100.0, "fell", False, 15),
        (at("10:06:00"), "requests_total", '{code="500"}', "gateway", 15.0, 0.9, "rose", True, 30),
    ]


def test_metric_anomalies_thresholds(lab: Path) -> None:
    # min_change 0.01: cpu_ratio's step of 0.0078125 is 1.5625 % of 0.5, now a change
    assert [row[1] for row in anomalies(lab, min_change=0.01)] == [
        "cpu_ratio",
        "queue_depth",
        "requests_total",
        "free_bytes",
        "requests_total",
    ]
    # k 10: requests_total's 15/s is 14.1 from 0.9, beyond 10 x 0.2; queue_depth's 12 and
    # the rest had a spread of 0, so nothing else changes
    assert len(anomalies(lab, k=10)) == 4
    # k 100: 14.1 is within 100 x 0.2 = 20
    assert len(anomalies(lab, k=100)) == 3
    # a baseline of 3 points: the same four changes, but requests_total's 15/s is judged
    # against its rates 1, 1 and 0.5 alone: baseline 2.5 / 3
    assert [(row[1], row[5]) for row in anomalies(lab, points=3)] == [
        ("queue_depth", 4.0),
        ("requests_total", 1.0),
        ("free_bytes", 100.0),
        ("requests_total", pytest.approx(2.5 / 3)),
    ]
    # a baseline of 2 points is never enough to judge by
    assert anomalies(lab, points=2) == []


# metric_changes, the report's panel


def test_metric_changes_ranks_series_by_the_change_of_their_mean(lab: Path) -> None:
    # window 10:04-10:06, compared with 10:02-10:04:
    # errors_open 0 -> 3: from zero, infinite; queue_depth (4, 4) -> (4, 12): 4 -> 8, +1.0;
    # requests_total 500: rates (1, 1) -> (1, 0.5): 1 -> 0.75, -0.25;
    # cpu_ratio 0.5 -> 0.5078125: +0.015625; unchanged, so left out: free_bytes (100) and
    # requests_total 200 (2/s)
    changes = metric_changes(lab, start="2026-12-04T10:04:00Z", end="2026-12-04T10:06:00Z")

    assert changes.compared == 6
    assert changes.series.rows() == [
        ("errors_open [osl1 api]", "errors_open", "", "osl1", "api", False, 0.0, 3.0, INF),
        (
            'queue_depth{queue="jobs"} [osl1 api]',
            "queue_depth",
            '{queue="jobs"}',
            "osl1",
            "api",
            False,
            4.0,
            8.0,
            1.0,
        ),
        (
            'requests_total{code="500"} [osl1 gateway]',
            "requests_total",
            '{code="500"}',
            "osl1",
            "gateway",
            True,
            1.0,
            0.75,
            -0.25,
        ),
        ("cpu_ratio [osl1 api]", "cpu_ratio", "", "osl1", "api", False, 0.5, 0.5078125, 0.015625),
    ]


def test_metric_changes_gives_the_points_of_the_top_series(lab: Path) -> None:
    changes = metric_changes(
        lab, start=at("10:04:00"), end=at("10:06:00"), service="gateway", top=1
    )

    # gateway: requests_total 500 changed, 200 did not; its rates from 10:02 to 10:05
    assert changes.compared == 2
    assert changes.series.get_column("series").to_list() == [
        'requests_total{code="500"} [osl1 gateway]'
    ]
    assert changes.points.rows() == [
        ('requests_total{code="500"} [osl1 gateway]', at("10:02:00"), 1.0),
        ('requests_total{code="500"} [osl1 gateway]', at("10:03:00"), 1.0),
        ('requests_total{code="500"} [osl1 gateway]', at("10:04:00"), 1.0),
        ('requests_total{code="500"} [osl1 gateway]', at("10:05:00"), 0.5),
    ]


def test_metric_changes_of_a_window_without_metrics(lab: Path) -> None:
    changes = metric_changes(lab, start="2026-12-05T00:00:00Z", end="2026-12-05T01:00:00Z")

    assert (changes.compared, changes.series.height, changes.points.height) == (0, 0, 0)


def test_metric_changes_cuts_the_stretch_before_a_long_window_at_year_1(lab: Path) -> None:
    # as long as the window, the stretch before 10:04 would start in 5946 BC: it is cut to
    # year 1, so it holds every point before 10:04 (10:00 to 10:03) and the window the rest.
    # errors_open (0, 0) -> 3: from zero; requests_total 500 rates (1, 1, 1) -> (1, 0.5, 15):
    # 1 -> 5.5, +4.5; queue_depth (4 x4) -> (4, 12, 40, 4): 4 -> 15, +2.75; free_bytes
    # (100 x4) -> (100, 100, 50): 100 -> 83.33, -1/6; cpu_ratio 0.5 -> 0.5078125, +0.015625;
    # requests_total 200 (2/s) unchanged
    changes = metric_changes(lab, start="2026-12-04T10:04:00Z", end="9999-01-01T00:00:00Z")

    assert changes.before_start == datetime(1, 1, 1, tzinfo=UTC)
    assert changes.compared == 6
    assert [(row[0], row[-1]) for row in changes.series.rows()] == [
        ("errors_open [osl1 api]", INF),
        ('requests_total{code="500"} [osl1 gateway]', 4.5),
        ('queue_depth{queue="jobs"} [osl1 api]', 2.75),
        ('free_bytes{disk="sda"} [osl1 api]', pytest.approx(-1 / 6)),
        ("cpu_ratio [osl1 api]", 0.015625),
    ]


def test_metric_changes_compares_with_as_long_before_when_it_can(lab: Path) -> None:
    changes = metric_changes(lab, start="2026-12-04T10:04:00Z", end="2026-12-04T10:06:00Z")

    assert changes.before_start == at("10:02:00")


def test_metric_changes_refuses_a_window_that_is_not_one(lab: Path) -> None:
    with pytest.raises(BadInputError, match="start '2026-12-04T10:06:00Z' is not before end"):
        metric_changes(lab, start="2026-12-04T10:06:00Z", end="2026-12-04T10:04:00Z")


def test_trace_follows_a_trace_id_to_the_work_its_logs_belong_to(tmp_path: Path) -> None:
    lab = make_telemetry_lab(tmp_path / "lab.duckdb")
    con = duckdb.connect(str(lab))
    try:
        # the task of correlation c-9, whose log carries trace ab01
        con.execute(
            "INSERT INTO tasks (task_id, workflow_id, state, created, correlation_id, source,"
            " line, ingest_id) VALUES ('t-1', 'w-1', 'succeeded',"
            " '2026-12-04 10:01:59+00', 'c-9', 'tasks.csv', 1, 4)"
        )
    finally:
        con.close()

    rows = trace(lab, "ab01").select("kind, id, correlation_id").fetchall()

    assert rows == [("task", "t-1", "c-9")]
