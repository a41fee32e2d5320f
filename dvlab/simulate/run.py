"""``dvlab simulate``: run a scenario and write its export and its truth."""

from __future__ import annotations

import glob
import os
import random
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dvlab.errors import BadInputError
from dvlab.lab import owned
from dvlab.simulate import scenarios
from dvlab.simulate.export import Export
from dvlab.simulate.platform import (
    PROBE_EVERY,
    SCALES,
    SITES,
    Workflow,
    World,
    arrivals,
    control_workflow,
    probes,
    run_workflow,
)
from dvlab.simulate.truth import Truth

DEFAULT_START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
#: the largest clock offset of a site, either way
MAX_OFFSET_MS = 300
#: the longest run
MAX_DURATION = timedelta(days=400)


@dataclass
class Simulated:
    """What a run wrote."""

    out: Path
    counts: dict[str, int]


def identity(
    scenario: str,
    seed: int,
    scale: str = "small",
    start: datetime | None = None,
    duration: timedelta | None = None,
) -> str:
    """What names a run, as :func:`simulate` resolves its defaults: the same text for two
    runs that write the same rows."""
    start = (start or DEFAULT_START).astimezone(UTC)
    duration = scenarios.DURATIONS.get(scenario) if duration is None else duration
    return f"{scenario}, seed {seed}, scale {scale}, from {start.isoformat()} for {duration}"


def simulate(
    out: Path,
    *,
    scenario: str,
    seed: int,
    scale: str = "small",
    start: datetime | None = None,
    duration: timedelta | None = None,
) -> Simulated:
    """Simulate ``scenario`` and write its files into ``out`` (see :mod:`dvlab.simulate.export`)."""
    if scenario not in scenarios.SCENARIOS:
        raise BadInputError(
            f"unknown scenario {scenario!r}; known: {', '.join(scenarios.SCENARIOS)}"
        )
    if scale not in SCALES:
        raise BadInputError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}")
    start = start or DEFAULT_START
    if start.tzinfo is None:
        raise BadInputError(f"--start {start.isoformat()} has no offset; give one, or Z")
    start = start.astimezone(UTC)
    duration = scenarios.DURATIONS[scenario] if duration is None else duration
    if duration <= timedelta(minutes=10):
        raise BadInputError(
            f"--duration of {duration.total_seconds() / 60:g} minutes is too short; "
            "give more than 10 minutes"
        )
    if duration > MAX_DURATION:
        raise BadInputError(
            f"--duration {duration} is longer than a run can be ({MAX_DURATION.days} days)"
        )
    if seed < 0:
        # random.Random(-n) is random.Random(n): a negative seed would repeat a positive one
        raise BadInputError(f"--seed {seed} is negative; give 0 or more")
    if not 1971 <= start.year <= 9990:
        raise BadInputError(f"--start {start.isoformat()} is out of range; give a year 1971-9990")
    if out.name in ("", ".", ".."):
        # the folder is written beside its target and moved into place: a folder one is in
        # (or above) cannot be that target
        raise BadInputError(f"--out {out}: give the name of a new folder to write")
    if out.exists() and any(out.iterdir()):
        raise BadInputError(f"{out} is not empty; simulate writes into a new or empty folder")
    # written beside the target and moved into place whole: a run that is stopped leaves
    # no folder that looks finished (and one killed outright leaves one the next run into
    # the same target removes)
    owned.remove_abandoned(out.parent.glob(f".{glob.escape(out.name)}.partial-*"))
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        owned.claim(partial)
        result = _simulate(partial, scenario, seed, scale, start, duration)
        (partial / owned.OWNER).unlink()
        if out.exists():
            out.rmdir()
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return Simulated(out=out, counts=result.counts)


def _simulate(
    out: Path, scenario: str, seed: int, scale: str, start: datetime, duration: timedelta
) -> Simulated:
    rng = random.Random(seed)
    plan = scenarios.plan(scenario, rng, start, duration)
    offsets = {site: rng.randrange(-MAX_OFFSET_MS, MAX_OFFSET_MS + 1) for site in SITES}
    world = World(plan, rng, background=random.Random(seed * 7907 + 3))
    export = Export(out, offsets=offsets, seed=seed)
    truth = Truth(plan, seed=seed, scale=scale, offsets=offsets)
    controls = []
    if plan.failover is not None:
        controls = [(plan.failover[2], "failover"), (plan.failover[3], "failback")]
    next_probe = plan.start

    def due(until: datetime) -> None:
        """Probe rounds and control workflows up to ``until``, in time order (output is
        flushed up to each one's start, so none may come after a later one)."""
        nonlocal next_probe
        while (next_probe <= until and next_probe < plan.end) or (
            controls and controls[0][0] <= until
        ):
            probe_due = next_probe <= until and next_probe < plan.end
            if (
                controls
                and controls[0][0] <= until
                and (not probe_due or controls[0][0] <= next_probe)
            ):
                when, control = controls.pop(0)
                _one(export, truth, control_workflow(world, control, when))
            else:
                _probe(export, world, next_probe)
                next_probe += PROBE_EVERY

    try:
        for at, kind, site in arrivals(world, scale):
            due(at)
            _one(export, truth, run_workflow(world, kind, site, at))
        due(plan.end + timedelta(days=1))
    finally:
        export.close()
    truth.write(out / "truth.json", export.counts)
    return Simulated(out=out, counts={"workflows": truth.workflows, **export.counts})


def _probe(export: Export, world: World, at: datetime) -> None:
    flow = probes(world, at)
    export.workflow(flow)
    export.flush(before=at)


def _one(export: Export, truth: Truth, flow: Workflow) -> None:
    export.workflow(flow)
    truth.workflow(flow)
    export.flush(before=flow.started)
