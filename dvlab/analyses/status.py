"""The operator's seven questions at a moment, each answered by a curated query.

What is running (``status_running``); what failed, why, what it was trying
to affect and whether a retry is safe (``status_failed``); which dependency
is unavailable or degraded (``status_dependencies``); and whether each
affected workflow is blocked, retrying or in reduced mode
(``status_workflows``). The queries live in ``queries/`` so that notebooks
and ``dvlab sql`` get the same answers; this module runs them together and
lays the answers out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dvlab.analyses.timeline import parse_time
from dvlab.errors import BadInputError
from dvlab.lab.queries import CENTURY
from dvlab.lab.store import open_lab
from dvlab.lab.timeconv import format_utc

#: question -> the curated query that answers it
QUERIES = {
    "running": "status_running",
    "failed": "status_failed",
    "workflows": "status_workflows",
    "dependencies": "status_dependencies",
}


#: the longest --window, in seconds: a century (an interval DuckDB holds)
_LONGEST_WINDOW = CENTURY


@dataclass
class Status:
    """The answers at one moment: each a list of rows (dicts) of its query."""

    at: datetime | None
    site: str | None
    running: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    workflows: list[dict[str, Any]]
    dependencies: list[dict[str, Any]]
    #: the last time the task history knows of, when ``at`` is after it: what happened
    #: since is not in the lab
    history_ends: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "site": self.site,
            "history_ends": self.history_ends,
            "running": self.running,
            "failed": self.failed,
            "workflows": self.workflows,
            "dependencies": self.dependencies,
        }


def status(
    lab: str | os.PathLike[str] | None = None,
    *,
    at: str | None = None,
    site: str | None = None,
    window: int = 3600,
) -> Status:
    """The answers at ``at`` (default: the latest time of the task history), for one ``site``
    or all; a failure counts when it happened within ``window`` seconds before ``at``."""
    if at is not None:
        parse_time(at, name="--at")
    if not 1 <= window <= _LONGEST_WINDOW:
        raise BadInputError(
            f"--window must be from 1 second to {_LONGEST_WINDOW} (a century), not {window}"
        )
    handle = open_lab(Path(lab) if lab is not None else None)
    if not handle.sql("SELECT count(*) FROM tasks").fetchall()[0][0]:
        raise BadInputError(
            f"{handle.path} holds no task history; `dvlab ingest` a task table "
            "(CSV, Parquet, JSON) and its transitions first"
        )
    if site is not None:
        sites = [
            r[0]
            for r in handle.sql(
                "SELECT DISTINCT site FROM tasks WHERE site IS NOT NULL ORDER BY site"
            ).fetchall()
        ]
        if site not in sites:
            raise BadInputError(
                f"no task of site {site!r} in the lab; its sites: {', '.join(sites) or 'none'}"
            )
    answers: dict[str, list[dict[str, Any]]] = {}
    for name, query in QUERIES.items():
        params: dict[str, Any] = {"at": at, "site": site}
        if name == "failed":
            params["window"] = window
        relation = handle.query(query, **params)
        columns = relation.columns
        answers[name] = [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]
    moment, first, last = handle.sql(
        """SELECT dvlab_moment($at), min(t), max(t) FROM (
               SELECT unnest([created, started, finished]) AS t FROM tasks
               UNION ALL SELECT ts FROM task_transitions)""",
        {"at": at},
    ).fetchall()[0]
    if first is not None and moment < first:
        # no task had been created: a mistyped moment, not an all-clear
        raise BadInputError(
            f"--at {at}: the task history begins later, at {format_utc(first)} (and ends at "
            f"{format_utc(last)}); nothing is known of that moment"
        )
    ends = last if last is not None and moment > last else None
    return Status(at=moment, site=site, history_ends=ends, **answers)


def render(answers: Status) -> list[str]:
    """The seven answers as text, each with its evidence."""
    lines = [f"status at {_time(answers.at)}" + (f", site {answers.site}" if answers.site else "")]
    if answers.history_ends is not None:
        lines.append(
            f"(the task history ends at {_time(answers.history_ends)}: what changed after that "
            "is not in the lab)"
        )
    lines.append("")
    lines.append(f"1. What is running: {len(answers.running)} task(s)")
    for r in answers.running:
        target = _words(r["target_kind"], r["target_id"])
        lines.append(
            f"   {_task(r)}"
            + (f" on {target}" if target else "")
            + f", attempt {_shown(r['attempt'])}, for {_seconds(r['running_for'])}"
            + _workflow(r)
        )
    lines.append("")
    lines.append(f"2. What failed: {len(answers.failed)} task(s)")
    if not answers.failed:
        # else the numbers jump from 2 to 6, as if three answers were lost
        lines.append("   (3. why, 4. what it was trying to affect and 5. whether to retry are")
        lines.append("   answered under each failed task)")
    for r in answers.failed:
        lines.append(
            f"   {_task(r)} failed {_time(r['failed_at'])} after {_shown(r['attempt'])} "
            f"attempt(s)" + _workflow(r)
        )
        lines.append(
            f"      3. why: {r['error_class'] or 'no error class'}"
            + (f": {r['error_message']}" if r["error_message"] else "")
        )
        if r["first_error"]:
            lines.append(
                f"         first error log of {r['correlation_id']}: {r['first_error']!r} "
                f"at {_time(r['first_error_at'])}"
            )
        others = r["others_on_target"] or 0
        target = _words(r["target_kind"], r["target_id"])
        lines.append(
            f"      4. trying to affect: {target or 'no target recorded for the task'}; "
            f"{others} other task(s) touch it" + (f" ({', '.join(r['others'])})" if others else "")
        )
        lines.append(f"      5. retry: {r['retry_verdict']} ({r['retry_reason']})")
    lines.append("")
    lines.append(f"6. Dependencies unavailable or degraded: {len(answers.dependencies)}")
    for r in answers.dependencies:
        lines.append(
            f"   {_words(r['service'], 'at' if r['site'] else None, r['site']) or '?'}: "
            f"{r['state']} ({r['evidence']})"
        )
    lines.append("")
    modes: dict[str, list[dict[str, Any]]] = {"blocked": [], "retrying": [], "reduced": []}
    for r in answers.workflows:
        modes[r["mode"]].append(r)
    # workflows, not rows: one can be reduced for two reasons
    counts = ", ".join(f"{len({r['workflow_id'] for r in v})} {k}" for k, v in modes.items())
    lines.append(f"7. Workflows: {counts}")
    for mode, rows in modes.items():
        for r in rows:
            lines.append(
                f"   {mode}: {_words(r['workflow_type'], r['workflow_id']) or '?'}"
                + (f" at {r['site']}" if r["site"] else "")
                + f" since {_time(r['since'])}: {_words(r['task'], r['task_id'])}: {r['reason']}"
            )
    return lines


def _words(*parts: object) -> str:
    """The parts that are there, joined by blanks (an unknown one is left out)."""
    return " ".join(str(p) for p in parts if p is not None and p != "")


def _shown(value: object) -> str:
    return "?" if value is None else str(value)


def _task(r: dict[str, Any]) -> str:
    """A task by its name and id, with its service and site when known."""
    where = _words(r["service"], "at" if r["site"] else None, r["site"])
    return _words(r["name"], r["task_id"]) + (f" ({where})" if where else "")


def _workflow(r: dict[str, Any]) -> str:
    return f"; workflow {r['workflow_id']}" if r["workflow_id"] else ""


def _time(value: object) -> str:
    if isinstance(value, datetime):
        return format_utc(value)
    return "?" if value is None else str(value)


def _seconds(value: object) -> str:
    seconds = getattr(value, "total_seconds", None)
    return f"{seconds():.1f} s" if seconds is not None else str(value)
