"""logfmt: quoting, escapes, flags, field-name variants, rejects."""

from __future__ import annotations

import json
import random

import pytest

from dvlab.errors import BadInputError
from dvlab.sources.logfmt import LogfmtParser, parse_pairs

from .conftest import Run


def test_columns_and_attributes(run: Run) -> None:
    text = (
        'ts=2024-05-01T10:00:00Z level=warn msg="disk \\"sda\\" slow" service=api '
        "host=node-1 request_id=abc took=1.5s retry"
    )
    (record,), rejects = run(LogfmtParser(), text)

    assert rejects == []
    assert record["ts_raw"] == "2024-05-01T10:00:00Z"
    assert record["level_raw"] == "warn"
    assert record["message"] == 'disk "sda" slow'
    assert record["service"] == "api"
    assert record["host"] == "node-1"
    assert record["correlation_id"] == "abc"
    assert record["attributes"] == {"took": "1.5s", "retry": True}
    assert record["line"] == 1 and record["end_line"] == 1
    json.dumps(record["attributes"])  # must serialise


def test_variant_names(run: Run) -> None:
    text = "t=1714557600 lvl=eror message=hi app=billing hostname=h2 traceId=7f caller=x.go:12"
    (record,), _ = run(LogfmtParser(), text)
    assert (record["ts_raw"], record["level_raw"], record["message"]) == (
        "1714557600",
        "eror",
        "hi",
    )
    assert (record["service"], record["host"], record["trace_id"]) == ("billing", "h2", "7f")
    assert record["attributes"] == {"caller": "x.go:12"}


def test_first_variant_present_wins_and_the_other_stays(run: Run) -> None:
    (record,), _ = run(LogfmtParser(), "time=2024-01-01T00:00:00Z ts=99 msg=a")
    assert record["ts_raw"] == "2024-01-01T00:00:00Z"
    assert record["attributes"] == {"ts": "99"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('a="x y"', {"a": "x y"}),
        ('a="tab\\there"', {"a": "tab\there"}),
        ('a="line\\nbreak"', {"a": "line\nbreak"}),
        ('a="back\\\\slash"', {"a": "back\\slash"}),
        ('a="\\u00e9t\\u00e9"', {"a": "été"}),
        ('a="odd \\q escape"', {"a": "odd \\q escape"}),
        ('a=""', {"a": ""}),
        ("a= b=1", {"a": "", "b": "1"}),
        ("token=abc== next=1", {"token": "abc==", "next": "1"}),
        ("a=1 a=2", {"a": "2"}),
        ("a=1   flag   b=007", {"a": "1", "flag": True, "b": "007"}),
    ],
)
def test_parse_pairs(text: str, expected: dict[str, object]) -> None:
    assert parse_pairs(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('msg="never closed', "a quote opened at column 5 is never closed"),
        ('msg="x"y', "text right after the closing quote of 'msg', at column 8"),
        ("=value", "a '=' where a key should start, at column 1"),
        ('ke"y=1', "a quote inside the key 'ke', at column 3"),
    ],
)
def test_parse_pairs_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(BadInputError) as info:
        parse_pairs(text)
    assert problem in str(info.value)
    assert isinstance(info.value, ValueError)


def test_rejects_name_the_line_and_the_reason(run: Run) -> None:
    text = "\n".join(
        [
            "level=info msg=ok",
            "just some prose here",
            'level=info msg="unterminated',
            "a=1 b c d",
            "level=info msg=again",
        ]
    )
    records, rejects = run(LogfmtParser(), text)

    assert [r["line"] for r in records] == [1, 5]
    assert [r.line for r in rejects] == [2, 3, 4]
    assert rejects[0].reason.startswith("not a logfmt line: it starts with the bare word 'just'")
    assert "never closed" in rejects[1].reason
    assert "3 of its 4 words have no '='" in rejects[2].reason
    assert all("expected key=value pairs" in r.reason for r in rejects)
    assert rejects[1].raw == 'level=info msg="unterminated'


def test_python_traceback_joins_the_record(run: Run) -> None:
    text = "\n".join(
        [
            "level=error msg=failed",
            "Traceback (most recent call last):",
            '  File "worker.py", line 8, in run',
            "    result = compute(a=1)",
            "ZeroDivisionError: division by zero",
            "level=info msg=next",
        ]
    )
    (first, second), rejects = run(LogfmtParser(), text)
    assert rejects == []
    assert (first["line"], first["end_line"]) == (1, 5)
    assert first["message"].splitlines() == [
        "failed",
        "Traceback (most recent call last):",
        '  File "worker.py", line 8, in run',
        "    result = compute(a=1)",
        "ZeroDivisionError: division by zero",
    ]
    assert (second["line"], second["end_line"]) == (6, 6)


def test_times_in_other_shapes_are_rewritten(run: Run) -> None:
    (record,), _ = run(LogfmtParser(), 'time="10/Oct/2000:13:55:36 -0700" msg=x')
    assert record["ts_raw"] == "2000-10-10 13:55:36-07:00"


def test_looks_like() -> None:
    parser = LogfmtParser()
    assert parser.looks_like(["level=info msg=a", "", "level=info msg=b", "prose line"]) == 2 / 3
    assert parser.looks_like(["Jun 14 15:16:01 combo su: uid=0 euid=0"]) == 0.0
    assert parser.looks_like([]) == 0.0


def test_fast_and_careful_tokenisers_agree() -> None:
    """The regular-expression reader and the character-by-character one give the same pairs."""
    from dvlab.sources.logfmt import _split, _split_slowly

    pieces = ["a", "k", "=", '"', "\\", " ", "\t", "u", "0", "f", "n", "é", "\xa0", "\u2028"]
    chooser = random.Random(20240501)
    for _ in range(20_000):
        text = "".join(chooser.choice(pieces) for _ in range(chooser.randint(0, 12)))
        assert _split(text) == _split_slowly(text), text
