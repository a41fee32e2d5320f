"""The lab's tables, and the migrations that bring an older lab up to date.

A migration is a list of statements with ``{db}`` standing for the catalog
it applies to, so the same DDL serves a lab opened directly and one attached
to an ingest's staging connection. ``dvlab_meta.schema_version`` records how
far a lab has come.
"""

from __future__ import annotations

import re

import duckdb

LEVELS: tuple[str, ...] = ("trace", "debug", "info", "warn", "error", "fatal")

LOG_COLUMNS: tuple[str, ...] = (
    "ts",
    "site",
    "host",
    "service",
    "level",
    "level_raw",
    "message",
    "correlation_id",
    "causation_id",
    "task_id",
    "trace_id",
    "attributes",
    "source",
    "line",
    "ingest_id",
)

#: the tables that hold loaded rows (each row names its ``ingest_id``)
DATA_TABLES: tuple[str, ...] = (
    "logs",
    "tasks",
    "task_transitions",
    "events",
    "metrics",
    "metric_families",
    "spans",
)

#: the tables whose rows belong to the file they came from: a file that changes or grows
#: replaces its own rows there (tasks, transitions and events are kept by their ids)
FILE_TABLES: tuple[str, ...] = ("logs", "metrics", "metric_families", "spans")

METRIC_COLUMNS: tuple[str, ...] = (
    "ts",
    "name",
    "labels",
    "value",
    "type",
    "site",
    "service",
    "family",
    "source",
    "line",
    "ingest_id",
)

#: what a metric's ``type`` may be: Prometheus's and OpenMetrics's types (a histogram's
#: ``_bucket``, ``_sum`` and ``_count`` series and a summary's quantiles carry their
#: family's type)
METRIC_TYPES: tuple[str, ...] = (
    "gauge",
    "counter",
    "histogram",
    "gaugehistogram",
    "summary",
    "info",
    "stateset",
    "unknown",
)

SPAN_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "service",
    "site",
    "start_time",
    "end_time",
    "duration_ms",
    "status",
    "status_message",
    "attributes",
    "events",
    "links",
    "source",
    "line",
    "ingest_id",
)

#: a span's kind (OTLP's SpanKind without its prefix) and status (its StatusCode)
SPAN_KINDS: tuple[str, ...] = (
    "unspecified",
    "internal",
    "server",
    "client",
    "producer",
    "consumer",
)
SPAN_STATUSES: tuple[str, ...] = ("unset", "ok", "error")

_LEVEL_CHECK = ", ".join(f"'{level}'" for level in LEVELS)

#: a task's normalised states (dvlab.sources.tables maps what sources write to these)
TASK_STATES: tuple[str, ...] = (
    "pending",
    "running",
    "retrying",
    "succeeded",
    "failed",
    "cancelled",
)
_STATE_CHECK = ", ".join(f"'{state}'" for state in TASK_STATES)
_SPAN_KIND_CHECK = ", ".join(f"'{kind}'" for kind in SPAN_KINDS)
_SPAN_STATUS_CHECK = ", ".join(f"'{status}'" for status in SPAN_STATUSES)

MIGRATIONS: list[list[str]] = [
    [
        "CREATE TABLE IF NOT EXISTS {db}.dvlab_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        "CREATE SEQUENCE IF NOT EXISTS {db}.ingest_id_seq START 1",
        f"""CREATE TABLE IF NOT EXISTS {{db}}.logs (
            ts TIMESTAMPTZ NOT NULL,
            site VARCHAR,
            host VARCHAR,
            service VARCHAR,
            level VARCHAR CHECK (level IN ({_LEVEL_CHECK})),
            level_raw VARCHAR,
            -- log text is most of a lab: zstd stores it in about a third of the space of
            -- DuckDB's default for text, and writes it in half the time (a lab made
            -- before keeps the default)
            message VARCHAR USING COMPRESSION zstd,
            correlation_id VARCHAR,
            causation_id VARCHAR,
            task_id VARCHAR,
            trace_id VARCHAR,
            attributes JSON,
            source VARCHAR NOT NULL,
            line BIGINT NOT NULL,
            ingest_id BIGINT NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS {db}.ingests (
            ingest_id BIGINT PRIMARY KEY,
            run_id VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            format VARCHAR,
            generation BIGINT,
            status VARCHAR NOT NULL,
            fingerprint VARCHAR,
            head_hash VARCHAR,
            head_len BIGINT,
            consumed_bytes BIGINT,
            consumed_lines BIGINT,
            watermark_offset BIGINT,
            watermark_line BIGINT,
            start_line BIGINT,
            rows_loaded BIGINT NOT NULL DEFAULT 0,
            rows_rejected BIGINT NOT NULL DEFAULT 0,
            rows_skipped BIGINT NOT NULL DEFAULT 0,
            rows_replaced BIGINT NOT NULL DEFAULT 0,
            started TIMESTAMPTZ NOT NULL,
            finished TIMESTAMPTZ,
            message VARCHAR,
            options JSON)""",
        """CREATE TABLE IF NOT EXISTS {db}.rejects (
            ingest_id BIGINT NOT NULL,
            source VARCHAR NOT NULL,
            line BIGINT NOT NULL,
            reason VARCHAR NOT NULL,
            raw VARCHAR)""",
        "INSERT OR REPLACE INTO {db}.dvlab_meta VALUES ('schema_version', '1')",
    ],
    [
        # a hash of a source's first line: tells a file edited in place (same start)
        # from one truncated and written anew (different start)
        "ALTER TABLE {db}.ingests ADD COLUMN IF NOT EXISTS start_hash VARCHAR",
    ],
    [
        # task history, its state transitions, and workflow events
        f"""CREATE TABLE IF NOT EXISTS {{db}}.tasks (
            task_id VARCHAR NOT NULL,
            workflow_id VARCHAR,
            workflow_type VARCHAR,
            parent_task_id VARCHAR,
            site VARCHAR,
            service VARCHAR,
            target_kind VARCHAR,
            target_id VARCHAR,
            state VARCHAR NOT NULL CHECK (state IN ({_STATE_CHECK})),
            state_raw VARCHAR,
            attempt INTEGER,
            created TIMESTAMPTZ,
            started TIMESTAMPTZ,
            finished TIMESTAMPTZ,
            error_class VARCHAR,
            error_message VARCHAR,
            idempotency_key VARCHAR,
            retry_policy VARCHAR,
            correlation_id VARCHAR,
            attributes JSON,
            source VARCHAR NOT NULL,
            line BIGINT NOT NULL,
            ingest_id BIGINT NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {{db}}.task_transitions (
            task_id VARCHAR NOT NULL,
            seq INTEGER NOT NULL,
            from_state VARCHAR CHECK (from_state IN ({_STATE_CHECK})),
            to_state VARCHAR NOT NULL CHECK (to_state IN ({_STATE_CHECK})),
            to_state_raw VARCHAR,
            attempt INTEGER,
            ts TIMESTAMPTZ NOT NULL,
            reason VARCHAR,
            attributes JSON,
            source VARCHAR NOT NULL,
            line BIGINT NOT NULL,
            ingest_id BIGINT NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS {db}.events (
            event_id VARCHAR NOT NULL,
            stream VARCHAR,
            subject VARCHAR,
            seq BIGINT,
            time TIMESTAMPTZ NOT NULL,
            published TIMESTAMPTZ,
            type VARCHAR,
            site VARCHAR,
            service VARCHAR,
            correlation_id VARCHAR,
            causation_id VARCHAR,
            task_id VARCHAR,
            workflow_id VARCHAR,
            payload JSON,
            headers JSON,
            deliveries INTEGER NOT NULL DEFAULT 1,
            source VARCHAR NOT NULL,
            line BIGINT NOT NULL,
            ingest_id BIGINT NOT NULL)""",
    ],
    [
        # measurements: database and broker health snapshots, monitoring endpoints, scrapes
        """CREATE TABLE IF NOT EXISTS {db}.metrics (
            ts TIMESTAMPTZ NOT NULL,
            name VARCHAR NOT NULL,
            labels MAP(VARCHAR, VARCHAR),
            value DOUBLE,
            type VARCHAR,
            site VARCHAR,
            service VARCHAR,
            source VARCHAR NOT NULL,
            line BIGINT,
            ingest_id BIGINT NOT NULL)""",
        # where a live source (a PostgreSQL watermark, a JetStream stream sequence) was left
        "ALTER TABLE {db}.ingests ADD COLUMN IF NOT EXISTS position VARCHAR",
    ],
    [
        # the metric family a series belongs to (``http_request_duration_seconds`` for its
        # ``_bucket``, ``_sum`` and ``_count``), as the exposition's TYPE line names it
        "ALTER TABLE {db}.metrics ADD COLUMN IF NOT EXISTS family VARCHAR",
        # what an exposition says of each metric family (its TYPE, HELP and UNIT lines),
        # samples or none
        """CREATE TABLE IF NOT EXISTS {db}.metric_families (
            family VARCHAR NOT NULL,
            type VARCHAR,
            help VARCHAR,
            unit VARCHAR,
            source VARCHAR NOT NULL,
            line BIGINT,
            ingest_id BIGINT NOT NULL)""",
        # traces: one row per span; ids as lower-case hex
        f"""CREATE TABLE IF NOT EXISTS {{db}}.spans (
            trace_id VARCHAR NOT NULL,
            span_id VARCHAR NOT NULL,
            parent_span_id VARCHAR,
            name VARCHAR,
            kind VARCHAR CHECK (kind IN ({_SPAN_KIND_CHECK})),
            service VARCHAR,
            site VARCHAR,
            start_time TIMESTAMPTZ NOT NULL,
            end_time TIMESTAMPTZ,
            duration_ms DOUBLE,
            status VARCHAR CHECK (status IN ({_SPAN_STATUS_CHECK})),
            status_message VARCHAR,
            attributes JSON,
            events JSON,
            links JSON,
            source VARCHAR NOT NULL,
            line BIGINT,
            ingest_id BIGINT NOT NULL)""",
    ],
    [
        # the CloudEvents source of an event whose id is its envelope's: an id is unique
        # only within its source, so the two together say which event a row is
        "ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS event_source VARCHAR",
    ],
    [
        # an event named by its Nats-Msg-Id, or by its stream and sequence, is one of its
        # stream's: two streams' messages of one id are two events
        """UPDATE {db}.events SET event_source = 'nats:' || stream
           WHERE event_source IS NULL AND stream IS NOT NULL""",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)


def current_version(con: duckdb.DuckDBPyConnection, db: str) -> int:
    """The schema version of catalog ``db`` (0 for an empty database)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'dvlab_meta'",
        [db],
    ).fetchall()[0][0]
    if not found:
        return 0
    rows = con.execute(
        f"SELECT value FROM {quote_ident(db)}.dvlab_meta WHERE key = 'schema_version'"
    ).fetchall()
    return int(rows[0][0]) if rows else 0


def migrate(con: duckdb.DuckDBPyConnection, db: str) -> int:
    """Apply the migrations catalog ``db`` lacks, each in its own transaction."""
    version = current_version(con, db)
    for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in statements:
                con.execute(statement.format(db=quote_ident(db)))
            con.execute(
                f"INSERT OR REPLACE INTO {quote_ident(db)}.dvlab_meta VALUES ('schema_version', ?)",
                [str(number)],
            )
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    return SCHEMA_VERSION


_CREATE_TABLE = re.compile(r"\s*CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)")
_ADD_COLUMN = re.compile(r"\s*ALTER TABLE \{db\}\.(\w+) ADD COLUMN IF NOT EXISTS (\w+) (\w+)")


def shadow_missing(con: duckdb.DuckDBPyConnection, db: str) -> None:
    """Give a read-only connection to an older lab empty temporary stand-ins for the tables
    later migrations add, so that queries over them answer (with nothing) until the next
    ingest brings the lab up to date."""
    version = current_version(con, db)
    if version == 0:
        return
    shadowed: set[str] = set()
    added: dict[str, list[tuple[str, str]]] = {}
    for statements in MIGRATIONS[version:]:
        for statement in statements:
            created = _CREATE_TABLE.match(statement)
            column = _ADD_COLUMN.match(statement)
            if created:
                con.execute(statement.format(db="temp"))
                shadowed.add(created.group(1))
            elif column and column.group(1) in shadowed:
                con.execute(statement.format(db="temp"))
            elif column:
                added.setdefault(column.group(1), []).append((column.group(2), column.group(3)))
    # a column a later migration adds to an existing table: a view of the table with the
    # column NULL stands in for it (a temporary object is found before the lab's own)
    for table, columns in added.items():
        nulls = ", ".join(f"NULL::{kind} AS {name}" for name, kind in columns)
        con.execute(
            f"CREATE TEMP VIEW {table} AS SELECT *, {nulls} FROM {quote_ident(db)}.main.{table}"
        )


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (the one helper every module uses)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote a string literal for the few statements that take no parameters (ATTACH)."""
    return "'" + text.replace("'", "''") + "'"
