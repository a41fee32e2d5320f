"""The benchmark's log generator and a tiny end-to-end run of the ingest benchmark.

Nothing here times anything: the figures depend on the machine.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from benchmarks import contenders, gen_logs, ingest_json

RECORDS = 4000
RFC3339_UTC_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    path = tmp_path_factory.mktemp("gen") / "logs.jsonl"
    gen_logs.write_logs(path, records=RECORDS, seed=11)
    return path.read_bytes().splitlines(keepends=True)


def test_same_seed_writes_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    gen_logs.write_logs(first, records=500, seed=3)
    gen_logs.write_logs(second, records=500, seed=3)
    gen_logs.write_logs(other, records=500, seed=4)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_writes_exactly_the_records_asked_for(lines: list[bytes]) -> None:
    assert len(lines) == RECORDS
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)


def test_every_line_is_an_object_with_the_documented_keys(lines: list[bytes]) -> None:
    allowed = set(gen_logs.KEYS) | set(gen_logs.OPTIONAL_KEYS)
    for line in lines:
        record = json.loads(line)
        assert isinstance(record, dict)
        assert set(gen_logs.KEYS) <= record.keys() <= allowed, record
        assert RFC3339_UTC_MS.fullmatch(record["ts"]), record["ts"]
        assert record["level"] in {"debug", "info", "warn", "error"}
        assert record["service"] in gen_logs.SERVICES
        assert record["site"] in gen_logs.SITES
        assert record["host"].split(".")[1] == record["site"]
        assert str(uuid.UUID(record["correlation_id"])) == record["correlation_id"]
        assert record["msg"] and "{" not in record["msg"]
        assert isinstance(record.get("attempt", 1), int)
        assert sum(key in record for key in gen_logs.NESTED_KEYS) <= 1
        if record["level"] == "error":
            assert set(record["error"]) == {"class", "detail"}
        if "http" in record:
            assert set(record["http"]) == {"method", "path", "status", "duration_ms"}


def test_lines_average_about_380_bytes(lines: list[bytes]) -> None:
    # designed for ~380 B (single lines run from about 330 to 510 B)
    average = sum(len(line) for line in lines) / len(lines)
    assert 350 <= average <= 410, average


def test_about_a_quarter_of_lines_nest_an_object(lines: list[bytes]) -> None:
    records = [json.loads(line) for line in lines]
    nested = sum(any(isinstance(r.get(k), dict) for k in gen_logs.NESTED_KEYS) for r in records)
    # 25 % by design; four standard deviations at 4000 lines is under 3 points
    assert 0.21 <= nested / len(records) <= 0.29
    with_attempt = sum("attempt" in r for r in records) / len(records)
    assert 0.09 <= with_attempt <= 0.16


def test_correlation_ids_are_shared_by_the_lines_of_one_request(lines: list[bytes]) -> None:
    ids = [json.loads(line)["correlation_id"] for line in lines]
    assert 8 <= len(ids) / len(set(ids)) <= 56


def test_ensure_logs_reuses_a_current_file_and_rewrites_a_stale_one(tmp_path: Path) -> None:
    path = tmp_path / "logs.jsonl"
    assert gen_logs.ensure_logs(records=300, seed=1, path=path) == (path, True)
    assert gen_logs.ensure_logs(records=300, seed=1, path=path) == (path, False)
    assert gen_logs.ensure_logs(records=300, seed=2, path=path) == (path, True)
    with path.open("ab") as grown:
        grown.write(b"{}\n")
    assert gen_logs.ensure_logs(records=300, seed=2, path=path) == (path, True)
    assert len(path.read_bytes().splitlines()) == 300


def test_ceiling_declares_a_column_for_every_generated_key() -> None:
    assert tuple(contenders.CEILING_COLUMNS) == gen_logs.KEYS + gen_logs.OPTIONAL_KEYS


@pytest.mark.slow
def test_benchmark_runs_end_to_end_on_a_small_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(gen_logs, "DATA_DIR", tmp_path / "data")
    out = tmp_path / "figures.json"

    status = ingest_json.main(["--records", "2000", "--skip-pandas", "--json", str(out)])

    assert status == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["records"] == 2000
    assert report["file"] == str(tmp_path / "data" / "logs-2000.jsonl")
    assert set(report["contenders"]) == {"ceiling", "dvlab", "pandas"}
    assert report["contenders"]["ceiling"]["rows"] == 2000
    assert report["contenders"]["dvlab"]["rows"] == 2000
    assert report["contenders"]["pandas"] == {"skipped": True, "reason": "--skip-pandas"}
    assert report["target"]["met"] == (report["target"]["vs_ceiling"] >= 0.7)
    printed = capsys.readouterr().out
    assert "pandas skipped" in printed
    assert re.search(r"^dvlab +2,000 ", printed, re.MULTILINE)


@pytest.mark.slow
def test_a_wrong_row_count_stops_the_benchmark(tmp_path: Path) -> None:
    data = tmp_path / "logs.jsonl"
    gen_logs.write_logs(data, records=50, seed=5)

    with pytest.raises(ingest_json.BenchmarkError, match="stored_rows is 50, expected 51"):
        ingest_json.run_once("ceiling", data=data, db=tmp_path / "lab.duckdb", records=51)
