"""`dvlab report`: which lab a report reads, and its window checked before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

import dvlab.reporting.notebooks as notebooks
from dvlab.cli import main
from dvlab.reporting.notebooks import ReportResult
from tests.lab.test_store import lock_held


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """What the CLI asks run_report for (the seam is the function that would start a kernel)."""
    seen: list[dict[str, Any]] = []

    def fake_run(
        name: str, params: dict[str, str], *, out_dir: Path | None = None, lab: Path | None = None
    ) -> ReportResult:
        seen.append({"name": name, "params": dict(params), "lab": lab})
        folder = tmp_path / "run"
        return ReportResult(notebook=folder / "x.ipynb", html=folder / "x.html", folder=folder)

    monkeypatch.setattr(notebooks, "run_report", fake_run)
    return seen


def test_p_lab_is_the_lab(calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DVLAB_DB", raising=False)

    code = main(["report", "incident-timeline", "-p", "lab=/tmp/x.duckdb", "-p", "id=c-1"])

    assert code == 0
    assert calls == [
        {"name": "incident-timeline", "params": {"id": "c-1"}, "lab": Path("/tmp/x.duckdb")}
    ]


def test_p_lab_wins_over_dvlab_db(
    calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVLAB_DB", "/elsewhere/lab.duckdb")

    assert main(["report", "incident-timeline", "-p", "lab=/tmp/x.duckdb"]) == 0
    assert calls[0]["lab"] == Path("/tmp/x.duckdb")


def test_db_and_p_lab_naming_the_same_file(
    calls: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    code = main(
        ["--db", str(tmp_path / "x.duckdb"), "report", "incident-timeline", "-p", "lab=x.duckdb"]
    )

    assert code == 0
    assert calls[0]["lab"] == Path("x.duckdb")


def test_db_and_p_lab_naming_two_labs(
    calls: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["report", "incident-timeline", "-p", "lab=/tmp/x.duckdb", "--db", "/tmp/y.duckdb"]
    )

    assert code == 2
    assert calls == []
    assert capsys.readouterr().err == (
        "dvlab: --db /tmp/y.duckdb and -p lab=/tmp/x.duckdb name two different labs;"
        " give one of them\n"
    )


def test_without_p_lab_the_db_is_the_lab(calls: list[dict[str, Any]]) -> None:
    assert main(["--db", "/tmp/z.duckdb", "report", "incident-timeline", "-p", "id=c-1"]) == 0
    assert calls == [
        {"name": "incident-timeline", "params": {"id": "c-1"}, "lab": Path("/tmp/z.duckdb")}
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["start=yesterday"], "start 'yesterday' is not a time"),
        (["end=2026-13-01"], "end '2026-13-01' is not a time"),
        (
            ["start=2026-12-04T10:05:00Z", "end=2026-12-04T10:00:00Z"],
            "start '2026-12-04T10:05:00Z' is not before end '2026-12-04T10:00:00Z'",
        ),
        (
            ["start=2026-12-04T10:00:00Z", "end=2026-12-04T11:00:00+01:00"],
            "start '2026-12-04T10:00:00Z' is not before end '2026-12-04T11:00:00+01:00'",
        ),
        # an empty site had filtered on the empty string; the later of two had won
        (["site="], "parameter site is empty: give a value, or leave it out"),
        (
            ["start=2026-12-04T10:00:00Z", "start=2026-12-04T09:00:00Z"],
            "-p start given more than once",
        ),
    ],
)
def test_a_bad_window_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], params: list[str], message: str
) -> None:
    out = tmp_path / "reports"
    argv = [
        "report",
        "incident-timeline",
        "-p",
        f"lab={tmp_path / 'lab.duckdb'}",
        "--out",
        str(out),
    ]
    for param in params:
        argv += ["-p", param]

    code = main(argv)

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"dvlab: {message}")
    assert err.count("\n") == 1
    assert not out.exists()  # nothing ran, nothing was written


def test_a_missing_or_foreign_lab_is_refused_before_the_kernel_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_lab = tmp_path / "x.jsonl"
    not_a_lab.write_text('{"a": 1}\n')
    # an empty file, and a DuckDB database dvlab never loaded, had started a kernel and
    # failed in a cell
    empty = tmp_path / "empty.duckdb"
    empty.touch()
    foreign = tmp_path / "foreign.duckdb"
    duckdb.connect(str(foreign)).execute("CREATE TABLE foo AS SELECT 1 AS x").close()
    damaged = tmp_path / "damaged.duckdb"
    damaged.write_bytes(foreign.read_bytes()[:20_000])
    for lab, fragment in (
        (tmp_path / "nope.duckdb", "no lab at"),
        (not_a_lab, "not a DuckDB database"),
        (empty, "no lab at"),
        (foreign, "is a DuckDB database but no lab"),
        (damaged, "damaged.duckdb failed: IO Error"),
    ):
        code = main(
            ["report", "incident-timeline", "-p", f"lab={lab}", "--out", str(tmp_path / "r")]
        )
        assert code == 2
        assert fragment in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing ran, so nothing was written


def test_a_locked_lab_is_exit_3_before_the_kernel_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for every reader; it had started a kernel and failed in a cell (exit 4)."""
    lab = tmp_path / "lab.duckdb"
    source = tmp_path / "a.log"
    source.write_text("ts=2026-12-01T10:00:00Z msg=a\n", encoding="utf-8")
    assert main(["--db", str(lab), "ingest", str(source)]) == 0
    monkeypatch.setenv("DVLAB_LOCK_TIMEOUT", "0.3")
    with lock_held(lab, 30.0) as holder:
        code = main(
            ["--db", str(lab), "report", "incident-timeline", "--out", str(tmp_path / "r")]
        )

    assert code == 3
    assert f"locked by process {holder.pid}" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
