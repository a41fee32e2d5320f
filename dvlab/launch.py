"""The ``dvlab`` command's entry point.

Importing the command's modules (DuckDB, pandas, Altair) takes the better part of a
second. A Ctrl-C or SIGTERM in that time ends the command as one later would: the
line ``dvlab: interrupted`` and exit code 130, not a traceback or a death by signal.
Nothing has been opened yet, so there is nothing to undo. Past that, SIGTERM stays
Ctrl-C for every command but ``lab``.
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
    if getattr(args, "command", None) == "lab":
        # JupyterLab runs as a child, which dvlab lab hands SIGTERM on to
        signal.signal(signal.SIGTERM, previous)
    # every other command goes on taking SIGTERM (a scheduler stopping it) as Ctrl-C: DuckDB
    # stops its statement, and the command cleans up what it had half-written (an ingest its
    # staging, an export its hidden folder) and ends with "dvlab: interrupted"
    return cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
