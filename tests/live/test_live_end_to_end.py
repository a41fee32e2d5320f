"""A simulated scenario pushed into PostgreSQL and JetStream and pulled back gives the same
``tasks``, ``task_transitions`` and ``events`` as ingesting the scenario's files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import psycopg
import psycopg.sql
import pytest

from dvlab.cli import main
from dvlab.errors import BadInputError
from tests.live.natsfix import Stream

PROVENANCE = "source, line, ingest_id"
#: what describes one delivery from one stream rather than the event: the stream's name and
#: sequence, when the server got it, how often this consumer got it, the subject's prefix
TRANSPORT = "stream, seq, published, deliveries, subject"


def differences(files: Path, live: Path, table: str, exclude: str) -> tuple[int, int, int, int]:
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{files}' AS f (READ_ONLY)")
        con.execute(f"ATTACH '{live}' AS l (READ_ONLY)")
        side = f"SELECT * EXCLUDE ({exclude}) FROM {{}}.{table}"
        only_files = con.execute(
            f"SELECT count(*) FROM ({side.format('f')} EXCEPT ALL {side.format('l')})"
        ).fetchall()[0][0]
        only_live = con.execute(
            f"SELECT count(*) FROM ({side.format('l')} EXCEPT ALL {side.format('f')})"
        ).fetchall()[0][0]
        counts = con.execute(
            f"SELECT (SELECT count(*) FROM f.{table}), (SELECT count(*) FROM l.{table})"
        ).fetchall()[0]
        return only_files, only_live, counts[0], counts[1]
    finally:
        con.close()


@pytest.mark.slow
def test_pushed_and_pulled_back_equals_the_files(
    pg_dsn: str, scratch_schema: str, stream: Stream, tmp_path: Path
) -> None:
    out = tmp_path / "sim"
    assert (
        main(
            [
                "simulate",
                "--scenario",
                "nett-outage",
                "--seed",
                "5",
                "--duration",
                "40m",
                "--out",
                str(out),
                "--to-postgres",
                pg_dsn,
                "--pg-schema",
                scratch_schema,
                "--to-nats",
                stream.url,
                "--nats-stream",
                stream.name,
                "--nats-prefix",
                stream.prefix,
            ]
        )
        == 0
    )
    files, live = tmp_path / "files.duckdb", tmp_path / "live.duckdb"
    tasks = out / "tasks"
    assert (
        main(
            [
                "--db",
                str(files),
                "ingest",
                str(out / "events"),
                str(tasks / "tasks.csv"),
                str(tasks / "task_transitions.csv"),
            ]
        )
        == 0
    )
    pulls = [
        [pg_dsn, "--table", f"{scratch_schema}.tasks"],
        [pg_dsn, "--table", f"{scratch_schema}.task_transitions", "--watermark", "id"],
        [stream.url, "--stream", stream.name, "--durable", stream.durable()],
    ]
    for pull in pulls:
        assert main(["--db", str(live), "ingest", *pull]) == 0
    for table, exclude in (
        ("tasks", PROVENANCE),
        ("task_transitions", PROVENANCE),
        ("events", f"{PROVENANCE}, {TRANSPORT}"),
    ):
        only_files, only_live, in_files, in_live = differences(files, live, table, exclude)
        assert in_files > 100, (table, in_files)
        assert (only_files, only_live, in_live) == (0, 0, in_files), table
    # the subjects differ in their first token only
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{files}' AS f (READ_ONLY)")
        con.execute(f"ATTACH '{live}' AS l (READ_ONLY)")
        assert con.execute(
            "SELECT count(*) FROM f.events a JOIN l.events b USING (event_id) "
            "WHERE a.subject <> regexp_replace(b.subject, '^[^.]+', 'dv')"
        ).fetchall() == [(0,)]
    finally:
        con.close()
    # a second pull finds nothing new and changes nothing
    for pull in pulls:
        assert main(["--db", str(live), "ingest", *pull]) == 0
    for table in ("tasks", "task_transitions"):
        assert differences(files, live, table, PROVENANCE)[:2] == (0, 0)


@pytest.mark.slow
def test_loading_the_same_run_again_changes_nothing(
    pg_dsn: str, scratch_schema: str, tmp_path: Path
) -> None:
    from dvlab.simulate.push import to_postgres
    from dvlab.simulate.run import simulate

    out = tmp_path / "sim"
    simulate(out, scenario="baseline", seed=2, duration=timedelta(minutes=20))
    first = to_postgres(out, pg_dsn, scratch_schema)
    lab = tmp_path / "lab.duckdb"
    assert main(["--db", str(lab), "ingest", pg_dsn, "--table", f"{scratch_schema}.tasks"]) == 0
    assert to_postgres(out, pg_dsn, scratch_schema) == first
    assert main(["--db", str(lab), "ingest", pg_dsn, "--table", f"{scratch_schema}.tasks"]) == 0
    con = duckdb.connect(str(lab), read_only=True)
    try:
        statuses = con.execute(
            "SELECT status, rows_loaded FROM ingests ORDER BY ingest_id"
        ).fetchall()
    finally:
        con.close()
    assert statuses == [("loaded", first["tasks"]), ("unchanged", 0)]


def test_a_schema_holding_another_tasks_table_is_refused(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, tmp_path: Path
) -> None:
    from dvlab.simulate.push import to_postgres
    from dvlab.simulate.run import simulate

    pg.execute(
        psycopg.sql.SQL("CREATE TABLE {} (task_id text PRIMARY KEY, owner text)").format(
            psycopg.sql.Identifier(scratch_schema, "tasks")
        )
    )
    pg.execute(
        psycopg.sql.SQL("INSERT INTO {} VALUES ('t-1', 'someone')").format(
            psycopg.sql.Identifier(scratch_schema, "tasks")
        )
    )
    out = tmp_path / "sim"
    simulate(out, scenario="baseline", seed=2, duration=timedelta(minutes=20))

    with pytest.raises(BadInputError, match=rf"{scratch_schema}\.tasks exists without the column"):
        to_postgres(out, pg_dsn, scratch_schema)

    assert pg.execute(
        psycopg.sql.SQL("SELECT task_id, owner FROM {}").format(
            psycopg.sql.Identifier(scratch_schema, "tasks")
        )
    ).fetchall() == [("t-1", "someone")]


def test_another_run_into_a_schema_holding_one_is_refused(
    pg_dsn: str, pg: psycopg.Connection, scratch_schema: str, tmp_path: Path
) -> None:
    """Both runs number their transitions from 1: the second would overwrite the first's."""
    from dvlab.simulate.push import to_postgres
    from dvlab.simulate.run import simulate

    first, second = tmp_path / "first", tmp_path / "second"
    simulate(first, scenario="baseline", seed=2, duration=timedelta(minutes=20))
    simulate(second, scenario="baseline", seed=5, duration=timedelta(minutes=20))
    held = to_postgres(first, pg_dsn, scratch_schema)
    transitions = psycopg.sql.Identifier(scratch_schema, "task_transitions")
    before = pg.execute(
        psycopg.sql.SQL("SELECT id, task_id, seq FROM {} ORDER BY id").format(transitions)
    ).fetchall()
    # the CSV's own rows, counted apart from the loader
    written = (first / "tasks" / "task_transitions.csv").read_text("utf-8").count("\n") - 1
    assert held["task_transitions"] == len(before) == written

    with pytest.raises(BadInputError, match=r"holds another simulation's rows .* --pg-schema"):
        to_postgres(second, pg_dsn, scratch_schema)

    assert (
        pg.execute(
            psycopg.sql.SQL("SELECT id, task_id, seq FROM {} ORDER BY id").format(transitions)
        ).fetchall()
        == before
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nats-stream", "BAD.NAME"], "--nats-stream 'BAD.NAME' is not a stream name"),
        (["--nats-stream", ""], "--nats-stream '' is not a stream name"),
        (["--nats-prefix", "dv..x"], "--nats-prefix 'dv..x' is not a subject prefix"),
    ],
)
def test_a_bad_stream_name_is_refused_before_anything_is_written(
    nats_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    out = tmp_path / "sim"
    simulate = ["simulate", "--scenario", "baseline", "--seed", "1", "--duration", "20m"]
    code = main([*simulate, "--out", str(out), "--to-nats", nats_url, *args])

    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_stream_that_would_not_take_the_messages_is_refused_before_anything_is_written(
    stream: Stream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing stream on other subjects, or a new one whose subjects another stream's
    overlap: the run had been simulated and written first, then refused."""
    out = tmp_path / "sim"
    simulate = ["simulate", "--scenario", "baseline", "--seed", "1", "--duration", "20m"]
    target = ["--out", str(out), "--to-nats", stream.url]

    other = main([*simulate, *target, "--nats-stream", stream.name, "--nats-prefix", "dvt.zz"])
    other_err = capsys.readouterr().err
    inner = f"{stream.prefix}.inner"
    taken = main([*simulate, *target, "--nats-stream", "DVT_NEVER_MADE", "--nats-prefix", inner])
    taken_err = capsys.readouterr().err

    assert (other, taken) == (2, 2)
    assert f"--nats-stream {stream.name} takes {stream.prefix}.>, not dvt.zz.>" in other_err
    assert (
        f"--nats-stream DVT_NEVER_MADE would be made on {inner}.>, which stream {stream.name} "
        f"takes ({stream.prefix}.>)"
    ) in taken_err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("pattern", "prefix", "covered"),
    [("dv.>", "dv.sim", True), ("dv.sim.>", "dv.sim", True), (">", "a", True),
     ("dv.*.>", "dv.sim", True), ("dv.*", "dv.sim", False), ("dv.sim", "dv.sim", False),
     ("dv.sim.x.>", "dv.sim", False), ("ev.>", "dv", False)],
)  # fmt: skip
def test_which_stream_subjects_take_every_subject_under_a_prefix(
    pattern: str, prefix: str, covered: bool
) -> None:
    from dvlab.simulate.push import _covers

    assert _covers(pattern, prefix) is covered


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [("dv.>", "dv.sim.>", True), ("dv.*.x", "dv.sim.>", True), ("a.b", "a.*", True),
     ("a.b", "a.c", False), ("a.b", "a.b.c", False), ("a.*", "a.b.c", False)],
)  # fmt: skip
def test_which_subject_patterns_meet(a: str, b: str, overlap: bool) -> None:
    from dvlab.simulate.push import _overlap

    assert _overlap(a, b) is overlap


def test_an_unreachable_server_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # port 9 on the loopback: nothing listens there
    out = tmp_path / "sim"
    simulate = ["simulate", "--scenario", "baseline", "--seed", "1", "--duration", "20m"]
    for target in (
        ["--to-nats", "nats://127.0.0.1:9"],
        ["--to-postgres", "postgresql://127.0.0.1:9/x"],
    ):
        code = main([*simulate, "--out", str(out), *target])
        assert code == 2, target
        assert "127.0.0.1:9" in capsys.readouterr().err
        assert list(tmp_path.iterdir()) == []


def test_a_schema_named_in_capitals_is_shown_as_table_takes_it(
    pg_dsn: str, pg: psycopg.Connection, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """PostgreSQL folds a bare name: the schema Dv... is written "Dv..." for --table."""
    from tests.live.conftest import unique_name

    schema = "Dv" + unique_name()
    try:
        out = tmp_path / "sim"
        simulate = ["simulate", "--scenario", "baseline", "--seed", "1", "--duration", "20m"]
        pushed = ["--to-postgres", pg_dsn, "--pg-schema", schema]
        assert main([*simulate, "--out", str(out), *pushed]) == 0
        assert f'schema "{schema}"' in capsys.readouterr().out
        lab = tmp_path / "lab.duckdb"
        assert main(["--db", str(lab), "ingest", pg_dsn, "--table", f'"{schema}".tasks']) == 0
    finally:
        pg.execute(
            psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                psycopg.sql.Identifier(schema)
            )
        )


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("information_schema", "a schema PostgreSQL keeps for itself"),
        ("pg_catalog", "a schema PostgreSQL keeps for itself"),
        ("s" * 64, "longer than PostgreSQL keeps a name (63 bytes)"),
    ],
)
def test_a_schema_postgresql_keeps_or_cuts_is_refused_before_the_run(
    pg_dsn: str,
    pg: psycopg.Connection,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    schema: str,
    message: str,
) -> None:
    out = tmp_path / "sim"
    simulate = ["simulate", "--scenario", "baseline", "--seed", "1", "--duration", "20m"]
    try:
        code = main([*simulate, "--out", str(out), "--to-postgres", pg_dsn, "--pg-schema", schema])
    finally:
        # what a run that went ahead would have made there
        held = schema[:63]
        for table in ("tasks", "task_transitions"):
            pg.execute(
                psycopg.sql.SQL("DROP TABLE IF EXISTS {}").format(
                    psycopg.sql.Identifier(held, table)
                )
            )
        if held not in ("information_schema", "pg_catalog"):
            pg.execute(
                psycopg.sql.SQL("DROP SCHEMA IF EXISTS {}").format(psycopg.sql.Identifier(held))
            )

    assert code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("limits", "said"),
    [
        ({"max_msg_size": 100}, "more than stream {name}'s max_msg_size (100); nothing was"),
        (
            {"max_msgs": 5, "discard": "new"},
            "stream {name} turns new messages away past 5 messages and holds 0",
        ),
    ],
)
def test_a_stream_that_would_not_take_every_message_is_refused_before_one_is_sent(
    nats_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], limits: dict, said: str
) -> None:
    """It had published what fitted, then failed asking whether the stream took the subjects."""
    import asyncio
    import uuid

    import nats
    from nats.js import api

    name, prefix = f"DVT_LIM_{uuid.uuid4().hex[:8]}", f"dvtlim{uuid.uuid4().hex[:8]}"

    async def make() -> None:
        nc = await nats.connect(nats_url)
        try:
            extra = {**limits, "discard": api.DiscardPolicy(limits.get("discard", "old"))}
            await nc.jetstream().add_stream(name=name, subjects=[f"{prefix}.>"], **extra)
        finally:
            await nc.close()

    async def held() -> int:
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            count = int((await js.stream_info(name)).state.messages)
            await js.delete_stream(name)
            return count
        finally:
            await nc.close()

    asyncio.run(make())
    out = tmp_path / "sim"
    code = main(["simulate", "--scenario", "baseline", "--seed", "1", "--duration", "20m",
                 "--out", str(out), "--to-nats", nats_url, "--nats-stream", name,
                 "--nats-prefix", prefix])  # fmt: skip
    err = capsys.readouterr().err

    assert (code, asyncio.run(held())) == (2, 0)
    assert said.format(name=name) in err


def test_another_run_into_a_schema_is_refused_before_it_is_simulated(
    pg_dsn: str, scratch_schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The schema says which run it holds: another is refused before its folder is written
    (it had been refused after, its folder left, and a second try refused as that folder
    was not empty). The same run again is taken, and changes nothing."""
    simulate = ["simulate", "--scenario", "baseline", "--duration", "20m"]
    pushed = ["--to-postgres", pg_dsn, "--pg-schema", scratch_schema]
    assert main([*simulate, "--seed", "2", "--out", str(tmp_path / "a"), *pushed]) == 0
    capsys.readouterr()

    code = main([*simulate, "--seed", "5", "--out", str(tmp_path / "b"), *pushed])

    err = capsys.readouterr().err
    assert code == 2
    assert f"--pg-schema {scratch_schema} holds another simulation (baseline, seed 2," in err
    assert not (tmp_path / "b").exists()
    assert main([*simulate, "--seed", "2", "--out", str(tmp_path / "c"), *pushed]) == 0


def test_a_schema_whose_tasks_are_not_a_simulations_is_refused_before_the_run(
    pg_dsn: str,
    pg: psycopg.Connection,
    scratch_schema: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Rows no run noted (a table of one's own of the same columns) had been mixed with the
    simulation's; a table without its columns had been refused after the run was written.
    The schema's own comment is left as it is."""
    pg.execute(
        psycopg.sql.SQL("COMMENT ON SCHEMA {} IS 'my notes'").format(
            psycopg.sql.Identifier(scratch_schema)
        )
    )
    simulate = ["simulate", "--scenario", "baseline", "--seed", "1", "--duration", "20m"]
    pushed = ["--to-postgres", pg_dsn, "--pg-schema", scratch_schema]
    assert main([*simulate, "--out", str(tmp_path / "a"), *pushed]) == 0
    tasks = psycopg.sql.Identifier(scratch_schema, "tasks")
    assert pg.execute(
        "SELECT obj_description(%s::regnamespace, 'pg_namespace')", [scratch_schema]
    ).fetchall() == [("my notes",)]
    pg.execute(psycopg.sql.SQL("COMMENT ON TABLE {} IS NULL").format(tasks))  # as one's own
    capsys.readouterr()

    code = main([*simulate, "--out", str(tmp_path / "b"), *pushed])

    assert code == 2
    assert "its tasks table holds rows no simulation noted there" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    pg.execute(psycopg.sql.SQL("DROP TABLE {}").format(tasks))
    pg.execute(psycopg.sql.SQL("CREATE TABLE {} (x int)").format(tasks))
    assert main([*simulate, "--out", str(tmp_path / "c"), *pushed]) == 2
    assert "tasks exists without the column(s) task_id" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
