"""Looking the text parsers up by name."""

from __future__ import annotations

import pytest

from dvlab.errors import BadInputError
from dvlab.sources.logfmt import LogfmtParser
from dvlab.sources.oslo import OsloParser
from dvlab.sources.pattern import PatternParser
from dvlab.sources.syslog import SyslogParser
from dvlab.sources.textformats import TEXT_FORMATS, get_parser


def test_names() -> None:
    assert TEXT_FORMATS == ("logfmt", "oslo", "syslog", "pattern")
    assert isinstance(get_parser("logfmt"), LogfmtParser)
    assert isinstance(get_parser("oslo"), OsloParser)
    assert isinstance(get_parser("syslog"), SyslogParser)
    parser = get_parser("pattern", pattern=r"(?P<ts>\S+) (?P<msg>.*)")
    assert isinstance(parser, PatternParser)
    for name in TEXT_FORMATS:
        parser = get_parser(name, pattern=r"(?P<ts>\S+)")
        assert parser.name == name


def test_unknown_name() -> None:
    with pytest.raises(BadInputError) as info:
        get_parser("json")
    assert str(info.value) == (
        "unknown text format 'json'; expected one of logfmt, oslo, syslog, pattern"
    )


def test_pattern_needs_an_expression() -> None:
    with pytest.raises(BadInputError, match="needs a regular expression: pass --pattern"):
        get_parser("pattern")
