"""JSON lines, read inside DuckDB.

Column names are mapped through ``fields.VARIANTS``: the first variant a
record has (with a usable scalar value) fills the column and leaves
``attributes``; every other key stays there, nested objects flattened to
dotted keys (``{"http": {"status": 500}}`` becomes ``{"http.status": 500}``)
and top-level nulls dropped. Rejected lines: not JSON; JSON that is not an
object. (A missing or unparseable time is rejected later, by the lab, for
every format alike.)

Three readers share the SQL that does the mapping (:func:`record_columns`):

* the *whole-file* reader hands the file to DuckDB's ``read_json`` with one
  column per key found by a census of the file, reading in parallel while
  keeping file order, so that a record's row number tells its line. A census
  that meets lines holding no record (blank, not JSON, not an object, an
  object without keys) locates them first, up to ``ODD_LINES_MAX`` of them:
  it learns from DuckDB's own reader which of them give a row and which none,
  numbers the rows around them, and rejects them through the line reader's
  SQL. It is used only when that numbering is exact: the lines counted and
  the rows read agree, no two keys equal but for case. It is the fast one.
  The keys a column maps are read as the reader's text of their values,
  which spares parsing them twice; a file where such a text could stand
  for a string or for other JSON (an object in ``host``, a message holding
  JSON text) is read again with those keys as JSON.
* the *lines* reader takes every line of the file as text, numbered by
  DuckDB, and extracts keys with JSON functions, all lines in one statement.
* the *chunk* reader takes numbered lines from ``files.iter_line_chunks``
  (resuming mid-file, any line content, any line ending) and extracts each
  chunk's keys the same way. It rejects bad lines one by one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dvlab.sources import files
from dvlab.sources.fields import VARIANTS
from dvlab.sources.records import RAW_FIELDS

#: read_json's per-line limit; a longer line sends the file to the chunk reader.
MAX_LINE_BYTES = 16 << 20


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(_sql_literal(item) for item in items) + "]"


def macros_sql() -> list[str]:
    return [
        # a JSON value as column text: strings unquoted, numbers and booleans as written,
        # objects, arrays, null and empty strings as NULL
        # (numbers stay as written: an epoch's digits matter to the time path)
        r"""CREATE OR REPLACE TEMP MACRO dvlab_json_text(j) AS (
            CASE
              WHEN starts_with(j, '"') THEN nullif(json_extract_string(j, '$'), '')
              WHEN starts_with(j, '{') OR starts_with(j, '[') OR j = 'null' THEN NULL
              ELSE j
            END)""",
        "CREATE OR REPLACE TEMP MACRO dvlab_json_scalar(j) AS (dvlab_json_text(j::VARCHAR))",
        # key k with JSON text v as members of an attributes object: "k":v, or, when v is
        # a non-empty object, one level of it as "k.inner":value members (deeper objects,
        # and objects a MAP will not hold, such as one with a repeated key, are left to
        # flatten_sql). m is v as a MAP, NULL when v is no object a MAP holds: the caller
        # computes it once, as a column, because a macro argument is evaluated at each use.
        # (A macro's lambda must not name its parameter as a caller's lambda does: the
        # caller's expression pasted in for k would then read the wrong one.)
        """CREATE OR REPLACE TEMP MACRO dvlab_json_map_members(k, v, m) AS (
            CASE
              -- the common case on its own: filtering every object's members would take as
              -- long as the rest
              WHEN cardinality(m) > 0 AND NOT map_contains(m, '')
                THEN array_to_string(list_transform(map_entries(m),
                  lambda member: to_json(k || '.' || member.key)::VARCHAR || ':'
                            || coalesce(member.value::VARCHAR, 'null')), ',')
              WHEN cardinality(m) > 0
                -- NULL when only empty keys were inside: the member goes, as empty keys do
                THEN nullif(array_to_string(list_transform(
                  list_filter(map_entries(m), lambda member: member.key <> ''),
                  lambda member: to_json(k || '.' || member.key)::VARCHAR || ':'
                            || coalesce(member.value::VARCHAR, 'null')), ','), '')
              ELSE to_json(k)::VARCHAR || ':' || v
            END)""",
        # dvlab_json_members of an object as DuckDB writes JSON (no white space), where a
        # member's key can be told without parsing: each member after the first follows
        # ',"', so when the object holds that text as often as it has members less one
        # (none inside a string or a nested object), its text with each key prefixed is
        # the members; else (an empty or repeated key too) through the MAP
        r"""CREATE OR REPLACE TEMP MACRO dvlab_json_compact_members(k, v) AS (
            CASE
              WHEN starts_with(v, '{"')
                   AND len(json_keys(v)) = (length(v) - length(replace(v, ',"', ''))) // 2 + 1
                   AND NOT list_contains(json_keys(v), '')
                   AND list_unique(json_keys(v)) = len(json_keys(v))
                THEN left(to_json(k || '.')::VARCHAR, -1)
                     || replace(substr(v, 3, length(v) - 3), ',"',
                                ',' || left(to_json(k || '.')::VARCHAR, -1))
              ELSE dvlab_json_members(k, v)
            END)""",
        # v as the MAP dvlab_json_map_members takes
        """CREATE OR REPLACE TEMP MACRO dvlab_json_map(v) AS (
            CASE WHEN starts_with(v::VARCHAR, '{') THEN try_cast(v::JSON AS MAP(VARCHAR, JSON)) END)""",
        """CREATE OR REPLACE TEMP MACRO dvlab_json_members(k, v) AS (
            dvlab_json_map_members(k, v, dvlab_json_map(v)))""",
        # one more level of an attributes object flattened: each nested object's members
        # become "key.inner" members (NULL when the object is not one a MAP holds)
        """CREATE OR REPLACE TEMP MACRO dvlab_json_flatten_once(a) AS (
            '{' || array_to_string(list_filter(list_transform(
                map_entries(try(a::JSON::MAP(VARCHAR, JSON))),
                lambda e: dvlab_json_members(e.key, coalesce(e.value::VARCHAR, 'null'))),
              lambda x: x IS NOT NULL), ',') || '}')""",
        # why a record whose attributes are ``a`` gave no time: the first key a time may come
        # from that it holds (an object is flattened into "key.inner" members), and what it
        # holds there; NULL when it holds none of them
        f"""CREATE OR REPLACE TEMP MACRO dvlab_time_holder(a) AS (
            list_filter(json_keys(try(a::JSON)),
                        lambda key: list_contains({_sql_list(VARIANTS["ts_raw"])},
                                                  split_part(key, '.', 1)))[1])""",
        """CREATE OR REPLACE TEMP MACRO dvlab_time_held(a, key) AS (
            'its time field ' || to_json(split_part(key, '.', 1))::VARCHAR || CASE
              WHEN contains(key, '.') THEN ' holds an object, not a time'
              ELSE CASE json_type(a::JSON, '$.' || to_json(key)::VARCHAR)
                     WHEN 'ARRAY' THEN ' holds an array, not a time'
                     WHEN 'OBJECT' THEN ' holds an object, not a time'
                     WHEN 'VARCHAR' THEN ' is empty' ELSE ' holds no time' END
            END)""",
        """CREATE OR REPLACE TEMP MACRO dvlab_no_time(a) AS (
            'no time: ' || coalesce(dvlab_time_held(a, dvlab_time_holder(a)),
                                    'the record has no time field'))""",
        # whether an attributes object still holds a non-empty nested object
        """CREATE OR REPLACE TEMP MACRO dvlab_json_nested(a) AS (
            len(list_filter(map_values(try(a::JSON::MAP(VARCHAR, JSON))),
                lambda v: starts_with(v::VARCHAR, '{')
                          AND cardinality(try(v::MAP(VARCHAR, JSON))) > 0)) > 0)""",
    ]


def install(con: duckdb.DuckDBPyConnection) -> None:
    for statement in macros_sql():
        con.execute(statement)


def record_select(
    keys: list[str],
    values_sql: str,
    passthrough: list[str],
    *,
    rest: bool = False,
    text: Sequence[str] = (),
    compact: bool = False,
) -> str:
    """SELECT of ``passthrough`` columns plus the raw record columns.

    ``values_sql`` is a query whose columns are the ``passthrough`` ones and
    ``v0, v1, ...``: the JSON value of ``keys[i]``, SQL NULL when the record
    lacks the key or holds null there. Each value is converted once (the
    middle projection), then picked into columns and attributes. With
    ``rest``, ``values_sql`` also has a ``rest`` column: the members of the
    record's other keys as attribute text (see :func:`wide_rest_sql`), joined
    to the attributes.

    The keys in ``text`` (keys a column takes, see :func:`text_keys`) come as
    the reader's text of their values instead: a string unquoted, anything
    else as its JSON. That spares parsing each value again, and is exact
    unless the text could be either: the ``dvlab_mixed`` column then has
    the key's bit set (bit ``i`` for ``text[i]``), and the caller reads the
    file again with that key as JSON (see :func:`mixed_keys`).

    With ``compact``, the values are JSON as DuckDB writes it, without white
    space: an object's members are then mostly flattened as text (see
    ``dvlab_json_compact_members``).
    """
    present = {key: i for i, key in enumerate(keys)}
    as_text = {present[key] for key in text}
    scalars: list[str] = []  # middle projection
    selects: list[str] = []
    used_by: dict[str, str] = {}  # top-level key -> SQL condition under which it fills a column
    # top-level key -> (path inside it, condition under which that nested value fills a column)
    used_inside: dict[str, list[tuple[str, str]]] = {}
    for column, variants in VARIANTS.items():
        # (scalar column, top-level key, or the root and path of a nested value)
        candidates: list[tuple[str, str | tuple[str, str]]] = []
        for variant in variants:
            if variant in present:
                i = present[variant]
                name = f"s{i}"
                if name not in {c.rsplit(" AS ", 1)[-1] for c in scalars}:
                    scalars.append(
                        f"nullif(v{i}, '') AS {name}"
                        if i in as_text
                        else f"dvlab_json_scalar(v{i}) AS {name}"
                    )
                candidates.append((name, variant))
            if "." in variant:
                root, _, inner = variant.partition(".")
                # a key read as text holds no object this read can look into (one that
                # holds an object is read again as JSON)
                if root in present and present[root] not in as_text:
                    path = "$." + ".".join(json.dumps(p) for p in inner.split("."))
                    value = f"v{present[root]}"
                    name = f"n{len(scalars)}"
                    scalars.append(
                        f"CASE WHEN starts_with({value}::VARCHAR, '{{') THEN "
                        f"dvlab_json_scalar(json_extract({value}, {_sql_literal(path)})) END AS {name}"
                    )
                    candidates.append((name, (root, path)))
        if not candidates:
            selects.append(f"NULL::VARCHAR AS {column}")
            continue
        names = [name for name, _ in candidates]
        selects.append(
            f"coalesce({', '.join(names)}) AS {column}"
            if len(names) > 1
            else f"{names[0]} AS {column}"
        )
        for position, (name, key) in enumerate(candidates):
            earlier = [f"{n} IS NULL" for n, _ in candidates[:position]]
            chosen = " AND ".join([f"{name} IS NOT NULL", *earlier])
            if isinstance(key, str):
                used_by[key] = chosen
            else:
                used_inside.setdefault(key[0], []).append((key[1], chosen))
    parts = []
    mixed = []
    for key, i in present.items():
        condition = f"v{i} IS NOT NULL"
        if key in used_by:
            condition += f" AND NOT ({used_by[key]})"
        if i in as_text:
            # the text of an object or an array is JSON that starts so; as an attribute,
            # the text of a number or a boolean is JSON too: either may be a string's
            bit = 1 << text.index(key)
            mixed.append(
                f"CASE WHEN v{i} IS NOT NULL AND (left(v{i}, 1) IN ('{{', '[') "
                f"OR NOT ({used_by[key]})) AND json_valid(v{i}) THEN {bit} ELSE 0 END"
            )
            member = f"to_json({_sql_literal(key)})::VARCHAR || ':' || to_json(v{i})::VARCHAR"
            parts.append(f"CASE WHEN {condition} THEN {member} END")
            continue
        value = f"v{i}"
        for path, chosen in used_inside.get(key, []):
            # a nested value that filled a column leaves the object (and an emptied one goes)
            value = f"CASE WHEN {chosen} THEN json_remove({value}, {_sql_literal(path)}) ELSE {value} END"
        if value != f"v{i}":
            condition += f" AND ({value})::VARCHAR <> '{{}}'"
            member = f"dvlab_json_members({_sql_literal(key)}, ({value})::VARCHAR)"
        elif key in used_by:
            # a key a column takes is an attribute only in the few records where its value
            # is no usable scalar: a MAP made for every record would mostly go unused
            member = f"dvlab_json_members({_sql_literal(key)}, v{i}::VARCHAR)"
        elif compact:
            member = f"dvlab_json_compact_members({_sql_literal(key)}, v{i}::VARCHAR)"
        else:
            scalars.append(f"dvlab_json_map(v{i}) AS m{i}")
            member = f"dvlab_json_map_members({_sql_literal(key)}, v{i}::VARCHAR, m{i})"
        parts.append(f"CASE WHEN {condition} THEN {member} END")
    if rest:
        parts.append("nullif(rest, '')")
    attributes = "'{' || concat_ws(',', " + ", ".join(parts) + ") || '}'" if parts else "'{}'"
    selects.append(f"{attributes} AS attributes")
    if text:
        selects.append(f"({' + '.join(mixed)})::BIGINT AS dvlab_mixed")
    carried = ", ".join(passthrough)
    values = ", ".join([*(f"v{i}" for i in present.values()), *(["rest"] if rest else [])])
    middle = ", ".join(x for x in (carried, values, ", ".join(scalars)) if x)
    outer = ",\n               ".join(x for x in (carried, *selects) if x)
    return f"""SELECT {outer}
        FROM (SELECT {middle} FROM ({values_sql}))"""


# --------------------------------------------------------------------------- many keys

#: more distinct top-level keys than this, and a file (or chunk) is read in the wide way:
#: one column per mapped field name, the other keys gathered per record, so that records
#: whose keys differ line to line do not make one column per key
WIDE_KEYS = 200

#: every top-level key some column may come from (dotted variants by their first part)
MAPPED_KEYS = sorted(
    {v.split(".")[0] for variants in VARIANTS.values() for v in variants}
    | {v for variants in VARIANTS.values() for v in variants}
)


def wide_rest_sql(text: str) -> str:
    """The members of JSON object text ``text`` whose keys no column maps, as attribute text
    (nested objects flattened one level, nulls and empty keys dropped)."""
    mapped = "[" + ", ".join(_sql_literal(k) for k in MAPPED_KEYS) + "]"
    return f"""array_to_string(list_transform(list_filter(
                   map_entries(try(({text})::JSON::MAP(VARCHAR, JSON))),
                   lambda e: e.key <> '' AND e.value IS NOT NULL
                             AND e.value::VARCHAR <> 'null'
                             AND NOT list_contains({mapped}, e.key)),
                 lambda e: dvlab_json_members(e.key, e.value::VARCHAR)), ',')"""


def wide_keys(keys: set[str] | list[str]) -> list[str]:
    """The keys read one by one when a source has too many to read them all so."""
    return sorted(k for k in keys if k in set(MAPPED_KEYS))


# --------------------------------------------------------------------------- chunk reader


def _without_bom(lines_table: str) -> str:
    """``lines_table`` with a byte-order mark at the start of the file (line 1) dropped,
    and the NULs a line starts with (see :data:`files.HOLE`).

    Readers skip the mark there; anywhere else it is a character JSON does not allow
    before a value, and its line a reject.
    """
    return f"""(SELECT line,
                       CASE WHEN line = 1 AND starts_with(t, chr(65279)) THEN t[2:]
                            ELSE t END AS text
                FROM (SELECT line, ltrim(text, chr(0)) AS t FROM {lines_table}))"""


def census_sql(lines_table: str) -> str:
    """The distinct top-level keys of the chunk's object lines.

    One parse a line: json_keys gives a JSON value that is no object no keys, and
    ``try`` makes a line that is not JSON give none (DuckDB retries only the rows of a
    vector that failed, so the other lines keep theirs).
    """
    return f"""
        SELECT DISTINCT unnest(try(json_keys(text))) AS key FROM {_without_bom(lines_table)}
    """


def _key_path(key: str) -> str:
    """SQL for the JSON path of the top-level ``key``, written as DuckDB's path reader takes
    it: in double quotes, only a quote and a backslash escaped (it reads ``\\n`` as two
    characters, so a key holding a line break had been found in no record); a control
    character as itself, put in with ``chr``."""
    quoted = '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    pieces = re.split(r"([\x00-\x1f])", quoted)
    return " || ".join(
        f"chr({ord(piece)})" if i % 2 else _sql_literal(piece)
        for i, piece in enumerate(pieces)
        if piece or i == 0
    )


def extract_sql(lines_table: str, present: set[str]) -> str:
    """SELECT turning ``lines_table(line, text)`` into raw records plus a reject reason.

    ``present`` holds the chunk's top-level keys (:func:`census_sql`).
    Output: line, reject (NULL, or the reason), raw (the line, for rejects),
    then the raw record columns; nested objects are flattened afterwards by
    :func:`flatten_sql`.
    """
    # an empty key has no JSON path DuckDB accepts; it is the one key not kept
    keys = sorted(k for k in present if k)
    wide = len(keys) > WIDE_KEYS
    if wide:
        keys = wide_keys(keys)
    if keys:
        paths = "[" + ", ".join(_key_path(k) for k in keys) + "]"
        values = ", ".join(
            f"nullif(list_extract(v, {i + 1}), 'null'::JSON) AS v{i}" for i in range(len(keys))
        )
        values_sql = (
            f"SELECT line, {values}{', rest' if wide else ''} FROM (SELECT line, "
            f"json_extract(text, {paths}) AS v"
            f"{', ' + wide_rest_sql('text') + ' AS rest' if wide else ''} FROM good)"
        )
    else:
        values_sql = (
            f"SELECT line, {wide_rest_sql('text')} AS rest FROM good"
            if wide
            else "SELECT line FROM good"
        )
    records = record_select(keys, values_sql, ["line"], rest=wide)
    nulls = ", ".join(f"NULL AS {name}" for name in RAW_FIELDS)
    return f"""
        WITH checked AS (
            SELECT line, text,
                   CASE WHEN NOT json_valid(text) THEN 'not valid JSON'
                        WHEN json_type(text) <> 'OBJECT'
                          THEN 'a JSON line must be an object, not ' || CASE json_type(text)
                              WHEN 'VARCHAR' THEN 'a string' WHEN 'ARRAY' THEN 'an array'
                              WHEN 'BOOLEAN' THEN 'a boolean' WHEN 'NULL' THEN 'null'
                              ELSE 'a number' END
                   END AS reject
            FROM {_without_bom(lines_table)}
            -- blank: nothing but JSON's own whitespace (a form feed or vertical tab is none)
            WHERE NOT regexp_full_match(text, '[ \\t\\r\\n]*')
        ),
        good AS (
            SELECT line, text FROM checked WHERE reject IS NULL
        ),
        records AS ({records})
        SELECT line, NULL AS reject, NULL AS raw, * EXCLUDE (line) FROM records
        UNION ALL
        SELECT line, reject, rtrim(text, chr(13) || chr(10)) AS raw, {nulls}
        FROM checked WHERE reject IS NOT NULL
    """


# --------------------------------------------------------------------------- whole-file reader


def lines_reader(path: Path) -> str:
    """A table function reading ``path`` as lines, one VARCHAR column ``l``: every line a
    row, a blank one as NULL, its ending dropped; a byte-order mark at the start skipped.

    Its buffer is twice the longest line: DuckDB's default, sixteen times, would cut a
    file of under a gigabyte into a few parts, and leave the threads but one idle."""
    return f"""read_csv({_sql_literal(files.duckdb_path(path))}, columns = {{'l': 'VARCHAR'}}, delim = '\\x01',
                       quote = '', escape = '', header = false, auto_detect = false,
                       max_line_size = {MAX_LINE_BYTES}, buffer_size = {2 * MAX_LINE_BYTES})"""


def hole_free_lines(path: Path) -> str:
    """A subquery of ``path``'s lines as :func:`lines_reader` reads them, one column ``t``:
    each line without the NULs it starts with (see :data:`files.HOLE`)."""
    return f"(SELECT ltrim(l, chr(0)) AS t FROM {lines_reader(path)})"


#: lines holding no record (blank, not JSON, not an object) the whole-file reader
#: locates and works around; a file with more goes to the lines reader
ODD_LINES_MAX = 10_000
#: of those, lines DuckDB's reader gives no row for (a blank one): each is a step in
#: the expression that numbers the rows (:func:`row_line_sql`)
ROWLESS_LINES_MAX = 1_024


@dataclass(frozen=True)
class WholePlan:
    """What the census of a file found: its top-level keys, its lines, and how many of
    them hold no record that has keys (:data:`ODD_LINES_MAX` at most)."""

    keys: list[str]
    lines: int
    odd: int


def whole_file_plan(con: duckdb.DuckDBPyConnection, path: Path) -> WholePlan | None:
    """The census the whole-file reader needs, or None when it cannot take the file.

    None means: use the lines reader (no record at all, too many lines that are
    not records, keys equal but for case, an empty key, too many keys beside
    such lines), or the chunk reader (what DuckDB refuses to split into lines).
    """
    try:
        # one pass over the lines as text: every line is a row (a blank one too, as NULL),
        # so the lines counted are the file's; a line that is not JSON has no keys
        # grouped by the keys' JSON text, which DuckDB hashes faster than the list
        found = con.execute(
            f"SELECT to_json(try(json_keys(l)))::VARCHAR AS keys, count(*) AS n "
            f"FROM {lines_reader(path)} GROUP BY keys"
        ).fetchall()
    except duckdb.Error:
        return None
    groups = [(json.loads(keys) if keys is not None else None, n) for keys, n in found]
    lines = sum(n for _, n in groups)
    odd = sum(n for keys, n in groups if not keys)
    if odd == lines or odd > ODD_LINES_MAX:
        return None
    keys = sorted({key for group, _ in groups if group for key in group})
    if "" in keys or len({k.lower() for k in keys}) != len(keys):
        return None
    if odd and len(keys) > WIDE_KEYS:
        return None
    return WholePlan(keys, int(lines), int(odd))


def odd_lines_sql(path: Path) -> str:
    """SELECT of one row per line of ``path``, in file order: NULL for a line holding an
    object with keys, else the line's text ('' for an empty line)."""
    return f"""SELECT CASE WHEN k IS NULL OR len(k) = 0 THEN coalesce(l, '') END AS odd
               FROM (SELECT l, try(json_keys(l)) AS k FROM {lines_reader(path)})"""


def row_line_sql(rowless: list[int]) -> str:
    """The line of the whole-file table's row ``rowid``, when the sorted lines
    ``rowless`` gave no row: each such line moves the rows after it one line on.

    A balanced CASE over the row numbers at which the count steps, so each row
    takes about log2(len(rowless)) comparisons.
    """
    # the row number from which each step applies: rows before line b (of the j-th
    # rowless line, counting from 1) number b - j
    steps: list[int] = []
    counts: list[int] = []
    for j, line in enumerate(rowless, start=1):
        start = line - j
        if steps and steps[-1] == start:
            counts[-1] = j
        else:
            steps.append(start)
            counts.append(j)

    def shift(lo: int, hi: int, below: int) -> str:
        if lo == hi:
            return str(below)
        mid = (lo + hi) // 2
        return (
            f"CASE WHEN rowid < {steps[mid]} THEN {shift(lo, mid, below)} "
            f"ELSE {shift(mid + 1, hi, counts[mid])} END"
        )

    return f"rowid + 1 + {shift(0, len(steps), 0)}" if steps else "rowid + 1"


def text_keys(keys: list[str]) -> list[str]:
    """The ``keys`` a column takes when their value is a string (see :data:`VARIANTS`),
    which the whole-file reader reads as text (see :func:`record_select`); none when it
    reads each record whole (more than :data:`WIDE_KEYS` keys)."""
    if len(keys) > WIDE_KEYS:
        return []
    direct = {variant for variants in VARIANTS.values() for variant in variants}
    chosen = [key for key in keys if key in direct]
    if len(chosen) > 62:
        raise AssertionError("more keys read as text than dvlab_mixed has bits")
    return chosen


def mixed_keys(text: Sequence[str], mixed: int) -> list[str]:
    """The keys of ``text`` whose bits ``mixed`` (a ``bit_or`` of ``dvlab_mixed``) sets."""
    return [key for bit, key in enumerate(text) if mixed >> bit & 1]


def whole_file_sql(path: Path, keys: list[str], text: Sequence[str] = ()) -> str:
    """SELECT of raw record columns for every record of the file, in file order, the
    ``text`` keys read as text (see :func:`record_select`).

    No line numbers: numbering with ``WITH ORDINALITY`` runs the whole read on
    one thread. The caller materialises this with ``preserve_insertion_order``
    on, so a row's place in the table is its line (the plan checked that every
    line is one record). Lines a writer appended after the plan (a half-written
    one included, which is why errors are ignored) come last; the caller drops
    them, and they wait for the next ingest.
    """
    if len(keys) > WIDE_KEYS:
        # each record whole, its mapped keys extracted and the rest gathered
        mapped = wide_keys(keys)
        paths = ", ".join(
            f"nullif(json_extract(json, {_sql_literal('$.' + json.dumps(k, ensure_ascii=False))}),"
            f" 'null'::JSON) AS v{i}"
            for i, k in enumerate(mapped)
        )
        values_sql = f"""SELECT {paths}{", " if paths else ""}{wide_rest_sql("json")} AS rest
              FROM read_ndjson_objects({_sql_literal(files.duckdb_path(path))},
                                       maximum_object_size = {MAX_LINE_BYTES},
                                       ignore_errors = true)"""
        return record_select(mapped, values_sql, [], rest=True)
    renamed = ", ".join(f'"{key_quoted(k)}" AS v{i}' for i, k in enumerate(keys))
    values_sql = f"SELECT {renamed} FROM {read_json_sql(path, keys, text)}"
    return record_select(keys, values_sql, [], text=text, compact=True)


def read_json_sql(path: Path, keys: list[str], text: Sequence[str] = ()) -> str:
    """DuckDB's reader over ``path`` with a column per key, JSON but for the ``text`` keys
    (VARCHAR), as the whole-file reader calls it: a line that is no record gives a row of
    NULLs or none."""
    spec = (
        "{"
        + ", ".join(f"{_sql_literal(k)}: {'VARCHAR' if k in text else 'JSON'!r}" for k in keys)
        + "}"
    )
    return f"""read_json({_sql_literal(files.duckdb_path(path))}, format = 'newline_delimited',
                             records = true, columns = {spec},
                             maximum_object_size = {MAX_LINE_BYTES}, ignore_errors = true)"""


def key_quoted(key: str) -> str:
    """A key as the body of a double-quoted SQL identifier."""
    return key.replace('"', '""')


# --------------------------------------------------------------------------- flattening


def flatten_in_place(con: duckdb.DuckDBPyConnection, table: str, key: str) -> None:
    """Flatten the nested objects left in ``table``'s ``attributes``, level by level.

    ``key`` names a row (``line`` or ``rowid``). Each pass turns one more level
    into dotted keys, keeping keys exactly as written (quotes, brackets,
    backslashes). An object a MAP cannot hold (a key repeated inside it) is
    flattened by :func:`flatten_sql` instead.
    """
    nested = con.execute(
        f"SELECT count(*) FROM {table} WHERE contains(substr(attributes, 2), '{{')"
    ).fetchall()[0][0]
    if not nested:
        return  # nothing left to flatten: the statements below cost milliseconds a source
    for _ in range(64):  # deeper nesting than this stays as it is
        changed = con.execute(
            f"""UPDATE {table} SET attributes = dvlab_json_flatten_once(attributes)
                WHERE attributes IS NOT NULL AND contains(substr(attributes, 2), '{{')
                  AND dvlab_json_nested(attributes)"""
        ).fetchall()[0][0]
        if not changed:
            break
    leftovers = f"""(SELECT {key} AS line, NULL AS reject, attributes FROM {table}
                    WHERE contains(substr(attributes, 2), '{{')
                      AND (try(attributes::JSON::MAP(VARCHAR, JSON)) IS NULL
                           OR len(list_filter(
                                  map_values(attributes::JSON::MAP(VARCHAR, JSON)),
                                  lambda v: starts_with(v::VARCHAR, '{{')
                                            AND try(v::MAP(VARCHAR, JSON)) IS NULL)) > 0))"""
    con.execute(
        f"""UPDATE {table} SET attributes = flat.attributes FROM ({flatten_sql(leftovers)}) AS flat
            WHERE {table}.{key} = flat.line"""
    )


def flatten_sql(table: str) -> str:
    """SELECT of (line, attributes) for the rows of ``table`` whose attributes nest objects.

    Nested objects become dotted keys at every depth (``http.request.method``);
    arrays, empty objects and nulls stay values. A key that itself contains a
    dot reads the same as a nested one; that is what dotted names mean.
    """
    return f"""
        SELECT n.line,
               json_group_object(replace(substr(t.fullkey, 3), '"', ''), t.value)::VARCHAR AS attributes
        FROM (SELECT line, attributes FROM {table}
              WHERE reject IS NULL AND contains(substr(attributes, 2), '{{')) AS n,
             json_tree(n.attributes) AS t
        WHERE t.fullkey <> '$'
          AND NOT contains(t.path, '[')                    -- inside an array
          AND NOT regexp_matches(t.fullkey, '\\[\\d+\\]$')   -- an array's element
          AND (t.type <> 'OBJECT' OR t.value::VARCHAR = '{{}}')
        GROUP BY n.line
    """
