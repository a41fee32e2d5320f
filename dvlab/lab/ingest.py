"""One ingest: sources parsed into a staging area, then one transaction into the lab.

The steps, for every source given:

1. *Identify.* The ledger (``ingests``) remembers, per content lineage (a
   *generation*), a hash of the first bytes, how many bytes were consumed, a
   hash of the last 4 KiB consumed, and the *watermark*: where the last record
   started. A file whose head and consumed tail still match is the same
   source: unchanged (nothing to do) or grown (read again from the watermark,
   so a last record that was still being written is replaced whole). Anything
   else is a new generation, read from the start. Matching is by content, so a
   renamed (rotated) file is recognised too.
2. *Parse* into an in-memory staging database (JSON lines inside DuckDB,
   text formats through their Python parser), then *normalise* in SQL: the
   one time path (``timeconv``), the one level map (``levels``), ``--site``
   and ``--service`` filling what a record lacks. A record without a usable
   time becomes a reject.
3. *Commit.* Only now is the lab opened for writing, once, for a single
   transaction: replaced tails deleted, rows, rejects and ledger rows
   inserted. A failure, or ``--strict`` meeting a reject, writes nothing.
   A JSON-lines file read whole is read here a second time: only the lines
   counted in step 2 are kept, and a file no longer starting with what step
   2 saw (rotated, rewritten) fails alone.

A lock file beside the lab (``<lab>.ingest.lock``) keeps two ingests from
interleaving; readers never take it.
"""

from __future__ import annotations

import bisect
import dataclasses
import glob
import json
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import xxhash

from dvlab.errors import BadInputError, DvlabError, SourceReadError
from dvlab.lab import dberrors, interrupts, schema, timeconv
from dvlab.lab.store import (
    NO_AUTOLOAD,
    check_lab_file,
    connect_file,
    prepare,
    taking_turns,
    wait_for_lock,
)
from dvlab.sources import csvtelemetry, files, jsonlines, natsmon, tables, telemetry
from dvlab.sources.records import RAW_FIELDS, REJECT_EXCERPT, ParseOptions, RawRecord, Reject

log = logging.getLogger(__name__)

#: ``--format`` for a saved NATS monitoring response (told apart by its keys otherwise)
NATS_FORMAT = "nats-monitor"
FORMATS = ("jsonl", "logfmt", "oslo", "syslog", "pattern", NATS_FORMAT)
TAIL_BYTES = 4096
TEXT_BATCH = 50_000

ProgressFn = Callable[[str, int, int | None], None]
"""progress(source, bytes_done, bytes_total_or_None)"""


@dataclass(frozen=True, kw_only=True)
class IngestOptions:
    """What ``dvlab ingest`` lets a user say about the sources."""

    format: str | None = None
    pattern: str | None = None
    site: str | None = None
    service: str | None = None
    #: the zone naive times are read in; None: not given (UTC, or the one a source keeps)
    tz: str | None = None
    year: int | None = None
    strict: bool = False
    #: logs, tasks, transitions or events; None: told from the source
    kind: str | None = None
    #: ``column=NAME`` pairs naming the source column of a task or transition column
    mapping: tuple[str, ...] = ()
    #: numbers in time columns are seconds after this time (traces that start at zero)
    time_origin: str | None = None
    #: the scrape time of metrics whose samples carry none (default: the file's mtime)
    at: str | None = None
    #: the form of the sources' times, in strptime notation (None: the forms dvlab knows)
    time_format: str | None = None

    @property
    def zone(self) -> str:
        """The zone naive times are read in: ``tz``, else UTC."""
        return "UTC" if self.tz is None else self.tz


@dataclass
class SourceReport:
    """What happened to one source in one ingest."""

    source: str
    status: str  # loaded | grown | rewritten | unchanged | empty | failed
    format: str | None = None
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_skipped: int = 0
    rows_replaced: int = 0
    message: str | None = None
    ingest_id: int | None = None


@dataclass
class IngestSummary:
    """Every source's report, and the totals the CLI prints."""

    run_id: str
    lab: str
    started: datetime
    finished: datetime | None = None
    sources: list[SourceReport] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(int(getattr(s, name)) for s in self.sources)

    @property
    def failed(self) -> list[SourceReport]:
        return [s for s in self.sources if s.status == "failed"]

    def line(self) -> str:
        seconds = (self.finished or self.started) - self.started
        unchanged = sum(1 for s in self.sources if s.status == "unchanged")
        parts = [
            f"{len(self.sources)} source(s)",
            f"{self.total('rows_loaded')} loaded",
            f"{self.total('rows_rejected')} rejected",
            f"{self.total('rows_skipped')} skipped",
        ]
        replaced = self.total("rows_replaced")
        if replaced:
            # stored rows that rows of this run took the place of (see the README)
            parts.append(f"{replaced} replaced")
        if unchanged:
            parts.append(f"{unchanged} unchanged")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return (
            f"ingest {self.run_id[:8]} into {self.lab}: "
            + ", ".join(parts)
            + (f" in {seconds.total_seconds():.2f}s")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "lab": self.lab,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "rows_loaded": self.total("rows_loaded"),
            "rows_rejected": self.total("rows_rejected"),
            "rows_skipped": self.total("rows_skipped"),
            "rows_replaced": self.total("rows_replaced"),
            "failed": len(self.failed),
            "sources": [asdict(s) for s in self.sources],
        }


# --------------------------------------------------------------------------- paths


#: ``start_hash`` covers a source's first two lines, at most this many bytes of each
START_BYTES = 256


def _start(head: bytes) -> bytes:
    """A source's first two lines (with their newlines), each cut at START_BYTES.

    Two, not one: a log that opens with a fixed banner (or a table with its header) starts
    each file it is rotated into with that same line, and only its first record tells a
    file rewritten in place from the next one."""
    taken = b""
    rest = head
    for _ in range(2):
        end = rest.find(b"\n", 0, START_BYTES)
        if end < 0:
            return taken + rest[:START_BYTES]
        taken += rest[: end + 1]
        rest = rest[end + 1 :]
    return taken


#: file names a folder or glob never yields: a lab and what it keeps beside it
_LAB_SUFFIXES = (".duckdb", ".duckdb.wal", ".ingest.lock")


def expand_inputs(inputs: Sequence[str], *, lab: Path | None = None) -> list[Path]:
    """Files, globs and folders (recursively; hidden entries skipped), in a stable order.

    A glob that matches nothing stays as it is, to fail as a source of its own.

    A folder or glob never yields a lab's own files (``*.duckdb``, its WAL,
    its ingest lock), so ``dvlab ingest .`` beside ``./lab.duckdb`` works;
    ``lab`` itself is refused even when named.

    Paths come back absolute (``..`` and ``.`` taken out, links kept): a source is
    recorded by where it is, so two files read as ``app.jsonl`` from two folders
    are two sources, and ``./x.log``, ``x.log`` and its full path are one.
    """
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(
                    Path(root) / n
                    for n in sorted(names)
                    if not n.startswith(".") and not n.endswith(_LAB_SUFFIXES)
                )
        elif any(ch in item for ch in "*?[") and not path.exists():
            # (a file that exists is taken by its name, brackets and all)
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                found.append(path)  # a source of its own, failed: the other sources still load
                continue
            found.extend(
                Path(m) for m in matches if Path(m).is_file() and not m.endswith(_LAB_SUFFIXES)
            )
        else:
            found.append(path)
    unique: dict[str, Path] = {}
    own = {str(lab.resolve()), str(lab.resolve()) + ".wal"} if lab is not None else set()
    for path in found:
        if (where := _where(path)) not in own:
            unique.setdefault(where, Path(os.path.abspath(path)))
    return list(unique.values())


def _where(path: Path) -> str:
    """``path`` with its links followed; a link that loops is left as it is, to fail as a
    source of its own when it is opened (the other sources still load)."""
    try:
        return str(path.resolve())
    except (RuntimeError, OSError):
        return os.path.abspath(path)


# --------------------------------------------------------------------------- identity


def _hash(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


@dataclass
class _State:
    """The ledger's memory of one generation: its latest successful ingest."""

    generation: int
    source: str
    format: str | None
    head_hash: str
    head_len: int
    consumed_bytes: int
    consumed_lines: int
    tail_hash: str
    watermark_offset: int
    watermark_line: int
    options: str | None = None
    start_hash: str | None = None
    #: where a live source was left; for a telemetry file, its modification time
    position: str | None = None
    #: a task or transition table whose rows the lab no longer holds (another source's
    #: rows of the same ids replaced them, and that source was forgotten)
    rows_gone: bool = False
    #: every name this content was read under (loaded, grown or found unchanged)
    names: frozenset[str] = frozenset()
    #: for a syslog file, the year of its record where the next read starts (its last,
    #: which is read again), as the source's zone shows it: a year-less date read from
    #: there goes on from it rather than from the year given when the file was first read
    resume_year: int | None = None


def _load_states(lab_path: Path) -> list[_State]:
    if not lab_path.exists():
        return []
    con = connect_file(lab_path, read_only=True)
    try:
        version = schema.current_version(con, _catalog(con))
        if version == 0:
            return []
        position = "position" if version >= 4 else "NULL AS position"
        rows = con.execute(
            f"""
            SELECT generation, source, format, head_hash, head_len, consumed_bytes, consumed_lines,
                   fingerprint, watermark_offset, watermark_line, options, start_hash, {position}
            FROM ingests
            WHERE status IN ('loaded', 'grown', 'rewritten') AND generation IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY generation ORDER BY ingest_id DESC) = 1
            """
        ).fetchall()
        names: dict[int, set[str]] = {}
        for generation, source in con.execute(
            """SELECT DISTINCT generation, source FROM ingests
               WHERE status IN ('loaded', 'grown', 'rewritten', 'unchanged')
                 AND generation IS NOT NULL"""
        ).fetchall():
            names.setdefault(int(generation), set()).add(str(source))
        resumed = {
            int(generation): (ts, tz)
            for generation, ts, tz in con.execute(
                """
                WITH latest AS (
                    SELECT generation, watermark_line, options ->> 'tz' AS tz FROM ingests
                    WHERE status IN ('loaded', 'grown', 'rewritten') AND generation IS NOT NULL
                    QUALIFY row_number() OVER (PARTITION BY generation ORDER BY ingest_id DESC) = 1
                       AND format IN ('syslog', 'pattern'))
                SELECT latest.generation, max(l.ts), any_value(latest.tz)
                FROM latest JOIN ingests AS i ON i.generation = latest.generation
                JOIN logs AS l ON l.ingest_id = i.ingest_id AND l.line = latest.watermark_line
                GROUP BY latest.generation
                """
            ).fetchall()
        }
        gone: set[int] = set()
        if schema.current_version(con, _catalog(con)) >= 3:
            gone = {
                r[0]
                for r in con.execute(
                    """
                    SELECT i.generation FROM ingests AS i
                    WHERE i.status IN ('loaded', 'grown', 'rewritten') AND i.rows_loaded > 0
                      AND (i.format LIKE 'tasks-%' OR i.format LIKE 'transitions-%')
                    GROUP BY i.generation
                    HAVING NOT EXISTS (
                        SELECT 1 FROM tasks AS t WHERE t.ingest_id IN (
                            SELECT ingest_id FROM ingests WHERE generation = i.generation))
                       AND NOT EXISTS (
                        SELECT 1 FROM task_transitions AS x WHERE x.ingest_id IN (
                            SELECT ingest_id FROM ingests WHERE generation = i.generation))
                    """
                ).fetchall()
            }
    finally:
        con.close()
    return [
        _State(
            generation=r[0],
            source=r[1],
            format=r[2],
            head_hash=r[3],
            head_len=r[4],
            consumed_bytes=r[5],
            consumed_lines=r[6],
            tail_hash=(r[7] or "").rsplit(":", 1)[-1],
            watermark_offset=r[8],
            watermark_line=r[9],
            options=r[10],
            start_hash=r[11],
            position=r[12],
            rows_gone=r[0] in gone,
            names=frozenset(names.get(int(r[0]), ())),
            resume_year=_wall_year(*resumed[int(r[0])]) if int(r[0]) in resumed else None,
        )
        for r in rows
    ]


def _wall_year(ts: datetime, tz: str | None) -> int:
    """The year ``ts`` falls in on the clocks of zone ``tz`` (None: UTC)."""
    return ts.astimezone(ZoneInfo(tz or "UTC")).year


def _catalog(con: duckdb.DuckDBPyConnection) -> str:
    return str(con.execute("SELECT current_database()").fetchall()[0][0])


def _match_state(path: Path, head: bytes, states: list[_State]) -> tuple[_State | None, bool]:
    """The generation this file continues, and whether it has nothing new.

    (None, False) for a new generation; see :func:`_rewritten` for a file
    changed in place.
    """
    name = str(path)
    hashes: dict[int, str] = {}  # one hash per length of head the states recorded

    def head_hash(length: int) -> str:
        if length not in hashes:
            hashes[length] = _hash(head[:length])
        return hashes[length]

    candidates = [
        s
        for s in states
        if s.head_len <= len(head)
        and head_hash(s.head_len) == s.head_hash
        and (s.consumed_bytes > 0 or not head)  # an empty source is the start of nothing
    ]
    candidates.sort(key=lambda s: (s.source == name, s.consumed_bytes), reverse=True)
    for state in candidates:
        with files.open_stream(path) as stream:
            start = max(0, state.consumed_bytes - TAIL_BYTES)
            try:
                files.skip_bytes(stream, start, name)
            except SourceReadError:
                continue
            tail = files.read_block(stream, state.consumed_bytes - start, name)
            if len(tail) != state.consumed_bytes - start or _hash(tail) != state.tail_hash:
                continue
            more = files.read_block(stream, 1, name)
        return state, not more
    return None, False


def _rewritten(
    path: Path, head: bytes, states: list[_State], others: Sequence[Path] = ()
) -> _State | None:
    """The generation this path held before it was changed in place, if it was.

    Same path, same first bytes, different content later on: an edit or a
    rewrite, whose new content replaces the old rows. A file that starts
    differently (truncated and written anew, as rotation by copy-and-truncate
    does) is a new generation beside the old one, which stays. So is one whose
    old content is in another of the files read in the same run (``others``), or
    was read under another name by an earlier run, or is in a rotated copy beside it
    (see :func:`_beside`): the old file was renamed or copied away (rotated), and a new
    one started under its name, as one that opens each file with the same banner does.
    """
    name = str(path)
    same = [
        s
        for s in states
        if s.source == name and s.start_hash is not None and _hash(_start(head)) == s.start_hash
    ]
    if not same:
        return None
    latest = max(same, key=lambda s: s.generation)
    if latest.names - {name}:
        # a run found this content under another name since (renamed, or copied away
        # before this file was truncated): it lives on there
        return None
    for other in [*others, *_beside(path, others)]:
        if other == path:
            continue
        try:
            found, _ = _match_state(other, files.peek_head(other), [latest])
        except (OSError, SourceReadError):
            continue  # that file fails in its own turn, or is none of ours
        if found is not None:
            return None
    return latest


#: files beside one that seems changed in place looked at for its old content, at most
BESIDE_MAX = 1_000


def _beside(path: Path, others: Sequence[Path]) -> list[Path]:
    """The files in ``path``'s folder named as rotations of it name their copies
    (``app.log.1``, ``app.log.1.gz``, ``app.log-20261204``, ``app.log.2026-12-04``), but
    for ``others``: :data:`BESIDE_MAX` of them at most. A backup made before an edit
    (``app.log.bak``, ``app.log~``) is not one: the edit replaces the rows."""
    rotated = re.compile(re.escape(path.name) + r"[.\-_]\d[\w.\-]*")
    taken = set(others)
    found: list[Path] = []
    try:
        with os.scandir(path.parent) as entries:
            for entry in entries:
                if not rotated.fullmatch(entry.name) or Path(entry.path) in taken:
                    continue
                try:
                    if entry.is_file():
                        found.append(Path(entry.path))
                except OSError:
                    continue
    except OSError:
        return []
    return sorted(found)[:BESIDE_MAX]


def _use_zone(con: duckdb.DuckDBPyConnection, tz: str) -> None:
    """Read times without an offset in ``tz`` (each source may have its own)."""
    con.execute(f"SET TimeZone = {schema.quote_literal(tz)}")


def _use_times(con: duckdb.DuckDBPyConnection, options: IngestOptions) -> None:
    """Read times as a source's options say: naive ones in its zone, all in its
    ``--time-format`` if it has one (each source may have its own)."""
    _use_zone(con, options.zone)
    timeconv.use_time_format(con, options.time_format, options.year)


#: formats whose times are read as written (their parsers keep the time's text), and so
#: in ``--time-format`` when one is given
_TIME_FORMAT_READERS = ("jsonl", "logfmt", "pattern")


def _options_json(options: IngestOptions) -> str:
    return json.dumps(
        {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in asdict(options).items()
            if v not in (None, False, ())
        }
    )


#: the options a source keeps from its first load
_KEPT_OPTIONS = (
    "format",
    "pattern",
    "site",
    "service",
    "tz",
    "year",
    "kind",
    "mapping",
    "time_origin",
    "at",
    "time_format",
)


def _recorded_options(state: _State, options: IngestOptions) -> IngestOptions:
    """The options ``state``'s source was loaded with (``--strict`` stays this run's)."""
    return kept_options(state.options, IngestOptions(strict=options.strict), _KEPT_OPTIONS)


def kept_options(
    recorded_json: str | None, options: IngestOptions, keys: Sequence[str]
) -> IngestOptions:
    """``options`` with the ``keys`` a source keeps from its first load (its options as
    recorded, ``recorded_json``) set as they were recorded."""
    recorded = json.loads(recorded_json or "{}")
    defaults = IngestOptions()
    kept = {k: getattr(defaults, k) if recorded.get(k) is None else recorded[k] for k in keys}
    if "mapping" in kept:
        kept["mapping"] = tuple(kept["mapping"])
    return dataclasses.replace(options, **kept)


def _option_change(state: _State, options: IngestOptions, name: str) -> str | None:
    """What differs between the options a source was loaded with and the ones given now;
    read under another name (``name``, a copy or a rotated file), which one it was."""
    change = option_change(state.options, options, _KEPT_OPTIONS)
    if change is not None and name != state.source and name not in state.names:
        change = change.replace("loaded before", f"loaded before as {state.source}", 1)
    return change


def option_change(
    recorded_json: str | None, options: IngestOptions, keys: Sequence[str]
) -> str | None:
    """What differs, among ``keys``, between the options a source was loaded with (as
    recorded, ``recorded_json``) and the ones given now."""
    recorded = json.loads(recorded_json or "{}")
    now = {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in asdict(options).items()
        if v not in (None, False, ())
    }

    def same(k: str) -> bool:
        if k == "mapping":  # the same --map options in another order, or one given twice
            return sorted(set(recorded.get(k) or ())) == sorted(set(now.get(k) or ()))
        return bool(recorded.get(k) == now.get(k))

    # an option not given now is no change: the source goes on with the one it keeps
    changed = [
        k
        for k in keys
        if now.get(k) is not None
        and not same(k)
        and not (k == "tz" and {recorded.get(k), now.get(k)} <= {None, "UTC"})
    ]
    if not changed:
        return None
    flag = {"mapping": "--map"}

    def shown(k: str, v: object) -> str:
        return f"{flag.get(k, '--' + k.replace('_', '-'))} {v}"

    # a source read without --tz was read in UTC
    was_values = {k: recorded.get(k) or ("UTC" if k == "tz" else None) for k in changed}
    was = ", ".join(shown(k, v) for k, v in was_values.items() if v is not None)
    new = ", ".join(shown(k, now.get(k)) for k in changed if now.get(k) is not None)
    return (
        f"loaded before with other options ({was or 'none'}; now {new or 'none'}); what is in "
        "the lab keeps the old ones: `dvlab forget` the source and ingest it again to change them"
    )


# --------------------------------------------------------------------------- staging


#: raw record columns -> the lab's ``logs`` columns but ``ts`` (see NORMALISED)
_NORMALISED_BUT_TS = """coalesce(site, $site) AS site, host,
    coalesce(service, $service) AS service, dvlab_level(level_raw) AS level, level_raw, message,
    correlation_id, causation_id, task_id, trace_id, attributes::JSON AS attributes,
    $source AS source, line"""
#: raw record columns -> the lab's ``logs`` columns: the one time path, the one level map,
#: --site/--service filling only what a record lacks. Parameters: $site, $service, $source.
NORMALISED = "dvlab_ts(ts_raw) AS ts, " + _NORMALISED_BUT_TS

#: why a raw record is a reject (parse failure, or no usable time)
REJECT_REASON = r"""coalesce(reject,
    CASE WHEN ts_raw IS NULL THEN dvlab_no_time(attributes)
         ELSE 'unparseable time ' || to_json(ts_raw)::VARCHAR
              || dvlab_short_year_hint(ts_raw) END)"""


def whole_table(src: int) -> str:
    """The staging table holding source ``src`` read whole."""
    return f"whole_{int(src)}"


_RAW_COLUMNS = "line BIGINT, end_line BIGINT, reject VARCHAR, raw VARCHAR, " + ", ".join(
    f"{name} VARCHAR" for name in RAW_FIELDS
)


def staging_memory() -> str | None:
    """How much memory an ingest stages in before DuckDB spills to disk:
    ``DVLAB_STAGING_MEMORY`` (DuckDB's notation, e.g. ``4GB``), else DuckDB's own limit
    (80 % of the machine's memory). Too small a limit fails the run, not the data."""
    given = os.environ.get("DVLAB_STAGING_MEMORY")
    if not given:
        return None
    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", given.strip(), re.IGNORECASE):
        raise BadInputError(
            f"DVLAB_STAGING_MEMORY must be an amount such as 4GB or 512MiB, not {given!r}"
        )
    return given.strip()


#: the spill folder of a run is named ``.dvlab-staging-<pid>-<random>``
STAGING_PREFIX = ".dvlab-staging-"


def _remove_stale_staging(folder: Path) -> None:
    """Remove spill folders of runs that were killed (their process is gone)."""
    try:
        entries = list(folder.glob(STAGING_PREFIX + "*-*"))
    except OSError:
        return
    for entry in entries:
        pid = entry.name[len(STAGING_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or not entry.is_dir():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            log.info("removing %s, left by a run that was killed", entry)
            shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            pass  # alive, under another user


class _Staging:
    """The in-memory database an ingest parses into before it commits."""

    def __init__(self, tz: str, spill_dir: Path | None = None):
        limit = staging_memory()  # checked before anything is made
        if spill_dir is not None:
            _remove_stale_staging(spill_dir)
        self.spill = Path(
            tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=spill_dir)
        )
        try:
            self.con = duckdb.connect(
                config={
                    "preserve_insertion_order": "false",
                    # past its memory limit DuckDB spills what is staged to disk here
                    "temp_directory": str(self.spill),
                    **NO_AUTOLOAD,
                }
            )
        except BaseException:
            shutil.rmtree(self.spill, ignore_errors=True)
            raise
        _interrupts.watch(self.con)
        if limit is not None:
            self.con.execute(f"SET memory_limit = {schema.quote_literal(limit)}")
        self.con.execute("SET enable_progress_bar = false")
        prepare(self.con, tz=tz)
        jsonlines.install(self.con)
        self.con.execute(f"CREATE TABLE raw ({_RAW_COLUMNS})")
        self.con.execute(
            "CREATE TABLE stage_logs (src INTEGER, ts TIMESTAMPTZ, site VARCHAR, host VARCHAR, "
            "service VARCHAR, level VARCHAR, level_raw VARCHAR, message VARCHAR, "
            "correlation_id VARCHAR, causation_id VARCHAR, task_id VARCHAR, trace_id VARCHAR, "
            "attributes JSON, source VARCHAR, line BIGINT)"
        )
        self.con.execute(
            "CREATE TABLE stage_rejects (src INTEGER, source VARCHAR, line BIGINT, reason VARCHAR, raw VARCHAR)"
        )

    def close(self) -> None:
        _interrupts.unwatch(self.con)
        self.con.close()
        shutil.rmtree(self.spill, ignore_errors=True)

    def _extract_into_raw(self, lines_table: str) -> None:
        """``lines_table`` (line, text) through the line reader's SQL into ``raw``."""
        present = {r[0] for r in self.con.execute(jsonlines.census_sql(lines_table)).fetchall()}
        self.con.execute(
            f"INSERT INTO raw (line, reject, raw, {', '.join(RAW_FIELDS)}) "
            f"{jsonlines.extract_sql(lines_table, present)}"
        )

    def add_json_chunk(self, chunk: files.LineChunk) -> None:
        self.con.register("chunk", _chunk_table(chunk))
        try:
            self._extract_into_raw("chunk")
        finally:
            self.con.unregister("chunk")

    def add_json_lines(self, path: Path, lines: int) -> bool:
        """Every line of ``path`` into ``raw`` at once, through the line reader's SQL.

        DuckDB reads the file as lines in parallel, in order, so a line's rowid is its
        number less one. False, with nothing added, when DuckDB cannot split or decode it
        as lines (a stray carriage return, bytes that are not UTF-8, a line longer than
        read_json takes), or splits it into other than ``lines`` lines.
        """
        self.con.execute("SET preserve_insertion_order = true")
        try:
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE json_lines AS SELECT l AS text "
                f"FROM {jsonlines.lines_reader(path)}"
            )
        except duckdb.InterruptException:
            raise
        except duckdb.Error as exc:
            log.info(
                "%s: DuckDB will not read it as lines (%s); reading it in chunks",
                path,
                dberrors.first_line(exc),
            )
            self.con.execute("DROP TABLE IF EXISTS json_lines")
            return False
        finally:
            self.con.execute("SET preserve_insertion_order = false")
        try:
            read = self.con.execute("SELECT count(*) FROM json_lines").fetchall()[0][0]
            if read != lines:
                log.info("%s: DuckDB read %d lines of %d; reading it in chunks", path, read, lines)
                return False
            self._extract_into_raw("(SELECT rowid + 1 AS line, text FROM json_lines)")
            return True
        finally:
            self.con.execute("DROP TABLE IF EXISTS json_lines")

    def flatten_json(self) -> None:
        jsonlines.flatten_in_place(self.con, "raw", "line")

    def add_records(self, items: list[RawRecord | Reject]) -> None:
        columns: dict[str, list[Any]] = {
            "line": [],
            "end_line": [],
            "reject": [],
            "raw": [],
            **{name: [] for name in RAW_FIELDS},
        }
        for item in items:
            if isinstance(item, Reject):
                columns["line"].append(item.line)
                columns["end_line"].append(item.end_line or item.line)
                columns["reject"].append(item.reason)
                columns["raw"].append(item.excerpt())
                for name in RAW_FIELDS:
                    columns[name].append(None)
                continue
            columns["line"].append(item["line"])
            columns["end_line"].append(item.get("end_line", item["line"]))
            columns["reject"].append(None)
            columns["raw"].append(None)
            for name in RAW_FIELDS:
                value = item.get(name)
                if name == "attributes":
                    value = json.dumps(value or {}, ensure_ascii=False, default=str)
                elif value is not None and not isinstance(value, str):
                    value = str(value)
                columns[name].append(value)
        table = pa.table(
            {
                k: pa.array(v, type=pa.int64() if k in ("line", "end_line") else pa.string())
                for k, v in columns.items()
            }
        )
        self.con.register("records", table)
        try:
            self.con.execute("INSERT INTO raw BY NAME SELECT * FROM records")
        finally:
            self.con.unregister("records")

    def finish_source(self, src: int, source: str, options: IngestOptions) -> tuple[int, int]:
        """Normalise ``raw`` into the stage tables; returns (rows, rejects). Empties ``raw``."""
        _use_times(self.con, options)
        self.con.execute(
            """
            INSERT INTO stage_logs
            SELECT $src, * FROM (SELECT {NORMALISED} FROM raw WHERE reject IS NULL)
            WHERE ts IS NOT NULL
            """.replace("{NORMALISED}", NORMALISED),
            {"src": src, "site": options.site, "service": options.service, "source": source},
        )
        loaded = self.con.execute(
            "SELECT count(*) FROM stage_logs WHERE src = ?", [src]
        ).fetchall()[0][0]
        self.con.execute(
            """
            INSERT INTO stage_rejects
            SELECT $src, $source, line,
                   {REJECT_REASON} || CASE WHEN end_line > line
                       THEN ' (the record of lines ' || line || '-' || end_line || ')'
                       ELSE '' END,
                   left(raw, $excerpt)
            FROM raw
            WHERE reject IS NOT NULL OR dvlab_ts(ts_raw) IS NULL
            """.replace("{REJECT_REASON}", REJECT_REASON),
            {"src": src, "source": source, "excerpt": REJECT_EXCERPT},
        )
        rejected = self.con.execute(
            "SELECT count(*) FROM stage_rejects WHERE src = ?", [src]
        ).fetchall()[0][0]
        self.con.execute("DELETE FROM raw")
        return int(loaded), int(rejected)

    def add_whole_json(
        self,
        src: int,
        path: Path,
        keys: list[str],
        rows: int,
        options: IngestOptions,
        *,
        rowless: Sequence[int] = (),
        dropped: Sequence[int] = (),
        planned_bytes: int | None = None,
    ) -> tuple[int, int] | None:
        """Read a planned JSON-lines file whole into ``whole_<src>``; (rows, rejects).

        The read runs in parallel with insertion order kept, so rows come in file
        order: ``rows`` of them for the lines planned, one per line but for the
        sorted lines ``rowless`` (which DuckDB's reader gives no row), so that
        :func:`jsonlines.row_line_sql` turns a rowid into its line. The rows at
        the rowids ``dropped`` (lines that hold no record) are deleted. Order is
        kept only through plans that do not join, so the table holds the raw
        columns as read, and every later step names a row by its rowid, never by
        its place in a result. None when DuckDB's reader refuses the file, reads
        fewer rows than planned, or more while the file kept the size it had when
        planned (``planned_bytes``): the caller reads it line by line instead.
        """
        table = whole_table(src)
        _use_times(self.con, options)
        text = jsonlines.text_keys(keys)
        while True:
            if not self._read_whole(table, jsonlines.whole_file_sql(path, keys, text=text), path):
                return None
            if not text:
                break
            mixed = self.con.execute(f"SELECT bit_or(dvlab_mixed) FROM {table}").fetchall()
            again = jsonlines.mixed_keys(text, int(mixed[0][0] or 0))
            if not again:
                break
            # a value whose text could be a string's or not: those keys are read as JSON
            log.info("%s: reading %s again as JSON", path, ", ".join(again))
            self.con.execute(f"DROP TABLE {table}")
            text = [key for key in text if key not in again]
        read = self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        if read > rows and planned_bytes is not None and _size_now(path) == planned_bytes:
            log.info(
                "%s: DuckDB's reader read %d rows where %d were planned; reading it line by line",
                path,
                read,
                rows,
            )
            self.con.execute(f"DROP TABLE {table}")
            return None
        if read < rows:
            log.info(
                "%s: DuckDB's reader read %d of %d rows; reading it line by line",
                path,
                read,
                rows,
            )
            self.con.execute(f"DROP TABLE {table}")
            return None
        # appended since the plan: the next ingest reads these
        self.con.execute(f"DELETE FROM {table} WHERE rowid >= ?", [rows])
        if dropped:
            self.con.execute(
                f"DELETE FROM {table} WHERE rowid IN (SELECT unnest(?::BIGINT[]))", [list(dropped)]
            )
        # flatten what is nested deeper than the read's one level
        jsonlines.flatten_in_place(self.con, table, "rowid")
        rejected = self.con.execute(
            f"""INSERT INTO stage_rejects
                SELECT $src, $source, {jsonlines.row_line_sql(list(rowless))},
                       {REJECT_REASON}, NULL
                FROM (SELECT rowid, NULL AS reject, ts, ts_raw, attributes FROM {table})
                WHERE ts IS NULL""",
            {"src": src, "source": str(path)},
        ).fetchall()[0][0]
        return int(rows - len(dropped) - rejected), int(rejected)

    def _read_whole(self, table: str, select: str, path: Path) -> bool:
        """``select`` (of :func:`jsonlines.whole_file_sql`) into ``table`` in file order, each
        time read; False, with no table, when DuckDB's reader refuses the file."""
        self.con.execute("SET preserve_insertion_order = true")
        try:
            # the time is read once, here: the rejects and the commit take it from the table
            # (its text is kept only where it is no time, for the reject's reason)
            self.con.execute(
                f"""CREATE TEMP TABLE {table} AS
                    SELECT ts, CASE WHEN ts IS NULL THEN ts_raw END AS ts_raw,
                           * EXCLUDE (ts, ts_raw)
                    FROM (SELECT dvlab_ts(ts_raw) AS ts, * FROM ({select}))"""
            )
        except duckdb.InterruptException:
            raise
        except duckdb.Error as exc:
            # e.g. a duplicate key DuckDB's reader will not take; the line reader takes any
            # line JSON allows
            log.info(
                "%s: DuckDB's reader refused it (%s); reading it line by line",
                path,
                dberrors.first_line(exc),
            )
            self.con.execute(f"DROP TABLE IF EXISTS {table}")
            return False
        finally:
            self.con.execute("SET preserve_insertion_order = false")
        return True

    def locate_odd_lines(self, path: Path, plan: jsonlines.WholePlan) -> list[tuple[int, str]]:
        """The lines the census of ``path`` found holding no record with keys, as (line,
        text) in file order; [] when they are not the ones it counted (the file changed,
        or DuckDB would not read it again)."""
        self.con.execute("SET preserve_insertion_order = true")
        try:
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE odd_lines AS {jsonlines.odd_lines_sql(path)}"
            )
        except duckdb.InterruptException:
            raise
        except duckdb.Error as exc:
            log.info("%s: could not locate its odd lines (%s)", path, dberrors.first_line(exc))
            return []
        finally:
            self.con.execute("SET preserve_insertion_order = false")
        try:
            lines = self.con.execute("SELECT count(*) FROM odd_lines").fetchall()[0][0]
            odd = self.con.execute(
                """SELECT rowid + 1, odd FROM odd_lines WHERE odd IS NOT NULL AND rowid < ?
                   ORDER BY rowid""",
                [plan.lines],
            ).fetchall()
        finally:
            self.con.execute("DROP TABLE IF EXISTS odd_lines")
        if lines < plan.lines or len(odd) != plan.odd:
            return []
        return [(int(line), str(text)) for line, text in odd]

    def rows_given(self, odd: list[tuple[int, str]], keys: list[str]) -> list[int] | None:
        """How many rows DuckDB's reader gives each of the ``odd`` lines (0 or 1), learnt by
        reading them alone, each after a line that marks it; None if one gives more."""
        marker = "dvlab.odd-line"
        while marker in keys:
            marker += "_"
        probe = self.spill / "odd-lines.jsonl"
        with probe.open("w", encoding="utf-8", newline="") as fh:
            for i, (_, text) in enumerate(odd):
                fh.write(json.dumps({marker: i}) + "\n" + text + "\n")
        self.con.execute("SET preserve_insertion_order = true")
        try:
            marks = self.con.execute(
                f'SELECT "{jsonlines.key_quoted(marker)}"::BIGINT '
                f"FROM {jsonlines.read_json_sql(probe, [*keys, marker], jsonlines.text_keys(keys))}"
            ).fetchall()
        finally:
            self.con.execute("SET preserve_insertion_order = false")
            probe.unlink(missing_ok=True)
        counts: list[int] = []
        for (mark,) in marks:
            if mark is not None:
                if mark != len(counts):
                    return None
                counts.append(0)
            elif not counts:
                return None
            else:
                counts[-1] += 1
        if len(counts) != len(odd) or any(n > 1 for n in counts):
            return None
        return counts

    def reject_odd_lines(
        self, src: int, source: str, odd: list[tuple[int, str]], options: IngestOptions
    ) -> tuple[int, int] | None:
        """The ``odd`` lines through the line reader's SQL into ``stage_rejects``: (rejects,
        blank lines skipped). None, with nothing added, if one of them would load."""
        _use_times(self.con, options)
        table = pa.table(
            {
                "line": pa.array([line for line, _ in odd], type=pa.int64()),
                "text": pa.array([text for _, text in odd], type=pa.string()),
            }
        )
        self.con.register("odd_text", table)
        try:
            self._extract_into_raw("odd_text")
        finally:
            self.con.unregister("odd_text")
        kept, loadable = self.con.execute(
            "SELECT count(*), count(*) FILTER (WHERE reject IS NULL "
            "AND dvlab_ts(ts_raw) IS NOT NULL) FROM raw"
        ).fetchall()[0]
        if loadable:
            self.con.execute("DELETE FROM raw")
            return None
        _, rejected = self.finish_source(src, source, options)
        return rejected, len(odd) - int(kept)

    def last_unit_line(self) -> int | None:
        rows = self.con.execute("SELECT max(line) FROM raw").fetchall()
        return rows[0][0]

    def drop_source(self, src: int) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {whole_table(src)}")
        self.con.execute(f"DROP TABLE IF EXISTS tbl_{int(src)}")
        self.con.execute(f"DROP TABLE IF EXISTS mon_{int(src)}")
        for (table,) in self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, ?)",
            [telemetry.table_prefix(src)],
        ).fetchall():
            self.con.execute(f"DROP TABLE IF EXISTS {schema.quote_ident(table)}")
        self.con.execute("DELETE FROM raw")
        self.con.execute("DELETE FROM stage_logs WHERE src = ?", [src])
        self.con.execute("DELETE FROM stage_rejects WHERE src = ?", [src])


def _chunk_table(chunk: files.LineChunk) -> pa.Table:
    lines = chunk.lines
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:
        # not UTF-8 somewhere in the chunk: decode line by line, replacing bad bytes
        lines = pa.array(
            [
                bytes(b).decode("utf-8", "replace")
                for b in lines.cast(pa.large_binary()).to_pylist()
            ],
            type=pa.large_string(),
        )
    numbers = pa.array(range(chunk.first_line, chunk.first_line + len(chunk)), type=pa.int64())
    return pa.table({"line": numbers, "text": lines})


# --------------------------------------------------------------------------- reading


@dataclass
class _Read:
    """What reading one source yielded, for the ledger."""

    format: str
    head_hash: str
    head_len: int
    consumed_bytes: int
    consumed_lines: int
    tail_hash: str
    watermark_offset: int
    watermark_line: int
    start_line: int
    skipped: int
    #: (rows, rejects) when the file was read whole into ``whole_<src>`` (see whole_table),
    #: or, for a table or a telemetry file, into ``tables``
    whole_rows: tuple[int, int] | None = None
    #: the lines of a file read whole that gave no row (see jsonlines.row_line_sql)
    whole_rowless: tuple[int, ...] = ()
    #: (kind, staging table) of each table the source was staged into (tasks,
    #: transitions, events, or a telemetry reader's metrics, spans and log records)
    tables: tuple[tuple[str, str], ...] = ()
    #: transitions the staging numbered (the source has no sequence numbers)
    numbered_here: bool = False


#: how far detection reads to find the end of a long first line
DETECT_BYTES = 16 << 20


def _longer_head(path: Path) -> bytes:
    """The start of ``path`` up to the end of its first line (at most DETECT_BYTES), the
    NULs it starts with left out: a hole a truncation left (as large as the file was) is
    read through, however long, and the lines after it tell the format."""
    name = str(path)
    data = bytearray()
    with files.open_stream(path) as stream:
        while len(data) < DETECT_BYTES:
            block = files.read_block(stream, 1 << 20, name)
            if not block:
                break
            data.extend(block if data else block.lstrip(b"\0"))
            if b"\n" in block:
                break
    return bytes(data)


def _detect(path: Path, head: bytes, options: IngestOptions) -> str:
    if options.pattern:
        return "pattern"
    if options.format:
        if options.format not in FORMATS:
            raise BadInputError(
                f"unknown --format {options.format!r}; accepted: {', '.join(FORMATS)}"
            )
        return options.format
    from dvlab.sources.detect import detect_format

    if (len(head) >= files.HEAD_BYTES and b"\n" not in head) or (head and not head.strip(b"\0")):
        # a first line longer than the head, or a hole of NULs: look further, up to
        # DETECT_BYTES past the hole, for the end of a line
        head = _longer_head(path)
    sample = head.decode("utf-8-sig", "replace").splitlines()
    if len(sample) > 1 and not head.endswith(b"\n"):
        sample = sample[:-1]  # the last line may be cut short, or still being written
    try:
        return detect_format(sample)
    except BadInputError as exc:
        raise BadInputError(str(exc), source=str(path)) from None


def _read_source(
    path: Path,
    src: int,
    fmt: str,
    staging: _Staging,
    options: IngestOptions,
    *,
    start_offset: int,
    start_line: int,
    head: bytes,
    progress: ProgressFn | None,
) -> _Read:
    name = str(path)
    total = path.stat().st_size if files.compression_of(path) == "none" else None
    consumed = start_offset
    tail = bytearray()
    done = 0

    def seen(block: bytes) -> None:
        nonlocal consumed, done
        consumed += len(block)
        tail.extend(block[-TAIL_BYTES:])
        del tail[:-TAIL_BYTES]
        done += len(block)
        if progress is not None:
            progress(name, start_offset + done, total)

    offsets: dict[int, int] = {}
    last_line = start_line - 1
    skipped = 0
    parser = None
    if fmt != "jsonl":
        from dvlab.sources.textformats import get_parser

        parser = get_parser(fmt)
    parse_options = ParseOptions(
        source=name,
        tz=options.zone,
        year=options.year,
        mtime=datetime.fromtimestamp(path.stat().st_mtime, tz=UTC),
        pattern=options.pattern,
        time_format=options.time_format,
        service=options.service,
    )

    if fmt == "jsonl" and start_offset == 0 and options.pattern is None:
        planned = _read_whole_json(path, src, staging, head, options, progress)
        if planned is None:
            planned = _read_json_lines(path, src, staging, head, progress)
        if planned is not None:
            return planned
    with files.open_stream(path) as stream:
        if start_offset:
            # the tail hash covers the last TAIL_BYTES consumed, even when little is re-read
            before = max(0, start_offset - TAIL_BYTES)
            files.skip_bytes(stream, before, name)
            tail.extend(files.read_block(stream, start_offset - before, name))
        # a plain file is read as far as it reached at the start: lines a writer appends
        # meanwhile wait for the next ingest, which would otherwise end only with the writer
        bounded = stream if total is None else files.Bounded(stream, total - start_offset)
        chunks = files.iter_line_chunks(
            bounded,  # type: ignore[arg-type]
            source=name,
            start_offset=start_offset,
            start_line=start_line,
            on_bytes=seen,
        )
        if parser is None:
            for chunk in chunks:
                staging.add_json_chunk(chunk)
                last_line = chunk.first_line + len(chunk) - 1
                offsets[chunk.first_line] = int(chunk.offsets[0])
                _remember_offsets(offsets, chunk)
            staging.flatten_json()
            skipped = _count_blank_json(staging, start_line, last_line)
        else:
            blanks = [0]

            def numbered() -> Iterator[tuple[int, str]]:
                nonlocal last_line
                for chunk in chunks:
                    _remember_offsets(offsets, chunk)
                    for i, text in enumerate(_chunk_table(chunk).column("text").to_pylist()):
                        number = chunk.first_line + i
                        last_line = number
                        stripped = files.decode_line(text).lstrip(files.HOLE)
                        if number == 1:
                            stripped = stripped.removeprefix("\ufeff")  # a byte-order mark
                        if not stripped.strip():
                            blanks[0] += 1
                            continue
                        yield number, stripped

            batch: list[RawRecord | Reject] = []
            for item in parser.parse(numbered(), parse_options):
                batch.append(item)
                if len(batch) >= TEXT_BATCH:
                    staging.add_records(batch)
                    batch = []
            if batch:
                staging.add_records(batch)
            skipped = blanks[0]

    unit = staging.last_unit_line()
    watermark_line = unit if unit is not None else last_line + 1
    watermark_offset = offsets.get(watermark_line, consumed)
    return _Read(
        format=fmt,
        head_hash=_hash(head[: min(len(head), consumed)]),
        head_len=min(len(head), consumed),
        consumed_bytes=consumed,
        consumed_lines=last_line,
        tail_hash=_hash(bytes(tail[-min(TAIL_BYTES, consumed) :])) if consumed else _hash(b""),
        watermark_offset=watermark_offset,
        watermark_line=watermark_line,
        start_line=start_line,
        skipped=skipped,
    )


def _read_whole_json(
    path: Path,
    src: int,
    staging: _Staging,
    head: bytes,
    options: IngestOptions,
    progress: ProgressFn | None,
) -> _Read | None:
    """The fast path: the whole file through read_json, then only its end read here.

    None, with nothing staged: the file is for the line reader (see
    :func:`jsonlines.whole_file_plan`).
    """
    name = str(path)
    if progress is not None:
        progress(name, 0, None)
    planned_bytes = _size_now(path)
    plan = jsonlines.whole_file_plan(staging.con, path)
    if plan is None:
        return None
    rowless: list[int] = []
    dropped: list[int] = []
    odd_rejects = skipped = 0
    if plan.odd:
        odd = staging.locate_odd_lines(path, plan)
        given = staging.rows_given(odd, plan.keys) if odd else None
        if given is None:
            return None
        rowless = [line for (line, _), n in zip(odd, given, strict=True) if not n]
        if len(rowless) > jsonlines.ROWLESS_LINES_MAX:
            return None
        # the rowid of a line that gives a row: its line less the rowless lines before it
        dropped = [
            line - 1 - bisect.bisect_left(rowless, line)
            for (line, _), n in zip(odd, given, strict=True)
            if n
        ]
        rejected = staging.reject_odd_lines(src, name, odd, options)
        if rejected is None:
            return None
        odd_rejects, skipped = rejected
    size, tail, last_start = _scan_through(path, plan.lines, planned_bytes)
    if progress is not None:
        progress(name, 0, size)  # planned; reading
    rows = staging.add_whole_json(
        src,
        path,
        plan.keys,
        plan.lines - len(rowless),
        options,
        rowless=rowless,
        dropped=dropped,
        planned_bytes=planned_bytes,
    )
    if rows is None:
        staging.drop_source(src)
        return None
    read = _read_whole_file(
        path, src, staging, head, (size, tail, last_start, plan.lines), skipped
    )
    if progress is not None:
        progress(name, size, size)
    read.whole_rows = (rows[0], rows[1] + odd_rejects)
    read.whole_rowless = tuple(rowless)
    return read


def _size_now(path: Path) -> int | None:
    """The size of ``path`` on disk (compressed, if it is), None if it cannot be had."""
    try:
        return path.stat().st_size
    except OSError:
        return None


def _read_whole_file(
    path: Path,
    src: int,
    staging: _Staging,
    head: bytes,
    scanned: tuple[int, bytes, int, int],
    skipped: int,
) -> _Read:
    """What reading all of ``path`` at once yielded, for the ledger: ``scanned`` is its
    (size, last TAIL_BYTES, offset of its last line, lines). Raises, dropping what was
    staged, when the file is no longer what was read (rotated or rewritten meanwhile:
    the rows read may not be the ones the ledger would describe)."""
    size, tail, last_start, lines = scanned
    read = _Read(
        format="jsonl",
        head_hash=_hash(head[: min(len(head), size)]),
        head_len=min(len(head), size),
        consumed_bytes=size,
        consumed_lines=lines,
        tail_hash=_hash(tail),
        watermark_offset=last_start,
        watermark_line=max(lines, 1),
        start_line=1,
        skipped=skipped,
    )
    if not _still_as_read(path, read):
        staging.drop_source(src)
        raise SourceReadError(str(path), "changed while it was being ingested; ingest it again")
    return read


def _read_json_lines(
    path: Path, src: int, staging: _Staging, head: bytes, progress: ProgressFn | None
) -> _Read | None:
    """The middle path, for JSON lines the whole-file reader will not take (more blank lines,
    or lines that are no JSON object, than it locates; see jsonlines.ODD_LINES_MAX): the
    file read as lines in parallel, and the line reader's SQL run over all of them in one
    statement. Same rows and rejects as the chunk reader, which remains for what DuckDB
    cannot split into lines.

    None: the file is for the chunk reader (nothing was staged).
    """
    name = str(path)
    size, tail, last_start, lines = _scan_lines(path)
    if not lines:
        return None
    if progress is not None:
        progress(name, 0, size)
    if not staging.add_json_lines(path, lines):
        return None
    staging.flatten_json()
    scanned = (size, tail, last_start, lines)
    read = _read_whole_file(
        path, src, staging, head, scanned, _count_blank_json(staging, 1, lines)
    )
    if progress is not None:
        progress(name, size, size)
    return read


def _scan_lines(path: Path) -> tuple[int, bytes, int, int]:
    """(decompressed size, its last TAIL_BYTES, offset where its last line starts, lines)."""
    name = str(path)
    size = lines = 0
    tail_buf = bytearray()
    last_start = 0
    ends_line = True
    with files.open_stream(path) as stream:
        while True:
            block = files.read_block(stream, files.CHUNK_BYTES, name)
            if not block:
                break
            # the last line starts after the last newline that is not the final byte
            cut = block.rfind(b"\n", 0, len(block) - 1)
            if cut >= 0:
                last_start = size + cut + 1
            elif ends_line and size:
                last_start = size
            lines += block.count(b"\n")
            ends_line = block.endswith(b"\n")
            size += len(block)
            tail_buf.extend(block[-TAIL_BYTES:])
            del tail_buf[:-TAIL_BYTES]
    if size and not ends_line:
        lines += 1  # a last line without its newline
    return size, bytes(tail_buf), last_start, lines


def _scan_through(path: Path, lines: int, planned_bytes: int | None) -> tuple[int, bytes, int]:
    """(size, last TAIL_BYTES, offset where the last line starts) of the first ``lines``
    lines of ``path``, the ones the census counted: what the ledger says was read. A plain
    file that kept the size it had before the census is read from its end; one a writer
    appended to meanwhile (or a compressed one) is read from its start to the end of that
    line, as the lines appended after the census wait for the next ingest."""
    if files.compression_of(path) == "none" and _size_now(path) == planned_bytes:
        size, tail, last_start = _scan_end(path)
        if size == planned_bytes:
            return size, tail, last_start
    return _scan_to_line(path, lines)


def _scan_to_line(path: Path, lines: int) -> tuple[int, bytes, int]:
    """(offset after line ``lines`` ends, the TAIL_BYTES before it, offset where that line
    starts); the file's end when it has no more lines (its last one unterminated)."""
    name = str(path)
    offset = newlines = last_start = 0
    tail_buf = bytearray()
    with files.open_stream(path) as stream:
        while True:
            block = files.read_block(stream, files.CHUNK_BYTES, name)
            if not block:
                break
            wanted = lines - newlines  # the newline ending line `lines` is the wanted-th here
            count = block.count(b"\n")
            if count >= wanted > 0:
                cut = -1
                for _ in range(wanted):
                    start_of_line = cut + 1
                    cut = block.index(b"\n", cut + 1)
                if wanted > 1:  # else the line began where the last block's last one ended
                    last_start = offset + start_of_line
                block = block[: cut + 1]
                tail_buf.extend(block[-TAIL_BYTES:])
                del tail_buf[:-TAIL_BYTES]
                return offset + len(block), bytes(tail_buf), last_start
            if count:
                last_start = offset + block.rfind(b"\n") + 1
            newlines += count
            offset += len(block)
            tail_buf.extend(block[-TAIL_BYTES:])
            del tail_buf[:-TAIL_BYTES]
    return offset, bytes(tail_buf), last_start


def _scan_end(path: Path) -> tuple[int, bytes, int]:
    """(decompressed size, its last TAIL_BYTES, offset where its last line starts)."""
    if files.compression_of(path) == "none":
        size = path.stat().st_size
        with open(path, "rb") as fh:
            position = size
            body = size - 1 if size else 0  # a final newline ends the last line; skip it
            window = b""
            while position > 0:
                step = min(position, 1 << 16)
                position -= step
                fh.seek(position)
                window = fh.read(step) + window
                cut = window.rfind(b"\n", 0, body - position)
                if cut >= 0:
                    last_start = position + cut + 1
                    break
            else:
                last_start = 0
            fh.seek(max(0, size - TAIL_BYTES))
            tail = fh.read()
        return size, tail, last_start
    # compressed: read through to the end, as counting its lines does
    size, tail, last_start, _ = _scan_lines(path)
    return size, tail, last_start


def _line_texts(
    path: Path, wanted: set[int], start_offset: int, start_line: int
) -> dict[int, str]:
    """The text (up to REJECT_EXCERPT characters) of the ``wanted`` line numbers."""
    found: dict[int, str] = {}
    if not wanted:
        return found
    name = str(path)
    with files.open_stream(path) as stream:
        if start_offset:
            files.skip_bytes(stream, start_offset, name)
        for chunk in files.iter_line_chunks(
            stream, source=name, start_offset=start_offset, start_line=start_line
        ):
            last = chunk.first_line + len(chunk) - 1
            hits = [n for n in wanted if chunk.first_line <= n <= last]
            if hits:
                texts = _chunk_table(chunk).column("text")
                for n in hits:
                    text = files.decode_line(texts[n - chunk.first_line].as_py())
                    found[n] = text[:REJECT_EXCERPT]
            if last >= max(wanted):
                break
    return found


def _fill_raw(path: Path, staging: _Staging, src: int, start_offset: int, start_line: int) -> None:
    """Give rejects that have no raw text (a record without a usable time) their line's text."""
    rows = staging.con.execute(
        "SELECT line FROM stage_rejects WHERE src = ? AND raw IS NULL", [src]
    ).fetchall()
    found = _line_texts(path, {r[0] for r in rows}, start_offset, start_line)
    if not found:  # every reject already quotes its line; executemany refuses an empty list
        return
    staging.con.executemany(
        "UPDATE stage_rejects SET raw = ? WHERE src = ? AND line = ?",
        [[text, src, line] for line, text in found.items()],
    )


def _remember_offsets(offsets: dict[int, int], chunk: files.LineChunk) -> None:
    """Keep the byte offset of every line of the two latest chunks (the watermark is near the end)."""
    if len(offsets) > 4_000_000:
        keep = sorted(offsets)[-2_000_000:]
        for key in list(offsets):
            if key < keep[0]:
                del offsets[key]
    first = chunk.first_line
    offsets.update(zip(range(first, first + len(chunk)), chunk.offsets.tolist(), strict=True))


def _count_blank_json(staging: _Staging, first: int, last: int) -> int:
    if last < first:
        return 0
    present = staging.con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
    return int((last - first + 1) - present)


# --------------------------------------------------------------------------- the run


class _Interrupts:
    """Ctrl-C (SIGINT) and SIGTERM during an ingest: the run stops, and nothing is kept.

    Python runs a signal handler only between bytecodes, so while DuckDB works
    through a long statement the handler would wait for it to end. A thread
    woken by the signal itself (``signal.set_wakeup_fd``) therefore interrupts
    the DuckDB connections the ingest works on (:meth:`watch`) at once; the
    handler then raises KeyboardInterrupt as the statement returns. DuckDB's
    client can also swallow the interrupt, which would let the ingest commit
    as if nothing happened: the commit checks :attr:`seen` instead, and rolls
    back. Once the commit has begun (:meth:`start_commit`), a signal
    interrupts nothing: the commit finishes and the run ends normally.
    """

    def __init__(self) -> None:
        self.seen = False
        self.committed = False  # after the commit, a Ctrl-C interrupts nothing
        self.committing = False  # nor while DuckDB writes the commit itself
        self.defer = False  # see deferred()
        self._previous: dict[int, Any] | None = None
        self._lock = threading.Lock()
        self._watched: list[duckdb.DuckDBPyConnection] = []
        self._waker: AbstractContextManager[bool] | None = None

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            # SIGTERM (a scheduler stopping the run) is taken as Ctrl-C is
            self._previous = {
                signum: signal.signal(signum, self._note)
                for signum in (signal.SIGINT, signal.SIGTERM)
            }
            self._waker = interrupts.on_stop_signal(self._interrupt_duckdb)
            self._waker.__enter__()
        return self

    def _interrupt_duckdb(self) -> None:
        with self._lock:
            if self.committed or self.committing:
                return
            self.seen = True
            for con in list(self._watched):
                with suppress(duckdb.Error):  # closed meanwhile
                    con.interrupt()

    def watch(self, con: duckdb.DuckDBPyConnection) -> None:
        """Interrupt ``con``'s statement when a signal stops the ingest."""
        with self._lock:
            self._watched.append(con)

    def unwatch(self, con: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            self._watched = [c for c in self._watched if c is not con]

    def start_commit(self) -> None:
        """From here on a signal interrupts nothing; raises if one came before."""
        with self._lock:
            self.check()
            self.committing = True

    def _note(self, signum: int, frame: Any) -> None:
        if self.committed or self.committing:
            # the commit is under way (or done): it finishes, and the run ends normally
            return
        self.seen = True
        if not self.defer:
            raise KeyboardInterrupt

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """A block of DuckDB work whose clean-up must not be cut short: a signal raises
        nothing in Python inside it (it interrupts DuckDB's statement), and the block
        ends in KeyboardInterrupt instead of the error the interrupted statement gave."""
        self.defer = True
        try:
            yield
        except (duckdb.Error, DvlabError):
            if self.seen:
                raise KeyboardInterrupt from None
            raise
        finally:
            self.defer = False
        self.check()

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            for signum, previous in self._previous.items():
                signal.signal(signum, previous)
            # forgotten, so that a later run on another thread does not restore it
            self._previous = None
        if self._waker is not None:
            self._waker.__exit__(None, None, None)
            self._waker = None

    def check(self) -> None:
        if self.seen:
            raise KeyboardInterrupt


_interrupts = _Interrupts()


@contextmanager
def _ingest_lock(lab_path: Path) -> Iterator[None]:
    lock_path = lab_path.with_name(lab_path.name + ".ingest.lock")
    lab_path.parent.mkdir(parents=True, exist_ok=True)
    busy = f"another ingest into {lab_path} is still running; retry when it finishes"
    with taking_turns(lock_path, busy):
        yield


def ingest(
    lab_path: Path,
    inputs: Sequence[str],
    options: IngestOptions = IngestOptions(),
    *,
    progress: ProgressFn | None = None,
) -> IngestSummary:
    """Load ``inputs`` into the lab at ``lab_path``; see the module docstring."""
    paths = expand_inputs(inputs, lab=lab_path)
    if not paths:
        raise BadInputError("nothing to ingest: no files found in " + ", ".join(inputs))
    if options.at is not None and len(paths) > 1:
        raise BadInputError(
            f"--at gives every file the same time, and {len(paths)} files were named: "
            "ingest one scrape with --at, or leave it out and each file takes its "
            "modification time"
        )
    if options.pattern:
        from dvlab.sources.textformats import get_parser

        get_parser("pattern")  # the pattern itself is checked when parsing starts
    summary = IngestSummary(run_id=str(uuid.uuid4()), lab=str(lab_path), started=datetime.now(UTC))
    # the signals first: a run waiting for the lock is stopped as any other
    with _interrupts, _ingest_lock(lab_path):
        _interrupts.seen = _interrupts.committed = _interrupts.committing = False
        states = _load_states(lab_path)
        next_id = _next_ingest_id(lab_path)
        # spill files beside the lab: its disk is the one chosen for the data
        staging = _Staging(options.zone, spill_dir=lab_path.resolve().parent)
        try:
            ledger: list[dict[str, Any]] = []
            for src, path in enumerate(paths):
                report, entry = _stage_one(
                    path, src, next_id + src, staging, states, options, progress, paths
                )
                summary.sources.append(report)
                ledger.append(entry)
                if entry["status"] in ("loaded", "grown"):
                    states = _with_state_of(entry, states)
            rejected = summary.total("rows_rejected")
            if options.strict and (rejected or summary.failed):
                raise _strict_error(staging, summary)
            _commit(lab_path, staging, ledger, summary, strict=options.strict)
        finally:
            staging.close()
    summary.finished = datetime.now(UTC)
    for report in summary.sources:
        log.info(
            "ingest %s: %s %s, %d loaded, %d rejected, %d skipped",
            summary.run_id[:8],
            report.source,
            report.status,
            report.rows_loaded,
            report.rows_rejected,
            report.rows_skipped,
        )
    return summary


def _next_ingest_id(lab_path: Path) -> int:
    if not lab_path.exists():
        return 1
    con = connect_file(lab_path, read_only=True)
    try:
        if schema.current_version(con, _catalog(con)) == 0:
            return 1
        return int(
            con.execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests").fetchall()[0][0]
        )
    finally:
        con.close()


def _stage_one(
    path: Path,
    src: int,
    ingest_id: int,
    staging: _Staging,
    states: list[_State],
    options: IngestOptions,
    progress: ProgressFn | None,
    run_paths: Sequence[Path] = (),
) -> tuple[SourceReport, dict[str, Any]]:
    name = str(path)
    started = datetime.now(UTC)
    given = options
    base: dict[str, Any] = {
        "ingest_id": ingest_id,
        "source": name,
        "started": started,
        "options": _options_json(options),
    }
    shown = files.shown_name(name)
    if shown != name:
        # the lab, and DuckDB's readers, take names as text: this one is said as its bytes
        refusal = (
            f"{shown}: its name is not UTF-8 text, which the lab keeps names as; rename it "
            "to load it"
        )
        report = SourceReport(source=shown, status="failed", message=refusal)
        return report, {**base, "source": shown, "status": "failed", "message": refusal}
    try:
        head = files.peek_head(path)
        if _may_be_table(head, options) is False:
            _refuse_binary(name, head, options)
        if len(head) < files.HEAD_BYTES and not head.strip():
            report = SourceReport(source=name, status="empty", message="no lines yet")
            entry = {**base, "status": "empty"}
            return report, entry
        state, unchanged = _match_state(path, head, states)
        if state is not None and _timed_by_file(state.format):
            # a scrape timed by its file is one measurement: the same bytes are the same
            # scrape only if written at the same moment (renamed); else another scrape (a
            # target that did not change between scrapes), or at the same path one saved
            # over it, which replaces it; and never the continuation of an earlier file
            same_moment = state.position == _file_time(path)
            if unchanged and name in (state.source, *state.names):
                # timed by --at, not by the file: touching it changed nothing
                same_moment = same_moment or "at" in json.loads(state.options or "{}")
            if not (unchanged and same_moment):
                state, unchanged = None, False
        if state is not None and unchanged and state.rows_gone:
            unchanged = False  # read again: its rows were replaced by another source's
        if state is not None:
            base["options"] = _options_json(_recorded_options(state, given))
        if state is not None and unchanged:
            report = SourceReport(
                source=name,
                status="unchanged",
                format=state.format,
                rows_skipped=state.consumed_lines,
                message=_option_change(state, given, name) or "already loaded",
            )
            entry = {
                **base,
                "status": "unchanged",
                "format": state.format,
                "generation": state.generation,
                "rows_skipped": state.consumed_lines,
            }
            return report, entry
        if state is not None:
            # a source keeps the options it was first loaded with; `dvlab forget` changes them
            options = _recorded_options(state, given)
            base["options"] = _options_json(options)
        fmt = (
            state.format
            if (state is not None and not options.format and not options.pattern)
            else None
        )
        reader = _telemetry_reader(path, head, options, state)
        endpoint = _nats_endpoint(path, head, options, state) if reader is None else None
        shape = (
            _table_shape(path, head, options, staging)
            if reader is None and endpoint is None and _may_be_table(head, options)
            else None
        )
        if options.time_format is not None and (reader is not None or endpoint is not None):
            raise BadInputError(
                "--time-format is for logs and tables whose times are text; this source's "
                "times have a form of their own",
                source=name,
            )
        if reader is not None:
            read = _read_telemetry(path, src, staging, options, reader, head)
            fmt = read.format
        elif endpoint is not None:
            read = _read_nats(path, src, staging, options, endpoint, head)
            fmt = read.format
        elif shape is not None:
            read = _read_table(path, src, staging, options, shape, head)
            fmt = read.format
        else:
            _refuse_binary(name, head, options)
            fmt = fmt or _detect(path, head, options)
            if options.time_format is not None and fmt not in _TIME_FORMAT_READERS:
                raise BadInputError(
                    f"--time-format is for JSON lines, logfmt and --pattern sources, whose "
                    f"times are read as written; this one reads as {fmt}, whose times have a "
                    "form of their own",
                    source=name,
                )
            start_offset = state.watermark_offset if state is not None else 0
            start_line = state.watermark_line if state is not None else 1
            if state is not None and state.resume_year is not None:
                # a file's first record takes --year, or a year guessed from the file's date;
                # read again from its last, the dates go on from the year that record was
                # given (a guess from the file's new date could put it a year on)
                parsing = dataclasses.replace(options, year=state.resume_year)
            else:
                parsing = options
            read = _read_source(
                path,
                src,
                fmt,
                staging,
                parsing,
                start_offset=start_offset,
                start_line=start_line,
                head=head,
                progress=progress,
            )
        if read.whole_rows is not None:
            loaded, rejected = read.whole_rows
        else:
            loaded, rejected = staging.finish_source(src, name, options)
        if rejected and not read.tables:  # a table's rejects quote their row already
            _fill_raw(path, staging, src, start_offset, start_line)
    except (SourceReadError, BadInputError) as exc:
        staging.drop_source(src)
        report = SourceReport(source=name, status="failed", message=str(exc))
        entry = {**base, "status": "failed", "message": str(exc)}
        return report, entry
    except duckdb.Error as exc:
        staging.drop_source(src)
        raise dberrors.translate(exc, what=f"parsing {name}") from exc

    generation = state.generation if state is not None else ingest_id
    replaced_from = state.watermark_line if state is not None else None
    rewritten = _rewritten(path, head, states, run_paths) if state is None else None
    if state is None and rewritten is None and _timed_by_file(fmt):
        # a scrape saved over an earlier one replaces it however differently it starts (a
        # scrape without HELP lines starts with a sample, whose value changes each time)
        rewritten = max(
            (s for s in states if s.source == name and _timed_by_file(s.format)),
            key=lambda s: s.generation,
            default=None,
        )
    status = "grown" if state is not None else "rewritten" if rewritten else "loaded"
    if state is not None:
        message = _option_change(state, given, name)
    elif rewritten is not None:
        message = "changed in place since it was loaded; its earlier rows are replaced"
    else:
        message = None
    report = SourceReport(
        source=name,
        status=status,
        format=fmt,
        rows_loaded=loaded,
        rows_rejected=rejected,
        rows_skipped=read.skipped,
        ingest_id=ingest_id,
        message=message,
    )
    entry = {
        **base,
        "status": status,
        "format": fmt,
        "generation": generation,
        "fingerprint": f"{read.head_hash}:{read.consumed_bytes}:{read.tail_hash}",
        "start_hash": _hash(_start(head[: read.consumed_bytes])),
        "head_hash": read.head_hash,
        "head_len": read.head_len,
        "consumed_bytes": read.consumed_bytes,
        "consumed_lines": read.consumed_lines,
        "watermark_offset": read.watermark_offset,
        "watermark_line": read.watermark_line,
        "start_line": read.start_line,
        "rows_loaded": loaded,
        "rows_rejected": rejected,
        "rows_skipped": read.skipped,
        "src": src,
    }
    if read.tables:
        entry["tables"] = list(read.tables)
        entry["numbered_here"] = read.numbered_here
    elif read.whole_rows is not None:
        entry["whole"] = (whole_table(src), options, read.whole_rowless)
    if telemetry.by_format(read.format) is not None:
        entry["position"] = _file_time(path)
    if replaced_from is not None:
        entry["replace_from"] = replaced_from
    if rewritten is not None:
        entry["replace_generation"] = rewritten.generation
    return report, entry


#: the first bytes of archives and compressions dvlab does not read, and what they are
_PACKED = (
    # a block size, then a block's magic (or, empty, the end's)
    (rb"BZh[1-9](1AY&SY|\x17rE8P\x90)", "bzip2-compressed"),
    (rb"\xfd7zXZ\x00", "xz-compressed"),
    (rb"\x5d\x00\x00", "lzma-compressed"),
    (rb"\x04\x22\x4d\x18", "lz4-compressed"),
    (rb"PK\x03\x04", "a zip archive"),
    (rb"7z\xbc\xaf\x27\x1c", "a 7-zip archive"),
)


def _refuse_binary(name: str, head: bytes, options: IngestOptions) -> None:
    """Fail a source whose head is not text, unless its format was given (then each line
    that is not a record is a reject)."""
    if files.utf16(head):
        raise SourceReadError(name, "is UTF-16 text; dvlab reads UTF-8: convert it to UTF-8")
    packed = next((what for magic, what in _PACKED if re.match(magic, head)), None)
    if packed is not None:
        raise SourceReadError(
            name,
            f"is {packed}, which dvlab does not read (it reads plain text, .gz and .zst): "
            "unpack it first",
        )
    if not (options.format or options.pattern) and files.looks_binary(head):
        raise SourceReadError(
            name,
            "looks binary (control bytes in the first 4 KiB), not a log; give --format to "
            "read it as one anyway",
        )


def _may_be_table(head: bytes, options: IngestOptions) -> bool:
    """Whether ``head`` could start a task, transition or event table (or is told to);
    with ``--kind logs``, whether it is a table of log records rather than log text."""
    if options.kind == "logs":
        return csvtelemetry.is_log_table(head, tables.parse_map(list(options.mapping)))
    if options.kind is not None:
        return True
    if options.format or options.pattern:
        return False
    return head.startswith(b"PAR1") or not files.looks_binary(head)


def _table_shape(
    path: Path, head: bytes, options: IngestOptions, staging: _Staging
) -> tables.Shape | None:
    if options.kind is not None:
        return tables.shape_for(staging.con, path, head, options.kind)
    return tables.sniff(staging.con, path, head, tables.parse_map(list(options.mapping)))


def _read_table(
    path: Path,
    src: int,
    staging: _Staging,
    options: IngestOptions,
    shape: tables.Shape,
    head: bytes,
) -> _Read:
    """Stage a task, transition or event table whole. A changed one is read whole again
    (its watermark stays at the start): its rows replace the stored rows of the same ids.
    A table of spans, metrics or log records is staged by csvtelemetry; its rows belong to
    the file, and its empty metric cells count as skipped."""
    _use_times(staging.con, options)
    mapping = tables.parse_map(list(options.mapping))
    if shape.kind in csvtelemetry.KINDS:
        made = csvtelemetry.stage(
            staging.con,
            src=src,
            path=path,
            shape=shape,
            mapping=mapping,
            time_origin=options.time_origin,
            site=options.site,
            service=options.service,
        )
        read = _whole_read(
            path,
            head,
            f"{shape.kind}-{shape.layout}",
            ((shape.kind, made.table),),
            made.rows,
            made.rejects,
        )
        read.skipped = made.skipped
        return read
    staged, loaded, rejected, copies = tables.stage(
        staging.con,
        src=src,
        path=path,
        shape=shape,
        mapping=mapping,
        time_origin=options.time_origin,
    )
    read = _whole_read(
        path, head, f"{shape.kind}-{shape.layout}", ((shape.kind, staged),), loaded, rejected
    )
    read.skipped = copies  # an event's other deliveries in the file
    read.numbered_here = shape.kind == "transitions" and "seq" not in tables.checked_columns(
        shape, mapping, str(path)
    )
    return read


def _whole_read(
    path: Path,
    head: bytes,
    fmt: str,
    staged: tuple[tuple[str, str], ...],
    loaded: int,
    rejected: int,
) -> _Read:
    """The ledger's view of a source staged whole into ``staged`` (kind, table pairs): read
    again whole when it changes (its watermark stays at the start)."""
    size, tail, _ = _scan_end(path)
    return _Read(
        format=fmt,
        head_hash=_hash(head[: min(len(head), size)]),
        head_len=min(len(head), size),
        consumed_bytes=size,
        consumed_lines=loaded + rejected,
        tail_hash=_hash(tail),
        watermark_offset=0,
        watermark_line=1,
        start_line=1,
        skipped=0,
        whole_rows=(loaded, rejected),
        tables=staged,
    )


def _nats_endpoint(
    path: Path, head: bytes, options: IngestOptions, state: _State | None
) -> str | None:
    """The NATS monitoring endpoint whose saved response ``path`` is, if it is one.

    ``--format nats-monitor``, or a source loaded as one before, must be one
    (BadInputError otherwise); without a format, one is told by its keys.
    """
    name = str(path)
    if options.format == NATS_FORMAT or (
        state is not None and (state.format or "").startswith("nats-") and not options.format
    ):
        return natsmon.read_response(path, source=name).endpoint
    if options.format or options.pattern or options.kind is not None:
        return None
    if len(head) >= files.HEAD_BYTES and b"\n" not in head:
        head = _longer_head(path)  # JSON lines tell themselves by a whole first line
    if not natsmon.looks_like(head):
        return None
    return natsmon.sniff(path, source=name)


def _timed_by_file(fmt: str | None) -> bool:
    """Whether format ``fmt`` is read by a telemetry reader whose rows take the file's time."""
    reader = telemetry.by_format(fmt)
    return reader is not None and reader.timed_by_file


def _file_time(path: Path) -> str:
    """A file's modification time as the ledger keeps it (nanoseconds since the epoch)."""
    return f"mtime:{path.stat().st_mtime_ns}"


def _telemetry_reader(
    path: Path, head: bytes, options: IngestOptions, state: _State | None
) -> telemetry.Reader | None:
    """The telemetry reader of ``path`` (see dvlab.sources.telemetry): the one ``--format``
    names, else the one it was loaded with before, else the one its first bytes tell."""
    if options.format:
        return telemetry.by_format(options.format)
    if state is not None and state.format:
        return telemetry.by_format(state.format)
    if options.pattern or options.kind is not None:
        return None
    if len(head) >= files.HEAD_BYTES and b"\n" not in head:
        head = _longer_head(path)  # a one-line JSON document tells itself by its keys
    return telemetry.sniff(head)


def _read_telemetry(
    path: Path,
    src: int,
    staging: _Staging,
    options: IngestOptions,
    reader: telemetry.Reader,
    head: bytes,
) -> _Read:
    """Stage a file of metrics, spans or log records whole with its format's reader."""
    _use_times(staging.con, options)
    source = telemetry.Source(
        path=path,
        src=src,
        name=str(path),
        at=options.at,
        site=options.site,
        service=options.service,
    )
    try:
        made = reader.stage(staging.con, source)
    except DvlabError:
        raise  # said already, naming the file
    except (ValueError, ArithmeticError, RecursionError, pa.ArrowException) as exc:
        # what a reader did not foresee in a file fails that file, naming it, rather than
        # the whole run
        raise SourceReadError(
            str(path), f"could not read it as {reader.format}: {type(exc).__name__}: {exc}"
        ) from None
    return _whole_read(
        path,
        head,
        reader.format,
        tuple((m.kind, m.table) for m in made),
        # what a file declares of its metric families is not counted among its rows
        sum(m.rows for m in made if m.kind != "families"),
        sum(m.rejects for m in made),
    )


def _read_nats(
    path: Path, src: int, staging: _Staging, options: IngestOptions, endpoint: str, head: bytes
) -> _Read:
    """Stage a saved NATS monitoring response whole, as ``metrics`` rows (see natsmon)."""
    _use_times(staging.con, options)
    staged, loaded, rejected = natsmon.stage(staging.con, src=src, path=path, source=str(path))
    return _whole_read(path, head, f"nats-{endpoint}", (("metrics", staged),), loaded, rejected)


def _with_state_of(entry: dict[str, Any], states: list[_State]) -> list[_State]:
    """``states`` with ``entry`` (staged in this run) as the latest of its generation.

    A later source of the same run, a copy of this one or a longer version of
    it, is then recognised as the same content rather than loaded again.
    """
    state = _State(
        generation=entry["generation"],
        source=entry["source"],
        format=entry["format"],
        head_hash=entry["head_hash"],
        head_len=entry["head_len"],
        consumed_bytes=entry["consumed_bytes"],
        consumed_lines=entry["consumed_lines"],
        tail_hash=entry["fingerprint"].rsplit(":", 1)[-1],
        watermark_offset=entry["watermark_offset"],
        watermark_line=entry["watermark_line"],
        position=entry.get("position"),
        # the options it was read with: a later source of the run that grows it keeps them
        # (it had been read with none, a --pattern source failing for want of one)
        options=entry.get("options"),
    )
    return [s for s in states if s.generation != state.generation] + [state]


def _strict_error(staging: _Staging, summary: IngestSummary) -> BadInputError:
    first = staging.con.execute(
        "SELECT source, line, reason FROM stage_rejects ORDER BY src, line LIMIT 1"
    ).fetchall()
    if first:
        source, line, reason = first[0]
        sources = staging.con.execute("SELECT count(DISTINCT src) FROM stage_rejects").fetchall()
        spread = f" in {sources[0][0]} sources" if sources[0][0] > 1 else ""
        return BadInputError(
            f"--strict: {summary.total('rows_rejected')} line(s) rejected{spread}, nothing "
            f"written; first: {reason}",
            source=source,
            line=line,
        )
    failed = summary.failed[0]
    return BadInputError(f"--strict: a source failed, nothing written: {failed.message}")


_LEDGER_COLUMNS = (
    "ingest_id",
    "run_id",
    "source",
    "format",
    "generation",
    "status",
    "fingerprint",
    "head_hash",
    "head_len",
    "consumed_bytes",
    "consumed_lines",
    "watermark_offset",
    "watermark_line",
    "start_line",
    "rows_loaded",
    "rows_rejected",
    "rows_skipped",
    "rows_replaced",
    "started",
    "finished",
    "message",
    "options",
    "start_hash",
    "position",
)


def _still_as_read(path: Path, read: _Read) -> bool:
    """Whether the file still starts with what the plan saw: the same head, the same bytes
    before the end it saw (it may have grown since)."""
    name = str(path)
    consumed = read.consumed_bytes
    start = max(0, consumed - TAIL_BYTES)
    try:
        head = files.peek_head(path)
        if files.compression_of(path) == "none":
            with open(path, "rb") as fh:
                fh.seek(start)
                tail = fh.read(consumed - start)
        else:
            with files.open_stream(path) as stream:
                files.skip_bytes(stream, start, name)
                tail = files.read_block(stream, consumed - start, name)
    except OSError:  # SourceReadError included: gone, unreadable, or cut shorter
        return False
    return (
        _hash(head[: read.head_len]) == read.head_hash
        and len(tail) == consumed - start
        and _hash(tail) == read.tail_hash
    )


@contextmanager
def writing(con: duckdb.DuckDBPyConnection, lab_path: Path) -> Iterator[None]:
    """The lab attached to the staging connection ``con`` as ``lab`` (brought up to date)
    for one transaction: committed when the block ends, rolled back if it raises, and
    detached at once, so the lab is locked only while it is written. A lab this made
    (there was none) is removed again when the transaction does not commit: a run stopped
    or failed leaves no empty lab behind."""
    check_lab_file(lab_path)
    created = not lab_path.exists()
    wait_for_lock(
        lambda: con.execute(f"ATTACH {schema.quote_literal(str(lab_path))} AS lab"), lab_path
    )
    committed = False
    try:
        schema.migrate(con, "lab")
        con.execute("BEGIN TRANSACTION")
        try:
            yield
            con.execute("COMMIT")
            committed = True
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except duckdb.Error as exc:
        raise dberrors.translate(exc, what=f"writing to {lab_path}") from exc
    finally:
        con.execute("DETACH lab")
        if created and not committed:
            for made in (lab_path, lab_path.with_name(lab_path.name + ".wal")):
                made.unlink(missing_ok=True)


def _commit(
    lab_path: Path,
    staging: _Staging,
    ledger: list[dict[str, Any]],
    summary: IngestSummary,
    *,
    strict: bool,
) -> None:
    con = staging.con
    finished = datetime.now(UTC)
    with _interrupts.deferred(), writing(con, lab_path):
        if strict and any(_new_rejects(con, entry) for entry in ledger if "src" in entry):
            raise _strict_error(staging, summary)
        # source by source, ledger row included, so that a later source of this run that
        # continues an earlier one's generation finds (and replaces) that one's last record
        for entry in ledger:
            entry["rows_replaced"] = _replace_tail(con, entry)
            if "src" in entry:
                _insert_staged(con, entry)
            _insert_ledger_row(con, entry, summary.run_id, finished)
        # a Ctrl-C DuckDB swallowed mid-statement still stops the commit
        _interrupts.start_commit()
    _interrupts.committed = True
    for report, entry in zip(summary.sources, ledger, strict=True):
        report.status = entry["status"]
        report.message = entry.get("message", report.message)
        report.rows_replaced = int(entry.get("rows_replaced", 0))
        report.rows_loaded = int(entry.get("rows_loaded") or 0)
        report.rows_rejected = int(entry.get("rows_rejected") or 0)
        report.rows_skipped = int(entry.get("rows_skipped") or 0)


def _new_rejects(con: duckdb.DuckDBPyConnection, entry: dict[str, Any]) -> int:
    """How many of a source's staged rejects the lab (attached) does not hold already: all
    of them but for a live source, whose bad row at its watermark each run reads again."""
    known = f"AND NOT {_KNOWN_REJECT}" if entry.get("skip_unchanged") else ""
    return int(
        con.execute(
            f"SELECT count(*) FROM stage_rejects AS s WHERE src = $src {known}",
            {"src": entry["src"], **({"source": entry["source"]} if known else {})},
        ).fetchall()[0][0]
    )


def _replace_tail(con: duckdb.DuckDBPyConnection, entry: dict[str, Any]) -> int:
    """Delete what a grown source reads again (from its watermark on), or all a rewritten
    source held; returns the rows deleted."""
    if "replace_generation" in entry:
        old = entry["replace_generation"]
        # transitions without sequence numbers belong to their file as well: an edit of it
        # replaces them (they have no id another file's could replace them by)
        owned = (
            *schema.FILE_TABLES,
            *(("task_transitions",) if entry.get("numbered_here") else ()),
        )
        replaced = sum(
            _counted(
                table,
                con.execute(
                    f"""DELETE FROM lab.{table} WHERE ingest_id IN
                        (SELECT ingest_id FROM lab.ingests WHERE generation = ?)""",
                    [old],
                ).fetchall()[0][0],
            )
            for table in owned
        )
        con.execute(
            """DELETE FROM lab.rejects WHERE ingest_id IN
               (SELECT ingest_id FROM lab.ingests WHERE generation = ?)""",
            [old],
        )
        con.execute(
            "UPDATE lab.ingests SET status = 'replaced' WHERE generation = ? "
            "AND status IN ('loaded', 'grown', 'rewritten')",
            [old],
        )
        return int(replaced)
    if "replace_from" not in entry:
        return 0
    generation, from_line = entry["generation"], entry["replace_from"]
    replaced = sum(
        _counted(
            table,
            con.execute(
                f"""DELETE FROM lab.{table} WHERE line >= ? AND ingest_id IN
                    (SELECT ingest_id FROM lab.ingests WHERE generation = ?)""",
                [from_line, generation],
            ).fetchall()[0][0],
        )
        for table in schema.FILE_TABLES
    )
    con.execute(
        """DELETE FROM lab.rejects WHERE line >= ? AND ingest_id IN
           (SELECT ingest_id FROM lab.ingests WHERE generation = ?)""",
        [from_line, generation],
    )
    return int(replaced)


def _counted(table: str, deleted: int) -> int:
    """``deleted`` rows of ``table`` as replaced rows: a family's declaration is no row."""
    return 0 if table == "metric_families" else int(deleted)


#: a staged reject ``s`` the lab holds already for source ``$source`` (a live source's bad
#: row at its watermark, read again by each run)
_KNOWN_REJECT = """EXISTS (SELECT 1 FROM lab.rejects AS r WHERE r.source = $source
    AND r.reason = s.reason AND r.raw IS NOT DISTINCT FROM s.raw)"""


def _insert_staged(con: duckdb.DuckDBPyConnection, entry: dict[str, Any]) -> None:
    """Copy one source's staged rows and rejects into the lab."""
    params = {"src": entry["src"], "ingest_id": entry["ingest_id"]}
    columns = [c for c in schema.LOG_COLUMNS if c != "ingest_id"]
    if "tables" in entry:
        for kind, staged in entry["tables"]:
            # a file's transitions without sequence numbers (a live source's are numbered on
            # in its own branch, in the order they were read)
            numbered_file = (
                kind == "transitions"
                and bool(entry.get("numbered_here"))
                and not entry.get("skip_unchanged")
            )
            if entry.get("skip_unchanged"):
                # a live source read again from its watermark: rows the lab holds as they are
                # now are not rewritten, nor rejects it holds (a bad row at the watermark)
                known = con.execute(
                    f"SELECT count(*) FROM stage_rejects AS s WHERE src = $src AND {_KNOWN_REJECT}",
                    {"src": entry["src"], "source": entry["source"]},
                ).fetchall()[0][0]
                entry["rows_rejected"] = int(entry.get("rows_rejected") or 0) - int(known)
                same = tables.drop_unchanged(con, kind, staged)
                if kind == "transitions" and entry.get("numbered_here"):
                    same += tables.continue_numbering(con, staged)
                entry["rows_loaded"] = int(entry["rows_loaded"]) - same
                entry["rows_skipped"] = int(entry.get("rows_skipped") or 0) + same + int(known)
                if not entry["rows_loaded"] and not entry.get("rows_rejected"):
                    entry["status"] = "unchanged"
                    entry.setdefault(
                        "message",
                        "every row read is already in the lab"
                        if entry["rows_skipped"]
                        else "no rows",
                    )
            elif numbered_file:
                # a file's transitions without sequence numbers, numbered 1, 2, ... by the
                # staging (what the file held before an edit is gone: _replace_tail):
                # numbered on from the lab's, a change another file, or the file before it
                # was written anew, holds already left out (an export that overlaps another)
                same = tables.continue_numbering(con, staged, tables.SAME_CHANGE)
                entry["rows_loaded"] = int(entry["rows_loaded"]) - same
                entry["rows_skipped"] = int(entry.get("rows_skipped") or 0) + same
            if kind in ("spans", "events"):
                # a span or event another file holds too (an export sent again, a message
                # delivered twice) is stored once
                again = tables.stored(con, kind, staged)
                entry["rows_loaded"] = int(entry["rows_loaded"]) - again
                entry["rows_skipped"] = int(entry.get("rows_skipped") or 0) + again
            values = {"source": entry["source"], "ingest_id": entry["ingest_id"]}
            for statement in tables.insert_sql(kind, staged):
                done = con.execute(
                    statement, {k: v for k, v in values.items() if f"${k}" in statement}
                ).fetchall()
                if statement.lstrip().startswith("DELETE"):
                    # stored rows of the same ids, replaced by the new ones
                    entry["rows_replaced"] = int(entry.get("rows_replaced") or 0) + int(done[0][0])
            if numbered_file:
                tables.renumber_by_time(con, staged)
    elif "whole" in entry:
        # read whole: a row's rowid tells its line, and its time was read at the staging
        table, options, rowless = entry["whole"]
        con.execute(
            f"""INSERT INTO lab.logs ({", ".join(schema.LOG_COLUMNS)})
                SELECT ts, {_NORMALISED_BUT_TS}, $ingest_id FROM (
                    SELECT {jsonlines.row_line_sql(list(rowless))} AS line, * FROM {table}
                    WHERE ts IS NOT NULL)""",
            {
                "ingest_id": entry["ingest_id"],
                "source": entry["source"],
                "site": options.site,
                "service": options.service,
            },
        )
    else:
        con.execute(
            f"""INSERT INTO lab.logs ({", ".join(schema.LOG_COLUMNS)})
                SELECT {", ".join(columns)}, $ingest_id FROM stage_logs WHERE src = $src""",
            params,
        )
    if entry.get("skip_unchanged"):
        con.execute(
            f"""INSERT INTO lab.rejects SELECT $ingest_id, source, line, reason, raw
                FROM stage_rejects AS s WHERE src = $src AND NOT {_KNOWN_REJECT}""",
            {**params, "source": entry["source"]},
        )
        return
    con.execute(
        """INSERT INTO lab.rejects SELECT $ingest_id, source, line, reason, raw
           FROM stage_rejects WHERE src = $src""",
        params,
    )


def _insert_ledger_row(
    con: duckdb.DuckDBPyConnection, entry: dict[str, Any], run_id: str, finished: datetime
) -> None:
    row = {c: entry.get(c) for c in _LEDGER_COLUMNS}
    row["run_id"] = run_id
    row["finished"] = finished
    for count in ("rows_loaded", "rows_rejected", "rows_skipped", "rows_replaced"):
        row[count] = int(row[count] or 0)
    placeholders = ", ".join("?" for _ in _LEDGER_COLUMNS)
    con.execute(
        f"INSERT INTO lab.ingests ({', '.join(_LEDGER_COLUMNS)}) VALUES ({placeholders})",
        [row[c] for c in _LEDGER_COLUMNS],
    )


# --------------------------------------------------------------------------- forgetting


@dataclass
class ForgetReport:
    """What ``forget`` removed for one source."""

    source: str
    rows: int
    rejects: int
    ingests: int


def _generation_held(name: str, states: list[_State]) -> int | None:
    """The generation the file ``name`` holds now, among those read under that name; None
    when it is gone, or holds none of them."""
    path = Path(name)
    read_so = [s for s in states if s.source == name or name in s.names]
    if not read_so or not path.is_file():
        return None
    try:
        found, _ = _match_state(path, files.peek_head(path), read_so)
    except (OSError, SourceReadError):
        return None
    return None if found is None else found.generation


def forget(lab_path: Path, sources: Sequence[str]) -> list[ForgetReport]:
    """Remove every row loaded from ``sources`` (as named in the ledger), so they load afresh.

    The ledger keeps its rows, marked ``forgotten``, as the record that they
    were loaded once. Runs as one transaction under the ingest lock.
    """
    if not lab_path.exists():
        raise BadInputError(f"no lab at {lab_path}")
    reports: list[ForgetReport] = []
    with _ingest_lock(lab_path):
        states = _load_states(lab_path)
        con = connect_file(lab_path, read_only=False)
        try:
            prepare(con)
            schema.migrate(con, _catalog(con))
            known = {r[0] for r in con.execute("SELECT DISTINCT source FROM ingests").fetchall()}
            wanted = []
            for source in sources:
                # as recorded: its full path (a name read before paths were made full
                # is also taken as written)
                spellings = tuple(
                    files.shown_name(s)  # a name that is not UTF-8 is kept as its \xHH
                    for s in (source, str(Path(source)), os.path.abspath(source))
                )
                name = next((n for n in spellings if n in known), source)
                if name not in known and os.path.exists(source):
                    # through a link, or a folder reached another way: the same file
                    real = os.path.realpath(source)
                    name = next(
                        (
                            k
                            for k in sorted(known)
                            if k.startswith("/") and os.path.realpath(k) == real
                        ),
                        name,
                    )
                if name not in known:
                    from dvlab.live.pgconn import redact

                    raise BadInputError(
                        f"{redact(files.shown_name(source))} is not in the lab's ledger; "
                        '`dvlab sql "SELECT DISTINCT source FROM ingests"` lists what is'
                    )
                wanted.append(name)
            con.execute("BEGIN TRANSACTION")
            try:
                for name in wanted:
                    now = _generation_held(name, states)
                    if now is not None:
                        # the content the file holds now, whatever names it was read under:
                        # what the name held before (rotated away, into app.log.1) is kept
                        ids = "SELECT ingest_id FROM ingests WHERE generation = $generation"
                        params: dict[str, Any] = {"generation": now}
                    else:
                        # everything of the content lineages this source belongs to, whatever
                        # name each part was read under (a file renamed, then grown)
                        ids = (
                            "SELECT ingest_id FROM ingests WHERE source = $source OR generation "
                            "IN (SELECT generation FROM ingests WHERE source = $source "
                            "AND generation IS NOT NULL)"
                        )
                        params = {"source": name}
                    rows = sum(
                        con.execute(
                            f"DELETE FROM {table} WHERE ingest_id IN ({ids})", params
                        ).fetchall()[0][0]
                        for table in schema.DATA_TABLES
                    )
                    rejects = con.execute(
                        f"DELETE FROM rejects WHERE ingest_id IN ({ids})", params
                    ).fetchall()[0][0]
                    ingests = con.execute(
                        f"UPDATE ingests SET status = 'forgotten' WHERE ingest_id IN ({ids}) "
                        "AND status <> 'forgotten'",
                        params,
                    ).fetchall()[0][0]
                    reports.append(ForgetReport(name, int(rows), int(rejects), int(ingests)))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()
    return reports
