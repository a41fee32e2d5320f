"""Level normalisation: the six names, from the words real logs use."""

from __future__ import annotations

import duckdb
import pytest

from dvlab.lab.store import prepare


@pytest.mark.parametrize(
    ("raw", "level"),
    [
        ("TRACE", "trace"),
        ("finest", "trace"),
        ("10", "trace"),
        ("DEBUG", "debug"),
        ("debug2", "debug"),
        ("20", "debug"),
        ("INFO", "info"),
        ("information", "info"),
        ("notice", "info"),
        ("LOG", "info"),
        ("WARNING", "warn"),
        ("warn", "warn"),
        ("40", "warn"),
        ("ERROR", "error"),
        ("err", "error"),
        ("severe", "error"),
        ("FATAL", "fatal"),
        ("CRITICAL", "fatal"),
        ("crit", "fatal"),
        ("alert", "fatal"),
        ("emerg", "fatal"),
        ("PANIC", "fatal"),
        (" Info ", "info"),
        # klog's letters, zap's development panic, OpenStack's audit
        ("I", "info"),
        ("W", "warn"),
        ("E", "error"),
        ("F", "fatal"),
        ("DPANIC", "error"),
        ("AUDIT", "info"),
        # logcat's verbose and debug letters, log15's short debug; a line end or tab around
        ("V", "trace"),
        ("D", "debug"),
        ("dbug", "debug"),
        ("warn\n", "warn"),
        ("\tERROR\r\n", "error"),
        # the names themselves, as most sources write them
        ("trace", "trace"),
        ("debug", "debug"),
        ("info", "info"),
        ("error", "error"),
        ("fatal", "fatal"),
        ("verbose-ish", None),
        ("", None),
        (None, None),
    ],
)
def test_level_words(raw: str | None, level: str | None) -> None:
    con = duckdb.connect()
    prepare(con)
    assert con.execute("SELECT dvlab_level(?)", [raw]).fetchall()[0][0] == level
