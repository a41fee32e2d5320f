"""The ingest benchmark's contenders, each run alone in a fresh process.

    python -m benchmarks.contenders NAME DATA DB

loads the JSON-lines file DATA into a new DuckDB file DB the way contender NAME
does it, then prints one JSON object on stdout: the seconds the load took, the
rows the tool said it loaded (``null`` if it says nothing), the rows the
``logs`` table holds afterwards, the processor time the load took (user and
system, every thread) and the process's peak resident memory.
:mod:`benchmarks.ingest_json` starts one such process per measurement, so a
peak belongs to one contender alone; it also checks the row counts.

The timed part starts after the contender's imports and ends when its database
file is closed, so every contender pays for writing its table to disk.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

#: ``read_json`` columns for every key :mod:`benchmarks.gen_logs` writes: the types dvlab's lab gives them,
#: the nested objects kept as JSON.
CEILING_COLUMNS: dict[str, str] = {
    "ts": "TIMESTAMPTZ",
    "level": "VARCHAR",
    "service": "VARCHAR",
    "host": "VARCHAR",
    "site": "VARCHAR",
    "msg": "VARCHAR",
    "correlation_id": "VARCHAR",
    "task_id": "VARCHAR",
    "attempt": "INTEGER",
    "http": "JSON",
    "error": "JSON",
}

#: A loader takes (data file, database file) and returns the rows the tool says it loaded.
Loader = Callable[[Path, Path], int | None]


def _ceiling() -> Loader:
    """DuckDB's own JSON reader with every column declared: as fast as this stack goes."""
    import duckdb

    def load(data: Path, db: Path) -> int | None:
        con = duckdb.connect(str(db))
        try:
            con.execute(
                "CREATE TABLE logs AS SELECT * FROM read_json($path, "
                "format = 'newline_delimited', columns = $columns)",
                {"path": str(data), "columns": CEILING_COLUMNS},
            )
        finally:
            con.close()
        return None

    return load


def _dvlab() -> Loader:
    """dvlab's own ingest, with the options a user gets by default."""
    from dvlab.lab.ingest import IngestOptions, ingest

    def load(data: Path, db: Path) -> int | None:
        summary = ingest(db, [str(data)], IngestOptions())
        if summary.failed:
            failure = summary.failed[0]
            raise RuntimeError(f"dvlab ingest failed on {failure.source}: {failure.message}")
        return summary.total("rows_loaded")

    return load


def _pandas() -> Loader:
    """What people write by hand: pandas reads the lines, DuckDB stores the frame."""
    import duckdb
    import pandas as pd

    def load(data: Path, db: Path) -> int | None:
        frame = pd.read_json(data, lines=True)
        con = duckdb.connect(str(db))
        try:
            con.register("df", frame)
            con.execute("CREATE TABLE logs AS SELECT * FROM df")
        finally:
            con.close()
        return len(frame)

    return load


#: Contender name -> a function that imports what the contender needs and returns its loader.
CONTENDERS: dict[str, Callable[[], Loader]] = {
    "ceiling": _ceiling,
    "dvlab": _dvlab,
    "dvlab-bad-line": _dvlab,  # the same loader, on a file with a line that is not JSON
    "pandas": _pandas,
}


def stored_rows(db: Path) -> int:
    """How many rows the ``logs`` table in ``db`` holds."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM logs").fetchall()[0][0])
    finally:
        con.close()


def measure(name: str, data: Path, db: Path) -> dict[str, object]:
    """Load ``data`` into ``db`` as contender ``name`` does; see the module docstring."""
    if name not in CONTENDERS:
        raise ValueError(f"unknown contender {name!r}; known: {', '.join(CONTENDERS)}")
    if db.exists():
        raise FileExistsError(f"{db} already exists; each measurement needs a new database file")
    load = CONTENDERS[name]()
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF)
    reported = load(data, db)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "contender": name,
        "seconds": seconds,
        # every thread's user and system time over the load
        "cpu_seconds": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "reported_rows": reported,
        "stored_rows": stored_rows(db),
        # ru_maxrss is in KiB on Linux
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3:
        raise SystemExit(
            "usage: python -m benchmarks.contenders NAME DATA DB "
            f"(NAME one of {', '.join(CONTENDERS)})"
        )
    name, data, db = args
    print(json.dumps(measure(name, Path(data), Path(db))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
