"""Connecting to PostgreSQL by a DSN, and naming it without its password.

A DSN is a ``postgresql://`` (or ``postgres://``) URL or a ``key=value``
conninfo string. What it leaves out, libpq takes from the ``PG*`` variables
and ``~/.pgpass``, so ``postgresql://`` alone means "the usual server".
Nothing dvlab prints, logs or stores about a connection carries its
password: :func:`describe` is the only name a connection goes by, and every
error is cut to one line with the password scrubbed from it.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

import psycopg
from psycopg import conninfo

from dvlab.errors import BadInputError, SourceConnectError

SCHEMES = ("postgresql://", "postgres://")

#: how long a connection attempt may take, unless the DSN or PGCONNECT_TIMEOUT says
CONNECT_TIMEOUT = 10


def is_dsn(text: str) -> bool:
    """Whether ``text`` names a PostgreSQL server rather than a file."""
    return text.startswith(SCHEMES)


def _parts(dsn: str) -> dict[str, Any]:
    try:
        return conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise BadInputError(f"not a PostgreSQL DSN: {_scrub(str(exc), dsn)}") from None


def describe(dsn: str) -> str:
    """``postgresql://user@host:port/dbname`` for ``dsn``, with what libpq would fill in
    from the environment, and never a password. Several hosts are listed with their
    ports; a Unix socket (libpq's default when no host is given) shows as ``[local]``,
    as psql names it."""
    parts = _parts(dsn)
    user = parts.get("user") or os.environ.get("PGUSER") or getpass.getuser()
    hosts = str(parts.get("host") or os.environ.get("PGHOST") or "").split(",")
    ports = str(parts.get("port") or os.environ.get("PGPORT") or "5432").split(",")
    dbname = parts.get("dbname") or os.environ.get("PGDATABASE") or user
    places = []
    for i, host in enumerate(hosts):
        port = ports[i] if i < len(ports) else ports[-1]
        if not host or host.startswith("/"):
            host = "[local]"
        elif ":" in host:
            host = f"[{host}]"
        places.append(f"{host}:{port}")
    return f"postgresql://{user}@{','.join(places)}/{dbname}"


def _secrets(dsn: str) -> list[str]:
    try:
        parts = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        parts = {}
    found = [str(parts["password"])] if parts.get("password") else []
    if os.environ.get("PGPASSWORD"):
        found.append(os.environ["PGPASSWORD"])
    return [s for s in found if s]


def _scrub(message: str, dsn: str) -> str:
    for secret in _secrets(dsn):
        message = message.replace(secret, "***")
    # a URL with a password in it, whoever wrote it into the message
    if dsn and dsn in message:
        message = message.replace(dsn, "<dsn>")
    return message


def one_line(exc: BaseException, dsn: str) -> str:
    """The first meaningful line of a psycopg error, its password scrubbed."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    for line in lines:
        # libpq puts the server's reason after "FATAL:"; that is the line worth showing
        if "FATAL:" in line:
            text = line.split("FATAL:", 1)[1].strip()
            break
    return _scrub(text, dsn)


def connect(dsn: str, *, purpose: str = "dvlab", autocommit: bool = False) -> psycopg.Connection:
    """Open a connection; a refused login, an unknown database or an unreachable host
    raises :class:`SourceConnectError` with one line saying which."""
    kwargs: dict[str, Any] = {"application_name": purpose}
    parts = _parts(dsn)
    if "connect_timeout" not in parts and not os.environ.get("PGCONNECT_TIMEOUT"):
        kwargs["connect_timeout"] = CONNECT_TIMEOUT
    try:
        return psycopg.connect(dsn, autocommit=autocommit, **kwargs)
    except psycopg.Error as exc:
        raise SourceConnectError(
            f"{describe(dsn)}: cannot connect: {one_line(exc, dsn)}"
        ) from None


def error(exc: BaseException, dsn: str, what: str) -> SourceConnectError:
    """A psycopg failure during ``what``, as the one-line error dvlab shows."""
    return SourceConnectError(f"{describe(dsn)}: {what}: {one_line(exc, dsn)}")
