"""--pattern: a user's regular expression as a line format."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from dvlab.errors import BadInputError
from dvlab.sources.pattern import PatternParser, check_pattern

from .conftest import Run

REPMGR = r"\[(?P<ts>[^\]]+)\] \[(?P<level>[A-Z]+)\] (?P<msg>.*)"


def test_groups_map_to_columns_and_attributes(run: Run) -> None:
    parser = PatternParser(
        r"(?P<time>\S+) (?P<host>\S+) (?P<app>[\w-]+)\[(?P<pid>\d+)\] "
        r"(?P<lvl>\w+) req=(?P<request_id>\S+) (?P<msg>.*)"
    )
    text = "2024-05-01T10:00:00Z node-7 api-gw[42] WARN req=r-9 upstream slow"
    (record,), rejects = run(parser, text)
    assert rejects == []
    assert record["ts_raw"] == "2024-05-01T10:00:00Z"
    assert record["host"] == "node-7"
    assert record["service"] == "api-gw"
    assert record["level_raw"] == "WARN"
    assert record["correlation_id"] == "r-9"
    assert record["message"] == "upstream slow"
    assert record["attributes"] == {"pid": "42"}


def test_column_names_work_as_group_names(run: Run) -> None:
    parser = PatternParser(r"(?P<ts_raw>\S+) (?P<site>\S+) (?P<task_id>\S+) (?P<message>.*)")
    (record,), _ = run(parser, "1714557600 oslo-1 t-17 done")
    assert (record["ts_raw"], record["site"], record["task_id"]) == (
        "1714557600",
        "oslo-1",
        "t-17",
    )
    assert record["message"] == "done"
    assert record["attributes"] == {}


def test_date_and_time_groups_make_one_time(run: Run) -> None:
    parser = PatternParser(r"(?P<date>\S+) (?P<time>\S+) (?P<msg>.*)")
    (record,), _ = run(parser, "2024-05-01 10:00:00,250 started")
    assert record["ts_raw"] == "2024-05-01 10:00:00,250"
    assert record["attributes"] == {}


def test_clf_time_is_rewritten(run: Run) -> None:
    parser = PatternParser(
        r'(?P<client>\S+) \S+ \S+ \[(?P<ts>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) .*'
    )
    text = '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326'
    (record,), _ = run(parser, text)
    assert record["ts_raw"] == "2000-10-10 13:55:36-07:00"
    assert record["attributes"] == {
        "client": "127.0.0.1",
        "request": "GET /a.gif HTTP/1.0",
        "status": "200",
    }
    assert record["message"] is None  # the expression consumed the whole line


def test_without_a_message_group_the_rest_of_the_line_is_the_message(run: Run) -> None:
    parser = PatternParser(r"(?P<ts>\S+) (?P<level>\w+)")
    records, _ = run(parser, "2024-05-01T10:00:00Z INFO  the rest  \n2024-05-01T10:00:01Z INFO")
    assert [r["message"] for r in records] == ["the rest", None]


def test_syslog_style_time_gets_a_year(run: Run) -> None:
    parser = PatternParser(r"(?P<ts>\w{3} +\d+ [\d:]{8}) (?P<msg>.*)")
    records, _ = run(parser, "Dec 31 23:59:00 a\nJan  1 00:00:10 b", year=2030)
    assert [r["ts_raw"] for r in records] == ["2030-12-31 23:59:00", "2031-01-01 00:00:10"]


def test_unmatched_lines_and_continuations(run: Run) -> None:
    text = "\n".join(
        [
            "[2019-08-15 07:27:50] [WARNING] unable to connect",
            "  DETAIL: connection refused",
            "NOTICE: STANDBY PROMOTE successful",
            "[2019-08-15 07:28:01] [NOTICE] monitoring",
        ]
    )
    records, rejects = run(PatternParser(REPMGR), text)
    assert [(r["line"], r["end_line"]) for r in records] == [(1, 2), (4, 4)]
    assert records[0]["message"] == "unable to connect\n  DETAIL: connection refused"
    assert [r.line for r in rejects] == [3]
    assert rejects[0].reason == f"not a pattern line: the line does not match --pattern {REPMGR!r}"


@pytest.mark.realdata
def test_real_apache_error_log(
    real_data: Path, run: Run, raw_lines: Callable[[Path], list[str]]
) -> None:
    path = real_data / "loghub-apache/Apache_2k.log"
    lines = raw_lines(path)
    parser = PatternParser(r"\[(?P<ts>[^\]]+)\] \[(?P<level>\w+)\] (?P<msg>.*)")
    records, rejects = run(parser, path.read_text(encoding="utf-8"))

    # "[Sun Dec 04 04:47:44 2005] [notice] ..." read by fixed columns and a split
    months = {"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6}
    months |= {"Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12}
    expected_ts = [
        f"{line[21:25]}-{months[line[5:8]]:02d}-{line[9:11]} {line[12:20]}" for line in lines
    ]
    levels = Counter(line.split("] [", 1)[1].split("]", 1)[0] for line in lines)

    assert rejects == []
    assert len(records) == len(lines) == 2000
    assert levels == {"notice": 1405, "error": 595}
    assert Counter(r["level_raw"] for r in records) == levels
    assert [r["ts_raw"] for r in records] == expected_ts


def test_bad_regex_is_refused() -> None:
    with pytest.raises(BadInputError) as info:
        PatternParser(r"(?P<ts>\S+ (?P<msg>.*)")
    message = str(info.value)
    assert "is not a valid regular expression: missing ), unterminated subpattern" in message
    assert "expected Python re syntax with named groups" in message
    assert isinstance(info.value, ValueError)


def test_regex_without_a_time_group_is_refused() -> None:
    with pytest.raises(BadInputError) as info:
        PatternParser(r"(?P<level>\w+) (?P<msg>.*)")
    message = str(info.value)
    assert "has no group for the time (it has level, msg)" in message
    assert "(?P<ts>...)" in message and "(?P<timestamp>...)" in message
    assert "@timestamp" not in message  # not a possible group name


def test_looks_like() -> None:
    parser = PatternParser(REPMGR)
    assert parser.looks_like(["[2019-08-15 07:28:00] [INFO] x", "NOTICE: y", " "]) == 1 / 2


def test_the_parser_given_a_pattern_ignores_the_options(run: Run) -> None:
    (record,), _ = run(PatternParser(r"(?P<ts>\S+) (?P<msg>.*)"), "2024-01-01T00:00:00Z hi")
    assert record["message"] == "hi"


def test_check_pattern() -> None:
    check_pattern(r"(?P<timestamp>\S+)")
    with pytest.raises(BadInputError, match="no named groups"):
        check_pattern(r"(\S+) (.*)")


LOOSE = r"^(?P<ts>\S+ \S+) (?P<level>\w+) (?P<msg>.*)$"

TRACES = """\
2026-01-01 10:00:00 INFO start
2026-01-01 10:00:01 ERROR job failed
Traceback (most recent call last):
  File "job.py", line 3, in <module>
    n = int(value)
ValueError: invalid literal for int() with base 10: 'abc'
2026-01-01 10:00:02 ERROR request failed
java.lang.IllegalStateException: connection pool exhausted after 30 s
\tat com.example.Pool.get(Pool.java:42)
Caused by: java.io.IOException: reset
\t... 12 more
2026-01-01 10:00:03 INFO done
"""


def test_a_loose_pattern_keeps_each_stack_trace_with_its_error(run: Run) -> None:
    """`Traceback (most recent call last):` and `java.lang.X: connection pool ...` match
    a pattern of two words, a word and the rest; they still continue the error above."""
    records, rejects = run(PatternParser(LOOSE), TRACES)
    lines = TRACES.splitlines()
    assert rejects == []
    assert [(r["line"], r["end_line"], r["level_raw"]) for r in records] == [
        (1, 1, "INFO"),
        (2, 6, "ERROR"),
        (7, 11, "ERROR"),
        (12, 12, "INFO"),
    ]
    assert records[1]["message"] == "\n".join(["job failed", *lines[2:6]])
    assert records[2]["message"] == "\n".join(["request failed", *lines[7:11]])


def test_a_trace_with_no_record_before_it_is_one_record_whose_time_is_refused_later(
    run: Run,
) -> None:
    records, rejects = run(PatternParser(LOOSE), "\n".join(TRACES.splitlines()[2:6]) + "\n")
    # the first line matches the pattern and starts a record (its time is then refused);
    # the indented lines and the exception continue it
    assert [(r["line"], r["end_line"], r["ts_raw"]) for r in records] == [
        (1, 4, "Traceback (most")
    ]
    assert rejects == []


def test_an_indented_line_the_pattern_matches_starts_a_record(run: Run) -> None:
    """log4j's %5p pads INFO and WARN with a blank: under a pattern that allows it, those
    lines are records of their own; an indented line it does not match still continues."""
    text = (
        "DEBUG [main] 2026-11-30 09:00:00,001 c.e.App - config loaded\n"
        " INFO [main] 2026-11-30 09:00:00,002 c.e.App - server started\n"
        " WARN [pool-1] 2026-11-30 09:00:01,003 c.e.Db - slow query\n"
        "ERROR [pool-1] 2026-11-30 09:00:02,004 c.e.Db - query failed\n"
        "\tat c.e.Db.run(Db.java:42)\n"
    )
    pattern = r"^\s*(?P<level>[A-Z]+) \[(?P<thread>[^]]+)\] (?P<ts>\S+ \S+) (?P<logger>\S+) - (?P<msg>.*)$"
    records, rejects = run(PatternParser(pattern), text)
    assert rejects == []
    assert [(r["line"], r["end_line"], r["level_raw"], r["message"]) for r in records] == [
        (1, 1, "DEBUG", "config loaded"),
        (2, 2, "INFO", "server started"),
        (3, 3, "WARN", "slow query"),
        (4, 5, "ERROR", "query failed\n\tat c.e.Db.run(Db.java:42)"),
    ]
