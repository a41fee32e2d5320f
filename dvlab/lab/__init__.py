"""The lab: one DuckDB database holding everything ingested."""

from dvlab.lab.store import Lab, open_lab

__all__ = ["Lab", "open_lab"]
