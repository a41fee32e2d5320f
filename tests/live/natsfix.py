"""The NATS servers the live tests use: the shared one, and one a test starts itself.

``DVLAB_TEST_NATS_URL`` names the shared server (default
``nats://127.0.0.1:4222``). Outside CI a server that does not answer skips
the tests, saying why; with ``CI`` set it fails them. Streams a test makes
have unique names and subjects and are deleted when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.conftest import unavailable

DEFAULT_URL = "nats://127.0.0.1:4222"


async def _quiet(exc: Exception) -> None:
    pass


async def _ping(url: str, **options: Any) -> None:
    nc = await nats.connect(
        url,
        connect_timeout=3,
        max_reconnect_attempts=0,
        allow_reconnect=False,
        error_cb=_quiet,
        **options,
    )
    try:
        await nc.jetstream().account_info()
    finally:
        await nc.close()


@pytest.fixture(scope="session")
def nats_url() -> str:
    url = os.environ.get("DVLAB_TEST_NATS_URL") or DEFAULT_URL
    try:
        asyncio.run(_ping(url))
    except Exception as exc:
        unavailable(
            f"no NATS server with JetStream answers at {url} ({exc!r}); set DVLAB_TEST_NATS_URL"
        )
    return url


@dataclass
class Stream:
    url: str
    name: str
    prefix: str

    def durable(self) -> str:
        return f"d{uuid.uuid4().hex[:12]}"


async def create_stream(url: str, name: str, prefix: str) -> None:
    """A stream ``name`` on the subjects ``prefix.>``."""
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_stream(name=name, subjects=[f"{prefix}.>"])
    finally:
        await nc.close()


async def make_consumer(url: str, name: str, config: Any) -> None:
    """A consumer on stream ``name`` as ``config`` says."""
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_consumer(name, config)
    finally:
        await nc.close()


async def _delete(url: str, name: str) -> None:
    nc = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=1)
    try:
        await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()


@pytest.fixture
def stream(nats_url: str) -> Iterator[Stream]:
    """A stream of the test's own on the shared server."""
    hexed = uuid.uuid4().hex[:16]
    made = Stream(nats_url, f"DVT_{hexed}", f"dvt{hexed}")
    asyncio.run(create_stream(nats_url, made.name, made.prefix))
    try:
        yield made
    finally:
        # the server of a test that restarts it may be gone
        with contextlib.suppress(Exception):
            asyncio.run(_delete(nats_url, made.name))


def envelope(n: int, prefix: str = "ev") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"{prefix}-{n}",
        "type": "dv.task.started",
        "source": "dv/osl1/scheduler",
        "time": f"2026-12-04T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "correlationid": f"c-{n % 7}",
        "subject": f"t-{n}",
        "data": {"task_id": f"t-{n}", "workflow_id": f"w-{n % 3}", "n": n},
    }


async def _publish(url: str, items: list[tuple[str, bytes, dict[str, str] | None]]) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for start in range(0, len(items), 500):
            await asyncio.gather(
                *(js.publish(s, body, headers=h) for s, body, h in items[start : start + 500])
            )
    finally:
        await nc.close()


def publish(url: str, items: list[tuple[str, bytes, dict[str, str] | None]]) -> None:
    asyncio.run(_publish(url, items))


def publish_envelopes(s: Stream, numbers: range, prefix: str = "ev") -> None:
    publish(
        s.url,
        [
            (
                f"{s.prefix}.osl1.scheduler.task",
                json.dumps(envelope(n, prefix)).encode(),
                {"Nats-Msg-Id": f"{prefix}-{n}"},
            )
            for n in numbers
        ],
    )


class Publisher:
    """Publishes envelopes to a stream from a thread of its own, a few at a time every
    ``every`` seconds (so that something is always arriving), until stopped or until
    ``longest`` seconds have passed; ``published`` holds each message's stream sequence
    and subject, in order. ``subjects`` are taken in turn."""

    def __init__(
        self,
        s: Stream,
        subjects: list[str],
        start: int,
        each: int = 5,
        every: float = 0.01,
        longest: float = 120.0,
    ):
        self.s = s
        self.subjects = subjects
        self.next = start
        self.each = each
        self.every = every
        self.longest = longest
        self.published: list[tuple[int, str]] = []
        self.stopping = threading.Event()
        self.ran_out = False  # stopped because ``longest`` passed, not because told to
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def running(self) -> bool:
        return self._thread.is_alive() and not self.ran_out

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the publisher did not stop"
        if self.error is not None:
            raise self.error

    def _main(self) -> None:
        try:
            asyncio.run(self._publish())
        except BaseException as exc:  # said by stop()
            self.error = exc

    async def _publish(self) -> None:
        nc = await nats.connect(self.s.url)
        try:
            js = nc.jetstream()
            until = time.monotonic() + self.longest
            while not self.stopping.is_set():
                if time.monotonic() >= until:
                    self.ran_out = True
                    return
                numbers = range(self.next, self.next + self.each)
                self.next += self.each
                subjects = [self.subjects[n % len(self.subjects)] for n in numbers]
                acks = await asyncio.gather(
                    *(
                        js.publish(
                            subject,
                            json.dumps(envelope(n)).encode(),
                            headers={"Nats-Msg-Id": f"ev-{n}"},
                        )
                        for n, subject in zip(numbers, subjects, strict=True)
                    )
                )
                self.published.extend(
                    sorted((ack.seq, subject) for ack, subject in zip(acks, subjects, strict=True))
                )
                await asyncio.sleep(self.every)
        finally:
            await nc.close()


async def _info(url: str, name: str, durable: str | None) -> tuple[Any, Any]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        stream = await js.stream_info(name)
        consumer = await js.consumer_info(name, durable) if durable else None
        return stream, consumer
    finally:
        await nc.close()


def info(url: str, name: str, durable: str | None = None) -> tuple[Any, Any]:
    return asyncio.run(_info(url, name, durable))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnServer:
    """A nats-server with JetStream on a loopback port of its own, started and stopped by
    the test (by its pid), its store in the test's folder."""

    def __init__(
        self, folder: Path, *, config: Path | None = None, login: dict[str, Any] | None = None
    ):
        """``config``: a server configuration file; ``login``: how a client logs in to it
        (nats-py's connect options), for the check that it answers."""
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(binary).exists():
            unavailable("nats-server is not installed: the restart test starts one of its own")
        self.binary = binary
        self.port = free_port()
        self.store = folder / "jetstream"
        self.log = folder / "nats-server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self.config = config
        self.login = login or {}

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._log = open(self.log, "ab")  # noqa: SIM115 - closed when the server stops
        config = ["-c", str(self.config)] if self.config is not None else []
        self.process = subprocess.Popen(
            [
                self.binary,
                *config,
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-js",
                "-sd",
                str(self.store),
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                asyncio.run(_ping(self.url, **self.login))
                return
            except Exception:
                time.sleep(0.1)
        raise AssertionError(f"nats-server on port {self.port} did not start; see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[OwnServer]:
    server = OwnServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
