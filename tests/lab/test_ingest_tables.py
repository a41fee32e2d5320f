"""`dvlab ingest` of table-shaped sources: task history into ``tasks``, state transitions
into ``task_transitions``, JetStream exports and CloudEvents into ``events``.

Expected values are written by hand beside the fixtures they describe, or counted
from the real files with ``json`` and ``csv`` in the test; the lab is read back with
plain read-only DuckDB.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dvlab.analyses.timeline import timeline
from dvlab.errors import BadInputError
from dvlab.lab.ingest import IngestOptions, forget, ingest
from tests.conftest import real_sample

from .ingest_support import jsonl, query, run_cli

# --------------------------------------------------------------------------- helpers

#: every table a lab holds rows in; the ledger is compared apart
DATA_TABLES = ("logs", "tasks", "task_transitions", "events", "rejects")
ALL_TABLES = (*DATA_TABLES, "ingests")

TASK_FIELDS = (
    "task_id",
    "workflow_id",
    "site",
    "service",
    "state",
    "state_raw",
    "attempt",
    "created",
    "started",
    "finished",
    "error_message",
    "attributes",
)


def at(second: int) -> datetime:
    """2026-05-01 12:00:00 UTC plus ``second`` seconds."""
    return datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC) + timedelta(seconds=second)


def iso(second: int) -> str:
    return at(second).strftime("%Y-%m-%dT%H:%M:%SZ")


def snapshot(lab: Path, tables: tuple[str, ...] = ALL_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of ``tables`` (an absent table as no rows), in a fixed order."""
    if not lab.exists():
        return {t: [] for t in tables}
    con = duckdb.connect(str(lab), read_only=True)
    try:
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        return {
            t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() if t in present else []
            for t in tables
        }
    finally:
        con.close()


def task_rows(lab: Path, source: Path | None = None) -> dict[str, dict[str, Any]]:
    """task_id -> the row's content columns (attributes parsed), of one source or all."""
    where, params = ("WHERE source = ?", [str(source)]) if source is not None else ("", [])
    rows = query(
        lab,
        f"SELECT {', '.join(TASK_FIELDS[:-1])}, attributes::VARCHAR FROM tasks {where}",
        params,
    )
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        values = dict(zip(TASK_FIELDS, row, strict=True))
        values["attributes"] = json.loads(values["attributes"]) if values["attributes"] else None
        assert values["task_id"] not in out, f"task {values['task_id']} stored twice"
        out[values.pop("task_id")] = values
    return out


def rejects(lab: Path, source: Path | None = None) -> list[tuple[int, str]]:
    where, params = ("WHERE source = ?", [str(source)]) if source is not None else ("", [])
    return [
        (r[0], r[1])
        for r in query(lab, f"SELECT line, reason FROM rejects {where} ORDER BY line", params)
    ]


def statuses(summary: Any) -> list[tuple[str, int, int]]:
    return [(s.status, s.rows_loaded, s.rows_rejected) for s in summary.sources]


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    return path


# --------------------------------------------------------------------------- 1. real data

DOCKER = "docker-swarm-api"
ALIBABA = "alibaba-openb-k8s-pods"


def rfc3339_nanos(text: str) -> datetime:
    """``2020-06-19T19:14:29.269730487Z`` -> UTC, the fraction cut to the microsecond."""
    assert text.endswith("Z"), text
    whole, _, fraction = text[:-1].partition(".")
    parsed = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return parsed + timedelta(microseconds=int(fraction[:6].ljust(6, "0")))


@pytest.mark.realdata
def test_docker_swarm_tasks_by_status_state(real_data: Path, lab_path: Path) -> None:
    source = real_data / DOCKER / "tasks.json"
    raw = json.loads(source.read_text(encoding="utf-8"))
    assert isinstance(raw, list)

    summary = ingest(
        lab_path,
        [str(source)],
        IngestOptions(mapping=("state=Status.State", "error_message=Status.Err")),
    )

    assert statuses(summary) == [("loaded", len(raw), 0)]
    assert summary.sources[0].format == "tasks-json-array"
    by_state = dict(query(lab_path, "SELECT state_raw, count(*) FROM tasks GROUP BY 1"))
    assert by_state == Counter(t["Status"]["State"] for t in raw)
    stored = task_rows(lab_path)
    assert set(stored) == {t["ID"] for t in raw}
    rejected = [t for t in raw if t["Status"]["State"] == "rejected"]
    assert rejected  # SOURCE.md: two rejected tasks
    for task in raw:
        row = stored[task["ID"]]
        assert row["error_message"] == task["Status"].get("Err"), task["ID"]
        assert row["created"] == rfc3339_nanos(task["CreatedAt"]), task["ID"]
    assert {stored[t["ID"]]["state"] for t in rejected} == {"failed"}


@pytest.mark.realdata
def test_alibaba_pods_by_phase_with_relative_times(real_data: Path, lab_path: Path) -> None:
    source = real_data / ALIBABA / "openb_pod_list_default.csv"
    with source.open(newline="", encoding="utf-8") as fh:
        pods = list(csv.DictReader(fh))
    origin = datetime(2023, 1, 1, tzinfo=UTC)

    def relative(text: str) -> datetime | None:
        return None if text == "" else origin + timedelta(seconds=int(text))

    summary = ingest(
        lab_path,
        [str(source)],
        IngestOptions(mapping=("task_id=name",), time_origin="2023-01-01T00:00:00Z"),
    )

    assert statuses(summary) == [("loaded", len(pods), 0)]
    by_state = dict(query(lab_path, "SELECT state_raw, count(*) FROM tasks GROUP BY 1"))
    assert by_state == Counter(p["pod_phase"] for p in pods)
    times = {
        r[0]: r[1:]
        for r in query(lab_path, "SELECT task_id, created, started, finished FROM tasks")
    }
    assert len(times) == len(pods)
    for pod in pods:
        assert times[pod["name"]] == (
            relative(pod["creation_time"]),
            relative(pod["scheduled_time"]),
            relative(pod["deletion_time"]),
        ), pod["name"]


# --------------------------------------------------------------------------- 2. formats

#: five tasks, as a source would write them (None: an empty cell or an absent key)
FIVE = [
    {
        "task_id": "t1",
        "workflow_id": "w1",
        "site": "sto1",
        "service": "nova",
        "state": "succeeded",
        "attempt": 1,
        "created_at": iso(0),
        "started_at": iso(5),
        "finished_at": iso(60),
        "error_message": None,
        "priority": "high",
    },
    {
        "task_id": "t2",
        "workflow_id": "w1",
        "site": "sto1",
        "service": "neutron",
        "state": "FAILED",
        "attempt": 3,
        "created_at": iso(1),
        "started_at": iso(6),
        "finished_at": iso(90),
        "error_message": "port busy",
        "priority": "low",
    },
    {
        "task_id": "t3",
        "workflow_id": "w2",
        "site": "osl1",
        "service": "nova",
        "state": "running",
        "attempt": 1,
        "created_at": iso(2),
        "started_at": iso(7),
        "finished_at": None,
        "error_message": None,
        "priority": "high",
    },
    {
        "task_id": "t4",
        "workflow_id": "w2",
        "site": "osl1",
        "service": "cinder",
        "state": "queued",
        "attempt": None,
        "created_at": iso(3),
        "started_at": None,
        "finished_at": None,
        "error_message": None,
        "priority": "low",
    },
    {
        "task_id": "t5",
        "workflow_id": "w3",
        "site": "osl1",
        "service": "nova",
        "state": "Canceled",
        "attempt": 2,
        "created_at": iso(4),
        "started_at": iso(8),
        "finished_at": iso(9),
        "error_message": "user gave up",
        "priority": "high",
    },
]
FIELDS = list(FIVE[0])

#: what the lab holds for FIVE, written out by hand
FIVE_STORED: dict[str, dict[str, Any]] = {
    "t1": {
        "workflow_id": "w1",
        "site": "sto1",
        "service": "nova",
        "state": "succeeded",
        "state_raw": "succeeded",
        "attempt": 1,
        "created": at(0),
        "started": at(5),
        "finished": at(60),
        "error_message": None,
        "attributes": {"priority": "high"},
    },
    "t2": {
        "workflow_id": "w1",
        "site": "sto1",
        "service": "neutron",
        "state": "failed",
        "state_raw": "FAILED",
        "attempt": 3,
        "created": at(1),
        "started": at(6),
        "finished": at(90),
        "error_message": "port busy",
        "attributes": {"priority": "low"},
    },
    "t3": {
        "workflow_id": "w2",
        "site": "osl1",
        "service": "nova",
        "state": "running",
        "state_raw": "running",
        "attempt": 1,
        "created": at(2),
        "started": at(7),
        "finished": None,
        "error_message": None,
        "attributes": {"priority": "high"},
    },
    "t4": {
        "workflow_id": "w2",
        "site": "osl1",
        "service": "cinder",
        "state": "pending",
        "state_raw": "queued",
        "attempt": None,
        "created": at(3),
        "started": None,
        "finished": None,
        "error_message": None,
        "attributes": {"priority": "low"},
    },
    "t5": {
        "workflow_id": "w3",
        "site": "osl1",
        "service": "nova",
        "state": "cancelled",
        "state_raw": "Canceled",
        "attempt": 2,
        "created": at(4),
        "started": at(8),
        "finished": at(9),
        "error_message": "user gave up",
        "attributes": {"priority": "high"},
    },
}


def write_five(folder: Path, layout: str, tasks: list[dict[str, Any]] = FIVE) -> Path:
    """``tasks`` as CSV, Parquet, JSON lines (absent keys for None) or a JSON array."""
    folder.mkdir(parents=True, exist_ok=True)
    if layout == "csv":
        return write_csv(folder / "tasks.csv", FIELDS, [[t[f] for f in FIELDS] for t in tasks])
    if layout == "parquet":
        path = folder / "tasks.parquet"
        columns = {
            f: pa.array([t[f] for t in tasks], type=pa.int64() if f == "attempt" else pa.string())
            for f in FIELDS
        }
        pq.write_table(pa.table(columns), path)
        return path
    if layout == "jsonl":
        path = folder / "tasks.jsonl"
        path.write_text(
            jsonl([{k: v for k, v in t.items() if v is not None} for t in tasks]),
            encoding="utf-8",
        )
        return path
    assert layout == "json-array"
    path = folder / "tasks.json"
    path.write_text(json.dumps(tasks, indent=2), encoding="utf-8")  # None as null
    return path


#: the line (or row, or element) each task of FIVE is on, per layout
FIRST_LINE = {"csv": 2, "parquet": 1, "jsonl": 1, "json-array": 1}


@pytest.mark.parametrize("layout", ["csv", "parquet", "jsonl", "json-array"])
def test_five_tasks_in_each_layout_store_the_same_rows(tmp_path: Path, layout: str) -> None:
    lab = tmp_path / "lab.duckdb"
    source = write_five(tmp_path / "src", layout)

    summary = ingest(lab, [str(source)])

    assert statuses(summary) == [("loaded", 5, 0)]
    assert summary.sources[0].format == f"tasks-{layout}"
    assert task_rows(lab, source) == FIVE_STORED
    lines = dict(query(lab, "SELECT task_id, line FROM tasks"))
    first = FIRST_LINE[layout]
    assert lines == {f"t{i}": first + i - 1 for i in range(1, 6)}


def test_parquet_with_typed_columns(tmp_path: Path, lab_path: Path) -> None:
    """Timestamps (with and without a zone), integers and floats, as Parquet writers store them."""
    path = tmp_path / "typed.parquet"
    pq.write_table(
        pa.table(
            {
                "task_id": pa.array(["a", "b"]),
                "state": pa.array(["running", "done"]),
                "attempt": pa.array([1, 4], type=pa.int32()),
                "created_at": pa.array(
                    [at(0), at(1) + timedelta(microseconds=500_000)],
                    type=pa.timestamp("us", tz="UTC"),
                ),
                "finished_at": pa.array(
                    [None, datetime(2026, 5, 1, 12, 0, 30)], type=pa.timestamp("ms")
                ),
                "cpu": pa.array([1.5, None], type=pa.float64()),
            }
        ),
        path,
    )

    summary = ingest(lab_path, [str(path)])

    assert statuses(summary) == [("loaded", 2, 0)]
    assert query(
        lab_path,
        "SELECT task_id, state, attempt, created, finished, attributes->>'cpu' "
        "FROM tasks ORDER BY task_id",
    ) == [
        ("a", "running", 1, at(0), None, "1.5"),
        ("b", "succeeded", 4, at(1) + timedelta(microseconds=500_000), at(30), None),
    ]


def test_column_name_variants(tmp_path: Path, lab_path: Path) -> None:
    path = tmp_path / "camel.jsonl"
    path.write_text(
        jsonl(
            [
                {
                    "taskId": "c1",
                    "status": "in_progress",
                    "createdAt": iso(0),
                    "startedAt": iso(2),
                    "workflowId": "wf-9",
                    "parentTaskId": "c0",
                    "Region": "sto1",
                    "correlationId": "req-1",
                    "retry_count": "2",
                    "errorClass": "Timeout",
                },
                {
                    "taskId": "c2",
                    "status": "error",
                    "createdAt": iso(1),
                    "finishedAt": iso(5),
                    "workflowId": "wf-9",
                    "errorMessage": "boom",
                },
            ]
        ),
        encoding="utf-8",
    )

    summary = ingest(lab_path, [str(path)])

    assert statuses(summary) == [("loaded", 2, 0)]
    assert query(
        lab_path,
        """SELECT task_id, state, state_raw, created, started, finished, workflow_id,
                  parent_task_id, site, correlation_id, attempt, error_class, error_message,
                  attributes::VARCHAR
           FROM tasks ORDER BY task_id""",
    ) == [
        ("c1", "running", "in_progress", at(0), at(2), None, "wf-9", "c0", "sto1", "req-1", 2,
         "Timeout", None, "{}"),
        ("c2", "failed", "error", at(1), None, at(5), "wf-9", None, None, None, None, None,
         "boom", "{}"),
    ]  # fmt: skip


def test_csv_variants_ignoring_case(tmp_path: Path, lab_path: Path) -> None:
    path = write_csv(
        tmp_path / "upper.csv",
        ["TASK_ID", "Status", "Created_At", "Node"],
        [["u1", "Completed", iso(3), "n-1"]],
    )

    assert statuses(ingest(lab_path, [str(path)])) == [("loaded", 1, 0)]
    assert task_rows(lab_path)["u1"] == {
        "workflow_id": None,
        "site": None,
        "service": None,
        "state": "succeeded",
        "state_raw": "Completed",
        "attempt": None,
        "created": at(3),
        "started": None,
        "finished": None,
        "error_message": None,
        "attributes": {"Node": "n-1"},
    }


def test_map_with_a_dotted_path_into_nested_json(tmp_path: Path, lab_path: Path) -> None:
    path = tmp_path / "nested.jsonl"
    path.write_text(
        jsonl(
            [
                {
                    "meta": {"uid": "n-1", "labels": {"app": "web"}},
                    "Status": {"State": "shutdown", "Err": None},
                    "when": {"created": iso(10)},
                    "owner": "ops",
                },
                {
                    "meta": {"uid": "n-2"},
                    "Status": {"State": "rejected", "Err": "no such image"},
                    "when": {"created": iso(11)},
                    "owner": "dev",
                    "extra": {"k": [1, 2]},
                },
            ]
        ),
        encoding="utf-8",
    )
    options = IngestOptions(
        mapping=(
            "task_id=meta.uid",
            "state=Status.State",
            "error_message=Status.Err",
            "created=when.created",
        )
    )

    summary = ingest(lab_path, [str(path)], options)

    assert statuses(summary) == [("loaded", 2, 0)]
    stored = task_rows(lab_path)
    assert {
        k: (v["state"], v["state_raw"], v["error_message"], v["created"])
        for k, v in stored.items()
    } == {
        "n-1": ("cancelled", "shutdown", None, at(10)),
        "n-2": ("failed", "rejected", "no such image", at(11)),
    }
    # what no column took stays in attributes, nesting and JSON types kept
    assert stored["n-1"]["attributes"]["owner"] == "ops"
    assert stored["n-2"]["attributes"]["owner"] == "dev"
    assert stored["n-2"]["attributes"]["extra"] == {"k": [1, 2]}


def test_map_with_a_dotted_path_into_a_parquet_struct(tmp_path: Path, lab_path: Path) -> None:
    path = tmp_path / "nested.parquet"
    table = pa.table(
        {
            "uid": ["p-1", "p-2"],
            "Status": [
                {"State": "shutdown", "place": {"site": "osl1"}},
                {"State": "rejected", "place": {"site": "sto1"}},
            ],
            "owner": ["ops", "dev"],
        }
    )
    pq.write_table(table, path)
    options = IngestOptions(
        kind="tasks", mapping=("task_id=uid", "state=Status.State", "site=Status.place.site")
    )

    summary = ingest(lab_path, [str(path)], options)

    assert statuses(summary) == [("loaded", 2, 0)]
    stored = task_rows(lab_path)
    assert {k: (v["state"], v["state_raw"], v["site"]) for k, v in stored.items()} == {
        "p-1": ("cancelled", "shutdown", "osl1"),
        "p-2": ("failed", "rejected", "sto1"),
    }
    assert stored["p-1"]["attributes"] == {"owner": "ops"}


def test_map_with_a_dotted_path_into_a_csv_column_is_refused_before_reading(
    tmp_path: Path, lab_path: Path
) -> None:
    """A CSV's column holds text, JSON text included: a dotted path into it would leave
    every row without the value (each a reject of its own). The run is refused, naming the
    column; a header that holds the dotted name itself is that column."""
    rows = [["j1", '{"phase": "Running"}', "queued"], ["j2", '{"phase": "Failed"}', "done"]]
    path = write_csv(tmp_path / "jobs.csv", ["id", "status", "status.phase"], rows)

    refused = ingest(
        lab_path,
        [str(path)],
        IngestOptions(kind="tasks", mapping=("task_id=id", "state=status.nothing")),
    )
    assert statuses(refused) == [("failed", 0, 0)]
    assert "--map state=status.nothing: column 'status' holds text" in refused.sources[0].message
    assert not lab_path.exists() or query(lab_path, "SELECT count(*) FROM tasks") == [(0,)]

    summary = ingest(
        lab_path,
        [str(path)],
        IngestOptions(kind="tasks", mapping=("task_id=id", "state=status.phase")),
    )
    assert statuses(summary) == [("loaded", 2, 0)]
    assert query(lab_path, "SELECT task_id, state FROM tasks ORDER BY 1") == [
        ("j1", "pending"),
        ("j2", "succeeded"),
    ]


def test_map_names_a_csv_column_the_variants_miss(tmp_path: Path, lab_path: Path) -> None:
    path = write_csv(
        tmp_path / "jobs.csv",
        ["job", "outcome", "submitted", "queue"],
        [["j1", "ok", iso(0), "gpu"], ["j2", "crashed", iso(1), "cpu"]],
    )

    summary = ingest(
        lab_path, [str(path)], IngestOptions(mapping=("task_id=job", "state=outcome"))
    )

    assert statuses(summary) == [("loaded", 2, 0)]
    stored = task_rows(lab_path)
    assert {k: (v["state"], v["created"], v["attributes"]) for k, v in stored.items()} == {
        "j1": ("succeeded", None, {"submitted": iso(0), "queue": "gpu"}),
        "j2": ("failed", None, {"submitted": iso(1), "queue": "cpu"}),
    }


# --------------------------------------------------------------------------- 3. transitions

TRANSITION_HEADER = ["task_id", "seq", "from_state", "to_state", "at", "reason"]


def transition_rows(lab: Path) -> list[tuple[Any, ...]]:
    return query(
        lab,
        "SELECT task_id, seq, from_state, to_state, to_state_raw, ts, reason, line "
        "FROM task_transitions ORDER BY task_id, seq",
    )


def test_transitions_with_seq(tmp_path: Path, lab_path: Path) -> None:
    path = write_csv(
        tmp_path / "transitions.csv",
        TRANSITION_HEADER,
        [
            ["t1", 1, None, "queued", iso(0), None],  # line 2
            ["t1", 2, "queued", "running", iso(5), None],  # line 3
            ["t2", 1, None, "new", iso(1), None],  # line 4
            ["t1", 3, "running", "retry", iso(9), "Timeout"],  # line 5
            ["t1", 4, "retry", "done", iso(20), None],  # line 6
        ],
    )

    summary = ingest(lab_path, [str(path)])

    assert statuses(summary) == [("loaded", 5, 0)]
    assert summary.sources[0].format == "transitions-csv"
    assert transition_rows(lab_path) == [
        ("t1", 1, None, "pending", "queued", at(0), None, 2),
        ("t1", 2, "pending", "running", "running", at(5), None, 3),
        ("t1", 3, "running", "retrying", "retry", at(9), "Timeout", 5),
        ("t1", 4, "retrying", "succeeded", "done", at(20), None, 6),
        ("t2", 1, None, "pending", "new", at(1), None, 4),
    ]


def test_transitions_without_seq_are_numbered_per_task_by_time(
    tmp_path: Path, lab_path: Path
) -> None:
    path = write_csv(
        tmp_path / "transitions.csv",
        ["task_id", "from_state", "to_state", "at"],
        [
            ["t1", "running", "succeeded", iso(60)],  # line 2
            ["t2", None, "pending", iso(2)],  # line 3
            ["t1", None, "pending", iso(0)],  # line 4
            ["t2", "pending", "failed", iso(3)],  # line 5
            ["t1", "pending", "running", iso(5)],  # line 6
        ],
    )

    summary = ingest(lab_path, [str(path)])

    assert statuses(summary) == [("loaded", 5, 0)]
    assert transition_rows(lab_path) == [
        ("t1", 1, None, "pending", "pending", at(0), None, 4),
        ("t1", 2, "pending", "running", "running", at(5), None, 6),
        ("t1", 3, "running", "succeeded", "succeeded", at(60), None, 2),
        ("t2", 1, None, "pending", "pending", at(2), None, 3),
        ("t2", 2, "pending", "failed", "failed", at(3), None, 5),
    ]


def test_a_change_a_file_without_seq_holds_twice_is_stored_once(
    tmp_path: Path, lab_path: Path
) -> None:
    """The same change on two lines of one file is one change, as when two files hold it
    (the later is skipped): it had been stored twice, numbered 2 and 3."""
    path = write_csv(
        tmp_path / "twice.csv",
        ["task_id", "from_state", "to_state", "at"],
        [
            ["t1", None, "pending", iso(0)],  # line 2
            ["t1", "pending", "running", iso(5)],  # line 3
            ["t1", "pending", "running", iso(5)],  # line 4: line 3 again
            ["t1", "running", "failed", iso(9)],  # line 5
        ],
    )

    summary = ingest(lab_path, [str(path)])

    assert statuses(summary) == [("loaded", 3, 0)]
    assert summary.sources[0].rows_skipped == 1
    assert [(r[1], r[2], r[3], r[7]) for r in transition_rows(lab_path)] == [
        (1, None, "pending", 2),
        (2, "pending", "running", 3),
        (3, "running", "failed", 5),
    ]


def test_a_later_export_without_seq_adds_to_the_transitions_stored(
    tmp_path: Path, lab_path: Path
) -> None:
    """Two exports of one task's changes without sequence numbers, the later overlapping
    the earlier: each is numbered 1, 2, ... and the later's numbers had replaced the
    stored transitions under them, so that pending -> running was lost. Now the change
    both hold is stored once, and the later's new ones are numbered after the lab's."""
    header = ["task_id", "from_state", "to_state", "at"]
    earlier = write_csv(
        tmp_path / "earlier.csv",
        header,
        [["t1", "pending", "running", iso(0)], ["t1", "running", "failed", iso(1)]],
    )
    later = write_csv(
        tmp_path / "later.csv",
        header,
        [
            ["t1", "running", "failed", iso(1)],  # line 2: stored already
            ["t1", "failed", "running", iso(2)],  # line 3: the retry
            ["t1", "running", "failed", iso(3)],  # line 4: the same change again
        ],
    )

    first = ingest(lab_path, [str(earlier)])
    second = ingest(lab_path, [str(later)])

    assert statuses(first) == [("loaded", 2, 0)]
    assert statuses(second) == [("loaded", 2, 0)]
    assert second.sources[0].rows_skipped == 1
    assert [(r[1], r[2], r[3], r[5], r[7]) for r in transition_rows(lab_path)] == [
        (1, "pending", "running", at(0), 2),
        (2, "running", "failed", at(1), 3),
        (3, "failed", "running", at(2), 3),
        (4, "running", "failed", at(3), 4),
    ]
    assert query(
        lab_path, "SELECT source, count(*) FROM task_transitions GROUP BY ALL ORDER BY 1"
    ) == [
        (str(earlier), 2),
        (str(later), 2),
    ]


def test_a_transition_from_an_unknown_state_is_a_reject(tmp_path: Path, lab_path: Path) -> None:
    """A transition from no state (a task's first) loads; one from a word no state is known
    by is a reject naming it. It had been stored as from no state, the word lost."""
    path = write_csv(
        tmp_path / "from.csv",
        TRANSITION_HEADER,
        [
            ["t1", 1, None, "queued", iso(0), None],  # line 2
            ["t1", 2, "weird", "running", iso(5), None],  # line 3
            ["t1", 3, " Running ", "done", iso(9), None],  # line 4: a known word, as written
        ],
    )

    summary = ingest(lab_path, [str(path)])

    assert statuses(summary) == [("loaded", 2, 1)]
    [(line, reason)] = rejects(lab_path, path)
    assert line == 3
    assert reason.startswith("transitions: column from_state: unknown state ")
    assert '"weird"' in reason
    assert [r[:4] for r in transition_rows(lab_path)] == [
        ("t1", 1, None, "pending"),
        ("t1", 3, "running", "succeeded"),
    ]


def test_duplicate_transition_is_a_reject_naming_line_and_column(
    tmp_path: Path, lab_path: Path
) -> None:
    path = write_csv(
        tmp_path / "transitions.csv",
        TRANSITION_HEADER,
        [
            ["t1", 1, None, "queued", iso(0), None],  # line 2
            ["t1", 2, "queued", "running", iso(5), None],  # line 3
            ["t2", 2, None, "running", iso(6), None],  # line 4: another task's #2
            ["t1", 2, "queued", "failed", iso(7), "again"],  # line 5: t1 #2 again
        ],
    )

    summary = ingest(lab_path, [str(path)])

    assert statuses(summary) == [("loaded", 3, 1)]
    [(line, reason)] = rejects(lab_path, path)
    assert line == 5
    assert reason.startswith("transitions: column task_id: ")
    assert '"t1"' in reason
    assert "first on line 3" in reason
    # the first of the two is the one kept
    assert [r[:4] for r in transition_rows(lab_path)] == [
        ("t1", 1, None, "pending"),
        ("t1", 2, "pending", "running"),
        ("t2", 2, None, "running"),
    ]


def test_a_sequence_number_written_two_ways_is_one_transition(
    tmp_path: Path, lab_path: Path
) -> None:
    # "02" and "2" are both stored as 2: two rows of one task and number would be one
    # key twice in the lab
    path = write_csv(
        tmp_path / "transitions.csv",
        TRANSITION_HEADER,
        [
            ["t1", "1", None, "queued", iso(0), None],  # line 2
            ["t1", "02", "queued", "running", iso(5), None],  # line 3
            ["t1", "2", "queued", "failed", iso(7), None],  # line 4: #2 again
        ],
    )

    summary = ingest(lab_path, [str(path)])

    assert statuses(summary) == [("loaded", 2, 1)]
    [(line, reason)] = rejects(lab_path, path)
    assert line == 4
    assert '"t1" #2 (first on line 3)' in reason
    assert [r[:4] for r in transition_rows(lab_path)] == [
        ("t1", 1, None, "pending"),
        ("t1", 2, "pending", "running"),
    ]


# --------------------------------------------------------------------------- 4. events


def cloudevent(
    event_id: str,
    second: int,
    *,
    type_: str = "dv.task.started",
    source: str = "dv/sto1/nova",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "type": type_,
        "source": source,
        "time": iso(second),
        "datacontenttype": "application/json",
        **extra,
    }


def message(
    seq: int, event: dict[str, Any], *, delivered: int = 1, published: int | None = None
) -> dict[str, Any]:
    """A JetStream export line: one delivered message, a CloudEvents envelope as data."""
    return {
        "stream": "WORKFLOW",
        "seq": seq,
        "subject": "dv.events",
        "time": iso(published if published is not None else 100 + seq),
        "delivered": delivered,
        "headers": {"Nats-Msg-Id": event["id"]},
        "data": event,
    }


EV1 = cloudevent("ev-1", 0, correlationid="req-1", data={"task_id": "t1", "workflow_id": "w1"})
EV2 = cloudevent(
    "ev-2", 1, type_="dv.task.failed", source="dv/osl2/neutron", correlationid="req-1"
)
EV3 = cloudevent("ev-3", 2, source="https://dataverket.invalid/osl1/cinder/")

EXPORT = [
    message(1, EV1),  # line 1
    message(2, EV2),  # line 2
    message(2, EV2, delivered=2),  # line 3: redelivered (same seq)
    message(3, EV3),  # line 4
    message(4, EV3, published=110),  # line 5: republished (new seq, same Nats-Msg-Id)
]


def event_rows(lab: Path) -> list[tuple[Any, ...]]:
    return query(
        lab,
        "SELECT event_id, stream, seq, time, published, type, site, service, correlation_id, "
        "deliveries, source, line FROM events ORDER BY event_id",
    )


def test_jetstream_export_stores_one_row_per_event_counting_deliveries(
    tmp_path: Path, lab_path: Path
) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(jsonl(EXPORT), encoding="utf-8")

    summary = ingest(lab_path, [str(path)])

    assert statuses(summary) == [("loaded", 3, 0)]
    # the five lines are three events: the redelivery and the republished copy are skipped
    assert summary.sources[0].rows_skipped == 2
    assert summary.sources[0].format == "events-jsonl"
    src = str(path)
    assert event_rows(lab_path) == [
        ("ev-1", "WORKFLOW", 1, at(0), at(101), "dv.task.started", "sto1", "nova", "req-1", 1,
         src, 1),
        ("ev-2", "WORKFLOW", 2, at(1), at(102), "dv.task.failed", "osl2", "neutron", "req-1", 2,
         src, 2),
        ("ev-3", "WORKFLOW", 3, at(2), at(103), "dv.task.started", "osl1", "cinder", None, 2,
         src, 4),
    ]  # fmt: skip
    payload = query(lab_path, "SELECT payload::VARCHAR FROM events WHERE event_id = 'ev-1'")
    assert json.loads(payload[0][0]) == {"task_id": "t1", "workflow_id": "w1"}


def test_a_table_of_messages_holds_its_envelopes_as_text(tmp_path: Path, lab_path: Path) -> None:
    """A CSV export (as a database table) keeps data and headers as JSON text: read as the
    JSON they hold, the envelope's id, type, site and service count, as in JSON lines."""
    envelope = cloudevent("e1", 0, subject="t1", data={"task_id": "t1"})
    path = write_csv(
        tmp_path / "events.csv",
        ["stream", "seq", "subject", "time", "headers", "data"],
        [
            ["S", 1, "dv.x", iso(1), json.dumps({"Nats-Msg-Id": "m1"}), json.dumps(envelope)],
            ["S", 2, "dv.y", iso(2), "", "not json"],
            # JSON that is no object: the value it holds, as a JSON-lines export gives it
            # (they had been text: "\"a string\"", "42")
            ["S", 3, "dv.z", iso(3), "", json.dumps("a string")],
            ["S", 4, "dv.z", iso(4), "", "42"],
            ["S", 5, "dv.z", iso(5), "", "[1, 2]"],
        ],
    )
    ingest(lab_path, [str(path)], IngestOptions(kind="events"))

    assert query(
        lab_path,
        "SELECT event_id, type, site, service, headers ->> 'Nats-Msg-Id', payload::VARCHAR "
        "FROM events ORDER BY seq",
    ) == [
        ("e1", "dv.task.started", "sto1", "nova", "m1", '{"task_id":"t1"}'),
        ("S:2", "dv.y", None, None, None, '"not json"'),
        ("S:3", "dv.z", None, None, None, '"a string"'),
        ("S:4", "dv.z", None, None, None, "42"),
        ("S:5", "dv.z", None, None, None, "[1,2]"),
    ]


@pytest.mark.parametrize("kind", ["tasks", "events"])
def test_a_bad_line_of_a_json_lines_table_is_a_reject_on_its_line(
    kind: str, tmp_path: Path, lab_path: Path
) -> None:
    """One line that is no JSON object had failed the whole file, naming a line one past
    it; an export still being written ends in such a line."""
    if kind == "tasks":
        good = [{"task_id": f"t{i}", "state": "running", "created_at": iso(i)} for i in (1, 2)]
    else:
        good = [cloudevent(f"e{i}", i) for i in (1, 2)]
    lines = [json.dumps(good[0]), "garbage", "", "[1, 2]", json.dumps(good[1])]
    path = tmp_path / f"{kind}.jsonl"
    path.write_text("\n".join(lines) + '\n{"cut": "sho', encoding="utf-8")

    summary = ingest(lab_path, [str(path)], IngestOptions(kind=kind))

    report = summary.sources[0]
    assert (report.status, report.rows_loaded, report.rows_rejected) == ("loaded", 2, 3)
    key = "task_id" if kind == "tasks" else "event_id"
    assert query(lab_path, f"SELECT {key}, line FROM {kind} ORDER BY line") == [
        (f"{key[0]}1", 1),
        (f"{key[0]}2", 5),
    ]
    assert query(lab_path, "SELECT line, reason, raw FROM rejects ORDER BY line") == [
        (2, f"{kind}: not valid JSON", "garbage"),
        (4, f"{kind}: a JSON line must be an object, not array", "[1, 2]"),
        (6, f"{kind}: not valid JSON", '{"cut": "sho'),
    ]


def test_bare_cloudevents_lines(tmp_path: Path, lab_path: Path) -> None:
    path = tmp_path / "cloudevents.jsonl"
    lines = [
        json.dumps(cloudevent("ce-1", 5, source="//dataverket/sto2/octavia", data={"lb": 1})),
        "",  # a blank line: ce-2 is on line 3
        json.dumps(cloudevent("ce-2", 6, source="dv/x/y", site="osl9", service="heat")),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    summary = ingest(lab_path, [str(path)])

    assert statuses(summary) == [("loaded", 2, 0)]
    src = str(path)
    assert event_rows(lab_path) == [
        ("ce-1", None, None, at(5), None, "dv.task.started", "sto2", "octavia", None, 1, src, 1),
        ("ce-2", None, None, at(6), None, "dv.task.started", "osl9", "heat", None, 1, src, 3),
    ]


def test_jetstream_messages_without_cloudevents_are_told_apart_by_message_id(
    tmp_path: Path, lab_path: Path
) -> None:
    """Two messages about one VM (plain JSON data that has an ``id`` of its own) are two events;
    the data's ``id`` is the VM's, not the message's."""
    lines = [
        {
            "stream": "INVENTORY",
            "seq": 7,
            "subject": "inv.vm",
            "time": iso(0),
            "headers": {"Nats-Msg-Id": "m-1"},
            "data": {"id": "vm-42", "state": "up"},
        },
        {
            "stream": "INVENTORY",
            "seq": 8,
            "subject": "inv.vm",
            "time": iso(5),
            "headers": {"Nats-Msg-Id": "m-2"},
            "data": {"id": "vm-42", "state": "down"},
        },
        {
            "stream": "INVENTORY",
            "seq": 9,
            "subject": "inv.host",
            "time": iso(6),
            "data": {"host": "h-1"},
        },
    ]
    path = tmp_path / "inventory.jsonl"
    path.write_text(jsonl(lines), encoding="utf-8")

    summary = ingest(lab_path, [str(path)])

    assert statuses(summary) == [("loaded", 3, 0)]
    assert query(
        lab_path, "SELECT event_id, seq, time, type, deliveries FROM events ORDER BY seq"
    ) == [
        ("m-1", 7, at(0), "inv.vm", 1),
        ("m-2", 8, at(5), "inv.vm", 1),
        ("INVENTORY:9", 9, at(6), "inv.host", 1),
    ]


def test_an_empty_event_id_is_no_id(tmp_path: Path, lab_path: Path) -> None:
    """CloudEvents require an id that is not empty: an empty or blank one (or such a
    Nats-Msg-Id) falls back to the next identity, so three such messages stay three
    events."""
    lines = [
        {
            "stream": "WF",
            "seq": seq,
            "subject": "wf.x",
            "time": iso(seq),
            "headers": {"Nats-Msg-Id": msg_id},
            "data": cloudevent(event_id, seq),
        }
        for seq, msg_id, event_id in ((1, "", ""), (2, "m-2", ""), (3, " ", "  "))
    ]
    path = tmp_path / "empty-ids.jsonl"
    path.write_text(jsonl(lines), encoding="utf-8")

    assert statuses(ingest(lab_path, [str(path)])) == [("loaded", 3, 0)]
    assert query(lab_path, "SELECT event_id, seq, deliveries FROM events ORDER BY seq") == [
        ("WF:1", 1, 1),
        ("m-2", 2, 1),
        ("WF:3", 3, 1),
    ]


def test_events_reingested_or_repeated_in_another_file_are_stored_once(
    tmp_path: Path, lab_path: Path
) -> None:
    first = tmp_path / "export-1.jsonl"
    first.write_text(jsonl(EXPORT), encoding="utf-8")
    assert statuses(ingest(lab_path, [str(first)])) == [("loaded", 3, 0)]
    before = snapshot(lab_path, DATA_TABLES)

    again = ingest(lab_path, [str(first)])

    assert [s.status for s in again.sources] == ["unchanged"]
    assert snapshot(lab_path, DATA_TABLES) == before

    # a later export that starts where the first ended, repeating ev-3 (redelivered once more)
    ev4 = cloudevent("ev-4", 30)
    second = tmp_path / "export-2.jsonl"
    second.write_text(jsonl([message(4, EV3, delivered=2), message(5, ev4)]), encoding="utf-8")

    ingest(lab_path, [str(second)])

    ids = Counter(r[0] for r in query(lab_path, "SELECT event_id FROM events"))
    assert ids == {"ev-1": 1, "ev-2": 1, "ev-3": 1, "ev-4": 1}
    # the stored ev-3 is the first file's
    assert query(lab_path, "SELECT source, line FROM events WHERE event_id = 'ev-3'") == [
        (str(first), 4)
    ]
    assert query(lab_path, "SELECT source, line FROM events WHERE event_id = 'ev-4'") == [
        (str(second), 2)
    ]


def test_one_event_id_from_two_cloudevents_sources_is_two_events(
    tmp_path: Path, lab_path: Path
) -> None:
    """CloudEvents make an id unique within its source only: two services that both count
    their events from 1 send two events with id "1". Both are stored; a redelivery of
    either (same id, same source) is still one event, counted."""
    nova = cloudevent("1", 0, source="dv/sto1/nova")
    neutron = cloudevent("1", 1, type_="dv.task.failed", source="dv/osl2/neutron")
    lines = [message(1, nova), message(2, neutron), message(3, nova, delivered=2)]
    path = tmp_path / "counters.jsonl"
    path.write_text(jsonl(lines), encoding="utf-8")

    assert statuses(ingest(lab_path, [str(path)])) == [("loaded", 2, 0)]
    rows = "SELECT event_id, event_source, site, service, type, deliveries, line FROM events"
    assert query(lab_path, rows + " ORDER BY line") == [
        ("1", "dv/sto1/nova", "sto1", "nova", "dv.task.started", 2, 1),
        ("1", "dv/osl2/neutron", "osl2", "neutron", "dv.task.failed", 1, 2),
    ]

    # another file repeating neutron's event and bringing a third source's "1"
    cinder = cloudevent("1", 2, source="dv/osl1/cinder")
    later = tmp_path / "counters-2.jsonl"
    later.write_text(jsonl([message(4, neutron, delivered=3), message(5, cinder)]), "utf-8")
    ingest(lab_path, [str(later)])

    assert query(lab_path, "SELECT event_source, deliveries FROM events ORDER BY ALL") == [
        ("dv/osl1/cinder", 1),
        ("dv/osl2/neutron", 3),
        ("dv/sto1/nova", 2),
    ]
    # an id taken from Nats-Msg-Id or stream and sequence is its stream's
    plain = tmp_path / "plain.jsonl"
    plain.write_text(
        jsonl([{"stream": "S", "seq": 9, "subject": "x", "time": iso(3), "data": {}}]), "utf-8"
    )
    ingest(lab_path, [str(plain)])
    assert query(lab_path, "SELECT event_source FROM events WHERE event_id = 'S:9'") == [
        ("nats:S",)
    ]


# --------------------------------------------------------------------------- 5. bad input

BASE_TASKS = [
    ["a1", "running", iso(0), None],
    ["a2", "done", iso(1), iso(2)],
    ["a3", "queued", iso(3), None],
]
TASK_HEADER = ["task_id", "state", "created_at", "finished_at"]


@pytest.fixture
def filled_lab(tmp_path: Path, lab_path: Path) -> Path:
    """A lab holding tasks, events and logs before the bad source comes."""
    folder = tmp_path / "base"
    folder.mkdir()
    tasks = write_csv(folder / "base.csv", TASK_HEADER, BASE_TASKS)
    events = folder / "events.jsonl"
    events.write_text(jsonl(EXPORT), encoding="utf-8")
    logs = folder / "app.jsonl"
    logs.write_text(
        jsonl([{"time": iso(0), "level": "info", "msg": "hello", "task_id": "a1"}]),
        encoding="utf-8",
    )
    summary = ingest(lab_path, [str(tasks), str(events), str(logs)])
    assert statuses(summary) == [("loaded", 3, 0), ("loaded", 3, 0), ("loaded", 1, 0)]
    return lab_path


def kept_apart_from(lab: Path, source: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The lab's rows that did not come from ``source``, ledger rows included."""
    shot = snapshot(lab)
    return {table: [r for r in rows if str(source) not in r] for table, rows in shot.items()}


#: (rows after the header, the rejected line, what its reason must say)
BAD_ROWS = {
    "unknown state": (
        [["b1", "running", iso(5), None], ["a1", "sleeping", iso(6), None]],
        3,
        ["tasks: column state: ", '"sleeping"'],
    ),
    "duplicate id": (
        [
            ["b1", "running", iso(5), None],
            ["b2", "done", iso(6), iso(7)],
            ["b1", "done", iso(8), iso(9)],
        ],
        4,
        ["tasks: column task_id: ", '"b1"', "first on line 2"],
    ),
    "finished before created": (
        [["b1", "running", iso(5), None], ["a2", "done", iso(9), iso(8)]],
        3,
        ["tasks: columns created_at/finished_at: ", iso(8)[:19], iso(9)[:19]],
    ),
    "not a time": (
        [["b1", "running", iso(5), None], ["a3", "done", "yesterday", None]],
        3,
        ["tasks: column created_at: ", '"yesterday"', "not a time"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_row_is_a_reject_and_the_lab_keeps_what_it_held(
    tmp_path: Path, filled_lab: Path, case: str
) -> None:
    rows, line, says = BAD_ROWS[case]
    path = write_csv(tmp_path / "bad.csv", TASK_HEADER, rows)
    before = snapshot(filled_lab)

    summary = ingest(filled_lab, [str(path)])

    assert statuses(summary) == [("loaded", len(rows) - 1, 1)]
    [(rejected_line, reason)] = rejects(filled_lab, path)
    assert rejected_line == line
    for text in says:
        assert text in reason, (text, reason)
    # all that was there before is still there, unchanged; the good rows are added
    assert kept_apart_from(filled_lab, path) == before
    assert set(task_rows(filled_lab, path)) == {r[0] for i, r in enumerate(rows, 2) if i != line}


def test_duplicate_id_keeps_the_first_line(tmp_path: Path, lab_path: Path) -> None:
    rows, _, _ = BAD_ROWS["duplicate id"]
    path = write_csv(tmp_path / "dup.csv", TASK_HEADER, rows)

    ingest(lab_path, [str(path)])

    assert query(lab_path, "SELECT task_id, state, line FROM tasks ORDER BY 1") == [
        ("b1", "running", 2),
        ("b2", "succeeded", 3),
    ]


def test_a_rejected_row_leaves_its_id_to_the_next_row_that_loads(
    tmp_path: Path, lab_path: Path
) -> None:
    """A row rejected for a reason of its own (an unknown state) makes no later row of its
    id a duplicate: the next row loads, and a third is a duplicate of that one, as when
    the rows come in runs of their own."""
    path = write_csv(
        tmp_path / "after-reject.csv",
        TASK_HEADER,
        [
            ["d1", "sleeping", iso(1), None],
            ["d1", "running", iso(2), None],
            ["d1", "done", iso(3), iso(4)],
        ],
    )

    summary = ingest(lab_path, [str(path)])

    assert statuses(summary) == [("loaded", 1, 2)]
    assert query(lab_path, "SELECT task_id, state, line FROM tasks") == [("d1", "running", 3)]
    [(first, unknown), (third, duplicate)] = rejects(lab_path)
    assert (first, third) == (2, 4)
    assert "unknown state" in unknown
    assert "duplicate id" in duplicate and "first on line 3" in duplicate


def test_an_id_seen_three_times_keeps_the_first_and_rejects_both_others(
    tmp_path: Path, lab_path: Path
) -> None:
    path = write_csv(
        tmp_path / "three.csv",
        TASK_HEADER,
        [
            ["c1", "running", iso(1), None],
            ["c1", "done", iso(2), iso(3)],
            ["c2", "done", iso(4), iso(5)],
            ["c1", "failed", iso(6), iso(7)],
        ],
    )

    summary = ingest(lab_path, [str(path)])

    assert statuses(summary) == [("loaded", 2, 2)]
    assert [(line, "first on line 2" in reason) for line, reason in rejects(lab_path)] == [
        (3, True),
        (5, True),
    ]
    assert query(lab_path, "SELECT task_id, line FROM tasks ORDER BY 1") == [("c1", 2), ("c2", 4)]


#: (as written, as stored): spaces at either end go, Unicode's other space separators too,
#: a tab or a space inside stays, and nothing but spaces is no value
TRIMMED = [
    ("plain", "plain"),
    ("  both  ", "both"),
    ("\u00a0nbsp\u00a0", "nbsp"),
    ("\u3000ideographic", "ideographic"),
    ("thin\u2009", "thin"),
    ("\ttab\t", "\ttab\t"),
    ("inner space", "inner space"),
    (" Ørsta ", "Ørsta"),
    ("Ørsta", "Ørsta"),
    ("   ", None),
]


def test_values_are_trimmed_of_spaces_and_space_separators(tmp_path: Path, lab_path: Path) -> None:
    path = write_csv(
        tmp_path / "spaces.csv",
        ["task_id", "state", "site", "created_at"],
        [[f"t{i}", "running", written, iso(i)] for i, (written, _) in enumerate(TRIMMED)],
    )

    ingest(lab_path, [str(path)])

    stored = dict(query(lab_path, "SELECT task_id, site FROM tasks"))
    assert stored == {f"t{i}": kept for i, (_, kept) in enumerate(TRIMMED)}


@pytest.mark.parametrize("tz", ["UTC", "Europe/Oslo", "America/New_York"])
def test_end_before_start_quotes_both_times_in_utc(
    tmp_path: Path, lab_path: Path, tz: str
) -> None:
    """The times are written with offsets, so --tz changes nothing about them; the reason
    quotes them as UTC (it ends them in Z)."""
    path = write_csv(
        tmp_path / "order.csv",
        ["task_id", "state", "created_at", "started_at"],
        [["x1", "running", "2026-05-01T12:00:09Z", "2026-05-01T14:00:01+02:00"]],
    )

    summary = ingest(lab_path, [str(path)], IngestOptions(tz=tz))

    assert statuses(summary) == [("loaded", 0, 1)]
    assert rejects(lab_path) == [
        (
            2,
            "tasks: columns created_at/started_at: ends 2026-05-01T12:00:01.000000Z "
            "before it starts 2026-05-01T12:00:09.000000Z",
        )
    ]


@pytest.mark.parametrize("kind", [None, "tasks"])
def test_task_csv_without_a_state_column_fails_naming_it(
    tmp_path: Path, filled_lab: Path, kind: str | None
) -> None:
    path = write_csv(
        tmp_path / "nostate.csv",
        ["task_id", "workflow_id", "created_at", "finished_at"],
        [["b1", "w1", iso(5), iso(6)]],
    )
    before = snapshot(filled_lab)

    summary = ingest(filled_lab, [str(path)], IngestOptions(kind=kind))

    [report] = summary.sources
    assert report.status == "failed"
    assert report.message is not None
    assert "no column for state" in report.message
    assert "--map state=" in report.message
    assert kept_apart_from(filled_lab, path) == before
    assert snapshot(filled_lab, DATA_TABLES) == {t: before[t] for t in DATA_TABLES}


STRICT_CASES = {
    **{name: rows for name, (rows, _, _) in BAD_ROWS.items()},
    "no state column": None,
}


@pytest.mark.parametrize("case", list(STRICT_CASES))
def test_strict_writes_nothing(tmp_path: Path, filled_lab: Path, case: str) -> None:
    rows = STRICT_CASES[case]
    if rows is None:
        path = write_csv(tmp_path / "bad.csv", ["task_id", "created_at"], [["b1", iso(5)]])
        options = IngestOptions(strict=True, kind="tasks")
    else:
        path = write_csv(tmp_path / "bad.csv", TASK_HEADER, rows)
        options = IngestOptions(strict=True)
    # a good file in the same run is not written either
    good = write_csv(tmp_path / "good.csv", TASK_HEADER, [["g1", "running", iso(0), None]])
    before = snapshot(filled_lab)

    with pytest.raises(BadInputError) as caught:
        ingest(filled_lab, [str(good), str(path)], options)

    assert "--strict" in str(caught.value)
    assert "nothing written" in str(caught.value)
    assert snapshot(filled_lab) == before


@pytest.mark.parametrize(
    ("option", "says"),
    [
        ("nocolumn=x", ["'nocolumn' is not a column of tasks or task_transitions", "known: "]),
        ("state", ["--map 'state' is not COLUMN=NAME"]),
        ("=Status.State", ["is not COLUMN=NAME"]),
    ],
)
def test_bad_map_value_exits_2_and_writes_nothing(
    tmp_path: Path,
    filled_lab: Path,
    capsys: pytest.CaptureFixture[str],
    option: str,
    says: list[str],
) -> None:
    path = write_csv(tmp_path / "ok.csv", TASK_HEADER, [["b1", "running", iso(0), None]])
    before = snapshot(filled_lab)

    code, out, err = run_cli(capsys, "--db", str(filled_lab), "ingest", "--map", option, str(path))

    assert code == 2
    assert out == ""
    assert err.startswith("dvlab: ")
    for text in says:
        assert text in err, (text, err)
    assert snapshot(filled_lab) == before


def test_bad_map_value_creates_no_lab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = tmp_path / "new.duckdb"
    path = write_csv(tmp_path / "ok.csv", TASK_HEADER, [["b1", "running", iso(0), None]])

    code, _, err = run_cli(capsys, "--db", str(lab), "ingest", "--map", "nocolumn=x", str(path))

    assert code == 2
    assert "nocolumn" in err
    assert not lab.exists()


def test_map_to_a_column_the_csv_lacks_fails_the_source_naming_it(
    tmp_path: Path, filled_lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--map state=Phase`` for a CSV with no column ``Phase``: the required column is missing,
    so the source fails whole (as without the --map), rather than every row being rejected."""
    path = write_csv(
        tmp_path / "typo.csv",
        ["task_id", "phase_name", "created_at"],
        [["b1", "running", iso(0)], ["b2", "done", iso(1)]],
    )
    before = snapshot(filled_lab, DATA_TABLES)

    code, _, err = run_cli(
        capsys, "--db", str(filled_lab), "ingest", "--map", "state=Phase", str(path)
    )

    assert code == 2
    assert "Phase" in err
    assert snapshot(filled_lab, DATA_TABLES) == before


# --------------------------------------------------------------------------- 6. updates


def test_reingesting_an_unchanged_task_file_changes_nothing(
    tmp_path: Path, lab_path: Path
) -> None:
    path = write_five(tmp_path, "csv")
    assert statuses(ingest(lab_path, [str(path)])) == [("loaded", 5, 0)]
    before = snapshot(lab_path, DATA_TABLES)

    again = ingest(lab_path, [str(path)])

    assert [(s.status, s.rows_loaded) for s in again.sources] == [("unchanged", 0)]
    assert snapshot(lab_path, DATA_TABLES) == before


@pytest.mark.parametrize("layout", ["csv", "jsonl", "parquet"])
def test_an_edited_task_replaces_its_row(tmp_path: Path, lab_path: Path, layout: str) -> None:
    path = write_five(tmp_path, layout)
    ingest(lab_path, [str(path)])
    # t3 ran, and finished
    edited = [dict(t) for t in FIVE]
    edited[2].update(state="succeeded", finished_at=iso(70))
    write_five(tmp_path, layout, edited)

    summary = ingest(lab_path, [str(path)])

    assert [(s.rows_loaded, s.rows_rejected) for s in summary.sources] == [(5, 0)]
    assert query(lab_path, "SELECT count(*), count(DISTINCT task_id) FROM tasks") == [(5, 5)]
    expected = {k: dict(v) for k, v in FIVE_STORED.items()}
    expected["t3"].update(state="succeeded", state_raw="succeeded", finished=at(70))
    assert task_rows(lab_path) == expected


def test_a_grown_task_file_adds_its_new_tasks(tmp_path: Path, lab_path: Path) -> None:
    path = write_csv(tmp_path / "tasks.csv", TASK_HEADER, BASE_TASKS)
    ingest(lab_path, [str(path)])
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"a4,running,{iso(4)},\n")

    summary = ingest(lab_path, [str(path)])

    assert [s.rows_rejected for s in summary.sources] == [0]
    assert query(lab_path, "SELECT task_id, state, line FROM tasks ORDER BY 1") == [
        ("a1", "running", 2),
        ("a2", "succeeded", 3),
        ("a3", "pending", 4),
        ("a4", "running", 5),
    ]


def test_an_edit_that_fixes_a_rejected_line_leaves_no_reject(
    tmp_path: Path, lab_path: Path
) -> None:
    path = write_csv(
        tmp_path / "tasks.csv",
        TASK_HEADER,
        [*BASE_TASKS, ["a4", "sleeping", iso(4), None]],
    )
    assert statuses(ingest(lab_path, [str(path)])) == [("loaded", 3, 1)]
    assert [line for line, _ in rejects(lab_path)] == [5]
    write_csv(path, TASK_HEADER, [*BASE_TASKS, ["a4", "queued", iso(4), None]])

    # edited in place (same first line): the earlier version and its reject are replaced
    assert statuses(ingest(lab_path, [str(path)])) == [("rewritten", 4, 0)]

    assert query(lab_path, "SELECT task_id, state FROM tasks WHERE task_id = 'a4'") == [
        ("a4", "pending")
    ]
    # line 5 now loads: the lab no longer says it was rejected
    assert rejects(lab_path) == []


# --------------------------------------------------------------------------- 7. timeline


def test_timeline_of_one_correlation_id_has_logs_events_and_tasks_in_time_order(
    tmp_path: Path, lab_path: Path
) -> None:
    logs = tmp_path / "app.jsonl"
    logs.write_text(
        jsonl(
            [
                {"time": iso(0), "level": "info", "msg": "request in", "correlation_id": "req-7"},
                {"time": iso(1), "level": "info", "msg": "other", "correlation_id": "req-8"},
                {"time": iso(30), "level": "warn", "msg": "slow", "correlation_id": "req-7"},
                {"time": iso(90), "level": "info", "msg": "reply", "correlation_id": "req-7"},
            ]
        ),
        encoding="utf-8",
    )
    events = tmp_path / "events.jsonl"
    events.write_text(
        jsonl(
            [
                cloudevent("e-1", 10, correlationid="req-7"),
                cloudevent("e-2", 11, correlationid="req-8"),
                cloudevent("e-3", 75, type_="dv.task.succeeded", correlationid="req-7"),
            ]
        ),
        encoding="utf-8",
    )
    tasks = write_csv(
        tmp_path / "tasks.csv",
        ["task_id", "state", "created_at", "started_at", "finished_at", "correlation_id"],
        [
            ["k1", "done", iso(20), iso(40), iso(70), "req-7"],
            ["k2", "done", iso(21), iso(41), iso(71), "req-8"],
        ],
    )
    summary = ingest(lab_path, [str(logs), str(events), str(tasks)])
    assert statuses(summary) == [("loaded", 4, 0), ("loaded", 3, 0), ("loaded", 2, 0)]

    rows = timeline(lab_path, id="req-7").select("ts, kind").fetchall()

    assert rows == [
        (at(0), "log"),
        (at(10), "event"),
        (at(20), "task"),  # k1 created
        (at(30), "log"),
        (at(40), "task"),  # k1 started
        (at(70), "task"),  # k1 finished
        (at(75), "event"),
        (at(90), "log"),
    ]


# --------------------------------------------------------------------------- 8. forget


def test_forget_a_task_file_removes_its_rows(
    tmp_path: Path, filled_lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = write_five(tmp_path / "other", "jsonl")
    assert statuses(ingest(filled_lab, [str(other)])) == [("loaded", 5, 0)]
    base = tmp_path / "base" / "base.csv"
    assert len(task_rows(filled_lab, base)) == 3
    keep = snapshot(filled_lab, ("logs", "events"))

    code, _, err = run_cli(capsys, "--db", str(filled_lab), "forget", str(base))

    assert code == 0, err
    assert task_rows(filled_lab, base) == {}
    assert task_rows(filled_lab) == FIVE_STORED
    assert snapshot(filled_lab, ("logs", "events")) == keep

    # loaded afresh next time
    assert statuses(ingest(filled_lab, [str(base)])) == [("loaded", 3, 0)]
    assert set(task_rows(filled_lab, base)) == {"a1", "a2", "a3"}


def test_forget_an_edited_task_file_removes_every_version(tmp_path: Path, lab_path: Path) -> None:
    path = write_csv(tmp_path / "tasks.csv", TASK_HEADER, BASE_TASKS)
    ingest(lab_path, [str(path)])
    write_csv(path, TASK_HEADER, [*BASE_TASKS[:2], ["a3", "done", iso(3), iso(9)]])
    ingest(lab_path, [str(path)])

    [report] = forget(lab_path, [str(path)])

    assert report.rows == 3
    assert query(lab_path, "SELECT count(*) FROM tasks") == [(0,)]


def test_a_table_whose_rows_another_source_replaced_loads_again_after_that_one_is_forgotten(
    tmp_path: Path, lab_path: Path
) -> None:
    """The same tasks exported twice (say CSV and JSON lines): the second load takes the
    rows over; forgetting it used to leave the first export 'unchanged' and the table empty."""
    first = write_csv(tmp_path / "tasks.csv", TASK_HEADER, BASE_TASKS)
    second = tmp_path / "tasks.jsonl"
    second.write_text(
        jsonl([dict(zip(TASK_HEADER, row, strict=True)) for row in BASE_TASKS]), "utf-8"
    )
    ingest(lab_path, [str(first)])
    ingest(lab_path, [str(second)])
    assert {r[0] for r in query(lab_path, "SELECT DISTINCT source FROM tasks")} == {str(second)}
    forget(lab_path, [str(second)])
    assert query(lab_path, "SELECT count(*) FROM tasks") == [(0,)]

    again = ingest(lab_path, [str(first)])

    assert [(s.status, s.rows_loaded) for s in again.sources] == [("grown", len(BASE_TASKS))]
    assert query(lab_path, "SELECT count(*) FROM tasks") == [(len(BASE_TASKS),)]
    assert [s.status for s in ingest(lab_path, [str(first)]).sources] == ["unchanged"]


def test_a_table_loaded_again_counts_the_stored_rows_it_replaced(
    tmp_path: Path, lab_path: Path
) -> None:
    path = tmp_path / "tasks.csv"
    lines = ["task_id,state,created_at"] + [f"t{i},running,{iso(i)}" for i in range(4)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert ingest(lab_path, [str(path)]).total("rows_replaced") == 0
    path.write_text(path.read_text().replace("t2,running", "t2,failed"), encoding="utf-8")

    summary = ingest(lab_path, [str(path)])

    # every id the file holds was stored already: all four rows replaced, one of them changed
    assert (summary.total("rows_loaded"), summary.total("rows_replaced")) == (4, 4)
    assert ", 4 loaded, 0 rejected, 0 skipped, 4 replaced" in summary.line()  # as --json says
    assert {k: v["state"] for k, v in task_rows(lab_path).items()} == {
        "t0": "running",
        "t1": "running",
        "t2": "failed",
        "t3": "running",
    }


@pytest.mark.parametrize(
    ("header", "kind", "twice"),
    [
        (["task_id", "state", "state"], None, "'state' twice (columns 2 and 3)"),
        (["ts", "cpu", "CPU", "cpu"], "metrics", "'CPU' twice (columns 2 and 3)"),
    ],
)
def test_a_header_naming_a_column_twice_fails_the_file(
    tmp_path: Path, filled_lab: Path, header: list[str], kind: str | None, twice: str
) -> None:
    """Which of two columns of one name a value belongs to cannot be told: read anyway, the
    second was stored under another name, or every cell of the first stored three times."""
    row = ["t1", "running", "done"] if kind is None else ["2026-01-01T00:00:00Z", "1", "2", "3"]
    path = write_csv(tmp_path / "twice.csv", header, [row])
    before = snapshot(filled_lab)

    summary = ingest(filled_lab, [str(path)], IngestOptions(kind=kind))

    [report] = summary.sources
    assert report.status == "failed"
    assert report.message == (
        f"{path}:1: the header names column {twice}; rename one, as which holds what cannot "
        "be told"
    )
    assert kept_apart_from(filled_lab, path) == before


@pytest.mark.realdata
def test_a_log_whose_lines_start_with_a_bracket_is_no_json_array(
    real_data: Path, lab_path: Path
) -> None:
    """Apache's error log starts "[Sun Dec 04 ...] [notice]": not a table, so the ingest
    says it cannot tell the format (it used to pass on DuckDB's JSON error)."""
    source = real_sample(real_data, "loghub-apache/Apache_2k.log")
    assert source.read_bytes().startswith(b"[Sun Dec 04")

    summary = ingest(lab_path, [str(source)])

    assert [s.status for s in summary.sources] == ["failed"]
    assert "could not tell the format" in summary.sources[0].message
    assert "JSON" not in summary.sources[0].message


def test_bracketed_log_lines_load_with_a_pattern(tmp_path: Path, lab_path: Path) -> None:
    source = tmp_path / "kafka.log"
    source.write_text(
        "[2026-12-01 10:00:00,123] INFO starting (kafka.server)\n"
        "[2026-12-01 10:00:01,456] WARN slow disk (kafka.log)\n",
        encoding="utf-8",
    )

    summary = ingest(
        lab_path,
        [str(source)],
        IngestOptions(pattern=r"^\[(?P<ts>[^\]]+)\] (?P<level>\w+) (?P<msg>.*)$"),
    )

    assert [(s.status, s.rows_loaded) for s in summary.sources] == [("loaded", 2)]
    assert query(lab_path, "SELECT level, message FROM logs ORDER BY line") == [
        ("info", "starting (kafka.server)"),
        ("warn", "slow disk (kafka.log)"),
    ]


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (
            {"State": "running", "Message": "started"},
            "column Status: holds an object, not a state; name the state inside it "
            "with --map state=Status.State",
        ),
        ({"Message": "started"}, "with --map state=Status.MEMBER"),
        (["running"], "column Status: holds a list, not a state"),
    ],
)
def test_a_state_column_holding_an_object_says_how_to_reach_inside_it(
    tmp_path: Path, lab_path: Path, status: Any, says: str
) -> None:
    """A Docker Swarm task keeps its state in ``Status.State``: the reject had called the
    whole object an unknown state."""
    path = tmp_path / "swarm.json"
    record = {"ID": "t1", "CreatedAt": "2026-12-01T10:00:00Z", "Status": status}
    path.write_text(json.dumps([record]), encoding="utf-8")

    assert statuses(ingest(lab_path, [str(path)])) == [("loaded", 0, 1)]
    [(line, reason)] = rejects(lab_path, path)
    assert line == 1
    assert says in reason, reason

    if isinstance(status, dict) and "State" in status:
        # as said: the state named inside the object loads
        mapped = tmp_path / "mapped.duckdb"
        summary = ingest(mapped, [str(path)], IngestOptions(mapping=("state=Status.State",)))
        assert statuses(summary) == [("loaded", 1, 0)]
        assert query(mapped, "SELECT task_id, state FROM tasks") == [("t1", "running")]


def test_a_text_state_holding_json_gives_no_map_it_cannot_follow(
    tmp_path: Path, lab_path: Path
) -> None:
    """``--map`` reaches inside JSON records and nested columns only: a CSV cell of JSON
    text is told it holds an object, with no ``--map`` that would find nothing there."""
    path = write_csv(
        tmp_path / "tasks.csv", TASK_HEADER, [["a1", '{"State": "running"}', iso(0), None]]
    )

    assert statuses(ingest(lab_path, [str(path)])) == [("loaded", 0, 1)]
    [(_, reason)] = rejects(lab_path, path)
    assert reason == "tasks: column state: holds an object, not a state", reason


def test_an_edited_export_without_seq_replaces_its_transitions_and_numbers_by_time(
    tmp_path: Path, lab_path: Path
) -> None:
    """An earlier export edited after a later one was loaded: its changes had stayed beside
    the edited ones (the edit appended, numbered after the later export's)."""
    header = ["task_id", "from_state", "to_state", "at"]
    earlier = write_csv(
        tmp_path / "earlier.csv",
        header,
        [["t1", "pending", "running", iso(0)], ["t1", "running", "failed", iso(1)]],
    )
    later = write_csv(tmp_path / "later.csv", header, [["t1", "failed", "running", iso(2)]])
    ingest(lab_path, [str(earlier), str(later)])
    write_csv(
        earlier,
        header,
        [["t1", "pending", "running", iso(0)], ["t1", "running", "retrying", iso(1)]],
    )

    again = ingest(lab_path, [str(earlier)])

    assert statuses(again) == [("rewritten", 2, 0)]
    assert again.sources[0].rows_replaced == 2
    assert [(r[1], r[2], r[3], r[5]) for r in transition_rows(lab_path)] == [
        (1, "pending", "running", at(0)),
        (2, "running", "retrying", at(1)),
        (3, "failed", "running", at(2)),
    ]


def test_an_overlapping_export_with_another_column_adds_only_new_changes(
    tmp_path: Path, lab_path: Path
) -> None:
    """A change is its task, time and states: a later export that adds a column had stored
    the changes it shares with the earlier one again."""
    earlier = write_csv(
        tmp_path / "earlier.csv",
        ["task_id", "from_state", "to_state", "at"],
        [["t1", "pending", "running", iso(0)]],
    )
    later = write_csv(
        tmp_path / "later.csv",
        ["task_id", "from_state", "to_state", "at", "worker"],
        [["t1", "pending", "running", iso(0), "w1"], ["t1", "running", "failed", iso(1), "w1"]],
    )

    ingest(lab_path, [str(earlier)])
    second = ingest(lab_path, [str(later)])

    assert statuses(second) == [("loaded", 1, 0)]
    assert [(r[1], r[3], r[5]) for r in transition_rows(lab_path)] == [
        (1, "running", at(0)),
        (2, "failed", at(1)),
    ]


def test_a_json_string_holding_an_object_gives_no_map_it_cannot_follow(
    tmp_path: Path, lab_path: Path
) -> None:
    """``--map state=status.State`` finds nothing inside a string: the hint had named it."""
    path = tmp_path / "tasks.jsonl"
    record = {"id": "e", "status": json.dumps({"State": "running"}), "created_at": iso(0)}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")

    assert statuses(ingest(lab_path, [str(path)], IngestOptions(kind="tasks"))) == [
        ("loaded", 0, 1)
    ]
    [(_, reason)] = rejects(lab_path, path)
    assert reason == "tasks: column status: holds an object, not a state", reason


def test_an_export_written_anew_at_the_same_path_keeps_the_earlier_window(
    tmp_path: Path, lab_path: Path
) -> None:
    """A scheduled export without sequence numbers, written over its file with the next
    window: the changes of the earlier window stay, as an edited file's would not."""
    header = ["task_id", "from_state", "to_state", "at"]
    path = tmp_path / "transitions.csv"
    write_csv(path, header, [["t1", "pending", "running", iso(0)]])
    ingest(lab_path, [str(path)])
    write_csv(path, header, [["t1", "running", "failed", iso(5)], ["t2", None, "pending", iso(6)]])

    again = ingest(lab_path, [str(path)])

    assert statuses(again) == [("loaded", 2, 0)]
    assert [(r[0], r[1], r[3], r[5]) for r in transition_rows(lab_path)] == [
        ("t1", 1, "running", at(0)),
        ("t1", 2, "failed", at(5)),
        ("t2", 1, "pending", at(6)),
    ]
