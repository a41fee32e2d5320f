"""OpenStack oslo.log text: the default line format of Nova, Neutron, Cinder and the rest.

``2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server
[req-38101a0b-... 113d3a99... 54fadb41... - - -] 10.11.10.1 "GET ..." status: 200``

After the time come the pid, the level word and the logger (a Python module
name). The bracketed request context is ``req-<uuid> <user> <project>
<domain> <user-domain> <project-domain>`` with ``-`` for an unknown part,
``- - - - -`` or just ``-`` outside a request, and it is missing on the
lines oslo.log writes for a traceback. Newer releases put the global
request id first (``[req-A req-B user ...]``); then the global one, which
follows a request across services, is the correlation id and the local one
is kept as ``attributes["request_id"]``. A leading ``[instance: <uuid>]``
is oslo.log's own field, not part of the message: it moves to
``attributes["instance_id"]``.

Some collections (loghub's) put the log file's name first
(``nova-api.log.1.2017-05-16_13:53:08 2017-05-16 ...``); the program name
before its first dot is then the service, and otherwise ``--service`` or,
without it, the source file's name gives it the same way (``nova-compute.log``
-> ``nova-compute``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import PurePath

from dvlab.sources.multiline import assemble
from dvlab.sources.records import ParseOptions, RawRecord, Reject, empty_record

EXPECTED = "expected '<date> <time> <pid> <LEVEL> <module> [<context>] <message>'"

_LINE = re.compile(
    r"(?:(?P<file>[^\s\d][^\s]*) +)?"
    r"(?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{2}:\d{2}:\d{2}(?:[.,]\d+)?) +"
    r"(?P<pid>\d+) +(?P<level>[A-Z]+) +(?P<logger>[^\s\[]+)"
    r"(?: \[(?P<context>(?:req-[^\s\]]+|-)(?: [^\]]*)?)\])?"
    r"(?: (?P<message>.*))?"
)
_INSTANCE = re.compile(r"\[instance: (?P<id>[^\s\]]+)\] ?")

#: What the tokens of the request context after the request id are.
_CONTEXT_PARTS = ("user_id", "project_id", "domain_id", "user_domain_id", "project_domain_id")


class OsloParser:
    """The ``oslo`` format (see the module docstring)."""

    name = "oslo"

    def parse(
        self, lines: Iterable[tuple[int, str]], options: ParseOptions
    ) -> Iterator[RawRecord | Reject]:
        # a line without a file-name column: --service, else the file's own name
        from_source = options.service or program_name(options.source)

        def start(number: int, text: str) -> RawRecord | str:
            return _record(number, text, from_source)

        return assemble(lines, start, format_name=self.name)

    def looks_like(self, sample: list[str]) -> float:
        texts = [text for text in sample if text.strip()]
        if not texts:
            return 0.0
        return sum(1 for text in texts if _LINE.fullmatch(text)) / len(texts)


def program_name(file_name: str | None) -> str | None:
    """The program a log file belongs to: its base name up to the first dot.

    ``nova-api.log.1.2017-05-16_13:53:08`` -> ``nova-api``. None for no name
    or a stand-in such as ``<input>`` or ``-`` (standard input).
    """
    if not file_name or file_name.startswith("<") or file_name == "-":
        return None
    base = PurePath(file_name).name
    program = base.split(".", 1)[0]
    return program or None


def _record(number: int, text: str, from_source: str | None) -> RawRecord | str:
    match = _LINE.fullmatch(text)
    if match is None:
        return f"not an oslo.log line: {EXPECTED}"

    record = empty_record(number)
    attributes: dict[str, object] = {"pid": int(match["pid"]), "logger": match["logger"]}
    record["ts_raw"] = f"{match['date']} {match['time']}"
    record["level_raw"] = match["level"]
    if match["file"] is not None:
        record["service"] = program_name(match["file"])
        attributes["log_file"] = match["file"]
    else:
        record["service"] = from_source
    if match["context"] is not None:
        record["correlation_id"] = _read_context(match["context"], attributes)

    message = match["message"] or ""
    instance = _INSTANCE.match(message)
    if instance is not None:
        attributes["instance_id"] = instance["id"]
        message = message[instance.end() :]
    else:
        instance = _INSTANCE.search(message)
        if instance is not None:
            attributes["instance_id"] = instance["id"]
    record["message"] = message
    record["attributes"] = attributes
    return record


def _read_context(context: str, attributes: dict[str, object]) -> str | None:
    """Fill ``attributes`` from the request context; return the correlation id."""
    tokens = context.split()
    correlation = tokens[0] if tokens[0] != "-" else None
    rest = tokens[1:]
    if rest and rest[0].startswith("req-"):
        attributes["request_id"] = rest[0]
        rest = rest[1:]
    for key, token in zip(_CONTEXT_PARTS, rest, strict=False):
        if token != "-":
            attributes[key] = token
    return correlation
