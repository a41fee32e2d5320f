"""Write a simulation as the platform's parts would export it.

Layout under the output folder::

    logs/<service>.jsonl            one JSON object per line, per service, all sites
    events/workflow-events.jsonl    the JetStream export (one delivered message per line)
    tasks/tasks.csv, tasks.parquet  the control plane's task table
    tasks/task_transitions.csv, task_transitions.parquet
    truth.json                      written by :mod:`dvlab.simulate.truth`

Logs and events are buffered in heaps and written in the order they reach
their file (logs by when they were written, events by when the stream got
them), so a file is ordered as the real one would be while its timestamps
show each site's clock. Tasks are written when their workflow ends.
"""

from __future__ import annotations

import csv
import heapq
import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from dvlab.simulate.platform import Event, Log, Task, Transition, Workflow
from dvlab.simulate.scenarios import iso

STREAM = "DV_WORKFLOWS"

TASK_COLUMNS = (
    "task_id",
    "workflow_id",
    "workflow_type",
    "parent_task_id",
    "name",
    "site",
    "service",
    "target_kind",
    "target_id",
    "state",
    "attempt",
    "created_at",
    "started_at",
    "finished_at",
    "error_class",
    "error_message",
    "idempotency_key",
    "retry_policy",
    "correlation_id",
    "updated_at",
)
#: ``id`` numbers transitions in the order the control plane wrote them (a sequence)
TRANSITION_COLUMNS = (
    "id",
    "task_id",
    "seq",
    "from_state",
    "to_state",
    "attempt",
    "at",
    "reason",
)
_TIME_COLUMNS = {"created_at", "started_at", "finished_at", "updated_at", "at"}

#: rows held before a Parquet row group is written
_BATCH = 50_000


def pg_time(at: datetime | None) -> str:
    """A timestamptz as PostgreSQL's COPY ... CSV writes it (session in UTC): microseconds
    without their trailing zeros, none at all on a whole second."""
    if at is None:
        return ""
    fraction = f"{at.microsecond:06d}".rstrip("0")
    return at.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if fraction else "") + "+00"


class _Table:
    """One control-plane table written as CSV and Parquet side by side."""

    def __init__(self, folder: Path, name: str, columns: tuple[str, ...]):
        import pyarrow as pa

        self.columns = columns
        self.csv_file = (folder / f"{name}.csv").open("w", encoding="utf-8", newline="")
        self.csv = csv.writer(self.csv_file, lineterminator="\n")
        self.csv.writerow(columns)
        self.parquet_path = folder / f"{name}.parquet"
        self.rows: list[tuple[Any, ...]] = []
        fields = []
        for column in columns:
            if column in _TIME_COLUMNS:
                fields.append(pa.field(column, pa.timestamp("us", tz="UTC")))
            elif column in ("attempt", "seq"):
                fields.append(pa.field(column, pa.int32()))
            elif column == "id":
                fields.append(pa.field(column, pa.int64()))
            else:
                fields.append(pa.field(column, pa.string()))
        self.schema = pa.schema(fields)
        self.writer: Any = None

    def add(self, row: tuple[Any, ...]) -> None:
        self.csv.writerow(
            pg_time(v) if isinstance(v, datetime) else ("" if v is None else v) for v in row
        )
        self.rows.append(row)
        if len(self.rows) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.writer is None:
            self.writer = pq.ParquetWriter(self.parquet_path, self.schema, compression="zstd")
        columns = list(zip(*self.rows, strict=True)) if self.rows else [()] * len(self.columns)
        table = pa.table(
            [pa.array(list(c), type=f.type) for c, f in zip(columns, self.schema, strict=True)],
            schema=self.schema,
        )
        self.writer.write_table(table)
        self.rows = []

    def close(self) -> None:
        if self.rows or self.writer is None:
            self._flush()
        self.writer.close()
        self.csv_file.close()


class Export:
    """The simulation's files; a :class:`~dvlab.simulate.platform.Sink`."""

    def __init__(self, out: Path, *, offsets: dict[str, int], seed: int):
        self.out = out
        self.offsets = {site: timedelta(milliseconds=ms) for site, ms in offsets.items()}
        # the export's own dice (hosts, duplicates), apart from the simulation's
        self.rng = random.Random(seed * 7919 + 17)
        for folder in ("logs", "events", "tasks"):
            (out / folder).mkdir(parents=True, exist_ok=True)
        self.log_files: dict[str, IO[str]] = {}
        self.events_file = (out / "events" / "workflow-events.jsonl").open(
            "w", encoding="utf-8", newline="\n"
        )
        self.tasks = _Table(out / "tasks", "tasks", TASK_COLUMNS)
        self.transitions = _Table(out / "tasks", "task_transitions", TRANSITION_COLUMNS)
        self._logs: list[tuple[datetime, int, Log]] = []
        self._events: list[tuple[datetime, int, Event]] = []
        self._order = 0
        self.sequence = 0
        self.transition_id = 0
        self.counts = {"logs": 0, "events": 0, "deliveries": 0, "tasks": 0, "transitions": 0}

    # ------------------------------------------------------------------ intake

    def workflow(self, flow: Workflow) -> None:
        for log in flow.logs:
            self._order += 1
            heapq.heappush(self._logs, (log.at, self._order, log))
        for event in flow.events:
            self._order += 1
            heapq.heappush(self._events, (event.at + event.delay, self._order, event))
        for task in flow.tasks:
            self.tasks.add(_task_row(task))
            self.counts["tasks"] += 1
        seqs: dict[str, int] = {}
        for t in flow.transitions:
            seqs[t.task_id] = seqs.get(t.task_id, 0) + 1
            self.transition_id += 1
            self.transitions.add(_transition_row(t, seqs[t.task_id], self.transition_id))
            self.counts["transitions"] += 1

    def flush(self, before: datetime | None) -> None:
        """Write what was written (logs) or published (events) before ``before``; None: all."""
        while self._logs and (before is None or self._logs[0][0] < before):
            _, _, log = heapq.heappop(self._logs)
            self._write_log(log)
        while self._events and (before is None or self._events[0][0] < before):
            published, _, event = heapq.heappop(self._events)
            self._write_event(event, published)

    def close(self) -> None:
        self.flush(None)
        for fh in self.log_files.values():
            fh.close()
        self.events_file.close()
        self.tasks.close()
        self.transitions.close()

    # ------------------------------------------------------------------ output

    def _write_log(self, log: Log) -> None:
        fh = self.log_files.get(log.service)
        if fh is None:
            fh = (self.out / "logs" / f"{log.service}.jsonl").open(
                "w", encoding="utf-8", newline="\n"
            )
            self.log_files[log.service] = fh
        record: dict[str, object] = {
            "ts": iso(log.at + self.offsets[log.site]),
            "level": log.level,
            "service": log.service,
            "host": f"{log.service}-{self.rng.randrange(1, 4):02d}.{log.site}",
            "site": log.site,
            "msg": log.message,
        }
        if log.correlation_id is not None:
            record["correlation_id"] = log.correlation_id
        if log.task_id is not None:
            record["task_id"] = log.task_id
        record.update(log.fields)
        fh.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
        self.counts["logs"] += 1

    def _write_event(self, event: Event, published: datetime) -> None:
        self.sequence += 1
        self.counts["events"] += 1
        line = self._event_line(event, published, self.sequence, delivered=1)
        self.events_file.write(line)
        self.counts["deliveries"] += 1
        roll = self.rng.random()
        if roll < 0.003:
            # redelivered: the consumer did not ack in time and got the same message again
            self.events_file.write(self._event_line(event, published, self.sequence, 2))
            self.counts["deliveries"] += 1
        elif roll < 0.006:
            # published twice (the publisher retried after the de-duplication window):
            # a new stream sequence, the same message id
            self.sequence += 1
            again = published + timedelta(milliseconds=self.rng.randrange(200, 5000))
            self.events_file.write(self._event_line(event, again, self.sequence, 1))
            self.counts["deliveries"] += 1

    def _event_line(self, event: Event, published: datetime, seq: int, delivered: int) -> str:
        produced = event.at + self.offsets[event.site]
        subject = f"dv.{event.site}.{event.service}.{event.type}"
        envelope: dict[str, object] = {
            "specversion": "1.0",
            "id": event.id,
            "type": f"dv.{event.type}",
            "source": f"dv/{event.site}/{event.service}",
            "time": iso(produced),
            "correlationid": event.correlation_id,
        }
        if event.causation_id is not None:
            envelope["causationid"] = event.causation_id
        if event.task_id is not None:
            envelope["subject"] = event.task_id
        envelope["datacontenttype"] = "application/json"
        envelope["data"] = {
            "workflow_id": event.workflow_id,
            "task_id": event.task_id,
            **event.data,
        }
        message = {
            "stream": STREAM,
            "seq": seq,
            "subject": subject,
            "time": published.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z",
            "delivered": delivered,
            "headers": {"Nats-Msg-Id": event.id, "Content-Type": "application/cloudevents+json"},
            "data": envelope,
        }
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False) + "\n"


def _task_row(task: Task) -> tuple[Any, ...]:
    return (
        task.id,
        task.workflow_id,
        task.workflow_type,
        task.parent_id,
        task.name,
        task.site,
        task.service,
        task.target_kind,
        task.target_id,
        task.state,
        task.attempt,
        task.created,
        task.started,
        task.finished,
        task.error_class,
        task.error_message,
        task.idempotency_key,
        task.retry_policy,
        task.correlation_id,
        # the row's last change, which a scheduled pull takes rows from
        max(at for at in (task.created, task.started, task.finished) if at is not None),
    )


def _transition_row(t: Transition, seq: int, number: int) -> tuple[Any, ...]:
    return (number, t.task_id, seq, t.from_state, t.to_state, t.attempt, t.at, t.reason)
