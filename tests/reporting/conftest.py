"""Fixtures of the reporting tests: the incident lab of ``incident_fixture.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from incident_fixture import INCIDENT_ROWS, make_lab


@pytest.fixture(scope="session")
def incident_lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab of :data:`INCIDENT_ROWS`; read-only in every test."""
    return make_lab(tmp_path_factory.mktemp("incident") / "lab.duckdb", INCIDENT_ROWS)
