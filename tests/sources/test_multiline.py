"""The continuation rule and the joining loop every text parser shares."""

from __future__ import annotations

import pytest

from dvlab.sources import multiline
from dvlab.sources.multiline import assemble, is_continuation
from dvlab.sources.records import RawRecord, Reject, empty_record


@pytest.mark.parametrize(
    "text",
    [
        '  File "app.py", line 3, in <module>',
        "\tat com.example.Main.run(Main.java:12)",
        "Traceback (most recent call last):",
        "During handling of the above exception, another exception occurred:",
        "The above exception was the direct cause of the following exception:",
        "Caused by: java.io.IOException: closed",
        "... 12 more",
        'Exception in thread "main" java.lang.RuntimeException: x',
        "ValueError: boom",
        "java.lang.IllegalStateException: x",
        "KeyboardInterrupt",
        "SystemExit: 2",
        "pkg.Outer$InnerError",
    ],
)
def test_continuation_lines(text: str) -> None:
    assert is_continuation(text)


@pytest.mark.parametrize(
    "text",
    [
        "Error connecting to the database",
        "Exceptional circumstances",
        "2024-01-01 12:00:00 ERROR boom",
        "level=error msg=boom",
        "ValueErrors are common",
        "... more",
    ],
)
def test_lines_that_are_not_continuations(text: str) -> None:
    assert not is_continuation(text)


def _start(number: int, text: str) -> RawRecord | str:
    """Lines that begin with '>' start a record; its message is the rest."""
    if not text.startswith(">"):
        return "not a test line: expected '>message'"
    record = empty_record(number)
    record["message"] = text[1:]
    return record


def test_assemble_joins_and_rejects_in_line_order() -> None:
    lines = [
        (1, "  orphan indented line"),
        (2, ">first"),
        (3, "Traceback (most recent call last):"),
        (4, '  File "x.py", line 1'),
        (5, "ValueError: boom"),
        (7, "garbage"),
        (8, "\tat after.the.garbage(X.java:1)"),
        (9, ">second"),
    ]
    out = list(assemble(lines, _start, format_name="test"))

    assert [type(item).__name__ for item in out] == ["Reject", "dict", "Reject", "dict"]
    orphan, first, garbage, second = out
    assert isinstance(orphan, Reject) and orphan.line == 1
    assert "no test record before it" in orphan.reason
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["line"] == 2 and first["end_line"] == 5
    assert first["message"] == (
        'first\nTraceback (most recent call last):\n  File "x.py", line 1\nValueError: boom'
    )
    # the stack frame under a line that starts no record is part of that one reject
    assert garbage == Reject(7, "not a test line: expected '>message'", "garbage", end_line=8)
    assert second["line"] == 9 and second["end_line"] == 9 and second["message"] == "second"


def test_an_indented_line_never_starts_a_record() -> None:
    (record,) = assemble([(1, ">a"), (2, " >b")], _start, format_name="test")
    assert isinstance(record, dict)
    assert record["message"] == "a\n >b" and record["end_line"] == 2


def test_continuations_of_a_record_without_message() -> None:
    def start(number: int, text: str) -> RawRecord | str:
        return empty_record(number) if text == "start" else "no"

    (record,) = assemble([(1, "start"), (2, "  detail")], start, format_name="test")
    assert isinstance(record, dict) and record["message"] == "  detail"


def test_a_record_takes_at_most_the_continuation_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(multiline, "MAX_CONTINUATION_LINES", 2)
    lines = [(1, ">a"), (2, " b"), (3, " c"), (4, " d"), (5, " e"), (6, ">f")]
    out = list(assemble(lines, _start, format_name="test"))

    record, over_d, over_e, last = out
    assert isinstance(record, dict) and record["message"] == "a\n b\n c"
    assert record["end_line"] == 3
    assert isinstance(over_d, Reject) and over_d.line == 4
    assert isinstance(over_e, Reject) and over_e.line == 5
    assert (
        "record starts at line 1" in over_d.reason and "record starts at line 1" in over_e.reason
    )
    assert isinstance(last, dict) and last["line"] == 6


def test_a_rejected_line_takes_its_continuation_lines() -> None:
    """A line the format does not read, and the stack trace under it, are one reject: each
    frame had been a reject of its own, "with no record before it to continue"."""
    lines = [
        (1, ">first"),
        (2, "garbage"),
        (3, "  at frame3"),
        (4, "Caused by: x"),
        (5, "more garbage"),
        (6, "  at frame6"),
        (7, ">second"),
        (8, "tail garbage"),
        (9, "\tat frame9"),
    ]
    out = list(assemble(lines, _start, format_name="test"))

    reason = "not a test line: expected '>message'"
    assert out[1:3] == [
        Reject(2, reason, "garbage", end_line=4),
        Reject(5, reason, "more garbage", end_line=6),
    ]
    assert [item["line"] for item in (out[0], out[3]) if isinstance(item, dict)] == [1, 7]
    assert out[4] == Reject(8, reason, "tail garbage", end_line=9)
    assert len(out) == 5


def test_a_rejected_line_takes_no_more_continuations_than_a_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(multiline, "MAX_CONTINUATION_LINES", 2)
    lines = [(1, "garbage"), (2, " a"), (3, " b"), (4, " c")]
    out = list(assemble(lines, _start, format_name="test"))

    assert out[0] == Reject(1, "not a test line: expected '>message'", "garbage", end_line=3)
    assert isinstance(out[1], Reject) and out[1].line == 4
    assert "beyond the 2 that one test record may take (the record starts at line 1)" in (
        out[1].reason
    )


def test_continuation_lines_with_no_record_above_are_one_reject() -> None:
    """A file rotated in the middle of a stack trace starts with its frames: one reject each,
    they had been."""
    lines = [(1, "  at a(A.java:1)"), (2, "  at b(B.java:2)"), (3, ">first")]
    out = list(assemble(lines, _start, format_name="test"))

    assert isinstance(out[0], Reject) and (out[0].line, out[0].end_line) == (1, 2)
    assert "no test record before it" in out[0].reason
    assert isinstance(out[1], dict) and out[1]["line"] == 3
    assert len(out) == 2
