"""How fast dvlab ingests JSON lines, next to DuckDB's own reader and to pandas.

    python -m benchmarks.ingest_json [--records N] [--seed S] [--repeat K]
                                     [--skip-pandas] [--json FILE] [--keep]

Generates the log file (or reuses it, see :mod:`benchmarks.gen_logs`), reads it
once so every contender finds it in the page cache, then runs each contender in
a process of its own (:mod:`benchmarks.contenders`), each into a new DuckDB
file in a temporary folder:

- ``ceiling``: ``read_json`` with every column declared, straight into a table;
- ``dvlab``: ``dvlab.lab.ingest.ingest`` with default options;
- ``dvlab-bad-line``: the same, on a copy of the file with one line that is not
  JSON in its middle (what real logs often hold): the whole-file reader locates
  that line first, rejects it, and reads the rest whole;
- ``pandas``: ``pandas.read_json(lines=True)``, then a DuckDB table from the frame.

With ``--repeat K`` the contenders take turns K times; the table shows each
one's fastest run, the least processor time of its runs (``CPU s``: user and
system seconds of every thread of its process over the timed part; above
the wall seconds when a contender keeps both cores busy) and the highest
peak memory of its runs. A load that stores
the wrong number of rows stops the benchmark with an error. The speed target
(dvlab at 0.7 of the ceiling or better) is reported, never asserted: the
figures depend on the machine and on what else it is doing.

The table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import gen_logs

REPO = Path(__file__).resolve().parent.parent
ORDER = ("ceiling", "dvlab", "dvlab-bad-line", "pandas")
#: the line the ``dvlab-bad-line`` contender's copy holds in its middle
BAD_LINE = b"this line is not JSON\n"
TARGET_CONTENDER = "dvlab"
TARGET_VS_CEILING = 0.7


class BenchmarkError(RuntimeError):
    """A contender failed or loaded the wrong number of rows."""

    def __init__(self, message: str, *, contender: str, detail: str = "") -> None:
        super().__init__(message)
        self.contender = contender
        self.detail = detail


@dataclass
class Result:
    """One contender's runs over the same file."""

    contender: str
    file_bytes: int
    rows: int = 0
    run_seconds: list[float] = field(default_factory=list)
    #: processor seconds (user and system, all threads) of each run
    run_cpu_seconds: list[float] = field(default_factory=list)
    peak_rss_kib: int = 0
    skipped: str | None = None

    @property
    def seconds(self) -> float:
        return min(self.run_seconds)

    @property
    def cpu_seconds(self) -> float | None:
        return min(self.run_cpu_seconds) if self.run_cpu_seconds else None

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.file_bytes / 1e6 / self.seconds

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_kib / 1024

    def to_dict(self, ceiling: Result | None) -> dict[str, Any]:
        if self.skipped is not None:
            return {"skipped": True, "reason": self.skipped}
        return {
            "skipped": False,
            "rows": self.rows,
            "seconds": round(self.seconds, 4),
            "cpu_seconds": None if self.cpu_seconds is None else round(self.cpu_seconds, 4),
            "rows_per_s": round(self.rows_per_s, 1),
            "mb_per_s": round(self.mb_per_s, 2),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "vs_ceiling": round(vs_ceiling(self, ceiling), 4) if ceiling else None,
            "run_seconds": [round(s, 4) for s in self.run_seconds],
        }


def vs_ceiling(result: Result, ceiling: Result) -> float:
    return result.rows_per_s / ceiling.rows_per_s


def require_at_least(**flags: tuple[int, int]) -> None:
    """Stop with a message for the first option (``name=(value, least)``) below its least."""
    for name, (value, least) in flags.items():
        if value < least:
            raise SystemExit(f"--{name.replace('_', '-')} must be at least {least}, got {value}")


@contextlib.contextmanager
def scratch_folder(prefix: str, *, keep: bool) -> Iterator[Path]:
    """A temporary folder for the contenders' databases: removed at the end, or, with
    ``keep``, left in place and named on stderr."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        if keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder)


def warm_page_cache(path: Path) -> None:
    """Read ``path`` once, so the first contender does not pay for the disk alone."""
    with path.open("rb", buffering=0) as stream:
        while stream.read(16 << 20):
            pass


def run_once(name: str, *, data: Path, db: Path, records: int) -> dict[str, Any]:
    """One measurement of contender ``name`` in a fresh process; checks its row counts."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "benchmarks.contenders", name, str(data), str(db)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.stderr:
        sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise BenchmarkError(
            f"contender {name} exited with status {done.returncode}; its stderr is above",
            contender=name,
            detail=done.stderr,
        )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("reported_rows", "stored_rows"):
        value = figures[key]
        if value is not None and value != records:
            raise BenchmarkError(
                f"contender {name}: {key} is {value}, expected {records}; "
                f"the database is {db} (run with --keep to inspect it)",
                contender=name,
            )
    if name == TARGET_CONTENDER and figures["reported_rows"] is None:
        raise BenchmarkError(
            f"contender {name} did not report rows_loaded; expected {records}", contender=name
        )
    return figures


def with_bad_line(data: Path, out: Path) -> Path:
    """A copy of ``data`` with :data:`BAD_LINE` after its middle line."""
    with data.open("rb") as fh:
        lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(16 << 20), b""))
    with data.open("rb") as src, out.open("wb") as dst:
        for number, line in enumerate(src, start=1):
            dst.write(line)
            if number == lines // 2:
                dst.write(BAD_LINE)
    return out


def run_all(
    *,
    data: Path,
    records: int,
    repeat: int,
    names: Sequence[str],
    workdir: Path,
    keep: bool,
    inputs: dict[str, Path] | None = None,
) -> dict[str, Result]:
    """Every named contender ``repeat`` times, taking turns, each into its own new database.

    Each reads ``data``, or the file ``inputs`` gives for it."""
    files = {name: (inputs or {}).get(name, data) for name in names}
    results = {
        name: Result(contender=name, file_bytes=files[name].stat().st_size, rows=records)
        for name in names
    }
    for round_no in range(1, repeat + 1):
        for name in names:
            db = workdir / f"{name}-{round_no}.duckdb"
            log(f"running {name} ({round_no}/{repeat}) ...")
            figures = run_once(name, data=files[name], db=db, records=records)
            result = results[name]
            result.run_seconds.append(float(figures["seconds"]))
            result.run_cpu_seconds.append(float(figures["cpu_seconds"]))
            result.peak_rss_kib = max(result.peak_rss_kib, int(figures["peak_rss_kib"]))
            peak_mib = figures["peak_rss_kib"] / 1024
            log(
                f"  {name}: {figures['seconds']:.2f} s ({figures['cpu_seconds']:.2f} s of CPU), "
                f"peak RSS {peak_mib:.0f} MiB"
            )
            if not keep:
                for leftover in workdir.glob(db.name + "*"):
                    leftover.unlink()
    return results


def format_table(results: Sequence[Result]) -> list[str]:
    """The results as aligned text lines, the ceiling's rows/s as the yardstick."""
    ceiling = next((r for r in results if r.contender == "ceiling" and not r.skipped), None)
    header = (
        "contender",
        "rows",
        "seconds",
        "CPU s",
        "rows/s",
        "MB/s",
        "peak RSS MiB",
        "vs ceiling",
    )
    rows: list[tuple[str, ...]] = [header]
    for r in results:
        if r.skipped is not None:
            rows.append((r.contender, f"skipped ({r.skipped})"))
            continue
        rows.append(
            (
                r.contender,
                f"{r.rows:,}",
                f"{r.seconds:.2f}",
                "-" if r.cpu_seconds is None else f"{r.cpu_seconds:.2f}",
                f"{r.rows_per_s:,.0f}",
                f"{r.mb_per_s:,.1f}",
                f"{r.peak_rss_mib:,.0f}",
                f"{vs_ceiling(r, ceiling):.2f}x" if ceiling else "-",
            )
        )
    full = [row for row in rows if len(row) == len(header)]
    widths = [max(len(row[i]) for row in full) for i in range(len(header))]
    lines = []
    for row in rows:
        name, *cells = row
        if len(row) != len(header):  # a skipped contender: its name and why
            lines.append(f"{name:<{widths[0]}}  {cells[0]}")
            continue
        numbers = (cell.rjust(width) for cell, width in zip(cells, widths[1:], strict=True))
        lines.append("  ".join([name.ljust(widths[0]), *numbers]))
    return lines


def target_line(results: dict[str, Result]) -> tuple[str, dict[str, Any]]:
    """The verdict on the target, as a sentence and as figures."""
    goal = f"target: {TARGET_CONTENDER} >= {TARGET_VS_CEILING:.1f}x ceiling rows/s"
    ratio = vs_ceiling(results[TARGET_CONTENDER], results["ceiling"])
    met = ratio >= TARGET_VS_CEILING
    verdict = "met" if met else "NOT met"
    figures = {
        "contender": TARGET_CONTENDER,
        "min_vs_ceiling": TARGET_VS_CEILING,
        "vs_ceiling": round(ratio, 4),
        "met": met,
    }
    return f"{goal}: {verdict} ({ratio:.2f}x)", figures


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ingest_json",
        description="Time JSON-lines ingest: DuckDB read_json with declared columns (the "
        "ceiling), dvlab's ingest, and pandas.read_json then DuckDB, each in its own process "
        "and into a new DuckDB file. Prints rows/s, MB/s, peak RSS and the ratio to the ceiling.",
    )
    parser.add_argument(
        "--records",
        type=int,
        default=gen_logs.DEFAULT_RECORDS,
        help="log lines in the generated file (default %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=gen_logs.DEFAULT_SEED,
        help="generator seed (default %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per contender; the fastest is reported (default %(default)s)",
    )
    parser.add_argument(
        "--skip-pandas",
        action="store_true",
        help="leave pandas out (it needs about 3.6 KiB of memory per record)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary folder with the databases, and say where it is",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    require_at_least(records=(args.records, 1), repeat=(args.repeat, 1))

    started = time.perf_counter()
    data, written = gen_logs.ensure_logs(records=args.records, seed=args.seed)
    what = "generated" if written else "reusing"
    log(f"{what} {data} ({time.perf_counter() - started:.1f} s)")
    warm_page_cache(data)
    size = data.stat().st_size

    names = [n for n in ORDER if not (n == "pandas" and args.skip_pandas)]
    if args.skip_pandas:
        print("note: pandas skipped (--skip-pandas)")
    try:
        with scratch_folder("dvlab-bench-", keep=args.keep) as workdir:
            bad = with_bad_line(data, workdir / f"{data.stem}-bad-line.jsonl")
            warm_page_cache(bad)
            results = run_all(
                data=data,
                records=args.records,
                repeat=args.repeat,
                names=names,
                workdir=workdir,
                keep=args.keep,
                inputs={"dvlab-bad-line": bad},
            )
    except BenchmarkError as exc:
        log(f"benchmark failed: {exc}")
        return 1
    if args.skip_pandas:
        results["pandas"] = Result(contender="pandas", file_bytes=size, skipped="--skip-pandas")

    ordered = [results[n] for n in ORDER]
    verdict, target = target_line(results)
    runs = f"fastest of {args.repeat} runs" if args.repeat > 1 else "one run"
    print(
        f"JSON-lines ingest: {args.records:,} records, {size / 1e6:,.1f} MB "
        f"({size / args.records:.0f} B a line), {runs} per contender"
    )
    for line in format_table(ordered):
        print(line)
    print(verdict)

    if args.json is not None:
        report = {
            "benchmark": "ingest_json",
            "records": args.records,
            "seed": args.seed,
            "file": str(data),
            "file_bytes": size,
            "repeat": args.repeat,
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "duckdb": _version("duckdb"),
                "pandas": _version("pandas"),
                "dvlab": _version("dvlab"),
            },
            "contenders": {r.contender: r.to_dict(results["ceiling"]) for r in ordered},
            "target": target,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
