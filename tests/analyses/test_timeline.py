"""`dvlab timeline`: window bounds, filters and id matching, on the hand-written fixture."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dvlab.analyses.timeline import check_level, check_window, parse_time, timeline
from dvlab.cli import main
from dvlab.errors import BadInputError
from tests.cli_fixture import write_fixture


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    db = tmp_path / "lab.duckdb"
    assert main(["--db", str(db), "ingest", str(write_fixture(tmp_path))]) == 0
    return db


def messages(lab: Path, **filters: str | None) -> list[str]:
    return [row[0] for row in timeline(lab, **filters).select("message").fetchall()]  # type: ignore[arg-type]


def test_whole_lab_in_time_order(lab: Path) -> None:
    assert messages(lab) == [
        "GET /v1/vms 200",
        "retrying attach_port",
        "attach_port gave up",
        "port created",
        "link down",
        "cache warm",
    ]


def test_window_is_start_inclusive_end_exclusive(lab: Path) -> None:
    assert messages(lab, start="2026-12-01T10:00:30Z", end="2026-12-01T10:01:30Z") == [
        "retrying attach_port",
        "attach_port gave up",
    ]
    # the same window written with an offset
    assert messages(lab, start="2026-12-01 11:00:30+01:00", end="2026-12-01T10:01:30Z") == [
        "retrying attach_port",
        "attach_port gave up",
    ]


def test_site_service_and_level_filters(lab: Path) -> None:
    assert messages(lab, site="sto1") == ["attach_port gave up", "port created", "link down"]
    assert messages(lab, service="api") == ["GET /v1/vms 200", "cache warm"]
    assert messages(lab, level="error") == ["attach_port gave up", "link down"]
    assert messages(lab, level="WARN") == [
        "retrying attach_port",
        "attach_port gave up",
        "link down",
    ]


@pytest.mark.parametrize(
    ("the_id", "expected"),
    [
        ("r-1", ["GET /v1/vms 200", "retrying attach_port"]),  # correlation (request_id mapped)
        ("t-9", ["retrying attach_port"]),  # task
        ("ev-7", ["attach_port gave up"]),  # causation
        ("tr-3", ["attach_port gave up"]),  # trace
        ("vm-42", ["port created", "link down"]),  # inside attributes, nested too
        ("vm-4", []),  # a prefix is not a match
    ],
)
def test_id_matches_every_kind_of_id(lab: Path, the_id: str, expected: list[str]) -> None:
    assert messages(lab, id=the_id) == expected


def test_id_in_attributes_is_a_value_never_a_key(tmp_path: Path) -> None:
    """A value with a quote or a backslash in it, and a number, are found; a key is no id."""
    source = tmp_path / "a.jsonl"
    source.write_text(
        "\n".join(
            json.dumps({"ts": f"2026-12-01T10:00:0{n}Z", "msg": msg, **extra})
            for n, (msg, extra) in enumerate(
                [
                    ("one", {"ref": 42}),
                    ("two", {"note": 'a"b'}),
                    ("three", {"path": "c\\d"}),
                    ("four", {"workflow_id": "x", "deep": {"list": ["wf-9", 7.5]}}),
                ]
            )
        )
        + "\n",
        encoding="utf-8",
    )
    lab = tmp_path / "lab.duckdb"
    assert main(["--db", str(lab), "ingest", str(source)]) == 0

    found = {the_id: messages(lab, id=the_id) for the_id in ("42", 'a"b', "c\\d", "wf-9", "7.5")}
    assert found == {
        "42": ["one"],
        'a"b': ["two"],
        "c\\d": ["three"],
        "wf-9": ["four"],
        "7.5": ["four"],
    }
    assert messages(lab, id="workflow_id") == []  # a key
    assert messages(lab, id="ref") == []
    assert messages(lab, id="4") == []  # part of a number


def test_bad_bounds_and_levels_are_refused(lab: Path) -> None:
    with pytest.raises(BadInputError, match="--from 'yesterday' is not a time"):
        timeline(lab, start="yesterday")
    with pytest.raises(BadInputError, match="unknown level 'loud'"):
        timeline(lab, level="loud")


def test_cli_text_output_prints_utc_lines(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(lab), "timeline", "--id", "r-2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].startswith("2026-12-01T10:01:00.000000Z  sto1  provisioning  error")
    assert "attach_port gave up" in out[0] and "correlation_id=r-2" in out[0]


# The window check shared with the reports


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-12-01T10:01:00Z", "2026-12-01T10:01:00Z"),  # empty: the end is exclusive
        ("2026-12-01T10:02:00Z", "2026-12-01T10:01:00Z"),
        ("2026-12-01T11:01:00+01:00", "2026-12-01T10:01:00Z"),  # the same instant
    ],
)
def test_a_start_not_before_the_end_is_refused(lab: Path, start: str, end: str) -> None:
    with pytest.raises(BadInputError) as caught:
        timeline(lab, start=start, end=end)

    assert str(caught.value) == (
        f"--from {start!r} is not before --to {end!r}; the window is empty"
        " (--from is inclusive, --to exclusive)"
    )


def test_check_window_reads_both_bounds_in_utc() -> None:
    assert check_window("2026-12-01T11:00:00+01:00", "2026-12-01T10:00:01Z") == (
        datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        datetime(2026, 12, 1, 10, 0, 1, tzinfo=UTC),
    )
    assert check_window(None, None) == (None, None)


def test_check_window_names_the_bounds_as_the_caller_does() -> None:
    with pytest.raises(BadInputError, match=r"^end 'soon' is not a time"):
        check_window("2026-12-01T10:00:00Z", "soon", names=("start", "end"))


def test_cli_refuses_an_empty_window(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--db", str(lab), "timeline", "--from", "2026-12-02", "--to", "2026-12-01"])

    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (
        "dvlab: --from '2026-12-02' is not before --to '2026-12-01'; the window is empty"
        " (--from is inclusive, --to exclusive)\n"
    )


# Levels: the words the ingest knows, through the same dvlab_level macro


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("WARNING", ["retrying attach_port", "attach_port gave up", "link down"]),
        ("err", ["attach_port gave up", "link down"]),
        ("critical", ["link down"]),
        ("50", ["attach_port gave up", "link down"]),
    ],
)
def test_level_words_of_the_ingest_are_accepted(lab: Path, word: str, expected: list[str]) -> None:
    assert messages(lab, level=word) == expected


def test_check_level_names_the_level() -> None:
    assert check_level(" Warning ") == "warn"
    with pytest.raises(BadInputError, match="accepted: trace, debug, info, warn, error, fatal"):
        check_level("loud")


# What the text format prints


def test_cli_says_when_no_record_matches(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--db", str(lab), "timeline", "--id", "no-such-id"])

    out, err = capsys.readouterr()
    assert (code, out, err) == (0, "", "dvlab: no records match\n")


def test_cli_text_shows_control_characters_as_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = {
        "ts": "2026-12-01T10:00:00Z",
        "level": "error",
        "service": "api\x1b[8m",
        "site": "osl1",
        # a terminal title change, a colour, a C1 CSI, a second line and a tab
        "msg": "boom \x1b]0;owned\x07 \x1b[31mred\u009b2J\nsecond\tline",
        "correlation_id": "r-\x1b[0m",
    }
    source = tmp_path / "hostile.jsonl"
    source.write_text(json.dumps(record) + "\n", encoding="utf-8")
    db = tmp_path / "lab.duckdb"
    assert main(["--db", str(db), "ingest", str(source)]) == 0
    capsys.readouterr()

    assert main(["--db", str(db), "timeline"]) == 0

    out = capsys.readouterr().out
    assert out == (
        "2026-12-01T10:00:00.000000Z  osl1  api\\x1b[8m  error  "
        "boom \\x1b]0;owned\\x07 \\x1b[31mred\\x9b2J\n"
        "    second\tline  [correlation_id=r-\\x1b[0m]\n"
    )


def test_id_finds_a_tasks_changes_by_its_target_or_idempotency_key(tmp_path: Path) -> None:
    source = tmp_path / "tasks.csv"
    source.write_text(
        "task_id,state,created_at,started_at,target_id,idempotency_key,shelf\n"
        "t1,running,2026-12-01T10:00:00Z,2026-12-01T10:00:01Z,vol-7,idem-1,a\n"
        "t2,running,2026-12-01T10:00:02Z,,vol-8,idem-2,b\n",
        encoding="utf-8",
    )
    lab = tmp_path / "lab.duckdb"
    assert main(["--db", str(lab), "ingest", str(source)]) == 0

    def tasks(the_id: str) -> list[str]:
        found = timeline(lab, id=the_id).select("task_id, message").fetchall()  # type: ignore[arg-type]
        return [task for task, _ in found]

    assert tasks("vol-7") == ["t1", "t1"]  # created, started
    assert tasks("idem-2") == ["t2"]
    assert tasks("b") == ["t2"]  # an attribute's value
    assert tasks("shelf") == []  # its name


def test_a_number_too_short_for_an_epoch_is_told_how_long_one_is() -> None:
    """`--at 5` had been told to give "an epoch number", which it had."""
    with pytest.raises(BadInputError, match=r"'5' is not a time; .* 9 to 19 digits"):
        parse_time("5", name="--at")
