"""Ctrl-C and SIGTERM stop a DuckDB statement at once.

Python runs a signal handler only between bytecodes, and DuckDB looks for a pending
signal only now and then (not at all in some long statements), so a statement can run
on for minutes after Ctrl-C. Here the signal wakes a thread of our own instead
(through :func:`signal.set_wakeup_fd`), which calls the connection's ``interrupt()``;
the statement then fails with DuckDB's interrupt error, which a command reports as an
interruption.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import duckdb

_STOPS = frozenset({int(signal.SIGINT), int(signal.SIGTERM)})


@contextmanager
def on_stop_signal(callback: Callable[[], None], *, take_over: bool = True) -> Iterator[bool]:
    """While the block runs, each SIGINT or SIGTERM calls ``callback`` on a thread of its
    own, whatever the main thread is busy with; yields whether it watches.

    Only the main thread can watch signals. ``take_over=False`` leaves the watching to
    whoever already does it (an ingest, a notebook kernel) rather than taking it over
    for the block.
    """
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    if previous != -1 and not take_over:
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()
        yield False
        return
    watcher = threading.Thread(
        target=_wait, args=(reader, callback), name="dvlab-signals", daemon=True
    )
    watcher.start()
    try:
        yield True
    finally:
        signal.set_wakeup_fd(previous)
        writer.close()
        with suppress(OSError):
            reader.shutdown(socket.SHUT_RDWR)
        watcher.join(timeout=5)
        reader.close()


def _wait(reader: socket.socket, callback: Callable[[], None]) -> None:
    while True:
        try:
            arrived = reader.recv(64)
        except OSError:
            return
        if not arrived:
            return  # closed: the block is over
        if _STOPS.intersection(arrived):
            callback()


@contextmanager
def interruptible(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """While the block runs, a SIGINT or SIGTERM interrupts ``con``'s statement."""

    def interrupt() -> None:
        with suppress(duckdb.Error):  # closed meanwhile
            con.interrupt()

    with on_stop_signal(interrupt, take_over=False):
        yield
