"""``dvlab ingest nats://…`` against real JetStream servers: what is stored, resuming,
redeliveries, SIGKILL mid-stream, a server restart while following, ending a run while
messages keep arriving, health and errors."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import nats
import pytest
from nats.js import api

from dvlab.cli import main
from tests.live.labrows import rows
from tests.live.natsfix import (
    OwnServer,
    Publisher,
    Stream,
    _delete,
    create_stream,
    envelope,
    info,
    make_consumer,
    publish,
    publish_envelopes,
)


def ingest(lab: Path, s: Stream, durable: str, *more: str) -> int:
    return main(
        ["--db", str(lab), "ingest", s.url, "--stream", s.name, "--durable", durable, *more]
    )


def cli(lab: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dvlab.cli", "--db", str(lab), "ingest", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_stream_is_stored_once_and_a_rerun_takes_only_what_is_new(
    stream: Stream, lab_path: Path
) -> None:
    publish_envelopes(stream, range(300))
    publish(
        stream.url,
        [
            (f"{stream.prefix}.plain", b"not json at all", None),
            # a CloudEvent in binary mode: its attributes in ce- headers
            (
                f"{stream.prefix}.binary",
                b'{"task_id": "t-bin"}',
                {
                    "ce-specversion": "1.0",
                    "ce-id": "bin-1",
                    "ce-type": "dv.task.failed",
                    "ce-source": "dv/sto1/storage",
                    "ce-time": "2026-12-04T11:00:00Z",
                },
            ),
        ],
    )
    durable = stream.durable()
    assert ingest(lab_path, stream, durable) == 0
    assert rows(
        lab_path, "SELECT count(*), count(DISTINCT event_id), min(seq), max(seq) FROM events"
    ) == [(302, 302, 1, 302)]
    assert rows(
        lab_path,
        "SELECT event_id, type, site, service, correlation_id, task_id, workflow_id, "
        "payload ->> 'n', headers ->> 'Nats-Msg-Id', subject, time FROM events WHERE seq = 62",
    ) == [
        (
            "ev-61",
            "dv.task.started",
            "osl1",
            "scheduler",
            "c-5",
            "t-61",
            "w-1",
            "61",
            "ev-61",
            f"{stream.prefix}.osl1.scheduler.task",
            rows(lab_path, "SELECT TIMESTAMPTZ '2026-12-04 10:01:01+00'")[0][0],
        )
    ]
    plain = rows(
        lab_path, "SELECT event_id, payload::VARCHAR, time = published FROM events WHERE seq = 301"
    )
    assert plain == [(f"{stream.name}:301", '"not json at all"', True)]
    assert rows(
        lab_path, "SELECT event_id, type, site, service, task_id FROM events WHERE seq = 302"
    ) == [("bin-1", "dv.task.failed", "sto1", "storage", "t-bin")]
    publish_envelopes(stream, range(300, 350))
    assert ingest(lab_path, stream, durable) == 0
    assert rows(lab_path, "SELECT count(*), count(DISTINCT event_id) FROM events") == [(352, 352)]
    # each run one ledger row; the second took the 50 new messages only
    assert rows(lab_path, "SELECT rows_loaded, position FROM ingests ORDER BY ingest_id") == [
        (302, "302"),
        (50, "352"),
    ]
    assert ingest(lab_path, stream, durable) == 0
    assert rows(
        lab_path,
        "SELECT status, rows_loaded, position FROM ingests ORDER BY ingest_id DESC LIMIT 1",
    ) == [("unchanged", 0, "352")]


def test_binary_mode_headers_are_read_in_any_case(stream: Stream, lab_path: Path) -> None:
    """Header names are not case-sensitive: a client that writes them as HTTP does
    (``Ce-Id``, ``Ce-Source``) sends the same CloudEvent as one writing ``ce-id``."""
    attributes = {
        "specversion": "1.0",
        "id": "n-4",
        "type": "dv.task.failed",
        "source": "dv/osl1/api",
        "time": "2026-12-04T11:00:00Z",
    }
    publish(
        stream.url,
        [
            (
                f"{stream.prefix}.binary",
                b'{"task_id": "t-4"}',
                {"Ce-" + name.capitalize(): value for name, value in attributes.items()},
            ),
            (
                f"{stream.prefix}.binary",
                b'{"task_id": "t-5"}',
                {
                    "CE-" + name.upper(): value.replace("n-4", "n-5")
                    for name, value in attributes.items()
                },
            ),
        ],
    )
    assert ingest(lab_path, stream, stream.durable()) == 0
    assert rows(
        lab_path,
        "SELECT event_id, event_source, type, site, service, task_id, payload::VARCHAR "
        "FROM events ORDER BY seq",
    ) == [
        ("n-4", "dv/osl1/api", "dv.task.failed", "osl1", "api", "t-4", '{"task_id":"t-4"}'),
        ("n-5", "dv/osl1/api", "dv.task.failed", "osl1", "api", "t-5", '{"task_id":"t-5"}'),
    ]


def test_stream_and_consumer_health_are_stored_as_metrics(stream: Stream, lab_path: Path) -> None:
    publish_envelopes(stream, range(40))
    durable = stream.durable()
    assert ingest(lab_path, stream, durable) == 0
    state, consumer = info(stream.url, stream.name, durable)
    got = dict(
        rows(
            lab_path,
            "SELECT name, value FROM metrics WHERE labels['stream'] = ? "
            "QUALIFY row_number() OVER (PARTITION BY name ORDER BY ts DESC) = 1".replace(
                "?", f"'{stream.name}'"
            ),
        )
    )
    assert got["nats_stream_messages"] == state.state.messages == 40
    assert got["nats_stream_bytes"] == state.state.bytes
    assert got["nats_stream_last_seq"] == 40
    assert got["nats_stream_deleted"] == 0  # the server leaves out a count of none
    assert got["nats_consumer_pending"] == consumer.num_pending == 0
    assert got["nats_consumer_delivered_stream_seq"] == consumer.delivered.stream_seq == 40
    assert "nats_consumer_ack_pending" in got and "nats_consumer_waiting" in got
    assert rows(
        lab_path,
        "SELECT DISTINCT labels['consumer'] FROM metrics WHERE name LIKE 'nats_consumer%'",
    ) == [(durable,)]


def explicit(durable: str, ack_wait: float = 30) -> api.ConsumerConfig:
    """A durable pull consumer as dvlab makes one, with the acknowledgement wait given."""
    return api.ConsumerConfig(
        durable_name=durable, ack_policy=api.AckPolicy.EXPLICIT, ack_wait=ack_wait
    )


async def _fetch_without_ack(url: str, name: str, durable: str, count: int) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_consumer(name, explicit(durable, 1))
        sub = await js.pull_subscribe_bind(durable=durable, stream=name)
        got = await sub.fetch(count, timeout=5)
        assert len(got) == count
    finally:
        await nc.close()


def test_a_redelivered_message_is_stored_once_with_its_deliveries(
    stream: Stream, lab_path: Path
) -> None:
    publish_envelopes(stream, range(20))
    durable = stream.durable()
    # a reader that took five messages and died before acknowledging them
    asyncio.run(_fetch_without_ack(stream.url, stream.name, durable, 5))
    time.sleep(1.5)  # past the consumer's ack wait: the server delivers them again
    assert ingest(lab_path, stream, durable) == 0
    assert rows(lab_path, "SELECT count(*), count(DISTINCT event_id) FROM events") == [(20, 20)]
    assert rows(lab_path, "SELECT seq FROM events WHERE deliveries = 2 ORDER BY seq") == [
        (n,) for n in range(1, 6)
    ]
    # the same messages through a second consumer: nothing new is stored
    assert ingest(lab_path, stream, stream.durable()) == 0
    assert rows(lab_path, "SELECT count(*) FROM events") == [(20,)]


@pytest.mark.slow
def test_sigkill_mid_stream_then_a_rerun_loses_and_duplicates_nothing(
    stream: Stream, tmp_path: Path
) -> None:
    total = 60_000
    publish_envelopes(stream, range(total))
    lab = tmp_path / "lab.duckdb"
    durable = stream.durable()
    # as dvlab makes it, with a short acknowledgement wait, so that the messages the killed
    # run fetched come back to the rerun within seconds
    asyncio.run(make_consumer(stream.url, stream.name, explicit(durable, 3)))
    args = (stream.url, "--stream", stream.name, "--durable", durable)
    child = cli(lab, *args)
    deadline = time.monotonic() + 60
    delivered = 0
    while time.monotonic() < deadline and child.poll() is None:
        try:
            _, consumer = info(stream.url, stream.name, durable)
            delivered = consumer.delivered.stream_seq
        except Exception:
            delivered = 0  # the consumer is not made yet
        if delivered >= 5_000:
            break
        time.sleep(0.02)
    assert child.poll() is None, "the ingest ended before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=10)
    _, consumer = info(stream.url, stream.name, durable)
    assert consumer.ack_floor.stream_seq < total, "killed after everything was acknowledged"
    rerun = cli(lab, *args)
    _out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert rows(
        lab, "SELECT count(*), count(DISTINCT event_id), count(DISTINCT seq) FROM events"
    ) == [(total, total, total)]
    assert rows(lab, "SELECT min(seq), max(seq) FROM events") == [(1, total)]


def wait_for_events(lab: Path, count: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        if lab.exists():
            try:
                seen = rows(lab, "SELECT count(*) FROM events WHERE stream IS NOT NULL")[0][0]
            except duckdb.Error:
                seen = seen  # the follower is committing: look again
            if seen >= count:
                return seen
        time.sleep(0.2)
    return seen


@pytest.mark.slow
def test_follow_survives_a_server_restart_and_stops_cleanly_on_sigterm(
    own_server: OwnServer, tmp_path: Path
) -> None:
    s = Stream(own_server.url, "DVT_RESTART", "dvtrestart")
    asyncio.run(create_stream(s.url, s.name, s.prefix))
    publish_envelopes(s, range(100))
    lab = tmp_path / "lab.duckdb"
    child = cli(
        lab, s.url, "--stream", s.name, "--durable", "follower", "--follow", "--advisories"
    )
    try:
        assert wait_for_events(lab, 100) == 100
        own_server.stop()
        time.sleep(1.0)
        own_server.start()
        publish_envelopes(s, range(100, 200))
        assert wait_for_events(lab, 200) == 200
        # an advisory the follower should see: another consumer created on the stream
        asyncio.run(make_consumer(s.url, s.name, explicit("another")))
        time.sleep(1.0)
        child.send_signal(signal.SIGTERM)
        _out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=10)
    assert child.returncode == 0, err
    assert rows(
        lab, "SELECT count(*), count(DISTINCT event_id) FROM events WHERE stream IS NOT NULL"
    ) == [(200, 200)]
    advisories = rows(lab, "SELECT type FROM events WHERE stream IS NULL")
    assert ("io.nats.jetstream.advisory.v1.consumer_action",) in advisories, advisories
    # from the server, of no site; not the audit of dvlab's own requests for the state
    assert rows(lab, "SELECT DISTINCT site, service FROM events WHERE stream IS NULL") == [
        (None, "nats-server")
    ]
    assert rows(
        lab, "SELECT count(*) FROM events WHERE payload ->> 'subject' LIKE '$JS.API.%.INFO.%'"
    ) == [(0,)]
    assert rows(lab, "SELECT count(*) FROM ingests") == [(1,)]


@pytest.mark.parametrize("what", ["unknown-stream", "unreachable"])
def test_an_unknown_stream_or_an_unreachable_server_is_one_line_and_exit_2(
    nats_url: str, lab_path: Path, capsys: pytest.CaptureFixture[str], what: str
) -> None:
    if what == "unknown-stream":
        url, name = nats_url, "DVT_NO_SUCH_STREAM"
    else:
        from tests.live.natsfix import free_port

        url, name = f"nats://dvuser:s3cr3t-pw@127.0.0.1:{free_port()}", "ANY"
    code = main(["--db", str(lab_path), "ingest", url, "--stream", name])
    captured = capsys.readouterr()
    assert code == 2
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert (
        "no such stream" if what == "unknown-stream" else "cannot connect: connection refused"
    ) in captured.err
    assert "s3cr3t-pw" not in captured.err + captured.out
    assert not lab_path.exists() or rows(lab_path, "SELECT count(*) FROM events") == [(0,)]


def test_nats_options_are_refused_for_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "a.log"
    log.write_text('{"ts": "2026-01-01T00:00:00Z", "msg": "x"}\n')
    assert main(["--db", str(tmp_path / "lab.duckdb"), "ingest", str(log), "--stream", "X"]) == 2
    assert "--stream" in capsys.readouterr().err


def test_a_durable_that_acknowledges_all_before_is_refused(
    stream: Stream, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publish_envelopes(stream, range(3))
    asyncio.run(
        make_consumer(
            stream.url,
            stream.name,
            api.ConsumerConfig(durable_name="ackall", ack_policy=api.AckPolicy.ALL),
        )
    )
    assert ingest(lab_path, stream, "ackall") == 2
    assert "explicit acknowledgement" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("config", "said"),
    [
        (api.ConsumerConfig(durable_name="none", ack_policy=api.AckPolicy.NONE), "explicit"),
        (
            api.ConsumerConfig(durable_name="push", deliver_subject="dvlab.push.inbox"),
            "push consumer",
        ),
        (api.ConsumerConfig(durable_name="every", ack_policy=api.AckPolicy.EXPLICIT), "every"),
        (
            api.ConsumerConfig(
                durable_name="once", ack_policy=api.AckPolicy.EXPLICIT, max_deliver=1
            ),
            "gives up on a message after 1 delivery (max_deliver 1)",
        ),
        (
            api.ConsumerConfig(
                durable_name="thrice", ack_policy=api.AckPolicy.EXPLICIT, max_deliver=3
            ),
            "after 3 deliveries",
        ),
    ],
    ids=["ack-none", "push", "other-subject", "max-deliver-1", "max-deliver-3"],
)
def test_a_durable_that_cannot_be_read_safely_is_refused(
    stream: Stream,
    lab_path: Path,
    capsys: pytest.CaptureFixture[str],
    config: api.ConsumerConfig,
    said: str,
) -> None:
    publish_envelopes(stream, range(3))
    asyncio.run(make_consumer(stream.url, stream.name, config))
    more = ["--subject", f"{stream.prefix}.osl1.>"] if config.durable_name == "every" else []
    assert ingest(lab_path, stream, str(config.durable_name), *more) == 2
    assert said in capsys.readouterr().err
    assert not lab_path.exists() or rows(lab_path, "SELECT count(*) FROM events") == [(0,)]


def test_bytes_that_are_not_text_are_kept_whole_and_no_headers_is_null(
    stream: Stream, lab_path: Path
) -> None:
    publish(stream.url, [(f"{stream.prefix}.raw", bytes([0, 255, 16, 254, 128]), None)])
    assert ingest(lab_path, stream, stream.durable()) == 0
    assert rows(lab_path, "SELECT payload ->> 'base64', headers IS NULL FROM events") == [
        ("AP8Q/oA=", True)
    ]


async def _delete_consumer(url: str, name: str, durable: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_consumer(name, durable)
    finally:
        await nc.close()


def test_a_consumer_deleted_since_is_made_again_and_reads_what_was_missed(
    stream: Stream, lab_path: Path
) -> None:
    publish_envelopes(stream, range(30))
    durable = stream.durable()
    assert ingest(lab_path, stream, durable) == 0
    # the lab misses some of what the ledger's position covers, as after killed runs that
    # stored later messages and not earlier ones
    con = duckdb.connect(str(lab_path))
    try:
        con.execute("DELETE FROM events WHERE seq <= 10")
    finally:
        con.close()
    asyncio.run(_delete_consumer(stream.url, stream.name, durable))
    assert ingest(lab_path, stream, durable) == 0
    assert rows(
        lab_path, "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM events"
    ) == [(30, 30, 1, 30)]
    assert rows(lab_path, "SELECT rows_loaded, rows_skipped FROM ingests ORDER BY ingest_id") == [
        (30, 0),
        (10, 20),
    ]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--stream", "bad name"], "--stream 'bad name'"),
        (["--stream", "OK", "--durable", "bad.durable"], "--durable 'bad.durable'"),
        (["--stream", "OK", "--durable", ""], "--durable ''"),
    ],
)
def test_names_jetstream_cannot_take_are_one_line_and_exit_2(
    nats_url: str, lab_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    assert main(["--db", str(lab_path), "ingest", nats_url, *args]) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1


async def _delete_when_delivered(url: str, name: str, durable: str, after: int) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                info = await js.consumer_info(name, durable)
                if info.delivered.stream_seq >= after:
                    await js.delete_consumer(name, durable)
                    return
            except nats.js.errors.NotFoundError:
                pass
            await asyncio.sleep(0.01)
        raise AssertionError("the consumer never got that far")
    finally:
        await nc.close()


@pytest.mark.slow
def test_a_consumer_deleted_during_a_run_is_made_again_and_the_run_ends(
    stream: Stream, tmp_path: Path
) -> None:
    total = 40_000
    publish_envelopes(stream, range(total))
    lab = tmp_path / "lab.duckdb"
    durable = stream.durable()
    child = cli(lab, stream.url, "--stream", stream.name, "--durable", durable)
    asyncio.run(_delete_when_delivered(stream.url, stream.name, durable, 5_000))
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert rows(lab, "SELECT count(*), count(DISTINCT seq) FROM events") == [(total, total)]


@pytest.mark.slow
def test_follow_acknowledges_a_batch_as_soon_as_it_is_stored(
    own_server: OwnServer, tmp_path: Path
) -> None:
    s = Stream(own_server.url, "DVT_IDLE", "dvtidle")
    asyncio.run(create_stream(s.url, s.name, s.prefix))
    lab = tmp_path / "lab.duckdb"
    asyncio.run(make_consumer(s.url, s.name, explicit("idle", 4)))
    child = cli(lab, s.url, "--stream", s.name, "--durable", "idle", "--follow")
    try:
        time.sleep(2)
        publish_envelopes(s, range(10))
        assert wait_for_events(lab, 10) == 10
        time.sleep(6)  # longer than the acknowledgement wait, with nothing more coming
        _, consumer = info(s.url, s.name, "idle")
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=10)
    assert child.returncode == 0, err
    assert (consumer.num_ack_pending, consumer.num_redelivered) == (0, 0)
    assert rows(lab, "SELECT max(deliveries) FROM events") == [(1,)]


def stored_seqs(lab: Path) -> list[int]:
    return [
        r[0] for r in rows(lab, "SELECT seq FROM events WHERE stream IS NOT NULL ORDER BY seq")
    ]


@pytest.mark.slow
@pytest.mark.parametrize("filtered", [False, True], ids=["every-subject", "one-subject"])
def test_until_caught_up_ends_at_the_streams_position_at_the_start_while_messages_keep_coming(
    stream: Stream, tmp_path: Path, filtered: bool
) -> None:
    task = f"{stream.prefix}.osl1.scheduler.task"
    other = f"{stream.prefix}.osl1.other.event"
    publish_envelopes(stream, range(2000))
    # the last message before publishing starts is on a subject a filtered consumer skips
    publish(stream.url, [(other, json.dumps(envelope(0, "oth")).encode(), None)])
    before = [(seq, task) for seq in range(1, 2001)] + [(2001, other)]
    # a few hundred messages a second, for far longer than the run takes (unless it never ends)
    publisher = Publisher(stream, [task, other] if filtered else [task], start=2000)
    lab = tmp_path / "lab.duckdb"
    args = [stream.url, "--stream", stream.name, "--durable", stream.durable()]
    args += ["--subject", task] if filtered else []
    publisher.start()
    try:
        deadline = time.monotonic() + 30
        while len(publisher.published) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert publisher.running() and len(publisher.published) >= 100, "not publishing"
        # the run's bound is the stream's last sequence when it starts: at least this
        start_bound = info(stream.url, stream.name)[0].state.last_seq
        child = cli(lab, *args, "--until-caught-up")
        try:
            _out, err = child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate(timeout=10)
            pytest.fail("--until-caught-up did not end while messages kept arriving")
        # it ended because it reached where the stream was, not because publishing stopped
        assert publisher.running(), "publishing stopped before the run ended"
        assert child.returncode == 0, err
    finally:
        publisher.stop()
    wanted = [
        seq for seq, subject in before + publisher.published if subject == task or not filtered
    ]
    first = stored_seqs(lab)
    # everything up to the start bound, maybe some more, and no gaps and nothing twice
    assert len(first) >= sum(1 for seq in wanted if seq <= start_bound)
    assert first == wanted[: len(first)]
    # a rerun, now that publishing has ended, takes the rest exactly once
    rerun = cli(lab, *args)
    _out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    state, _ = info(stream.url, stream.name)
    assert state.state.messages == state.state.last_seq == len(before) + len(publisher.published)
    assert stored_seqs(lab) == wanted
    assert rows(
        lab, "SELECT count(*), count(DISTINCT event_id) FROM events WHERE stream IS NOT NULL"
    ) == [(len(wanted), len(wanted))]
    assert [r[0] for r in rows(lab, "SELECT rows_loaded FROM ingests ORDER BY ingest_id")] == [
        len(first),
        len(wanted) - len(first),
    ]


def test_until_caught_up_on_one_subject_ends_when_the_stream_ends_on_another(
    stream: Stream, lab_path: Path
) -> None:
    task = f"{stream.prefix}.osl1.scheduler.task"
    publish_envelopes(stream, range(50))
    publish(stream.url, [(f"{stream.prefix}.osl1.other.event", b'{"x": 1}', None)])
    assert ingest(lab_path, stream, stream.durable(), "--subject", task) == 0
    assert stored_seqs(lab_path) == list(range(1, 51))


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("nats://ops:NatsPw#frag@127.0.0.1:4", "NatsPw"),
        ("nats://ops:Pw?x=1@127.0.0.1:4", "Pw?x"),
        ("nats://ops:Nats/Pw@127.0.0.1:4", "Nats/"),
        ("nats://s3#cret@127.0.0.1:4", "s3#"),  # a token
    ],
)
def test_credentials_a_url_parser_would_misread_are_refused_and_hidden(
    lab_path: Path, capsys: pytest.CaptureFixture[str], url: str, secret: str
) -> None:
    """A #, ? or / in a URL's user information ends it early: the parser would take a
    piece of the password for the host or port (and print it in its error)."""
    assert main(["--db", str(lab_path), "ingest", url, "--stream", "S"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "dvlab: not a NATS URL as written: nats://***@127.0.0.1:4: its user, password or "
        "token holds a #, ? or /, which ends that part of a URL early; give the "
        "credentials another way (--creds, --nkey)\n"
    )
    assert secret not in err
    assert not lab_path.exists()


@pytest.mark.slow
def test_forget_during_follow_keeps_the_ledger_true_to_the_lab(
    stream: Stream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dvlab forget` while a run follows the stream: what it had stored is gone and its
    ledger row stays forgotten; what it stores afterwards is counted in a row of its own."""
    lab = tmp_path / "lab.duckdb"
    publish_envelopes(stream, range(30))
    child = cli(lab, stream.url, "--stream", stream.name, "--durable", "fgt", "--follow")
    try:
        assert wait_for_events(lab, 30) == 30
        name = rows(lab, "SELECT source FROM ingests")[0][0]
        assert main(["--db", str(lab), "forget", name]) == 0
        publish_envelopes(stream, range(30, 40))
        assert wait_for_events(lab, 10) == 10
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=10)
    assert child.returncode == 0, err
    assert rows(lab, "SELECT status, rows_loaded FROM ingests ORDER BY ingest_id") == [
        ("forgotten", 30),
        ("loaded", 10),
    ]
    assert rows(lab, "SELECT count(*) FROM events") == [(10,)]


@pytest.mark.slow
def test_an_nkey_seed_logs_in_to_a_server_that_asks_for_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--nkey had always failed ("No module named 'nkeys'"): the client's signing needs an
    extra the install now asks for. The server here trusts one user key, and no one else."""
    import os

    import nkeys

    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(bytearray(seed)).public_key.decode()
    seed_file = tmp_path / "user.nk"
    seed_file.write_bytes(seed + b"\n")
    config = tmp_path / "server.conf"
    config.write_text(f'authorization {{ users = [ {{ nkey: "{public}" }} ] }}\n')
    server = OwnServer(tmp_path, config=config, login={"nkeys_seed": str(seed_file)})
    server.start()
    try:

        async def fill() -> None:
            nc = await nats.connect(server.url, nkeys_seed=str(seed_file))
            try:
                js = nc.jetstream()
                await js.add_stream(name="DVT_NKEY", subjects=["dvtnkey.>"])
                for n in range(5):
                    await js.publish("dvtnkey.x", json.dumps(envelope(n)).encode())
            finally:
                await nc.close()

        asyncio.run(fill())
        lab = tmp_path / "lab.duckdb"
        source = [server.url, "--stream", "DVT_NKEY", "--until-caught-up"]

        # in a process of its own: the client leaves the refused connection's socket open
        refused = cli(lab, *source)
        _, refused_err = refused.communicate(timeout=60)
        signed = main(["--db", str(lab), "ingest", *source, "--nkey", str(seed_file)])
        out = capsys.readouterr().out
    finally:
        server.stop()

    assert refused.returncode == 2
    assert "authorization" in refused_err.lower() and len(refused_err.splitlines()) == 1
    assert signed == 0 and ", 5 loaded, " in out
    assert rows(lab, "SELECT count(*) FROM events") == [(5,)]


def test_a_tls_url_to_a_server_without_tls_is_refused_not_read_in_plain_text(
    nats_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The client turns to TLS only when the server requires it: tls:// had connected in
    plain text, unasked."""
    plain = "tls://" + nats_url.split("://", 1)[1]
    lab = tmp_path / "lab.duckdb"

    code = main(["--db", str(lab), "ingest", plain, "--stream", "DVT_NO_SUCH_STREAM"])

    err = capsys.readouterr().err
    assert code == 2
    assert "asked for TLS (tls://), but the server does not require it" in err
    assert not lab.exists()


def test_strict_stores_and_acknowledges_nothing_of_a_batch_with_a_bad_message(
    stream: Stream, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--strict had been taken and ignored: the bad message was a reject, acknowledged."""
    bad = {**envelope(5), "time": "garbage"}
    items = [(f"{stream.prefix}.x", json.dumps(envelope(n)).encode(), None) for n in range(5)]
    publish(stream.url, [*items, (f"{stream.prefix}.x", json.dumps(bad).encode(), None)])
    durable = stream.durable()

    strict = ingest(lab_path, stream, durable, "--strict")
    err = capsys.readouterr().err
    _, consumer = info(stream.url, stream.name, durable)
    again = ingest(lab_path, stream, durable)

    assert strict == 2
    assert "--strict: 1 message(s) rejected, their batch neither written nor acknowledged" in err
    assert 'first: stream sequence 6: events: field data.time: "garbage" is not a time' in err
    assert consumer.ack_floor.stream_seq == 0  # the server will deliver all six again
    assert again == 0
    assert rows(lab_path, "SELECT count(*) FROM events") == [(5,)]
    assert rows(lab_path, "SELECT line, reason FROM rejects") == [
        (6, 'events: field data.time: "garbage" is not a time')
    ]


def test_a_stream_made_again_under_its_name_brings_other_events(
    stream: Stream, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its sequence starts anew: its messages had been taken for the old stream's of the same
    sequence, and dropped ("3 skipped")."""
    publish(stream.url, [(f"{stream.prefix}.x", f"old {n}".encode(), None) for n in range(3)])
    assert ingest(lab_path, stream, "again") == 0
    asyncio.run(_delete(stream.url, stream.name))
    asyncio.run(create_stream(stream.url, stream.name, stream.prefix))
    publish(stream.url, [(f"{stream.prefix}.x", f"new {n}".encode(), None) for n in range(3)])
    capsys.readouterr()

    assert ingest(lab_path, stream, "again") == 0

    assert ", 3 loaded, 0 rejected, 0 skipped" in capsys.readouterr().out
    assert rows(lab_path, "SELECT seq, payload::VARCHAR FROM events ORDER BY ingest_id, seq") == [
        (1, '"old 0"'), (2, '"old 1"'), (3, '"old 2"'),
        (1, '"new 0"'), (2, '"new 1"'), (3, '"new 2"'),
    ]  # fmt: skip
    assert rows(lab_path, "SELECT count(DISTINCT event_source) FROM events") == [(2,)]


@pytest.mark.slow
def test_large_messages_are_fetched_a_few_at_a_time(tmp_path: Path) -> None:
    """A thousand messages asked for at once, of nearly a megabyte each, had overrun what
    the server holds for a client (a slow consumer: dropped, delivered again and again)
    and the ingest's memory. Here the server holds 12 MB for a client."""
    config = tmp_path / "server.conf"
    config.write_text("max_pending: 12MB\n")
    server = OwnServer(tmp_path, config=config)
    server.start()
    try:
        s = Stream(server.url, "DVT_BIG", "dvtbig")
        asyncio.run(create_stream(s.url, s.name, s.prefix))
        body = json.dumps({"blob": "x" * 900_000}).encode()
        for _ in range(6):
            publish(s.url, [(f"{s.prefix}.x", body, None)] * 10)
        lab = tmp_path / "lab.duckdb"

        code = ingest(lab, s, "big")
    finally:
        server.stop()

    assert code == 0
    assert rows(lab, "SELECT count(*), max(deliveries), min(seq), max(seq) FROM events") == [
        (60, 1, 1, 60)
    ]
    assert "Slow Consumer" not in server.log.read_text()


def test_advisories_leave_out_the_audit_of_the_runs_own_requests_for_the_state(
    stream: Stream, lab_path: Path
) -> None:
    """Each run asks for the stream's and the consumer's state (each minute while following):
    their audit advisories had been stored, three events a run and 1,440 a day."""
    publish_envelopes(stream, range(20))

    assert ingest(lab_path, stream, stream.durable(), "--advisories") == 0

    # advisories are the server's, of every client: other clients' (another run of these
    # tests on the same server) may be stored, but none about this stream's state
    audits = """SELECT count(*) FROM events WHERE stream IS NULL
                AND payload->>'subject' IN ($info, $consumer)"""
    params = {
        "info": f"$JS.API.STREAM.INFO.{stream.name}",
        "consumer": f"$JS.API.CONSUMER.INFO.{stream.name}.{stream.durable()}",
    }
    assert rows(lab_path, audits, params) == [(0,)]
    assert rows(lab_path, "SELECT count(*) FROM events WHERE stream IS NOT NULL") == [(20,)]


def test_a_filtered_durable_read_without_its_subject_is_refused_naming_it(
    stream: Stream, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read without --subject, it had loaded part of the stream under the stream's name."""
    publish_envelopes(stream, range(3))
    subject = f"{stream.prefix}.a"
    config = api.ConsumerConfig(
        durable_name="part", ack_policy=api.AckPolicy.EXPLICIT, filter_subject=subject
    )
    asyncio.run(make_consumer(stream.url, stream.name, config))

    assert ingest(lab_path, stream, "part") == 2

    err = capsys.readouterr().err
    assert f"--durable part reads {subject}, not every subject; give --subject {subject}" in err
    assert not lab_path.exists() or rows(lab_path, "SELECT count(*) FROM events") == [(0,)]


@pytest.mark.parametrize("subject", ["", "a b", "a..b", ".a"])
def test_a_subject_that_is_none_is_refused(
    subject: str, stream: Stream, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ingest(lab_path, stream, "any", "--subject", subject) == 2
    assert f"--subject {subject!r}: a subject is tokens without spaces" in capsys.readouterr().err


def test_a_consumer_that_lets_few_messages_await_acknowledgement_is_read_in_batches_of_half(
    stream: Stream, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With max_ack_pending 100 the server sends no more until a batch is acknowledged: a
    batch waited two seconds for messages that could not come, each time."""
    from dvlab.live import natsingest

    publish_envelopes(stream, range(1000))
    config = api.ConsumerConfig(
        durable_name="narrow", ack_policy=api.AckPolicy.EXPLICIT, max_ack_pending=100
    )
    asyncio.run(make_consumer(stream.url, stream.name, config))
    sizes: list[int] = []
    commit = natsingest._Committer.commit

    def counted(self: Any, batch: Any, health: Any) -> None:
        sizes.append(len(batch))
        commit(self, batch, health)

    monkeypatch.setattr(natsingest._Committer, "commit", counted)

    assert ingest(lab_path, stream, "narrow") == 0

    assert rows(lab_path, "SELECT count(*), max(deliveries) FROM events") == [(1000, 1)]
    assert sum(sizes) == 1000 and max(sizes) <= 50, sizes


@pytest.mark.parametrize("option", ["--tls-ca", "--creds", "--nkey"])
def test_a_credentials_file_that_is_not_there_is_named(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It had been "dvlab: no such file or directory", naming neither file nor option."""
    missing = tmp_path / "missing.pem"
    code = main(["--db", str(tmp_path / "lab.duckdb"), "ingest", "nats://127.0.0.1:4222",
                 "--stream", "S", option, str(missing)])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err == f"dvlab: {option} {missing}: no such file\n"


def test_a_tls_file_that_holds_no_certificate_is_said_so(
    nats_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "ca.pem"
    empty.write_text("\n")
    code = main(["--db", str(tmp_path / "lab.duckdb"), "ingest", nats_url, "--stream", "S",
                 "--tls-ca", str(empty)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "the TLS files given cannot be used: [X509: NO_CERTIFICATE_OR_CRL_FOUND]" in err


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("nats://127.0.0.1:99999", "nats://127.0.0.1:99999: its port is not a number from 1"),
        ("nats://", "nats://: it names no host"),
        ("nats://user:pw@:4222", "nats://***@:4222: it names no host"),
    ],
)
def test_a_url_without_a_host_or_with_a_port_past_65535_is_refused(
    url: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--db", str(tmp_path / "lab.duckdb"), "ingest", url, "--stream", "S"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"dvlab: not a NATS URL: {said}" + err.split(said, 1)[1]
    assert "pw" not in err


def test_a_run_that_meets_no_outage_does_not_log_a_reconnection(
    stream: Stream, lab_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Closing the connections at the end had been logged as "disconnected; reconnecting",
    twice a run."""
    publish_envelopes(stream, range(3))
    with caplog.at_level("INFO", logger="dvlab.live.natsingest"):
        assert ingest(lab_path, stream, stream.durable()) == 0
    said = [r.getMessage() for r in caplog.records]
    assert not [m for m in said if "reconnect" in m], said


def test_a_message_published_twice_in_one_batch_is_counted_skipped(
    stream: Stream, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stored once, as before; the summary had counted the copy nowhere."""
    one = json.dumps(envelope(1)).encode()
    publish(stream.url, [(f"{stream.prefix}.x", one, None), (f"{stream.prefix}.x", one, None)])

    assert ingest(lab_path, stream, stream.durable()) == 0

    assert ", 1 loaded, 0 rejected, 1 skipped" in capsys.readouterr().out
    assert rows(lab_path, "SELECT count(*), max(deliveries) FROM events") == [(1, 2)]
