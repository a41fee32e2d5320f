"""Put a written simulation where the live platform keeps its data.

``--to-postgres DSN`` loads the task tables into PostgreSQL as a control
plane would hold them (``tasks`` keyed by ``task_id`` with an ``updated_at``
column, ``task_transitions`` keyed by a sequence ``id``), with ``COPY`` from
the export's CSV files. Loading the same run again changes nothing: rows
are upserted by their keys. Loading another run into a schema that holds one
is refused when their transitions' ids meet (they would overwrite each other).

``--to-nats URL`` publishes the JetStream export into a stream, each stream
message once (a line the export marks as a redelivery is a consumer's
second delivery, not a message), with the export's subject, headers and
payload. Publishing the same run again stores nothing new: the
``Nats-Msg-Id`` header lets the server drop the copies, within the stream's
duplicate window.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dvlab.errors import BadInputError, SourceConnectError
from dvlab.simulate.export import STREAM, TASK_COLUMNS, TRANSITION_COLUMNS

_TYPES = {
    "attempt": "integer",
    "seq": "integer",
    "id": "bigint",
    "created_at": "timestamptz",
    "started_at": "timestamptz",
    "finished_at": "timestamptz",
    "updated_at": "timestamptz",
    "at": "timestamptz",
}
_KEYS = {"tasks": ("task_id",), "task_transitions": ("id",)}
_COLUMNS = {"tasks": TASK_COLUMNS, "task_transitions": TRANSITION_COLUMNS}

#: the prefix of the export's subjects (``dv.<site>.<service>.<type>``)
SUBJECT_PREFIX = "dv"


def to_postgres(
    out: Path, dsn: str, schema: str = "public", *, run: str | None = None
) -> dict[str, int]:
    """Load ``out/tasks/*.csv`` into ``schema.tasks`` and ``schema.task_transitions``;
    returns the rows each table holds afterwards. ``run`` (see :func:`run.identity`) is
    noted on the ``tasks`` table (unless it bears a comment of another's), so that
    :func:`check_targets` refuses another run's there before it is simulated."""
    from psycopg import sql

    from dvlab.live import pgconn

    counts: dict[str, int] = {}
    conn = pgconn.connect(dsn, purpose="dvlab simulate")
    try:
        with conn.transaction():
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            for table, columns in _COLUMNS.items():
                target = sql.Identifier(schema, table)
                keys = _KEYS[table]
                definition = sql.SQL(", ").join(
                    sql.SQL("{} {}").format(
                        sql.Identifier(c),
                        sql.SQL(_TYPES.get(c, "text")),  # type: ignore[arg-type]
                    )
                    for c in columns
                )
                conn.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))").format(
                        target, definition, sql.SQL(", ").join(map(sql.Identifier, keys))
                    )
                )
                _refuse_other_columns(conn, schema, table, columns)
                if "updated_at" in columns:
                    conn.execute(
                        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (updated_at)").format(
                            sql.Identifier(f"{table}_updated_at"), target
                        )
                    )
                conn.execute(
                    sql.SQL(
                        "CREATE TEMP TABLE incoming (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP"
                    ).format(target)
                )
                names = sql.SQL(", ").join(map(sql.Identifier, columns))
                with (
                    conn.cursor().copy(
                        sql.SQL(
                            "COPY incoming ({}) FROM STDIN WITH (FORMAT csv, HEADER true)"
                        ).format(names)
                    ) as copy,
                    open(out / "tasks" / f"{table}.csv", "rb") as fh,
                ):
                    while block := fh.read(1 << 20):
                        copy.write(block)
                if keys == ("id",):
                    # a sequence id says nothing of the run: another run's rows of the same
                    # ids would be overwritten, and that run's tasks lose their history
                    other = conn.execute(
                        sql.SQL(
                            "SELECT t.id, t.task_id, i.task_id FROM {} AS t JOIN incoming AS i "
                            "USING (id) WHERE t.task_id IS DISTINCT FROM i.task_id LIMIT 1"
                        ).format(target)
                    ).fetchall()
                    if other:
                        number, held, given = other[0]
                        raise BadInputError(
                            f"{schema}.{table} holds another simulation's rows (id {number} is "
                            f"task {held} there, {given} in this one): loading this one would "
                            "overwrite them; give another --pg-schema"
                        )
                updates = sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                    for c in columns
                    if c not in keys
                )
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} ({}) SELECT {} FROM incoming "
                        "ON CONFLICT ({}) DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})"
                    ).format(
                        target,
                        names,
                        names,
                        sql.SQL(", ").join(map(sql.Identifier, keys)),
                        updates,
                        sql.SQL(", ").join(
                            sql.SQL("{}.{}").format(sql.Identifier(table), sql.Identifier(c))
                            for c in columns
                        ),
                        sql.SQL(", ").join(
                            sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in columns
                        ),
                    )
                )
                conn.execute("DROP TABLE incoming")
                counts[table] = int(
                    conn.execute(sql.SQL("SELECT count(*) FROM {}").format(target)).fetchall()[0][
                        0
                    ]
                )
            noted = _noted(conn, schema)
            if run is not None and (noted is None or noted == "" or noted.startswith(_RUN_NOTE)):
                conn.execute(
                    sql.SQL("COMMENT ON TABLE {} IS {}").format(
                        sql.Identifier(schema, "tasks"), sql.Literal(_RUN_NOTE + run)
                    )
                )
    except SourceConnectError:
        raise
    except Exception as exc:
        import psycopg

        if isinstance(exc, psycopg.Error):
            raise pgconn.error(exc, dsn, "loading the task tables") from None
        raise
    finally:
        conn.close()
    return counts


def _messages(out: Path, prefix: str) -> Iterator[tuple[str, dict[str, str], bytes]]:
    path = out / "events" / "workflow-events.jsonl"
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                raise BadInputError("not a JSON line", source=str(path), line=number) from None
            if int(message.get("delivered", 1)) > 1:
                continue
            subject = str(message["subject"])
            if prefix != SUBJECT_PREFIX and subject.startswith(SUBJECT_PREFIX + "."):
                subject = prefix + subject[len(SUBJECT_PREFIX) :]
            body = json.dumps(message["data"], separators=(",", ":"), ensure_ascii=False)
            yield subject, dict(message.get("headers") or {}), body.encode()


def check_targets(
    *,
    nats_url: str | None = None,
    stream: str = STREAM,
    prefix: str = SUBJECT_PREFIX,
    pg_dsn: str | None = None,
    schema: str = "public",
    run: str | None = None,
) -> None:
    """Refuse, before a run is simulated, a stream or schema name that cannot be one, a
    server that does not answer, and a schema whose task table holds rows of another
    ``run`` (as :func:`to_postgres` noted it) or of none it noted, or lacks columns a run
    writes: the run's folder would be written and then left (another try needs another
    --out)."""
    if nats_url is not None:
        if not stream or any(c in stream for c in " \t\r\n.*>/\\"):
            raise BadInputError(
                f"--nats-stream {stream!r} is not a stream name: give one without blanks, "
                "dots, *, > or slashes"
            )
        tokens = prefix.split(".")
        if not all(tokens) or any(c in prefix for c in " \t\r\n*>"):
            raise BadInputError(
                f"--nats-prefix {prefix!r} is not a subject prefix: give tokens joined by "
                "dots, none empty, without blanks, * or >"
            )
        asyncio.run(_reach_nats(nats_url, stream, prefix))
    if pg_dsn is not None:
        if not schema:
            raise BadInputError("--pg-schema is empty: give a schema name")
        if schema.lower().startswith("pg_") or schema.lower() == "information_schema":
            raise BadInputError(
                f"--pg-schema {schema}: a schema PostgreSQL keeps for itself; give another"
            )
        if len(schema.encode("utf-8")) > 63:
            raise BadInputError(
                f"--pg-schema {schema}: longer than PostgreSQL keeps a name (63 bytes); "
                "give a shorter one"
            )
        from dvlab.live import pgconn

        conn = pgconn.connect(pg_dsn, purpose="dvlab simulate", autocommit=True)
        try:
            _check_schema(conn, schema, run)
        finally:
            conn.close()


#: how a task table a simulation was loaded into says which (a comment on it)
_RUN_NOTE = "dvlab simulate: "


def _noted(conn: Any, schema: str) -> str | None:
    """The comment on ``schema.tasks``; None when there is no such table."""
    found = conn.execute(
        "SELECT to_regclass(format('%%I.%%I', %s::text, 'tasks')) IS NOT NULL, "
        "obj_description(to_regclass(format('%%I.%%I', %s::text, 'tasks')), 'pg_class')",
        [schema, schema],
    ).fetchall()[0]
    return str(found[1] or "") if found[0] else None


def _refuse_other_columns(conn: Any, schema: str, table: str, columns: Sequence[str]) -> None:
    """Refuse ``schema.table`` when it exists without all of ``columns``."""
    present = {
        str(r[0])
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            [schema, table],
        ).fetchall()
    }
    missing = [c for c in columns if c not in present]
    if present and missing:
        raise BadInputError(
            f"{schema}.{table} exists without the column(s) {', '.join(missing)} a "
            "simulation writes; give another --pg-schema"
        )


def _check_schema(conn: Any, schema: str, run: str | None) -> None:
    from psycopg import sql

    noted = _noted(conn, schema)
    if noted is None or run is None:
        return
    for table, columns in _COLUMNS.items():
        _refuse_other_columns(conn, schema, table, columns)
    if noted == _RUN_NOTE + run:
        return
    if noted.startswith(_RUN_NOTE):
        raise BadInputError(
            f"--pg-schema {schema} holds another simulation ({noted.removeprefix(_RUN_NOTE)}): "
            "loading this one would overwrite its rows; give another --pg-schema"
        )
    held = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(schema, "tasks"))
    ).fetchall()[0][0]
    if held:
        raise BadInputError(
            f"--pg-schema {schema}: its tasks table holds rows no simulation noted there (of "
            "its own, or loaded before runs were noted): loading one would mix with them; "
            "give another --pg-schema"
        )


async def _reach_nats(url: str, stream: str, prefix: str) -> None:
    """Refuse a server that does not answer, a stream that does not take ``prefix.>``,
    and, for a stream to be made, one whose subjects another stream's overlap."""
    from nats.js.errors import NotFoundError

    from dvlab.live import natsingest

    nc = await natsingest._connect(natsingest.NatsSource(url=url, stream=stream))
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            info = None
        if info is not None:
            subjects = list(info.config.subjects or [])
            if not any(_covers(s, prefix) for s in subjects):
                raise BadInputError(
                    f"--nats-stream {stream} takes {', '.join(subjects) or 'no subjects'}, not "
                    f"{prefix}.>: give an --nats-prefix it takes, or another stream"
                )
            return
        for other in await js.streams_info():
            clash = [s for s in other.config.subjects or [] if _overlap(s, f"{prefix}.>")]
            if clash:
                raise BadInputError(
                    f"--nats-stream {stream} would be made on {prefix}.>, which stream "
                    f"{other.config.name} takes ({', '.join(clash)}): give another "
                    "--nats-prefix, or --nats-stream " + str(other.config.name)
                )
    finally:
        await nc.close()


def _covers(pattern: str, prefix: str) -> bool:
    """Whether every subject ``prefix.…`` matches the subject pattern ``pattern``."""
    tokens, fixed = pattern.split("."), prefix.split(".")
    for i, token in enumerate(tokens):
        if token == ">":
            return i <= len(fixed)
        if i >= len(fixed) or token not in ("*", fixed[i]):
            return False
    return False


def _overlap(a: str, b: str) -> bool:
    """Whether some subject matches both subject patterns."""
    left, right = a.split("."), b.split(".")
    for x, y in zip(left, right, strict=False):
        if ">" in (x, y):
            return True
        if "*" not in (x, y) and x != y:
            return False
    return len(left) == len(right)


def to_nats(
    out: Path, url: str, *, stream: str = STREAM, prefix: str = SUBJECT_PREFIX
) -> dict[str, int]:
    """Publish the export's messages into ``stream`` (created, on ``PREFIX.>``, when missing);
    returns the messages sent and those the stream holds afterwards."""
    from nats.errors import Error as NatsError

    from dvlab.live.natsingest import describe

    try:
        return asyncio.run(_publish(out, url, stream, prefix))
    except NatsError as exc:
        reason = str(exc).removeprefix("nats: ") or type(exc).__name__
        hint = f" (does the stream take subjects {prefix}.>?)" if "responders" in reason else ""
        raise SourceConnectError(
            f"{describe(url)}: publishing to stream {stream}: {reason}{hint}"
        ) from None


def _check_room(out: Path, prefix: str, stream: str, info: Any, max_payload: int) -> None:
    """Refuse, before one is sent, messages the stream or the server would not all take:
    one larger than either allows, or more than a stream that turns new ones away holds."""
    count = size = largest = 0
    for _subject, _headers, body in _messages(out, prefix):
        count, size, largest = count + 1, size + len(body), max(largest, len(body))
    config = info.config
    limits = [("the server's max_payload", max_payload)]
    limits.append((f"stream {stream}'s max_msg_size", int(config.max_msg_size or -1)))
    for what, limit in limits:
        if 0 < limit < largest:
            raise BadInputError(
                f"the largest message is {largest:,} bytes, more than {what} ({limit:,}); "
                "nothing was published"
            )
    if str(getattr(config.discard, "value", config.discard)) == "new":
        state = info.state
        for what, limit, held, adding in (
            ("messages", config.max_msgs, state.messages, count),
            ("bytes", config.max_bytes, state.bytes, size),
        ):
            if limit is not None and 0 < limit < (held or 0) + adding:
                raise BadInputError(
                    f"stream {stream} turns new messages away past {limit:,} {what} and holds "
                    f"{held or 0:,}: the run's {adding:,} would not all fit; nothing was published"
                )


async def _publish(out: Path, url: str, stream: str, prefix: str) -> dict[str, int]:
    from nats.js.errors import NotFoundError

    from dvlab.live import natsingest

    source = natsingest.NatsSource(url=url, stream=stream)
    nc = await natsingest._connect(source)
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            info = await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
        _check_room(out, prefix, stream, info, int(nc.max_payload or 0))
        sent = 0
        pending: list[Any] = []
        for subject, headers, body in _messages(out, prefix):
            # acknowledged publishes, many in flight at once
            pending.append(asyncio.ensure_future(js.publish(subject, body, headers=headers)))
            sent += 1
            if len(pending) >= 256:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
        info = await js.stream_info(stream)
        return {"sent": sent, "stream": int(info.state.messages)}
    finally:
        await nc.close()
