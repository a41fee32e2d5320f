"""A small hand-written lab of metrics, spans and the logs of one trace, made with SQL.

Everything happens on 4 December 2026 between 10:00 and 10:07 UTC at site
osl1. The tests that read it work their expected values out by hand from the
rows below (the reasoning sits beside each expected value), so a changed row
here changes what they expect.

Metric series, one point a minute from 10:00 (service api unless said):

- ``queue_depth{queue="jobs"}`` (gauge): 4, 4, 4, 4, 4, 12, 40, 4
- ``free_bytes{disk="sda"}`` (gauge): 100 six times, then 50 at 10:06
- ``cpu_ratio`` (gauge, no labels): 0.5 four times, then 0.5078125 at 10:04
- ``errors_open`` (gauge): 0, 0, 3 at 10:02, 10:03, 10:04
- ``requests_total{code="500"}`` (counter, service gateway): 0, 60, 120, 180,
  240, 30 (a restart), 930: per second 1, 1, 1, 1, 0.5, 15 from 10:01
- ``requests_total{code="200"}`` (counter, service gateway): 0, 120, ... 720:
  2 per second throughout

Traces: ``ab01`` (GET /orders at 10:02:00, its two children, one failed) and
``cd02`` (a consumer whose parent ``ff`` is not loaded, and its child).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from dvlab.lab import schema

DAY = "2026-12-04 "

# (minute, name, labels, value, type, service)
METRICS: list[tuple[int, str, dict[str, str], float, str, str]] = [
    *[(m, "queue_depth", {"queue": "jobs"}, v, "gauge", "api")
      for m, v in enumerate([4, 4, 4, 4, 4, 12, 40, 4])],
    *[(m, "free_bytes", {"disk": "sda"}, v, "gauge", "api")
      for m, v in enumerate([100, 100, 100, 100, 100, 100, 50])],
    *[(m, "cpu_ratio", {}, v, "gauge", "api")
      for m, v in enumerate([0.5, 0.5, 0.5, 0.5, 0.5078125])],
    *[(m, "errors_open", {}, v, "gauge", "api") for m, v in [(2, 0), (3, 0), (4, 3)]],
    *[(m, "requests_total", {"code": "500"}, v, "counter", "gateway")
      for m, v in enumerate([0, 60, 120, 180, 240, 30, 930])],
    *[(m, "requests_total", {"code": "200"}, 120 * m, "counter", "gateway") for m in range(7)],
]  # fmt: skip

# (trace, span, parent, name, kind, service, start, duration_ms, status, status_message)
SPANS: list[tuple[str, str, str | None, str, str, str, str, float, str, str | None]] = [
    ("ab01", "01", None, "GET /orders", "server", "api", "10:02:00", 250, "ok", None),
    ("ab01", "02", "01", "SELECT orders", "client", "api", "10:02:00.100", 120, "ok", None),
    ("ab01", "03", "01", "charge", "client", "payments", "10:02:00.150", 80.5, "error",
     "card declined"),
    ("cd02", "04", "ff", "consume", "consumer", "worker", "10:03:00", 5, "unset", None),
    ("cd02", "05", "04", "write", "internal", "worker", "10:03:00.001", 2, "ok", None),
]  # fmt: skip

# (time, service, level, message, correlation_id, trace_id)
LOGS: list[tuple[str, str, str, str, str | None, str | None]] = [
    ("10:02:00.050", "api", "info", "loading orders", "c-9", "ab01"),
    ("10:02:00.200", "payments", "error", "charge failed", None, "ab01"),
    ("10:03:30", "worker", "info", "done", "c-10", None),
]


def make_telemetry_lab(path: Path) -> Path:
    """Create a lab at ``path`` with the lab's own schema and the rows above."""
    con = duckdb.connect(str(path))
    try:
        schema.migrate(con, con.execute("SELECT current_database()").fetchall()[0][0])
        con.executemany(
            "INSERT INTO metrics (ts, name, labels, value, type, site, service, source, line,"
            " ingest_id) VALUES ($1::TIMESTAMPTZ, $2, $3::MAP(VARCHAR, VARCHAR), $4, $5, 'osl1',"
            " $6, 'fixture.prom', $7, 1)",
            [
                (f"{DAY}10:{minute:02d}:00+00", name, labels, value, kind, service, line)
                for line, (minute, name, labels, value, kind, service) in enumerate(
                    METRICS, start=1
                )
            ],
        )
        con.executemany(
            "INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, service, site,"
            " start_time, end_time, duration_ms, status, status_message, source, line, ingest_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, 'osl1', $7::TIMESTAMPTZ,"
            " $7::TIMESTAMPTZ + to_microseconds(($8 * 1000)::BIGINT), $8, $9, $10,"
            " 'fixture.otlp.json', $11, 2)",
            [
                (*row[:6], f"{DAY}{row[6]}+00", *row[7:], line)
                for line, row in enumerate(SPANS, start=1)
            ],
        )
        con.executemany(
            "INSERT INTO logs (ts, site, service, level, level_raw, message, correlation_id,"
            " trace_id, source, line, ingest_id) VALUES ($1::TIMESTAMPTZ, 'osl1', $2, $3, $3,"
            " $4, $5, $6, 'fixture.jsonl', $7, 3)",
            [(f"{DAY}{row[0]}+00", *row[1:], line) for line, row in enumerate(LOGS, start=1)],
        )
    finally:
        con.close()
    return path
