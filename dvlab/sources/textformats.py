"""The text formats by name, for ``--format`` and for detection."""

from __future__ import annotations

from dvlab.errors import BadInputError
from dvlab.sources.logfmt import LogfmtParser
from dvlab.sources.oslo import OsloParser
from dvlab.sources.pattern import PatternParser
from dvlab.sources.records import LineParser
from dvlab.sources.syslog import SyslogParser

TEXT_FORMATS: tuple[str, ...] = ("logfmt", "oslo", "syslog", "pattern")


def get_parser(name: str, *, pattern: str | None = None) -> LineParser:
    """The parser for the text format ``name``.

    For "pattern", a given ``pattern`` is checked now; without one the parser
    takes ``ParseOptions.pattern`` when parsing starts (and checks it then).
    Raises BadInputError for an unknown name, listing the known ones.
    """
    if name == "logfmt":
        return LogfmtParser()
    if name == "oslo":
        return OsloParser()
    if name == "syslog":
        return SyslogParser()
    if name == "pattern":
        return PatternParser(pattern)
    raise BadInputError(f"unknown text format {name!r}; expected one of {', '.join(TEXT_FORMATS)}")
