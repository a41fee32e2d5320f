"""oslo.log text: the real loghub OpenStack sample and small hand-written cases."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from dvlab.lab.ingest import IngestOptions, ingest
from dvlab.sources.oslo import OsloParser, program_name

from .conftest import Run

OPENSTACK = "loghub-openstack/OpenStack_2k.log"


@pytest.mark.realdata
def test_real_openstack_sample(
    real_data: Path, run: Run, raw_lines: Callable[[Path], list[str]]
) -> None:
    path = real_data / OPENSTACK
    lines = raw_lines(path)
    records, rejects = run(OsloParser(), path.read_text(encoding="utf-8"), source=str(path))

    # counted from the raw text by whitespace positions and a different, simpler regex
    fields = [line.split() for line in lines]
    services = Counter(f[0].split(".log", 1)[0] for f in fields)
    levels = Counter(f[4] for f in fields)
    req_ids = set(re.findall(r"\[(req-[0-9a-f]{8}-[0-9a-f-]{27})[ \]]", "\n".join(lines)))
    instances = [
        m.group(1) for m in map(re.compile(r"\[instance: ([0-9a-f-]{36})\]").search, lines) if m
    ]

    assert len(lines) == 2000
    assert rejects == []
    assert len(records) == len(lines)
    assert services == {"nova-api": 1060, "nova-compute": 933, "nova-scheduler": 7}
    assert Counter(r["service"] for r in records) == services
    assert levels == {"INFO": 1969, "WARNING": 31}
    assert Counter(r["level_raw"] for r in records) == levels
    assert len(req_ids) == 938
    assert {r["correlation_id"] for r in records} - {None} == req_ids
    assert [r["line"] for r in records] == list(range(1, 2001))
    assert all(r["end_line"] == r["line"] for r in records)
    assert [r["ts_raw"] for r in records] == [f"{f[1]} {f[2]}" for f in fields]
    assert [r["attributes"]["pid"] for r in records] == [int(f[3]) for f in fields]
    assert [r["attributes"]["logger"] for r in records] == [f[5] for f in fields]
    assert len(instances) == 535
    assert [
        r["attributes"]["instance_id"] for r in records if "instance_id" in r["attributes"]
    ] == instances
    # no "[instance: ...]" stays at the front of a message
    assert not any(r["message"].startswith("[instance:") for r in records)


@pytest.mark.realdata
def test_real_openstack_first_line(real_data: Path, run: Run) -> None:
    records, _ = run(OsloParser(), (real_data / OPENSTACK).read_text(encoding="utf-8"))
    first = records[0]
    assert first["ts_raw"] == "2017-05-16 00:00:00.008"
    assert first["level_raw"] == "INFO"
    assert first["service"] == "nova-api"
    assert first["correlation_id"] == "req-38101a0b-2096-447d-96ea-a692162415ae"
    assert first["message"] == (
        '10.11.10.1 "GET /v2/54fadb412c4e40cdbaed9335e4c35a9e/servers/detail HTTP/1.1" '
        "status: 200 len: 1893 time: 0.2477829"
    )
    assert first["attributes"] == {
        "pid": 25746,
        "logger": "nova.osapi_compute.wsgi.server",
        "log_file": "nova-api.log.1.2017-05-16_13:53:08",
        "user_id": "113d3a99c3da401fbd62cc2caa5b96d2",
        "project_id": "54fadb412c4e40cdbaed9335e4c35a9e",
    }


LINES_WITHOUT_FILE_COLUMN = """\
2024-03-01 10:00:00.125 4242 INFO nova.compute.manager [req-aaaa1111-2222-3333-4444-555566667777 u1 p1 - - -] [instance: 0f1e2d3c-0000-4000-8000-00000000abcd] Claim successful
2024-03-01 10:00:01.500 4242 WARNING nova.virt.libvirt.imagecache [req-bbbb1111-2222-3333-4444-555566667777 - - - - -] Unknown base file
2024-03-01 10:00:02.000 4242 DEBUG oslo_service.periodic_task [-] Running periodic task
2024-03-01 10:00:03.000 4242 INFO nova.api [req-global01 req-local01 u2 p2 d2 ud2 pd2] routed
"""


def test_service_from_the_source_file_name(run: Run) -> None:
    records, rejects = run(
        OsloParser(), LINES_WITHOUT_FILE_COLUMN, source="/var/log/nova/nova-compute.log"
    )
    assert rejects == []
    assert [r["service"] for r in records] == ["nova-compute"] * 4

    claim, unknown, periodic, routed = records
    assert claim["correlation_id"] == "req-aaaa1111-2222-3333-4444-555566667777"
    assert claim["message"] == "Claim successful"
    assert claim["attributes"] == {
        "pid": 4242,
        "logger": "nova.compute.manager",
        "user_id": "u1",
        "project_id": "p1",
        "instance_id": "0f1e2d3c-0000-4000-8000-00000000abcd",
    }
    assert unknown["level_raw"] == "WARNING"
    assert unknown["correlation_id"] == "req-bbbb1111-2222-3333-4444-555566667777"
    assert "user_id" not in unknown["attributes"]
    assert periodic["correlation_id"] is None and periodic["message"] == "Running periodic task"
    assert routed["correlation_id"] == "req-global01"
    assert routed["attributes"] == {
        "pid": 4242,
        "logger": "nova.api",
        "request_id": "req-local01",
        "user_id": "u2",
        "project_id": "p2",
        "domain_id": "d2",
        "user_domain_id": "ud2",
        "project_domain_id": "pd2",
    }


def test_no_service_without_a_file_name(run: Run) -> None:
    records, _ = run(OsloParser(), LINES_WITHOUT_FILE_COLUMN)
    assert [r["service"] for r in records] == [None] * 4


@pytest.mark.parametrize(
    ("name", "program"),
    [
        ("nova-api.log.1.2017-05-16_13:53:08", "nova-api"),
        ("nova-compute.log", "nova-compute"),
        ("/var/log/neutron/neutron-server.log.2.gz", "neutron-server"),
        ("<input>", None),
        ("-", None),
        (None, None),
    ],
)
def test_program_name(name: str | None, program: str | None) -> None:
    assert program_name(name) == program


def test_traceback_lines_join_the_record_above(run: Run) -> None:
    # oslo.log prefixes each traceback line (without a context); a raw traceback
    # printed without prefixes joins the record above it
    text = """\
2024-03-01 10:00:00.000 7 ERROR nova.compute.manager [req-1 u p - - -] [instance: abc] Build failed
Traceback (most recent call last):
  File "/usr/lib/python3/nova/compute/manager.py", line 10, in _build
    self.driver.spawn()
nova.exception.RescheduledException: no host
2024-03-01 10:00:00.001 7 ERROR nova.compute.manager [instance: abc] Traceback (most recent call last):
2024-03-01 10:00:05.000 7 INFO nova.compute.manager [-] Done
"""
    records, rejects = run(OsloParser(), text)
    assert rejects == []
    failed, prefixed, done = records
    assert (failed["line"], failed["end_line"]) == (1, 5)
    assert failed["message"] == (
        "Build failed\n"
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3/nova/compute/manager.py", line 10, in _build\n'
        "    self.driver.spawn()\n"
        "nova.exception.RescheduledException: no host"
    )
    assert prefixed["correlation_id"] is None
    assert prefixed["attributes"]["instance_id"] == "abc"
    assert prefixed["message"] == "Traceback (most recent call last):"
    assert (done["line"], done["end_line"]) == (7, 7)


def test_rejects(run: Run) -> None:
    text = """\
    indented before any record
2024-03-01 10:00:00.000 7 INFO nova.api [-] fine
2024-03-01 10:00:00 INFO nova.api missing pid
"""
    records, rejects = run(OsloParser(), text)
    assert [r["line"] for r in records] == [2]
    assert [r.line for r in rejects] == [1, 3]
    assert "no oslo record before it" in rejects[0].reason
    assert rejects[1].reason == (
        "not an oslo.log line: expected "
        "'<date> <time> <pid> <LEVEL> <module> [<context>] <message>'"
    )


def test_looks_like() -> None:
    lines = LINES_WITHOUT_FILE_COLUMN.splitlines()
    assert OsloParser().looks_like([*lines, "Jun 14 15:16:01 combo su: x"]) == 4 / 5


def test_service_given_wins_over_the_file_name_but_not_over_the_line(tmp_path: Path) -> None:
    """``--service`` fills what the lines lack: over a guess from the file's name, yes;
    over the file-name column a line carries itself, no."""
    lab = tmp_path / "lab.duckdb"
    bare = tmp_path / "compute-node-7.log"
    bare.write_text(LINES_WITHOUT_FILE_COLUMN)
    named = tmp_path / "collected.log"
    named.write_text(
        "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO "
        "nova.osapi_compute.wsgi.server [req-38101a0b-2096-447d-96ea-a692162415ae "
        '- - - - -] 10.11.10.1 "GET /v2/servers HTTP/1.1" status: 200\n'
    )
    given = IngestOptions(format="oslo", service="nova-compute")
    ingest(lab, [str(bare), str(named)], given)
    ingest(tmp_path / "other.duckdb", [str(bare)], IngestOptions(format="oslo"))

    def services(db: Path) -> list[tuple[str, str, int]]:
        con = duckdb.connect(str(db), read_only=True)
        try:
            return con.execute(
                "SELECT regexp_extract(source, '[^/]+$'), service, count(*) FROM logs "
                "GROUP BY ALL ORDER BY ALL"
            ).fetchall()
        finally:
            con.close()

    assert services(lab) == [
        ("collected.log", "nova-api", 1),
        ("compute-node-7.log", "nova-compute", 4),
    ]
    assert services(tmp_path / "other.duckdb") == [("compute-node-7.log", "compute-node-7", 4)]
