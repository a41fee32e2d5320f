"""Sample logs for the demo: three sites, one incident, in three formats.

Not the platform simulator; just enough realistic input to exercise ingest,
the timeline and the incident report without any outside data. The story:
network automation (``nett``) at site ``sto1`` stops answering for twenty
minutes; provisioning there retries and fails with tracebacks while the other
sites carry on. The same seed writes the same bytes.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

SITES = ("osl1", "sto1", "hel1")
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
SPAN = timedelta(hours=2)
OUTAGE = (START + timedelta(minutes=50), START + timedelta(minutes=70))
OUTAGE_SITE = "sto1"

_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/provisioning/steps.py", line 88, in attach_port\n'
    "    port = nett.create_port(network_id, vm_id, timeout=5)\n"
    '  File "/srv/provisioning/clients/nett.py", line 41, in create_port\n'
    '    raise DependencyUnavailable(f"nett at {site} did not answer in {timeout}s")\n'
    "provisioning.errors.DependencyUnavailable: nett at sto1 did not answer in 5s"
)


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write_sample(out: Path, *, seed: int = 7, records: int = 20_000) -> dict[str, int]:
    """Write the sample files into ``out``; returns records written per file."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    api: list[str] = []
    provisioning: list[str] = []
    syslog: list[str] = []
    step = SPAN / max(records, 1)
    # requests in flight: each carries one correlation id over several records, services
    # and (for the site's own work) one site, as a request through the platform does
    in_flight: list[tuple[str, str]] = []
    for i in range(records):
        ts = START + step * i + timedelta(microseconds=rng.randrange(0, 900))
        if in_flight and rng.random() < 0.7:
            correlation, site = in_flight[rng.randrange(len(in_flight))]
        else:
            correlation = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            site = rng.choice(SITES)
            in_flight.append((correlation, site))
            if len(in_flight) > 40:
                in_flight.pop(0)
        in_outage = OUTAGE[0] <= ts < OUTAGE[1] and site == OUTAGE_SITE
        kind = rng.random()
        if kind < 0.55:
            status = (
                503 if in_outage and rng.random() < 0.6 else rng.choice((200, 200, 200, 201, 404))
            )
            api.append(
                json.dumps(
                    {
                        "@timestamp": _iso(ts),
                        "level": "error" if status >= 500 else "info",
                        "service": "api",
                        "host": f"api-{site}-{rng.randint(1, 3)}",
                        "dc": site,
                        "msg": f"{'POST' if status == 201 else 'GET'} /v1/vms/{rng.randint(1000, 9999)} {status}",
                        "request_id": correlation,
                        "http": {
                            "status": status,
                            "duration_ms": round(rng.lognormvariate(3, 0.6), 1),
                        },
                    }
                )
            )
        elif kind < 0.85:
            task = f"task-{rng.randrange(10**8):08d}"
            if in_outage:
                attempt = rng.randint(1, 4)
                provisioning.append(
                    f"ts={_iso(ts)} level=warn service=provisioning site={site} "
                    f'msg="attach_port failed, retrying in {2**attempt}s" '
                    f"correlation_id={correlation} task_id={task} attempt={attempt} dependency=nett"
                )
            else:
                provisioning.append(
                    f"ts={_iso(ts)} level=info service=provisioning site={site} "
                    f'msg="task {task} state running -> succeeded" correlation_id={correlation} '
                    f"task_id={task} duration_ms={rng.randint(80, 4000)}"
                )
        elif in_outage and kind < 0.93:
            api.append(
                json.dumps(
                    {
                        "@timestamp": _iso(ts),
                        "level": "error",
                        "service": "provisioning",
                        "host": f"prov-{site}-1",
                        "dc": site,
                        "msg": "attach_port gave up after 4 attempts",
                        "request_id": correlation,
                        "error": {"class": "DependencyUnavailable", "stack": _TRACEBACK},
                    }
                )
            )
        else:
            severity = 3 if in_outage else 6
            text = (
                "link to nett-api timed out"
                if in_outage
                else f"health check ok in {rng.randint(2, 40)}ms"
            )
            syslog.append(
                f"<{8 * 3 + severity}>1 {_iso(ts)} nett-{site}-1 nett {rng.randint(100, 999)} "
                f'HEALTH [site@49610 site="{site}"] {text}'
            )
    written = {
        out / "api.jsonl.gz": api,
        out / "provisioning.log": provisioning,
        out / "nett-syslog.log": syslog,
    }
    for path, lines in written.items():
        data = ("\n".join(lines) + "\n").encode()
        if path.suffix == ".gz":
            # mtime=0 keeps the bytes identical from run to run
            path.write_bytes(gzip.compress(data, mtime=0))
        else:
            path.write_bytes(data)
    return {str(p): len(lines) for p, lines in written.items()}
