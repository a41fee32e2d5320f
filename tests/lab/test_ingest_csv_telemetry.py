"""`dvlab ingest --kind spans|metrics|logs` of tables (CSV, Parquet) with a column map.

The real checks read the nezha TrainTicket sample (its SOURCE.md lists its quirks):
every expected value is worked out from the raw CSV here with ``csv`` and ``json``,
and the lab is read back with plain read-only DuckDB. The small fixtures say their
expected values beside them.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dvlab.errors import BadInputError
from dvlab.lab.ingest import IngestOptions, IngestSummary, ingest
from dvlab.lab.store import open_lab
from tests.conftest import real_sample

from .ingest_support import query, run_cli

NEZHA = "nezha-trainticket"
LOG_MAP = (
    "ts=Timestamp",
    "message=Log",
    "trace_id=TraceID",
    "pod=PodName",
    "host=Node",
)
SPAN_MAP = (
    "trace_id=TraceID",
    "span_id=SpanID",
    "parent_span_id=ParentID",
    "pod=PodName",
    "name=OperationName",
    "start_time=StartTimeUnixNano",
    "end_time=EndTimeUnixNano",
)
#: every table the ingest writes rows to, ledger included
TABLES = ("logs", "spans", "metrics", "rejects", "ingests")


# --------------------------------------------------------------------------- helpers


def nezha(real_data: Path) -> Path:
    return real_sample(real_data, NEZHA)


def raw_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line, row) of every CSV row; the header is line 1 and no value holds a newline."""
    with path.open(newline="", encoding="utf-8") as stream:
        return list(enumerate(csv.DictReader(stream), start=2))


def from_nanos(text: str) -> datetime:
    """An epoch in nanoseconds as the lab keeps it: to the microsecond, truncated."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(text) // 1000)


def service_of(pod: str) -> str:
    """A Deployment pod's service: its name without its last two dash-separated parts."""
    return pod.rsplit("-", 2)[0]


def load(lab: Path, paths: list[Path], kind: str, *pairs: str, **options: Any) -> IngestSummary:
    return ingest(lab, [str(p) for p in paths], IngestOptions(kind=kind, mapping=pairs, **options))


def snapshot(lab: Path) -> dict[str, list[tuple[Any, ...]]]:
    if not lab.exists():
        return {t: [] for t in TABLES}
    con = duckdb.connect(str(lab), read_only=True)
    try:
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        return {
            t: con.execute(
                f"SELECT * EXCLUDE (finished, started) FROM {t} ORDER BY ALL"
            ).fetchall()
            if t == "ingests" and t in present
            else con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            if t in present
            else []
            for t in TABLES
        }
    finally:
        con.close()


def rejects(lab: Path) -> list[tuple[int, str]]:
    return [(r[0], r[1]) for r in query(lab, "SELECT line, reason FROM rejects ORDER BY ALL")]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- real: logs


def test_nezha_logs_load_every_row_with_its_time_trace_and_level(
    real_data: Path, lab_path: Path
) -> None:
    folder = nezha(real_data)
    paths = [folder / "log" / "08_43_log.csv", folder / "log" / "08_44_log.csv"]

    summary = load(lab_path, paths, "logs", *LOG_MAP)

    assert [r.status for r in summary.sources] == ["loaded", "loaded"]
    assert summary.total("rows_rejected") == 0
    for path in paths:
        expected = {}
        levels: Counter[str] = Counter()
        for line, row in raw_rows(path):
            docker = json.loads(row["Log"])
            text = docker["log"].removesuffix("\n")
            # the Java layout: local time, then the level word
            level = text.split()[1]
            levels[level] += 1
            expected[line] = (
                datetime.strptime(row["Timestamp"][:26] + "+0000", "%Y-%m-%dT%H:%M:%S.%f%z"),
                row["TraceID"],
                text,
                service_of(row["PodName"]),
                row["Node"],
                level,
                {
                    "pod": row["PodName"],
                    "stream": docker["stream"],
                    "Container": row["Container"],
                    "SpanID": row["SpanID"],
                    "TimeUnixNano": row["TimeUnixNano"],
                },
            )
        got = {
            r[0]: (*r[1:-1], json.loads(r[-1]))
            for r in query(
                lab_path,
                "SELECT line, ts, trace_id, message, service, host, level_raw, "
                "attributes::VARCHAR FROM logs WHERE source = ?",
                [str(path)],
            )
        }
        assert got == expected
        stored = Counter(
            dict(
                query(
                    lab_path,
                    "SELECT level, count(*) FROM logs WHERE source = ? GROUP BY level",
                    [str(path)],
                )
            )
        )
        assert stored == Counter({k.lower(): n for k, n in levels.items()})
        if path.name == "08_44_log.csv":
            # what SOURCE.md counted for the window of the fault
            assert levels == Counter({"INFO": 2515, "WARN": 83, "ERROR": 24})
            assert any(
                "No contacts according to" in text for *_, text, _, _, _, _ in expected.values()
            )


def test_nezha_logs_loaded_again_change_nothing(real_data: Path, lab_path: Path) -> None:
    paths = [nezha(real_data) / "log" / "08_43_log.csv"]
    load(lab_path, paths, "logs", *LOG_MAP)
    before = snapshot(lab_path)

    summary = load(lab_path, paths, "logs", *LOG_MAP)

    assert [r.status for r in summary.sources] == ["unchanged"]
    after = snapshot(lab_path)
    assert {t: after[t] for t in TABLES if t != "ingests"} == {
        t: before[t] for t in TABLES if t != "ingests"
    }


# --------------------------------------------------------------------------- real: spans


def expected_spans(path: Path) -> dict[int, tuple[Any, ...]]:
    return {
        line: (
            row["TraceID"],
            row["SpanID"],
            None if row["ParentID"] == "root" else row["ParentID"],
            row["OperationName"],
            service_of(row["PodName"]),
            from_nanos(row["StartTimeUnixNano"]),
            from_nanos(row["EndTimeUnixNano"]),
            (int(row["EndTimeUnixNano"]) // 1000 - int(row["StartTimeUnixNano"]) // 1000) / 1000,
            "unspecified",
            "unset",
            {"pod": row["PodName"], "Duration": row["Duration"]},
        )
        for line, row in raw_rows(path)
    }


def test_nezha_traces_load_every_span(real_data: Path, lab_path: Path) -> None:
    folder = nezha(real_data)
    paths = [folder / "trace" / "08_43_trace.csv", folder / "trace" / "08_44_trace.csv"]

    summary = load(lab_path, paths, "spans", *SPAN_MAP)

    assert summary.total("rows_rejected") == 0
    for path in paths:
        got = {
            r[0]: (*r[1:-1], json.loads(r[-1]))
            for r in query(
                lab_path,
                "SELECT line, trace_id, span_id, parent_span_id, name, service, start_time, "
                "end_time, duration_ms, kind, status, attributes::VARCHAR FROM spans "
                "WHERE source = ?",
                [str(path)],
            )
        }
        assert got == expected_spans(path)


def test_nezha_span_columns_are_found_without_a_map(real_data: Path, lab_path: Path) -> None:
    path = nezha(real_data) / "trace" / "08_43_trace.csv"

    # TraceID, SpanID, ParentID, PodName, OperationName, StartTimeUnixNano and
    # EndTimeUnixNano are header variants; Duration is microseconds, said by its mapping
    summary = load(lab_path, [path], "spans", "duration_us=Duration")

    assert summary.total("rows_rejected") == 0
    got = {
        r[0]: r[1:]
        for r in query(lab_path, "SELECT line, span_id, service, duration_ms FROM spans")
    }
    assert got == {
        line: (row["SpanID"], service_of(row["PodName"]), int(row["Duration"]) / 1000)
        for line, row in raw_rows(path)
    }


def test_nezha_service_graph_from_spans_matches_the_raw_trace(
    real_data: Path, lab_path: Path
) -> None:
    folder = nezha(real_data)
    paths = [folder / "trace" / "08_43_trace.csv", folder / "trace" / "08_44_trace.csv"]
    expected: Counter[tuple[str, str]] = Counter()
    for path in paths:
        rows = [row for _, row in raw_rows(path)]
        pod = {(r["TraceID"], r["SpanID"]): r["PodName"] for r in rows}
        for r in rows:
            parent = pod.get((r["TraceID"], r["ParentID"]))
            if parent is not None and service_of(parent) != service_of(r["PodName"]):
                expected[(service_of(parent), service_of(r["PodName"]))] += 1
    assert len(expected) > 10  # a graph, not a pair or two

    load(lab_path, paths, "spans", *SPAN_MAP)

    got = {
        (caller, callee): calls
        for caller, callee, calls in query(
            lab_path,
            """SELECT parent.service, child.service, count(*)
               FROM spans AS child JOIN spans AS parent
                 ON parent.trace_id = child.trace_id AND parent.span_id = child.parent_span_id
               WHERE parent.service <> child.service
               GROUP BY ALL""",
        )
    }
    assert got == dict(expected)
    # the curated query a user runs draws the same graph
    graph = open_lab(lab_path).query("service_graph").pl()
    assert dict(
        zip(zip(graph["caller"], graph["callee"], strict=True), graph["calls"], strict=True)
    ) == dict(expected)


# --------------------------------------------------------------------------- real: metrics


def test_nezha_metrics_load_every_number_and_skip_nan(real_data: Path, lab_path: Path) -> None:
    folder = nezha(real_data) / "metric"
    paths = sorted(folder.glob("ts-*_metric.csv"))
    assert len(paths) == 5

    summary = load(lab_path, paths, "metrics", "ts=TimeStamp", "pod=PodName")

    assert summary.total("rows_rejected") == 0
    nan_cells = 0
    for path in paths:
        expected = {}
        for line, row in raw_rows(path):
            at = datetime.fromtimestamp(int(row["TimeStamp"]), UTC)
            for column, text in row.items():
                if column in ("Time", "TimeStamp", "PodName"):
                    continue
                value = float(text)
                if math.isnan(value):
                    nan_cells += 1
                    continue
                labels = {"pod": row["PodName"]}
                expected[(line, column)] = (at, value, labels, service_of(row["PodName"]))
        got = {
            (r[0], r[1]): r[2:]
            for r in query(
                lab_path,
                "SELECT line, name, ts, value, labels, service FROM metrics "
                "WHERE source = ? AND type = 'gauge'",
                [str(path)],
            )
        }
        assert got == expected
    assert summary.total("rows_skipped") == nan_cells
    assert nan_cells > 0  # the latency columns hold NaN


def test_nezha_front_service_takes_its_service_column(real_data: Path, lab_path: Path) -> None:
    path = nezha(real_data) / "metric" / "front_service.csv"

    # TimeStamp and ServiceName are found by their names; Time (Go's time text) holds no
    # number and is no metric
    summary = load(lab_path, [path], "metrics")

    expected = {
        (line, column): (float(text), row["ServiceName"])
        for line, row in raw_rows(path)
        for column, text in row.items()
        if column not in ("Time", "TimeStamp", "ServiceName")
    }
    got = {
        (r[0], r[1]): r[2:]
        for r in query(lab_path, "SELECT line, name, value, service FROM metrics")
    }
    assert got == expected
    assert summary.total("rows_loaded") == len(expected)


def test_nezha_go_time_text_is_read_as_the_epoch_beside_it(
    real_data: Path, lab_path: Path
) -> None:
    path = nezha(real_data) / "metric" / "front_service.csv"

    # "2023-01-29 08:41:09.043078357 +0000 UTC m=+0.119240217": offset, zone name and the
    # monotonic clock's reading
    summary = load(lab_path, [path], "metrics", "ts=Time", "service=ServiceName")

    assert summary.total("rows_rejected") == 0
    got = dict(query(lab_path, "SELECT DISTINCT line, ts FROM metrics"))
    expected = {}
    for line, row in raw_rows(path):
        seconds, fraction = row["Time"].split(" ")[1].split(".")
        day = row["Time"].split(" ")[0]
        expected[line] = datetime.strptime(
            f"{day} {seconds}.{fraction[:6]}+0000", "%Y-%m-%d %H:%M:%S.%f%z"
        )
        # the same second as the epoch column beside it
        assert int(expected[line].timestamp()) == int(row["TimeStamp"])
    assert got == expected


# --------------------------------------------------------------------------- small: metrics

#: a wide table; line 3's CpuUsage is text, line 4's time is not one, line 5's Latency is
#: empty and line 2's NaN
WIDE = """\
Time,TimeStamp,PodName,Node,CpuUsage(m),Latency(s)
a,1674981669,api-7d9f8b6c5d-x2x4z,10.0.0.1,14.5,NaN
b,1674981729,api-7d9f8b6c5d-x2x4z,10.0.0.1,lots,0.25
c,yesterday,api-7d9f8b6c5d-x2x4z,10.0.0.1,15,0.5
d,1674981849,api-7d9f8b6c5d-x2x4z,10.0.0.1,16,
"""


def test_wide_metrics_reject_text_and_bad_times_by_line_and_skip_empty_cells(
    tmp_path: Path, lab_path: Path
) -> None:
    path = write(tmp_path / "pod.csv", WIDE)

    summary = load(lab_path, [path], "metrics", "ts=TimeStamp", "labels=PodName,Node")

    labels = {"PodName": "api-7d9f8b6c5d-x2x4z", "Node": "10.0.0.1"}
    t0 = datetime(2023, 1, 29, 8, 41, 9, tzinfo=UTC)
    assert query(
        lab_path, "SELECT line, name, ts, value, labels, type, service FROM metrics ORDER BY ALL"
    ) == [
        (2, "CpuUsage(m)", t0, 14.5, labels, "gauge", None),
        (3, "Latency(s)", t0 + timedelta(minutes=1), 0.25, labels, "gauge", None),
        (5, "CpuUsage(m)", t0 + timedelta(minutes=3), 16.0, labels, "gauge", None),
    ]
    assert rejects(lab_path) == [
        (3, 'metrics: column CpuUsage(m): "lots" is not a number'),
        (4, 'metrics: column TimeStamp: "yesterday" is not a time'),
    ]
    [report] = summary.sources
    assert (report.rows_loaded, report.rows_rejected, report.rows_skipped) == (3, 2, 2)


def test_wide_metrics_strict_writes_nothing(tmp_path: Path, lab_path: Path) -> None:
    good = write(tmp_path / "good.csv", "ts,up\n1674981669,1\n")
    load(lab_path, [good], "metrics")
    path = write(tmp_path / "pod.csv", WIDE)
    before = snapshot(lab_path)

    with pytest.raises(BadInputError) as caught:
        load(lab_path, [path], "metrics", "ts=TimeStamp", strict=True)

    assert "--strict" in str(caught.value)
    assert snapshot(lab_path) == before


#: the reason for a value of ±Inf, as the Prometheus reader words it for its own
NOT_A_MEASUREMENT = "is not a measurement: a rate or average over it means nothing"


def test_infinite_metric_cells_are_rejects_naming_line_and_column(
    tmp_path: Path, lab_path: Path
) -> None:
    # lines 2-5 hold cpu values that are infinite, as written or (1e400) beyond a double;
    # line 6's NaN and empty cell are no samples; every mem cell but line 6's is a sample
    path = write(
        tmp_path / "pod.csv",
        "ts,cpu,mem\n"
        "1674981669,inf,1\n"
        "1674981729,-Infinity,2\n"
        "1674981789,+inf,3\n"
        "1674981849,1e400,4\n"
        "1674981909,NaN,\n"
        "1674981969,0.5,5\n",
    )

    summary = load(lab_path, [path], "metrics", "ts=ts")

    assert query(lab_path, "SELECT line, name, value FROM metrics ORDER BY line, name") == [
        (2, "mem", 1.0),
        (3, "mem", 2.0),
        (4, "mem", 3.0),
        (5, "mem", 4.0),
        (7, "cpu", 0.5),
        (7, "mem", 5.0),
    ]
    assert rejects(lab_path) == [
        (2, f"metrics: column cpu: value inf {NOT_A_MEASUREMENT}"),
        (3, f"metrics: column cpu: value -Infinity {NOT_A_MEASUREMENT}"),
        (4, f"metrics: column cpu: value +inf {NOT_A_MEASUREMENT}"),
        (5, f"metrics: column cpu: value 1e400 {NOT_A_MEASUREMENT}"),
    ]
    [report] = summary.sources
    assert (report.rows_loaded, report.rows_rejected, report.rows_skipped) == (6, 4, 2)


def test_infinite_values_in_parquet_and_a_long_table_are_rejects(
    tmp_path: Path, lab_path: Path
) -> None:
    wide = tmp_path / "wide.parquet"
    pq.write_table(
        pa.table(
            {
                "ts": [1674981669, 1674981729, 1674981789, 1674981849],
                "load": [1.0, math.inf, -math.inf, math.nan],
            }
        ),
        wide,
    )
    long = write(
        tmp_path / "long.csv",
        "ts,name,value\n2026-05-01T12:00:00Z,depth,Infinity\n2026-05-01T12:00:10Z,depth,7\n",
    )

    summary = load(lab_path, [wide, long], "metrics")

    # a Parquet file's lines are its rows from 1; DuckDB writes a double's infinity as inf
    assert query(lab_path, "SELECT name, line, value FROM metrics ORDER BY ALL") == [
        ("depth", 3, 7.0),
        ("load", 1, 1.0),
    ]
    assert query(lab_path, "SELECT source, line, reason FROM rejects ORDER BY ALL") == [
        (str(long), 2, f"metrics: column value: value Infinity {NOT_A_MEASUREMENT}"),
        (str(wide), 2, f"metrics: column load: value inf {NOT_A_MEASUREMENT}"),
        (str(wide), 3, f"metrics: column load: value -inf {NOT_A_MEASUREMENT}"),
    ]
    assert [r.rows_skipped for r in summary.sources] == [1, 0]


def test_long_metrics_keep_other_columns_as_labels(tmp_path: Path, lab_path: Path) -> None:
    path = write(
        tmp_path / "long.csv",
        "ts,name,value,host,type\n"
        "2026-05-01T12:00:00Z,queue_depth,7,n1,\n"
        "2026-05-01T12:00:10Z,requests_total,120,n2,counter\n"
        "2026-05-01T12:00:20Z,queue_depth,,n1,\n"
        "2026-05-01T12:00:30Z,queue_depth,3,n1,histogramm\n",
    )

    summary = load(lab_path, [path], "metrics")

    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert query(
        lab_path, "SELECT line, name, ts, value, labels, type FROM metrics ORDER BY line"
    ) == [
        (2, "queue_depth", at, 7.0, {"host": "n1"}, "gauge"),
        (3, "requests_total", at + timedelta(seconds=10), 120.0, {"host": "n2"}, "counter"),
    ]
    [(line, reason)] = rejects(lab_path)
    assert line == 5
    assert reason.startswith('metrics: column type: unknown metric type "histogramm"; known: ')
    assert summary.total("rows_skipped") == 1


def test_a_series_twice_at_one_time_is_a_reject_naming_the_first_line(
    tmp_path: Path, lab_path: Path
) -> None:
    """As in a scrape: two values of one series at one moment cannot both be it (both had
    been stored). Another host, or another time, is another point; a skipped cell no row."""
    path = write(
        tmp_path / "long.csv",
        "ts,name,value,host\n"
        "2026-05-01T12:00:00Z,queue_depth,7,n1\n"  # line 2
        "2026-05-01T12:00:00Z,queue_depth,9,n2\n"  # another series
        "2026-05-01T12:00:00Z,queue_depth,,n1\n"  # skipped: no value
        "2026-05-01T12:00:00Z,queue_depth,8,n1\n"  # line 5: again
        "2026-05-01T12:00:10Z,queue_depth,6,n1\n",
    )

    summary = load(lab_path, [path], "metrics")

    assert query(lab_path, "SELECT line, value FROM metrics ORDER BY line") == [
        (2, 7.0),
        (3, 9.0),
        (6, 6.0),
    ]
    assert rejects(lab_path) == [
        (
            5,
            'metrics: the series queue_depth{host="n1"} at 2026-05-01T12:00:00.000000Z again '
            "(first on line 2)",
        )
    ]
    assert summary.total("rows_skipped") == 1


@pytest.mark.parametrize(
    ("kind", "text", "pairs", "says"),
    [
        ("metrics", "when,CpuUsage\nx,1\n", (), "no column for ts among when, CpuUsage"),
        ("metrics", "ts,up\n1674981669,1\n", ("state=up",), "metrics have no column 'state'"),
        (
            "spans",
            "TraceID,Id,Start\nab,cd,1674981768697000000\n",
            (),
            "no column for span_id among TraceID, Id, Start",
        ),
        ("logs", "ts,text\n2026-05-01T12:00:00Z,x\n", ("message=Log",), "no column 'Log'"),
    ],
)
def test_a_missing_column_fails_the_source_naming_it_and_map(
    tmp_path: Path, lab_path: Path, kind: str, text: str, pairs: tuple[str, ...], says: str
) -> None:
    path = write(tmp_path / "table.csv", text)

    summary = load(lab_path, [path], kind, *pairs)

    [report] = summary.sources
    assert report.status == "failed"
    assert report.message is not None
    assert says in report.message
    assert "--map" in report.message
    assert snapshot(lab_path)[kind] == []


# --------------------------------------------------------------------------- small: spans

SPAN_HEADER = "trace,span,parent,service,op,start,end,kind,status\n"


def test_spans_parents_kinds_statuses_and_bad_rows(tmp_path: Path, lab_path: Path) -> None:
    path = write(
        tmp_path / "spans.csv",
        SPAN_HEADER
        + "AB01,C1,root,api,GET /,1674981768697000000,1674981768698000000,SPAN_KIND_SERVER,ok\n"
        + "ab01,c2,,api,q,1674981768697500000,1674981768697600000,3,STATUS_CODE_ERROR\n"
        + "ab01,c3,0000000000000000,db,x,1674981768697500000,,client,\n"
        + "ab01,c4,c1,db,late,1674981768699000000,1674981768698000000,,\n"
        + "ab01,c5,c1,db,when,noon,,,\n"
        + "ab01,c6,c1,db,odd,1674981768697000000,,sideways,\n"
        + "ab01,zz,c1,db,nothex,1674981768697000000,,,\n",
    )

    summary = load(
        lab_path,
        [path],
        "spans",
        "trace_id=trace",
        "span_id=span",
        "parent_span_id=parent",
        "name=op",
        "start_time=start",
        "end_time=end",
    )

    at = datetime(2023, 1, 29, 8, 42, 48, 697000, tzinfo=UTC)
    assert query(
        lab_path,
        "SELECT line, trace_id, span_id, parent_span_id, kind, status, service, end_time, "
        "duration_ms FROM spans ORDER BY line",
    ) == [
        (2, "ab01", "c1", None, "server", "ok", "api", at + timedelta(milliseconds=1), 1.0),
        (3, "ab01", "c2", None, "client", "error", "api", at + timedelta(microseconds=600), 0.1),
        (4, "ab01", "c3", None, "client", "unset", "db", None, None),
    ]
    assert rejects(lab_path) == [
        (
            5,
            "spans: column end: ends 2023-01-29T08:42:48.698000Z before it starts "
            "2023-01-29T08:42:48.699000Z",
        ),
        (6, 'spans: column start: "noon" is not a time'),
        (
            7,
            'spans: column kind: unknown span kind "sideways"; known: unspecified, internal, '
            "server, client, producer, consumer",
        ),
        (8, 'spans: column span: "zz" is not a hexadecimal id'),
    ]
    assert summary.total("rows_loaded") == 3


def test_a_span_again_in_one_file_is_a_reject_naming_the_first_line(
    tmp_path: Path, lab_path: Path
) -> None:
    path = write(
        tmp_path / "spans.csv",
        "trace,span,start\n"
        "ab01,c1,2026-05-01T12:00:00Z\n"  # 2
        "ab01,c2,2026-05-01T12:00:01Z\n"  # 3
        "AB01,C1,2026-05-01T12:00:02Z\n"  # 4: line 2's ids in upper case
        "ab02,c1,2026-05-01T12:00:03Z\n"  # 5: line 2's span id in another trace
        "ab01,c2,2026-05-01T12:00:04Z\n"  # 6: line 3's
        "ab01,c2,noon\n",  # 7: line 3's, and no time: the bad time is said first
    )

    summary = load(lab_path, [path], "spans", "trace_id=trace", "span_id=span", "start_time=start")

    assert query(lab_path, "SELECT line, trace_id, span_id FROM spans ORDER BY line") == [
        (2, "ab01", "c1"),
        (3, "ab01", "c2"),
        (5, "ab02", "c1"),
    ]
    assert rejects(lab_path) == [
        (4, 'spans: columns trace/span: span "C1" of trace "AB01" again (first on line 2)'),
        (6, 'spans: columns trace/span: span "c2" of trace "ab01" again (first on line 3)'),
        (7, 'spans: column start: "noon" is not a time'),
    ]
    assert summary.total("rows_rejected") == 3


def test_span_end_from_a_duration_in_nanoseconds(tmp_path: Path, lab_path: Path) -> None:
    path = write(
        tmp_path / "spans.csv",
        "traceId,spanId,startTime,durationNano\nab,cd,2026-05-01T12:00:00Z,2500000\n",
    )

    load(lab_path, [path], "spans")

    start = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert query(lab_path, "SELECT start_time, end_time, duration_ms FROM spans") == [
        (start, start + timedelta(microseconds=2500), 2.5)
    ]


def test_an_empty_duration_cell_takes_the_spans_times(tmp_path: Path, lab_path: Path) -> None:
    """As without the column (its duration had been NULL)."""
    path = write(
        tmp_path / "spans.csv",
        "traceId,spanId,startTime,endTime,durationNano\n"
        "ab,c1,2026-05-01T12:00:00Z,2026-05-01T12:00:00.004Z,\n"
        "ab,c2,2026-05-01T12:00:00Z,,2500000\n",
    )

    load(lab_path, [path], "spans")

    assert query(lab_path, "SELECT span_id, duration_ms FROM spans ORDER BY 1") == [
        ("c1", 4.0),
        ("c2", 2.5),
    ]


def test_a_span_after_a_rejected_row_of_its_ids_is_kept(tmp_path: Path, lab_path: Path) -> None:
    # only a kept row makes a later row of its ids a repeat
    path = write(
        tmp_path / "spans.csv",
        "trace,span,start,end\n"
        "ab01,0001,not-a-time,\n"  # 2: no time: a reject
        "ab01,0001,2026-05-01T12:00:00Z,\n"  # 3: the first kept row of ab01/0001
        "ab01,0001,2026-05-01T12:00:01Z,\n"  # 4: line 3's again
        "ab01,0002,2026-05-01T12:00:02Z,2026-05-01T12:00:01Z\n"  # 5: ends before it starts
        "ab01,0002,2026-05-01T12:00:02Z,2026-05-01T12:00:03Z\n",  # 6: kept
    )

    summary = load(
        lab_path,
        [path],
        "spans",
        "trace_id=trace",
        "span_id=span",
        "start_time=start",
        "end_time=end",
    )

    assert query(lab_path, "SELECT line, span_id FROM spans ORDER BY line") == [
        (3, "0001"),
        (6, "0002"),
    ]
    assert rejects(lab_path) == [
        (2, 'spans: column start: "not-a-time" is not a time'),
        (4, 'spans: columns trace/span: span "0001" of trace "ab01" again (first on line 3)'),
        (
            5,
            "spans: column end: ends 2026-05-01T12:00:01.000000Z before it starts "
            "2026-05-01T12:00:02.000000Z",
        ),
    ]
    assert summary.total("rows_loaded") == 2


#: the reason for a duration that is a number but no span's length
NOT_A_DURATION = "is not a duration (a finite number, 0 or more)"
#: the reason for a duration that would end its span beyond the times the lab holds
OUT_OF_RANGE = "is out of range: the span would end after the last time the lab holds"


def test_a_bad_duration_is_a_reject_and_the_rest_of_the_run_loads(
    tmp_path: Path, lab_path: Path
) -> None:
    # durations in milliseconds; the end is the start plus the duration
    bad = write(
        tmp_path / "bad.csv",
        "trace,span,start,dur\n"
        "ab,01,2026-05-01T12:00:00Z,1.5\n"  # 2: ends 1500 us later
        "ab,02,2026-05-01T12:00:00Z,inf\n"  # 3
        "ab,03,2026-05-01T12:00:00Z,-inf\n"  # 4
        "ab,04,2026-05-01T12:00:00Z,NaN\n"  # 5
        "ab,05,2026-05-01T12:00:00Z,-2\n"  # 6: a span does not end before it starts
        "ab,06,2026-05-01T12:00:00Z,1e300\n"  # 7: beyond any microsecond count
        # 8: 1e15 ms is about 31,700 years, past the year 294247 where times end
        "ab,07,290000-01-01T00:00:00Z,1e15\n"
        "ab,08,2026-05-01T12:00:00Z,\n"  # 9: no duration, no end: kept
        "ab,09,2026-05-01T12:00:00Z,soon\n",  # 10
    )
    good = write(tmp_path / "good.csv", "trace,span,start,dur\ncd,01,2026-05-01T12:00:01Z,2\n")
    mapping = ("trace_id=trace", "span_id=span", "start_time=start", "duration_ms=dur")

    summary = load(lab_path, [bad, good], "spans", *mapping)

    assert [r.status for r in summary.sources] == ["loaded", "loaded"]
    start = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert query(
        lab_path,
        "SELECT source, line, span_id, end_time, duration_ms FROM spans ORDER BY source, line",
    ) == [
        (str(bad), 2, "01", start + timedelta(microseconds=1500), 1.5),
        (str(bad), 9, "08", None, None),
        (str(good), 2, "01", start + timedelta(seconds=1, milliseconds=2), 2.0),
    ]
    assert rejects(lab_path) == [
        (3, f'spans: column dur: "inf" {NOT_A_DURATION}'),
        (4, f'spans: column dur: "-inf" {NOT_A_DURATION}'),
        (5, f'spans: column dur: "NaN" {NOT_A_DURATION}'),
        (6, f'spans: column dur: "-2" {NOT_A_DURATION}'),
        (7, f'spans: column dur: "1e300" {OUT_OF_RANGE}'),
        (8, f'spans: column dur: "1e15" {OUT_OF_RANGE}'),
        (10, 'spans: column dur: "soon" is not a number'),
    ]
    assert [(r.rows_loaded, r.rows_rejected) for r in summary.sources] == [(2, 7), (1, 0)]


def test_seconds_after_an_origin_beyond_any_time_are_rejects(
    tmp_path: Path, lab_path: Path
) -> None:
    path = write(
        tmp_path / "spans.csv",
        "trace,span,start,end\n"
        "ab,01,0,1.5\n"  # 2: the origin, and 1.5 s after it
        # 3: 9,999,999,999,999 s (about 317,000 years) is past the last time; it is not
        # read as an epoch in milliseconds either
        "ab,02,9999999999999,\n"
        f"ab,03,1{'0' * 40},\n"  # 4: more digits than a decimal holds
        # 5: 9e12 s either side of the origin: 1.8e13 s, a span of 1.8e16 ms
        "ab,04,-9000000000000,9000000000000\n",
    )

    summary = ingest(
        lab_path,
        [str(path)],
        IngestOptions(
            kind="spans",
            mapping=("trace_id=trace", "span_id=span", "start_time=start", "end_time=end"),
            time_origin="2026-05-01T00:00:00Z",
        ),
    )

    origin = int(datetime(2026, 5, 1, tzinfo=UTC).timestamp()) * 1_000_000
    assert query(
        lab_path, "SELECT line, epoch_us(start_time), duration_ms FROM spans ORDER BY line"
    ) == [(2, origin, 1500.0), (5, origin - 9_000_000_000_000 * 1_000_000, 1.8e16)]
    assert rejects(lab_path) == [
        (3, 'spans: column start: "9999999999999" is not a time'),
        (4, f'spans: column start: "1{"0" * 40}" is not a time'),
    ]
    assert summary.total("rows_rejected") == 2


def test_a_span_kind_number_is_digits_alone(tmp_path: Path, lab_path: Path) -> None:
    # OTLP numbers kinds from 0: 2 is server; 2.5 is no kind (not 3, client, rounded)
    path = write(
        tmp_path / "spans.csv",
        "trace,span,start,kind\n"
        "ab,01,2026-05-01T12:00:00Z,2\n"
        "ab,02,2026-05-01T12:00:00Z,2.5\n"
        "ab,03,2026-05-01T12:00:00Z,1e300\n",
    )

    load(lab_path, [path], "spans", "trace_id=trace", "span_id=span", "start_time=start")

    assert query(lab_path, "SELECT line, kind FROM spans") == [(2, "server")]
    known = "known: unspecified, internal, server, client, producer, consumer"
    assert rejects(lab_path) == [
        (3, f'spans: column kind: unknown span kind "2.5"; {known}'),
        (4, f'spans: column kind: unknown span kind "1e300"; {known}'),
    ]


def test_spans_from_parquet(tmp_path: Path, lab_path: Path) -> None:
    path = tmp_path / "spans.parquet"
    pq.write_table(
        pa.table(
            {
                "trace_id": ["ab", "ab"],
                "span_id": ["01", "02"],
                "parent_span_id": [None, "01"],
                "start_time": [1674981768697000000, 1674981768697000000],
                "end_time": [1674981768698000000, 1674981768697250000],
                "http.route": ["/a", "/b"],
            }
        ),
        path,
    )

    load(lab_path, [path], "spans")

    assert query(
        lab_path, "SELECT line, parent_span_id, duration_ms, attributes::VARCHAR FROM spans"
    ) == [(1, None, 1.0, '{"http.route":"/a"}'), (2, "01", 0.25, '{"http.route":"/b"}')]


# --------------------------------------------------------------------------- small: logs


def test_logs_level_column_service_kept_whole_and_bad_time(tmp_path: Path, lab_path: Path) -> None:
    path = write(
        tmp_path / "app.csv",
        "when,pod,sev,text\n"
        "2026-05-01T12:00:00Z,api-7d9f8b6c5d-x2x4z,warning,disk ERROR soon\n"
        "2026-05-01 12:00:01,api-7d9f8b6c5d-x2x4z,,plain text without a level\n"
        "soon,api-7d9f8b6c5d-x2x4z,info,x\n",
    )

    load(
        lab_path,
        [path],
        "logs",
        "ts=when",
        "service=pod",
        "level=sev",
        "message=text",
        site="dc1",
    )

    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert query(
        lab_path,
        "SELECT line, ts, site, service, level, level_raw, message, attributes::VARCHAR "
        "FROM logs ORDER BY line",
    ) == [
        (2, at, "dc1", "api-7d9f8b6c5d-x2x4z", "warn", "warning", "disk ERROR soon", "{}"),
        (3, at + timedelta(seconds=1), "dc1", "api-7d9f8b6c5d-x2x4z", None, None,
         "plain text without a level", "{}"),
    ]  # fmt: skip
    assert rejects(lab_path) == [(4, 'logs: column when: "soon" is not a time')]


def test_logs_without_a_message_column_are_read_as_log_text(
    tmp_path: Path, lab_path: Path
) -> None:
    # a text log whose lines hold commas is not taken for a table
    path = write(
        tmp_path / "app.log",
        '{"time": "2026-05-01T12:00:00Z", "level": "info", "msg": "a, b, c"}\n',
    )

    summary = load(lab_path, [path], "logs")

    assert [r.format for r in summary.sources] == ["jsonl"]
    assert query(lab_path, "SELECT message FROM logs") == [("a, b, c",)]


def test_strict_log_table_writes_nothing(tmp_path: Path, lab_path: Path) -> None:
    path = write(tmp_path / "app.csv", "ts,message\n2026-05-01T12:00:00Z,ok\nnever,bad\n")

    with pytest.raises(BadInputError):
        load(lab_path, [path], "logs", strict=True)

    assert snapshot(lab_path) == {t: [] for t in TABLES}


def test_cli_takes_the_new_kinds(
    tmp_path: Path, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "m.csv", "ts,up\n1674981669,1\n")

    code, _, err = run_cli(capsys, "--db", str(lab_path), "ingest", "--kind", "metrics", str(path))

    assert code == 0, err
    assert query(lab_path, "SELECT name, value FROM metrics") == [("up", 1.0)]


@pytest.mark.parametrize(
    ("kind", "text", "more"),
    [
        ("metrics", "ts,up,load\n1674981669,1,0.5\n", "1674981729,0,\n"),
        ("spans", "trace_id,span_id,start\nab,01,1674981669\n", "ab,02,1674981670\n"),
    ],
)
def test_loaded_again_changes_nothing_and_grown_replaces_its_rows(
    tmp_path: Path, lab_path: Path, kind: str, text: str, more: str
) -> None:
    path = write(tmp_path / f"{kind}.csv", text)
    load(lab_path, [path], kind)
    before = snapshot(lab_path)

    again = load(lab_path, [path], kind)

    assert [r.status for r in again.sources] == ["unchanged"]
    after = snapshot(lab_path)
    assert {t: after[t] for t in TABLES if t != "ingests"} == {
        t: before[t] for t in TABLES if t != "ingests"
    }

    write(path, text + more)
    load(lab_path, [path], kind)

    # metrics: up and load at line 2, up at line 3 (its load cell is empty); spans: a row
    # a line
    lines = [(2,), (2,), (3,)] if kind == "metrics" else [(2,), (3,)]
    assert query(lab_path, f"SELECT line FROM {kind} ORDER BY line") == lines
