"""Telling a source's format from its first lines.

Each candidate scores the share of sample lines that start one of its
records (for JSON lines: lines that begin with ``{`` and hold a JSON
object). The best score wins when it reaches :data:`THRESHOLD`; on a tie
the more specific format wins (JSON lines, then oslo.log, then syslog,
then logfmt), although logfmt already refuses lines whose first word is
not a ``key=value`` pair, which is how oslo.log and syslog lines begin.
"""

from __future__ import annotations

import json

from dvlab.errors import BadInputError
from dvlab.sources.files import HOLE
from dvlab.sources.logfmt import LogfmtParser
from dvlab.sources.multiline import is_continuation
from dvlab.sources.oslo import OsloParser
from dvlab.sources.syslog import SyslogParser

#: The share of sample lines a format must read for detection to choose it.
THRESHOLD = 0.8

#: How many non-blank lines detection looks at.
SAMPLE_LINES = 200

#: Formats detection can choose, most specific first (the order breaks ties).
DETECTABLE: tuple[str, ...] = ("jsonl", "oslo", "syslog", "logfmt")


def _advice() -> str:
    """What to say when no format reads a file: every --format, --kind and --pattern."""
    from dvlab.sources import telemetry

    metrics = ", ".join(("nats-monitor", *telemetry.formats()))
    return (
        f"pass --format (jsonl, logfmt, oslo, syslog for logs; {metrics} for metrics and "
        "traces), --kind for a table, or --pattern"
    )


def detect_format(sample: list[str], *, source: str = "the input") -> str:
    """The format of a source from its first lines: "jsonl", "logfmt", "oslo" or "syslog".

    Raises BadInputError naming the best candidate and its share when no
    format reads at least :data:`THRESHOLD` of the first
    :data:`SAMPLE_LINES` non-blank lines.
    """
    lines = [line.lstrip(HOLE) for line in sample]
    lines = [line for line in lines if line.strip()][:SAMPLE_LINES]
    if not lines:
        raise BadInputError(
            f"could not tell the format of {source}: it has no text lines; {_advice()}"
        )
    # a stack trace's lines belong to the record above them; they vote for no format (a
    # JSON object is a record however it is indented)
    starts = [line for line in lines if not is_continuation(line) or _is_json_object(line)]
    continued = len(lines) - len(starts) if starts else 0
    if starts:
        lines = starts

    scores = {
        "jsonl": json_share(lines),
        "oslo": OsloParser().looks_like(lines),
        "syslog": SyslogParser().looks_like(lines),
        "logfmt": LogfmtParser().looks_like(lines),
    }
    best = max(DETECTABLE, key=lambda name: scores[name])  # max keeps the first of equals
    if scores[best] >= THRESHOLD:
        return best
    # the lines that voted: those that start a record
    one = len(lines) == 1
    voted = f"{len(lines)} {'line that starts' if one else 'lines that start'} a record" + (
        f" ({continued} indented one{'' if continued == 1 else 's'} taken to continue them)"
        if continued
        else ""
    )
    if scores[best] == 0:
        found = f"none of {', '.join(sorted(DETECTABLE))} reads any of the first {voted}"
    else:
        found = (
            f"the closest, {best}, reads {scores[best]:.0%} of the first {voted} "
            f"({THRESHOLD:.0%} needed)"
        )
    raise BadInputError(f"could not tell the format of {source}: {found}; {_advice()}")


def json_share(sample: list[str]) -> float:
    """Share of the non-blank lines that hold one JSON object."""
    lines = [line for line in sample if line.strip()]
    if not lines:
        return 0.0
    return sum(1 for line in lines if _is_json_object(line)) / len(lines)


def _is_json_object(line: str) -> bool:
    text = line.lstrip("\ufeff \t")
    if not text.startswith("{"):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False
