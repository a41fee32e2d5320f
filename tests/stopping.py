"""Stopping a dvlab command midway, as a scheduler or a user at the terminal does."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence


def stop_midway(
    args: Sequence[str],
    ready: Callable[[int], bool],
    signum: int,
    *,
    env: Mapping[str, str] | None = None,
    settle: float = 0.0,
    script: str | None = None,
) -> tuple[int, str, str]:
    """Start ``python -m dvlab.launch ARGS`` (or ``python -c SCRIPT ARGS``), send it
    ``signum`` once ``ready(its pid)`` holds (and ``settle`` seconds more), and return its
    exit code, stdout and stderr. The command is killed if it has not ended two minutes
    after the signal."""
    start = ["-m", "dvlab.launch"] if script is None else ["-c", script]
    child = subprocess.Popen(
        [sys.executable, *start, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=None if env is None else dict(env),
    )
    try:
        deadline = time.monotonic() + 120
        while not ready(child.pid):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, f"dvlab {' '.join(args)} never got going"
            time.sleep(0.02)
        time.sleep(settle)
        child.send_signal(signum)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, out, err
