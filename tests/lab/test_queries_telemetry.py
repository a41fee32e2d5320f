"""The curated telemetry queries (metrics and spans) on small hand-built labs.

Every expected value below is worked out by hand in the comment beside it; the rows go
straight into ``metrics`` and ``spans`` with SQL, so no loader is involved.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dvlab.cli import main
from dvlab.errors import BadInputError
from dvlab.lab.store import open_lab

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)

#: one metric sample: seconds after T0, name, labels, value
Sample = tuple[float, str, dict[str, str], float]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def iso(seconds: float) -> str:
    return at(seconds).isoformat()


def window(start: float, end: float | None = None) -> dict[str, str]:
    """The ``from`` (a Python keyword) and ``to`` parameters of a window, seconds after T0."""
    return {"from": iso(start)} | ({} if end is None else {"to": iso(end)})


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    db = tmp_path / "lab.duckdb"
    with open_lab(db, read_only=False).connect(write=True):
        pass  # the schema
    return db


def add_metrics(db: Path, samples: list[Sample], *, site: str | None = None) -> None:
    with open_lab(db, read_only=False).connect(write=True) as con:
        con.executemany(
            "INSERT INTO metrics (ts, name, labels, value, type, site, source, line, ingest_id) "
            "VALUES (?, ?, map(?::VARCHAR[], ?::VARCHAR[]), ?, 'gauge', ?, 'fixture', ?, 1)",
            [
                (at(s), name, list(labels), list(labels.values()), value, site, n)
                for n, (s, name, labels, value) in enumerate(samples, 1)
            ],
        )


#: one span: trace, span, parent, service, kind, status, start (ms after T0), length (ms)
Span = tuple[str, str, str | None, str, str, str, float, float]


def add_spans(db: Path, spans: list[Span]) -> None:
    with open_lab(db, read_only=False).connect(write=True) as con:
        con.executemany(
            "INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, service, "
            "start_time, end_time, duration_ms, status, source, line, ingest_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'fixture', ?, 1)",
            [
                (
                    trace,
                    span,
                    parent,
                    span,
                    kind,
                    service,
                    at(start / 1000),
                    at((start + ms) / 1000),
                    ms,
                    status,
                    n,
                )
                for n, (trace, span, parent, service, kind, status, start, ms) in enumerate(
                    spans, 1
                )
            ],
        )


def rows(db: Path, query: str, **params: str) -> list[dict[str, Any]]:
    relation = open_lab(db).query(query, **params)
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def pick(found: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(row[k] for k in keys) for row in found]


# --- metric_rate -------------------------------------------------------------------------

COUNTER = "http_requests_total"
A = {"job": "api", "code": "200"}
A_REORDERED = {"code": "200", "job": "api"}  # the same series, its labels in another order
B = {"job": "api", "code": "500"}
C = {"job": "api", "code": "404"}
COUNTERS: list[Sample] = [
    (-5, "http_requests_total", A, 90),  # before the window
    (5, "http_requests_total", A_REORDERED, 100),
    (15, "http_requests_total", A, 110),
    (25, "http_requests_total", A_REORDERED, 120),
    (35, "http_requests_total", A, 130),
    (45, "http_requests_total", A_REORDERED, 5),  # the process restarted: a reset
    (55, "http_requests_total", A, 15),
    (60, "http_requests_total", A, 35),  # on the window's end: outside it
    (30, "http_requests_total", B, 1),
    (40, "http_requests_total", B, 5),
    (50, "http_requests_total", B, 9),
    (20, "http_requests_total", C, 50),
    (30, "http_requests_total", C, 54),
    (40, "http_requests_total", C, 58),
    (30, "queue_depth", A, 1000),  # another metric
    (40, "queue_depth", A, 0),
]
RATE_COLUMNS = ("labels", "window_start", "samples", "resets", "observed_increase")


def test_metric_rate_one_window_handles_the_reset_and_extrapolates_as_prometheus(
    lab: Path,
) -> None:
    add_metrics(lab, COUNTERS)
    found = rows(lab, "metric_rate", metric=COUNTER, **window(0, 60))
    # A, window [0 s, 60 s): samples at 5..55 s: 100 110 120 130 5 15. Rises 10+10+10, then
    # 130 -> 5 is a reset (the counter restarted from 0, so +5), then +10: 45 observed.
    # Sampled 50 s over 5 gaps of 10 s (threshold 1.1 * 10 = 11 s). To the start 5 s (the
    # zero point, 50 * 100/45 = 111 s back, is further), under 11 s: extended by 5 s; to
    # the end 5 s: extended by 5 s. 45 * 60/50 = 54, rate 54/60 = 0.9.
    # C (404): 50 54 58 at 20..40 s: 8 observed over 20 s (gap 10 s). The start is 20 s away,
    # not under 11 s (zero point 20 * 50/8 = 125 s away), so half a gap, 5 s; the end 20 s
    # away: 5 s. 8 * 30/20 = 12, rate 12/60 = 0.2.
    # B (500): 1 5 9 at 30..50 s: 8 observed over 20 s. The start is 30 s away (over 11 s:
    # half a gap would be 5 s) but the counter was 0 at 20 * 1/8 = 2.5 s before its first
    # sample: 2.5 s; the end 10 s away, under 11 s: 10 s. 8 * 32.5/20 = 13, rate 13/60.
    assert pick(found, *RATE_COLUMNS) == [
        (A, at(0), 6, 1, 45.0),
        (C, at(0), 3, 0, 8.0),
        (B, at(0), 3, 0, 8.0),
    ]
    assert [r["window_end"] for r in found] == [at(60)] * 3
    assert [r["increase"] for r in found] == pytest.approx([54.0, 12.0, 13.0])
    assert [r["rate"] for r in found] == pytest.approx([0.9, 0.2, 13 / 60])
    assert {r["name"] for r in found} == {"http_requests_total"}


def test_metric_rate_takes_half_a_gap_before_the_zero_point(lab: Path) -> None:
    """The order of Prometheus's two rules at the start: a far edge gives half a gap first,
    and only then is the reach cut at the counter's zero point."""
    add_metrics(
        lab, [(100, "c_total", {}, 10), (110, "c_total", {}, 20), (120, "c_total", {}, 30)]
    )
    (found,) = rows(lab, "metric_rate", metric="c_total", **window(0, 130))
    # 20 observed over 20 s, gap 10 s (threshold 11 s). The start is 100 s away, over 11 s:
    # half a gap, 5 s; the zero point, 20 * 10/20 = 10 s back, is further: 5 s stays. (Cut
    # at the zero point first, 10 s would be under 11 s and taken whole: 40.) The end is
    # 10 s away, under 11 s: 10 s. 20 * (20 + 5 + 10)/20 = 35, rate 35/130.
    assert found["observed_increase"] == 20.0
    assert found["increase"] == pytest.approx(35.0)
    assert found["rate"] == pytest.approx(35 / 130)


def test_metric_rate_per_step(lab: Path) -> None:
    add_metrics(lab, COUNTERS)
    found = rows(lab, "metric_rate", metric=COUNTER, step="30 seconds", **window(0, 60))
    # [0, 30): A 100 110 120 at 5..25 s: 20 over 20 s, 5 s to each edge (under 11 s):
    # 20 * 30/20 = 30, rate 1.0. B has no sample there, C one (20 s): no row.
    # [30, 60): A 130 5 15 at 35..55 s: the reset gives +5, then +10: 15; 5 s to each edge
    # (the zero point, 20 * 130/15 s back, is further): 15 * 30/20 = 22.5, rate 0.75.
    # C 54 58 at 30, 40 s: 4 over 10 s; the start is on the window's (inclusive) start, 0 s;
    # the end 20 s away, over 11 s: half a gap, 5 s. 4 * 15/10 = 6, rate 0.2.
    # B 1 5 9 at 30..50 s: 0 s to the start (the zero point is 2.5 s back, further), 10 s
    # to the end: 8 * 30/20 = 12, rate 0.4.
    assert pick(found, *RATE_COLUMNS) == [
        (A, at(0), 3, 0, 20.0),
        (A, at(30), 3, 1, 15.0),
        (C, at(30), 2, 0, 4.0),
        (B, at(30), 3, 0, 8.0),
    ]
    assert [r["window_end"] for r in found] == [at(30), at(60), at(60), at(60)]
    assert [r["increase"] for r in found] == pytest.approx([30.0, 22.5, 6.0, 12.0])
    assert [r["rate"] for r in found] == pytest.approx([1.0, 0.75, 0.2, 0.4])


@pytest.mark.parametrize("name", ["metric_rate", "histogram_quantile"])
def test_the_query_itself_refuses_a_step_of_months(lab: Path, name: str) -> None:
    """Run as SQL, without dvlab's check of its parameters (as over an export): a step of
    a month would start on the calendar's months, before the window's start."""
    from dvlab.lab import queries

    add_metrics(lab, COUNTERS)
    text = queries.load(name).sql
    params = {"metric": COUNTER, "from": iso(0), "to": iso(60), "q": "0.5"}
    used = {p.lower() for p in queries.used_params(text)}
    for step in ("1 month", "1 year"):
        given = {k: v for k, v in {**params, "step": step}.items() if k in used}
        with pytest.raises(BadInputError, match="a month or a year is no fixed length"):
            open_lab(lab).sql(text, given)
    given = {k: v for k, v in {**params, "step": "30 seconds"}.items() if k in used}
    assert open_lab(lab).sql(text, given).fetchall() is not None


def test_metric_rate_without_bounds_spans_the_counters_samples(lab: Path) -> None:
    add_metrics(lab, COUNTERS)
    found = rows(lab, "metric_rate", metric=COUNTER)
    # The window runs from the first sample (-5 s) to the last (60 s), both included: A has
    # all 8 samples, 90 100 110 120 130 5 15 35: 10+10+10+10, +5 at the reset, +10, +20 = 75.
    # Its samples touch both edges: nothing to extrapolate, rate 75/65.
    a = next(r for r in found if r["labels"] == A)
    assert (a["samples"], a["resets"], a["observed_increase"]) == (8, 1, 75.0)
    assert (a["window_start"], a["window_end"]) == (at(-5), at(60))
    assert a["increase"] == pytest.approx(75.0)
    assert a["rate"] == pytest.approx(75 / 65)


# --- histogram_quantile ------------------------------------------------------------------


HISTOGRAM = "rpc_seconds"


def buckets(route: str, seconds: float, counts: dict[str, float]) -> list[Sample]:
    return [
        (seconds, f"{HISTOGRAM}_bucket", {"route": route, "le": le, "job": "api"}, count)
        for le, count in counts.items()
    ]


HISTOGRAMS: list[Sample] = [
    # /a at 10 s, its buckets listed out of order: 0.1: 10, 0.5: 30, 1: 45, +Inf: 50
    *buckets("/a", 10, {"0.5": 30, "+Inf": 50, "0.1": 10, "1": 45}),
    *buckets("/a", 40, {"0.1": 15, "0.5": 50, "1": 85, "+Inf": 90}),
    *buckets("/a", 70, {"0.1": 20, "0.5": 60, "1": 90, "+Inf": 100}),
    *buckets("/a", 100, {"0.1": 1, "0.5": 4, "1": 7, "+Inf": 8}),  # restarted
    *buckets("/b", 10, {"0.1": 3, "1": 4}),  # no +Inf bucket
    *buckets("/c", 10, {"0.1": 0, "1": 0, "+Inf": 0}),  # no observations
    *buckets("/d", 10, {"-1": 4, "1": 8, "+Inf": 8}),  # a first bucket below 0
    *buckets("/e", 10, {"1": 5, "2": 4, "4": 8, "+Inf": 10}),  # 2 dips below 1: taken as 5
]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        # /a: rank 0.5 * 50 = 25; first bucket reaching it is le 0.5 (30), after le 0.1 (10):
        # 0.1 + (0.5 - 0.1) * (25 - 10) / (30 - 10) = 0.4.
        # /d: rank 4, reached by the first bucket, whose bound -1 is not above 0: -1.
        # /e: cumulative 5, 5 (not 4), 8, 10; rank 5 in le 1: 0 + 1 * 5/5 = 1.
        ("0.5", {"/a": 0.4, "/b": None, "/c": None, "/d": -1.0, "/e": 1.0}),
        # /a: rank 5 in the first bucket, from 0: 0.1 * 5/10 = 0.05.
        # /e: rank 1 in le 1: 1 * 1/5 = 0.2.
        ("0.1", {"/a": 0.05, "/b": None, "/c": None, "/d": -1.0, "/e": 0.2}),
        # /a: rank 47.5, above le 1's 45: only +Inf reaches it, so the largest finite bound, 1.
        # /d: rank 7.6 in le 1, after -1 (4): -1 + 2 * (7.6 - 4)/(8 - 4) = 0.8.
        # /e: rank 9.5 above le 4's 8: 4.
        ("0.95", {"/a": 1.0, "/b": None, "/c": None, "/d": 0.8, "/e": 4.0}),
        # /a: rank 30 reached by le 0.5: 0.1 + 0.4 * 20/20 = 0.5.
        # /d: rank 4.8 in le 1: -1 + 2 * 0.8/4 = -0.6.
        # /e: rank 6 in le 4, after le 2 whose count was forced up to 5:
        # 2 + 2 * (6 - 5)/(8 - 5) = 2.667 (with 4 it would be 3).
        ("0.6", {"/a": 0.5, "/b": None, "/c": None, "/d": -0.6, "/e": 2 + 2 / 3}),
        # rank 0: the first bucket; 0 from a lower bound of 0, its own bound when not above 0
        ("0", {"/a": 0.0, "/b": None, "/c": None, "/d": -1.0, "/e": 0.0}),
        # outside [0, 1]: -inf and +inf, whatever the buckets
        ("-0.1", dict.fromkeys(("/a", "/b", "/c", "/d", "/e"), float("-inf"))),
        ("1.5", dict.fromkeys(("/a", "/b", "/c", "/d", "/e"), float("inf"))),
    ],
)
def test_histogram_quantile_matches_prometheus_on_hand_worked_buckets(
    lab: Path, q: str, expected: dict[str, float | None]
) -> None:
    add_metrics(lab, HISTOGRAMS)
    found = rows(lab, "histogram_quantile", metric=HISTOGRAM, q=q, to=iso(30))
    assert {r["ts"] for r in found} == {at(10)}
    got = {r["labels"]["route"]: r["quantile"] for r in found}
    assert got.keys() == expected.keys()
    for route, value in expected.items():
        assert got[route] == (None if value is None else pytest.approx(value)), route
    assert {r["labels"]["route"]: r["observations"] for r in found} == {
        "/a": 50.0,
        "/b": None,
        "/c": 0.0,
        "/d": 8.0,
        "/e": 10.0,
    }
    assert all("le" not in r["labels"] for r in found)


def test_histogram_quantile_at_each_sample_time(lab: Path) -> None:
    add_metrics(lab, HISTOGRAMS)
    found = rows(lab, "histogram_quantile", metric=f"{HISTOGRAM}_bucket", q="0.5", **window(40))
    # 40 s: rank 45 in le 0.5 (50), after 15: 0.1 + 0.4 * 30/35.
    # 70 s: rank 50 in le 0.5 (60), after 20: 0.1 + 0.4 * 30/40 = 0.4.
    # 100 s: rank 4 in le 0.5 (4), after 1: 0.1 + 0.4 * 3/3 = 0.5.
    assert [r["ts"] for r in found] == [at(40), at(70), at(100)]
    assert [r["quantile"] for r in found] == pytest.approx([0.1 + 0.4 * 30 / 35, 0.4, 0.5])


def test_histogram_quantile_over_what_each_step_gained(lab: Path) -> None:
    add_metrics(lab, HISTOGRAMS)
    found = rows(
        lab, "histogram_quantile", metric=HISTOGRAM, q="0.75", step="1 minute", **window(0)
    )
    # [0, 60 s): /a from 10 s to 40 s gained 5, 20, 40, 40: rank 30 in le 1 (40), after 20:
    # 0.5 + 0.5 * 10/20 = 0.75. The other routes have one sample there: no row.
    # [60, 120 s): /a from 70 s (20 60 90 100) to 100 s (1 4 7 8): every bucket reset, so
    # the gains are 1, 4, 7, 8: rank 6 in le 1 (7), after 4: 0.5 + 0.5 * 2/3.
    assert pick(found, "ts", "observations") == [(at(0), 40.0), (at(60), 8.0)]
    assert [r["quantile"] for r in found] == pytest.approx([0.75, 0.5 + 0.5 * 2 / 3])


# --- spans: RED and the service graph ---------------------------------------------------

SPANS: list[Span] = [
    # t1: api serves, calls db through a client span, and does some work of its own
    ("t1", "a1",  None,   "api",    "server",      "ok",    1000, 100),
    ("t1", "a1c", "a1",   "api",    "client",      "ok",    1010, 40),
    ("t1", "d1",  "a1c",  "db",     "server",      "ok",    1015, 30),
    ("t1", "a1i", "a1",   "api",    "internal",    "ok",    1060, 5),
    # t2, t3, t4: more api requests; t3's db call fails, t4 hands work to a worker...
    ("t2", "a2",  None,   "api",    "server",      "ok",    2000, 10),
    ("t3", "a3",  None,   "api",    "server",      "error", 3000, 20),
    ("t3", "a3c", "a3",   "api",    "client",      "error", 3002, 15),
    ("t3", "d3",  "a3c",  "db",     "server",      "error", 3005, 10),
    ("t4", "a4",  None,   "api",    "server",      "ok",    4000, 30),
    ("t4", "w4",  "a4",   "worker", "consumer",    "ok",    4010, 50),
    # ... whose mailer library sets no span kind: its span is still the mailer's entry
    ("t4", "m4",  "w4",   "mailer", "unspecified", "ok",    4020, 25),
    # t5: a scheduled job with no kind of entry span of its own, calling db
    ("t5", "c5",  None,   "cron",   "internal",    "error", 5000, 200),
    ("t5", "d5",  "c5",   "db",     "server",      "ok",    5010, 60),
    # t7: a db request whose caller's span was not loaded
    ("t7", "d7",  "ffff", "db",     "server",      "ok",    6000, 20),
    # t6: on the window's end (10 s), outside [0 s, 10 s)
    ("t6", "a6",  None,   "api",    "server",      "error", 10000, 1000),
]  # fmt: skip
RED_COLUMNS = ("service", "requests", "rate", "errors", "error_rate")
RED_PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")


def test_red_per_service_counts_entry_spans(lab: Path) -> None:
    add_spans(lab, SPANS)
    found = rows(lab, "red_per_service", **window(0, 10))
    # A 10 s window. api: a1, a2, a3 (error), a4 = 4 requests (its client spans a1c, a3c and
    # a1i, whose parent is api's own, are not requests; a6 starts on the window's end):
    # 0.4/s, 1 error of 4. Durations 10 20 30 100: p50 halfway between 20 and 30 = 25;
    # p95 at position 3 * 0.95 = 2.85: 30 + 0.85 * 70 = 89.5; p99 at 2.97: 30 + 0.97 * 70.
    # cron: c5 is internal but its service's entry (no parent): 1 request, an error.
    # mailer: m4 has no kind but its parent is the worker's: 1 request.
    # db: d1, d3 (error), d5, d7 (its parent not loaded) = 4: 10 20 30 60: p50 25,
    # p95 30 + 0.85 * 30 = 55.5, p99 30 + 0.97 * 30 = 59.1. worker: w4, a consumer.
    assert pick(found, *RED_COLUMNS) == [
        ("api", 4, 0.4, 1, 0.25),
        ("cron", 1, 0.1, 1, 1.0),
        ("db", 4, 0.4, 1, 0.25),
        ("mailer", 1, 0.1, 0, 0.0),
        ("worker", 1, 0.1, 0, 0.0),
    ]
    assert [pick([r], *RED_PERCENTILES)[0] for r in found] == [
        pytest.approx((25.0, 89.5, 97.9)),
        pytest.approx((200.0, 200.0, 200.0)),
        pytest.approx((25.0, 55.5, 59.1)),
        pytest.approx((25.0, 25.0, 25.0)),
        pytest.approx((50.0, 50.0, 50.0)),
    ]
    assert {r["window_seconds"] for r in found} == {10.0}


def test_red_per_service_without_bounds_spans_the_requests(lab: Path) -> None:
    add_spans(lab, SPANS)
    found = rows(lab, "red_per_service", service="api")
    # api's requests a1..a4 and a6 start from 1 s to 10 s: a 9 s window, 5 requests, 2 errors
    assert pick(found, *RED_COLUMNS) == [("api", 5, pytest.approx(5 / 9), 2, 0.4)]


def test_service_graph_pairs_spans_with_a_parent_in_another_service(lab: Path) -> None:
    add_spans(lab, SPANS)
    found = rows(lab, "service_graph", **window(0, 10))
    # api -> db: d1 (30 ms) and d3 (10 ms, error), each a child of an api client span:
    # 2 calls, 1 error, avg 20, p95 10 + 0.95 * 20 = 29. api -> worker: w4 (50 ms).
    # cron -> db: d5 (60 ms). worker -> mailer: m4 (25 ms). Not calls: a1c, a3c, a1i
    # (parent in api too), d7 (parent not loaded), roots.
    assert pick(found, "caller", "callee", "calls", "errors", "error_rate") == [
        ("api", "db", 2, 1, 0.5),
        ("api", "worker", 1, 0, 0.0),
        ("cron", "db", 1, 0, 0.0),
        ("worker", "mailer", 1, 0, 0.0),
    ]
    assert pick(found, "avg_ms", "p95_ms") == [
        pytest.approx((20.0, 29.0)),
        (50.0, 50.0),
        (60.0, 60.0),
        (25.0, 25.0),
    ]
    only_db = rows(lab, "service_graph", service="db")
    assert pick(only_db, "caller", "callee", "calls") == [("api", "db", 2), ("cron", "db", 1)]


# --- critical_path -----------------------------------------------------------------------


def test_critical_path_follows_the_child_that_ends_last(lab: Path) -> None:
    def span(name: str, parent: str | None, service: str, start: int, end: int) -> Span:
        return ("c0ffee", name, parent, service, "internal", "ok", start, end - start)

    add_spans(
        lab,
        [
            # A (0-100 ms) runs B, C and E side by side; C is the longest, E ends last
            span("e", "a", "cache", 50, 95),
            span("a", None, "api", 0, 100),
            span("b", "a", "api", 5, 40),
            span("d", "b", "db", 10, 35),
            span("c", "a", "auth", 10, 60),
            span("f", "c", "auth", 15, 55),
            # E runs G (the longer) and H (ends last)
            span("g", "e", "cache", 55, 80),
            span("h", "e", "cache", 70, 92),
            ("beef", "x", None, "api", "server", "ok", 0, 500),  # another trace
        ],
    )
    found = rows(lab, "critical_path", trace_id="C0FFEE")
    # A -> E (ends at 95, after B at 40 and C at 60) -> H (92, after G at 80) -> end.
    # Self times: A 100 less E's 45 = 55; E 45 less H's 22 = 23; H 22 (no children):
    # 55 + 23 + 22 = 100, A's duration.
    assert pick(found, "step", "span_id", "parent_span_id", "service") == [
        (0, "a", None, "api"),
        (1, "e", "a", "cache"),
        (2, "h", "e", "cache"),
    ]
    assert pick(found, "duration_ms", "self_ms") == [(100.0, 55.0), (45.0, 23.0), (22.0, 22.0)]
    assert [r["end_time"] for r in found] == [at(0.1), at(0.095), at(0.092)]


# --- NATS, PostgreSQL and filesystems ----------------------------------------------------

C1 = {"stream": "ORDERS", "consumer": "c1"}  # as the live NATS source labels them
C2 = {"server_id": "NABC", "server_name": "n1", "endpoint": "jsz", "account": "$G",
      "stream": "ORDERS", "consumer": "c2"}  # as a saved /jsz response does  # fmt: skip


def consumer(seconds: float, labels: dict[str, str], **values: float) -> list[Sample]:
    return [(seconds, f"nats_consumer_{name}", labels, v) for name, v in values.items()]


def test_nats_consumer_lag_and_redelivery_rate(lab: Path) -> None:
    seqs = ("delivered_consumer_seq", "delivered_stream_seq")
    rows_in: list[Sample] = []
    for s, pending, ack, redelivered, cseq, sseq in [
        (0, 100, 10, 0, 1000, 1000),
        (10, 50, 20, 3, 1100, 1090),
        (20, 80, 5, 1, 1160, 1145),
        (30, 90, 4, 0, 30, 10),  # the consumer was made again: both sequences restart
    ]:
        rows_in += consumer(s, C1, pending=pending, ack_pending=ack, redelivered=redelivered)
        rows_in += [
            (s, f"nats_consumer_{n}", C1, v) for n, v in zip(seqs, (cseq, sseq), strict=True)
        ]
    rows_in += consumer(5, C2, pending=7, ack_pending=2, redelivered=1)
    rows_in.append((5, "nats_stream_messages", {"stream": "ORDERS"}, 500))
    add_metrics(lab, rows_in)

    found = rows(lab, "nats_consumer_lag")
    # c1 at 10 s: 100 deliveries in 10 s = 10/s; the stream sequence moved 90, so 10 of them
    # were redeliveries: 1/s. At 20 s: 60 deliveries = 6/s, 55 new: 0.5/s. At 30 s the
    # sequences dropped (a reset): 30 deliveries = 3/s, 10 new: 20 redelivered, 2/s.
    # c2 (from /jsz) has no delivered sequences: no rates.
    assert pick(found, "consumer", "server", "account", "ts", "pending", "ack_pending",
                "redelivered") == [
        ("c1", None, None, at(0), 100.0, 10.0, 0.0),
        ("c1", None, None, at(10), 50.0, 20.0, 3.0),
        ("c1", None, None, at(20), 80.0, 5.0, 1.0),
        ("c1", None, None, at(30), 90.0, 4.0, 0.0),
        ("c2", "n1", "$G", at(5), 7.0, 2.0, 1.0),
    ]  # fmt: skip
    assert pick(found, "deliveries_per_second", "redeliveries_per_second") == [
        (None, None),
        (10.0, 1.0),
        (6.0, 0.5),
        (3.0, 2.0),
        (None, None),
    ]
    assert pick(rows(lab, "nats_consumer_lag", consumer="c2"), "consumer", "pending") == [
        ("c2", 7.0)
    ]


def test_pg_saturation_connections_and_worst_standby(lab: Path) -> None:
    db1 = {"server": "db1:5432"}

    def connections(s: float, server: dict[str, str], **states: float) -> list[Sample]:
        return [
            (s, "pg_connections", {**server, "state": state.replace("_", " ")}, n)
            for state, n in states.items()
        ]

    def standby(s: float, name: str, addr: str, lag: float, lag_bytes: float) -> list[Sample]:
        labels = {**db1, "application_name": name, "client_addr": addr, "state": "streaming"}
        return [
            (s, "pg_replication_replay_lag_seconds", labels, lag),
            (s, "pg_replication_write_lag_seconds", labels, lag / 10),
            (s, "pg_replication_replay_lag_bytes", labels, lag_bytes),
        ]

    add_metrics(
        lab,
        [
            *connections(0, db1, active=3, idle=5, idle_in_transaction=2, disabled=0),
            (0, "pg_max_connections", db1, 20),
            (0, "pg_connections_used_ratio", db1, 0.5),
            (0, "pg_replication_standbys", db1, 2),
            *standby(0, "walreceiver", "10.0.0.2", 1.5, 9000),
            *standby(0, "walreceiver", "10.0.0.3", 4.0, 5000),
            *connections(60, db1, active=18, idle=1, idle_in_transaction=0, disabled=0),
            (60, "pg_max_connections", db1, 20),
            (60, "pg_replication_standbys", db1, 1),  # caught up and idle: no lag rows
            *connections(0, {"server": "db2:5432"}, active=1, idle=0),
            (0, "pg_max_connections", {"server": "db2:5432"}, 100),
            (0, "pg_replication_replay_delay_seconds", {"server": "db2:5432"}, 7.5),
        ],
        site="osl1",
    )
    found = rows(lab, "pg_saturation")
    # db1 at 0 s: 3 + 5 + 2 + 0 = 10 of 20 = 0.5; of its two standbys 10.0.0.3 lags most
    # (4 s, though 10.0.0.2 is further behind in bytes). At 60 s: 19 of 20 = 0.95, no lag.
    # db2 (a standby itself): 1 of 100, 7.5 s since its last replayed commit.
    assert pick(found, "server", "site", "ts", "connections", "active", "idle_in_transaction",
                "max_connections", "used_ratio", "standbys") == [
        ("db1:5432", "osl1", at(0), 10.0, 3.0, 2.0, 20.0, 0.5, 2.0),
        ("db1:5432", "osl1", at(60), 19.0, 18.0, 0.0, 20.0, 0.95, 1.0),
        ("db2:5432", "osl1", at(0), 1.0, 1.0, None, 100.0, 0.01, None),
    ]  # fmt: skip
    assert pick(found, "lag_standby", "lag_standby_addr", "replay_lag_seconds",
                "replay_lag_bytes", "replay_delay_seconds") == [
        ("walreceiver", "10.0.0.3", 4.0, 5000.0, None),
        (None, None, None, None, None),
        (None, None, None, None, 7.5),
    ]  # fmt: skip
    assert [r["ts"] for r in rows(lab, "pg_saturation", server="db1:5432", to=iso(60))] == [at(0)]


def test_filesystem_fill_and_time_to_full(lab: Path) -> None:
    root = {"instance": "n1:9100", "device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/"}
    data = {"instance": "n1:9100", "device": "/dev/sdb1", "fstype": "xfs", "mountpoint": "/data"}
    samples: list[Sample] = []
    for s, avail in [(0, 600), (60, 510), (180, 510)]:
        samples += [(s, "node_filesystem_size_bytes", root, 1000),
                    (s, "node_filesystem_avail_bytes", root, avail)]  # fmt: skip
    for s, avail in [(0, 500), (60, 700)]:
        samples += [(s, "node_filesystem_size_bytes", data, 2000),
                    (s, "node_filesystem_avail_bytes", data, avail)]  # fmt: skip
    samples.append((240, "node_filesystem_avail_bytes", root, 100))  # no size: no row
    add_metrics(lab, samples)

    found = rows(lab, "filesystem_fill")
    # /: used 400, 490, 490 at 0, 60, 180 s (fill 0.4, 0.49, 0.49). Least squares: mean time
    # 80 s, mean used 460; sum of (t - 80)(u - 460) = (-80)(-60) + (-20)(30) + (100)(30)
    # = 7200 over sum of (t - 80)^2 = 6400 + 400 + 10000 = 16800: 3/7 bytes/s (the first and
    # last samples alone would say 0.5). Full in 510 / (3/7) = 1190 s after 180 s:
    # at 1370 s. /data: used 1500 then 1300, shrinking: never full.
    assert pick(found, "mountpoint", "device", "ts", "used_bytes", "fill") == [
        ("/", "/dev/sda1", at(0), 400.0, pytest.approx(0.4)),
        ("/", "/dev/sda1", at(60), 490.0, pytest.approx(0.49)),
        ("/", "/dev/sda1", at(180), 490.0, pytest.approx(0.49)),
        ("/data", "/dev/sdb1", at(0), 1500.0, pytest.approx(0.75)),
        ("/data", "/dev/sdb1", at(60), 1300.0, pytest.approx(0.65)),
    ]
    root_rows = [r for r in found if r["mountpoint"] == "/"]
    assert [r["growth_bytes_per_second"] for r in root_rows] == pytest.approx([3 / 7] * 3)
    assert [r["seconds_to_full"] for r in root_rows] == pytest.approx([1190.0] * 3)
    assert [r["full_at"] for r in root_rows] == [at(1370)] * 3
    data_rows = [r for r in found if r["mountpoint"] == "/data"]
    assert [r["growth_bytes_per_second"] for r in data_rows] == pytest.approx([-10 / 3] * 2)
    assert [(r["seconds_to_full"], r["full_at"]) for r in data_rows] == [(None, None)] * 2
    assert {r["mountpoint"] for r in rows(lab, "filesystem_fill", mountpoint="/data")} == {"/data"}


def test_a_disk_that_would_take_centuries_to_fill_has_no_full_date(lab: Path) -> None:
    """1 TB, half free, 2 KiB more used in 12 hours: full in 5e11 / (2048 / 43200) seconds,
    about 3.3e5 years, past what a time holds (the query failed on it)."""
    disk = {"instance": "n1:9100", "device": "/dev/sdc1", "fstype": "ext4", "mountpoint": "/srv"}
    samples: list[Sample] = []
    for s, avail in [(0, 500_000_000_000), (43_200, 500_000_000_000 - 2048)]:
        samples += [(s, "node_filesystem_size_bytes", disk, 1_000_000_000_000),
                    (s, "node_filesystem_avail_bytes", disk, avail)]  # fmt: skip
    add_metrics(lab, samples)

    found = rows(lab, "filesystem_fill")

    assert [r["growth_bytes_per_second"] for r in found] == pytest.approx([2048 / 43_200] * 2)
    assert [r["seconds_to_full"] for r in found] == pytest.approx(
        [(500_000_000_000 - 2048) / (2048 / 43_200)] * 2
    )
    assert [r["full_at"] for r in found] == [None, None]


def test_a_telemetry_query_runs_from_the_command_line(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_metrics(lab, COUNTERS)
    args = ["--db", str(lab), "sql", "metric_rate", "--param", "metric=http_requests_total"]
    bounds = ["--param", f"from={iso(0)}", "--param", f"to={iso(60)}", "--format", "csv"]
    assert main(args + bounds) == 0
    out = capsys.readouterr().out.splitlines()
    # the same three series as the one-window test, A first with its reset
    assert out[0] == (
        "name,site,service,labels,window_start,window_end,samples,first_ts,last_ts,resets,"
        "observed_increase,increase,rate"
    )
    assert len(out) == 4
    assert out[1] == (
        'http_requests_total,,,"{code=200, job=api}",2026-12-01T10:00:00.000000Z,'
        "2026-12-01T10:01:00.000000Z,6,2026-12-01T10:00:05.000000Z,"
        "2026-12-01T10:00:55.000000Z,1,45.0,54.0,0.9"
    )


@pytest.mark.parametrize(
    ("query", "params"),
    [
        ("metric_rate", {"metric": "x"}),
        ("histogram_quantile", {"metric": "x"}),
        ("red_per_service", {}),
        ("nats_consumer_lag", {}),
        ("pg_saturation", {}),
        ("filesystem_fill", {}),
        ("service_graph", {}),
        ("critical_path", {"trace_id": "abc"}),
    ],
)
def test_an_empty_lab_gives_no_rows(lab: Path, query: str, params: dict[str, str]) -> None:
    assert rows(lab, query, **params) == []
