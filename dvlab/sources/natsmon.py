"""Saved NATS server monitoring responses, as rows of the lab's ``metrics``.

nats-server answers its monitoring endpoints (``/varz``, ``/connz``,
``/routez``, ``/gatewayz``, ``/leafz``, ``/subsz``, ``/accountz``,
``/accstatz``, ``/jsz``, ``/healthz``) with one JSON object each, and
operators save those answers to files. :func:`endpoint_of` tells which
endpoint an object answers from its keys; :func:`stage` turns one saved
response into metric rows named ``nats_*``, labelled with the server
(``server_id``, ``server_name`` when given, ``endpoint``) and with the
connection, peer, account, stream or consumer a number belongs to.

Route, gateway and leaf-node connections each give an ``*_up`` row (value 1)
whose ``peer`` label names the other side; the curated query ``nats_peers``
lists them. ``site`` is the server's cluster name, else its gateway name,
when the response says it.

A snapshot's time is its ``now`` field, read through the lab's one time path
(offsets become UTC); ``/healthz`` and an old ``/subsz`` have none, and the
file's modification time stands in. A row's ``line`` is where the object that
gave its number starts in the file. A missing or null value gives no row; a
value of the wrong JSON type is a reject naming its JSON path (``routes[0].in_msgs:
"many" is not a number``) and the rest of the response is kept. A file that is
not one JSON object answered by a monitoring endpoint fails whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from dvlab.errors import BadInputError
from dvlab.lab import timeconv
from dvlab.sources import files
from dvlab.sources.records import REJECT_EXCERPT

ENDPOINTS: tuple[str, ...] = (
    "varz",
    "connz",
    "routez",
    "gatewayz",
    "leafz",
    "subsz",
    "accountz",
    "accstatz",
    "jsz",
    "healthz",
)

SERVICE = "nats-server"
GAUGE = "gauge"
COUNTER = "counter"

#: keys of which a monitoring response's first bytes hold at least one
_MARKERS = (b'"server_id"', b'"status"', b'"num_subscriptions"')

JsonPath = tuple[str | int, ...]


# --------------------------------------------------------------------------- detection


def endpoint_of(obj: object) -> str | None:
    """The monitoring endpoint whose response ``obj`` (a parsed JSON value) is, else None.

    >>> endpoint_of({"server_id": "N1", "num_routes": 0, "routes": []})
    'routez'
    >>> endpoint_of({"status": "ok"})
    'healthz'
    >>> endpoint_of({"time": "2026-01-01T00:00:00Z", "status": "ok", "msg": "done"}) is None
    True
    """
    if not isinstance(obj, dict):
        return None
    keys = set(obj)
    if "status" in keys and keys <= {"status", "status_code", "error", "errors"}:
        return "healthz"
    if {"routes", "num_routes"} <= keys:
        return "routez"
    if keys & {"outbound_gateways", "inbound_gateways"}:
        return "gatewayz"
    if "leafs" in keys:
        return "leafz"
    if {"connections", "num_connections"} <= keys:
        return "connz"
    if "account_statz" in keys:
        return "accstatz"
    if keys & {"account_details", "meta_cluster"} or {"config", "memory", "storage"} <= keys:
        return "jsz"
    if "server_id" in keys and ("account_detail" in keys or isinstance(obj.get("accounts"), list)):
        return "accountz"
    if {"server_id", "mem", "cpu"} <= keys:
        return "varz"
    if {"num_subscriptions", "num_cache", "num_inserts"} <= keys:
        return "subsz"
    return None


def looks_like(head: bytes) -> bool:
    """Whether a file starting with ``head`` may be a saved monitoring response.

    Cheap: a JSON object (``{``) with one of the keys every response carries
    near its top (``"server_id"``, ``"status"``, ``"num_subscriptions"``),
    and not JSON lines (a first line that is a whole JSON value with more
    after it). :func:`sniff` decides, from the whole file.
    """
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"{") or not any(marker in text for marker in _MARKERS):
        return False
    return files.one_json_document(text)


def sniff(path: Path, *, source: str) -> str | None:
    """The endpoint whose response ``path`` holds; None when it holds anything else.

    A JSON document spread over several lines (as nats-server writes its
    responses) that breaks off or is damaged raises BadInputError naming
    the line: no other reader takes such a file.
    """
    data = files.read_bytes(path, source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    try:
        body = _one_value(text, source)
    except _NotOneValue:
        return None
    except BadInputError:
        if "\n" not in text.strip():
            return None  # a single line: the line readers say what is wrong with it
        raise
    return endpoint_of(body)


# --------------------------------------------------------------------------- Go durations

_UNITS: dict[str, Decimal] = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "\u00b5s": Decimal("1e-6"),  # micro sign, as Go writes it
    "\u03bcs": Decimal("1e-6"),  # Greek small letter mu
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
    "y": Decimal(365 * 86400),
}
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_UNIT = "(ns|us|\u00b5s|\u03bcs|ms|s|m|h|d|y)"
_DURATION = re.compile(rf"[-+]?(?:{_NUMBER}{_UNIT})+")
_DURATION_PART = re.compile(_NUMBER + _UNIT)


def go_duration(text: str) -> float:
    """The seconds in a duration as nats-server writes it.

    Go's ``time.Duration`` text (``1h2m3.5s``, ``1.02ms``, ``52µs``, ``0s``,
    ``-1.5h``) and the days and years of ``/varz``'s ``uptime``
    (``2d3h4m5s``; a year is 365 days). Raises ValueError for anything else.

    >>> go_duration("10m8.4s")
    608.4
    >>> go_duration("52µs")
    5.2e-05
    """
    value = text.strip()
    if value in ("0", "+0", "-0"):
        return 0.0
    if not _DURATION.fullmatch(value):
        raise ValueError(f"{text!r} is not a duration (such as 1h2m3.5s, 1.02ms, 52µs, 0s)")
    total = sum(
        (Decimal(number) * _UNITS[unit] for number, unit in _DURATION_PART.findall(value)),
        Decimal(0),
    )
    return float(-total if value.startswith("-") else total)


# --------------------------------------------------------------------------- reading


class _NotOneValue(Exception):
    """The text holds more than one JSON value; ``line`` is where the second starts."""

    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


_LEADING_SPACE = re.compile(r"[ \t\r\n]*")


def _one_value(text: str, source: str) -> Any:
    """The one JSON value ``text`` holds; BadInputError names the line of a syntax error."""
    start = _LEADING_SPACE.match(text)
    assert start is not None  # matches the empty string at least
    try:
        value, end = json.JSONDecoder().raw_decode(text, start.end())
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"not valid JSON: {exc.msg} (column {exc.colno}); a saved NATS monitoring "
            "response is one JSON object",
            source=source,
            line=exc.lineno,
        ) from None
    after = _LEADING_SPACE.match(text, end)
    assert after is not None
    if after.end() < len(text):
        raise _NotOneValue(text.count("\n", 0, after.end()) + 1)
    return value


@dataclass(frozen=True)
class Response:
    """One saved monitoring response: its endpoint, its parsed body and its text."""

    endpoint: str
    body: dict[str, Any]
    text: str


def read_response(path: Path, *, source: str) -> Response:
    """Parse ``path`` (plain, .gz or .zst) as one monitoring response.

    Raises BadInputError when it is not UTF-8 JSON (naming the line), not one
    JSON object, or an object no monitoring endpoint returns.
    """
    data = files.read_bytes(path, source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(
            f"not UTF-8 text (byte {exc.start}); a saved NATS monitoring response is JSON",
            source=source,
            line=data.count(b"\n", 0, exc.start) + 1,
        ) from None
    try:
        body = _one_value(text, source)
    except _NotOneValue as more:
        raise BadInputError(
            "more than one JSON value (a second starts here); a saved NATS monitoring "
            "response is one JSON object, one file per response",
            source=source,
            line=more.line,
        ) from None
    if not isinstance(body, dict):
        raise BadInputError(
            f"a JSON {_json_type(body)}, not a NATS monitoring response (a JSON object "
            "such as /varz or /routez returns)",
            source=source,
        )
    endpoint = endpoint_of(body)
    if endpoint is None:
        shown = ", ".join(sorted(body)[:12]) or "none"
        raise BadInputError(
            f"a JSON object that no NATS monitoring endpoint returns (its keys: {shown}); "
            f"expected the response of /{', /'.join(ENDPOINTS)}",
            source=source,
        )
    return Response(endpoint, body, text)


def _json_type(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[{}\[\],:\n]|[^\s{}\[\],:"]+')


@dataclass
class _Frame:
    path: JsonPath
    is_object: bool
    key: str = ""
    index: int = 0


def value_lines(text: str) -> dict[JsonPath, int]:
    """The line on which every value of the JSON document ``text`` starts, by its path.

    >>> value_lines('{\\n  "a": [\\n    {"b": 1}\\n  ]\\n}')[("a", 0)]
    3
    """
    lines: dict[JsonPath, int] = {}
    stack: list[_Frame] = []
    line = 1
    expect_key = False
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == "\n":
            line += 1
        elif token == ",":
            if stack and not stack[-1].is_object:
                stack[-1].index += 1
            else:
                expect_key = True
        elif token in ("}", "]"):
            stack.pop()
            expect_key = False
        elif token == ":":
            continue
        elif expect_key:
            stack[-1].key = json.loads(token)
            expect_key = False
        else:
            if not stack:
                path: JsonPath = ()
            elif stack[-1].is_object:
                path = (*stack[-1].path, stack[-1].key)
            else:
                path = (*stack[-1].path, stack[-1].index)
            lines[path] = line
            if token in ("{", "["):
                stack.append(_Frame(path, token == "{"))
                expect_key = token == "{"
    return lines


def path_text(path: JsonPath) -> str:
    """A JSON path as a reject names it: ``routes[0].in_msgs``, ``outbound_gateways.B``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += ("." if out else "") + part
        else:
            out += "[" + json.dumps(part, ensure_ascii=False) + "]"
    return out or "(the whole response)"


# --------------------------------------------------------------------------- a snapshot


@dataclass
class _Snapshot:
    """The rows and rejects one response gives, with what every row shares."""

    lines: dict[JsonPath, int]
    text_lines: list[str]
    base: dict[str, str]
    rows: list[tuple[int, str, dict[str, str], float, str]] = field(default_factory=list)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)

    def line(self, path: JsonPath) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def reject(self, path: JsonPath, reason: str) -> None:
        line = self.line(path)
        raw = self.text_lines[line - 1] if line <= len(self.text_lines) else ""
        self.rejects.append((line, f"{path_text(path)}: {reason}", raw.strip()[:REJECT_EXCERPT]))

    def emit(
        self, name: str, value: float, kind: str, at: JsonPath, labels: dict[str, str]
    ) -> None:
        self.rows.append((self.line(at), name, {**self.base, **labels}, value, kind))

    def number(self, obj: dict[str, Any], at: JsonPath, key: str) -> float | None:
        """``obj[key]`` as a number; None (and a reject when present) otherwise."""
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.reject((*at, key), f"{_shown(value)} is not a number")
            return None
        return float(value)

    def duration(self, obj: dict[str, Any], at: JsonPath, key: str) -> float | None:
        """``obj[key]`` in seconds: Go duration text, or a whole number of nanoseconds."""
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                return go_duration(value)
            except ValueError:
                self.reject((*at, key), f"{_shown(value)} is not a duration (as 1.5ms, 2m3s)")
                return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value / 1e9
        self.reject((*at, key), f"{_shown(value)} is not a duration")
        return None

    def numbers(
        self,
        obj: dict[str, Any],
        at: JsonPath,
        fields: dict[str, tuple[str, str]],
        labels: dict[str, str],
        *,
        line_of: JsonPath | None = None,
    ) -> None:
        """One row per ``key: (name, type)`` of ``fields`` that ``obj`` has as a number."""
        for key, (name, kind) in fields.items():
            value = self.number(obj, at, key)
            if value is not None:
                self.emit(name, value, kind, at if line_of is None else line_of, labels)

    def child(self, obj: dict[str, Any], at: JsonPath, key: str) -> dict[str, Any] | None:
        """``obj[key]`` when it is an object; None (and a reject when present) otherwise."""
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.reject((*at, key), f"{_shown(value)} is not an object")
            return None
        return value

    def entries(
        self, obj: dict[str, Any], at: JsonPath, key: str
    ) -> Iterator[tuple[JsonPath, dict[str, Any]]]:
        """(path, object) of each element of the list ``obj[key]``; others are rejects."""
        value = obj.get(key)
        if value is None:
            return
        if not isinstance(value, list):
            self.reject((*at, key), f"{_shown(value)} is not a list")
            return
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield (*at, key, index), item
            elif item is not None:
                self.reject((*at, key, index), f"{_shown(item)} is not an object")


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _text(value: object) -> str | None:
    """A label's text: strings as they are, booleans as true/false, numbers as written."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _labels(obj: dict[str, Any], *keys: str, **fixed: object) -> dict[str, str]:
    """The labels ``obj`` has among ``keys`` (as text), then ``fixed`` ones (None left out)."""
    found = {k: _text(obj.get(k)) for k in keys}
    found.update({k: _text(v) for k, v in fixed.items()})
    return {k: v for k, v in found.items() if v is not None and v != ""}


def _io(prefix: str) -> dict[str, tuple[str, str]]:
    return {
        "in_msgs": (f"{prefix}_in_msgs", COUNTER),
        "out_msgs": (f"{prefix}_out_msgs", COUNTER),
        "in_bytes": (f"{prefix}_in_bytes", COUNTER),
        "out_bytes": (f"{prefix}_out_bytes", COUNTER),
    }


# --------------------------------------------------------------------------- endpoints


_VARZ = {
    "connections": ("nats_connections", GAUGE),
    "total_connections": ("nats_total_connections", COUNTER),
    "routes": ("nats_routes", GAUGE),
    "remotes": ("nats_remotes", GAUGE),
    "leafnodes": ("nats_leafnodes", GAUGE),
    **_io("nats"),
    "slow_consumers": ("nats_slow_consumers", COUNTER),
    "subscriptions": ("nats_subscriptions", GAUGE),
    "mem": ("nats_mem_bytes", GAUGE),
    "cpu": ("nats_cpu_percent", GAUGE),
    # the limits the figures above are read against
    "max_connections": ("nats_max_connections", GAUGE),
    "max_payload": ("nats_max_payload_bytes", GAUGE),
    "max_pending": ("nats_max_pending_bytes", GAUGE),
    "max_subscriptions": ("nats_max_subscriptions", GAUGE),
    "cores": ("nats_cores", GAUGE),
    "gomaxprocs": ("nats_gomaxprocs", GAUGE),
}
_JETSTREAM_LIMITS = {
    "max_memory": ("nats_jetstream_max_memory_bytes", GAUGE),
    "max_storage": ("nats_jetstream_max_storage_bytes", GAUGE),
}
_JETSTREAM_API = {
    "total": ("nats_jetstream_api_requests_total", COUNTER),
    "errors": ("nats_jetstream_api_errors_total", COUNTER),
}
_JETSTREAM_USAGE = {
    "memory": ("nats_jetstream_memory_bytes", GAUGE),
    "storage": ("nats_jetstream_storage_bytes", GAUGE),
    "reserved_memory": ("nats_jetstream_reserved_memory_bytes", GAUGE),
    "reserved_storage": ("nats_jetstream_reserved_storage_bytes", GAUGE),
}


def _varz(snap: _Snapshot, body: dict[str, Any]) -> None:
    snap.numbers(body, (), _VARZ, {})
    uptime = snap.duration(body, (), "uptime")
    if uptime is not None:
        snap.emit("nats_uptime_seconds", uptime, GAUGE, (), {})
    slow = snap.child(body, (), "slow_consumer_stats")
    if slow is not None:
        for kind in ("clients", "routes", "gateways", "leafs"):
            value = snap.number(slow, ("slow_consumer_stats",), kind)
            if value is not None:
                snap.emit(
                    "nats_slow_consumers_by_kind",
                    value,
                    COUNTER,
                    ("slow_consumer_stats",),
                    {"kind": kind},
                )
    jetstream = snap.child(body, (), "jetstream")
    if jetstream is None:
        return
    config = snap.child(jetstream, ("jetstream",), "config")
    if config is not None:
        snap.numbers(config, ("jetstream", "config"), _JETSTREAM_LIMITS, {})
    stats = snap.child(jetstream, ("jetstream",), "stats")
    if stats is not None:
        snap.numbers(stats, ("jetstream", "stats"), _JETSTREAM_USAGE, {})
        api = snap.child(stats, ("jetstream", "stats"), "api")
        if api is not None:
            snap.numbers(api, ("jetstream", "stats", "api"), _JETSTREAM_API, {})


_CONNECTION = {
    "pending_bytes": ("nats_connection_pending_bytes", GAUGE),
    **_io("nats_connection"),
    "subscriptions": ("nats_connection_subscriptions", GAUGE),
}


def _connz(snap: _Snapshot, body: dict[str, Any]) -> None:
    snap.numbers(
        body,
        (),
        {
            "num_connections": ("nats_connz_num_connections", GAUGE),
            "total": ("nats_connz_total", GAUGE),
        },
        {},
    )
    for at, conn in snap.entries(body, (), "connections"):
        labels = _labels(conn, "cid", "name", "ip", "port", "lang")
        snap.numbers(conn, at, _CONNECTION, labels)
        rtt = snap.duration(conn, at, "rtt")
        if rtt is not None:
            snap.emit("nats_connection_rtt_seconds", rtt, GAUGE, at, labels)


_ROUTE = {
    **_io("nats_route"),
    "pending_size": ("nats_route_pending_bytes", GAUGE),
    "subscriptions": ("nats_route_subscriptions", GAUGE),
}


def _routez(snap: _Snapshot, body: dict[str, Any]) -> None:
    snap.numbers(body, (), {"num_routes": ("nats_routez_num_routes", GAUGE)}, {})
    for at, route in snap.entries(body, (), "routes"):
        peer = _text(route.get("remote_name")) or _text(route.get("remote_id"))
        solicited = route.get("did_solicit")
        # the server that solicited (dialled) the route has it outbound
        direction = "outbound" if solicited is True else "inbound" if solicited is False else None
        labels = _labels(
            route,
            "remote_id",
            "remote_name",
            "ip",
            "port",
            "rid",
            "did_solicit",
            peer=peer,
            direction=direction,
        )
        _peer_rows(snap, "nats_route", at, route, labels, _ROUTE, "remote_name or remote_id")


def _peer_rows(
    snap: _Snapshot,
    prefix: str,
    at: JsonPath,
    conn: dict[str, Any],
    labels: dict[str, str],
    fields: dict[str, tuple[str, str]],
    named_by: str,
    *,
    line_of: JsonPath | None = None,
) -> None:
    """A connection to a peer: ``<prefix>_up`` = 1, its numbers, and its rtt in seconds."""
    if "peer" not in labels:
        snap.reject(at, f"no {named_by}: the peer is unknown, so no {prefix}_up")
    else:
        snap.emit(f"{prefix}_up", 1.0, GAUGE, line_of or at, labels)
    snap.numbers(conn, at, fields, labels, line_of=line_of)
    rtt = snap.duration(conn, at, "rtt")
    if rtt is not None:
        snap.emit(f"{prefix}_rtt_seconds", rtt, GAUGE, line_of or at, labels)


_GATEWAY = {**_io("nats_gateway"), "pending_bytes": ("nats_gateway_pending_bytes", GAUGE)}


def _gatewayz(snap: _Snapshot, body: dict[str, Any]) -> None:
    outbound = snap.child(body, (), "outbound_gateways")
    for name, entry in (outbound or {}).items():
        _gateway(snap, ("outbound_gateways", name), name, entry, "outbound")
    inbound = snap.child(body, (), "inbound_gateways") or {}
    for name in inbound:
        for at, entry in snap.entries(inbound, ("inbound_gateways",), name):
            _gateway(snap, at, name, entry, "inbound")


def _gateway(snap: _Snapshot, at: JsonPath, name: str, entry: object, direction: str) -> None:
    """One gateway connection: ``{"configured": ..., "connection": {...}}``."""
    if not isinstance(entry, dict):
        snap.reject(at, f"{_shown(entry)} is not an object")
        return
    conn = snap.child(entry, at, "connection")
    if conn is None:
        return  # a gateway without a connection has nothing to measure
    labels = _labels(
        conn,
        "cid",
        "ip",
        "port",
        peer=name,
        direction=direction,
        remote_id=conn.get("name"),
        configured=entry.get("configured"),
    )
    _peer_rows(
        snap, "nats_gateway", (*at, "connection"), conn, labels, _GATEWAY, "name", line_of=at
    )


_LEAF = {**_io("nats_leafnode"), "subscriptions": ("nats_leafnode_subscriptions", GAUGE)}


def _leafz(snap: _Snapshot, body: dict[str, Any]) -> None:
    snap.numbers(body, (), {"leafnodes": ("nats_leafz_leafnodes", GAUGE)}, {})
    for at, leaf in snap.entries(body, (), "leafs"):
        account, ip = _text(leaf.get("account")), _text(leaf.get("ip"))
        peer = _text(leaf.get("name")) or "@".join(p for p in (account, ip) if p) or None
        labels = _labels(leaf, "name", "account", "ip", "port", "is_spoke", peer=peer)
        _peer_rows(snap, "nats_leafnode", at, leaf, labels, _LEAF, "name, account or ip")


_JSZ = {
    **_JETSTREAM_USAGE,
    "accounts": ("nats_jetstream_accounts", GAUGE),
    "ha_assets": ("nats_jetstream_ha_assets", GAUGE),
}
#: jsz totals: name -> the keys that carry it, newer servers' first
_JSZ_TOTALS = {
    "nats_jetstream_streams": ("streams", "total_streams"),
    "nats_jetstream_consumers": ("consumers", "total_consumers"),
    "nats_jetstream_messages": ("messages", "total_messages"),
    "nats_jetstream_bytes": ("bytes", "total_message_bytes"),
}
_API = {
    "total": ("nats_jetstream_api_requests_total", COUNTER),
    "errors": ("nats_jetstream_api_errors_total", COUNTER),
}
_ACCOUNT_USAGE = {
    "memory": ("nats_jetstream_account_memory_bytes", GAUGE),
    "storage": ("nats_jetstream_account_storage_bytes", GAUGE),
}
_ACCOUNT_API = {
    "total": ("nats_jetstream_account_api_requests_total", COUNTER),
    "errors": ("nats_jetstream_account_api_errors_total", COUNTER),
}
#: named as the live JetStream source (dvlab.live.natsingest) names them
_STREAM = {
    "messages": ("nats_stream_messages", GAUGE),
    "bytes": ("nats_stream_bytes", GAUGE),
    "first_seq": ("nats_stream_first_seq", GAUGE),
    "last_seq": ("nats_stream_last_seq", COUNTER),
    "consumer_count": ("nats_stream_consumers", GAUGE),
    "num_deleted": ("nats_stream_deleted", GAUGE),
}
_CONSUMER = {
    "num_pending": ("nats_consumer_pending", GAUGE),
    "num_ack_pending": ("nats_consumer_ack_pending", GAUGE),
    "num_redelivered": ("nats_consumer_redelivered", GAUGE),
    "num_waiting": ("nats_consumer_waiting", GAUGE),
}


def _jsz(snap: _Snapshot, body: dict[str, Any]) -> None:
    snap.numbers(body, (), _JSZ, {})
    # the limits its memory and storage are read against, as /varz gives them too
    config = snap.child(body, (), "config")
    if config is not None:
        snap.numbers(config, ("config",), _JETSTREAM_LIMITS, {})
    for name, keys in _JSZ_TOTALS.items():
        key = next((k for k in keys if body.get(k) is not None), None)
        if key is not None:
            value = snap.number(body, (), key)
            if value is not None:
                snap.emit(name, value, GAUGE, (), {})
    api = snap.child(body, (), "api")
    if api is not None:
        snap.numbers(api, ("api",), _API, {})
    meta = snap.child(body, (), "meta_cluster")
    if meta is not None:
        _meta_cluster(snap, meta)
    for at, account in snap.entries(body, (), "account_details"):
        _jsz_account(snap, at, account)


def _meta_cluster(snap: _Snapshot, meta: dict[str, Any]) -> None:
    at: JsonPath = ("meta_cluster",)
    size = snap.number(meta, at, "cluster_size")
    if size is not None:
        snap.emit("nats_jetstream_meta_cluster_size", size, GAUGE, at, {})
    leader = _text(meta.get("leader"))
    if leader:
        snap.emit("nats_jetstream_meta_leader", 1.0, GAUGE, at, {"peer": leader})
    for where, replica in snap.entries(meta, at, "replicas"):
        peer = _text(replica.get("name"))
        if not peer:
            snap.reject(where, "no name: the peer is unknown")
            continue
        labels = _labels(replica, "current", "offline", peer=peer)
        snap.emit("nats_jetstream_meta_peer", 1.0, GAUGE, where, labels)
        active = snap.duration(replica, where, "active")
        if active is not None:
            snap.emit("nats_jetstream_meta_peer_active_seconds", active, GAUGE, where, labels)
        lag = snap.number(replica, where, "lag")
        if lag is not None:
            snap.emit("nats_jetstream_meta_peer_lag", lag, GAUGE, where, labels)


def _jsz_account(snap: _Snapshot, at: JsonPath, account: dict[str, Any]) -> None:
    name = _text(account.get("name")) or _text(account.get("id"))
    labels = _labels({}, account=name)
    snap.numbers(account, at, _ACCOUNT_USAGE, labels)
    api = snap.child(account, at, "api")
    if api is not None:
        snap.numbers(api, (*at, "api"), _ACCOUNT_API, labels, line_of=at)
    for where, stream in snap.entries(account, at, "stream_detail"):
        stream_labels = _labels({}, account=name, stream=stream.get("name"))
        state = snap.child(stream, where, "state")
        if state is not None:
            snap.numbers(state, (*where, "state"), _STREAM, stream_labels, line_of=where)
        for place, consumer in snap.entries(stream, where, "consumer_detail"):
            consumer_labels = _labels(
                {},
                account=name,
                stream=consumer.get("stream_name") or stream.get("name"),
                consumer=consumer.get("name"),
            )
            snap.numbers(consumer, place, _CONSUMER, consumer_labels)


def _healthz(snap: _Snapshot, body: dict[str, Any]) -> None:
    status = body.get("status")
    if not isinstance(status, str):
        snap.reject(("status",), f"{_shown(status)} is not text")
        return
    labels = _labels(body, "status", "error")
    snap.emit("nats_healthz_ok", 1.0 if status.lower() == "ok" else 0.0, GAUGE, (), labels)


_SUBSZ = {
    "num_subscriptions": ("nats_subsz_num_subscriptions", GAUGE),
    "num_cache": ("nats_subsz_num_cache", GAUGE),
    "num_inserts": ("nats_subsz_num_inserts", COUNTER),
    "num_removes": ("nats_subsz_num_removes", COUNTER),
    "num_matches": ("nats_subsz_num_matches", COUNTER),
    "cache_hit_rate": ("nats_subsz_cache_hit_rate", GAUGE),
    "max_fanout": ("nats_subsz_max_fanout", GAUGE),
    "avg_fanout": ("nats_subsz_avg_fanout", GAUGE),
}


def _subsz(snap: _Snapshot, body: dict[str, Any]) -> None:
    snap.numbers(body, (), _SUBSZ, {})


_ACCOUNT_DETAIL = {
    "client_connections": ("nats_account_client_connections", GAUGE),
    "leafnode_connections": ("nats_account_leafnode_connections", GAUGE),
    "subscriptions": ("nats_account_subscriptions", GAUGE),
}


def _accountz(snap: _Snapshot, body: dict[str, Any]) -> None:
    accounts = body.get("accounts")
    if isinstance(accounts, list):
        snap.emit("nats_accountz_accounts", float(len(accounts)), GAUGE, (), {})
    elif accounts is not None:
        snap.reject(("accounts",), f"{_shown(accounts)} is not a list")
    detail = snap.child(body, (), "account_detail")
    if detail is not None:
        labels = _labels({}, account=detail.get("account_name"))
        snap.numbers(detail, ("account_detail",), _ACCOUNT_DETAIL, labels)


_ACCOUNT_STATZ = {
    "conns": ("nats_account_conns", GAUGE),
    "leafnodes": ("nats_account_leafnodes", GAUGE),
    "total_conns": ("nats_account_total_conns", GAUGE),
    "num_subscriptions": ("nats_account_subscriptions", GAUGE),
    "slow_consumers": ("nats_account_slow_consumers", COUNTER),
}


def _accstatz(snap: _Snapshot, body: dict[str, Any]) -> None:
    for at, account in snap.entries(body, (), "account_statz"):
        labels = _labels({}, account=account.get("acc"))
        snap.numbers(account, at, _ACCOUNT_STATZ, labels)
        for side in ("sent", "received"):
            flow = snap.child(account, at, side)
            if flow is not None:
                fields = {
                    "msgs": (f"nats_account_{side}_msgs", COUNTER),
                    "bytes": (f"nats_account_{side}_bytes", COUNTER),
                }
                snap.numbers(flow, (*at, side), fields, labels, line_of=at)


_EMITTERS: dict[str, Callable[[_Snapshot, dict[str, Any]], None]] = {
    "varz": _varz,
    "connz": _connz,
    "routez": _routez,
    "gatewayz": _gatewayz,
    "leafz": _leafz,
    "jsz": _jsz,
    "healthz": _healthz,
    "subsz": _subsz,
    "accountz": _accountz,
    "accstatz": _accstatz,
}


def _site(endpoint: str, body: dict[str, Any]) -> str | None:
    """The server's cluster name, else its gateway name, when the response says it."""
    candidates: list[object] = []
    if endpoint == "varz":
        for key in ("cluster", "gateway"):
            part = body.get(key)
            if isinstance(part, dict):
                candidates.append(part.get("name"))
    elif endpoint == "jsz":
        meta = body.get("meta_cluster")
        if isinstance(meta, dict):
            candidates.append(meta.get("name"))
    elif endpoint == "gatewayz":
        candidates.append(body.get("name"))
    return next((c for c in candidates if isinstance(c, str) and c), None)


# --------------------------------------------------------------------------- staging

_ROWS_SCHEMA = pa.schema(
    [
        ("line", pa.int64()),
        ("name", pa.string()),
        ("labels", pa.map_(pa.string(), pa.string())),
        ("value", pa.float64()),
        ("type", pa.string()),
    ]
)


def _snapshot_time(response: Response, path: Path, lines: dict[JsonPath, int], source: str) -> str:
    """The text of the response's time: ``now``, else the file's modification time."""
    now = response.body.get("now")
    if now is None:
        mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        return timeconv.format_utc(mtime, digits=6)
    if not isinstance(now, str):
        raise BadInputError(
            f"now: {_shown(now)} is not a time (nats-server writes RFC 3339 text)",
            source=source,
            line=lines.get(("now",)),
        )
    return now


def stage(
    con: duckdb.DuckDBPyConnection, *, src: int, path: Path, source: str
) -> tuple[str, int, int]:
    """Read the monitoring response in ``path`` into the temporary table ``mon_<src>``.

    Its columns are ``line, ts, name, labels, value, type, site, service, family``
    (what ``tables.insert_sql("metrics", ...)`` takes). Rejects go to
    ``stage_rejects`` (``src, source, line, reason, raw``), which must exist.
    Returns (table, rows, rejects). Raises BadInputError when the file is not
    a monitoring response or its ``now`` is not a time.
    """
    response = read_response(path, source=source)
    lines = value_lines(response.text)
    when = _snapshot_time(response, path, lines, source)
    timeconv.install(con)
    if con.execute("SELECT dvlab_ts(?) IS NULL", [when]).fetchall()[0][0]:
        raise BadInputError(
            f"now: {_shown(when)} is not a time", source=source, line=lines.get(("now",))
        )

    body = response.body
    base = _labels(body, "server_id", "server_name", endpoint=response.endpoint)
    snap = _Snapshot(lines=lines, text_lines=response.text.split("\n"), base=base)
    _EMITTERS[response.endpoint](snap, body)

    table = f"mon_{int(src)}"
    rows = pa.Table.from_pylist(
        [
            {"line": line, "name": name, "labels": list(labels.items()), "value": v, "type": t}
            for line, name, labels, v, t in snap.rows
        ],
        schema=_ROWS_SCHEMA,
    )
    registered = f"{table}_rows"
    con.register(registered, rows)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {table} AS
                SELECT line::BIGINT AS line, dvlab_ts($ts) AS ts, name::VARCHAR AS name,
                       labels::MAP(VARCHAR, VARCHAR) AS labels, value::DOUBLE AS value,
                       type::VARCHAR AS type, $site::VARCHAR AS site,
                       $service::VARCHAR AS service, name::VARCHAR AS family
                FROM {registered}""",
            {"ts": when, "site": _site(response.endpoint, body), "service": SERVICE},
        )
    finally:
        con.unregister(registered)
    if snap.rejects:
        con.executemany(
            "INSERT INTO stage_rejects (src, source, line, reason, raw) VALUES (?, ?, ?, ?, ?)",
            [[src, source, line, reason, raw] for line, reason, raw in snap.rejects],
        )
    return table, len(snap.rows), len(snap.rejects)
