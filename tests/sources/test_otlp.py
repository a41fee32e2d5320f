"""OTLP/JSON: telling the format, and staging spans, log records and metric data points.

Expected values come from outside the reader: the real requests of
``otlp-proto-examples`` are walked here with ``json.load`` and a few lines of
plain code, the small requests below are written by hand, an enum's name is
taken from the OTLP specification (kind 2 is a server span, severity 9-12 is
info, temporality 1 is delta), and a bad value's line is found by looking
for its text in the file.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dvlab.errors import BadInputError
from dvlab.sources import otlp, telemetry
from tests.conftest import real_sample

EXAMPLES = Path("otlp-proto-examples")
T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z in nanoseconds
T0_UTC = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)

# --------------------------------------------------------------------------- helpers


Staged = dict[str, list[dict[str, Any]]]


def stage_path(
    con: duckdb.DuckDBPyConnection, path: Path, *, src: int = 3, **given: Any
) -> tuple[Staged, list[tuple[int, str]]]:
    """Stage ``path``: (rows of each kind as dicts, in line order; rejects as (line, reason))."""
    source = telemetry.Source(path=path, src=src, name=str(path), **given)
    made = otlp.READERS[0].stage(con, source)
    found: Staged = {}
    for staged in made:
        assert staged.table == telemetry.table_name(src, staged.kind)
        cursor = con.execute(f"SELECT * FROM {staged.table} ORDER BY line")
        names = [d[0] for d in cursor.description]
        found[staged.kind] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        assert len(found[staged.kind]) == staged.rows
    rejects = con.execute(
        "SELECT line, reason FROM stage_rejects WHERE src = ? ORDER BY line, reason", [src]
    ).fetchall()
    assert sum(s.rejects for s in made) == len(rejects)
    return found, rejects


def stage_text(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    text: str,
    name: str = "otlp.json",
    **given: Any,
) -> tuple[Staged, list[tuple[int, str]]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return stage_path(con, path, **given)


def line_of(text: str, needle: str) -> int:
    """The line (from 1) of the one line of ``text`` that holds ``needle``."""
    found = [n for n, line in enumerate(text.split("\n"), start=1) if needle in line]
    assert len(found) == 1, f"{needle!r} is on lines {found}"
    return found[0]


def attr(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "value": value}


def resource(**attrs: str) -> dict[str, Any]:
    return {"attributes": [attr(k, {"stringValue": v}) for k, v in attrs.items()]}


#: a request's key -> the keys of its scope lists and of the records in a scope, as OTLP names them
REQUEST_KEYS = {
    "resourceSpans": ("scopeSpans", "spans"),
    "resourceLogs": ("scopeLogs", "logRecords"),
    "resourceMetrics": ("scopeMetrics", "metrics"),
}


def request(signal: str, records: tuple[Any, ...], res: dict[str, Any] | None) -> dict[str, Any]:
    """A request of one resource (service "api" unless ``res``) and one scope "lib" 2."""
    scopes, key = REQUEST_KEYS[signal]
    scope = {"scope": {"name": "lib", "version": "2"}, key: list(records)}
    entry = {"resource": resource(**{"service.name": "api"}) if res is None else res}
    return {signal: [{**entry, scopes: [scope]}]}


#: the labels every metric point of :func:`request` takes from its scope
LIB = {"otel.scope.name": "lib", "otel.scope.version": "2"}


def traces(*spans: dict[str, Any], res: dict[str, Any] | None = None) -> dict[str, Any]:
    return request("resourceSpans", spans, res)


def logs(*records: dict[str, Any], res: dict[str, Any] | None = None) -> dict[str, Any]:
    return request("resourceLogs", records, res)


def metrics(*items: dict[str, Any], res: dict[str, Any] | None = None) -> dict[str, Any]:
    return request("resourceMetrics", items, res)


def span(n: int, **fields: Any) -> dict[str, Any]:
    """A well-formed span number ``n``: 1 ms long, starting ``n`` seconds after T0."""
    return {
        "traceId": f"{n:032x}",
        "spanId": f"{n:016x}",
        "name": f"op{n}",
        "startTimeUnixNano": str(T0 + n * 10**9),
        "endTimeUnixNano": str(T0 + n * 10**9 + 10**6),
        **fields,
    }


def pretty(request: dict[str, Any]) -> str:
    return json.dumps(request, indent=2) + "\n"


def by_le(rows: list[dict[str, Any]], name: str) -> list[tuple[str, float]]:
    return [(r["labels"]["le"], r["value"]) for r in rows if r["name"] == name]


def utc_of_nanos(nanos: int) -> datetime:
    seconds, rest = divmod(nanos, 10**9)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest // 1000)


# --------------------------------------------------------------------------- telling the format


def test_sniff_takes_a_request_pretty_or_one_a_line() -> None:
    sniff = otlp.READERS[0].sniff
    assert sniff(pretty(traces(span(1))).encode())
    assert sniff(b'\xef\xbb\xbf{"resourceLogs":[]}\n')
    assert sniff(b'{"resourceMetrics": []}\n{"resourceSpans": []}\n')
    # a damaged first line: the next line still tells the file exporter's file
    assert sniff(b'{"resourceSpans": [\n{"resourceLogs": []}\n')


@pytest.mark.parametrize(
    "head",
    [
        b'{"time": "2026-01-01T00:00:00Z", "level": "info", "msg": "resourceSpans"}\n',
        b'{"specversion": "1.0", "id": "e1", "type": "t", "data": {"resourceSpans": []}}\n',
        b'{"stream": "EV", "seq": 1, "subject": "a", "data": {"resourceLogs": []}}\n',
        b'{"server_id": "N1", "now": "2026-01-01T00:00:00Z", "mem": 1, "cpu": 1}\n',
        b"resourceSpans: []\n",
        b'[{"resourceSpans": []}]\n',
    ],
)
def test_sniff_leaves_other_json_to_other_readers(head: bytes) -> None:
    assert not otlp.READERS[0].sniff(head)


def test_the_reader_is_registered_by_its_format() -> None:
    assert telemetry.by_format("otlp-json") is otlp.READERS[0]
    assert telemetry.sniff(b'{"resourceSpans": []}') is otlp.READERS[0]


# --------------------------------------------------------------------------- real requests


def real(real_data: Path, name: str) -> Path:
    return real_sample(real_data, Path(EXAMPLES) / name)


def stage_real(
    con: duckdb.DuckDBPyConnection, path: Path, signal: str
) -> tuple[list[dict[str, Any]], Staged]:
    """Stage a real request, which must give no reject: (its records of ``signal``, walked
    from the raw JSON resource by resource and scope by scope; the rows staged)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    scopes, key = REQUEST_KEYS[signal]
    records = [r for e in raw.get(signal, []) for s in e.get(scopes, []) for r in s.get(key, [])]
    found, rejects = stage_path(con, path)
    assert rejects == []
    return records, found


@pytest.mark.realdata
def test_real_trace_every_span_with_its_ids_and_times(
    real_data: Path, con: duckdb.DuckDBPyConnection
) -> None:
    path = real(real_data, "trace.json")
    expected, found = stage_real(con, path, "resourceSpans")
    assert len(found["spans"]) == len(expected) == 1
    row, want = found["spans"][0], expected[0]
    assert row["trace_id"] == want["traceId"].lower() == "5b8efff798038103d269b633813fc60c"
    assert row["span_id"] == want["spanId"].lower()
    assert row["parent_span_id"] == want["parentSpanId"].lower()
    assert row["name"] == want["name"]
    assert row["kind"] == "server"  # SPAN_KIND_SERVER is 2
    assert row["status"] == "unset"  # no status
    start, end = int(want["startTimeUnixNano"]), int(want["endTimeUnixNano"])
    assert row["start_time"] == utc_of_nanos(start)
    assert row["end_time"] == utc_of_nanos(end)
    assert row["duration_ms"] == (end - start) / 1e6 == 1000.0
    assert row["service"] == "my.service"
    assert json.loads(row["attributes"])["my.span.attr"] == "some value"
    assert json.loads(row["attributes"])["otel.scope.name"] == "my.library"
    # the span object starts on the line after "spans": [
    text = path.read_text(encoding="utf-8")
    assert row["line"] == line_of(text, '"spans"') + 1
    assert found["logs"] == found["metrics"] == found["families"] == []


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["logs.json", "events.json"])
def test_real_log_records_with_time_severity_and_body(
    real_data: Path, con: duckdb.DuckDBPyConnection, name: str
) -> None:
    expected, found = stage_real(con, real(real_data, name), "resourceLogs")
    assert len(found["logs"]) == len(expected) == 1
    row, want = found["logs"][0], expected[0]
    assert row["ts"] == utc_of_nanos(int(want["timeUnixNano"]))
    assert 9 <= want["severityNumber"] <= 12  # INFO to INFO4
    assert row["level"] == "info"
    assert row["level_raw"] == want["severityText"]
    assert row["service"] == "my.service"
    body = want["body"]
    if "stringValue" in body:
        assert row["message"] == body["stringValue"]
    else:  # a kvlist body becomes a JSON object of its keys
        pairs = body["kvlistValue"]["values"]
        assert list(json.loads(row["message"])) == [p["key"] for p in pairs]
    attributes = json.loads(row["attributes"])
    if "traceId" in want:
        assert row["trace_id"] == want["traceId"].lower()
        assert attributes["span_id"] == want["spanId"].lower()
    else:
        assert row["trace_id"] is None
    if "eventName" in want:
        assert attributes["event.name"] == want["eventName"]
    for pair in want["attributes"]:
        assert pair["key"] in attributes


@pytest.mark.realdata
def test_real_log_attribute_values_are_the_json_they_hold(
    real_data: Path, con: duckdb.DuckDBPyConnection
) -> None:
    found, _ = stage_path(con, real(real_data, "logs.json"))
    attributes = json.loads(found["logs"][0]["attributes"])
    # as logs.json writes them: a string, a bool, an int64 as text, a double, an array, a map
    assert attributes["string.attribute"] == "some string"
    assert attributes["boolean.attribute"] is True
    assert attributes["int.attribute"] == 10
    assert attributes["double.attribute"] == 637.704
    assert attributes["array.attribute"] == ["many", "values"]
    assert attributes["map.attribute"] == {"some.map.key": "some value"}


@pytest.mark.realdata
def test_real_metrics_every_data_point_and_its_buckets(
    real_data: Path, con: duckdb.DuckDBPyConnection
) -> None:
    described, found = stage_real(con, real(real_data, "metrics.json"), "resourceMetrics")
    rows = found["metrics"]

    points = {
        m["name"]: m[kind]["dataPoints"]
        for m in described
        for kind in ("gauge", "sum", "histogram", "exponentialHistogram", "summary")
        if kind in m
    }
    # one data point is one (family, line) in the rows
    assert len({(r["family"], r["line"]) for r in rows}) == sum(len(p) for p in points.values())
    assert [(f["family"], f["help"], f["unit"]) for f in found["families"]] == [
        (m["name"], m["description"], m["unit"]) for m in described
    ]

    # the sums and histograms are DELTA (aggregationTemporality 1): each is stored as the
    # running total of its series, which with one point a series is that point's own count
    delta = [
        m["name"]
        for m in described
        if any(
            k.get("aggregationTemporality") == 1
            for k in (m.get("sum"), m.get("histogram"), m.get("exponentialHistogram"))
            if k
        )
    ]
    assert delta == ["my.counter", "my.histogram", "my.exponential.histogram"]
    assert all(len(points[name]) == 1 for name in delta)
    # so the counter's and the classic histogram's rows carry no temporality label: plain
    # counters and histograms. The exponential histogram is kept as it is, labelled delta
    # (its buckets move with its offset and scale, so none can be added up over points)
    labelled = {r["name"] for r in rows if "temporality" in r["labels"]}
    assert labelled == {f"my.exponential.histogram_{s}" for s in ("bucket", "sum", "count")}
    assert {r["labels"]["temporality"] for r in rows if r["name"] in labelled} == {"delta"}

    counter = next(r for r in rows if r["name"] == "my.counter")
    assert counter["value"] == points["my.counter"][0]["asDouble"]
    assert counter["ts"] == utc_of_nanos(int(points["my.counter"][0]["timeUnixNano"]))
    assert counter["type"] == "counter"
    # the point's attribute, and its scope's name and version
    scope = json.loads(real(real_data, "metrics.json").read_text())["resourceMetrics"][0][
        "scopeMetrics"
    ][0]["scope"]
    assert counter["labels"] == {
        "my.counter.attr": "some value",
        "otel.scope.name": scope["name"],
        "otel.scope.version": scope["version"],
    }

    point = points["my.histogram"][0]
    bounds = [str(b) for b in point["explicitBounds"]] + ["+Inf"]
    cumulative = list(accumulate(int(c) for c in point["bucketCounts"]))
    assert by_le(rows, "my.histogram_bucket") == list(zip(bounds, cumulative, strict=True))
    totals = {r["name"]: r["value"] for r in rows if r["family"] == "my.histogram"}
    assert totals["my.histogram_count"] == int(point["count"])
    assert totals["my.histogram_sum"] == point["sum"]
    assert {r["type"] for r in rows if r["family"] == "my.histogram"} == {"histogram"}

    point = points["my.exponential.histogram"][0]
    base = 2**2 ** -point["scale"]
    positive = point["positive"]
    expected = [(str(point["zeroThreshold"]), int(point["zeroCount"]))]
    lowest = base ** positive["offset"]
    if lowest > point["zeroThreshold"]:
        # the lowest bucket's lower bound, holding no observation more
        expected.append((str(lowest), int(point["zeroCount"])))
    for i, count in enumerate(positive["bucketCounts"]):
        upper = base ** (positive["offset"] + i + 1)
        expected.append((str(upper), expected[-1][1] + int(count)))
    expected.append(("+Inf", expected[-1][1]))
    assert by_le(rows, "my.exponential.histogram_bucket") == expected
    assert expected[-1][1] == int(point["count"])


# --------------------------------------------------------------------------- spans


def test_span_kinds_status_and_times(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    request = traces(
        span(1, kind="SPAN_KIND_CLIENT", status={"code": 2, "message": "boom"}, parentSpanId=""),
        span(
            2,
            kind=4,
            status={"code": "STATUS_CODE_OK"},
            startTimeUnixNano=T0 + 2_999,  # a JSON number; 2.999 µs, truncated
            endTimeUnixNano=str(T0 + 1_501_000),
        ),
        span(3, kind=0, parentSpanId="00000000000000AB", endTimeUnixNano=None),
    )
    found, rejects = stage_text(con, tmp_path, pretty(request))
    assert rejects == []
    rows = found["spans"]
    assert [(r["kind"], r["status"], r["status_message"]) for r in rows] == [
        ("client", "error", "boom"),
        ("producer", "ok", None),
        ("unspecified", "unset", None),
    ]
    assert [r["parent_span_id"] for r in rows] == [None, None, "00000000000000ab"]
    assert rows[1]["start_time"] == T0_UTC.replace(microsecond=2)
    assert rows[1]["end_time"] == T0_UTC.replace(microsecond=1501)
    assert rows[1]["duration_ms"] == 1.498001  # (1_501_000 - 2_999) ns, not from microseconds
    assert rows[2]["end_time"] is None and rows[2]["duration_ms"] is None


def test_span_events_links_and_site(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    event = {
        "timeUnixNano": str(T0 + 5),
        "name": "retry",
        "attributes": [attr("attempt", {"intValue": "2"})],
    }
    link = {"traceId": "AB" * 16, "spanId": "CD" * 8, "traceState": "k=v"}
    res = resource(**{"service.name": "api", "cloud.region": "eu-north", "site": "osl1"})
    found, _ = stage_text(
        con, tmp_path, pretty(traces(span(1, events=[event], links=[link]), res=res))
    )
    row = found["spans"][0]
    assert json.loads(row["events"]) == [
        {"time": "2023-11-14T22:13:20.000000005Z", "name": "retry", "attributes": {"attempt": 2}}
    ]
    assert json.loads(row["links"]) == [
        {"trace_id": "ab" * 16, "span_id": "cd" * 8, "trace_state": "k=v", "attributes": {}}
    ]
    assert row["site"] == "osl1"  # `site` before cloud.region


def test_site_from_the_zone_else_the_region_else_the_option(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    request = {
        "resourceSpans": [
            {
                **traces(
                    span(1),
                    res=resource(**{"cloud.region": "r1", "cloud.availability_zone": "z1"}),
                )["resourceSpans"][0]
            },
            {**traces(span(2), res=resource(**{"cloud.region": "r2"}))["resourceSpans"][0]},
            {**traces(span(3), res=resource(**{"dataverket.site": "sto2"}))["resourceSpans"][0]},
            {**traces(span(4), res={})["resourceSpans"][0]},
        ]
    }
    found, _ = stage_text(con, tmp_path, pretty(request), site="given", service="svc")
    assert [(r["site"], r["service"]) for r in found["spans"]] == [
        ("z1", "svc"),
        ("r2", "svc"),
        ("sto2", "svc"),
        ("given", "svc"),
    ]


# --------------------------------------------------------------------------- log records


@pytest.mark.parametrize(
    ("number", "text", "level", "level_raw"),
    [
        (1, None, "trace", "1"),
        (4, None, "trace", "4"),
        (5, "D", "debug", "D"),
        (12, "INFO4", "info", "INFO4"),
        (13, None, "warn", "13"),
        (17, "Err", "error", "Err"),
        (21, None, "fatal", "21"),
        (24, "FATAL4", "fatal", "FATAL4"),
        ("SEVERITY_NUMBER_WARN2", None, "warn", "14"),
        (None, "WARNING", "warn", "WARNING"),  # no number: the text, through the level map
        (0, "no such level", None, "no such level"),
        (None, None, None, None),
    ],
)
def test_log_level_from_the_number_else_the_text(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    number: int | str | None,
    text: str | None,
    level: str | None,
    level_raw: str | None,
) -> None:
    record: dict[str, Any] = {"timeUnixNano": str(T0), "body": {"stringValue": "m"}}
    if number is not None:
        record["severityNumber"] = number
    if text is not None:
        record["severityText"] = text
    found, rejects = stage_text(con, tmp_path, pretty(logs(record)))
    assert rejects == []
    assert (found["logs"][0]["level"], found["logs"][0]["level_raw"]) == (level, level_raw)


def test_log_time_body_host_and_ids(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    records = [
        {  # no timeUnixNano: the observed time
            "observedTimeUnixNano": str(T0 + 2_000),
            "body": {"arrayValue": {"values": [{"intValue": 1}, {"doubleValue": "NaN"}]}},
            "attributes": [
                attr("correlationId", {"stringValue": "c-1"}),
                attr("task_id", {"intValue": "42"}),
                attr("span_id", {"stringValue": "mine"}),
            ],
            "spanId": "00000000000000FF",
            "traceId": "",
        },
        {"timeUnixNano": "0", "observedTimeUnixNano": str(T0 + 3_000)},
    ]
    res = resource(**{"service.name": "api", "host.name": "api-1.osl1"})
    found, rejects = stage_text(con, tmp_path, pretty(logs(*records, res=res)))
    assert rejects == []
    first, second = found["logs"]
    assert first["ts"] == T0_UTC.replace(microsecond=2)
    assert second["ts"] == T0_UTC.replace(microsecond=3)
    assert json.loads(first["message"]) == [1, "NaN"]
    assert second["message"] is None
    assert (first["host"], first["service"]) == ("api-1.osl1", "api")
    assert (first["correlation_id"], first["task_id"], first["causation_id"]) == (
        "c-1",
        "42",
        None,
    )
    assert first["trace_id"] is None
    attributes = json.loads(first["attributes"])
    assert "correlationId" not in attributes and "task_id" not in attributes
    assert attributes["span_id"] == "00000000000000ff"  # the record's spanId wins
    assert attributes["otel.scope.name"] == "lib"


def test_any_value_kinds() -> None:
    assert otlp.any_value({"stringValue": "s"}) == "s"
    assert otlp.any_value({"boolValue": False}) is False
    assert otlp.any_value({"intValue": "-9223372036854775808"}) == -(2**63)
    assert otlp.any_value({"intValue": 7}) == 7
    assert otlp.any_value({"doubleValue": 0.5}) == 0.5
    assert otlp.any_value({"doubleValue": "Infinity"}) == "Infinity"
    assert otlp.any_value({"bytesValue": "AAE="}) == "AAE="
    assert otlp.any_value({}) is None
    assert otlp.any_value({"arrayValue": {}}) == []
    nested = {
        "kvlistValue": {"values": [attr("a", {"arrayValue": {"values": [{"intValue": "1"}]}})]}
    }
    assert otlp.any_value(nested) == {"a": [1]}


# --------------------------------------------------------------------------- metrics


def gauge_point(value: Any, **fields: Any) -> dict[str, Any]:
    return {"timeUnixNano": str(T0), "asDouble": value, **fields}


def test_a_points_labels_tell_its_sender(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """Two hosts of one service sending one gauge at one time are two series: the
    resource's attributes but service and site, and the scope's name and version, are
    labels; the point's own attribute wins on the same key."""

    def sender(host: str, value: float, **more: str) -> dict[str, Any]:
        res = resource(
            **{"service.name": "api", "cloud.availability_zone": "osl1-a", "host.name": host},
            **more,
        )
        return metrics({"name": "cpu", "gauge": {"dataPoints": [gauge_point(value)]}}, res=res)[
            "resourceMetrics"
        ][0]

    own = sender("h2", 0.9, role="db")
    own["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"][0]["attributes"] = [
        attr("role", {"stringValue": "primary"})
    ]
    request = {"resourceMetrics": [sender("h1", 0.1), own]}
    found, rejects = stage_text(con, tmp_path, pretty(request))

    assert rejects == []
    assert [(r["service"], r["site"], r["labels"], r["value"]) for r in found["metrics"]] == [
        ("api", "osl1-a", {**LIB, "host.name": "h1"}, 0.1),
        ("api", "osl1-a", {**LIB, "host.name": "h2", "role": "primary"}, 0.9),
    ]


def test_sums_by_monotonicity_and_temporality(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    points = [
        {"timeUnixNano": str(T0), "asInt": "7", "attributes": [attr("code", {"intValue": "200"})]}
    ]
    request = metrics(
        {
            "name": "c",
            "sum": {"isMonotonic": True, "aggregationTemporality": 2, "dataPoints": points},
        },
        {
            "name": "d",
            "sum": {
                "isMonotonic": True,
                "aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
                "dataPoints": points,
            },
        },
        {"name": "u", "sum": {"dataPoints": points}},
        {"name": "g", "gauge": {"dataPoints": [gauge_point(1.5), gauge_point(2, flags=1)]}},
        {"name": "n", "sum": {"aggregationTemporality": 1, "dataPoints": points + points}},
        {"name": "m", "sum": {"isMonotonic": True, "dataPoints": points + points}},
    )
    found, rejects = stage_text(con, tmp_path, pretty(request))
    assert rejects == []
    assert [(r["name"], r["type"], r["labels"], r["value"]) for r in found["metrics"]] == [
        ("c", "counter", {**LIB, "code": "200"}, 7.0),
        # a delta counter is stored as its running total, a plain counter (one point: 7)
        ("d", "counter", {**LIB, "code": "200"}, 7.0),
        # neither monotonic nor cumulative said: a gauge, its temporality unspecified
        ("u", "gauge", {**LIB, "code": "200", "temporality": "unspecified"}, 7.0),
        ("g", "gauge", LIB, 1.5),  # the point flagged "no recorded value" gives no row
        # a delta sum that is not monotonic is a gauge: its points are kept as they are
        ("n", "gauge", {**LIB, "code": "200", "temporality": "delta"}, 7.0),
        ("n", "gauge", {**LIB, "code": "200", "temporality": "delta"}, 7.0),
        # a monotonic sum of unspecified temporality: kept as it is, and labelled so
        ("m", "counter", {**LIB, "code": "200", "temporality": "unspecified"}, 7.0),
        ("m", "counter", {**LIB, "code": "200", "temporality": "unspecified"}, 7.0),
    ]
    assert [(f["family"], f["type"]) for f in found["families"]] == [
        ("c", "counter"),
        ("d", "counter"),
        ("u", "gauge"),
        ("g", "gauge"),
        ("n", "gauge"),
        ("m", "counter"),
    ]


def delta_point(second: int, value: float, **attrs: str) -> dict[str, Any]:
    return {
        "timeUnixNano": str(T0 + second * 10**9),
        "asDouble": value,
        "attributes": [attr(k, {"stringValue": v}) for k, v in attrs.items()],
    }


def delta_sum(name: str, *points: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "sum": {"isMonotonic": True, "aggregationTemporality": 1, "dataPoints": list(points)},
    }


def test_a_delta_counter_is_stored_as_its_running_total(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # series code=200: 5 at 10 s, 3 at 20 s, 7 at 30 s, written out of time order;
    # series code=500 (1 at 20 s, 2 at 30 s) and the same series in another service are
    # series of their own
    first = metrics(
        delta_sum(
            "req",
            delta_point(30, 7, code="200"),
            delta_point(10, 5, code="200"),
            delta_point(20, 1, code="500"),
            delta_point(20, 3, code="200"),
            delta_point(30, 2, code="500"),
        )
    )
    other = metrics(
        delta_sum("req", delta_point(10, 100, code="200")), res=resource(**{"service.name": "web"})
    )
    text = json.dumps(first) + "\n" + json.dumps(other) + "\n"
    found, rejects = stage_text(con, tmp_path, text, name="export.jsonl")
    assert rejects == []
    rows = sorted(
        (r["service"], r["labels"]["code"], r["ts"], r["value"], r["type"])
        for r in found["metrics"]
    )
    assert rows == [
        ("api", "200", utc_of_nanos(T0 + 10 * 10**9), 5.0, "counter"),  # 5
        ("api", "200", utc_of_nanos(T0 + 20 * 10**9), 8.0, "counter"),  # 5 + 3
        ("api", "200", utc_of_nanos(T0 + 30 * 10**9), 15.0, "counter"),  # 5 + 3 + 7
        ("api", "500", utc_of_nanos(T0 + 20 * 10**9), 1.0, "counter"),
        ("api", "500", utc_of_nanos(T0 + 30 * 10**9), 3.0, "counter"),  # 1 + 2
        ("web", "200", utc_of_nanos(T0 + 10 * 10**9), 100.0, "counter"),
    ]
    assert all(set(r["labels"]) == {*LIB, "code"} for r in found["metrics"])


def test_delta_points_at_one_time_add_up_in_file_order(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # two requests a line, each with a point of the series at the same time: line 1's
    # point comes first (4), line 2's after it (4 + 6)
    lines = [json.dumps(metrics(delta_sum("req", delta_point(10, v)))) for v in (4, 6)]
    found, _ = stage_text(con, tmp_path, "\n".join(lines) + "\n", name="export.jsonl")
    assert [(r["line"], r["value"]) for r in found["metrics"]] == [(1, 4.0), (2, 10.0)]


def test_a_delta_histogram_adds_up_each_bucket(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    def point(second: int, counts: list[int], total: float) -> dict[str, Any]:
        return {
            "timeUnixNano": str(T0 + second * 10**9),
            "count": str(sum(counts)),
            "sum": total,
            "bucketCounts": [str(c) for c in counts],
            "explicitBounds": [1, 5],
        }

    request = metrics(
        {
            "name": "lat",
            "histogram": {
                "aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
                "dataPoints": [point(10, [1, 2, 0], 2.5), point(20, [0, 1, 3], 9.5)],
            },
        }
    )
    found, rejects = stage_text(con, tmp_path, pretty(request))
    assert rejects == []
    rows = found["metrics"]
    # at 10 s: up to 1: 1, up to 5: 1+2, all: 3; at 20 s those plus 0, 0+1, 0+1+3
    assert by_le(rows, "lat_bucket") == [
        ("1", 1.0),
        ("5", 3.0),
        ("+Inf", 3.0),
        ("1", 1.0),
        ("5", 4.0),
        ("+Inf", 7.0),
    ]
    assert [(r["name"], r["value"]) for r in rows if r["name"] != "lat_bucket"] == [
        ("lat_sum", 2.5),
        ("lat_count", 3.0),
        ("lat_sum", 12.0),  # 2.5 + 9.5
        ("lat_count", 7.0),  # 3 + 4
    ]
    assert {(r["type"], "temporality" in r["labels"]) for r in rows} == {("histogram", False)}


def test_exponential_histogram_bounds_worked_out_by_hand(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # scale 1: base = 2 ** (2 ** -1) = sqrt(2); bucket i holds magnitudes (sqrt2**i, sqrt2**(i+1)]
    point = {
        "timeUnixNano": str(T0),
        "scale": 1,
        "count": "12",
        "sum": 3.5,
        "zeroThreshold": 0.25,
        "zeroCount": "2",
        "positive": {"offset": -1, "bucketCounts": ["1", "2", "3"]},
        "negative": {"offset": 0, "bucketCounts": ["4"]},
    }
    request = metrics(
        {"name": "h", "exponentialHistogram": {"aggregationTemporality": 2, "dataPoints": [point]}}
    )
    found, rejects = stage_text(con, tmp_path, pretty(request))
    assert rejects == []
    rows = by_le(found["metrics"], "h_bucket")
    # negative index 0: values in [-sqrt2, -1), le -1, 4 of them, its lower bound -sqrt2
    # before it with none; the zero bucket up to 0.25 (2 more); positive -1: (1/sqrt2, 1]
    # le 1, its lower bound 1/sqrt2 before it with no more; 0: (1, sqrt2] le sqrt2;
    # 1: (sqrt2, 2] le 2
    expected = [
        (-math.sqrt(2), 0),
        (-1.0, 4),
        (0.25, 6),
        (1 / math.sqrt(2), 6),
        (1.0, 7),
        (math.sqrt(2), 9),
        (2.0, 12),
        (math.inf, 12),
    ]
    assert len(rows) == len(expected)
    for (le, count), (bound, want) in zip(rows, expected, strict=True):
        assert float(le) == pytest.approx(bound, rel=1e-15)
        assert count == want
    assert [le for le, _ in rows][1:5] == ["-1", "0.25", "0.7071067811865476", "1"]
    totals = {r["name"]: r["value"] for r in found["metrics"] if r["name"] != "h_bucket"}
    assert totals == {"h_sum": 3.5, "h_count": 12.0}
    assert {r["type"] for r in found["metrics"]} == {"histogram"}


@pytest.mark.parametrize(
    ("scale", "offset", "bounds"),
    [
        (0, 0, ["1", "2", "4"]),  # base 2: buckets (1, 2], (2, 4]
        (-1, 1, ["4", "16", "64"]),  # base 4: (4, 16], (16, 64]
        (-2, -1, ["0.0625", "1", "16"]),  # base 16: (1/16, 1], (1, 16]
    ],
)
def test_exponential_bounds_at_whole_bases(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, scale: int, offset: int, bounds: list[str]
) -> None:
    point = {
        "timeUnixNano": str(T0),
        "scale": scale,
        "count": 2,
        "positive": {"offset": offset, "bucketCounts": [1, 1]},
    }
    request = metrics({"name": "h", "exponentialHistogram": {"dataPoints": [point]}})
    found, _ = stage_text(con, tmp_path, pretty(request))
    # the zero bucket, the first bucket's lower bound (nothing more below it), two buckets
    assert by_le(found["metrics"], "h_bucket") == [
        ("0", 0),
        (bounds[0], 0),
        (bounds[1], 1),
        (bounds[2], 2),
        ("+Inf", 2),
    ]


def test_histogram_without_buckets_and_summary(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    summary_point = {
        "timeUnixNano": str(T0),
        "count": "10",
        "sum": 4.5,
        "quantileValues": [{"quantile": 0.5, "value": 0.3}, {"quantile": 0.99, "value": 1.2}],
    }
    request = metrics(
        {"name": "h", "histogram": {"dataPoints": [{"timeUnixNano": str(T0), "count": "3"}]}},
        {"name": "s", "summary": {"dataPoints": [summary_point]}},
    )
    found, rejects = stage_text(con, tmp_path, pretty(request))
    assert rejects == []
    rows = [(r["name"], r["labels"], r["value"], r["type"]) for r in found["metrics"]]
    assert rows == [
        ("h_bucket", {**LIB, "le": "+Inf", "temporality": "unspecified"}, 3.0, "histogram"),
        ("h_count", {**LIB, "temporality": "unspecified"}, 3.0, "histogram"),
        ("s", {**LIB, "quantile": "0.5"}, 0.3, "summary"),
        ("s", {**LIB, "quantile": "0.99"}, 1.2, "summary"),
        ("s_sum", LIB, 4.5, "summary"),
        ("s_count", LIB, 10.0, "summary"),
    ]


# --------------------------------------------------------------------------- the file exporter


@pytest.mark.realdata
def test_file_exporter_lines_load_as_the_requests_do(
    real_data: Path, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    names = ["metrics.json", "trace.json", "logs.json", "events.json"]
    requests = [json.loads(real(real_data, n).read_text(encoding="utf-8")) for n in names]
    # the metrics again on a fifth line: the same families, named once, by the first line
    text = "".join(json.dumps(r) + "\n" for r in [*requests, requests[0]])
    found, rejects = stage_text(con, tmp_path, text, name="exporter.jsonl", src=90)
    assert rejects == []

    def content(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(repr(sorted((k, v) for k, v in r.items() if k != "line")) for r in rows)

    separately: Staged = {}
    for src, name in enumerate(names):
        alone, _ = stage_path(con, real(real_data, name), src=src)
        for kind, rows in alone.items():
            separately.setdefault(kind, []).extend(rows)
    once = [r for r in found["metrics"] if r["line"] == 1]
    assert content(once) == content(separately["metrics"])
    for kind in ("spans", "logs", "families"):
        assert content(found[kind]) == content(separately[kind]), kind
    # every row's line is its request's line: metrics on 1 and 5, the span on 2, logs on 3, 4
    assert {r["line"] for r in found["metrics"]} == {1, 5}
    assert len(found["metrics"]) == 2 * len(once)
    # the counter and the classic histogram are delta series added up: line 5's points add
    # to line 1's, at the same time; the gauge and the (delta, kept as it is) exponential
    # histogram repeat line 1's values
    first = {(r["name"], repr(r["labels"])): r["value"] for r in once}
    again = [r for r in found["metrics"] if r["line"] == 5]
    kept = ("my.gauge", "my.exponential.histogram")
    assert {(r["name"], repr(r["labels"])): r["value"] for r in again} == {
        key: value if key[0].startswith(kept) else 2 * value for key, value in first.items()
    }
    assert {r["line"] for r in found["families"]} == {1}
    assert [r["line"] for r in found["spans"]] == [2]
    assert [r["line"] for r in found["logs"]] == [3, 4]


def test_file_exporter_line_that_is_not_json_is_a_reject(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    lines = [
        json.dumps(traces(span(1))),
        '{"resourceLogs": [ {"resource": ',
        "",
        json.dumps({"time": "2026-01-01T00:00:00Z", "msg": "a log line"}),
        json.dumps(traces(span(2))),
    ]
    found, rejects = stage_text(con, tmp_path, "\n".join(lines) + "\n")
    assert [(r["line"], r["name"]) for r in found["spans"]] == [(1, "op1"), (5, "op2")]
    assert [line for line, _ in rejects] == [2, 4]
    # the line breaks off after "resource": at its 33rd character
    assert rejects[0][1] == "not JSON: Expecting value (column 33)"
    assert rejects[1][1].startswith(
        "not an OTLP export request: a JSON object with keys msg, time"
    )


def test_a_thousand_bad_lines_are_a_thousand_rejects_with_their_lines(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    bad = [f'{{"resourceSpans": [ "broken {n}' for n in range(1000)]
    text = json.dumps(traces(span(1))) + "\n" + "\n".join(bad) + "\n"
    found, rejects = stage_text(con, tmp_path, text, name="export.jsonl", src=7)
    assert [r["line"] for r in found["spans"]] == [1]
    assert len(rejects) == 1000
    stored = con.execute(
        "SELECT src, source, line, raw FROM stage_rejects WHERE src = 7 ORDER BY line"
    ).fetchall()
    # the bad lines are lines 2 to 1001 of the file, each kept as it was written
    assert stored == [
        (7, str(tmp_path / "export.jsonl"), n + 2, line) for n, line in enumerate(bad)
    ]


# --------------------------------------------------------------------------- bad input


def test_wrong_json_types_are_rejects_naming_path_and_line(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    request = {
        "resourceSpans": [
            {
                "resource": resource(**{"service.name": "api"}),
                "scopeSpans": [
                    {"spans": [span(1), span(2), span(3, startTimeUnixNano=True), span(4)]},
                    {"spans": {}},
                    {"spans": [span(5, traceId="XYZ"), span(6, spanId="abc"), 7]},
                    {"spans": [span(8, attributes=[attr("n", {"intValue": "ten"})])]},
                    {"spans": [span(9, endTimeUnixNano=str(T0))]},
                ],
            }
        ]
    }
    text = pretty(request)
    found, rejects = stage_text(con, tmp_path, text)
    assert [r["name"] for r in found["spans"]] == ["op1", "op2", "op4"]
    assert rejects == sorted(
        [
            (
                line_of(text, '"startTimeUnixNano": true'),
                "resourceSpans[0].scopeSpans[0].spans[2].startTimeUnixNano: true is not a time",
            ),
            (
                line_of(text, '"spans": {}'),
                "resourceSpans[0].scopeSpans[1].spans: {} is not a list",
            ),
            (
                line_of(text, '"XYZ"'),
                'resourceSpans[0].scopeSpans[2].spans[0].traceId: "XYZ" is not 32 hex digits',
            ),
            (
                line_of(text, '"abc"'),
                'resourceSpans[0].scopeSpans[2].spans[1].spanId: "abc" is not 16 hex digits',
            ),
            (
                _line_of_element(text),
                "resourceSpans[0].scopeSpans[2].spans[2]: 7 is not an object",
            ),
            (
                line_of(text, '"ten"'),
                "resourceSpans[0].scopeSpans[3].spans[0].attributes[0].value.intValue: "
                '"ten" is not an int64',
            ),
            (
                line_of(text, f'"endTimeUnixNano": "{T0}"'),
                "resourceSpans[0].scopeSpans[4].spans[0].endTimeUnixNano: "
                f"{T0} is before startTimeUnixNano {T0 + 9 * 10**9}",
            ),
        ]
    )


def _line_of_element(text: str) -> int:
    """The line of the bare ``7`` in the spans list (the only line that is just ``7``)."""
    found = [n for n, line in enumerate(text.split("\n"), start=1) if line.strip() == "7"]
    assert len(found) == 1
    return found[0]


def test_bad_log_record_and_data_points_leave_the_rest(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    good_log = {"timeUnixNano": str(T0), "body": {"stringValue": "kept"}}
    request = {
        **logs(good_log, {"timeUnixNano": True}, {"body": {"stringValue": "when?"}}),
        **metrics(
            {"name": "g", "gauge": {"dataPoints": [gauge_point(1), gauge_point("lots")]}},
            {
                "name": "h",
                "histogram": {
                    "dataPoints": [
                        {
                            "timeUnixNano": str(T0),
                            "count": "5",
                            "bucketCounts": ["1", "1"],
                            "explicitBounds": [1],
                        },
                        {"timeUnixNano": str(T0), "bucketCounts": ["1"], "explicitBounds": [1, 2]},
                    ]
                },
            },
            {"name": "x", "gauge": {"dataPoints": []}, "sum": {"dataPoints": []}},
        ),
    }
    text = pretty(request)
    found, rejects = stage_text(con, tmp_path, text)
    assert [r["message"] for r in found["logs"]] == ["kept"]
    assert [(r["name"], r["value"]) for r in found["metrics"]] == [("g", 1.0)]
    assert [f["family"] for f in found["families"]] == ["g", "h"]
    assert rejects == sorted(
        [
            (
                line_of(text, '"timeUnixNano": true'),
                "resourceLogs[0].scopeLogs[0].logRecords[1].timeUnixNano: true is not a time",
            ),
            (
                # the record's own line, two above its body's text: it names no time
                line_of(text, '"when?"') - 2,
                "resourceLogs[0].scopeLogs[0].logRecords[2]: no time: neither timeUnixNano "
                "nor observedTimeUnixNano",
            ),
            (
                line_of(text, '"lots"'),
                "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[1].asDouble: "
                '"lots" is not a number',
            ),
            (
                line_of(text, '"count": "5"'),
                "resourceMetrics[0].scopeMetrics[0].metrics[1].histogram.dataPoints[0].count: "
                "5, but the buckets hold 2",
            ),
            (
                _line_of_key(text, '"bucketCounts": [', 2),
                "resourceMetrics[0].scopeMetrics[0].metrics[1].histogram.dataPoints[1]"
                ".bucketCounts: 1 buckets for 2 explicitBounds (expected one more)",
            ),
            (
                line_of(text, '"name": "x"') - 1,
                "resourceMetrics[0].scopeMetrics[0].metrics[2]: a metric holds one of gauge, sum, "
                "histogram, exponentialHistogram, summary (it has gauge, sum)",
            ),
        ]
    )


def _line_of_key(text: str, needle: str, nth: int) -> int:
    """The line of the ``nth`` (from 1) line of ``text`` that holds ``needle``."""
    found = [n for n, line in enumerate(text.split("\n"), start=1) if needle in line]
    return found[nth - 1]


def test_a_bad_resource_or_request_part_rejects_what_it_holds(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    bad_resource = {"attributes": {"service.name": "api"}}
    request = {
        "resourceSpans": [
            traces(span(1), res=bad_resource)["resourceSpans"][0],
            traces(span(2))["resourceSpans"][0],
        ],
        "resourceLogs": {"oops": 1},
    }
    text = pretty(request)
    found, rejects = stage_text(con, tmp_path, text)
    assert [r["name"] for r in found["spans"]] == ["op2"]
    assert rejects == [
        (
            line_of(text, '"attributes": {'),
            'resourceSpans[0].resource.attributes: {"service.name": "api"} is not a list',
        ),
        (line_of(text, '"resourceLogs"'), 'resourceLogs: {"oops": 1} is not a list'),
    ]


def test_an_exponential_bound_beyond_a_double_is_a_reject(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # scale -10: base 2**1024, beyond a double from the first bucket on
    point = {"timeUnixNano": str(T0), "scale": -10, "count": 1, "positive": {"bucketCounts": [1]}}
    request = metrics({"name": "h", "exponentialHistogram": {"dataPoints": [point]}})
    text = pretty(request)
    found, rejects = stage_text(con, tmp_path, text)
    assert found["metrics"] == []
    assert rejects == [
        (
            line_of(text, '"timeUnixNano"') - 1,
            "resourceMetrics[0].scopeMetrics[0].metrics[0].exponentialHistogram.dataPoints[0]: "
            "a bucket's bound at scale -10 is beyond a double",
        )
    ]


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('{"traces": []}\n', "not an OTLP export request: a JSON object with keys traces", None),
        ("[1, 2]\n", "not an OTLP export request: [1, 2] is not a JSON object", None),
        ('{\n  "resourceSpans": [\n    {"resource": }\n  ]\n}\n', "not valid JSON", 3),
        (
            '{"level": "info", "msg": "a"}\n{"level": "warn", "msg": "b"}\n',
            "no line is an OTLP export request on its own; the first: not an OTLP export "
            "request: a JSON object with keys level, msg",
            1,
        ),
    ],
)
def test_a_file_that_is_not_otlp_fails_whole(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, text: str, message: str, line: int | None
) -> None:
    path = tmp_path / "not-otlp.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInputError, match=re.escape(message)) as caught:
        stage_path(con, path)
    assert caught.value.source == str(path)
    assert caught.value.line == line


def test_not_utf8_fails_whole_naming_the_line(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"resourceLogs": []}\n{"resourceLogs": [{"x": "\xe9"}]}\n')
    with pytest.raises(BadInputError, match="not UTF-8") as caught:
        stage_path(con, path)
    assert caught.value.line == 2


# --------------------------------------------------------------------------- no measurement

#: the reason a value of NaN or ±Inf is a reject, as the Prometheus reader words it
NOT_A_MEASUREMENT = "is not a measurement: a rate or average over it means nothing"


def test_nan_and_infinite_values_are_rejects_but_a_nan_quantile_is_null(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    def point(**fields: Any) -> dict[str, Any]:
        return {"timeUnixNano": str(T0), **fields}

    request = metrics(
        {"name": "g", "gauge": {"dataPoints": [point(asDouble=1.5), point(asDouble="NaN")]}},
        {
            "name": "c",
            "sum": {
                "isMonotonic": True,
                "aggregationTemporality": 2,
                "dataPoints": [
                    point(asDouble="-Infinity"),
                    point(asDouble="Infinity"),
                    point(asDouble="1e400"),
                    point(asDouble="@BEYOND@"),
                ],
            },
        },
        {
            "name": "h",
            "histogram": {
                "aggregationTemporality": 2,
                "dataPoints": [point(count=1, sum="NaN", bucketCounts=[1, 0], explicitBounds=[1])],
            },
        },
        {
            "name": "e",
            "exponentialHistogram": {
                "aggregationTemporality": 2,
                "dataPoints": [point(count=1, sum="Infinity", zeroCount=1)],
            },
        },
        {
            "name": "s",
            "summary": {
                "dataPoints": [
                    point(count=2, sum="-Infinity"),
                    point(
                        count=2,
                        sum=3,
                        quantileValues=[
                            {"quantile": 0.5, "value": "NaN"},
                            {"quantile": 0.9, "value": 2},
                        ],
                    ),
                    point(
                        count=1, sum=1, quantileValues=[{"quantile": 0.99, "value": "Infinity"}]
                    ),
                ]
            },
        },
    )
    # a JSON number beyond a double: Python's json (as the reader's) reads it as Infinity
    text = pretty(request).replace('"@BEYOND@"', "1e400")
    found, rejects = stage_text(con, tmp_path, text)

    # kept: the gauge's 1.5 and the second summary point, its NaN quantile without a value
    assert [(r["name"], r["labels"], r["value"]) for r in found["metrics"]] == [
        ("g", LIB, 1.5),
        ("s", {**LIB, "quantile": "0.5"}, None),
        ("s", {**LIB, "quantile": "0.9"}, 2.0),
        ("s_sum", LIB, 3.0),
        ("s_count", LIB, 2.0),
    ]
    metric = "resourceMetrics[0].scopeMetrics[0].metrics"
    assert rejects == sorted(
        [
            (
                line_of(text, '"asDouble": "NaN"'),
                f"{metric}[0].gauge.dataPoints[1].asDouble: value NaN {NOT_A_MEASUREMENT}",
            ),
            (
                line_of(text, '"asDouble": "-Infinity"'),
                f"{metric}[1].sum.dataPoints[0].asDouble: value -Infinity {NOT_A_MEASUREMENT}",
            ),
            (
                line_of(text, '"asDouble": "Infinity"'),
                f"{metric}[1].sum.dataPoints[1].asDouble: value Infinity {NOT_A_MEASUREMENT}",
            ),
            (
                line_of(text, '"asDouble": "1e400"'),
                f"{metric}[1].sum.dataPoints[2].asDouble: value 1e400 {NOT_A_MEASUREMENT}",
            ),
            (
                line_of(text, '"asDouble": 1e400'),
                f"{metric}[1].sum.dataPoints[3].asDouble: value Infinity {NOT_A_MEASUREMENT}",
            ),
            (
                line_of(text, '"sum": "NaN"'),
                f"{metric}[2].histogram.dataPoints[0].sum: value NaN {NOT_A_MEASUREMENT}",
            ),
            (
                line_of(text, '"sum": "Infinity"'),
                f"{metric}[3].exponentialHistogram.dataPoints[0].sum: "
                f"value Infinity {NOT_A_MEASUREMENT}",
            ),
            (
                line_of(text, '"sum": "-Infinity"'),
                f"{metric}[4].summary.dataPoints[0].sum: value -Infinity {NOT_A_MEASUREMENT}",
            ),
            (
                line_of(text, '"value": "Infinity"'),
                f"{metric}[4].summary.dataPoints[2].quantileValues[0].value: "
                f"value Infinity {NOT_A_MEASUREMENT}",
            ),
        ]
    )


def test_bounds_that_do_not_rise_or_are_not_finite_are_rejects(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    def histogram(bounds: list[Any]) -> dict[str, Any]:
        return {
            "timeUnixNano": str(T0),
            "count": len(bounds) + 1,
            "bucketCounts": [1] * (len(bounds) + 1),
            "explicitBounds": bounds,
        }

    request = metrics(
        {
            "name": "h",
            "histogram": {
                "aggregationTemporality": 2,
                "dataPoints": [
                    histogram([5, 1]),
                    histogram([1, 1]),
                    histogram([1, "Infinity"]),
                    histogram([0.5, 2]),
                ],
            },
        },
        {
            "name": "e",
            "exponentialHistogram": {
                "aggregationTemporality": 2,
                "dataPoints": [{"timeUnixNano": str(T0), "zeroThreshold": "NaN"}],
            },
        },
        {
            "name": "s",
            "summary": {
                "dataPoints": [
                    {"timeUnixNano": str(T0), "quantileValues": [{"quantile": 1.5, "value": 1}]}
                ]
            },
        },
    )
    text = pretty(request)
    found, rejects = stage_text(con, tmp_path, text)

    # the fourth point alone is kept: one observation in each of its three buckets
    assert [(r["name"], r["labels"].get("le"), r["value"]) for r in found["metrics"]] == [
        ("h_bucket", "0.5", 1.0),
        ("h_bucket", "2", 2.0),
        ("h_bucket", "+Inf", 3.0),
        ("h_count", None, 3.0),
    ]
    points = "resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints"
    # pretty-printed, a list's elements are one a line below its key: the second bound is
    # two lines below the point's "explicitBounds": [
    assert rejects == sorted(
        [
            (
                _line_of_key(text, '"explicitBounds": [', 1) + 2,
                f"{points}[0].explicitBounds[1]: 1 is not above the bound before it, 5: "
                "explicitBounds rise strictly",
            ),
            (
                _line_of_key(text, '"explicitBounds": [', 2) + 2,
                f"{points}[1].explicitBounds[1]: 1 is not above the bound before it, 1: "
                "explicitBounds rise strictly",
            ),
            (
                line_of(text, '"Infinity"'),
                f"{points}[2].explicitBounds[1]: Infinity is not a bound: a bucket's bound is "
                "a finite number",
            ),
            (
                line_of(text, '"zeroThreshold": "NaN"'),
                "resourceMetrics[0].scopeMetrics[0].metrics[1].exponentialHistogram"
                ".dataPoints[0].zeroThreshold: NaN is not a bound: a bucket's bound is a finite "
                "number",
            ),
            (
                line_of(text, '"quantile": 1.5'),
                "resourceMetrics[0].scopeMetrics[0].metrics[2].summary.dataPoints[0]"
                ".quantileValues[0].quantile: 1.5 is not a quantile (0 to 1)",
            ),
        ]
    )


# --------------------------------------------------------------------------- ids of all zeros


def test_an_all_zero_trace_or_span_id_is_a_reject_and_an_all_zero_parent_none(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    zero_trace, zero_span = "0" * 32, "0" * 16
    request = {
        **traces(
            span(1, traceId=zero_trace),
            span(2, spanId=zero_span),
            span(3, parentSpanId=zero_span),
            span(4, links=[{"traceId": zero_trace, "spanId": f"{4:016x}"}]),
            span(5, parentSpanId=f"{3:016x}"),
        ),
        **logs(
            {
                "timeUnixNano": str(T0),
                "traceId": zero_trace,
                "spanId": zero_span,
                "body": {"stringValue": "outside any trace"},
            }
        ),
    }
    text = pretty(request)
    found, rejects = stage_text(con, tmp_path, text)

    assert [(r["name"], r["parent_span_id"]) for r in found["spans"]] == [
        ("op3", None),
        ("op5", f"{3:016x}"),
    ]
    # OTLP counts a log record's id of all zeros as no id, the same as an empty one
    [record] = found["logs"]
    assert (record["message"], record["trace_id"]) == ("outside any trace", None)
    assert "span_id" not in json.loads(record["attributes"])
    spans = "resourceSpans[0].scopeSpans[0].spans"
    assert rejects == [
        (
            _line_of_key(text, f'"traceId": "{zero_trace}"', 1),
            f'{spans}[0].traceId: "{zero_trace}" is all zeros, an id OTLP calls invalid',
        ),
        (
            _line_of_key(text, f'"spanId": "{zero_span}"', 1),
            f'{spans}[1].spanId: "{zero_span}" is all zeros, an id OTLP calls invalid',
        ),
        (
            _line_of_key(text, f'"traceId": "{zero_trace}"', 2),
            f'{spans}[3].links[0].traceId: "{zero_trace}" is all zeros, an id OTLP calls invalid',
        ),
    ]


def test_a_span_sent_twice_in_one_file_is_kept_once(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """An exporter that retries writes the span again: the second is a reject naming the
    first's line, in a pretty-printed request and in a file exporter's line alike; a span
    rejected for another reason does not make the next of its ids a repeat."""
    broken = span(3, endTimeUnixNano=str(T0))  # ends before it starts
    request = traces(span(1), span(2), span(1, name="retried"), broken, span(3))
    text = pretty(request)
    found, rejects = stage_text(con, tmp_path, text)

    assert [r["name"] for r in found["spans"]] == ["op1", "op2", "op3"]
    # a span's line is the one its object opens on, just above its traceId
    first, again = (_line_of_key(text, f'"traceId": "{1:032x}"', n) - 1 for n in (1, 2))
    spans = "resourceSpans[0].scopeSpans[0].spans"
    assert rejects[0] == (
        again,
        f"{spans}[2]: span {1:016x} of trace {1:032x} again (first on line {first})",
    )
    assert rejects[1][1].startswith(f"{spans}[3].endTimeUnixNano: ")
    assert len(rejects) == 2

    one_line = json.dumps(traces(span(1), span(1))) + "\n"
    found, rejects = stage_text(con, tmp_path, one_line, name="export.jsonl", src=4)
    assert len(found["spans"]) == 1
    assert [reason for _, reason in rejects] == [
        f"{spans}[1]: span {1:016x} of trace {1:032x} again (first on line 1)"
    ]


def test_buckets_within_the_zero_threshold_count_in_the_zero_bucket(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """Scale 0 (base 2), offset -2: buckets (1/4, 1/2] and (1/2, 1]; a zero threshold of 1/2
    takes in the first. Its bound had been written twice (le 0.5 with 2 and with 3), and a
    quantile counted 5 observations of 4."""
    point = {
        "timeUnixNano": str(T0),
        "scale": 0,
        "count": "4",
        "zeroThreshold": 0.5,
        "zeroCount": "2",
        "positive": {"offset": -2, "bucketCounts": ["1", "1"]},
    }
    request = metrics({"name": "h", "exponentialHistogram": {"dataPoints": [point]}})
    found, rejects = stage_text(con, tmp_path, pretty(request))
    assert rejects == []
    assert by_le(found["metrics"], "h_bucket") == [("0.5", 3), ("1", 4), ("+Inf", 4)]


def test_an_attribute_of_no_value_is_no_label(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    point = gauge_point(
        1.5, attributes=[attr("a", {"stringValue": ""}), attr("b", {"stringValue": "x"})]
    )
    found, _ = stage_text(
        con, tmp_path, pretty(metrics({"name": "g", "gauge": {"dataPoints": [point]}}))
    )
    assert [r["labels"] for r in found["metrics"]] == [{**LIB, "b": "x"}]
