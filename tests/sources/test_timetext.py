"""Rewriting time text into ISO 8601, and guessing the year of year-less dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dvlab.errors import BadInputError
from dvlab.lab.timeconv import parse_utc
from dvlab.sources.timetext import YearGuess, bsd_to_iso, iso_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/Oct/2000:13:55:36 -0700", "2000-10-10 13:55:36-07:00"),
        ("[10/Oct/2000:13:55:36 +0200]", "2000-10-10 13:55:36+02:00"),
        ("1/Feb/2021:00:00:01", "2021-02-01 00:00:01"),
        ("Sun Dec 04 04:47:44 2005", "2005-12-04 04:47:44"),
        ("Dec  4 2005 04:47:44", "2005-12-04 04:47:44"),
        ("Dec 04 04:47:44.250 2005 UTC", "2005-12-04 04:47:44.250 UTC"),
        ("2019/03/14 00:22:56", "2019-03-14 00:22:56"),
        ("2019/03/14 00:22:56.5+01:00", "2019-03-14 00:22:56.5+01:00"),
        ("14-Mar-2019 00:22:56.123", "2019-03-14 00:22:56.123"),
        # already readable by the SQL path, or not a time at all: unchanged
        ("2019-03-14T00:22:56Z", "2019-03-14T00:22:56Z"),
        ("1700000000.5", "1700000000.5"),
        ("-12", "-12"),
        ("10/Foo/2000:13:55:36", "10/Foo/2000:13:55:36"),
        ("yesterday", "yesterday"),
    ],
)
def test_iso_time_shapes(text: str, expected: str) -> None:
    assert iso_time(text) == expected


def test_bsd_dates_take_the_guessed_year() -> None:
    years = YearGuess(year=2004)
    assert iso_time("Oct  1 13:55:36", years=years) == "2004-10-01 13:55:36"
    assert iso_time("Jan  2 00:00:00 CEST", years=years) == "2005-01-02 00:00:00 CEST"


def test_rewritten_text_reads_as_the_right_instant() -> None:
    """The rewritten text goes through the real SQL time path; instants worked out by hand."""
    clf = parse_utc(iso_time("10/Oct/2000:13:55:36 -0700"))
    assert clf == datetime(2000, 10, 10, 20, 55, 36, tzinfo=UTC)
    bsd = parse_utc(iso_time("Jul  7 08:06:15", years=YearGuess(year=2005)))
    assert bsd == datetime(2005, 7, 7, 8, 6, 15, tzinfo=UTC)


def test_given_year_wins() -> None:
    guess = YearGuess(year=1999, reference=datetime(2024, 1, 1))
    assert guess.year_for(12, 31, "23:59:59") == 1999


def test_year_of_the_reference() -> None:
    guess = YearGuess(reference=datetime(2024, 6, 30, 12, 0))
    assert guess.year_for(6, 1, "08:00:00") == 2024


def test_a_date_after_the_reference_belongs_to_the_year_before() -> None:
    guess = YearGuess(reference=datetime(2024, 1, 10, 12, 0))
    assert guess.year_for(12, 30, "08:00:00") == 2023


def test_one_day_of_slack_after_the_reference() -> None:
    reference = datetime(2024, 3, 10, 12, 0)
    within = YearGuess(reference=reference)
    assert within.year_for(3, 11, "11:59:59") == 2024  # 23:59:59 ahead: clock skew
    beyond = YearGuess(reference=reference)
    assert beyond.year_for(3, 11, "12:00:01") == 2023  # more than a day ahead


def test_aware_reference_is_read_in_the_log_zone() -> None:
    # 2024-01-01 02:00 in Tokyo is still 2023-12-31 17:00 in UTC
    tokyo = timezone(timedelta(hours=9))
    reference = datetime(2024, 1, 1, 2, 0, tzinfo=tokyo)
    assert YearGuess(reference=reference, tz="UTC").year_for(12, 31, "16:00:00") == 2023
    assert YearGuess(reference=reference, tz="Asia/Tokyo").year_for(1, 1, "01:00:00") == 2024


def test_unknown_zone_for_the_reference() -> None:
    with pytest.raises(BadInputError, match="unknown time zone 'Mars/Olympus'"):
        YearGuess(reference=datetime(2024, 1, 1, tzinfo=UTC), tz="Mars/Olympus")


def test_december_to_january_moves_to_the_next_year() -> None:
    guess = YearGuess(year=2023)
    years = [
        guess.year_for(month, day, "00:00:00")
        for month, day in [(11, 30), (12, 31), (1, 1), (1, 2), (2, 1), (8, 1), (1, 3)]
    ]
    # each Dec -> Jan rolls over; Feb -> Aug goes six months forwards, so the year stays,
    # and Aug -> Jan rolls over again
    assert years == [2023, 2023, 2024, 2024, 2024, 2024, 2025]


def test_a_late_line_of_december_after_january_is_of_the_year_before() -> None:
    """A date more than six months ahead of the one before is nearer as a date behind it:
    a line written late by a writer still in the old year."""
    guess = YearGuess(reference=datetime(2027, 1, 1, 0, 5))
    dates = [(12, 31, "23:59:58"), (1, 1, "00:00:00"), (12, 31, "23:59:59"), (1, 1, "00:00:01")]
    years = [guess.year_for(month, day, clock) for month, day, clock in dates]
    assert years == [2026, 2027, 2026, 2027]


def test_a_small_step_back_stays_in_the_year() -> None:
    guess = YearGuess(year=2023)
    assert [guess.year_for(m, 1, "00:00:00") for m in (8, 3, 9)] == [2023, 2023, 2023]


@pytest.mark.parametrize(
    ("reference", "year"),
    [
        (datetime(2025, 3, 10), 2024),
        (datetime(2024, 3, 1), 2024),
        (datetime(2023, 3, 1), 2020),
        # 29 February 2024 at 10:00 is more than a day after this: not yet written
        (datetime(2024, 2, 28), 2020),
    ],
)
def test_29_february_takes_the_latest_leap_year_the_reference_allows(
    reference: datetime, year: int
) -> None:
    assert YearGuess(reference=reference).year_for(2, 29, "10:00:00") == year


def test_a_date_no_year_has_keeps_the_reference_year() -> None:
    assert YearGuess(reference=datetime(2023, 5, 1)).year_for(4, 31, "10:00:00") == 2023


def test_bsd_to_iso_unknown_month() -> None:
    assert bsd_to_iso("Foo", "1", "00:00:00", YearGuess(year=2000)) is None
    assert bsd_to_iso("Jul", " 7", "08:06:15", YearGuess(year=2005)) == "2005-07-07 08:06:15"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 5 August 2026 is a Wednesday; 2025's a Tuesday, 2024's a Monday (by a calendar)
        ("Mon Aug  5 20:21:42", "2024-08-05 20:21:42"),
        ("Wed Aug  5 20:21:42", "2026-08-05 20:21:42"),
        ("Aug  5 20:21:42", "2026-08-05 20:21:42"),
        # not the name of a weekday: the file's date alone
        ("Xyz Aug  5 20:21:42", "2026-08-05 20:21:42"),
    ],
)
def test_a_weekday_the_line_names_picks_the_year_whose_calendar_agrees(
    text: str, expected: str
) -> None:
    """mongod 2.2 writes ctime without a year: the file's date alone had put "Mon Aug 5"
    in a year whose 5 August is a Wednesday."""
    assert iso_time(text, years=YearGuess(reference=datetime(2026, 12, 5))) == expected


def test_a_weekday_only_guides_the_first_date() -> None:
    """The dates after the first go on from its year, by their months."""
    years = YearGuess(reference=datetime(2026, 12, 5))
    assert iso_time("Mon Aug  5 20:21:42", years=years) == "2024-08-05 20:21:42"
    assert iso_time("Wed Aug  7 09:00:00", years=years) == "2024-08-07 09:00:00"
