"""How fast dvlab loads Prometheus scrapes, next to DuckDB loading the same samples.

    python -m benchmarks.scrapes [--scrapes N] [--seed S] [--repeat K] [--json FILE] [--keep]

Generates N scrape files of a node-exporter-sized target (see
:mod:`benchmarks.gen_scrapes`: about 1,200 families and 3,300 samples a
scrape, a day of them at the default 1,000) or reuses them, then times, each
in a process of its own from its start to its exit:

- ``ceiling``: the same samples written beforehand (untimed) as one Parquet
  file of the lab's metric columns, loaded by DuckDB with
  ``CREATE TABLE … AS SELECT * FROM read_parquet(…)`` into a new database;
- ``dvlab``: ``dvlab ingest FOLDER --format prometheus`` into a new lab, each
  file one scrape at its modification time.

A run that does not end with every sample in the table stops the benchmark
with an error. Then, on dvlab's lab, the curated ``metric_rate`` query over
the whole day in 5-minute steps for one counter is timed in-process (the
fastest of ``--repeat`` runs). The figures are
reported, never asserted: they depend on the machine and on what else it
is doing. The tables go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import gen_scrapes
from benchmarks.ingest_json import (
    BenchmarkError,
    Result,
    _version,
    format_table,
    log,
    require_at_least,
    scratch_folder,
    vs_ceiling,
)
from benchmarks.live import Timed, dvlab_ingest, lab_rows, run_timed

DATA_DIR = Path(__file__).resolve().parent / "data"
ORDER = ("ceiling", "dvlab")

#: the ceiling's process: load the Parquet file into a new database, print its rows
CEILING = """
import sys, duckdb
con = duckdb.connect(sys.argv[2])
con.execute("CREATE TABLE metrics AS SELECT * FROM read_parquet(?)", [sys.argv[1]])
print(con.execute("SELECT count(*) FROM metrics").fetchall()[0][0])
con.close()
"""


def ensure_data(scrapes: int, seed: int) -> tuple[Path, Path, int, bool]:
    """(scrape folder, Parquet file, samples, written) for this request, written if missing."""
    folder = DATA_DIR / f"scrapes-{scrapes}-{seed}"
    parquet = DATA_DIR / f"scrapes-{scrapes}-{seed}.parquet"
    samples = gen_scrapes.samples_per_scrape(gen_scrapes.families(seed)) * scrapes
    if gen_scrapes.is_current(folder, scrapes=scrapes, seed=seed) and parquet.is_file():
        return folder, parquet, samples, False
    shutil.rmtree(folder, ignore_errors=True)
    gen_scrapes.write_scrapes(folder, scrapes=scrapes, seed=seed)
    partial = parquet.with_name(parquet.name + ".partial")
    gen_scrapes.write_parquet(partial, scrapes=scrapes, seed=seed)
    os.replace(partial, parquet)
    return folder, parquet, samples, True


def _record(result: Result, timed: Timed, round_no: int, repeat: int) -> None:
    result.run_seconds.append(timed.seconds)
    result.run_cpu_seconds.append(timed.cpu_seconds)
    result.peak_rss_kib = max(result.peak_rss_kib, timed.peak_rss_kib)
    log(
        f"  {result.contender} ({round_no}/{repeat}): {timed.seconds:.2f} s "
        f"({timed.cpu_seconds:.2f} s of CPU), peak RSS {timed.peak_rss_kib / 1024:.0f} MiB"
    )


def bench_load(
    *, folder: Path, parquet: Path, samples: int, repeat: int, workdir: Path
) -> tuple[dict[str, Result], Path]:
    """Both contenders ``repeat`` times, taking turns; returns the results and the last lab."""
    size = sum(p.stat().st_size for p in folder.glob("scrape-*.prom"))
    results = {n: Result(contender=n, file_bytes=size, rows=samples) for n in ORDER}
    lab = workdir / "dvlab-1.duckdb"
    for round_no in range(1, repeat + 1):
        db = workdir / f"ceiling-{round_no}.duckdb"
        log(f"running the DuckDB read_parquet ceiling ({round_no}/{repeat}) ...")
        timed = run_timed(
            [sys.executable, "-c", CEILING, str(parquet), str(db)], contender="ceiling"
        )
        stored = int(timed.stdout.strip().splitlines()[-1])
        _check("ceiling", stored, samples)
        _record(results["ceiling"], timed, round_no, repeat)
        db.unlink()
        if round_no > 1:
            _remove(lab)
        log(f"running dvlab ingest of {folder.name} ({round_no}/{repeat}) ...")
        timed, reported = dvlab_ingest([str(folder), "--format", "prometheus"], lab=lab)
        _check("dvlab", reported, samples)
        _check("dvlab", lab_rows(lab, "metrics"), samples)
        _record(results["dvlab"], timed, round_no, repeat)
    return results, lab


def _check(contender: str, value: int, expected: int) -> None:
    if value != expected:
        raise BenchmarkError(
            f"contender {contender}: {value:,} samples stored, expected {expected:,}",
            contender=contender,
        )


def _remove(lab: Path) -> None:
    for leftover in lab.parent.glob(lab.name + "*"):
        leftover.unlink()


def bench_rate(lab: Path, *, scrapes: int, seed: int, repeat: int) -> dict[str, Any]:
    """The curated ``metric_rate`` query over the whole day in 5-minute steps, for the first
    counter of the scrapes (the fastest of ``repeat`` runs)."""
    import duckdb

    from dvlab.lab import queries
    from dvlab.lab.store import prepare

    counter = next(f.name for f in gen_scrapes.families(seed) if f.type == "counter")
    given = {
        "metric": counter,
        "from": gen_scrapes.scrape_time(0).isoformat(),
        "to": gen_scrapes.scrape_time(scrapes).isoformat(),
        "step": "5 minutes",
    }
    query = queries.load("metric_rate")
    params = query.bind(given)
    con = duckdb.connect(str(lab), read_only=True)
    try:
        prepare(con)
        seconds: list[float] = []
        rows: list[Any] = []
        for _ in range(repeat):
            began = time.perf_counter()
            rows = con.execute(query.sql, params).fetchall()
            seconds.append(time.perf_counter() - began)
        stored = int(con.execute("SELECT count(*) FROM metrics").fetchall()[0][0])
    finally:
        con.close()
    return {
        "query": "metric_rate",
        "params": given,
        "metrics_rows": stored,
        "rows": len(rows),
        "seconds": round(min(seconds), 4),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scrapes",
        description="Time loading Prometheus scrape files: dvlab ingest of a folder of "
        "scrapes next to DuckDB loading the same samples from one Parquet file (the "
        "ceiling), then a rate query over the day they cover.",
    )
    parser.add_argument(
        "--scrapes",
        type=int,
        default=gen_scrapes.DEFAULT_SCRAPES,
        help="scrape files, %(default)s by default (a day at 86.4 s apart)",
    )
    parser.add_argument("--seed", type=int, default=gen_scrapes.DEFAULT_SEED)
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per contender; the fastest is reported"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the labs, and say where")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    require_at_least(scrapes=(args.scrapes, 2), repeat=(args.repeat, 1))
    began = time.perf_counter()
    folder, parquet, samples, written = ensure_data(args.scrapes, args.seed)
    log(f"{'generated' if written else 'reusing'} {folder} ({time.perf_counter() - began:.1f} s)")
    try:
        with scratch_folder("dvlab-bench-scrapes-", keep=args.keep) as workdir:
            results, lab = bench_load(
                folder=folder,
                parquet=parquet,
                samples=samples,
                repeat=args.repeat,
                workdir=workdir,
            )
            rate = bench_rate(lab, scrapes=args.scrapes, seed=args.seed, repeat=args.repeat)
    except BenchmarkError as exc:
        log(f"benchmark failed: {exc}")
        return 1
    ratio = vs_ceiling(results["dvlab"], results["ceiling"])
    runs = f"fastest of {args.repeat} runs" if args.repeat > 1 else "one run"
    print(
        f"Prometheus scrapes: {args.scrapes:,} files, {samples:,} samples "
        f"({samples // args.scrapes:,} a scrape, {len(gen_scrapes.families(args.seed)):,} "
        f"families), {runs} per contender"
    )
    for line in format_table([results[n] for n in ORDER]):
        print(line.replace("rows", "smpl"))
    print(f"dvlab loads {ratio:.2f}x the ceiling's samples/s")
    print(
        f"metric_rate of {rate['params']['metric']} in 5-minute steps over the "
        f"{args.scrapes} scrapes: {rate['rows']:,} rows in {rate['seconds']:.3f} s "
        f"(the lab holds {rate['metrics_rows']:,} metric rows)"
    )
    if args.json is not None:
        report = {
            "benchmark": "scrapes",
            "scrapes": args.scrapes,
            "samples": samples,
            "seed": args.seed,
            "repeat": args.repeat,
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "duckdb": _version("duckdb"),
            },
            "contenders": {n: results[n].to_dict(results["ceiling"]) for n in ORDER},
            "vs_ceiling": round(ratio, 4),
            "rate_query": rate,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
