"""The lab as Parquet, for engines that read files rather than DuckDB databases.

``logs`` is written partitioned by UTC day (``logs/day=2026-12-01/*.parquet``,
Hive-style), which Spark, Trino and DuckDB itself read as one table with
``day`` as a column; the small tables are single files.

An export is written whole into a hidden folder inside the target first, and
its tables are then moved into place together, each replacing the one an
earlier export left; a signal during that move lets it end. So a reader, or an
export stopped midway, sees the earlier export or this one, never a mix or half
a table. Exports into one folder take turns. The folder's manifest
(``.dvlab-export.json``) names the tables exports wrote there, and the lab each
came from: anything else under a table's name (a folder of one's own logs, a
Parquet file of one's own) is never replaced, and the export is refused before
it writes anything. A staging folder left by an export that was killed is
removed by the next one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dvlab.errors import BadInputError
from dvlab.lab import owned
from dvlab.lab.schema import quote_ident, quote_literal
from dvlab.lab.store import Lab, taking_turns

log = logging.getLogger(__name__)

PARTITIONED = {"logs": "strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d')"}

#: the file in an export folder that names the tables exports wrote there
MANIFEST = ".dvlab-export.json"
#: exports into one folder take turns on this file
_LOCK = ".dvlab-export.lock"
#: staging folders are named this, then the process id that owns them (and their
#: owner.json says whose they are: see dvlab.lab.owned)
_STAGING = ".dvlab-export-"


def target_name(table: str) -> str:
    """What ``table`` is called inside an export folder."""
    return table if table in PARTITIONED else f"{table}.parquet"


def export_parquet(
    lab_path: Path, folder: Path, *, tables: Sequence[str] | None = None
) -> dict[str, tuple[Path, int]]:
    """Write the chosen tables (default: all) under ``folder``; returns rows per table."""
    lab = Lab(lab_path)
    available = [t for t in lab.tables() if t != "dvlab_meta"]
    chosen = list(dict.fromkeys(tables)) if tables else available  # each once
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise BadInputError(
            f"no table {', '.join(unknown)} in the lab; it has: {', '.join(available)}"
        )
    _refuse_foreign(folder, chosen, _manifest(folder))  # before the folder is touched
    with _taking_turns(folder):
        return _export(lab, folder, chosen)


def _refuse_foreign(folder: Path, chosen: list[str], exported: dict[str, Any]) -> None:
    foreign = [
        folder / target_name(t)
        for t in chosen
        if _present(folder / target_name(t)) and target_name(t) not in exported
    ]
    if foreign:
        raise BadInputError(
            f"{', '.join(map(str, foreign))} is there and is not a dvlab export's (the folder's "
            f"{MANIFEST} does not name it); export into another folder, or move it away first"
        )


def _export(lab: Lab, folder: Path, chosen: list[str]) -> dict[str, tuple[Path, int]]:
    exported = _manifest(folder)  # again: another export may have ended meanwhile
    _refuse_foreign(folder, chosen, exported)
    # a staging folder of an export that was killed (exports into the folder take turns, so
    # none is under way)
    owned.remove_abandoned(folder.glob(f"{_STAGING}*"))
    staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING}{os.getpid()}-", dir=folder))
    try:
        owned.claim(staging)
        counts: dict[str, int] = {}
        (staging / "new").mkdir()
        with lab.connect() as con:
            for table in chosen:
                target = staging / "new" / target_name(table)
                if table in PARTITIONED:
                    con.execute(
                        f"COPY (SELECT *, {PARTITIONED[table]} AS day FROM {quote_ident(table)}) "
                        f"TO {quote_literal(str(target))} (FORMAT parquet, PARTITION_BY (day))"
                    )
                    target.mkdir(exist_ok=True)
                    if not any(target.iterdir()):
                        # an empty table writes no partition: one file of no rows keeps its
                        # columns, day among them (a date, as readers take it from a path),
                        # for readers of DIR/logs
                        con.execute(
                            f"COPY (SELECT *, CAST({PARTITIONED[table]} AS DATE) AS day "
                            f"FROM {quote_ident(table)} LIMIT 0) "
                            f"TO {quote_literal(str(target / 'empty.parquet'))} (FORMAT parquet)"
                        )
                else:
                    con.execute(
                        f"COPY {quote_ident(table)} TO {quote_literal(str(target))} (FORMAT parquet)"
                    )
                counts[table] = int(
                    con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0]
                )
        names = [target_name(t) for t in chosen]
        this = {"lab": str(lab.path.resolve()), "written": datetime.now(UTC).isoformat()}
        tables = {**exported, **dict.fromkeys(names, this)}
        (staging / "new" / MANIFEST).write_text(json.dumps({"tables": tables}, indent=1) + "\n")
        _move_into_place(staging, folder, [*names, MANIFEST])
        labs = sorted({str(t.get("lab")) for t in tables.values()})
        if len(labs) > 1:
            log.warning(
                "%s now holds tables of %d labs (%s); see %s for which is whose",
                folder,
                len(labs),
                ", ".join(labs),
                MANIFEST,
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {t: (folder / target_name(t), counts[t]) for t in chosen}


@contextmanager
def _taking_turns(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s export lock (making the folder first)."""
    folder.mkdir(parents=True, exist_ok=True)
    with taking_turns(
        folder / _LOCK, f"another export into {folder} is still running; retry when it ends"
    ):
        yield


def _present(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """What earlier exports wrote into ``folder``, by name: the lab each came from and
    when (nothing without a manifest)."""
    path = folder / MANIFEST
    if not folder.is_dir():
        return {}  # nothing exported there (making the folder says what is wrong)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise BadInputError(f"cannot read {path}: {exc}") from None
    tables = data.get("tables") if isinstance(data, dict) else None
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise BadInputError(f"{path} is not a dvlab export's manifest")
    # a name is a table's file or folder in this folder, never a path elsewhere
    return {
        n: t
        for n, t in tables.items()
        if n and "/" not in n and os.sep not in n and n not in (".", "..")
    }


def _move_into_place(staging: Path, folder: Path, names: list[str]) -> None:
    """Move ``staging/new/NAME`` to ``folder/NAME`` for each name, the earlier export's
    ``NAME`` set aside in ``staging/old`` (removed with the staging folder). Renames
    only, inside one folder; if one fails, those already made are undone."""
    old = staging / "old"
    old.mkdir()
    moved: list[tuple[str, bool]] = []  # (name, whether an earlier one was set aside)
    with _signals_held():
        try:
            for name in names:
                final = folder / name
                aside = _present(final)
                if aside:
                    final.rename(old / name)
                moved.append((name, aside))
                (staging / "new" / name).rename(final)
        except BaseException:
            for name, aside in reversed(moved):
                with suppress(OSError):
                    if _present(folder / name) and not _present(staging / "new" / name):
                        (folder / name).rename(staging / "new" / name)
                    if aside:
                        (old / name).rename(folder / name)
            raise


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait for the block to end, and are then spent: the export they
    came during is whole, and the command ends as it would have a moment later."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def note(signum: int, frame: Any) -> None:
        arrived.append(signum)

    previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
