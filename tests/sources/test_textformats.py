"""Looking the text parsers up by name."""

from __future__ import annotations

import pytest

from dvlab.errors import BadInputError
from dvlab.sources.logfmt import LogfmtParser
from dvlab.sources.oslo import OsloParser
from dvlab.sources.pattern import PatternParser
from dvlab.sources.records import ParseOptions
from dvlab.sources.syslog import SyslogParser
from dvlab.sources.textformats import TEXT_FORMATS, get_parser

PATTERN = r"(?P<ts>\S+) (?P<msg>.*)"


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


def test_pattern_is_checked_when_given() -> None:
    with pytest.raises(BadInputError, match="has no group for the time"):
        get_parser("pattern", pattern=r"(?P<msg>.*)")


def test_pattern_from_the_options_is_checked_when_parsing_starts() -> None:
    parser = get_parser("pattern")
    with pytest.raises(BadInputError, match="needs a regular expression: pass --pattern"):
        parser.parse([(1, "x")], ParseOptions())
    with pytest.raises(BadInputError, match="is not a valid regular expression"):
        parser.parse([(1, "x")], ParseOptions(pattern="(?P<ts>"))
    out = list(parser.parse([(1, "2024-01-01T00:00:00Z hi")], ParseOptions(pattern=PATTERN)))
    assert [(r["ts_raw"], r["message"]) for r in out if isinstance(r, dict)] == [
        ("2024-01-01T00:00:00Z", "hi")
    ]
