"""The one time path: every accepted shape, each expected value worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from dvlab.errors import BadInputError
from dvlab.lab import timeconv
from dvlab.lab.store import prepare


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    prepare(connection)
    return connection


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01T00:00:00Z", utc(2026, 11, 1)),
        ("2026-11-01 00:00:00+02:00", utc(2026, 10, 31, 22)),
        ("2026-11-01T00:00:00-0530", utc(2026, 11, 1, 5, 30)),
        ("2026-11-01T00:00:00.5-05", utc(2026, 11, 1, 5, 0, 0, 500000)),
        # nanoseconds are cut to microseconds, not rounded
        ("2026-11-01T00:00:00.123456789Z", utc(2026, 11, 1, 0, 0, 0, 123456)),
        # a leap second sorts just before the next second
        ("2016-12-31T23:59:60Z", utc(2016, 12, 31, 23, 59, 59, 999999)),
        ("2016-12-31T23:59:60.25+00:00", utc(2016, 12, 31, 23, 59, 59, 999999)),
        # RFC 3339 allows t and z in lower case
        ("2026-01-01t10:00:00z", utc(2026, 1, 1, 10)),
        ("2026-01-01T10:00:00.25z", utc(2026, 1, 1, 10, 0, 0, 250000)),
        ("2026-01-01t10:00:00+02:00", utc(2026, 1, 1, 8)),
        ("2026-01-01t10:00:00", utc(2026, 1, 1, 10)),
        # log4j / Python logging comma
        ("2015-10-18 18:01:47,978", utc(2015, 10, 18, 18, 1, 47, 978000)),
        ("2024-06-27 00:00:07.369 CEST", utc(2024, 6, 26, 22, 0, 7, 369000)),
        ("2022-11-27 18:58:02.096 UTC", utc(2022, 11, 27, 18, 58, 2, 96000)),
        ("2019-03-14 01:00:00 PST", utc(2019, 3, 14, 9)),
        # an abbreviation in lower case, or right after the time, and a lone z
        ("2024-06-27 00:00:07.369 cest", utc(2024, 6, 26, 22, 0, 7, 369000)),
        ("2026-01-01 10:00:00UTC", utc(2026, 1, 1, 10)),
        ("2026-01-01T10:00:00.5Pst", utc(2026, 1, 1, 18, 0, 0, 500000)),
        ("2026-01-01 10:00:00 z", utc(2026, 1, 1, 10)),
        # epochs, told apart by magnitude: 1669575482 s = 2022-11-27 18:58:02 UTC
        ("1669575482", utc(2022, 11, 27, 18, 58, 2)),
        ("1669575482.25", utc(2022, 11, 27, 18, 58, 2, 250000)),
        ("1669575482096", utc(2022, 11, 27, 18, 58, 2, 96000)),
        ("1669575482096892", utc(2022, 11, 27, 18, 58, 2, 96892)),
        ("1669575482096892999", utc(2022, 11, 27, 18, 58, 2, 96892)),
        ("100000000", utc(1973, 3, 3, 9, 46, 40)),
        ("1669575482.", utc(2022, 11, 27, 18, 58, 2)),
        ("1669575482096.", utc(2022, 11, 27, 18, 58, 2, 96000)),
        # Go writes a space before the offset
        ("2026-06-01 12:00:00.5 +0000", utc(2026, 6, 1, 12, 0, 0, 500000)),
        ("2026-06-01 12:00:00 -0230", utc(2026, 6, 1, 14, 30)),
    ],
)
def test_accepted_shapes_end_in_utc(
    con: duckdb.DuckDBPyConnection, text: str, expected: datetime
) -> None:
    assert con.execute("SELECT dvlab_ts(?)", [text]).fetchall()[0][0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "2024-13-01T00:00:00Z",
        "2024-06-27 00:00:07 XYZ",
        "2024-06-27 00:00:07xyz",
        "2024-06-27 00:00:07 pm",
        "",
        # offsets stop at +-23:59; DuckDB alone would read these as a day and more
        "2026-06-01T12:00:00+25:00",
        "2026-06-01 12:00:00.5 -2400",
        # a year written short: DuckDB alone reads these as the years 17, 6, 9 and 99
        "17/06/09 20:10:40",
        "06/09/17 20:10:40",
        "9/6/17",
        "99-1-1 00:00:00Z",
        "123-01-01 00:00:00",
        # more digits than nanoseconds since 1970 have until the year 2286
        "17672256000000000000",
        "1767225600000000000000",
    ],
)
def test_unparseable_text_gives_null(con: duckdb.DuckDBPyConnection, text: str) -> None:
    assert con.execute("SELECT dvlab_ts(?)", [text]).fetchall()[0][0] is None


def test_naive_times_are_read_in_the_session_zone() -> None:
    con = duckdb.connect()
    prepare(con, tz="Europe/Oslo")
    # Oslo is UTC+2 in summer and UTC+1 in winter
    summer = con.execute("SELECT dvlab_ts('2026-07-01 12:00:00')").fetchall()[0][0]
    winter = con.execute("SELECT dvlab_ts('2026-01-01 12:00:00')").fetchall()[0][0]
    assert summer == utc(2026, 7, 1, 10)
    assert winter == utc(2026, 1, 1, 11)
    # an explicit offset wins over the zone
    assert con.execute("SELECT dvlab_ts('2026-01-01 12:00:00Z')").fetchall()[0][0] == utc(
        2026, 1, 1, 12
    )


@pytest.mark.parametrize(
    ("zone", "text", "expected"),
    [
        # New York falls back at 06:00Z on 2026-11-01: 01:00-01:59 local shows twice, first
        # as EDT (-04:00), then as EST (-05:00); the first is meant
        ("America/New_York", "2026-11-01 00:59:00", utc(2026, 11, 1, 4, 59)),
        ("America/New_York", "2026-11-01 01:00:00", utc(2026, 11, 1, 5, 0)),
        ("America/New_York", "2026-11-01 01:30:00", utc(2026, 11, 1, 5, 30)),
        ("America/New_York", "2026-11-01 01:59:59", utc(2026, 11, 1, 5, 59, 59)),
        ("America/New_York", "2026-11-01 02:00:00", utc(2026, 11, 1, 7, 0)),
        # an offset written says which one
        ("America/New_York", "2026-11-01 01:30:00-05:00", utc(2026, 11, 1, 6, 30)),
        # Oslo falls back at 01:00Z on 2026-10-25: 02:00-02:59 local twice, +02:00 first
        ("Europe/Oslo", "2026-10-25T02:30:00", utc(2026, 10, 25, 0, 30)),
        ("Europe/Oslo", "2026-10-25 02:30:00,250", utc(2026, 10, 25, 0, 30, 0, 250000)),
        # Lord Howe falls back half an hour at 15:00Z on 2026-04-04: 01:30-01:59 local
        # twice, +11:00 first
        ("Australia/Lord_Howe", "2026-04-05 01:45:00", utc(2026, 4, 4, 14, 45)),
        ("Australia/Lord_Howe", "2026-04-05 02:00:00", utc(2026, 4, 4, 15, 30)),
    ],
)
def test_a_local_time_shown_twice_is_the_first_of_the_two(
    zone: str, text: str, expected: datetime
) -> None:
    con = duckdb.connect()
    prepare(con, tz=zone)
    # compared as microseconds since the epoch: Python holds two aware times in a repeated
    # hour unequal whenever their zones differ (PEP 495)
    got = con.execute("SELECT epoch_us(dvlab_ts(?))", [text]).fetchall()[0][0]
    assert got == int(expected.timestamp()) * 1_000_000 + expected.microsecond


def test_a_year_written_in_full_is_taken_however_few_its_digits(
    con: duckdb.DuckDBPyConnection,
) -> None:
    got = con.execute(
        "SELECT dvlab_ts('2017/06/09 20:10:40'), dvlab_ts('0017-06-09 00:00:00Z')"
    ).fetchall()[0]
    assert got == (
        datetime(2017, 6, 9, 20, 10, 40, tzinfo=UTC),
        datetime(17, 6, 9, tzinfo=UTC),
    )


def test_a_time_format_reads_naive_times_in_the_zone_and_zoned_ones_as_said() -> None:
    con = duckdb.connect()
    try:
        prepare(con, tz="Europe/Oslo")
        timeconv.use_time_format(con, "%y/%m/%d %H:%M:%S")
        naive = con.execute("SELECT dvlab_ts(' 17/06/09 20:10:40 '), dvlab_ts('x')").fetchall()
        timeconv.use_time_format(con, "%d.%m.%Y %H:%M %z")
        zoned = con.execute("SELECT dvlab_ts('09.06.2017 20:10 +0000')").fetchall()
        timeconv.use_time_format(con, None)
        default = con.execute("SELECT dvlab_ts('17/06/09 20:10:40')").fetchall()
    finally:
        con.close()
    # Oslo is two hours ahead of UTC in June
    assert naive == [(datetime(2017, 6, 9, 18, 10, 40, tzinfo=UTC), None)]
    assert zoned == [(datetime(2017, 6, 9, 20, 10, tzinfo=UTC),)]
    assert default == [(None,)]


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        ("%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:36 Z", utc(2000, 10, 10, 13, 55, 36)),
        ("%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:36 z", utc(2000, 10, 10, 13, 55, 36)),
        ("%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:36 -0700", utc(2000, 10, 10, 20, 55, 36)),
        ("%Y-%m-%dT%H:%M:%S%z", "2026-01-01T10:00:00Z", utc(2026, 1, 1, 10)),
        # a Z that is no offset's place stays, and the time is no time
        ("%H:%M:%S %z %Y", "10:00:00 Z 2026", None),
    ],
)
def test_a_time_format_ending_in_an_offset_reads_z_as_utc(
    fmt: str, text: str, expected: datetime | None
) -> None:
    """strptime's %z takes no Z, which RFC 3339 and ISO 8601 write for UTC: such times had
    been rejects."""
    con = duckdb.connect()
    try:
        prepare(con, tz="Europe/Oslo")
        timeconv.use_time_format(con, fmt)
        assert con.execute("SELECT dvlab_ts(?)", [text]).fetchall() == [(expected,)]
    finally:
        con.close()


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        ("%Y/%m/%d %H:%M:%S", "2026/01/02 03:04:05", utc(2026, 1, 2, 3, 4, 5)),
        # a year not written in full is no time, as without a format
        ("%Y/%m/%d %H:%M:%S", "01/01/26 00:00:00", None),
        ("%Y/%m/%d %H:%M:%S", "26/01/01 00:00:00", None),
        ("%d.%m.%Y", "02.01.26", None),
        ("%d.%m.%Y", "02.01.2026", utc(2026, 1, 2)),
    ],
)
def test_a_time_format_with_a_full_year_takes_years_from_1000(
    fmt: str, text: str, expected: datetime | None
) -> None:
    """DuckDB's %Y reads one to four digits: 01/01/26 had been 26 January of the year 1."""
    con = duckdb.connect()
    try:
        prepare(con)
        timeconv.use_time_format(con, fmt)
        assert con.execute("SELECT dvlab_ts(?)", [text]).fetchall() == [(expected,)]
    finally:
        con.close()


@pytest.mark.parametrize(
    ("fmt", "said"),
    [("%H:%M:%S", "says no year"), ("%Y-%Q", "Unrecognized format"), ("%%Y %H", "says no year")],
)
def test_a_time_format_that_is_none_or_says_no_year_is_refused(fmt: str, said: str) -> None:
    with pytest.raises(BadInputError, match=said):
        timeconv.check_time_format(fmt)


def test_a_time_format_without_a_year_takes_the_year_given() -> None:
    """klog writes I1205 10:00:00.123456: month and day, no year."""
    timeconv.check_time_format("%m%d %H:%M:%S.%f", 2024)  # refused without the year
    con = duckdb.connect()
    try:
        prepare(con)
        timeconv.use_time_format(con, "%m%d %H:%M:%S.%f", 2024)
        got = con.execute(
            "SELECT dvlab_ts('1205 10:00:00.123456'), dvlab_ts('0229 10:00:02.5')"
        ).fetchall()
        timeconv.use_time_format(con, "%m%d %H:%M:%S.%f", 2023)
        common = con.execute("SELECT dvlab_ts('0229 10:00:02.5')").fetchall()
    finally:
        con.close()
    assert got == [
        (datetime(2024, 12, 5, 10, 0, 0, 123456, tzinfo=UTC),
         datetime(2024, 2, 29, 10, 0, 2, 500000, tzinfo=UTC))
    ]  # fmt: skip
    assert common == [(None,)]  # no 29 February in 2023


def test_a_time_format_set_again_or_left_is_what_dvlab_ts_reads() -> None:
    """The macros are made again only when the format changes (it had cost milliseconds a
    source): each change, back to the default and after a fresh install too, still tells."""
    con = duckdb.connect()
    try:
        prepare(con)
        spark = "%y/%m/%d %H:%M:%S"

        def read() -> tuple[object, object]:
            got = con.execute(
                "SELECT dvlab_ts('17/06/09 20:10:40'), dvlab_ts('2017-06-09T20:10:40Z')"
            ).fetchall()
            return got[0][0], got[0][1]

        moment = datetime(2017, 6, 9, 20, 10, 40, tzinfo=UTC)
        timeconv.use_time_format(con, spark)
        timeconv.use_time_format(con, spark)
        assert read() == (moment, None)
        timeconv.use_time_format(con, None)
        assert read() == (None, moment)
        timeconv.use_time_format(con, spark)
        timeconv.install(con)  # the default again
        assert read() == (None, moment)
        timeconv.use_time_format(con, spark)
        assert read() == (moment, None)
    finally:
        con.close()
