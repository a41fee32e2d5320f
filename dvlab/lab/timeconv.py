"""The one path every timestamp takes into the lab.

Parsers keep times as text; this module's SQL macros turn that text into
``TIMESTAMPTZ`` (UTC) inside DuckDB, so a million rows never cross into Python
one by one. Accepted, in this order:

* anything DuckDB casts itself: RFC 3339 / ISO 8601 with ``T`` or a space,
  fractions down to nanoseconds (kept to the microsecond, truncated), ``Z``,
  ``±HH``, ``±HHMM`` or ``±HH:MM`` offsets, a trailing ``UTC``;
* a leap second (``23:59:60``), stored as ``23:59:59.999999`` so it sorts
  between its neighbours;
* a comma before the fraction (log4j, Python ``logging``);
* a trailing zone abbreviation from :data:`ZONE_ABBREVIATIONS`, read as its
  fixed offset (``PST`` is always -08:00, even in summer); any other
  abbreviation (``CST``, ``IST`` mean several zones) is not a time;
* not a date whose year is written in fewer than four digits (``17/06/09``,
  ``9/6/17``): which of its fields is the year is not said (``--time-format``
  says it);
* epoch numbers: seconds, milliseconds, microseconds or nanoseconds, told
  apart by magnitude (below 1e11 seconds, below 1e14 milliseconds, below 1e17
  microseconds, else nanoseconds), read as decimals and, like text
  fractions, truncated to the microsecond.

Times without an offset are read in the connection's ``TimeZone``, which the
ingest sets to ``--tz`` (default UTC); a local time the zone shows twice (the
hour repeated when summer time ends) is the first of its two instants.
Unparseable text gives NULL, and the ingest turns a NULL time into a reject
that quotes the text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb

#: Abbreviations seen in real logs, as fixed offsets. Abbreviations are
#: ambiguous in general (IST, CST); only unambiguous ones are listed.
ZONE_ABBREVIATIONS: dict[str, str] = {
    "UTC": "+00:00",
    "GMT": "+00:00",
    "Z": "+00:00",
    "WET": "+00:00",
    "WEST": "+01:00",
    "BST": "+01:00",
    "CET": "+01:00",
    "CEST": "+02:00",
    "MET": "+01:00",
    "MEST": "+02:00",
    "EET": "+02:00",
    "EEST": "+03:00",
    "MSK": "+03:00",
    "JST": "+09:00",
    "KST": "+09:00",
    "AEST": "+10:00",
    "AEDT": "+11:00",
    "NZST": "+12:00",
    "NZDT": "+13:00",
    "EST": "-05:00",
    "EDT": "-04:00",
    "CDT": "-05:00",
    "MST": "-07:00",
    "MDT": "-06:00",
    "PST": "-08:00",
    "PDT": "-07:00",
}


def _abbreviation_map_sql() -> str:
    pairs = ", ".join(f"'{k}': '{v}'" for k, v in ZONE_ABBREVIATIONS.items())
    return "MAP {" + pairs + "}"


def macros_sql() -> list[str]:
    """The CREATE MACRO statements (temporary, per connection)."""
    # an epoch has at least nine digits before any fraction (1973-03-03 as seconds), so
    # a bare year ("2026") or a compact date ("20261201") is not taken for one; and at
    # most nineteen (nanoseconds up to the year 2286): more is no time (22 digits had
    # given the year 57971)
    epoch = r"^\d{9,19}(\.\d*)?$"
    return [
        # Text that DuckDB will not cast, rewritten into text it will (plain expressions,
        # no subquery, so DuckDB only evaluates them for the rows that need them).
        # (a space before a numeric offset, as Go writes "12:00:00.5 +0000", is dropped;
        # RFC 3339's lower-case t and z are read as T and Z; a zone's abbreviation written
        # right after the time, "10:00:00UTC", is set apart from it)
        r"""CREATE OR REPLACE TEMP MACRO dvlab_ts_fix(s) AS (
            regexp_replace(regexp_replace(regexp_replace(
              regexp_replace(regexp_replace(regexp_replace(trim(s),
                  '^(\d{4}-\d\d-\d\d)t(\d)', '\1T\2'), '(\d)z$', '\1Z'), '^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d):60([.,]\d+)?', '\1:59.999999'),
              '^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d),(\d)', '\1.\2'),
              '(\d:\d\d(?:[.,]\d+)?)\s+([+-]\d\d:?\d\d)$', '\1\2'),
              '(\d)([A-Za-z]{2,5})$', '\1 \2'))""",
        # (an abbreviation read in any case: "cest", "Utc", a lone "z")
        f"""CREATE OR REPLACE TEMP MACRO dvlab_ts_rewrite(s) AS (
            CASE
              WHEN regexp_matches(dvlab_ts_fix(s), ' [A-Za-z]{{1,5}}$')
                THEN regexp_replace(dvlab_ts_fix(s), ' [A-Za-z]{{1,5}}$', '')
                     || ({_abbreviation_map_sql()})[
                          upper(regexp_extract(dvlab_ts_fix(s), ' ([A-Za-z]{{1,5}})$', 1))]
              ELSE dvlab_ts_fix(s)
            END)""",
        r"""CREATE OR REPLACE TEMP MACRO dvlab_epoch(s) AS (
            to_timestamp(0) + to_microseconds(trunc(rtrim(s, '.')::DECIMAL(38, 9) * CASE
              WHEN abs(s::DOUBLE) < 1e11 THEN 1000000
              WHEN abs(s::DOUBLE) < 1e14 THEN 1000
              WHEN abs(s::DOUBLE) < 1e17 THEN 1
              ELSE 0.001
            END)::BIGINT))""",
        # A local time the zone's clock shows twice (the hour repeated when summer time
        # ends) is the first of the two instants, as Python's fold=0 reads it: DuckDB's
        # cast gives the second. Its instant an hour, or half an hour (Lord Howe), earlier
        # shows the same wall time only then. (One evaluation of the cast, in a lambda:
        # a macro argument would be evaluated at each use.)
        """CREATE OR REPLACE TEMP MACRO dvlab_ts_local(cast_time) AS (
            list_transform([cast_time], lambda local_t: CASE
              WHEN local_t IS NULL THEN NULL
              WHEN (local_t - INTERVAL 1 HOUR)::TIMESTAMP = local_t::TIMESTAMP
                THEN local_t - INTERVAL 1 HOUR
              WHEN (local_t - INTERVAL 30 MINUTE)::TIMESTAMP = local_t::TIMESTAMP
                THEN local_t - INTERVAL 30 MINUTE
              ELSE local_t
            END)[1])""",
        rf"""CREATE OR REPLACE TEMP MACRO dvlab_ts(s) AS (
            CASE
              -- RFC 3339 in UTC, as most logs and PostgreSQL write times, with the fewest
              -- tests: four digits and a dash, ending in Z or +00 (the tests below would
              -- take it as this does)
              WHEN (right(s, 1) = 'Z' OR suffix(s, '+00')) AND substr(s, 5, 1) = '-'
                   AND left(s, 1) BETWEEN '0' AND '9' AND substr(s, 2, 1) BETWEEN '0' AND '9'
                   AND substr(s, 3, 1) BETWEEN '0' AND '9' AND substr(s, 4, 1) BETWEEN '0' AND '9'
                THEN coalesce(
                  try_cast(s AS TIMESTAMPTZ), try_cast(dvlab_ts_rewrite(s) AS TIMESTAMPTZ))
              -- the common case first: ends in a digit or Z, and DuckDB casts it itself
              -- DuckDB's special words (infinity, epoch, now, ...) are not times in a log
              WHEN NOT (left(ltrim(s), 1) BETWEEN '0' AND '9') THEN NULL
              -- a date that starts with one to three digits (17/06/09, 9/6/17): DuckDB would
              -- take them for the year 17 or 9; which field is the year is not said
              WHEN substr(ltrim(s), 2, 1) IN ('-', '/', '.') OR substr(ltrim(s), 3, 1) IN ('-', '/', '.')
                   OR substr(ltrim(s), 4, 1) IN ('-', '/', '.')
                THEN NULL
              -- UTC said the common ways (Z; +00, as PostgreSQL writes it): no offset the next
              -- test refuses ends so, and two regular expressions a row are spared
              WHEN right(s, 1) = 'Z' OR suffix(s, '+00') OR suffix(s, '+00:00')
                   OR suffix(s, '+0000')
                THEN coalesce(
                  try_cast(s AS TIMESTAMPTZ), try_cast(dvlab_ts_rewrite(s) AS TIMESTAMPTZ))
              -- an offset beyond +-23:59 (DuckDB would take +25:00 as a day and an hour)
              WHEN regexp_matches(s, '\d:\d\d(:\d\d([.,]\d*)?)?\s*[+-](2[4-9]|[3-9]\d)(:?\d\d)?$')
                THEN NULL
              -- Z or an offset written: the instant is said
              WHEN right(s, 1) = 'Z' OR regexp_matches(s, '[+-]\d\d(:?\d\d)?$') THEN coalesce(
                try_cast(s AS TIMESTAMPTZ), try_cast(dvlab_ts_rewrite(s) AS TIMESTAMPTZ))
              -- a local time (or an epoch number)
              WHEN contains('0123456789', right(s, 1)) THEN coalesce(
                dvlab_ts_local(try_cast(s AS TIMESTAMPTZ)),
                CASE WHEN regexp_matches(s, '{epoch}') THEN try(dvlab_epoch(s))
                     ELSE dvlab_ts_local(try_cast(dvlab_ts_rewrite(s) AS TIMESTAMPTZ)) END)
              -- an epoch with a point and no fraction ("1767225600.", as some printf
              -- formats write it)
              WHEN right(s, 1) = '.' AND regexp_matches(s, '{epoch}') THEN try(dvlab_epoch(s))
              -- ends in a letter: a zone abbreviation, read as its fixed offset (not the
              -- zone DuckDB would guess from it)
              ELSE try_cast(dvlab_ts_rewrite(s) AS TIMESTAMPTZ)
            END)""",
    ]


#: what a reject of an unparseable time adds when its year is written short, and no
#: --time-format was given (with one, the macro says nothing)
_SHORT_YEAR_HINT = r"""CREATE OR REPLACE TEMP MACRO dvlab_short_year_hint(s) AS (
    CASE WHEN regexp_matches(s::VARCHAR, '^\s*\d{1,3}[-/.]\d')
         THEN ' (its year is not written in full: say the form with --time-format, as '
              || '%y/%m/%d %H:%M:%S)'
         ELSE '' END)"""


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create the time macros on ``con`` (idempotent)."""
    for statement in macros_sql():
        con.execute(statement)
    con.execute(_SHORT_YEAR_HINT)
    con.execute("SET VARIABLE dvlab_time_format = $wanted", {"wanted": json.dumps([None, None])})


#: strptime directives that say a year
_YEAR_DIRECTIVES = ("%Y", "%y", "%G")


def _says_year(fmt: str) -> bool:
    return any(directive in fmt.replace("%%", "") for directive in _YEAR_DIRECTIVES)


def check_time_format(fmt: str, year: int | None = None) -> None:
    """Raise BadInputError unless ``fmt`` is a strptime format DuckDB takes that says the
    year, or ``year`` (``--year``) is given for it."""
    from dvlab.errors import BadInputError

    con = duckdb.connect()
    try:
        con.execute("SELECT try_strptime('', ?)", [fmt])
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0].split(": ", 1)[-1]
        raise BadInputError(f"--time-format {fmt!r}: {reason}") from None
    finally:
        con.close()
    if year is None and not _says_year(fmt):
        raise BadInputError(
            f"--time-format {fmt!r} says no year (%Y, or %y for two digits): give the year "
            "with --year, else the times would fall in 1900"
        )


def use_time_format(
    con: duckdb.DuckDBPyConnection, fmt: str | None, year: int | None = None
) -> None:
    """Make ``dvlab_ts`` on ``con`` read times in the strptime format ``fmt`` (each time
    trimmed, as a whole; without ``%z`` or ``%Z`` in the connection's zone, as other local
    times; a format that says no year, in ``year``), or, with None, as it reads them by
    default."""
    # making the macros again costs milliseconds a source, twice: not when they are as asked
    wanted = json.dumps([fmt, year])
    if con.execute("SELECT getvariable('dvlab_time_format')").fetchall()[0][0] == wanted:
        return
    _use_time_format(con, fmt, year)
    con.execute("SET VARIABLE dvlab_time_format = $wanted", {"wanted": wanted})


def _use_time_format(con: duckdb.DuckDBPyConnection, fmt: str | None, year: int | None) -> None:
    if fmt is None:
        con.execute(macros_sql()[-1])
        con.execute(_SHORT_YEAR_HINT)
        return
    from dvlab.lab.schema import quote_literal

    con.execute("CREATE OR REPLACE TEMP MACRO dvlab_short_year_hint(s) AS ('')")
    text = "trim(s)"
    if year is not None and not _says_year(fmt):
        # the year written before the time, so that 29 February is one where it is one
        fmt, text = f"%Y {fmt}", f"'{int(year):04d} ' || trim(s)"
    if fmt.replace("%%", "").rstrip().endswith("%z"):
        # RFC 3339 and ISO 8601 write UTC's offset as Z, which strptime's %z does not take
        text = f"regexp_replace({text}, '(\\d\\s*)[Zz]$', '\\1+0000')"
    parsed = f"try_strptime({text}, {quote_literal(fmt)})"
    if "%Y" in fmt.replace("%%", ""):
        # DuckDB's %Y takes one to four digits, so that 01/01/26 read as %Y/%m/%d had been
        # the year 1: a year written in full is no earlier than 1000
        parsed = f"list_transform([{parsed}], lambda p: CASE WHEN year(p) >= 1000 THEN p END)[1]"
    zoned = any(d in fmt.replace("%%", "") for d in ("%z", "%Z"))
    body = f"{parsed}::TIMESTAMPTZ" if zoned else f"dvlab_ts_local({parsed}::TIMESTAMPTZ)"
    con.execute(f"CREATE OR REPLACE TEMP MACRO dvlab_ts(s) AS ({body})")


def format_utc(value: datetime, *, digits: int = 3) -> str:
    """``value`` as RFC 3339 in UTC with ``Z``, to ``digits`` (3 or 6) fractional digits."""
    timespec = "milliseconds" if digits == 3 else "microseconds"
    return value.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_utc(text: str) -> datetime | None:
    """One time, parsed the way the ingest parses them (naive ones as UTC); None if not a time."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        install(con)
        value = con.execute("SELECT dvlab_ts(?)", [text]).fetchall()[0][0]
    finally:
        con.close()
    return value if isinstance(value, datetime) else None
