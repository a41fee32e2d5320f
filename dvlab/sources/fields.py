"""Field-name variants that mean the same column, shared by every keyed format.

JSON lines, logfmt and ``--pattern`` groups all map their keys through
:data:`VARIANTS`: the first variant present (in this order) fills the column,
the key is removed from ``attributes``, and other keys stay there.
Dotted names (``log.level``) are paths into nested objects, or keys that
contain a dot, whichever the record has.
"""

from __future__ import annotations

VARIANTS: dict[str, tuple[str, ...]] = {
    "ts_raw": ("time", "ts", "timestamp", "@timestamp", "datetime", "date", "t"),
    "level_raw": (
        "level",
        "severity",
        "lvl",
        "levelname",
        "loglevel",
        "log.level",
        "error_severity",
    ),
    "message": ("msg", "message", "textPayload", "log"),
    "service": ("service", "app", "logger", "service.name", "application", "program"),
    "host": ("host", "hostname", "node", "pod", "host.name", "nodename"),
    "site": ("site", "dc", "datacenter", "region", "zone"),
    "correlation_id": (
        "correlation_id",
        "correlationId",
        "request_id",
        "requestId",
        "req_id",
        "x_request_id",
    ),
    "causation_id": ("causation_id", "causationId"),
    "task_id": ("task_id", "taskId"),
    "trace_id": ("trace_id", "traceId", "trace.id"),
}

#: variant key -> column, for formats that look keys up one by one.
KEY_TO_FIELD: dict[str, str] = {
    key: column for column, keys in VARIANTS.items() for key in reversed(keys)
}


def map_keys(pairs: dict[str, object]) -> tuple[dict[str, object], dict[str, object]]:
    """Split ``pairs`` into (columns, attributes): each column takes its first variant present."""
    columns: dict[str, object] = {}
    used: set[str] = set()
    for column, keys in VARIANTS.items():
        for key in keys:
            value = pairs.get(key)
            if value is not None and value != "" and not isinstance(value, dict | list):
                columns[column] = value if isinstance(value, str) else _scalar_text(value)
                used.add(key)
                break
    attributes = {k: v for k, v in pairs.items() if k not in used}
    return columns, attributes


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
