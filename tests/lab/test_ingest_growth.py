"""Ingesting again: unchanged sources add nothing, grown ones add only what is new.

The ledger recognises content, not names: a renamed or copied file is the
same source, a rewritten one a new generation. A grown source is read again
from its last record, so a record still being written is replaced, never
duplicated.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dvlab.lab import ingest as ingest_module
from dvlab.lab.ingest import IngestOptions, ingest

from .ingest_support import (
    jsonl,
    ledger,
    messages_by_line,
    query,
    record,
    table_counts,
    watch_whole_file_reader,
)

JSONL = IngestOptions(format="jsonl")
LOGFMT = IngestOptions(format="logfmt")


def logfmt_line(second: int, message: str, level: str = "info") -> str:
    return f'time=2026-05-01T12:00:{second:02d}Z level={level} msg="{message}"\n'


def statuses(summary) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(s.source, s.status) for s in summary.sources]


@pytest.mark.parametrize("kind", ["jsonl", "logfmt"])
def test_the_same_file_twice_adds_nothing(tmp_path: Path, lab_path: Path, kind: str) -> None:
    source = tmp_path / f"app.{kind}"
    if kind == "jsonl":
        source.write_text(jsonl([record(i) for i in range(1, 6)]), encoding="utf-8")
    else:
        source.write_text("".join(logfmt_line(i, f"m{i}") for i in range(1, 6)), encoding="utf-8")
    ingest(lab_path, [str(source)])
    before = table_counts(lab_path)

    again = ingest(lab_path, [str(source)])

    assert before == {"logs": 5, "rejects": 0, "ingests": 1}
    assert statuses(again) == [(str(source), "unchanged")]
    assert (again.sources[0].rows_loaded, again.sources[0].rows_skipped) == (0, 5)
    assert table_counts(lab_path) == {"logs": 5, "rejects": 0, "ingests": 2}
    assert [r["status"] for r in ledger(lab_path)] == ["loaded", "unchanged"]
    assert "1 unchanged" in again.line()


def test_appended_lines_are_added_and_numbered_on(
    tmp_path: Path, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "app.jsonl"
    source.write_text(jsonl([record(i) for i in range(1, 4)]), encoding="utf-8")
    taken = watch_whole_file_reader(monkeypatch)
    ingest(lab_path, [str(source)])
    with source.open("a", encoding="utf-8") as fh:
        fh.write(jsonl([record(i) for i in range(4, 7)]))

    grown = ingest(lab_path, [str(source)])

    assert taken == [True]  # the first read took the whole file; the growth was read by chunks
    assert statuses(grown) == [(str(source), "grown")]
    # the last record is read again and replaced, so it counts as loaded and replaced
    assert (grown.sources[0].rows_loaded, grown.sources[0].rows_replaced) == (4, 1)
    assert messages_by_line(lab_path) == [(i, f"m{i}") for i in range(1, 7)]
    generations = {r["generation"] for r in ledger(lab_path)}
    assert len(generations) == 1


def test_growth_after_a_blank_line_keeps_numbering(tmp_path: Path, lab_path: Path) -> None:
    """A blank line sends the file to the chunk reader; it is skipped but keeps its number."""
    source = tmp_path / "app.jsonl"
    source.write_text(jsonl([record(1)]) + "\n" + jsonl([record(3)]), encoding="utf-8")
    first = ingest(lab_path, [str(source)])
    with source.open("a", encoding="utf-8") as fh:
        fh.write("\n" + jsonl([record(5)]))

    ingest(lab_path, [str(source)])

    assert first.sources[0].rows_skipped == 1
    assert messages_by_line(lab_path) == [(1, "m1"), (3, "m3"), (5, "m5")]


def test_a_cut_last_line_is_replaced_when_completed(tmp_path: Path, lab_path: Path) -> None:
    """The writer was mid-line: the half line is a reject until the rest arrives."""
    source = tmp_path / "live.jsonl"
    whole = jsonl([record(3)])
    source.write_text(jsonl([record(1), record(2)]) + whole[:25], encoding="utf-8")
    first = ingest(lab_path, [str(source)])
    assert (first.sources[0].status, first.sources[0].format) == ("loaded", "jsonl")
    assert query(lab_path, "SELECT line, reason FROM rejects") == [(3, "not valid JSON")]

    with source.open("a", encoding="utf-8") as fh:
        fh.write(whole[25:] + jsonl([record(4)]))
    ingest(lab_path, [str(source)])

    assert messages_by_line(lab_path) == [(1, "m1"), (2, "m2"), (3, "m3"), (4, "m4")]
    assert query(lab_path, "SELECT count(*) FROM rejects") == [(0,)]


def test_a_last_line_without_newline_is_not_duplicated(
    tmp_path: Path, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A complete record without its newline is loaded, and read again (not twice) later."""
    source = tmp_path / "live.jsonl"
    source.write_text(jsonl([record(1), record(2), record(3)]).rstrip("\n"), encoding="utf-8")
    taken = watch_whole_file_reader(monkeypatch)
    ingest(lab_path, [str(source)])
    assert messages_by_line(lab_path) == [(1, "m1"), (2, "m2"), (3, "m3")]

    with source.open("a", encoding="utf-8") as fh:
        fh.write("\n" + jsonl([record(4)]))
    ingest(lab_path, [str(source)])

    assert taken == [True]
    assert messages_by_line(lab_path) == [(1, "m1"), (2, "m2"), (3, "m3"), (4, "m4")]


def test_a_renamed_file_is_not_loaded_again(tmp_path: Path, lab_path: Path) -> None:
    live = tmp_path / "app.log"
    live.write_text(jsonl([record(i) for i in range(1, 4)]), encoding="utf-8")
    ingest(lab_path, [str(live)])
    rotated = tmp_path / "app.log.1"
    live.rename(rotated)
    live.write_text(jsonl([record(i) for i in range(10, 12)]), encoding="utf-8")

    summary = ingest(lab_path, [str(rotated), str(live)])

    assert statuses(summary) == [(str(rotated), "unchanged"), (str(live), "loaded")]
    assert sorted(m for _, m in messages_by_line(lab_path)) == ["m1", "m10", "m11", "m2", "m3"]


def test_a_copy_in_the_same_run_is_not_loaded_twice(tmp_path: Path, lab_path: Path) -> None:
    live = tmp_path / "app.log"
    live.write_text(jsonl([record(i) for i in range(1, 4)]), encoding="utf-8")
    copy = tmp_path / "app.log.1"
    shutil.copy(live, copy)

    summary = ingest(lab_path, [str(live), str(copy)])

    assert statuses(summary) == [(str(live), "loaded"), (str(copy), "unchanged")]
    assert messages_by_line(lab_path) == [(1, "m1"), (2, "m2"), (3, "m3")]


def test_an_older_and_a_newer_copy_in_the_same_run(tmp_path: Path, lab_path: Path) -> None:
    """The newer copy continues the older one's generation: only its new lines are added."""
    older = tmp_path / "backup.log"
    older.write_text(jsonl([record(1), record(2)]), encoding="utf-8")
    newer = tmp_path / "app.log"
    newer.write_text(jsonl([record(1), record(2), record(3)]), encoding="utf-8")

    summary = ingest(lab_path, [str(older), str(newer)], JSONL)

    assert statuses(summary) == [(str(older), "loaded"), (str(newer), "grown")]
    assert sorted(m for _, m in messages_by_line(lab_path)) == ["m1", "m2", "m3"]
    assert summary.sources[1].rows_replaced == 1  # line 2, read again from the newer copy
    assert len({r["generation"] for r in ledger(lab_path)}) == 1


def test_a_rewritten_file_is_a_new_generation(tmp_path: Path, lab_path: Path) -> None:
    source = tmp_path / "app.jsonl"
    source.write_text(jsonl([record(1), record(2)]), encoding="utf-8")
    ingest(lab_path, [str(source)])
    source.write_text(jsonl([record(7, "new a"), record(8, "new b")]), encoding="utf-8")

    summary = ingest(lab_path, [str(source)])

    assert statuses(summary) == [(str(source), "loaded")]
    assert sorted(m for _, m in messages_by_line(lab_path)) == ["m1", "m2", "new a", "new b"]
    first, second = ledger(lab_path)
    assert first["generation"] != second["generation"]


def test_a_gzip_file_grown_by_a_second_member(tmp_path: Path, lab_path: Path) -> None:
    source = tmp_path / "app.jsonl.gz"
    source.write_bytes(gzip.compress(jsonl([record(i) for i in range(1, 4)]).encode()))
    ingest(lab_path, [str(source)])
    with source.open("ab") as fh:  # what `gzip >> file` does: a second member
        fh.write(gzip.compress(jsonl([record(4), record(5)]).encode()))

    grown = ingest(lab_path, [str(source)])
    again = ingest(lab_path, [str(source)])

    assert statuses(grown) == [(str(source), "grown")]
    assert statuses(again) == [(str(source), "unchanged")]
    assert messages_by_line(lab_path) == [(i, f"m{i}") for i in range(1, 6)]


def test_a_compressed_copy_of_a_loaded_file_is_the_same_source(
    tmp_path: Path, lab_path: Path
) -> None:
    plain = tmp_path / "app.log"
    plain.write_text(jsonl([record(1), record(2)]), encoding="utf-8")
    ingest(lab_path, [str(plain)])
    packed = tmp_path / "app.log.1.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))

    summary = ingest(lab_path, [str(packed)])

    assert statuses(summary) == [(str(packed), "unchanged")]
    assert table_counts(lab_path)["logs"] == 2


def test_logfmt_growth_completes_a_multi_line_record(tmp_path: Path, lab_path: Path) -> None:
    """The traceback of the last record arrives in two parts; the record is replaced whole."""
    source = tmp_path / "worker.log"
    source.write_text(
        logfmt_line(1, "started")
        + logfmt_line(2, "boom", "error")
        + "Traceback (most recent call last):\n"
        + '  File "job.py", line 9, in run\n',
        encoding="utf-8",
    )
    ingest(lab_path, [str(source)], LOGFMT)
    assert messages_by_line(lab_path)[1] == (
        2,
        'boom\nTraceback (most recent call last):\n  File "job.py", line 9, in run',
    )

    with source.open("a", encoding="utf-8") as fh:
        fh.write("    raise ValueError(x)\nValueError: 42\n" + logfmt_line(3, "next"))
    grown = ingest(lab_path, [str(source)])

    assert statuses(grown) == [(str(source), "grown")]
    assert (grown.sources[0].format, grown.sources[0].rows_replaced) == ("logfmt", 1)
    assert messages_by_line(lab_path) == [
        (1, "started"),
        (
            2,
            'boom\nTraceback (most recent call last):\n  File "job.py", line 9, in run\n'
            "    raise ValueError(x)\nValueError: 42",
        ),
        (7, "next"),
    ]
    assert query(lab_path, "SELECT level FROM logs WHERE line = 2") == [("error",)]


def test_syslog_growth(tmp_path: Path, lab_path: Path) -> None:
    source = tmp_path / "auth.log"
    source.write_text(
        "Dec 10 06:55:46 LabSZ sshd[1]: one\nDec 10 06:55:47 LabSZ sshd[1]: two\n",
        encoding="utf-8",
    )
    options = IngestOptions(year=2026)
    ingest(lab_path, [str(source)], options)
    with source.open("a", encoding="utf-8") as fh:
        fh.write("Dec 10 06:55:48 LabSZ sshd[2]: three\n")

    grown = ingest(lab_path, [str(source)], options)

    assert [(s.status, s.format) for s in grown.sources] == [("grown", "syslog")]
    assert messages_by_line(lab_path) == [(1, "one"), (2, "two"), (3, "three")]


@pytest.mark.parametrize("tz", ["UTC", "Pacific/Kiritimati"])
def test_syslog_growth_across_new_year_keeps_the_year_it_rolled_into(
    tmp_path: Path, lab_path: Path, tz: str
) -> None:
    """--year is the year of the file's first record. The growth reads its last record
    again: that record and the new ones go on from the year it was given (they had all been
    put in --year's, a year early). In a zone 14 hours ahead, the year is the zone's."""
    source = tmp_path / "messages"
    source.write_text(
        "Dec 30 10:00:00 h app[1]: a\nDec 31 10:00:00 h app[1]: b\nJan  1 10:00:00 h app[1]: c\n",
        encoding="utf-8",
    )
    ingest(lab_path, [str(source)], IngestOptions(year=2025, tz=tz))
    with source.open("a", encoding="utf-8") as fh:
        fh.write("Jan  2 10:00:00 h app[1]: d\n")

    grown = ingest(lab_path, [str(source)], IngestOptions(year=2025, tz=tz))

    assert [s.status for s in grown.sources] == ["grown"]
    got = query(
        lab_path,
        "SELECT message, strftime(timezone(?, ts), '%Y-%m-%d') FROM logs ORDER BY line",
        [tz],
    )
    assert got == [
        ("a", "2025-12-30"),
        ("b", "2025-12-31"),
        ("c", "2026-01-01"),
        ("d", "2026-01-02"),
    ]


@pytest.mark.parametrize("reader", ["syslog", "pattern"])
def test_a_year_guessed_from_the_files_date_holds_when_it_grows_a_year_later(
    tmp_path: Path, lab_path: Path, reader: str
) -> None:
    """Without --year the first record's year is guessed from the file's date. The growth,
    a year later by that date, read the last record again and put it and the new lines
    in the next year, beside the earlier lines of the same second."""
    source = tmp_path / "secure"
    source.write_text(
        "Dec 10 06:55:46 LabSZ sshd[24200]: one\nDec 10 06:55:46 LabSZ sshd[24200]: two\n",
        encoding="utf-8",
    )
    options = IngestOptions()
    if reader == "pattern":
        pattern = (
            r"(?P<ts>\w{3} +\d+ [\d:]+) (?P<host>\S+) (?P<service>[^\[]+)\[\d+\]: (?P<msg>.*)"
        )
        options = IngestOptions(pattern=pattern)
    os.utime(source, (0, datetime(2026, 12, 5, 12, tzinfo=UTC).timestamp()))
    ingest(lab_path, [str(source)], options)
    with source.open("a", encoding="utf-8") as fh:
        fh.write("Dec 10 06:55:46 LabSZ sshd[24200]: three\n")
    os.utime(source, (0, datetime(2027, 12, 20, 12, tzinfo=UTC).timestamp()))

    grown = ingest(lab_path, [str(source)], options)

    assert [(s.status, s.format) for s in grown.sources] == [("grown", reader)]
    # 5 December 2026: 10 December is after it, so the year before
    assert query(lab_path, "SELECT message, year(ts) FROM logs ORDER BY line") == [
        ("one", 2025),
        ("two", 2025),
        ("three", 2025),
    ]


def test_an_empty_source_is_the_start_of_nothing(tmp_path: Path, lab_path: Path) -> None:
    """An empty file's ledger row used to match every later file as its growth."""
    empty = tmp_path / "empty.log"
    empty.write_text("", encoding="utf-8")
    x = tmp_path / "x.log"
    x.write_text(logfmt_line(1, "x1") + logfmt_line(2, "x2"), encoding="utf-8")
    y = tmp_path / "y.log"
    y.write_text(logfmt_line(3, "y1"), encoding="utf-8")
    ingest(lab_path, [str(empty)], LOGFMT)

    first = ingest(lab_path, [str(x), str(y)], LOGFMT)
    second = ingest(lab_path, [str(x), str(y), str(empty)], LOGFMT)

    assert statuses(first) == [(str(x), "loaded"), (str(y), "loaded")]
    assert statuses(second)[:2] == [(str(x), "unchanged"), (str(y), "unchanged")]
    # what an empty file itself is called is not the point here; that it claims nothing is
    assert (second.sources[2].status != "failed", second.sources[2].rows_loaded) == (True, 0)
    assert sorted(m for _, m in messages_by_line(lab_path)) == ["x1", "x2", "y1"]


def test_an_empty_json_file_beside_others(tmp_path: Path, lab_path: Path) -> None:
    """Used to fail the whole commit: read_json was handed no columns."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    full = tmp_path / "full.jsonl"
    full.write_text(jsonl([record(1)]), encoding="utf-8")

    summary = ingest(lab_path, [str(empty), str(full)], JSONL)

    assert not summary.failed
    assert [(s.source, s.rows_loaded) for s in summary.sources] == [
        (str(empty), 0),
        (str(full), 1),
    ]
    assert summary.sources[1].status == "loaded"
    assert messages_by_line(lab_path) == [(1, "m1")]


def _change_during_the_next_source(
    target: Path, change: Callable[[Path], None]
) -> Callable[[str, int, int | None], None]:
    """A progress callback that changes ``target`` once another source is being read.

    By then ``target`` has been read; this puts a live writer (or a rotation) between
    that read and the commit.
    """
    done: list[bool] = []

    def progress(source: str, _done: int, _total: int | None) -> None:
        if source != str(target) and not done:
            done.append(True)
            change(target)

    return progress


def test_a_json_file_written_to_during_the_ingest(tmp_path: Path, lab_path: Path) -> None:
    """What was appended after the file was planned, a half line included, waits for the next
    ingest; it used to fail the whole run (read_json met the half line at commit)."""
    live = tmp_path / "live.jsonl"
    live.write_text(jsonl([record(i) for i in range(1, 101)]), encoding="utf-8")
    other = tmp_path / "other.jsonl"
    other.write_text(jsonl([record(0, "other")]), encoding="utf-8")
    tail = jsonl([record(101), record(102), record(103)])

    def append(path: Path) -> None:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(tail[:-20])

    first = ingest(
        lab_path, [str(live), str(other)], progress=_change_during_the_next_source(live, append)
    )
    assert [(s.status, s.rows_loaded) for s in first.sources] == [("loaded", 100), ("loaded", 1)]
    assert messages_by_line(lab_path, live) == [(i, f"m{i}") for i in range(1, 101)]

    with live.open("a", encoding="utf-8") as fh:
        fh.write(tail[-20:])
    ingest(lab_path, [str(live)])

    assert messages_by_line(lab_path, live) == [(i, f"m{i}") for i in range(1, 104)]


def _change_once_planned(
    target: Path, change: Callable[[Path], None]
) -> Callable[[str, int, int | None], None]:
    """A progress callback that changes ``target`` after its plan, before it is read.

    The whole-file reader counts a file's lines and keys (and reports its size, nothing
    done yet) and then reads it again: this puts a rotation between the two.
    """
    done: list[bool] = []

    def progress(source: str, bytes_done: int, total: int | None) -> None:
        if source == str(target) and bytes_done == 0 and total is not None and not done:
            done.append(True)
            change(target)

    return progress


def test_a_json_file_replaced_between_its_plan_and_its_read(
    tmp_path: Path, lab_path: Path
) -> None:
    """The rows read would not be the ones the plan (and so the ledger) describes."""
    live = tmp_path / "live.jsonl"
    live.write_text(jsonl([record(i, f"old {i}") for i in range(1, 101)]), encoding="utf-8")
    other = tmp_path / "other.jsonl"
    other.write_text(jsonl([record(0, "other")]), encoding="utf-8")

    def replace(path: Path) -> None:
        path.write_text(jsonl([record(i, f"new {i}") for i in range(1, 201)]), encoding="utf-8")

    first = ingest(lab_path, [str(live), str(other)], progress=_change_once_planned(live, replace))
    assert [(s.status, s.rows_loaded) for s in first.sources] == [("failed", 0), ("loaded", 1)]
    assert (
        first.sources[0].message == f"{live}: changed while it was being ingested; ingest it again"
    )
    assert messages_by_line(lab_path, live) == []
    assert [r["status"] for r in ledger(lab_path)] == ["failed", "loaded"]

    again = ingest(lab_path, [str(live)])

    assert [(s.status, s.rows_loaded) for s in again.sources] == [("loaded", 200)]
    assert messages_by_line(lab_path, live) == [(i, f"new {i}") for i in range(1, 201)]


def test_a_json_file_replaced_after_it_was_read(tmp_path: Path, lab_path: Path) -> None:
    """Read before the rotation: the old content is what this run loads, under a ledger
    row that describes it; the next run loads the new content as a new generation beside
    it, as for any file truncated and written anew."""
    live = tmp_path / "live.jsonl"
    live.write_text(jsonl([record(i, f"old {i}") for i in range(1, 101)]), encoding="utf-8")
    other = tmp_path / "other.jsonl"
    other.write_text(jsonl([record(0, "other")]), encoding="utf-8")

    def replace(path: Path) -> None:
        path.write_text(jsonl([record(i, f"new {i}") for i in range(1, 201)]), encoding="utf-8")

    first = ingest(
        lab_path, [str(live), str(other)], progress=_change_during_the_next_source(live, replace)
    )
    assert [(s.status, s.rows_loaded) for s in first.sources] == [("loaded", 100), ("loaded", 1)]
    assert messages_by_line(lab_path, live) == [(i, f"old {i}") for i in range(1, 101)]

    again = ingest(lab_path, [str(live)])

    assert [(s.status, s.rows_loaded) for s in again.sources] == [("loaded", 200)]
    assert sorted(messages_by_line(lab_path, live)) == sorted(
        [(i, f"old {i}") for i in range(1, 101)] + [(i, f"new {i}") for i in range(1, 201)]
    )


def test_lines_appended_after_the_plan_of_a_file_with_bad_lines_wait_for_the_next_ingest(
    tmp_path: Path, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole-file reader locates a bad and a blank line, then reads more rows than it
    planned because the file grew: those rows are the appended lines, left for later."""
    live = tmp_path / "live.jsonl"
    lines = [json.dumps(record(i)) for i in range(1, 51)]
    lines[9] = "not json"  # line 10
    lines[19] = ""  # line 20
    live.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tail = jsonl([record(51), record(52)])

    def append(path: Path) -> None:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(tail)

    taken = watch_whole_file_reader(monkeypatch)
    first = ingest(lab_path, [str(live)], progress=_change_once_planned(live, append))
    monkeypatch.undo()
    expected = [(i, f"m{i}") for i in range(1, 51) if i not in (10, 20)]
    assert taken == [True]
    assert [(s.rows_loaded, s.rows_rejected, s.rows_skipped) for s in first.sources] == [
        (48, 1, 1)
    ]
    assert messages_by_line(lab_path, live) == expected

    ingest(lab_path, [str(live)])

    assert messages_by_line(lab_path, live) == [*expected, (51, "m51"), (52, "m52")]
    assert query(lab_path, "SELECT line, reason FROM rejects") == [(10, "not valid JSON")]


def test_a_longer_copy_in_the_same_run_keeps_the_options_given(
    tmp_path: Path, lab_path: Path
) -> None:
    """Taken for the first file grown, the second had been read with no options: as a
    --pattern source it failed for want of a pattern, and --site was lost."""
    lines = ["2026-12-01 00:00:00 INFO started\n", "2026-12-01 00:00:01 INFO listening\n"]
    first = tmp_path / "a.log"
    first.write_text("".join(lines), encoding="utf-8")
    second = tmp_path / "b.log"
    second.write_text("".join(lines) + "2026-12-02 09:00:00 INFO request\n", encoding="utf-8")
    options = IngestOptions(pattern=r"^(?P<ts>\S+ \S+) (?P<level>\w+) (?P<msg>.*)$", site="s1")

    summary = ingest(lab_path, [str(first), str(second)], options)

    assert statuses(summary) == [(str(first), "loaded"), (str(second), "grown")]
    assert summary.sources[1].message is None  # no change of options to speak of
    assert query(lab_path, "SELECT DISTINCT site FROM logs") == [("s1",)]
    assert sorted(m for _, m in messages_by_line(lab_path)) == ["listening", "request", "started"]


def test_a_rejected_line_and_its_stack_trace_are_one_reject_also_when_it_grows(
    tmp_path: Path, lab_path: Path
) -> None:
    """A line --pattern does not match, then its stack trace: one reject naming the lines it
    spans (each frame had been a reject of its own). A frame written after the ingest joins
    it at the next one, and the reject is counted once."""
    source = tmp_path / "app.log"
    source.write_text(
        "2026-12-01 10:00:00 ERROR boom\n  at frame1\ngarbage line here\n  at frame3\n",
        encoding="utf-8",
    )
    options = IngestOptions(pattern=r"^(?P<ts>\S+ \S+) (?P<level>\w+) (?P<msg>.*)$")
    first = ingest(lab_path, [str(source)], options)
    with source.open("a", encoding="utf-8") as fh:
        fh.write("  at frame4\n2026-12-01 10:00:02 INFO ok\n")

    grown = ingest(lab_path, [str(source)], options)

    assert [(s.rows_loaded, s.rows_rejected) for s in first.sources] == [(1, 1)]
    assert [(s.status, s.rows_loaded) for s in grown.sources] == [("grown", 1)]
    rows = query(lab_path, "SELECT line, reason, raw FROM rejects ORDER BY line")
    assert [(line, raw) for line, _, raw in rows] == [(3, "garbage line here")]
    assert rows[0][1].endswith("(the record of lines 3-5)"), rows[0][1]
    assert query(lab_path, "SELECT line, message FROM logs ORDER BY line") == [
        (1, "boom\n  at frame1"),
        (6, "ok"),
    ]


def test_lines_appended_while_a_json_file_is_planned_wait_for_the_next_ingest(
    tmp_path: Path, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer appended lines after the census counted the file's lines and before its end
    was read for the ledger: the ledger took the later end with the earlier count, so the
    next ingest began after those lines (never loaded) and numbered the rest too low."""
    source = tmp_path / "app.jsonl"
    source.write_text(jsonl([record(i) for i in range(1, 6)]), encoding="utf-8")
    census = ingest_module.jsonlines.whole_file_plan

    def census_then_a_writer(con, path):  # type: ignore[no-untyped-def]
        plan = census(con, path)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(jsonl([record(i) for i in range(6, 9)]))
        return plan

    monkeypatch.setattr(ingest_module.jsonlines, "whole_file_plan", census_then_a_writer)
    first = ingest(lab_path, [str(source)], JSONL)
    monkeypatch.undo()
    second = ingest(lab_path, [str(source)], JSONL)

    assert [s.rows_loaded for s in first.sources] == [5]
    # the last record read again (it may have been half written), and the three new ones
    assert [(s.status, s.rows_loaded, s.rows_replaced) for s in second.sources] == [
        ("grown", 4, 1)
    ]
    assert messages_by_line(lab_path) == [(i, f"m{i}") for i in range(1, 9)]


def test_a_file_a_writer_keeps_appending_to_is_read_as_far_as_it_reached(
    tmp_path: Path, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read line by line, a file was read until it stopped growing: with a busy writer the
    ingest ran as long as the writer did. Now it stops where the file ended when it began,
    and the next ingest reads on from there."""
    source = tmp_path / "app.log"
    source.write_text("".join(logfmt_line(i, f"m{i}") for i in range(1, 6)), encoding="utf-8")
    monkeypatch.setattr(ingest_module, "TEXT_BATCH", 1)
    add_records = ingest_module._Staging.add_records
    written = []

    def add_then_write(self, items):  # type: ignore[no-untyped-def]
        add_records(self, items)
        if len(written) < 20:  # a line appended for each record stored, as a busy writer
            second = 6 + len(written)
            with source.open("a", encoding="utf-8") as fh:
                fh.write(logfmt_line(second, f"m{second}"))
            written.append(second)

    monkeypatch.setattr(ingest_module._Staging, "add_records", add_then_write)
    first = ingest(lab_path, [str(source)], LOGFMT)
    monkeypatch.undo()
    second = ingest(lab_path, [str(source)], LOGFMT)

    assert [s.rows_loaded for s in first.sources] == [5]
    last = 5 + len(written)
    # the last record read again, and the new ones
    assert [(s.status, s.rows_loaded, s.rows_replaced) for s in second.sources] == [
        ("grown", last - 5 + 1, 1)
    ]
    assert messages_by_line(lab_path) == [(i, f"m{i}") for i in range(1, last + 1)]


@pytest.mark.parametrize("ending", ["\n", ""])
def test_the_end_of_a_counted_line_is_found_across_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    """Where line N of a file ends and starts, for the ledger of a file that grew while it
    was read, found block by block (blocks of 7 bytes here) as by splitting the whole."""
    monkeypatch.setattr(ingest_module.files, "CHUNK_BYTES", 7)
    monkeypatch.setattr(ingest_module, "TAIL_BYTES", 5)
    texts = ["a", "", "bcdefghijkl", "mn", "opqrstuvwxyz0123", "4"]
    data = ("\n".join(texts) + ending).encode()
    path = tmp_path / "lines.jsonl"
    path.write_bytes(data)
    starts = [0]
    for i, byte in enumerate(data):
        if byte == ord("\n"):
            starts.append(i + 1)

    for n in range(1, len(texts) + 1):
        end = starts[n] if n < len(starts) else len(data)
        assert ingest_module._scan_to_line(path, n) == (
            end,
            data[max(0, end - 5) : end],
            starts[n - 1],
        ), n
