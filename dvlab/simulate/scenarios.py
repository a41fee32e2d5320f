"""The simulator's scenarios: what goes wrong, where and when.

A scenario is a list of :class:`Fault` windows over a run, plus the moments
at which ``truth.json`` states the right answers. Faults are plain data; the
simulator (:mod:`dvlab.simulate.platform`) asks :meth:`World.failure` whether
an attempt of some service at some site fails at some time, and why.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

SITES = ("osl1", "sto1", "hel1")

#: one failure in this many attempts, anywhere, on a normal day
BASE_FAILURE_RATE = 0.004

#: a dependency failing more often than this at a moment is degraded at that moment
DEGRADED_RATE = 0.05


@dataclass(frozen=True)
class Fault:
    """One injected failure window.

    ``kind``: ``unavailable`` (every call to ``service`` at ``site`` fails),
    ``flaky`` (calls fail with a rate rising linearly from ``rate_from`` to
    ``rate_to`` over the window), or ``link-loss`` (``site`` loses its links:
    its calls to the control plane time out, and its messages to other sites
    are held back until the links return).
    """

    kind: str
    service: str
    site: str
    start: datetime
    end: datetime
    error_class: str
    message: str
    rate_from: float = 1.0
    rate_to: float = 1.0

    def rate_at(self, at: datetime) -> float:
        if not self.start <= at < self.end:
            return 0.0
        share = (at - self.start) / (self.end - self.start)
        return self.rate_from + (self.rate_to - self.rate_from) * share

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "service": self.service,
            "site": self.site,
            "start": iso(self.start),
            "end": iso(self.end),
            "error_class": self.error_class,
            "rate_from": self.rate_from,
            "rate_to": self.rate_to,
        }


@dataclass
class Plan:
    """What a scenario injects into one run."""

    name: str
    start: datetime
    end: datetime
    faults: list[Fault] = field(default_factory=list)
    #: (name, time) of the moments truth.json answers for
    moments: list[tuple[str, datetime]] = field(default_factory=list)
    #: site whose control plane takes over when ``failover_from`` loses its links
    failover: tuple[str, str, datetime, datetime] | None = None  # (from, to, at, back at)


def iso(at: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as the platform writes times."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


#: default length of each scenario's run
DURATIONS = {
    "baseline": timedelta(hours=2),
    "nett-outage": timedelta(hours=2),
    "site-failover": timedelta(hours=3),
    "flaky-storage": timedelta(days=4),
}

SCENARIOS = tuple(DURATIONS)


def plan(name: str, rng: random.Random, start: datetime, duration: timedelta) -> Plan:
    """The faults and truth moments of scenario ``name`` over [start, start + duration)."""
    if name not in DURATIONS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    end = start + duration

    def at(share: float) -> datetime:
        return start + duration * share

    site = rng.choice(SITES)
    result = Plan(name=name, start=start, end=end)
    if name == "baseline":
        result.moments = [("quiet", at(0.5)), ("late", at(0.9))]
    elif name == "nett-outage":
        down, up = at(0.4), at(0.4) + min(timedelta(minutes=25), duration * 0.25)
        result.faults.append(
            Fault(
                "unavailable",
                "nett",
                site,
                down,
                up,
                "DependencyUnavailable",
                f"nett at {site} did not answer in 5s",
            )
        )
        result.moments = [
            ("before", down - (up - down) / 2),
            ("outage", down + (up - down) / 2),
            ("outage-late", up - timedelta(seconds=30)),
            ("recovered", up + (up - down)),
        ]
    elif name == "site-failover":
        target = rng.choice([s for s in SITES if s != site])
        lost, back = at(0.35), at(0.35) + min(timedelta(minutes=40), duration * 0.3)
        result.faults.append(
            Fault(
                "link-loss",
                "control-plane",
                site,
                lost,
                back,
                "CrossSiteTimeout",
                f"control plane unreachable from {site}: link down",
            )
        )
        # the fixed steps of a failover, shortened in a short run so that each stays
        # inside it and in its order (the run's first share before the loss, the rest after)
        cut_off, after = back - lost, end - back
        result.failover = (
            site,
            target,
            lost + min(timedelta(minutes=2), cut_off / 3),
            back + min(timedelta(minutes=5), after / 3),
        )
        result.moments = [
            ("before", lost - min(timedelta(minutes=10), (lost - start) / 2)),
            ("links-down", lost + min(timedelta(minutes=1), cut_off / 4)),
            ("failed-over", lost + cut_off / 2),
            ("failed-back", back + min(timedelta(minutes=15), after * 2 / 3)),
        ]
    else:  # flaky-storage
        result.faults.append(
            Fault(
                "flaky",
                "storage",
                site,
                at(0.25),
                end,
                "StorageIOError",
                f"volume backend at {site}: I/O error on write",
                rate_from=0.02,
                rate_to=0.4,
            )
        )
        result.moments = [(f"day-{d + 1}", at((d + 0.9) / 4)) for d in range(4)]
    return result
