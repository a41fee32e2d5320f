"""Measurements into the lab's ``metrics`` table: one call, one ledger row, one transaction.

A live source that measures rather than logs (a PostgreSQL health snapshot,
a JetStream stream's or consumer's state, a scrape of a monitoring endpoint)
builds an Arrow table of metric rows with :func:`to_table` and hands it to
:func:`store`. Each call is one *ingest*: the rows share one ``ingest_id``
and the ledger (``ingests``) gets one row naming the source, so repeated
calls make a time series that ``dvlab forget SOURCE`` can remove whole.

Storing takes the same lock file as ``dvlab ingest`` (so the two never
interleave their ingest ids) and holds the lab's write lock only for the one
transaction; a reader that has the lab open is waited for, as by any ingest.

>>> from datetime import UTC, datetime
>>> rows = to_table([{"ts": datetime(2026, 12, 1, tzinfo=UTC), "name": "pg_up",
...                   "labels": {"server": "db1:5432"}, "value": 1.0, "type": "gauge"}])
>>> rows.num_rows, rows.schema.field("ts").type
(1, TimestampType(timestamp[us, tz=UTC]))
>>> store(Path("lab.duckdb"), rows, source="postgresql://db1:5432/app",
...       format="pg_snapshot")                                      # doctest: +SKIP
7
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from dvlab.errors import BadInputError
from dvlab.lab import dberrors, schema
from dvlab.lab.ingest import _ingest_lock  # the one lock every writer of the lab takes
from dvlab.lab.store import connect_file, prepare

log = logging.getLogger(__name__)

#: the columns a caller provides; ``source`` and ``ingest_id`` are filled in by :func:`store`
METRIC_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("labels", pa.map_(pa.string(), pa.string())),
        pa.field("value", pa.float64()),
        pa.field("type", pa.string()),
        pa.field("site", pa.string()),
        pa.field("service", pa.string()),
        pa.field("family", pa.string()),
        pa.field("line", pa.int64()),
    ]
)

#: what ``type`` may say: a gauge goes up and down, a counter only grows (until a restart)
METRIC_TYPES = schema.METRIC_TYPES


def to_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Metric rows (dicts keyed by the :data:`METRIC_SCHEMA` names) as an Arrow table.

    A key left out is NULL. ``ts`` must be a time zone aware ``datetime``;
    ``labels`` a ``dict`` of text to text.
    """
    names = set(METRIC_SCHEMA.names)
    columns: dict[str, list[Any]] = {name: [] for name in METRIC_SCHEMA.names}
    for number, row in enumerate(rows, start=1):
        unknown = set(row) - names
        if unknown:
            raise BadInputError(
                f"metric row {number} has unknown keys {sorted(unknown)}; "
                f"accepted: {', '.join(METRIC_SCHEMA.names)}"
            )
        ts = row.get("ts")
        if not isinstance(ts, datetime) or ts.tzinfo is None:
            raise BadInputError(
                f"metric row {number}: ts must be a time zone aware datetime, not {ts!r}"
            )
        for name in METRIC_SCHEMA.names:
            value = row.get(name)
            if name == "ts":
                value = ts.astimezone(UTC)
            elif name == "labels" and value is not None:
                value = list(dict(value).items())
            columns[name].append(value)
    return pa.Table.from_pydict(columns, schema=METRIC_SCHEMA)


def _check(rows: pa.Table) -> None:
    """Refuse a table :func:`store` could not insert as it is, saying what is wrong."""
    missing = [c for c in ("ts", "name") if c not in rows.column_names]
    unknown = [c for c in rows.column_names if c not in METRIC_SCHEMA.names]
    if missing or unknown:
        raise BadInputError(
            f"metric rows need the columns ts and name (missing: {missing or 'none'}), and "
            f"may have only {', '.join(METRIC_SCHEMA.names)} (unknown: {unknown or 'none'})"
        )
    ts_type = rows.schema.field("ts").type
    if not pa.types.is_timestamp(ts_type) or ts_type.tz is None:
        raise BadInputError(
            f"metric rows' ts must be a timestamp with a time zone, not {ts_type}; "
            "build the table with dvlab.lab.metricstore.to_table"
        )
    for column in ("ts", "name"):
        if rows.column(column).null_count:
            raise BadInputError(f"metric rows' {column} is empty in some rows")
    if "type" in rows.column_names:
        kinds = {k for k in rows.column("type").to_pylist() if k is not None}
        if not kinds <= set(METRIC_TYPES):
            raise BadInputError(
                f"metric type {sorted(kinds - set(METRIC_TYPES))} unknown; "
                f"accepted: {', '.join(METRIC_TYPES)}"
            )


def store(
    lab_path: Path,
    rows: pa.Table,
    *,
    source: str,
    format: str,
    options: dict[str, Any] | None = None,
    position: str | None = None,
    started: datetime | None = None,
) -> int:
    """Insert ``rows`` into ``metrics`` as one new ingest of ``source``; returns its id.

    ``rows`` has the columns of :data:`METRIC_SCHEMA` (``ts`` and ``name``
    required, the rest NULL when left out). ``source`` names where the rows
    came from in ``metrics.source`` and in the ledger, so it must never hold
    a secret (for PostgreSQL, use :func:`dvlab.live.pgconn.describe`).
    ``format`` says what kind of measurement it was (``pg_snapshot``, say),
    ``options`` how it was taken (recorded as JSON), ``position`` where a
    live source was left, ``started`` when taking the measurement began
    (default: now). The rows and their ledger row are written in one
    transaction: on any error nothing is written.
    """
    _check(rows)
    if not source:
        raise BadInputError("metric rows need a source name")
    started = started or datetime.now(UTC)
    options_json = json.dumps(options or {}, sort_keys=True, default=str)
    staged = rows.select([c for c in METRIC_SCHEMA.names if c in rows.column_names])
    with _ingest_lock(lab_path):
        con = connect_file(lab_path, read_only=False)
        try:
            prepare(con)
            schema.migrate(con, str(con.execute("SELECT current_database()").fetchall()[0][0]))
            ingest_id = _insert(con, staged, source, format, options_json, position, started)
        except duckdb.Error as exc:
            raise dberrors.translate(exc, what=f"writing metrics to {lab_path}") from exc
        finally:
            con.close()
    log.info("metrics of %s: %d rows as ingest %d", source, rows.num_rows, ingest_id)
    return ingest_id


def _insert(
    con: duckdb.DuckDBPyConnection,
    staged: pa.Table,
    source: str,
    format: str,
    options_json: str,
    position: str | None,
    started: datetime,
) -> int:
    """The rows and their ledger row, in one transaction (rolled back on any error)."""
    values = {
        c: (c if c in staged.column_names else "NULL")
        for c in METRIC_SCHEMA.names
        if c != "labels"
    }
    labels = "CAST(labels AS MAP(VARCHAR, VARCHAR))" if "labels" in staged.column_names else "NULL"
    con.register("staged_metrics", staged)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            ingest_id = int(
                con.execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests").fetchall()[0][0]
            )
            con.execute(
                f"""INSERT INTO metrics ({", ".join(schema.METRIC_COLUMNS)})
                    SELECT {values["ts"]}, {values["name"]}, {labels}, {values["value"]},
                           {values["type"]}, {values["site"]}, {values["service"]},
                           {values["family"]}, $source, {values["line"]}, $ingest_id
                    FROM staged_metrics""",
                {"source": source, "ingest_id": ingest_id},
            )
            con.execute(
                """INSERT INTO ingests (ingest_id, run_id, source, format, status, rows_loaded,
                       started, finished, options, position)
                   VALUES ($ingest_id, $run_id, $source, $format, 'loaded', $rows, $started,
                       $finished, $options, $position)""",
                {
                    "ingest_id": ingest_id,
                    "run_id": str(uuid.uuid4()),
                    "source": source,
                    "format": format,
                    "rows": staged.num_rows,
                    "started": started,
                    "finished": datetime.now(UTC),
                    "options": options_json,
                    "position": position,
                },
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister("staged_metrics")
    return ingest_id
