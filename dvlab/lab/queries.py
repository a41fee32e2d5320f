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

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvlab.errors import BadInputError
from dvlab.resources import data_dir

_PARAM_DECL = re.compile(r"^--\s*@param\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?\s*(.*)$")
_PARAM_USE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


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

    def bind(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The parameter values for DuckDB: given ones, then defaults; errors name what is accepted."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            accepted = ", ".join(known) or "none"
            raise BadInputError(
                f"query {self.name!r} has no parameter {', '.join(unknown)}; it accepts: {accepted}"
            )
        values: dict[str, Any] = {}
        for param in self.params:
            if param.name in given:
                values[param.name] = given[param.name]
                _check_value(self.name, param.name, given[param.name])
            elif param.required:
                raise BadInputError(
                    f"query {self.name!r} needs --param {param.name}=VALUE ({param.doc or 'required'})"
                )
            else:
                values[param.name] = None if param.default in (None, "null") else param.default
        _check_window(self.name, values.get("from"), values.get("to"))
        used = set(_PARAM_USE.findall(self.sql))
        return {k: v for k, v in values.items() if k in used}


#: parameters that are times wherever a curated query takes them
TIME_PARAMS = ("from", "to", "at")


def _check_value(query: str, name: str, value: Any) -> None:
    """Refuse a value a query would misread or fail on with DuckDB's own words: a time that
    is not one (read as no bound: NULL), a step that is not a length of time, a quantile
    that is not a number."""
    if value is None or not isinstance(value, str):
        return
    if name in TIME_PARAMS:
        from dvlab.lab.timeconv import parse_utc

        if parse_utc(value) is None:
            raise BadInputError(
                f"query {query!r}: --param {name}={value!r} is not a time; give RFC 3339, "
                "as 2026-11-30T09:00:00Z"
            )
    elif name == "step" and not _positive_interval(value):
        raise BadInputError(
            f"query {query!r}: --param step={value!r} is not a length of time above zero "
            "and under a century; "
            "give one as DuckDB reads them, such as '5 minutes' or '1 hour'"
        )
    elif name == "q":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isnan(number):
            raise BadInputError(f"query {query!r}: --param q={value!r} is not a number")


def _positive_interval(text: str) -> bool:
    """Whether ``text`` is a DuckDB interval longer than zero (and shorter than a century)."""
    import duckdb

    con = duckdb.connect()
    try:
        return bool(
            con.execute(
                "SELECT TRY_CAST(? AS INTERVAL) > INTERVAL 0 SECONDS "
                "AND TRY_CAST(? AS INTERVAL) < INTERVAL 100 YEARS",
                [text, text],
            ).fetchall()[0][0]
        )
    finally:
        con.close()


def _check_window(query: str, start: Any, end: Any) -> None:
    """Refuse a window that ends before it starts (it would answer nothing, silently)."""
    if not (isinstance(start, str) and isinstance(end, str)):
        return
    from dvlab.lab.timeconv import parse_utc

    first, last = parse_utc(start), parse_utc(end)
    if first is not None and last is not None and first >= last:
        raise BadInputError(
            f"query {query!r}: --param from={start!r} is not before --param to={end!r}"
        )


def parse(path: Path, *, curated: bool = True) -> CuratedQuery:
    """The query in ``path``. A curated one (in ``queries/``) must describe itself and
    declare its parameters; any other file is SQL as it stands, its description the
    comment it starts with (if any), each ``$name`` it uses a parameter it needs."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if not lines or not lines[0].startswith("--"):
        if not curated:
            used = dict.fromkeys(_PARAM_USE.findall(text))
            needed = tuple(Param(name, None, True, "") for name in used)
            return CuratedQuery(path.stem, path, "", text, needed)
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
    declared = {p.name for p in params}
    undeclared = sorted(set(_PARAM_USE.findall(text)) - declared)
    if undeclared and not curated:
        params += [Param(name, None, True, "") for name in undeclared]
    elif undeclared:
        raise BadInputError(
            f"uses ${', $'.join(undeclared)} without a '-- @param' line", source=str(path)
        )
    return CuratedQuery(path.stem, path, description, text, tuple(params))


def available() -> list[CuratedQuery]:
    """Every curated query, sorted by name."""
    folder = queries_dir()
    return [parse(p) for p in sorted(folder.glob("*.sql"))]


def load(name_or_path: str) -> CuratedQuery:
    """A curated query by name (``timeline``), file name or path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".sql" and candidate.is_file():
        own = candidate.resolve().parent == queries_dir().resolve()
        return parse(candidate, curated=own)
    path = queries_dir() / f"{candidate.stem}.sql"
    if not path.is_file():
        names = ", ".join(q.name for q in available()) or "none"
        raise BadInputError(f"no curated query {name_or_path!r}; available: {names}")
    return parse(path)
