"""Shared fixtures: where the real samples are, and fresh labs.

The real third-party samples live outside the repo, in ``../shared/data/real``
beside the checkout; ``DVLAB_REAL_DATA`` points elsewhere. Outside CI a test
that needs them skips, saying why; with ``CI`` set it fails instead, so a
green CI run always read them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent


def real_data_root() -> Path:
    env = os.environ.get("DVLAB_REAL_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data" / "real"


def unavailable(message: str) -> NoReturn:
    """Something a test needs is missing (real samples, a server): outside CI the test
    skips, saying why; with ``CI`` set it fails, so a green CI run never went without."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def real_data() -> Path:
    root = real_data_root()
    if not root.is_dir():
        unavailable(f"real samples not found at {root} (set DVLAB_REAL_DATA)")
    return root


def real_sample(real_data: Path, name: str | Path) -> Path:
    """``name`` (a file or folder) under the real samples; missing, it is unavailable."""
    path = real_data / name
    if not path.exists():
        unavailable(f"real sample {path} is missing")
    return path


@pytest.fixture
def lab_path(tmp_path: Path) -> Path:
    """Where a test's own lab goes (created by the first ingest)."""
    return tmp_path / "lab.duckdb"
