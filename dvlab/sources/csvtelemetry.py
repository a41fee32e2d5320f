"""Metrics, spans and log records in tables (CSV, Parquet, JSON lines), with a column map.

Exports of monitoring systems and research data sets often hold telemetry as
plain tables: a trace as one span a row, a pod's KPIs as one row a minute with
a column a KPI, container logs as one line a row. ``dvlab ingest --kind
spans|metrics|logs`` reads them through :mod:`dvlab.sources.tables` (the same
reading, the same ``--map column=NAME`` and header variants as task tables) and
stages rows of the lab's ``spans``, ``metrics`` and ``logs``.

What each kind makes of its columns:

* **spans**: ids in lower case; a parent id that is empty, ``root`` or all
  zeros is no parent (NULL). Times go through the lab's one time path (epoch
  numbers told apart by magnitude). ``duration_ms`` comes from a duration
  column when one is mapped, its unit said by the name it is mapped to
  (``--map duration_us=Duration``; ``duration_ns``, ``duration_ms``,
  ``duration_s``), else from the start and end times; an end time missing is
  the start plus the duration. A duration that is not a finite number of 0 or
  more (``NaN``, ``inf``, ``-2``), or that would end its span after the last
  time the lab holds (``1e300``), is a reject naming its line and column. Kind
  and status are read when mapped (OTLP's words, with or without their
  ``SPAN_KIND_``/``STATUS_CODE_`` prefix, or its numbers, written as digits),
  else ``unspecified`` and ``unset``. Other columns are attributes. A span
  whose trace and span ids an earlier kept row of the file holds already is a
  reject naming that row's line; a row rejected for another reason (a time
  that is not one) makes no later row of its ids a repeat.
* **metrics**: a *long* table (a ``name`` and a ``value`` column) is one sample
  a row, its other columns labels. A *wide* table (one row a time, one column a
  KPI) makes a sample of every cell of every column that holds a number, named
  after its column as written (``CpuUsageRate(%)``); columns that hold no
  number in any row are not metrics and are left out (logged), unless named as
  labels (``--map labels=PodName,Node``, keys as written). An empty or ``NaN``
  cell is no sample and no reject: it is counted as skipped. Text in a column
  of numbers is a reject naming the line and the column, and so is ±Inf (or a
  number beyond a double, as ``1e400``), over which no rate or average means
  anything; the row's other cells still load. The type is ``gauge`` unless a ``type`` column says otherwise.
* **logs** (CSV and Parquet only; other files given ``--kind logs`` are read as
  log text): a message that is a Docker json-file line (``{"log": ...,
  "stream": ..., "time": ...}``) is unwrapped to its ``log`` text less the
  trailing newline, the stream kept in attributes. The level is the ``level``
  column's when there is one, else the first ``TRACE``/``DEBUG``/``INFO``/
  ``WARN``/``ERROR``/``FATAL`` token of the message, as Java loggers write it.
  The time is the time column's alone: a time inside the message text (often
  the pod's local time) is not read.

A pod name mapped as ``pod`` (``--map pod=PodName``, or a ``pod``/``pod_name``
column) gives the service by dropping a Deployment pod's ReplicaSet and pod
hashes (``ts-contacts-service-866bd68c97-xcqfx`` is ``ts-contacts-service``),
and is kept itself as the ``pod`` attribute (a label of metrics). A service
column wins over the pod's; ``--map service=PodName`` keeps the pod name whole
as the service.

A row that cannot be stored (no id, a time that is not one, a number of
seconds after ``--time-origin`` beyond any time, an end before its start, a
word that is not a span kind) is a reject naming its line and column; no cell
fails the file or the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dvlab.errors import BadInputError
from dvlab.lab.schema import METRIC_TYPES, SPAN_KINDS, SPAN_STATUSES, quote_literal
from dvlab.sources import tables
from dvlab.sources.tables import Columnar, Shape

log = logging.getLogger(__name__)

KINDS = ("spans", "metrics", "logs")

#: a span's duration in milliseconds from its start and (given) end. HUGEINT: two times far
#: apart (a start thousands of centuries BC) do not overflow
_SPAN_TIMES = "(epoch_us(end_given)::HUGEINT - epoch_us(start_time)) / 1000.0"

#: a span duration column's unit, by the lab column it is mapped to: SQL making it
#: milliseconds (dividing rather than multiplying by a fraction, which is inexact)
DURATION_UNITS = {
    "duration_ns": "/ 1000000",
    "duration_us": "/ 1000",
    "duration_ms": "* 1",
    "duration_s": "* 1000",
}

#: the level words a log message is searched for, as Java loggers write them (the longer
#: word first, so that WARNING is not read as WARN)
LEVEL_TOKEN = r"\b(TRACE|DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|SEVERE|FATAL|CRITICAL)\b"

#: the two hashes Kubernetes appends to a Deployment's pod names (its ReplicaSet's
#: pod-template hash, then the pod's own), from the alphabet it writes them in
POD_HASHES = r"-[bcdfghjklmnpqrstvwxz2456789]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$"

#: Go's ``time.Time.String()``: an offset, then a zone name, then possibly the monotonic
#: clock reading (``2023-01-29 08:41:09.858 +0000 UTC m=+0.934``); the first three groups
#: are all the time is
GO_TIME = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?) ([+-]\d{4})( \S+)?( m=[+-]\d+(\.\d+)?)?$"


@dataclass(frozen=True)
class StagedTable:
    """What :func:`stage` made: the staged table, its rows, its rejects, and the cells
    skipped for holding nothing (empty or NaN metric cells)."""

    table: str
    rows: int
    rejects: int
    skipped: int


def is_log_table(head: bytes, mapping: dict[str, str]) -> bool:
    """Whether a file given ``--kind logs`` that starts with ``head`` is a table of log
    records rather than log text: Parquet, or CSV whose header names a time and a message
    column, or any CSV when ``--map`` names a log column (a column it lacks is then said)."""
    if head.startswith(b"PAR1"):
        return True
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0].decode("utf-8", "replace")
    if "," not in first or first.startswith("{"):
        return False
    if set(mapping) & set(tables.LOG_VARIANTS):
        return True
    columns = tuple(c.strip().strip('"') for c in first.split(","))
    chosen = tables.resolve("logs", columns, mapping)
    present = {c.lower() for c in columns}
    return all(chosen.get(c, "").lower() in present for c in tables.REQUIRED["logs"])


def stage(
    con: duckdb.DuckDBPyConnection,
    *,
    src: int,
    path: Path,
    shape: Shape,
    mapping: dict[str, str],
    time_origin: str | None,
    site: str | None,
    service: str | None,
) -> StagedTable:
    """Read ``path`` (a table of ``shape.kind``: spans, metrics or logs) into a staging
    table of that lab table's columns and ``line``; rejects go to ``stage_rejects``.

    ``site`` and ``service`` fill rows that name none (``--site``, ``--service``);
    numbers in time columns are seconds after ``time_origin`` when it is given.
    """
    name = str(path)
    unknown = sorted(set(mapping) - set(tables.VARIANTS[shape.kind]))
    if unknown:
        raise BadInputError(
            f"--map {unknown[0]}=...: {shape.kind} have no column {unknown[0]!r}; known: "
            f"{', '.join(tables.VARIANTS[shape.kind])}",
            source=name,
        )
    chosen = tables.checked_columns(shape, mapping, name)
    raw = f"tbl_raw_{int(src)}"
    staged = f"tbl_{int(src)}"
    columnar = tables._read_raw(con, raw, path, shape)
    try:
        texts, attributes = tables.row_texts(shape, chosen, columnar)
        if shape.kind == "spans":
            select = _spans_select(raw, chosen, texts, attributes, time_origin)
        elif shape.kind == "logs":
            select = _logs_select(raw, chosen, texts, attributes, time_origin)
        else:
            select = _metrics_select(con, raw, shape, chosen, texts, columnar, time_origin, name)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {staged} AS {select}",
            {"site": site, "service": service},
        )
        rejected = tables._reject_rows(con, staged, shape.kind, src, name, raw=raw)
        skipped = con.execute(
            f"SELECT count(*) FROM {staged} WHERE skip AND reject IS NULL"
        ).fetchall()[0][0]
        con.execute(f"DELETE FROM {staged} WHERE reject IS NOT NULL OR skip")
        rows = con.execute(f"SELECT count(*) FROM {staged}").fetchall()[0][0]
    finally:
        tables.drop_raw(con, raw)
    log.info(
        "%s: %d %s staged, %d rejected, %d empty cells skipped",
        name,
        rows,
        shape.kind,
        rejected,
        skipped,
    )
    return StagedTable(staged, int(rows), rejected, int(skipped))


# --------------------------------------------------------------------------- pieces


def _time(text: str, origin: str | None) -> str:
    """SQL for the time in ``text``: the lab's one time path, and Go's ``time.Time``
    text (offset, zone name, monotonic reading) when that path reads nothing. Only Go's
    text is read the second way: a number too big for seconds after ``origin`` is no
    time, not an epoch in milliseconds."""
    go = f"regexp_replace({text}, {quote_literal(GO_TIME)}, '\\1\\3')"
    return (
        f"coalesce({tables._time(text, origin)}, CASE WHEN regexp_matches({text}, "
        f"{quote_literal(GO_TIME)}) THEN dvlab_ts({go}) END)"
    )


def _quoted(chosen: dict[str, str], column: str) -> str:
    """The source column of ``column`` as it goes into a reject's SQL string literal."""
    return quote_literal(f"column {chosen.get(column, column)}: ")


def _not_time(chosen: dict[str, str], column: str, *, required: str | None = None) -> str:
    """CASE branches rejecting a row whose ``column`` (text ``t_column``, parsed
    ``column``) is not a time, or (``required`` given) is missing."""
    said = _quoted(chosen, column)
    branches = []
    if required is not None:
        branches.append(f"WHEN t_{column} IS NULL THEN {said} || 'no {required}'")
    branches.append(
        f"WHEN t_{column} IS NOT NULL AND {column} IS NULL "
        f"THEN {said} || to_json(t_{column})::VARCHAR || ' is not a time'"
    )
    return " ".join(branches)


def _pod_service() -> str:
    """SQL for a row's service: its service column, else its pod's (the pod name whole when
    it does not end in a Deployment's two hashes), else ``--service``."""
    pod = f"regexp_replace(t_pod, {quote_literal(POD_HASHES)}, '')"
    return f"coalesce(t_service, {pod}, $service::VARCHAR)"


def _with_own_attributes(attributes: str) -> str:
    """``attributes`` with the members of its own ``attributes`` object (a lab's logs as
    ``dvlab export`` writes them, or any table of a JSON column so named) among the others,
    not nested under that name: loaded again, a lab's records keep their attributes."""
    inner = f"({attributes} -> 'attributes')"
    own = (
        f"CASE WHEN json_type({inner}) = 'OBJECT' THEN {inner} "
        f"WHEN json_type({inner}) = 'VARCHAR' AND starts_with(({attributes} ->> 'attributes'), '{{') "
        f"THEN try(({attributes} ->> 'attributes')::JSON) END"
    )
    return (
        f"CASE WHEN json_type({own}) = 'OBJECT' "
        f"THEN json_merge_patch(json_remove({attributes}, '$.attributes'), {own}) "
        f"ELSE {attributes} END"
    )


def _with_pod(attributes: str) -> str:
    """``attributes`` with the row's pod under ``pod`` (a NULL pod adds nothing)."""
    return f"json_merge_patch({attributes}, json_object('pod', t_pod))"


def _word(text: str, words: tuple[str, ...], prefix: str) -> str:
    """SQL for the one of ``words`` that ``text`` names: the word itself in any case, with
    or without ``prefix``, or its position counted from 0 (OTLP's enum numbers, written
    as digits alone: ``2.5`` is no position, where a cast would round it to 3)."""
    bare = f"regexp_replace(lower({text}), '^{prefix}', '')"
    listed = "[" + ", ".join(quote_literal(w) for w in words) + "]"
    return (
        f"CASE WHEN list_contains({listed}, {bare}) THEN {bare} "
        f"WHEN regexp_full_match({bare}, '\\d+') "
        f"AND TRY_CAST({bare} AS INTEGER) BETWEEN 0 AND {len(words) - 1} "
        f"THEN {listed}[TRY_CAST({bare} AS INTEGER) + 1] END"
    )


# --------------------------------------------------------------------------- spans


def _spans_select(
    raw: str,
    chosen: dict[str, str],
    texts: dict[str, str],
    attributes: str,
    origin: str | None,
) -> str:
    durations = [c for c in DURATION_UNITS if c in chosen]
    if durations:
        unit = durations[0]
        said = _quoted(chosen, unit)
        # an empty cell: the duration is the times', as without the column
        duration = (
            f"CASE WHEN t_{unit} IS NULL THEN {_SPAN_TIMES} "
            f"ELSE TRY_CAST(t_{unit} AS DOUBLE) {DURATION_UNITS[unit]} END"
        )
        # try(): a duration too long for the times after its start makes no end (a reject
        # below), not an error
        after = f"try(start_time + to_microseconds(TRY_CAST({duration} * 1000 AS BIGINT)))"
        bad_duration = f"""
            WHEN t_{unit} IS NOT NULL AND duration_ms IS NULL THEN {said}
                || to_json(t_{unit})::VARCHAR || ' is not a number'
            WHEN NOT isfinite(duration_ms) OR duration_ms < 0 THEN {said}
                || to_json(t_{unit})::VARCHAR || ' is not a duration (a finite number, 0 or more)'
            WHEN duration_ms IS NOT NULL AND duration_end IS NULL THEN {said}
                || to_json(t_{unit})::VARCHAR
                || ' is out of range: the span would end after the last time the lab holds'"""
    else:
        duration = _SPAN_TIMES.replace("end_given", "end_time")
        after = "NULL"
        bad_duration = ""
    kinds = _word("t_kind", SPAN_KINDS, "span_kind_")
    statuses = _word("t_status", SPAN_STATUSES, "status_code_")
    ids = ("trace_id", "span_id", "parent_span_id")
    not_hex = " ".join(
        f"WHEN {c} IS NOT NULL AND NOT regexp_full_match({c}, '[0-9a-f]+') "
        f"THEN {_quoted(chosen, c)} || to_json(t_{c})::VARCHAR || ' is not a hexadecimal id'"
        for c in ids
    )
    text_columns = ", ".join(f"{texts[c]} AS t_{c}" for c in texts)
    # a span again in one file: a row after the first kept row of its ids is a reject (a row
    # rejected for another reason does not make a later one a repeat)
    both = quote_literal(f"columns {chosen['trace_id']}/{chosen['span_id']}: ")
    return f"""
        SELECT line, trace_id, span_id, parent_span_id, t_name AS name,
               coalesce({kinds}, 'unspecified') AS kind, service,
               coalesce(t_site, $site::VARCHAR) AS site,
               start_time, end_time, duration_ms,
               coalesce({statuses}, 'unset') AS status, t_status_message AS status_message,
               attributes, NULL::JSON AS events, NULL::JSON AS links,
               coalesce(reject, CASE WHEN line > first_line THEN {both} || 'span '
                   || to_json(t_span_id)::VARCHAR || ' of trace '
                   || to_json(t_trace_id)::VARCHAR || ' again (first on line '
                   || first_line || ')' END) AS reject,
               false AS skip, NULL::VARCHAR AS record
        FROM (
            SELECT *, min(line) FILTER (WHERE reject IS NULL)
                OVER (PARTITION BY trace_id, span_id) AS first_line
            FROM (
                SELECT *, CASE
                    WHEN t_trace_id IS NULL THEN {_quoted(chosen, "trace_id")} || 'no trace id'
                    WHEN t_span_id IS NULL THEN {_quoted(chosen, "span_id")} || 'no span id'
                    {not_hex}
                    {_not_time(chosen, "start_time", required="start time")}
                    {_not_time(chosen, "end_time")}
                    {bad_duration}
                    WHEN end_time < start_time THEN {_quoted(chosen, "end_time")}
                        || 'ends ' || strftime(timezone('UTC', end_time), '%Y-%m-%dT%H:%M:%S.%fZ')
                        || ' before it starts '
                        || strftime(timezone('UTC', start_time), '%Y-%m-%dT%H:%M:%S.%fZ')
                    WHEN t_kind IS NOT NULL AND {kinds} IS NULL THEN {_quoted(chosen, "kind")}
                        || 'unknown span kind ' || to_json(t_kind)::VARCHAR
                        || '; known: {", ".join(SPAN_KINDS)}'
                    WHEN t_status IS NOT NULL AND {statuses} IS NULL
                        THEN {_quoted(chosen, "status")}
                        || 'unknown status ' || to_json(t_status)::VARCHAR
                        || '; known: {", ".join(SPAN_STATUSES)}'
                END AS reject
                FROM (
                    SELECT *, {after} AS duration_end,
                        coalesce(end_given, duration_end) AS end_time, {duration} AS duration_ms
                    FROM (
                        SELECT *, lower(t_trace_id) AS trace_id, lower(t_span_id) AS span_id,
                            CASE WHEN lower(t_parent_span_id) = 'root'
                                      OR regexp_full_match(t_parent_span_id, '0+') THEN NULL
                                 ELSE lower(t_parent_span_id) END AS parent_span_id,
                            {_time("t_start_time", origin)} AS start_time,
                            {_time("t_end_time", origin)} AS end_given,
                            {_pod_service()} AS service,
                            {_with_pod("other_columns")}::JSON AS attributes
                        FROM (SELECT line, {text_columns}, {attributes} AS other_columns
                              FROM {raw})))))"""


# --------------------------------------------------------------------------- logs


def _logs_select(
    raw: str,
    chosen: dict[str, str],
    texts: dict[str, str],
    attributes: str,
    origin: str | None,
) -> str:
    text_columns = ", ".join(f"{texts[c]} AS t_{c}" for c in texts)
    others = "other_columns"
    if chosen.get("level", "").lower() == "level_raw":
        # a lab's export: its normalised level beside the level as written says nothing more
        others = "json_remove(other_columns, '$.level')"
    # a Docker json-file line: the container's own line is its "log" (with its newline)
    docker = (
        "CASE WHEN starts_with(t_message, '{') AND json_valid(t_message) "
        "AND json_type(t_message, '$.log') = 'VARCHAR' THEN t_message::JSON END"
    )
    return f"""
        SELECT line, ts, site, host, service, dvlab_level(level_raw) AS level, level_raw,
               message, correlation_id, causation_id, task_id, trace_id,
               attributes, reject, false AS skip, NULL::VARCHAR AS record
        FROM (
            SELECT *, CASE {_not_time(chosen, "ts", required="time")} END AS reject,
                coalesce(t_level,
                         nullif(regexp_extract(message, {quote_literal(LEVEL_TOKEN)}, 1), ''))
                    AS level_raw
            FROM (
                SELECT line, t_ts, {_time("t_ts", origin)} AS ts,
                    coalesce(t_site, $site::VARCHAR) AS site,
                    t_host AS host, {_pod_service()} AS service, t_level,
                    CASE WHEN docker IS NULL THEN t_message
                         ELSE regexp_replace(docker ->> 'log', '\\r?\\n$', '') END AS message,
                    t_correlation_id AS correlation_id, t_causation_id AS causation_id,
                    t_task_id AS task_id, t_trace_id AS trace_id,
                    json_merge_patch({_with_pod(_with_own_attributes(others))},
                                     json_object('stream', docker ->> 'stream'))::JSON
                        AS attributes
                FROM (SELECT *, {docker} AS docker
                      FROM (SELECT line, {text_columns}, {attributes} AS other_columns FROM {raw}))))"""


# --------------------------------------------------------------------------- metrics


def _metrics_select(
    con: duckdb.DuckDBPyConnection,
    raw: str,
    shape: Shape,
    chosen: dict[str, str],
    texts: dict[str, str],
    columnar: Columnar | None,
    origin: str | None,
    source: str,
) -> str:
    long = "name" in chosen and "value" in chosen
    used = {n.lower() for c, name in chosen.items() for n in tables._named(c, name)}
    rest = [c for c in shape.columns if c.lower() not in used]
    label_names = tables._named("labels", chosen.get("labels", ""))
    if long:
        label_names += rest  # a long table's other columns are its labels
        cells = "[struct_pack(n := t_name, v := t_value)]"
    else:
        numeric = _numeric_columns(con, raw, shape, columnar, rest)
        if not numeric:
            raise BadInputError(
                f"no column holds numbers besides the time and labels (it has "
                f"{', '.join(shape.columns) or 'no columns'}); a table of metrics has one "
                "column a metric, or name and value columns (--map name=COLUMN "
                "--map value=COLUMN)",
                source=source,
            )
        left_out = [c for c in rest if c not in numeric]
        if left_out:
            log.info(
                "%s: columns %s hold no number: not metrics (--map labels=... keeps them)",
                source,
                ", ".join(left_out),
            )
        cells = (
            "["
            + ", ".join(
                f"struct_pack(n := {quote_literal(c)}, v := {_text(shape, columnar, c)})"
                for c in numeric
            )
            + "]"
        )
    label_pairs = [(n, _text(shape, columnar, n)) for n in label_names]
    if "pod" in chosen:
        label_pairs.append(("pod", texts["pod"]))
    labels = "MAP {}::MAP(VARCHAR, VARCHAR)"
    if label_pairs:
        entries = ", ".join(
            f"struct_pack(k := {quote_literal(k)}, v := {v})" for k, v in label_pairs
        )
        labels = f"map_from_entries(list_filter([{entries}], lambda e: e.v IS NOT NULL))"
    text_columns = ", ".join(f"{texts[c]} AS t_{c}" for c in texts)
    types = "[" + ", ".join(quote_literal(t) for t in METRIC_TYPES) + "]"
    # a long table's value is in its value column; a wide one's metric is named after its
    # column
    said = _quoted(chosen, "value") if long else "'column ' || name || ': '"
    # a series twice at one time (two rows of a long table, two files of one scrape being
    # another matter): the later row is a reject, as in a scrape
    again = (
        "'the series ' || name || dvlab_labels_text(labels) || ' at ' "
        "|| strftime(timezone('UTC', ts), '%Y-%m-%dT%H:%M:%S.%fZ') "
        "|| ' again (first on line ' || first_line || ')'"
    )
    return f"""
        WITH rows AS (
            SELECT *, {_time("t_ts", origin)} AS ts, {_pod_service()} AS service
            FROM (
                SELECT line, {text_columns}, {labels} AS labels, {cells} AS cells,
                    coalesce({texts["site"]}, $site::VARCHAR) AS site
                FROM {raw}))
        SELECT line, ts, name, labels, value, type, site, service, NULL::VARCHAR AS family,
               coalesce(reject, CASE WHEN NOT skip AND line > first_line THEN {again} END)
                   AS reject,
               skip, NULL::VARCHAR AS record
        FROM (
        SELECT *, min(line) FILTER (WHERE reject IS NULL AND NOT skip)
                      OVER (PARTITION BY name, labels, site, service, ts) AS first_line
        FROM (
            SELECT line, ts, name, labels, value, type, site, service,
                CASE WHEN v IS NOT NULL AND value IS NULL
                       THEN {said} || to_json(v)::VARCHAR || ' is not a number'
                     WHEN isinf(value) THEN {said} || 'value ' || v
                       || ' is not a measurement: a rate or average over it means nothing'
                     WHEN NOT list_contains({types}, type) THEN {_quoted(chosen, "type")}
                       || 'unknown metric type ' || to_json(t_type)::VARCHAR
                       || '; known: {", ".join(METRIC_TYPES)}'
                     WHEN name IS NULL
                       THEN {_quoted(chosen, "name")} || 'no metric name'
                END AS reject,
                v IS NULL OR isnan(value) AS skip
            FROM (
                SELECT line, ts, labels, site, service, t_type,
                    coalesce(lower(t_type), 'gauge') AS type, cell.n AS name, cell.v AS v,
                    TRY_CAST(cell.v AS DOUBLE) AS value
                FROM (SELECT *, unnest(cells) AS cell FROM rows WHERE ts IS NOT NULL))
            UNION ALL
            SELECT line, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                CASE {_not_time(chosen, "ts", required="time")} END, false
            FROM rows WHERE ts IS NULL))"""


def _text(shape: Shape, columnar: Columnar | None, column: str) -> str:
    """SQL for the text of source column ``column`` of a raw row."""
    if columnar is not None:
        return tables._column_text(columnar, column)
    return tables._value(column, layout=shape.layout)


def _numeric_columns(
    con: duckdb.DuckDBPyConnection,
    raw: str,
    shape: Shape,
    columnar: Columnar | None,
    columns: list[str],
) -> list[str]:
    """Those of ``columns`` that hold a number (NaN included) in at least one row."""
    if not columns:
        return []
    counts = ", ".join(f"count(TRY_CAST({_text(shape, columnar, c)} AS DOUBLE))" for c in columns)
    found = con.execute(f"SELECT {counts} FROM {raw}").fetchall()[0]
    return [c for c, n in zip(columns, found, strict=True) if n]
