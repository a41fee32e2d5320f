"""`dvlab ingest` of saved NATS monitoring responses into ``metrics``, and ``nats_peers``.

Expected values are read off the raw JSON by hand and written here: the real
responses of ``nats-docs/monitor`` (ids, names, ``now`` with its offset worked
out in UTC, how many numbers each response carries), and the small responses
written below. The lab is read back with plain read-only DuckDB, and the peers
through the curated query.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import dvlab
from dvlab.errors import BadInputError
from dvlab.lab.ingest import IngestOptions, ingest

from .ingest_support import jsonl, query, record, run_cli, table_counts

MONITOR = Path("nats-docs") / "monitor"

# the servers of the real responses, as their server_id fields say
ROUTEZ_SERVER = "NACDVKFBUW4C4XA24OOT6L4MDP56MW76J5RJDFXG7HLABSB46DCMWCOW"
GATEWAYZ_SERVER = "NANVBOU62MDUWTXWRQ5KH3PSMYNCHCEUHQV3TW3YH7WZLS7FMJE6END6"
LEAFZ_SERVER = "NC2FJCRMPBE5RI5OSRN7TKUCWQONCKNXHKJXCJIDVSAZ6727M7MQFVT3"
JSZ_SERVER = "NCVIDODSZ45C5OD67ZD7EJUIJPQDP6CM74SJX6TJIF2G7NLYS5LCVYHS"
# gatewayz.json's connection names: the remote servers' ids
REGION2_SERVER = "NCXBIYWT7MV7OAQTCR4QTKBN3X3HDFGSFWTURTCQ22ZZB6NKKJPO7MN4"
REGION3_SERVER = "NCVS7Q65WX3FGIL2YQRLI77CE6MQRWO2Y453HYVLNMBMTVLOKMPW7R6K"
REGION3_OTHER = "NCKCYK5LE3VVGOJQ66F65KA27UFPCLBPX4N4YOPOXO3KHGMW24USPCKN"

# "now" of routez.json, 2019-06-24T14:29:16.046656-07:00, in UTC
ROUTEZ_TS = datetime(2019, 6, 24, 21, 29, 16, 46656, tzinfo=UTC)
# "now" of gatewayz.json, 2019-07-24T18:02:55.597398-06:00: past midnight in UTC
GATEWAYZ_TS = datetime(2019, 7, 25, 0, 2, 55, 597398, tzinfo=UTC)
# "now" of leafz.json, 2019-08-27T09:07:05.841132-06:00
LEAFZ_TS = datetime(2019, 8, 27, 15, 7, 5, 841132, tzinfo=UTC)
# "now" of jsz.json, 2021-02-08T19:08:30.555533-05:00
JSZ_TS = datetime(2021, 2, 9, 0, 8, 30, 555533, tzinfo=UTC)


def routez(now: str, *routes: dict[str, Any], server: str = "n1") -> str:
    """A /routez response as nats-server writes it (indented), of server ``server``."""
    body = {
        "server_id": f"N{server.upper()}",
        "server_name": server,
        "now": now,
        "num_routes": len(routes),
        "routes": list(routes),
    }
    return json.dumps(body, indent=2) + "\n"


def route(rid: int, name: str, solicited: bool, **numbers: Any) -> dict[str, Any]:
    return {
        "rid": rid,
        "remote_id": f"N{name.upper()}",
        "remote_name": name,
        "did_solicit": solicited,
        "ip": "10.0.0.9",
        "port": 6222,
        **numbers,
    }


def metric_names(lab: Path, source: Path) -> dict[str, int]:
    rows = query(
        lab, "SELECT name, count(*) FROM metrics WHERE source = ? GROUP BY name", [str(source)]
    )
    return dict(rows)


# --------------------------------------------------------------------------- real responses


@pytest.fixture(scope="module")
def real_lab(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lab = tmp_path_factory.mktemp("natsmon") / "lab.duckdb"
    summary = ingest(lab, [str(real_data / MONITOR)])
    assert summary.failed == []
    return lab


@pytest.mark.realdata
def test_every_real_response_loads_as_its_endpoint(real_data: Path, real_lab: Path) -> None:
    formats = {
        Path(source).name: (fmt, status)
        for source, fmt, status in query(real_lab, "SELECT source, format, status FROM ingests")
    }
    assert formats == {
        "varz.json": ("nats-varz", "loaded"),
        "connz.json": ("nats-connz", "loaded"),
        "routez.json": ("nats-routez", "loaded"),
        "gatewayz.json": ("nats-gatewayz", "loaded"),
        "leafz.json": ("nats-leafz", "loaded"),
        "subsz.json": ("nats-subsz", "loaded"),
        "accountz.json": ("nats-accountz", "loaded"),
        "accountz_acc_G.json": ("nats-accountz", "loaded"),
        "accstatz.json": ("nats-accstatz", "loaded"),
        "jsz.json": ("nats-jsz", "loaded"),
        "healthz.json": ("nats-healthz", "loaded"),
    }
    assert table_counts(real_lab)["logs"] == 0
    assert table_counts(real_lab)["rejects"] == 0
    assert query(real_lab, "SELECT DISTINCT service FROM metrics") == [("nats-server",)]


@pytest.mark.realdata
def test_real_peers_through_the_nats_peers_query(real_lab: Path) -> None:
    rows = dvlab.open_lab(real_lab).query("nats_peers").fetchall()
    assert rows == [
        # gatewayz.json: gateway "region1" dials region2 and region3 and is dialled by both
        ("gateway", GATEWAYZ_SERVER, "region1", "region2", "inbound", GATEWAYZ_TS, GATEWAYZ_TS),
        ("gateway", GATEWAYZ_SERVER, "region1", "region2", "outbound", GATEWAYZ_TS, GATEWAYZ_TS),
        ("gateway", GATEWAYZ_SERVER, "region1", "region3", "inbound", GATEWAYZ_TS, GATEWAYZ_TS),
        ("gateway", GATEWAYZ_SERVER, "region1", "region3", "outbound", GATEWAYZ_TS, GATEWAYZ_TS),
        # leafz.json: one leaf without a name, account $G from 127.0.0.1
        ("leafnode", LEAFZ_SERVER, None, "$G@127.0.0.1", None, LEAFZ_TS, LEAFZ_TS),
        # routez.json: one route, no remote_name, solicited by this server
        (
            "route",
            ROUTEZ_SERVER,
            None,
            "de475c0041418afc799bccf0fdd61b47",
            "outbound",
            ROUTEZ_TS,
            ROUTEZ_TS,
        ),
    ]


@pytest.mark.realdata
def test_real_gateway_connections_by_direction(real_lab: Path) -> None:
    rows = query(
        real_lab,
        """SELECT labels['direction'], labels['peer'], labels['remote_id'], labels['cid'],
                  labels['port'], line
           FROM metrics WHERE name = 'nats_gateway_up' ORDER BY ALL""",
    )
    assert rows == [
        ("inbound", "region2", REGION2_SERVER, "9", "52029", 49),
        ("inbound", "region3", REGION3_OTHER, "8", "52026", 89),
        ("inbound", "region3", REGION3_SERVER, "4", "52025", 70),
        ("outbound", "region2", REGION2_SERVER, "7", "5500", 8),
        ("outbound", "region3", REGION3_SERVER, "5", "6500", 27),
    ]


@pytest.mark.realdata
def test_real_jsz_meta_cluster_peers(real_lab: Path) -> None:
    rows = query(
        real_lab,
        """SELECT name, labels['server_id'], labels['peer'], labels['current'], value, site, ts,
                  line
           FROM metrics WHERE name LIKE 'nats_jetstream_meta_%' ORDER BY name""",
    )
    # one replica, "server_5500", not current, last active 2932926000 ns ago
    assert rows == [
        ("nats_jetstream_meta_peer", JSZ_SERVER, "server_5500", "false", 1.0, "cluster_name",
         JSZ_TS, 23),
        ("nats_jetstream_meta_peer_active_seconds", JSZ_SERVER, "server_5500", "false",
         2.932926, "cluster_name", JSZ_TS, 23),
    ]  # fmt: skip


@pytest.mark.realdata
def test_real_times_in_utc(real_data: Path, real_lab: Path) -> None:
    times = dict(query(real_lab, "SELECT DISTINCT source, ts FROM metrics"))
    folder = real_data / MONITOR
    # -07:00
    assert times[str(folder / "connz.json")] == datetime(
        2019, 6, 24, 21, 28, 16, 520365, tzinfo=UTC
    )
    # -06:00, into the next day
    assert times[str(folder / "gatewayz.json")] == GATEWAYZ_TS
    # -05:00
    assert times[str(folder / "jsz.json")] == JSZ_TS
    # Z with nanoseconds, kept to the microsecond
    assert times[str(folder / "accstatz.json")] == datetime(
        2022, 10, 19, 17, 16, 20, 881296, tzinfo=UTC
    )
    # no "now": the file's modification time
    healthz = folder / "healthz.json"
    assert times[str(healthz)] == datetime.fromtimestamp(healthz.stat().st_mtime, tz=UTC)


@pytest.mark.realdata
def test_real_metric_counts_of_three_endpoints(real_data: Path, real_lab: Path) -> None:
    folder = real_data / MONITOR
    # five gateway connections (two outbound, one inbound from region2, two from region3),
    # each up, in/out msgs/bytes and pending bytes; the file gives no rtt
    assert metric_names(real_lab, folder / "gatewayz.json") == {
        "nats_gateway_up": 5,
        "nats_gateway_in_msgs": 5,
        "nats_gateway_out_msgs": 5,
        "nats_gateway_in_bytes": 5,
        "nats_gateway_out_bytes": 5,
        "nats_gateway_pending_bytes": 5,
    }
    # num_routes, and the one route: up, in/out msgs/bytes, pending_size, subscriptions
    assert sum(metric_names(real_lab, folder / "routez.json").values()) == 8
    # leafnodes, and the one leaf: up, in/out msgs/bytes, subscriptions, rtt
    leaf = dict(
        query(
            real_lab,
            "SELECT name, value FROM metrics WHERE source = ?",
            [str(folder / "leafz.json")],
        )
    )
    assert leaf == {
        "nats_leafz_leafnodes": 1.0,
        "nats_leafnode_up": 1.0,
        "nats_leafnode_in_msgs": 0.0,
        "nats_leafnode_out_msgs": 10000.0,
        "nats_leafnode_in_bytes": 0.0,
        "nats_leafnode_out_bytes": 1280000.0,
        "nats_leafnode_subscriptions": 1.0,
        "nats_leafnode_rtt_seconds": 0.0002,
    }


@pytest.mark.realdata
def test_real_responses_loaded_again_add_nothing(real_data: Path, tmp_path: Path) -> None:
    lab = tmp_path / "lab.duckdb"
    ingest(lab, [str(real_data / MONITOR)])
    before = query(lab, "SELECT * FROM metrics ORDER BY ALL")
    again = ingest(lab, [str(real_data / MONITOR)])
    assert {s.status for s in again.sources} == {"unchanged"}
    assert again.total("rows_loaded") == 0
    assert query(lab, "SELECT * FROM metrics ORDER BY ALL") == before


# --------------------------------------------------------------------------- hand-written


def test_reingest_adds_nothing(lab_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "routez.json"
    source.write_text(routez("2024-03-01T10:00:00Z", route(1, "n2", True, in_msgs=5)))
    first = ingest(lab_path, [str(source)])
    assert [(s.status, s.format, s.rows_loaded) for s in first.sources] == [
        ("loaded", "nats-routez", 3)  # num_routes, up, in_msgs
    ]
    second = ingest(lab_path, [str(source)])
    assert [(s.status, s.rows_loaded) for s in second.sources] == [("unchanged", 0)]
    assert query(lab_path, "SELECT count(*) FROM metrics") == [(3,)]
    # under another name (a copy, a rotation) it is the same content
    copy = tmp_path / "copy.json"
    copy.write_bytes(source.read_bytes())
    third = ingest(lab_path, [str(copy)])
    assert [s.status for s in third.sources] == ["unchanged"]
    assert query(lab_path, "SELECT count(*) FROM metrics") == [(3,)]


def test_a_response_saved_over_replaces_its_rows(lab_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "routez.json"
    source.write_text(routez("2024-03-01T10:00:00Z", route(1, "n2", True, in_msgs=5)))
    ingest(lab_path, [str(source)])
    source.write_text(routez("2024-03-01T10:05:00Z", route(1, "n2", True, in_msgs=8)))
    summary = ingest(lab_path, [str(source)])
    assert [(s.status, s.rows_loaded, s.rows_replaced) for s in summary.sources] == [
        ("rewritten", 3, 3)
    ]
    assert query(lab_path, "SELECT ts, value FROM metrics WHERE name = 'nats_route_in_msgs'") == [
        (datetime(2024, 3, 1, 10, 5, tzinfo=UTC), 8.0)
    ]


def test_a_gzipped_response_loads(lab_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "routez.json.gz"
    source.write_bytes(gzip.compress(routez("2024-03-01T10:00:00Z").encode()))
    summary = ingest(lab_path, [str(source)])
    assert [(s.status, s.format) for s in summary.sources] == [("loaded", "nats-routez")]
    assert query(lab_path, "SELECT name, value FROM metrics") == [("nats_routez_num_routes", 0.0)]


def test_json_lines_logs_with_server_id_and_status_stay_logs(
    lab_path: Path, tmp_path: Path
) -> None:
    source = tmp_path / "app.jsonl"
    extra = {"server_id": "NABC", "status": "ok", "num_subscriptions": 3}
    source.write_text(jsonl([record(1, **extra), record(2, **extra), record(3, **extra)]))
    single = tmp_path / "one.jsonl"
    single.write_text(jsonl([record(4, server_id="NABC", status="ok")]))
    summary = ingest(lab_path, [str(source), str(single)])
    assert [(s.format, s.rows_loaded) for s in summary.sources] == [("jsonl", 3), ("jsonl", 1)]
    assert table_counts(lab_path)["logs"] == 4
    assert query(lab_path, "SELECT count(*) FROM metrics") == [(0,)]


def test_bad_json_fails_the_source_naming_file_and_line(lab_path: Path, tmp_path: Path) -> None:
    broken = tmp_path / "varz.json"
    broken.write_text('{\n  "server_id": "N1",\n  "mem": 1,\n  "cpu": 0,\n  "now": \n}\n')
    good = tmp_path / "routez.json"
    good.write_text(routez("2024-03-01T10:00:00Z"))
    summary = ingest(lab_path, [str(broken), str(good)])
    failed, loaded = summary.sources
    assert failed.status == "failed"
    assert failed.message is not None
    assert failed.message.startswith(f"{broken}:6: not valid JSON: Expecting value")
    assert loaded.status == "loaded"
    assert query(lab_path, "SELECT DISTINCT source FROM metrics") == [(str(good),)]


def test_a_wrong_type_is_a_reject_and_the_rest_loads(lab_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "routez.json"
    source.write_text(
        routez("2024-03-01T10:00:00Z", route(1, "n2", True, in_msgs="many", out_msgs=4))
    )
    summary = ingest(lab_path, [str(source)])
    assert [(s.rows_loaded, s.rows_rejected) for s in summary.sources] == [(3, 1)]
    # line 14 of the indented text: "in_msgs": "many",
    assert query(lab_path, "SELECT source, line, reason, raw FROM rejects") == [
        (str(source), 14, 'routes[0].in_msgs: "many" is not a number', '"in_msgs": "many",')
    ]
    assert sorted(r[0] for r in query(lab_path, "SELECT name FROM metrics")) == [
        "nats_route_out_msgs",
        "nats_route_up",
        "nats_routez_num_routes",
    ]
    with pytest.raises(BadInputError, match="--strict: 1 line"):
        ingest(tmp_path / "strict.duckdb", [str(source)], IngestOptions(strict=True))


def test_format_nats_monitor_forces_the_reader(
    lab_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "snapshot.txt"
    saved.write_text(routez("2024-03-01T10:00:00Z"))
    logs = tmp_path / "app.jsonl"
    logs.write_text(jsonl([record(1), record(2)]))
    code, _, err = run_cli(
        capsys, "--db", str(lab_path), "ingest", "--format", "nats-monitor", str(saved), str(logs)
    )
    assert code == 2
    assert f"{logs}:2: more than one JSON value" in err
    assert query(lab_path, "SELECT source, format, status FROM ingests ORDER BY ingest_id") == [
        (str(saved), "nats-routez", "loaded"),
        (str(logs), None, "failed"),
    ]


def test_nats_peers_first_and_last_seen_over_snapshots(lab_path: Path, tmp_path: Path) -> None:
    (tmp_path / "n1-a.json").write_text(
        routez("2024-03-01T10:00:00Z", route(1, "n2", True), route(2, "n3", False))
    )
    (tmp_path / "n1-b.json").write_text(routez("2024-03-01T10:05:00+02:00", route(1, "n2", True)))
    (tmp_path / "n2-a.json").write_text(
        routez("2024-03-01T10:01:00Z", route(7, "n1", False), server="n2")
    )
    summary = ingest(lab_path, [str(tmp_path)])
    assert summary.failed == []
    lab = dvlab.open_lab(lab_path)
    t0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    t1 = datetime(2024, 3, 1, 10, 1, tzinfo=UTC)
    t_b = datetime(2024, 3, 1, 8, 5, tzinfo=UTC)  # 10:05 at +02:00: before the others
    assert lab.query("nats_peers").fetchall() == [
        ("route", "n1", None, "n2", "outbound", t_b, t0),
        ("route", "n1", None, "n3", "inbound", t0, t0),
        ("route", "n2", None, "n1", "inbound", t1, t1),
    ]
    assert lab.query("nats_peers", server="NN2").fetchall() == [
        ("route", "n2", None, "n1", "inbound", t1, t1)
    ]
    assert lab.query("nats_peers", kind="gateway").fetchall() == []
    assert lab.query("nats_peers", **{"from": "2024-03-01T09:00:00Z"}).fetchall() == [
        ("route", "n1", None, "n2", "outbound", t0, t0),
        ("route", "n1", None, "n3", "inbound", t0, t0),
        ("route", "n2", None, "n1", "inbound", t1, t1),
    ]
    assert lab.query("nats_peers", to="2024-03-01T09:00:00Z").fetchall() == [
        ("route", "n1", None, "n2", "outbound", t_b, t_b)
    ]
