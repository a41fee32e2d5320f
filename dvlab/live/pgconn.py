"""Connecting to PostgreSQL by a DSN, and naming it without its password.

A DSN is a ``postgresql://`` (or ``postgres://``) URL or a ``key=value``
conninfo string. What it leaves out, libpq takes from the ``PG*`` variables
and ``~/.pgpass``, so ``postgresql://`` alone means "the usual server".
Nothing dvlab prints, logs or stores about a connection carries its
password: :func:`describe` is the only name a connection goes by, and every
error is cut to one line with the password scrubbed from it. Text given on the
command line that is shown back as written (a DSN libpq cannot parse, a source
name ``dvlab forget`` does not know) goes through :func:`redact` first.
"""

from __future__ import annotations

import getpass
import os
import re
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
        raise BadInputError(
            f"not a PostgreSQL DSN: {redact(dsn)}: {_parse_reason(exc, dsn)}"
        ) from None


#: a URL, up to the next blank
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")
#: a password given in a URL's query
_URL_PASSWORD = re.compile(r"(?<=[?&])(?:ssl)?password=([^&#]*)", re.IGNORECASE)
#: a password given in a conninfo string: quoted (with \\ escapes) or up to the next blank
_CONNINFO_PASSWORD = re.compile(
    r"(?<![\w])(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'?|\S*)", re.IGNORECASE
)


def _secret_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds a password: in a URL's user information or query, or given as
    ``password=`` in a conninfo string."""
    spans = []
    end = 0
    for url in _URL.finditer(text):
        spans += [m.span(1) for m in _CONNINFO_PASSWORD.finditer(text, end, url.start())]
        in_query = [m.span(1) for m in _URL_PASSWORD.finditer(text, url.start(), url.end())]
        spans += in_query
        # the user information ends at the last @ (before a password in the query): a
        # password may hold an @, a / or a ? that was not percent-encoded, so this may take
        # in more than the password, never less
        start = url.start() + url.group().index("://") + 3
        at = text.rfind("@", start, min([a for a, _ in in_query], default=url.end()))
        if at > start:
            colon = text.find(":", start, at)
            if colon >= 0:
                spans.append((colon + 1, at))
            elif not text.startswith(SCHEMES, url.start()):
                # nats://TOKEN@host: a user part alone is a token
                spans.append((start, at))
        end = url.end()
    spans += [m.span(1) for m in _CONNINFO_PASSWORD.finditer(text, end)]
    return sorted((a, b) for a, b in spans if b > a)


def redact(text: str) -> str:
    """``text`` with every password in it replaced by ``***``: a URL's
    (``scheme://user:password@host``, or ``?password=``; for a scheme other than
    PostgreSQL's a user part alone, ``nats://TOKEN@host``, is taken for a token) and a
    conninfo string's (``password=...``). The rest is left as written, so that a name given
    on the command line can be shown back::

        >>> redact("postgresql://bob:pw@db1/ctl?table=t is not in the lab's ledger")
        "postgresql://bob:***@db1/ctl?table=t is not in the lab's ledger"
        >>> redact("nats://s3cr3t@nats1:4222")
        'nats://***@nats1:4222'
        >>> redact("host=db1 password='a b' user=bob")
        'host=db1 password=*** user=bob'
    """
    shown, end = [], 0
    for start, stop in _secret_spans(text):
        if start < end:  # overlaps the one before: hide up to the end of both
            end = max(end, stop)
            continue
        shown += [text[end:start], "***"]
        end = stop
    shown.append(text[end:])
    return "".join(shown)


def _parse_reason(exc: BaseException, dsn: str) -> str:
    """What libpq said about a DSN it could not parse, without the parts of the DSN it
    quotes when they may hold the password (its ``invalid percent-encoded token: "..."``
    quotes the password itself)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    reason = lines[0] if lines else "libpq cannot parse it"
    spans = _secret_spans(dsn)

    def hidden(match: re.Match[str]) -> str:
        quoted = match.group(1)
        if len(quoted) < 2:  # a character it expected or found, such as "="
            return match.group()
        places = [m.start() for m in re.finditer(re.escape(quoted), dsn)]
        if not places or any(
            p < stop and start < p + len(quoted) for p in places for start, stop in spans
        ):
            return '"***"'
        return match.group()

    reason = _scrub(re.sub(r'"([^"]*)"', hidden, reason), dsn)
    if "invalid percent-encoded" in reason:
        reason += " (a % in a DSN starts a %XX escape: write % itself as %25)"
    return reason


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
    return redact(message)


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
