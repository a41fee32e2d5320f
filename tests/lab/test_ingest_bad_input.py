"""Bad lines become rejects; unreadable sources fail alone; --strict writes nothing."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from dvlab.errors import BadInputError
from dvlab.lab import ingest as ingest_module
from dvlab.lab.ingest import IngestOptions, forget, ingest
from tests.conftest import unavailable

from .ingest_support import (
    force_chunk_reader,
    jsonl,
    ledger,
    messages_by_line,
    query,
    record,
    run_cli,
    table_counts,
    watch_whole_file_reader,
)

JSONL = IngestOptions(format="jsonl")

# one bad line of each kind between good ones; line numbers are the list positions + 1
MALFORMED = '{"time": "2026-05-01T12:00:02Z", "msg": "cut'
NOT_OBJECT = '["an", "array"]'
NO_TIME = '{"level": "info", "msg": "no time here"}'
BAD_TIME = '{"time": "half past nine", "msg": "bad time"}'
LONG_BAD = '{"time": "2026-05-01T12:00:07Z", "msg": "' + "x" * 5000  # 5 KB, unterminated
MIXED_LINES = [
    json.dumps(record(1)),
    MALFORMED,
    NOT_OBJECT,
    NO_TIME,
    BAD_TIME,
    json.dumps(record(6)),
    LONG_BAD,
    json.dumps(record(8)),
]


def write_mixed(folder: Path) -> Path:
    path = folder / "mixed.jsonl"
    path.write_text("\n".join(MIXED_LINES) + "\n", encoding="utf-8")
    return path


def test_each_bad_line_is_a_reject_with_line_reason_and_excerpt(
    tmp_path: Path, lab_path: Path
) -> None:
    source = write_mixed(tmp_path)

    summary = ingest(lab_path, [str(source)], JSONL)

    assert [(s.status, s.rows_loaded, s.rows_rejected) for s in summary.sources] == [
        ("loaded", 3, 5)
    ]
    assert messages_by_line(lab_path) == [(1, "m1"), (6, "m6"), (8, "m8")]
    rejects = query(lab_path, "SELECT line, reason, raw, source FROM rejects ORDER BY line")
    assert [r[0] for r in rejects] == [2, 3, 4, 5, 7]
    assert {r[3] for r in rejects} == {str(source)}
    by_line = {r[0]: (r[1], r[2]) for r in rejects}
    assert by_line[2] == ("not valid JSON", MALFORMED)
    assert by_line[3] == ("a JSON line must be an object, not an array", NOT_OBJECT)
    assert by_line[4] == ("no time: the record has no time field", NO_TIME)
    assert by_line[5] == ('unparseable time "half past nine"', BAD_TIME)
    assert by_line[7][0] == "not valid JSON"
    assert by_line[7][1] == LONG_BAD[:1024]  # the excerpt stops at 1 KiB


def test_time_rejects_through_the_whole_file_reader(
    tmp_path: Path, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every line a JSON object: read_json reads it, and the lab still rejects what has no time."""
    long_no_time = json.dumps({"msg": "y" * 5000, "level": "warn"})
    lines = [
        json.dumps(record(1)),
        NO_TIME,
        json.dumps(record(3)),
        BAD_TIME,
        long_no_time,
        json.dumps(record(6)),
    ]
    source = tmp_path / "objects.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    taken = watch_whole_file_reader(monkeypatch)

    summary = ingest(lab_path, [str(source)], JSONL)

    assert taken == [True]
    assert (summary.total("rows_loaded"), summary.total("rows_rejected")) == (3, 3)
    assert messages_by_line(lab_path) == [(1, "m1"), (3, "m3"), (6, "m6")]
    rejects = query(lab_path, "SELECT line, reason, raw FROM rejects ORDER BY line")
    assert rejects == [
        (2, "no time: the record has no time field", NO_TIME),
        (4, 'unparseable time "half past nine"', BAD_TIME),
        (5, "no time: the record has no time field", long_no_time[:1024]),
    ]
    assert ledger(lab_path)[0]["rows_rejected"] == 3


def test_parse_rejects_that_all_quote_their_line(tmp_path: Path, lab_path: Path) -> None:
    """Rejects that already carry their text (no time-less record among them) used to crash."""
    source = tmp_path / "cut.jsonl"
    source.write_text(jsonl([record(1), record(2)]) + MALFORMED + "\n", encoding="utf-8")

    summary = ingest(lab_path, [str(source)], JSONL)

    assert (summary.total("rows_loaded"), summary.total("rows_rejected")) == (2, 1)
    assert query(lab_path, "SELECT line, reason, raw FROM rejects") == [
        (3, "not valid JSON", MALFORMED)
    ]


# --------------------------------------------------------------------------- --strict


def test_strict_fails_naming_file_and_line_and_writes_nothing_to_a_new_lab(
    tmp_path: Path, lab_path: Path
) -> None:
    source = write_mixed(tmp_path)

    with pytest.raises(BadInputError) as caught:
        ingest(lab_path, [str(source)], IngestOptions(format="jsonl", strict=True))

    assert str(caught.value).startswith(f"{source}:2: ")
    assert (caught.value.source, caught.value.line) == (str(source), 2)
    assert table_counts(lab_path) == {"logs": 0, "rejects": 0, "ingests": 0}


@pytest.mark.parametrize(
    ("bad_line", "reader"),
    [("not-object", "whole-file"), ("not-object", "chunk"), ("no-time", "whole-file")],
)
def test_strict_leaves_an_existing_lab_as_it_was(
    tmp_path: Path, lab_path: Path, bad_line: str, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "first.jsonl"
    first.write_text(jsonl([record(1), record(2)]), encoding="utf-8")
    ingest(lab_path, [str(first)], JSONL)
    before = table_counts(lab_path)
    bad = tmp_path / "bad.jsonl"
    if bad_line == "not-object":
        bad.write_text(jsonl([record(10)]) + NOT_OBJECT + "\n", encoding="utf-8")
        expected_line = 2
    else:  # every line an object, one without a time
        bad.write_text(jsonl([record(10), record(11)]) + NO_TIME + "\n", encoding="utf-8")
        expected_line = 3
    good = tmp_path / "good.jsonl"
    good.write_text(jsonl([record(20)]), encoding="utf-8")
    if reader == "chunk":
        force_chunk_reader(monkeypatch)
        taken = None
    else:
        taken = watch_whole_file_reader(monkeypatch)

    with pytest.raises(BadInputError) as caught:
        ingest(lab_path, [str(good), str(bad)], IngestOptions(format="jsonl", strict=True))

    assert taken in (None, [True, True])
    assert str(caught.value).startswith(f"{bad}:{expected_line}: --strict")
    assert table_counts(lab_path) == before == {"logs": 2, "rejects": 0, "ingests": 1}


def test_strict_with_a_failed_source_writes_nothing(tmp_path: Path, lab_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(jsonl([record(1)]), encoding="utf-8")
    missing = tmp_path / "missing.jsonl"

    with pytest.raises(BadInputError, match=r"missing\.jsonl: no such file"):
        ingest(lab_path, [str(good), str(missing)], IngestOptions(strict=True))

    assert table_counts(lab_path) == {"logs": 0, "rejects": 0, "ingests": 0}


def test_cli_strict_exits_2_with_file_and_line(
    tmp_path: Path, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_mixed(tmp_path)

    code, out, err = run_cli(
        capsys, "--db", str(lab_path), "ingest", "--format", "jsonl", "--strict", str(source)
    )

    assert code == 2
    assert out == ""
    assert err.splitlines() == [err.strip()]  # one line
    assert err.startswith(f"dvlab: {source}:2: --strict: 5 line(s) rejected, nothing written")
    assert table_counts(lab_path) == {"logs": 0, "rejects": 0, "ingests": 0}


def test_cli_strict_with_json_prints_the_failure_as_json(
    tmp_path: Path, lab_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A script that asked for JSON had got nothing on stdout when the run failed."""
    source = write_mixed(tmp_path)

    code, out, err = run_cli(
        capsys,
        "--db",
        str(lab_path),
        "ingest",
        "--format",
        "jsonl",
        "--strict",
        "--json",
        str(source),
    )

    assert code == 2
    printed = json.loads(out)
    assert printed == {"error": err.strip().removeprefix("dvlab: "), "exit_code": 2}
    assert printed["error"].startswith(f"{source}:2: --strict: 5 line(s) rejected")


def test_cli_a_wrong_command_line_with_json_is_said_as_json_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command line's own errors (argparse's) had printed nothing on stdout."""
    with pytest.raises(SystemExit) as stopped:
        run_cli(capsys, "ingest", "--json", str(tmp_path / "x.log"), "--format", "nosuch")
    out, err = capsys.readouterr()

    assert stopped.value.code == 2
    assert json.loads(out) == {
        "error": err.strip().splitlines()[-1].split(": error: ", 1)[1],
        "exit_code": 2,
    }
    assert "invalid choice: 'nosuch'" in out and err.startswith("usage: dvlab ingest")


# --------------------------------------------------------------------------- unreadable sources


def _many_records() -> bytes:
    # enough text that half a compressed copy still holds more than the 4 KiB head
    return jsonl([record(i % 3600, "z" * 60) for i in range(3000)]).encode()


@pytest.fixture
def broken_sources(tmp_path: Path) -> dict[str, Path]:
    data = _many_records()
    folder = tmp_path / "in"
    folder.mkdir()
    whole = gzip.compress(data)
    truncated = folder / "truncated.jsonl.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    packed = bytearray(zstandard.ZstdCompressor().compress(data))
    middle = len(packed) // 2
    packed[middle : middle + 64] = bytes(b ^ 0xFF for b in packed[middle : middle + 64])
    corrupt = folder / "corrupt.jsonl.zst"
    corrupt.write_bytes(bytes(packed))
    binary = folder / "binary.jsonl"
    # an executable's start: a header of control bytes, and NULs between them
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(1, 32)) * 8 + b"\n")
    fifo = folder / "fifo.jsonl"
    os.mkfifo(fifo)
    return {
        "truncated": truncated,
        "corrupt": corrupt,
        "binary": binary,
        "fifo": fifo,
        "missing": folder / "missing.jsonl",
    }


EXPECTED_REASON = {
    "truncated": "compressed data ends early (truncated file?)",
    "corrupt": "corrupt zstd data",
    "binary": "looks binary",
    "fifo": "is not a regular file",
    "missing": "no such file",
}


def test_each_unreadable_source_fails_alone(
    tmp_path: Path, lab_path: Path, broken_sources: dict[str, Path]
) -> None:
    before = tmp_path / "before.jsonl"
    before.write_text(jsonl([record(1), record(2)]), encoding="utf-8")
    after = tmp_path / "after.log"
    after.write_text("time=2026-05-01T12:00:03Z level=warn msg=m3\n", encoding="utf-8")
    # the FIFO is left to the subprocess test below: should opening it block again, a
    # timeout ends that test, where here it would hang the whole run
    kinds = [kind for kind in broken_sources if kind != "fifo"]
    paths = [before, *(broken_sources[k] for k in kinds), after]

    summary = ingest(lab_path, [str(p) for p in paths])

    statuses = {s.source: (s.status, s.message) for s in summary.sources}
    assert statuses[str(before)] == ("loaded", None)
    assert statuses[str(after)] == ("loaded", None)
    for kind in kinds:
        path = str(broken_sources[kind])
        status, message = statuses[path]
        assert status == "failed"
        assert message is not None
        assert message.startswith(f"{path}: {EXPECTED_REASON[kind]}")
    assert [(s.source, s.status) for s in summary.failed] == [
        (str(broken_sources[k]), "failed") for k in kinds
    ]
    # the good sources around them are in; nothing of the broken ones is
    assert sorted(query(lab_path, "SELECT message FROM logs")) == [("m1",), ("m2",), ("m3",)]
    assert query(lab_path, "SELECT count(*) FROM rejects") == [(0,)]
    rows = {r["source"]: r for r in ledger(lab_path)}
    for kind in kinds:
        row = rows[str(broken_sources[kind])]
        assert (row["status"], row["rows_loaded"], row["generation"]) == ("failed", 0, None)
        assert EXPECTED_REASON[kind] in row["message"]


def test_cli_exits_2_with_one_line_per_failed_source(
    tmp_path: Path, lab_path: Path, broken_sources: dict[str, Path]
) -> None:
    """A real process: the exit status, and stderr naming each file (the FIFO must not hang)."""
    good = tmp_path / "good.jsonl"
    good.write_text(jsonl([record(1)]), encoding="utf-8")
    paths = [str(good), *(str(p) for p in broken_sources.values())]

    result = subprocess.run(
        [sys.executable, "-m", "dvlab.cli", "--db", str(lab_path), "ingest", *paths],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == len(broken_sources)
    for line, (kind, path) in zip(lines, broken_sources.items(), strict=True):
        assert line.startswith(f"dvlab: {path}: {EXPECTED_REASON[kind]}")
    assert ", 1 loaded, 0 rejected," in result.stdout
    assert f"{len(broken_sources)} failed" in result.stdout
    assert query(lab_path, "SELECT message FROM logs") == [("m1",)]


def test_unreadable_file(tmp_path: Path) -> None:
    """chmod 000. Root reads such a file anyway (tests run as root here), so as root the
    ingest runs under setpriv without the two capabilities that bypass file permissions."""
    folder = tmp_path / "perm"
    folder.mkdir()
    lab = folder / "lab.duckdb"
    good = folder / "good.jsonl"
    good.write_text(jsonl([record(1)]), encoding="utf-8")
    secret = folder / "secret.jsonl"
    secret.write_text(jsonl([record(2)]), encoding="utf-8")
    secret.chmod(0)
    command = [
        sys.executable,
        "-m",
        "dvlab.cli",
        "--db",
        str(lab),
        "ingest",
        str(good),
        str(secret),
    ]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            unavailable(
                "running as root, and no setpriv (util-linux) to drop the capabilities that "
                "bypass chmod"
            )
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *command]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    finally:
        secret.chmod(0o600)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"dvlab: {secret}: permission denied (cannot read the file)"
    ]
    assert query(lab, "SELECT message FROM logs") == [("m1",)]
    assert [(r["source"], r["status"]) for r in ledger(lab)] == [
        (str(good), "loaded"),
        (str(secret), "failed"),
    ]


def test_a_byte_order_mark_does_not_cost_the_first_line(tmp_path: Path, lab_path: Path) -> None:
    """Windows tools start UTF-8 files with U+FEFF; detection and the text parsers skip it."""
    source = tmp_path / "bom.log"
    source.write_bytes(
        "\ufeffJul  7 08:06:15 combo sshd[1]: first\nJul  7 08:06:16 combo sshd[1]: second\n".encode()
    )

    summary = ingest(lab_path, [str(source)], IngestOptions(year=2005))

    assert [(s.status, s.format, s.rows_rejected) for s in summary.sources] == [
        ("loaded", "syslog", 0)
    ]
    assert messages_by_line(lab_path) == [(1, "first"), (2, "second")]


def test_a_staging_memory_that_is_no_amount_is_refused(
    tmp_path: Path, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "a.jsonl"
    source.write_text(jsonl([record(1)]), encoding="utf-8")
    monkeypatch.setenv("DVLAB_STAGING_MEMORY", "lots")
    with pytest.raises(BadInputError, match="DVLAB_STAGING_MEMORY must be an amount"):
        ingest(lab_path, [str(source)])
    assert not lab_path.exists()
    # and no spill folder is left beside the lab
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dvlab-staging-")]


@pytest.mark.parametrize("limit", ["1KB", "5MB"])
def test_too_little_staging_memory_is_one_line_naming_the_setting(
    tmp_path: Path, limit: str
) -> None:
    """Whether DuckDB runs out while the staging is set up or while it parses: exit 2 and
    a line saying what to raise, the lab not made."""
    source = tmp_path / "a.jsonl"
    source.write_text(jsonl([record(i) for i in range(1, 60_001)]), encoding="utf-8")
    lab = tmp_path / "lab.duckdb"
    done = subprocess.run(
        [sys.executable, "-m", "dvlab.launch", "--db", str(lab), "ingest", str(source)],
        capture_output=True,
        text=True,
        env={**os.environ, "DVLAB_STAGING_MEMORY": limit},
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert "ran out of memory" in line and "DVLAB_STAGING_MEMORY" in line
    assert not lab.exists()


def test_a_file_named_with_glob_characters_loads_by_its_name(
    tmp_path: Path, lab_path: Path
) -> None:
    folder = tmp_path / "dir with space"
    folder.mkdir()
    literal = folder / "[x].log"
    literal.write_text(jsonl([record(1), record(2)]), encoding="utf-8")
    starred = folder / "a-star.log"
    starred.write_text(jsonl([record(3)]), encoding="utf-8")

    summary = ingest(lab_path, [str(literal), str(folder / "*star.log")], JSONL)

    assert [(s.source, s.status, s.rows_loaded) for s in summary.sources] == [
        (str(literal), "loaded", 2),
        (str(starred), "loaded", 1),
    ]


def test_nuls_in_a_text_file_make_rejects_not_a_binary_file(
    tmp_path: Path, lab_path: Path
) -> None:
    """A stray NUL in a line, or a hole of NULs a truncation left at the start, had made the
    whole file "binary"; a line holding a stray NUL is a reject, a line of NULs alone is
    skipped as blank, and the others load."""
    lines = jsonl([record(i) for i in range(1, 6)]).encode().splitlines(keepends=True)
    stray = tmp_path / "stray.jsonl"
    stray.write_bytes(b"".join([lines[0], lines[1][:5] + b"\x00" + lines[1][5:], *lines[2:]]))
    hole = tmp_path / "hole.jsonl"
    hole.write_bytes(b"\x00" * 5000 + b"\n" + b"".join(lines))

    summary = ingest(lab_path, [str(stray), str(hole)])

    assert [
        (s.status, s.rows_loaded, s.rows_rejected, s.rows_skipped) for s in summary.sources
    ] == [
        ("loaded", 4, 1, 0),
        ("loaded", 5, 0, 1),
    ]
    assert query(lab_path, "SELECT source, line FROM rejects ORDER BY source") == [(str(stray), 2)]


HOLE_LINES = {
    "jsonl": [json.dumps(record(i)) for i in range(1, 4)],
    "logfmt": [f"ts=2026-05-01T12:00:0{i}Z level=info msg=m{i}" for i in range(1, 4)],
    "syslog": [f"<14>1 2026-05-01T12:00:0{i}Z host app - - - m{i}" for i in range(1, 4)],
}


@pytest.mark.parametrize("reader", ["jsonl", "chunks", "logfmt", "syslog"])
def test_a_hole_of_nuls_before_a_line_is_no_part_of_it(
    reader: str, tmp_path: Path, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file truncated under a writer that went on at its old offset starts with NULs and
    no newline before the first new line: that line had been a reject (and a short JSON
    file of such a one a format no one could tell)."""
    fmt = reader if reader in HOLE_LINES else "jsonl"
    lines = HOLE_LINES[fmt]
    if reader == "chunks":
        force_chunk_reader(monkeypatch)
    path = tmp_path / f"{reader}.log"
    path.write_bytes(
        b"\x00" * 3000
        + lines[0].encode()
        + b"\n"
        + b"\x00" * 10
        + b"\n"
        + "".join(line + "\n" for line in lines[1:]).encode()
    )

    summary = ingest(lab_path, [str(path)])

    report = summary.sources[0]
    assert (report.status, report.format, report.rows_loaded, report.rows_rejected) == (
        "loaded",
        fmt,
        3,
        0,
    )
    # the line of NULs alone is blank
    assert report.rows_skipped == 1
    assert query(lab_path, "SELECT line, message FROM logs ORDER BY line") == [
        (1, "m1"),
        (3, "m2"),
        (4, "m3"),
    ]


@pytest.mark.parametrize("fmt", ["jsonl", "logfmt"])
def test_a_hole_longer_than_detection_reads_is_read_through(
    fmt: str, tmp_path: Path, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A truncated file's hole is as large as the file was: past the bytes detection reads
    (16 MiB), the file had failed ("it has no text lines")."""
    monkeypatch.setattr(ingest_module, "DETECT_BYTES", 64 << 10)
    path = tmp_path / "app.log"
    path.write_bytes(
        b"\x00" * (1 << 20) + "".join(line + "\n" for line in HOLE_LINES[fmt]).encode()
    )

    summary = ingest(lab_path, [str(path)])

    report = summary.sources[0]
    assert (report.status, report.format, report.rows_loaded, report.rows_rejected) == (
        "loaded",
        fmt,
        3,
        0,
    )


def test_a_long_first_line_after_a_long_hole_is_found(
    tmp_path: Path, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first line longer than the head, after a hole longer than detection reads: the
    look for its end had started over at the hole."""
    monkeypatch.setattr(ingest_module, "DETECT_BYTES", 64 << 10)
    path = tmp_path / "app.log"
    first = json.dumps(record(1, "x" * 8000))
    path.write_bytes(b"\x00" * (1 << 20) + f"{first}\n{json.dumps(record(2))}\n".encode())

    (report,) = ingest(lab_path, [str(path)]).sources

    assert (report.status, report.format, report.rows_loaded) == ("loaded", "jsonl", 2)


def test_a_compression_dvlab_does_not_read_is_named(tmp_path: Path, lab_path: Path) -> None:
    """They had been "binary: give --format to read it as one anyway", which gives
    garbage; a text line that starts as bzip2's mark does still loads."""
    import bz2
    import lzma
    import zipfile

    text = jsonl([record(1)]).encode()
    (tmp_path / "a.log.bz2").write_bytes(bz2.compress(text))
    (tmp_path / "a.log.xz").write_bytes(lzma.compress(text))
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.writestr("a.log", text)
    (tmp_path / "b.log").write_text(jsonl([record(2, "BZh9 and more")]), encoding="utf-8")

    summary = ingest(lab_path, [str(tmp_path)])

    got = {Path(s.source).name: (s.status, s.message) for s in summary.sources}
    for name, what in (
        ("a.log.bz2", "bzip2-compressed"),
        ("a.log.xz", "xz-compressed"),
        ("a.zip", "a zip archive"),
    ):
        assert got[name] == (
            "failed",
            f"{tmp_path / name}: is {what}, which dvlab does not read (it reads plain text, "
            ".gz and .zst): unpack it first",
        )
    assert got["b.log"][0] == "loaded"


def test_utf16_is_named_and_a_binary_file_read_as_the_format_given(
    tmp_path: Path, lab_path: Path
) -> None:
    utf16 = tmp_path / "wide.jsonl"
    utf16.write_bytes(jsonl([record(1)]).encode("utf-16"))
    # without the byte-order mark, as some tools write it
    bare = tmp_path / "bare.jsonl"
    bare.write_bytes(jsonl([record(1)]).encode("utf-16-be"))
    binary = tmp_path / "blob.log"
    control = bytes(b for b in range(1, 32) if b not in (10, 13))  # no line ends
    binary.write_bytes(control * 4 + b"\n" + jsonl([record(2)]).encode())

    summary = ingest(lab_path, [str(utf16), str(bare), str(binary)])
    forced = ingest(lab_path, [str(binary)], JSONL)

    assert [s.status for s in summary.sources] == ["failed", "failed", "failed"]
    for wide, report in zip((utf16, bare), summary.sources, strict=False):
        assert report.message == f"{wide}: is UTF-16 text; dvlab reads UTF-8: convert it to UTF-8"
    assert "looks binary" in (summary.sources[2].message or "")
    assert "give --format to read it as one anyway" in (summary.sources[2].message or "")
    # told its format, the control bytes are a line that is not JSON, and the record loads
    assert [(s.status, s.rows_loaded, s.rows_rejected) for s in forced.sources] == [
        ("loaded", 1, 1)
    ]


def test_a_file_whose_name_is_not_utf8_fails_alone_said_as_its_bytes(
    tmp_path: Path, lab_path: Path
) -> None:
    """Such a name had stopped the whole run ("Python Conversion Failure")."""
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "good.log").write_text(jsonl([record(1)]), encoding="utf-8")
    (folder / os.fsdecode(b"bad\xffname.log")).write_text(jsonl([record(2)]), encoding="utf-8")

    summary = ingest(lab_path, [str(folder)], JSONL)

    shown = f"{folder}/bad\\xffname.log"
    assert sorted((s.source, s.status, s.rows_loaded) for s in summary.sources) == [
        (shown, "failed", 0),
        (str(folder / "good.log"), "loaded", 1),
    ]
    assert summary.failed[0].message == (
        f"{shown}: its name is not UTF-8 text, which the lab keeps names as; rename it to load it"
    )
    assert query(lab_path, "SELECT source, status FROM ingests ORDER BY source") == [
        (shown, "failed"),
        (str(folder / "good.log"), "loaded"),
    ]
    # named as the file system names it, it is found under the name the ledger keeps
    (forgotten,) = forget(lab_path, [str(folder / os.fsdecode(b"bad\xffname.log"))])
    assert (forgotten.source, forgotten.rows, forgotten.ingests) == (shown, 0, 1)


def test_a_glob_that_matches_nothing_fails_alone(tmp_path: Path, lab_path: Path) -> None:
    good = tmp_path / "ok.jsonl"
    good.write_text(jsonl([record(1)]), encoding="utf-8")
    pattern = str(tmp_path / "nomatch*.log")

    summary = ingest(lab_path, [pattern, str(good)], JSONL)

    assert [(s.source, s.status) for s in summary.sources] == [
        (pattern, "failed"),
        (str(good), "loaded"),
    ]
    assert (
        summary.sources[0].message == f"{pattern}: no such file, and as a pattern it matches none"
    )
    assert table_counts(lab_path)["logs"] == 1


def test_a_link_that_loops_or_leads_nowhere_fails_alone(tmp_path: Path, lab_path: Path) -> None:
    """Two links naming each other, in a folder beside a good file: each fails as a source
    of its own, saying it loops, and the file loads. Following the loop had raised out of
    the run (exit 1), and nothing had loaded."""
    folder = tmp_path / "links"
    folder.mkdir()
    (folder / "ok.jsonl").write_text(jsonl([record(1)]), encoding="utf-8")
    (folder / "a").symlink_to("b")
    (folder / "b").symlink_to("a")
    (folder / "gone").symlink_to(tmp_path / "nothing-here")

    summary = ingest(lab_path, [str(folder)], JSONL)

    assert sorted((Path(s.source).name, s.status, s.message) for s in summary.sources) == [
        ("a", "failed", f"{folder / 'a'}: a symbolic link that loops back to itself"),
        ("b", "failed", f"{folder / 'b'}: a symbolic link that loops back to itself"),
        ("gone", "failed", f"{folder / 'gone'}: a symbolic link to no such file"),
        ("ok.jsonl", "loaded", None),
    ]
    assert table_counts(lab_path)["logs"] == 1


def test_names_with_glob_characters_are_read_as_named_not_as_globs(
    tmp_path: Path, lab_path: Path
) -> None:
    """DuckDB's readers take *, ? and [ as a glob: `a[1].jsonl` would read `a1.jsonl`, and
    `x*.jsonl` also `xy.jsonl`. Each file must give its own rows, once."""
    import gzip

    folder = tmp_path / "fold"
    folder.mkdir()

    def write(name: str, message: str) -> None:
        text = jsonl([record(1, message)])
        path = folder / name
        if name.endswith(".gz"):
            path.write_bytes(gzip.compress(text.encode()))
        else:
            path.write_text(text, encoding="utf-8")

    named = {
        "a[1].jsonl": "bracketed",
        "a1.jsonl": "plain",
        "x*.jsonl": "starred",
        "xy.jsonl": "xy",
        "q?.jsonl": "questioned",
        "g[1].jsonl.gz": "bracketed gz",
        "g1.jsonl.gz": "plain gz",
    }
    for name, message in named.items():
        write(name, message)
    (folder / "t[1].csv").write_text(
        "task_id,state,updated_at\nbracketed-task,running,2026-12-01T10:00:00Z\n"
    )
    (folder / "t1.csv").write_text(
        "task_id,state,updated_at\nplain-task,running,2026-12-01T10:00:00Z\n"
    )

    summary = ingest(lab_path, [str(folder)])

    assert summary.failed == []
    got = query(lab_path, "SELECT source, line, message FROM logs ORDER BY source")
    assert got == sorted((str(folder / name), 1, message) for name, message in named.items())
    tasks = query(lab_path, "SELECT source, task_id FROM tasks ORDER BY source")
    assert tasks == [
        (str(folder / "t1.csv"), "plain-task"),
        (str(folder / "t[1].csv"), "bracketed-task"),
    ]


def test_strict_says_how_many_sources_its_rejects_are_spread_over(
    tmp_path: Path, lab_path: Path
) -> None:
    first = tmp_path / "a.jsonl"
    first.write_text(jsonl([record(1)]) + NOT_OBJECT + "\n", encoding="utf-8")
    second = tmp_path / "b.jsonl"
    second.write_text(NOT_OBJECT + "\n" + NOT_OBJECT + "\n" + jsonl([record(2)]), encoding="utf-8")

    with pytest.raises(BadInputError) as caught:
        ingest(lab_path, [str(first), str(second)], IngestOptions(format="jsonl", strict=True))

    assert str(caught.value).startswith(
        f"{first}:2: --strict: 3 line(s) rejected in 2 sources, nothing written; first: "
    )


def test_a_commit_that_fails_leaves_no_new_lab(
    tmp_path: Path, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped inside the transaction (as a Ctrl-C that reaches it): the lab the commit made
    is removed again, not left empty with its tables."""
    from dvlab.lab import ingest as lab_ingest

    source = tmp_path / "a.jsonl"
    source.write_text(jsonl([record(1), record(2)]), encoding="utf-8")

    def stopped(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(lab_ingest, "_insert_ledger_row", stopped)
    with pytest.raises(KeyboardInterrupt):
        ingest(lab_path, [str(source)])

    assert not lab_path.exists()
    assert not lab_path.with_name(lab_path.name + ".wal").exists()
    monkeypatch.undo()
    ingest(lab_path, [str(source)])
    assert table_counts(lab_path) == {"logs": 2, "rejects": 0, "ingests": 1}
