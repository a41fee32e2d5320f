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
from urllib.parse import unquote

import psycopg
from psycopg import conninfo
from psycopg.abc import Buffer
from psycopg.adapt import Loader

from dvlab.errors import BadInputError, SourceConnectError

SCHEMES = ("postgresql://", "postgres://")

#: how long a connection attempt may take, unless the DSN or PGCONNECT_TIMEOUT says
CONNECT_TIMEOUT = 10


def is_dsn(text: str) -> bool:
    """Whether ``text`` names a PostgreSQL server rather than a file."""
    return text.startswith(SCHEMES)


def _parts(dsn: str) -> dict[str, Any]:
    try:
        parts = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise BadInputError(
            f"not a PostgreSQL DSN: {redact(dsn)}: {_parse_reason(exc, dsn)}"
        ) from None
    written = _written_password(dsn)
    if written is not None and unquote(written) != str(parts.get("password") or ""):
        # libpq ends the user information at the first / and the host at the first @:
        # it would take a piece of the password for the host, port or database
        raise BadInputError(
            f"not a PostgreSQL DSN as written: {redact(dsn)}: the password holds a "
            "character a URL must percent-encode (@ as %40, / as %2F, ? as %3F, # as %23)"
        )
    return parts


def _written_password(dsn: str) -> str | None:
    """The password of a URL DSN as it stands, from the : after the user to the last @
    before the host (or a ``?password=``): None when it has none there."""
    if not _SCHEME.match(dsn):
        return None
    start = dsn.index("://") + 3
    query = _URL_PASSWORD.search(dsn, start)
    at = dsn.rfind("@", start, query.start() if query else len(dsn))
    colon = dsn.find(":", start, at) if at > start else -1
    return dsn[colon + 1 : at] if colon >= 0 else None


#: a URL scheme
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
#: a URL in running text, up to the next blank
_URL = re.compile(_SCHEME.pattern + r"\S*")
#: a password given in a URL's query
_URL_PASSWORD = re.compile(r"(?<=[?&])(?:ssl)?password=([^&]*)", re.IGNORECASE)
#: a password given in a conninfo string: quoted (with \\ escapes), or up to the next
#: blank together with any words after it that are no ``key=value`` (``password=a b``:
#: libpq cannot parse that, but the ``b`` is the password's as much as the ``a``)
_CONNINFO_PASSWORD = re.compile(
    r"(?<![\w])(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'?|\S*(?:[^\S\n]+[^\s=']+(?=\s|$))*)",
    re.IGNORECASE,
)
#: a token a message quotes: in double quotes (libpq), or in single quotes (psycopg's
#: ``failed to resolve host 'x'``) that are not an apostrophe
_QUOTED = re.compile(r""""([^"\n]*)"|(?<!\w)'([^'\n]*)'(?!\w)""")


def _one_url(text: str) -> bool:
    """Whether ``text`` is taken for one URL as a whole (a DSN as given, which may hold
    blanks where libpq refuses them) rather than running text: it starts with a URL and
    holds no other, on one line."""
    return bool(_SCHEME.match(text)) and len(_SCHEME.findall(text)) == 1 and "\n" not in text


def _secret_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds a password: in a URL's user information or query, or given as
    ``password=`` in a conninfo string. Found by the shape of the text alone, so that it
    holds for a DSN that libpq cannot parse as well."""
    urls = [(0, len(text))] if _one_url(text) else [m.span() for m in _URL.finditer(text)]
    spans = []
    end = 0
    for url_start, url_end in urls:
        spans += [m.span(1) for m in _CONNINFO_PASSWORD.finditer(text, end, url_start)]
        in_query = [m.span(1) for m in _URL_PASSWORD.finditer(text, url_start, url_end)]
        spans += in_query
        # the user information ends at the last @ (before a password in the query): a
        # password may hold an @, a /, a ? or a blank that was not percent-encoded, so this
        # may take in more than the password, never less
        start = text.index("://", url_start) + 3
        at = text.rfind("@", start, min([a for a, _ in in_query], default=url_end))
        if at > start:
            colon = text.find(":", start, at)
            if colon >= 0:
                spans.append((colon + 1, at))
            elif not text.startswith(SCHEMES, url_start):
                # nats://TOKEN@host: a user part alone is a token
                spans.append((start, at))
        end = url_end
    spans += [m.span(1) for m in _CONNINFO_PASSWORD.finditer(text, end)]
    return sorted((a, b) for a, b in spans if b > a)


def redact(text: str) -> str:
    """``text`` with every password in it replaced by ``***``: a URL's
    (``scheme://user:password@host``, or ``?password=``; for a scheme other than
    PostgreSQL's a user part alone, ``nats://TOKEN@host``, is taken for a token) and a
    conninfo string's (``password=...``). The password is found by where it stands, never
    by its text, and the rest is left as written, so that a name given on the command line
    can be shown back. In running text a URL ends at a blank; a text that starts with a
    URL and holds no other is taken for a DSN as given, all of it one URL, so a password
    holding a blank is hidden too::

        >>> redact("postgresql://bob:pw@db1/ctl?table=t is not in the lab's ledger")
        "postgresql://bob:***@db1/ctl?table=t is not in the lab's ledger"
        >>> redact("nats://s3cr3t@nats1:4222")
        'nats://***@nats1:4222'
        >>> redact("host=db1 password='a b' user=bob")
        'host=db1 password=*** user=bob'
        >>> redact("postgresql://bob:a b@c@db1/ctl")
        'postgresql://bob:***@db1/ctl'
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


def _in_secret(piece: str, dsn: str) -> bool:
    """Whether ``piece`` stands in ``dsn`` (anywhere it does) where a password stands."""
    spans = _secret_spans(dsn)
    return bool(piece) and any(
        p < stop and start < p + len(piece)
        for p in (m.start() for m in re.finditer(re.escape(piece), dsn))
        for start, stop in spans
    )


def _misread(dsn: str, parts: dict[str, Any]) -> bool:
    """Whether libpq reads the password of a URL DSN other than where it stands: a / in
    it ends the host part early (``u:a/b@db1``: no password, host ``u``, port ``a``), an
    @ in it leaves the rest of it in the host (``u:a@b@db1``: host ``b@db1``)."""
    if not _SCHEME.match(dsn):
        return False
    hosts = str(parts.get("host") or "").split(",")
    return any("@" in h for h in hosts) or bool(_secret_spans(dsn) and not parts.get("password"))


def _hide_quoted(message: str, dsn: str, *, echoes_dsn: bool = False) -> str:
    """``message`` with each token it quotes replaced by ``***`` when it holds a password
    of ``dsn`` (as written or percent-decoded), or when libpq misread the DSN and the token
    is a piece of it from where its password stands (``failed to resolve host 'b@db1'``
    for ``u:a@b@db1``). Nothing else in the message is touched, so a short password
    leaves its words as they were. ``echoes_dsn`` is for a message about ``dsn`` itself
    (libpq's parse errors quote pieces of it, ``missing "=" after "b"`` for
    ``password=a b``): a token is then hidden when it stands in the DSN where the password
    does, and one of two characters or more also when it is not found in the DSN as
    written."""
    secrets = _secrets(dsn)
    try:
        misread = echoes_dsn or _misread(dsn, conninfo.conninfo_to_dict(dsn))
    except psycopg.ProgrammingError:
        misread = True

    def hidden(match: re.Match[str]) -> str:
        token = match.group(1) if match.group(1) is not None else match.group(2)
        quote = match.group()[0]
        if any(s in t for s in secrets for t in (token, unquote(token))):
            return f"{quote}***{quote}"
        if (misread and _in_secret(token, dsn)) or (
            # not as written: percent-decoded, say; a character it expected, such as "=",
            # is no piece of the password
            echoes_dsn and len(token) >= 2 and token not in dsn
        ):
            return f"{quote}***{quote}"
        return match.group()

    return _QUOTED.sub(hidden, message)


def _parse_reason(exc: BaseException, dsn: str) -> str:
    """What libpq said about a DSN it could not parse, without the parts of the DSN it
    quotes when they may hold the password (its ``invalid percent-encoded token: "..."``
    and ``unexpected spaces found in "..."`` quote the password itself)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    reason = lines[0] if lines else "libpq cannot parse it"
    reason = _scrub(_hide_quoted(reason, dsn, echoes_dsn=True), dsn)
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
    # where libpq misreads the password (postgresql://u:a/b@db1 or u:a@b@db1), what it
    # takes for the user, host, port or database may be a piece of it
    misread = _misread(dsn, parts)

    def shown(value: str) -> str:
        return "***" if misread and _in_secret(value, dsn) else value

    places = []
    for i, host in enumerate(hosts):
        port = ports[i] if i < len(ports) else ports[-1]
        host = shown(host)
        if not host or host.startswith("/"):
            host = "[local]"
        elif ":" in host:
            host = f"[{host}]"
        places.append(f"{host}:{shown(port)}")
    return f"postgresql://{shown(user)}@{','.join(places)}/{shown(dbname)}"


def _secrets(dsn: str) -> list[str]:
    """Every text that may be the password of ``dsn``: as libpq reads it, as
    ``PGPASSWORD`` gives it, and what stands where a password stands in the DSN (as
    written, percent-decoded, and unquoted), for a DSN libpq cannot parse."""
    try:
        parts = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        parts = {}
    found = [str(parts.get("password") or ""), os.environ.get("PGPASSWORD", "")]
    for start, stop in _secret_spans(dsn):
        written = dsn[start:stop]
        found += [written, unquote(written)]
        if written.startswith("'"):
            found.append(re.sub(r"\\(.)", r"\1", written[1:].removesuffix("'")))
    return [s for s in dict.fromkeys(found) if s]


def _scrub(message: str, dsn: str) -> str:
    """``message`` without a password of ``dsn``: the tokens it quotes that hold one, and
    any URL or conninfo string in it masked where its password stands."""
    message = _hide_quoted(message, dsn)
    # the DSN itself, whoever wrote it into the message
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
        conn = psycopg.connect(dsn, autocommit=autocommit, **kwargs)
    except psycopg.Error as exc:
        raise SourceConnectError(
            f"{describe(dsn)}: cannot connect: {one_line(exc, dsn)}"
        ) from None
    if conn.info.encoding == "ascii":
        # a SQL_ASCII database's text comes as bytes in no known encoding (psycopg gives
        # them as bytes): read as UTF-8, each other byte as \xHH, as rows are mended
        for name in _TEXT_TYPES:
            conn.adapters.register_loader(name, _TextOrHex)
    return conn


#: the types whose values psycopg would give a SQL_ASCII database's caller as bytes, by
#: oid: text, varchar, bpchar, name, "char", unknown, and 0 for types psycopg does not know
_TEXT_TYPES = (25, 1043, 1042, 19, 18, 705, 0)


class _TextOrHex(Loader):
    """Text as UTF-8, what is not UTF-8 in it as ``\\xHH``."""

    def load(self, data: Buffer) -> str:
        return bytes(data).decode("utf-8", "backslashreplace")


def error(exc: BaseException, dsn: str, what: str) -> SourceConnectError:
    """A psycopg failure during ``what``, as the one-line error dvlab shows."""
    return SourceConnectError(f"{describe(dsn)}: {what}: {one_line(exc, dsn)}")
