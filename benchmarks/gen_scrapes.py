"""Scrape files of a node-exporter-sized target, for the metrics benchmark.

    python -m benchmarks.gen_scrapes OUT_DIR [--scrapes N] [--seed S]

Writes ``N`` Prometheus text exposition files (format 0.0.4), one per
scrape, ``SCRAPE_INTERVAL`` seconds apart starting at ``START`` (a day for
the default 1,000 scrapes), each file's modification time set to its scrape
time, the way a scraper saving ``/metrics`` to disk leaves them. Every
scrape exposes the same :data:`FAMILIES` families (about 1,200, as a Linux
node exporter does): gauges, counters that only grow between scrapes, classic
histograms and summaries, with device, cpu and mountpoint labels. The same
seed writes the same bytes. :func:`samples_per_scrape` says how many sample
lines a file has, and :func:`write_parquet` writes the same samples as one
Parquet file (the benchmark's ceiling reads that).
"""

from __future__ import annotations

import argparse
import json
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEFAULT_SCRAPES = 1000
DEFAULT_SEED = 7
#: a day of scrapes at the default count
SCRAPE_INTERVAL = 86.4
START = datetime(2026, 11, 30, tzinfo=UTC)

#: families of each type in one scrape, and series a family has
GAUGES, GAUGE_SERIES = 300, 2
COUNTERS, COUNTER_SERIES = 750, (1, 2)
HISTOGRAMS = 100
SUMMARIES = 50
FAMILIES = GAUGES + COUNTERS + HISTOGRAMS + SUMMARIES
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
QUANTILES = ("0.5", "0.9", "0.99")

_DEVICES = ("sda", "sdb", "nvme0n1", "eth0", "bond0", "md0")
_MOUNTS = ("/", "/var", "/srv/data", "/boot")
_WORDS = ("disk", "net", "cpu", "mem", "vm", "fs", "nfs", "zfs", "hwmon", "ipvs", "arp")


@dataclass(frozen=True)
class Series:
    """One series of a family: its name, its labels as exposed, its value at scrape 0 and
    how much it grows a scrape (counters) or swings (gauges)."""

    name: str
    labels: str
    start: float
    step: float


@dataclass(frozen=True)
class Family:
    name: str
    type: str
    help: str
    series: tuple[Series, ...]


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}" if pairs else ""


def families(seed: int = DEFAULT_SEED) -> list[Family]:
    """The families every scrape exposes, the same for the same seed."""
    rng = random.Random(seed)
    out: list[Family] = []
    for i in range(GAUGES):
        name = f"node_{rng.choice(_WORDS)}_gauge_{i}_bytes"
        series = tuple(
            Series(
                name,
                _labels([("device", d), ("mountpoint", rng.choice(_MOUNTS))]),
                rng.uniform(1e3, 1e9),
                rng.uniform(0.0, 0.05),
            )
            for d in rng.sample(_DEVICES, GAUGE_SERIES)
        )
        out.append(
            Family(name, "gauge", f"Gauge {i} of the {name.split('_')[1]} collector.", series)
        )
    for i in range(COUNTERS):
        name = f"node_{rng.choice(_WORDS)}_events_{i}_total"
        cpus = rng.randint(*COUNTER_SERIES)
        series = tuple(
            Series(
                name,
                _labels([("cpu", str(c)), ("mode", rng.choice(("user", "system")))]),
                float(rng.randint(0, 10**7)),
                float(rng.randint(1, 5000)),
            )
            for c in range(cpus)
        )
        out.append(Family(name, "counter", f"Events counted by collector {i}.", series))
    for i in range(HISTOGRAMS):
        name = f"node_{rng.choice(_WORDS)}_latency_{i}_seconds"
        handler = _labels([("handler", f"/h{i}")])[1:-1]
        per = float(rng.randint(10, 400))
        buckets = [
            Series(f"{name}_bucket", "{" + handler + f',le="{le}"' + "}", 0.0, per * share)
            for le, share in zip(
                (*(repr(b) for b in BUCKETS), "+Inf"),
                (0.02, 0.05, 0.15, 0.3, 0.5, 0.7, 0.85, 0.95, 0.99, 0.999, 1.0),
                strict=True,
            )
        ]
        series = (
            *buckets,
            Series(f"{name}_sum", "{" + handler + "}", 0.0, per * 0.21),
            Series(f"{name}_count", "{" + handler + "}", 0.0, per),
        )
        out.append(Family(name, "histogram", f"Request latency of handler {i}.", series))
    for i in range(SUMMARIES):
        name = f"go_{rng.choice(_WORDS)}_pause_{i}_seconds"
        quantiles = [
            Series(name, f'{{quantile="{q}"}}', rng.uniform(1e-5, 1e-3), 0.0) for q in QUANTILES
        ]
        series = (
            *quantiles,
            Series(f"{name}_sum", "", 0.0, rng.uniform(1e-3, 1e-1)),
            Series(f"{name}_count", "", 0.0, float(rng.randint(1, 50))),
        )
        out.append(Family(name, "summary", f"Pause durations of runtime {i}.", series))
    return out


def samples_per_scrape(fams: Sequence[Family]) -> int:
    return sum(len(f.series) for f in fams)


def _value(series: Series, family: Family, scrape: int, wobble: float) -> float:
    if family.type == "gauge" or (family.type == "summary" and not series.step):
        return series.start * (1.0 + series.step * wobble)
    grown = series.start + series.step * scrape
    if family.type == "histogram" and not series.name.endswith("_sum"):
        return float(int(grown))  # a bucket or a count is a whole number of observations
    # counters and sums grow by their step a scrape
    return grown


def scrape_time(scrape: int) -> datetime:
    return START + timedelta(seconds=SCRAPE_INTERVAL * scrape)


def scrape_text(fams: Sequence[Family], scrape: int, seed: int = DEFAULT_SEED) -> str:
    """Scrape number ``scrape`` as exposition text."""
    rng = random.Random(seed * 1_000_003 + scrape)
    lines: list[str] = []
    for family in fams:
        lines.append(f"# HELP {family.name} {family.help}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for series in family.series:
            value = _value(series, family, scrape, rng.uniform(-1.0, 1.0))
            lines.append(f"{series.name}{series.labels} {value!r}")
    return "\n".join(lines) + "\n"


def write_scrapes(folder: Path, *, scrapes: int, seed: int = DEFAULT_SEED) -> int:
    """Write the scrape files into ``folder`` (made if missing); returns the samples written."""
    folder.mkdir(parents=True, exist_ok=True)
    fams = families(seed)
    for scrape in range(scrapes):
        path = folder / f"scrape-{scrape:05d}.prom"
        path.write_text(scrape_text(fams, scrape, seed), encoding="utf-8")
        at = scrape_time(scrape).timestamp()
        os.utime(path, (at, at))
    (folder / ".meta.json").write_text(json.dumps({"scrapes": scrapes, "seed": seed}))
    return samples_per_scrape(fams) * scrapes


def is_current(folder: Path, *, scrapes: int, seed: int) -> bool:
    """Whether ``folder`` already holds exactly these scrapes (so they need not be written)."""
    meta = folder / ".meta.json"
    try:
        wanted = json.loads(meta.read_text()) == {"scrapes": scrapes, "seed": seed}
    except (OSError, ValueError):
        return False
    return wanted and len(list(folder.glob("scrape-*.prom"))) == scrapes


def iter_samples(
    fams: Sequence[Family], *, scrapes: int, seed: int = DEFAULT_SEED
) -> Iterator[tuple[datetime, str, str, float, str, str]]:
    """(time, name, labels text, value, type, family) of every sample, scrape by scrape, as
    the files hold them."""
    for scrape in range(scrapes):
        at = scrape_time(scrape)
        rng = random.Random(seed * 1_000_003 + scrape)
        for family in fams:
            for series in family.series:
                value = _value(series, family, scrape, rng.uniform(-1.0, 1.0))
                yield at, series.name, series.labels, value, family.type, family.name


def write_parquet(path: Path, *, scrapes: int, seed: int = DEFAULT_SEED) -> int:
    """The same samples as one Parquet file of the lab's metric columns; returns its rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fams = families(seed)
    schema = pa.schema(
        [
            ("ts", pa.timestamp("us", tz="UTC")),
            ("name", pa.string()),
            ("labels", pa.map_(pa.string(), pa.string())),
            ("value", pa.float64()),
            ("type", pa.string()),
            ("family", pa.string()),
        ]
    )
    rows = 0
    with pq.ParquetWriter(path, schema) as writer:
        batch: dict[str, list[object]] = {n: [] for n in schema.names}
        for at, name, labels, value, kind, family in iter_samples(
            fams, scrapes=scrapes, seed=seed
        ):
            batch["ts"].append(at)
            batch["name"].append(name)
            batch["labels"].append(_pairs(labels))
            batch["value"].append(value)
            batch["type"].append(kind)
            batch["family"].append(family)
            rows += 1
            if len(batch["ts"]) >= 200_000:
                writer.write_table(pa.Table.from_pydict(batch, schema=schema))
                batch = {n: [] for n in schema.names}
        if batch["ts"]:
            writer.write_table(pa.Table.from_pydict(batch, schema=schema))
    return rows


def _pairs(labels: str) -> list[tuple[str, str]]:
    """``{a="x",b="y"}`` (as this generator writes them: no escapes) as pairs."""
    if not labels:
        return []
    return [(k, v.strip('"')) for k, v in (p.split("=", 1) for p in labels[1:-1].split(","))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gen_scrapes", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--scrapes", type=int, default=DEFAULT_SCRAPES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    samples = write_scrapes(args.folder, scrapes=args.scrapes, seed=args.seed)
    print(f"{args.scrapes} scrapes, {samples:,} samples in {args.folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
