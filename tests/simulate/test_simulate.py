"""`dvlab simulate`: its files, read back with plain Python, against its truth.json.

Every expected value here is recomputed from the written files (json, csv,
pyarrow) following the definitions in the docstrings of
:mod:`dvlab.simulate.truth` and :mod:`dvlab.simulate.export`; nothing is
copied from what the simulator printed. Runs are short (scale small, 40
minutes or two hours) except one medium run, marked slow.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from dvlab.cli import main
from dvlab.simulate import scenarios
from dvlab.simulate.run import simulate
from dvlab.simulate.scenarios import DEGRADED_RATE

START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SHORT = timedelta(minutes=40)
#: each scenario's run: short, but long enough for all its moments to fall inside it
#: (site-failover's last moment comes 15 minutes after the links return)
DURATION = {
    "baseline": SHORT,
    "nett-outage": SHORT,
    "site-failover": timedelta(hours=2),
    "flaky-storage": SHORT,
}
#: from the truth.py docstring: errors that mean a dependency was unavailable
BLOCKING = ("DependencyUnavailable", "CrossSiteTimeout")
MS = timedelta(milliseconds=1)
TABLES = ("tasks", "task_transitions")


# --------------------------------------------------------------------------- reading


def pg_time(text: str) -> datetime:
    """``YYYY-MM-DD HH:MM:SS[.f]+00`` (PostgreSQL's COPY ... CSV in UTC: up to six digits of
    fraction, trailing zeros dropped, no fraction on a whole second)."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d{0,5}[1-9]))?\+00", text)
    assert match, f"not a PostgreSQL timestamptz: {text!r}"
    fraction = (match[2] or "").ljust(6, "0")
    return datetime.strptime(f"{match[1]}.{fraction}", "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


def iso_ms(text: str) -> datetime:
    """RFC 3339 UTC with milliseconds, as logs, envelopes and truth.json write it."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def iso_ns(text: str) -> datetime:
    """RFC 3339 UTC with nanoseconds (JetStream's message time), to the microsecond."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{9})Z", text)
    assert match, f"not a JetStream time: {text!r}"
    base = datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return base + timedelta(microseconds=int(match[2][:6]))


def jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            assert line.endswith("\n"), f"{path}: last line not terminated"
            record = json.loads(line)
            assert isinstance(record, dict)
            yield record


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@dataclass
class Run:
    out: Path
    scenario: str
    seed: int
    scale: str
    duration: timedelta

    @property
    def truth(self) -> dict[str, Any]:
        document = json.loads((self.out / "truth.json").read_text("utf-8"))
        assert isinstance(document, dict)
        return document

    @property
    def events_path(self) -> Path:
        return self.out / "events" / "workflow-events.jsonl"

    def events(self) -> Iterator[dict[str, Any]]:
        return jsonl(self.events_path)

    def log_files(self) -> list[Path]:
        return sorted((self.out / "logs").glob("*.jsonl"))

    def logs(self) -> Iterator[dict[str, Any]]:
        for path in self.log_files():
            yield from jsonl(path)

    def tasks(self) -> list[dict[str, str]]:
        return read_csv(self.out / "tasks" / "tasks.csv")

    def transitions(self) -> list[dict[str, str]]:
        return read_csv(self.out / "tasks" / "task_transitions.csv")


def event_type(line: dict[str, Any]) -> str:
    kind = line["data"]["type"]
    assert kind.startswith("dv."), kind
    return str(kind[len("dv.") :])


def event_site(line: dict[str, Any]) -> str:
    """The producing site, from the envelope's ``source`` (dv/<site>/<service>)."""
    _, site, _ = line["data"]["source"].split("/")
    return str(site)


def is_side_effect(kind: str) -> bool:
    return not kind.startswith(("task.", "workflow."))


# --------------------------------------------------------------------------- runs

#: one short run of each scenario, scale small (seeds whose runs hold every verdict kind)
SMALL = [
    pytest.param(("baseline", 11, "small"), id="baseline"),
    pytest.param(("nett-outage", 2, "small"), id="nett-outage"),
    pytest.param(("site-failover", 1, "small"), id="site-failover"),
    pytest.param(("flaky-storage", 2, "small"), id="flaky-storage"),
]
#: thousands of workflows in 40 minutes: every answer set of truth.json is well filled
MEDIUM = pytest.param(
    ("nett-outage", 3, "medium"), id="nett-outage-medium", marks=pytest.mark.slow
)


@pytest.fixture(scope="module")
def simulated() -> dict[tuple[str, int, str], Run]:
    """Runs made so far in this module, so that two fixtures share one run."""
    return {}


def _run(
    request: pytest.FixtureRequest,
    simulated: dict[tuple[str, int, str], Run],
    tmp_path_factory: pytest.TempPathFactory,
) -> Run:
    key: tuple[str, int, str] = request.param
    if key not in simulated:
        scenario, seed, scale = key
        out = tmp_path_factory.mktemp(f"{scenario}-{scale}") / "out"
        duration = DURATION[scenario]
        simulate(out, scenario=scenario, seed=seed, scale=scale, start=START, duration=duration)
        simulated[key] = Run(out, scenario, seed, scale, duration)
    return simulated[key]


@pytest.fixture(scope="module", params=SMALL)
def run(
    request: pytest.FixtureRequest,
    simulated: dict[tuple[str, int, str], Run],
    tmp_path_factory: pytest.TempPathFactory,
) -> Run:
    """A short run of each scenario."""
    return _run(request, simulated, tmp_path_factory)


@pytest.fixture(scope="module", params=[*SMALL, MEDIUM])
def any_run(
    request: pytest.FixtureRequest,
    simulated: dict[tuple[str, int, str], Run],
    tmp_path_factory: pytest.TempPathFactory,
) -> Run:
    """The short runs, and the medium one (slow)."""
    return _run(request, simulated, tmp_path_factory)


def all_files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------- 1. determinism


def test_same_arguments_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    args: dict[str, Any] = {"scenario": "nett-outage", "scale": "small", "duration": SHORT}
    simulate(tmp_path / "a", seed=5, start=START, **args)
    simulate(tmp_path / "b", seed=5, start=START, **args)
    simulate(tmp_path / "c", seed=6, start=START, **args)
    a, b, c = (all_files(tmp_path / name) for name in "abc")
    expected = {
        "events/workflow-events.jsonl",
        "tasks/tasks.csv",
        "tasks/tasks.parquet",
        "tasks/task_transitions.csv",
        "tasks/task_transitions.parquet",
        "truth.json",
    }
    assert expected <= set(a)
    assert any(name.startswith("logs/") and name.endswith(".jsonl") for name in a)
    assert set(a) == set(b)
    for name in a:
        assert a[name] == b[name], f"{name} differs between two runs with the same arguments"
    assert set(c) == set(a)
    for name in a:
        assert a[name] != c[name], f"{name} is the same for seeds 5 and 6"


@pytest.mark.slow
def test_same_bytes_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    """The bytes depend on the arguments only, not on the process (string hashing)."""
    simulate(tmp_path / "here", scenario="site-failover", seed=8, start=START, duration=SHORT)
    for hash_seed in ("1", "2"):
        folder = tmp_path / f"hash-{hash_seed}"
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from dvlab.cli import main; sys.exit(main(sys.argv[1:]))",
                "simulate",
                "--scenario",
                "site-failover",
                "--seed",
                "8",
                "--out",
                str(folder),
                "--start",
                "2026-11-30T08:00:00Z",
                "--duration",
                "40m",
            ],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        here, there = all_files(tmp_path / "here"), all_files(folder)
        assert set(here) == set(there)
        for name in here:
            assert here[name] == there[name], f"{name} differs with PYTHONHASHSEED={hash_seed}"


# --------------------------------------------------------------------------- 2. files and counts


def test_files_parse_and_counts_match_truth(any_run: Run) -> None:
    truth = any_run.truth
    assert truth["scenario"] == any_run.scenario
    assert truth["seed"] == any_run.seed
    assert truth["scale"] == any_run.scale
    assert iso_ms(truth["start"]) == START
    assert iso_ms(truth["end"]) == START + any_run.duration
    counts = truth["counts"]

    logs = 0
    for path in any_run.log_files():
        for record in jsonl(path):
            logs += 1
            assert record["service"] == path.stem
            assert record["site"] in truth["clock_offsets_ms"]
            assert record["level"] in ("debug", "info", "warn", "error")
            assert isinstance(record["msg"], str) and record["msg"]
            assert record["host"].endswith("." + record["site"])
            iso_ms(record["ts"])
    assert logs > 0
    assert counts["logs"] == logs

    deliveries = 0
    ids = set()
    for line in any_run.events():
        deliveries += 1
        ids.add(line["headers"]["Nats-Msg-Id"])
    assert counts["deliveries"] == deliveries
    assert counts["events"] == len(ids)
    assert deliveries > len(ids) > 0  # some message was delivered or published twice

    tasks = any_run.tasks()
    transitions = any_run.transitions()
    assert counts["tasks"] == len(tasks) > 0
    assert counts["transitions"] == len(transitions) > len(tasks)
    roots = [t for t in tasks if t["parent_task_id"] == ""]
    assert counts["workflows"] == len(roots)
    assert len({t["workflow_id"] for t in tasks}) == len(roots)
    assert truth["workflow_states"] == dict(Counter(t["state"] for t in roots))
    assert set(counts) == {"workflows", "logs", "events", "deliveries", "tasks", "transitions"}


def test_a_task_row_was_last_updated_at_its_latest_time(run: Run) -> None:
    for row in read_csv(run.out / "tasks" / "tasks.csv"):
        times = [pg_time(row[c]) for c in ("created_at", "started_at", "finished_at") if row[c]]
        assert pg_time(row["updated_at"]) == max(times), row["task_id"]


def test_transitions_are_numbered_in_the_order_written(run: Run) -> None:
    ids = [int(r["id"]) for r in read_csv(run.out / "tasks" / "task_transitions.csv")]
    assert ids == list(range(1, len(ids) + 1))


def test_csv_and_parquet_hold_the_same_rows(run: Run) -> None:
    for table in TABLES:
        rows = read_csv(run.out / "tasks" / f"{table}.csv")
        parquet = pq.read_table(run.out / "tasks" / f"{table}.parquet")
        assert parquet.column_names == list(rows[0])
        assert parquet.num_rows == len(rows)
        for row, stored in zip(rows, parquet.to_pylist(), strict=True):
            for column, text in row.items():
                value = stored[column]
                if column in ("created_at", "started_at", "finished_at", "updated_at", "at"):
                    expected: object = None if text == "" else pg_time(text)
                    assert value is None or value.utcoffset() == timedelta(0)
                elif column in ("attempt", "seq", "id"):
                    expected = int(text)
                else:
                    expected = None if text == "" else text
                assert value == expected, (table, column, row)


def test_task_rows_agree_with_their_transitions(run: Run) -> None:
    history: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in run.transitions():
        history[row["task_id"]].append(row)
    tasks = run.tasks()
    assert {t["task_id"] for t in tasks} == set(history)
    assert len({t["task_id"] for t in tasks}) == len(tasks)
    for task in tasks:
        rows = history[task["task_id"]]
        assert [int(r["seq"]) for r in rows] == list(range(1, len(rows) + 1))
        times = [pg_time(r["at"]) for r in rows]
        assert times == sorted(times), f"{task['task_id']}: transitions out of time order"
        assert [r["from_state"] for r in rows] == ["", *(r["to_state"] for r in rows[:-1])]
        last = rows[-1]
        assert task["state"] == last["to_state"]
        assert task["state"] in ("succeeded", "failed")  # every workflow is played to its end
        assert pg_time(task["finished_at"]) == times[-1]
        assert int(task["attempt"]) == int(last["attempt"])
        running = [pg_time(r["at"]) for r in rows if r["to_state"] == "running"]
        assert pg_time(task["started_at"]) == running[0]
        assert pg_time(task["created_at"]) == times[0]
        if task["state"] == "failed" and task["parent_task_id"] != "":
            assert task["error_class"] == last["reason"] != ""


# --------------------------------------------------------------------------- 3. truth


@dataclass
class Tables:
    """What the truth checks need, read from the files."""

    tasks: dict[str, dict[str, str]]
    #: task id -> [(at, to_state, reason)] in seq order
    history: dict[str, list[tuple[datetime, str, str]]]
    #: task id -> ids of the side-effect events about it
    side_effects: dict[str, set[str]]
    #: workflow id -> when it went into reduced mode (None: never), and back out of it
    reduced: dict[str, tuple[datetime, datetime]]
    #: tasks of optional steps the workflow went on without while they still ran
    background: set[str]


def read_tables(run: Run) -> Tables:
    offsets = run.truth["clock_offsets_ms"]
    tasks = {t["task_id"]: t for t in run.tasks()}
    rows = sorted(run.transitions(), key=lambda r: (r["task_id"], int(r["seq"])))
    history: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    by_workflow: dict[str, list[datetime]] = defaultdict(list)
    for r in rows:
        at = pg_time(r["at"])
        history[r["task_id"]].append((at, r["to_state"], r["reason"]))
        by_workflow[tasks[r["task_id"]]["workflow_id"]].append(at)

    def exact(workflow_id: str, produced: datetime) -> datetime:
        # an envelope's time is the producer's clock to the millisecond; the
        # transition it reports is the one within a millisecond of it
        near = min(by_workflow[workflow_id], key=lambda at: abs(at - produced))
        assert abs(near - produced) <= MS, (workflow_id, produced)
        return near

    children: dict[str, list[dict[str, str]]] = defaultdict(list)
    for t in tasks.values():
        if t["parent_task_id"] != "":
            children[t["workflow_id"]].append(t)
    side_effects: dict[str, set[str]] = defaultdict(set)
    went_reduced: dict[str, datetime] = {}
    restored: dict[str, datetime] = {}
    background = set()
    for line in run.events():
        envelope = line["data"]
        kind = event_type(line)
        if is_side_effect(kind) and "subject" in envelope:
            side_effects[envelope["subject"]].add(line["headers"]["Nats-Msg-Id"])
        if kind not in ("workflow.degraded", "workflow.restored") or line["delivered"] != 1:
            continue
        workflow_id = envelope["data"]["workflow_id"]
        produced = iso_ms(envelope["time"]) - timedelta(milliseconds=offsets[event_site(line)])
        at = exact(workflow_id, produced)
        if kind == "workflow.restored":
            restored[workflow_id] = min(at, restored.get(workflow_id, at))
            continue
        went_reduced[workflow_id] = min(at, went_reduced.get(workflow_id, at))
        without = envelope["data"].get("without")
        if without is not None:
            (step,) = [t for t in children[workflow_id] if t["name"] == without]
            if at < pg_time(step["finished_at"]):
                background.add(step["task_id"])
    roots = {t["workflow_id"]: t for t in tasks.values() if t["parent_task_id"] == ""}
    reduced = {
        w: (at, restored.get(w) or pg_time(roots[w]["finished_at"]))
        for w, at in went_reduced.items()
    }
    return Tables(tasks, history, side_effects, reduced, background)


def verdict(task: dict[str, str], side_effects: int) -> str:
    """The rule of ``retry_verdict``, from the task's row and its side-effect events."""
    if task["retry_policy"] == "none":
        return "unsafe"
    if task["idempotency_key"] != "":
        return "safe"
    if side_effects == 0:
        return "safe"
    return "reconcile first"


def expected_moment(tables: Tables, at: datetime, window: timedelta) -> dict[str, Any]:
    running, failed = set(), {}
    blocked, retrying = set(), set()
    for task_id, history in tables.history.items():
        before = [h for h in history if h[0] <= at]
        if not before:
            continue
        when, state, reason = before[-1]
        task = tables.tasks[task_id]
        if state == "running":
            running.add(task_id)
        elif state == "failed" and at - when < window:
            failed[task_id] = verdict(task, len(tables.side_effects[task_id]))
        elif state == "retrying" and task_id not in tables.background:
            (blocked if reason in BLOCKING else retrying).add(task["workflow_id"])
    reduced = {w for w, (since, until) in tables.reduced.items() if since <= at < until}
    return {
        "running_tasks": running,
        "failed_tasks": failed,
        "blocked_workflows": blocked,
        "retrying_workflows": retrying,
        "reduced_workflows": reduced,
    }


def expected_degraded(truth: dict[str, Any], at: datetime) -> list[dict[str, str]]:
    """The faults in force at ``at``; a flaky one only while its rate is high enough."""
    found = []
    for fault in truth["injected"]:
        start, end = iso_ms(fault["start"]), iso_ms(fault["end"])
        if not start <= at < end:
            continue
        share = (at - start) / (end - start)
        rate = fault["rate_from"] + (fault["rate_to"] - fault["rate_from"]) * share
        if fault["kind"] != "flaky":
            found.append(
                {"service": fault["service"], "site": fault["site"], "state": "unavailable"}
            )
        elif rate >= DEGRADED_RATE:
            found.append({"service": fault["service"], "site": fault["site"], "state": "degraded"})
    return found


def test_truth_answers_follow_from_the_tables(any_run: Run) -> None:
    truth = any_run.truth
    tables = read_tables(any_run)
    window = timedelta(seconds=truth["failed_window_s"])
    assert window > timedelta(0)
    assert truth["moments"]
    for moment in truth["moments"]:
        at = iso_ms(moment["at"])
        expected = expected_moment(tables, at, window)
        name = moment["name"]
        assert set(moment["running_tasks"]) == expected["running_tasks"], name
        assert set(moment["failed_tasks"]) == set(expected["failed_tasks"]), name
        for task_id, answer in moment["failed_tasks"].items():
            assert answer["verdict"] == expected["failed_tasks"][task_id], (name, task_id)
            if answer["verdict"] == "reconcile first":
                task = tables.tasks[task_id]
                assert task["target_id"] in answer["reason"]
                assert f"{len(tables.side_effects[task_id])} side-effect" in answer["reason"]
        assert set(moment["blocked_workflows"]) == expected["blocked_workflows"], name
        assert set(moment["retrying_workflows"]) == expected["retrying_workflows"], name
        assert set(moment["reduced_workflows"]) == expected["reduced_workflows"], name
        assert moment["degraded_dependencies"] == expected_degraded(truth, at), name
        for key in ("running_tasks", "blocked_workflows", "retrying_workflows"):
            assert moment[key] == sorted(moment[key]), (name, key)


def test_truth_traced_workflows_match_the_files(run: Run) -> None:
    traced = run.truth["traced_workflows"]
    assert "clean" in traced
    tasks = run.tasks()
    events = {}
    for line in run.events():
        events[line["headers"]["Nats-Msg-Id"]] = line["data"]
    for reason, tree in traced.items():
        rows = [t for t in tasks if t["workflow_id"] == tree["workflow_id"]]
        assert [t["task_id"] for t in tree["tasks"]] == [r["task_id"] for r in rows], reason
        for node, row in zip(tree["tasks"], rows, strict=True):
            assert node["parent_task_id"] == (row["parent_task_id"] or None)
            assert node["name"] == row["name"]
            assert node["state"] == row["state"]
            assert node["attempts"] == int(row["attempt"])
            assert node["site"] == row["site"]
            assert node["target"] == {"kind": row["target_kind"], "id": row["target_id"]}
        root = rows[0]
        assert tree["state"] == root["state"]
        assert tree["correlation_id"] == root["correlation_id"]
        assert tree["events"]
        for node in tree["events"]:
            envelope = events[node["id"]]
            assert envelope["type"] == "dv." + node["type"]
            assert envelope.get("causationid") == node["causation_id"]
            assert envelope.get("subject") == node["task_id"]
            assert envelope["data"]["workflow_id"] == tree["workflow_id"]
        if reason == "clean":
            assert all(int(r["attempt"]) <= 1 for r in rows)
        if reason == "failed":
            assert root["state"] == "failed"


def fault_errors(run: Run) -> dict[str, list[dict[str, Any]]]:
    """Error log lines by error class."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in run.logs():
        if record["level"] == "error" and "error" in record:
            found[record["error"]["class"]].append(record)
    return found


def test_injected_faults_are_where_and_when_the_logs_show_them(run: Run) -> None:
    truth = run.truth
    offsets = truth["clock_offsets_ms"]
    errors = fault_errors(run)
    expected_kind = {
        "baseline": [],
        "nett-outage": [("unavailable", "nett")],
        "site-failover": [("link-loss", "control-plane")],
        "flaky-storage": [("flaky", "storage")],
    }[run.scenario]
    assert [(f["kind"], f["service"]) for f in truth["injected"]] == expected_kind
    for fault in truth["injected"]:
        start, end = iso_ms(fault["start"]), iso_ms(fault["end"])
        lines = errors[fault["error_class"]]
        assert lines, f"no error line shows {fault['error_class']}"
        for record in lines:
            assert record["site"] == fault["site"]
            if fault["kind"] != "link-loss":
                assert record["service"] == fault["service"]
            true = iso_ms(record["ts"]) - timedelta(milliseconds=offsets[record["site"]])
            # an error is logged when its attempt ends; attempts start inside the window
            assert start - MS < true <= end + timedelta(minutes=2), record


def test_scenario_moments_have_what_the_scenario_guarantees(any_run: Run) -> None:
    truth = any_run.truth
    moments = {m["name"]: m for m in truth["moments"]}
    if any_run.scenario == "nett-outage":
        errors = fault_errors(any_run)
        sites = {r["site"] for r in errors["DependencyUnavailable"] if r["service"] == "nett"}
        assert len(sites) == 1, sites
        (site,) = sites
        assert list(moments) == ["before", "outage", "outage-late", "recovered"]
        for name in ("outage", "outage-late"):
            assert moments[name]["blocked_workflows"], name
            assert moments[name]["running_tasks"], name
            assert moments[name]["degraded_dependencies"] == [
                {"service": "nett", "site": site, "state": "unavailable"}
            ]
        for name in ("before", "recovered"):
            assert moments[name]["degraded_dependencies"] == []
            assert moments[name]["blocked_workflows"] == []
        if any_run.scale == "medium":
            assert any(m["failed_tasks"] for m in moments.values())
            for moment in moments.values():
                assert moment["running_tasks"], moment["name"]
            assert moments["outage-late"]["reduced_workflows"]
    elif any_run.scenario == "site-failover":
        failover = truth["failover"]
        (fault,) = truth["injected"]
        assert failover["from"] == fault["site"] != failover["to"]
        tasks = any_run.tasks()
        for kind, at, site in (
            ("failover", failover["at"], failover["to"]),
            ("failback", failover["back"], failover["from"]),
        ):
            (root,) = [t for t in tasks if t["parent_task_id"] == "" and t["name"] == kind]
            assert abs(pg_time(root["created_at"]) - iso_ms(at)) < MS
            # its steps run at the site taking over (failback: at the site back in service)
            steps = [t for t in tasks if t["parent_task_id"] == root["task_id"]]
            assert steps
            assert {t["site"] for t in steps} == {site}
        assert moments["links-down"]["degraded_dependencies"] == [
            {"service": "control-plane", "site": fault["site"], "state": "unavailable"}
        ]
    elif any_run.scenario == "flaky-storage":
        (fault,) = truth["injected"]
        assert moments["day-1"]["degraded_dependencies"] == []
        for name in ("day-2", "day-3", "day-4"):
            assert moments[name]["degraded_dependencies"] == [
                {"service": "storage", "site": fault["site"], "state": "degraded"}
            ]
    else:
        for moment in moments.values():
            assert moment["degraded_dependencies"] == []
            assert moment["blocked_workflows"] == []
        assert truth["injected"] == []
        assert truth["failover"] is None


# --------------------------------------------------------------------------- 4. events


def test_event_envelopes(run: Run) -> None:
    ids: set[str] = set()
    first: dict[str, dict[str, Any]] = {}
    causes: list[tuple[str, str, str]] = []
    starts: dict[str, str] = {}
    probed: set[str] = set()
    last_seq = 0
    last_published: datetime | None = None
    by_seq: dict[int, str] = {}
    redelivered = republished = 0
    for line in run.events():
        assert line["stream"] == "DV_WORKFLOWS"
        assert isinstance(line["seq"], int)
        assert line["delivered"] in (1, 2)
        envelope = line["data"]
        msg_id = line["headers"]["Nats-Msg-Id"]
        assert envelope["specversion"] == "1.0"
        assert envelope["id"] == msg_id
        kind = event_type(line)
        service = envelope["source"].split("/")[2]
        assert envelope["source"] == f"dv/{event_site(line)}/{service}"
        assert line["subject"] == f"dv.{event_site(line)}.{service}.{kind}"
        iso_ms(envelope["time"])
        published = iso_ns(line["time"])
        assert envelope["correlationid"]
        assert envelope["data"].get("task_id") == envelope.get("subject")
        if line["delivered"] == 2:
            # redelivered: the same stream message again
            redelivered += 1
            assert by_seq.get(line["seq"]) == msg_id
            assert first[msg_id]["seq"] == line["seq"]
            continue
        assert line["seq"] > last_seq, "stream sequence not increasing"
        last_seq = line["seq"]
        by_seq[line["seq"]] = msg_id
        if msg_id in ids:
            # published twice: a new stream message with the same id and content
            republished += 1
            assert line["data"] == first[msg_id]["data"]
            continue
        # first arrivals reach the file in the order the stream got them
        assert last_published is None or published >= last_published
        last_published = published
        ids.add(msg_id)
        first[msg_id] = line
        if kind == "workflow.started":
            starts[envelope["data"]["workflow_id"]] = envelope["causationid"]
        elif kind.startswith("site.probe."):
            # the control plane's link probes: caused by its clock, about one site each
            assert "causationid" not in envelope
            assert kind == ("site.probe.ok" if envelope["data"]["ok"] else "site.probe.failed")
            probed.add(envelope["data"]["site"])
        else:
            causes.append((msg_id, envelope["causationid"], envelope["correlationid"]))
    assert ids
    assert redelivered + republished > 0
    assert probed == set(run.truth["clock_offsets_ms"])  # every site is probed
    for msg_id, cause, correlation in causes:
        assert cause in ids, f"event {msg_id}: causation {cause} is no event in the file"
        assert first[cause]["data"]["correlationid"] == correlation
    # a workflow.started event is caused by the API request that asked for the workflow
    requests = {}
    for record in jsonl(run.out / "logs" / "api.jsonl"):
        if "workflow_id" in record:
            requests[record["workflow_id"]] = record["request_id"]
    assert starts == requests


# --------------------------------------------------------------------------- 5. clocks


def test_logs_and_events_show_each_sites_clock(run: Run) -> None:
    offsets = run.truth["clock_offsets_ms"]
    assert set(offsets) == {r["site"] for r in run.logs()}
    assert len(offsets) == 3
    for site, ms in offsets.items():
        assert isinstance(ms, int) and -300 <= ms <= 300, site
    tasks = {t["task_id"]: t for t in run.tasks()}
    seen = set()
    for record in run.logs():
        task = tasks.get(record.get("task_id", ""))
        if task is None or not record["msg"].startswith(f"{task['name']} attempt 1 for "):
            continue
        shift = iso_ms(record["ts"]) - pg_time(task["started_at"])
        expected = timedelta(milliseconds=offsets[record["site"]])
        assert abs(shift - expected) <= MS, (record, task["started_at"])
        seen.add(task["task_id"])
    children = {t for t, row in tasks.items() if row["parent_task_id"] != ""}
    assert seen == children  # every task but the roots logs its first attempt
    checked = 0
    for line in run.events():
        envelope = line["data"]
        if event_type(line) != "task.started" or envelope["data"]["attempt"] != 1:
            continue
        shift = iso_ms(envelope["time"]) - pg_time(tasks[envelope["subject"]]["started_at"])
        assert abs(shift - timedelta(milliseconds=offsets[event_site(line)])) <= MS, line
        checked += 1
    assert checked > 0


def test_log_files_are_in_the_order_the_lines_were_written(any_run: Run) -> None:
    """Each file is ordered by true time (its ``ts`` less its site's offset)."""
    offsets = any_run.truth["clock_offsets_ms"]
    for path in any_run.log_files():
        last: datetime | None = None
        for number, record in enumerate(jsonl(path), 1):
            true = iso_ms(record["ts"]) - timedelta(milliseconds=offsets[record["site"]])
            # ts is truncated to the millisecond, so order holds to within one
            assert last is None or true > last - MS, f"{path.name}:{number} {record}"
            last = true


def test_no_task_log_line_is_dated_before_its_task_was_created(run: Run) -> None:
    """A service cannot log about a task (the scheduler cannot dispatch it) before it exists."""
    offsets = run.truth["clock_offsets_ms"]
    created = {t["task_id"]: pg_time(t["created_at"]) for t in run.tasks()}
    early = []
    for record in run.logs():
        if "task_id" not in record:
            continue
        true = iso_ms(record["ts"]) - timedelta(milliseconds=offsets[record["site"]])
        if true <= created[record["task_id"]] - MS:
            early.append((record["msg"], record["ts"], record["site"]))
    assert early == [], f"{len(early)} task log lines dated before their task was created"


# --------------------------------------------------------------------------- 6. CLI


def test_cli_writes_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim"
    code = main(
        [
            "simulate",
            "--scenario",
            "baseline",
            "--seed",
            "4",
            "--out",
            str(out),
            "--duration",
            "40m",
            "--start",
            "2026-12-01T06:00:00Z",
        ]
    )
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert str(out) in printed
    assert "baseline" in printed
    truth = json.loads((out / "truth.json").read_text("utf-8"))
    assert iso_ms(truth["start"]) == datetime(2026, 12, 1, 6, tzinfo=UTC)
    assert iso_ms(truth["end"]) == datetime(2026, 12, 1, 6, 40, tzinfo=UTC)
    logs = sum(len(p.read_text("utf-8").splitlines()) for p in (out / "logs").glob("*.jsonl"))
    tasks = len(read_csv(out / "tasks" / "tasks.csv"))
    numbers = {int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", printed)}
    assert {logs, tasks} <= numbers


def test_cli_unknown_scenario_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sim"
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--scenario", "meteor", "--seed", "1", "--out", str(out)])
    assert exited.value.code == 2
    assert "meteor" in capsys.readouterr().err
    assert not out.exists()


def test_cli_refuses_a_folder_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sim"
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")
    code = simulate_baseline(out)
    err = capsys.readouterr().err
    assert code == 2
    assert str(out) in err
    assert err.startswith("dvlab: ")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "mine\n"


@pytest.mark.parametrize("given", [".", "..", "sub/.."])
def test_cli_refuses_the_folder_it_is_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """Refused before the run, not after it (the move into place failed at the end)."""
    here = tmp_path / "here"
    (here / "sub").mkdir(parents=True)
    monkeypatch.chdir(here)
    code = simulate_baseline(Path(given), "--duration", "20m")
    assert code == 2
    assert "give the name of a new folder to write" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["here", "sub"]


def simulate_baseline(out: Path, *more: str) -> int:
    """``dvlab simulate`` of the baseline, seed 1, into ``out``, with ``more`` options."""
    return main(["simulate", "--scenario", "baseline", "--seed", "1", "--out", str(out), *more])


@pytest.mark.parametrize("duration", ["soon", "2h30", "-5m", "90 minutes"])
def test_cli_refuses_a_bad_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], duration: str
) -> None:
    out = tmp_path / "sim"
    code = simulate_baseline(out, f"--duration={duration}")
    err = capsys.readouterr().err
    assert code == 2
    assert "--duration" in err
    assert duration in err
    assert not out.exists()


def test_cli_refuses_a_bad_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim"
    code = simulate_baseline(out, "--start", "tomorrow", "--duration", "40m")
    err = capsys.readouterr().err
    assert code == 2
    assert "tomorrow" in err
    assert not out.exists()


@pytest.mark.parametrize("duration", ["10m", "0m", "300s"])
def test_cli_refuses_a_duration_too_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], duration: str
) -> None:
    out = tmp_path / "sim"
    code = simulate_baseline(out, f"--duration={duration}")
    err = capsys.readouterr().err
    assert code == 2
    assert "--duration of " in err and " minutes is too short" in err
    assert "0:" not in err  # said in minutes, not as Python writes a timedelta
    assert not out.exists()


@pytest.mark.parametrize("scenario", list(scenarios.DURATIONS))
@pytest.mark.parametrize(
    "duration",
    [timedelta(minutes=m) for m in (11, 15, 20, 29, 45, 60, 90)] + [timedelta(hours=3)],
)
def test_every_moment_and_failover_step_falls_inside_the_run_in_its_order(
    scenario: str, duration: timedelta
) -> None:
    import random

    start = datetime(2026, 11, 30, 8, tzinfo=UTC)
    plan = scenarios.plan(scenario, random.Random(1), start, duration)
    times = [at for _, at in plan.moments]
    assert all(start < at < start + duration for at in times), plan.moments
    assert times == sorted(times)
    if plan.failover is not None:
        (fault,) = plan.faults
        _, _, over, back = plan.failover
        # the links go, the failover starts, the links come back, the failback starts
        assert fault.start < over < fault.end < back < start + duration
        moments = dict(plan.moments)
        assert moments["before"] < fault.start < moments["links-down"] < moments["failed-over"]
        assert fault.end < back < moments["failed-back"]


def test_a_short_failover_run_names_only_moments_inside_it(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    assert main(["simulate", "--scenario", "site-failover", "--seed", "1",
                 "--duration", "12m", "--out", str(out)]) == 0  # fmt: skip
    truth = json.loads((out / "truth.json").read_text("utf-8"))
    start, end = iso_ms(truth["start"]), iso_ms(truth["end"])
    named = [iso_ms(m["at"]) for m in truth["moments"]]
    named += [iso_ms(truth["failover"]["at"]), iso_ms(truth["failover"]["back"])]
    assert all(start < at < end for at in named), truth["moments"]


def test_a_run_removes_what_a_killed_run_into_the_same_folder_left(tmp_path: Path) -> None:
    """A run killed outright (SIGKILL) leaves its hidden work folder; the next run into
    the same target removes it, but never a folder of that name that is not a run's (no
    owner file) or whose run is alive. A finished run's folder keeps no owner file."""
    import socket

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(gone.stdout)
    killed = tmp_path / f".sim.partial-{dead_pid}"
    (killed / "logs").mkdir(parents=True)
    (killed / "owner.json").write_text(json.dumps({"pid": dead_pid, "host": socket.gethostname()}))
    mine = tmp_path / ".sim.partial-notes"
    mine.mkdir()
    (mine / "notes.txt").write_text("kept")
    running = tmp_path / f".sim.partial-{os.getpid()}x"
    running.mkdir()
    (running / "owner.json").write_text(
        json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
    )

    simulate(tmp_path / "sim", scenario="baseline", seed=3, duration=timedelta(minutes=15))

    assert not killed.exists()
    assert (mine / "notes.txt").read_text() == "kept"
    assert running.exists()
    assert not (tmp_path / "sim" / "owner.json").exists()
    assert (tmp_path / "sim" / "truth.json").is_file()
