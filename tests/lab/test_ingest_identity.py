"""Which source is which: the lab's own files, empty files, files edited in place or
restarted, options that changed, and forgetting a source to load it afresh."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest

from dvlab.errors import BadInputError
from dvlab.lab import ingest as ingest_module
from dvlab.lab.ingest import IngestOptions, expand_inputs, forget, ingest

THREE = "ts=2026-12-01T10:00:01Z msg=l1\nts=2026-12-01T10:00:02Z msg=l2\nts=2026-12-01T10:00:03Z msg=l3\n"


def messages(lab: Path) -> list[str]:
    con = duckdb.connect(str(lab), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT message FROM logs ORDER BY ts, line").fetchall()]
    finally:
        con.close()


def test_a_folder_never_yields_the_labs_own_files(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text(THREE)
    lab = tmp_path / "lab.duckdb"
    assert ingest(lab, [str(tmp_path)]).total("rows_loaded") == 3
    # the lab, its lock file (and a WAL, if one is left) now sit in the folder
    (tmp_path / "lab.duckdb.wal").write_bytes(b"\x00\x01")
    (tmp_path / "other.duckdb").write_bytes(b"\x00")
    names = sorted(p.name for p in expand_inputs([str(tmp_path)], lab=lab))
    assert names == ["app.log"]
    summary = ingest(lab, [str(tmp_path)])
    assert [s.status for s in summary.sources] == ["unchanged"]
    assert summary.failed == []


def test_an_empty_file_is_empty_not_failed(tmp_path: Path) -> None:
    (tmp_path / "empty.log").write_text("")
    (tmp_path / "blank.log").write_text("\n\n  \n")
    summary = ingest(
        tmp_path / "lab.duckdb", [str(tmp_path / "empty.log"), str(tmp_path / "blank.log")]
    )
    assert [(s.status, s.rows_loaded) for s in summary.sources] == [("empty", 0), ("empty", 0)]
    assert summary.failed == []
    # once it has lines, it loads
    (tmp_path / "empty.log").write_text(THREE)
    assert ingest(tmp_path / "lab.duckdb", [str(tmp_path / "empty.log")]).total("rows_loaded") == 3


def test_a_file_edited_in_place_replaces_its_rows(tmp_path: Path) -> None:
    source = tmp_path / "r.log"
    lab = tmp_path / "lab.duckdb"
    source.write_text(THREE)
    ingest(lab, [str(source)])
    source.write_text(THREE.replace("msg=l3", "msg=l3-edited"))
    summary = ingest(lab, [str(source)])
    assert [(s.status, s.rows_loaded, s.rows_replaced) for s in summary.sources] == [
        ("rewritten", 3, 3)
    ]
    assert messages(lab) == ["l1", "l2", "l3-edited"]
    # and it is then a source like any other: again adds nothing, growth adds its line
    assert [s.status for s in ingest(lab, [str(source)]).sources] == ["unchanged"]
    with source.open("a") as fh:
        fh.write("ts=2026-12-01T10:00:04Z msg=l4\n")
    ingest(lab, [str(source)])
    assert messages(lab) == ["l1", "l2", "l3-edited", "l4"]


def test_a_file_restarted_with_new_content_keeps_the_old_rows(tmp_path: Path) -> None:
    # rotation by copy-and-truncate: the old lines are history, the new ones come on top
    source = tmp_path / "r.log"
    lab = tmp_path / "lab.duckdb"
    source.write_text(THREE)
    ingest(lab, [str(source)])
    source.write_text("ts=2026-12-01T11:00:00Z msg=after-rotation\n")
    summary = ingest(lab, [str(source)])
    assert [s.status for s in summary.sources] == ["loaded"]
    assert messages(lab) == ["l1", "l2", "l3", "after-rotation"]


BANNER = "### app log, format 1 ###\n"


def banner_log(hour: int, count: int) -> str:
    """A log that opens with a fixed banner line (not a record) before ``count`` records."""
    return BANNER + "".join(
        f"ts=2026-12-01T{hour:02d}:00:{i:02d}Z msg=h{hour}-{i}\n" for i in range(count)
    )


def old_and_new(count_old: int, count_new: int) -> list[str]:
    return [f"h10-{i}" for i in range(count_old)] + [f"h11-{i}" for i in range(count_new)]


def test_a_rotated_log_with_a_banner_keeps_its_old_rows_read_from_its_folder(
    tmp_path: Path,
) -> None:
    """Rotation by rename: the old file moves to app.log.1 and a new app.log opens with
    the same banner. Both are read; the old rows stay, found under their new name."""
    logs = tmp_path / "logs"
    logs.mkdir()
    lab = tmp_path / "lab.duckdb"
    (logs / "app.log").write_text(banner_log(10, 20))
    ingest(lab, [str(logs)])
    (logs / "app.log").rename(logs / "app.log.1")
    (logs / "app.log").write_text(banner_log(11, 5))
    summary = ingest(lab, [str(logs)])
    assert [(s.source, s.status, s.rows_loaded, s.rows_replaced) for s in summary.sources] == [
        (str(logs / "app.log"), "loaded", 5, 0),
        (str(logs / "app.log.1"), "unchanged", 0, 0),
    ]
    assert messages(lab) == old_and_new(20, 5)


def test_a_log_renamed_away_is_not_taken_for_an_edit_of_the_file_now_at_its_path(
    tmp_path: Path,
) -> None:
    """Two banner lines, so the new file starts exactly as the old one did: what tells
    rotation from an edit is the old content, read in the same run under its new name."""
    logs = tmp_path / "logs"
    logs.mkdir()
    lab = tmp_path / "lab.duckdb"
    logfmt = IngestOptions(format="logfmt")
    (logs / "app.log").write_text(BANNER + banner_log(10, 20))
    ingest(lab, [str(logs)], logfmt)
    (logs / "app.log").rename(logs / "app.log.1")
    (logs / "app.log").write_text(BANNER + banner_log(11, 5))
    summary = ingest(lab, [str(logs / "app.log"), str(logs / "app.log.1")], logfmt)
    assert [(s.status, s.rows_loaded, s.rows_replaced) for s in summary.sources] == [
        ("loaded", 5, 0),
        ("unchanged", 0, 0),
    ]
    assert messages(lab) == old_and_new(20, 5)


@pytest.mark.parametrize("rotation", ["rename", "copy-and-truncate"])
def test_a_log_seen_under_its_rotated_name_by_an_earlier_run_is_not_taken_for_an_edit(
    tmp_path: Path, rotation: str
) -> None:
    """The rotated copy is read in one run (found unchanged), the new file under the old
    name, starting just as the old one did, in a later run on its own: new content."""
    logs = tmp_path / "logs"
    logs.mkdir()
    lab = tmp_path / "lab.duckdb"
    logfmt = IngestOptions(format="logfmt")
    live, rotated = logs / "app.log", logs / "app.log.1"
    live.write_text(BANNER + banner_log(10, 20))
    ingest(lab, [str(logs)], logfmt)
    if rotation == "rename":
        live.rename(rotated)
        ingest(lab, [str(rotated)], logfmt)
    else:
        rotated.write_bytes(live.read_bytes())
        live.write_text("")
        ingest(lab, [str(logs)], logfmt)
    live.write_text(BANNER + banner_log(11, 5))
    (report,) = ingest(lab, [str(live)], logfmt).sources
    assert (report.status, report.rows_loaded, report.rows_replaced) == ("loaded", 5, 0)
    assert messages(lab) == old_and_new(20, 5)


@pytest.mark.parametrize("rotation", ["rename", "copy-and-truncate"])
def test_a_rotated_log_with_a_banner_read_alone_keeps_its_old_rows(
    tmp_path: Path, rotation: str
) -> None:
    """Only the new file is read: its first record, not its banner, tells it from the
    file it replaced, so it is new content beside the old."""
    source = tmp_path / "app.log"
    lab = tmp_path / "lab.duckdb"
    source.write_text(banner_log(10, 20))
    ingest(lab, [str(source)])
    if rotation == "rename":
        source.rename(tmp_path / "app.log.1")
    source.write_text(banner_log(11, 5))
    (report,) = ingest(lab, [str(source)]).sources
    assert (report.status, report.rows_loaded, report.rows_replaced) == ("loaded", 5, 0)
    assert messages(lab) == old_and_new(20, 5)


@pytest.mark.parametrize("kept", ["renamed", "compressed"])
def test_a_log_starting_as_the_one_rotated_beside_it_read_alone_keeps_the_old_rows(
    tmp_path: Path, kept: str
) -> None:
    """Two banner lines, and only the new file read: the rotated file beside it holds the
    old content, so the new one is new content. It had been taken for an edit, and the
    old rows replaced."""
    lab = tmp_path / "lab.duckdb"
    logfmt = IngestOptions(format="logfmt")
    live = tmp_path / "app.log"
    live.write_text(BANNER + banner_log(10, 20))
    (tmp_path / "other.log").write_text(BANNER + banner_log(9, 3))  # not it
    ingest(lab, [str(live)], logfmt)
    rotated = tmp_path / "app.log.1"
    live.rename(rotated)
    if kept == "compressed":
        with gzip.open(tmp_path / "app.log.1.gz", "wb") as out:
            out.write(rotated.read_bytes())
        rotated.unlink()
    live.write_text(BANNER + banner_log(11, 5))
    (report,) = ingest(lab, [str(live)], logfmt).sources
    assert (report.status, report.rows_loaded, report.rows_replaced) == ("loaded", 5, 0)
    assert messages(lab) == old_and_new(20, 5)


def test_files_named_as_the_log_are_looked_at_first_among_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder holds more files than are looked at: its rotated copy is among them (the
    others are no rotation of it by their names)."""
    monkeypatch.setattr(ingest_module, "BESIDE_MAX", 1)
    lab = tmp_path / "lab.duckdb"
    logfmt = IngestOptions(format="logfmt")
    live = tmp_path / "app.log"
    live.write_text(BANNER + banner_log(10, 20))
    ingest(lab, [str(live)], logfmt)
    for name in ("aaa.log", "abc.log"):  # sorted before the rotated copy
        (tmp_path / name).write_text(BANNER + banner_log(9, 1))
    live.rename(tmp_path / "app.log.1")
    live.write_text(BANNER + banner_log(11, 5))

    (report,) = ingest(lab, [str(live)], logfmt).sources

    assert (report.status, report.rows_loaded, report.rows_replaced) == ("loaded", 5, 0)


@pytest.mark.parametrize("backup", ["app.log.bak", "app.log~", "app.log.orig", "old-app.txt"])
def test_an_edit_in_place_with_a_backup_beside_it_replaces_its_rows(
    tmp_path: Path, backup: str
) -> None:
    """The backup holds the old content, as a rotated copy would: it had been taken for
    one, and the rows doubled (one, one, two, two, three, THREE fixed)."""
    source = tmp_path / "app.log"
    lab = tmp_path / "lab.duckdb"
    source.write_text(banner_log(10, 4))
    ingest(lab, [str(source)])
    (tmp_path / backup).write_bytes(source.read_bytes())
    source.write_text(banner_log(10, 4).replace("msg=h10-2", "msg=fixed"))

    (report,) = ingest(lab, [str(source)]).sources

    assert (report.status, report.rows_loaded, report.rows_replaced) == ("rewritten", 4, 4)
    assert messages(lab) == ["h10-0", "h10-1", "fixed", "h10-3"]


def test_a_log_with_a_banner_edited_in_place_replaces_its_rows(tmp_path: Path) -> None:
    source = tmp_path / "app.log"
    lab = tmp_path / "lab.duckdb"
    source.write_text(banner_log(10, 4))
    # a file beside it that starts as it does, but holds other content
    (tmp_path / "app.log.1").write_text(banner_log(10, 2))
    ingest(lab, [str(source)])
    source.write_text(banner_log(10, 4).replace("msg=h10-2", "msg=edited"))
    (report,) = ingest(lab, [str(source)]).sources
    assert (report.status, report.rows_loaded, report.rows_replaced) == ("rewritten", 4, 4)
    assert messages(lab) == ["h10-0", "h10-1", "edited", "h10-3"]


def test_files_read_under_the_same_relative_name_from_two_folders_are_two_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-host exports, each ingested from its own folder as ``app.log``: both stay, each
    under its full path, and forgetting one (by its relative name) keeps the other."""
    lab = tmp_path / "lab.duckdb"
    for host in ("hostA", "hostB"):
        folder = tmp_path / host
        folder.mkdir()
        # the same first two lines: the second host's file is not an edit of the first's
        (folder / "app.log").write_text(THREE + f"ts=2026-12-01T10:00:09Z msg={host}\n")
    for host in ("hostA", "hostB"):
        monkeypatch.chdir(tmp_path / host)
        (report,) = ingest(lab, ["app.log"]).sources
        assert (report.source, report.status) == (str(tmp_path / host / "app.log"), "loaded")
    assert sorted(messages(lab)) == sorted(["l1", "l2", "l3", "hostA", "l1", "l2", "l3", "hostB"])
    monkeypatch.chdir(tmp_path / "hostA")
    (gone,) = forget(lab, ["./app.log"])
    assert (gone.source, gone.rows) == (str(tmp_path / "hostA" / "app.log"), 4)
    assert messages(lab) == ["l1", "l2", "l3", "hostB"]


def test_changed_options_are_reported_not_silently_dropped(tmp_path: Path) -> None:
    source = tmp_path / "n.log"
    source.write_text('ts="2026-12-01 10:00:00" msg=a\n')
    lab = tmp_path / "lab.duckdb"
    ingest(lab, [str(source)])
    summary = ingest(lab, [str(source)], IngestOptions(tz="Europe/Oslo", site="osl1"))
    (report,) = summary.sources
    assert report.status == "unchanged"
    assert report.message is not None
    assert "--tz UTC" in report.message and "--tz Europe/Oslo" in report.message
    assert "--site osl1" in report.message and "dvlab forget" in report.message


def test_a_copy_given_other_options_says_which_file_its_content_was_loaded_as(
    tmp_path: Path,
) -> None:
    """The copy itself was never loaded: the message had said it was ("p2.log: loaded
    before with other options")."""
    source = tmp_path / "p.log"
    source.write_text('ts="2026-12-01 10:00:00" msg=a\n')
    copy = tmp_path / "p2.log"
    copy.write_bytes(source.read_bytes())
    lab = tmp_path / "lab.duckdb"
    ingest(lab, [str(source)])

    (report,) = ingest(lab, [str(copy)], IngestOptions(site="osl1")).sources
    (again,) = ingest(lab, [str(source)], IngestOptions(site="osl1")).sources

    assert (report.source, report.status) == (str(copy), "unchanged")
    assert report.message is not None
    assert report.message.startswith(f"loaded before as {source} with other options")
    assert again.message is not None and again.message.startswith("loaded before with other")


def test_forget_then_load_again_with_new_options(tmp_path: Path) -> None:
    source = tmp_path / "n.log"
    source.write_text('ts="2026-12-01 10:00:00" msg=a\nnot a logfmt line at all\n')
    lab = tmp_path / "lab.duckdb"
    ingest(lab, [str(source)], IngestOptions(format="logfmt"))
    (report,) = forget(lab, [str(source)])
    assert (report.rows, report.rejects) == (1, 1)
    ingest(lab, [str(source)], IngestOptions(format="logfmt", tz="Europe/Oslo", site="osl1"))
    con = duckdb.connect(str(lab), read_only=True)
    rows = con.execute(
        "SELECT site, strftime(ts AT TIME ZONE 'UTC', '%H:%M') FROM logs"
    ).fetchall()
    statuses = sorted(r[0] for r in con.execute("SELECT status FROM ingests").fetchall())
    con.close()
    # 10:00 in Oslo in December is 09:00 UTC
    assert rows == [("osl1", "09:00")]
    assert statuses == ["forgotten", "loaded"]
    with pytest.raises(BadInputError, match="not in the lab's ledger"):
        forget(lab, [str(tmp_path / "never.log")])


def test_cli_forget_and_option_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dvlab.cli import main

    source = tmp_path / "n.log"
    source.write_text('ts="2026-12-01 10:00:00" msg=a\n')
    db = str(tmp_path / "lab.duckdb")
    assert main(["--db", db, "ingest", str(source)]) == 0
    capsys.readouterr()
    assert main(["--db", db, "ingest", str(source), "--tz", "Europe/Oslo"]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"dvlab: {source}: loaded before with other options")
    assert main(["--db", db, "forget", str(source)]) == 0
    assert (
        capsys.readouterr().out
        == f"{source}: removed 1 rows and 0 rejects (2 ledger rows marked forgotten)\n"
    )
    assert main(["--db", db, "ingest", str(source), "--tz", "Europe/Oslo"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["--db", db, "forget", str(tmp_path / "other.log")]) == 2
    assert "not in the lab's ledger" in capsys.readouterr().err


def load_then_grow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], line: str
) -> tuple[str, Path, str]:
    """A logfmt file of one line loaded with ``options``, then grown by a line (``line``: its
    clock and fields on 2026-12-01) and loaded again without them: (lab, file, stderr)."""
    from dvlab.cli import main

    source = tmp_path / "n.log"
    source.write_text('ts="2026-12-01 10:00:00" msg=a\n')
    db = str(tmp_path / "lab.duckdb")
    assert main(["--db", db, "ingest", str(source), *options]) == 0
    capsys.readouterr()
    clock, fields = line.split(" ", 1)
    with source.open("a") as fh:
        fh.write(f'ts="2026-12-01 {clock}" {fields}\n')
    assert main(["--db", db, "ingest", str(source)]) == 0
    return db, source, capsys.readouterr().err


def test_an_option_left_out_later_is_kept_without_a_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Left out is not asked to change: the source goes on with what it keeps, and says
    nothing (it had said "loaded before with other options (--site osl1; now none)")."""
    db, _source, err = load_then_grow(tmp_path, capsys, ["--site", "osl1"], "10:00:01 msg=b")
    assert err == ""
    con = duckdb.connect(db, read_only=True)
    try:
        assert con.execute("SELECT message, site FROM logs ORDER BY line").fetchall() == [
            ("a", "osl1"),
            ("b", "osl1"),
        ]
    finally:
        con.close()


def test_a_zone_left_out_later_is_kept_without_a_word_and_utc_given_is_a_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--tz left out is not --tz UTC: the source goes on in its zone and says nothing (it
    had said "loaded before with other options (--tz Europe/Oslo; now --tz UTC)")."""
    from dvlab.cli import main

    db, source, err = load_then_grow(tmp_path, capsys, ["--tz", "Europe/Oslo"], "11:00:00 msg=b")
    assert err == ""
    with source.open("a") as fh:
        fh.write('ts="2026-12-01 12:00:00" msg=c\n')
    assert main(["--db", db, "ingest", str(source), "--tz", "UTC"]) == 0
    err = capsys.readouterr().err
    assert "(--tz Europe/Oslo; now --tz UTC)" in err
    con = duckdb.connect(db, read_only=True)
    try:
        rows = con.execute(
            "SELECT message, strftime(ts AT TIME ZONE 'UTC', '%H:%M') FROM logs ORDER BY line"
        ).fetchall()
    finally:
        con.close()
    # Oslo is an hour ahead of UTC in December, for every line the source holds
    assert rows == [("a", "09:00"), ("b", "10:00"), ("c", "11:00")]


def test_forget_takes_the_whole_lineage_of_a_renamed_and_grown_file(tmp_path: Path) -> None:
    lab = tmp_path / "lab.duckdb"
    first = tmp_path / "app.log"
    first.write_text(THREE)
    ingest(lab, [str(first)])
    rotated = tmp_path / "app.log.1"
    first.rename(rotated)
    with rotated.open("a") as fh:
        fh.write("ts=2026-12-01T10:00:04Z msg=l4\n")
    ingest(lab, [str(rotated)])  # recognised as app.log grown: only l4 (and the re-read l3)
    (report,) = forget(lab, [str(rotated)])
    assert report.rows == 4
    summary = ingest(lab, [str(rotated)], IngestOptions(site="new"))
    assert [(s.status, s.rows_loaded, s.message) for s in summary.sources] == [("loaded", 4, None)]
    con = duckdb.connect(str(lab), read_only=True)
    rows = con.execute("SELECT site, source, message FROM logs ORDER BY ts").fetchall()
    con.close()
    assert rows == [("new", str(rotated), m) for m in ("l1", "l2", "l3", "l4")]


def test_forget_a_rotated_log_takes_only_what_the_file_holds_now(tmp_path: Path) -> None:
    """The old content, rotated into app.log.1, had gone too; rotated again and again out
    of the folder, it could not be loaded back."""
    lab = tmp_path / "lab.duckdb"
    live = tmp_path / "app.log"
    live.write_text(banner_log(10, 5))
    ingest(lab, [str(tmp_path)])
    live.rename(tmp_path / "app.log.1")
    live.write_text(banner_log(11, 5))
    ingest(lab, [str(tmp_path)])

    (report,) = forget(lab, [str(live)])

    assert report.rows == 5
    assert messages(lab) == [f"h10-{i}" for i in range(5)]
    # the file's content loads afresh; the rotated copy is still known
    summary = ingest(lab, [str(tmp_path)])
    assert sorted((Path(s.source).name, s.status) for s in summary.sources) == [
        ("app.log", "loaded"),
        ("app.log.1", "unchanged"),
    ]
    assert messages(lab) == old_and_new(5, 5)


def test_a_grown_file_keeps_the_options_it_was_first_loaded_with(tmp_path: Path) -> None:
    source = tmp_path / "g.log"
    source.write_text('ts="2026-11-30 10:00:00" msg=g1\n')
    lab = tmp_path / "lab.duckdb"
    ingest(lab, [str(source)], IngestOptions(tz="Europe/Oslo", site="osl1"))
    with source.open("a") as fh:
        fh.write('ts="2026-11-30 10:00:05" msg=g2\n')
    other = tmp_path / "h.log"
    other.write_text('ts="2026-11-30 10:00:00" msg=h\n')
    summary = ingest(lab, [str(source), str(other)], IngestOptions(tz="Asia/Tokyo", site="sto1"))
    assert [s.status for s in summary.sources] == ["grown", "loaded"]
    assert "keeps the old ones" in (summary.sources[0].message or "")
    con = duckdb.connect(str(lab), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(
        "SELECT message, site, strftime(ts, '%H:%M:%S') FROM logs ORDER BY message"
    ).fetchall()
    con.close()
    # Oslo is UTC+1 in November, Tokyo UTC+9; g2 follows g1's options, h takes this run's
    assert rows == [
        ("g1", "osl1", "09:00:00"),
        ("g2", "osl1", "09:00:05"),
        ("h", "sto1", "01:00:00"),
    ]


def test_progress_is_reported_per_source_up_to_its_size(tmp_path: Path) -> None:
    text = tmp_path / "a.log"
    text.write_text(THREE * 50)
    js = tmp_path / "b.jsonl"
    js.write_text('{"ts":"2026-12-01T10:00:00Z","msg":"x"}\n' * 100)
    seen: dict[str, list[tuple[int, int | None]]] = {}

    def progress(source: str, done: int, total: int | None) -> None:
        seen.setdefault(source, []).append((done, total))

    ingest(tmp_path / "lab.duckdb", [str(text), str(js)], progress=progress)
    assert set(seen) == {str(text), str(js)}
    for path in (text, js):
        calls = seen[str(path)]
        size = path.stat().st_size
        assert calls[-1] == (size, size)  # ends at the whole file
        done = [d for d, _ in calls]
        assert done == sorted(done)  # never goes backwards


def test_a_rejected_record_of_several_lines_says_which_lines_it_took(tmp_path: Path) -> None:
    """A trace with no record before it: its first line starts a record under a loose
    pattern, whose time is refused; the reject names every line the record took."""
    source = tmp_path / "t.log"
    source.write_text(
        "Traceback (most recent call last):\n"
        '  File "job.py", line 3, in <module>\n'
        "ValueError: boom\n"
        "2026-01-01 10:00:01 ERROR after\n"
    )
    lab = tmp_path / "lab.duckdb"
    options = IngestOptions(pattern=r"^(?P<ts>\S+ \S+) (?P<level>\w+) (?P<msg>.*)$")
    (report,) = ingest(lab, [str(source)], options).sources
    assert (report.rows_loaded, report.rows_rejected) == (1, 1)
    con = duckdb.connect(str(lab), read_only=True)
    try:
        assert con.execute("SELECT line, reason, raw FROM rejects").fetchall() == [
            (
                1,
                'unparseable time "Traceback (most" (the record of lines 1-3)',
                "Traceback (most recent call last):",
            )
        ]
    finally:
        con.close()


def test_forget_takes_a_file_by_a_link_to_it(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    source = logs / "x.log"
    source.write_text(THREE)
    lab = tmp_path / "lab.duckdb"
    ingest(lab, [str(source)])
    (tmp_path / "link.log").symlink_to(source)
    (tmp_path / "ld").symlink_to(logs)
    (gone,) = forget(lab, [str(tmp_path / "ld" / "x.log")])
    assert (gone.source, gone.rows) == (str(source), 3)
    ingest(lab, [str(source)])
    (gone,) = forget(lab, [str(tmp_path / "link.log")])
    assert (gone.source, gone.rows) == (str(source), 3)
    assert messages(lab) == []
