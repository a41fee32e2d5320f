"""Processes at once: readers during an ingest, two ingests, an ingest killed mid-run.

Each test runs real processes against one lab file and waits for them with a
timeout, so a deadlock fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import IO

import pytest

from dvlab.lab.ingest import IngestOptions, ingest

from .ingest_support import jsonl, ledger, query, record, table_counts

pytestmark = pytest.mark.slow

TIMEOUT = 300  # seconds any one process may take

READER = """
import json, os, sys, time
import dvlab
lab, stop = sys.argv[1], sys.argv[2]
while not os.path.exists(stop):
    n = dvlab.open_lab(lab).sql("SELECT count(*) FROM logs").fetchall()[0][0]
    print(json.dumps([time.time(), n]), flush=True)
"""

#: ingest one file, telling the parent when reading has begun (and, with "commit",
#: stopping inside the commit transaction right after the file's rows were written)
INGESTER = """
import sys, time
from datetime import datetime
from pathlib import Path
from dvlab.lab import ingest as module

lab, source, fmt, pause = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

def progress(name, done, total):
    if done:
        print("reading", flush=True)

if pause == "commit":
    real = module._insert_staged
    def write_then_wait(con, entry):
        real(con, entry)
        print("in commit", flush=True)
        time.sleep(600)
    module._insert_staged = write_then_wait

module.ingest(Path(lab), [source], module.IngestOptions(format=fmt), progress=progress)
print("committed", flush=True)
"""


def python(code: str, *args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-c", code, *args], text=True, **popen
    )


def write_big_jsonl(path: Path, count: int, first: int = 1) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for n in range(first, first + count):
            fh.write(
                f'{{"time": "2026-05-02T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z",'
                f' "level": "info", "msg": "event {n}", "n": {n}}}\n'
            )


def write_big_logfmt(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for n in range(1, count + 1):
            fh.write(f'time=2026-05-03T00:00:{n % 60:02d}Z level=warn msg="line {n}" n={n}\n')


def collect(stream: IO[str], into: list[str]) -> threading.Thread:
    thread = threading.Thread(target=lambda: into.extend(stream), daemon=True)
    thread.start()
    return thread


def wait_for_line(stream: IO[str], wanted: str, deadline: float) -> list[str]:
    """Lines read until one equals ``wanted`` (fails if the process ends or time runs out)."""
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            pytest.fail(f"the process ended before printing {wanted!r}; it printed {seen}")
        seen.append(line.strip())
        if line.strip() == wanted:
            return seen
    pytest.fail(f"no {wanted!r} within the time allowed")


def snapshot(lab: Path) -> tuple[object, ...]:
    """Everything an ingest could change, in a comparable form."""
    return (
        table_counts(lab),
        query(lab, "SELECT count(*), sum(hash(message)), sum(line) FROM logs"),
        query(lab, "SELECT * FROM rejects ORDER BY ALL"),
        query(lab, "SELECT ingest_id, source, status, rows_loaded FROM ingests ORDER BY 1"),
    )


@pytest.fixture
def seeded_lab(tmp_path: Path) -> Path:
    lab = tmp_path / "lab.duckdb"
    seed = tmp_path / "seed.jsonl"
    seed.write_text(jsonl([record(i) for i in range(10)]), encoding="utf-8")
    ingest(lab, [str(seed)])
    return lab


def test_a_reader_keeps_querying_through_an_ingest(tmp_path: Path, seeded_lab: Path) -> None:
    big = tmp_path / "big.jsonl"
    write_big_jsonl(big, 300_000)
    stop = tmp_path / "stop"
    errors = tmp_path / "reader.err"
    with errors.open("w") as err:
        reader = python(READER, str(seeded_lab), str(stop), stdout=subprocess.PIPE, stderr=err)
    assert reader.stdout is not None
    try:
        lines = [reader.stdout.readline()]  # the first count: the reader is running
        collector = collect(reader.stdout, lines)
        started = time.time()
        result = subprocess.run(
            [sys.executable, "-m", "dvlab.cli", "--db", str(seeded_lab), "ingest", str(big)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        ended = time.time()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            json.loads(x)[0] > ended for x in lines[-3:] if x.strip()
        ):
            time.sleep(0.1)
    finally:
        stop.touch()
        reader.wait(timeout=TIMEOUT)
    collector.join(timeout=30)  # it ends with the reader's output
    reader.stdout.close()

    assert result.returncode == 0, result.stderr
    assert reader.returncode == 0, errors.read_text()
    observed = [json.loads(x) for x in lines if x.strip()]
    counts = [n for _, n in observed]
    assert set(counts) <= {10, 300_010}  # the old lab or the new one, never part of an ingest
    assert counts == sorted(counts)
    assert counts[-1] == 300_010
    assert any(started <= at <= ended for at, _ in observed), "no query ran during the ingest"


def test_two_ingests_at_once_both_land_one_after_the_other(
    tmp_path: Path, seeded_lab: Path
) -> None:
    first = tmp_path / "first.jsonl"
    write_big_jsonl(first, 100_000, first=1_000_000)
    second = tmp_path / "second.log"
    write_big_logfmt(second, 60_000)
    command = [sys.executable, "-m", "dvlab.cli", "--db", str(seeded_lab), "ingest"]

    procs = [
        subprocess.Popen(
            [*command, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for path in (first, second)
    ]
    outputs = [p.communicate(timeout=TIMEOUT) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], outputs
    assert table_counts(seeded_lab)["logs"] == 10 + 100_000 + 60_000
    assert query(seeded_lab, "SELECT source, count(*) FROM logs GROUP BY 1 ORDER BY 1") == sorted(
        [(str(tmp_path / "seed.jsonl"), 10), (str(first), 100_000), (str(second), 60_000)]
    )
    # the lock file serialised them: one run parsed only after the other had committed
    runs: dict[str, list[tuple[datetime, datetime]]] = {}
    for row in ledger(seeded_lab)[1:]:
        runs.setdefault(row["run_id"], []).append((row["started"], row["finished"]))
    spans = sorted((min(s for s, _ in rows), max(f for _, f in rows)) for rows in runs.values())
    assert len(spans) == 2
    assert spans[0][1] <= spans[1][0]
    assert (seeded_lab.parent / "lab.duckdb.ingest.lock").exists()


@pytest.mark.parametrize("moment", ["parsing", "commit"])
def test_an_ingest_killed_mid_run_leaves_the_lab_as_it_was(
    tmp_path: Path, seeded_lab: Path, moment: str
) -> None:
    """SIGKILL while parsing (nothing written yet), or inside the commit transaction after
    300,000 rows went into it: either way the lab is exactly as before, and a rerun loads all."""
    if moment == "parsing":
        big = tmp_path / "big.log"
        write_big_logfmt(big, 300_000)
        fmt, wanted = "logfmt", "reading"
    else:
        big = tmp_path / "big.jsonl"
        write_big_jsonl(big, 300_000)
        fmt, wanted = "jsonl", "in commit"
    before = snapshot(seeded_lab)
    proc = python(INGESTER, str(seeded_lab), str(big), fmt, moment, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        said = wait_for_line(proc.stdout, wanted, time.monotonic() + TIMEOUT)
        if moment == "parsing":
            time.sleep(0.5)  # well into the parse (300,000 logfmt lines take seconds)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=TIMEOUT)

    assert proc.returncode == -signal.SIGKILL
    assert "committed" not in said + rest.splitlines()
    assert snapshot(seeded_lab) == before

    rerun = ingest(seeded_lab, [str(big)], IngestOptions(format=fmt))

    assert [(s.status, s.rows_loaded) for s in rerun.sources] == [("loaded", 300_000)]
    assert query(
        seeded_lab,
        "SELECT count(*), count(DISTINCT line), min(line), max(line) FROM logs WHERE source = ?",
        [str(big)],
    ) == [(300_000, 300_000, 1, 300_000)]
    assert table_counts(seeded_lab)["logs"] == 300_010
