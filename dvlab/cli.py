"""The ``dvlab`` command: thin commands over the library.

This is the only module that configures logging, prints, and turns errors
into exit codes: 0 success, 1 an unexpected failure, 2 bad input, a source
that could not be read, or a file or folder that could not be used, 3 the lab
stayed locked, 4 a report cell failed, 130 interrupted (Ctrl-C), 141 stdout
closed by its reader. ``--debug`` shows the traceback of any error.
Text that comes from logs is printed with its control characters made
visible, so a log line cannot drive the user's terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import textwrap
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
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
        if key.strip() in values:
            # the one given last had won without a word
            raise BadInputError(f"{flag} {key.strip()} given more than once; give each once")
        values[key.strip()] = value
    return values


def _lab_path(args: argparse.Namespace) -> Path:
    from dvlab.lab.store import default_path

    path = Path(args.db) if args.db else default_path()
    if "\\" in str(path):
        # DuckDB reads a backslash in a path as a folder separator, as on Windows
        raise BadInputError(
            f"--db {path}: a lab's path cannot hold a backslash (DuckDB takes it for a "
            "folder separator); name it without one"
        )
    return path


# --------------------------------------------------------------------------- output

#: How every timestamp is shown, in every text format: ISO 8601 in UTC, ending in ``Z``.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: The same for TIMESTAMP_NS values, which keep their nanoseconds.
TIME_FORMAT_NS = "%Y-%m-%dT%H:%M:%S.%nZ"

_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _emit(relation: Any, *, fmt: str, out: str | None) -> int:
    """Write a result relation as a table, CSV, JSON lines or Parquet; returns the row count.

    DuckDB writes CSV, JSON and Parquet itself, so every type it has can be
    written, and the table is made of DuckDB's own text for each value.
    Timestamps read as :data:`TIME_FORMAT` in the three text formats, also
    inside lists, structs and maps. The output is complete before anything
    reaches ``out`` or stdout: a failed query leaves no half-written file.
    """
    if fmt not in OUTPUT_FORMATS:
        raise BadInputError(f"unknown --format {fmt!r}; accepted: {', '.join(OUTPUT_FORMATS)}")
    if out == "-":
        out = None  # stdout, as "-" means to most tools
    if fmt == "parquet" and not out:
        raise BadInputError("--format parquet needs --out FILE (Parquet is binary)")
    compression = COMPRESSIONS.get(Path(out).suffix.lower()) if out else None
    if compression and fmt not in ("csv", "json"):
        raise BadInputError(
            f"--out {out}: DuckDB compresses CSV and JSON output, not {fmt} "
            f"({'Parquet compresses itself' if fmt == 'parquet' else 'give --format csv or json'})"
        )

    if fmt == "parquet":
        with tempfile.TemporaryDirectory(prefix="dvlab-") as folder:
            written = Path(folder) / "result.parquet"
            relation.write_parquet(str(written))
            _deliver(written, out)
        return int(relation.shape[0])

    with _shown(relation) as result:
        if fmt == "table":
            _write_lines(_table_lines(result), out)
            return result.rows
        with tempfile.TemporaryDirectory(prefix="dvlab-") as folder:
            written = Path(folder) / f"result.{fmt}"
            options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT json"
            if fmt == "json" and out is not None and _inner_suffix(out) == ".json":
                # a .json file is one JSON document (an array); elsewhere a line per row
                options += ", ARRAY true"
            if compression:
                options += f", COMPRESSION {compression}"
            select = result.select(finite=fmt == "json")
            result.con.execute(f"COPY ({select}) TO $path ({options})", {"path": str(written)})
            _deliver(written, out)
        return result.rows


@dataclass
class _Shown:
    """A result held by a private connection as ``result``, with the SQL that shows it.

    Its columns are registered as ``c0``, ``c1``... (a result may repeat a
    name); ``exprs`` are those columns with every timestamp written as text.
    """

    con: Any
    names: list[str]
    exprs: list[str]
    rows: int
    #: the same for JSON: every floating-point NaN or infinity NULL too, at any depth
    json_exprs: list[str]

    def select(self, *, finite: bool = False) -> str:
        """The result under its own column names, timestamps as text; with ``finite``,
        a floating-point NaN or infinity as NULL."""
        from dvlab.lab.schema import quote_ident

        exprs = self.json_exprs if finite else self.exprs
        items = [f"{e} AS {quote_ident(n)}" for e, n in zip(exprs, self.names, strict=True)]
        return f"SELECT {', '.join(items) or '*'} FROM result"

    def text_rows(self) -> list[tuple[str | None, ...]]:
        """Every row, each value as DuckDB writes it as text (None for NULL)."""
        return [row for batch in self.text_batches() for row in batch]

    def text_batches(self, size: int = 10_000) -> Iterator[list[tuple[str | None, ...]]]:
        """The rows of :meth:`text_rows`, ``size`` at a time, so a large result is never
        held as Python text all at once."""
        if not self.exprs:
            return
        as_text = ", ".join(f"CAST({e} AS VARCHAR)" for e in self.exprs)
        cursor = self.con.execute(f"SELECT {as_text} FROM result")
        while batch := cursor.fetchmany(size):
            yield batch


@contextmanager
def _shown(relation: Any) -> Iterator[_Shown]:
    import duckdb

    from dvlab.lab.schema import quote_ident

    table = relation.to_arrow_table()
    table = table.rename_columns([f"c{i}" for i in range(table.num_columns)])
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("result", table)
        columns = [quote_ident(f"c{i}") for i in range(table.num_columns)]
        exprs = [
            _times_as_text(column, kind) or column
            for column, kind in zip(columns, relation.types, strict=True)
        ]
        json_exprs = [
            _times_as_text_finite(column, kind) or column
            for column, kind in zip(columns, relation.types, strict=True)
        ]
        yield _Shown(con, list(relation.columns), exprs, table.num_rows, json_exprs)
    finally:
        con.close()


def _times_as_text(expr: str, kind: Any, depth: int = 0) -> str | None:
    """SQL for ``expr`` with every timestamp in it written as text; None if it holds none."""
    return _rewritten(expr, kind, _time_as_text, depth)


def _times_as_text_finite(expr: str, kind: Any, depth: int = 0) -> str | None:
    """:func:`_times_as_text`, and every floating-point NaN or infinity in ``expr`` NULL
    (at any depth: JSON has no spelling for them)."""

    def leaf(value: str, type_id: str) -> str | None:
        if type_id in ("float", "double"):
            return f"CASE WHEN isfinite({value}) THEN {value} END"
        return _time_as_text(value, type_id)

    return _rewritten(expr, kind, leaf, depth)


def _time_as_text(expr: str, type_id: str) -> str | None:
    from dvlab.lab.schema import quote_literal

    if type_id == "timestamp with time zone":
        return f"strftime(timezone('UTC', {expr}), {quote_literal(TIME_FORMAT)})"
    if type_id == "timestamp_ns":
        return f"strftime({expr}, {quote_literal(TIME_FORMAT_NS)})"
    if type_id in ("timestamp", "timestamp_s", "timestamp_ms"):
        return f"strftime({expr}, {quote_literal(TIME_FORMAT)})"
    return None


def _rewritten(
    expr: str, kind: Any, leaf: Callable[[str, str], str | None], depth: int = 0
) -> str | None:
    """SQL for ``expr`` with ``leaf`` applied to every value inside it (through lists,
    arrays, maps and structs); None where ``leaf`` changes nothing."""
    from dvlab.lab.schema import quote_literal

    type_id = str(kind.id)
    changed = leaf(expr, type_id)
    if changed is not None:
        return changed

    item = f"x{depth}"
    if type_id in ("list", "array"):
        inner = _rewritten(item, dict(kind.children)["child"], leaf, depth + 1)
        return None if inner is None else f"list_transform({expr}, lambda {item}: {inner})"
    if type_id == "map":
        children = dict(kind.children)
        key = f"struct_extract({item}, 'key')"
        value = f"struct_extract({item}, 'value')"
        new_key = _rewritten(key, children["key"], leaf, depth + 1)
        new_value = _rewritten(value, children["value"], leaf, depth + 1)
        if new_key is None and new_value is None:
            return None
        entry = f"{{'key': {new_key or key}, 'value': {new_value or value}}}"
        return f"map_from_entries(list_transform(map_entries({expr}), lambda {item}: {entry}))"
    if type_id == "struct":
        fields = []
        for name, field_kind in kind.children:
            field = f"struct_extract({expr}, {quote_literal(name)})"
            fields.append((name, field, _rewritten(field, field_kind, leaf, depth + 1)))
        if all(text is None for _, _, text in fields):
            return None
        packed = ", ".join(f"{quote_literal(n)}: {text or field}" for n, field, text in fields)
        return f"CASE WHEN {expr} IS NULL THEN NULL ELSE {{{packed}}} END"
    return None


class _StdoutClosed(Exception):
    """Whoever read stdout closed it early (``dvlab sql ... | head``)."""


def _refuse_a_database(out: str) -> None:
    """Stop before ``--out`` writes over a DuckDB database (the lab being read, say), or
    over its write-ahead log, which holds its latest commits (there or not yet)."""
    from dvlab.lab.store import is_duckdb_file

    if is_duckdb_file(out):
        raise BadInputError(
            f"--out {out} is a DuckDB database (a lab?); it is not overwritten: "
            "write the result to another file"
        )
    if out.endswith(".wal") and is_duckdb_file(out[:-4]):
        raise BadInputError(
            f"--out {out} is the write-ahead log of the DuckDB database {out[:-4]}; "
            "write the result to another file"
        )


#: the --format an --out file's suffix asks for, when --format is not given
SUFFIX_FORMATS = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".parquet": "parquet",
}


#: how a command's --format help says the default is taken from --out
_FROM_SUFFIX = "default: what --out's suffix names (.csv, .json, .jsonl, .parquet)"


def _format_for(fmt: str | None, out: str | None, default: str) -> str:
    """``--format`` as given, else the one ``--out``'s suffix names, else ``default``."""
    if fmt is not None:
        return fmt
    if out and out != "-":
        suffix = _inner_suffix(out)
        if suffix in _DATABASE_SUFFIXES:
            _refuse_a_database(out)  # the more telling message, when it is one
            raise BadInputError(
                f"--out {out}: the suffix names a database, which dvlab does not write; "
                f"give a file for {', '.join(sorted(set(SUFFIX_FORMATS.values())))} "
                "(or a text table), or say which with --format"
            )
        return SUFFIX_FORMATS.get(suffix, default)
    return default


#: an output file's last suffix -> the compression DuckDB writes it with
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}


def _inner_suffix(out: str) -> str:
    """The suffix that says what ``out`` holds: ``.csv`` for ``x.csv`` and ``x.csv.gz``."""
    path = Path(out)
    if path.suffix.lower() in COMPRESSIONS:
        path = path.with_suffix("")
    return path.suffix.lower()


#: suffixes of database files: an output so named is a mistake (a lab's own, say)
_DATABASE_SUFFIXES = frozenset({".duckdb", ".ddb", ".db", ".sqlite", ".sqlite3", ".wal"})


def _deliver(written: Path, out: str | None) -> None:
    """Copy a finished output file to ``out``, or to stdout."""
    if out:
        _refuse_a_database(out)
        shutil.copyfile(written, out)
        return
    try:
        with open(written, encoding="utf-8", newline="") as fh:
            shutil.copyfileobj(fh, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError as exc:
        raise _StdoutClosed from exc


def _write_text(text: str, out: str | None) -> None:
    """Write ``text`` to ``out`` or to stdout, ending in a newline unless empty."""
    _write_lines(iter([text if not text or text.endswith("\n") else text + "\n"]), out)


#: rows whose cells set the table's column widths; a wider cell further down pushes
#: its own line out rather than making the whole result wait in memory
TABLE_SAMPLE_ROWS = 1_000


def _table_lines(result: _Shown) -> Iterator[str]:
    """A plain aligned table, line by line (every row; long cells cut at 120 characters):
    columns as wide as the header and the first :data:`TABLE_SAMPLE_ROWS` rows need."""
    header = [_cell(name) for name in result.names]
    batches = result.text_batches(TABLE_SAMPLE_ROWS)
    first = [[_cell(value) for value in row] for row in next(batches, [])]
    widths = [len(c) for c in header]
    for row in first:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(cells, widths, strict=True)).rstrip() + "\n"

    yield line(header)
    yield "  ".join("-" * w for w in widths) + "\n"
    for row in first:
        yield line(row)
    for batch in batches:
        for values in batch:
            yield line([_cell(value) for value in values])
    yield f"({result.rows} row{'s' if result.rows != 1 else ''})\n"


def _write_lines(lines: Iterator[str], out: str | None) -> None:
    """Write ``lines`` as they come, to ``out`` (compressed when it ends in .gz or .zst)
    or to stdout (no ``out``, or ``-``)."""
    if out and out != "-":
        _refuse_a_database(out)
        compression = COMPRESSIONS.get(Path(out).suffix.lower())
        if compression == "gzip":
            import gzip

            with gzip.open(out, "wt", encoding="utf-8") as fh:
                fh.writelines(lines)
        elif compression == "zstd":
            import zstandard

            with (
                open(out, "wb") as raw,
                zstandard.ZstdCompressor().stream_writer(raw) as packed,
            ):
                for text in lines:
                    packed.write(text.encode("utf-8"))
        else:
            with open(out, "w", encoding="utf-8") as fh:
                fh.writelines(lines)
        return
    try:
        for text in lines:
            sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError as exc:
        raise _StdoutClosed from exc


def _cell(value: str | None) -> str:
    """One value of a table: NULL, or its text on one line with controls made visible."""
    if value is None:
        return "NULL"
    text = _visible(value, newline="⏎")
    return text if len(text) <= 120 else text[:119] + "…"


def _visible(text: str, *, newline: str = "\n") -> str:
    r"""``text`` safe for a terminal: newlines become ``newline``, other controls but tab ``\xNN``.

    Log text can hold escape sequences that would recolour, retitle or
    rewrite the user's terminal; C0 and C1 controls and DEL are shown instead.

    >>> _visible("a\x1b[2Jb\nc\td", newline="⏎")
    'a\\x1b[2Jb⏎c\td'
    """

    def shown(match: re.Match[str]) -> str:
        char = match.group()
        return newline if char == "\n" else f"\\x{ord(char):02x}"

    return _CONTROLS.sub(shown, text)


# --------------------------------------------------------------------------- commands


def cmd_ingest(args: argparse.Namespace) -> int:
    from dvlab.lab.ingest import IngestOptions, ingest

    if args.pattern and args.format:
        raise BadInputError(
            f"--pattern reads every line with its regular expression; it cannot go with "
            f"--format {args.format} (give one of them)"
        )
    options = IngestOptions(
        format=args.format,
        pattern=args.pattern,
        site=args.site,
        service=args.service,
        tz=args.tz,
        year=args.year,
        strict=args.strict,
        kind=args.kind,
        mapping=tuple(args.map or ()),
        time_origin=args.time_origin,
        at=args.at,
        time_format=args.time_format,
    )
    if args.tz is not None:
        _check_zone(args.tz)
    if args.time_format is not None:
        from dvlab.lab.timeconv import check_time_format

        check_time_format(args.time_format, args.year)
    if args.year is not None and not 1 <= args.year <= 9999:
        raise BadInputError(f"--year {args.year}: give a year from 1 to 9999")
    for flag, given in (("--time-origin", args.time_origin), ("--at", args.at)):
        if given is not None:
            from dvlab.lab.timeconv import parse_utc

            when = parse_utc(given)
            if when is None:
                raise BadInputError(
                    f"{flag} {given!r} is not a time; give RFC 3339, as 2023-01-01T00:00:00Z"
                )
            if flag == "--at" and when.year < 1970:
                # a scrape's own timestamps are read from 1970 on (see dvlab.sources.prometheus)
                raise BadInputError(f"--at {given!r}: give a time from 1970 to 9999")
    if args.map:
        from dvlab.sources.tables import parse_map

        parse_map(args.map)
    live = _live_source(args)
    if live is not None:
        summary = live(options)
        for report in summary.sources:
            if report.message:
                print(
                    f"dvlab: {report.source}: {_visible(_one_line(report.message))}",
                    file=sys.stderr,
                )
        return _print_summary(summary, args)
    progress = _progress_bar() if (sys.stderr.isatty() and not args.json) else None
    try:
        summary = ingest(
            _lab_path(args), args.paths, options, progress=progress.update if progress else None
        )
    finally:
        if progress:
            progress.close()
    for report in summary.sources:
        if report.status == "failed":
            print(f"dvlab: {_visible(_one_line(report.message or 'failed'))}", file=sys.stderr)
        elif report.message not in (None, "already loaded") and report.status in (
            "unchanged",
            "grown",
            "rewritten",
        ):
            # options that were not applied, or rows replaced: worth a line, not a failure
            print(
                f"dvlab: {report.source}: {_visible(_one_line(report.message or ''))}",
                file=sys.stderr,
            )
    return _print_summary(summary, args)


def _print_summary(summary: Any, args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(summary.to_dict(), default=str))
    else:
        print(summary.line())
    return 2 if summary.failed else 0


_PG_ONLY = ("table", "query", "watermark", "full")
_NATS_ONLY = (
    "stream",
    "subject",
    "durable",
    "follow",
    "until_caught_up",
    "advisories",
    "creds",
    "nkey",
    "tls_ca",
    "tls_cert",
    "tls_key",
)


def _live_source(args: argparse.Namespace) -> Callable[[Any], Any] | None:
    """The ingest of a PostgreSQL DSN or a NATS URL given as the one PATH, else None."""
    from dvlab.live import natsingest, pgconn

    def flags(names: tuple[str, ...]) -> list[str]:
        return [f"--{o.replace('_', '-')}" for o in names if getattr(args, o)]

    pg = [p for p in args.paths if pgconn.is_dsn(p)]
    nats = [p for p in args.paths if natsingest.is_url(p)]
    if (pg or nats) and len(args.paths) != 1:
        raise BadInputError("a live source is ingested alone: give it as the one PATH")
    if (pg or nats) and args.format is not None:
        raise BadInputError(
            f"--format: for files only (a {'postgresql' if pg else 'nats'}:// source's "
            "rows are read as what they are)"
        )
    if (pg or nats) and args.time_format is not None:
        raise BadInputError(
            "--time-format: for files only (a live source's times come in a form dvlab knows)"
        )
    if not pg and flags(_PG_ONLY):
        raise BadInputError(f"{', '.join(flags(_PG_ONLY))}: for a postgresql:// source only")
    if not nats and flags(_NATS_ONLY):
        raise BadInputError(f"{', '.join(flags(_NATS_ONLY))}: for a nats:// source only")
    if nats:
        if not args.stream:
            raise BadInputError("a nats:// source needs --stream NAME")
        if args.follow and args.until_caught_up:
            raise BadInputError("--follow or --until-caught-up, not both")
        stream = natsingest.NatsSource(
            url=nats[0],
            stream=args.stream,
            subject=args.subject,
            durable=args.durable,
            follow=args.follow,
            advisories=args.advisories,
            creds=args.creds,
            nkey=args.nkey,
            tls_ca=args.tls_ca,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        )
        return lambda options: natsingest.ingest(_lab_path(args), stream, options)
    if not pg:
        return None
    from dvlab.live import pgingest

    for flag, value in (
        ("the DSN", pg[0]),
        ("--table", args.table),
        ("--query", args.query),
        ("--watermark", args.watermark),
    ):
        if value is not None and not _is_text(value):
            raise BadInputError(
                f"{flag} holds bytes that are not UTF-8 text; PostgreSQL is sent UTF-8: "
                "give it in UTF-8"
            )
    source = pgingest.PgSource(
        dsn=pg[0],
        table=args.table,
        query=args.query,
        watermark=args.watermark,
        full=args.full,
        naive_tz=args.tz,
    )
    pgingest.check_source(source.dsn)
    return lambda options: pgingest.ingest(_lab_path(args), source, options)


def _is_text(value: str) -> bool:
    """Whether a command-line value is UTF-8 text (Python keeps other bytes as surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_zone(tz: str) -> None:
    """Refuse a zone Python or DuckDB does not know (Python's reads files DuckDB has no
    name for: posixrules, right/UTC, localtime)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    import duckdb

    from dvlab.lab.schema import quote_literal

    unknown = BadInputError(
        f"unknown time zone {tz!r} for --tz; use an IANA name such as UTC or Europe/Oslo"
    )
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise unknown from None
    con = duckdb.connect()
    try:
        con.execute(f"SET TimeZone = {quote_literal(tz)}")
    except duckdb.Error:
        raise unknown from None
    finally:
        con.close()


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
    _refuse_a_repeated_param(args.param)
    params = _key_values(args.param, "--param")
    text = args.query
    # an existing .sql file is read as one, even with a blank in its name
    if _looks_like_sql(text) and not (text.endswith(".sql") and Path(text).is_file()):
        sql, values, what = text, params or None, "the SQL given"
    else:
        curated = queries.load(text)
        sql, values, what = curated.sql, curated.bind(params), str(curated.path)
    count = _statement_count(sql)
    if count == 0:
        raise BadInputError(f"{what} holds no SQL statement")
    lab = open_lab(_lab_path(args))
    _say_if_several_statements(count)
    relation = lab.sql(sql, values)
    _emit(relation, fmt=_format_for(args.format, args.out, "table"), out=args.out)
    return 0


def _refuse_a_repeated_param(pairs: Sequence[str] | None) -> None:
    """``--param x=1 --param x=2`` is a mistake one way or the other: say so."""
    # DuckDB reads $Id and $id as one parameter
    from dvlab.lab.queries import fold

    names = [fold(pair.partition("=")[0].strip()) for pair in pairs or ()]
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        raise BadInputError(f"--param {', '.join(repeated)} given more than once; give each once")


_SQL_STARTS = {
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


def _looks_like_sql(text: str) -> bool:
    """Whether ``text`` is SQL rather than a curated query's name or a file's path: it
    starts with a word SQL starts with, or it holds a blank and does not end in ``.sql``."""
    words = text.split()
    if words and (words[0].upper() in _SQL_STARTS or words[0].startswith("(")):
        return True
    return len(words) > 1 and not text.strip().rstrip("/" + os.sep).endswith(".sql")


def _statement_count(sql: str) -> int | None:
    """How many statements ``sql`` holds (none if only comments); None if it does not parse."""
    import duckdb

    try:
        return len(duckdb.extract_statements(sql))
    except duckdb.Error:
        return None  # the query itself will say what is wrong


def _say_if_several_statements(count: int | None) -> None:
    """DuckDB runs every statement given and answers with the last one's result: say so."""
    if count is not None and count > 1:
        print(
            f"dvlab: {count} statements given; each runs, and the result shown is the last one's",
            file=sys.stderr,
        )


def cmd_timeline(args: argparse.Namespace) -> int:
    import duckdb

    from dvlab.analyses.timeline import timeline
    from dvlab.lab.queries import BIGGEST_LIMIT

    # one past the limit is asked for (below), which must still be a BIGINT
    if not 1 <= args.limit < BIGGEST_LIMIT:
        raise BadInputError(f"--limit must be from 1 to {BIGGEST_LIMIT - 1}, not {args.limit}")
    fmt = _format_for(args.format, args.out, "text")
    # one record past the limit says whether the limit cut the view
    relation = timeline(
        _lab_path(args),
        start=args.start,
        end=args.end,
        site=args.site,
        service=args.service,
        level=args.level,
        id=args.id,
        limit=args.limit + 1,
        spans=args.spans,
        metrics=args.metrics,
    )
    held = relation.to_arrow_table()
    more = held.num_rows > args.limit
    relation = duckdb.from_arrow(held.slice(0, args.limit))
    if fmt == "text":
        lines = _timeline_lines(relation)
        _write_text("".join(f"{line}\n" for line in lines), args.out)
        rows = len(lines)
    else:
        rows = _emit(relation, fmt=fmt, out=args.out)
    if not rows and fmt == "text":
        print("dvlab: no records match", file=sys.stderr)
    if more:
        print(
            f"dvlab: showing the first {args.limit:,} records; more match (narrow the view "
            "with --from, --to, --site, --service, --level or --id, or raise --limit)",
            file=sys.stderr,
        )
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from dvlab.analyses.lineage import draw, trace

    fmt = _format_for(args.format, args.out, "text")
    relation = trace(_lab_path(args), args.id)
    if fmt == "text":
        columns = relation.columns
        rows = [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]
        _write_text("".join(f"{_visible(line)}\n" for line in draw(rows)), args.out)
    else:
        _emit(relation, fmt=fmt, out=args.out)
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from dvlab.analyses.metrics import metric_points

    fmt = _format_for(args.format, args.out, "table")

    relation = metric_points(
        _lab_path(args),
        args.name,
        labels=_key_values(args.labels, "--labels"),
        start=args.start,
        end=args.end,
        site=args.site,
        service=args.service,
        rate=args.rate,
    )
    if not args.chart:
        _emit(relation, fmt=fmt, out=args.out)
        return 0

    import polars as pl

    from dvlab.analyses.metrics import series_key
    from dvlab.reporting import charts

    frame = (
        relation.pl()
        .with_columns(name=pl.lit(args.name))
        .select(series=series_key(), ts="ts", value=relation.columns[-1])
    )
    chart = charts.metric_chart(
        frame, title=args.name, value_title="per second" if args.rate else "value"
    )
    charts.save_chart(chart, Path(args.chart))
    series = frame.get_column("series").n_unique()
    print(f"chart written: {args.chart} ({series} series, {frame.height} points)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from dvlab.analyses.status import render, status

    fmt = args.format or _format_for(None, args.out, "text")
    if fmt not in ("text", "json"):
        raise BadInputError(
            f"--out {args.out}: status writes text or JSON, not {fmt}; name a .json or .txt "
            "file, or say which with --format"
        )
    answers = status(_lab_path(args), at=args.at, site=args.site, window=args.window)
    if fmt == "json":
        # one line in a file of JSON lines, indented elsewhere
        lines = args.out is not None and _inner_suffix(args.out) in (".jsonl", ".ndjson")
        text = json.dumps(answers.to_dict(), default=_json_value, indent=None if lines else 2)
        text += "\n"
    else:
        text = "".join(f"{_visible(line)}\n" for line in render(answers))
    _write_text(text, args.out)
    return 0


def _json_value(value: object) -> object:
    """Times as ISO 8601 UTC with Z, intervals as seconds, anything else as text."""
    from datetime import datetime as _datetime

    from dvlab.lab.timeconv import format_utc

    if isinstance(value, _datetime):
        return format_utc(value, digits=6)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)


def _timeline_lines(relation: Any) -> list[str]:
    """One line per record (a message's own lines indented below it), controls made visible."""
    with _shown(relation) as result:
        records = [dict(zip(result.names, row, strict=True)) for row in result.text_rows()]
    lines = []
    for row in records:
        ids = " ".join(
            f"{k}={row[k]}" for k in ("correlation_id", "task_id", "trace_id") if row.get(k)
        )
        fields = [row["ts"] or "-", row["site"] or "-", row["service"] or "-"]
        line = "  ".join([*fields, f"{row['level'] or '-':<5}", row["message"] or ""])
        lines.append(_visible(line + (f"  [{ids}]" if ids else ""), newline="\n    "))
    return lines


def cmd_report(args: argparse.Namespace) -> int:
    from dvlab.reporting.notebooks import run_report

    params = _key_values(args.param, "-p")
    lab = _report_lab(args, params.pop("lab", None))
    result = run_report(args.name, params, out_dir=Path(args.out) if args.out else None, lab=lab)
    print(f"report written: {result.html}")
    print(f"executed notebook: {result.notebook}")
    return 0


def _report_lab(args: argparse.Namespace, given: str | None) -> Path:
    """The lab a report reads: ``-p lab=``, else ``--db`` (or its default); both must agree."""
    if given is None:
        return _lab_path(args)
    if not given.strip():
        raise BadInputError("-p lab= needs the path of a lab file")
    if args.db is not None and Path(args.db).resolve() != Path(given).resolve():
        raise BadInputError(
            f"--db {args.db} and -p lab={given} name two different labs; give one of them"
        )
    return Path(given)


def cmd_lab(args: argparse.Namespace) -> int:
    from dvlab.reporting.notebooks import start_jupyterlab

    return start_jupyterlab(lab=_lab_path(args), extra_args=args.jupyter_args)


def cmd_forget(args: argparse.Namespace) -> int:
    from dvlab.lab.ingest import forget

    for report in forget(_lab_path(args), args.sources):
        print(
            f"{report.source}: removed {report.rows} rows and {report.rejects} rejects "
            f"({report.ingests} ledger rows marked forgotten)"
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from dvlab.lab.export import export_parquet

    written = export_parquet(_lab_path(args), Path(args.folder), tables=args.table or None)
    for table, (path, rows) in written.items():
        print(f"{table}: {rows} rows -> {path}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from dvlab.simulate.run import simulate

    start = None
    if args.start is not None:
        from dvlab.lab.timeconv import parse_utc

        start = parse_utc(args.start)
        if start is None:
            raise BadInputError(
                f"--start {args.start!r} is not a time; give RFC 3339, as 2026-11-30T08:00:00Z"
            )
    from dvlab.simulate.run import identity

    duration = None if args.duration is None else _duration(args.duration)
    run = identity(args.scenario, args.seed, args.scale, start, duration)
    if args.to_nats or args.to_postgres:
        from dvlab.simulate.push import check_targets

        check_targets(
            nats_url=args.to_nats or None,
            stream=args.nats_stream,
            prefix=args.nats_prefix,
            pg_dsn=args.to_postgres or None,
            schema=args.pg_schema,
            run=run,
        )
    result = simulate(
        Path(args.out),
        scenario=args.scenario,
        seed=args.seed,
        scale=args.scale,
        start=start,
        duration=duration,
    )
    counts = ", ".join(f"{n:,} {what}" for what, n in result.counts.items())
    print(f"{args.scenario} (seed {args.seed}, {args.scale}) -> {result.out}: {counts}")
    if args.to_postgres:
        from dvlab.live import pgconn
        from dvlab.live.pgingest import shown_name
        from dvlab.simulate.push import to_postgres

        held = to_postgres(result.out, args.to_postgres, args.pg_schema, run=run)
        # as --table takes it: a name PostgreSQL would fold (Upper) is quoted
        schema_name = shown_name(args.pg_schema)
        where = f"{pgconn.describe(args.to_postgres)} schema {schema_name}"
        print(f"postgresql: {', '.join(f'{t} {n:,} rows' for t, n in held.items())} in {where}")
    if args.to_nats:
        from dvlab.live.natsingest import describe
        from dvlab.simulate.push import to_nats

        published = to_nats(
            result.out, args.to_nats, stream=args.nats_stream, prefix=args.nats_prefix
        )
        print(
            f"nats: {published['sent']:,} messages published to stream {args.nats_stream} at "
            f"{describe(args.to_nats)}, which holds {published['stream']:,}"
        )
    return 0


def _duration(text: str) -> timedelta:
    """``90m``, ``2h``, ``1h30m``, ``4d``: a positive length of time."""
    parts = re.findall(r"(\d+)([dhms])", text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise BadInputError(
            f"--duration {text!r} is not a length of time; give e.g. 90m, 2h, 1h30m or 4d"
        )
    unit = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    total = timedelta()
    for number, letter in parts:
        total += timedelta(**{unit[letter]: int(number)})
    return total


def cmd_sample(args: argparse.Namespace) -> int:
    from dvlab.simulate.sample import write_sample

    written = write_sample(Path(args.out), seed=args.seed, records=args.records)
    for path, count in written.items():
        print(f"{path}: {count} records")
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    import time

    from dvlab.live import pgconn, pghealth

    if not pgconn.is_dsn(args.dsn):
        raise BadInputError(
            f"dvlab snapshot takes a postgresql:// DSN, not {pgconn.redact(args.dsn)!r} "
            "(postgresql:// alone uses the PG* variables and ~/.pgpass)"
        )
    if args.repeat < 1:
        raise BadInputError(f"--repeat takes a count of 1 or more, not {args.repeat}")
    if args.repeat > 1 and args.every is None:
        raise BadInputError(f"--repeat {args.repeat} needs --every SECONDS between snapshots")
    if args.every is not None and (
        args.repeat == 1 or not math.isfinite(args.every) or args.every < 0
    ):
        raise BadInputError("--every takes seconds, 0 or more, and goes with --repeat N")
    begun = time.monotonic()
    for number in range(args.repeat):
        if number:
            # a fixed beat, however long each snapshot took
            time.sleep(max(0.0, begun + number * args.every - time.monotonic()))
        recorded = pghealth.record(
            _lab_path(args),
            args.dsn,
            site=args.site,
            long_query=args.long_query,
            top_tables=args.top_tables,
        )
        print(json.dumps(recorded.to_dict()) if args.json else recorded.line(), flush=True)
    return 0


# --------------------------------------------------------------------------- parser


def _add_global_options(
    parser: argparse.ArgumentParser, *, default: Any = None, db_only: bool = False
) -> None:
    """--db, --debug and -v: given before the command, or after it."""
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=default,
        help="the lab file (default $DVLAB_DB or ./lab.duckdb)",
    )
    if db_only:
        return
    flag = False if default is None else default
    parser.add_argument(
        "--debug", action="store_true", default=flag, help="show tracebacks and debug logging"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=flag, help="log each step at INFO"
    )


def build_parser() -> argparse.ArgumentParser:
    from dvlab.analyses.timeline import SPAN_CHOICES
    from dvlab.sources import telemetry

    parser = argparse.ArgumentParser(
        prog="dvlab",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            """\
            dvlab loads platform telemetry into a DuckDB lab and answers questions about it.

            The lab is one DuckDB file: --db PATH, else $DVLAB_DB, else ./lab.duckdb.
            Times are stored and shown in UTC. --db, --debug and -v go before the
            command or after it (after `lab`, only --db is dvlab's)."""
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              dvlab ingest logs/ --site osl1          load every file under logs/
              dvlab timeline --id req-1234            one request's lines, oldest first
              dvlab sql "SELECT service, count(*) FROM logs GROUP BY 1"
              dvlab report incident-timeline -p start=2026-12-01T10:00Z

            exit codes: 0 ok, 1 unexpected error, 2 bad input, unreadable source or
                        unusable path, 3 lab locked, 4 a report cell failed,
                        130 interrupted, 141 stdout's reader went away (| head)"""
        ),
    )
    _add_global_options(parser)
    # the same options after the command; there they default to nothing, so a value
    # given before the command stays unless it is given again after it
    after = argparse.ArgumentParser(add_help=False)
    _add_global_options(after, default=argparse.SUPPRESS)
    # after `dvlab lab`, --debug and -v are JupyterLab's; only --db is dvlab's there
    after_lab = argparse.ArgumentParser(add_help=False)
    _add_global_options(after_lab, default=argparse.SUPPRESS, db_only=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "ingest",
        parents=[after],
        help="load logs, task history and workflow events into the lab",
        description="Load files, globs and folders (plain, .gz, .zst) into the lab: logs "
        "into `logs`; task history (CSV, Parquet, JSON lines or a JSON array) into `tasks`, "
        "state transitions into `task_transitions`, JetStream exports and CloudEvents into "
        "`events` (a message delivered twice is stored once); saved NATS monitoring responses "
        "(/varz, /routez, /gatewayz, /leafz, /jsz, ...) into `metrics`. Formats are detected; "
        "re-ingesting adds nothing, a grown log adds its new lines, a changed table replaces "
        "the rows of the ids it holds.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument(
        "--format",
        choices=("jsonl", "logfmt", "oslo", "syslog", "nats-monitor", *telemetry.formats()),
        help="skip detection (nats-monitor: a saved NATS monitoring response)",
    )
    p.add_argument(
        "--pattern",
        metavar="REGEX",
        help="a regular expression with named groups (ts, level, msg, ...)",
    )
    p.add_argument("--site", help="site for records that name none")
    p.add_argument("--service", help="service for records that name none")
    p.add_argument(
        "--tz",
        help="zone of times without an offset (default: UTC, or the zone a source already "
        "in the lab was read in; for a PostgreSQL `timestamp` column, the server's TimeZone)",
    )
    p.add_argument(
        "--time-format",
        metavar="FMT",
        help="the form of the times of JSON-lines, logfmt, --pattern and table files, in "
        "strptime notation, where dvlab cannot tell it (e.g. '%%y/%%m/%%d %%H:%%M:%%S' for "
        "Spark's 17/06/09 20:10:40); kept by the source",
    )
    p.add_argument(
        "--year",
        type=int,
        help="year for times written without one (RFC 3164 syslog, or a --time-format that "
        "says none, as klog's)",
    )
    p.add_argument(
        "--strict", action="store_true", help="fail on the first bad line and write nothing"
    )
    p.add_argument(
        "--kind",
        choices=("logs", "tasks", "transitions", "events", "metrics", "spans"),
        help="what the sources hold (default: told from their columns or keys: task "
        "history, task state transitions, a JetStream export or CloudEvents, else logs). "
        "Metrics, spans and logs in CSV or Parquet take their columns by name or --map: "
        "spans one a row (trace_id, span_id, parent_span_id, name, start_time, end_time, a "
        "duration mapped as duration_ns/_us/_ms/_s to say its unit, kind, status); metrics "
        "long (ts, name, value, the rest labels) or wide (ts, then a metric a column, named "
        "as written; empty and NaN cells skipped; --map labels=COL,COL keeps columns as "
        "labels); logs (ts, message, level, host, trace_id, ...; a Docker json-file line "
        "unwrapped, the level else read from the message; the time is the ts column's, not "
        "one in the message text). --map pod=COLUMN takes the service from a Kubernetes pod name less "
        "its hashes (--map service=COLUMN keeps it whole)",
    )
    p.add_argument(
        "--map",
        action="append",
        metavar="COLUMN=NAME",
        help="the source column (a dotted path in JSON) holding a lab column of the "
        "--kind, e.g. --map task_id=ID --map state=Status.State (repeatable)",
    )
    p.add_argument(
        "--at",
        metavar="TIME",
        help="the scrape time of metrics whose samples carry no timestamp (default: the "
        "file's modification time)",
    )
    p.add_argument(
        "--time-origin",
        metavar="TIME",
        help="read numbers in time columns as seconds after TIME (traces whose clock starts "
        "at zero)",
    )
    pg = p.add_argument_group(
        "PostgreSQL (PATH is postgresql://USER@HOST:PORT/DB, or postgresql:// with the PG* "
        "variables and ~/.pgpass)"
    )
    pg.add_argument("--table", metavar="[SCHEMA.]TABLE", help="the table to pull")
    pg.add_argument("--query", metavar="SQL", help="a SELECT to pull instead of a table")
    pg.add_argument(
        "--watermark",
        metavar="COLUMN",
        help="take only rows whose COLUMN reached the last run's value or beyond "
        "(default: updated_at, when there is one; a source keeps its column)",
    )
    pg.add_argument(
        "--full", action="store_true", help="read everything again, not from the watermark"
    )
    ns = p.add_argument_group("NATS JetStream (PATH is nats://HOST:PORT, several comma-separated)")
    ns.add_argument("--stream", metavar="NAME", help="the stream to read")
    ns.add_argument(
        "--subject", metavar="S", help="only messages on subject S (wildcards allowed)"
    )
    ns.add_argument(
        "--durable",
        metavar="NAME",
        help="the durable consumer that remembers where reading stopped (default dvlab; "
        "give each lab its own)",
    )
    ns.add_argument(
        "--until-caught-up",
        action="store_true",
        help="stop when nothing is pending (the default, for scheduled runs)",
    )
    ns.add_argument(
        "--follow",
        action="store_true",
        help="keep reading; Ctrl-C or SIGTERM commits what is in hand and stops",
    )
    ns.add_argument(
        "--advisories",
        action="store_true",
        help="also store the JetStream advisories published meanwhile as events",
    )
    ns.add_argument("--creds", metavar="FILE", help="a NATS credentials file (JWT and NKEY seed)")
    ns.add_argument("--nkey", metavar="FILE", help="an NKEY seed file")
    ns.add_argument("--tls-ca", metavar="FILE", help="CA certificates to trust")
    ns.add_argument("--tls-cert", metavar="FILE", help="client certificate")
    ns.add_argument("--tls-key", metavar="FILE", help="client certificate's key")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "sql",
        parents=[after],
        help="run SQL or a curated query against the lab",
        description='Run "SELECT ...", a curated query by name, or a .sql file. '
        "--param values are bound as parameters ($name in the SQL), never pasted in.",
    )
    p.add_argument("query", nargs="?", help="SQL text, a curated query name, or a .sql file")
    p.add_argument(
        "-p", "--param", action="append", metavar="KEY=VALUE", help="bind $KEY (repeatable)"
    )
    p.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        default=None,
        help="default: what --out's suffix names (.csv, .json, .jsonl, .parquet), else table",
    )
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--list", action="store_true", help="list the curated queries")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser(
        "timeline",
        parents=[after],
        help="the time-ordered view of a window",
        description="Log records, workflow events, task state changes, spans and metric "
        "changes in time order, filtered by window, site, service, level and id. An id "
        "brings the traces its logs carry: their spans and logs. A metric change is a "
        "point beyond 3 standard deviations and 20% of its series' mean over the 10 points "
        "before it (a counter judged by its rate; see the curated query metric_anomalies).",
    )
    p.add_argument(
        "--from", dest="start", metavar="TIME", help="start (inclusive), e.g. 2026-12-01T10:00Z"
    )
    p.add_argument("--to", dest="end", metavar="TIME", help="end (exclusive)")
    p.add_argument("--site")
    p.add_argument("--service")
    p.add_argument("--level", help="this level or more severe")
    p.add_argument(
        "--id",
        help="correlation, causation, task, trace, event or workflow id, a task's target or "
        "idempotency key, or a value in attributes or a payload (text or a number; not a key)",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=100_000,
        help="show at most this many records, the earliest (default %(default)s; a notice "
        "on stderr says when more match)",
    )
    p.add_argument(
        "--spans",
        choices=SPAN_CHOICES,
        default="key",
        help="which spans: key (status error, roots, and with --id every span of its "
        "traces), all, or none (default %(default)s)",
    )
    p.add_argument(
        "--no-metrics",
        dest="metrics",
        action="store_false",
        help="leave out metric changes (a series leaving its own recent baseline)",
    )
    p.add_argument("--format", choices=("text", *OUTPUT_FORMATS), default=None)
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_timeline)

    p = sub.add_parser(
        "metrics",
        parents=[after],
        help="the points of one metric, as a table or a chart",
        description="Print the points of metric NAME, series by series (time, labels, site, "
        "service, value), or with --rate a counter's per-second rate (a drop read as a "
        "restart from zero); --chart FILE draws one line per series instead (SVG or PNG). "
        "The SQL is the curated query `metric_points`.",
    )
    p.add_argument("name", metavar="NAME", help="the metric name, e.g. http_requests_total")
    p.add_argument(
        "--labels",
        nargs="+",
        action="extend",
        metavar="KEY=VALUE",
        help="only series carrying these labels",
    )
    p.add_argument("--from", dest="start", metavar="TIME", help="start (inclusive)")
    p.add_argument("--to", dest="end", metavar="TIME", help="end (exclusive)")
    p.add_argument("--site")
    p.add_argument("--service")
    p.add_argument("--rate", action="store_true", help="a counter's per-second rate")
    p.add_argument("--chart", metavar="FILE", help="write a chart (.svg or .png) instead")
    p.add_argument(
        "--format", choices=OUTPUT_FORMATS, default=None, help=f"{_FROM_SUFFIX}, else table"
    )
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser(
        "trace",
        parents=[after],
        help="the whole workflow an id belongs to, as a causal tree",
        description="From any id (correlation, causation, event, task, workflow, API request, "
        "idempotency key, or a target resource such as a port or volume id) print the "
        "workflows it belongs to: each task under its parent with its state, attempts and "
        "site, each task's events in causal order, and the gaps (a cause that is not "
        "loaded, an event that arrived before its cause). The SQL is the curated query "
        "`trace` (dvlab sql trace --param id=...).",
    )
    p.add_argument("id", metavar="ID")
    p.add_argument(
        "--format",
        choices=("text", *OUTPUT_FORMATS),
        default=None,
        help=f"{_FROM_SUFFIX}, else text (the tree)",
    )
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser(
        "status",
        parents=[after],
        help="the operator's seven questions at a moment, with evidence",
        description="At --at (default: the latest time of the task history), for one --site or "
        "all: what is running; what failed, why (error class and the first error log of its "
        "correlation), what it was trying to affect (target, and what else touches it), "
        "whether a retry is safe (safe, reconcile first, unsafe, and why); which dependency "
        "is unavailable or degraded; which workflows are blocked, retrying or in reduced "
        "mode. Each answer is a curated query: status_running, status_failed, "
        "status_dependencies, status_workflows.",
    )
    p.add_argument("--at", metavar="TIME", help="the moment, e.g. 2026-11-30T09:00:00Z")
    p.add_argument("--site", help="only this site")
    p.add_argument(
        "--window",
        type=int,
        default=3600,
        metavar="SECONDS",
        help="how far back a failure counts (default %(default)s)",
    )
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default=None,
        help="default: json when --out ends in .json, else text",
    )
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "report",
        parents=[after],
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
        parents=[after_lab],
        help="start JupyterLab on the curated notebooks with this lab",
        description="Start JupyterLab on notebooks/ with DVLAB_DB set to the lab, so the "
        "notebooks and %%sql cells read it. Other options go to JupyterLab "
        "(e.g. dvlab lab --no-browser --port 8899); so --debug and -v after `lab` are "
        "JupyterLab's, and dvlab's own go before it: dvlab --debug lab.",
    )
    p.add_argument("jupyter_args", nargs="*", help="passed to jupyter lab")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser(
        "forget",
        parents=[after],
        help="remove the rows loaded from a source, so it loads afresh",
        description="Remove every row and reject loaded from each SOURCE (as the ledger names "
        "it: the path given to ingest), in one transaction. The ledger keeps its rows, marked "
        "forgotten. The next ingest of the file loads it again, with the options given then.",
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser(
        "snapshot",
        parents=[after],
        help="record a PostgreSQL server's health into the lab's metrics",
        description="Read the health of the PostgreSQL server at DSN in one read-only "
        "transaction and store it in `metrics` (service postgresql, names pg_*), one ledger "
        "row per snapshot: connections by state, long-running and lock-waiting queries, "
        "locks by mode, replication lag per standby, database sizes and transaction id age, "
        "the largest tables and those with most dead tuples. What the role may not read is "
        "recorded as pg_snapshot_skipped instead. DSN is postgresql://USER@HOST:PORT/DB, or "
        "postgresql:// alone with the PG* variables and ~/.pgpass; its password is never "
        "printed or stored. --repeat with --every makes a time series.",
    )
    p.add_argument("dsn", metavar="DSN")
    p.add_argument("--site", help="the site the server belongs to, written into every row")
    p.add_argument(
        "--long-query",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="an active query running longer counts as long-running (default %(default)g)",
    )
    p.add_argument(
        "--top-tables",
        type=int,
        default=10,
        metavar="N",
        help="how many of the largest tables, and of those with most dead tuples "
        "(default %(default)s)",
    )
    p.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="take N snapshots (default 1)"
    )
    p.add_argument(
        "--every", type=float, metavar="SECONDS", help="time between repeated snapshots"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per snapshot")
    p.set_defaults(func=cmd_snapshot)

    p = sub.add_parser(
        "export",
        parents=[after],
        help="write the lab's tables as Parquet for other engines",
        description="Write the lab's tables as Parquet under FOLDER (created if missing) for "
        "Spark, Polars, pandas or another DuckDB: logs as FOLDER/logs/day=YYYY-MM-DD/ "
        "(UTC days, Hive style), each other table as FOLDER/NAME.parquet. The export is "
        "written to a hidden folder first and its tables moved into place together, so a "
        "reader, or an export stopped midway, finds the earlier export or this one, never a "
        "mix. FOLDER/.dvlab-export.json names the tables exports wrote there; what sits under a "
        "table's name but is not named there is never replaced (the export is refused).",
    )
    p.add_argument("folder", metavar="FOLDER", help="where the Parquet files go")
    p.add_argument("--table", action="append", metavar="NAME", help="only this table (repeatable)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "simulate",
        parents=[after],
        help="simulate the platform in a scenario and write its telemetry export",
        description="Play a seeded simulation of the platform (three sites; api, scheduler, "
        "provisioning, nett, storage and inventory; workflows of tasks with retries) through "
        "SCENARIO and write what its parts would export into DIR: logs/<service>.jsonl, "
        "events/workflow-events.jsonl (a JetStream export with CloudEvents envelopes), "
        "tasks/tasks.{csv,parquet} and tasks/task_transitions.{csv,parquet}, and truth.json "
        "(what was injected and the right answers at named moments). The same arguments "
        "write the same bytes.",
    )
    p.add_argument(
        "--scenario",
        required=True,
        choices=("baseline", "nett-outage", "site-failover", "flaky-storage"),
        help="what goes wrong",
    )
    p.add_argument("--seed", type=int, required=True, help="seed of the simulation")
    p.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder")
    p.add_argument(
        "--scale",
        choices=("small", "medium", "large"),
        default="small",
        help="workflows per hour: small 300, medium 10,000, large 100,000 (over two hours, "
        "about 1.1 million tasks and 10 million log lines) (default %(default)s)",
    )
    p.add_argument(
        "--start", metavar="TIME", help="when the run starts (default 2026-11-30T08:00Z)"
    )
    p.add_argument(
        "--duration",
        metavar="D",
        help="how long the run lasts: 90m, 2h, 4d (default: the scenario's own, 2h to 4d)",
    )
    p.add_argument(
        "--to-postgres",
        metavar="DSN",
        help="also load the task tables into this PostgreSQL database (upserted by key)",
    )
    p.add_argument(
        "--pg-schema", default="public", metavar="NAME", help="schema for --to-postgres"
    )
    p.add_argument(
        "--to-nats", metavar="URL", help="also publish the events into a JetStream stream"
    )
    p.add_argument(
        "--nats-stream",
        default="DV_WORKFLOWS",
        metavar="NAME",
        help="stream for --to-nats, created on PREFIX.> when missing (default %(default)s)",
    )
    p.add_argument(
        "--nats-prefix",
        default="dv",
        metavar="PREFIX",
        help="first token of the published subjects (default %(default)s)",
    )
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser(
        "sample",
        parents=[after],
        help="write generated sample logs (the demo's input)",
        description="Write made-up logs of three sites and one incident into DIR, in "
        "three formats (gzipped JSON lines, logfmt, RFC 5424 syslog), ready for "
        "`dvlab ingest DIR`. The same --seed and --records write the same bytes.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write the logs into")
    p.add_argument(
        "--seed", type=int, default=7, help="seed of the generator (default %(default)s)"
    )
    p.add_argument(
        "--records",
        type=int,
        default=20_000,
        help="how many records to write (default %(default)s)",
    )
    p.set_defaults(func=cmd_sample)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse(argv))


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line read (argparse exits on a wrong one, or after ``--help``; with
    ``--json`` on it, a wrong one is also said as JSON on stdout)."""
    if "--json" not in (sys.argv[1:] if argv is None else argv):
        return _parse(argv)
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            return _parse(argv)
    except SystemExit as exc:
        if exc.code == 2:
            lines = said.getvalue().strip().splitlines() or ["the command line is wrong"]
            error = lines[-1].split(": error: ", 1)[-1]
            print(json.dumps({"error": error, "exit_code": 2}))
        raise
    finally:
        sys.stderr.write(said.getvalue())


def _parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    # options after `dvlab lab` that dvlab does not know are JupyterLab's own
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "lab":
        args.jupyter_args = _jupyter_args(list(sys.argv[1:] if argv is None else argv))
    return args


def _jupyter_args(argv: list[str]) -> list[str]:
    """What follows ``lab`` on the command line, in its order, but for dvlab's own
    ``--db PATH`` (argparse hands back an option's value apart from the option:
    ``--port 8899`` would reach JupyterLab as ``--port`` then, later, ``8899``)."""
    i = 0
    while i < len(argv) and argv[i] != "lab":
        i += 2 if argv[i] == "--db" else 1  # the options before the command; --db's value
    rest, passed = argv[i + 1 :], []
    while rest:
        word = rest.pop(0)
        if word == "--":
            passed += rest
            break
        if word == "--db":
            rest = rest[1:]
        elif not word.startswith("--db="):
            passed.append(word)
    return passed


def run(args: argparse.Namespace) -> int:
    """Run the command ``args`` names: its exit code, an error as one line on stderr."""
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if not args.debug:
        # psycopg warns of a session zone Python has no name for (PGTZ=UTC+3) that it
        # parses times in UTC; dvlab's connections receive none it parses (they arrive as
        # text), so the warning misleads
        logging.getLogger("psycopg").setLevel(logging.ERROR)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return _interrupted()
    except _StdoutClosed:
        return _reader_went_away()
    except Exception as exc:
        if _is_interrupt(exc):
            return _interrupted()
        if args.debug:
            # the traceback, then the same line and exit code as without --debug
            traceback.print_exc(file=sys.stderr)
        code, message = _failure(exc)
        print(f"dvlab: {_visible(_one_line(message))}", file=sys.stderr)
        if getattr(args, "json", False):
            # a script that asked for JSON gets JSON, also when the command fails
            print(json.dumps({"error": _one_line(message), "exit_code": code}))
        return code


_MARKS_ONLY = re.compile(r"[\s^]*")


def _one_line(message: str) -> str:
    r"""``message`` on one line: its lines (DuckDB adds the statement, a caret line under
    it, a "Did you mean" hint) joined with " — ", blank and caret-only lines left out.

    >>> _one_line('Parser Error: syntax error at or near "SELEC"\n\nLINE 1: SELEC 1\n  ^^^')
    'Parser Error: syntax error at or near "SELEC" — LINE 1: SELEC 1'
    """
    lines = re.split(r"\r\n|\r|\n", message)
    kept = [line.strip() for line in lines if not _MARKS_ONLY.fullmatch(line)]
    return " — ".join(kept)


def _failure(exc: Exception) -> tuple[int, str]:
    """The exit code and the one-line message for an error that ends a command."""
    if isinstance(exc, DvlabError):
        return exc.exit_code, str(exc)
    if _is_out_of_memory(exc):
        from dvlab.lab import dberrors

        translated = dberrors.translate(exc, what="the command")  # type: ignore[arg-type]
        return translated.exit_code, str(translated)
    if isinstance(exc, OSError):
        return 2, _os_error_message(exc)
    return 1, f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)"


def _is_out_of_memory(exc: BaseException) -> bool:
    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and isinstance(exc, duckdb.OutOfMemoryException)


def _os_error_message(exc: OSError) -> str:
    """What went wrong with which path, for a file or folder the command could not use."""
    reason = (exc.strerror or str(exc)).lower()
    if exc.filename is None:
        return reason
    path = Path(os.fsdecode(exc.filename))
    if isinstance(exc, IsADirectoryError):
        return f"{path} is a folder, not a file"
    if isinstance(exc, FileExistsError):
        return f"{path} is a file, not a folder" if path.is_file() else f"{path} already exists"
    if isinstance(exc, NotADirectoryError):
        blocking = next((p for p in path.parents if p.is_file()), None)
        if blocking is not None:
            return f"{blocking} is a file, not a folder (in {path})"
        return f"{path}: {reason}"
    if isinstance(exc, FileNotFoundError) and not path.parent.is_dir():
        return f"folder {path.parent} does not exist (for {path})"
    if isinstance(exc, PermissionError):
        return f"permission denied: {path}"
    return f"{path}: {reason}"


def _is_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was caused by, DuckDB stopping a query for Ctrl-C."""
    import duckdb

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, KeyboardInterrupt | duckdb.InterruptException):
            return True
        if isinstance(current, RuntimeError) and str(current).startswith("Query interrupted"):
            return True
        current = current.__cause__ or current.__context__
    return False


def _interrupted() -> int:
    print("dvlab: interrupted", file=sys.stderr)
    return 130


def _reader_went_away() -> int:
    """stdout was a pipe whose reader closed it (``dvlab sql ... | head``): stop quietly."""
    # Python flushes stdout once more at exit; point it at nothing so that flush cannot fail
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is no file (a test's capture): nothing to flush
        pass
    return 141  # as if killed by SIGPIPE, like other commands in a pipeline


if __name__ == "__main__":
    sys.exit(main())
