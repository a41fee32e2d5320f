"""The PostgreSQL server the live tests talk to, and scratch objects of their own on it.

``DVLAB_TEST_PG_DSN`` names the server (default ``postgresql://127.0.0.1:5432/test``).
Outside CI a server that does not answer skips these tests, saying why; with
``CI`` set it fails them, so a green CI run always talked to a real server.
Every object a test creates has a unique ``dvlab_t_`` name and is dropped
when the test ends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from dvlab.live import pgconn
from tests.conftest import unavailable
from tests.live.natsfix import nats_url, own_server, stream  # noqa: F401 - NATS fixtures

DEFAULT_DSN = "postgresql://127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    dsn = os.environ.get("DVLAB_TEST_PG_DSN") or DEFAULT_DSN
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1").fetchall()
    except psycopg.Error as exc:
        unavailable(
            f"no PostgreSQL server answers at {pgconn.describe(dsn)} "
            f"({pgconn.one_line(exc, dsn)}); set DVLAB_TEST_PG_DSN"
        )
    return dsn


@pytest.fixture
def pg(pg_dsn: str) -> Iterator[psycopg.Connection]:
    """A connection of the test's own, in autocommit mode."""
    with psycopg.connect(pg_dsn, autocommit=True, application_name="dvlab tests") as conn:
        yield conn


def unique_name() -> str:
    return f"dvlab_t_{uuid.uuid4().hex}"


@pytest.fixture
def scratch_schema(pg: psycopg.Connection) -> Iterator[str]:
    """A schema of the test's own, dropped with all it holds when the test ends."""
    name = unique_name()
    pg.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
