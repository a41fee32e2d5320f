"""Task history straight from the control plane's PostgreSQL.

``dvlab ingest postgresql://… --table tasks`` (or ``--query``) pulls rows with
``COPY (SELECT …) TO STDOUT`` in its text format into the ingest's spill
folder, where DuckDB's parallel CSV reader stages them through the same
mapping, state words, time parsing and reject rules as a task file, then
commits them in one transaction with a ledger row. Text rather than binary
COPY: a binary stream must be decoded value by value in Python, while DuckDB
parses the text in parallel (Python only writes its rows out). Text rather
than CSV: a line per row, so the file can be split anywhere (see
``tables.CopiedRows``). The server numbers the rows as it sends them, so the
reader need not keep the file's order.

*Incremental.* A watermark column (``--watermark``; by default ``updated_at``
when the table has one) makes a scheduled run take only what is new. Each run
reads, in one repeatable-read snapshot, the largest watermark value and then
the rows between the last run's value and it. The lower bound is inclusive,
so rows sharing the last value are read again: they upsert by id, and a row
that has not changed is skipped rather than rewritten. Without a watermark,
every run reads the whole result and loads what changed.

*Time.* A ``timestamp`` (without time zone) column holds wall-clock times; they
are read in the zone given with ``--tz``, else in the session's own ``TimeZone``
setting, the zone ``now()`` wrote them in. The ledger records that zone by name, and
later runs of the source read in it whatever the server's setting has become. The
session runs in that zone, so a ``--query`` that turns one kind of time into the
other does so as the writers' sessions would, and the wall-clock times become
instants by the zone's own rules (``AT TIME ZONE 'CET'`` would take CET for the
fixed abbreviation, without summer time); ``timestamptz`` values arrive with their
offsets.

*Late commits.* For a time watermark the position recorded is held back to the
start of the oldest transaction open when the run began: a row it commits later
carries that start, and the next run reads from there again.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import psycopg
from psycopg import sql

from dvlab.errors import BadInputError, SourceConnectError, SourceReadError
from dvlab.lab import ingest as lab_ingest
from dvlab.lab import schema
from dvlab.lab.ingest import IngestOptions, IngestSummary, SourceReport
from dvlab.lab.store import connect_file
from dvlab.live import pgconn
from dvlab.sources import tables

#: how the ledger records "timestamp columns in the server's own TimeZone"
SERVER_ZONE = "server"

#: the column a table's rows are taken incrementally by, when it has one
DEFAULT_WATERMARK = "updated_at"

#: PostgreSQL type oids of timestamp without time zone and with it
_TIMESTAMP = 1114
_TIMESTAMPTZ = 1184

#: the DuckDB type a watermark's text is compared as, by its PostgreSQL type (oid), so that
#: two versions of a row are ordered as PostgreSQL orders them. A watermark of another type
#: (numeric, text in a collation, an enum, an interval, ...) is ranked by the server instead
#: (see tables.RANKED)
_VERSION_TYPES = {
    **dict.fromkeys((20, 21, 23, 26), "HUGEINT"),  # bigint, smallint, integer, oid
    **dict.fromkeys((700, 701), "DOUBLE"),  # real, double precision
    # date and timestamptz; a timestamp's wall-clock text is no instant where summer time
    # skips or repeats it, and is ranked by the server
    **dict.fromkeys((1082, _TIMESTAMPTZ), "TIMESTAMPTZ"),
}

#: text, varchar, bpchar
_TEXT_OIDS = frozenset({25, 1043, 1042})

#: rows, or bytes, written at once while copying (and between checks for Ctrl-C): whichever
#: comes first, so wide rows do not pile up in memory
_COPY_BATCH = 8192
_COPY_BATCH_BYTES = 8 << 20
#: rows taken from the copy at a time, at most (fewer when they are wide)
_COPY_STEP = 256


@dataclass(frozen=True)
class PgSource:
    """What to pull: a table (``schema.table``) or a query, and how to take it in steps."""

    dsn: str
    table: str | None = None
    query: str | None = None
    #: the watermark column; None: ``updated_at`` if the result has one
    watermark: str | None = None
    #: ignore the recorded watermark and read everything again
    full: bool = False
    #: the zone of ``timestamp`` columns; None: the server's TimeZone
    naive_tz: str | None = None

    def name(self) -> str:
        """How the ledger names this source: the server without a password, and what."""
        where = pgconn.describe(self.dsn)
        if self.table is not None:
            # as PostgreSQL reads it, so that BRK.Tasks and brk.tasks are one source
            return f"{where}?table={'.'.join(map(shown_name, table_name(self.table)))}"
        digest = hashlib.sha256((self.query or "").strip().encode()).hexdigest()[:12]
        return f"{where}?query={digest}"


def shown_name(name: str) -> str:
    """A name as one would write it to PostgreSQL: bare when it reads back the same,
    else in double quotes."""
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _relation(source: PgSource) -> sql.Composable:
    if (source.table is None) == (source.query is None):
        raise BadInputError("a PostgreSQL source needs --table NAME or --query SQL (one of them)")
    if source.table is not None:
        return sql.SQL("SELECT * FROM {}").format(sql.Identifier(*table_name(source.table)))
    query = _without_final_semicolon((source.query or "").strip())
    if not query:
        raise BadInputError("--query is empty")
    # on lines of its own: a query may end in a -- comment
    return sql.SQL("SELECT * FROM (\n{}\n) AS q").format(sql.SQL(query))  # type: ignore[arg-type]


def table_name(text: str) -> list[str]:
    """``[SCHEMA.]TABLE`` as PostgreSQL reads it: a name in double quotes kept as written
    (dots and capitals included, ``""`` for a quote), any other folded to lower case."""
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        if i < n and text[i] == '"':
            j, name = i + 1, []
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise BadInputError(f"--table {text!r}: a quote is not closed")
                name.append(text[j:k])
                if text[k + 1 : k + 2] == '"':
                    name.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            parts.append("".join(name))
        else:
            k = text.find(".", i)
            k = n if k < 0 else k
            word = text[i:k].strip()
            if not word or '"' in word:
                raise BadInputError(f"--table {text!r}: give TABLE or SCHEMA.TABLE")
            parts.append(word.lower())
            i = k
        if i == n:
            break
        if text[i] != "." or i + 1 == n:
            raise BadInputError(f"--table {text!r}: give TABLE or SCHEMA.TABLE")
        i += 1
    if len(parts) > 2 or not all(parts):
        raise BadInputError(f"--table {text!r}: give TABLE or SCHEMA.TABLE")
    return parts


def _without_final_semicolon(query: str) -> str:
    """``query`` without the ``;`` that ends it and the comments after that ``;``, if it
    ends in one (see :func:`_final_semicolon`); otherwise as it is."""
    at = _final_semicolon(query)
    return query if at is None else query[:at].rstrip()


#: a dollar quote's opening (or closing) tag: ``$$`` or ``$name$``
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")


def _is_word_start(c: str) -> bool:
    """A character a keyword or unquoted name may start with (any beyond ASCII included)."""
    return c == "_" or c.isalpha() or not c.isascii()


def _is_word_part(c: str) -> bool:
    return _is_word_start(c) or c.isdigit() or c == "$"


def _final_semicolon(query: str) -> int | None:
    """Where the ``;`` is that ends ``query``: the last thing in it outside quotes and
    comments. None when it ends in something else, or when a quote or comment is left open
    (PostgreSQL then says what is wrong with it).

    Read as PostgreSQL's lexer reads SQL: ``'...'`` strings (``''`` a quote), ``E'...'``
    strings (a backslash escapes too), ``"..."`` identifiers, ``$tag$...$tag$`` dollar
    quotes, ``--`` comments to the end of the line and ``/* */`` comments, which nest. A
    ``'...'`` string is read as ``standard_conforming_strings`` (on since PostgreSQL 9.1)
    has it: a backslash in it is just a backslash.

        >>> _final_semicolon("SELECT ';' AS a; -- done")
        15
        >>> _final_semicolon("SELECT 1 /* ; */") is None
        True
    """
    semicolon: int | None = None
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        ahead = query[i : i + 2]
        if c.isspace():
            i += 1
            continue
        if ahead == "--":
            newline = query.find("\n", i)
            i = n if newline < 0 else newline + 1
            continue
        closed: int | None
        if ahead == "/*":
            closed = _comment_end(query, i)
            if closed is None:
                return None
            i = closed
            continue
        semicolon = i if c == ";" else None
        if _is_word_start(c):
            start = i
            while i < n and _is_word_part(query[i]):
                i += 1
            # E'...' (or e'...'): a word of its own, right before the quote
            if query[start:i] in ("E", "e") and query[i : i + 1] == "'":
                closed = _string_end(query, i, backslash=True)
                if closed is None:
                    return None
                i = closed
        elif c in "'\"":
            closed = _string_end(query, i, backslash=False)
            if closed is None:
                return None
            i = closed
        elif c == "$" and (tag := _DOLLAR_TAG.match(query, i)):
            close = query.find(tag.group(), tag.end())
            if close < 0:
                return None
            i = close + len(tag.group())
        else:  # $1 and the rest: one character at a time
            i += 1
    return semicolon


def _string_end(query: str, start: int, *, backslash: bool) -> int | None:
    """Just past the quote that closes the one at ``start`` (a doubled quote is one
    inside); None when none does."""
    quote = query[start]
    i = start + 1
    while i < len(query):
        c = query[i]
        if (backslash and c == "\\") or (c == quote and query[i + 1 : i + 2] == quote):
            i += 2  # an escaped character, or a doubled quote
        elif c == quote:
            return i + 1
        else:
            i += 1
    return None


def _comment_end(query: str, start: int) -> int | None:
    """Just past the ``*/`` that closes the ``/*`` at ``start``, comments inside it nested;
    None when none does."""
    depth, i = 0, start
    while i < len(query):
        ahead = query[i : i + 2]
        if ahead == "/*":
            depth += 1
            i += 2
        elif ahead == "*/":
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return None


def _last_position(
    lab_path: Path, name: str
) -> tuple[str | None, str | None, str | None, str | None]:
    """(watermark column, value, zone of timestamp columns, options) the latest run of
    source ``name`` left, if any."""
    if not lab_path.exists():
        return None, None, None, None
    con = connect_file(lab_path, read_only=True)
    try:
        if schema.current_version(con, lab_ingest._catalog(con)) < 4:
            return None, None, None, None
        rows = con.execute(
            """SELECT options ->> 'watermark', position, options ->> 'naive_tz', options::VARCHAR
               FROM ingests
               WHERE source = ? AND status IN ('loaded', 'unchanged')
               ORDER BY ingest_id DESC LIMIT 1""",
            [name],
        ).fetchall()
    finally:
        con.close()
    return (rows[0][0], rows[0][1], rows[0][2], rows[0][3]) if rows else (None,) * 4


@dataclass
class _Pulled:
    path: Path
    #: the result's columns and the widest line, as the CSV holds them
    copied: tables.CopiedRows
    rows: int
    position: str | None
    watermark: str | None
    #: rows from a SQL_ASCII database that held bytes that are not UTF-8 (see _mend)
    mended: int = 0
    #: the DuckDB type the watermark's values compare as (see _VERSION_TYPES)
    watermark_type: str = "VARCHAR"


def _pull(
    conn: psycopg.Connection,
    source: PgSource,
    since: str | None,
    into: Path,
    zone: str,
    notes: list[str],
) -> _Pulled | None:
    """Copy the new rows into ``into`` as CSV, ``timestamp`` columns read in ``zone``; None
    when there are none. What the run should say of the source goes to ``notes``."""
    relation = _relation(source)
    # the copy's bytes are read as UTF-8 whatever the database's own encoding; but a
    # SQL_ASCII database holds bytes in no known encoding, which the server will not
    # convert and refuses to send as UTF-8 when they are not: they are taken as they are,
    # and what is not UTF-8 in them mended here (see _mend)
    settings = (
        sql.SQL("TimeZone = {}").format(sql.Literal(zone)),
        sql.SQL("DateStyle = 'ISO, YMD'"),
        # an interval watermark's recorded position is read back in this style
        sql.SQL("IntervalStyle = 'postgres'"),
        sql.SQL("extra_float_digits = 3"),
        sql.SQL("client_encoding = 'UTF8'"),
    )
    for setting in settings:
        conn.execute(sql.SQL("SET {}").format(setting))
    unchecked = str(conn.execute("SHOW server_encoding").fetchall()[0][0]) == "SQL_ASCII"
    # Read before the snapshot: a row a transaction still in flight writes with now() will
    # carry that transaction's start, and commit after this run has moved past it. The
    # recorded position stays at the oldest such start (or at this moment), so the next run
    # reads from there again. (Sessions of other roles are seen only with pg_read_all_stats.)
    horizon = str(
        conn.execute(
            """SELECT least(min(xact_start) FILTER (WHERE pid <> pg_backend_pid()
                                                    AND datname = current_database()
                                                    AND backend_type = 'client backend'),
                            clock_timestamp())::text
               FROM pg_stat_activity"""
        ).fetchall()[0][0]
    )
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    cur = conn.cursor()
    cur.execute(sql.SQL("SELECT * FROM ({}) AS b LIMIT 0").format(relation))
    described = [(d.name, d.type_code) for d in (cur.description or [])]
    names = [n for n, _ in described]
    if not names:
        raise BadInputError("the result has no columns: there is nothing to take from it")
    if len(set(names)) != len(names):
        raise BadInputError(f"the result has repeated column names: {', '.join(names)}")
    watermark = source.watermark
    if watermark is None and DEFAULT_WATERMARK in names:
        watermark = DEFAULT_WATERMARK
    if watermark is not None and watermark not in names:
        raise BadInputError(
            f"--watermark {watermark}: the result has no such column (it has {', '.join(names)})"
        )
    select = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(
            _first_instant(sql.SQL("b.{}").format(sql.Identifier(n))), sql.Identifier(n)
        )
        if oid == _TIMESTAMP
        else sql.SQL("b.{}").format(sql.Identifier(n))
        for n, oid in described
    )
    where: sql.Composable = sql.SQL("TRUE")
    position = None
    if watermark is not None:
        oid = dict(described)[watermark]
        type_name = _type_name(cur, oid)
        if oid in _TEXT_OIDS:
            notes.append(
                f"the watermark column {watermark} holds text, and rows are taken in the order "
                "of its text: times written in it with different offsets or forms are out of "
                "order, and rows can be missed; give --watermark a timestamptz or sequence column"
            )
        column = sql.SQL("b.{}").format(sql.Identifier(watermark))
        # a row without a watermark value, or with one past every other (NaN, infinity),
        # cannot be placed: it is read every time (and skipped when unchanged). A position
        # recorded as such a value (before they were set apart) places nothing: read all
        beyond = _beyond_values(cur, oid)
        if since in beyond:
            since = None
        unplaceable = sql.SQL(" OR ").join(
            [
                sql.SQL("{} IS NULL").format(column),
                *(
                    sql.SQL("{} = CAST({} AS {})").format(column, sql.Literal(v), type_name)
                    for v in beyond
                ),
            ]
        )
        lower = (
            sql.SQL("{} >= CAST({} AS {})").format(column, sql.Literal(since), type_name)
            if since is not None
            else sql.SQL("TRUE")
        )
        try:
            top, unplaced = cur.execute(
                sql.SQL(
                    "SELECT max({col}) FILTER (WHERE NOT ({unplaceable}))::text, "
                    "count(*) FILTER (WHERE {unplaceable}) "
                    "FROM ({rel}) AS b WHERE {lower} OR {unplaceable}"
                ).format(col=column, rel=relation, lower=lower, unplaceable=unplaceable)
            ).fetchall()[0]
        except psycopg.errors.UndefinedFunction:
            taken = "given" if source.watermark else "taken by default"
            raise BadInputError(
                f"the watermark column {watermark} ({taken}) has a type without an order: "
                "name another with --watermark"
            ) from None
        if top is None and not unplaced:
            conn.execute("COMMIT")
            return None
        upper = since if top is None else str(top)
        position = since if top is None else _held_back(cur, oid, str(top), horizon)
        where = (
            sql.SQL("({} AND {} <= CAST({} AS {})) OR {}").format(
                lower, column, sql.Literal(upper), type_name, unplaceable
            )
            if upper is not None
            else unplaceable
        )
    # COPY's text format: a line per row (see tables.CopiedRows), each numbered as it is
    # sent, so that the file can be read in parallel in any order
    # a watermark whose order DuckDB cannot tell from its text is ranked here, in the
    # server's own order of its type (its collation, an enum's declared order)
    ranked = watermark is not None and dict(described)[watermark] not in _VERSION_TYPES
    rank = (
        sql.SQL(", dense_rank() OVER (ORDER BY b.{})").format(sql.Identifier(watermark))
        if ranked and watermark is not None
        else sql.SQL("")
    )
    copy = sql.SQL(
        "COPY (SELECT row_number() OVER () AS dvlab_row, {select}{rank} FROM ({rel}) AS b "
        "WHERE {where}) TO STDOUT"
    ).format(select=select, rank=rank, rel=relation, where=where)
    longest = mended = 0
    plain = True
    if unchecked:
        # for the copy alone: the queries above read their text (names, values) as UTF-8
        conn.execute(sql.SQL("SET client_encoding = 'SQL_ASCII'"))
    with open(into, "wb") as out, cur.copy(copy) as stream:
        # the server sends a row at a time: they are taken a few at a time (the rows' sizes
        # are looked at once per step, not once per row) and written a batch at a time
        sent = iter(stream)
        batch: list[bytes | bytearray | memoryview] = []
        # one row first: a step's size follows the widest row of the last
        held, step = 0, 1
        while True:
            start = len(batch)
            batch.extend(islice(sent, step))
            if len(batch) == start:
                break
            sizes = list(map(len, islice(batch, start, None)))
            widest = max(sizes)
            longest = max(longest, widest)
            held += sum(sizes)
            # wide rows are taken fewer at a time: a step holds an eighth of a batch's bytes
            step = max(1, min(_COPY_STEP, (_COPY_BATCH_BYTES >> 3) // widest))
            if len(batch) >= _COPY_BATCH or held >= _COPY_BATCH_BYTES:
                fixed, widest, plain = _written(out, batch, unchecked=unchecked, plain=plain)
                mended, longest = mended + fixed, max(longest, widest)
                held = 0
                lab_ingest._interrupts.check()
        fixed, widest, plain = _written(out, batch, unchecked=unchecked, plain=plain)
        mended, longest = mended + fixed, max(longest, widest)
    rows = cur.rowcount if cur.rowcount >= 0 else -1
    conn.execute("COMMIT")
    return _Pulled(
        into,
        tables.CopiedRows(tuple(names), longest, ranked=ranked, plain=plain),
        rows,
        position,
        watermark,
        mended,
        "BIGINT"
        if ranked
        else _VERSION_TYPES.get(dict(described)[watermark], "VARCHAR")
        if watermark
        else "VARCHAR",
    )


def _written(
    out: BinaryIO, batch: list[bytes | bytearray | memoryview], *, unchecked: bool, plain: bool
) -> tuple[int, int, bool]:
    """Write the COPY rows in ``batch`` to ``out`` and empty it; a SQL_ASCII database's
    rows (``unchecked``) mended first (see _mend). Returns how many rows were mended, the
    widest of them, and whether the rows so far are plain (see tables.CopiedRows): they
    were (``plain``), and these are too."""
    mended = _mend(batch) if unchecked else 0
    widest = max(map(len, batch)) if mended else 0
    data = b"".join(batch)
    out.write(data)
    batch.clear()
    return mended, widest, plain and _plain(data)


#: a space at a value's start (after the tab before it; a row starts with its number) or at
#: its end (before a tab or the line's end)
_SPACE_AT_AN_END = (b"\t ", b" \t", b" \n")


def _plain(rows: bytes) -> bool:
    """Whether COPY rows hold nothing but plain values (see tables.CopiedRows): ASCII, no
    space at a value's ends, and no backslash but those of NULLs (``\\N``). An escape
    (``\\\\``, ``\\t``, ...) brings a backslash that is not one, even before an ``N``."""
    return (
        rows.isascii()
        and rows.count(b"\\") == rows.count(b"\\N")
        and not any(mark in rows for mark in _SPACE_AT_AN_END)
    )


def _mend(rows: list[bytes | bytearray | memoryview]) -> int:
    """Make the COPY rows in ``rows`` UTF-8, in place: each byte that is not part of UTF-8
    text becomes the four characters ``\\xHH`` (its value), so two values that differ
    only there stay two. How many rows needed it. (Only ASCII bytes shape COPY's text
    format, so no tab, newline or backslash is lost or made; the backslash written is
    escaped as COPY escapes one.)"""
    try:
        b"".join(rows).decode("utf-8")
        return 0
    except UnicodeDecodeError:
        pass
    mended = 0
    for i, row in enumerate(rows):
        try:
            bytes(row).decode("utf-8")
        except UnicodeDecodeError:
            rows[i] = bytes(row).decode("utf-8", errors=_AS_HEX).encode("utf-8")
            mended += 1
    return mended


def _as_hex(error: UnicodeError) -> tuple[str, int]:
    """A codec error handler: each undecodable byte as ``\\xHH``, backslash escaped for
    COPY's text format."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(f"\\\\x{byte:02x}" for byte in bad), error.end


_AS_HEX = "dvlab-copy-hex"
codecs.register_error(_AS_HEX, _as_hex)


def _held_back(cur: psycopg.Cursor[Any], oid: int, top: str, horizon: str) -> str:
    """The position to record: ``top``, or for a time column the ``horizon`` (the oldest
    start of a transaction in flight when the run began) if that is earlier."""
    if oid == _TIMESTAMPTZ:
        held = "SELECT least(%s::timestamptz, %s::timestamptz)::text"
        params = [top, horizon]
    elif oid == _TIMESTAMP:
        # such a column holds wall-clock times in the zone it is read in, the session's
        held = "SELECT least(%s::timestamp, %s::timestamptz::timestamp)::text"
        params = [top, horizon]
    else:
        return top
    return str(cur.execute(held, params).fetchall()[0][0])


#: the shifts summer time has made, largest first: a wall-clock time the clock shows twice
#: is that far apart from itself
_SHIFTS = ("2 hours", "1 hour", "30 minutes")


def _first_instant(value: sql.Composable) -> sql.Composable:
    """The instant of the wall-clock ``value`` (a ``timestamp``) in the session's zone: for
    a time the clock shows twice, as summer time ends, the first of the two, as a file's
    times are read (PostgreSQL's cast gives the second). As text, with its offset.

    The casts, not ``AT TIME ZONE``: that reads a name that is also an abbreviation (CET,
    EET, MET, WET) as the abbreviation's fixed offset."""
    at = sql.SQL("({}::timestamptz)").format(value)
    cases = [
        sql.SQL(
            "WHEN ({at} - INTERVAL {shift})::timestamp = {v} THEN {at} - INTERVAL {shift}"
        ).format(at=at, shift=sql.Literal(shift), v=value)
        for shift in _SHIFTS
    ]
    # within a day of the ends of the range a zone's shift would leave it: such a time is
    # sent as it reads (and rejected as no time the lab holds) rather than fail the pull
    return sql.SQL(
        "CASE WHEN {v} NOT BETWEEN '4713-01-02 BC'::timestamp AND '294276-12-30'::timestamp "
        "THEN {v}::text ELSE (CASE {cases} ELSE {at} END)::text END"
    ).format(v=value, cases=sql.SQL(" ").join(cases), at=at)


#: base types whose values include some past every other: (their oids, those values)
_BEYOND: tuple[tuple[frozenset[int], tuple[str, ...]], ...] = (
    (frozenset({700, 701, 1700}), ("NaN", "Infinity")),  # real, double precision, numeric
    (frozenset({1082, 1114, 1184}), ("infinity",)),  # date, timestamp, timestamptz
)


def _beyond_values(cur: psycopg.Cursor[Any], oid: int) -> tuple[str, ...]:
    """The values of type ``oid`` (a domain by its base type) that sort after every
    other: as a watermark's largest value, one would stop every later run short."""
    found = cur.execute(
        "SELECT CASE WHEN typtype = 'd' THEN typbasetype ELSE oid END "
        "FROM pg_catalog.pg_type WHERE oid = %s",
        [oid],
    ).fetchall()
    base = int(found[0][0]) if found else oid
    return next((values for oids, values in _BEYOND if base in oids), ())


def _type_name(cur: psycopg.Cursor[Any], oid: int) -> sql.Composable:
    """The type ``oid`` by its schema-qualified name, without a modifier: a watermark value
    is cast to it whole. (``format_type(oid, NULL)`` would not do: it names ``bpchar`` as
    ``character``, which is ``char(1)``, and a bound cast to it is cut to one letter.)"""
    found = cur.execute(
        "SELECT n.nspname, t.typname FROM pg_catalog.pg_type AS t "
        "JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace WHERE t.oid = %s",
        [oid],
    ).fetchall()
    if not found:
        raise BadInputError(f"the watermark column's type (oid {oid}) is not in pg_type")
    return sql.Identifier(str(found[0][0]), str(found[0][1]))


#: what a source keeps from its first run, as a file does (see dvlab.lab.ingest)
_KEPT_OPTIONS = ("kind", "mapping", "time_origin")


def ingest(lab_path: Path, source: PgSource, options: IngestOptions) -> IngestSummary:
    """Pull ``source`` into the lab: one ledger row, one transaction (see the module)."""
    name = source.name()
    _relation(source)  # a missing --table/--query is said before anything connects
    if options.kind is not None and options.kind not in ("tasks", "transitions", "events"):
        raise BadInputError(
            f"--kind {options.kind}: rows pulled from PostgreSQL load as tasks, transitions "
            "or events",
            source=name,
        )
    summary = IngestSummary(run_id=str(uuid.uuid4()), lab=str(lab_path), started=datetime.now(UTC))
    with lab_ingest._interrupts, lab_ingest._ingest_lock(lab_path):
        interrupts = lab_ingest._interrupts
        interrupts.seen = interrupts.committed = interrupts.committing = False
        recorded_column, recorded, recorded_zone, recorded_options = _last_position(lab_path, name)
        note = None
        # a source keeps how its rows were read (their kind, the column names mapped): rows
        # read past the position another way would sit beside rows read before the old way
        if recorded_options is not None:
            # what was given otherwise is said; what was left out is kept without a word
            note = lab_ingest.option_change(recorded_options, options, _KEPT_OPTIONS)
            options = lab_ingest.kept_options(recorded_options, options, _KEPT_OPTIONS)
        if recorded_options is not None:
            # naive times held as text (or dates) are read in the zone of the first run too,
            # as its timestamp columns are (below): else a run without --tz reads them in
            # UTC, and one with another --tz in that, though it says it is not applied
            options = replace(options, tz=json.loads(recorded_options).get("tz"))
        if recorded_zone is not None:
            given = source.naive_tz or SERVER_ZONE
            if not _same_zone(given, recorded_zone) and source.naive_tz is not None:
                note = "; ".join(
                    filter(
                        None,
                        [
                            note,
                            f"--tz {source.naive_tz} not applied: this source keeps the zone it "
                            f"was first read in ({recorded_zone}); `dvlab forget` it to read it "
                            "in another",
                        ],
                    )
                )
            source = replace(
                source, naive_tz=None if recorded_zone == SERVER_ZONE else recorded_zone
            )
        since = None if source.full else recorded
        if recorded_column is not None and source.watermark not in (None, recorded_column):
            note = "; ".join(
                filter(
                    None,
                    [
                        note,
                        f"--watermark {source.watermark} not applied: this source keeps the "
                        f"column it was first read by ({recorded_column}); `dvlab forget` it "
                        "to read it by another",
                    ],
                )
            )
        if recorded_column is not None:
            # a source keeps the watermark column it was first taken by
            source = replace(source, watermark=recorded_column)
        elif source.watermark is not None:
            since = None  # a column now, none before: the recorded value says nothing of it
        ingest_id = lab_ingest._next_ingest_id(lab_path)
        staging = lab_ingest._Staging(options.zone, spill_dir=lab_path.resolve().parent)
        try:
            report, entry = _stage(source, name, since, ingest_id, staging, options)
            if note is not None:
                entry["message"] = report.message = "; ".join(filter(None, [note, report.message]))
            summary.sources.append(report)
            # --strict is checked at the commit, where the rejects the lab holds already (a
            # bad row at the watermark, read again) are known and do not count
            lab_ingest._commit(lab_path, staging, [entry], summary, strict=options.strict)
        finally:
            staging.close()
    summary.finished = datetime.now(UTC)
    return summary


#: names of UTC itself (a server's TimeZone is often Etc/UTC, a user's --tz UTC)
_UTC_NAMES = frozenset({"utc", "etc/utc", "etc/universal", "universal", "zulu", "etc/zulu"})


def _same_zone(a: str, b: str) -> bool:
    return a == b or {a.lower(), b.lower()} <= _UTC_NAMES


def _stage(
    source: PgSource,
    name: str,
    since: str | None,
    ingest_id: int,
    staging: lab_ingest._Staging,
    options: IngestOptions,
) -> tuple[SourceReport, dict[str, Any]]:
    recorded: dict[str, Any] = json.loads(lab_ingest._options_json(options))
    if source.query is not None:
        recorded["query"] = source.query
    started = datetime.now(UTC)
    conn = pgconn.connect(source.dsn, purpose="dvlab ingest", autocommit=True)
    try:
        # the zone timestamp columns are read in, by name: the server's setting may change,
        # and the source keeps the zone it was first read in
        zone = source.naive_tz or str(conn.execute("SHOW TimeZone").fetchall()[0][0])
        recorded["naive_tz"] = zone
        notes: list[str] = []
        pulled = _pull(conn, source, since, staging.spill / "pulled.copy", zone, notes)
    except psycopg.errors.UndefinedTable as exc:
        raise pgconn.error(exc, source.dsn, "no such table") from None
    except psycopg.errors.CharacterNotInRepertoire as exc:
        # a SQL_ASCII database's bytes outside the rows themselves (which are mended)
        raise pgconn.error(
            exc,
            source.dsn,
            "a column's name, or a value of the watermark column, holds bytes that are not "
            "UTF-8 (a SQL_ASCII database stores any); name such columns in a --query, or take "
            "another watermark with --watermark",
        ) from None
    except psycopg.Error as exc:
        raise pgconn.error(exc, source.dsn, "reading") from None
    finally:
        conn.close()
    base = {
        "ingest_id": ingest_id,
        "source": name,
        "started": started,
        "generation": None,
    }
    if pulled is None:
        recorded["watermark"] = source.watermark or DEFAULT_WATERMARK
        entry = {
            **base,
            "status": "unchanged",
            "message": "; ".join([f"nothing new since {since}" if since else "no rows", *notes]),
            "position": since,
            "options": json.dumps(recorded),
        }
        report = SourceReport(source=name, status="unchanged", message=str(entry["message"]))
        return report, entry
    recorded["watermark"] = pulled.watermark
    mapping = tables.parse_map(list(options.mapping))
    columns = pulled.copied.columns
    kind = options.kind or tables.kind_of(columns, mapping)
    if kind not in ("tasks", "transitions", "events"):
        raise BadInputError(
            "cannot tell whether these rows are tasks, transitions or events "
            f"(columns {', '.join(columns)}); say which with --kind",
            source=name,
        )
    lab_ingest._use_zone(staging.con, options.zone)
    shape = tables.Shape(kind=kind, layout="csv", columns=columns)
    try:
        staged, loaded, rejected, superseded = tables.stage(
            staging.con,
            src=0,
            path=pulled.path,
            shape=shape,
            mapping=mapping,
            time_origin=options.time_origin,
            source=name,
            copied=pulled.copied,
            # of two rows of one id, the one of the later watermark is the row as it is now
            version=tables.RANKED if pulled.copied.ranked else pulled.watermark,
            version_type=pulled.watermark_type,
        )
    except SourceReadError as exc:
        # the staging file is ours, and gone when the run ends: name the source instead
        reason = exc.reason.replace(str(pulled.path), "the pulled rows")
        raise SourceReadError(name, f"the rows pulled from it cannot be read: {reason}") from None
    entry = {
        **base,
        "status": "loaded",
        "format": f"postgresql-{kind}",
        "consumed_lines": loaded + rejected + superseded,
        "rows_loaded": loaded,
        "rows_rejected": rejected,
        "rows_skipped": superseded,
        "position": pulled.position,
        "options": json.dumps(recorded),
        "src": 0,
        "tables": [(kind, staged)],
        "skip_unchanged": True,
        # transitions without sequence numbers, numbered by the staging: numbered on from
        # the lab's at the commit (see tables.continue_numbering)
        "numbered_here": kind == "transitions"
        and "seq" not in tables.checked_columns(shape, mapping, name),
    }
    report = SourceReport(
        source=name,
        status="loaded",
        format=f"postgresql-{kind}",
        rows_loaded=loaded,
        rows_rejected=rejected,
        ingest_id=ingest_id,
    )
    if pulled.mended:
        notes.insert(
            0,
            f"{pulled.mended} row(s) held bytes that are not UTF-8 (the database's encoding is "
            "SQL_ASCII, which checks none): each such byte is stored as \\xHH, its value",
        )
    if notes:
        entry["message"] = report.message = "; ".join(notes)
    return report, entry


def check_source(text: str) -> None:
    """Refuse a DSN that cannot be parsed, before anything is opened."""
    pgconn.describe(text)


__all__ = ["PgSource", "SourceConnectError", "check_source", "ingest"]
