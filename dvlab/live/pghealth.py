"""A health snapshot of the control plane's PostgreSQL, as metric rows for the lab.

:func:`snapshot` reads the server's statistics and catalog views in one
read-only transaction and returns one row per measurement, all stamped with
the transaction's ``now()`` (in UTC), so a snapshot is one moment and
repeated snapshots make a time series. Every name starts with ``pg_``; every
row is labelled with ``server`` (``host:port``, as :func:`pgconn.describe`
names it) and, where it concerns one database, ``database``.

What is measured (gauges, but for the ``_total`` counters):

* ``pg_up`` (1), ``pg_server_version_num``, ``pg_in_recovery`` (0 or 1);
* ``pg_connections`` by ``state`` (client backends; every usual state is
  present, 0 when none; ``unknown`` counts sessions this role may not see
  into), ``pg_max_connections``, ``pg_connections_used_ratio``;
* ``pg_queries_long_running`` (active longer than ``long_query`` seconds,
  labelled ``threshold_seconds``), ``pg_query_longest_seconds``,
  ``pg_transaction_longest_seconds``, ``pg_queries_waiting_lock`` (all left
  out, as skipped, when the role cannot see into every session: zeros would
  make a pile-up read as calm);
* ``pg_locks`` by ``locktype``, ``mode`` and ``granted``; and
  ``pg_locks_contended`` by ``schema``, ``relation``, ``mode`` and
  ``granted`` for each relation of the connected database that some session
  is waiting to lock (holders and waiters both);
* ``pg_replication_standbys``; per standby (``application_name``,
  ``client_addr``, ``state``) ``pg_replication_{write,flush,replay}_lag_seconds``
  and ``pg_replication_replay_lag_bytes``; on a standby,
  ``pg_replication_replay_delay_seconds`` since the last replayed commit;
* ``pg_database_size_bytes`` of every database but the templates,
  ``pg_database_xid_age`` and ``pg_database_xid_age_ratio`` (to 2^31) of every
  database, templates included (they count towards wraparound too), and
  ``pg_database_deadlocks_total``;
* of the connected database, ``pg_table_size_bytes`` (with indexes and
  TOAST) of the ``top_tables`` largest tables, and ``pg_table_dead_tuples``
  with ``pg_table_live_tuples`` of the ``top_tables`` with most dead tuples
  (``schema``, ``table``).

The snapshot's own session is left out of the lock and query-age figures
(it would only measure itself) but counted among the connections (it holds
a slot). A value PostgreSQL reports as NULL gives no row: a standby that
has caught up and is idle has no lag, a table dropped meanwhile no size.

Only views a normal role may read on PostgreSQL 12 and later are used. What
the role may not read, what stays locked (a table under ``ACCESS EXCLUSIVE``
is not opened to be measured, as that would wait behind the lock), and what
takes too long is left out and recorded as ``pg_snapshot_skipped`` (value 1)
with labels ``what`` and ``reason``, instead of failing the snapshot. The
transaction is ``READ ONLY``: nothing is written to the server.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa

from dvlab.errors import BadInputError
from dvlab.lab import metricstore
from dvlab.lab.timeconv import format_utc
from dvlab.live import pgconn

log = logging.getLogger(__name__)

SERVICE = "postgresql"
#: how the ledger names what a snapshot is
FORMAT = "pg_snapshot"
DEFAULT_LONG_QUERY = 60.0
DEFAULT_TOP_TABLES = 10

#: a measurement that cannot take longer than this is skipped rather than waited for
STATEMENT_TIMEOUT = "30s"
#: how long to wait for a lock before skipping what needs it (sizes open the table)
LOCK_TIMEOUT = "2s"

#: the states pg_stat_activity reports for a client backend, reported 0 when absent
STATES = (
    "active",
    "idle",
    "idle in transaction",
    "idle in transaction (aborted)",
    "fastpath function call",
    "disabled",
)

#: errors that skip one measurement (SQLSTATE class 42501, 55P03, 57014), not the snapshot
_SKIPPABLE: dict[type[psycopg.Error], str] = {
    psycopg.errors.InsufficientPrivilege: "permission denied",
    psycopg.errors.LockNotAvailable: "lock timeout",
    psycopg.errors.QueryCanceled: "statement timeout",
}

# client backends, and sessions whose type this role may not see (they do have a database)
_CLIENTS = "(backend_type = 'client backend' OR (backend_type IS NULL AND datid IS NOT NULL))"

_MY_DB = "(SELECT oid FROM pg_database WHERE datname = current_database())"

#: the connected database's tables, and whether another session holds (or awaits) one of
#: them, an index or its TOAST table in ACCESS EXCLUSIVE mode, which measuring would wait for
_TABLES = f"""
    WITH locked AS MATERIALIZED (
        SELECT DISTINCT coalesce(i.indrelid, t.oid, l.relation) AS relid
        FROM pg_locks l
        LEFT JOIN pg_index i ON i.indexrelid = l.relation
        LEFT JOIN pg_class t ON t.reltoastrelid = l.relation
        WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
          AND l.database = {_MY_DB} AND l.pid IS DISTINCT FROM pg_backend_pid()
    )
    SELECT n.nspname, c.relname, c.oid IN (SELECT relid FROM locked) AS locked, c.oid
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'm')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname !~ '^pg_(toast|temp_)'
"""


@dataclass
class _Snapshot:
    """The rows of one snapshot as they are taken, and the savepoints that guard them."""

    conn: psycopg.Connection
    ts: datetime
    server: str
    database: str
    site: str | None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        name: str,
        value: Any,
        labels: Mapping[str, Any] | None = None,
        *,
        kind: str = "gauge",
    ) -> None:
        if value is None:
            return
        shown = {"server": self.server}
        shown.update({k: _label(v) for k, v in (labels or {}).items() if v is not None})
        self.rows.append(
            {
                "ts": self.ts,
                "name": name,
                "labels": shown,
                "value": float(value),
                "type": kind,
                "site": self.site,
                "service": SERVICE,
            }
        )

    def here(self, **labels: Any) -> dict[str, Any]:
        """``labels`` with the connected database's name."""
        return {"database": self.database, **labels}

    @contextmanager
    def guarded(self, what: str, **labels: Any) -> Iterator[None]:
        """Run a measurement in a savepoint; one the server refuses is recorded as skipped."""
        try:
            with self.conn.transaction():
                yield
        except tuple(_SKIPPABLE) as exc:
            reason = next(r for kind, r in _SKIPPABLE.items() if isinstance(exc, kind))
            log.info("snapshot of %s: %s skipped: %s", self.server, what, reason)
            self.add("pg_snapshot_skipped", 1, {"what": what, "reason": reason, **labels})

    def all(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def server_name(dsn: str) -> str:
    """``host:port`` of ``dsn`` as :func:`pgconn.describe` names it (a socket folder alone)."""
    # what follows the last slash is the database (a socket folder has slashes of its own)
    place = pgconn.describe(dsn).removeprefix("postgresql://").rpartition("/")[0]
    return place.rpartition("@")[2]


def snapshot(
    dsn: str,
    *,
    site: str | None,
    long_query: float = DEFAULT_LONG_QUERY,
    top_tables: int = DEFAULT_TOP_TABLES,
) -> pa.Table:
    """The health of the server at ``dsn`` at one moment, as metric rows (see the module).

    ``site`` is written into every row (NULL when None). Raises
    :class:`~dvlab.errors.SourceConnectError` when the server cannot be
    reached or fails mid-way, with a message that never holds a password.
    """
    if not math.isfinite(long_query) or long_query < 0:
        raise BadInputError(f"--long-query takes seconds, 0 or more, not {long_query}")
    if top_tables < 0:
        raise BadInputError(f"--top-tables takes a count, 0 or more, not {top_tables}")
    conn = pgconn.connect(dsn, purpose="dvlab snapshot", autocommit=True)
    try:
        conn.read_only = True
        with conn.transaction():
            snap = _begin(conn, dsn, site)
            _connections(snap)
            _queries(snap, long_query)
            _locks(snap)
            _replication(snap)
            _databases(snap)
            _tables(snap, top_tables)
    except psycopg.Error as exc:
        raise pgconn.error(exc, dsn, "taking a snapshot") from None
    finally:
        conn.close()
    log.info("snapshot of %s: %d metrics", pgconn.describe(dsn), len(snap.rows))
    return metricstore.to_table(snap.rows)


def _begin(conn: psycopg.Connection, dsn: str, site: str | None) -> _Snapshot:
    # times in the forms psycopg reads whatever the server's or the client's DateStyle is
    # (PGDATESTYLE=Postgres, a database set to 'SQL, DMY' had failed the snapshot)
    conn.execute(
        "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true), "
        "set_config('DateStyle', 'ISO, YMD', true), set_config('IntervalStyle', 'postgres', true)",
        [STATEMENT_TIMEOUT, LOCK_TIMEOUT],
    )
    row = conn.execute(
        """SELECT now(), current_database(), current_setting('server_version_num')::int,
                  pg_is_in_recovery()"""
    ).fetchall()[0]
    ts, database, version, in_recovery = row
    snap = _Snapshot(conn, ts.astimezone(UTC), server_name(dsn), str(database), site)
    snap.add("pg_up", 1)
    snap.add("pg_server_version_num", version)
    snap.add("pg_in_recovery", int(in_recovery))
    return snap


def _connections(snap: _Snapshot) -> None:
    with snap.guarded("connections"):
        counts = dict.fromkeys(STATES, 0)
        for state, count in snap.all(
            f"SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
            f"WHERE {_CLIENTS} GROUP BY 1"
        ):
            counts[state] = int(count)
        for state, count in counts.items():
            snap.add("pg_connections", count, {"state": state})
        limit = int(snap.all("SELECT current_setting('max_connections')::int")[0][0])
        snap.add("pg_max_connections", limit)
        snap.add("pg_connections_used_ratio", sum(counts.values()) / limit)


#: why the query figures are left out for a role that cannot see every session
HIDDEN_SESSIONS = "sessions of other roles are hidden (the role needs pg_read_all_stats)"


def _queries(snap: _Snapshot, long_query: float) -> None:
    with snap.guarded("queries"):
        # a session this role may not inspect shows no state, query or wait: counted as
        # neither long-running nor waiting, it would make a pile-up read as calm
        hidden = snap.all(
            f"SELECT count(*) FROM pg_stat_activity WHERE {_CLIENTS} AND state IS NULL "
            "AND pid <> pg_backend_pid()"
        )[0][0]
        if hidden:
            log.info("snapshot of %s: queries skipped: %s", snap.server, HIDDEN_SESSIONS)
            snap.add("pg_snapshot_skipped", 1, {"what": "queries", "reason": HIDDEN_SESSIONS})
            return
        long_running, longest, oldest = snap.all(
            f"""SELECT
                  count(*) FILTER (WHERE state = 'active'
                                   AND now() - query_start > make_interval(secs => %s)),
                  coalesce(extract(epoch FROM max(now() - query_start)
                                   FILTER (WHERE state = 'active')), 0)::float8,
                  coalesce(extract(epoch FROM max(now() - xact_start)), 0)::float8
                FROM pg_stat_activity WHERE {_CLIENTS} AND pid <> pg_backend_pid()""",
            [long_query],
        )[0]
        snap.add("pg_queries_long_running", long_running, {"threshold_seconds": f"{long_query:g}"})
        snap.add("pg_query_longest_seconds", max(0.0, longest))
        snap.add("pg_transaction_longest_seconds", max(0.0, oldest))
        waiting = snap.all(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )[0][0]
        snap.add("pg_queries_waiting_lock", waiting)


def _locks(snap: _Snapshot) -> None:
    with snap.guarded("locks"):
        for locktype, mode, granted, count in snap.all(
            "SELECT locktype, mode, granted, count(*) FROM pg_locks "
            "WHERE pid IS DISTINCT FROM pg_backend_pid() GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ):
            snap.add("pg_locks", count, {"locktype": locktype, "mode": mode, "granted": granted})
        for schema, relation, mode, granted, count in snap.all(
            f"""SELECT n.nspname, c.relname, l.mode, l.granted, count(*)
                FROM pg_locks l
                JOIN pg_class c ON c.oid = l.relation
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE l.locktype = 'relation' AND l.database = {_MY_DB}
                  AND l.pid IS DISTINCT FROM pg_backend_pid()
                  AND l.relation IN (SELECT relation FROM pg_locks WHERE locktype = 'relation'
                                     AND NOT granted AND database = {_MY_DB})
                GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"""
        ):
            labels = snap.here(schema=schema, relation=relation, mode=mode, granted=granted)
            snap.add("pg_locks_contended", count, labels)


def _replication(snap: _Snapshot) -> None:
    with snap.guarded("replication"):
        in_recovery = bool(snap.all("SELECT pg_is_in_recovery()")[0][0])
        # a standby has no current WAL position of its own; its cascaded standbys are
        # measured against what it has replayed
        position = "pg_last_wal_replay_lsn()" if in_recovery else "pg_current_wal_lsn()"
        standbys = snap.all(
            f"""SELECT application_name, host(client_addr), state,
                       extract(epoch FROM write_lag)::float8,
                       extract(epoch FROM flush_lag)::float8,
                       extract(epoch FROM replay_lag)::float8,
                       pg_wal_lsn_diff({position}, replay_lsn)::float8
                FROM pg_stat_replication ORDER BY 1, 2"""
        )
        snap.add("pg_replication_standbys", len(standbys))
        for name, addr, state, write, flush, replay, replay_bytes in standbys:
            labels = {"application_name": name, "client_addr": addr, "state": state}
            snap.add("pg_replication_write_lag_seconds", write, labels)
            snap.add("pg_replication_flush_lag_seconds", flush, labels)
            snap.add("pg_replication_replay_lag_seconds", replay, labels)
            snap.add("pg_replication_replay_lag_bytes", replay_bytes, labels)
        if in_recovery:
            delay = snap.all(
                "SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"
            )[0][0]
            snap.add("pg_replication_replay_delay_seconds", delay)


def _databases(snap: _Snapshot) -> None:
    with snap.guarded("databases"):
        databases = snap.all(
            "SELECT oid, datname, datistemplate, age(datfrozenxid) FROM pg_database ORDER BY 2"
        )
        for _, name, _, xid_age in databases:
            snap.add("pg_database_xid_age", xid_age, {"database": name})
            snap.add("pg_database_xid_age_ratio", xid_age / 2**31, {"database": name})
        for oid, name, is_template, _ in databases:
            if is_template:
                continue
            # each in its own savepoint: a database this role may not connect to is skipped
            with snap.guarded("database_size", database=name):
                size = snap.all("SELECT pg_database_size(%s::oid)", [oid])[0][0]
                snap.add("pg_database_size_bytes", size, {"database": name})
    with snap.guarded("deadlocks"):
        for name, deadlocks in snap.all(
            "SELECT datname, deadlocks FROM pg_stat_database WHERE datname IS NOT NULL ORDER BY 1"
        ):
            snap.add("pg_database_deadlocks_total", deadlocks, {"database": name}, kind="counter")


def _tables(snap: _Snapshot, top: int) -> None:
    with snap.guarded("table_sizes"):
        for schema, table in snap.all(
            f"SELECT nspname, relname FROM ({_TABLES}) AS t WHERE locked ORDER BY 1, 2"
        ):
            labels = snap.here(what="table_size", reason="locked", schema=schema, table=table)
            snap.add("pg_snapshot_skipped", 1, labels)
        if top:
            for schema, table, size in snap.all(
                f"""SELECT nspname, relname, pg_total_relation_size(oid)
                    FROM ({_TABLES}) AS t WHERE NOT locked
                    ORDER BY 3 DESC NULLS LAST, 1, 2 LIMIT %s""",
                [top],
            ):
                snap.add("pg_table_size_bytes", size, snap.here(schema=schema, table=table))
    with snap.guarded("dead_tuples"):
        for schema, table, dead, live in snap.all(
            """SELECT schemaname, relname, n_dead_tup, n_live_tup FROM pg_stat_user_tables
               ORDER BY n_dead_tup DESC, 1, 2 LIMIT %s""",
            [top],
        ):
            labels = snap.here(schema=schema, table=table)
            snap.add("pg_table_dead_tuples", dead, labels)
            snap.add("pg_table_live_tuples", live, labels)


@dataclass
class Recorded:
    """One snapshot stored in the lab: what the CLI reports."""

    source: str
    lab: str
    ingest_id: int
    ts: datetime
    metrics: int
    skipped: list[str]

    def line(self) -> str:
        skipped = (
            f" ({len(self.skipped)} skipped: {', '.join(self.skipped)})" if self.skipped else ""
        )
        return f"snapshot of {self.source}: {self.metrics} metrics into {self.lab}{skipped}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "lab": self.lab,
            "ingest_id": self.ingest_id,
            "ts": format_utc(self.ts, digits=6),
            "metrics": self.metrics,
            "skipped": self.skipped,
        }


def record(
    lab_path: Path,
    dsn: str,
    *,
    site: str | None = None,
    long_query: float = DEFAULT_LONG_QUERY,
    top_tables: int = DEFAULT_TOP_TABLES,
) -> Recorded:
    """Take a :func:`snapshot` of ``dsn`` and store it in the lab as one ingest."""
    started = datetime.now(UTC)
    rows = snapshot(dsn, site=site, long_query=long_query, top_tables=top_tables)
    source = pgconn.describe(dsn)
    options = {"site": site, "long_query": long_query, "top_tables": top_tables}
    ingest_id = metricstore.store(
        lab_path, rows, source=source, format=FORMAT, options=options, started=started
    )
    names, labels = rows.column("name").to_pylist(), rows.column("labels").to_pylist()
    skipped = [
        dict(pairs)["what"]
        for name, pairs in zip(names, labels, strict=True)
        if name == "pg_snapshot_skipped"
    ]
    ts = rows.column("ts")[0].as_py()
    return Recorded(source, str(lab_path), ingest_id, ts, rows.num_rows, skipped)
