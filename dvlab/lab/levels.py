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


def word_case(expression: str, names: dict[str, tuple[str, ...]]) -> str:
    """SQL naming the word ``expression`` holds by ``names`` (name -> the words for it,
    compared ignoring case; NULL for a word not listed). Blanks, tabs and line ends around
    the word do not count. Used for levels and for task states."""
    text = f"({expression})::VARCHAR"

    def cases(word: str) -> str:
        return " ".join(
            f"WHEN {word} IN (" + ", ".join(f"'{w}'" for w in words) + f") THEN '{name}'"
            for name, words in names.items()
        )

    # a name as it is stored first: most sources write one, and the lists would take four
    # times as long for it; then blanks, as most words come (trimming tabs and line ends
    # too costs three times as much); the rest, and words not known, again without those
    named = ", ".join(f"'{name}'" for name in names)
    spaces = f"lower(trim({text}, ' ' || chr(9) || chr(10) || chr(13)))"
    return (
        f"CASE WHEN {text} IN ({named}) THEN {text} {cases(f'lower(trim({text}))')} "
        f"ELSE CASE {cases(spaces)} END END"
    )


def macro_sql() -> str:
    return f"CREATE OR REPLACE TEMP MACRO dvlab_level(s) AS ({word_case('s', NAMES)})"


def install(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(macro_sql())
