"""Where dvlab's curated files are: ``queries/`` and ``notebooks/``.

An installed wheel carries them under ``dvlab/_data/``; a checkout (or an
editable install) has them beside the package; an environment variable
points anywhere else.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir(name: str, env: str) -> Path:
    """``$env``, else the installed ``dvlab/_data/name``, else the checkout's ``name``."""
    override = os.environ.get(env)
    if override:
        return Path(override)
    package = Path(__file__).resolve().parent
    installed = package / "_data" / name
    if installed.is_dir():
        return installed
    return package.parent / name
