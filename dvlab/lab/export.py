"""The lab as Parquet, for engines that read files rather than DuckDB databases.

``logs`` is written partitioned by UTC day (``logs/day=2026-12-01/*.parquet``,
Hive-style), which Spark, Trino and DuckDB itself read as one table with
``day`` as a column; the small tables are single files.

An export is written whole into a hidden folder inside the target first, and
its tables are then moved into place together, each replacing the one an
earlier export left; a signal during that move lets it end. So a
reader, or an export stopped midway, sees the earlier export or this one,
never a mix or half a table. What sits in the target under a table's name
but is not an export's (a folder of one's own logs, say) is never replaced:
the export is refused before it writes anything.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dvlab.errors import BadInputError
from dvlab.lab.schema import quote_ident, quote_literal
from dvlab.lab.store import Lab

PARTITIONED = {"logs": "strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d')"}

#: the first bytes of a Parquet file
_PARQUET_MAGIC = b"PAR1"


def target_name(table: str) -> str:
    """What ``table`` is called inside an export folder."""
    return table if table in PARTITIONED else f"{table}.parquet"


def export_parquet(
    lab_path: Path, folder: Path, *, tables: Sequence[str] | None = None
) -> dict[str, tuple[Path, int]]:
    """Write the chosen tables (default: all) under ``folder``; returns rows per table."""
    lab = Lab(lab_path)
    available = [t for t in lab.tables() if t != "dvlab_meta"]
    chosen = list(tables) if tables else available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise BadInputError(
            f"no table {', '.join(unknown)} in the lab; it has: {', '.join(available)}"
        )
    foreign = [
        folder / target_name(t) for t in chosen if not _replaceable(folder / target_name(t))
    ]
    if foreign:
        raise BadInputError(
            f"{', '.join(map(str, foreign))} is there and is not a dvlab export's; "
            "export into another folder, or move it away first"
        )
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".dvlab-export-", dir=folder))
    try:
        counts: dict[str, int] = {}
        with lab.connect() as con:
            for table in chosen:
                target = staging / "new" / target_name(table)
                target.parent.mkdir(exist_ok=True)
                if table in PARTITIONED:
                    con.execute(
                        f"COPY (SELECT *, {PARTITIONED[table]} AS day FROM {quote_ident(table)}) "
                        f"TO {quote_literal(str(target))} (FORMAT parquet, PARTITION_BY (day))"
                    )
                    # an empty partitioned table writes no folder
                    target.mkdir(exist_ok=True)
                else:
                    con.execute(
                        f"COPY {quote_ident(table)} TO {quote_literal(str(target))} (FORMAT parquet)"
                    )
                counts[table] = int(
                    con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0]
                )
        _move_into_place(staging, folder, [target_name(t) for t in chosen])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {t: (folder / target_name(t), counts[t]) for t in chosen}


def _replaceable(path: Path) -> bool:
    """Whether ``path`` may be replaced by an export: nothing is there, or what an
    export writes is (a Parquet file; a folder of ``day=`` folders of Parquet files)."""
    if not path.exists() and not path.is_symlink():
        return True
    if path.is_symlink():
        return False
    if path.is_file():
        return path.suffix == ".parquet" and _is_parquet(path)
    for day in path.iterdir():
        if not (day.is_dir() and not day.is_symlink() and day.name.startswith("day=")):
            return False
        for part in day.iterdir():
            if not (part.is_file() and part.suffix == ".parquet" and _is_parquet(part)):
                return False
    return True


def _is_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == _PARQUET_MAGIC
    except OSError:
        return False


def _move_into_place(staging: Path, folder: Path, names: list[str]) -> None:
    """Move ``staging/new/NAME`` to ``folder/NAME`` for each name, the earlier export's
    ``NAME`` set aside in ``staging/old`` (removed with the staging folder). Renames
    only, inside one folder; if one fails, those already made are undone."""
    old = staging / "old"
    old.mkdir()
    done: list[str] = []
    with _signals_held():
        try:
            for name in names:
                final = folder / name
                if final.exists():
                    final.rename(old / name)
                (staging / "new" / name).rename(final)
                done.append(name)
        except BaseException:
            for name in reversed(done):
                (folder / name).rename(staging / "new" / name)
            for name in names:
                if (old / name).exists() and not (folder / name).exists():
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
