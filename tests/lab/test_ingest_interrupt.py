"""Ctrl-C while DuckDB reads a large JSON-lines file into the lab: exit 130, the lab as it was."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

# Runs the real command, announcing on stderr the moment the commit starts writing the file's rows, so the
# signal is sure to land inside DuckDB's statement (the case DuckDB used to swallow).
CHILD = textwrap.dedent(
    """
    import sys
    import dvlab.lab.ingest as ingest
    from dvlab.cli import main

    real = ingest._insert_staged

    def announced(*args, **kwargs):
        print("writing", file=sys.stderr, flush=True)
        return real(*args, **kwargs)

    ingest._insert_staged = announced
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.slow
def test_sigint_inside_the_commit_write_leaves_the_lab_as_it_was(tmp_path: Path) -> None:
    lab = tmp_path / "lab.duckdb"
    small = tmp_path / "small.jsonl"
    small.write_text('{"ts":"2026-12-01T10:00:00Z","msg":"before"}\n')
    run = [sys.executable, "-m", "dvlab.cli", "--db", str(lab), "ingest", str(small)]
    assert subprocess.run(run, check=False).returncode == 0
    big = tmp_path / "big.jsonl"
    with big.open("w") as fh:
        for i in range(1_500_000):
            record = {"ts": "2026-12-01T10:00:00Z", "msg": f"m{i}", "http": {"status": 200}}
            fh.write(json.dumps(record) + "\n")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, "--db", str(lab), "ingest", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stderr is not None
        assert child.stderr.readline().strip() == "writing"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
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
