"""Curated report notebooks: finding them, running them headlessly, opening them in JupyterLab.

A report is a notebook in :func:`notebooks_dir` with a cell tagged
``parameters``; its name is the file's stem with ``-`` for ``_``
(``incident-timeline`` is ``incident_timeline.ipynb``). :func:`run_report`
executes a copy with papermill and writes it, with an HTML page made from its
outputs, to ``reports/<name>/<UTC timestamp>/``. A report that fails still
leaves both behind, so the failing cell can be read where it failed.

papermill, nbconvert and the kernel are started inside the functions that need
them; importing this module does nothing but define it.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvlab.errors import BadInputError, LabLockedError, MissingDependencyError, ReportError
from dvlab.resources import data_dir

if TYPE_CHECKING:
    from nbformat import NotebookNode

log = logging.getLogger(__name__)

#: Parameters that make a window: each a time, ``start`` before ``end``.
WINDOW_PARAMETERS = frozenset({"start", "end"})

#: Where :func:`run_report` writes when no ``out_dir`` is given (relative to the working directory).
DEFAULT_OUT_DIR = Path("reports")

_NONE_WORDS = frozenset({"none", "null"})
_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})
_OPTIONAL = re.compile(r"^Optional\[(.+)\]$|^(.+?)\s*\|\s*None$|^None\s*\|\s*(.+)$")

# nbconvert's "lab" page loads require.js, MathJax and mermaid from a CDN when it
# is opened. A report page must work offline, and reports use neither widgets,
# LaTeX nor mermaid, so those three blocks are left empty. An SVG image whose
# display carries ``alt`` metadata (charts.enable_offline_rendering sets it from
# the chart's description) gets it as alt text; nbconvert fills in a placeholder
# and warns for an image without.
_OFFLINE_TEMPLATE_NAME = "dvlab_offline.html.j2"
_OFFLINE_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block data_svg scoped -%}
{%- set alt_text = (output.metadata or {}).get('image/svg+xml', {}).get('alt') -%}
{%- if alt_text -%}
{{ super() | replace('<img ', '<img alt="' ~ (alt_text | escape_html) ~ '" ') }}
{%- else -%}
{{ super() }}
{%- endif -%}
{%- endblock data_svg -%}
"""

#: Longest path of a kernel's IPC socket (a Unix socket path holds 104 to 108 bytes).
_MAX_SOCKET_PATH = 90


@dataclass(frozen=True)
class ReportResult:
    """Where one run of a report was written."""

    notebook: Path
    html: Path
    folder: Path


def notebooks_dir() -> Path:
    """Where the report notebooks are: ``$DVLAB_NOTEBOOKS``, the installed copy, or the checkout."""
    return data_dir("notebooks", "DVLAB_NOTEBOOKS")


def report_name(notebook: Path) -> str:
    """The report name of a notebook file: ``incident_timeline.ipynb`` is ``incident-timeline``."""
    return notebook.stem.replace("_", "-")


def available_reports() -> dict[str, Path]:
    """Every report, by name, sorted."""
    folder = notebooks_dir()
    return {report_name(path): path for path in sorted(folder.glob("*.ipynb"))}


def find_report(name: str) -> Path:
    """The notebook of report ``name``; ``incident_timeline`` is accepted for ``incident-timeline``."""
    reports = available_reports()
    path = reports.get(name.replace("_", "-"))
    if path is None:
        accepted = ", ".join(reports) or f"none (no notebooks in {notebooks_dir()})"
        raise BadInputError(f"no report {name!r}; available: {accepted}")
    return path


def report_parameters(
    name: str, params: Mapping[str, str | None], *, lab: Path | None = None
) -> dict[str, Any]:
    """The values papermill should inject into report ``name``, typed as the notebook declares.

    Values arrive as text (``-p start=2026-12-04T10:00Z``) and are converted to
    the type the parameters cell declares: ``int``, ``float``, ``bool`` or
    ``str``; ``none`` or ``null`` (or None) give None where the declared type is
    optional or the default is None. ``lab``, when given, becomes the ``lab``
    parameter as an absolute path, so the kernel finds it whatever its working
    directory. In a report with ``start`` and ``end`` parameters those are a
    window, checked as ``dvlab timeline`` checks ``--from`` and ``--to``: each
    must be a time, and start must come before end.
    """
    import papermill

    notebook = find_report(name)
    declared = papermill.inspect_notebook(notebook)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise BadInputError(
            f"report {name!r} has no parameter {', '.join(unknown)};"
            f" it accepts: {', '.join(declared) or 'none'}"
        )
    if lab is not None and "lab" not in declared:
        raise BadInputError(f"report {name!r} reads no lab (it has no 'lab' parameter)")
    if lab is not None and "lab" in params:
        raise BadInputError("give the lab once: either lab= or the 'lab' parameter, not both")

    values = {key: _convert(key, raw, declared[key]) for key, raw in params.items()}
    if set(declared) >= WINDOW_PARAMETERS:
        _check_window(values.get("start"), values.get("end"))
    if lab is not None:
        values["lab"] = str(Path(lab).resolve())
    return values


def _check_lab(path: Path) -> None:
    """A report needs a lab to read: refuse a missing, empty, damaged or foreign one, or
    one locked past ``DVLAB_LOCK_TIMEOUT`` (:class:`~dvlab.errors.LabLockedError`), before
    a kernel starts."""
    from dvlab.lab import schema
    from dvlab.lab.store import connect_file

    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        raise BadInputError(f"no lab at {path}; load one with `dvlab ingest PATH --db {path}`")
    con = connect_file(path, read_only=True)  # a damaged file is said so here
    try:
        version = schema.current_version(
            con, str(con.execute("SELECT current_database()").fetchall()[0][0])
        )
    finally:
        con.close()
    if not version:
        raise BadInputError(
            f"{path} is a DuckDB database but no lab (dvlab has never loaded it); load one "
            f"with `dvlab ingest PATH --db {path}`"
        )


def run_report(
    name: str,
    params: Mapping[str, str],
    *,
    out_dir: Path | None = None,
    lab: Path | None = None,
) -> ReportResult:
    """Execute report ``name`` and write the executed notebook and its HTML page.

    The run goes to ``<out_dir or ./reports>/<name>/<UTC timestamp>/``. The page
    shows outputs only (no code) and fetches nothing when opened. When a cell
    fails, the executed notebook (with papermill's note on the failure at its
    top) and the page are still written, then :class:`~dvlab.errors.ReportError`
    is raised; its ``cell`` is the failing cell's index among the executed
    notebook's code cells, counting from 0 (papermill's injected parameters cell
    included), and its message names that cell as the executed notebook shows
    it (``In [5]``, its execution count) with its first line, and the error. A
    parameter the notebook does not declare, a value that does not fit its
    type, or a window that is not one (see :func:`report_parameters`) is refused with
    :class:`~dvlab.errors.BadInputError` before anything runs; a missing kernel
    gives :class:`~dvlab.errors.MissingDependencyError`.
    """
    values = report_parameters(name, params, lab=lab)
    if isinstance(values.get("lab"), str):
        _check_lab(Path(values["lab"]))
    notebook = find_report(name)
    folder = _new_run_folder((out_dir or DEFAULT_OUT_DIR) / report_name(notebook))
    executed = folder / notebook.name
    html = executed.with_suffix(".html")

    started = time.monotonic()
    failure = _execute(notebook, executed, values)
    if failure is not None and not executed.is_file():
        raise ReportError(f"report {name!r} did not run: {failure}") from failure
    html_problem = _write_html(executed, html, title=f"{report_name(notebook)} {folder.name}")
    log.info("report %s ran in %.1f s: %s", name, time.monotonic() - started, folder)

    if failure is not None:
        error = _cell_failure(name, executed, failure, html_problem)
        if getattr(failure, "ename", None) == "LabLockedError":
            # the lab was locked past DVLAB_LOCK_TIMEOUT while the report ran: said as such
            raise LabLockedError(str(error)) from failure
        raise error from failure
    if html_problem is not None:
        raise ReportError(
            f"report {name!r} ran, but its HTML page could not be written: {html_problem}",
            notebook=str(executed),
        ) from html_problem
    return ReportResult(notebook=executed, html=html, folder=folder)


def jupyterlab_command(
    *, lab: Path, notebook_dir: Path | None = None, extra_args: Sequence[str] = ()
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment :func:`start_jupyterlab` runs JupyterLab with.

    ``DVLAB_DB`` is the absolute path of ``lab``, so that the notebooks'
    ``lab`` parameter and ``%%sql`` find it whatever folder they run in.
    """
    folder = notebook_dir if notebook_dir is not None else notebooks_dir()
    argv = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={folder}", *extra_args]
    env = {**os.environ, "DVLAB_DB": str(Path(lab).resolve())}
    return argv, env


def start_jupyterlab(
    *, lab: Path, notebook_dir: Path | None = None, extra_args: Sequence[str] = ()
) -> int:
    """Run JupyterLab on the report notebooks (or ``notebook_dir``) over ``lab``; its exit code.

    Blocks until JupyterLab exits. Ctrl-C reaches JupyterLab too, which asks
    for confirmation itself; this function just goes on waiting for it.
    """
    import importlib.util

    if importlib.util.find_spec("jupyterlab") is None:
        raise MissingDependencyError(
            "JupyterLab is not installed; install it with `pip install jupyterlab`"
        )
    if not Path(lab).exists():
        log.warning("no lab at %s yet; the notebooks will fail until one is ingested", lab)

    argv, env = jupyterlab_command(lab=lab, notebook_dir=notebook_dir, extra_args=extra_args)
    with subprocess.Popen(argv, env=env) as child:
        # SIGTERM to dvlab stops JupyterLab as it would stop it (a Ctrl-C at the terminal
        # reaches the child by itself); dvlab waits for it to shut down
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: child.terminate())
        try:
            while True:
                try:
                    return child.wait()
                except KeyboardInterrupt:
                    continue
        finally:
            signal.signal(signal.SIGTERM, previous)


def _convert(name: str, raw: str | None, declared: Mapping[str, str]) -> Any:
    """One ``-p`` value as the type the parameters cell declares for ``name``."""
    type_name = declared.get("inferred_type_name", "None").strip()
    optional_match = _OPTIONAL.match(type_name)
    optional = optional_match is not None or declared.get("default", "").strip() == "None"
    base = next((g for g in optional_match.groups() if g), "str") if optional_match else type_name

    if raw is None or (optional and raw.strip().lower() in _NONE_WORDS):
        if not optional:
            raise BadInputError(f"parameter {name} is a {type_name} and cannot be None")
        return None
    text = raw.strip()
    if not text:
        # an empty site or id would filter on the empty string, and show nothing
        left_out = ", or leave it out" if optional else ""
        raise BadInputError(f"parameter {name} is empty: give a value{left_out}")
    try:
        if base == "int":
            return int(text)
        if base == "float":
            return float(text)
    except ValueError:
        raise BadInputError(f"parameter {name} must be a {base}, not {raw!r}") from None
    if base == "bool":
        if text.lower() in _TRUE_WORDS:
            return True
        if text.lower() in _FALSE_WORDS:
            return False
        raise BadInputError(
            f"parameter {name} must be true or false (or yes/no, 1/0), not {raw!r}"
        )
    return raw


def _check_window(start: Any, end: Any) -> None:
    from dvlab.analyses.timeline import check_window

    if start is not None or end is not None:
        check_window(
            None if start is None else str(start),
            None if end is None else str(end),
            names=("start", "end"),
        )


def _new_run_folder(parent: Path, *, now: datetime | None = None) -> Path:
    """A fresh ``<parent>/<UTC timestamp>`` folder; ``-2``, ``-3``... if that second is taken."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        folder = parent / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise ReportError(f"could not create a run folder under {parent}: 999 runs this second")


def _execute(notebook: Path, executed: Path, values: Mapping[str, Any]) -> Exception | None:
    """Run ``notebook`` into ``executed``; the failure, or None when every cell ran."""
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from traitlets.config import Config

    from dvlab.reporting.kernel import LoggingKernelManager, drop_if_empty

    kernel_log = executed.parent / "kernel.log"
    try:
        with tempfile.TemporaryDirectory(prefix="dvlab-kernel-") as sockets:
            options = _kernel_options(Path(sockets))
            config = options.pop("config", None) or Config()
            config.LoggingKernelManager.stderr_path = str(kernel_log)
            papermill.execute_notebook(
                str(notebook),
                str(executed),
                parameters=dict(values),
                progress_bar=False,
                log_output=False,
                kernel_manager_class=LoggingKernelManager,
                config=config,
                **options,
            )
    except NoSuchKernel as exc:
        raise MissingDependencyError(
            f"the notebook's kernel is not installed ({exc}); install one with"
            " `python -m ipykernel install --user`"
        ) from exc
    except papermill.PapermillExecutionError as exc:
        return exc
    except (DeadKernelError, CellTimeoutError) as exc:
        return exc
    except KeyboardInterrupt:
        _mark_stopped(executed, notebook)
        raise
    finally:
        drop_if_empty(kernel_log)
    return None


def _mark_stopped(executed: Path, notebook: Path) -> None:
    """Open the notebook a stopped run left with a note that says so (papermill writes
    it as the cells run, and it would pass for a finished run); no HTML page is made.
    Stopped before papermill wrote anything (while the kernel started), the run folder
    gets the notebook as given, with a note that nothing ran."""
    import nbformat

    begun = executed.is_file()
    try:
        nb = nbformat.read(executed if begun else notebook, as_version=4)
    except (OSError, ValueError) as exc:
        log.info("could not mark %s as stopped: %s", executed, exc)
        return
    note = nbformat.v4.new_markdown_cell(
        "**Stopped.** This run was interrupted (Ctrl-C or SIGTERM) before it ended: the "
        "cells below show what had run by then, and the cell that was running may show "
        "the interruption as its error."
        if begun
        else "**Stopped.** This run was interrupted (Ctrl-C or SIGTERM) before its first "
        "cell ran: below is the notebook as given, without this run's parameters."
    )
    nb.cells.insert(0, note)
    nb.metadata["dvlab"] = {"interrupted": True}
    try:
        nbformat.write(nb, executed)
    except OSError as exc:
        log.info("could not mark %s as stopped: %s", executed, exc)


def _kernel_options(sockets: Path) -> dict[str, Any]:
    """papermill options that start the kernel on Unix sockets in the private ``sockets``.

    Over TCP (Jupyter's default) the kernel's messages cross the loopback
    interface unencrypted, and ipykernel says so on stderr at every run.
    Sockets in a folder only this user can open (``tempfile`` makes it 0700)
    leave nothing to warn about. Windows has no such sockets, and a socket
    path has a length limit; there the kernel stays on TCP (and warns).
    """
    ip = sockets / "kernel"
    if os.name != "posix" or len(str(ip)) + len("-65535") > _MAX_SOCKET_PATH:
        return {}
    from traitlets.config import Config

    return {"config": Config({"KernelManager": {"transport": "ipc", "ip": str(ip)}})}


def _write_html(executed: Path, html: Path, *, title: str) -> Exception | None:
    """Write the outputs of ``executed`` as an offline HTML page; the problem, or None."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        exclude_input=True,
        exclude_output_prompt=True,
        extra_loaders=[jinja2.DictLoader({_OFFLINE_TEMPLATE_NAME: _OFFLINE_TEMPLATE})],
        template_file=_OFFLINE_TEMPLATE_NAME,
    )
    try:
        body, _resources = exporter.from_notebook_node(
            nbformat.read(executed, as_version=4), resources={"metadata": {"name": title}}
        )
    except (OSError, ValueError, jinja2.TemplateError) as exc:
        log.warning("could not write the HTML page of %s: %s", executed, exc)
        return exc
    html.write_text(body, encoding="utf-8")
    return None


def _cell_failure(
    name: str, executed: Path, failure: Exception, html_problem: Exception | None
) -> ReportError:
    """The ReportError for a run that stopped at a cell, read from the executed notebook."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    index, cell = _failing_code_cell(nb)
    ename = getattr(failure, "ename", type(failure).__name__)
    evalue = getattr(failure, "evalue", str(failure))

    if cell is None:
        where = "(no cell shows the error)"
    else:
        # named once, as Jupyter shows it in the executed notebook: "In [5]", or "In [ ]"
        # for a cell that never started; the index among code cells is ReportError.cell
        count = cell.get("execution_count")
        first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
        where = f"in cell In [{' ' if count is None else count}] ({first_line.strip()})"
    page = "" if html_problem is None else f"; no HTML page ({html_problem})"
    return ReportError(
        f"report {name!r} failed {where}: {ename}: {evalue}. "
        f"The executed notebook is {executed}{page}",
        notebook=str(executed),
        cell=index,
    )


def _failing_code_cell(nb: NotebookNode) -> tuple[int | None, NotebookNode | None]:
    """The first code cell with an error output (or papermill's exception mark), by code index."""
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    for index, cell in enumerate(code_cells):
        errored = any(output.get("output_type") == "error" for output in cell.get("outputs", []))
        marked = cell.get("metadata", {}).get("papermill", {}).get("exception") is True
        if errored or marked:
            return index, cell
    return None, None
