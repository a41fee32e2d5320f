"""`dvlab status` and `dvlab trace` against the truth the simulator writes.

For every scenario and three seeds: simulate, ingest the export the way a
user would, and ask at each moment truth.json names. The truth comes from
the simulator's own record of what it played (dvlab.simulate.truth), never
from these queries.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dvlab.analyses.lineage import trace
from dvlab.analyses.status import status
from dvlab.lab.ingest import ingest
from dvlab.simulate.run import simulate

#: shorter runs, at the same hourly load, so each moment has the same evidence
DURATIONS = {
    "baseline": timedelta(hours=1),
    "nett-outage": timedelta(hours=1),
    "site-failover": timedelta(hours=2),
    "flaky-storage": timedelta(hours=30),
}
CASES = [
    (scenario, seed)
    for scenario in ("baseline", "nett-outage", "site-failover", "flaky-storage")
    for seed in (1, 2, 3)
]


_LABS: dict[tuple[str, int], tuple[Path, dict[str, Any]]] = {}


def _lab(factory: pytest.TempPathFactory, scenario: str, seed: int) -> tuple[Path, dict[str, Any]]:
    """The scenario simulated and ingested once per test session (both tests read it)."""
    if (scenario, seed) in _LABS:
        return _LABS[(scenario, seed)]
    folder = factory.mktemp(f"{scenario}-{seed}")
    out = folder / "sim"
    simulate(out, scenario=scenario, seed=seed, duration=DURATIONS.get(scenario))
    lab = folder / "lab.duckdb"
    summary = ingest(
        lab,
        [
            str(out / "logs"),
            str(out / "events"),
            str(out / "tasks" / "tasks.parquet"),
            str(out / "tasks" / "task_transitions.parquet"),
        ],
    )
    assert summary.failed == [] and summary.total("rows_rejected") == 0
    _LABS[(scenario, seed)] = lab, json.loads((out / "truth.json").read_text("utf-8"))
    return _LABS[(scenario, seed)]


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "seed"), CASES)
def test_status_at_every_moment_gives_the_truths_sets(
    tmp_path_factory: pytest.TempPathFactory, scenario: str, seed: int
) -> None:
    lab, truth = _lab(tmp_path_factory, scenario, seed)
    for moment in truth["moments"]:
        got = status(lab, at=moment["at"])
        name = f"{scenario} seed {seed} at {moment['name']}"
        assert {r["task_id"] for r in got.running} == set(moment["running_tasks"]), name
        assert {r["task_id"]: r["retry_verdict"] for r in got.failed} == {
            task: v["verdict"] for task, v in moment["failed_tasks"].items()
        }, name
        for mode in ("blocked", "retrying", "reduced"):
            found = {r["workflow_id"] for r in got.workflows if r["mode"] == mode}
            assert found == set(moment[f"{mode}_workflows"]), f"{name}: {mode}"
        # each workflow, task and reason once (a failover's two steps on its site had each
        # made every workflow it reduced a row)
        listed = [(r["workflow_id"], r["mode"], r["task_id"], r["reason"]) for r in got.workflows]
        assert len(listed) == len(set(listed)), name
        assert sorted((d["service"], d["site"], d["state"]) for d in got.dependencies) == sorted(
            (d["service"], d["site"], d["state"]) for d in moment["degraded_dependencies"]
        ), name


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "seed"), [c for c in CASES if c[0] != "flaky-storage"])
def test_trace_of_every_named_workflow_reproduces_its_tree(
    tmp_path_factory: pytest.TempPathFactory, scenario: str, seed: int
) -> None:
    lab, truth = _lab(tmp_path_factory, scenario, seed)
    assert truth["traced_workflows"]
    for why, tree in truth["traced_workflows"].items():
        rows = trace(lab, tree["workflow_id"]).fetchall()
        columns = [
            "depth",
            "kind",
            "id",
            "parent_id",
            "ts",
            "site",
            "service",
            "name",
            "state",
            "attempt",
            "cause_id",
            "gap",
            "correlation_id",
        ]
        found = [dict(zip(columns, row, strict=True)) for row in rows]
        tasks = {
            (r["id"], r["parent_id"], r["name"], r["state"], r["attempt"])
            for r in found
            if r["kind"] == "task"
        }
        assert tasks == {
            (t["task_id"], t["parent_task_id"], t["name"], t["state"], t["attempts"])
            for t in tree["tasks"]
        }, why
        events = {(r["id"], r["cause_id"], r["parent_id"]) for r in found if r["kind"] == "event"}
        assert events == {(e["id"], e["causation_id"], e["task_id"]) for e in tree["events"]}, why
        # each task sits one level below its parent, each event one below its task
        depth = {r["id"]: r["depth"] for r in found if r["kind"] == "task"}
        for r in found:
            if r["parent_id"] is not None:
                assert r["depth"] == depth[r["parent_id"]] + 1, (why, r["id"])
