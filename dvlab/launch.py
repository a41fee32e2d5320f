"""The ``dvlab`` command's entry point.

Importing the command's modules (DuckDB, pandas, Altair) takes the better part of a
second. A Ctrl-C or SIGTERM in that time ends the command as one later would: the
line ``dvlab: interrupted`` and exit code 130, not a traceback or a death by signal.
Nothing has been opened yet, so there is nothing to undo.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from types import FrameType

INTERRUPTED = 130


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        from dvlab import cli

        args = cli.parse(argv)  # the parser imports what the commands' options need
    except KeyboardInterrupt:
        signal.signal(signal.SIGTERM, previous)
        print("dvlab: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BaseException:
        signal.signal(signal.SIGTERM, previous)
        raise
    if getattr(args, "command", None) != "ingest":
        # other commands let SIGTERM end them at once; an ingest keeps taking it as Ctrl-C
        # (through its own imports and the wait for the lock, until it watches signals
        # itself), so that it ends with nothing half-written and says so
        signal.signal(signal.SIGTERM, previous)
    return cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
