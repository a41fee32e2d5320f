"""The curated queries behind the incident-timeline report, row for row.

Every expected row is counted by hand from ``INCIDENT_ROWS`` in incident_fixture.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from incident_fixture import INCIDENT_ROWS, at, make_lab

from dvlab.lab import queries
from dvlab.lab.store import open_lab

MINUTE = timedelta(minutes=1)


def run(lab: Path, name: str, **params: Any) -> list[tuple[Any, ...]]:
    return open_lab(lab).query(name, **params).fetchall()


@pytest.mark.parametrize(
    "name", ["window_extent", "counts_per_bucket", "first_errors", "error_templates"]
)
def test_query_declares_the_window_parameters(name: str) -> None:
    declared = {p.name: p for p in queries.load(name).params}

    assert {"from", "to", "site", "service"} <= set(declared)
    assert all(declared[p].default == "null" for p in ("from", "to", "site", "service"))


# window_extent


def test_window_extent_of_the_whole_lab(incident_lab: Path) -> None:
    # 15 events; series: gateway trace/debug/info/error, orders info/error, ledger warn/error/fatal
    assert run(incident_lab, "window_extent") == [(at("10:00:05"), at("10:07:00"), 15, 3, 9)]


def test_window_extent_of_one_site(incident_lab: Path) -> None:
    # bergen: lines 5-9, 13, 14; series ledger error/warn/fatal, orders error, gateway trace/error
    assert run(incident_lab, "window_extent", site="bergen") == [
        (at("10:02:00"), at("10:06:30"), 7, 3, 6)
    ]


def test_window_extent_of_an_empty_window(incident_lab: Path) -> None:
    assert run(incident_lab, "window_extent", **{"from": "2027-01-01T00:00:00Z"}) == [
        (None, None, 0, 0, 0)
    ]


# counts_per_bucket


def test_counts_per_minute_of_the_whole_lab(incident_lab: Path) -> None:
    rows = run(incident_lab, "counts_per_bucket", bucket="1 minute")

    assert [(bucket, end - bucket, *rest) for bucket, end, *rest in rows] == [
        (at("10:00:00"), MINUTE, "gateway", "debug", 1),
        (at("10:00:00"), MINUTE, "gateway", "info", 1),
        (at("10:01:00"), MINUTE, "orders", "info", 1),
        (at("10:01:00"), MINUTE, "orders", "error", 1),
        (at("10:02:00"), MINUTE, "ledger", "error", 1),
        (at("10:02:00"), MINUTE, "orders", "error", 1),
        (at("10:03:00"), MINUTE, "ledger", "warn", 1),
        (at("10:03:00"), MINUTE, "ledger", "error", 1),
        (at("10:04:00"), MINUTE, "ledger", "fatal", 1),
        (at("10:05:00"), MINUTE, "gateway", "error", 2),
        (at("10:06:00"), MINUTE, "gateway", "trace", 1),
        (at("10:06:00"), MINUTE, "gateway", "error", 1),
        (at("10:06:00"), MINUTE, "orders", "info", 1),
        (at("10:07:00"), MINUTE, "orders", "error", 1),
    ]
    assert sum(row[-1] for row in rows) == len(INCIDENT_ROWS)


def test_counts_per_five_minutes_at_one_site(incident_lab: Path) -> None:
    rows = run(incident_lab, "counts_per_bucket", bucket="5 minutes", site="oslo")

    assert rows == [
        (at("10:00:00"), at("10:05:00"), "gateway", "debug", 1),
        (at("10:00:00"), at("10:05:00"), "gateway", "info", 1),
        (at("10:00:00"), at("10:05:00"), "orders", "info", 1),
        (at("10:00:00"), at("10:05:00"), "orders", "error", 1),
        (at("10:05:00"), at("10:10:00"), "gateway", "error", 2),
        (at("10:05:00"), at("10:10:00"), "orders", "info", 1),
        (at("10:05:00"), at("10:10:00"), "orders", "error", 1),
    ]


def test_counts_window_end_is_exclusive(incident_lab: Path) -> None:
    # lines 10 and 11; lines 12 and 13 at 10:06:00 fall on the excluded end
    rows = run(
        incident_lab,
        "counts_per_bucket",
        **{"from": "2026-12-04T10:05:00Z", "to": "2026-12-04T10:06:00Z"},
    )

    assert rows == [(at("10:05:00"), at("10:06:00"), "gateway", "error", 2)]


def test_counts_in_one_day_buckets(incident_lab: Path) -> None:
    rows = run(incident_lab, "counts_per_bucket", bucket="1 day", service="ledger")

    midnight, next_midnight = at("00:00:00"), at("00:00:00").replace(day=5)
    assert rows == [
        (midnight, next_midnight, "ledger", "warn", 1),
        (midnight, next_midnight, "ledger", "error", 2),
        (midnight, next_midnight, "ledger", "fatal", 1),
    ]


# first_errors


def test_first_errors_of_the_whole_lab(incident_lab: Path) -> None:
    rows = run(incident_lab, "first_errors")

    assert rows == [
        ("orders", at("10:01:20"), "oslo", "ord-1", "error",
         "payment 5511 failed: upstream 10.0.3.7 timed out after 3000 ms", "c-1", "t-77", 3,
         "fixture.jsonl", 4),
        ("ledger", at("10:02:00"), "bergen", "led-1", "error",
         "connection pool exhausted (used 20 of 20)", None, None, 3, "fixture.jsonl", 5),
        ("gateway", at("10:05:00"), "oslo", "gw-1", "error",
         "session deadbeefcafe01 expired for 10.0.0.12", None, None, 3, "fixture.jsonl", 10),
    ]  # fmt: skip


def test_first_errors_from_a_later_start(incident_lab: Path) -> None:
    rows = run(incident_lab, "first_errors", **{"from": "2026-12-04 10:02:10"})

    assert [(r[0], r[1], r[4], r[8], r[10]) for r in rows] == [
        ("orders", at("10:02:30"), "error", 2, 6),
        ("ledger", at("10:03:15"), "error", 2, 8),
        ("gateway", at("10:05:00"), "error", 3, 10),
    ]


def test_first_errors_counts_fatal_as_an_error(incident_lab: Path) -> None:
    rows = run(incident_lab, "first_errors", service="ledger", **{"from": "2026-12-04T10:04:00Z"})

    assert [(r[0], r[1], r[4], r[8]) for r in rows] == [("ledger", at("10:04:50"), "fatal", 1)]


# error_templates


def test_error_templates_of_the_whole_lab(incident_lab: Path) -> None:
    rows = run(incident_lab, "error_templates")

    assert rows == [
        ("payment <num> failed: upstream <ip> timed out after <num> ms", 3,
         at("10:01:20"), at("10:07:00"), "orders",
         "payment 5511 failed: upstream 10.0.3.7 timed out after 3000 ms"),
        ("connection pool exhausted (used <num> of <num>)", 2,
         at("10:02:00"), at("10:06:30"), "gateway, ledger",
         "connection pool exhausted (used 20 of 20)"),
        ("entry <uuid> rejected: checksum <hex>", 2,
         at("10:03:15"), at("10:04:50"), "ledger",
         "entry 7f3c2a1e-9b4d-4c8e-a1f2-3d4e5f6a7b8c rejected: checksum 0xDEADBEEF"),
        ("session <hex> expired for <ip>", 2,
         at("10:05:00"), at("10:05:30"), "gateway",
         "session deadbeefcafe01 expired for 10.0.0.12"),
    ]  # fmt: skip


def test_error_templates_of_one_service_with_a_limit(incident_lab: Path) -> None:
    rows = run(incident_lab, "error_templates", service="gateway", limit=1)

    assert rows == [
        ("session <hex> expired for <ip>", 2, at("10:05:00"), at("10:05:30"), "gateway",
         "session deadbeefcafe01 expired for 10.0.0.12"),
    ]  # fmt: skip


def test_error_templates_example_is_the_first_in_the_window(incident_lab: Path) -> None:
    rows = run(incident_lab, "error_templates", service="gateway", **{"from": "2026-12-04 10:06"})

    assert rows == [
        ("connection pool exhausted (used <num> of <num>)", 1, at("10:06:30"), at("10:06:30"),
         "gateway", "connection pool exhausted (used 16 of 16)"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("message", "template"),
    [
        ("user 7F3C2A1E-9B4D-4C8E-A1F2-3D4E5F6A7B8C not found", "user <uuid> not found"),
        ("segfault at 0x7ffd3a2b in worker 3", "segfault at <hex> in worker <num>"),
        ("bad digest 9f86d081884c7d65, want abcdef01", "bad digest <hex>, want <hex>"),
        ("pid 12345678 exited with 137", "pid <num> exited with <num>"),
        ("took 12ms, budget 2.5 s", "took <num>ms, budget <num> s"),
        ("peer 192.168.1.20:5432 closed", "peer <ip>:<num> closed"),
        ("cafe 1234567 closed", "cafe <num> closed"),
        ("trace 1234567890abcdef lost", "trace <hex> lost"),
    ],
)
def test_error_templates_masking(tmp_path: Path, message: str, template: str) -> None:
    lab = make_lab(
        tmp_path / "lab.duckdb",
        [("10:00:00", "oslo", "h", "svc", "error", message, None, None, None, None)],
    )

    assert run(lab, "error_templates") == [
        (template, 1, at("10:00:00"), at("10:00:00"), "svc", message)
    ]


def test_error_templates_leave_out_warnings(tmp_path: Path) -> None:
    lab = make_lab(
        tmp_path / "lab.duckdb",
        [("10:00:00", "oslo", "h", "svc", "warn", "disk 91% full", None, None, None, None)],
    )

    assert run(lab, "error_templates") == []
