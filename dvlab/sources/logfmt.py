"""logfmt: one record per line of ``key=value`` pairs.

``level=warn msg="disk \\"sda\\" slow" took=1.5s retry`` gives level ``warn``,
message ``disk "sda" slow`` and attributes ``{"took": "1.5s", "retry": true}``.
Keys map to columns through :mod:`dvlab.sources.fields`; the rest stay in
``attributes``. Times in shapes the lab does not read go through
:func:`dvlab.sources.timetext.iso_time`. Values stay text (``"007"`` must
not become 7); a key without ``=`` is a flag and becomes ``true``; ``key=``
is the empty string; a key given twice keeps its last value.

A line starts a record when it splits cleanly into pairs, its first token is
a ``key=value`` pair and flags are not the majority; this keeps prose and
other formats (syslog, oslo.log lines, whose first token is a bare word) out.
Quoted values take the escapes ``\\" \\\\ \\n \\t \\r \\/ \\b \\f \\uXXXX``; any
other backslash is kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from dvlab.errors import BadInputError
from dvlab.sources.fields import map_keys
from dvlab.sources.multiline import assemble
from dvlab.sources.records import ParseOptions, RawRecord, Reject, empty_record
from dvlab.sources.timetext import YearGuess, iso_time

# a key, then "=" and a quoted or bare value (or nothing: a flag), then a space or the end
_PAIR_TEXT = r'\s*([^\s="]+)(=("(?:[^"\\]|\\.)*"|[^\s"]\S*|))?(?=\s|$)'
_PAIR = re.compile(_PAIR_TEXT, re.DOTALL)
_WELL_FORMED = re.compile(f"(?:{_PAIR_TEXT})*\\s*", re.DOTALL)
_UNESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}

EXPECTED = "expected key=value pairs such as 'level=info msg=\"started\"'"

Pair = tuple[str, "str | bool"]


class LogfmtParser:
    """The ``logfmt`` format (see the module docstring)."""

    name = "logfmt"

    def parse(
        self, lines: Iterable[tuple[int, str]], options: ParseOptions
    ) -> Iterator[RawRecord | Reject]:
        # with --time-format, a time is kept as written for it to read
        years = None if options.time_format is not None else YearGuess.from_options(options)

        def start(number: int, text: str) -> RawRecord | str:
            record = _start(number, text)
            if not isinstance(record, str) and record["ts_raw"] is not None and years is not None:
                record["ts_raw"] = iso_time(record["ts_raw"], years=years)
            return record

        return assemble(lines, start, format_name=self.name)

    def looks_like(self, sample: list[str]) -> float:
        texts = [text for text in sample if text.strip()]
        if not texts:
            return 0.0
        starts = sum(
            1 for text in texts if not text[:1].isspace() and _pairs_or_reason(text)[1] is None
        )
        return starts / len(texts)


def parse_pairs(text: str) -> dict[str, str | bool]:
    """The pairs of one logfmt line, in order; BadInputError says what is malformed."""
    pairs, problem = _split(text)
    if problem is not None:
        raise BadInputError(f"not logfmt: {problem}; {EXPECTED}")
    return dict(pairs)


def _start(number: int, text: str) -> RawRecord | str:
    pairs, reason = _pairs_or_reason(text)
    if reason is not None:
        return reason
    columns, attributes = map_keys(dict(pairs))
    record = empty_record(number)
    record.update(columns)
    record["attributes"] = attributes
    return record


def _pairs_or_reason(text: str) -> tuple[list[Pair], str | None]:
    """The line's pairs when it starts a logfmt record, else why it does not."""
    pairs, problem = _split(text)
    if problem is not None:
        return pairs, f"not a logfmt line: {problem}; {EXPECTED}"
    if not pairs or pairs[0][1] is True:
        first = pairs[0][0] if pairs else ""
        return pairs, f"not a logfmt line: it starts with the bare word {first!r}; {EXPECTED}"
    flags = sum(1 for _, value in pairs if value is True)
    if flags * 2 > len(pairs):
        return pairs, (
            f"not a logfmt line: {flags} of its {len(pairs)} words have no '=' "
            f"(it reads as prose); {EXPECTED}"
        )
    return pairs, None


def _split(text: str) -> tuple[list[Pair], str | None]:
    """Tokenise a line into (key, value) pairs; the second item says what went wrong.

    One regular expression reads well-formed lines; a line it stops on is read
    again character by character, to say what is wrong and where.
    """
    if _WELL_FORMED.fullmatch(text) is None:
        return _split_slowly(text)
    pairs: list[Pair] = []
    for key, equals, value in _PAIR.findall(text):
        if not equals:
            pairs.append((key, True))
        elif value.startswith('"'):
            inner = value[1:-1]
            pairs.append((key, _UNESCAPE.sub(_unescape, inner) if "\\" in inner else inner))
        else:
            pairs.append((key, value))
    return pairs, None


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if len(code) == 5:
        return chr(int(code[1:], 16))
    return _ESCAPES.get(code, "\\" + code)


def _split_slowly(text: str) -> tuple[list[Pair], str | None]:
    """:func:`_split` one character at a time, saying where a malformed line goes wrong."""
    pairs: list[Pair] = []
    i, end = 0, len(text)
    while True:
        while i < end and text[i].isspace():
            i += 1
        if i >= end:
            return pairs, None
        start = i
        while i < end and not text[i].isspace() and text[i] not in '="':
            i += 1
        key = text[start:i]
        if not key:
            return pairs, f"a {text[i]!r} where a key should start, at column {i + 1}"
        if i >= end or text[i].isspace():
            pairs.append((key, True))
            continue
        if text[i] == '"':
            return pairs, f"a quote inside the key {key!r}, at column {i + 1}"
        i += 1  # the '='
        if i < end and text[i] == '"':
            value, i, problem = _quoted(text, i)
            if problem is not None:
                return pairs, f"{problem} (the value of {key!r})"
            if i < end and not text[i].isspace():
                return pairs, f"text right after the closing quote of {key!r}, at column {i + 1}"
        else:
            start = i
            while i < end and not text[i].isspace():
                i += 1
            value = text[start:i]
        pairs.append((key, value))


def _quoted(text: str, i: int) -> tuple[str, int, str | None]:
    """The quoted value opening at ``text[i]``, the index after it, and any problem."""
    opened = i
    out: list[str] = []
    i += 1
    end = len(text)
    while i < end:
        char = text[i]
        if char == '"':
            return "".join(out), i + 1, None
        if char == "\\" and i + 1 < end:
            code = text[i + 1]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
                i += 2
                continue
            hex_digits = text[i + 2 : i + 6]
            if code == "u" and len(hex_digits) == 4 and _is_hex(hex_digits):
                out.append(chr(int(hex_digits, 16)))
                i += 6
                continue
        out.append(char)
        i += 1
    return "".join(out), i, f"a quote opened at column {opened + 1} is never closed"


def _is_hex(text: str) -> bool:
    return all(char in "0123456789abcdefABCDEF" for char in text)
