"""dvlab: the investigation and analytics workbench for Dataverket telemetry.

Load logs into a DuckDB *lab* (``dvlab ingest``), ask it questions
(``dvlab sql``, ``dvlab timeline``, :func:`open_lab`), and render curated
notebooks headlessly (``dvlab report``).
"""

from dvlab.lab.store import Lab, open_lab

__all__ = ["Lab", "open_lab"]
__version__ = "0.1.0"
