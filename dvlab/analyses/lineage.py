"""Lineage: the whole work an id belongs to, as a tree of tasks and their events.

The ``trace`` curated query does the work (recursive SQL, so notebooks use
the same thing); this module checks the id and draws the tree.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from dvlab.errors import BadInputError
from dvlab.lab.store import open_lab
from dvlab.lab.timeconv import format_utc


def trace(lab: str | os.PathLike[str] | None, id: str) -> duckdb.DuckDBPyRelation:
    """Rows of the tree (depth, kind, id, parent_id, ts, ...) for the work ``id`` belongs to.

    ``id`` is a correlation, causation, event, task, workflow, request or
    idempotency id, or the id of a target resource (then every workflow that
    touched it). Raises BadInputError when nothing loaded carries the id.
    """
    if not id or not id.strip():
        raise BadInputError("trace needs an id: a correlation, event, task, workflow or target id")
    relation = open_lab(Path(lab) if lab is not None else None).query("trace", id=id.strip())
    if not relation.limit(1).fetchall():
        raise BadInputError(
            f"no task or event in the lab belongs to work that carries {id!r} (trace follows "
            "tasks and events; `dvlab timeline --id` finds it in logs alone)"
        )
    return relation


def draw(rows: list[dict[str, Any]]) -> list[str]:
    """The tree as text: one line per task or event, indented by depth, gaps called out."""
    lines: list[str] = []
    correlation: object = draw  # no correlation id yet: none is this
    for row in rows:
        if row["correlation_id"] != correlation:
            correlation = row["correlation_id"]
            lines.append(
                "no correlation id" if correlation is None else f"correlation {correlation}"
            )
        indent = "  " * (int(row["depth"]) + 1)
        when = _time(row["ts"])
        if row["kind"] == "task":
            text = (
                f"{indent}task {row['name'] or ''} {row['id']} [{row['state']}]"
                f" attempt {row['attempt'] if row['attempt'] is not None else '-'}"
                f" at {row['site'] or '?'} {when}"
            )
        else:
            text = f"{indent}- {row['name']} {row['id']} at {row['site'] or '?'} {when}"
            if row["attempt"] is not None:
                text += f" (attempt {row['attempt']})"
        if row["gap"]:
            text += f"  !! {row['gap']}"
        lines.append(text)
    return lines


def _time(value: object) -> str:
    if isinstance(value, datetime):
        return format_utc(value)
    return "?" if value is None else str(value)
