"""The kernel's log beside a report: what a shutdown alone leaves in it is no log."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvlab.reporting.kernel import drop_if_empty

NOISE = b"[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.\n"


@pytest.mark.parametrize(
    ("written", "left"),
    [
        (b"", None),
        # every shutdown begins with an interrupt: an idle kernel says so, of no cell
        (NOISE, None),
        (b"kernel says hi\n" + NOISE, b"kernel says hi\n"),
        (b"a warning\nanother\n", b"a warning\nanother\n"),
    ],
)
def test_a_kernel_log_keeps_what_the_kernel_said_but_the_shutdowns_interrupt(
    tmp_path: Path, written: bytes, left: bytes | None
) -> None:
    log = tmp_path / "kernel.log"
    log.write_bytes(written)

    drop_if_empty(log)

    assert (log.read_bytes() if log.exists() else None) == left


def test_no_kernel_log_is_nothing_to_do(tmp_path: Path) -> None:
    drop_if_empty(tmp_path / "kernel.log")
    assert list(tmp_path.iterdir()) == []
