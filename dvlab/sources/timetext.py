"""Time text in shapes the SQL time path does not read, rewritten as ISO 8601.

The lab parses every time in one place (``dvlab.lab.timeconv``), and that
place reads ISO 8601 / RFC 3339, zone abbreviations and epoch numbers. Text
parsers meet a few other shapes; this module is the only place they are
rewritten, and it rewrites only the order of the parts (and fills in a year
where the text has none), so the instant itself is still decided by the SQL
path and by ``--tz`` for times without an offset.

Shapes rewritten by :func:`iso_time` (month names in English, any case):

* Apache / Common Log Format, ``10/Oct/2000:13:55:36 -0700`` (brackets allowed);
* BSD syslog, ``Oct 10 13:55:36`` or ``Oct  1 13:55:36.123``, optionally after
  a weekday and with a year before or after the clock (``Tue Oct 10 13:55:36 2000``);
* slashed dates, ``2000/10/10 13:55:36`` (Go's ``log``, nginx's error log);
* ``10-Oct-2000 13:55:36`` (BIND, Tomcat).

Anything after the clock (an offset, ``Z``, a zone abbreviation) is kept.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dvlab.errors import BadInputError
from dvlab.sources.records import ParseOptions

MONTHS: dict[str, int] = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}

#: How far ahead of the reference time a year-less date may lie before it is
#: taken to belong to the year before (clocks and time zones disagree a little).
FUTURE_SLACK = timedelta(days=1)

#: A drop in month larger than this between consecutive dates means a new year.
ROLLOVER_MONTHS = 6

_MONTH = r"(?P<month>[A-Za-z]{3})"
_CLOCK = r"(?P<clock>\d{2}:\d{2}:\d{2}(?:[.,]\d+)?)"
_ZONE = r"(?P<zone>\s*(?:Z|[+-]\d{2}(?::?\d{2})?|[A-Z]{2,5}))?"

_CLF = re.compile(
    r"\[?(?P<day>\d{1,2})/"
    + _MONTH
    + r"/(?P<year>\d{4}):"
    + _CLOCK
    + r"(?:\s*(?P<sign>[+-])(?P<hh>\d{2}):?(?P<mm>\d{2}))?\]?"
)
_BSD = re.compile(
    r"(?:(?P<weekday>[A-Za-z]{3}),?\s+)??"
    + _MONTH
    + r"\s+(?P<day>\d{1,2})\s+(?:(?P<year>\d{4})\s+)?"
    + _CLOCK
    + r"(?:\s+(?P<year_after>\d{4}))?"
    + _ZONE
)
_SLASHED = re.compile(r"(?P<year>\d{4})/(?P<month>\d{2})/(?P<day>\d{2})[ T]" + _CLOCK + _ZONE)
_DAY_MONTH_YEAR = re.compile(
    r"(?P<day>\d{1,2})-" + _MONTH + r"-(?P<year>\d{4})[ :]" + _CLOCK + _ZONE
)


class YearGuess:
    """Supplies the year for dates written without one, for one source read in order.

    The first date takes ``year`` when given. Otherwise it takes the year of
    ``reference`` (the file's modification time, else now), or the year
    before when the date would lie more than :data:`FUTURE_SLACK` after the
    reference: a file cannot hold lines written after it was last changed
    (29 February takes the latest leap year that allows). After that, a month
    that drops by more than :data:`ROLLOVER_MONTHS` from the previous date's
    (December, then January) starts the next year, and one that rises by as
    much (January, then a late line of December) goes back to the year before.
    A first date that names its weekday (``Mon Aug  5``, as ctime writes) takes,
    of those years, the latest whose calendar agrees, going back up to 28 years
    (the calendar's cycle); the file's date alone would make it a Wednesday.

    ``reference`` may be naive (taken as wall time in ``tz``) or aware
    (converted to ``tz``, the zone the log's times are read in).
    """

    def __init__(
        self, *, year: int | None = None, reference: datetime | None = None, tz: str = "UTC"
    ) -> None:
        self._fixed = year
        self._reference = _wall_time(reference, tz)
        self._year: int | None = None
        self._last_month: int | None = None

    @classmethod
    def from_options(cls, options: ParseOptions) -> YearGuess:
        """The guess a parser uses for one source: ``--year``, else the file's mtime."""
        return cls(year=options.year, reference=options.mtime, tz=options.tz)

    def year_for(self, month: int, day: int, clock: str, weekday: int | None = None) -> int:
        """The year of the date ``month``/``day`` at ``clock`` (``HH:MM:SS``), the next in
        order; ``weekday`` (Monday 0) is the one the line names, if it names one."""
        if self._year is None:
            self._year = self._first_year(month, day, clock, weekday)
        elif self._last_month is not None and self._last_month - month > ROLLOVER_MONTHS:
            self._year += 1
        elif self._last_month is not None and month - self._last_month > ROLLOVER_MONTHS:
            self._year -= 1  # written late, by a writer still in the old year
        self._last_month = month
        return self._year

    def _first_year(self, month: int, day: int, clock: str, weekday: int | None) -> int:
        if self._fixed is not None:
            return self._fixed
        reference = self._reference or datetime.now()
        year = reference.year
        hour, minute, second = (int(part) for part in clock[:8].split(":"))
        plain = None  # the year the file's date alone gives
        for candidate in range(year, year - 30, -1):
            try:
                when = datetime(candidate, month, day, hour, minute, min(second, 59))
            except ValueError:  # 29 February of a common year: the leap year before
                if month == 2 and day == 29:
                    continue
                return year  # 31 April: no date at all
            if when > reference + FUTURE_SLACK:
                continue
            if weekday is None or when.weekday() == weekday:
                return candidate
            if plain is None:
                plain = candidate
        return plain if plain is not None else year - 1


def _wall_time(moment: datetime | None, tz: str) -> datetime | None:
    if moment is None or moment.tzinfo is None:
        return moment
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadInputError(
            f"unknown time zone {tz!r}; expected an IANA name such as 'UTC' or 'Europe/Oslo'"
        ) from exc
    return moment.astimezone(zone).replace(tzinfo=None)


#: English weekday abbreviations, Monday 0 (as datetime.weekday)
WEEKDAYS = {name: i for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}


def month_number(name: str) -> int | None:
    """1-12 for an English month abbreviation (``Jan``, ``jan``), else None."""
    return MONTHS.get(name.lower())


def bsd_to_iso(
    month: str, day: str, clock: str, years: YearGuess, weekday: str | None = None
) -> str | None:
    """``Mmm dd HH:MM:SS`` parts as ``YYYY-MM-DD HH:MM:SS``; None for an unknown month.
    ``weekday``, an English abbreviation the line gives (``Mon``), helps guess the year."""
    number = month_number(month)
    if number is None:
        return None
    year = years.year_for(number, int(day), clock, WEEKDAYS.get((weekday or "").lower()))
    return f"{year:04d}-{number:02d}-{int(day):02d} {clock}"


def iso_time(text: str, *, years: YearGuess | None = None) -> str:
    """``text`` rewritten as ISO 8601 when it has one of the module's shapes, else unchanged.

    ``years`` fills in the year for BSD dates without one; pass the same
    instance for every time of a source so a new year is noticed.
    """
    stripped = text.strip()
    if not stripped or stripped[0] == "-" or (stripped[:4].isdigit() and stripped[4:5] == "-"):
        return text  # empty, negative epoch, or already ISO: the SQL path reads it as it is

    match = _CLF.fullmatch(stripped)
    if match is not None:
        offset = f"{match['sign']}{match['hh']}:{match['mm']}" if match["sign"] else ""
        date = _date(match["year"], match["month"], match["day"])
        return text if date is None else f"{date} {match['clock']}{offset}"

    match = _BSD.fullmatch(stripped)
    if match is not None:
        year = match["year"] or match["year_after"]
        if year is None:
            guess = years if years is not None else YearGuess()
            date_time = bsd_to_iso(
                match["month"], match["day"], match["clock"], guess, match["weekday"]
            )
        else:
            date = _date(year, match["month"], match["day"])
            date_time = None if date is None else f"{date} {match['clock']}"
        return text if date_time is None else f"{date_time}{_zone_suffix(match['zone'])}"

    match = _SLASHED.fullmatch(stripped) or _DAY_MONTH_YEAR.fullmatch(stripped)
    if match is not None:
        date = _date(match["year"], match["month"], match["day"])
        if date is not None:
            return f"{date} {match['clock']}{_zone_suffix(match['zone'])}"
    return text


def _date(year: str, month: str, day: str) -> str | None:
    """``YYYY-MM-DD`` from a month number or English abbreviation; None for an unknown month."""
    number = int(month) if month.isdigit() else month_number(month)
    if number is None:
        return None
    return f"{int(year):04d}-{number:02d}-{int(day):02d}"


def _zone_suffix(zone: str | None) -> str:
    """An offset glued to the clock, an abbreviation after one space (as the SQL path wants)."""
    if not zone or not zone.strip():
        return ""
    zone = zone.strip()
    return f" {zone}" if zone.isalpha() and zone != "Z" else zone
