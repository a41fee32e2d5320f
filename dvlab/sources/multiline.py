"""Which lines continue the record above them, and the loop that joins them.

A stack trace or a wrapped message spans several lines, and only the first
carries the format's prefix. Each text parser says which lines *start* a
record; this module says which other lines *continue* one, and assembles
records from both, so every text format follows the same rule.

A line continues the record above it when it is indented (stack frames,
wrapped text) or opens with one of the phrases Python and the JVM write
inside a traceback: ``Traceback (most recent call last):``, ``During
handling of the above exception``, ``The above exception was the direct
cause``, ``Caused by:``, ``... 12 more``, ``Exception in thread "main" ...``,
or an exception name such as ``ValueError: boom`` or
``java.lang.IllegalStateException: x``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from dvlab.sources.records import RawRecord, Reject

#: The most continuation lines one record takes. Later ones become rejects,
#: so a file of indented text cannot grow a single record without bound.
MAX_CONTINUATION_LINES = 10_000

_CONTINUATION = re.compile(
    r"""
      [ \t]
    | Traceback\ \(most\ recent\ call\ last\):
    | During\ handling\ of\ the\ above\ exception
    | The\ above\ exception\ was\ the\ direct\ cause
    | Caused\ by:
    | \.\.\.\ \d+\ more\b
    | Exception\ in\ thread\x20
    | [A-Za-z_][\w.$]*(?:Error|Exception|Exit|Interrupt)\b
    """,
    re.VERBOSE,
)

StartLine = Callable[[int, str], "RawRecord | str"]
"""Turns a line into the record it starts, or returns why it does not start one."""


def is_continuation(text: str) -> bool:
    """True when ``text`` reads as a later line of a multi-line record."""
    return _CONTINUATION.match(text) is not None


def assemble(
    lines: Iterable[tuple[int, str]],
    start: StartLine,
    *,
    format_name: str,
    indented_may_start: bool = False,
) -> Iterator[RawRecord | Reject]:
    """Records (with their continuation lines joined) and rejects, in line order.

    ``start(number, text)`` returns the record a line starts, or the reason it
    does not start one (that reason becomes the reject's unless the line is a
    continuation). A continuation line never starts a record while there is one
    to continue; but with ``indented_may_start`` (a format whose lines may be
    indented, as a ``--pattern`` allowing leading blanks says), an indented line
    that starts a record does. Each record is held
    until the next record, reject or the end, so its message can grow; a
    reject also ends the record above it, keeping the output in line order.
    """
    held: RawRecord | None = None
    extra: list[str] = []
    # a line that starts no record and continues none: its own continuation lines (a stack
    # trace under a line the format does not read) join it, as one reject
    rejected: Reject | None = None
    overflowed: int | None = None  # first line of the record that took too many lines

    def release(record: RawRecord) -> RawRecord:
        if extra:
            head = record["message"]
            record["message"] = "\n".join(extra if head is None else [head, *extra])
        return record

    def taken(unit: RawRecord | Reject | None) -> int:
        """How many continuation lines ``unit`` holds."""
        if isinstance(unit, Reject):
            return (unit.end_line or unit.line) - unit.line
        return len(extra)

    for number, text in lines:
        reason = None
        indented = text[:1].isspace()
        unit = held if held is not None else rejected
        # a traceback's own lines continue the record above even when a loose pattern
        # would read them as records of their own (`Traceback (most` is no time)
        continues = (
            unit is not None and taken(unit) < MAX_CONTINUATION_LINES and is_continuation(text)
        )
        if indented_may_start if indented else not continues:
            started = start(number, text)
            if not isinstance(started, str):
                if held is not None:
                    yield release(held)
                if rejected is not None:
                    yield rejected
                started["end_line"] = number
                held, extra, rejected, overflowed = started, [], None, None
                continue
            reason = started
        if continues:
            if held is not None:
                extra.append(text)
                held["end_line"] = number
            else:
                assert rejected is not None
                rejected = replace(rejected, end_line=number)
            continue

        if is_continuation(text):
            if unit is not None:
                overflowed = unit.line if isinstance(unit, Reject) else unit["line"]
            if overflowed is not None:
                reason = (
                    f"continuation line beyond the {MAX_CONTINUATION_LINES:,} that one "
                    f"{format_name} record may take (the record starts at line {overflowed})"
                )
            else:
                reason = (
                    f"a continuation line (indented, or part of a stack trace) with no "
                    f"{format_name} record before it to continue"
                )
        else:
            overflowed = None

        if held is not None:
            yield release(held)
            held, extra = None, []
        if rejected is not None:
            yield rejected
            rejected = None
        if overflowed is not None and is_continuation(text):
            yield Reject(number, reason or f"not a {format_name} line", text)
        else:
            # the lines under it join it: a stack trace at the top of a file (rotated in its
            # middle) is one reject, as under a line the format does not read
            rejected = Reject(number, reason or f"not a {format_name} line", text)

    if held is not None:
        yield release(held)
    if rejected is not None:
        yield rejected
