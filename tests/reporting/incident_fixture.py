"""A small hand-written lab for the reporting tests (see also the fixture in conftest.py).

Fifteen log records from three services (gateway, orders, ledger) at two sites
(oslo, bergen) between 10:00:05 and 10:07:00 UTC on 4 December 2026. The
expected values in the tests are worked out by hand from :data:`INCIDENT_ROWS`,
so change a row here and the tests that count it must change too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dvlab.lab import schema

# (time, site, host, service, level, message, correlation_id, causation_id, task_id, attributes)
Row = tuple[str, str, str, str, str, str, str | None, str | None, str | None, str | None]

# One record a line reads better than the formatter's one field a line.
# fmt: off
INCIDENT_ROWS: list[Row] = [
    ("10:00:05", "oslo", "gw-1", "gateway", "info", "request 1001 accepted from 10.0.0.12", "c-1", None, None, None),
    ("10:00:40", "oslo", "gw-1", "gateway", "debug", "cache warm in 35 ms", None, None, None, None),
    ("10:01:10", "oslo", "ord-1", "orders", "info", "order 5511 created", "c-1", None, "t-77", None),
    ("10:01:20", "oslo", "ord-1", "orders", "error", "payment 5511 failed: upstream 10.0.3.7 timed out after 3000 ms", "c-1", None, "t-77", None),
    ("10:02:00", "bergen", "led-1", "ledger", "error", "connection pool exhausted (used 20 of 20)", None, None, None, None),
    ("10:02:30", "bergen", "ord-2", "orders", "error", "payment 5512 failed: upstream 10.0.3.9 timed out after 2500 ms", "c-2", None, None, None),
    ("10:03:00", "bergen", "led-1", "ledger", "warn", "ledger lag 12 s", None, None, None, None),
    ("10:03:15", "bergen", "led-1", "ledger", "error", "entry 7f3c2a1e-9b4d-4c8e-a1f2-3d4e5f6a7b8c rejected: checksum 0xDEADBEEF", None, None, None, None),
    ("10:04:50", "bergen", "led-1", "ledger", "fatal", "entry 0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d rejected: checksum 0x1F2E3D4C", None, None, None, None),
    ("10:05:00", "oslo", "gw-1", "gateway", "error", "session deadbeefcafe01 expired for 10.0.0.12", None, None, None, '{"request_id": "c-1"}'),
    ("10:05:30", "oslo", "gw-2", "gateway", "error", "session 00ff00ff00ff expired for 10.0.0.99", None, None, None, None),
    ("10:06:00", "oslo", "ord-1", "orders", "info", "order 5511 cancelled", "c-1", "e-4", None, None),
    ("10:06:00", "bergen", "gw-3", "gateway", "trace", "heartbeat", None, None, None, None),
    ("10:06:30", "bergen", "gw-3", "gateway", "error", "connection pool exhausted (used 16 of 16)", None, None, None, None),
    ("10:07:00", "oslo", "ord-1", "orders", "error", "payment 12345678 failed: upstream 10.0.3.7 timed out after 3000 ms", None, None, None, None),
]
# fmt: on

SERVICES = ("gateway", "orders", "ledger")


def at(clock: str) -> datetime:
    """A time of the fixture's day, ``"10:01:20"``, as an aware UTC datetime."""
    hour, minute, second = (int(part) for part in clock.split(":"))
    return datetime(2026, 12, 4, hour, minute, second, tzinfo=UTC)


def make_lab(path: Path, rows: Sequence[Row]) -> Path:
    """Create a lab at ``path`` with the schema and ``rows`` (source ``fixture.jsonl``)."""
    con = duckdb.connect(str(path))
    try:
        catalog = con.execute("SELECT current_database()").fetchall()[0][0]
        schema.migrate(con, catalog)
        con.executemany(
            "INSERT INTO logs (ts, site, host, service, level, level_raw, message, correlation_id,"
            " causation_id, task_id, trace_id, attributes, source, line, ingest_id)"
            " VALUES ($1::TIMESTAMPTZ, $2, $3, $4, $5, upper($5), $6, $7, $8, $9, NULL, $10::JSON,"
            " 'fixture.jsonl', $11, 1)",
            [
                (f"2026-12-04 {row[0]}+00", *row[1:], line)
                for line, row in enumerate(rows, start=1)
            ],
        )
    finally:
        con.close()
    return path
