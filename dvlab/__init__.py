"""dvlab: the investigation and analytics workbench for Dataverket telemetry.

Load logs into a DuckDB *lab* (``dvlab ingest``), ask it questions
(``dvlab sql``, ``dvlab timeline``, :func:`open_lab`), and render curated
notebooks headlessly (``dvlab report``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dvlab.lab.store import Lab, open_lab

__all__ = ["Lab", "open_lab"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # imported when first asked for: the command starts without DuckDB, so that a
    # Ctrl-C while it loads is handled (dvlab.launch)
    if name in __all__:
        from dvlab.lab import store

        return getattr(store, name)
    raise AttributeError(f"module 'dvlab' has no attribute {name!r}")
