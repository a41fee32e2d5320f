"""Table-shaped sources: task history, task transitions and workflow events.

A control plane's task tables arrive as CSV, Parquet, JSON lines or a JSON
array (an API response, as Docker's ``GET /tasks``); workflow events arrive
as a JetStream export (JSON lines, one delivered message each, usually with
a CloudEvents envelope as payload) or as bare CloudEvents lines.

Column names are mapped through the variants below, first present wins
(exact name first, then ignoring case); ``--map column=NAME`` overrides, and
``NAME`` may be a dotted path into a JSON record (``state=Status.State``).
Every value is read as text, times through the lab's one time path
(``dvlab_ts``), and states through :data:`TASK_STATES` (the word as written
is kept in ``state_raw``). A row that cannot be stored as it is (an unknown
state, a duplicate id, a time that is not one, an end before its start) is
a reject naming its row and column; a source missing a required column
fails whole.

Metrics, spans and log records in CSV or Parquet (``--kind metrics``,
``spans``, ``logs``) take the same column mapping through the variants
below and are staged by :mod:`dvlab.sources.csvtelemetry`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dvlab.errors import BadInputError, SourceReadError
from dvlab.lab.dberrors import first_line
from dvlab.lab.levels import word_case
from dvlab.lab.schema import LOG_COLUMNS, SPAN_COLUMNS, quote_ident, quote_literal
from dvlab.sources import files
from dvlab.sources.records import REJECT_EXCERPT

KINDS = ("tasks", "transitions", "events")

#: read_csv's own limit on a line's length: a database's copy with a wider row is read with
#: a limit made for it (a larger limit than needed slows every read, by half at 1 GiB)
CSV_LINE_BYTES = 2 << 20

#: A value of a database's copy (PostgreSQL's text format) as it was: ``\\`` is a
#: backslash, and ``\n``, ``\r``, ``\t``, ``\b``, ``\f``, ``\v`` the control characters
#: (COPY TO writes no other escape). The escaped backslashes are set aside as NUL first (a
#: PostgreSQL text value never holds one), so that ``\\n`` stays a backslash and an n; each
#: step is one pass over the value, whatever the number of backslashes in it.
_UNESCAPE_COPIED = r"""CREATE OR REPLACE TEMP MACRO dvlab_copied_text(v) AS (
    CASE WHEN NOT contains(v, '\') THEN v
         ELSE replace(replace(replace(replace(replace(replace(replace(
                  replace(v, '\\', chr(0)),
                  '\n', chr(10)), '\r', chr(13)), '\t', chr(9)),
                  '\b', chr(8)), '\f', chr(12)), '\v', chr(11)), chr(0), '\')
    END)"""


#: ``version`` for rows whose versions are ordered by the rank a database's copy gives each
#: (see CopiedRows): for a type whose order DuckDB cannot tell from its text (an enum, a
#: collated text, an interval, a numeric wider than a double)
RANKED = "\x00rank"


@dataclass(frozen=True)
class CopiedRows:
    r"""A result a database wrote in PostgreSQL's text format (``COPY … TO STDOUT``): a
    line per row, values separated by tabs, a control character or backslash in a value
    escaped with a backslash, NULL written ``\N``; the first value is the row's number
    (from 1), the rest are ``columns``. ``longest`` is the widest line's length in bytes.
    With ``ranked``, a last value follows: the rank of the row's version among the rows
    copied, in the database's own order (see :data:`RANKED`).

    As no value holds a line break, DuckDB's reader can split the file anywhere in
    parallel (a CSV's quoted line breaks can make it start a part mid-value).

    ``plain``: no value holds a backslash, a character beyond ASCII, or a space at either
    end. Nothing is then escaped, and no value changes when trimmed (``trim`` removes the
    space and Unicode's other space separators, no other ASCII character): each value is
    read as it is, without the two steps (most rows from a database need neither)."""

    columns: tuple[str, ...]
    longest: int
    ranked: bool = False
    plain: bool = False

    def line_bytes(self) -> int:
        return max(CSV_LINE_BYTES, self.longest + 1024)


#: normalised task state -> the words sources use for it (compared ignoring case)
TASK_STATES: dict[str, tuple[str, ...]] = {
    "pending": (
        "pending",
        "new",
        "created",
        "queued",
        "scheduled",
        "assigned",
        "accepted",
        "preparing",
        "ready",
        "waiting",
        "submitted",
    ),
    "running": ("running", "starting", "started", "in_progress", "active", "executing"),
    "retrying": ("retrying", "retry", "backoff", "waiting_retry"),
    "succeeded": (
        "succeeded",
        "success",
        "successful",
        "complete",
        "completed",
        "done",
        "finished",
        "ok",
    ),
    "failed": (
        "failed",
        "failure",
        "error",
        "errored",
        "rejected",
        "crashed",
        "timed_out",
        "timeout",
    ),
    "cancelled": (
        "cancelled",
        "canceled",
        "shutdown",
        "removed",
        "remove",
        "orphaned",
        "aborted",
        "killed",
        "deleted",
        "skipped",
    ),
}

TASK_VARIANTS: dict[str, tuple[str, ...]] = {
    "task_id": ("task_id", "taskId", "task", "id"),
    "workflow_id": ("workflow_id", "workflowId", "workflow", "job_id", "jobId"),
    "workflow_type": ("workflow_type", "workflowType", "job_type"),
    "parent_task_id": ("parent_task_id", "parentTaskId", "parent_id", "parentId", "parent"),
    "site": ("site", "dc", "datacenter", "region", "zone"),
    "service": ("service", "app", "component"),
    "target_kind": ("target_kind", "targetKind", "resource_kind", "resource_type"),
    "target_id": ("target_id", "targetId", "resource_id", "resourceId"),
    "state": ("state", "status", "phase", "pod_phase"),
    "attempt": ("attempt", "attempts", "retry_count", "retries", "try"),
    "created": ("created_at", "createdAt", "created", "creation_time", "submitted_at"),
    "started": ("started_at", "startedAt", "started", "start_time", "scheduled_time"),
    "finished": (
        "finished_at",
        "finishedAt",
        "finished",
        "end_time",
        "completed_at",
        "deletion_time",
    ),
    "error_class": ("error_class", "errorClass", "error_type", "error_kind"),
    "error_message": ("error_message", "errorMessage", "error", "err", "message"),
    "idempotency_key": ("idempotency_key", "idempotencyKey", "idempotency"),
    "retry_policy": ("retry_policy", "retryPolicy", "retry"),
    "correlation_id": ("correlation_id", "correlationId", "request_id", "requestId"),
}

TRANSITION_VARIANTS: dict[str, tuple[str, ...]] = {
    "task_id": ("task_id", "taskId", "task"),
    "seq": ("seq", "sequence", "transition_seq", "version"),
    "from_state": ("from_state", "fromState", "old_state", "previous_state"),
    "to_state": ("to_state", "toState", "new_state", "state", "status"),
    "attempt": ("attempt", "attempts"),
    "ts": ("at", "changed_at", "transitioned_at", "time", "ts", "timestamp"),
    "reason": ("reason", "error_class", "cause"),
}

_SERVICE = ("service", "service_name", "serviceName", "app")
#: a Kubernetes pod: the service is its name less the ReplicaSet and pod hashes
_POD = ("pod", "pod_name", "podName")
_SITE = ("site", "dc", "datacenter", "region")

SPAN_VARIANTS: dict[str, tuple[str, ...]] = {
    "trace_id": ("trace_id", "traceId", "trace"),
    "span_id": ("span_id", "spanId", "span"),
    "parent_span_id": ("parent_span_id", "parentSpanId", "parent_id", "parentId", "parent"),
    "name": ("name", "operation_name", "operationName", "operation", "span_name", "spanName"),
    "kind": ("kind", "span_kind", "spanKind"),
    "service": _SERVICE,
    "pod": _POD,
    "site": _SITE,
    "start_time": (
        "start_time",
        "startTime",
        "start_time_unix_nano",
        "startTimeUnixNano",
        "start",
    ),
    "end_time": ("end_time", "endTime", "end_time_unix_nano", "endTimeUnixNano", "end"),
    # a duration column says its unit by the name it is mapped to
    "duration_ms": ("duration_ms", "durationMs"),
    "duration_us": ("duration_us", "durationUs"),
    "duration_ns": ("duration_ns", "durationNs", "durationNano"),
    "duration_s": ("duration_s", "duration_seconds"),
    "status": ("status", "status_code", "statusCode"),
    "status_message": ("status_message", "statusMessage"),
}

LOG_VARIANTS: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "timestamp", "time", "@timestamp"),
    "message": ("message", "msg", "log", "text", "body"),
    # a lab's own export holds the level as written (level_raw) beside its normalised word
    "level": ("level_raw", "level", "severity", "lvl", "levelname", "loglevel"),
    "service": _SERVICE,
    "pod": _POD,
    "host": ("host", "hostname", "node", "node_name"),
    "site": _SITE,
    "trace_id": ("trace_id", "traceId"),
    "correlation_id": ("correlation_id", "correlationId", "request_id", "requestId"),
    "causation_id": ("causation_id", "causationId"),
    "task_id": ("task_id", "taskId"),
}

METRIC_VARIANTS: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "timestamp", "time", "@timestamp"),
    # a long table (one sample a row) has a name and a value column; a wide one neither
    "name": ("name", "metric", "metric_name", "__name__"),
    "value": ("value", "val"),
    "type": ("type", "metric_type"),
    "service": _SERVICE,
    "pod": _POD,
    "site": _SITE,
    # only by --map labels=COLUMN,COLUMN: the columns kept as labels of a wide table
    "labels": (),
}

VARIANTS = {
    "tasks": TASK_VARIANTS,
    "transitions": TRANSITION_VARIANTS,
    "spans": SPAN_VARIANTS,
    "logs": LOG_VARIANTS,
    "metrics": METRIC_VARIANTS,
}
REQUIRED = {
    "tasks": ("task_id", "state"),
    "transitions": ("task_id", "to_state", "ts"),
    "spans": ("trace_id", "span_id", "start_time"),
    "logs": ("ts", "message"),
    "metrics": ("ts",),
}
#: mapped to a comma-separated list of source columns rather than one
LIST_COLUMNS = ("labels",)
TIMES = ("created", "started", "finished", "ts")

#: the lab's columns per kind, in order (provenance added at commit)
TASK_COLUMNS = (
    "task_id",
    "workflow_id",
    "workflow_type",
    "parent_task_id",
    "site",
    "service",
    "target_kind",
    "target_id",
    "state",
    "state_raw",
    "attempt",
    "created",
    "started",
    "finished",
    "error_class",
    "error_message",
    "idempotency_key",
    "retry_policy",
    "correlation_id",
    "attributes",
)
TRANSITION_COLUMNS = (
    "task_id",
    "seq",
    "from_state",
    "to_state",
    "to_state_raw",
    "attempt",
    "ts",
    "reason",
    "attributes",
)
EVENT_COLUMNS = (
    "event_id",
    "stream",
    "subject",
    "seq",
    "time",
    "published",
    "type",
    "site",
    "service",
    "correlation_id",
    "causation_id",
    "task_id",
    "workflow_id",
    "payload",
    "headers",
    "deliveries",
    "event_source",
)


@dataclass(frozen=True)
class Shape:
    """How a table-shaped file is laid out, and what it holds."""

    kind: str  # tasks | transitions | events
    layout: str  # csv | parquet | jsonl | json-array
    columns: tuple[str, ...]  # top-level column or key names


def state_case(expression: str) -> str:
    """SQL turning a raw state word into its normalised name (NULL when unknown). Blanks,
    tabs and line ends around the word do not count."""
    return word_case(expression, TASK_STATES)


# --------------------------------------------------------------------------- detection


def kind_of(
    columns: tuple[str, ...] | list[str], mapping: dict[str, str] | None = None
) -> str | None:
    """Which table kind a set of column names is, if any (``mapping``: ``--map`` given)."""
    names = {c.lower() for c in columns}
    mapped = set(mapping or {})
    if {"stream", "seq", "subject"} <= names or {"specversion", "id", "type"} <= names:
        return "events"
    if names & {"msg", "message", "log", "textpayload"} and "error_message" not in names:
        return None  # a log record that happens to carry an id and a status
    if names & {"level", "severity", "lvl", "levelname", "loglevel"} and not mapped:
        return None  # a log level: a log record, even without a message
    if ("to_state" in mapped or _has(names, TRANSITION_VARIANTS["to_state"][:3])) and (
        "task_id" in mapped or _has(names, TRANSITION_VARIANTS["task_id"])
    ):
        return "transitions"
    task_columns = ("state", "created", "started", "finished", "workflow_id", "parent_task_id")
    if ("task_id" in mapped or _has(names, TASK_VARIANTS["task_id"])) and (
        mapped & set(task_columns) or any(_has(names, TASK_VARIANTS[c]) for c in task_columns)
    ):
        return "tasks"
    return None


def _has(names: set[str], candidates: tuple[str, ...]) -> bool:
    return any(c.lower() in names for c in candidates)


def sniff(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    head: bytes,
    mapping: dict[str, str] | None = None,
) -> Shape | None:
    """The shape of ``path`` when it is a table-shaped source, else None (a log)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    try:
        if head.startswith(b"PAR1"):
            columns = _parquet_columns(con, path)
            kind = kind_of(columns, mapping)
            return Shape(kind or "tasks", "parquet", columns)
        if text.startswith(b"[") and text[1:].lstrip(b" \t\r\n").startswith(b"{"):
            # an array of objects; "[" before anything else starts a log line
            # ("[Sun Dec 04 04:47:44 2005] [notice] ...", "[2026-12-01 10:00:00,123] INFO")
            columns = _json_keys(con, path, "array")
            kind = kind_of(columns, mapping)
            return None if kind is None else Shape(kind, "json-array", columns)
        first = text.split(b"\n", 1)[0].decode("utf-8", "replace")
        if text.startswith(b"{"):
            try:
                record = json.loads(first)
            except ValueError:
                return None
            if not isinstance(record, dict):
                return None
            kind = kind_of(list(record), mapping)
            if kind is None:
                return None
            return Shape(kind, "jsonl", _json_keys(con, path, "newline_delimited"))
        if "," in first:
            columns = tuple(c.strip().strip('"') for c in first.split(","))
            kind = kind_of(columns, mapping)
            return None if kind is None else Shape(kind, "csv", columns)
    except duckdb.Error as exc:
        raise SourceReadError(
            str(path), f"could not read it as a table: {first_line(exc)}"
        ) from None
    return None


def shape_for(con: duckdb.DuckDBPyConnection, path: Path, head: bytes, kind: str) -> Shape:
    """The shape of ``path`` read as ``kind`` (``--kind`` given)."""
    found = sniff(con, path, head, {"task_id": "", "state": ""})
    if found is not None:
        return Shape(kind, found.layout, found.columns)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return Shape(kind, "jsonl", _json_keys(con, path, "newline_delimited"))
    if text.startswith(b"["):
        return Shape(kind, "json-array", _json_keys(con, path, "array"))
    first = text.split(b"\n", 1)[0].decode("utf-8", "replace")
    return Shape(kind, "csv", tuple(c.strip().strip('"') for c in first.split(",")))


def _parquet_columns(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, ...]:
    described = con.execute(
        "DESCRIBE SELECT * FROM read_parquet(?)", [files.duckdb_path(path)]
    ).fetchall()
    return tuple(r[0] for r in described)


def _json_keys(con: duckdb.DuckDBPyConnection, path: Path, layout: str) -> tuple[str, ...]:
    if layout != "array":
        # line by line, as the rows are read: a line that is no JSON object has no keys
        from dvlab.sources.jsonlines import hole_free_lines

        rows = con.execute(
            f"""SELECT DISTINCT unnest(try(json_keys(t))) AS k FROM {hole_free_lines(path)}
                WHERE try(json_type(t)) = 'OBJECT'"""
        ).fetchall()
        return tuple(sorted(r[0] for r in rows))
    rows = con.execute(
        """SELECT DISTINCT unnest(json_keys(json)) AS k
           FROM read_json_objects(?, format = 'array') WHERE json_type(json) = 'OBJECT'""",
        [files.duckdb_path(path)],
    ).fetchall()
    return tuple(sorted(r[0] for r in rows))


# --------------------------------------------------------------------------- mapping


def parse_map(pairs: list[str] | None) -> dict[str, str]:
    """``--map column=NAME`` pairs as a dict, refusing unknown columns."""
    known = {c for variants in VARIANTS.values() for c in variants}
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        column, sep, name = pair.partition("=")
        column, name = column.strip(), name.strip()
        if not sep or not column or not name:
            raise BadInputError(f"--map {pair!r} is not COLUMN=NAME (e.g. --map task_id=ID)")
        if column not in known:
            raise BadInputError(
                f"--map {pair!r}: {column!r} is not a column of tasks or task_transitions, "
                f"nor of spans, logs or metrics; "
                f"known: {', '.join(sorted(known))}"
            )
        mapping[column] = name
    return mapping


def resolve(kind: str, columns: tuple[str, ...], mapping: dict[str, str]) -> dict[str, str]:
    """Lab column -> source column (or dotted path) for every column the source has."""
    variants = VARIANTS[kind]
    by_lower: dict[str, str] = {}
    for name in columns:
        by_lower.setdefault(name.lower(), name)
    chosen: dict[str, str] = {}
    taken: set[str] = set()
    for column, name in mapping.items():
        if column in variants:
            chosen[column] = name
            taken.update(_named(column, name))
    for column, names in variants.items():
        if column in chosen:
            continue
        for name in names:
            found = name if name in columns else by_lower.get(name.lower())
            if found is not None and found not in taken:
                chosen[column] = found
                taken.add(found)
                break
    return chosen


# --------------------------------------------------------------------------- staging


def stage(
    con: duckdb.DuckDBPyConnection,
    *,
    src: int,
    path: Path,
    shape: Shape,
    mapping: dict[str, str],
    time_origin: str | None,
    source: str | None = None,
    copied: CopiedRows | None = None,
    version: str | None = None,
    version_type: str = "VARCHAR",
) -> tuple[str, int, int, int]:
    """Read ``path`` into a staging table of the lab's columns for ``shape.kind``.

    Returns (staging table, rows, rejects, rows superseded); rejects go to
    ``stage_rejects`` with their row and column. ``line`` is the file's line for
    CSV and JSON lines, the row (1-based) for Parquet, the element for a JSON
    array. A CSV copied out of a database (``copied``) is named by ``source``
    rather than its path, and its rows are numbered by the numbers it holds.
    ``version`` names a column that orders the versions of a row (a live
    source's watermark; its text compared as ``version_type``): of the rows of
    one id, those of an earlier version than the latest are superseded (dropped,
    and counted), not duplicates. A row without a version counts as the latest:
    a source reads such a row every time, the others of its id perhaps not.
    """
    name = source or str(path)
    if shape.kind == "events" and kind_of(shape.columns) != "events":
        raise BadInputError(
            "--kind events, but it has neither a JetStream export's stream, seq and subject "
            "nor a CloudEvent's specversion, id and type (it has "
            f"{', '.join(shape.columns[:12]) or 'no columns'})",
            source=name,
        )
    raw = f"tbl_raw_{int(src)}"
    staged = f"tbl_{int(src)}"
    columnar = _read_raw(con, raw, path, shape, copied=copied)
    try:
        if shape.kind == "events":
            select = events_select(con, raw)
        else:
            select = _table_select(
                raw,
                shape,
                mapping,
                time_origin,
                name,
                columnar,
                version,
                plain=copied is not None and copied.plain,
            )
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {staged} AS {select}")
        except (duckdb.InvalidInputException, duckdb.ConversionException) as exc:
            if copied is None:
                raise
            # a database's copy is parsed here, by the one statement that maps it (its other
            # errors, running out of memory among them, are no fault of the rows)
            raise SourceReadError(
                name, f"could not read it as COPY's text format: {first_line(exc)}"
            ) from None
        superseded = 0
        if shape.kind != "events":
            if version is not None:
                superseded = _drop_superseded(con, staged, shape, mapping, name, version_type)
            # a live source's rows come in no set order: which of two is kept is told by
            # what they hold, the same on every run
            _reject_repeated(con, staged, shape, mapping, name, by_content=copied is not None)
        # a rejected row's excerpt is looked up in the raw rows: making it for every row
        # would cost as much as the rest of the staging
        rejected = _reject_rows(
            con, staged, shape.kind, src, name, raw=None if shape.kind == "events" else raw
        )
        if shape.layout == "jsonl" and copied is None:
            rejected += _reject_bad_lines(con, raw, shape.kind, src, name)
        con.execute(f"DELETE FROM {staged} WHERE reject IS NOT NULL")
        if shape.kind == "events":
            # a message delivered or published twice: one row, the copies counted skipped
            superseded = _fold_redeliveries(con, staged)
        rows = con.execute(f"SELECT count(*) FROM {staged}").fetchall()[0][0]
    finally:
        drop_raw(con, raw)
    return staged, int(rows), rejected, superseded


#: a source column as the raw table holds it: (its alias there, its DuckDB type)
Columnar = dict[str, tuple[str, str]]


def _read_raw(
    con: duckdb.DuckDBPyConnection,
    raw: str,
    path: Path,
    shape: Shape,
    *,
    copied: CopiedRows | None = None,
) -> Columnar | None:
    """Read ``path`` into ``raw``: ``line``, the row as JSON text (``record``), and for CSV
    and Parquet each column under an alias ``c0``, ``c1``, ... (returned, by source name),
    so that values are taken from the columns rather than parsed out of the JSON again.

    For CSV and Parquet ``raw`` is a view over the rows read (``record`` is then only
    computed where asked for); ``drop_raw`` removes it. A database's copy (``copied``) is
    read without sniffing it, and, as its rows carry their numbers, in any order; its
    ``raw`` is a view over the file itself, read by the statement that stages it."""
    name = str(path)
    if shape.layout == "jsonl" and copied is None:
        _read_json_lines(con, raw, path)
        return None
    if shape.layout == "csv" and copied is None:
        _refuse_repeated_header(path)
    line = "1"
    select = "*"
    if copied is not None:
        con.execute(_UNESCAPE_COPIED)
        spec = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(copied.columns)))
        rank = ", 'v': 'BIGINT'" if copied.ranked else ""
        # a view holds no parameter: the path is written in
        reader = (
            f"read_csv({quote_literal(files.duckdb_path(path))}, header = false, "
            "auto_detect = false, delim = '\t', quote = '', "
            f"escape = '', nullstr = '\\N', columns = {{'n': 'BIGINT', {spec}{rank}}}, "
            f"strict_mode = true, max_line_size = {copied.line_bytes()})"
        )
        select = "n, " + ", ".join(
            f"c{i}" if copied.plain else f"dvlab_copied_text(c{i}) AS c{i}"
            for i in range(len(copied.columns))
        )
        select += ", v" if copied.ranked else ""
    elif shape.layout == "csv":
        reader = (
            "read_csv(?, header = true, all_varchar = true, auto_detect = true, "
            "sample_size = -1, strict_mode = true)"
        )
        # header on line 1, one row per line (a quoted value holding a newline shifts this)
        line = "2"
    elif shape.layout == "parquet":
        reader = "read_parquet(?)"
    else:
        fmt = "array" if shape.layout == "json-array" else "newline_delimited"
        reader = f"read_json_objects(?, format = '{fmt}')"
    rows = f"{raw}_rows"
    columnar: Columnar | None = None
    # kept in file order, so that a row's rowid is its place in the file
    con.execute(f"SET preserve_insertion_order = {copied is None}")
    try:
        if copied is not None:
            # a view: the staging statement parses the copy as it maps it, in one pass
            con.execute(f"CREATE OR REPLACE TEMP VIEW {rows} AS SELECT {select} FROM {reader}")
            columnar = {n: (f"c{i}", "VARCHAR") for i, n in enumerate(copied.columns)}
            record = ", ".join(f"{quote_literal(n)}, r.{a}" for n, (a, _) in columnar.items())
            aliases = "".join(f", r.{alias}" for alias, _ in columnar.values())
            aliases += ", r.v AS dvlab_rank" if copied.ranked else ""
            con.execute(
                f"""CREATE OR REPLACE TEMP VIEW {raw} AS
                    SELECT r.n AS line, json_object({record})::VARCHAR AS record{aliases}
                    FROM {rows} AS r"""
            )
        else:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {rows} AS SELECT {select} FROM {reader}",
                [files.duckdb_path(path)],
            )
            columnar = _raw_view(con, raw, rows, shape.layout, line)
    except duckdb.Error as exc:
        drop_raw(con, raw)
        layout = "COPY's text format" if copied is not None else shape.layout
        raise SourceReadError(name, f"could not read it as {layout}: {first_line(exc)}") from None
    finally:
        con.execute("SET preserve_insertion_order = false")
    if shape.layout == "jsonl":
        # blank lines are skipped by the reader: number records by the lines they are on
        _renumber_json_lines(con, raw, path)
    return columnar


def _raw_view(
    con: duckdb.DuckDBPyConnection, raw: str, rows: str, layout: str, line: str
) -> Columnar | None:
    """``raw`` over the rows a file gave (the table ``rows``): the columns by alias for CSV
    and Parquet, which ``raw`` views; JSON records, which it copies."""
    if layout in ("csv", "parquet"):
        described = con.execute(f"DESCRIBE {rows}").fetchall()
        columnar = {str(d[0]): (f"c{i}", str(d[1])) for i, d in enumerate(described)}
        aliases = "".join(f", r.{quote_ident(n)} AS {alias}" for n, (alias, _) in columnar.items())
        con.execute(
            f"""CREATE OR REPLACE TEMP VIEW {raw} AS
                SELECT rowid + {line} AS line, to_json(r)::VARCHAR AS record{aliases}
                FROM {rows} AS r"""
        )
        return columnar
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {raw} AS
            SELECT rowid + 1 AS line, r.json::VARCHAR AS record FROM {rows} AS r"""
    )
    con.execute(f"DROP TABLE {rows}")
    return None


def _refuse_repeated_header(path: Path) -> None:
    """Fail a CSV whose header names a column twice: which of the two a name means cannot be
    told (DuckDB would read the second under another name, and a mapping take the first)."""
    head = files.peek_head(path).removeprefix(b"\xef\xbb\xbf")
    first, newline, _ = head.partition(b"\n")
    if not newline:
        return  # a header longer than the head: left to the reader
    names = next(csv.reader([first.decode("utf-8", "replace").rstrip("\r")]), [])
    seen: dict[str, int] = {}
    for number, column in enumerate(names, start=1):
        key = column.strip().lower()
        if key in seen:
            raise BadInputError(
                f"the header names column {column.strip()!r} twice (columns {seen[key]} and "
                f"{number}); rename one, as which holds what cannot be told",
                source=str(path),
                line=1,
            )
        seen[key] = number


def _read_json_lines(con: duckdb.DuckDBPyConnection, raw: str, path: Path) -> None:
    """``raw`` (line, record) of the lines of ``path`` that hold a JSON object, read line by
    line as a log's are, and ``{raw}_bad`` (line, reason, text) of its other lines but blank
    ones: each a reject of its own (one had failed the whole file), numbered by its line."""
    from dvlab.sources.jsonlines import hole_free_lines

    lines = f"{raw}_rows"
    # kept in file order: a blank line is a row (NULL), so a row's rowid is its line less 1
    con.execute("SET preserve_insertion_order = true")
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {lines} AS SELECT t FROM {hole_free_lines(path)}"
        )
    except duckdb.InterruptException:
        raise
    except duckdb.Error as exc:
        raise SourceReadError(
            str(path), f"could not read it as JSON lines: {first_line(exc)}"
        ) from None
    finally:
        con.execute("SET preserve_insertion_order = false")
    # try(): the planner may test a line's type before its validity
    good = "coalesce(try(json_type(t)) = 'OBJECT', false)"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {raw} AS
            SELECT rowid + 1 AS line, t AS record FROM {lines} WHERE {good}"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {raw}_bad AS
            SELECT rowid + 1 AS line,
                   CASE WHEN NOT json_valid(t) THEN 'not valid JSON'
                        ELSE 'a JSON line must be an object, not '
                             || lower(try(json_type(t))) END
                       AS reason,
                   t AS text
            FROM {lines}
            WHERE NOT regexp_full_match(coalesce(t, ''), '[ \t\r]*') AND NOT ({good})"""
    )
    con.execute(f"DROP TABLE {lines}")


def _reject_bad_lines(
    con: duckdb.DuckDBPyConnection, raw: str, kind: str, src: int, source: str
) -> int:
    """The lines :func:`_read_json_lines` found holding no JSON object into
    ``stage_rejects``; how many."""
    return int(
        con.execute(
            f"""INSERT INTO stage_rejects
                SELECT $src, $source, line, {quote_literal(kind + ": ")} || reason,
                       left(text, $excerpt)
                FROM {raw}_bad""",
            {"src": src, "source": source, "excerpt": REJECT_EXCERPT},
        ).fetchall()[0][0]
    )


def drop_raw(con: duckdb.DuckDBPyConnection, raw: str) -> None:
    """Remove what ``_read_raw`` made for ``raw`` (a view and its table, or a table)."""
    con.execute(f"DROP TABLE IF EXISTS {raw}_bad")
    views = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND temporary", [raw]
    ).fetchall()[0][0]
    con.execute(f"DROP {'VIEW' if views else 'TABLE'} IF EXISTS {raw}")
    rows_views = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND temporary", [f"{raw}_rows"]
    ).fetchall()[0][0]
    con.execute(f"DROP {'VIEW' if rows_views else 'TABLE'} IF EXISTS {raw}_rows")


def _renumber_json_lines(con: duckdb.DuckDBPyConnection, raw: str, path: Path) -> None:
    from dvlab.sources import files

    numbers: list[int] = []
    number = 0
    rest = b""
    with files.open_stream(path) as stream:
        while True:
            block = files.read_block(stream, files.CHUNK_BYTES, str(path))
            if not block:
                break
            pieces = (rest + block).split(b"\n")
            rest = pieces.pop()
            numbers.extend(number + i for i, text in enumerate(pieces, start=1) if text.strip())
            number += len(pieces)
    if rest.strip():
        numbers.append(number + 1)
    count = con.execute(f"SELECT count(*) FROM {raw}").fetchall()[0][0]
    if count != len(numbers):
        raise SourceReadError(
            str(path), f"read {count} records from {len(numbers)} non-blank lines"
        )
    if numbers == list(range(1, len(numbers) + 1)):
        return
    import pyarrow as pa

    mapping = pa.table({"n": pa.array(range(1, len(numbers) + 1)), "line": pa.array(numbers)})
    con.register("line_numbers", mapping)
    try:
        con.execute(
            f"UPDATE {raw} SET line = m.line FROM line_numbers AS m WHERE {raw}.line = m.n"
        )
    finally:
        con.unregister("line_numbers")


def _value(column: str | None, *, layout: str) -> str:
    """SQL for the text of source column (or dotted path) ``column`` of ``record``."""
    if column is None:
        return "NULL::VARCHAR"
    nested = layout in ("jsonl", "json-array") and "." in column
    parts = column.split(".") if nested else [column]
    path = "$." + ".".join(json.dumps(p, ensure_ascii=False) for p in parts)
    literal = "'" + path.replace("'", "''") + "'"
    return (
        f"CASE WHEN json_type(record, {literal}) IN ('OBJECT', 'ARRAY') "
        f"THEN json_extract(record, {literal})::VARCHAR "
        f"ELSE nullif(trim(json_extract_string(record, {literal})), '') END"
    )


def _time(expression: str, origin: str | None) -> str:
    if origin is None:
        return f"dvlab_ts({expression})"
    # numbers are seconds after the origin (traces that start their clock at zero); try():
    # a number too big for a time is no time (a reject), not an error
    return (
        f"CASE WHEN regexp_full_match({expression}, '-?\\d+(\\.\\d+)?') "
        f"THEN try(dvlab_ts({quote_literal(origin)}) "
        f"+ to_microseconds((({expression})::DECIMAL(38, 6) * 1000000)::BIGINT)) "
        f"ELSE dvlab_ts({expression}) END"
    )


def _column_text(columnar: Columnar, name: str | None, *, plain: bool = False) -> str:
    """SQL for the text of source column ``name`` held under its alias (as ``_value``);
    ``plain``: its text needs no trimming (see :class:`CopiedRows`)."""
    found = None if name is None else _find(columnar, name)
    if found is None and name is not None and "." in name:
        # a dotted path into a nested column (a Parquet struct), read as JSON would be
        head, *rest = name.split(".")
        nested = _find(columnar, head)
        if nested is not None and _nested(nested[1]):
            path = "$." + ".".join(json.dumps(p, ensure_ascii=False) for p in rest)
            literal = quote_literal(path)
            value = f"to_json({nested[0]})"
            return (
                f"CASE WHEN json_type({value}, {literal}) IN ('OBJECT', 'ARRAY') "
                f"THEN json_extract({value}, {literal})::VARCHAR "
                f"ELSE nullif(trim(json_extract_string({value}, {literal})), '') END"
            )
    if found is None:
        return "NULL::VARCHAR"
    alias, kind = found
    if _nested(kind):
        return f"to_json({alias})::VARCHAR"
    if kind != "VARCHAR":
        return f"nullif(trim(CAST({alias} AS VARCHAR)), '')"
    return f"nullif({alias}, '')" if plain else _trimmed(alias)


def _trimmed(column: str) -> str:
    """``nullif(trim(column), '')`` for a VARCHAR column, trimming only the values that
    can change: ``trim`` removes the space and Unicode's other space separators, and
    calling it on every value costs as much as the rest of the staging. An ASCII value
    changes only with a space at either end (``< '!'`` is true of a leading one); a value
    with any other character is trimmed as before."""
    return (
        f"CASE WHEN {column} < '!' OR suffix({column}, ' ') "
        f"OR strlen({column}) <> length({column}) THEN nullif(trim({column}), '') "
        f"ELSE nullif({column}, '') END"
    )


def _find(columnar: Columnar, name: str) -> tuple[str, str] | None:
    if name in columnar:
        return columnar[name]
    lowered = {n.lower(): n for n in reversed(list(columnar))}
    return columnar[lowered[name.lower()]] if name.lower() in lowered else None


def _nested(kind: str) -> bool:
    return kind.endswith("]") or kind.startswith(("STRUCT", "MAP", "UNION", "JSON"))


def _column_attributes(columnar: Columnar, used: set[str]) -> str:
    """The columns no lab column took, as one JSON object (as ``to_json`` of the row
    would give them)."""
    taken = {a for a in (_find(columnar, n) for n in used) if a is not None}
    pairs = [
        f"{quote_literal(n)}, {alias if kind == 'VARCHAR' else f'to_json({alias})'}"
        for n, (alias, kind) in columnar.items()
        if n not in used and (alias, kind) not in taken
    ]
    return f"json_object({', '.join(pairs)})" if pairs else "'{}'::JSON"


def checked_columns(shape: Shape, mapping: dict[str, str], source: str) -> dict[str, str]:
    """Lab column -> source column of ``shape`` (see :func:`resolve`), refusing a source
    that lacks a required column or a ``--map`` naming a column the source does not have."""
    kind = shape.kind
    chosen = resolve(kind, shape.columns, mapping)
    missing = [c for c in REQUIRED[kind] if c not in chosen]
    if missing:
        looked = "; ".join(f"{c}: {', '.join(VARIANTS[kind][c])}" for c in missing)
        raise BadInputError(
            f"no column for {', '.join(missing)} among {', '.join(shape.columns) or 'none'} "
            f"(looked for {looked}); name one with --map, e.g. --map {missing[0]}=COLUMN",
            source=source,
        )
    present = {c.lower() for c in shape.columns}
    for column, name in mapping.items():
        if column not in VARIANTS[kind]:
            continue
        for one in _named(column, name):
            head = one.split(".")[0]
            if head.lower() not in present:
                raise BadInputError(
                    f"--map {column}={name}: the source has no column {head!r} "
                    f"(it has {', '.join(shape.columns) or 'none'})",
                    source=source,
                )
            if shape.layout == "csv" and head != one and one.lower() not in present:
                # a table's column is text, JSON text included: the path would reach nothing
                raise BadInputError(
                    f"--map {column}={name}: column {head!r} holds text (a table's columns "
                    "do, JSON ones included), and --map reaches inside the objects of JSON "
                    "records and Parquet structs only; from a database, take the member in "
                    f"a --query ({head}->'a'->>'b' AS {column} in PostgreSQL)",
                    source=source,
                )
    return chosen


def _named(column: str, name: str) -> list[str]:
    """The source columns a mapping of ``column`` to ``name`` names."""
    if column in LIST_COLUMNS:
        return [n.strip() for n in name.split(",") if n.strip()]
    return [name]


def row_texts(
    shape: Shape, chosen: dict[str, str], columnar: Columnar | None, *, plain: bool = False
) -> tuple[dict[str, str], str]:
    """SQL for the text of each lab column of ``shape.kind`` (NULL where the source has
    none), and for the JSON object of the columns no lab column took (the attributes).
    ``plain``: the columns' text needs no trimming (see :class:`CopiedRows`)."""
    variants = [c for c in VARIANTS[shape.kind] if c not in LIST_COLUMNS]
    named = [n for c, name in chosen.items() for n in _named(c, name)]
    if columnar is not None:
        texts = {c: _column_text(columnar, chosen.get(c), plain=plain) for c in variants}
        attributes = _column_attributes(columnar, {n.split(".")[0] for n in named} | set(named))
    else:
        texts = {c: _value(chosen.get(c), layout=shape.layout) for c in variants}
        # what no column took stays in attributes
        used = ["$." + json.dumps(n.split(".")[0], ensure_ascii=False) for n in named]
        attributes = "record::JSON"
        for u in used:
            attributes = f"json_remove({attributes}, {quote_literal(u)})"
    return texts, attributes


def _table_select(
    raw: str,
    shape: Shape,
    mapping: dict[str, str],
    origin: str | None,
    source: str,
    columnar: Columnar | None = None,
    version: str | None = None,
    *,
    plain: bool = False,
) -> str:
    kind = shape.kind
    # the version of a row (see stage), as text
    found = _find(columnar, version) if columnar is not None and version is not None else None
    version_text = f"{found[0]}::VARCHAR" if found is not None else "NULL::VARCHAR"
    if version == RANKED:
        version_text = "dvlab_rank::VARCHAR"
    chosen = checked_columns(shape, mapping, source)
    texts, attributes = row_texts(shape, chosen, columnar, plain=plain)
    state = "state" if kind == "tasks" else "to_state"
    times = [c for c in TIMES if c in texts]
    # the state word is read once, for the check and for the column
    parsed = ", ".join(
        [
            *(f"{_time('t_' + c, origin)} AS {c}" for c in times),
            f"{state_case('t_' + state)} AS dvlab_state",
            *(
                [f"{state_case('t_from_state')} AS dvlab_from_state"]
                if kind == "transitions"
                else []
            ),
        ]
    )
    text_columns = ", ".join(f"{texts[c]} AS t_{c}" for c in texts)
    checks = [
        f"WHEN t_{state} IS NULL THEN 'column {_col(chosen, state)}: no state'",
        _nested_state_check(
            f"t_{state}",
            state,
            _col(chosen, state),
            reachable=_reachable(shape, columnar, chosen.get(state)),
        ),
        f"WHEN dvlab_state IS NULL THEN {_unknown_state(chosen, state)}",
        f"WHEN t_task_id IS NULL THEN 'column {_col(chosen, 'task_id')}: no task id'",
    ]
    if kind == "transitions":
        # a transition may start from no state (a task's first), not from an unknown one
        checks.append(
            "WHEN t_from_state IS NOT NULL AND dvlab_from_state IS NULL "
            f"THEN {_unknown_state(chosen, 'from_state')}"
        )
    for c in times:
        checks.append(
            f"WHEN t_{c} IS NOT NULL AND {c} IS NULL THEN 'column {_col(chosen, c)}: "
            f"' || to_json(t_{c})::VARCHAR || ' is not a time' || dvlab_short_year_hint(t_{c})"
        )
    if kind == "transitions":
        checks.append(f"WHEN t_ts IS NULL THEN 'column {_col(chosen, 'ts')}: no time'")
    else:
        for early, late in (
            ("created", "started"),
            ("started", "finished"),
            ("created", "finished"),
        ):
            checks.append(
                f"WHEN {late} < {early} THEN 'columns {_col(chosen, early)}/"
                f"{_col(chosen, late)}: ends ' || strftime(timezone('UTC', {late}), '%Y-%m-%dT%H:%M:%S.%fZ') "
                f"|| ' before it starts ' || strftime(timezone('UTC', {early}), '%Y-%m-%dT%H:%M:%S.%fZ')"
            )
    if kind == "transitions" and "seq" in chosen:
        checks.append(
            f"WHEN t_seq IS NULL THEN 'column {_col(chosen, 'seq')}: no sequence number'"
        )
    for c in ("attempt", "seq"):
        if c in texts:
            checks.append(
                f"WHEN t_{c} IS NOT NULL AND TRY_CAST(t_{c} AS INTEGER) IS NULL "
                f"THEN 'column {_col(chosen, c)}: ' || to_json(t_{c})::VARCHAR "
                f"|| ' is not a whole number'"
            )
    if kind == "tasks":
        columns = """t_task_id AS task_id, t_workflow_id AS workflow_id,
            t_workflow_type AS workflow_type, t_parent_task_id AS parent_task_id,
            t_site AS site, t_service AS service, t_target_kind AS target_kind,
            t_target_id AS target_id, dvlab_state AS state, t_state AS state_raw,
            TRY_CAST(t_attempt AS INTEGER) AS attempt, created, started, finished,
            t_error_class AS error_class, t_error_message AS error_message,
            t_idempotency_key AS idempotency_key, t_retry_policy AS retry_policy,
            t_correlation_id AS correlation_id"""
    else:
        seq = (
            "TRY_CAST(t_seq AS INTEGER)"
            if "seq" in chosen
            else "row_number() OVER (PARTITION BY t_task_id ORDER BY ts, line)::INTEGER"
        )
        columns = f"""t_task_id AS task_id, {seq} AS seq,
            dvlab_from_state AS from_state, dvlab_state AS to_state,
            t_to_state AS to_state_raw, TRY_CAST(t_attempt AS INTEGER) AS attempt, ts,
            t_reason AS reason"""
    return f"""
        SELECT line, {columns}, attributes::JSON AS attributes, reject,
               NULL::VARCHAR AS record, dvlab_version
        FROM (
            SELECT *, CASE {" ".join(checks)} END AS reject
            FROM (SELECT *, {parsed} FROM (
                SELECT line, record, {attributes}::JSON AS attributes, {text_columns},
                       {version_text} AS dvlab_version
                FROM {raw}))
        )"""


def _keys(shape: Shape, chosen: dict[str, str]) -> list[str] | None:
    """The columns that identify a staged row of ``shape.kind``; None when its rows cannot
    repeat (transitions numbered here)."""
    if shape.kind == "tasks":
        return ["task_id"]
    return ["task_id", "seq"] if "seq" in chosen else None


def _drop_superseded(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    shape: Shape,
    mapping: dict[str, str],
    source: str,
    version_type: str,
) -> int:
    """Drop each staged row of a key that has a row of a later version (its
    ``dvlab_version`` compared as ``version_type``; none is the latest): an earlier state
    of the row, which a live source read by its watermark would not hold again. Rows of
    the key's latest version stay (two of them are duplicates). A rejected row supersedes
    none: the latest version that loads is kept, as when the versions come one run at a
    time. Returns how many were dropped."""
    keys = _keys(shape, checked_columns(shape, mapping, source))
    if keys is None:
        return 0
    ident = quote_ident(staged)
    cols = ", ".join(keys)
    order = f"TRY_CAST(dvlab_version AS {version_type}) DESC NULLS FIRST"
    # the window runs over the rows of keys seen more than once only
    return int(
        con.execute(
            f"""DELETE FROM {ident} WHERE line IN (
                SELECT line FROM (
                    SELECT line, dense_rank() OVER (PARTITION BY {cols} ORDER BY {order}) AS r
                    FROM {ident} WHERE {_loading_repeated(ident, cols)})
                WHERE r > 1)"""
        ).fetchall()[0][0]
    )


def _loading_repeated(ident: str, cols: str) -> str:
    """SQL true of a staged row that loads (no reject) and whose key (``cols``) another
    such row of ``ident`` holds too."""
    return f"""reject IS NULL AND ({cols}) IN (
        SELECT ({cols}) FROM {ident} WHERE reject IS NULL GROUP BY ALL HAVING count(*) > 1)"""


def _reject_repeated(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    shape: Shape,
    mapping: dict[str, str],
    source: str,
    *,
    by_content: bool = False,
) -> None:
    """Make every staged row after the first of its key (a task's id; a transition's id
    and sequence number, when the source numbers them) a reject, unless it is one already.
    The first is looked for among the rows that load: a row rejected for a reason of its
    own keeps that reason, and leaves the key to the next row (as when the two come in
    two runs; the kept row is then the one the reason names). The keys seen more than once
    are found by grouping the staged rows, once they are read: a window over every row
    costs several times more. ``by_content``: the one kept is chosen by what the rows hold,
    not by their place (a database sends its rows in no set order, and a run that read
    them in another would keep the other)."""
    chosen = checked_columns(shape, mapping, source)
    keys = _keys(shape, chosen)
    if keys is None:
        return  # transitions numbered here cannot repeat
    what = (
        "duplicate id ' || to_json(s.task_id)::VARCHAR"
        if shape.kind == "tasks"
        else "duplicate transition ' || to_json(s.task_id)::VARCHAR || ' #' || s.seq"
    )
    ident = quote_ident(staged)
    first = (
        "arg_min(line, hash(*COLUMNS(* EXCLUDE (line, reject, record, dvlab_version))))"
        if by_content
        else "min(line)"
    )
    # a database's row has no line of its own to name: the one kept is said by what it is
    kept = (
        "' (another row of it, as old, is kept)'"
        if by_content
        else "' (first on line ' || r.first_line || ')'"
    )
    cols = ", ".join(keys)
    # the keys seen more than once are found first: the first row's choice (a hash of every
    # column, by content) is then made for their rows alone
    con.execute(
        f"""UPDATE {ident} AS s
            SET reject = 'column {_col(chosen, "task_id")}: {what} || {kept}
            FROM (SELECT {cols}, {first} AS first_line FROM {ident}
                  WHERE {_loading_repeated(ident, cols)}
                  GROUP BY ALL) AS r
            WHERE s.reject IS NULL AND s.line <> r.first_line
              AND {" AND ".join(f"s.{k} = r.{k}" for k in keys)}"""
    )


def _reachable(shape: Shape, columnar: Columnar | None, column: str | None) -> str | None:
    """SQL saying whether ``--map`` can name a member inside source column ``column``: a
    JSON record's object (not a string holding JSON), or a nested column's (a Parquet
    struct); None when it never can (a text column holding JSON)."""
    if column is None:
        return None
    if columnar is None:
        if shape.layout not in ("jsonl", "json-array"):
            return None
        path = quote_literal("$." + json.dumps(column, ensure_ascii=False))
        return f"json_type(record, {path}) = 'OBJECT'"
    found = _find(columnar, column)
    return "true" if found is not None and _nested(found[1]) else None


def _nested_state_check(text: str, state: str, column: str, *, reachable: str | None) -> str:
    """The CASE branch rejecting a state column that holds an object or a list (Docker
    Swarm's ``Status``, a pod's ``status``), saying, where ``--map`` can reach inside it
    (``reachable``), how to name the state there: the object's member of a state's name if
    it has one (``--map state=Status.State``)."""
    names = _sql_list_lower(TASK_VARIANTS["state"])
    member = (
        f"list_filter(json_keys(try({text}::JSON)), lambda k: list_contains({names}, lower(k)))[1]"
    )
    hint = (
        f" || CASE WHEN {reachable} THEN '; name the state inside it with --map "
        f"{state}={column}.' || coalesce({member}, 'MEMBER') ELSE '' END"
        if reachable is not None
        else ""
    )
    return (
        f"WHEN starts_with({text}, '{{') AND json_valid({text}) THEN 'column {column}: holds an "
        f"object, not a state'{hint} "
        f"WHEN starts_with({text}, '[') AND json_valid({text}) THEN 'column {column}: holds a "
        f"list, not a state'"
    )


def _sql_list_lower(words: tuple[str, ...]) -> str:
    return "[" + ", ".join(quote_literal(w.lower()) for w in words) + "]"


def _col(chosen: dict[str, str], column: str) -> str:
    return chosen.get(column, column).replace("'", "''")


def _unknown_state(chosen: dict[str, str], column: str) -> str:
    """SQL for the reason of a reject whose state column ``column`` (``t_COLUMN``) holds a
    word no state is known by."""
    return (
        f"'column {_col(chosen, column)}: unknown state ' || to_json(t_{column})::VARCHAR "
        f"|| '; known: {_known_states()}'"
    )


def _known_states() -> str:
    return ", ".join(w for words in TASK_STATES.values() for w in words)


#: the JSON object ``j`` with its member ``k`` read as JSON when it is text holding JSON: a
#: table (CSV, a database's copy) holds a message's data and headers as text. Headers are
#: an object; data any JSON value (``"x"``, ``42``, ``[1]``), and text that is no JSON
#: stays text
_JSON_INSIDE = """CREATE OR REPLACE TEMP MACRO dvlab_json_inside(j, k) AS (
    CASE WHEN json_type(j, '$.' || k) = 'VARCHAR'
              AND (k = 'data' OR starts_with(ltrim(j ->> ('$.' || k)), '{'))
              AND json_valid(j ->> ('$.' || k))
         THEN json_merge_patch(j, json_object(k, (j ->> ('$.' || k))::JSON))
         ELSE j END)"""


def events_select(con: duckdb.DuckDBPyConnection, raw: str) -> str:
    """A JetStream export line (stream, seq, subject, time, headers, data) or a bare
    CloudEvents line, as an ``events`` row (the SELECT, over the raw rows ``raw``; the
    macro it needs is made on ``con``). Site and service come from the envelope's
    ``site``/``service`` extensions, else from a ``source`` ending in ``SITE/SERVICE``.
    Data and headers held as text (a table's columns) are read as the JSON they hold."""
    con.execute(_JSON_INSIDE)
    return rf"""
        SELECT line, event_id, stream, subject, seq, coalesce(time, published) AS time,
               published, type, site, service, correlation_id, causation_id, task_id,
               workflow_id, payload, headers, deliveries, event_source, reject, record
        FROM (
            SELECT *,
                CASE WHEN NOT json_valid(record) THEN 'not valid JSON'
                     WHEN event_id IS NULL THEN 'no event id (CloudEvents id, Nats-Msg-Id '
                          || 'header, or stream and seq)'
                     WHEN t_time IS NOT NULL AND time IS NULL
                       THEN 'field data.time: ' || to_json(t_time)::VARCHAR || ' is not a time'
                            || dvlab_short_year_hint(t_time)
                     WHEN t_published IS NOT NULL AND published IS NULL
                       THEN 'field time: ' || to_json(t_published)::VARCHAR || ' is not a time'
                            || dvlab_short_year_hint(t_published)
                     WHEN t_seq IS NOT NULL AND seq IS NULL
                       THEN 'field seq: ' || to_json(t_seq)::VARCHAR || ' is not a number'
                     WHEN coalesce(time, published) IS NULL THEN 'no time (data.time or time)'
                END AS reject
            FROM (
                SELECT *,
                    coalesce(CASE WHEN trim(env ->> 'id') <> '' THEN env ->> 'id' END,
                             CASE WHEN trim(headers ->> '$."Nats-Msg-Id"') <> ''
                                  THEN headers ->> '$."Nats-Msg-Id"' END,
                             stream || ':' || t_seq) AS event_id,
                    -- an envelope's id is unique within its source only; a message's
                    -- Nats-Msg-Id, or sequence, within its stream (and a stream made
                    -- again under its name, its sequence starting anew, is another)
                    CASE WHEN trim(env ->> 'id') <> '' THEN env ->> 'source'
                         WHEN stream IS NOT NULL
                           THEN 'nats:' || stream || coalesce('@' || (msg ->> 'stream_created'), '')
                    END AS event_source,
                    dvlab_ts(t_time) AS time,
                    dvlab_ts(t_published) AS published,
                    TRY_CAST(t_seq AS BIGINT) AS seq,
                    coalesce(env ->> 'type', subject) AS type,
                    coalesce(env ->> 'site', nullif(
                             regexp_extract(env ->> 'source', '([^/]+)/[^/]+/?$', 1), '')) AS site,
                    coalesce(env ->> 'service',
                             regexp_extract(env ->> 'source', '([^/]+)/?$', 1)) AS service,
                    coalesce(env ->> 'correlationid', env ->> 'correlation_id',
                             env -> 'data' ->> 'correlation_id') AS correlation_id,
                    coalesce(env ->> 'causationid', env ->> 'causation_id',
                             env -> 'data' ->> 'causation_id') AS causation_id,
                    coalesce(env ->> 'taskid', env -> 'data' ->> 'task_id',
                             env ->> 'subject') AS task_id,
                    coalesce(env ->> 'workflowid', env -> 'data' ->> 'workflow_id')
                        AS workflow_id,
                    CASE WHEN is_envelope THEN env -> 'data' ELSE msg -> 'data' END AS payload,
                    coalesce(TRY_CAST(msg ->> 'delivered' AS INTEGER), 1) AS deliveries
                FROM (
                    SELECT line, record, msg,
                        msg ->> 'stream' AS stream, msg ->> 'subject' AS subject,
                        msg ->> 'seq' AS t_seq, CASE WHEN json_type(msg, '$.headers') <> 'NULL' THEN msg -> 'headers' END
                            AS headers,
                        CASE WHEN is_wrapped THEN msg ->> 'time' END AS t_published,
                        is_envelope, env,
                        env ->> 'time' AS t_time
                    FROM (
                        SELECT line, record, msg, is_wrapped,
                            (CASE WHEN is_wrapped THEN msg -> 'data' ELSE msg END)
                                ->> 'specversion' IS NOT NULL AS is_envelope,
                            CASE WHEN (CASE WHEN is_wrapped THEN msg -> 'data' ELSE msg END)
                                      ->> 'specversion' IS NOT NULL
                                 THEN CASE WHEN is_wrapped THEN msg -> 'data' ELSE msg END
                            END AS env
                        FROM (
                            SELECT line, record, dvlab_json_inside(dvlab_json_inside(
                                       CASE WHEN json_valid(record) THEN record::JSON END,
                                       'data'), 'headers') AS msg,
                                json_valid(record) AND (record::JSON ->> 'stream' IS NOT NULL
                                    OR record::JSON ->> 'seq' IS NOT NULL) AS is_wrapped
                            FROM {raw})))))
    """


def _reject_rows(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    kind: str,
    src: int,
    source: str,
    raw: str | None = None,
) -> int:
    """Copy ``staged``'s rejected rows to ``stage_rejects``; their excerpt is the staged
    ``record``, or (``raw`` given) the raw row's, looked up for the rejected rows alone."""
    rejected = int(
        con.execute(f"SELECT count(*) FROM {staged} WHERE reject IS NOT NULL").fetchall()[0][0]
    )
    if not rejected:
        return 0  # the raw rows may be a view over the source: not read again for nothing
    excerpt = "record"
    rows = staged
    if raw is not None:
        excerpt = "r.record"
        rows = f"(SELECT * EXCLUDE (record) FROM {staged}) AS s JOIN {raw} AS r USING (line)"
    con.execute(
        f"""INSERT INTO stage_rejects
            SELECT $src, $source, line, {quote_literal(kind + ": ")} || reject,
                   left({excerpt}, $excerpt)
            FROM {rows} WHERE reject IS NOT NULL""",
        {"src": src, "source": source, "excerpt": REJECT_EXCERPT},
    )
    return rejected


def _fold_redeliveries(con: duckdb.DuckDBPyConnection, staged: str) -> int:
    """One row per event (id and CloudEvents source): the first delivery, counting how many
    times it came. Returns how many rows the copies were."""
    before = con.execute(f"SELECT count(*) FROM {staged}").fetchall()[0][0]
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {staged} AS
            SELECT * EXCLUDE (deliveries, n),
                   greatest(n::INTEGER, max_delivered) AS deliveries
            FROM (
                SELECT *, count(*) OVER w AS n, max(deliveries) OVER w AS max_delivered,
                       row_number() OVER (PARTITION BY event_id, event_source ORDER BY line)
                           AS pick
                FROM {staged}
                WINDOW w AS (PARTITION BY event_id, event_source))
            WHERE pick = 1"""
    )
    con.execute(f"ALTER TABLE {staged} DROP COLUMN pick")
    return int(before - con.execute(f"SELECT count(*) FROM {staged}").fetchall()[0][0])


#: the lab table of each kind, and the columns that identify a row of it
_IDENTITY = {
    "tasks": ("tasks", TASK_COLUMNS, ("task_id",)),
    "transitions": ("task_transitions", TRANSITION_COLUMNS, ("task_id", "seq")),
    "events": ("events", EVENT_COLUMNS, ("event_id", "event_source")),
}


def drop_unchanged(con: duckdb.DuckDBPyConnection, kind: str, staged: str) -> int:
    """Delete from ``staged`` the rows the lab (attached as ``lab``) already holds exactly,
    so that reading them again writes nothing; returns how many were dropped."""
    if kind not in _IDENTITY:
        return 0
    table, columns, keys = _IDENTITY[kind]
    if not con.execute(f"SELECT EXISTS (SELECT 1 FROM lab.{table})").fetchall()[0][0]:
        return 0  # nothing to compare with
    ident = quote_ident(staged)
    on = " AND ".join(f"t.{k} IS NOT DISTINCT FROM s.{k}" for k in keys)
    same = " AND ".join(f"t.{c} IS NOT DISTINCT FROM s.{c}" for c in columns)
    return int(
        con.execute(
            f"""DELETE FROM {ident} AS s WHERE EXISTS (
                    SELECT 1 FROM lab.{table} AS t WHERE {on} AND {same})"""
        ).fetchall()[0][0]
    )


#: the columns a staged table of metrics, metric families, spans or log records has (with
#: ``line``)
_FILE_ROWS = {
    "metrics": ("metrics", ("ts", "name", "labels", "value", "type", "site", "service", "family")),
    "families": ("metric_families", ("family", "type", "help", "unit")),
    "spans": ("spans", tuple(c for c in SPAN_COLUMNS if c not in ("source", "line", "ingest_id"))),
    "logs": ("logs", tuple(c for c in LOG_COLUMNS if c not in ("source", "line", "ingest_id"))),
}


#: a stored event ``e`` and a staged one ``s`` are one event: the same id from the same
#: CloudEvents source (none, for an id taken from Nats-Msg-Id or stream and sequence)
_SAME_EVENT = "e.event_id = s.event_id AND e.event_source IS NOT DISTINCT FROM s.event_source"


#: what makes two transitions one change, for a file's without sequence numbers: the task,
#: the moment and the states (an export may add columns, or write a value otherwise)
SAME_CHANGE = ("task_id", "ts", "from_state", "to_state")


def continue_numbering(
    con: duckdb.DuckDBPyConnection, staged: str, same_by: tuple[str, ...] | None = None
) -> int:
    """Number the staged transitions of a source that has no sequence numbers on
    from the lab's (attached as ``lab``): each read numbers its rows from 1, and those
    numbers would replace the transitions stored under them. A staged transition the lab
    holds already (the same in the columns ``same_by``, else in all but its number: a
    live source's row read again at the watermark) is dropped, and with ``same_by`` (a
    file's) a staged transition the same as an earlier staged one too; the others take the
    numbers after the task's last, in their order. Returns how many were dropped."""
    ident = quote_ident(staged)
    same = " AND ".join(
        f"t.{c} IS NOT DISTINCT FROM s.{c}"
        for c in (same_by or [c for c in TRANSITION_COLUMNS if c != "seq"])
    )
    dropped = con.execute(
        f"""DELETE FROM {ident} AS s WHERE EXISTS (
                SELECT 1 FROM lab.task_transitions AS t WHERE {same})"""
    ).fetchall()[0][0]
    if same_by is not None:
        # a file that holds one change twice holds it once, as two files holding it do
        dropped += con.execute(
            f"""DELETE FROM {ident} AS s WHERE EXISTS (
                    SELECT 1 FROM {ident} AS t WHERE {same} AND t.seq < s.seq)"""
        ).fetchall()[0][0]
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {ident} AS
            SELECT s.* REPLACE (
                (coalesce(last.seq, 0)
                 + row_number() OVER (PARTITION BY s.task_id ORDER BY s.seq))::INTEGER AS seq)
            FROM {ident} AS s
            LEFT JOIN (SELECT task_id, max(seq) AS seq FROM lab.task_transitions
                       GROUP BY task_id) AS last USING (task_id)"""
    )
    return int(dropped)


def renumber_by_time(con: duckdb.DuckDBPyConnection, staged: str) -> None:
    """Number the stored transitions of the tasks ``staged`` holds 1, 2, ... in the order of
    their times (and, at one time, of their numbers): a file's without sequence numbers,
    numbered on from the lab's, may hold changes earlier than those stored."""
    con.execute(
        f"""UPDATE lab.task_transitions AS t SET seq = r.n
            FROM (SELECT task_id, seq, ts, row_number() OVER (
                      PARTITION BY task_id ORDER BY ts, seq)::INTEGER AS n
                  FROM lab.task_transitions
                  WHERE task_id IN (SELECT task_id FROM {quote_ident(staged)})) AS r
            WHERE t.task_id = r.task_id AND t.seq = r.seq AND t.seq <> r.n"""
    )


#: a staged row ``s`` the lab holds already, by kind: a span of the same trace and span id,
#: an event of the same id and CloudEvents source (see _SAME_EVENT)
_STORED = {
    "spans": """EXISTS (SELECT 1 FROM lab.spans AS t
        WHERE t.trace_id = s.trace_id AND t.span_id = s.span_id)""",
    "events": f"EXISTS (SELECT 1 FROM lab.events e WHERE {_SAME_EVENT})",
}


def stored(con: duckdb.DuckDBPyConnection, kind: str, staged: str) -> int:
    """How many of the staged spans or events the lab (attached as ``lab``) holds already."""
    return int(
        con.execute(
            f"SELECT count(*) FROM {quote_ident(staged)} AS s WHERE {_STORED[kind]}"
        ).fetchall()[0][0]
    )


def insert_sql(kind: str, staged: str) -> list[str]:
    """Statements that upsert ``staged`` into the lab (``$source``, ``$ingest_id`` bound).

    Tasks replace the stored row of the same id, transitions the one of the
    same task and sequence; an event already stored (any ingest; the same id
    from the same CloudEvents source) is kept and the new copy dropped, its delivery count raised if the copy's is higher.
    """
    ident = quote_ident(staged)
    if kind == "tasks":
        cols = ", ".join(TASK_COLUMNS)
        return [
            f"DELETE FROM lab.tasks WHERE task_id IN (SELECT task_id FROM {ident})",
            f"""INSERT INTO lab.tasks ({cols}, source, line, ingest_id)
                SELECT {cols}, $source, line, $ingest_id FROM {ident}""",
        ]
    if kind == "transitions":
        cols = ", ".join(TRANSITION_COLUMNS)
        return [
            f"""DELETE FROM lab.task_transitions t USING {ident} s
                WHERE t.task_id = s.task_id AND t.seq = s.seq""",
            f"""INSERT INTO lab.task_transitions ({cols}, source, line, ingest_id)
                SELECT {cols}, $source, line, $ingest_id FROM {ident}""",
        ]
    if kind in _FILE_ROWS:
        # rows that belong to their file: appended (the file's earlier rows are removed
        # before when it changed); a staged table may leave out trailing optional columns.
        # A span stored already (another file of the same export, sent again) is not.
        table, columns = _FILE_ROWS[kind]
        cols = ", ".join(columns)
        stored = f" AS s WHERE NOT {_STORED['spans']}" if kind == "spans" else ""
        return [
            f"""INSERT INTO lab.{table} ({cols}, source, line, ingest_id)
                SELECT {cols}, $source, line, $ingest_id FROM {ident}{stored}"""
        ]
    cols = ", ".join(EVENT_COLUMNS)
    return [
        # an event delivered again (a redelivery after a crash): stored once, counted
        f"""UPDATE lab.events AS e SET deliveries = s.deliveries FROM {ident} AS s
            WHERE {_SAME_EVENT} AND s.deliveries > e.deliveries""",
        f"""INSERT INTO lab.events ({cols}, source, line, ingest_id)
            SELECT {cols}, $source, line, $ingest_id FROM {ident} s
            WHERE NOT {_STORED["events"]}""",
    ]
