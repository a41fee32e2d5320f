"""`dvlab timeline`: window bounds, filters and id matching, on the hand-written fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvlab.analyses.timeline import timeline
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
