"""JSON lines, read inside DuckDB.

Lines arrive as Arrow strings with their numbers (``files.iter_line_chunks``);
DuckDB validates and picks each line apart in parallel, so no record passes
through Python. Column names are mapped through ``fields.VARIANTS``: the first
variant a line has fills the column and leaves ``attributes``; every other
key stays, with nested objects flattened to dotted keys
(``{"http": {"status": 500}}`` becomes ``{"http.status": 500}``).

Rejected lines: not JSON; JSON that is not an object. (A missing or
unparseable time is rejected later, by the lab, for every format alike.)
"""

from __future__ import annotations

import json

import duckdb

from dvlab.sources.fields import VARIANTS

#: How deep nested objects are flattened; deeper ones stay as JSON values.
FLATTEN_DEPTH = 6

# a key the JSON merge patch below can name for "no key" (it never matches a real one)
_NO_KEY = "\x01dvlab-none"


def _paths(key: str) -> list[tuple[str, str | None]]:
    """JSON paths for one variant, with the top-level key to remove when used (None: nested)."""
    quoted = '$."' + key.replace('"', '\\"') + '"'
    if "." in key:
        nested = "$." + ".".join('"' + part + '"' for part in key.split("."))
        return [(quoted, key), (nested, None)]
    return [(quoted, key)]


def census_sql(lines_table: str) -> str:
    """The distinct top-level keys of the chunk's object lines."""
    return f"""
        SELECT DISTINCT unnest(json_keys(text)) AS key FROM {lines_table}
        WHERE json_valid(text) AND json_type(text) = 'OBJECT'
    """


def _layout(present: set[str]) -> tuple[list[str], dict[str, list[tuple[int, str | None]]]]:
    """The JSON paths worth extracting, given the chunk's top-level keys."""
    paths: list[str] = []
    by_column: dict[str, list[tuple[int, str | None]]] = {}
    for column, keys in VARIANTS.items():
        by_column[column] = []
        for key in keys:
            for path, top_key in _paths(key):
                root = key if top_key is not None else key.split(".")[0]
                if root not in present:
                    continue
                paths.append(path)
                by_column[column].append((len(paths), top_key))
    return paths, by_column


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def macros_sql() -> list[str]:
    return [
        # a JSON value as column text: strings unquoted, numbers and booleans as written,
        # objects, arrays, null and empty strings as NULL
        """CREATE OR REPLACE TEMP MACRO dvlab_json_scalar(j) AS (
            CASE
              WHEN j IS NULL THEN NULL
              WHEN left(j::VARCHAR, 1) = '"' THEN nullif(json_extract_string(j, '$'), '')
              WHEN left(j::VARCHAR, 1) IN ('{', '[') OR j::VARCHAR = 'null' THEN NULL
              ELSE j::VARCHAR
            END)""",
    ]


def extract_sql(lines_table: str, present: set[str]) -> str:
    """SELECT turning ``lines_table(line, text)`` into raw records plus a reject reason.

    ``present`` holds the chunk's top-level keys (:func:`census_sql`); only
    variants among them are looked up. Output columns: line, reject (NULL
    when the line is good, else the reason), raw (the line, for rejects),
    then the raw record columns, with ``attributes`` as JSON text still
    holding any nested objects (:func:`flatten_sql` flattens them).
    """
    paths, by_column = _layout(present)
    selects = []
    removals = []
    static = True
    for column, slots in by_column.items():
        if not slots:
            selects.append(f"NULL::VARCHAR AS {column}")
            continue
        values = ", ".join(f"s[{i}]" for i, _ in slots)
        selects.append(
            f"coalesce({values}) AS {column}"
            if len(slots) > 1
            else f"s[{slots[0][0]}] AS {column}"
        )
        top_keys = [(i, key) for i, key in slots if key is not None]
        if len(slots) == 1 and top_keys:
            removals.append(("static", top_keys[0][1]))
        elif top_keys:
            static = False
            cases = " ".join(
                f"WHEN s[{i}] IS NOT NULL THEN {_sql_literal(key or _NO_KEY)}" for i, key in slots
            )
            removals.append(("case", f"CASE {cases} ELSE {_sql_literal(_NO_KEY)} END"))
    if not removals:
        attributes = "text"
    elif static:
        patch = json.dumps({key: None for _, key in removals})
        attributes = f"json_merge_patch(text, {_sql_literal(patch)})"
    else:
        keys = [_sql_literal(v) if kind == "static" else v for kind, v in removals]
        attributes = (
            "json_merge_patch(text, json_object(" + ", ".join(f"{k}, NULL" for k in keys) + "))"
        )
    if paths:
        path_list = "[" + ", ".join(_sql_literal(p) for p in paths) + "]"
        scalars = (
            f"list_transform(json_extract(text, {path_list}), lambda x: dvlab_json_scalar(x))"
        )
    else:
        scalars = "[]::VARCHAR[]"
    return f"""
        WITH checked AS (
            SELECT line, text,
                   CASE WHEN NOT json_valid(text) THEN 'not valid JSON'
                        WHEN json_type(text) <> 'OBJECT'
                          THEN 'a JSON line must be an object, not ' || lower(json_type(text))
                   END AS reject
            FROM {lines_table}
            WHERE NOT regexp_full_match(text, '\\s*')
        ),
        scalars AS (
            SELECT line, text, reject,
                   CASE WHEN reject IS NULL THEN {scalars} END AS s
            FROM checked
        )
        SELECT line, reject, CASE WHEN reject IS NOT NULL THEN rtrim(text, chr(13) || chr(10)) END AS raw,
               {", ".join(selects)},
               CASE WHEN reject IS NULL THEN ({attributes})::VARCHAR END AS attributes
        FROM scalars
    """


def flatten_sql(table: str) -> str:
    """SELECT of (line, attributes) for the rows of ``table`` whose attributes nest objects.

    Nested objects become dotted keys down to FLATTEN_DEPTH levels; arrays and
    empty objects stay values.
    """
    levels = []
    parent = "n.attributes"
    prefix = "''"
    joins = ""
    for depth in range(1, FLATTEN_DEPTH + 1):
        alias = f"e{depth}"
        joins += f" CROSS JOIN json_each({parent}) {alias}"
        key = f"{prefix} || {alias}.key" if depth > 1 else f"{alias}.key"
        last = depth == FLATTEN_DEPTH
        keep = "TRUE" if last else f"({alias}.type <> 'OBJECT' OR {alias}.value::VARCHAR = '{{}}')"
        levels.append(
            f"SELECT n.line, {key} AS k, {alias}.value AS v FROM nested n{joins}"
            + (f" WHERE {' AND '.join(_descend(d) for d in range(1, depth))}" if depth > 1 else "")
            + (f" AND {keep}" if depth > 1 else f" WHERE {keep}")
        )
        parent = f"{alias}.value"
        prefix = f"{key} || '.'"
    union = "\n            UNION ALL ".join(levels)
    return f"""
        WITH nested AS (
            SELECT line, attributes FROM {table}
            WHERE reject IS NULL AND contains(substr(attributes, 2), '{{')
        ),
        node AS ({union})
        SELECT line, json_group_object(k, v)::VARCHAR AS attributes FROM node GROUP BY line
    """


def _descend(depth: int) -> str:
    return f"e{depth}.type = 'OBJECT' AND e{depth}.value::VARCHAR <> '{{}}'"


def install(con: duckdb.DuckDBPyConnection) -> None:
    for statement in macros_sql():
        con.execute(statement)
