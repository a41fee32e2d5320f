"""Work folders that say whose they are, so that one a killed run left can be removed.

A command that writes a hidden folder beside its target and moves it into place
at the end (an export, a simulation) leaves that folder behind when it is
killed (SIGKILL, a power cut). :func:`claim` writes ``owner.json`` into such a
folder: this host's name and the process id. :func:`remove_abandoned` removes
folders whose owner is a process of this host that is gone; a folder without
the file (one of the user's own that happens to match the name) or of another
host (a shared file system) is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterable
from pathlib import Path

OWNER = "owner.json"
HOST = socket.gethostname()


def claim(folder: Path) -> None:
    """Mark ``folder`` as this process's work."""
    (folder / OWNER).write_text(json.dumps({"pid": os.getpid(), "host": HOST}))


def remove_abandoned(candidates: Iterable[Path]) -> list[Path]:
    """Remove each of ``candidates`` that is a folder claimed by a process of this host
    that no longer runs; the folders removed."""
    removed = []
    for path in candidates:
        if not path.is_dir() or path.is_symlink():
            continue
        try:
            owner = json.loads((path / OWNER).read_text())
        except (OSError, ValueError):
            continue  # not claimed: not one of ours
        pid = owner.get("pid") if isinstance(owner, dict) else None
        if owner.get("host") == HOST and isinstance(pid, int) and not alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (one of another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
