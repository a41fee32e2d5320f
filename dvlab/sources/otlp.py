"""OpenTelemetry's OTLP/JSON: spans, log records and metric data points.

Two layouts are read as format ``otlp-json``:

* one export request per file, as an OTLP/HTTP client posts it (an
  ``ExportTraceServiceRequest``, ``ExportLogsServiceRequest`` or
  ``ExportMetricsServiceRequest`` in the protobuf JSON mapping), usually
  pretty-printed;
* the OpenTelemetry Collector's file exporter: one request per line, the
  three signals mixed.

A file is told by its top-level key (``resourceSpans``, ``resourceLogs`` or
``resourceMetrics``) at the start of a line. A row's ``line`` is where its
span, log record or data point object starts; a bad value is a reject that
names its JSON path and its line (``resourceSpans[0].scopeSpans[0].spans[2].
startTimeUnixNano: true is not a time``), and the rest of the file is kept.
In a file exporter's file, a line that is not JSON is a reject of that line;
a file that holds no OTLP request at all fails whole.

What every row takes from its resource: ``service`` from ``service.name``,
``site`` from the first of ``site``, ``dataverket.site``,
``cloud.availability_zone`` and ``cloud.region`` (a site is a datacenter, as
a cloud calls an availability zone; the region stands in when no zone is
named), ``host`` (log records) from ``host.name``; ``--site`` and
``--service`` fill what the resource does not name. Other resource
attributes are labels of a metric point (below); spans and log records do not
keep them.

Spans go to ``spans``: ids in lower-case hex (a trace, span or link id of all
zeros, which OTLP calls invalid, is a reject; an empty or all-zero parent is
NULL; a span a file holds twice, as an exporter's retry writes it, is a reject
naming the first's line), kind and status without their enum prefixes, times truncated to the
microsecond (``duration_ms`` from the nanoseconds), attributes as a JSON object (an
``AnyValue`` becomes the JSON value it holds; ``bytesValue`` stays base64
text, a ``doubleValue`` that JSON cannot hold stays ``"NaN"`` or
``"Infinity"``), with the scope as ``otel.scope.name``,
``otel.scope.version`` and ``otel.scope.attributes``; events and links as JSON arrays (an event's time as
RFC 3339 text in UTC with nanoseconds).

Log records go to ``logs``: ``ts`` is ``timeUnixNano``, else
``observedTimeUnixNano``; ``level`` comes from ``severityNumber`` (1-4
trace, 5-8 debug, 9-12 info, 13-16 warn, 17-20 error, 21-24 fatal), else
from ``severityText`` through the lab's level map; ``level_raw`` is the text,
else the number; ``message`` is the body (a string as it is, any other value
as JSON text). ``attributes`` holds the record's attributes with
``span_id``, ``event.name`` and the scope (``otel.scope.name``,
``otel.scope.version``, ``otel.scope.attributes``); those names win over a
record attribute of the same name. A correlation, causation or task id
among the record attributes (named as the other log formats name them)
fills its column. A record's trace or span id of all zeros is no id (NULL), as
OTLP counts it the same as an empty one.

Metric data points go to ``metrics``, one ``metric_families`` row per
distinct metric (family = the metric's name, as written, dots kept; help =
its description). Labels are the point's attributes as text, with the
resource's attributes but those the service and site columns take
(``host.name``, ``service.instance.id``, ...) and the scope's name and
version (``otel.scope.name``, ``otel.scope.version``): what tells one
sender's series from another's; a point's own attribute wins on the same
key. Types:

* gauge -> ``gauge``; sum -> ``counter`` when monotonic, else ``gauge``;
* histogram -> ``histogram`` rows as Prometheus writes them: ``<name>_bucket``
  with a cumulative count per ``le`` bound (``+Inf`` last), ``<name>_sum``,
  ``<name>_count``;
* exponential histogram -> the same rows; a bucket of index ``i`` holds
  values of magnitude in ``(base**i, base**(i+1)]`` with ``base =
  2**(2**-scale)``, so a positive bucket's ``le`` is ``base**(i+1)``, a
  negative bucket's is ``-base**i`` (most negative first; a value exactly
  on a negative bound is counted one bucket up, the one shortcoming of
  bounds written as ``le``), and the zero bucket's is ``zeroThreshold``. The
  lowest bucket of each side also has its lower bound written, as an ``le``
  holding the count below it (no observation more), so that a quantile
  falling in that bucket lies between its bounds: without it the lowest
  positive bucket would reach down to the zero bucket's bound;
* summary -> ``summary`` rows ``<name>`` with a ``quantile`` label, plus
  ``_sum`` and ``_count``.

A value of NaN or ±Inf (a gauge's or sum's ``asDouble``, a histogram's or
summary's ``sum``, a summary's quantile) is a reject naming its path, as in a
Prometheus scrape: a rate or average over it means nothing. A summary's
quantile of NaN is kept, as a row whose ``value`` is NULL: it is how a client
says its window holds no observations. A point is a reject too when a
histogram's ``explicitBounds`` are not finite and strictly rising, an
exponential one's ``zeroThreshold`` is not finite, or a summary's quantile is
not between 0 and 1.

A delta counter or histogram (``aggregationTemporality`` 1: each point counts
what happened since the series' previous point) is stored as a cumulative
one, as Prometheus turns delta into cumulative: once the whole file is read,
each series (name, labels, site, service; a histogram's ``_bucket`` per
``le``, its ``_sum`` and its ``_count`` each a series) is added up in time
order, ties in the order of the file, so each stored value is the total so
far and the lab's rate queries read it as any counter. Its rows carry no
``temporality`` label. The total runs within one file: a series that goes on
in a later file starts again from that file's first point, which a rate
reads as a counter reset: that rate is the true one, unless the first point
is not below the total before it, when the one rate at the seam is too low. A
delta exponential histogram is kept as it is, with a label
``temporality="delta"``: its buckets move with its offset and scale from point
to point, so no bound's count can be added up; each point's quantile is right,
a rate over it is not taken (the rate queries leave delta series alone). A
delta sum that is not monotonic is a gauge and is kept as it is, with a label
``temporality="delta"``; a sum or histogram whose
temporality is missing (``unspecified``) is kept as it is too, with a label
``temporality="unspecified"``, as nothing says how to read it. A cumulative
counter or histogram point whose start time is after the time of its series'
point before it (in the same file) follows a restart: a row of 0 is added at
that start time (see ``_Rows.mark_restarts``). A point
flagged "no recorded value" gives no row; histogram ``min`` and ``max`` are not
kept. A bound is written as the shortest text that reads back as the same
double (``1``, ``0.25``, ``1.4142135623730951``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import duckdb
import pyarrow as pa

from dvlab.errors import BadInputError
from dvlab.lab import levels
from dvlab.sources import fields, files
from dvlab.sources.natsmon import JsonPath, path_text, value_lines
from dvlab.sources.records import REJECT_EXCERPT
from dvlab.sources.telemetry import Source, Staged, over_rows, stage_rejects, table_name

FORMAT = "otlp-json"

#: request key -> (the key of its scope lists, the key of the records in a scope)
SIGNALS: dict[str, tuple[str, str]] = {
    "resourceSpans": ("scopeSpans", "spans"),
    "resourceLogs": ("scopeLogs", "logRecords"),
    "resourceMetrics": ("scopeMetrics", "metrics"),
}

#: resource attributes naming the site, the first present wins
SITE_ATTRIBUTES = ("site", "dataverket.site", "cloud.availability_zone", "cloud.region")

SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_CODES = ("unset", "ok", "error")
#: severityNumber 1-24 in fours, lowest first
SEVERITIES = ("trace", "debug", "info", "warn", "error", "fatal")
#: aggregationTemporality 0-2
TEMPORALITIES = ("unspecified", "delta", "cumulative")
#: the data point flag "no recorded value"
NO_RECORDED_VALUE = 1
#: the record attributes that fill a log column of their own
_LOG_ID_COLUMNS = ("correlation_id", "causation_id", "task_id")

_REQUEST_START = re.compile(rb'(?m)^[ \t]*\{\s*"resource(?:Spans|Logs|Metrics)"\s*:')
_ANY_VALUE_KEYS = (
    "stringValue",
    "boolValue",
    "intValue",
    "doubleValue",
    "arrayValue",
    "kvlistValue",
    "bytesValue",
)
_INT64 = 2**63
_HEX = re.compile(r"[0-9a-fA-F]+")
_INTEGER = re.compile(r"-?[0-9]+")
_NON_FINITE = ("NaN", "Infinity", "-Infinity")


# --------------------------------------------------------------------------- values


class _Bad(Exception):
    """A value of the wrong JSON type or out of range, at ``path``."""

    def __init__(self, path: JsonPath, reason: str):
        super().__init__(f"{path_text(path)}: {reason}")
        self.path = path


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _whole(value: object, at: JsonPath, what: str, *, low: int, high: int) -> int:
    """An integer as the protobuf JSON mapping writes it: a number or decimal text."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value):
        number = int(value)
    else:
        raise _Bad(at, f"{_shown(value)} is not {what}")
    if not low <= number < high:
        raise _Bad(at, f"{_shown(value)} is out of range for {what}")
    return number


def _count(obj: dict[str, Any], at: JsonPath, key: str) -> int:
    """A uint64 field (absent: 0)."""
    value = obj.get(key)
    return 0 if value is None else _whole(value, (*at, key), "a count", low=0, high=2**64)


def _nanos(obj: dict[str, Any], at: JsonPath, key: str) -> int | None:
    """A ``*UnixNano`` field: nanoseconds since 1970; None when absent or 0 (unset)."""
    value = obj.get(key)
    if value is None:
        return None
    nanos = _whole(value, (*at, key), "a time", low=0, high=_INT64)
    return nanos or None


def _double(value: object, at: JsonPath) -> float:
    """A double: a JSON number, or text (``"NaN"``, ``"Infinity"``, ``"1.5"``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise _Bad(at, f"{_shown(value)} is not a number")


def _written(value: object) -> str:
    """A double as the request wrote it: text as it is, a number as JSON writes it."""
    return value if isinstance(value, str) else json.dumps(value)


def _measured(value: object, at: JsonPath) -> float:
    """A data point's value: a finite double. NaN or ±Inf is a reject, as in a Prometheus
    scrape: stored, it would make every sum, average or rate over it NaN or infinite."""
    number = _double(value, at)
    if not math.isfinite(number):
        raise _Bad(
            at,
            f"value {_written(value)} is not a measurement: a rate or average over it means "
            "nothing",
        )
    return number


def _bound(value: object, at: JsonPath) -> float:
    """A bucket's bound or zero threshold: a finite double (``+Inf`` is the last bucket's
    own bound, never written among the others)."""
    number = _double(value, at)
    if not math.isfinite(number):
        raise _Bad(at, f"{_written(value)} is not a bound: a bucket's bound is a finite number")
    return number


def _text(obj: dict[str, Any], at: JsonPath, key: str) -> str | None:
    """A string field; None when absent or empty."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _Bad((*at, key), f"{_shown(value)} is not text")
    return value


def _object(obj: dict[str, Any], at: JsonPath, key: str) -> dict[str, Any]:
    """An object field (absent: an empty one)."""
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad((*at, key), f"{_shown(value)} is not an object")
    return value


def _array(obj: dict[str, Any], at: JsonPath, key: str) -> list[Any]:
    """A list field (absent: an empty one)."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad((*at, key), f"{_shown(value)} is not a list")
    return value


def _objects(obj: dict[str, Any], at: JsonPath, key: str) -> Iterator[tuple[JsonPath, Any]]:
    """(path, element) of the list field ``key``, each element an object."""
    for index, item in enumerate(_array(obj, at, key)):
        where = (*at, key, index)
        if not isinstance(item, dict):
            raise _Bad(where, f"{_shown(item)} is not an object")
        yield where, item


def _hex_id(
    obj: dict[str, Any], at: JsonPath, key: str, size: int, *, zeros_are_none: bool = False
) -> str | None:
    """A trace id (``size`` 16 bytes) or span id (8 bytes) as lower-case hex; None when empty.

    OTLP calls an id of all zeros invalid: it is a bad value, unless ``zeros_are_none`` (an
    optional id, where OTLP counts it the same as an empty one)."""
    value = _text(obj, at, key)
    if value is None:
        return None
    if len(value) != 2 * size or not _HEX.fullmatch(value):
        raise _Bad((*at, key), f"{_shown(value)} is not {2 * size} hex digits")
    if not value.strip("0"):
        if zeros_are_none:
            return None
        raise _Bad((*at, key), f"{_shown(value)} is all zeros, an id OTLP calls invalid")
    return value.lower()


def _enum(obj: dict[str, Any], at: JsonPath, key: str, names: tuple[str, ...], prefix: str) -> int:
    """An enum field: its number, or its name (``SPAN_KIND_SERVER``); absent: 0."""
    value = obj.get(key)
    if value is None:
        return 0
    if isinstance(value, str) and value.startswith(prefix):
        name = value[len(prefix) :].lower()
        if name in names:
            return names.index(name)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return value
    if len(names) > len(SPAN_KINDS):
        allowed = f"0 to {len(names) - 1} or a name such as {prefix}{names[1].upper()}"
    else:
        allowed = ", ".join(f"{i} ({prefix}{n.upper()})" for i, n in enumerate(names))
    raise _Bad((*at, key), f"{_shown(value)} is not one of {allowed}")


def any_value(value: object, at: JsonPath = ()) -> Any:
    """An OTLP ``AnyValue`` as the plain JSON value it holds.

    >>> any_value({"intValue": "10"}), any_value({"arrayValue": {"values": [{"boolValue": True}]}})
    (10, [True])
    """
    if not isinstance(value, dict):
        raise _Bad(at, f"{_shown(value)} is not an AnyValue object")
    keys = [k for k in _ANY_VALUE_KEYS if k in value]
    if not keys:
        if value:
            raise _Bad(
                at, f"{_shown(value)} is not an AnyValue (one of {', '.join(_ANY_VALUE_KEYS)})"
            )
        return None  # an empty AnyValue: no value
    if len(keys) > 1:
        raise _Bad(at, f"{_shown(value)} holds more than one value ({', '.join(keys)})")
    key = keys[0]
    inner, where = value[key], (*at, key)
    if key in ("stringValue", "bytesValue"):
        if not isinstance(inner, str):
            raise _Bad(where, f"{_shown(inner)} is not text")
        return inner
    if key == "boolValue":
        if not isinstance(inner, bool):
            raise _Bad(where, f"{_shown(inner)} is not true or false")
        return inner
    if key == "intValue":
        return _whole(inner, where, "an int64", low=-_INT64, high=_INT64)
    if key == "doubleValue":
        number = _double(inner, where)
        return number if math.isfinite(number) else inner  # JSON holds no NaN or Infinity
    holder = inner if inner is not None else {}
    if not isinstance(holder, dict):
        raise _Bad(where, f"{_shown(inner)} is not an object")
    if key == "arrayValue":
        return [
            any_value(item, (*where, "values", i))
            for i, item in enumerate(_array(holder, where, "values"))
        ]
    return attributes(holder, where, "values")


def attributes(obj: dict[str, Any], at: JsonPath, key: str = "attributes") -> dict[str, Any]:
    """A list of ``{"key": ..., "value": AnyValue}`` as one object (a repeated key: the last)."""
    found: dict[str, Any] = {}
    for where, pair in _objects(obj, at, key):
        name = pair.get("key")
        if not isinstance(name, str):
            raise _Bad((*where, "key"), f"{_shown(name)} is not text")
        found[name] = any_value(pair["value"], (*where, "value")) if "value" in pair else None
    return found


def number_text(value: float) -> str:
    """A bound or quantile as label text: the shortest text that reads back as ``value``.

    >>> number_text(1.0), number_text(0.25), number_text(float("inf")), number_text(-8.0)
    ('1', '0.25', '+Inf', '-8')
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _label_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return number_text(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def rfc3339(nanos: int) -> str:
    """Nanoseconds since 1970 as RFC 3339 text in UTC, all nine digits of the fraction.

    >>> rfc3339(1544712660300000001)
    '2018-12-13T14:51:00.300000001Z'
    """
    seconds, fraction = divmod(nanos, 1_000_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{fraction:09d}Z"
    )


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Request:
    """One export request: its parsed body and where each of its values starts."""

    body: Any
    lines: dict[JsonPath, int]

    def line(self, path: JsonPath) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines[path]


@dataclass(frozen=True)
class _BadLine:
    """A line of a file exporter's file that is not a JSON value."""

    line: int
    reason: str
    raw: str


def _is_request(value: object) -> bool:
    return isinstance(value, dict) and any(key in value for key in SIGNALS)


def _requests(text: str, source: str) -> Iterator[_Request | _BadLine]:
    """The export requests ``text`` holds: one document, or one request a line (each parsed
    as it is reached, so that a large file is never held parsed whole).

    Raises BadInputError, at once or after the last line, when it holds
    neither: not JSON (naming the line of the error) or no OTLP request.
    """
    decoder = json.JSONDecoder()
    start = len(text) - len(text.lstrip())
    try:
        body, end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        error: json.JSONDecodeError | None = exc
    else:
        error = None
        if not text[end:].strip():
            if not _is_request(body):
                raise BadInputError(_not_otlp(body), source=source)
            yield _Request(body, value_lines(text))
            return

    first_bad: _BadLine | None = None
    any_request = False
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            bad = _BadLine(number, f"not JSON: {exc.msg} (column {exc.colno})", line)
        else:
            if _is_request(value) or value == {}:
                any_request = True
                yield _Request(value, {(): number})
                continue
            bad = _BadLine(number, _not_otlp(value), line)
        first_bad = first_bad or bad
        yield bad
    if any_request:
        return
    if error is not None:
        raise BadInputError(
            f"not valid JSON: {error.msg} (column {error.colno}); OTLP/JSON is one export "
            "request, or one a line as the Collector's file exporter writes",
            source=source,
            line=error.lineno,
        )
    assert first_bad is not None  # more than one value: at least one line is not a request
    raise BadInputError(
        f"no line is an OTLP export request on its own; the first: {first_bad.reason}",
        source=source,
        line=first_bad.line,
    )


def _not_otlp(value: object) -> str:
    if isinstance(value, dict):
        shown = ", ".join(sorted(value)[:12]) or "none"
        return (
            f"not an OTLP export request: a JSON object with keys {shown}; expected "
            "resourceSpans, resourceLogs or resourceMetrics"
        )
    return f"not an OTLP export request: {_shown(value)} is not a JSON object"


# --------------------------------------------------------------------------- walking


@dataclass(frozen=True)
class _Resource:
    service: str | None
    site: str | None
    host: str | None
    #: what a metric point's labels take from the resource (see :func:`_resource_labels`)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Scope:
    """What a scope adds to each of its records' attributes, and to a metric point's
    labels (its name and version)."""

    attributes: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class _Rows:
    """The rows and rejects of one file, as plain values."""

    source: Source
    request: _Request | None = None
    spans: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    families: dict[tuple[str, str, str | None, str | None], int] = field(default_factory=dict)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    #: the indexes in ``metrics`` of rows of a delta counter or histogram
    deltas: list[int] = field(default_factory=list)
    #: (trace id, span id) -> the line of the span kept with them
    span_lines: dict[tuple[str, str], int] = field(default_factory=dict)

    def line(self, path: JsonPath) -> int:
        assert self.request is not None
        return self.request.line(path)

    def reject(self, bad: _Bad, record: object) -> None:
        raw = json.dumps(record, ensure_ascii=False)[:REJECT_EXCERPT]
        self.rejects.append((self.line(bad.path), str(bad), raw))

    @contextmanager
    def guarded(self, record: object) -> Iterator[None]:
        """Run a record's reading; a bad value in it makes the record a reject."""
        try:
            yield
        except _Bad as bad:
            self.reject(bad, record)

    def each(self, obj: dict[str, Any], at: JsonPath, key: str) -> Iterator[tuple[JsonPath, Any]]:
        """(path, element) of the list field ``key``; an element that is not an object is a
        reject of its own, the others are read."""
        for index, item in enumerate(_array(obj, at, key)):
            where = (*at, key, index)
            if isinstance(item, dict):
                yield where, item
            else:
                self.reject(_Bad(where, f"{_shown(item)} is not an object"), item)

    def walk(self, request: _Request) -> None:
        self.request = request
        readers: dict[str, Callable[[dict[str, Any], JsonPath, _Resource, _Scope], None]] = {
            "resourceSpans": self.span,
            "resourceLogs": self.log_record,
            "resourceMetrics": self.metric,
        }
        for signal, (scopes_key, records_key) in SIGNALS.items():
            with self.guarded(request.body.get(signal)):
                for r_at, entry in self.each(request.body, (), signal):
                    with self.guarded(entry):
                        resource = self.resource(entry, r_at)
                        for s_at, scoped in self.each(entry, r_at, scopes_key):
                            with self.guarded(scoped):
                                scope = _scope(scoped, s_at)
                                for at, record in self.each(scoped, s_at, records_key):
                                    with self.guarded(record):
                                        readers[signal](record, at, resource, scope)

    def resource(self, entry: dict[str, Any], at: JsonPath) -> _Resource:
        attrs = attributes(_object(entry, at, "resource"), (*at, "resource"))
        named = {k: _label_text(v) for k, v in attrs.items() if v is not None and v != ""}
        site = next((named[k] for k in SITE_ATTRIBUTES if k in named), None)
        return _Resource(
            service=named.get("service.name") or self.source.service,
            site=site or self.source.site,
            host=named.get("host.name"),
            labels=_resource_labels(named),
        )

    # ----------------------------------------------------------------------- spans

    def span(self, span: dict[str, Any], at: JsonPath, res: _Resource, scope: _Scope) -> None:
        trace_id = _hex_id(span, at, "traceId", 16)
        span_id = _hex_id(span, at, "spanId", 8)
        if trace_id is None or span_id is None:
            raise _Bad(at, "a span needs a traceId and a spanId")
        start = _nanos(span, at, "startTimeUnixNano")
        if start is None:
            raise _Bad(at, "no startTimeUnixNano")
        end = _nanos(span, at, "endTimeUnixNano")
        if end is not None and end < start:
            raise _Bad((*at, "endTimeUnixNano"), f"{end} is before startTimeUnixNano {start}")
        status = _object(span, at, "status")
        code = _enum(status, (*at, "status"), "code", STATUS_CODES, "STATUS_CODE_")
        line = self.line(at)
        row = {
            "line": line,
            "trace_id": trace_id,
            "span_id": span_id,
            "parent_span_id": _hex_id(span, at, "parentSpanId", 8, zeros_are_none=True),
            "name": _text(span, at, "name"),
            "kind": SPAN_KINDS[_enum(span, at, "kind", SPAN_KINDS, "SPAN_KIND_")],
            "service": res.service,
            "site": res.site,
            "start_time": start // 1000,
            "end_time": None if end is None else end // 1000,
            "duration_ms": None if end is None else (end - start) / 1e6,
            "status": STATUS_CODES[code],
            "status_message": _text(status, (*at, "status"), "message"),
            "attributes": _json({**attributes(span, at), **scope.attributes}),
            "events": _json([_event(e, where) for where, e in _objects(span, at, "events")]),
            "links": _json([_link(k, where) for where, k in _objects(span, at, "links")]),
        }
        # a span sent twice in one file (an exporter's retry): kept once, as in a table
        first = self.span_lines.get((trace_id, span_id))
        if first is not None:
            raise _Bad(at, f"span {span_id} of trace {trace_id} again (first on line {first})")
        self.span_lines[trace_id, span_id] = line
        self.spans.append(row)

    # ----------------------------------------------------------------------- logs

    def log_record(
        self, record: dict[str, Any], at: JsonPath, res: _Resource, scope: _Scope
    ) -> None:
        nanos = _nanos(record, at, "timeUnixNano") or _nanos(record, at, "observedTimeUnixNano")
        if nanos is None:
            raise _Bad(at, "no time: neither timeUnixNano nor observedTimeUnixNano")
        number = _enum(record, at, "severityNumber", _SEVERITY_NAMES, "SEVERITY_NUMBER_")
        text = _text(record, at, "severityText")
        body = any_value(record["body"], (*at, "body")) if "body" in record else None
        attrs = attributes(record, at)
        ids = {column: _take_id(attrs, column) for column in _LOG_ID_COLUMNS}
        span_id = _hex_id(record, at, "spanId", 8, zeros_are_none=True)
        event_name = _text(record, at, "eventName")
        if span_id is not None:
            attrs["span_id"] = span_id
        if event_name is not None:
            attrs["event.name"] = event_name
        attrs.update(scope.attributes)
        self.logs.append(
            {
                "line": self.line(at),
                "ts": nanos // 1000,
                "site": res.site,
                "host": res.host,
                "service": res.service,
                "level": SEVERITIES[(number - 1) // 4] if number else None,
                "level_raw": text if text is not None else (str(number) if number else None),
                "message": body if body is None or isinstance(body, str) else _json(body),
                **ids,
                "trace_id": _hex_id(record, at, "traceId", 16, zeros_are_none=True),
                "attributes": _json(attrs),
            }
        )

    # ----------------------------------------------------------------------- metrics

    def metric(self, metric: dict[str, Any], at: JsonPath, res: _Resource, scope: _Scope) -> None:
        name = _text(metric, at, "name")
        if name is None:
            raise _Bad(at, "a metric needs a name")
        kinds = [k for k in _POINT_READERS if metric.get(k) is not None]
        if len(kinds) != 1:
            have = ", ".join(kinds) or "none"
            raise _Bad(at, f"a metric holds one of {', '.join(_POINT_READERS)} (it has {have})")
        kind = kinds[0]
        data_at = (*at, kind)
        data = _object(metric, at, kind)
        read_points, family_type = _POINT_READERS[kind]
        temporality = "cumulative"
        if kind in ("sum", "histogram", "exponentialHistogram"):
            number = _enum(
                data, data_at, "aggregationTemporality", TEMPORALITIES, "AGGREGATION_TEMPORALITY_"
            )
            temporality = TEMPORALITIES[number]
        if kind == "sum":
            monotonic = data.get("isMonotonic", False)
            if not isinstance(monotonic, bool):
                raise _Bad((*data_at, "isMonotonic"), f"{_shown(monotonic)} is not true or false")
            family_type = "counter" if monotonic else "gauge"
        # a delta counter or histogram is added up into a cumulative one (accumulate_deltas);
        # not an exponential one, whose buckets move from point to point with its offset
        # and scale, so that no bound's count can be added up over its points
        delta = (
            temporality == "delta" and family_type != "gauge" and kind != "exponentialHistogram"
        )
        extra = {} if delta or temporality == "cumulative" else {"temporality": temporality}

        family = (name, family_type, _text(metric, at, "description"), _text(metric, at, "unit"))
        self.families.setdefault(family, self.line(at))
        for where, point in self.each(data, data_at, "dataPoints"):
            with self.guarded(point):
                self._point(name, family_type, read_points, point, where, res, scope, extra, delta)

    def _point(
        self,
        name: str,
        family_type: str,
        read_points: _PointReader,
        point: dict[str, Any],
        at: JsonPath,
        res: _Resource,
        scope: _Scope,
        extra: dict[str, str],
        delta: bool,
    ) -> None:
        flags = _whole(point.get("flags", 0), (*at, "flags"), "flags", low=0, high=2**32)
        if flags & NO_RECORDED_VALUE:
            return  # the point holds no value
        nanos = _nanos(point, at, "timeUnixNano")
        if nanos is None:
            raise _Bad(at, "no timeUnixNano")
        # the point's own attributes win over the resource's and the scope's
        labels = {
            **res.labels,
            **scope.labels,
            # an attribute of no value is no label (Prometheus reads e{a=""} as e)
            **{
                k: t
                for k, v in attributes(point, at).items()
                if v is not None and (t := _label_text(v))
            },
            **extra,
        }
        rows = read_points(point, at)
        line = self.line(at)
        if delta:
            self.deltas.extend(range(len(self.metrics), len(self.metrics) + len(rows)))
        # a cumulative counter's or histogram's start: a later one than the point before
        # is a restart (see mark_restarts)
        start = None
        if not delta and not extra and family_type in ("counter", "histogram"):
            start = _nanos(point, at, "startTimeUnixNano")
        for suffix, more, value in rows:
            self.metrics.append(
                {
                    "line": line,
                    "ts": nanos // 1000,
                    "name": name + suffix,
                    "labels": list({**labels, **more}.items()),
                    "value": value,
                    "type": family_type,
                    "site": res.site,
                    "service": res.service,
                    "family": name,
                    "start": None if start is None else start // 1000,
                }
            )

    def mark_restarts(self) -> None:
        """Add a point of 0 at the start of each cumulative series' restart: a point whose
        start time (``startTimeUnixNano``) is after the time of the series' point before
        it counts from that start, as a process that restarted does, even when it has
        already counted past the value before. The lab's rate queries, which take a drop
        for a reset, then count it from 0 (OpenTelemetry's start time is what Prometheus
        calls a created time, and it adds such a zero too)."""
        series: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for row in self.metrics:
            if row.get("start") is not None:
                key = (row["name"], tuple(sorted(row["labels"])), row["site"], row["service"])
                series.setdefault(key, []).append(row)
        for rows in series.values():
            rows.sort(key=lambda row: (row["ts"], row["line"]))
            for before, row in pairwise(rows):
                if before["ts"] < row["start"] < row["ts"]:
                    self.metrics.append({**row, "ts": row["start"], "value": 0.0})

    def accumulate_deltas(self) -> None:
        """Turn each delta series' values (counts since its previous point) into running
        totals, in time order (ties in the order of the file): a counter or histogram the
        lab's rate queries read as any other. A series is its name, labels (a bucket's
        ``le`` among them), site and service."""
        series: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for index in self.deltas:
            row = self.metrics[index]
            key = (row["name"], tuple(sorted(row["labels"])), row["site"], row["service"])
            series.setdefault(key, []).append(row)
        for rows in series.values():
            rows.sort(key=lambda row: (row["ts"], row["line"]))  # stable: ties keep file order
            total = 0.0
            for row in rows:
                total += row["value"]
                row["value"] = total


#: severityNumber's names without their prefix: 0 unspecified, 1 trace, 2 trace2, ... 24 fatal4
_SEVERITY_NAMES = (
    "unspecified",
    *(f"{level}{n}" if n > 1 else level for level in SEVERITIES for n in range(1, 5)),
)


def _scope(scoped: dict[str, Any], at: JsonPath) -> _Scope:
    where = (*at, "scope")
    scope = _object(scoped, at, "scope")
    found: dict[str, Any] = {
        "otel.scope.name": _text(scope, where, "name"),
        "otel.scope.version": _text(scope, where, "version"),
        "otel.scope.attributes": attributes(scope, where) or None,
    }
    labels = {k: found[k] for k in ("otel.scope.name", "otel.scope.version") if found[k]}
    return _Scope({k: v for k, v in found.items() if v is not None}, labels)


def _resource_labels(named: dict[str, str]) -> dict[str, str]:
    """The resource attributes a metric point's labels take: all but those the service
    and site columns hold, so that two senders' series (two hosts, two instances of a
    service) stay two."""
    return {k: v for k, v in named.items() if k != "service.name" and k not in SITE_ATTRIBUTES}


def _take_id(attrs: dict[str, Any], column: str) -> str | None:
    """Remove and return the first record attribute naming ``column`` (as text)."""
    for key in fields.VARIANTS[column]:
        value = attrs.get(key)
        if value not in (None, "") and not isinstance(value, dict | list):
            del attrs[key]
            return _label_text(value)
    return None


def _event(event: dict[str, Any], at: JsonPath) -> dict[str, Any]:
    nanos = _nanos(event, at, "timeUnixNano")
    return {
        "time": None if nanos is None else rfc3339(nanos),
        "name": _text(event, at, "name"),
        "attributes": attributes(event, at),
    }


def _link(link: dict[str, Any], at: JsonPath) -> dict[str, Any]:
    return {
        "trace_id": _hex_id(link, at, "traceId", 16),
        "span_id": _hex_id(link, at, "spanId", 8),
        "trace_state": _text(link, at, "traceState"),
        "attributes": attributes(link, at),
    }


# --------------------------------------------------------------------------- data points

#: (name suffix, extra labels, value) of each row a data point gives; a value of None is a
#: summary's quantile of NaN
_PointRows = list[tuple[str, dict[str, str], float | None]]
_PointReader = Callable[[dict[str, Any], JsonPath], _PointRows]


def _number_point(point: dict[str, Any], at: JsonPath) -> _PointRows:
    if "asDouble" in point:
        return [("", {}, _measured(point["asDouble"], (*at, "asDouble")))]
    if "asInt" in point:
        return [
            (
                "",
                {},
                float(
                    _whole(point["asInt"], (*at, "asInt"), "an int64", low=-_INT64, high=_INT64)
                ),
            )
        ]
    raise _Bad(at, "no value (asDouble or asInt)")


def _totals(point: dict[str, Any], at: JsonPath, cumulative: int) -> _PointRows:
    """The ``_sum`` (when given) and ``_count`` rows; the count must match the buckets'."""
    count = _count(point, at, "count")
    if cumulative != count:
        raise _Bad((*at, "count"), f"{count}, but the buckets hold {cumulative}")
    rows: _PointRows = []
    if point.get("sum") is not None:
        rows.append(("_sum", {}, _measured(point["sum"], (*at, "sum"))))
    rows.append(("_count", {}, float(count)))
    return rows


def _counts(obj: dict[str, Any], at: JsonPath, key: str = "bucketCounts") -> list[int]:
    return [
        _whole(c, (*at, key, i), "a count", low=0, high=2**64)
        for i, c in enumerate(_array(obj, at, key))
    ]


def _histogram_point(point: dict[str, Any], at: JsonPath) -> _PointRows:
    counts = _counts(point, at)
    bounds = [
        _bound(b, (*at, "explicitBounds", i))
        for i, b in enumerate(_array(point, at, "explicitBounds"))
    ]
    for i in range(1, len(bounds)):
        if bounds[i] <= bounds[i - 1]:
            raise _Bad(
                (*at, "explicitBounds", i),
                f"{number_text(bounds[i])} is not above the bound before it, "
                f"{number_text(bounds[i - 1])}: explicitBounds rise strictly",
            )
    if counts and len(counts) != len(bounds) + 1:
        raise _Bad(
            (*at, "bucketCounts"),
            f"{len(counts)} buckets for {len(bounds)} explicitBounds (expected one more)",
        )
    if not counts:  # no buckets: all the count is below +Inf
        return _bucket_rows(point, at, [(math.inf, _count(point, at, "count"))])
    return _bucket_rows(point, at, list(zip([*bounds, math.inf], counts, strict=True)))


def _bucket_rows(
    point: dict[str, Any], at: JsonPath, buckets: list[tuple[float, int]]
) -> _PointRows:
    """``_bucket`` rows counting up to each (upper bound, count) of ``buckets`` (ascending,
    +Inf last), then ``_sum`` and ``_count``."""
    rows: _PointRows = []
    total = 0
    for bound, count in buckets:
        total += count
        rows.append(("_bucket", {"le": number_text(bound)}, float(total)))
    return rows + _totals(point, at, total)


def exponential_bound(scale: int, index: int) -> float:
    """``base ** index`` with ``base = 2 ** (2 ** -scale)``: exact for a scale of 0 or less.

    >>> exponential_bound(0, 3), exponential_bound(-1, 2), exponential_bound(1, 1)
    (8.0, 16.0, 1.4142135623730951)
    """
    if scale <= 0:
        return math.ldexp(1.0, index << -scale)
    return 2.0 ** (index / (1 << scale))


def _exponential_point(point: dict[str, Any], at: JsonPath) -> _PointRows:
    scale = _whole(point.get("scale", 0), (*at, "scale"), "a scale", low=-10, high=21)
    zero_threshold = _bound(point.get("zeroThreshold", 0), (*at, "zeroThreshold"))
    zero_count = _count(point, at, "zeroCount")
    negative_offset, negative = _exponential_buckets(point, at, "negative")
    positive_offset, positive = _exponential_buckets(point, at, "positive")
    try:
        # a bucket whose values all lie within the zero bucket's threshold (the threshold
        # may reach past a few of them) is counted in the zero bucket
        inside = 0
        below: list[tuple[float, int]] = []  # (le, count), ascending: the most negative first
        for i, count in reversed(list(enumerate(negative))):
            if exponential_bound(scale, negative_offset + i + 1) <= zero_threshold:
                inside += count
            else:
                below.append((-exponential_bound(scale, negative_offset + i), count))
        above: list[tuple[float, int]] = []
        for i, count in enumerate(positive):
            upper = exponential_bound(scale, positive_offset + i + 1)
            if upper <= zero_threshold:
                inside += count
            else:
                above.append((upper, count))
        buckets = []
        if below:
            # the lowest bucket's lower bound, as an empty bucket before it: a quantile
            # that falls in it is placed between its bounds, not below a bound not written
            lowest_negative = -exponential_bound(scale, negative_offset + len(negative))
            buckets.append((lowest_negative, 0))
        buckets.extend(below)
        buckets.append((zero_threshold, zero_count + inside))
        first = positive_offset + len(positive) - len(above)
        lowest = exponential_bound(scale, first)
        if above and lowest > zero_threshold:
            # the same for the lowest positive bucket, when the zero bucket does not end there
            buckets.append((lowest, 0))
        buckets.extend(above)
    except OverflowError:
        raise _Bad(at, f"a bucket's bound at scale {scale} is beyond a double") from None
    return _bucket_rows(point, at, [*buckets, (math.inf, 0)])


def _exponential_buckets(point: dict[str, Any], at: JsonPath, side: str) -> tuple[int, list[int]]:
    """The first index and the counts of an exponential histogram's positive or negative side."""
    where = (*at, side)
    part = _object(point, at, side)
    offset = _whole(
        part.get("offset", 0), (*where, "offset"), "an offset", low=-(2**31), high=2**31
    )
    return offset, _counts(part, where)


def _summary_point(point: dict[str, Any], at: JsonPath) -> _PointRows:
    rows: _PointRows = []
    for where, quantile in _objects(point, at, "quantileValues"):
        q = _double(quantile.get("quantile", 0), (*where, "quantile"))
        if not 0 <= q <= 1:
            raise _Bad((*where, "quantile"), f"{number_text(q)} is not a quantile (0 to 1)")
        value_at, written = (*where, "value"), quantile.get("value", 0)
        # a quantile of NaN: its window held no observations, which is no fault of the request
        value = None if math.isnan(_double(written, value_at)) else _measured(written, value_at)
        rows.append(("", {"quantile": number_text(q)}, value))
    rows.append(("_sum", {}, _measured(point.get("sum", 0), (*at, "sum"))))
    rows.append(("_count", {}, float(_count(point, at, "count"))))
    return rows


#: a metric's data key -> (how its points become rows, its type)
_POINT_READERS: dict[str, tuple[_PointReader, str]] = {
    "gauge": (_number_point, "gauge"),
    "sum": (_number_point, "counter"),
    "histogram": (_histogram_point, "histogram"),
    "exponentialHistogram": (_exponential_point, "histogram"),
    "summary": (_summary_point, "summary"),
}


# --------------------------------------------------------------------------- staging

_TS = pa.timestamp("us", tz="UTC")
_SCHEMAS: dict[str, pa.Schema] = {
    "spans": pa.schema(
        [
            ("line", pa.int64()),
            ("trace_id", pa.string()),
            ("span_id", pa.string()),
            ("parent_span_id", pa.string()),
            ("name", pa.string()),
            ("kind", pa.string()),
            ("service", pa.string()),
            ("site", pa.string()),
            ("start_time", _TS),
            ("end_time", _TS),
            ("duration_ms", pa.float64()),
            ("status", pa.string()),
            ("status_message", pa.string()),
            ("attributes", pa.string()),
            ("events", pa.string()),
            ("links", pa.string()),
        ]
    ),
    "logs": pa.schema(
        [
            ("line", pa.int64()),
            ("ts", _TS),
            ("site", pa.string()),
            ("host", pa.string()),
            ("service", pa.string()),
            ("level", pa.string()),
            ("level_raw", pa.string()),
            ("message", pa.string()),
            ("correlation_id", pa.string()),
            ("causation_id", pa.string()),
            ("task_id", pa.string()),
            ("trace_id", pa.string()),
            ("attributes", pa.string()),
        ]
    ),
    "metrics": pa.schema(
        [
            ("line", pa.int64()),
            ("ts", _TS),
            ("name", pa.string()),
            ("labels", pa.map_(pa.string(), pa.string())),
            ("value", pa.float64()),
            ("type", pa.string()),
            ("site", pa.string()),
            ("service", pa.string()),
            ("family", pa.string()),
        ]
    ),
    "families": pa.schema(
        [
            ("line", pa.int64()),
            ("family", pa.string()),
            ("type", pa.string()),
            ("help", pa.string()),
            ("unit", pa.string()),
        ]
    ),
}
#: columns that are JSON in the lab, and the level filled from the text when no number gave it
_CASTS = {
    "attributes": "attributes::JSON",
    "events": "events::JSON",
    "links": "links::JSON",
    "level": "coalesce(level, dvlab_level(level_raw))",
}


def _create(
    con: duckdb.DuckDBPyConnection, table: str, kind: str, rows: list[dict[str, Any]]
) -> None:
    schema = _SCHEMAS[kind]
    registered = f"{table}_rows"
    select = ", ".join(f"{_CASTS.get(n, n)} AS {n}" for n in schema.names)
    over_rows(
        con,
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {select} FROM {registered}",
        registered,
        pa.Table.from_pylist(rows, schema=schema),
    )


@dataclass(frozen=True)
class OtlpJsonReader:
    """The ``otlp-json`` reader (see the module's account)."""

    format: str = FORMAT
    timed_by_file: bool = False

    def sniff(self, head: bytes) -> bool:
        """Whether a line of ``head`` starts an object whose first key is an OTLP request's."""
        return _REQUEST_START.search(head.lstrip(b"\xef\xbb\xbf")) is not None

    def stage(self, con: duckdb.DuckDBPyConnection, source: Source) -> list[Staged]:
        """Read the file's spans, log records and data points into four temporary tables."""
        found = _Rows(source)
        for item in _requests(
            files.read_text(source.path, source.name, what="OTLP/JSON"), source.name
        ):
            if isinstance(item, _BadLine):
                found.rejects.append((item.line, item.reason, item.raw[:REJECT_EXCERPT]))
            else:
                found.walk(item)

        found.accumulate_deltas()
        found.mark_restarts()
        levels.install(con)
        families = [
            {"line": line, "family": f, "type": t, "help": h, "unit": u}
            for (f, t, h, u), line in found.families.items()
        ]
        made = []
        for kind, rows in (
            ("spans", found.spans),
            ("logs", found.logs),
            ("metrics", found.metrics),
            ("families", families),
        ):
            table = table_name(source.src, kind)
            _create(con, table, kind, rows)
            made.append(Staged(kind, table, len(rows), 0))
        stage_rejects(con, source, found.rejects)
        made[0] = Staged("spans", made[0].table, made[0].rows, len(found.rejects))
        return made


READERS = (OtlpJsonReader(),)
