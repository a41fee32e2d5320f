"""``dvlab ingest postgresql://…`` at its edges, against the real server: watermark columns
of types with a modifier, a value of several megabytes, ``--query`` text ending in ``;``
and comments, and passwords kept out of every message."""

from __future__ import annotations

import doctest
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql

from dvlab.cli import main
from dvlab.live import pgconn, pghealth, pgingest
from tests.live.labrows import rows

PASSWORD = "Zq9SecretPW"


@pytest.fixture
def h3_schema(pg: psycopg.Connection) -> Iterator[str]:
    """A schema of the test's own (``h3_`` and a unique suffix), dropped when it ends."""
    name = f"h3_{uuid.uuid4().hex[:16]}"
    pg.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def ingest(lab: Path, *args: str) -> int:
    return main(["--db", str(lab), "ingest", *args])


def with_password(pg: psycopg.Connection, password: str = PASSWORD) -> str:
    """The test server's DSN with a password in it (trust authentication ignores it)."""
    info = pg.info
    return f"postgresql://{info.user}:{password}@{info.host}:{info.port}/{info.dbname}"


# --------------------------------------------------------------------------- watermark types


@pytest.mark.parametrize(
    ("column_type", "values"),
    [
        # char(n) is bpchar: format_type(oid, NULL) names it `character`, which is char(1)
        ("char(5)", ["aaaaa", "bbbbb", "ccccc", "ddddd"]),
        ("{schema}.ver5", ["aaaaa", "bbbbb", "ccccc", "ddddd"]),  # a domain over char(5)
        ("varchar(5)", ["aaaaa", "bbbbb", "ccccc", "ddddd"]),
        ("numeric(6, 2)", ["1.50", "2.25", "10.00", "10.01"]),
        (
            "timestamp(3)",
            [
                "2026-01-01 00:00:00.001",
                "2026-01-01 00:00:00.002",
                "2026-01-01 00:00:00.003",
                "2026-01-01 00:00:00.004",
            ],
        ),
        ('{schema}."Ver sion"', ["one", "two", "three", "four"]),  # an enum, in this order
    ],
    ids=["char", "domain", "varchar", "numeric", "timestamp3", "enum"],
)
def test_a_watermark_of_a_type_with_a_modifier_takes_every_row(
    pg_dsn: str,
    pg: psycopg.Connection,
    h3_schema: str,
    lab_path: Path,
    column_type: str,
    values: list[str],
) -> None:
    pg.execute(f"CREATE DOMAIN {h3_schema}.ver5 AS char(5)")
    pg.execute(f"""CREATE TYPE {h3_schema}."Ver sion" AS ENUM ('one', 'two', 'three', 'four')""")
    table = f"{h3_schema}.chw"
    pg.execute(
        f"CREATE TABLE {table} (task_id text, state text, ver {column_type.format(schema=h3_schema)})"
    )
    insert = f"INSERT INTO {table} VALUES (%s, 'running', %s)"
    for n, value in enumerate(values[:3], 1):
        pg.execute(insert, [f"t{n}", value])
    assert ingest(lab_path, pg_dsn, "--table", table, "--watermark", "ver") == 0
    assert rows(lab_path, "SELECT task_id FROM tasks ORDER BY 1") == [("t1",), ("t2",), ("t3",)]

    pg.execute(insert, ["t4", values[3]])
    assert ingest(lab_path, pg_dsn, "--table", table, "--watermark", "ver") == 0
    assert rows(lab_path, "SELECT task_id FROM tasks ORDER BY 1") == [
        ("t1",),
        ("t2",),
        ("t3",),
        ("t4",),
    ]
    # the server's own text of each run's largest value; t3 sits at the first run's value:
    # read again, unchanged, skipped
    top = f"SELECT max(ver)::text FROM {table} WHERE task_id <= %s"
    tops = [pg.execute(top, [last]).fetchall()[0][0] for last in ("t3", "t4")]
    assert rows(
        lab_path, "SELECT rows_loaded, rows_skipped, position FROM ingests ORDER BY ingest_id"
    ) == [(3, 0, tops[0]), (1, 1, tops[1])]


# --------------------------------------------------------------------------- wide values


def test_a_value_of_three_million_characters_loads_whole(
    pg_dsn: str, pg: psycopg.Connection, h3_schema: str, lab_path: Path
) -> None:
    table = f"{h3_schema}.wide"
    pg.execute(f"CREATE TABLE {table} (task_id text, state text, note text)")
    # 4 characters (5 bytes, one a quote the CSV doubles) 750,000 times: 3,000,000
    # characters, one CSV line of 4.5 MB
    pg.execute(
        f"""INSERT INTO {table} VALUES ('w1', 'running', 'short'),
            ('w2', 'running', repeat('é"' || E'\\n' || 'x', 750000)),
            ('w3', 'running', 'after')"""
    )
    assert ingest(lab_path, pg_dsn, "--table", table) == 0
    (length, note), *_ = pg.execute(
        f"SELECT length(note), note FROM {table} WHERE task_id = 'w2'"
    ).fetchall()
    assert length == 3_000_000
    assert rows(
        lab_path, "SELECT task_id, length(attributes ->> 'note') FROM tasks ORDER BY 1"
    ) == [("w1", 5), ("w2", length), ("w3", 5)]
    assert rows(lab_path, "SELECT attributes ->> 'note' FROM tasks WHERE task_id = 'w2'") == [
        (note,)
    ]


# each written as PostgreSQL writes it: line breaks, tabs, backslashes and what looks like
# an escape or a NULL, an empty string and NULL
ODD_VALUES = [
    "two\nlines",
    "crlf\r\nend",
    "tab\there",
    "back\\slash",
    "\\N",
    "\\\\N",
    "looks\\nescaped",
    "ends in \\",
    "\b\f\v controls",
    "\\\n\\t mixed",
    "",
    None,
]


def test_line_breaks_tabs_and_backslashes_arrive_as_the_server_holds_them(
    pg_dsn: str, pg: psycopg.Connection, h3_schema: str, lab_path: Path
) -> None:
    table = f"{h3_schema}.odd"
    pg.execute(f"CREATE TABLE {table} (task_id text, state text, note text)")
    with pg.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {table} VALUES (%s, 'running', %s)",
            [(f"o{i:02d}", value) for i, value in enumerate(ODD_VALUES)],
        )
    assert ingest(lab_path, pg_dsn, "--table", table) == 0
    held = pg.execute(f"SELECT task_id, note FROM {table} ORDER BY task_id").fetchall()
    assert [note for _, note in held] == ODD_VALUES  # as written, read back by the server
    assert rows(lab_path, "SELECT task_id, attributes ->> 'note' FROM tasks ORDER BY task_id") == [
        tuple(row) for row in held
    ]


def test_values_holding_lines_that_look_like_rows_are_read_in_parallel_whole(
    pg_dsn: str, pg: psycopg.Connection, h3_schema: str, lab_path: Path
) -> None:
    """About 15 MB of values with line breaks, each line after one shaped as a row: split
    for a parallel read, a CSV of them could be cut inside a value and fail."""
    table = f"{h3_schema}.lines"
    pg.execute(f"CREATE TABLE {table} (task_id text, state text, note text)")
    pg.execute(
        f"""INSERT INTO {table}
            SELECT 't' || i, 'running',
                   repeat(E'\\n' || i || ',fake' || i || ',failed,hello' || E'\\t' || 'x', 5000)
            FROM generate_series(1, 120) AS i"""
    )
    assert ingest(lab_path, pg_dsn, "--table", table) == 0
    held = pg.execute(f"SELECT task_id, md5(note) FROM {table} ORDER BY task_id").fetchall()
    assert len(held) == 120
    assert rows(
        lab_path, "SELECT task_id, md5(attributes ->> 'note') FROM tasks ORDER BY task_id"
    ) == [tuple(row) for row in held]


def test_rows_that_cannot_be_read_are_blamed_on_the_source_not_the_staging_file(
    pg: psycopg.Connection,
    h3_schema: str,
    lab_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    table = f"{h3_schema}.tasks"
    pg.execute(f"CREATE TABLE {table} AS SELECT 't1' AS task_id, 'running' AS state")
    real_pull = pgingest._pull
    spills: list[Path] = []

    def pull_then_spoil(*args: object, **kwargs: object) -> object:
        pulled = real_pull(*args, **kwargs)  # type: ignore[arg-type]
        assert pulled is not None
        spills.append(pulled.path)
        with open(pulled.path, "ab") as out:
            out.write(b't2,"a quote never closed\n')  # what no server sends: unreadable
        return pulled

    monkeypatch.setattr(pgingest, "_pull", pull_then_spoil)
    dsn = with_password(pg)
    assert ingest(lab_path, dsn, "--table", table) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    named = pgingest.PgSource(dsn=dsn, table=table).name()
    assert err.startswith(f"dvlab: {named}: the rows pulled from it cannot be read: "), err
    assert spills and spills[0].name not in err and str(spills[0].parent) not in err
    assert PASSWORD not in err


# --------------------------------------------------------------------------- --query's end


@pytest.mark.parametrize(
    ("query", "runs"),
    [
        ("SELECT 1;", "SELECT 1"),
        ("SELECT 1 ; \n", "SELECT 1"),
        ("SELECT 1", "SELECT 1"),
        (
            "SELECT a FROM t WHERE b LIKE 't1%' LIMIT 50; -- c",
            "SELECT a FROM t WHERE b LIKE 't1%' LIMIT 50",
        ),
        ("SELECT a FROM t;\n-- c", "SELECT a FROM t"),
        ("SELECT a FROM t; /* x /* nested; */ y; */ -- z", "SELECT a FROM t"),
        ("SELECT a -- the ; here is said\nFROM t;", "SELECT a -- the ; here is said\nFROM t"),
        # a ; inside a string, an identifier, a comment or a dollar quote stays
        ("SELECT 'x;'", "SELECT 'x;'"),
        ("SELECT 'it''s;'", "SELECT 'it''s;'"),
        ("SELECT 'it''s;';", "SELECT 'it''s;'"),
        ('SELECT 1 AS "a;"', 'SELECT 1 AS "a;"'),
        ('SELECT 1 AS "a"";";', 'SELECT 1 AS "a"";"'),
        ("SELECT 1 -- ;", "SELECT 1 -- ;"),
        ("SELECT 1 /* ; */", "SELECT 1 /* ; */"),
        ("SELECT 1 /* /* */ ; */", "SELECT 1 /* /* */ ; */"),
        ("SELECT $$;$$", "SELECT $$;$$"),
        ("SELECT $q$ it's; $$ $q$; -- end", "SELECT $q$ it's; $$ $q$"),
        # a backslash escapes in E'...' only
        ("SELECT E'\\';'", "SELECT E'\\';'"),
        ("SELECT e'\\\\';", "SELECT e'\\\\'"),
        ("SELECT '\\';", "SELECT '\\'"),
        # E before a quote only as a word of its own; $ inside a name, or $1, is no quote
        ("SELECT name'x;'", "SELECT name'x;'"),
        ("SELECT a$b$ FROM t;", "SELECT a$b$ FROM t"),
        ("SELECT $1;", "SELECT $1"),
        # only the last ;
        ("SELECT 1;;", "SELECT 1;"),
        # left open: as given, for PostgreSQL to say what is wrong
        ("SELECT 'open;", "SELECT 'open;"),
        ("SELECT 1; /* open", "SELECT 1; /* open"),
        ("SELECT $x$ open;", "SELECT $x$ open;"),
    ],
)
def test_only_a_final_semicolon_outside_quotes_and_comments_is_taken_off(
    query: str, runs: str
) -> None:
    assert pgingest._without_final_semicolon(query) == runs


@pytest.mark.parametrize(
    ("query", "loaded"),
    [
        (
            "SELECT task_id, state, note FROM {t} WHERE task_id LIKE 't1%' "
            "ORDER BY 1 DESC LIMIT 50; -- c",
            [("t1", "a;b")],
        ),
        ("SELECT task_id, state, note FROM {t};\n-- c", [("t1", "a;b"), ("t2", "-- c")]),
        (
            "SELECT task_id, state, note || ';' AS note FROM {t} /* ; */ ; /* end; */",
            [("t1", "a;b;"), ("t2", "-- c;")],
        ),
        (
            "SELECT task_id, state, $n$it's;$n$ AS note FROM {t} WHERE note = E'a;b'; -- it's",
            [("t1", "it's;")],
        ),
    ],
    ids=["quote-on-last-line", "comment-on-own-line", "block-comments", "dollar-quote"],
)
def test_a_query_ending_in_a_semicolon_and_comments_runs(
    pg_dsn: str,
    pg: psycopg.Connection,
    h3_schema: str,
    lab_path: Path,
    query: str,
    loaded: list[tuple[str, str]],
) -> None:
    table = f"{h3_schema}.tasks"
    pg.execute(f"CREATE TABLE {table} (task_id text, state text, note text)")
    pg.execute(f"INSERT INTO {table} VALUES ('t1', 'running', 'a;b'), ('t2', 'done', '-- c')")
    given = query.format(t=table)
    assert ingest(lab_path, pg_dsn, "--query", given, "--kind", "tasks") == 0
    assert rows(lab_path, "SELECT task_id, attributes ->> 'note' FROM tasks ORDER BY 1") == loaded
    # the ledger keeps the query as it was given
    assert rows(lab_path, "SELECT options ->> 'query' FROM ingests") == [(given,)]


# --------------------------------------------------------------------------- passwords


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/test?table=h3.x",
            "postgresql://postgres:***@127.0.0.1:5432/test?table=h3.x",
        ),
        ("postgres://bob@db1/ctl?table=t", "postgres://bob@db1/ctl?table=t"),
        (f"nats://user:{PASSWORD}@127.0.0.1:4222", "nats://user:***@127.0.0.1:4222"),
        (f"nats://{PASSWORD}@nats1:4222/S?durable=d", "nats://***@nats1:4222/S?durable=d"),
        ("nats://nats1:4222/S?durable=d", "nats://nats1:4222/S?durable=d"),
        # an @, a / or a ? in a password not percent-encoded: hidden up to the last @
        (f"postgresql://u:{PASSWORD}@x/y?@db1/ctl", "postgresql://u:***@db1/ctl"),
        (
            f"postgresql://u@db1/ctl?sslmode=require&password={PASSWORD}&x=1",
            "postgresql://u@db1/ctl?sslmode=require&password=***&x=1",
        ),
        (
            f"host=db1 password='{PASSWORD} \\' x' user=u sslpassword={PASSWORD}",
            "host=db1 password=*** user=u sslpassword=***",
        ),
        (
            f"a postgresql://u:{PASSWORD}@h1/d and nats://u:{PASSWORD}@h2 both",
            "a postgresql://u:***@h1/d and nats://u:***@h2 both",
        ),
    ],
)
def test_redact_hides_every_password_and_keeps_the_rest(text: str, shown: str) -> None:
    assert pgconn.redact(text) == shown


@pytest.mark.parametrize(
    ("module", "function"), [(pgconn, "redact"), (pgingest, "_final_semicolon")]
)
def test_the_docstring_examples_hold(module: ModuleType, function: str) -> None:
    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(getattr(module, function)):
        runner.run(test)
    assert runner.tries > 0 and runner.failures == 0


@pytest.mark.parametrize(
    ("dsn", "said"),
    [
        # libpq's message quotes the password itself: invalid percent-encoded token: "50%off"
        (
            "postgresql://postgres:50%off@127.0.0.1:5432/test",
            "postgresql://postgres:***@127.0.0.1:5432/test: invalid percent-encoded token: "
            '"***" (a % in a DSN starts a %XX escape: write % itself as %25)',
        ),
        # ... or the whole URI
        (
            f"postgresql://postgres:{PASSWORD}@[::1:5432/test",
            "postgresql://postgres:***@[::1:5432/test: end of string reached when looking for "
            'matching "]" in IPv6 host address in URI: "***"',
        ),
        # what holds no part of the password is kept
        (
            f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/test?nosuchoption=1",
            "postgresql://postgres:***@127.0.0.1:5432/test?nosuchoption=1: "
            'invalid URI query parameter: "nosuchoption"',
        ),
    ],
    ids=["percent", "ipv6", "option"],
)
def test_a_dsn_libpq_cannot_parse_is_shown_without_its_password(
    lab_path: Path, capsys: pytest.CaptureFixture[str], dsn: str, said: str
) -> None:
    assert ingest(lab_path, dsn, "--table", "x") == 2
    out, err = capsys.readouterr()
    assert err == f"dvlab: not a PostgreSQL DSN: {said}\n"
    password = dsn.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert password not in out + err


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (
            f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/test?table=h3.x",
            "postgresql://postgres:***@127.0.0.1:5432/test?table=h3.x",
        ),
        (
            f"nats://user:{PASSWORD}@127.0.0.1:4222/S?durable=dvlab",
            "nats://user:***@127.0.0.1:4222/S?durable=dvlab",
        ),
    ],
    ids=["postgresql", "nats"],
)
def test_forgetting_an_unknown_source_names_it_without_its_password(
    pg_dsn: str,
    pg: psycopg.Connection,
    h3_schema: str,
    lab_path: Path,
    capsys: pytest.CaptureFixture[str],
    given: str,
    shown: str,
) -> None:
    table = f"{h3_schema}.tasks"
    pg.execute(f"CREATE TABLE {table} AS SELECT 't1' AS task_id, 'running' AS state")
    assert ingest(lab_path, pg_dsn, "--table", table) == 0
    capsys.readouterr()
    assert main(["--db", str(lab_path), "forget", given]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"dvlab: {shown} is not in the lab's ledger"), err
    assert PASSWORD not in out + err


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("host=db PASSWORD=x user=u", "host=db PASSWORD=*** user=u"),
        (
            "postgresql://db/ctl?Password=x&sslmode=off",
            "postgresql://db/ctl?Password=***&sslmode=off",
        ),
    ],
)
def test_redact_takes_the_password_keyword_in_any_case(text: str, shown: str) -> None:
    assert pgconn.redact(text) == shown


# --------------------------------------------------------------------------- values past every other


@pytest.mark.parametrize(
    ("column_type", "first", "beyond", "later"),
    [
        ("numeric", "1", "NaN", "2"),
        ("double precision", "1", "Infinity", "2"),
        ("timestamptz", "2026-01-01 00:00:00+00", "infinity", "2026-01-02 00:00:00+00"),
        ("{schema}.stamp", "2026-01-01", "infinity", "2026-01-02"),  # a domain over date
    ],
)
def test_a_watermark_value_past_every_other_does_not_stop_later_runs(
    pg_dsn: str,
    pg: psycopg.Connection,
    h3_schema: str,
    lab_path: Path,
    column_type: str,
    first: str,
    beyond: str,
    later: str,
) -> None:
    """NaN and infinity sort after every other value: taken as the position, no later
    row would ever be read. Such a row is read every run instead, like one without a
    value, and skipped while unchanged."""
    pg.execute(f"CREATE DOMAIN {h3_schema}.stamp AS date")
    table = f"{h3_schema}.beyond"
    kind = column_type.format(schema=h3_schema)
    pg.execute(f"CREATE TABLE {table} (task_id text, state text, ver {kind})")
    pg.execute(
        f"INSERT INTO {table} VALUES ('a', 'running', %s), ('b', 'running', %s)", [first, beyond]
    )
    assert ingest(lab_path, pg_dsn, "--table", table, "--watermark", "ver") == 0
    pg.execute(f"INSERT INTO {table} VALUES ('c', 'failed', %s)", [later])
    assert ingest(lab_path, pg_dsn, "--table", table, "--watermark", "ver") == 0
    assert rows(lab_path, "SELECT task_id, state FROM tasks ORDER BY task_id") == [
        ("a", "running"),
        ("b", "running"),
        ("c", "failed"),
    ]
    loaded = rows(lab_path, "SELECT rows_loaded FROM ingests ORDER BY ingest_id")
    assert loaded == [(2,), (1,)]


def test_a_result_without_columns_is_refused_by_name(
    pg_dsn: str,
    pg: psycopg.Connection,
    h3_schema: str,
    lab_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pg.execute(f"CREATE TABLE {h3_schema}.t (task_id text)")
    assert ingest(lab_path, pg_dsn, "--query", f"SELECT FROM {h3_schema}.t") == 2
    err = capsys.readouterr().err
    assert "the result has no columns" in err and "syntax error" not in err


# --------------------------------------------------------------------------- repeated wall-clock times


@pytest.mark.parametrize(
    ("zone", "wall"),
    [
        ("Europe/Oslo", "2026-10-25 02:30:00"),  # the clock goes back from 03:00 to 02:00
        ("America/New_York", "2026-11-01 01:15:00"),  # back from 02:00 to 01:00
        ("Australia/Lord_Howe", "2026-04-05 01:45:00"),  # back half an hour, 02:00 to 01:30
        ("Europe/Oslo", "2026-10-25 04:30:00"),  # after the change: shown once
        ("Europe/Oslo", "2026-07-01 12:00:00"),
    ],
)
def test_a_timestamp_shown_twice_as_summer_time_ends_is_its_first_instant(
    pg_dsn: str, lab_path: Path, zone: str, wall: str
) -> None:
    """As a file's naive times are read (Python's fold=0), whatever PostgreSQL's own
    ``AT TIME ZONE`` picks."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    expected = datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(zone), fold=0)
    query = f"SELECT 'n1' AS task_id, 'running' AS state, TIMESTAMP '{wall}' AS created"
    assert ingest(lab_path, pg_dsn, "--query", query, "--tz", zone) == 0
    assert rows(lab_path, "SELECT created FROM tasks") == [(expected.astimezone(UTC),)]


def test_a_client_encoding_other_than_utf8_is_read_as_the_server_holds_it(
    pg_dsn: str,
    pg: psycopg.Connection,
    h3_schema: str,
    lab_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PGCLIENTENCODING=LATIN1 would have the copy written in Latin-1; the pull asks for
    UTF-8, so accents arrive as they are."""
    table = f"{h3_schema}.latin"
    pg.execute(f"CREATE TABLE {table} (task_id text, state text, note text)")
    pg.execute(f"INSERT INTO {table} VALUES ('l1', 'running', 'café crème, Øst')")
    monkeypatch.setenv("PGCLIENTENCODING", "LATIN1")
    assert ingest(lab_path, pg_dsn, "--table", table) == 0
    assert rows(lab_path, "SELECT attributes ->> 'note' FROM tasks") == [("café crème, Øst",)]


def test_a_watermark_column_without_an_order_is_said_to_be_one(
    pg_dsn: str, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = """SELECT 't1' AS task_id, 'running' AS state, '{"a": 1}'::json AS updated_at"""
    assert ingest(lab_path, pg_dsn, "--query", query) == 2
    err = capsys.readouterr().err
    assert err.endswith(
        "the watermark column updated_at (taken by default) has a type without an order: "
        "name another with --watermark\n"
    )


@pytest.fixture
def sql_ascii_dsn(pg: psycopg.Connection, pg_dsn: str) -> Iterator[str]:
    """A database of the test's own in the SQL_ASCII encoding (which stores any bytes and
    checks none), dropped when the test ends."""
    name = f"dvlab_t_{uuid.uuid4().hex}"
    pg.execute(
        sql.SQL(
            "CREATE DATABASE {} ENCODING 'SQL_ASCII' TEMPLATE template0 "
            "LC_COLLATE 'C' LC_CTYPE 'C'"
        ).format(sql.Identifier(name))
    )
    try:
        yield urlunsplit(urlsplit(pg_dsn)._replace(path=f"/{name}"))
    finally:
        pg.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_bytes_that_are_not_utf8_in_a_sql_ascii_database_are_mended_not_fatal(
    sql_ascii_dsn: str, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SQL_ASCII database hands over whatever bytes it was given (Latin-1 text, say).
    Each byte that is not UTF-8 text is stored as \\xHH (so two ids that differ only
    there stay two), the rest of the row as it is (UTF-8 text, COPY's escapes), and the
    run says how many rows it mended."""
    with psycopg.connect(sql_ascii_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE tasks (task_id text, state text, note text)")
        for task, hexed in (
            ("t1", "6f6b"),  # ok
            ("t2", "63616ce9"),  # "cal" and Latin-1 e-acute
            ("t3", "626cc3a5"),  # "blå" in UTF-8
            ("t4", "6109625cff"),  # a, tab, b, backslash, and a byte no UTF-8 text holds
            ("t5", "63616ce8"),  # "cal" and Latin-1 e-grave: not t2's value
        ):
            conn.execute(
                "INSERT INTO tasks VALUES (%s, 'running', "
                "convert_from(decode(%s, 'hex'), 'SQL_ASCII'))",
                [task, hexed],
            )

    assert ingest(lab_path, sql_ascii_dsn, "--table", "tasks") == 0

    assert rows(lab_path, "SELECT task_id, attributes ->> 'note' FROM tasks ORDER BY 1") == [
        ("t1", "ok"),
        ("t2", "cal\\xe9"),
        ("t3", "bl\u00e5"),
        ("t4", "a\tb\\\\xff"),
        ("t5", "cal\\xe8"),
    ]
    err = capsys.readouterr().err
    assert "3 row(s) held bytes that are not UTF-8" in err
    assert rows(lab_path, "SELECT status, rows_loaded FROM ingests") == [("loaded", 5)]


def test_a_sql_ascii_databases_zone_and_names_are_text(
    sql_ascii_dsn: str, pg: psycopg.Connection, lab_path: Path
) -> None:
    """psycopg gives such a database's text as bytes: its TimeZone had read "b'Etc/UTC'"
    (a timestamp column then failed every pull, "time zone not recognized"), and a
    snapshot's labels had been "b'public'", a state counted apart from the same state."""
    with psycopg.connect(sql_ascii_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE tasks (task_id text, state text, created_at timestamp)")
        conn.execute("INSERT INTO tasks VALUES ('t1', 'running', '2026-07-01 12:00:00')")
        # a table whose name holds a Latin-1 e-acute
        conn.execute(
            "DO $$ BEGIN EXECUTE format('CREATE TABLE %I (x int)', 'caf' || chr(233)); END $$"
        )
    zone = str(pg.execute("SHOW TimeZone").fetchall()[0][0])

    assert ingest(lab_path, sql_ascii_dsn, "--table", "tasks") == 0
    snapshot = pghealth.snapshot(sql_ascii_dsn, site=None, top_tables=100_000).to_pylist()

    noon = datetime(2026, 7, 1, 12, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    assert rows(lab_path, "SELECT task_id, created FROM tasks") == [("t1", noon)]
    assert rows(lab_path, "SELECT options ->> 'naive_tz' FROM ingests") == [(zone,)]
    labels = [dict(r["labels"] or []) for r in snapshot]
    assert {type(v) for found in labels for v in found.values()} == {str}
    database = urlsplit(sql_ascii_dsn).path[1:]
    assert {"database": database, "schema": "public", "table": "caf\\xe9"}.items() <= {
        k: v for found in labels for k, v in found.items() if found.get("table") == "caf\\xe9"
    }.items()


def test_bytes_that_are_not_utf8_outside_the_rows_are_named(
    sql_ascii_dsn: str, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows are mended, but a watermark value is compared on the server and a column name
    names a column: neither can be. The run says which it is, exit 2, nothing stored."""
    with psycopg.connect(sql_ascii_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE tasks (task_id text, state text, wm text)")
        conn.execute(
            "INSERT INTO tasks VALUES ('t1', 'running', "
            "convert_from(decode('7ae9', 'hex'), 'SQL_ASCII'))"
        )
    assert ingest(lab_path, sql_ascii_dsn, "--table", "tasks", "--watermark", "wm") == 2
    err = capsys.readouterr().err
    assert "a value of the watermark column, holds bytes that are not UTF-8" in err
    assert not lab_path.exists() or rows(lab_path, "SELECT count(*) FROM tasks") == [(0,)]


def test_a_query_given_in_another_encoding_is_refused(pg_dsn: str, lab_path: Path) -> None:
    """A shell in Latin-1 hands dvlab bytes that are not UTF-8: refused by name, exit 2."""
    argv = [sys.executable.encode(), b"-m", b"dvlab.launch", b"--db", str(lab_path).encode()]
    argv += [b"ingest", pg_dsn.encode(), b"--query", b"SELECT 'caf\xe9' AS task_id"]
    done = subprocess.run(
        argv,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.decode() == (
        "dvlab: --query holds bytes that are not UTF-8 text; PostgreSQL is sent UTF-8: "
        "give it in UTF-8\n"
    )
