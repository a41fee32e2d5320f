"""How a PostgreSQL DSN is named: never with its password, with what libpq fills in."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import conninfo

from dvlab.cli import main
from dvlab.errors import BadInputError, SourceConnectError
from dvlab.live.pgconn import connect, describe, one_line, redact


@pytest.mark.parametrize(
    ("dsn", "named"),
    [
        ("postgresql://bob:pw@127.0.0.1:5432/test", "postgresql://bob@127.0.0.1:5432/test"),
        ("postgres://bob:pw@db1/ctl?sslmode=require", "postgresql://bob@db1:5432/ctl"),
        ("postgresql://u@[::1]:5433/db", "postgresql://u@[::1]:5433/db"),
        ("postgresql://u@h1:1,h2:2/db", "postgresql://u@h1:1,h2:2/db"),
        ("host=/var/run/postgresql dbname=x user=y password=pw", "postgresql://y@[local]:5432/x"),
    ],
)
def test_a_dsn_is_named_without_its_password(dsn: str, named: str) -> None:
    assert describe(dsn) == named


def test_the_environment_fills_what_a_bare_dsn_leaves_out(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "PGHOST": "db2",
        "PGPORT": "6432",
        "PGUSER": "ops",
        "PGDATABASE": "ctl",
    }.items():
        monkeypatch.setenv(key, value)
    assert describe("postgresql://") == "postgresql://ops@db2:6432/ctl"


def test_an_error_line_has_the_password_scrubbed() -> None:
    dsn = "postgresql://bob:hunter2-pw@db1:5432/x"
    error = RuntimeError(f'could not connect with {dsn}\nFATAL:  password "hunter2-pw" refused')
    line = one_line(error, dsn)
    assert "hunter2-pw" not in line
    assert line == 'password "***" refused'


# --------------------------------------------------------------------------- masking by place
#
# A password is hidden where it stands (a URL's user information or query, a conninfo
# string's password=, a token libpq quotes that holds it), never by replacing its text
# wherever it occurs: a short password must leave the words of a message whole.


def garbled(message: str) -> bool:
    """Whether ``***`` stands inside a word, as a text replace of a short password leaves it."""
    return re.search(r"\w\*\*\*|\*\*\*\w", message) is not None


def closed_port() -> int:
    """A local port nothing listens on (just given up by the system)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(lab_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["--db", str(lab_path), *args]) != 0
    out, err = capsys.readouterr()
    return out + err


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # a blank in the password: a DSN as given is one URL, whatever it holds
        (
            "postgresql://postgres:hunter2 x@127.0.0.1:5432/test",
            "postgresql://postgres:***@127.0.0.1:5432/test",
        ),
        # a stray @ (and a blank): up to the last @
        ("postgresql://u:a b@c@db1:5432/ctl", "postgresql://u:***@db1:5432/ctl"),
        ("postgresql://u:a@b@127.0.0.1/test", "postgresql://u:***@127.0.0.1/test"),
        ("postgresql://u:5%zz x@db1/ctl", "postgresql://u:***@db1/ctl"),
        # in the query, up to the next & (a blank does not end it)
        (
            "postgresql://u@db1/ctl?password=a b&sslmode=off",
            "postgresql://u@db1/ctl?password=***&sslmode=off",
        ),
        ("postgresql://u@db1/ctl?PassWord=a b", "postgresql://u@db1/ctl?PassWord=***"),
        # conninfo: quoted with blanks and escaped quotes, or words libpq would refuse
        ("host=db1 password='my \\' pass' user=u", "host=db1 password=*** user=u"),
        ("host=db1 Password = 'a b' user=u", "host=db1 Password = *** user=u"),
        ("host=db1 password=my pass dbname=x", "host=db1 password=*** dbname=x"),
        # running text: only the place of the password, never its text elsewhere
        ("e: postgresql://u:e@h/test failed", "e: postgresql://u:***@h/test failed"),
    ],
)
def test_redact_hides_a_password_by_where_it_stands(text: str, shown: str) -> None:
    assert redact(text) == shown


@pytest.mark.parametrize("command", ["ingest", "snapshot"])
@pytest.mark.parametrize(
    ("dsn", "said"),
    [
        (
            "postgresql://postgres:hunter2 x@127.0.0.1:5432/test",
            "postgresql://postgres:***@127.0.0.1:5432/test: "
            'unexpected spaces found in "***", use percent-encoded spaces (%20) instead',
        ),
        (
            "postgresql://postgres:my pass@127.0.0.1:5432/test",
            "postgresql://postgres:***@127.0.0.1:5432/test: "
            'unexpected spaces found in "***", use percent-encoded spaces (%20) instead',
        ),
        # in the query
        (
            "postgresql://postgres@127.0.0.1:5432/test?password=hunter2 x",
            "postgresql://postgres@127.0.0.1:5432/test?password=***: "
            'unexpected spaces found in "***", use percent-encoded spaces (%20) instead',
        ),
        (
            "postgresql://postgres@127.0.0.1:5432/test?Password=hunter2",
            "postgresql://postgres@127.0.0.1:5432/test?Password=***: "
            'invalid URI query parameter: "Password"',
        ),
        # a password that is words of libpq's message is hidden where it stands, and the
        # message keeps its words
        (
            "postgresql://postgres:found in@127.0.0.1:5432/test",
            "postgresql://postgres:***@127.0.0.1:5432/test: "
            'unexpected spaces found in "***", use percent-encoded spaces (%20) instead',
        ),
    ],
    ids=["space", "my-pass", "query", "query-case", "words-of-the-message"],
)
def test_a_password_in_a_dsn_libpq_refuses_is_hidden_where_it_stands(
    lab_path: Path, capsys: pytest.CaptureFixture[str], command: str, dsn: str, said: str
) -> None:
    args = [command, dsn, "--table", "t.x"] if command == "ingest" else [command, dsn]
    shown = run(lab_path, capsys, *args)
    assert shown == f"dvlab: not a PostgreSQL DSN: {said}\n"
    assert "hunter2" not in shown
    assert "pass@" not in shown and "found in@" not in shown and '"found in"' not in shown


@pytest.mark.parametrize("password", ["e", "o", "failed", "connection"])
def test_a_short_password_leaves_the_words_of_a_refusal_whole(
    lab_path: Path, capsys: pytest.CaptureFixture[str], password: str
) -> None:
    port = closed_port()
    shown = run(
        lab_path, capsys, "snapshot", f"postgresql://postgres:{password}@127.0.0.1:{port}/test"
    )
    assert shown == (
        f"dvlab: postgresql://postgres@127.0.0.1:{port}/test: cannot connect: connection failed: "
        f'connection to server at "127.0.0.1", port {port} failed: Connection refused\n'
    )
    assert f":{password}@" not in shown and not garbled(shown)


def test_a_password_in_the_query_leaves_the_words_whole(
    lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    shown = run(
        lab_path, capsys, "snapshot", f"postgresql://postgres@127.0.0.1:{port}/test?password=e"
    )
    assert shown == (
        f"dvlab: postgresql://postgres@127.0.0.1:{port}/test: cannot connect: connection failed: "
        f'connection to server at "127.0.0.1", port {port} failed: Connection refused\n'
    )


@pytest.mark.parametrize(
    ("dbname", "said"),
    [
        # libpq quotes the name, which holds the password: the name is hidden whole
        ("tb_nodb", 'database "***" does not exist'),
        ("tb_xdb", 'database "tb_xdb" does not exist'),
    ],
)
def test_pgpassword_is_hidden_only_in_a_token_that_holds_it(
    pg: psycopg.Connection,
    lab_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    dbname: str,
    said: str,
) -> None:
    monkeypatch.setenv("PGPASSWORD", "o")
    where = f"{pg.info.user}@{pg.info.host}:{pg.info.port}/{dbname}"
    shown = run(lab_path, capsys, "snapshot", f"postgresql://{where}")
    assert shown == f"dvlab: postgresql://{where}: cannot connect: {said}\n"
    assert not garbled(shown)


@pytest.mark.parametrize(
    ("password", "pieces"),
    [
        ("a@b", ["b@", ":a@"]),
        ("Zq9@Secret", ["Zq9", "Secret"]),
        ("pa/ss", ["pa/", "ss@"]),
        ("k@TopSecretPw/Rest", ["TopSecret", "Rest"]),
    ],
)
def test_a_password_libpq_would_misread_is_refused_before_anything_connects(
    monkeypatch: pytest.MonkeyPatch, password: str, pieces: list[str]
) -> None:
    """An @ or / written into a URL's password: libpq ends the user information at the
    first / and the password at the first @, so it would take a piece of the password for
    the host, port or database (and look that host up). Refused, the password hidden."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    dsn = f"postgresql://postgres:{password}@127.0.0.1:5432/test"
    assert conninfo.conninfo_to_dict(dsn).get("password") != password  # libpq misreads it
    with pytest.raises(BadInputError) as refused:
        describe(dsn)
    shown = str(refused.value)
    assert shown == (
        "not a PostgreSQL DSN as written: postgresql://postgres:***@127.0.0.1:5432/test: "
        "the password holds a character a URL must percent-encode "
        "(@ as %40, / as %2F, ? as %3F, # as %23)"
    )
    assert not any(piece in shown for piece in pieces)
    # percent-encoded, the same password is read whole
    encoded = f"postgresql://postgres:{quote(password, safe='')}@127.0.0.1:5432/test"
    assert conninfo.conninfo_to_dict(encoded)["password"] == password
    assert describe(encoded) == "postgresql://postgres@127.0.0.1:5432/test"


def test_a_password_in_the_query_runs_to_the_next_ampersand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    dsn = "postgresql://postgres@127.0.0.1:5432/test?password=ab#cdSECRET&sslmode=disable"
    assert conninfo.conninfo_to_dict(dsn)["password"] == "ab#cdSECRET"
    assert redact(f"{dsn} is not in the lab's ledger") == (
        "postgresql://postgres@127.0.0.1:5432/test?password=***&sslmode=disable "
        "is not in the lab's ledger"
    )


def test_a_password_in_the_query_is_still_known_when_libpq_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    dsn = "postgresql://postgres@db1/x?password=pw%20one"
    failure = RuntimeError('FATAL:  password "pw one" refused for "postgres"')
    assert one_line(failure, dsn) == 'password "***" refused for "postgres"'


@pytest.mark.parametrize(
    ("dsn", "said"),
    [
        (
            "host=127.0.0.1 password='hunter2 \\' x' nosuch=1",
            'host=127.0.0.1 password=*** nosuch=1: invalid connection option "nosuch"',
        ),
        (
            "host=127.0.0.1 password=hunter2 x dbname=test",
            'host=127.0.0.1 password=*** dbname=test: missing "=" after "***" in connection '
            "info string",
        ),
    ],
    ids=["quoted", "unquoted"],
)
def test_a_conninfo_password_with_blanks_is_hidden_from_the_parse_error(
    dsn: str, said: str
) -> None:
    with pytest.raises(BadInputError) as caught:
        describe(dsn)
    assert str(caught.value) == f"not a PostgreSQL DSN: {said}"
    assert "hunter2" not in str(caught.value) and " x " not in str(caught.value)


def test_a_conninfo_password_with_blanks_is_hidden_from_a_connection_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    port = closed_port()
    dsn = f"host=127.0.0.1 port={port} user=postgres dbname=test password='e \\' x'"
    with pytest.raises(SourceConnectError) as caught:
        connect(dsn)
    assert str(caught.value) == (
        f"postgresql://postgres@127.0.0.1:{port}/test: cannot connect: connection failed: "
        f'connection to server at "127.0.0.1", port {port} failed: Connection refused'
    )
    # libpq would quote it as read: "e ' x"
    quoted = RuntimeError('FATAL:  password "e \' x" refused')
    assert one_line(quoted, dsn) == 'password "***" refused'
