"""``truth.json``: what a simulation injected and the right answers it implies.

Written from the simulator's own record of every task (its transitions as
it played them), never by dvlab's analyses, so that the analyses can be
checked against it. The answers at each named moment ``T``:

* ``running_tasks``: tasks whose last transition at or before ``T`` is to
  ``running``;
* ``failed_tasks``: tasks whose last transition at or before ``T`` is to
  ``failed`` and happened within :data:`FAILED_WINDOW` before ``T``, each
  with its retry verdict (:func:`retry_verdict`);
* ``blocked_workflows``: workflows with a task waiting to retry at ``T``
  after its dependency was unavailable (``DependencyUnavailable``, or
  ``CrossSiteTimeout`` when a site lost its links);
* ``retrying_workflows``: workflows with a task waiting to retry at ``T``
  for any other error;
* ``reduced_workflows``: workflows that went on without an optional step
  before ``T`` and had neither finished nor got that step done by ``T`` (the
  step, retrying meanwhile, does not make its workflow blocked or retrying);
* ``degraded_dependencies``: the faults in force at ``T`` (a flaky one only
  while its failure rate is at least :data:`~dvlab.simulate.scenarios.DEGRADED_RATE`).

Times are the control plane's (the task tables' clock); logs and events show
each site's own clock, off by the offsets recorded here.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dvlab.simulate.platform import BLOCKING, Task, Workflow
from dvlab.simulate.scenarios import DEGRADED_RATE, Plan, iso

FAILED_WINDOW = timedelta(hours=1)
#: workflows whose whole tree truth.json keeps, per reason
TRACED = ("fault", "reduced", "failed", "clean", "control")


def retry_verdict(task: Task) -> tuple[str, str]:
    """(safe | reconcile first | unsafe, why) for retrying a failed task."""
    if task.retry_policy == "none":
        return "unsafe", "its retry policy is none: the operation must not run twice"
    if task.idempotency_key is not None:
        return "safe", f"idempotency key {task.idempotency_key} makes a repeat harmless"
    if task.side_effects == 0:
        return "safe", "no side-effect event was emitted, so nothing happened yet"
    return (
        "reconcile first",
        f"no idempotency key and {task.side_effects} side-effect event(s) emitted: "
        f"check {task.target_kind} {task.target_id} before retrying",
    )


class Truth:
    """Collects the answers while the simulation runs; :meth:`write` saves them."""

    def __init__(self, plan: Plan, *, seed: int, scale: str, offsets: dict[str, int]):
        self.plan = plan
        self.seed = seed
        self.scale = scale
        self.offsets = offsets
        self.moments: list[dict[str, Any]] = [
            {
                "name": name,
                "at": iso(at),
                "_at": at,
                "running_tasks": set(),
                "failed_tasks": {},
                "blocked_workflows": set(),
                "retrying_workflows": set(),
                "reduced_workflows": set(),
            }
            for name, at in plan.moments
        ]
        self.traced: dict[str, dict[str, Any]] = {}
        self.workflows = 0
        self.workflow_states: dict[str, int] = {}

    def workflow(self, flow: Workflow) -> None:
        self.workflows += 1
        self.workflow_states[flow.state] = self.workflow_states.get(flow.state, 0) + 1
        last: dict[str, list[tuple[datetime, str, str | None]]] = {}
        for t in flow.transitions:
            last.setdefault(t.task_id, []).append((t.at, t.to_state, t.reason))
        by_id = {task.id: task for task in flow.tasks}
        for moment in self.moments:
            at: datetime = moment["_at"]
            if flow.started > at:
                continue
            for task_id, history in last.items():
                state = None
                when = None
                reason = None
                for when_, state_, reason_ in history:
                    if when_ <= at:
                        state, when, reason = state_, when_, reason_
                if state == "running":
                    moment["running_tasks"].add(task_id)
                elif state == "failed" and when is not None and when > at - FAILED_WINDOW:
                    verdict, why = retry_verdict(by_id[task_id])
                    moment["failed_tasks"][task_id] = {"verdict": verdict, "reason": why}
                elif state == "retrying" and task_id not in flow.background:
                    target = "blocked_workflows" if reason in BLOCKING else "retrying_workflows"
                    moment[target].add(flow.id)
            reduced_until = flow.restored_at or flow.finished
            if (
                flow.reduced_at is not None
                and reduced_until is not None
                and flow.reduced_at <= at < reduced_until
            ):
                moment["reduced_workflows"].add(flow.id)
        self._maybe_trace(flow)

    def _maybe_trace(self, flow: Workflow) -> None:
        fault_classes = {f.error_class for f in self.plan.faults}
        reasons = []
        if flow.type in ("failover", "failback"):
            reasons.append(f"control:{flow.type}")
        if any(t.error_class in fault_classes for t in flow.tasks):
            reasons.append("fault")
        if flow.reduced_at is not None:
            reasons.append("reduced")
        if flow.state == "failed":
            reasons.append("failed")
        if not reasons and all(t.attempt <= 1 for t in flow.tasks):
            reasons.append("clean")
        for reason in reasons:
            if reason not in self.traced:
                self.traced[reason] = _tree(flow)

    def write(self, path: Path, counts: dict[str, int]) -> None:
        moments = []
        for m in self.moments:
            at: datetime = m["_at"]
            moments.append(
                {
                    "name": m["name"],
                    "at": m["at"],
                    "running_tasks": sorted(m["running_tasks"]),
                    "failed_tasks": dict(sorted(m["failed_tasks"].items())),
                    "blocked_workflows": sorted(m["blocked_workflows"]),
                    "retrying_workflows": sorted(m["retrying_workflows"]),
                    "reduced_workflows": sorted(m["reduced_workflows"]),
                    "degraded_dependencies": self._degraded(at),
                }
            )
        failover = self.plan.failover
        document = {
            "scenario": self.plan.name,
            "seed": self.seed,
            "scale": self.scale,
            "start": iso(self.plan.start),
            "end": iso(self.plan.end),
            "clock_offsets_ms": self.offsets,
            "clock": "moments and task times are the control plane's; logs and events show "
            "each site's clock, which is off by clock_offsets_ms",
            "failed_window_s": int(FAILED_WINDOW.total_seconds()),
            "injected": [f.to_json() for f in self.plan.faults],
            "failover": None
            if failover is None
            else {
                "from": failover[0],
                "to": failover[1],
                "at": iso(failover[2]),
                "back": iso(failover[3]),
            },
            "moments": moments,
            "traced_workflows": {k: self.traced[k] for k in sorted(self.traced)},
            "counts": {"workflows": self.workflows, **counts},
            "workflow_states": dict(sorted(self.workflow_states.items())),
        }
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")

    def _degraded(self, at: datetime) -> list[dict[str, str]]:
        found = []
        for f in self.plan.faults:
            rate = f.rate_at(at)
            if f.kind == "flaky":
                if rate >= DEGRADED_RATE:
                    found.append({"service": f.service, "site": f.site, "state": "degraded"})
            elif rate > 0:
                found.append({"service": f.service, "site": f.site, "state": "unavailable"})
        return found


def _tree(flow: Workflow) -> dict[str, Any]:
    return {
        "workflow_id": flow.id,
        "type": flow.type,
        "site": flow.site,
        "correlation_id": flow.correlation_id,
        "state": flow.state,
        "reduced": flow.reduced_at is not None,
        "tasks": [
            {
                "task_id": t.id,
                "parent_task_id": t.parent_id,
                "name": t.name,
                "state": t.state,
                "attempts": t.attempt,
                "site": t.site,
                "target": {"kind": t.target_kind, "id": t.target_id},
            }
            for t in flow.tasks
        ],
        "events": [
            {"id": e.id, "type": e.type, "causation_id": e.causation_id, "task_id": e.task_id}
            for e in flow.events
        ],
    }
