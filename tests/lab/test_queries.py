"""Curated query files: header parsing, parameter binding, and the folder's own files."""

from __future__ import annotations

import datetime
import decimal
import re
from pathlib import Path

import numpy as np
import pytest

from dvlab.errors import BadInputError
from dvlab.lab import queries


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.sql"
    path.write_text(text, encoding="utf-8")
    return path


def test_header_gives_description_and_params(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "q",
        "-- Lines of one request.\n-- @param id   the id\n-- @param limit=10 at most\n"
        "SELECT * FROM logs WHERE correlation_id = $id LIMIT $limit::BIGINT\n",
    )
    query = queries.parse(path)
    assert query.description == "Lines of one request."
    assert [(p.name, p.required, p.default) for p in query.params] == [
        ("id", True, None),
        ("limit", False, "10"),
    ]
    assert query.bind({"id": "r1"}) == {"id": "r1", "limit": "10"}


def test_missing_and_unknown_parameters_are_named(tmp_path: Path) -> None:
    query = queries.parse(write(tmp_path, "q", "-- d\n-- @param id x\nSELECT $id\n"))
    with pytest.raises(BadInputError, match="needs --param id=VALUE"):
        query.bind({})
    with pytest.raises(BadInputError, match="no parameter bogus; it accepts: id"):
        query.bind({"id": "1", "bogus": "2"})


@pytest.mark.parametrize("name", ["from", "to", "at"])
def test_a_time_parameter_that_is_not_a_time_is_refused(tmp_path: Path, name: str) -> None:
    """Read as no bound it would answer for the whole lab, as if the user had asked that."""
    query = queries.parse(
        write(tmp_path, "q", f"-- d\n-- @param {name}=null x\nSELECT dvlab_ts(${name})\n")
    )
    with pytest.raises(BadInputError, match=f"--param {name}='yesterday-ish' is not a time"):
        query.bind({name: "yesterday-ish"})
    assert query.bind({name: "2026-11-30T09:00Z"}) == {name: "2026-11-30T09:00Z"}
    assert query.bind({}) == {name: None}


@pytest.mark.parametrize(
    "step",
    # a month or a year is no fixed length: steps of one would follow the calendar
    # nor days and hours together: DuckDB's time_bucket steps by one or the other
    [
        "0s",
        "-10 seconds",
        "abc",
        "1000000 years",
        "1 month",
        "1 year",
        "1 month 1 day",
        "1 day 2 hours",
        "1 week 1 hour",
    ],
)
def test_a_step_that_is_no_fixed_length_of_time_is_refused(tmp_path: Path, step: str) -> None:
    query = queries.parse(
        write(tmp_path, "q", "-- d\n-- @param step=null x\nSELECT $step::INTERVAL\n")
    )
    with pytest.raises(
        BadInputError, match=f"--param step='{step}' is not a fixed length of time"
    ):
        query.bind({"step": step})
    assert query.bind({"step": "5 minutes"}) == {"step": "5 minutes"}
    assert query.bind({"step": "400 days"}) == {"step": "400 days"}
    assert query.bind({"step": "26 hours"}) == {"step": "26 hours"}


@pytest.mark.parametrize("q", ["abc", "NaN", ""])
def test_a_quantile_that_is_not_a_number_is_refused(tmp_path: Path, q: str) -> None:
    query = queries.parse(write(tmp_path, "q", "-- d\n-- @param q=0.5 x\nSELECT $q::DOUBLE\n"))
    with pytest.raises(BadInputError, match=f"--param q='{q}' is not a number"):
        query.bind({"q": q})
    # beyond 0 and 1 is a number still: Prometheus answers -Inf and +Inf there
    assert query.bind({"q": "1.5"}) == {"q": "1.5"}


def test_a_window_that_ends_before_it_starts_is_refused(tmp_path: Path) -> None:
    query = queries.parse(
        write(
            tmp_path,
            "q",
            "-- d\n-- @param from=null x\n-- @param to=null y\nSELECT $from, $to\n",
        )
    )
    with pytest.raises(BadInputError, match="from='2026-12-02T00:00Z' is not before"):
        query.bind({"from": "2026-12-02T00:00Z", "to": "2026-12-01T00:00Z"})
    with pytest.raises(BadInputError, match="is not before"):
        query.bind({"from": "2026-12-01T00:00Z", "to": "2026-12-01T00:00Z"})
    assert query.bind({"to": "2026-12-01T00:00Z"}) == {"from": None, "to": "2026-12-01T00:00Z"}


def test_undeclared_parameter_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "bad", "-- d\nSELECT $oops\n")
    with pytest.raises(BadInputError, match=r"bad\.sql.*\$oops"):
        queries.parse(path)


def test_a_file_without_description_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="must start with a '-- description'"):
        queries.parse(write(tmp_path, "nodesc", "SELECT 1\n"))


def test_every_curated_query_in_the_repo_parses_and_declares_its_params() -> None:
    found = queries.available()
    names = {q.name for q in found}
    assert "timeline" in names
    for query in found:
        assert query.description, query.path
        assert not query.description.startswith("-")


def test_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(BadInputError, match=r"available: .*timeline"):
        queries.load("no_such_query")


@pytest.mark.parametrize(
    "window", ["0", "-5", "soon", "99999999999999999999", "\u00b2", "\u0661\u0662"]
)
def test_a_window_that_is_no_number_of_seconds_is_refused(tmp_path: Path, window: str) -> None:
    """It had answered nothing (0, -5) or failed in DuckDB's words."""
    query = queries.parse(
        write(tmp_path, "q", "-- d\n-- @param window=3600 x\nSELECT $window::BIGINT\n")
    )
    with pytest.raises(BadInputError, match=f"--param window='{window}' is not a number of"):
        query.bind({"window": window})
    assert query.bind({"window": "60"}) == {"window": "60"}


@pytest.mark.parametrize(
    "limit",
    ["-1", "2.5", "ten", "", "9223372036854775808", "\u0661\u0662", "\uff15", "\u00b2", "\u00a05"],
)
def test_a_limit_that_is_no_whole_number_of_rows_is_refused(tmp_path: Path, limit: str) -> None:
    """-1 had failed in DuckDB's words, 2.5 had been rounded to 3; digits of other scripts
    (Arabic-Indic, full-width) had failed in DuckDB's words, and a superscript two had
    been an unexpected error."""
    query = queries.parse(
        write(tmp_path, "q", "-- d\n-- @param limit=20 x\nSELECT 1 LIMIT $limit::BIGINT\n")
    )
    with pytest.raises(
        BadInputError, match=f"--param limit={re.escape(repr(limit))} is not a whole number of"
    ):
        query.bind({"limit": limit})
    assert query.bind({"limit": "0"}) == {"limit": "0"}
    assert query.bind({"limit": "\t5 "}) == {"limit": "\t5 "}
    assert query.bind({"limit": "9223372036854775807"}) == {"limit": "9223372036854775807"}


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        # a number is named as given, not as the text it is checked as
        ("limit", -1, "limit=-1 is not a whole number of rows from 0"),
        ("limit", 10**30, f"limit={10**30} is not a whole number of rows from 0"),
        ("limit", decimal.Decimal("sNaN"), "is not a whole number of rows"),
        ("window", decimal.Decimal("NaN"), "is not a whole number of seconds"),
        ("limit", 2.5, "is not a whole number of rows"),
        ("limit", True, "is not a whole number of rows"),
        ("window", -5, "is not a number of seconds from 1"),
        ("window", 0, "is not a number of seconds from 1"),
        ("window", 2.5, "is not a whole number of seconds"),
        ("window", float("nan"), "is not a whole number of seconds"),
        ("window", True, "is not a whole number of seconds"),
        ("q", float("nan"), "is not a number"),
        ("q", "0.5", None),
        ("q", [0.5], "is not a number"),
        ("step", datetime.timedelta(0), "is not a length of time above zero"),
        ("step", datetime.timedelta(minutes=-5), "is not a length of time above zero"),
        ("from", 1700000000, "is not a time"),
    ],
)
def test_values_given_from_python_are_checked_as_text_is(
    tmp_path: Path, name: str, value: object, why: str | None
) -> None:
    """``lab.query("status_failed", window=-5)`` had answered nothing instead of refusing,
    as ``--param window=-5`` does: only text was checked."""
    query = queries.parse(write(tmp_path, "q", f"-- d\n-- @param {name}=null x\nSELECT ${name}\n"))
    if why is None:
        assert query.bind({name: value}) == {name: value}
        return
    with pytest.raises(BadInputError, match=why):
        query.bind({name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("window", 300),
        ("window", 300.0),
        ("window", np.int64(300)),
        ("window", decimal.Decimal("300")),
        ("limit", np.int32(10)),
        ("limit", 0),
        ("q", np.float32(0.5)),
        ("q", decimal.Decimal("0.5")),
        ("q", 0.99),
        ("step", datetime.timedelta(minutes=5)),
        ("from", datetime.datetime(2026, 11, 30, 9, tzinfo=datetime.UTC)),
        ("to", datetime.date(2026, 12, 1)),
    ],
)
def test_values_of_the_right_type_are_taken_from_python(
    tmp_path: Path, name: str, value: object
) -> None:
    query = queries.parse(write(tmp_path, "q", f"-- d\n-- @param {name}=null x\nSELECT ${name}\n"))
    bound = query.bind({name: value})
    assert bound == {name: value}
    # numpy's scalars are handed to DuckDB as Python's, which it binds
    assert type(bound[name]).__module__ != "numpy"


def test_a_window_of_datetimes_that_ends_before_it_starts_is_refused(tmp_path: Path) -> None:
    """Given as text it was refused; as datetimes it had answered nothing."""
    query = queries.parse(
        write(
            tmp_path, "q", "-- d\n-- @param from=null x\n-- @param to=null y\nSELECT $from, $to\n"
        )
    )
    later = datetime.datetime(2026, 11, 30, 10, tzinfo=datetime.UTC)
    with pytest.raises(BadInputError, match="is not before"):
        query.bind({"from": later, "to": later - datetime.timedelta(hours=1)}, flag="")
    with pytest.raises(BadInputError, match="is not before"):
        query.bind({"from": datetime.date(2026, 12, 1), "to": "2026-11-30T00:00:00Z"}, flag="")
    assert query.bind({"from": later - datetime.timedelta(hours=1), "to": later}, flag="")


def test_one_parameter_given_twice_in_two_cases_is_refused(tmp_path: Path) -> None:
    """From Python, limit=5 and LIMIT=6 had silently taken 6."""
    query = queries.parse(write(tmp_path, "q", "-- d\n-- @param limit=20 x\nSELECT $limit\n"))
    with pytest.raises(BadInputError, match="limit, LIMIT name one parameter"):
        query.bind({"limit": "5", "LIMIT": "6"}, flag="")


def test_a_query_file_of_ones_own_binds_its_values_as_they_are(tmp_path: Path) -> None:
    """The curated queries' checks by name (a limit of rows, a time) had refused them."""
    own = queries.parse(
        write(tmp_path, "mine", "SELECT $limit::INT + 1 AS x, $from AS f, $q AS q\n"),
        curated=False,
    )
    assert own.bind({"limit": "-1", "from": "not a time", "q": "many"}) == {
        "limit": "-1",
        "from": "not a time",
        "q": "many",
    }
