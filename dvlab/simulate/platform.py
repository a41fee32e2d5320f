"""A seeded simulation of the platform: workflows of tasks at three sites.

Workflows arrive at each site and run their tasks one after another. Each
task makes attempts; an attempt fails when the scenario's faults (or the
normal background rate) say so, and a failed attempt is retried with
exponential back-off while its retry policy allows. A task that runs out of
attempts fails its workflow, unless the step is optional: then the workflow
goes on in reduced mode. Every step leaves what the real parts would leave:
log lines from the services involved, workflow events on JetStream, and rows
in the control plane's task tables.

The simulation is generated workflow by workflow in start order and handed
to a :class:`Sink` as it goes, so memory stays bounded whatever the scale.
All randomness comes from one ``random.Random(seed)``: the same arguments
give the same output, byte for byte.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from dvlab.simulate.scenarios import BASE_FAILURE_RATE, SITES, Plan, iso

#: ordinary workflows started per hour, all sites together, by scale (large, over the
#: two hours of the shorter scenarios: about 1.1 million tasks and 10 million log lines)
SCALES = {"small": 300, "medium": 10_000, "large": 100_000}


@dataclass(frozen=True)
class Step:
    """One task of a workflow type."""

    name: str
    service: str
    target_kind: str
    retry: str  # "backoff(N)" or "none"
    idempotent: bool  # carries an idempotency key
    side_effect: str | None  # the event type an attempt emits once its effect is done
    optional: bool = False  # when it fails, the workflow goes on in reduced mode

    @property
    def max_attempts(self) -> int:
        return 1 if self.retry == "none" else int(self.retry[len("backoff(") : -1])


WORKFLOWS: dict[str, tuple[Step, ...]] = {
    "provision_vm": (
        Step("reserve_capacity", "scheduler", "host", "backoff(3)", True, "capacity.reserved"),
        Step("allocate_ip", "nett", "ip", "backoff(8)", True, "ip.allocated"),
        Step("create_port", "nett", "port", "backoff(8)", False, "port.created", optional=True),
        Step("create_volume", "storage", "volume", "backoff(4)", True, "volume.created"),
        Step("boot_vm", "provisioning", "vm", "backoff(2)", False, "vm.booted"),
        Step("register_vm", "inventory", "vm", "backoff(5)", True, None),
    ),
    "create_network": (
        Step("create_network", "nett", "network", "backoff(8)", True, "network.created"),
        Step("configure_router", "nett", "router", "backoff(8)", False, "router.configured"),
        Step("register_network", "inventory", "network", "backoff(5)", True, None),
    ),
    "attach_volume": (
        Step("create_volume", "storage", "volume", "backoff(4)", True, "volume.created"),
        Step("attach_volume", "storage", "volume", "none", False, "volume.attached"),
        Step("register_attachment", "inventory", "volume", "backoff(5)", True, None),
    ),
    "cluster_scale_out": (
        Step("reserve_capacity", "scheduler", "host", "backoff(3)", True, "capacity.reserved"),
        Step("boot_node", "provisioning", "vm", "backoff(2)", False, "vm.booted"),
        Step("boot_node", "provisioning", "vm", "backoff(2)", False, "vm.booted"),
        Step("join_cluster", "provisioning", "cluster", "backoff(4)", True, "node.joined"),
        Step("configure_lb", "nett", "loadbalancer", "backoff(8)", True, "lb.updated", True),
    ),
    "failover": (
        Step("fence_site", "scheduler", "site", "none", False, "site.fenced"),
        Step("promote_database", "storage", "database", "none", False, "database.promoted"),
        Step("repoint_endpoints", "nett", "endpoint", "backoff(5)", True, "endpoints.moved"),
        Step("resume_scheduling", "scheduler", "site", "backoff(3)", True, None),
    ),
    "failback": (
        Step("resync_database", "storage", "database", "backoff(3)", True, "database.resynced"),
        Step("repoint_endpoints", "nett", "endpoint", "backoff(5)", True, "endpoints.moved"),
        Step("unfence_site", "scheduler", "site", "backoff(3)", True, "site.unfenced"),
    ),
}
#: how often each (ordinary) workflow type is started
MIX = (("provision_vm", 0.45), ("create_network", 0.15), ("attach_volume", 0.3))
SCALE_OUT_SHARE = 0.1

#: median seconds of one attempt, by service
SERVICE_SECONDS = {
    "scheduler": 0.4,
    "nett": 1.2,
    "storage": 2.5,
    "provisioning": 8.0,
    "inventory": 0.2,
    "api": 0.05,
}
#: what calling a service that is down costs before the caller gives up
CALL_TIMEOUT = timedelta(seconds=5)
BACKOFF_BASE = 5.0
BACKOFF_CAP = 300.0
#: the control plane's own site, where root tasks run and the task tables live
CONTROL_SITE = "osl1"
#: stands for "wherever the control plane runs at that moment" in events and logs
CONTROL = "<control>"


@dataclass
class Transition:
    task_id: str
    at: datetime
    from_state: str | None
    to_state: str
    attempt: int
    reason: str | None


@dataclass
class Event:
    """One workflow event as its producer sees it (true time; clocks apply on export)."""

    id: str
    type: str
    at: datetime
    site: str
    service: str
    correlation_id: str
    causation_id: str | None
    task_id: str | None
    workflow_id: str
    data: dict[str, object]
    delay: timedelta = timedelta(0)  # publish later than it happened


@dataclass
class Log:
    at: datetime
    site: str
    service: str
    level: str
    message: str
    correlation_id: str | None
    task_id: str | None
    fields: dict[str, object] = field(default_factory=dict)


@dataclass
class Task:
    id: str
    workflow_id: str
    workflow_type: str
    parent_id: str | None
    name: str
    site: str
    service: str
    target_kind: str
    target_id: str
    idempotency_key: str | None
    retry_policy: str
    correlation_id: str
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    state: str = "pending"
    attempt: int = 0
    error_class: str | None = None
    error_message: str | None = None
    side_effects: int = 0  # side-effect events emitted over all attempts
    #: (start, end, state) spans: running, retrying (waiting out a back-off)
    spans: list[tuple[datetime, datetime, str, str | None]] = field(default_factory=list)


@dataclass
class Workflow:
    id: str
    type: str
    site: str
    correlation_id: str
    started: datetime
    finished: datetime | None = None
    state: str = "running"
    reduced_at: datetime | None = None  # went on without an optional step
    restored_at: datetime | None = None  # that step done after all
    #: tasks of optional steps left retrying while the workflow went on
    background: set[str] = field(default_factory=set)
    tasks: list[Task] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    logs: list[Log] = field(default_factory=list)


class Sink(Protocol):
    """Where the simulation's output goes, one finished workflow at a time."""

    def workflow(self, flow: Workflow) -> None: ...


class World:
    """The sites, their faults, and the dice."""

    def __init__(self, plan: Plan, rng: random.Random, background: random.Random | None = None):
        self.plan = plan
        self.rng = rng
        #: the site a failover or failback acts on (the target of its site-level steps)
        self.site_target: str | None = None
        #: dice of the background workers, apart from the workflows'
        self.background = background or random.Random(0)

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hexid(self, prefix: str, digits: int = 16) -> str:
        return f"{prefix}_{self.rng.getrandbits(digits * 4):0{digits}x}"

    def link_lost(self, site: str, at: datetime) -> bool:
        return any(
            f.kind == "link-loss" and f.site == site and f.start <= at < f.end
            for f in self.plan.faults
        )

    def message_delay(self, site: str, at: datetime) -> timedelta:
        """How late a message published at ``site`` at ``at`` reaches the stream."""
        for f in self.plan.faults:
            if f.kind == "link-loss" and f.site == site and f.start <= at < f.end:
                return f.end - at + timedelta(milliseconds=self.rng.randrange(50, 3000))
        if self.rng.random() < 0.01:  # a slow publisher
            return timedelta(milliseconds=self.rng.randrange(1000, 30_000))
        return timedelta(milliseconds=self.rng.randrange(1, 20))

    def failure(self, service: str, site: str, at: datetime) -> tuple[str, str, bool] | None:
        """(error class, message, whether the effect may have happened) if this attempt fails."""
        for f in self.plan.faults:
            if f.kind == "unavailable" and f.service == service and f.site == site:
                if f.start <= at < f.end:
                    return f.error_class, f.message, False
            elif f.kind == "flaky" and f.service == service and f.site == site:
                if self.rng.random() < f.rate_at(at):
                    return f.error_class, f.message, self.rng.random() < 0.5
            elif f.kind == "link-loss" and f.site == site and f.start <= at < f.end:
                return f.error_class, f.message, False
        if self.rng.random() < BASE_FAILURE_RATE:
            kind = self.rng.choice(("Timeout", "Conflict", "InternalError"))
            return kind, _BACKGROUND[kind].format(service=service, site=site), kind == "Timeout"
        return None

    def cut_during(
        self, service: str, site: str, start: datetime, end: datetime
    ) -> tuple[str, str, bool] | None:
        """A Timeout if ``service`` at ``site`` went down while this attempt was under way:
        its effect may well have happened, but no answer came back."""
        for f in self.plan.faults:
            hit = f.kind == "link-loss" or f.service == service
            if f.kind != "flaky" and hit and f.site == site and start < f.start < end:
                return "Timeout", f"{service} at {site} stopped answering mid-request", True
        return None

    def noise(self, at: datetime) -> list[Log]:
        """What the services log on their own around ``at``: health checks, pool stats."""
        rng = self.rng
        lines = []
        for _ in range(NOISE_PER_WORKFLOW):
            service = rng.choice(_NOISY)
            site = rng.choice(SITES)
            when = at + timedelta(milliseconds=rng.randrange(0, 20_000))
            template = rng.choice(_NOISE[service])
            lines.append(
                Log(
                    when,
                    site,
                    service,
                    "debug" if rng.random() < 0.7 else "info",
                    template.format(n=rng.randrange(1, 64), ms=rng.randrange(1, 900)),
                    None,
                    None,
                )
            )
        return lines

    def control_site(self, at: datetime) -> str:
        """Where the control plane (root tasks, the scheduler's events) runs at ``at``."""
        return self.run_site(CONTROL_SITE, at)

    def run_site(self, site: str, at: datetime) -> str:
        """The site whose control plane serves ``site`` at ``at`` (another one during failover)."""
        failover = self.plan.failover
        if failover is not None and failover[0] == site and failover[2] <= at < failover[3]:
            return failover[1]
        return site


#: log lines the services write on their own, per workflow started
NOISE_PER_WORKFLOW = 32
_NOISE = {
    "api": ("GET /healthz 200 in {ms} ms", "token cache: {n} entries refreshed"),
    "scheduler": ("queue depth {n}, oldest waiting {ms} ms", "leader lease renewed"),
    "provisioning": (
        "hypervisor poll: {n} hosts answered in {ms} ms",
        "image cache hit rate {n}%",
    ),
    "nett": ("config push to {n} switches in {ms} ms", "BGP sessions up: {n}"),
    "storage": ("pool usage {n}%, latency p99 {ms} ms", "scrubbed {n} placement groups"),
    "inventory": ("db pool: {n} of 64 connections busy", "reconciled {n} records in {ms} ms"),
}
_NOISY = tuple(_NOISE)

_BACKGROUND = {
    "Timeout": "{service} at {site} did not answer in time",
    "Conflict": "{service} at {site}: resource version changed underneath",
    "InternalError": "{service} at {site}: unexpected error",
}


def arrivals(world: World, scale: str) -> Iterator[tuple[datetime, str, str]]:
    """(start, workflow type, site) of every ordinary workflow, in start order."""
    rng = world.rng
    mean_gap = 3600.0 / SCALES[scale]
    at = world.plan.start
    while True:
        at += timedelta(seconds=rng.expovariate(1.0 / mean_gap))
        if at >= world.plan.end:
            return
        roll = rng.random()
        if roll < SCALE_OUT_SHARE:
            kind = "cluster_scale_out"
        else:
            roll = rng.random() * sum(w for _, w in MIX)
            kind = MIX[-1][0]
            for name, weight in MIX:
                if roll < weight:
                    kind = name
                    break
                roll -= weight
        yield at, kind, rng.choice(SITES)


def run_workflow(world: World, kind: str, site: str, start: datetime) -> Workflow:
    """Play one workflow through to its end."""
    rng = world.rng
    flow = Workflow(
        id=world.hexid("wf"), type=kind, site=site, correlation_id=world.uid(), started=start
    )
    root = Task(
        id=world.hexid("tsk"),
        workflow_id=flow.id,
        workflow_type=kind,
        parent_id=None,
        name=kind,
        site=world.control_site(start),
        service="scheduler",
        target_kind="workflow",
        target_id=flow.id,
        idempotency_key=f"idem-{flow.id}",
        retry_policy="backoff(1)",
        correlation_id=flow.correlation_id,
        created=start,
    )
    flow.tasks.append(root)
    flow.logs.extend(world.noise(start))
    request = world.uid()
    flow.logs.append(
        Log(
            start,
            site,
            "api",
            "info",
            f"accepted {kind} request",
            flow.correlation_id,
            None,
            {"request_id": request, "workflow_id": flow.id},
        )
    )
    _set(flow, root, start, "running", 1, None)
    root.started = start
    root.attempt = 1
    cause = _emit(
        world,
        flow,
        "workflow.started",
        start,
        world.control_site(start),
        "scheduler",
        request,
        root,
        {"workflow_type": kind, "site": site},
    )
    failover = world.plan.failover
    if failover is not None and failover[0] == site and failover[2] <= start < failover[3]:
        # the site's work runs at the site that took over, without what only the lost
        # site has: reduced mode for the workflow's whole life
        flow.reduced_at = start
        cause = _emit(
            world,
            flow,
            "workflow.degraded",
            start,
            CONTROL,
            "scheduler",
            cause,
            root,
            {"reason": "site failed over", "running_at": failover[1]},
        )
    at = start + timedelta(milliseconds=rng.randrange(5, 200))
    failed = False
    background_end = start  # when optional steps still retrying in the background end
    for step in WORKFLOWS[kind]:
        task = Task(
            id=world.hexid("tsk"),
            workflow_id=flow.id,
            workflow_type=kind,
            parent_id=root.id,
            name=step.name,
            site=site,
            service=step.service,
            target_kind=step.target_kind,
            target_id=_target(world, step.target_kind, site),
            idempotency_key=world.hexid("idem", 12) if step.idempotent else None,
            retry_policy=step.retry,
            correlation_id=flow.correlation_id,
            created=at,
        )
        flow.tasks.append(task)
        _set(flow, task, at, "pending", 0, None)
        created = _emit(
            world,
            flow,
            "task.created",
            at,
            CONTROL,
            "scheduler",
            cause,
            task,
            {"name": step.name, "target": _target_json(task)},
        )
        began = at + _ms(rng, 5, 150)
        end, last_event = _run_task(world, flow, task, step, began, created)
        first_failure = _first_failure(task)
        if step.optional and first_failure is not None and first_failure[1] in BLOCKING:
            # the workflow goes on without this step while the step keeps retrying on its own
            degraded_at = first_failure[0]
            flow.reduced_at = flow.reduced_at or degraded_at
            cause = _emit(
                world,
                flow,
                "workflow.degraded",
                degraded_at,
                CONTROL,
                "scheduler",
                created,
                root,
                {"without": step.name, "reason": first_failure[1]},
            )
            flow.logs.append(
                Log(
                    degraded_at,
                    site,
                    "scheduler",
                    "warn",
                    f"workflow {flow.id} goes on without {step.name} "
                    f"({first_failure[1]}): reduced mode",
                    flow.correlation_id,
                    root.id,
                    {"workflow_id": flow.id, "mode": "reduced"},
                )
            )
            background_end = max(background_end, end)
            flow.background.add(task.id)
            if task.state == "succeeded":
                flow.restored_at = end
                _emit(
                    world,
                    flow,
                    "workflow.restored",
                    end,
                    CONTROL,
                    "scheduler",
                    last_event,
                    root,
                    {"with": step.name},
                )
            at = degraded_at
        else:
            at, cause = end, last_event
            if task.state == "failed" and not step.optional:
                failed = True
                break
            if task.state == "failed":
                flow.reduced_at = flow.reduced_at or at
                cause = _emit(
                    world,
                    flow,
                    "workflow.degraded",
                    at,
                    CONTROL,
                    "scheduler",
                    cause,
                    root,
                    {"without": step.name, "reason": task.error_class},
                )
        at += _ms(rng, 5, 120)
    at = max(at, background_end)
    root.finished = at
    root.state = "failed" if failed else "succeeded"
    if failed:
        last = flow.tasks[-1]
        root.error_class, root.error_message = last.error_class, f"{last.name} failed"
    _set(flow, root, at, root.state, 1, root.error_class)
    root.spans.append((start, at, "running", None))
    flow.finished, flow.state = at, root.state
    _emit(
        world,
        flow,
        "workflow.failed" if failed else "workflow.completed",
        at,
        CONTROL,
        "scheduler",
        cause,
        root,
        {"reduced": flow.reduced_at is not None},
    )
    flow.logs.append(
        Log(
            at,
            site,
            "scheduler",
            "error" if failed else "info",
            f"workflow {flow.id} {kind} {'failed' if failed else 'completed'}"
            + (" in reduced mode" if flow.reduced_at and not failed else ""),
            flow.correlation_id,
            root.id,
            {"workflow_id": flow.id},
        )
    )
    for log in flow.logs:
        if log.site == CONTROL:
            log.site = world.control_site(log.at)
    return flow


def _run_task(
    world: World, flow: Workflow, task: Task, step: Step, at: datetime, cause: str
) -> tuple[datetime, str]:
    """Attempts of one task from ``at``; (when it ended, the id of its last event)."""
    rng = world.rng
    task.started = at
    for attempt in range(1, step.max_attempts + 1):
        task.attempt = attempt
        site = world.run_site(task.site, at)
        _set(flow, task, at, "running", attempt, None)
        cause = _emit(
            world, flow, "task.started", at, site, step.service, cause, task, {"attempt": attempt}
        )
        fields = {"workflow_id": flow.id, "attempt": attempt, "target": _target_json(task)}
        flow.logs.append(
            Log(
                max(task.created, at - _ms(rng, 1, 40)),
                CONTROL,
                "scheduler",
                "debug",
                f"dispatching {step.name} {task.id} to {step.service} at {site}",
                flow.correlation_id,
                task.id,
                {"workflow_id": flow.id, "attempt": attempt},
            )
        )
        flow.logs.append(
            Log(
                at,
                site,
                step.service,
                "info",
                f"{step.name} attempt {attempt} for {task.target_id}",
                flow.correlation_id,
                task.id,
                fields,
            )
        )
        failure = world.failure(step.service, site, at)
        if failure is not None and failure[0] in BLOCKING:
            took = CALL_TIMEOUT
        else:
            took = timedelta(seconds=rng.lognormvariate(0, 0.5) * SERVICE_SECONDS[step.service])
            if failure is None:
                failure = world.cut_during(step.service, site, at, at + took)
        if rng.random() < 0.6:
            flow.logs.append(
                Log(
                    at + took / 2,
                    site,
                    step.service,
                    "debug",
                    f"{step.name}: waiting for {step.target_kind} {task.target_id}",
                    flow.correlation_id,
                    task.id,
                    {"workflow_id": flow.id},
                )
            )
        end = at + took
        task.spans.append((at, end, "running", None))
        effect = step.side_effect is not None and (failure is None or failure[2])
        if effect and step.side_effect is not None:
            task.side_effects += 1
            cause = _emit(
                world,
                flow,
                step.side_effect,
                at + took * 0.8,
                site,
                step.service,
                cause,
                task,
                {"target": _target_json(task)},
            )
        if failure is None:
            task.state, task.finished = "succeeded", end
            _set(flow, task, end, "succeeded", attempt, None)
            flow.logs.append(
                Log(
                    end,
                    site,
                    step.service,
                    "info",
                    f"{step.name} done in {took.total_seconds() * 1000:.0f} ms",
                    flow.correlation_id,
                    task.id,
                    fields,
                )
            )
            return end, _emit(
                world,
                flow,
                "task.succeeded",
                end,
                site,
                step.service,
                cause,
                task,
                {"attempt": attempt},
            )
        error_class, message, _ = failure
        task.error_class, task.error_message = error_class, message
        flow.logs.append(
            Log(
                end,
                site,
                step.service,
                "error",
                f"{step.name} failed: {message}",
                flow.correlation_id,
                task.id,
                {**fields, "error": {"class": error_class, "message": message}},
            )
        )
        if attempt == step.max_attempts:
            task.state, task.finished = "failed", end
            _set(flow, task, end, "failed", attempt, error_class)
            return end, _emit(
                world,
                flow,
                "task.failed",
                end,
                site,
                step.service,
                cause,
                task,
                {"attempt": attempt, "error_class": error_class},
            )
        wait = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)) * rng.uniform(0.8, 1.2)
        retry_at = end + timedelta(seconds=wait)
        _set(flow, task, end, "retrying", attempt, error_class)
        task.spans.append((end, retry_at, "retrying", error_class))
        cause = _emit(
            world,
            flow,
            "task.retrying",
            end,
            site,
            step.service,
            cause,
            task,
            {"attempt": attempt, "error_class": error_class, "retry_in_s": round(wait, 3)},
        )
        flow.logs.append(
            Log(
                end,
                site,
                step.service,
                "warn",
                f"{step.name} attempt {attempt} failed ({error_class}); retrying in {wait:.1f}s",
                flow.correlation_id,
                task.id,
                fields,
            )
        )
        at = retry_at
    raise AssertionError("unreachable: the last attempt returns")


#: errors that mean a dependency is unavailable (the work waits for it), not that it erred
BLOCKING = ("DependencyUnavailable", "CrossSiteTimeout")


def _first_failure(task: Task) -> tuple[datetime, str] | None:
    """When and why the first attempt of ``task`` failed, if it did."""
    if len(task.spans) >= 2 and task.spans[1][2] == "retrying" and task.spans[1][3]:
        return task.spans[1][0], task.spans[1][3]
    if task.state == "failed" and task.attempt == 1 and task.error_class and task.finished:
        return task.finished, task.error_class
    return None


#: how often the control plane probes each site's link
PROBE_EVERY = timedelta(seconds=30)


def probes(world: World, at: datetime) -> Workflow:
    """One round of the control plane's link probes of every site, as events.

    A probe of a site fails while that site has lost its links. Probes belong
    to no workflow; they are what tells a site cut off from a quiet one. Each
    site's background workers (garbage collection, reconciliation, inventory
    sync) log on the same beat.
    """
    rng = world.rng
    flow = Workflow(
        id=world.hexid("probe"),
        type="probe",
        site=CONTROL_SITE,
        correlation_id=world.uid(),
        started=at,
    )
    for site in SITES:
        when = at + timedelta(milliseconds=rng.randrange(0, 500))
        ok = not world.link_lost(site, when)
        _emit(
            world,
            flow,
            "site.probe.ok" if ok else "site.probe.failed",
            when,
            CONTROL,
            "scheduler",
            None,
            None,
            {"site": site, "ok": ok},
        )
    # the background workers of each site, on the same beat: their own dice, so that adding
    # them left every workflow as it was
    for site in SITES:
        when = at + timedelta(milliseconds=world.background.randrange(0, 30_000))
        job, template = world.background.choice(_WORKER_JOBS)
        level = "warn" if world.link_lost(site, when) else "info"
        message = template.format(
            n=world.background.randrange(0, 400), ms=world.background.randrange(5, 4000)
        )
        if level == "warn":
            message += "; control plane unreachable, results held back"
        flow.logs.append(Log(when, site, "worker", level, message, None, None, {"job": job}))
    flow.finished = at
    return flow


#: what a site's background workers do, and what they log about it
_WORKER_JOBS = (
    ("gc", "gc: reclaimed {n} orphaned ports and volumes in {ms} ms"),
    ("reconcile", "reconciler: {n} resources in sync, drift checked in {ms} ms"),
    ("inventory-sync", "inventory sync: {n} hosts refreshed in {ms} ms"),
    ("image-prefetch", "image prefetch: {n} layers warm on the hypervisors"),
)


def control_workflow(world: World, kind: str, start: datetime) -> Workflow:
    """The control plane's failover (or failback) of the site that lost its links.

    Its steps run at the site taking over (failback: at the lost site, back in
    service), whatever the failover routing says at that moment.
    """
    failover = world.plan.failover
    assert failover is not None
    lost, target = failover[0], failover[1]
    world.plan.failover, world.site_target = None, lost
    try:
        return run_workflow(world, kind, target if kind == "failover" else lost, start)
    finally:
        world.plan.failover, world.site_target = failover, None


def _set(
    flow: Workflow, task: Task, at: datetime, state: str, attempt: int, reason: str | None
) -> None:
    previous = None
    for t in reversed(flow.transitions):
        if t.task_id == task.id:
            previous = t.to_state
            break
    flow.transitions.append(Transition(task.id, at, previous, state, attempt, reason))


def _emit(
    world: World,
    flow: Workflow,
    kind: str,
    at: datetime,
    site: str,
    service: str,
    cause: str | None,
    task: Task | None,
    data: dict[str, object],
) -> str:
    if site == CONTROL:
        site = world.control_site(at)
    event = Event(
        id=world.uid(),
        type=kind,
        at=at,
        site=site,
        service=service,
        correlation_id=flow.correlation_id,
        causation_id=cause,
        task_id=task.id if task is not None else None,
        workflow_id=flow.id,
        data=data,
        delay=world.message_delay(site, at),
    )
    flow.events.append(event)
    return event.id


def _target(world: World, kind: str, site: str) -> str:
    prefix = {
        "host": "cmp",
        "ip": "ip",
        "port": "prt",
        "volume": "vol",
        "vm": "i",
        "network": "net",
        "router": "rtr",
        "cluster": "k8s",
        "loadbalancer": "lb",
        "database": "db",
        "endpoint": "ep",
        "site": "site",
    }[kind]
    if kind == "site":
        return world.site_target or site
    if kind == "host":
        return f"cmp{world.rng.randrange(100, 160)}.{site}"
    if kind in ("cluster", "loadbalancer", "router"):
        # a few shared resources, so that workflows touch the same target
        return f"{prefix}-{site}-{world.rng.randrange(1, 9)}"
    return f"{prefix}-{world.rng.getrandbits(48):012x}"


def _target_json(task: Task) -> dict[str, str]:
    return {"kind": task.target_kind, "id": task.target_id}


def _ms(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(milliseconds=rng.randrange(low, high))


def iso_or_none(at: datetime | None) -> str | None:
    return None if at is None else iso(at)
