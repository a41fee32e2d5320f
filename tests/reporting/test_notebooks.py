"""Finding, parameterising and running the report notebooks, and the JupyterLab command."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import sys
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import nbformat
import pytest
from incident_fixture import SERVICES

from dvlab.errors import BadInputError, LabLockedError, ReportError
from dvlab.lab.ingest import ingest
from dvlab.reporting import notebooks
from dvlab.reporting.notebooks import (
    available_reports,
    jupyterlab_command,
    notebooks_dir,
    report_parameters,
    run_report,
    start_jupyterlab,
)
from tests.lab.test_store import lock_held
from tests.stopping import stop_midway

REPO = Path(__file__).resolve().parents[2]
INCIDENT_PARAMETERS = ["lab", "start", "end", "id", "site", "service"]
SVG_IMAGE = re.compile(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"')


def write_notebook(path: Path, parameters: str, *more_code: str) -> Path:
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(
        cells=[cell, *(nbformat.v4.new_code_cell(code) for code in more_code)]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


# Finding notebooks


def test_notebooks_dir_is_the_checkout_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DVLAB_NOTEBOOKS", raising=False)

    assert notebooks_dir() == REPO / "notebooks"


def test_available_reports_name_notebooks_with_dashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_notebook(tmp_path / "slow_services.ipynb", "x = 1")
    write_notebook(tmp_path / "daily.ipynb", "x = 1")
    (tmp_path / "notes.txt").write_text("not a notebook")
    monkeypatch.setenv("DVLAB_NOTEBOOKS", str(tmp_path))

    assert available_reports() == {
        "daily": tmp_path / "daily.ipynb",
        "slow-services": tmp_path / "slow_services.ipynb",
    }


def test_the_incident_timeline_report_is_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DVLAB_NOTEBOOKS", raising=False)

    assert (
        available_reports()["incident-timeline"] == REPO / "notebooks" / "incident_timeline.ipynb"
    )


def test_committed_notebook_has_no_outputs_and_a_parameters_cell_first() -> None:
    nb = nbformat.read(REPO / "notebooks" / "incident_timeline.ipynb", as_version=4)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]

    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].metadata["tags"] == ["parameters"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code_cells)


def test_unknown_report_lists_the_available_ones() -> None:
    with pytest.raises(BadInputError, match="no report 'incident'; available: incident-timeline"):
        run_report("incident", {})


# Parameters


def test_incident_parameters_are_declared_with_types() -> None:
    import papermill

    declared = papermill.inspect_notebook(REPO / "notebooks" / "incident_timeline.ipynb")

    assert list(declared) == INCIDENT_PARAMETERS
    assert declared["lab"]["inferred_type_name"] == "str"
    assert {declared[p]["inferred_type_name"] for p in INCIDENT_PARAMETERS[1:]} == {
        "Optional[str]"
    }
    assert {declared[p]["default"] for p in INCIDENT_PARAMETERS[1:]} == {"None"}


def test_text_values_become_none_for_optional_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    values = report_parameters(
        "incident-timeline",
        {"start": "2026-12-04T10:00:00Z", "end": "None", "id": "null", "site": "NULL"},
        lab=Path("lab.duckdb"),
    )

    assert values == {
        "start": "2026-12-04T10:00:00Z",
        "end": None,
        "id": None,
        "site": None,
        "lab": str(tmp_path / "lab.duckdb"),
    }


def test_unknown_parameter_is_refused_with_the_accepted_ones(tmp_path: Path) -> None:
    with pytest.raises(BadInputError) as caught:
        run_report("incident-timeline", {"servce": "orders"}, out_dir=tmp_path)

    assert str(caught.value) == (
        "report 'incident-timeline' has no parameter servce; "
        "it accepts: lab, start, end, id, site, service"
    )
    assert list(tmp_path.iterdir()) == []  # refused before anything ran or was written


def test_lab_given_twice_is_refused() -> None:
    with pytest.raises(BadInputError, match="give the lab once"):
        report_parameters("incident-timeline", {"lab": "a.duckdb"}, lab=Path("b.duckdb"))


@pytest.fixture
def typed_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    write_notebook(
        tmp_path / "typed.ipynb",
        "count = 3  # type: int how many\n"
        "ratio = 0.5  # type: float a share\n"
        "flag = False  # type: bool on or off\n"
        "label = 'x'  # type: str a name\n"
        "limit = None  # type: Optional[int] at most this many\n"
        "anything = None\n",
    )
    monkeypatch.setenv("DVLAB_NOTEBOOKS", str(tmp_path))
    return "typed"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"count": "7"}, {"count": 7}),
        ({"ratio": "0.25"}, {"ratio": 0.25}),
        ({"flag": "yes", "label": "none"}, {"flag": True, "label": "none"}),
        ({"flag": "0"}, {"flag": False}),
        ({"limit": "5"}, {"limit": 5}),
        ({"limit": "null"}, {"limit": None}),
        ({"anything": "none"}, {"anything": None}),
        ({"anything": "2026"}, {"anything": "2026"}),
    ],
)
def test_text_values_take_the_declared_type(
    typed_report: str, given: dict[str, str], expected: dict[str, Any]
) -> None:
    assert report_parameters(typed_report, given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"count": "seven"}, "parameter count must be a int, not 'seven'"),
        ({"flag": "maybe"}, "parameter flag must be true or false"),
        ({"count": "null"}, "parameter count must be a int, not 'null'"),
    ],
)
def test_text_values_that_do_not_fit_are_refused(
    typed_report: str, given: dict[str, str], message: str
) -> None:
    with pytest.raises(BadInputError, match=re.escape(message)):
        report_parameters(typed_report, given)


def test_a_report_without_a_lab_parameter_refuses_lab(typed_report: str) -> None:
    with pytest.raises(BadInputError, match="reads no lab"):
        report_parameters(typed_report, {}, lab=Path("lab.duckdb"))


# Run folders


def test_run_folders_are_utc_timestamps_and_never_reused(tmp_path: Path) -> None:
    oslo_time = datetime(2026, 12, 4, 17, 15, 2, tzinfo=timezone(timedelta(hours=1)))

    folders = [notebooks._new_run_folder(tmp_path, now=oslo_time) for _ in range(3)]

    assert [f.name for f in folders] == [
        "20261204T161502Z",
        "20261204T161502Z-2",
        "20261204T161502Z-3",
    ]
    assert all(f.is_dir() for f in folders)


# JupyterLab


def test_jupyterlab_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVLAB_NOTEBOOKS", raising=False)
    monkeypatch.setenv("DVLAB_SOMETHING_ELSE", "kept")

    argv, env = jupyterlab_command(lab=Path("data/lab.duckdb"), extra_args=["--no-browser"])

    assert argv == [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--notebook-dir={REPO / 'notebooks'}",
        "--no-browser",
    ]
    assert env["DVLAB_DB"] == str(tmp_path / "data" / "lab.duckdb")
    assert env["DVLAB_SOMETHING_ELSE"] == "kept"


def test_jupyterlab_command_with_another_notebook_dir(tmp_path: Path) -> None:
    argv, _env = jupyterlab_command(lab=tmp_path / "lab.duckdb", notebook_dir=tmp_path / "mine")

    assert argv[3] == f"--notebook-dir={tmp_path / 'mine'}"


def test_start_jupyterlab_runs_the_command_and_returns_its_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[list[str], dict[str, str]]] = []

    class FakeChild:
        def __init__(self, argv: list[str], *, env: dict[str, str]) -> None:
            started.append((argv, env))

        def __enter__(self) -> FakeChild:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def wait(self) -> int:
            return 3

    monkeypatch.setattr(notebooks.subprocess, "Popen", FakeChild)
    lab = tmp_path / "lab.duckdb"

    assert start_jupyterlab(lab=lab, notebook_dir=tmp_path) == 3
    assert started == [jupyterlab_command(lab=lab, notebook_dir=tmp_path)]


# Running reports (each starts a kernel)


@pytest.mark.slow
def test_run_report_writes_the_notebook_and_an_offline_page(
    incident_lab: Path, tmp_path: Path
) -> None:
    result = run_report("incident-timeline", {"id": "c-1"}, out_dir=tmp_path, lab=incident_lab)

    assert result.folder.parent == tmp_path / "incident-timeline"
    assert re.fullmatch(r"\d{8}T\d{6}Z(-\d+)?", result.folder.name)
    assert result.notebook == result.folder / "incident_timeline.ipynb"
    assert result.html == result.folder / "incident_timeline.html"

    nb = nbformat.read(result.notebook, as_version=4)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert f"lab = {json.dumps(str(incident_lab))}" in injected.source.replace("'", '"')

    page = result.html.read_text(encoding="utf-8")
    assert '<script src="http' not in page
    assert "<script" not in page
    assert "import polars" not in page  # code cells are left out
    assert "15 events from 3 services" in page
    assert "order 5511 cancelled" in page  # an info record: only the id's timeline shows it
    assert "entry &lt;uuid&gt; rejected: checksum &lt;hex&gt;" in page
    for service in SERVICES:
        assert service in page

    (chart,) = [base64.b64decode(data).decode() for data in SVG_IMAGE.findall(page)]
    for service in SERVICES:
        assert f">{service}</text>" in chart
    assert ">time (UTC)</text>" in chart


@pytest.mark.slow
def test_failing_cell_raises_report_error_and_keeps_the_executed_notebook(
    tmp_path: Path,
) -> None:
    # a lab whose logs fail to read: the cell that opens the lab fails on them (a missing,
    # foreign or locked lab is refused before the kernel starts, see tests/test_cli_report.py)
    bare_lab = tmp_path / "bare.duckdb"
    source = tmp_path / "a.log"
    source.write_text("ts=2026-12-01T10:00:00Z msg=a\n", encoding="utf-8")
    ingest(bare_lab, [str(source)])
    con = duckdb.connect(str(bare_lab))
    con.execute("ALTER TABLE logs RENAME TO logs_kept")
    con.execute("CREATE VIEW logs AS SELECT * FROM logs_kept WHERE error('logs are damaged')")
    con.close()

    with pytest.raises(ReportError) as caught:
        run_report("incident-timeline", {}, out_dir=tmp_path / "out", lab=bare_lab)

    error = caught.value
    # code cells: 0 parameters, 1 papermill's injected parameters, 2 the one opening the lab
    assert error.cell == 2
    message = str(error)
    # the cell named once, as Jupyter numbers it, with its first line
    assert "failed in cell In [3] (# Open the lab and find the window" in message
    assert "code cell" not in message
    assert "logs are damaged" in message

    executed = Path(str(error.notebook))
    assert executed.is_file()
    assert executed.parent.parent == tmp_path / "out" / "incident-timeline"
    nb = nbformat.read(executed, as_version=4)
    failing = [cell for cell in nb.cells if cell.cell_type == "code"][2]
    (failure,) = [out for out in failing.outputs if out.output_type == "error"]
    assert failure.ename in message
    assert executed.with_suffix(".html").is_file()


@pytest.mark.slow
def test_a_lab_locked_while_the_report_runs_is_said_as_locked(
    tmp_path: Path, incident_lab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 3 as for every reader, not a failed cell (exit 4). The check before the kernel
    starts is left out, as if the lock came after it."""
    monkeypatch.setattr(notebooks, "_check_lab", lambda path: None)
    monkeypatch.setenv("DVLAB_LOCK_TIMEOUT", "0.3")
    with lock_held(incident_lab, 120.0) as holder, pytest.raises(LabLockedError) as caught:
        run_report("incident-timeline", {}, out_dir=tmp_path / "out", lab=incident_lab)

    assert f"locked by process {holder.pid}" in str(caught.value)
    assert "failed in cell In [3]" in str(caught.value)


# The window, checked before anything runs


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"start": "yesterday"}, "start 'yesterday' is not a time"),
        ({"end": "tomorrow"}, "end 'tomorrow' is not a time"),
        (
            {"start": "2026-12-04T10:05:00Z", "end": "2026-12-04T10:05:00Z"},
            "start '2026-12-04T10:05:00Z' is not before end '2026-12-04T10:05:00Z'",
        ),
    ],
)
def test_a_window_that_is_not_one_is_refused(
    tmp_path: Path, given: dict[str, str], message: str
) -> None:
    with pytest.raises(BadInputError, match=re.escape(message)):
        run_report("incident-timeline", given, out_dir=tmp_path, lab=tmp_path / "lab.duckdb")

    assert list(tmp_path.iterdir()) == []


def test_a_window_with_one_bound_is_accepted() -> None:
    assert report_parameters("incident-timeline", {"end": "2026-12-04T10:05:00+01:00"}) == {
        "end": "2026-12-04T10:05:00+01:00"
    }


# The page: alt text on charts


def images(page: Path) -> list[dict[str, str]]:
    """The attributes of each <img> of an HTML page."""
    found: list[dict[str, str]] = []

    class Images(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "img":
                found.append({name: value or "" for name, value in attrs})

    Images().feed(page.read_text(encoding="utf-8"))
    return found


def svg_notebook(path: Path, metadata: dict[str, Any]) -> Path:
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>'
    cell = nbformat.v4.new_code_cell("chart")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"image/svg+xml": svg}, metadata=metadata)
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    return path


def test_page_gives_a_chart_its_alt_text(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    executed = svg_notebook(
        tmp_path / "run.ipynb", {"image/svg+xml": {"alt": 'Bars of "events" per minute'}}
    )

    assert notebooks._write_html(executed, tmp_path / "run.html", title="run") is None

    (image,) = images(tmp_path / "run.html")
    assert image["alt"] == 'Bars of "events" per minute'
    assert image["src"].startswith("data:image/svg+xml;base64,")
    assert "Alternative text is missing" not in caplog.text


def test_page_still_flags_a_chart_without_alt_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    executed = svg_notebook(tmp_path / "run.ipynb", {})

    assert notebooks._write_html(executed, tmp_path / "run.html", title="run") is None

    assert "Alternative text is missing on 1 image(s)" in caplog.text


# The kernel's transport


def test_kernel_runs_on_private_unix_sockets(tmp_path: Path) -> None:
    options = notebooks._kernel_options(tmp_path)

    assert options["config"]["KernelManager"] == {
        "transport": "ipc",
        "ip": str(tmp_path / "kernel"),
    }


def test_kernel_stays_on_tcp_when_the_socket_path_is_too_long(tmp_path: Path) -> None:
    assert notebooks._kernel_options(tmp_path / ("x" * 100)) == {}


@pytest.mark.slow
def test_report_from_the_cli_prints_nothing_on_stderr(
    incident_lab: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from dvlab.cli import main

    code = main(
        [
            "report",
            "incident-timeline",
            "-p",
            f"lab={incident_lab}",
            "-p",
            "start=2026-12-04T10:00:00Z",
            "--out",
            str(tmp_path),
        ]
    )

    out, err = capfd.readouterr()
    assert code == 0
    assert err == ""  # neither nbconvert's alt-text warning nor the kernel's TCP warning
    (page,) = tmp_path.glob("incident-timeline/*/incident_timeline.html")
    assert out.splitlines()[0] == f"report written: {page}"
    (chart,) = images(page)
    assert chart["alt"].startswith(
        "Stacked bars of events per 1 minute for 3 services (gateway, ledger, orders)"
    )


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_report_stopped_midway_says_so_in_its_notebook(tmp_path: Path, signum: int) -> None:
    """Ctrl-C or SIGTERM during a run: exit 130, and the notebook written so far opens with
    a note that the run was stopped, rather than passing for a finished one."""
    started = tmp_path / "started"
    source = tmp_path / "one.jsonl"
    source.write_text('{"ts": "2026-12-04T10:00:00Z", "msg": "m"}\n')
    lab = tmp_path / "lab.duckdb"
    from dvlab.cli import main

    assert main(["--db", str(lab), "ingest", str(source)]) == 0
    write_notebook(
        tmp_path / "slow.ipynb",
        "lab = None  # type: Optional[str]\nmarker = ''  # type: str\n",
        "import time\nopen(marker, 'w').close()\ntime.sleep(600)",
        "print('never reached')",
    )
    args = ["--db", str(lab), "report", "slow", "-p", f"marker={started}"]
    args += ["--out", str(tmp_path / "out")]
    env = {**os.environ, "DVLAB_NOTEBOOKS": str(tmp_path)}
    code, _, err = stop_midway(args, lambda _pid: started.exists(), signum, env=env)

    assert code == 130
    assert err == "dvlab: interrupted\n"  # the kernel's own stderr goes to kernel.log
    (executed,) = (tmp_path / "out" / "slow").glob("*/slow.ipynb")
    nb = nbformat.read(executed, as_version=4)
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.startswith("**Stopped.**")
    assert nb.metadata["dvlab"] == {"interrupted": True}
    assert "never reached" not in json.dumps([c.get("outputs") for c in nb.cells])
    assert not executed.with_suffix(".html").exists()


def test_a_report_stopped_before_its_first_cell_leaves_the_notebook_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the kernel starts, before papermill has written anything: the run
    folder still gets a notebook, the one given, opening with a note that nothing ran."""
    import papermill

    write_notebook(tmp_path / "quick.ipynb", "n = 1  # type: int\n", "print(n)")
    monkeypatch.setenv("DVLAB_NOTEBOOKS", str(tmp_path))

    def stopped_at_once(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", stopped_at_once)

    with pytest.raises(KeyboardInterrupt):
        run_report("quick", {"n": "2"}, out_dir=tmp_path / "out")

    (executed,) = (tmp_path / "out" / "quick").glob("*/quick.ipynb")
    nb = nbformat.read(executed, as_version=4)
    assert nb.cells[0].source.startswith("**Stopped.**")
    assert "before its first cell ran" in nb.cells[0].source
    assert nb.metadata["dvlab"] == {"interrupted": True}
    assert [c.source for c in nb.cells[1:]] == ["n = 1  # type: int\n", "print(n)"]
    assert not executed.with_suffix(".html").exists()


@pytest.mark.slow
def test_the_kernels_own_stderr_goes_to_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """What the kernel process itself writes to its stderr (not a cell's output) lands in
    kernel.log beside the notebook, not on dvlab's stderr; an empty log is removed."""
    write_notebook(
        tmp_path / "noisy.ipynb",
        "loud = True  # type: bool\n",
        "import os\nif loud:\n    os.write(2, b'kernel says hi\\n')",
    )
    monkeypatch.setenv("DVLAB_NOTEBOOKS", str(tmp_path))

    loud = run_report("noisy", {}, out_dir=tmp_path / "out")
    assert "kernel says hi" not in capfd.readouterr().err
    assert (loud.folder / "kernel.log").read_text() == "kernel says hi\n"

    quiet = run_report("noisy", {"loud": "false"}, out_dir=tmp_path / "out")
    assert not (quiet.folder / "kernel.log").exists()
