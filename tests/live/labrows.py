"""Reading a lab the live tests wrote, as a second process would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb


def rows(lab: Path, query: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """``query`` (with named ``params``) over the lab at ``lab``, read-only, times in UTC."""
    con = duckdb.connect(str(lab), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(query, params or {}).fetchall()
    finally:
        con.close()
