"""Ctrl-C during a large JSON-lines ingest: exit 130, and the lab as it was."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest


@pytest.mark.slow
def test_sigint_during_a_large_ingest_leaves_the_lab_as_it_was(tmp_path: Path) -> None:
    lab = tmp_path / "lab.duckdb"
    small = tmp_path / "small.jsonl"
    small.write_text('{"ts":"2026-12-01T10:00:00Z","msg":"before"}\n')
    assert (
        subprocess.run(
            [sys.executable, "-m", "dvlab.cli", "--db", str(lab), "ingest", str(small)],
            check=False,
        ).returncode
        == 0
    )
    big = tmp_path / "big.jsonl"
    with big.open("w") as fh:
        for i in range(1_000_000):
            fh.write(
                json.dumps(
                    {
                        "ts": f"2026-12-01T10:{i // 60000 % 60:02d}:00Z",
                        "msg": f"m{i}",
                        "service": "api",
                        "http": {"status": 200},
                    }
                )
                + "\n"
            )
    child = subprocess.Popen(
        [sys.executable, "-m", "dvlab.cli", "--db", str(lab), "ingest", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3.0)  # well into the run: parsing, or DuckDB reading the file into the lab
        assert child.poll() is None, "the ingest ended before it could be interrupted"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, (out, err)
    assert err.strip().endswith("dvlab: interrupted")
    con = duckdb.connect(str(lab), read_only=True)
    try:
        assert con.execute("SELECT message FROM logs").fetchall() == [("before",)]
        assert con.execute("SELECT count(*) FROM ingests").fetchall() == [(1,)]
    finally:
        con.close()
