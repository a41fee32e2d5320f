"""Opening the lab, for reading or for writing, without holding it for long.

DuckDB lets one process write a database file, and no other process open it
at the same time, not even to read. dvlab therefore never keeps the lab open
between operations: a reader opens it read-only, runs one query, copies the
result into memory and closes it; an ingest parses everything first and holds
the write lock only for its final transaction. Either side, finding the lock
taken, waits and retries (``DVLAB_LOCK_TIMEOUT`` seconds, default 300) before
it gives up with :class:`~dvlab.errors.LabLockedError`. So a notebook can go
on reading while an ingest runs; its queries just wait out the commit.
The default wait is 300 seconds: a whole JSON-lines file is read straight into
the lab inside the commit, which takes about ten seconds per million lines.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from dvlab.errors import BadInputError, DvlabError, LabLockedError
from dvlab.lab import dberrors, levels, metricmacros, schema, taskstate, timeconv
from dvlab.lab.interrupts import interruptible
from dvlab.lab.queries import fold

log = logging.getLogger(__name__)

DEFAULT_PATH = "lab.duckdb"
Params = Sequence[Any] | Mapping[str, Any] | None
T = TypeVar("T")


def default_path() -> Path:
    """``$DVLAB_DB``, or ``./lab.duckdb``."""
    return Path(os.environ.get("DVLAB_DB") or DEFAULT_PATH)


#: DuckDB never fetches or loads an extension by itself here: the lab is offline, and a
#: foreign file (SQLite, say) must be refused, not opened through a downloaded scanner
NO_AUTOLOAD = {"autoload_known_extensions": False, "autoinstall_known_extensions": False}

#: a DuckDB database file has these bytes at offset 8
_MAGIC = b"DUCK"


def is_duckdb_file(path: Path | str) -> bool:
    """Whether ``path`` is a DuckDB database file (False when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(12)[8:12] == _MAGIC
    except OSError:
        return False


def check_lab_file(path: Path) -> None:
    """Refuse, before DuckDB sees it, a lab path that is a folder or another kind of file."""
    if path.is_dir():
        raise BadInputError(f"{path} is a folder; the lab is one DuckDB file (--db PATH)")
    if not path.is_file() or path.stat().st_size == 0:
        return
    if not is_duckdb_file(path):
        raise BadInputError(
            f"{path} is not a DuckDB database; point --db (or DVLAB_DB) at a lab file, "
            "or at a path that does not exist yet"
        )


def lock_timeout() -> float:
    raw = os.environ.get("DVLAB_LOCK_TIMEOUT", "300")
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise BadInputError(
            f"DVLAB_LOCK_TIMEOUT must be a number of seconds, not {raw!r}"
        ) from None


def prepare(con: duckdb.DuckDBPyConnection, *, tz: str = "UTC") -> None:
    """Session settings every dvlab connection shares: the zone and the time macros."""
    # SET takes no bound parameter; the zone is quoted by the one literal helper.
    con.execute(f"SET TimeZone = {schema.quote_literal(tz)}")
    # the command line has its own progress bar; DuckDB's would garble stderr. Inside a
    # Jupyter kernel DuckDB refuses to change this setting without ipywidgets installed,
    # and there its bar does not reach stderr anyway, so the refusal is left alone.
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    timeconv.install(con)
    levels.install(con)
    metricmacros.install(con)


@contextmanager
def taking_turns(lock_path: Path, busy: str) -> Iterator[None]:
    """Hold the lock file ``lock_path`` while the block runs, waiting up to
    ``DVLAB_LOCK_TIMEOUT`` seconds for another process to let it go; past that,
    :class:`~dvlab.errors.LabLockedError` with the message ``busy``."""
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + lock_timeout()
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabLockedError(busy) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def wait_for_lock(open_it: Callable[[], T], path: Path, *, timeout: float | None = None) -> T:
    """``open_it()``, retried while another process holds ``path``'s lock.

    The one place dvlab waits for the lab: opening it, and an ingest attaching it.
    """
    deadline = time.monotonic() + (lock_timeout() if timeout is None else timeout)
    delay = 0.02
    while True:
        try:
            return open_it()
        except duckdb.IOException as exc:
            if not dberrors.is_lock_conflict(exc) or time.monotonic() >= deadline:
                raise dberrors.translate(exc, what=f"opening {path}") from exc
            log.debug("lab %s is locked (pid %s); retrying", path, dberrors.lock_holder(exc))
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def connect_file(
    path: Path, *, read_only: bool, timeout: float | None = None
) -> duckdb.DuckDBPyConnection:
    """Open ``path``, waiting while another process holds its lock."""
    check_lab_file(path)
    return wait_for_lock(
        lambda: duckdb.connect(str(path), read_only=read_only, config=dict(NO_AUTOLOAD)),
        path,
        timeout=timeout,
    )


class Lab:
    """A lab on disk.

    ``Lab(path)`` opens nothing by itself. :meth:`sql` and :meth:`table`
    return DuckDB relations over results already copied into memory, so they
    stay usable (``.pl()``, ``.df()``, ``.filter()``, ``.aggregate()``) after
    the lab is closed again. :meth:`connect` gives a live connection for the
    rare job that needs one; it holds the lock while the ``with`` lasts.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, read_only: bool = True):
        self.path = Path(path) if path is not None else default_path()
        self.read_only = read_only
        self._memory = duckdb.connect()
        prepare(self._memory)

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"Lab({str(self.path)!r}, {mode})"

    @contextmanager
    def connect(self, *, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A live connection, closed (and the lock released) when the block ends."""
        if write and self.read_only:
            raise DvlabError(f"{self!r} was opened read-only; use open_lab(path, read_only=False)")
        if not write and not self.path.exists():
            raise BadInputError(
                f"no lab at {self.path}; load one with `dvlab ingest PATH --db {self.path}`"
            )
        con = connect_file(self.path, read_only=not write)
        try:
            prepare(con)
            if write:
                schema.migrate(con, _catalog(con))
            else:
                schema.shadow_missing(con, _catalog(con))
            taskstate.install(con)
            with interruptible(con):
                yield con
        finally:
            con.close()

    def sql(self, query: str, params: Params = None) -> duckdb.DuckDBPyRelation:
        """Run ``query`` with bound ``params``; the result as an in-memory relation."""
        with self.connect() as con:
            try:
                result = _run(con, query, params)
                table = _with_offsets(result).to_arrow_table() if result is not None else None
            except duckdb.Error as exc:
                raise dberrors.translate(exc) from exc
        if table is None:
            return self._memory.sql("SELECT 'ok' AS result")
        return self._memory.from_arrow(table)

    def query(self, name: str, **params: Any) -> duckdb.DuckDBPyRelation:
        """Run the curated query ``name`` from ``queries/`` with named parameters."""
        from dvlab.lab import queries

        curated = queries.load(name)
        return self.sql(curated.sql, curated.bind(params, flag=""))

    def table(self, name: str) -> duckdb.DuckDBPyRelation:
        """All rows of one table or view."""
        return self.sql(f"SELECT * FROM {schema.quote_ident(name)}")

    def tables(self) -> list[str]:
        """The tables and views in the lab, sorted."""
        rows = self.sql(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() ORDER BY 1"
        ).fetchall()
        return [row[0] for row in rows]


def _with_offsets(result: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """``result`` with its ``TIME WITH TIME ZONE`` columns as text (``10:00:00+05:45``):
    Arrow has no such type, and the copy into memory would drop their offsets."""
    types = [str(t) for t in result.types]
    if "TIME WITH TIME ZONE" not in types:
        return result
    return result.project(
        ", ".join(
            f"CAST({schema.quote_ident(c)} AS VARCHAR) AS {schema.quote_ident(c)}"
            if t == "TIME WITH TIME ZONE"
            else schema.quote_ident(c)
            for c, t in zip(result.columns, types, strict=True)
        )
    )


def _run(
    con: duckdb.DuckDBPyConnection, query: str, params: Params
) -> duckdb.DuckDBPyRelation | None:
    """Run every statement of ``query``; the last one's result (None if it gives none).

    Several statements run one by one, each with the named parameters it uses
    (matched as DuckDB matches them, without regard to case): DuckDB itself binds
    parameters only to the last, and answers with the result of the last query
    rather than of the last statement. A parameter no statement uses is refused.
    """
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error:
        statements = []  # DuckDB says what is wrong when it runs the query
    if not statements or (params and not isinstance(params, Mapping)):
        return con.sql(query, params=params)
    named: Mapping[str, Any] = params if isinstance(params, Mapping) else {}
    used = [{fold(name) for name in statement.named_parameters} for statement in statements]
    unused = sorted(name for name in named if not any(fold(name) in names for names in used))
    if unused:
        raise BadInputError(
            f"parameter {', '.join(unused)} is used by no statement of the query "
            "(write it as $name)"
        )
    if len(statements) == 1:
        return con.sql(query, params=params)
    result = None
    start = 0
    for number, (statement, names) in enumerate(zip(statements, used, strict=True), start=1):
        found = query.find(statement.query, start)
        start = found + len(statement.query) if found >= 0 else start
        try:
            if number < len(statements):
                con.execute(statement.query, _given(named, names)).complete()
            else:
                result = con.sql(statement.query, params=_given(named, names) or None)
        except duckdb.Error as exc:
            # translated here to name the statement; the original stays the cause (an
            # interrupt is still told from it)
            where = f"statement {number} of {len(statements)}"
            first = _line_breaks(query[:found]) + 1 if found >= 0 else None
            raise dberrors.translate(_relined(exc, first), what=where) from exc
    return result


def _line_breaks(text: str) -> int:
    """How many lines ``text`` ends, as DuckDB counts them: at LF, CR LF or a lone CR."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _relined(exc: duckdb.Error, first: int | None) -> duckdb.Error:
    """``exc`` with the ``LINE n`` DuckDB counts within its statement counted within the
    whole text, whose line ``first`` the statement starts on."""
    if first is None:
        return exc
    text = re.sub(r"\bLINE (\d+):", lambda m: f"LINE {first + int(m.group(1)) - 1}:", str(exc))
    return type(exc)(text)


def _given(params: Mapping[str, Any], names: set[str]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if fold(key) in names}


def _catalog(con: duckdb.DuckDBPyConnection) -> str:
    return str(con.execute("SELECT current_database()").fetchall()[0][0])


def open_lab(path: str | os.PathLike[str] | None = None, *, read_only: bool = True) -> Lab:
    """The lab at ``path`` (default ``$DVLAB_DB`` or ``./lab.duckdb``).

    >>> lab = open_lab("lab.duckdb")                      # doctest: +SKIP
    >>> lab.sql("SELECT service, count(*) n FROM logs GROUP BY 1").pl()  # doctest: +SKIP
    """
    return Lab(path, read_only=read_only)


__all__ = ["Lab", "LabLockedError", "connect_file", "default_path", "open_lab", "prepare"]
