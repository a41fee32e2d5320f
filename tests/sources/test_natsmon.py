"""Saved NATS monitoring responses: Go durations, telling the endpoint, and staging as metrics.

The small responses here are written by hand; the expected rows beside them are
read off those texts. The real samples (``nats-docs/monitor``) are only used to
check that each one is told as the endpoint its file name says.
"""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dvlab.errors import BadInputError
from dvlab.sources import natsmon

MONITOR = Path("nats-docs") / "monitor"

# --------------------------------------------------------------------------- helpers


def stage_text(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, text: str, name: str = "resp.json"
) -> tuple[list[dict[str, Any]], list[tuple[int, str, str]]]:
    """Stage ``text`` as a file; (rows as dicts, rejects as (line, reason, raw))."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return stage_path(con, path)


def stage_path(
    con: duckdb.DuckDBPyConnection, path: Path, src: int = 7
) -> tuple[list[dict[str, Any]], list[tuple[int, str, str]]]:
    table, rows, rejects = natsmon.stage(con, src=src, path=path, source=str(path))
    assert table == f"mon_{src}"
    cursor = con.execute(f"SELECT * FROM {table} ORDER BY line, name, labels::VARCHAR")
    names = [d[0] for d in cursor.description]
    found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert len(found) == rows
    rejected = con.execute(
        "SELECT line, reason, raw FROM stage_rejects WHERE src = ? ORDER BY line", [src]
    ).fetchall()
    assert len(rejected) == rejects
    return found, rejected


def values(rows: list[dict[str, Any]], name: str) -> list[float]:
    return [r["value"] for r in rows if r["name"] == name]


ROUTEZ = """{
  "server_id": "NSERVER1",
  "server_name": "n1",
  "now": "2024-03-01T10:00:00.5+01:00",
  "num_routes": 2,
  "routes": [
    {
      "rid": 3,
      "remote_id": "NPEER2",
      "remote_name": "n2",
      "did_solicit": true,
      "ip": "10.0.0.2",
      "port": 6222,
      "rtt": "1.5ms",
      "pending_size": 0,
      "in_msgs": 12,
      "out_msgs": 34,
      "in_bytes": 560,
      "out_bytes": 780,
      "subscriptions": 4
    },
    {
      "rid": 4,
      "remote_id": "NPEER3",
      "did_solicit": false,
      "ip": "10.0.0.3",
      "port": 40100,
      "in_msgs": "many",
      "out_msgs": 9
    }
  ]
}
"""


# --------------------------------------------------------------------------- Go durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10m8.4s", 608.4),
        ("1.02ms", 0.00102),
        ("52µs", 0.000052),  # U+00B5 MICRO SIGN, as Go writes it
        ("52μs", 0.000052),  # U+03BC GREEK SMALL LETTER MU
        ("52us", 0.000052),
        ("300ns", 0.0000003),
        ("0s", 0.0),
        ("0", 0.0),
        ("2s", 2.0),
        ("1h2m3.5s", 3723.5),
        ("-1.5h", -5400.0),
        ("+.5s", 0.5),
        ("2d3h4m5s", 2 * 86400 + 3 * 3600 + 4 * 60 + 5),
        ("1y2d0h0m1s", 365 * 86400 + 2 * 86400 + 1),
    ],
)
def test_go_durations_in_seconds(text: str, seconds: float) -> None:
    assert natsmon.go_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "1.5", "ms", "1x", "1 s", "1h-2m", "abc", "--1s"])
def test_not_a_go_duration(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        natsmon.go_duration(text)


# --------------------------------------------------------------------------- detection


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "endpoint"),
    [
        ("varz.json", "varz"),
        ("connz.json", "connz"),
        ("routez.json", "routez"),
        ("gatewayz.json", "gatewayz"),
        ("leafz.json", "leafz"),
        ("subsz.json", "subsz"),
        ("accountz.json", "accountz"),
        ("accountz_acc_G.json", "accountz"),
        ("accstatz.json", "accstatz"),
        ("jsz.json", "jsz"),
        ("healthz.json", "healthz"),
    ],
)
def test_each_real_response_is_told_as_its_endpoint(
    real_data: Path, name: str, endpoint: str
) -> None:
    path = real_data / MONITOR / name
    with open(path, "rb") as fh:
        head = fh.read(64 << 10)
    assert natsmon.looks_like(head)
    assert natsmon.endpoint_of(json.loads(path.read_text(encoding="utf-8"))) == endpoint
    assert natsmon.sniff(path, source=str(path)) == endpoint


@pytest.mark.parametrize(
    ("obj", "endpoint"),
    [
        # a newer /jsz counts its accounts: still /jsz, not /accountz
        ({"server_id": "N", "config": {}, "memory": 0, "storage": 0, "accounts": 3}, "jsz"),
        # /varz counts leaf nodes without listing them
        ({"server_id": "N", "mem": 1, "cpu": 0.5, "leafnodes": 0, "connections": 2}, "varz"),
        ({"status": "unavailable", "error": "JetStream not current"}, "healthz"),
        ({"status": "ok", "status_code": 200}, "healthz"),
        ({"server_id": "N", "accounts": ["$G"]}, "accountz"),
        ({"num_subscriptions": 1, "num_cache": 0, "num_inserts": 1}, "subsz"),
        # a log record with a status is not /healthz
        ({"time": "2024-01-01T00:00:00Z", "status": "ok", "msg": "done"}, None),
        ({"server_id": "N", "something": 1}, None),
        ({"server_id": "N", "accounts": 3}, None),
        ([{"server_id": "N"}], None),
        ("ok", None),
    ],
)
def test_endpoint_of_hand_written_objects(obj: object, endpoint: str | None) -> None:
    assert natsmon.endpoint_of(obj) == endpoint


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'{\n  "server_id": "N",\n  "now": "2024-01-01T00:00:00Z",\n', True),
        (b'\xef\xbb\xbf{\n  "server_id": "N"', True),
        (b'{ "status": "ok" }\n', True),
        (b'{"num_subscriptions": 2,\n "num_cache": 0', True),
        # JSON lines: a whole object on the first line and more after it
        (b'{"server_id": "N", "status": "ok", "msg": "a"}\n{"server_id": "N"}\n', False),
        (b'[{"server_id": "N"}]\n', False),
        (b'{\n  "task_id": "t1",\n  "state": "running"\n}\n', False),
        (b"server_id=N status=ok\n", False),
    ],
)
def test_looks_like_a_monitoring_response(head: bytes, expected: bool) -> None:
    assert natsmon.looks_like(head) is expected


def test_value_lines_and_paths() -> None:
    text = '{\n  "a": [\n    {"b": 1},\n    {\n      "c": "x,]}"\n    }\n  ],\n  "d": {}\n}\n'
    lines = natsmon.value_lines(text)
    assert lines[()] == 1
    assert lines[("a",)] == 2
    assert lines[("a", 0)] == 3
    assert lines[("a", 0, "b")] == 3
    assert lines[("a", 1)] == 4
    assert lines[("a", 1, "c")] == 5
    assert lines[("d",)] == 8
    assert natsmon.path_text(("routes", 0, "in_msgs")) == "routes[0].in_msgs"
    assert natsmon.path_text(("inbound_gateways", "eu-west.1", 2)) == (
        'inbound_gateways["eu-west.1"][2]'
    )


# --------------------------------------------------------------------------- staging


def test_routes_with_peer_direction_time_lines_and_a_wrong_type(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    rows, rejects = stage_text(con, tmp_path, ROUTEZ, "routez.json")

    # 10:00:00.5 at +01:00 is 09:00:00.5 UTC
    assert {r["ts"] for r in rows} == {datetime(2024, 3, 1, 9, 0, 0, 500000, tzinfo=UTC)}
    assert {(r["service"], r["site"]) for r in rows} == {("nats-server", None)}
    ups = [(r["line"], r["labels"]) for r in rows if r["name"] == "nats_route_up"]
    base = {"server_id": "NSERVER1", "server_name": "n1", "endpoint": "routez"}
    assert ups == [
        (
            7,
            {
                **base,
                "peer": "n2",
                "remote_id": "NPEER2",
                "remote_name": "n2",
                "ip": "10.0.0.2",
                "port": "6222",
                "rid": "3",
                "did_solicit": "true",
                "direction": "outbound",
            },
        ),
        (
            22,
            {
                **base,
                "peer": "NPEER3",
                "remote_id": "NPEER3",
                "ip": "10.0.0.3",
                "port": "40100",
                "rid": "4",
                "did_solicit": "false",
                "direction": "inbound",
            },
        ),
    ]
    by_name = {(r["name"], r["labels"].get("peer")): (r["value"], r["type"]) for r in rows}
    assert by_name == {
        ("nats_routez_num_routes", None): (2.0, "gauge"),
        ("nats_route_up", "n2"): (1.0, "gauge"),
        ("nats_route_rtt_seconds", "n2"): (0.0015, "gauge"),
        ("nats_route_pending_bytes", "n2"): (0.0, "gauge"),
        ("nats_route_in_msgs", "n2"): (12.0, "counter"),
        ("nats_route_out_msgs", "n2"): (34.0, "counter"),
        ("nats_route_in_bytes", "n2"): (560.0, "counter"),
        ("nats_route_out_bytes", "n2"): (780.0, "counter"),
        ("nats_route_subscriptions", "n2"): (4.0, "gauge"),
        # the second route: in_msgs is a reject, the rest stays
        ("nats_route_up", "NPEER3"): (1.0, "gauge"),
        ("nats_route_out_msgs", "NPEER3"): (9.0, "counter"),
    }
    assert rejects == [(28, 'routes[1].in_msgs: "many" is not a number', '"in_msgs": "many",')]
    assert con.execute("SELECT DISTINCT src, source FROM stage_rejects").fetchall() == [
        (7, str(tmp_path / "routez.json"))
    ]


def test_staged_table_has_the_metrics_columns(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    stage_text(con, tmp_path, ROUTEZ)
    described = con.execute("DESCRIBE mon_7").fetchall()
    assert [(r[0], r[1]) for r in described] == [
        ("line", "BIGINT"),
        ("ts", "TIMESTAMP WITH TIME ZONE"),
        ("name", "VARCHAR"),
        ("labels", "MAP(VARCHAR, VARCHAR)"),
        ("value", "DOUBLE"),
        ("type", "VARCHAR"),
        ("site", "VARCHAR"),
        ("service", "VARCHAR"),
        ("family", "VARCHAR"),
    ]


def test_gateways_outbound_and_inbound_with_the_local_gateway_as_site(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    text = """{
  "server_id": "NA1",
  "now": "2024-03-01T00:30:00Z",
  "name": "A",
  "outbound_gateways": {
    "B": {"configured": true, "connection": {"cid": 1, "ip": "10.1.0.1", "port": 7222,
          "rtt": "10m8.4s", "in_msgs": 5, "name": "NB1"}}
  },
  "inbound_gateways": {
    "B": [{"configured": false, "connection": {"cid": 2, "ip": "10.1.0.1", "port": 50000,
           "name": "NB1"}}],
    "C": [{"configured": false, "connection": {"cid": 3, "name": "NC1", "out_bytes": 7}},
          {"configured": false, "connection": {"cid": 4, "name": "NC2"}}]
  }
}
"""
    rows, rejects = stage_text(con, tmp_path, text, "gatewayz.json")
    assert rejects == []
    assert {r["site"] for r in rows} == {"A"}
    ups = sorted(
        (
            r["line"],
            r["labels"]["peer"],
            r["labels"]["direction"],
            r["labels"]["remote_id"],
            r["labels"]["cid"],
        )
        for r in rows
        if r["name"] == "nats_gateway_up"
    )
    assert ups == [
        (6, "B", "outbound", "NB1", "1"),
        (10, "B", "inbound", "NB1", "2"),
        (12, "C", "inbound", "NC1", "3"),
        (13, "C", "inbound", "NC2", "4"),
    ]
    assert values(rows, "nats_gateway_rtt_seconds") == [608.4]
    assert values(rows, "nats_gateway_in_msgs") == [5.0]
    assert values(rows, "nats_gateway_out_bytes") == [7.0]
    assert len(rows) == 7


def test_leaf_named_or_by_account_and_ip(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    text = """{
  "server_id": "NH",
  "now": "2024-03-01T00:00:00Z",
  "leafnodes": 2,
  "leafs": [
    {"name": "edge-7", "account": "APP", "ip": "192.0.2.7", "port": 7422, "rtt": "52µs",
     "in_msgs": 1, "subscriptions": 3},
    {"account": "$G", "ip": "192.0.2.8", "port": 7422}
  ]
}
"""
    rows, rejects = stage_text(con, tmp_path, text, "leafz.json")
    assert rejects == []
    ups = [r["labels"] for r in rows if r["name"] == "nats_leafnode_up"]
    assert [(u["peer"], u["account"], u["ip"], u["port"]) for u in ups] == [
        ("edge-7", "APP", "192.0.2.7", "7422"),
        ("$G@192.0.2.8", "$G", "192.0.2.8", "7422"),
    ]
    assert values(rows, "nats_leafnode_rtt_seconds") == [0.000052]
    assert values(rows, "nats_leafnode_subscriptions") == [3.0]
    assert values(rows, "nats_leafz_leafnodes") == [2.0]


def test_jsz_meta_peers_streams_and_consumers(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    text = """{
  "server_id": "NJ",
  "server_name": "j1",
  "now": "2024-03-01T00:00:00Z",
  "config": {"max_memory": 1},
  "memory": 10, "storage": 20, "streams": 1, "consumers": 1, "messages": 5, "bytes": 50,
  "api": {"total": 9, "errors": 1},
  "meta_cluster": {"name": "east", "leader": "j2", "cluster_size": 3, "replicas": [
    {"name": "j2", "current": true, "active": 1500000000},
    {"name": "j3", "current": false, "active": "2.5s", "lag": 4}
  ]},
  "account_details": [{"name": "APP", "memory": 1, "storage": 2, "stream_detail": [
    {"name": "ORDERS", "state": {"messages": 5, "bytes": 50, "first_seq": 3, "last_seq": 7,
      "consumer_count": 1},
     "consumer_detail": [{"stream_name": "ORDERS", "name": "billing", "num_pending": 2,
       "num_ack_pending": 1, "num_redelivered": 0, "num_waiting": 1}]}
  ]}]
}
"""
    rows, rejects = stage_text(con, tmp_path, text, "jsz.json")
    assert rejects == []
    assert {r["site"] for r in rows} == {"east"}
    peers = {
        (r["labels"]["peer"], r["labels"].get("current")): r["value"]
        for r in rows
        if r["name"] == "nats_jetstream_meta_peer_active_seconds"
    }
    assert peers == {("j2", "true"): 1.5, ("j3", "false"): 2.5}
    assert [r["labels"]["peer"] for r in rows if r["name"] == "nats_jetstream_meta_leader"] == [
        "j2"
    ]
    assert values(rows, "nats_jetstream_meta_peer_lag") == [4.0]
    assert values(rows, "nats_jetstream_meta_cluster_size") == [3.0]
    assert values(rows, "nats_jetstream_streams") == [1.0]
    assert values(rows, "nats_jetstream_api_errors_total") == [1.0]
    # the limit of its config, as /varz gives it
    assert values(rows, "nats_jetstream_max_memory_bytes") == [1.0]
    stream = {
        r["name"]: r["value"]
        for r in rows
        if r["labels"].get("stream") == "ORDERS" and "consumer" not in r["labels"]
    }
    assert stream == {
        "nats_stream_messages": 5.0,
        "nats_stream_bytes": 50.0,
        "nats_stream_first_seq": 3.0,
        "nats_stream_last_seq": 7.0,
        "nats_stream_consumers": 1.0,
    }
    consumer = {
        r["name"]: (r["value"], r["labels"]["account"], r["line"])
        for r in rows
        if r["labels"].get("consumer") == "billing"
    }
    assert consumer == {
        "nats_consumer_pending": (2.0, "APP", 15),
        "nats_consumer_ack_pending": (1.0, "APP", 15),
        "nats_consumer_redelivered": (0.0, "APP", 15),
        "nats_consumer_waiting": (1.0, "APP", 15),
    }


def test_healthz_takes_the_file_time_and_says_not_ok(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "healthz.json"
    path.write_text('{"status": "unavailable", "error": "JetStream not current"}\n')
    saved = datetime(2024, 2, 29, 23, 59, 58, tzinfo=UTC)
    os.utime(path, (saved.timestamp(), saved.timestamp()))
    rows, rejects = stage_path(con, path)
    assert rejects == []
    assert [(r["ts"], r["name"], r["value"], r["labels"]) for r in rows] == [
        (
            saved,
            "nats_healthz_ok",
            0.0,
            {"endpoint": "healthz", "status": "unavailable", "error": "JetStream not current"},
        )
    ]


def test_varz_uptime_cluster_site_and_jetstream_usage(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    text = json.dumps(
        {
            "server_id": "NV",
            "server_name": "v1",
            "now": "2024-03-01T00:00:00Z",
            "uptime": "1d2h3m4s",
            "mem": 100,
            "cpu": 2.5,
            "connections": 3,
            "slow_consumers": None,
            "cluster": {"name": "east", "urls": ["a:6222"]},
            "gateway": {"name": "global"},
            "max_connections": 65536,
            "max_payload": 1048576,
            "cores": 4,
            "jetstream": {
                "config": {"max_memory": 1000, "max_storage": 2000, "store_dir": "/js"},
                "stats": {
                    "memory": 5,
                    "storage": 6,
                    "reserved_memory": 7,
                    "api": {"total": 40, "errors": 3},
                },
            },
        },
        indent=2,
    )
    rows, rejects = stage_text(con, tmp_path, text, "varz.json")
    assert rejects == []
    assert {r["site"] for r in rows} == {"east"}
    assert {r["name"]: r["value"] for r in rows} == {
        "nats_uptime_seconds": 86400 + 2 * 3600 + 3 * 60 + 4,
        "nats_mem_bytes": 100.0,
        "nats_cpu_percent": 2.5,
        "nats_connections": 3.0,
        "nats_jetstream_memory_bytes": 5.0,
        "nats_jetstream_storage_bytes": 6.0,
        "nats_jetstream_reserved_memory_bytes": 7.0,
        "nats_max_connections": 65536.0,
        "nats_max_payload_bytes": 1048576.0,
        "nats_cores": 4.0,
        "nats_jetstream_max_memory_bytes": 1000.0,
        "nats_jetstream_max_storage_bytes": 2000.0,
        "nats_jetstream_api_requests_total": 40.0,
        "nats_jetstream_api_errors_total": 3.0,
    }


def test_a_gzipped_response_reads_like_the_plain_one(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    plain, _ = stage_text(con, tmp_path, ROUTEZ, "routez.json")
    packed = tmp_path / "routez.json.gz"
    packed.write_bytes(gzip.compress(ROUTEZ.encode()))
    unpacked, rejects = stage_path(con, packed, src=8)
    assert unpacked == plain
    assert [r[1] for r in rejects] == ['routes[1].in_msgs: "many" is not a number']


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"server_id": "N", "now": "2024-03-01T00:00:00Z", "num_routes": 1, "routes": "x"}',
         'routes: "x" is not a list'),
        ('{"server_id": "N", "now": "2024-03-01T00:00:00Z", "num_routes": true, "routes": []}',
         "num_routes: true is not a number"),
        ('{"server_id": "N", "now": "2024-03-01T00:00:00Z", "num_routes": 1, "routes": [7]}',
         "routes[0]: 7 is not an object"),
        ('{"server_id": "N", "now": "2024-03-01T00:00:00Z", "num_routes": 1, '
         '"routes": [{"ip": "10.0.0.9"}]}',
         "routes[0]: no remote_name or remote_id: the peer is unknown, so no nats_route_up"),
        ('{"server_id": "N", "now": "2024-03-01T00:00:00Z", "num_connections": 1, '
         '"connections": [{"cid": 1, "rtt": "soon"}]}',
         'connections[0].rtt: "soon" is not a duration (as 1.5ms, 2m3s)'),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_is_a_reject_naming_its_path(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, text: str, reason: str
) -> None:
    _, rejects = stage_text(con, tmp_path, text)
    assert [(line, why) for line, why, _ in rejects] == [(1, reason)]


def test_bad_json_names_the_file_and_line(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "varz.json"
    path.write_text('{\n  "server_id": "N",\n  "mem": 1\n  "cpu": 0\n}\n')
    with pytest.raises(BadInputError, match="not valid JSON: Expecting ',' delimiter") as caught:
        natsmon.stage(con, src=1, path=path, source=str(path))
    assert (caught.value.source, caught.value.line) == (str(path), 4)
    assert str(caught.value).startswith(f"{path}:4: ")
    # the detector says so too: a document over several lines that breaks off is no log
    with pytest.raises(BadInputError) as sniffed:
        natsmon.sniff(path, source=str(path))
    assert sniffed.value.line == 4


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('{"server_id": "N", "hello": 1}\n', "no NATS monitoring endpoint returns", None),
        ('[{"server_id": "N"}]\n', "a JSON array, not a NATS monitoring response", None),
        ('{"status": "ok"}\n{"status": "ok"}\n', "more than one JSON value", 2),
        ('{"server_id": "N", "now": "yesterday", "num_routes": 0, "routes": []}\n',
         'now: "yesterday" is not a time', 1),
        ('{"server_id": "N", "now": 5, "num_routes": 0, "routes": []}\n',
         "now: 5 is not a time", 1),
        ("", "not valid JSON: Expecting value", 1),
    ],
)  # fmt: skip
def test_not_a_monitoring_response_fails_whole(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, text: str, message: str, line: int | None
) -> None:
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(BadInputError, match=message) as caught:
        natsmon.stage(con, src=1, path=path, source="the-file")
    assert (caught.value.source, caught.value.line) == ("the-file", line)
    assert con.execute("SELECT count(*) FROM stage_rejects").fetchall() == [(0,)]


def test_sniff_leaves_other_json_to_the_other_readers(tmp_path: Path) -> None:
    lines = tmp_path / "app.jsonl"
    lines.write_text('{"server_id": "N", "status": "ok"}\n{"server_id": "N", "status": "ok"}\n')
    single = tmp_path / "one.json"
    single.write_text('{"status": "ok", "msg": "done", "time": "2024-01-01T00:00:00Z"}\n')
    broken_line = tmp_path / "broken.json"
    broken_line.write_text('{"status": "ok",\n')
    assert natsmon.sniff(lines, source=str(lines)) is None
    assert natsmon.sniff(single, source=str(single)) is None
    assert natsmon.sniff(broken_line, source=str(broken_line)) is None
