"""The platform simulation end to end: simulate, ingest, then trace and status on that lab.

    python -m benchmarks.platform [--scale large|medium|small] [--scenario NAME]
                                  [--seed N] [--keep DIR]

Each step runs in a process of its own, so each peak memory belongs to one
step: ``dvlab simulate`` (the export), ``dvlab ingest`` of logs, events and the
task tables (Parquet), then ``dvlab trace`` of the workflows truth.json names
and ``dvlab status`` at each of its moments. The ceiling for the two queries
is a full scan of ``events`` (every column read) in the same lab, timed in
the same run; their latency is reported as a fraction of it. Nothing is
asserted: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

#: a child process that runs one dvlab function and reports its time and peak memory
CHILD = """
import json, resource, sys, time
step = sys.argv[1]
args = json.loads(sys.argv[2])
started = time.perf_counter()
result = {}
if step == "simulate":
    from datetime import timedelta
    from pathlib import Path
    from dvlab.simulate.run import simulate
    done = simulate(Path(args["out"]), scenario=args["scenario"], seed=args["seed"],
                    scale=args["scale"])
    result = done.counts
elif step == "ingest":
    from pathlib import Path
    from dvlab.lab.ingest import ingest
    summary = ingest(Path(args["lab"]), args["paths"])
    result = {"rows": summary.total("rows_loaded"), "failed": len(summary.failed)}
elif step == "queries":
    import dvlab
    from dvlab.analyses.lineage import trace
    from dvlab.analyses.status import status
    lab = args["lab"]
    timings = {"scan": [], "trace": [], "status": []}
    for _ in range(args["repeat"]):
        t = time.perf_counter()
        dvlab.open_lab(lab).sql("SELECT * FROM events").fetchall()
        timings["scan"].append(time.perf_counter() - t)
        for wf in args["workflows"]:
            t = time.perf_counter()
            trace(lab, wf).fetchall()
            timings["trace"].append(time.perf_counter() - t)
        for at in args["moments"]:
            t = time.perf_counter()
            status(lab, at=at)
            timings["status"].append(time.perf_counter() - t)
    result = timings
result["seconds"] = time.perf_counter() - started
result["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(result))
"""


def _run(step: str, args: dict[str, Any]) -> dict[str, Any]:
    print(f"running {step} ...", file=sys.stderr, flush=True)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, step, json.dumps(args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{step} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("small", "medium", "large"), default="large")
    parser.add_argument("--scenario", default="nett-outage")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="query rounds (median reported)")
    parser.add_argument("--keep", metavar="DIR", help="keep the export and the lab in DIR")
    options = parser.parse_args(argv)

    folder = Path(options.keep) if options.keep else Path(tempfile.mkdtemp(prefix="dvlab-bench-"))
    if options.keep and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out, lab = folder / "export", folder / "lab.duckdb"
    try:
        sim = _run(
            "simulate",
            {
                "out": str(out),
                "scenario": options.scenario,
                "seed": options.seed,
                "scale": options.scale,
            },
        )
        paths = [
            str(out / "logs"),
            str(out / "events"),
            str(out / "tasks" / "tasks.parquet"),
            str(out / "tasks" / "task_transitions.parquet"),
        ]
        loaded = _run("ingest", {"lab": str(lab), "paths": paths})
        truth = json.loads((out / "truth.json").read_text("utf-8"))
        queries = _run(
            "queries",
            {
                "lab": str(lab),
                "repeat": options.repeat,
                "workflows": [t["workflow_id"] for t in truth["traced_workflows"].values()],
                "moments": [m["at"] for m in truth["moments"]],
            },
        )
    finally:
        if not options.keep:
            shutil.rmtree(folder, ignore_errors=True)

    scan = _median(queries["scan"])
    mib = 1024.0
    print(
        f"platform simulation end to end: {options.scenario}, seed {options.seed}, "
        f"scale {options.scale}"
    )
    print(
        f"  workflows {sim['workflows']:,}  tasks {sim['tasks']:,}  transitions "
        f"{sim['transitions']:,}  events {sim['events']:,}  log lines {sim['logs']:,}"
    )
    print(f"{'step':<22}{'seconds':>10}{'rows/s':>14}{'peak RSS MiB':>14}{'vs events scan':>16}")
    rows = sim["logs"] + sim["deliveries"] + sim["tasks"] + sim["transitions"]
    print(
        f"{'simulate':<22}{sim['seconds']:>10.1f}{rows / sim['seconds']:>14,.0f}"
        f"{sim['peak_rss_kib'] / mib:>14,.0f}{'':>16}"
    )
    print(
        f"{'ingest':<22}{loaded['seconds']:>10.1f}{loaded['rows'] / loaded['seconds']:>14,.0f}"
        f"{loaded['peak_rss_kib'] / mib:>14,.0f}{'':>16}"
    )
    print(
        f"{'scan events (ceiling)':<22}{scan:>10.3f}{'':>14}"
        f"{queries['peak_rss_kib'] / mib:>14,.0f}{1.0:>15.2f}x"
    )
    for name in ("trace", "status"):
        median = _median(queries[name])
        print(
            f"{'dvlab ' + name + ' (median)':<22}{median:>10.3f}{'':>14}{'':>14}"
            f"{median / scan:>15.2f}x"
        )
    if loaded["failed"]:
        print(f"warning: {loaded['failed']} source(s) failed to load", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
