"""Workflow events straight from a NATS JetStream stream, and the stream's health.

``dvlab ingest nats://HOST:PORT --stream NAME`` reads through a durable pull
consumer (``--durable``, default ``dvlab``), created on first use with
explicit acknowledgement. Messages are staged in batches and committed to the
lab, one transaction per batch, while the next batch is fetched; only then is
each message of the batch acknowledged. A consumer that acknowledges in any
other way (all earlier messages at once, or none), or that gives up on a
message after a number of deliveries (``max_deliver``), is refused: a killed
run could lose what it fetched. So is a push consumer, and one that reads
another subject than ``--subject``.

A run killed between commit and acknowledgement leaves messages stored but
not acknowledged: the server delivers them again and they are recognised by
their event id (the CloudEvents id and source, else the ``Nats-Msg-Id``
header, else the sequence, within the stream as made when the run began: one
deleted and made again under its name is another) and stored once, their
delivery count raised. A rerun
resumes where the consumer's acknowledgements stopped. A consumer deleted
meanwhile is made again and reads the stream from its start, because what the
lab holds can have gaps where a killed run fetched and never stored.

Each message becomes the record a JetStream export writes (stream,
sequence, subject, publish time, delivery count, headers, payload), so the
same SQL that reads an export file turns it into an ``events`` row:
structured CloudEvents payloads are understood, and so are binary-mode ones
(``ce-*`` headers). A payload that is not UTF-8 text is kept as base64.

``--until-caught-up`` (the default) ends at the stream's position when the
run started (its last sequence then): once every message up to there (on the
subject read) is stored and acknowledged, however much keeps arriving. Messages
published since that come in the same fetch are stored and acknowledged too;
the rest are left to the next run. An idle stream ends the run as soon as
nothing is pending. Messages a killed run fetched come back once their
acknowledgement wait (30 s for a consumer dvlab makes) runs out, and are waited
for while they keep coming. Ctrl-C or SIGTERM stores what was fetched and ends
the run as interrupted. ``--follow`` keeps
reading, survives a server restart by reconnecting, and on Ctrl-C or SIGTERM
commits what it holds and stops normally. One ledger row stands for a whole
run: each commit updates its counts and the last stream sequence
(``position``). The ingest lock is held only while committing, so file
ingests into the same lab go on beside a follower.

Stream and consumer state (messages, bytes, sequences, pending, ack-pending,
redelivered, waiting, last activity) is stored in ``metrics`` at the end of
each run, and every minute while following. ``--advisories`` also stores the
JetStream advisories (``$JS.EVENT.ADVISORY.>``) published while it runs.

Credentials (user and password or token in the URL, ``--creds``,
``--nkey``) and TLS files pass to the client as given; the URL is only ever
shown without its user information.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import signal
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import duckdb
import pyarrow as pa

from dvlab.errors import BadInputError, DvlabError, SourceConnectError
from dvlab.lab import ingest as lab_ingest
from dvlab.lab import schema
from dvlab.lab.ingest import IngestOptions, IngestSummary, SourceReport
from dvlab.lab.store import connect_file
from dvlab.sources import tables

log = logging.getLogger(__name__)

SCHEMES = ("nats://", "tls://")
DEFAULT_DURABLE = "dvlab"
ADVISORY_SUBJECT = "$JS.EVENT.ADVISORY.>"

#: how long an acknowledgement may wait for its commit before the server redelivers
ACK_WAIT = 30.0

#: fetches more an ending run makes for messages a pull request brought as it expired
LAST_ROUNDS = 3


def is_url(text: str) -> bool:
    return text.startswith(SCHEMES)


def describe(url: str) -> str:
    """``url`` without user information (a user, password or token). A URL whose user
    information a URL parser would misread (a ``#``, ``?`` or ``/`` in a password ends
    it early, leaving a piece of it for the host or port) is refused, the user
    information hidden."""
    shown = []
    for one in url.split(","):
        one = one.strip()
        start = one.find("://") + 3 if "://" in one else 0
        at = one.rfind("@", start)
        if at >= 0 and any(c in one[start:at] for c in "#?/"):
            raise BadInputError(
                f"not a NATS URL as written: {one[:start]}***@{one[at + 1 :]}: its user, "
                "password or token holds a #, ? or /, which ends that part of a URL early; "
                "give the credentials another way (--creds, --nkey)"
            )
        parts = urlsplit(one)
        written = (
            f"{one[:start]}{'***@' if at >= 0 else ''}{one[at + 1 :] if at >= 0 else one[start:]}"
        )
        try:
            port = parts.port
        except ValueError:
            raise BadInputError(
                f"not a NATS URL: {written}: its port is not a number from 1 to 65535"
            ) from None
        host = parts.hostname
        if not host:
            raise BadInputError(f"not a NATS URL: {written}: it names no host")
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{port}" if port else "")
        shown.append(urlunsplit((parts.scheme, netloc, "", "", "")))
    return ",".join(shown)


@dataclass(frozen=True)
class NatsSource:
    """A stream to read, and how."""

    url: str
    stream: str
    subject: str | None = None
    durable: str | None = None
    follow: bool = False
    #: messages asked for in one fetch, at most
    fetch: int = 1000
    #: about how many bytes of messages one fetch asks for: large messages are asked for a
    #: few at a time (a thousand of a megabyte would overrun the client and the server)
    fetch_bytes: int = 8 << 20
    #: commit when this many messages, or bytes of them, are staged (or ``commit_seconds``
    #: passed)
    commit_rows: int = 50_000
    commit_bytes: int = 16 << 20
    commit_seconds: float = 2.0
    advisories: bool = False
    creds: str | None = None
    nkey: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    #: seconds between health snapshots while following
    health_every: float = 60.0
    #: give up connecting (or reconnecting, when not following) after this long
    connect_timeout: float = 5.0

    @property
    def consumer(self) -> str:
        return self.durable or DEFAULT_DURABLE

    def name(self) -> str:
        query = f"durable={self.consumer}"
        if self.subject:
            query += f"&subject={self.subject}"
        return f"{describe(self.url)}/{self.stream}?{query}"


@dataclass
class _Batch:
    """Messages fetched and not yet committed."""

    seq: list[int] = field(default_factory=list)
    subject: list[str] = field(default_factory=list)
    published_us: list[int] = field(default_factory=list)
    delivered: list[int] = field(default_factory=list)
    headers: list[str | None] = field(default_factory=list)
    payload: list[str] = field(default_factory=list)
    every: list[Any] = field(default_factory=list)  # acknowledged once committed
    advisories: list[tuple[str, str]] = field(default_factory=list)  # (subject, body)
    started: float = 0.0
    #: bytes of the messages' payloads
    size: int = 0

    def __len__(self) -> int:
        return len(self.seq)

    def table(self) -> pa.Table:
        return pa.table(
            {
                "seq": pa.array(self.seq, pa.int64()),
                "subject": pa.array(self.subject, pa.string()),
                "published_us": pa.array(self.published_us, pa.int64()),
                "delivered": pa.array(self.delivered, pa.int32()),
                "headers": pa.array(self.headers, pa.string()),
                "payload": pa.array(self.payload, pa.large_string()),
            }
        )


def _reply_fields(reply: str) -> tuple[int, int, int, int] | None:
    """(delivered, stream seq, publish time in µs, pending) from a JetStream ack subject."""
    tokens = reply.split(".")
    if len(tokens) < 9 or tokens[0] != "$JS" or tokens[1] != "ACK":
        return None
    if len(tokens) == 9:  # $JS.ACK.stream.consumer.delivered.sseq.cseq.time.pending
        delivered, sseq, stamp, pending = tokens[4], tokens[5], tokens[7], tokens[8]
    else:  # $JS.ACK.domain.hash.stream.consumer.delivered.sseq.cseq.time.pending[.token]
        delivered, sseq, stamp, pending = tokens[6], tokens[7], tokens[9], tokens[10]
    return int(delivered), int(sseq), int(stamp) // 1000, int(pending)


def _binary_cloudevent(headers: dict[str, str], payload: str) -> str:
    """A CloudEvent sent in binary mode (attributes as ``ce-*`` headers) as a structured one.
    Header names are not case-sensitive (``Ce-Id`` is ``ce-id``); CloudEvents attribute
    names are lower case."""
    envelope: dict[str, Any] = {
        k[3:].lower(): v for k, v in headers.items() if k.lower().startswith("ce-") and len(k) > 3
    }
    try:
        envelope["data"] = json.loads(payload)
    except ValueError:
        envelope["data"] = payload
    return json.dumps(envelope, ensure_ascii=False)


# --------------------------------------------------------------------------- committing


class _Committer:
    """Stages batches and writes them to the lab, updating one ledger row per run."""

    def __init__(self, lab_path: Path, source: NatsSource, options: IngestOptions):
        self.lab_path = lab_path
        self.source = source
        self.options = options
        self.name = source.name()
        self.summary = IngestSummary(
            run_id=str(uuid.uuid4()), lab=str(lab_path), started=datetime.now(UTC)
        )
        self.report = SourceReport(source=self.name, status="unchanged", format="nats-events")
        self.summary.sources.append(self.report)
        self.ingest_id: int | None = None
        self.position: int | None = None
        self.commits = 0
        #: the batch's messages that were another's copy (the same event twice in it)
        self.copies = 0
        #: when the stream was made (UTC, ISO 8601): a stream deleted and made again under
        #: its name numbers its messages anew, and they are other events
        self.stream_created: str | None = None
        self.staging = lab_ingest._Staging(options.zone, spill_dir=lab_path.resolve().parent)

    def close(self) -> None:
        self.staging.close()

    def last_position(self) -> int | None:
        """The last stream sequence an earlier run of this source committed."""
        if not self.lab_path.exists():
            return None
        con = connect_file(self.lab_path, read_only=True)
        try:
            if schema.current_version(con, lab_ingest._catalog(con)) < 4:
                return None
            rows = con.execute(
                """SELECT max(TRY_CAST(position AS BIGINT)) FROM ingests
                   WHERE source = ? AND status IN ('loaded', 'unchanged')""",
                [self.name],
            ).fetchall()
        finally:
            con.close()
        return rows[0][0]

    def stage(self, batch: _Batch, health: list[dict[str, Any]]) -> tuple[int, int]:
        """Stage ``batch`` as ``tbl_0`` (events) and ``health`` as ``mon_0`` (metrics)."""
        con = self.staging.con
        con.execute("DELETE FROM stage_rejects")
        con.register("batch", batch.table())
        try:
            con.execute(
                """CREATE OR REPLACE TEMP TABLE tbl_raw_0 AS
                   SELECT seq AS line, json_object(
                       'stream', $stream, 'stream_created', $created, 'seq', seq,
                       'subject', subject,
                       'time', strftime(make_timestamp(published_us), '%Y-%m-%dT%H:%M:%S.%fZ'),
                       'delivered', delivered, 'headers', headers::JSON,
                       'data', CASE WHEN json_valid(payload) THEN payload::JSON
                                    ELSE to_json(payload) END)::VARCHAR AS record
                   FROM batch""",
                {"stream": self.source.stream, "created": self.stream_created},
            )
        finally:
            con.unregister("batch")
        if batch.advisories:
            adv = pa.table(
                {
                    "subject": pa.array([a[0] for a in batch.advisories], pa.string()),
                    "body": pa.array([a[1] for a in batch.advisories], pa.large_string()),
                }
            )
            con.register("adv", adv)
            try:
                # an advisory as a CloudEvent: its id, type and timestamp, from the server
                con.execute(
                    """INSERT INTO tbl_raw_0
                       SELECT 0, json_object(
                           'specversion', '1.0', 'id', body::JSON ->> 'id',
                           'type', body::JSON ->> 'type',
                           'time', body::JSON ->> 'timestamp',
                           -- the server that sent it; no site is known of it
                           'source', 'urn:nats:server:' || coalesce(body::JSON ->> 'server', ''),
                           'service', 'nats-server',
                           'data', body::JSON)::VARCHAR
                       FROM adv WHERE json_valid(body)"""
                )
            finally:
                con.unregister("adv")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE tbl_0 AS {tables.events_select(con, 'tbl_raw_0')}"
        )
        rejected = tables._reject_rows(con, "tbl_0", "events", 0, self.name)
        con.execute("DELETE FROM tbl_0 WHERE reject IS NOT NULL")
        self.copies = tables._fold_redeliveries(con, "tbl_0")
        rows = int(con.execute("SELECT count(*) FROM tbl_0").fetchall()[0][0])
        con.execute("DROP TABLE tbl_raw_0")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE mon_0 (line BIGINT, ts TIMESTAMPTZ, name VARCHAR, "
            "labels MAP(VARCHAR, VARCHAR), value DOUBLE, type VARCHAR, site VARCHAR, "
            "service VARCHAR, family VARCHAR)"
        )
        if health:
            con.register("health", pa.Table.from_pylist(health))
            try:
                con.execute(
                    """INSERT INTO mon_0 SELECT NULL, ts, name,
                       map_from_entries(labels), value, type, NULL, 'nats-server', name
                       FROM health"""
                )
            finally:
                con.unregister("health")
        return rows, rejected

    def commit(self, batch: _Batch, health: list[dict[str, Any]]) -> None:
        """Write ``batch`` and ``health`` to the lab in one transaction."""
        rows, rejected = self.stage(batch, health)
        if rejected and self.options.strict:
            # the batch is neither written nor acknowledged: the server delivers it again
            seq, reason = self.staging.con.execute(
                "SELECT line, reason FROM stage_rejects ORDER BY line LIMIT 1"
            ).fetchall()[0]
            raise BadInputError(
                f"--strict: {rejected} message(s) rejected, their batch neither written nor "
                f"acknowledged; first: stream sequence {seq}: {reason}",
                source=self.name,
            )
        if batch.seq:
            top = max(batch.seq)
            self.position = top if self.position is None else max(self.position, top)
        with lab_ingest._ingest_lock(self.lab_path):
            if self.ingest_id is None:
                self.ingest_id = lab_ingest._next_ingest_id(self.lab_path)
            self._write(rows, rejected, bool(health))
        self.commits += 1

    def _write(self, rows: int, rejected: int, with_health: bool) -> None:
        con = self.staging.con
        with lab_ingest.writing(con, self.lab_path):
            if self.commits and self._forgotten(con):
                # `dvlab forget` removed what this run stored so far: its ledger row stays
                # forgotten, and what follows is counted in a row of its own
                self.ingest_id = int(
                    con.execute(
                        "SELECT coalesce(max(ingest_id), 0) + 1 FROM lab.ingests"
                    ).fetchall()[0][0]
                )
                self.commits = 0
                self.report.rows_loaded = self.report.rows_skipped = 0
                self.report.rows_rejected = 0
            values = {"source": self.name, "ingest_id": self.ingest_id}
            before = con.execute("SELECT count(*) FROM lab.events").fetchall()[0][0]
            for statement in tables.insert_sql("events", "tbl_0"):
                con.execute(statement, {k: v for k, v in values.items() if f"${k}" in statement})
            stored = con.execute("SELECT count(*) FROM lab.events").fetchall()[0][0] - before
            if with_health:
                for statement in tables.insert_sql("metrics", "mon_0"):
                    con.execute(statement, values)
            con.execute(
                """INSERT INTO lab.rejects SELECT $ingest_id, source, line, reason, raw
                   FROM stage_rejects""",
                {"ingest_id": self.ingest_id},
            )
            loaded = self.report.rows_loaded + int(stored)
            skipped = self.report.rows_skipped + rows - int(stored) + self.copies
            rejects = self.report.rows_rejected + rejected
            self._ledger(con, loaded, skipped, rejects)
        self.report.rows_loaded = loaded
        self.report.rows_skipped = skipped
        self.report.rows_rejected = rejects
        self.report.ingest_id = self.ingest_id
        self.report.status = "loaded" if loaded or rejects else "unchanged"

    def _forgotten(self, con: duckdb.DuckDBPyConnection) -> bool:
        found = con.execute(
            "SELECT status FROM lab.ingests WHERE ingest_id = ?", [self.ingest_id]
        ).fetchall()
        return bool(found) and found[0][0] == "forgotten"

    def _ledger(
        self, con: duckdb.DuckDBPyConnection, loaded: int, skipped: int, rejected: int
    ) -> None:
        status = "loaded" if loaded or rejected else "unchanged"
        position = None if self.position is None else str(self.position)
        now = datetime.now(UTC)
        if self.commits == 0:
            options = json.loads(lab_ingest._options_json(self.options))
            options.update(
                stream=self.source.stream,
                durable=self.source.consumer,
                subject=self.source.subject,
                follow=self.source.follow,
            )
            entry = {
                "ingest_id": self.ingest_id,
                "source": self.name,
                "format": "nats-events",
                "status": status,
                "rows_loaded": loaded,
                "rows_rejected": rejected,
                "rows_skipped": skipped,
                "consumed_lines": loaded + rejected + skipped,
                "started": self.summary.started,
                "options": json.dumps(options),
                "position": position,
            }
            lab_ingest._insert_ledger_row(con, entry, self.summary.run_id, now)
        else:
            con.execute(
                """UPDATE lab.ingests SET status = $status, rows_loaded = $loaded,
                       rows_rejected = $rejected, rows_skipped = $skipped,
                       consumed_lines = $loaded + $rejected + $skipped,
                       position = coalesce($position, position), finished = $now
                   WHERE ingest_id = $ingest_id""",
                {
                    "status": status,
                    "loaded": loaded,
                    "rejected": rejected,
                    "skipped": skipped,
                    "position": position,
                    "now": now,
                    "ingest_id": self.ingest_id,
                },
            )


# --------------------------------------------------------------------------- reading


def _health(stream: Any, consumer: Any, source: NatsSource) -> list[dict[str, Any]]:
    """Metric rows of a stream's and a consumer's state, at this moment."""
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []

    def add(name: str, value: float | None, kind: str, labels: dict[str, str]) -> None:
        if value is None:
            return
        rows.append(
            {
                "ts": now,
                "name": name,
                "labels": [{"key": k, "value": v} for k, v in labels.items()],
                "value": float(value),
                "type": kind,
            }
        )

    s = {"stream": source.stream}
    if stream is not None:
        state = stream.state
        add("nats_stream_messages", state.messages, "gauge", s)
        add("nats_stream_bytes", state.bytes, "gauge", s)
        add("nats_stream_first_seq", state.first_seq, "gauge", s)
        add("nats_stream_last_seq", state.last_seq, "counter", s)
        add("nats_stream_consumers", state.consumer_count, "gauge", s)
        # the server leaves the count out when there are none
        add("nats_stream_deleted", state.num_deleted or 0, "gauge", s)
    if consumer is not None:
        c = {**s, "consumer": consumer.name}
        add("nats_consumer_pending", consumer.num_pending, "gauge", c)
        add("nats_consumer_ack_pending", consumer.num_ack_pending, "gauge", c)
        add("nats_consumer_redelivered", consumer.num_redelivered, "gauge", c)
        add("nats_consumer_waiting", consumer.num_waiting, "gauge", c)
        for which, seqs in (("delivered", consumer.delivered), ("ack_floor", consumer.ack_floor)):
            if seqs is None:
                continue
            add(f"nats_consumer_{which}_stream_seq", seqs.stream_seq, "counter", c)
            add(f"nats_consumer_{which}_consumer_seq", seqs.consumer_seq, "counter", c)
            if seqs.last_active is not None:
                last = seqs.last_active
                if last.tzinfo is None:
                    last = last.replace(tzinfo=UTC)
                add(f"nats_consumer_{which}_last_active", last.timestamp(), "gauge", c)
                add(
                    f"nats_consumer_{which}_idle_seconds",
                    max(0.0, (now - last).total_seconds()),
                    "gauge",
                    c,
                )
    return rows


class _Stop:
    """Ctrl-C and SIGTERM while following: finish the batch in hand, then stop."""

    def __init__(self) -> None:
        self.event: asyncio.Event | None = None
        self.requested = False
        self._previous: dict[int, Any] = {}

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self.event = asyncio.Event()
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.getsignal(signum)
            loop.add_signal_handler(signum, self.request)

    def request(self) -> None:
        self.requested = True
        if self.event is not None:
            self.event.set()

    def remove(self, loop: asyncio.AbstractEventLoop) -> None:
        for signum, previous in self._previous.items():
            loop.remove_signal_handler(signum)
            signal.signal(signum, previous)


async def _connect(source: NatsSource, reconnected: asyncio.Event | None = None) -> Any:
    import nats
    from nats.errors import NoServersError

    where = describe(source.url)

    seen: list[BaseException] = []

    async def quiet(exc: Exception) -> None:
        # the client's own messages could carry the URL; say what happened, not where to
        seen.append(exc)
        log.debug("nats: %s", type(exc).__name__)

    async def note_disconnect() -> None:
        # also as the connection is closed at the end: the reconnection is said if it comes
        log.info("nats: disconnected from %s", where)

    async def note_reconnect() -> None:
        log.info("nats: reconnected to %s", where)
        if reconnected is not None:
            reconnected.set()

    options: dict[str, Any] = {
        "reconnected_cb": note_reconnect,
        "servers": [u.strip() for u in source.url.split(",")],
        "connect_timeout": source.connect_timeout,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1 if source.follow else 5,
        "reconnect_time_wait": 0.5,
        "error_cb": quiet,
        "disconnected_cb": note_disconnect,
        "name": "dvlab ingest",
    }
    if source.creds:
        options["user_credentials"] = source.creds
    if source.nkey:
        options["nkeys_seed"] = source.nkey
    if source.tls_ca or source.tls_cert:
        context = ssl.create_default_context(cafile=source.tls_ca)
        if source.tls_cert:
            context.load_cert_chain(source.tls_cert, source.tls_key)
        options["tls"] = context
    try:
        # a first connection that fails is said at once, even when following: a probe
        # without reconnection, then the connection kept, which reconnects as told
        probe = await asyncio.wait_for(
            nats.connect(
                **{
                    **options,
                    "allow_reconnect": False,
                    "max_reconnect_attempts": 1,
                    "disconnected_cb": None,
                    "reconnected_cb": None,
                }
            ),
            timeout=source.connect_timeout * 3,
        )
        # the client turns to TLS only where the server requires it: a tls:// URL to a
        # server that does not would be read in plain text, unasked
        plain = not getattr(probe, "_server_info", {}).get("tls_required")
        await probe.close()
        if not (plain and any(u.strip().startswith("tls://") for u in source.url.split(","))):
            return await asyncio.wait_for(
                nats.connect(**options), timeout=source.connect_timeout * 3
            )
    except (NoServersError, OSError, TimeoutError) as exc:
        cause = seen[-1] if seen else exc  # "no servers" says less than why
        raise SourceConnectError(f"{where}: cannot connect: {_reason(cause)}") from None
    except Exception as exc:  # the client's authorisation errors have no common base
        raise SourceConnectError(f"{where}: cannot connect: {_reason(exc)}") from None
    raise SourceConnectError(
        f"{where}: asked for TLS (tls://), but the server does not require it, and the "
        "connection would not be encrypted; give nats:// to connect without TLS"
    )


def _state_request(body: str, source: NatsSource) -> bool:
    """Whether the advisory ``body`` audits a request for the state of the stream or the
    consumer read (what dvlab asks each minute while following, and as a run ends):
    read-only, and an event each would bury the advisories worth reading."""
    try:
        advisory = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(advisory, dict)
        and str(advisory.get("type", "")).endswith(".api_audit")
        and advisory.get("subject")
        in (
            f"$JS.API.STREAM.INFO.{source.stream}",
            f"$JS.API.CONSUMER.INFO.{source.stream}.{source.consumer}",
        )
    )


def _ack_room(consumer: Any) -> int:
    """How many messages a batch may hold: a consumer that lets only so many await their
    acknowledgement (``max_ack_pending``) sends no more until a batch is stored and
    acknowledged, so a batch holds half of them, and the next is fetched meanwhile."""
    limit = getattr(getattr(consumer, "config", None), "max_ack_pending", None)
    return max(1, int(limit) // 2) if limit is not None and int(limit) > 0 else 1 << 62


def _created(stream: Any) -> str | None:
    """When ``stream`` (its info) was made, as UTC ISO 8601; None if the server says not."""
    created = getattr(stream, "created", None)
    if isinstance(created, datetime):
        return created.astimezone(UTC).isoformat()
    return None if created is None else str(created)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text.removeprefix("nats: ")
    return text or type(exc).__name__


async def _consumer(js: Any, source: NatsSource, start_after: int | None) -> Any:
    """The durable consumer, created (explicit acknowledgement) when it does not exist."""
    from nats.js import api
    from nats.js.errors import APIError, NotFoundError

    where = f"{describe(source.url)}: stream {source.stream}"
    try:
        stream = await js.stream_info(source.stream)
    except NotFoundError:
        raise SourceConnectError(f"{where}: no such stream") from None
    try:
        info = await js.consumer_info(source.stream, source.consumer)
        wanted = source.subject
        filters = getattr(info.config, "filter_subjects", None) or []
        has = info.config.filter_subject or ", ".join(filters) or None
        if has != wanted:
            # --subject left out would not say what the source is: part of the stream
            hint = (
                f"give --subject {has} to read what it reads, or another --durable"
                if has and not filters
                else "give another --durable"
            )
            raise BadInputError(
                f"--durable {source.consumer} reads {has or 'every subject'}, not "
                f"{wanted or 'every subject'}; {hint}"
            )
        if info.config.deliver_subject:
            raise BadInputError(
                f"--durable {source.consumer} is a push consumer; dvlab reads through a pull "
                "consumer (give a new name, and dvlab makes one)"
            )
        if info.config.ack_policy != api.AckPolicy.EXPLICIT:
            raise BadInputError(
                f"--durable {source.consumer} does not acknowledge each message on its own "
                f"(ack policy {info.config.ack_policy}): a killed run could lose messages it "
                "fetched and never stored; give a consumer with explicit acknowledgement (or "
                "a new name, and dvlab makes one)"
            )
        limit = info.config.max_deliver
        if limit is not None and limit > 0:
            raise BadInputError(
                f"--durable {source.consumer} gives up on a message after {limit} "
                f"deliver{'y' if limit == 1 else 'ies'} (max_deliver {limit}): messages a "
                "killed run fetched and never stored would not come again; give a consumer "
                "without that limit (or a new name, and dvlab makes one)"
            )
        return stream, info
    except NotFoundError:
        pass
    config = api.ConsumerConfig(
        durable_name=source.consumer,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=ACK_WAIT,
        max_ack_pending=-1,
        filter_subject=source.subject,
        description="dvlab ingest",
    )
    if start_after is not None:
        # the consumer was removed since the lab last read. What the lab holds has gaps
        # wherever a killed run fetched messages it never stored, so the new consumer reads
        # the stream from its start; events already stored are recognised and kept once
        log.info(
            "nats: consumer %s made again; reading %s from its start (stored events are skipped)",
            source.consumer,
            source.stream,
        )
    try:
        info = await js.add_consumer(source.stream, config)
    except APIError as exc:
        raise BadInputError(
            f"{where}: cannot make consumer {source.consumer}: {_reason(exc)}"
        ) from None
    return stream, info


async def _run(lab_path: Path, source: NatsSource, committer: _Committer, stop: _Stop) -> None:
    from nats.errors import ConnectionClosedError, NoRespondersError
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.errors import APIError

    loop = asyncio.get_running_loop()
    stop.install(loop)
    reconnected = asyncio.Event()
    nc = await _connect(source, reconnected)
    try:
        js = nc.jetstream()
        committer.position = committer.last_position()
        stream, consumer = await _consumer(js, source, committer.position)
        committer.stream_created = _created(stream)
        room = _ack_room(consumer)
        # --until-caught-up ends here: the stream's last sequence as the run starts, not the
        # end of a stream that keeps growing (a bound on the stream, not on the consumer's
        # subject: a later message on the subject shows the consumer has passed it)
        bound = int(stream.state.last_seq or 0)
        # the size of a message, as the stream's average says, then as the last fetch's do
        message_bytes = int(stream.state.bytes or 0) // max(1, int(stream.state.messages or 0))
        reached = False  # a message at or past the bound was fetched
        last_rounds = 0
        sub = await js.pull_subscribe_bind(durable=source.consumer, stream=source.stream)
        batch = _Batch()
        pipeline = _Pipeline(nc, committer)
        if source.advisories:

            async def advisory(msg: Any) -> None:
                body = msg.data.decode("utf-8", "replace")
                if not _state_request(body, source):
                    batch.advisories.append((msg.subject, body))

            await nc.subscribe(ADVISORY_SUBJECT, cb=advisory)
        last_health = time.monotonic()
        caught_up = False
        waiting: list[float] = []  # since when messages of a killed run have been awaited
        while True:
            if stop.requested:
                break
            if reconnected.is_set():
                # a restarted server knows the consumer but not this client's pull requests,
                # and a consumer deleted meanwhile is made again: bind afresh
                reconnected.clear()
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
                try:
                    again, consumer = await _consumer(js, source, committer.position)
                    await pipeline.drain()  # the batch under way is of the stream it was
                    committer.stream_created = _created(again)
                    room = _ack_room(consumer)
                    sub = await js.pull_subscribe_bind(
                        durable=source.consumer, stream=source.stream
                    )
                except (SourceConnectError, BadInputError):
                    raise  # the stream is gone, or the consumer cannot be made
                except Exception as exc:
                    log.info("nats: binding again failed (%s); retrying", type(exc).__name__)
                    reconnected.set()
                    await asyncio.sleep(0.5)
                    continue
            try:
                count = max(
                    1, min(source.fetch, room, source.fetch_bytes // max(1, message_bytes))
                )
                msgs = await sub.fetch(count, timeout=1.0 if source.follow else 0.5)
            except NatsTimeout:
                msgs = []
                if source.follow and await _consumer_gone(js, source):
                    reconnected.set()
                    continue
            except (ConnectionClosedError, NoRespondersError, APIError, OSError) as exc:
                if not source.follow and not nc.is_connected:
                    raise SourceConnectError(
                        f"{describe(source.url)}: lost the connection: {_reason(exc)}"
                    ) from None
                await asyncio.sleep(0.5)
                continue
            pending = None
            if msgs:
                message_bytes = sum(len(m.data) for m in msgs) // len(msgs)
            for msg in msgs:
                fields = _reply_fields(msg.reply or "")
                if fields is None:
                    continue  # a status message, not stream data
                delivered, sseq, published, pending = fields
                if sseq >= bound:
                    reached = True
                else:
                    waiting.clear()  # redeliveries are arriving: the wait starts again
                try:
                    payload = msg.data.decode("utf-8")
                except UnicodeDecodeError:
                    # bytes that are not text: kept whole, as base64 in a JSON object
                    payload = json.dumps({"base64": base64.b64encode(msg.data).decode()})
                headers = msg.headers
                if headers and any(k.lower() == "ce-specversion" for k in headers):
                    payload = _binary_cloudevent(headers, payload)
                if not batch.seq:
                    batch.started = time.monotonic()
                batch.seq.append(sseq)
                batch.subject.append(msg.subject)
                batch.published_us.append(published)
                batch.delivered.append(delivered)
                batch.headers.append(json.dumps(headers, ensure_ascii=False) if headers else None)
                batch.payload.append(payload)
                batch.every.append(msg)
                batch.size += len(msg.data)
            if not source.follow and (not msgs or pending == 0 or reached):
                # what is in hand is stored and acknowledged before the server is asked
                await pipeline.submit(batch, [])
                await pipeline.drain()
                batch = _Batch()
                try:
                    caught_up = await _caught_up(js, source, waiting, bound)
                except _Unfinished as exc:
                    committer.report.message = str(exc)
                    caught_up = True
                except _Gone:
                    reconnected.set()
                    continue
                if caught_up and last_rounds < LAST_ROUNDS:
                    # a pull request that expired as a fetch gave up can have brought more
                    # messages since: delivered to this run, they are taken and acknowledged
                    # now rather than left to come again after the acknowledgement wait
                    with contextlib.suppress(Exception):
                        await nc.flush(timeout=5)
                    if sub.pending_msgs:
                        last_rounds += 1
                        caught_up = False
                        continue
            due_health = source.follow and time.monotonic() - last_health >= source.health_every
            full = (
                len(batch) >= min(source.commit_rows, room)
                or batch.size >= source.commit_bytes
                or (len(batch) and time.monotonic() - batch.started >= source.commit_seconds)
            )
            if full or caught_up or due_health or (batch.advisories and not batch.seq):
                health: list[dict[str, Any]] = []
                if due_health or caught_up:
                    health = await _health_rows(js, source)
                    last_health = time.monotonic()
                await pipeline.submit(batch, health)
                batch = _Batch()
            if caught_up:
                await pipeline.drain()
                return
        # stopped on request: keep what was fetched, and the state of things
        health = await _health_rows(js, source) if nc.is_connected else []
        await pipeline.submit(batch, health)
        await pipeline.drain()
    finally:
        stop.remove(loop)
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(nc.close(), timeout=5)


async def _caught_up(js: Any, source: NatsSource, waiting: list[float], bound: int) -> bool:
    """Whether every message of the consumer up to stream sequence ``bound`` is delivered
    and acknowledged: nothing is pending, or the consumer has delivered ``bound`` or
    later; and nothing awaits acknowledgement, or nothing up to ``bound`` does (the
    acknowledgement floor). Messages delivered to a run that died come back after the
    consumer's acknowledgement wait; they are waited for that long (and a little more),
    then left to the next run."""
    from nats.errors import Error as NatsError
    from nats.js.errors import NotFoundError

    try:
        info = await js.consumer_info(source.stream, source.consumer)
    except NotFoundError:
        raise _Gone from None
    except (NatsError, OSError, TimeoutError):
        return False
    delivered = info.delivered.stream_seq if info.delivered is not None else 0
    if info.num_pending and (delivered or 0) < bound:
        return False
    floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
    if not info.num_ack_pending or (floor or 0) >= bound:
        return True
    if not waiting:
        waiting.append(time.monotonic())
        log.info(
            "nats: %d message(s) fetched earlier and never acknowledged; waiting for them",
            info.num_ack_pending,
        )
    patience = float(info.config.ack_wait or ACK_WAIT) + 10.0
    if time.monotonic() - waiting[0] > patience:
        raise _Unfinished(
            f"{info.num_ack_pending} message(s) another reader fetched are not delivered "
            "again yet (a run that is still going, or one killed within the "
            "acknowledgement wait); run again to take them"
        )
    return False


async def _consumer_gone(js: Any, source: NatsSource) -> bool:
    """Whether the consumer (or its stream) no longer exists on the server."""
    from nats.errors import Error as NatsError
    from nats.js.errors import NotFoundError

    try:
        await js.consumer_info(source.stream, source.consumer)
    except NotFoundError:
        log.info("nats: consumer %s is gone; making it again", source.consumer)
        return True
    except (NatsError, OSError, TimeoutError):
        return False
    return False


class _Gone(Exception):
    """The consumer was deleted while the run went on."""


class _Unfinished(Exception):
    """The consumer holds messages this run could not get: said in the summary."""


async def _health_rows(js: Any, source: NatsSource) -> list[dict[str, Any]]:
    from nats.errors import Error as NatsError

    try:
        stream = await js.stream_info(source.stream)
        consumer = await js.consumer_info(source.stream, source.consumer)
    except (NatsError, OSError, TimeoutError):
        return []
    return _health(stream, consumer, source)


class _Pipeline:
    """Commits one batch in a worker thread while the next is fetched; a batch's messages
    are acknowledged once its commit is done, and batches commit one after another."""

    def __init__(self, nc: Any, committer: _Committer):
        self.nc = nc
        self.committer = committer
        self.running: asyncio.Future[None] | None = None

    async def submit(self, batch: _Batch, health: list[dict[str, Any]]) -> None:
        await self.drain()
        if not len(batch) and not health and not batch.advisories:
            return
        self.running = asyncio.ensure_future(self._commit_and_ack(batch, health))

    async def _commit_and_ack(self, batch: _Batch, health: list[dict[str, Any]]) -> None:
        try:
            await asyncio.to_thread(self.committer.commit, batch, health)
        except BadInputError:
            # refused (--strict): given back at once, for the next run to read again
            with contextlib.suppress(Exception):
                for msg in batch.every:
                    await msg.nak()
                await self.nc.flush(timeout=5)
            raise
        # only now that the lab holds them, and at once (an idle stream sends no next batch
        # to wait for, and the server would deliver them again)
        try:
            for msg in batch.every:
                await msg.ack()
            await self.nc.flush(timeout=5)
        except Exception as exc:  # redelivered later, and stored once: nothing is lost
            log.info("nats: acknowledgement not sent (%s); the batch will be redelivered", exc)

    async def drain(self) -> None:
        """Wait for the commit (and acknowledgement) under way; its error is raised here."""
        if self.running is None:
            return
        running, self.running = self.running, None
        await running


def ingest(lab_path: Path, source: NatsSource, options: IngestOptions) -> IngestSummary:
    """Read ``source`` into the lab (see the module docstring)."""
    if not source.stream:
        raise BadInputError("a nats:// source needs --stream NAME")
    for option, name in (("--stream", source.stream), ("--durable", source.durable)):
        if name is not None and not _NAME.fullmatch(name):
            raise BadInputError(
                f"{option} {name!r}: a JetStream name has no spaces, dots, * or > and is not empty"
            )
    if source.subject is not None and not _SUBJECT.fullmatch(source.subject):
        raise BadInputError(
            f"--subject {source.subject!r}: a subject is tokens without spaces, joined by dots "
            "(* for one token, > for the rest)"
        )
    for option, path in (
        ("--creds", source.creds),
        ("--nkey", source.nkey),
        ("--tls-ca", source.tls_ca),
        ("--tls-cert", source.tls_cert),
        ("--tls-key", source.tls_key),
    ):
        if path is not None and not Path(path).is_file():
            raise BadInputError(f"{option} {path}: no such file")
    from nats.errors import Error as NatsError

    committer = _Committer(lab_path, source, options)
    stop = _Stop()
    try:
        asyncio.run(_run(lab_path, source, committer, stop))
    except DvlabError:
        raise
    except ssl.SSLError as exc:
        raise BadInputError(
            f"{describe(source.url)}: the TLS files given cannot be used: {_reason(exc)}"
        ) from None
    except (NatsError, TimeoutError, ConnectionError) as exc:
        # the connection went and did not come back: which source, then why
        raise SourceConnectError(
            f"{describe(source.url)}: stream {source.stream}: {_reason(exc)}"
        ) from None
    finally:
        committer.close()
    committer.summary.finished = datetime.now(UTC)
    if stop.requested and not source.follow:
        # what was fetched is stored; the run did not get to the end of the stream
        raise KeyboardInterrupt
    return committer.summary


_NAME = re.compile(r"[^\s.*>/\\]+")
_SUBJECT = re.compile(r"[^\s.]+(\.[^\s.]+)*")


__all__ = ["NatsSource", "describe", "ingest", "is_url"]
