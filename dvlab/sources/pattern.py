"""Any line format, described by a regular expression with named groups (``--pattern``).

``--pattern '(?P<ts>\\S+ \\S+) \\[(?P<level>\\w+)\\] (?P<msg>.*)'`` reads
``2019-08-15 07:28:00 [NOTICE] promoted``. Group names map to columns
through :mod:`dvlab.sources.fields` (``ts``, ``time``, ``timestamp``,
``level``, ``msg``, ``host``, ``request_id`` ...; a column's own name such
as ``ts_raw`` or ``message`` works too); every other group goes to
``attributes``. Groups named ``date`` and ``time`` together make one time,
``"<date> <time>"``. Times in shapes the lab does not read (Apache's
``10/Oct/2000:13:55:36 -0700``, syslog's ``Oct 10 13:55:36``) are rewritten
by :mod:`dvlab.sources.timetext`.

The expression is Python ``re`` syntax and must match from the start of a
line; text it leaves unmatched at the end is the message when there is no
message group. A line it does not match is a reject, unless it continues
the record above (see :mod:`dvlab.sources.multiline`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from dvlab.errors import BadInputError
from dvlab.sources.fields import KEY_TO_FIELD, VARIANTS, map_keys
from dvlab.sources.multiline import assemble
from dvlab.sources.records import RAW_FIELDS, ParseOptions, RawRecord, Reject, empty_record
from dvlab.sources.timetext import YearGuess, iso_time

#: Group names that can hold the time (Python group names must be identifiers).
TIME_GROUPS: tuple[str, ...] = (
    "ts_raw",
    *(key for key in VARIANTS["ts_raw"] if key.isidentifier()),
)

#: Columns a group may name directly.
_COLUMNS: tuple[str, ...] = tuple(name for name in RAW_FIELDS if name != "attributes")

_EXAMPLE = r"(?P<ts>\S+ \S+) (?P<level>\w+) (?P<msg>.*)"


class PatternParser:
    """Lines read by one regular expression (see the module docstring).

    Given ``pattern``, the expression is checked here and BadInputError says
    what is wrong with it. Without one, :meth:`parse` takes
    ``options.pattern`` (``--pattern``) and checks it before reading a line.
    """

    name = "pattern"

    def __init__(self, pattern: str | None = None) -> None:
        self.pattern = pattern
        self._compiled = None if pattern is None else _Compiled(pattern)

    def parse(
        self, lines: Iterable[tuple[int, str]], options: ParseOptions
    ) -> Iterator[RawRecord | Reject]:
        compiled = self._compiled or _Compiled(_required(options.pattern))
        # with --time-format, a time is kept as written for it to read
        years = None if options.time_format is not None else YearGuess.from_options(options)

        def start(number: int, text: str) -> RawRecord | str:
            return compiled.record(number, text, years)

        # an indented line the pattern matches starts a record (log4j's %5p pads INFO
        # and WARN with a blank); one it does not match continues the record above
        return assemble(lines, start, format_name=self.name, indented_may_start=True)

    def looks_like(self, sample: list[str]) -> float:
        compiled = self._compiled or _Compiled(_required(None))
        texts = [text for text in sample if text.strip()]
        if not texts:
            return 0.0
        return sum(1 for text in texts if compiled.regex.match(text)) / len(texts)


def check_pattern(pattern: str) -> None:
    """Raise BadInputError when ``pattern`` cannot read lines (bad syntax, no time group)."""
    _Compiled(pattern)


class _Compiled:
    """A checked ``--pattern`` and what its groups mean."""

    def __init__(self, pattern: str) -> None:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise BadInputError(
                f"--pattern {pattern!r} is not a valid regular expression: {exc.msg} at "
                f"position {exc.pos}; expected Python re syntax with named groups, "
                f"e.g. {_EXAMPLE!r}"
            ) from None
        groups = set(regex.groupindex)
        if not groups & set(TIME_GROUPS):
            names = ", ".join(f"(?P<{name}>...)" for name in TIME_GROUPS)
            found = ", ".join(sorted(groups)) or "no named groups"
            raise BadInputError(
                f"--pattern {pattern!r} has no group for the time (it has {found}); "
                f"name one of {names}, e.g. {_EXAMPLE!r}"
            )
        self.regex = regex
        self.has_message = any(_column_of(name) == "message" for name in groups)
        shown = pattern if len(pattern) <= 80 else pattern[:77] + "..."
        self.mismatch = f"not a pattern line: the line does not match --pattern {shown!r}"

    def record(self, number: int, text: str, years: YearGuess | None) -> RawRecord | str:
        match = self.regex.match(text)
        if match is None:
            return self.mismatch

        groups = {name: value for name, value in match.groupdict().items() if value is not None}
        if "date" in groups and "time" in groups:
            groups["time"] = f"{groups.pop('date')} {groups['time']}"
        direct = {name: groups.pop(name) for name in _COLUMNS if name in groups}
        columns, attributes = map_keys(groups)
        columns.update({name: value for name, value in direct.items() if value != ""})

        record = empty_record(number)
        record.update(columns)
        if not self.has_message:
            rest = text[match.end() :].strip()
            record["message"] = rest or None
        if record["ts_raw"] is not None and years is not None:
            record["ts_raw"] = iso_time(record["ts_raw"], years=years)
        record["attributes"] = attributes
        return record


def _required(pattern: str | None) -> str:
    if pattern is None:
        raise BadInputError(
            "the pattern format needs a regular expression: pass --pattern "
            f"with named groups, e.g. {_EXAMPLE!r}"
        )
    return pattern


def _column_of(group: str) -> str | None:
    if group in _COLUMNS:
        return group
    return KEY_TO_FIELD.get(group)
