"""The kernel a report runs in, with its own stderr kept in the run's folder.

A kernel writes to the stderr it inherits: its warnings, and when a run is stopped
midway, the traceback of its sockets closing under it. None of it is the report's
output, and on a terminal it would bury dvlab's one-line message; so the kernel
writes to ``kernel.log`` in the run's folder instead (removed when it stays empty).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_client import AsyncKernelManager
from traitlets import Unicode


class LoggingKernelManager(AsyncKernelManager):  # type: ignore[misc]
    """An AsyncKernelManager that starts its kernel with stderr into :attr:`stderr_path`."""

    stderr_path = Unicode("", help="the file the kernel's stderr goes to").tag(config=True)

    async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
        if not self.stderr_path or "stderr" in kw:
            await super().start_kernel(**kw)
            return
        # the kernel keeps its own descriptor of the file; this one is closed at once
        with open(self.stderr_path, "ab") as log:
            await super().start_kernel(stderr=log, **kw)


#: what an idle kernel writes when it is sent the interrupt every shutdown begins with
#: (jupyter_client's): said of no cell, as a cell running then is interrupted in its output
_SHUTDOWN_INTERRUPT = b"KeyboardInterrupt caught in kernel."


def drop_if_empty(path: Path) -> None:
    """Remove a kernel log that holds nothing but the line the shutdown's interrupt
    leaves (that line is dropped from any log)."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return
    kept = b"".join(
        line for line in text.splitlines(keepends=True) if _SHUTDOWN_INTERRUPT not in line
    )
    if not kept:
        path.unlink()
    elif kept != text:
        path.write_bytes(kept)
