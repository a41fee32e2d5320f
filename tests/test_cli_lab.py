"""`dvlab lab`: JupyterLab's own options pass through; other commands still refuse unknown ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import dvlab.reporting.notebooks as notebooks
from dvlab.cli import main


def test_jupyter_options_pass_through(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def fake_start(*, lab: Path, notebook_dir: Path | None = None, extra_args: Any = ()) -> int:
        seen.update(lab=lab, extra_args=list(extra_args))
        return 0

    # the seam is the function that would exec JupyterLab; argument handling is what is tested
    monkeypatch.setattr(notebooks, "start_jupyterlab", fake_start)
    db = tmp_path / "lab.duckdb"
    assert main(["--db", str(db), "lab", "--no-browser", "--port", "8899"]) == 0
    assert seen == {"lab": db, "extra_args": ["--no-browser", "--port", "8899"]}


def test_other_commands_refuse_unknown_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sql", "SELECT 1", "--bogus"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_command_line_sets_the_lab_for_the_notebooks(tmp_path: Path) -> None:
    argv, env = notebooks.jupyterlab_command(
        lab=tmp_path / "x.duckdb", extra_args=["--no-browser"]
    )
    assert argv[1:3] == ["-m", "jupyterlab"]
    assert argv[3] == f"--notebook-dir={notebooks.notebooks_dir()}"
    assert argv[-1] == "--no-browser"
    assert env["DVLAB_DB"] == str((tmp_path / "x.duckdb").resolve())
    assert (notebooks.notebooks_dir() / "incident_timeline.ipynb").is_file()
