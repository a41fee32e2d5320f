"""How a PostgreSQL DSN is named: never with its password, with what libpq fills in."""

from __future__ import annotations

import pytest

from dvlab.live.pgconn import describe, one_line


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
