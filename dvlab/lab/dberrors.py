"""DuckDB's exceptions turned into dvlab's few kinds, in one place."""

from __future__ import annotations

import re

import duckdb

from dvlab.errors import BadInputError, DvlabError, LabLockedError, MissingTableError, QueryError

_LOCK = re.compile(r"Could not set lock on file|Conflicting lock is held", re.IGNORECASE)
_PID = re.compile(r"\(PID (\d+)\)")
_MISSING = re.compile(r"Table with name (\S+) does not exist|Catalog Error: (Table|View)", re.I)


def is_lock_conflict(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and bool(_LOCK.search(str(exc)))


def lock_holder(exc: BaseException) -> str | None:
    match = _PID.search(str(exc))
    return match.group(1) if match else None


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (DuckDB's run on with hints), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def translate(exc: duckdb.Error, *, what: str = "query") -> DvlabError:
    """The dvlab error for a DuckDB error; the original is kept as ``__cause__``."""
    text = str(exc).strip()
    if is_lock_conflict(exc):
        pid = lock_holder(exc)
        holder = f"process {pid}" if pid else "another process"
        err: DvlabError = LabLockedError(
            f"the lab is locked by {holder} (an ingest, or a notebook holding it open); "
            "retry when it finishes, or raise DVLAB_LOCK_TIMEOUT"
        )
    elif isinstance(exc, duckdb.OutOfMemoryException):
        err = QueryError(
            f"{what} ran out of memory: {first_line(exc)}; give an ingest more "
            "(DVLAB_STAGING_MEMORY, e.g. 4GB), or give it less at once (fewer files)"
        )
    elif isinstance(exc, duckdb.CatalogException) and _MISSING.search(text):
        err = MissingTableError(f"{what} failed: {text}")
    elif isinstance(exc, duckdb.ConversionException | duckdb.InvalidInputException):
        err = BadInputError(f"{what} failed: {text}")
    else:
        err = QueryError(f"{what} failed: {text}")
    err.__cause__ = exc
    return err
