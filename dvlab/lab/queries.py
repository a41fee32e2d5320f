"""Curated SQL: one query per file in ``queries/``, called by name.

A file starts with a one-line description (``-- what it answers``). Named
parameters are written ``$name`` in the SQL and declared in the header:

    -- Log lines of one request, oldest first.
    -- @param id         the id to look for
    -- @param limit=1000 how many rows at most

A parameter with ``=`` has a default (``=null`` for NULL); one without is
required. Values are always bound, never pasted into the SQL.
"""

from __future__ import annotations

import datetime
import decimal
import math
import numbers
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvlab.errors import BadInputError
from dvlab.resources import data_dir

_PARAM_DECL = re.compile(r"^--\s*@param\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?\s*(.*)$")
#: DuckDB's lexer takes any character beyond ASCII as part of a name
_PARAM_NAME = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*")
_DOLLAR_QUOTE = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(name: str) -> str:
    """A parameter name as DuckDB matches it: ASCII letters in any case (``$Id`` is
    ``$id``), every other character as it is (``$Ä`` is not ``$ä``).

    >>> fold("VærID"), fold("ÄB") == fold("äb")
    ('værid', False)
    """
    return name.translate(_ASCII_LOWER)


def used_params(sql: str) -> list[str]:
    r"""The names of the ``$name`` parameters ``sql`` uses, each once (as first written: DuckDB
    reads ``$Id`` and ``$id`` as one), in order of first use.

    A ``$name`` counts only where DuckDB reads it as a parameter: not inside a string
    (``'...'`` with ``''`` in it, ``E'...'`` with backslash escapes, ``$tag$...$tag$``),
    a quoted name (``"..."``), a comment (``--`` to the end of the line, ``/* */``,
    nested), nor a name with ``$`` in it (``a$b``).

    >>> used_params("SELECT $a, '$b', \"$c\" -- $d\n, /* $e /* */ $f */ $A, x$g, $h")
    ['a', 'h']
    >>> used_params("-- a comment\rSELECT $a -- $b\r\n, $c")
    ['a', 'c']
    >>> used_params("SELECT $vært, $名前 || ü$x")
    ['vært', '名前']
    """
    names: dict[str, str] = {}
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if char == "'":
            i = _string_end(sql, i + 1, backslash=False)
        elif char == '"':
            i = _string_end(sql, i + 1, quote='"', backslash=False)
        elif sql.startswith("--", i):
            # to the end of the line, which a lone carriage return ends too
            ends = [e for e in (sql.find("\n", i), sql.find("\r", i)) if e >= 0]
            i = min(ends) + 1 if ends else n
        elif sql.startswith("/*", i):
            i = _block_comment_end(sql, i + 2)
        elif char == "$":
            quote = _DOLLAR_QUOTE.match(sql, i)
            name = _PARAM_NAME.match(sql, i + 1)
            if quote:
                end = sql.find(quote.group(), quote.end())
                i = n if end < 0 else end + len(quote.group())
            elif name:
                names.setdefault(fold(name.group()), name.group())
                i = name.end()
            else:
                i += 1
        elif char.isalpha() or char == "_" or char > "\x7f":
            start = i
            while i < n and (sql[i].isalnum() or sql[i] in "_$" or sql[i] > "\x7f"):
                i += 1
            if sql[start:i] in ("E", "e") and sql.startswith("'", i):
                i = _string_end(sql, i + 1, backslash=True)
        else:
            i += 1
    return list(names.values())


def _string_end(sql: str, i: int, *, quote: str = "'", backslash: bool) -> int:
    """Where the string or quoted name whose text starts at ``i`` ends (past its quote)."""
    n = len(sql)
    while i < n:
        if backslash and sql[i] == "\\":
            i += 2
        elif sql[i] == quote:
            if sql.startswith(quote, i + 1):  # doubled: the quote itself
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return n


def _block_comment_end(sql: str, i: int) -> int:
    """Where the ``/* */`` comment whose text starts at ``i`` ends; they nest."""
    depth, n = 1, len(sql)
    while i < n and depth:
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def queries_dir() -> Path:
    """Where the curated queries are: ``$DVLAB_QUERIES``, the installed copy, or the checkout."""
    return data_dir("queries", "DVLAB_QUERIES")


@dataclass(frozen=True)
class Param:
    name: str
    default: str | None
    required: bool
    doc: str


@dataclass(frozen=True)
class CuratedQuery:
    name: str
    path: Path
    description: str
    sql: str
    params: tuple[Param, ...]
    #: a curated query (in ``queries/``): its parameters' values are checked by their names
    #: (``from`` a time, ``limit`` a number of rows, ...); a file of one's own binds them as
    #: they are
    curated: bool = True

    def bind(self, given: Mapping[str, Any], *, flag: str = "--param ") -> dict[str, Any]:
        """The parameter values for DuckDB: given ones, then defaults; errors name what is
        accepted, and each value as it was given: after ``flag`` on the command line, as a
        keyword (``flag=""``) from Python."""
        known = {p.name: p for p in self.params}
        # DuckDB matches parameter names without regard to case; so does this
        spelled = {fold(p.name): p.name for p in self.params}
        # (in the order given)
        twice = [k for k in given if sum(fold(k) == fold(other) for other in given) > 1]
        if twice:
            raise BadInputError(
                f"query {self.name!r}: {', '.join(twice)} name one parameter (DuckDB reads "
                "names without regard to case); give it once"
            )
        given = {spelled.get(fold(k), k): v for k, v in given.items()}
        unknown = sorted(set(given) - set(known))
        if unknown:
            accepted = ", ".join(known) or "none"
            raise BadInputError(
                f"query {self.name!r} has no parameter {', '.join(unknown)}; it accepts: {accepted}"
            )
        values: dict[str, Any] = {}
        for param in self.params:
            if param.name in given:
                value = given[param.name]
                if type(value).__module__ == "numpy" and hasattr(value, "item"):
                    value = value.item()  # a numpy scalar, which DuckDB will not bind
                values[param.name] = value
                if self.curated:
                    _check_value(self.name, param.name, value, flag)
            elif param.required:
                raise BadInputError(
                    f"query {self.name!r} needs {flag}{param.name}=VALUE ({param.doc or 'required'})"
                )
            else:
                values[param.name] = None if param.default in (None, "null") else param.default
        if self.curated:
            _check_window(self.name, values.get("from"), values.get("to"), flag)
        used = {fold(name) for name in used_params(self.sql)}
        return {k: v for k, v in values.items() if fold(k) in used}


#: a century in seconds: the longest window a query takes
CENTURY = 100 * 366 * 86400

#: the most rows a ``limit`` asks for: DuckDB's LIMIT takes a BIGINT
BIGGEST_LIMIT = 2**63 - 1

#: parameters that are times wherever a curated query takes them
TIME_PARAMS = ("from", "to", "at")


def _check_value(
    query: str, name: str, value: Any, flag: str = "--param ", shown: str | None = None
) -> None:
    """Refuse a value a query would misread or fail on with DuckDB's own words: a time that
    is not one (read as no bound: NULL), a step that is not a length of time, a quantile
    that is not a number. Values given from Python (``lab.query(..., window=300)``) are
    checked as their text would be, and must be of a type that says the same. A limit
    that is no whole number of rows is refused too (DuckDB would fail on -1, and round
    2.5)."""
    if value is None:
        return
    # the value as the caller wrote it (a number from Python is checked as its text)
    shown = repr(value) if shown is None else shown
    if not isinstance(value, str):
        _check_typed_value(query, name, value, flag)
        return
    if name in TIME_PARAMS:
        from dvlab.lab.timeconv import parse_utc

        if parse_utc(value) is None:
            raise BadInputError(
                f"query {query!r}: {flag}{name}={shown} is not a time; give RFC 3339, "
                "as 2026-11-30T09:00:00Z"
            )
    elif name == "step" and not _positive_interval(value):
        raise BadInputError(
            f"query {query!r}: {flag}step={shown} is not a fixed length of time above "
            "zero and under a century, in days or in hours and less (a month or a year has no "
            "fixed length, and DuckDB steps by days or by time, not both); give one such as "
            "'5 minutes', '30 days' or '26 hours'"
        )
    elif name == "window" and not (_whole(value) and 1 <= int(value) <= CENTURY):
        raise BadInputError(
            f"query {query!r}: {flag}window={shown} is not a number of seconds from 1 to "
            f"{CENTURY} (a century)"
        )
    elif name == "limit" and not (_whole(value) and int(value) <= BIGGEST_LIMIT):
        raise BadInputError(
            f"query {query!r}: {flag}limit={shown} is not a whole number of rows from 0 "
            f"to {BIGGEST_LIMIT}"
        )
    elif name == "q":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isnan(number):
            raise BadInputError(f"query {query!r}: {flag}q={shown} is not a number")


def _whole(text: str) -> bool:
    """Whether ``text`` is a whole number of ASCII digits between ASCII blanks, as DuckDB
    reads one (Python's ``isdigit`` also takes ``²`` and other scripts' digits, and its
    ``strip`` a no-break space, which DuckDB does not)."""
    return re.fullmatch(r"\s*[0-9]+\s*", text, re.ASCII) is not None


def _check_typed_value(query: str, name: str, value: Any, flag: str) -> None:
    """:func:`_check_value` for a value that is no text: a time as a ``datetime`` or
    ``date``, a step as a ``timedelta``, a window or a limit as a whole number, a quantile
    as a number."""
    # numpy's and Decimal's numbers too; a bool is no number here
    is_number = isinstance(value, numbers.Real | decimal.Decimal) and not isinstance(value, bool)
    if name in TIME_PARAMS:
        fits = isinstance(value, datetime.date)
    elif name == "step":
        fits = isinstance(value, datetime.timedelta) and (
            datetime.timedelta(0) < value < datetime.timedelta(seconds=CENTURY)
        )
    elif name in ("window", "limit"):
        fits = is_number and _finite(value) and value == int(value)
    elif name == "q":
        fits = is_number
    else:
        return
    if not fits:
        raise BadInputError(
            f"query {query!r}: {name}={value!r} ({type(value).__name__}) is not "
            + {
                "step": "a length of time above zero and under a century (a timedelta)",
                "window": "a whole number of seconds",
                "limit": "a whole number of rows",
                "q": "a number",
            }.get(name, "a time (a datetime, or text such as 2026-11-30T09:00:00Z)")
        )
    if name in ("window", "limit", "q"):
        text = str(value) if name == "q" else str(int(value))
        _check_value(query, name, text, flag, shown=repr(value))


def _finite(value: Any) -> bool:
    """Whether the number ``value`` is finite (a Decimal's signalling NaN included, which
    ``math.isfinite`` will not take)."""
    if isinstance(value, decimal.Decimal):
        return value.is_finite()
    return math.isfinite(value)


def _positive_interval(text: str) -> bool:
    """Whether ``text`` is a step the curated queries take (see ``dvlab_step_start`` in
    :mod:`dvlab.lab.metricmacros`, which they check it with themselves): an interval of a
    fixed length above zero, in days or in time, and shorter than a century."""
    import duckdb

    from dvlab.lab import metricmacros

    con = duckdb.connect()
    try:
        metricmacros.install(con)
        return bool(
            con.execute(
                "SELECT dvlab_step_start($text, i < INTERVAL 100 YEARS) "
                "FROM (SELECT TRY_CAST($text AS INTERVAL) AS i)",
                {"text": text},
            ).fetchall()[0][0]
        )
    except duckdb.Error:
        return False  # not an interval, or not one the queries step by
    finally:
        con.close()


def _check_window(query: str, start: Any, end: Any, flag: str) -> None:
    """Refuse a window that ends before it starts (it would answer nothing, silently)."""
    first, last = _instant(start), _instant(end)
    if first is not None and last is not None and first >= last:
        raise BadInputError(
            f"query {query!r}: {flag}from={start!r} is not before {flag}to={end!r}"
        )


def _instant(value: Any) -> datetime.datetime | None:
    """A window's bound as an instant, read as the query reads it (text by dvlab's time
    path; a naive ``datetime`` or a ``date`` in UTC); None for no bound."""
    if isinstance(value, str):
        from dvlab.lab.timeconv import parse_utc

        return parse_utc(value)
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC)
    return None


def parse(path: Path, *, curated: bool = True) -> CuratedQuery:
    """The query in ``path``. A curated one (in ``queries/``) must describe itself and
    declare its parameters; any other file is SQL as it stands, its description the
    comment it starts with (if any), each ``$name`` it uses a parameter it needs."""
    text = _read_text(path)
    lines = text.splitlines()
    if not lines or not lines[0].startswith("--"):
        if not curated:
            needed = tuple(Param(name, None, True, "") for name in used_params(text))
            return CuratedQuery(path.stem, path, "", text, needed, curated=False)
        raise BadInputError(
            "a curated query must start with a '-- description' line", source=str(path), line=1
        )
    description = lines[0].lstrip("-").strip()
    params = []
    for line in lines[1:]:
        if not line.startswith("--"):
            break
        match = _PARAM_DECL.match(line)
        if match:
            name, default, doc = match.groups()
            params.append(Param(name, default, default is None, doc.strip()))
    declared = {fold(p.name) for p in params}
    undeclared = [name for name in used_params(text) if fold(name) not in declared]
    if undeclared and not curated:
        params += [Param(name, None, True, "") for name in undeclared]
    elif undeclared:
        raise BadInputError(
            f"uses ${', $'.join(sorted(undeclared))} without a '-- @param' line", source=str(path)
        )
    return CuratedQuery(path.stem, path, description, text, tuple(params), curated=curated)


def _read_text(path: Path) -> str:
    """The text of a query file; one that is not UTF-8 is refused naming where."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BadInputError(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8",
            source=str(path),
            line=line,
        ) from None


def available() -> list[CuratedQuery]:
    """Every curated query, sorted by name."""
    folder = queries_dir()
    return [parse(p) for p in sorted(folder.glob("*.sql"))]


def _has_a_separator(text: str) -> bool:
    return any(sep in text for sep in {"/", os.sep, os.altsep or "/"})


def load(name_or_path: str) -> CuratedQuery:
    """A curated query by name (``timeline``) or file name (``timeline.sql``), or a
    ``.sql`` file by its path (one in the curated folder is curated, any other a file
    of one's own). A text that looks like a path (it ends in ``.sql`` or holds a path
    separator) and names no such file is refused as that, not as an unknown query."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".sql" and candidate.is_file():
        own = candidate.resolve().parent == queries_dir().resolve()
        return parse(candidate, curated=own)
    path = queries_dir() / f"{candidate.stem}.sql"
    if not _has_a_separator(name_or_path) and path.is_file():
        return parse(path)
    if _has_a_separator(name_or_path) or name_or_path.endswith(".sql"):
        if candidate.is_dir():
            raise BadInputError(f"{name_or_path} is a folder, not a .sql file")
        if candidate.is_file():
            raise BadInputError(f"{name_or_path} is not a .sql file")
        if candidate.exists():
            raise BadInputError(
                f"{name_or_path} is not a regular file (a pipe, socket or device); "
                "dvlab reads a query from a .sql file"
            )
        raise BadInputError(f"no such file: {name_or_path}")
    names = ", ".join(q.name for q in available()) or "none"
    raise BadInputError(f"no curated query {name_or_path!r}; available: {names}")
