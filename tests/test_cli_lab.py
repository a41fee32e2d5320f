"""`dvlab lab`: JupyterLab's own options pass through; other commands still refuse unknown ones."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
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
    # each option keeps its value beside it, in the order given; dvlab's --db is its own
    given = ["--port", "8899", "--ip", "127.0.0.1", "--db", str(db), "--allow-root", "x.ipynb"]
    assert main(["--db", "lab", "lab", *given]) == 0
    assert seen == {
        "lab": db,
        "extra_args": ["--port", "8899", "--ip", "127.0.0.1", "--allow-root", "x.ipynb"],
    }


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


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(word) for word in text.split()]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_sigterm_to_dvlab_lab_stops_jupyterlab_too(tmp_path: Path) -> None:
    """A scheduler or service manager stopping ``dvlab lab`` stops the JupyterLab it
    started, rather than leaving the server running without its parent."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [sys.executable, "-m", "dvlab.launch", "--db", str(tmp_path / "lab.duckdb"), "lab"]
    argv += ["--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.token=''"]
    argv.append("--ServerApp.port_retries=0")
    if os.geteuid() == 0:
        argv.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "config")
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "data")
    parent = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
    )
    server: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            assert parent.poll() is None, "dvlab lab ended before JupyterLab listened"
            assert time.monotonic() < deadline, "JupyterLab did not listen within 120 s"
            with socket.socket() as client:
                client.settimeout(0.5)
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        server = _children(parent.pid)
        assert len(server) == 1

        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=60)

        assert not _running(server[0])
        with socket.socket() as client:
            client.settimeout(0.5)
            assert client.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in server:  # left behind by a dvlab that did not stop it
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
