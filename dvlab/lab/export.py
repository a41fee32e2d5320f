"""The lab as Parquet, for engines that read files rather than DuckDB databases.

``logs`` is written partitioned by UTC day (``logs/day=2026-12-01/*.parquet``,
Hive-style), which Spark, Trino and DuckDB itself read as one table with
``day`` as a column; the small tables are single files. Each export goes to a
temporary folder first and is moved into place whole, so a reader never sees
half an export.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from dvlab.errors import BadInputError
from dvlab.lab.schema import quote_ident, quote_literal
from dvlab.lab.store import Lab

PARTITIONED = {"logs": "strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d')"}


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
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, tuple[Path, int]] = {}
    with lab.connect() as con:
        for table in chosen:
            staging = Path(tempfile.mkdtemp(prefix=f".{table}-", dir=folder))
            try:
                if table in PARTITIONED:
                    target = staging / table
                    con.execute(
                        f"COPY (SELECT *, {PARTITIONED[table]} AS day FROM {quote_ident(table)}) "
                        f"TO {quote_literal(str(target))} (FORMAT parquet, PARTITION_BY (day))"
                    )
                    final = folder / table
                else:
                    target = staging / f"{table}.parquet"
                    con.execute(
                        f"COPY {quote_ident(table)} TO {quote_literal(str(target))} (FORMAT parquet)"
                    )
                    final = folder / f"{table}.parquet"
                rows = con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0]
                if final.is_dir():
                    shutil.rmtree(final)
                elif final.exists():
                    final.unlink()
                if target.exists():
                    target.rename(final)
                else:  # an empty partitioned table writes no folder
                    final.mkdir()
                written[table] = (final, int(rows))
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return written
