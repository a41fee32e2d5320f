"""Structured JSON-lines platform logs for the ingest benchmark.

Each line is one compact JSON object, about 380 bytes on average, with the keys
in :data:`KEYS`: ``ts`` (RFC 3339 UTC, milliseconds, ``Z``), ``level``,
``service``, ``host``, ``site``, ``msg``, ``correlation_id`` (a UUID shared by
a few dozen lines of one request), ``task_id``, and only sometimes ``attempt``
(a retry count, on about one line in eight) and one nested object (on about a
quarter of the lines): ``error`` on every error line, ``http`` on some others.

The same ``records`` and ``seed`` always give the same bytes. A file is
written beside a sidecar (``<file>.meta.json``) recording what produced it, so
:func:`ensure_logs` reuses a file only when it was made for the same request.

    python -m benchmarks.gen_logs --records 200000 --out /tmp/logs.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

DEFAULT_RECORDS = 2_000_000
DEFAULT_SEED = 20261204
DATA_DIR = Path(__file__).resolve().parent / "data"

#: Bumped whenever the output for a given (records, seed) changes, so old files are rewritten.
FORMAT_VERSION = 1

#: Keys every line has, in the order written.
KEYS = ("ts", "level", "service", "host", "site", "msg", "correlation_id", "task_id")
#: Keys only some lines have; ``http`` and ``error`` are nested objects.
OPTIONAL_KEYS = ("attempt", "http", "error")
NESTED_KEYS = ("http", "error")

SITES = ("osl1", "sto1", "hel1")
SERVICES = ("api", "scheduler", "provisioning", "nett", "storage", "inventory")
HOSTS_PER_SERVICE_AND_SITE = 6
START_MS = 1_780_000_000_000  # 2026-05-28T20:26:40Z
MEAN_STEP_MS = 18  # 2,000,000 lines span about ten hours
NESTED_SHARE = 0.25
ATTEMPT_SHARE = 0.125
ACTIVE_REQUESTS = 48  # requests whose lines interleave at any moment
LINES_PER_REQUEST = (8, 56)  # a request logs between these many lines, 32 on average

# cumulative level weights: info 80 %, debug 10 %, warn 7 %, error 3 %
_LEVELS = ((0.80, "info"), (0.90, "debug"), (0.97, "warn"), (1.0, "error"))
_HTTP_SHARE = (NESTED_SHARE - 0.03) / 0.97  # error lines always nest; top the rest up to 25 %

_TENANTS = ("acme", "nordlys", "fjellkraft", "havbruk-as", "skog", "bølge-energi", "polar-data")
_FLAVORS = ("m5.large", "m5.xlarge", "c6.2xlarge", "r6.large", "g4.xlarge")
_IMAGES = ("ubuntu-24.04", "debian-13", "rocky-9.4", "flatcar-4081")

# message templates per service and level; "{...}" fields are filled by _fill
_INFO: dict[str, tuple[str, ...]] = {
    "api": (
        "request completed for tenant {tenant}: {method} {path} returned {status} after {ms} ms "
        "(client sdk-go/1.{n}.0, {cpu} requests in flight on this worker)",
        "token validated for tenant {tenant} user {user}, scopes compute:write storage:read "
        "network:write; token expires in {n} minutes",
        "accepted create request for instance {vm} in tenant {tenant} (flavor {flavor}, "
        "image {image}), handed to the scheduler queue",
    ),
    "scheduler": (
        "placed instance {vm} on node {node} (flavor {flavor}, {cpu} vCPU and {gb} GiB "
        "memory free after placement, weigher score 0.{pct})",
        "queue depth is {n} for the site pool; the oldest pending request {key} has waited "
        "{ms} ms so far, below the 30 s objective",
        "filter pass kept {n} of 64 candidate nodes for instance {vm} (anti-affinity group "
        "{group}, availability zone {site}-a)",
    ),
    "provisioning": (
        "instance {vm} moved from building to active in {ms} ms using image {image}; "
        "{n} steps ran, none needed a retry this time",
        "step attach_port finished for instance {vm}: port {port} bound on node {node}, "
        "link up reported by the hypervisor agent",
        "boot volume {vol} cloned from image {image} for instance {vm} ({gb} GiB, "
        "copy-on-write from the site image cache)",
    ),
    "nett": (
        "port {port} created on network {net} with address {ip} for instance {vm}; "
        "dhcp and metadata entries published",
        "security group {group} synced to {n} hypervisors in {ms} ms ({cpu} rules added, "
        "0 removed, revision bumped on all agents)",
        "floating address {ip} associated with port {port} for tenant {tenant}; "
        "NAT rule installed on the edge routers of {site}",
    ),
    "storage": (
        "volume {vol} attached to instance {vm} as /dev/vd{disk} on node {node}; "
        "multipath has 2 of 2 paths active",
        "snapshot of volume {vol} completed: {gb} GiB copied in {ms} ms, checksum verified "
        "against the source extent map",
        "replication lag for pool ssd-{n} is {ms} ms, within the 2000 ms objective; {cpu} "
        "placement groups are still backfilling",
    ),
    "inventory": (
        "node {node} reported {cpu} free vCPU and {gb} GiB free memory; capacity record "
        "updated and pushed to the scheduler cache",
        "reconciled {n} instances for tenant {tenant}; no drift between the database and "
        "the hypervisor view after {ms} ms",
        "hardware record for node {node} refreshed from the BMC in {ms} ms (firmware "
        "2.{n}.1, {cpu} DIMMs healthy, no open alerts)",
    ),
}
_DEBUG = (
    "cache lookup for key {key} took {ms} ms (hit ratio over the last minute {pct} %, "
    "{n} entries evicted since the last report)",
    "outgoing call to {service} for request {key} sent on a pooled connection; waiting up to "
    "30 s for the reply",
    "state machine for instance {vm} evaluated the next transition; all {n} guard conditions "
    "are satisfied, proceeding",
)
_WARN = (
    "call to {service} for instance {vm} took {slow_ms} ms, above the 1500 ms warning "
    "threshold; the request will still complete",
    "retrying after a transient failure talking to {service} for request {key}; backing off "
    "{n} s before the next attempt",
    "node {node} missed {n} heartbeats in a row; keeping it schedulable until it has missed "
    "five, then draining it",
)
_ERROR = (
    "giving up on instance {vm} for tenant {tenant} after repeated failures; marking it "
    "errored and releasing its reservations",
    "call to {service} failed for request {key}: the dependency did not answer before the "
    "deadline, surfacing the failure to the caller",
    "could not commit the state change for instance {vm}; the transaction was rolled back "
    "and the task will be picked up again",
)
_ERROR_CLASSES = (
    ("DependencyTimeout", "no reply from {service} within 5 s (connect ok, read timed out)"),
    ("ConnectionResetError", "[Errno 104] connection reset by peer while reading the response"),
    ("QuotaExceeded", "tenant {tenant} would exceed its instance quota by {n}"),
    ("SerializationFailure", "could not serialize access due to concurrent update, retry later"),
)
_HTTP_METHODS = ("GET", "GET", "GET", "POST", "PUT", "DELETE")
_HTTP_PATHS = ("/v2/instances/{vm}", "/v2/volumes/{vol}", "/v2/ports/{port}", "/v2/instances")
_HTTP_STATUS = (200, 200, 200, 200, 200, 201, 202, 204, 404, 409, 503)


class _Filler:
    """Values for the template fields, drawn from one random stream in a fixed order."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __getitem__(self, name: str) -> object:
        rng = self.rng
        if name in ("vm", "vol", "port", "net", "key"):
            prefix = {"vm": "i", "vol": "vol", "port": "prt", "net": "net", "key": "req"}[name]
            return f"{prefix}-{rng.getrandbits(48):012x}"
        if name == "node":
            return f"cmp{rng.randrange(1, 400):03d}.{rng.choice(SITES)}"
        if name == "tenant":
            return rng.choice(_TENANTS)
        if name == "user":
            return f"u{rng.randrange(100_000):05d}"
        if name == "ip":
            return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if name == "ms":
            return rng.randrange(1, 1500)
        if name == "slow_ms":
            return rng.randrange(1500, 30_000)
        if name in ("n", "cpu"):
            return rng.randrange(1, 48)
        if name == "gb":
            return rng.randrange(8, 512)
        if name == "pct":
            return rng.randrange(50, 100)
        if name == "flavor":
            return rng.choice(_FLAVORS)
        if name == "image":
            return rng.choice(_IMAGES)
        if name == "group":
            return f"sg-{rng.getrandbits(24):06x}"
        if name == "site":
            return rng.choice(SITES)
        if name == "service":
            return rng.choice(SERVICES)
        if name == "method":
            return rng.choice(_HTTP_METHODS)
        if name == "path":
            return rng.choice(_HTTP_PATHS).format_map(self)
        if name == "status":
            return rng.choice(_HTTP_STATUS)
        if name == "disk":
            return "bcdef"[rng.randrange(5)]
        raise KeyError(name)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _level(draw: float) -> str:
    for bound, name in _LEVELS:
        if draw < bound:
            return name
    return "error"


def iter_records(*, records: int, seed: int = DEFAULT_SEED) -> Iterator[dict[str, Any]]:
    """The log records, one dict each, in time order; the same arguments give the same records."""
    if records < 0:
        raise ValueError(f"records must be 0 or more, got {records}")
    rng = random.Random(seed)
    fill = _Filler(rng)
    # each active request: [correlation id, task id, service, site, lines left]
    active: list[list[Any]] = []
    now_ms = START_MS
    stamp_second = -1
    stamp_prefix = ""
    for _ in range(records):
        now_ms += int(rng.expovariate(1 / MEAN_STEP_MS))
        second, millis = divmod(now_ms, 1000)
        if second != stamp_second:
            stamp_second = second
            stamp_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))

        if len(active) < ACTIVE_REQUESTS:
            active.append(
                [
                    _uuid(rng),
                    f"tsk_{rng.getrandbits(64):016x}",
                    rng.choice(SERVICES),
                    rng.choice(SITES),
                    rng.randint(*LINES_PER_REQUEST),
                ]
            )
        slot = rng.randrange(len(active))
        request = active[slot]
        request[4] -= 1
        if request[4] <= 0:
            active[slot] = active[-1]
            active.pop()
        # a request hops between services now and then, as a call chain does
        service = request[2] if rng.random() < 0.7 else rng.choice(SERVICES)
        site = request[3]

        level = _level(rng.random())
        if level == "info":
            template = rng.choice(_INFO[service])
        else:
            template = rng.choice({"debug": _DEBUG, "warn": _WARN, "error": _ERROR}[level])
        record: dict[str, Any] = {
            "ts": f"{stamp_prefix}.{millis:03d}Z",
            "level": level,
            "service": service,
            "host": f"{service}-{rng.randrange(1, HOSTS_PER_SERVICE_AND_SITE + 1):02d}.{site}.dataverket.internal",
            "site": site,
            "msg": template.format_map(fill),
            "correlation_id": request[0],
            "task_id": request[1],
        }
        if rng.random() < ATTEMPT_SHARE:
            record["attempt"] = rng.randint(1, 5)
        if level == "error":
            error_class, detail = rng.choice(_ERROR_CLASSES)
            record["error"] = {"class": error_class, "detail": detail.format_map(fill)}
        elif rng.random() < _HTTP_SHARE:
            record["http"] = {
                "method": fill["method"],
                "path": fill["path"],
                "status": fill["status"],
                "duration_ms": round(rng.lognormvariate(3.0, 1.0), 3),
            }
        yield record


def iter_lines(*, records: int, seed: int = DEFAULT_SEED) -> Iterator[str]:
    """The records as JSON text, each ending in a newline."""
    for record in iter_records(records=records, seed=seed):
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def default_path(records: int) -> Path:
    return DATA_DIR / f"logs-{records}.jsonl"


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _wanted_meta(records: int, seed: int) -> dict[str, int]:
    return {"records": records, "seed": seed, "format_version": FORMAT_VERSION}


def is_current(path: Path, *, records: int, seed: int) -> bool:
    """Whether ``path`` holds exactly what ``write_logs(path, records=..., seed=...)`` writes."""
    meta_path = _meta_path(path)
    if not (path.is_file() and meta_path.is_file()):
        return False
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    wanted = _wanted_meta(records, seed)
    same_request = all(meta.get(k) == v for k, v in wanted.items())
    return same_request and meta.get("bytes") == path.stat().st_size


def write_logs(path: Path, *, records: int, seed: int = DEFAULT_SEED) -> int:
    """Write the records to ``path`` (then its sidecar); returns the bytes written.

    The file appears whole or not at all: it is written beside ``path`` and renamed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_path = _meta_path(path)
    meta_path.unlink(missing_ok=True)
    partial = path.with_name(path.name + ".partial")
    batch: list[str] = []
    with partial.open("w", encoding="utf-8", newline="\n") as out:
        for line in iter_lines(records=records, seed=seed):
            batch.append(line)
            if len(batch) == 20_000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))
    os.replace(partial, path)
    size = path.stat().st_size
    meta = {**_wanted_meta(records, seed), "bytes": size}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return size


def ensure_logs(
    *, records: int, seed: int = DEFAULT_SEED, path: Path | None = None, force: bool = False
) -> tuple[Path, bool]:
    """The log file for this request, written only if missing or stale; returns (path, written)."""
    target = path if path is not None else default_path(records)
    if not force and is_current(target, records=records, seed=seed):
        return target, False
    write_logs(target, records=records, seed=seed)
    return target, True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gen_logs",
        description="Write deterministic structured JSON-lines platform logs for the benchmarks. "
        "An existing file made for the same --records and --seed is reused unless --force.",
    )
    parser.add_argument(
        "--records", type=int, default=DEFAULT_RECORDS, help="lines to write (default %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write (default benchmarks/data/logs-<records>.jsonl)",
    )
    parser.add_argument("--force", action="store_true", help="rewrite even if the file is current")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.records < 0:
        raise SystemExit(f"--records must be 0 or more, got {args.records}")
    started = time.perf_counter()
    path, written = ensure_logs(
        records=args.records, seed=args.seed, path=args.out, force=args.force
    )
    size = path.stat().st_size
    what = "wrote" if written else "reused"
    print(
        f"{what} {path}: {args.records:,} records, {size / 1e6:,.1f} MB "
        f"({size / max(args.records, 1):.0f} B a line) in {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
