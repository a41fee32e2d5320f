"""What every telemetry reader's file gets from the ingest, whatever its format: a file the
reader cannot make sense of fails alone, named, and the run's other files still load."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dvlab.lab.ingest import IngestOptions, ingest

from .ingest_support import query


def nested_attribute(depth: int) -> str:
    """An OTLP attribute value of ``depth`` kvlistValues, one inside the other, as JSON text
    (written out by hand: Python's encoder stops at its recursion limit too)."""
    opening = '{"kvlistValue": {"values": [{"key": "k", "value": ' * depth
    return opening + '{"stringValue": "bottom"}' + "}]}}" * depth


def span_request(span_id: str, attribute: str) -> str:
    """One export request of one span whose attribute ``a`` is ``attribute`` (JSON text)."""
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "name": "op",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "attributes": [{"key": "a", "value": "ATTRIBUTE"}],
    }
    text = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    return text.replace('"ATTRIBUTE"', attribute)


def test_a_file_too_deep_to_read_fails_alone_and_named(lab_path: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(span_request("eee19b7ec3c1b174", '{"stringValue": "x"}'), encoding="utf-8")
    deep = tmp_path / "deep.json"
    # deeper than Python's JSON decoder goes (its recursion limit is 1,000)
    deep.write_text(span_request("eee19b7ec3c1b175", nested_attribute(3000)), encoding="utf-8")

    summary = ingest(lab_path, [str(good), str(deep)])

    assert [s.status for s in summary.sources] == ["loaded", "failed"]
    message = summary.sources[1].message or ""
    assert message.startswith(f"{deep}: could not read it as otlp-json: RecursionError")
    assert query(lab_path, "SELECT span_id, source FROM spans") == [
        ("eee19b7ec3c1b174", str(good))
    ]


def test_a_copied_export_is_the_same_content_not_new_spans(lab_path: Path, tmp_path: Path) -> None:
    """OTLP rows carry their own times: a copy (written later, under another name) holds the
    same spans, so it loads nothing, as a copied log does."""
    first = tmp_path / "a.json"
    first.write_text(span_request("eee19b7ec3c1b174", '{"stringValue": "x"}'), encoding="utf-8")
    ingest(lab_path, [str(first)])
    copy = tmp_path / "b.json"
    copy.write_bytes(first.read_bytes())
    os.utime(copy, (first.stat().st_mtime + 60, first.stat().st_mtime + 60))

    summary = ingest(lab_path, [str(copy)])

    assert [s.status for s in summary.sources] == ["unchanged"]
    assert query(lab_path, "SELECT count(*) FROM spans") == [(1,)]


def test_a_scrape_saved_again_over_itself_moves_to_its_new_time(
    lab_path: Path, tmp_path: Path
) -> None:
    """The same bytes at the same path with a later modification time: the target was
    scraped again and saved over the file, which replaces its rows at the new time."""
    path = tmp_path / "latest.prom"
    path.write_text('# TYPE up gauge\nup{job="a"} 1\n', encoding="utf-8")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    ingest(lab_path, [str(path)])
    os.utime(path, (1_700_000_015, 1_700_000_015))

    summary = ingest(lab_path, [str(path)])

    assert [(s.status, s.rows_loaded, s.rows_replaced) for s in summary.sources] == [
        ("rewritten", 1, 1)
    ]
    assert query(lab_path, "SELECT epoch(ts) FROM metrics") == [(1_700_000_015.0,)]


def test_a_scrape_saved_over_itself_replaces_it_however_it_starts(
    lab_path: Path, tmp_path: Path
) -> None:
    """A scrape without HELP or TYPE lines starts with a sample, whose value changes from one
    scrape to the next: saved over the file, it still replaces the earlier scrape's rows."""
    path = tmp_path / "latest.prom"
    path.write_text('up{job="a"} 1\nreqs_total 100\n', encoding="utf-8")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    ingest(lab_path, [str(path)], IngestOptions(format="prometheus"))
    path.write_text('up{job="a"} 0\nreqs_total 150\n', encoding="utf-8")
    os.utime(path, (1_700_000_300, 1_700_000_300))

    summary = ingest(lab_path, [str(path)])

    assert [(s.status, s.rows_loaded, s.rows_replaced) for s in summary.sources] == [
        ("rewritten", 2, 2)
    ]
    assert query(lab_path, "SELECT epoch(ts), name, value FROM metrics ORDER BY name") == [
        (1_700_000_300.0, "reqs_total", 150.0),
        (1_700_000_300.0, "up", 0.0),
    ]
