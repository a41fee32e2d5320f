"""The ``dvlab`` command: thin commands over the library.

This is the only module that configures logging, prints, and turns errors
into exit codes: 0 success, 1 an unexpected failure, 2 bad input or a source
that could not be read, 3 the lab stayed locked, 4 a report cell failed.
``--debug`` shows the traceback of any error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dvlab.errors import BadInputError, DvlabError

log = logging.getLogger("dvlab")

OUTPUT_FORMATS = ("table", "csv", "json", "parquet")


def _key_values(pairs: Sequence[str] | None, flag: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadInputError(f"{flag} takes key=value, not {pair!r}")
        values[key.strip()] = value
    return values


def _lab_path(args: argparse.Namespace) -> Path:
    from dvlab.lab.store import default_path

    return Path(args.db) if args.db else default_path()


# --------------------------------------------------------------------------- output


def _emit(relation: Any, *, fmt: str, out: str | None) -> int:
    """Write a result relation as a table, CSV, JSON lines or Parquet; returns the row count."""
    frame = relation.pl()
    if fmt == "parquet":
        if not out:
            raise BadInputError("--format parquet needs --out FILE (Parquet is binary)")
        frame.write_parquet(out)
    elif fmt == "csv":
        text = frame.write_csv()
        _write_text(text, out)
    elif fmt == "json":
        text = frame.write_ndjson()
        _write_text(text, out)
    elif fmt == "table":
        _write_text(_table_text(frame), out)
    else:
        raise BadInputError(f"unknown --format {fmt!r}; accepted: {', '.join(OUTPUT_FORMATS)}")
    return frame.height


def _write_text(text: str, out: str | None) -> None:
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
        if text and not text.endswith("\n"):
            sys.stdout.write("\n")


def _table_text(frame: Any) -> str:
    """A plain aligned table (every row; long cells cut at 120 characters)."""
    import polars as pl

    columns = frame.columns
    cells = [[_cell(v) for v in row] for row in frame.iter_rows()]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.append(f"({frame.height} row{'s' if frame.height != 1 else ''})")
    del pl
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    from datetime import datetime

    if value is None:
        return ""
    if isinstance(value, datetime):
        return _utc_text(value)
    text = str(value).replace("\n", "⏎")
    return text if len(text) <= 120 else text[:119] + "…"


def _utc_text(value: Any) -> str:
    from datetime import UTC

    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- commands


def cmd_ingest(args: argparse.Namespace) -> int:
    from dvlab.lab.ingest import IngestOptions, ingest

    options = IngestOptions(
        format=args.format,
        pattern=args.pattern,
        site=args.site,
        service=args.service,
        tz=args.tz,
        year=args.year,
        strict=args.strict,
    )
    _check_zone(args.tz)
    progress = _progress_bar() if (sys.stderr.isatty() and not args.json) else None
    try:
        summary = ingest(
            _lab_path(args), args.paths, options, progress=progress.update if progress else None
        )
    finally:
        if progress:
            progress.close()
    for report in summary.failed:
        print(f"dvlab: {report.message}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary.to_dict(), default=str))
    else:
        print(summary.line())
    return 2 if summary.failed else 0


def _check_zone(tz: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInputError(
            f"unknown time zone {tz!r} for --tz; use an IANA name such as UTC or Europe/Oslo"
        ) from None


class _progress_bar:
    """A rich progress bar on stderr, one task per source."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self._progress.start()
        self._tasks: dict[str, Any] = {}

    def update(self, source: str, done: int, total: int | None) -> None:
        if source not in self._tasks:
            self._tasks[source] = self._progress.add_task(Path(source).name, total=total)
        self._progress.update(self._tasks[source], completed=done)

    def close(self) -> None:
        self._progress.stop()


def cmd_sql(args: argparse.Namespace) -> int:
    from dvlab.lab import queries
    from dvlab.lab.store import open_lab

    if args.list:
        for query in queries.available():
            accepted = " ".join(f"[{p.name}]" if not p.required else p.name for p in query.params)
            print(
                f"{query.name:<24} {query.description}"
                + (f"  (params: {accepted})" if accepted else "")
            )
        return 0
    if not args.query:
        raise BadInputError(
            'dvlab sql needs a query: "SELECT ...", a curated query name, or a .sql file'
        )
    params = _key_values(args.param, "--param")
    lab = open_lab(_lab_path(args))
    text = args.query
    if _looks_like_sql(text):
        relation = lab.sql(text, params or None)
    else:
        curated = queries.load(text)
        relation = lab.sql(curated.sql, curated.bind(params))
    _emit(relation, fmt=args.format, out=args.out)
    return 0


def _looks_like_sql(text: str) -> bool:
    first = text.strip().split(None, 1)[0].upper() if text.strip() else ""
    return (
        first
        in {
            "SELECT",
            "WITH",
            "FROM",
            "DESCRIBE",
            "SHOW",
            "SUMMARIZE",
            "PIVOT",
            "UNPIVOT",
            "EXPLAIN",
            "VALUES",
            "TABLE",
            "PRAGMA",
            "CALL",
            "(",
            "SET",
        }
        or " " in text.strip()
    )


def cmd_timeline(args: argparse.Namespace) -> int:
    from dvlab.analyses.timeline import timeline

    relation = timeline(
        _lab_path(args),
        start=args.start,
        end=args.end,
        site=args.site,
        service=args.service,
        level=args.level,
        id=args.id,
        limit=args.limit,
    )
    if args.format == "text":
        frame = relation.pl()
        lines = []
        for row in frame.iter_rows(named=True):
            ids = " ".join(
                f"{k}={row[k]}" for k in ("correlation_id", "task_id", "trace_id") if row.get(k)
            )
            message = (row["message"] or "").replace("\n", "\n    ")
            lines.append(
                f"{_utc_text(row['ts'])}  {row['site'] or '-'}  {row['service'] or '-'}  "
                f"{(row['level'] or '-'):<5}  {message}" + (f"  [{ids}]" if ids else "")
            )
        _write_text("\n".join(lines) + ("\n" if lines else ""), args.out)
        return 0
    _emit(relation, fmt=args.format, out=args.out)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from dvlab.reporting.notebooks import run_report

    params = _key_values(args.param, "-p")
    lab = _lab_path(args)
    result = run_report(args.name, params, out_dir=Path(args.out) if args.out else None, lab=lab)
    print(f"report written: {result.html}")
    print(f"executed notebook: {result.notebook}")
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    from dvlab.reporting.notebooks import start_jupyterlab

    return start_jupyterlab(lab=_lab_path(args), extra_args=args.jupyter_args)


def cmd_export(args: argparse.Namespace) -> int:
    from dvlab.lab.export import export_parquet

    written = export_parquet(_lab_path(args), Path(args.folder), tables=args.table or None)
    for table, (path, rows) in written.items():
        print(f"{table}: {rows} rows -> {path}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from dvlab.simulate.sample import write_sample

    written = write_sample(Path(args.out), seed=args.seed, records=args.records)
    for path, count in written.items():
        print(f"{path}: {count} records")
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dvlab",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            """\
            dvlab loads platform telemetry into a DuckDB lab and answers questions about it.

            The lab is one DuckDB file: --db PATH, else $DVLAB_DB, else ./lab.duckdb.
            Times are stored and shown in UTC."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              dvlab ingest logs/ --site osl1          load every file under logs/
              dvlab timeline --id req-1234            one request's lines, oldest first
              dvlab sql "SELECT service, count(*) FROM logs GROUP BY 1"
              dvlab report incident-timeline -p start=2026-12-01T10:00Z

            exit codes: 0 ok, 1 unexpected error, 2 bad input or unreadable source,
                        3 lab locked, 4 a report cell failed"""
        ),
    )
    parser.add_argument(
        "--db", metavar="PATH", help="the lab file (default $DVLAB_DB or ./lab.duckdb)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each step at INFO")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "ingest",
        help="load log files into the lab",
        description="Load files, globs and folders (plain, .gz, .zst) into the lab. "
        "Formats are detected; re-ingesting adds nothing, a grown file adds its new lines.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument(
        "--format", choices=("jsonl", "logfmt", "oslo", "syslog"), help="skip detection"
    )
    p.add_argument(
        "--pattern",
        metavar="REGEX",
        help="a regular expression with named groups (ts, level, msg, ...)",
    )
    p.add_argument("--site", help="site for records that name none")
    p.add_argument("--service", help="service for records that name none")
    p.add_argument("--tz", default="UTC", help="zone of times without an offset (default UTC)")
    p.add_argument(
        "--year", type=int, help="year for formats whose times have none (RFC 3164 syslog)"
    )
    p.add_argument(
        "--strict", action="store_true", help="fail on the first bad line and write nothing"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "sql",
        help="run SQL or a curated query against the lab",
        description='Run "SELECT ...", a curated query by name, or a .sql file. '
        "--param values are bound as parameters ($name in the SQL), never pasted in.",
    )
    p.add_argument("query", nargs="?", help="SQL text, a curated query name, or a .sql file")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="bind $KEY (repeatable)")
    p.add_argument("--format", choices=OUTPUT_FORMATS, default="table")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--list", action="store_true", help="list the curated queries")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser(
        "timeline",
        help="the time-ordered view of a window",
        description="Log records in time order, filtered by window, site, service, level and id.",
    )
    p.add_argument(
        "--from", dest="start", metavar="TIME", help="start (inclusive), e.g. 2026-12-01T10:00Z"
    )
    p.add_argument("--to", dest="end", metavar="TIME", help="end (exclusive)")
    p.add_argument("--site")
    p.add_argument("--service")
    p.add_argument("--level", help="this level or more severe")
    p.add_argument("--id", help="correlation, causation, task or trace id, or an id in attributes")
    p.add_argument("--limit", type=int, default=100_000)
    p.add_argument("--format", choices=("text", *OUTPUT_FORMATS), default="text")
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_timeline)

    p = sub.add_parser(
        "report",
        help="render a curated notebook headlessly",
        description="Execute a curated notebook with papermill into "
        "reports/NAME/<UTC timestamp>/ (notebook + HTML without code).",
    )
    p.add_argument("name", help="report name, e.g. incident-timeline")
    p.add_argument(
        "-p", "--param", action="append", metavar="KEY=VALUE", help="notebook parameter"
    )
    p.add_argument("--out", metavar="DIR", help="base folder instead of ./reports")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "lab",
        help="start JupyterLab on the curated notebooks with this lab",
        description="Start JupyterLab on notebooks/ with DVLAB_DB set to the lab, so the "
        "notebooks and %%%%sql cells read it. Other options go to JupyterLab "
        "(e.g. dvlab lab --no-browser --port 8899).",
    )
    p.add_argument("jupyter_args", nargs="*", help="passed to jupyter lab")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("export", help="write the lab's tables as Parquet for other engines")
    p.add_argument("folder")
    p.add_argument("--table", action="append", help="only this table (repeatable)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("sample", help="write generated sample logs (the demo's input)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--records", type=int, default=20_000)
    p.set_defaults(func=cmd_sample)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # options after `dvlab lab` that dvlab does not know are JupyterLab's own
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if args.command != "lab":
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.jupyter_args = [*unknown, *args.jupyter_args]
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        return int(args.func(args) or 0)
    except DvlabError as exc:
        if args.debug:
            raise
        print(f"dvlab: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dvlab: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"dvlab: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
