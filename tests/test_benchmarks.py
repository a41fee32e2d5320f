"""The benchmark's log generator, a tiny end-to-end run of the ingest benchmark, and one of
the live loaders' benchmark against the real PostgreSQL and NATS servers.

Nothing here times anything: the figures depend on the machine.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from benchmarks import contenders, gen_logs, gen_scrapes, ingest_json, live, scrapes
from tests.conftest import unavailable

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


def test_the_bad_line_copy_holds_one_more_line_in_its_middle(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    lines = [f'{{"n": {n}}}\n'.encode() for n in range(1, 8)]
    data.write_bytes(b"".join(lines))

    out = ingest_json.with_bad_line(data, tmp_path / "out.jsonl")

    # seven lines: the bad one goes after the third
    assert out.read_bytes() == b"".join([*lines[:3], ingest_json.BAD_LINE, *lines[3:]])


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
    assert set(report["contenders"]) == {"ceiling", "dvlab", "dvlab-bad-line", "pandas"}
    assert report["contenders"]["ceiling"]["rows"] == 2000
    assert report["contenders"]["dvlab"]["rows"] == 2000
    # its file holds one line more, which is rejected: the rows loaded are the records
    assert report["contenders"]["dvlab-bad-line"]["rows"] == 2000
    assert report["contenders"]["pandas"] == {"skipped": True, "reason": "--skip-pandas"}
    assert report["target"]["met"] == (report["target"]["vs_ceiling"] >= 0.7)
    # each contender's processor time over its load: some, and (as it counts every
    # thread) not bounded by its wall time, but by the threads that can run at once
    for name in ("ceiling", "dvlab", "dvlab-bad-line"):
        figures = report["contenders"][name]
        assert 0 < figures["cpu_seconds"] <= figures["seconds"] * (os.cpu_count() or 1) + 0.05
    printed = capsys.readouterr().out
    assert "pandas skipped" in printed
    assert re.search(r"^contender +rows +seconds +CPU s +rows/s ", printed, re.MULTILINE)
    assert re.search(r"^dvlab +2,000 ", printed, re.MULTILINE)


@pytest.mark.slow
def test_a_wrong_row_count_stops_the_benchmark(tmp_path: Path) -> None:
    data = tmp_path / "logs.jsonl"
    gen_logs.write_logs(data, records=50, seed=5)

    with pytest.raises(ingest_json.BenchmarkError, match="stored_rows is 50, expected 51"):
        ingest_json.run_once("ceiling", data=data, db=tmp_path / "lab.duckdb", records=51)


def test_the_table_shows_a_runs_processor_time_or_a_dash_without_one() -> None:
    timed = ingest_json.Result("ceiling", file_bytes=10**6, rows=1000)
    timed.run_seconds += [2.0, 1.0]
    timed.run_cpu_seconds += [3.5, 1.75]
    untimed = ingest_json.Result("dvlab", file_bytes=10**6, rows=1000, run_seconds=[4.0])

    header, first, second = ingest_json.format_table([timed, untimed])

    assert header.split()[:5] == ["contender", "rows", "seconds", "CPU", "s"]
    # the least of the runs, as for the seconds
    assert first.split()[:4] == ["ceiling", "1,000", "1.00", "1.75"]
    assert second.split()[:4] == ["dvlab", "1,000", "4.00", "-"]
    assert timed.to_dict(timed)["cpu_seconds"] == 1.75


def test_psql_copy_count_is_read_from_its_last_line() -> None:
    assert live.copied_rows("COPY 2000\n") == 2000
    with pytest.raises(ingest_json.BenchmarkError, match="did not end with COPY"):
        live.copied_rows("ERROR:  relation does not exist\n")


def test_the_floor_line_gives_its_ratio_to_the_ceiling_and_dvlab_to_it() -> None:
    def result(name: str, seconds: float) -> ingest_json.Result:
        return ingest_json.Result(contender=name, file_bytes=0, rows=1000, run_seconds=[seconds])

    section = live.Section(
        "rows",
        1000,
        {
            "ceiling": result("ceiling", 2.0),
            "floor": result("floor", 5.0),
            "dvlab": result("dvlab", 7.5),
        },
        order=live.PG_ORDER,
    )

    # 1,000 rows in 2 s against 5 s: 0.4 of the ceiling's rate; 7.5 s is 1.5 times 5 s
    assert live.floor_line(section).endswith("0.40x ceiling; dvlab takes 1.50x the floor's time")
    assert [line.split()[0] for line in section.table()[1:]] == ["ceiling", "floor", "dvlab"]


def test_a_count_short_of_the_data_stops_the_benchmark() -> None:
    section = live.Section("rows", 10, {})

    with pytest.raises(ingest_json.BenchmarkError, match="rows in tasks is 9, expected 10"):
        section.check("dvlab", "rows in tasks", 9)
    assert section.counted == {"dvlab": {"rows in tasks": 9}}


def _server_answers(what: str, host: str, port: int, setting: str) -> None:
    """Skip when nothing listens at ``host:port``; with ``CI`` set, fail instead."""
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        unavailable(f"no {what} answers at {host}:{port} ({exc}); set {setting}")


async def _stream_exists(url: str, stream: str) -> bool:
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        await nc.jetstream().stream_info(stream)
    except NotFoundError:
        return False
    finally:
        await nc.close()
    return True


@pytest.mark.slow
def test_live_benchmark_runs_end_to_end_and_removes_what_it_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    dsn = os.environ.get(live.PG_DSN_ENV) or live.DEFAULT_PG_DSN
    url = os.environ.get(live.NATS_URL_ENV) or live.DEFAULT_NATS_URL
    pg = live.pg_params(dsn)
    _server_answers(
        "PostgreSQL", pg.get("host", "127.0.0.1"), int(pg.get("port", 5432)), live.PG_DSN_ENV
    )
    _server_answers("NATS", *live.nats_address(url), live.NATS_URL_ENV)
    out = tmp_path / "figures.json"
    sizes = ["--pg-rows", "2000", "--nats-messages", "1000"]
    servers = ["--pg-dsn", dsn, "--nats-url", url]

    status = live.main([*sizes, *servers, "--json", str(out)])

    assert status == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["postgresql"]["counted"] == {
        "ceiling": {"rows copied": 2000},
        "floor": {"rows in its table": 2000},
        "dvlab": {"rows_loaded": 2000, "rows in tasks": 2000},
    }
    assert report["nats"]["counted"] == {
        "ceiling": {"messages counted": 1000},
        "dvlab": {"rows_loaded": 1000, "rows in events": 1000},
    }
    assert set(report["postgresql"]["contenders"]) == {"ceiling", "floor", "dvlab"}
    assert set(report["nats"]["contenders"]) == {"ceiling", "dvlab"}
    for section in (report["postgresql"], report["nats"]):
        # a process that ran has spent processor time (the interpreter's start at least)
        assert all(c["cpu_seconds"] > 0 for c in section["contenders"].values())
        assert section["target"]["met"] == (section["target"]["vs_ceiling"] >= 0.5)
    # about 310 bytes a task row as CSV and 360 a message, as designed
    assert 280 <= report["postgresql"]["csv_bytes"] / 2000 <= 340
    assert 330 <= report["nats"]["body_bytes"] / 1000 <= 390
    printed = capsys.readouterr().out
    assert re.search(r"^dvlab +2,000 ", printed, re.MULTILINE)
    assert re.search(r"^dvlab +1,000 ", printed, re.MULTILINE)
    assert re.search(r"^floor +2,000 ", printed, re.MULTILINE)
    assert re.search(
        r"^floor \(psycopg's COPY loop.*x ceiling; dvlab takes ", printed, re.MULTILINE
    )
    with psycopg.connect(dsn) as conn:
        schemas = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s",
            [report["postgresql"]["schema"]],
        ).fetchall()
    assert schemas == [(0,)]
    assert not asyncio.run(_stream_exists(url, report["nats"]["stream"]))


# --------------------------------------------------------------------------- scrape files


def test_scrapes_are_the_same_for_a_seed_and_timed_a_scrape_interval_apart(
    tmp_path: Path,
) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    gen_scrapes.write_scrapes(first, scrapes=3, seed=5)
    gen_scrapes.write_scrapes(second, scrapes=3, seed=5)
    gen_scrapes.write_scrapes(other, scrapes=3, seed=6)
    names = sorted(p.name for p in first.glob("*.prom"))
    assert names == ["scrape-00000.prom", "scrape-00001.prom", "scrape-00002.prom"]
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes()
        assert (first / name).read_bytes() != (other / name).read_bytes()
    times = [(first / n).stat().st_mtime for n in names]
    assert [b - a for a, b in itertools.pairwise(times)] == pytest.approx([86.4, 86.4])


def test_a_scrape_declares_every_family_once_and_counts_its_samples(tmp_path: Path) -> None:
    gen_scrapes.write_scrapes(tmp_path, scrapes=1)
    lines = (tmp_path / "scrape-00000.prom").read_text().splitlines()
    types = [line.split()[3] for line in lines if line.startswith("# TYPE ")]
    samples = [line for line in lines if line and not line.startswith("#")]
    # 300 gauges, 750 counters, 100 histograms and 50 summaries: node-exporter sized
    assert len(types) == len({line.split()[2] for line in lines if line.startswith("# TYPE")})
    assert sorted(set(types)) == ["counter", "gauge", "histogram", "summary"]
    assert len(types) == 1200
    assert len(samples) == gen_scrapes.samples_per_scrape(gen_scrapes.families())


def test_counters_never_fall_between_scrapes(tmp_path: Path) -> None:
    gen_scrapes.write_scrapes(tmp_path, scrapes=3)
    values = []
    for path in sorted(tmp_path.glob("*.prom")):
        counters = {
            line.split()[2]
            for line in path.read_text().splitlines()
            if line.startswith("# TYPE ") and line.endswith(" counter")
        }
        values.append(
            {
                line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                for line in path.read_text().splitlines()
                if line and not line.startswith("#") and line.split("{")[0] in counters
            }
        )
    assert values[0].keys() == values[2].keys() and len(values[0]) > 750
    assert all(values[0][k] < values[1][k] < values[2][k] for k in values[0])


def test_the_parquet_copy_holds_the_files_samples(tmp_path: Path) -> None:
    gen_scrapes.write_scrapes(tmp_path / "s", scrapes=2)
    rows = gen_scrapes.write_parquet(tmp_path / "s.parquet", scrapes=2)
    text = {}
    for path in sorted((tmp_path / "s").glob("*.prom")):
        at = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        for line in path.read_text().splitlines():
            if line and not line.startswith("#"):
                series, value = line.rsplit(" ", 1)
                text[(at, series)] = float(value)
    con = duckdb.connect()
    stored = con.execute(
        "SELECT ts, name, map_entries(labels), value FROM read_parquet(?)",
        [str(tmp_path / "s.parquet")],
    ).fetchall()
    assert rows == len(stored) == len(text)
    for ts, name, pairs, value in stored:
        labels = ",".join(f'{p["key"]}="{p["value"]}"' for p in pairs)
        series = f"{name}{{{labels}}}" if labels else name
        assert text[(ts, series)] == value


@pytest.mark.slow
def test_scrape_benchmark_runs_end_to_end_on_a_few_scrapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(scrapes, "DATA_DIR", tmp_path / "data")
    out = tmp_path / "figures.json"

    status = scrapes.main(["--scrapes", "4", "--json", str(out)])

    assert status == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    # four scrapes of the generated target, each file counted line by line
    per_file = [
        sum(1 for line in path.read_text().splitlines() if line and not line.startswith("#"))
        for path in sorted((tmp_path / "data" / "scrapes-4-7").glob("*.prom"))
    ]
    assert len(per_file) == 4
    assert report["samples"] == sum(per_file)
    for contender in ("ceiling", "dvlab"):
        assert report["contenders"][contender]["rows"] == sum(per_file)
    # the first counter's series over four scrapes 86.4 s apart, in 5-minute steps: each
    # series has its four points in the first step (0 to 259.2 s), so one row a series
    first = next(f for f in gen_scrapes.families() if f.type == "counter")
    assert report["rate_query"]["params"]["metric"] == first.name
    assert report["rate_query"]["rows"] == len(first.series)
    assert re.search(r"^dvlab +\d", capsys.readouterr().out, re.MULTILINE)
