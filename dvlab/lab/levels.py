"""Level normalisation: whatever a source calls its severity, one of six names.

The original word stays in ``level_raw``. Numbers follow pino / bunyan
(10 trace … 60 fatal), the commonest numeric scheme in JSON logs; single
letters follow klog and Android's logcat (V, D, I, W, E, F); log15's short words
(dbug, eror, crit) are read; zap's DPANIC is an error; OpenStack's AUDIT
(between INFO and WARNING) is info. Blanks and line ends around a word do not
count. Words not listed give NULL rather than a guess.
"""

from __future__ import annotations

import duckdb

NAMES: dict[str, tuple[str, ...]] = {
    "trace": ("trace", "trc", "finest", "finer", "verbose", "all", "v", "10"),
    "debug": (
        "debug",
        "dbg",
        "dbug",
        "debug1",
        "debug2",
        "debug3",
        "debug4",
        "debug5",
        "fine",
        "config",
        "d",
        "20",
    ),
    "info": (
        "info",
        "information",
        "informational",
        "inf",
        "notice",
        "log",
        "statement",
        "default",
        "audit",
        "i",
        "30",
    ),
    "warn": ("warn", "warning", "wrn", "w", "40"),
    "error": ("error", "err", "eror", "severe", "dpanic", "e", "50"),
    "fatal": (
        "fatal",
        "critical",
        "crit",
        "alert",
        "emerg",
        "emergency",
        "panic",
        "ftl",
        "f",
        "60",
    ),
}


def macro_sql() -> str:
    def cases(word: str) -> str:
        return " ".join(
            f"WHEN {word} IN (" + ", ".join(f"'{w}'" for w in words) + f") THEN '{name}'"
            for name, words in NAMES.items()
        )

    # blanks first, as most words come (trimming tabs and line ends too costs three times
    # as much); the rest, and words not known, again without those
    spaces = "lower(trim(s, ' ' || chr(9) || chr(10) || chr(13)))"
    # and before both, a name as it is stored: most sources write one, and the lists would
    # take four times as long for it
    named = "(" + ", ".join(f"'{name}'" for name in NAMES) + ")"
    return (
        "CREATE OR REPLACE TEMP MACRO dvlab_level(s) AS "
        f"(CASE WHEN s::VARCHAR IN {named} THEN s::VARCHAR {cases('lower(trim(s))')} "
        f"ELSE CASE {cases(spaces)} ELSE NULL END END)"
    )


def install(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(macro_sql())
