"""Events are their CloudEvents id and source: two sources' events of one id stay two in
the lineage and in the counts, and a lab written before events had a source still reads."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from dvlab.analyses.lineage import draw, trace
from dvlab.lab import schema
from dvlab.lab.ingest import ingest
from dvlab.lab.store import open_lab

DAY = "2026-12-01T"


def envelope(event_id: str, source: str, second: int, cause: str | None = None) -> str:
    event = {
        "specversion": "1.0",
        "id": event_id,
        "type": "dv.task.note",
        "source": source,
        "time": f"{DAY}10:00:{second:02d}Z",
        "correlationid": "c9",
        "subject": "t9",
    }
    if cause:
        event["causationid"] = cause
    return json.dumps(event) + "\n"


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    # two services that count their events from 1 each send a "b-1"; api's "b-2" follows
    # from a "b-1" (which one, an id alone cannot say)
    lines = (
        envelope("b-1", "dv/osl1/api", 1)
        + envelope("b-1", "dv/hel1/storage", 2)
        + envelope("b-2", "dv/osl1/api", 3, cause="b-1")
    )
    (tmp_path / "bare.jsonl").write_text(lines, encoding="utf-8")
    path = tmp_path / "lab.duckdb"
    summary = ingest(path, [str(tmp_path / "bare.jsonl")])
    assert summary.failed == [] and summary.total("rows_loaded") == 3
    return path


def trace_events(lab: Path) -> list[tuple[str, str, str]]:
    relation = trace(lab, "c9")
    rows = [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
    return [(r["id"], r["site"], r["service"]) for r in rows if r["kind"] == "event"]


def test_the_lineage_shows_each_event_once(lab: Path) -> None:
    assert trace_events(lab) == [
        ("b-1", "osl1", "api"),
        ("b-1", "hel1", "storage"),
        ("b-2", "osl1", "api"),
    ]


def test_a_lab_from_before_event_sources_reads_as_before(lab: Path) -> None:
    """A lab whose events have no event_source yet (schema 5) answers read-only queries
    that use it, as NULL, until the next ingest adds the column."""
    con = duckdb.connect(str(lab))
    try:
        con.execute("ALTER TABLE events DROP COLUMN event_source")
        con.execute("UPDATE dvlab_meta SET value = '5' WHERE key = 'schema_version'")
    finally:
        con.close()
    assert schema.SCHEMA_VERSION > 5

    sources = open_lab(lab).sql("SELECT DISTINCT event_source FROM events").fetchall()
    assert sources == [(None,)]
    # the two b-1s cannot be told apart any more, but each row still shows once
    assert sorted(trace_events(lab)) == [
        ("b-1", "hel1", "storage"),
        ("b-1", "osl1", "api"),
        ("b-2", "osl1", "api"),
    ]


def wrapped(seq: int, event_id: str, source: str, cause: str | None = None) -> str:
    """A JetStream export line: the envelope as data, its stream sequence beside it."""
    event = json.loads(envelope(event_id, source, seq, cause))
    line = {"stream": "S", "seq": seq, "subject": "dv.x", "time": event["time"], "data": event}
    return json.dumps(line) + "\n"


def test_a_cause_is_looked_for_in_the_events_own_source_first(tmp_path: Path) -> None:
    """sto1's e3 (stream seq 5) follows sto1's dup-1, which reached the stream later (seq
    9). osl1 also has a dup-1, early (seq 1): it must not hide the gap."""
    (tmp_path / "s.jsonl").write_text(
        wrapped(1, "dup-1", "dv/osl1/api")
        + wrapped(5, "e3", "dv/sto1/api", cause="dup-1")
        + wrapped(9, "dup-1", "dv/sto1/api"),
        encoding="utf-8",
    )
    lab = tmp_path / "lab.duckdb"
    assert ingest(lab, [str(tmp_path / "s.jsonl")]).total("rows_loaded") == 3
    relation = trace(lab, "e3")
    rows = [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
    assert {r["id"]: r["gap"] for r in rows if r["gap"]} == {
        "e3": "arrived before its cause (stream seq 5 < 9)"
    }


def test_an_event_without_a_correlation_id_is_traced(tmp_path: Path) -> None:
    lone = json.loads(envelope("Z1", "dv/osl1/api", 4))
    del lone["correlationid"]
    (tmp_path / "z.jsonl").write_text(json.dumps(lone) + "\n", encoding="utf-8")
    lab = tmp_path / "lab.duckdb"
    assert ingest(lab, [str(tmp_path / "z.jsonl")]).total("rows_loaded") == 1
    relation = trace(lab, "Z1")
    rows = [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
    assert [(r["kind"], r["id"], r["correlation_id"]) for r in rows] == [("event", "Z1", None)]
    assert draw(rows)[0] == "no correlation id"


def test_messages_of_one_id_in_two_streams_are_two_events_and_older_labs_learn_it(
    tmp_path: Path,
) -> None:
    """A Nats-Msg-Id (or a stream sequence) names a message within its stream: two streams'
    messages of one id had been one event, the second dropped. A lab stored before has its
    such events given their stream at its next ingest."""

    def plain(stream: str, seq: int, msg_id: str) -> str:
        line = {"stream": stream, "seq": seq, "subject": "x", "time": f"2026-12-04T10:00:0{seq}Z",
                "headers": {"Nats-Msg-Id": msg_id}, "data": {"n": seq}}  # fmt: skip
        return json.dumps(line) + "\n"

    (tmp_path / "a.jsonl").write_text(plain("A", 1, "m-1") + plain("A", 2, "m-2"), "utf-8")
    (tmp_path / "b.jsonl").write_text(plain("B", 1, "m-1"), "utf-8")
    lab = tmp_path / "lab.duckdb"
    ingest(lab, [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")])
    stored = "SELECT event_id, event_source, stream FROM events ORDER BY ALL"
    con = duckdb.connect(str(lab))
    try:
        assert con.execute(stored).fetchall() == [
            ("m-1", "nats:A", "A"),
            ("m-1", "nats:B", "B"),
            ("m-2", "nats:A", "A"),
        ]
        # as a lab of the schema before wrote them
        con.execute("UPDATE events SET event_source = NULL")
        con.execute("UPDATE dvlab_meta SET value = '6' WHERE key = 'schema_version'")
    finally:
        con.close()

    (tmp_path / "c.jsonl").write_text(plain("A", 2, "m-2") + plain("C", 1, "m-1"), "utf-8")
    summary = ingest(lab, [str(tmp_path / "c.jsonl")])

    # A's m-2 is stored already; C's m-1 is another stream's
    assert (summary.total("rows_loaded"), summary.total("rows_skipped")) == (1, 1)
    con = duckdb.connect(str(lab), read_only=True)
    try:
        assert con.execute(stored).fetchall() == [
            ("m-1", "nats:A", "A"),
            ("m-1", "nats:B", "B"),
            ("m-1", "nats:C", "C"),
            ("m-2", "nats:A", "A"),
        ]
    finally:
        con.close()
