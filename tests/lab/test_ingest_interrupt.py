"""Ctrl-C while DuckDB reads a large JSON-lines file into the lab: exit 130, the lab as it was."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import duckdb
import pytest

import dvlab.lab.ingest as ingest_module
from tests.stopping import stop_midway

# Runs the real command, announcing (by making the file $DVLAB_TEST_READY) the moment the
# commit starts writing the file's rows, so the signal is sure to land inside DuckDB's
# statement (the case DuckDB used to swallow).
CHILD = textwrap.dedent(
    """
    import os
    import sys
    import dvlab.lab.ingest as ingest
    from dvlab.cli import main

    real = ingest._insert_staged

    def announced(*args, **kwargs):
        open(os.environ["DVLAB_TEST_READY"], "w").close()
        return real(*args, **kwargs)

    ingest._insert_staged = announced
    sys.exit(main(sys.argv[1:]))
    """
)


def signalled(script: str, args: list[str], marker: Path, signum: int) -> tuple[int, str, str]:
    """Run ``script`` with ``args``, send ``signum`` once it makes the file ``marker``
    (named to it as $DVLAB_TEST_READY); its (exit code, stdout, stderr)."""
    env = {**os.environ, "DVLAB_TEST_READY": str(marker)}
    return stop_midway(args, lambda _pid: marker.exists(), signum, env=env, script=script)


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
    code, out, err = signalled(
        CHILD, ["--db", str(lab), "ingest", str(big)], tmp_path / "writing", signal.SIGINT
    )
    assert code == 130, (out, err)
    assert err.strip().endswith("dvlab: interrupted")
    con = duckdb.connect(str(lab), read_only=True)
    try:
        assert con.execute("SELECT message FROM logs").fetchall() == [("before",)]
        assert con.execute("SELECT count(*) FROM ingests").fetchall() == [(1,)]
    finally:
        con.close()


# Stands a statement DuckDB would take hours over where the whole-file reader plans its
# file, and announces it: only an interrupt of DuckDB itself ends it.
ENDLESS = textwrap.dedent(
    """
    import os
    import sys
    import dvlab.sources.jsonlines as jsonlines
    from dvlab.cli import main

    def endless(con, path):
        open(os.environ["DVLAB_TEST_READY"], "w").close()
        con.execute("SELECT sum(a.range * b.range) FROM range(100000000) a, range(1000000) b")
        raise AssertionError("the endless statement ended")

    jsonlines.whole_file_plan = endless
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_interrupts_duckdb_mid_statement(tmp_path: Path, signum: int) -> None:
    """Python alone would run its handler only after the statement: the run must end
    with 130 long before it, leaving no lab behind."""
    lab = tmp_path / "lab.duckdb"
    source = tmp_path / "one.jsonl"
    source.write_text('{"ts":"2026-12-01T10:00:00Z","msg":"m"}\n')
    code, out, err = signalled(
        ENDLESS, ["--db", str(lab), "ingest", str(source)], tmp_path / "reading", signum
    )
    assert code == 130, (out, err)
    assert err.strip().endswith("dvlab: interrupted")
    assert not lab.exists() or duckdb.connect(str(lab), read_only=True).execute(
        "SELECT count(*) FROM logs"
    ).fetchall() == [(0,)]


class _Recorder:
    """Stands for a DuckDB connection: records interrupt() calls."""

    def __init__(self) -> None:
        self.interrupted = threading.Event()

    def interrupt(self) -> None:
        self.interrupted.set()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_reaches_the_watched_connections_without_waiting_for_python(
    signum: int,
) -> None:
    """The signal's own wake-up, not Python's handler, interrupts DuckDB: the watcher thread
    calls interrupt() on every watched connection, and on no other."""
    interrupts = ingest_module._Interrupts()
    watched, other = _Recorder(), _Recorder()
    with interrupts:
        interrupts.watch(watched)  # type: ignore[arg-type]
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signum)
        # the watcher thread answers on its own; wait for it (generously)
        assert watched.interrupted.wait(timeout=30)
    assert not other.interrupted.is_set()
    assert interrupts.seen


def test_nothing_is_interrupted_once_the_commit_has_begun() -> None:
    interrupts = ingest_module._Interrupts()
    watched = _Recorder()
    with interrupts:
        interrupts.watch(watched)  # type: ignore[arg-type]
        interrupts.start_commit()
        signal.raise_signal(signal.SIGINT)  # no KeyboardInterrupt: the commit goes on
        interrupts._interrupt_duckdb()  # what the watcher does on the signal
    assert not watched.interrupted.is_set()
    assert not interrupts.seen


def test_inside_a_deferred_block_a_signal_raises_only_at_its_end() -> None:
    """Clean-up inside the block (a rollback, a detach) is never cut short."""
    interrupts = ingest_module._Interrupts()
    reached = []
    with interrupts, pytest.raises(KeyboardInterrupt), interrupts.deferred():
        signal.raise_signal(signal.SIGINT)
        reached.append("after the signal")
    assert reached == ["after the signal"]


# Holds the import of the lab's store (DuckDB comes with it) for long enough that a signal
# lands while the command is still loading, and announces it.
LOADING = textwrap.dedent(
    """
    import importlib.abc
    import os
    import sys
    import time

    class Slow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == sys.argv[1]:
                open(os.environ["DVLAB_TEST_READY"], "w").close()
                time.sleep(60)
            return None

    sys.meta_path.insert(0, Slow())
    from dvlab.launch import main
    sys.exit(main(sys.argv[2:]))
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize(
    "module",
    [
        "dvlab.lab.store",  # imported while the command line is read
        "dvlab.lab.ingest",  # imported by the ingest once it is read
    ],
)
def test_a_signal_while_the_command_loads_is_an_interrupt(
    tmp_path: Path, signum: int, module: str
) -> None:
    lab = tmp_path / "lab.duckdb"
    source = tmp_path / "one.jsonl"
    source.write_text('{"ts":"2026-12-01T10:00:00Z","msg":"m"}\n')
    code, out, err = signalled(
        LOADING, [module, "--db", str(lab), "ingest", str(source)], tmp_path / "loading", signum
    )
    assert (code, out, err) == (130, "", "dvlab: interrupted\n")
    assert not lab.exists()


def test_the_package_loads_without_duckdb() -> None:
    """What the command imports before it can handle a signal stays light; the lab's API
    is still there when asked for."""
    probe = "import sys, dvlab.launch; print('duckdb' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert found.stdout.split() == ["False"], found.stderr
    from dvlab import Lab, open_lab
    from dvlab.lab import store

    assert (Lab, open_lab) == (store.Lab, store.open_lab)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        dvlab_nothing()


def dvlab_nothing() -> object:
    import dvlab

    return dvlab.nothing  # type: ignore[attr-defined]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_waiting_for_the_lab_lock_is_an_interrupt(
    tmp_path: Path, signum: int
) -> None:
    """Another ingest holds the lab: the run waits (up to DVLAB_LOCK_TIMEOUT), and a
    signal then ends it as at any other moment."""
    import fcntl
    import os

    lab = tmp_path / "lab.duckdb"
    source = tmp_path / "one.jsonl"
    source.write_text('{"ts":"2026-12-01T10:00:00Z","msg":"m"}\n')
    lock_path = tmp_path / "lab.duckdb.ingest.lock"

    def waiting(pid: int) -> bool:
        """Ready once it has the lock file open: it is then waiting for the lock."""
        fds = Path(f"/proc/{pid}/fd")
        return str(lock_path) in {os.path.realpath(fds / fd) for fd in os.listdir(fds)}

    with open(lock_path, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = stop_midway(
            ["--db", str(lab), "ingest", str(source)],
            waiting,
            signum,
            env={**os.environ, "DVLAB_LOCK_TIMEOUT": "120"},
        )
    assert result == (130, "", "dvlab: interrupted\n")
    assert not lab.exists()
