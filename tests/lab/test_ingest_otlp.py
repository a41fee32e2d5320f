"""`dvlab ingest` of OTLP/JSON into ``spans``, ``logs``, ``metrics`` and ``metric_families``.

Expected counts are worked out from the raw requests of ``otlp-proto-examples``
by walking them with ``json.load`` (a histogram point gives a bucket row per
bound plus ``+Inf``, ``_sum`` and ``_count``; an exponential one a row per
bucket plus the zero bucket); the small requests here are written by hand.
The lab is read back with plain read-only DuckDB.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dvlab.analyses.metrics import metric_points
from dvlab.errors import BadInputError
from dvlab.lab.ingest import IngestOptions, ingest

from .ingest_support import jsonl, query, record, run_cli, table_counts

EXAMPLES = Path("otlp-proto-examples")
NAMES = ("trace.json", "logs.json", "events.json", "metrics.json")
T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z in nanoseconds
TABLES = ("spans", "logs", "metrics", "metric_families", "rejects")


def examples(real_data: Path) -> list[Path]:
    return [real_data / EXAMPLES / name for name in NAMES]


def expected_counts(paths: list[Path]) -> dict[str, int]:
    """Rows each table should get from ``paths``, counted from the raw requests."""
    counts = dict.fromkeys(TABLES, 0)
    for path in paths:
        request = json.loads(path.read_text(encoding="utf-8"))
        for entry in request.get("resourceSpans", []):
            counts["spans"] += sum(len(s["spans"]) for s in entry["scopeSpans"])
        for entry in request.get("resourceLogs", []):
            counts["logs"] += sum(len(s["logRecords"]) for s in entry["scopeLogs"])
        for entry in request.get("resourceMetrics", []):
            for scope in entry["scopeMetrics"]:
                for metric in scope["metrics"]:
                    counts["metric_families"] += 1
                    counts["metrics"] += sum(map(metric_rows, _points(metric)))
    return counts


def _points(metric: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (kind, point)
        for kind in ("gauge", "sum", "histogram", "exponentialHistogram")
        if kind in metric
        for point in metric[kind]["dataPoints"]
    ]


def metric_rows(kind_point: tuple[str, dict[str, Any]]) -> int:
    kind, point = kind_point
    totals = 1 + ("sum" in point)  # _count, and _sum when given
    if kind == "histogram":
        return len(point["explicitBounds"]) + 1 + totals
    if kind == "exponentialHistogram":
        positive = point.get("positive", {})
        negative = point.get("negative", {}).get("bucketCounts", [])
        buckets = len(positive.get("bucketCounts", [])) + len(negative)
        # each side's lowest bucket has its lower bound written too: the negative side's
        # always, the positive side's when above the zero bucket's bound
        lowest = 2 ** (2 ** -point.get("scale", 0) * positive.get("offset", 0))
        buckets += bool(negative) + bool(
            positive.get("bucketCounts") and lowest > point.get("zeroThreshold", 0)
        )
        return buckets + 1 + 1 + totals  # the zero bucket and +Inf
    return 1


def counts(lab: Path) -> dict[str, int]:
    return {t: query(lab, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}


def dump(lab: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the data tables and the rejects, sorted."""
    return {t: sorted(query(lab, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


@pytest.fixture(scope="module")
def real_lab(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lab = tmp_path_factory.mktemp("otlp") / "lab.duckdb"
    summary = ingest(lab, [str(p) for p in examples(real_data)])
    assert summary.failed == []
    return lab


# --------------------------------------------------------------------------- real requests


@pytest.mark.realdata
def test_real_requests_load_every_record(real_data: Path, real_lab: Path) -> None:
    paths = examples(real_data)
    assert counts(real_lab) == expected_counts(paths)
    assert query(real_lab, "SELECT source, format, status FROM ingests ORDER BY source") == sorted(
        (str(p), "otlp-json", "loaded") for p in paths
    )


@pytest.mark.realdata
def test_real_log_joins_its_span_by_trace_id(real_data: Path, real_lab: Path) -> None:
    log = json.loads((real_data / EXAMPLES / "logs.json").read_text(encoding="utf-8"))
    record = log["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    rows = query(
        real_lab,
        """SELECT l.message, s.name, s.span_id = l.attributes->>'span_id'
           FROM logs l JOIN spans s USING (trace_id)""",
    )
    # logs.json's record names trace.json's span (the same traceId and spanId)
    assert rows == [(record["body"]["stringValue"], "I'm a server span", True)]


@pytest.mark.realdata
def test_real_requests_again_change_nothing(real_data: Path, tmp_path: Path) -> None:
    lab = tmp_path / "again.duckdb"
    paths = [str(p) for p in examples(real_data)]
    ingest(lab, paths)
    before = dump(lab)
    summary = ingest(lab, paths)
    assert {s.status for s in summary.sources} == {"unchanged"}
    assert dump(lab) == before


@pytest.mark.realdata
def test_real_requests_one_a_line_load_the_same_rows(
    real_data: Path, real_lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = tmp_path / "otel-export.jsonl"
    exported.write_text(
        "".join(
            json.dumps(json.loads(p.read_text(encoding="utf-8"))) + "\n"
            for p in examples(real_data)
        ),
        encoding="utf-8",
    )
    lab = tmp_path / "lines.duckdb"
    code, _, err = run_cli(capsys, "--db", str(lab), "ingest", str(exported))
    assert code == 0, err
    assert query(lab, "SELECT format FROM ingests") == [("otlp-json",)]

    def content(at: Path, table: str) -> list[tuple[Any, ...]]:
        rows = query(at, f"SELECT * EXCLUDE (source, line, ingest_id) FROM {table}")
        return sorted(rows, key=repr)

    for table in ("spans", "logs", "metrics", "metric_families"):
        assert content(lab, table) == content(real_lab, table), table
    # each row's line is its request's line in the file
    assert query(lab, "SELECT DISTINCT line FROM spans") == [(1,)]
    assert query(lab, "SELECT line FROM logs ORDER BY line") == [(2,), (3,)]
    assert query(lab, "SELECT DISTINCT line FROM metrics") == [(4,)]


# --------------------------------------------------------------------------- small requests


def span_request(*spans: dict[str, Any]) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}


def span(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "traceId": f"{n:032x}",
        "spanId": f"{n:016x}",
        "name": f"op{n}",
        "startTimeUnixNano": str(T0 + n),
        **fields,
    }


def test_a_span_another_file_holds_too_is_stored_once(lab_path: Path, tmp_path: Path) -> None:
    """An export sent again lands in a second file: its spans are skipped, not counted
    twice as requests (they had been stored twice)."""
    first, again = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(span_request(span(1), span(2))), encoding="utf-8")
    again.write_text(json.dumps(span_request(span(2), span(3))), encoding="utf-8")

    summary = ingest(lab_path, [str(first), str(again)])

    assert [(s.rows_loaded, s.rows_skipped) for s in summary.sources] == [(2, 0), (1, 1)]
    assert query(lab_path, "SELECT span_id, source FROM spans ORDER BY 1") == [
        (f"{1:016x}", str(first)),
        (f"{2:016x}", str(first)),
        (f"{3:016x}", str(again)),
    ]


def test_a_reject_names_path_and_line_and_strict_writes_nothing(
    lab_path: Path, tmp_path: Path
) -> None:
    source = tmp_path / "spans.json"
    text = json.dumps(span_request(span(1), span(2, endTimeUnixNano=True)), indent=2)
    source.write_text(text, encoding="utf-8")
    bad_line = next(
        n for n, line in enumerate(text.split("\n"), start=1) if '"endTimeUnixNano": true' in line
    )

    strict = tmp_path / "strict.duckdb"
    with pytest.raises(BadInputError, match="--strict: 1 line"):
        ingest(strict, [str(source)], IngestOptions(strict=True))
    assert table_counts(strict) == {"logs": 0, "rejects": 0, "ingests": 0}
    if strict.exists():
        assert query(strict, "SELECT count(*) FROM spans") == [(0,)]

    summary = ingest(lab_path, [str(source)], IngestOptions(site="osl1"))
    assert [(s.rows_loaded, s.rows_rejected) for s in summary.sources] == [(1, 1)]
    assert query(lab_path, "SELECT span_id, site FROM spans") == [(f"{1:016x}", "osl1")]
    assert query(lab_path, "SELECT line, reason FROM rejects") == [
        (bad_line, "resourceSpans[0].scopeSpans[0].spans[1].endTimeUnixNano: true is not a time")
    ]


def test_a_grown_export_file_replaces_its_rows(lab_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    first = json.dumps(span_request(span(1))) + "\n"
    source.write_text(first, encoding="utf-8")
    ingest(lab_path, [str(source)])
    source.write_text(first + json.dumps(span_request(span(2), span(3))) + "\n", encoding="utf-8")
    summary = ingest(lab_path, [str(source)])
    assert summary.sources[0].rows_replaced == 1
    assert query(lab_path, "SELECT line, name FROM spans ORDER BY name") == [
        (1, "op1"),
        (2, "op2"),
        (2, "op3"),
    ]


def test_json_logs_are_not_taken_for_otlp(lab_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "app.jsonl"
    source.write_text(jsonl([record(1, "resourceSpans"), record(2)]), encoding="utf-8")
    ingest(lab_path, [str(source)])
    assert query(lab_path, "SELECT format FROM ingests") == [("jsonl",)]
    assert query(lab_path, "SELECT count(*) FROM logs") == [(2,)]


def test_format_otlp_json_on_other_json_fails_the_file(
    lab_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "app.jsonl"
    source.write_text(jsonl([record(1), record(2)]), encoding="utf-8")
    code, _, err = run_cli(
        capsys, "--db", str(lab_path), "ingest", "--format", "otlp-json", str(source)
    )
    assert code == 2
    assert f"{source}:1: no line is an OTLP export request on its own" in err
    assert query(lab_path, "SELECT status FROM ingests") == [("failed",)]
    assert query(lab_path, "SELECT count(*) FROM logs") == [(0,)]


def test_nan_and_infinite_values_are_rejects_so_averages_hold(
    lab_path: Path, tmp_path: Path
) -> None:
    def point(n: int, value: Any) -> dict[str, Any]:
        return {"timeUnixNano": str(T0 + n * 10**9), "asDouble": value}

    no_observations = {
        "timeUnixNano": str(T0),
        "count": "0",
        "sum": 0,
        "quantileValues": [{"quantile": 0.5, "value": "NaN"}],
    }
    request = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "load",
                                "gauge": {
                                    "dataPoints": [
                                        point(1, 1.5),
                                        point(2, "NaN"),
                                        point(3, 2.5),
                                        point(4, "-Infinity"),
                                    ]
                                },
                            },
                            {"name": "latency", "summary": {"dataPoints": [no_observations]}},
                        ]
                    }
                ]
            }
        ]
    }
    source = tmp_path / "metrics.json"
    source.write_text(json.dumps(request, indent=2), encoding="utf-8")

    summary = ingest(lab_path, [str(source)])

    # rows: the gauge's two measurements and the summary's quantile, _sum and _count
    assert [(s.rows_loaded, s.rows_rejected) for s in summary.sources] == [(5, 2)]
    # 1.5 and 2.5: their sum 4, their average 2
    assert query(
        lab_path, "SELECT count(*), sum(value), avg(value) FROM metrics WHERE name = 'load'"
    ) == [(2, 4.0, 2.0)]
    # the summary's quantile over no observations is a row without a value
    assert query(
        lab_path, "SELECT name, labels['quantile'], value FROM metrics WHERE name = 'latency'"
    ) == [("latency", "0.5", None)]
    reasons = [r for (r,) in query(lab_path, "SELECT reason FROM rejects ORDER BY line")]
    points = "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints"
    assert reasons == [
        f"{points}[1].asDouble: value NaN is not a measurement: a rate or average over it "
        "means nothing",
        f"{points}[3].asDouble: value -Infinity is not a measurement: a rate or average over "
        "it means nothing",
    ]


def delta_requests(*values: float, first: int = 0) -> str:
    """A file exporter's lines: one request a point of the delta counter ``sent``, the n-th
    ``values[n]`` at ``first + 10 n`` seconds after T0."""
    lines = []
    for n, value in enumerate(values):
        point = {"timeUnixNano": str(T0 + (first + 10 * n) * 10**9), "asDouble": value}
        total = {"isMonotonic": True, "aggregationTemporality": 1, "dataPoints": [point]}
        metric = {"name": "sent", "sum": total}
        lines.append(json.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}))
    return "\n".join(lines) + "\n"


def test_a_delta_counter_loads_as_a_counter_its_rates_true(lab_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text(delta_requests(5, 3, 7), encoding="utf-8")
    ingest(lab_path, [str(source)])

    # 5, then 5 + 3, then 5 + 3 + 7
    assert query(lab_path, "SELECT value, type, labels FROM metrics ORDER BY ts") == [
        (5.0, "counter", {}),
        (8.0, "counter", {}),
        (15.0, "counter", {}),
    ]
    # per second over each 10 s: 3 / 10 and 7 / 10; read as deltas they would be
    # (3 - 5 taken for a reset) 3 / 10, then (7 - 3) / 10
    rates = metric_points(lab_path, "sent", rate=True).fetchall()
    assert [row[-1] for row in rates] == [None, pytest.approx(0.3), pytest.approx(0.7)]


def test_a_delta_counter_in_a_later_file_starts_again(lab_path: Path, tmp_path: Path) -> None:
    first, later = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(delta_requests(5, 3), encoding="utf-8")
    later.write_text(delta_requests(4, 2, first=20), encoding="utf-8")
    ingest(lab_path, [str(first), str(later)])

    # each file adds up its own points: 5, 8 at 0 and 10 s; 4, 6 at 20 and 30 s
    assert query(lab_path, "SELECT value FROM metrics ORDER BY ts") == [
        (5.0,),
        (8.0,),
        (4.0,),
        (6.0,),
    ]
    # the drop from 8 to 4 is read as a restart from zero, which here gives the true
    # rates: 4 / 10, then 2 / 10
    rates = metric_points(lab_path, "sent", rate=True).fetchall()
    assert [row[-1] for row in rates] == [
        None,
        pytest.approx(0.3),
        pytest.approx(0.4),
        pytest.approx(0.2),
    ]


def test_a_delta_exponential_histogram_is_kept_point_by_point(
    lab_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scale 0: bucket i holds (2^i, 2^(i+1)]. The first point has 10 observations in (1, 2]
    (offset 0), the second 10 in (8, 16] (offset 3): a bound of one point is not a bound of
    the other, so neither is added to the other; each point keeps its own buckets."""

    def point(seconds: int, offset: int) -> dict[str, object]:
        return {
            "timeUnixNano": str((1_700_000_000 + seconds) * 10**9),
            "count": "10",
            "scale": 0,
            "zeroCount": "0",
            "positive": {"offset": offset, "bucketCounts": ["10"]},
        }

    metric = {
        "name": "lat",
        "exponentialHistogram": {
            "aggregationTemporality": 1,
            "dataPoints": [point(10, 0), point(20, 3)],
        },
    }
    path = tmp_path / "exp.json"
    path.write_text(
        json.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}),
        encoding="utf-8",
    )
    assert run_cli(capsys, "--db", str(lab_path), "ingest", str(path))[0] == 0

    got = query(
        lab_path,
        "SELECT epoch(ts), labels['le'], value, labels['temporality'] FROM metrics "
        "WHERE name = 'lat_bucket' ORDER BY ts, value, labels['le']",
    )
    # each point: its zero bucket (le 0), its one bucket's lower bound (2^offset) holding
    # no observation more, the bucket itself, and +Inf, counted on their own
    assert got == [
        (1_700_000_010.0, "0", 0.0, "delta"),
        (1_700_000_010.0, "1", 0.0, "delta"),
        (1_700_000_010.0, "+Inf", 10.0, "delta"),
        (1_700_000_010.0, "2", 10.0, "delta"),
        (1_700_000_020.0, "0", 0.0, "delta"),
        (1_700_000_020.0, "8", 0.0, "delta"),
        (1_700_000_020.0, "+Inf", 10.0, "delta"),
        (1_700_000_020.0, "16", 10.0, "delta"),
    ]
    code, _, err = run_cli(capsys, "--db", str(lab_path), "metrics", "lat_count", "--rate")
    assert code == 2
    assert "'lat_count' is a delta series" in err


@pytest.mark.parametrize(
    ("scale", "offset", "median"),
    [
        # base 16: one observation in (16, 256]; Prometheus interpolates the median
        # halfway between the bucket's bounds: 16 + 240 / 2
        (-2, 1, 136.0),
        # base 2**(2**-20), offset 0: the bucket (1, 1.00000066...]: its middle
        (20, 0, (1 + 2 ** (2**-20)) / 2),
    ],
)
def test_a_quantile_in_the_lowest_exponential_bucket_lies_between_its_bounds(
    lab_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    scale: int,
    offset: int,
    median: float,
) -> None:
    point = {
        "timeUnixNano": str(1_700_000_000 * 10**9),
        "count": "1",
        "scale": scale,
        "zeroCount": "0",
        "positive": {"offset": offset, "bucketCounts": ["1"]},
    }
    metric = {
        "name": "eh",
        "exponentialHistogram": {"aggregationTemporality": 2, "dataPoints": [point]},
    }
    path = tmp_path / "eh.json"
    path.write_text(
        json.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}),
        encoding="utf-8",
    )
    assert run_cli(capsys, "--db", str(lab_path), "ingest", str(path))[0] == 0

    code, out, err = run_cli(
        capsys,
        "--db",
        str(lab_path),
        "sql",
        "histogram_quantile",
        "--param",
        "metric=eh",
        "--param",
        "q=0.5",
        "--format",
        "json",
    )
    assert code == 0, err
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["quantile"] == pytest.approx(median, rel=1e-12)


def test_a_counter_whose_start_time_moves_on_restarted(
    lab_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cumulative counter 100, 150 since an hour before; then 200, 260 since a start
    30 s after the 150: the process restarted and counted 200 anew. Its increase over
    the four points is 50 + 200 + 60 = 310 (it had read 200 as +50: 160)."""
    t0 = 1_700_000_000

    def point(seconds: int, start: int, value: int) -> dict[str, object]:
        return {
            "timeUnixNano": str((t0 + seconds) * 10**9),
            "startTimeUnixNano": str((t0 + start) * 10**9),
            "asInt": str(value),
        }

    metric = {
        "name": "cum",
        "sum": {
            "isMonotonic": True,
            "aggregationTemporality": 2,
            "dataPoints": [
                point(0, -3600, 100),
                point(60, -3600, 150),
                point(120, 90, 200),
                point(180, 90, 260),
            ],
        },
    }
    path = tmp_path / "cum.json"
    path.write_text(
        json.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}),
        encoding="utf-8",
    )
    assert run_cli(capsys, "--db", str(lab_path), "ingest", str(path))[0] == 0

    # the restart's zero, at its start time
    assert query(lab_path, "SELECT epoch(ts), value FROM metrics ORDER BY ts") == [
        (t0 + 0.0, 100.0),
        (t0 + 60.0, 150.0),
        (t0 + 90.0, 0.0),
        (t0 + 120.0, 200.0),
        (t0 + 180.0, 260.0),
    ]
    code, out, err = run_cli(
        capsys, "--db", str(lab_path), "sql", "metric_rate", "-p", "metric=cum", "--format", "json"
    )
    assert code == 0, err
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["observed_increase"] == 310.0
