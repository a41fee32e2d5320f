"""JSON lines DuckDB's whole-file reader balks at never sink a run."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

import dvlab.sources.jsonlines as jsonlines
from dvlab.lab.ingest import ingest


def rows(lab: Path) -> list[tuple[str, str, str]]:
    con = duckdb.connect(str(lab), read_only=True)
    try:
        return con.execute(
            "SELECT source, message, attributes::VARCHAR FROM logs ORDER BY source, line"
        ).fetchall()
    finally:
        con.close()


def test_duplicate_and_empty_keys_load_beside_good_files(tmp_path: Path) -> None:
    good = tmp_path / "a-good.jsonl"
    good.write_text('{"ts":"2026-12-01T10:00:00Z","msg":"a"}\n')
    dup = tmp_path / "b-dup.jsonl"
    dup.write_text('{"ts":"2026-12-01T10:00:00Z","msg":"first","msg":"second","k":1}\n')
    empty_key = tmp_path / "c-empty-key.jsonl"
    empty_key.write_text('{"ts":"2026-12-01T10:00:00Z","msg":"m","":6,"k":2}\n')
    lab = tmp_path / "lab.duckdb"
    summary = ingest(lab, [str(good), str(dup), str(empty_key)])
    assert summary.failed == []
    got = rows(lab)
    assert [(Path(s).name, json.loads(a)) for s, _, a in got] == [
        ("a-good.jsonl", {}),
        ("b-dup.jsonl", {"k": 1}),
        ("c-empty-key.jsonl", {"k": 2}),
    ]
    # which of two equal keys wins is not promised; that one of them does is
    assert got[1][1] in ("first", "second")


def test_a_whole_file_read_that_fails_at_commit_is_read_again_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "x.jsonl"
    source.write_text(
        '{"ts":"2026-12-01T10:00:00Z","msg":"one","http":{"status":500}}\n'
        '{"ts":"2026-12-01T10:00:01Z","msg":"two"}\n'
    )
    other = tmp_path / "y.log"
    other.write_text("ts=2026-12-01T10:00:02Z msg=three\n")
    calls: list[str] = []
    real = jsonlines.whole_file_sql

    def refused(path: Path, keys: list[str], **kwargs: object) -> str:
        calls.append(str(path))
        # a reader DuckDB refuses at run time, as it refuses some lines JSON allows
        return real(path, keys, **kwargs).replace("read_json(", "read_json_objects_no_such(", 1)

    monkeypatch.setattr(jsonlines, "whole_file_sql", refused)
    lab = tmp_path / "lab.duckdb"
    summary = ingest(lab, [str(source), str(other)])
    assert calls == [str(source)]  # tried once, then not again
    assert summary.failed == []
    assert [(s.status, s.rows_loaded) for s in summary.sources] == [("loaded", 2), ("loaded", 1)]
    assert [(m, json.loads(a)) for _, m, a in rows(lab)] == [
        ("one", {"http.status": 500}),
        ("two", {}),
        ("three", {}),
    ]


def test_a_truncated_zstd_file_says_so_and_several_frames_read_whole(tmp_path: Path) -> None:
    import zstandard

    lines = b"".join(b"ts=2026-12-01T10:00:%02dZ msg=m%d\n" % (i, i) for i in range(50))
    frame = zstandard.ZstdCompressor().compress(lines)
    whole = tmp_path / "two-frames.log.zst"
    whole.write_bytes(
        frame + zstandard.ZstdCompressor().compress(b"ts=2026-12-01T10:01:00Z msg=last\n")
    )
    cut = tmp_path / "cut.log.zst"
    cut.write_bytes(frame[: len(frame) // 2])
    summary = ingest(tmp_path / "lab.duckdb", [str(whole), str(cut)])
    assert [(s.status, s.rows_loaded) for s in summary.sources] == [("loaded", 51), ("failed", 0)]
    message = summary.sources[1].message or ""
    assert "cut.log.zst" in message and "truncated" in message
    assert message.count("cut.log.zst") == 1


def test_a_first_line_longer_than_the_head_is_still_detected(tmp_path: Path) -> None:
    long_first = json.dumps({"ts": "2026-12-01T10:00:00Z", "msg": "x" * 20_000})
    source = tmp_path / "long.jsonl"
    source.write_text(long_first + '\n{"ts":"2026-12-01T10:00:01Z","msg":"short"}\n')
    summary = ingest(tmp_path / "lab.duckdb", [str(source)])
    assert [(s.status, s.format, s.rows_loaded) for s in summary.sources] == [
        ("loaded", "jsonl", 2)
    ]
