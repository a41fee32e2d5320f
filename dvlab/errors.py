"""The few kinds of error dvlab raises.

Each subclasses the builtin a caller would naturally catch, carries the
offending value, and says what would have been accepted. ``cli.py`` maps the
kinds to exit codes; library code never prints or exits.
"""

from __future__ import annotations


class DvlabError(Exception):
    """Base of every error dvlab raises on purpose."""

    exit_code = 1


class BadInputError(DvlabError, ValueError):
    """Input that cannot be parsed: a line, a parameter, a query name.

    ``source`` and ``line`` say where, when the input is a file.
    """

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(where + message)
        self.source = source
        self.line = line


class SourceReadError(DvlabError, OSError):
    """A source that cannot be read at all (missing, unreadable, truncated, binary)."""

    exit_code = 2

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class LabLockedError(DvlabError, OSError):
    """Another process holds the lab's lock for longer than we were willing to wait."""

    exit_code = 3


class MissingTableError(DvlabError, LookupError):
    """A query names a table or view the lab does not have (yet)."""

    exit_code = 2


class QueryError(DvlabError, ValueError):
    """SQL that DuckDB rejected: a syntax error, a type error, a missing parameter."""

    exit_code = 2


class ReportError(DvlabError, RuntimeError):
    """A report notebook failed; the executed copy is still written.

    ``cell`` is the index of the failing code cell, ``notebook`` the path of
    the executed copy.
    """

    exit_code = 4

    def __init__(self, message: str, *, notebook: str | None = None, cell: int | None = None):
        super().__init__(message)
        self.notebook = notebook
        self.cell = cell


class MissingDependencyError(DvlabError, ImportError):
    """An optional package is not installed; the message names the install command."""

    exit_code = 2


class SourceConnectError(DvlabError, ConnectionError):
    """A live source (a PostgreSQL server, a NATS server) refused us, is unreachable, or
    lacks what was asked for (a stream, a table). The message never holds a password."""

    exit_code = 2
