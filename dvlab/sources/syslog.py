"""Syslog text: RFC 3164 (BSD) and RFC 5424 lines, told apart line by line.

RFC 3164, as ``/var/log/messages`` and ``auth.log`` hold it::

    [<PRI>]Mmm dd HH:MM:SS host tag[pid]: message

The tag may carry a sub-name (``sshd(pam_unix)[19939]:``) or no pid
(``kernel:``); a tag followed by a space instead of a colon is also a tag,
as the RFC allows (``syslogd 1.4.1: restart.``). rsyslog's high-precision
template puts an RFC 3339 time where ``Mmm dd HH:MM:SS`` would be. These
dates have no year: see :class:`dvlab.sources.timetext.YearGuess`. The
time becomes ``YYYY-MM-DD HH:MM:SS`` text in the ``--tz`` zone.

RFC 5424::

    <PRI>1 TIMESTAMP HOST APP-NAME PROCID MSGID [SD-ID param="v"...] MESSAGE

``-`` marks an empty field; each structured-data parameter becomes
``attributes["<sd-id>.<param>"]`` (a list when a parameter repeats, ``true``
for an element without parameters); a UTF-8 byte-order mark before the
message is dropped.

PRI gives the severity keyword (``level_raw``: emerg, alert, crit, err,
warning, notice, info, debug) and ``attributes["facility"]``. The tag or
APP-NAME is the service; the pid or PROCID is ``attributes["pid"]`` (an
integer when it is one) and MSGID is ``attributes["msgid"]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from dvlab.sources.fields import KEY_TO_FIELD
from dvlab.sources.multiline import assemble
from dvlab.sources.records import ParseOptions, RawRecord, Reject, empty_record
from dvlab.sources.timetext import YearGuess, bsd_to_iso, month_number

SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip

EXPECTED = (
    "expected RFC 3164 '[<PRI>]Mmm dd HH:MM:SS host tag[pid]: message' "
    "or RFC 5424 '<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MESSAGE'"
)

_PRI = r"(?:<(?P<pri>\d{1,3})>)"
_RFC5424 = re.compile(
    _PRI + r"(?P<version>[1-9]\d?) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) "
    r"(?P<procid>\S+) (?P<msgid>\S+) (?P<rest>.*)"
)
_RFC3164 = re.compile(
    _PRI + r"?(?P<month>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) "
    r"(?P<clock>\d{2}:\d{2}:\d{2}(?:\.\d+)?) (?P<host>\S+) (?P<body>.*)"
)
_HIGH_PRECISION = re.compile(
    _PRI + r"?(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) "
    r"(?P<host>\S+) (?P<body>.*)"
)
_TAG_COLON = re.compile(r"(?P<tag>[^\s\[\]:]+)(?:\[(?P<pid>[^\]\s]*)\])?: ?(?P<message>.*)")
_TAG_SPACE = re.compile(r"(?P<tag>[\w.\-/()]+)(?:\[(?P<pid>[^\]\s]*)\])?(?: (?P<message>.*))?")
_SD_NAME = re.compile(r'[^\s=\]"]{1,32}')


class SyslogParser:
    """The ``syslog`` format (see the module docstring)."""

    name = "syslog"

    def parse(
        self, lines: Iterable[tuple[int, str]], options: ParseOptions
    ) -> Iterator[RawRecord | Reject]:
        years = YearGuess.from_options(options)

        def start(number: int, text: str) -> RawRecord | str:
            return _record(number, text, years)

        return assemble(lines, start, format_name=self.name)

    def looks_like(self, sample: list[str]) -> float:
        texts = [text for text in sample if text.strip()]
        if not texts:
            return 0.0
        years = YearGuess()
        starts = sum(1 for text in texts if not isinstance(_record(0, text, years), str))
        return starts / len(texts)


def _record(number: int, text: str, years: YearGuess) -> RawRecord | str:
    match = _RFC5424.fullmatch(text)
    if match is not None:
        return _rfc5424(number, match)
    match = _RFC3164.fullmatch(text)
    if match is not None and month_number(match["month"]) is not None:
        ts_raw = bsd_to_iso(match["month"], match["day"], match["clock"], years)
        return _rfc3164(number, match, ts_raw)
    match = _HIGH_PRECISION.fullmatch(text)
    if match is not None:
        return _rfc3164(number, match, match["ts"])
    return f"not a syslog line: {EXPECTED}"


def _rfc3164(number: int, match: re.Match[str], ts_raw: str | None) -> RawRecord | str:
    record = empty_record(number)
    attributes: dict[str, object] = {}
    problem = _read_pri(match["pri"], record, attributes)
    if problem is not None:
        return problem
    body = match["body"]
    tag = _TAG_COLON.fullmatch(body) or _TAG_SPACE.fullmatch(body)
    if tag is None:
        return (
            f"not a syslog line: no tag after the host {match['host']!r} "
            f"(expected 'tag[pid]: message' there, found {body[:40]!r})"
        )
    record["ts_raw"] = ts_raw
    record["host"] = match["host"]
    record["service"] = tag["tag"]
    record["message"] = tag["message"] or ""
    if tag["pid"]:
        attributes["pid"] = _pid(tag["pid"])
    record["attributes"] = attributes
    return record


def _rfc5424(number: int, match: re.Match[str]) -> RawRecord | str:
    record = empty_record(number)
    attributes: dict[str, object] = {}
    problem = _read_pri(match["pri"], record, attributes)
    if problem is not None:
        return problem
    if match["version"] != "1":
        return f"not a syslog line: RFC 5424 version {match['version']} (only 1 is defined)"
    message, problem = _structured_data(match["rest"], attributes, column=match.start("rest") + 1)
    if problem is not None:
        return f"not a syslog line: RFC 5424 structured data {problem}"

    record["ts_raw"] = _nil(match["ts"])
    record["host"] = _nil(match["host"])
    record["service"] = _nil(match["app"])
    procid, msgid = _nil(match["procid"]), _nil(match["msgid"])
    if procid is not None:
        attributes["pid"] = _pid(procid)
    if msgid is not None:
        attributes["msgid"] = msgid
    record["message"] = message.removeprefix("\ufeff")
    record["attributes"] = attributes
    _columns_from_structured_data(record, attributes)
    return record


#: columns an RFC 5424 header has no field for, which structured data may carry
_SD_COLUMNS = ("site", "correlation_id", "causation_id", "task_id", "trace_id")


def _columns_from_structured_data(record: RawRecord, attributes: dict[str, object]) -> None:
    """Fill a column from a parameter named like one of its variants (``[x@1 site="sto1"]``).

    The parameter stays in ``attributes`` too; the first one found wins.
    """
    for key, value in attributes.items():
        if "." not in key or not isinstance(value, str):
            continue
        column = KEY_TO_FIELD.get(key.rsplit(".", 1)[1])
        if column in _SD_COLUMNS and record.get(column) is None:
            record[column] = value


def _read_pri(pri: str | None, record: RawRecord, attributes: dict[str, object]) -> str | None:
    """Set severity and facility from PRI; return a reject reason when PRI is out of range."""
    if pri is None:
        return None
    value = int(pri)
    if value > 191:
        return f"not a syslog line: PRI <{pri}> is out of range (0..191)"
    record["level_raw"] = SEVERITIES[value & 7]
    attributes["facility"] = FACILITIES[value >> 3]
    return None


def _structured_data(
    rest: str, attributes: dict[str, object], *, column: int
) -> tuple[str, str | None]:
    """Read the SD elements at the start of ``rest`` into ``attributes``; return the message.

    ``column`` is where ``rest`` starts in the line (1-based), for the problem's position.
    """
    if rest == "-" or rest.startswith("- "):
        return rest[2:], None
    i, end = 0, len(rest)
    if not rest.startswith("["):
        return "", f"should be '-' or '[...]', found {rest[:20]!r}"
    while i < end and rest[i] == "[":
        name = _SD_NAME.match(rest, i + 1)
        if name is None:
            return "", f"has an element without an SD-ID at column {column + i}"
        sd_id, i = name.group(), name.end()
        has_params = False
        while i < end and rest[i] == " ":
            param = _SD_NAME.match(rest, i + 1)
            if param is None or rest[param.end() : param.end() + 2] != '="':
                return "", f"has a malformed parameter in [{sd_id} ...] at column {column + i + 1}"
            value, i = _sd_value(rest, param.end() + 2)
            if value is None:
                return "", f"has an unclosed value in [{sd_id} ...]"
            _add(attributes, f"{sd_id}.{param.group()}", value)
            has_params = True
        if i >= end or rest[i] != "]":
            return "", f"element [{sd_id} ...] is not closed with ']'"
        i += 1
        if not has_params:
            attributes.setdefault(sd_id, True)
    if i < end and rest[i] != " ":
        return "", f"is followed by {rest[i]!r} instead of a space before the message"
    return rest[i + 1 :], None


def _sd_value(rest: str, i: int) -> tuple[str | None, int]:
    """The PARAM-VALUE starting at ``i`` (after its opening quote) and the index after it."""
    out: list[str] = []
    end = len(rest)
    while i < end:
        char = rest[i]
        if char == "\\" and i + 1 < end and rest[i + 1] in '"\\]':
            out.append(rest[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(out), i + 1
        out.append(char)
        i += 1
    return None, i


def _add(attributes: dict[str, object], key: str, value: str) -> None:
    """Set ``key``; a parameter that repeats (RFC 5424 allows it) collects a list."""
    if key not in attributes:
        attributes[key] = value
        return
    previous = attributes[key]
    if isinstance(previous, list):
        previous.append(value)
    else:
        attributes[key] = [previous, value]


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def _pid(text: str) -> int | str:
    return int(text) if text.isdigit() else text
