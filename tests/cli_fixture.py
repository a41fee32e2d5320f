"""A small hand-written log set, and the values a reader can check by eye.

Six records over two sites and three services; ids placed so each kind of
``--id`` match (correlation, causation, task, trace, inside attributes) has
exactly one or two rows.
"""

from __future__ import annotations

import json
from pathlib import Path

RECORDS = [
    {
        "ts": "2026-12-01T10:00:00Z",
        "level": "info",
        "service": "api",
        "site": "osl1",
        "msg": "GET /v1/vms 200",
        "request_id": "r-1",
        "http": {"status": 200},
    },
    {
        "ts": "2026-12-01T10:00:30Z",
        "level": "warn",
        "service": "provisioning",
        "site": "osl1",
        "msg": "retrying attach_port",
        "correlation_id": "r-1",
        "task_id": "t-9",
        "attempt": 2,
    },
    {
        "ts": "2026-12-01T10:01:00Z",
        "level": "error",
        "service": "provisioning",
        "site": "sto1",
        "msg": "attach_port gave up",
        "correlation_id": "r-2",
        "causation_id": "ev-7",
        "trace_id": "tr-3",
    },
    {
        "ts": "2026-12-01T10:01:30Z",
        "level": "info",
        "service": "nett",
        "site": "sto1",
        "msg": "port created",
        "vm": "vm-42",
    },
    {
        "ts": "2026-12-01T10:02:00Z",
        "level": "fatal",
        "service": "nett",
        "site": "sto1",
        "msg": "link down",
        "peer": {"vm": "vm-42"},
    },
    {
        "ts": "2026-12-01T10:03:00Z",
        "level": "debug",
        "service": "api",
        "site": "osl1",
        "msg": "cache warm",
    },
]


def write_fixture(folder: Path) -> Path:
    path = folder / "fixture.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n", encoding="utf-8")
    return path
