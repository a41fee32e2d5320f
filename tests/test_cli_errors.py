"""How `dvlab` ends when a path or the environment is wrong, or the user presses Ctrl-C.

Each failure is one line on stderr naming what went wrong and where, with
exit code 2 (130 for an interrupt), never "unexpected ...Error" and exit 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import dvlab.cli as cli
import dvlab.lab.ingest as ingest_module
from dvlab.cli import main
from dvlab.errors import QueryError
from tests.cli_fixture import RECORDS, write_fixture


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    db = tmp_path / "lab.duckdb"
    assert main(["--db", str(db), "ingest", str(write_fixture(tmp_path))]) == 0
    return db


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a folder\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# Paths


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "parquet"])
def test_out_into_a_missing_folder(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    target = tmp_path / "missing" / "result.out"

    code, out, err = run(
        capsys, "--db", str(lab), "sql", "SELECT 1", "--format", fmt, "--out", str(target)
    )

    assert (code, out) == (2, "")
    assert err == f"dvlab: folder {tmp_path / 'missing'} does not exist (for {target})\n"


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "parquet"])
def test_out_is_a_folder(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    code, out, err = run(
        capsys, "--db", str(lab), "sql", "SELECT 1", "--format", fmt, "--out", str(tmp_path)
    )

    assert (code, out) == (2, "")
    assert err == f"dvlab: {tmp_path} is a folder, not a file\n"


def test_timeline_out_into_a_missing_folder(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "timeline.txt"

    code, _, err = run(capsys, "--db", str(lab), "timeline", "--out", str(target))

    assert code == 2
    assert err == f"dvlab: folder {tmp_path / 'missing'} does not exist (for {target})\n"


def test_export_onto_an_existing_file(
    lab: Path, a_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--db", str(lab), "export", str(a_file))

    assert (code, out) == (2, "")
    assert err == f"dvlab: {a_file} is a file, not a folder\n"
    assert a_file.read_text() == "not a folder\n"


def test_report_out_is_a_file(lab: Path, a_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # refused while making the run folder, before any kernel starts
    code, out, err = run(
        capsys, "--db", str(lab), "report", "incident-timeline", "--out", str(a_file)
    )

    assert (code, out) == (2, "")
    assert err == (
        f"dvlab: {a_file} is a file, not a folder (in {a_file / 'incident-timeline'})\n"
    )


def test_db_under_a_file(tmp_path: Path, a_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "--db", str(a_file / "lab.duckdb"), "ingest", str(write_fixture(tmp_path))
    )

    assert code == 2
    assert err == f"dvlab: {a_file} is a file, not a folder\n"


def test_db_without_permission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the tests may run as root, whom no file mode stops; the seam raises what the OS would
    def refused(lab_path: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(lab_path))

    monkeypatch.setattr(ingest_module, "ingest", refused)

    code, _, err = run(
        capsys, "--db", "/srv/labs/lab.duckdb", "ingest", str(write_fixture(tmp_path))
    )

    assert code == 2
    assert err == "dvlab: permission denied: /srv/labs/lab.duckdb\n"


def test_debug_shows_the_traceback_and_keeps_the_exit_code(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "x.csv"
    args = ["--db", str(lab), "sql", "SELECT 1", "--format", "csv", "--out", str(target)]

    plain = run(capsys, *args)
    debug = run(capsys, "--debug", *args)

    assert plain[0] == debug[0] == 2
    assert "Traceback (most recent call last)" in debug[2]
    assert "FileNotFoundError" in debug[2]
    assert debug[2].endswith(plain[2])
    assert "Traceback" not in plain[2]


# Ctrl-C while DuckDB runs a query


def interrupting(error: BaseException) -> object:
    def command(args: argparse.Namespace) -> int:
        raise error

    return command


def translated_interrupt() -> QueryError:
    # what dvlab.lab.dberrors makes of DuckDB's own interrupt exception
    error = QueryError("query failed: INTERRUPT Error: Interrupted!")
    error.__cause__ = duckdb.InterruptException("INTERRUPT Error: Interrupted!")
    return error


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("Query interrupted"),
        duckdb.InterruptException("INTERRUPT Error: Interrupted!"),
        translated_interrupt(),
        KeyboardInterrupt(),
    ],
    ids=["runtime-error", "interrupt-exception", "translated", "keyboard-interrupt"],
)
def test_an_interrupted_query_exits_130(
    lab: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: BaseException,
) -> None:
    monkeypatch.setattr(cli, "cmd_sql", interrupting(error))

    code, out, err = run(capsys, "--db", str(lab), "sql", "SELECT 1")

    assert (code, out, err) == (130, "", "dvlab: interrupted\n")


def test_another_runtime_error_is_still_unexpected(
    lab: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "cmd_sql", interrupting(RuntimeError("Query failed")))

    code, _, err = run(capsys, "--db", str(lab), "sql", "SELECT 1")

    assert code == 1
    assert err.startswith("dvlab: unexpected RuntimeError: Query failed")


# A reader that stops early


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly(lab: Path) -> None:
    # `dvlab sql ... | head -1`: about 2 MB of CSV, far more than a pipe holds
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dvlab.cli",
            "--db",
            str(lab),
            "sql",
            "SELECT * FROM range(300000)",
            "--format",
            "csv",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    try:
        assert child.stdout.readline() == b"range\n"
        child.stdout.close()
        err = child.stderr.read()
        code = child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()

    assert (code, err) == (141, b"")


@pytest.mark.parametrize("command", ["sql", "timeline"])
@pytest.mark.parametrize("target", ["the lab", "another lab"])
def test_out_never_writes_over_a_duckdb_database(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, target: str
) -> None:
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    out = lab if target == "the lab" else other
    before = out.read_bytes()
    args = ["SELECT count(*) FROM logs", "--format", "csv"] if command == "sql" else []

    code, printed, err = run(capsys, "--db", str(lab), command, *args, "--out", str(out))

    assert (code, printed) == (2, "")
    assert err.startswith(f"dvlab: --out {out} is a DuckDB database")
    assert out.read_bytes() == before
    code, printed, _ = run(capsys, "--db", str(lab), "sql", "SELECT count(*) FROM logs")
    assert code == 0 and printed.splitlines()[-2].strip() == "6"


@pytest.mark.parametrize("name", ["new.duckdb", "copy.DB", "x.sqlite"])
def test_out_named_as_a_database_is_refused_without_a_format(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """A new file named as a database would have received a text table: a slip for
    another lab's name, most likely. With --format the name is taken as meant."""
    out = tmp_path / name
    code, printed, err = run(capsys, "--db", str(lab), "sql", "SELECT 1 AS n", "--out", str(out))
    assert (code, printed) == (2, "")
    assert err.startswith(f"dvlab: --out {out}: the suffix names a database")
    assert not out.exists()
    assert (
        run(
            capsys, "--db", str(lab), "sql", "SELECT 1 AS n", "--format", "csv", "--out", str(out)
        )[0]
        == 0
    )
    assert out.read_text() == "n\n1\n"


@pytest.mark.parametrize(
    ("suffix", "opened"),
    [(".parquet", "read_parquet"), (".csv", "read_csv"), (".jsonl", "read_json")],
)
def test_out_suffix_chooses_the_format_when_none_is_given(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, opened: str
) -> None:
    out = tmp_path / f"levels{suffix}"

    code, _, _ = run(
        capsys, "--db", str(lab), "sql", "SELECT level FROM logs ORDER BY ts", "--out", str(out)
    )

    assert code == 0
    read = duckdb.sql(f"SELECT level FROM {opened}('{out}')").fetchall()
    assert [r[0] for r in read] == ["info", "warn", "error", "info", "fatal", "debug"]


def test_an_explicit_format_wins_over_the_out_suffix(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "levels.parquet"

    code, _, _ = run(
        capsys, "--db", str(lab), "sql", "SELECT 1 AS one", "--format", "csv", "--out", str(out)
    )

    assert code == 0
    assert out.read_text() == "one\n1\n"


@pytest.mark.parametrize(("limit", "notice"), [(5, True), (6, False), (7, False)])
def test_timeline_says_when_its_limit_leaves_records_out(
    lab: Path, capsys: pytest.CaptureFixture[str], limit: int, notice: bool
) -> None:
    """The fixture holds 6 records: a limit of 5 leaves one out, 6 and 7 none."""
    code, out, err = run(
        capsys, "--db", str(lab), "timeline", "--limit", str(limit), "--format", "csv"
    )

    assert code == 0
    assert len(out.splitlines()) == 1 + min(limit, 6)
    assert ("showing the first 5 records; more match" in err) is notice
    assert err == "" or notice


def test_pattern_and_format_together_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "x.log"
    source.write_text("2026-12-01T10:00:00Z hello\n")

    code, out, err = run(
        capsys,
        "--db",
        str(tmp_path / "lab.duckdb"),
        "ingest",
        str(source),
        "--format",
        "jsonl",
        "--pattern",
        r"^(?P<ts>\S+) (?P<msg>.*)$",
    )

    assert (code, out) == (2, "")
    assert err.startswith("dvlab: --pattern reads every line with its regular expression")
    assert not (tmp_path / "lab.duckdb").exists()


@pytest.mark.parametrize("wal_exists", [True, False])
def test_out_never_writes_a_labs_write_ahead_log(
    lab: Path, capsys: pytest.CaptureFixture[str], wal_exists: bool
) -> None:
    wal = Path(str(lab) + ".wal")
    if wal_exists:
        wal.write_bytes(b"")  # stands for commits not yet checkpointed
    before = wal.read_bytes() if wal_exists else None

    code, printed, err = run(capsys, "--db", str(lab), "sql", "SELECT 1", "--out", str(wal))

    assert (code, printed) == (2, "")
    assert err.startswith(f"dvlab: --out {wal} is the write-ahead log of the DuckDB database")
    assert (wal.read_bytes() if wal.exists() else None) == before


@pytest.mark.parametrize(
    "limit", ["0", "-1", "-5", "9223372036854775807", "99999999999999999999999"]
)
def test_timeline_limit_out_of_range_is_refused_as_given(
    lab: Path, capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    """The largest two had failed naming limit='9223372036854775808' (one more than given:
    the timeline asks for one record past the limit)."""
    code, out, err = run(capsys, "--db", str(lab), "timeline", f"--limit={limit}")

    assert (code, out) == (2, "")
    assert err == f"dvlab: --limit must be from 1 to 9223372036854775806, not {limit}\n"


def test_timeline_takes_the_largest_limit(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--db", str(lab), "timeline", "--limit=9223372036854775806")

    assert (code, err) == (0, "")


def test_timeline_out_suffix_chooses_the_format(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "view.parquet"

    code, _, _ = run(capsys, "--db", str(lab), "timeline", "--out", str(out))

    assert code == 0
    messages = duckdb.sql(f"SELECT message FROM read_parquet('{out}') ORDER BY ts").fetchall()
    # the fixture's records, in the order of their times
    assert [m[0] for m in messages] == [r["msg"] for r in sorted(RECORDS, key=lambda r: r["ts"])]


@pytest.mark.parametrize("year", ["0", "10000", "-5"])
def test_a_year_python_cannot_hold_is_refused(
    tmp_path: Path, a_file: Path, capsys: pytest.CaptureFixture[str], year: str
) -> None:
    lab = tmp_path / "year.duckdb"
    code, out, err = run(capsys, "--db", str(lab), "ingest", str(a_file), "--year", year)
    assert (code, out) == (2, "")
    assert err == f"dvlab: --year {year}: give a year from 1 to 9999\n"
    assert not lab.exists()


# Messages: one line each, whatever DuckDB adds


def test_a_syntax_error_is_one_line_without_the_caret(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "--db", str(lab), "sql", "SELEC 1") == (
        2,
        "",
        'dvlab: query failed: Parser Error: syntax error at or near "SELEC" — LINE 1: SELEC 1\n',
    )


def test_a_missing_table_is_one_line_with_the_hint_kept(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--db", str(lab), "sql", "select * from nope")
    assert (code, out) == (2, "")
    assert err.startswith(
        "dvlab: query failed: Catalog Error: Table with name nope does not exist! — Did you mean "
    )
    assert err.count("\n") == 1 and err.endswith("\n")


def test_any_command_prints_a_message_of_several_lines_as_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(args: argparse.Namespace) -> int:
        raise QueryError("first\r\n\n   ^^^ \n  second line  \nthird\x1b[2J\n")

    monkeypatch.setattr(cli, "cmd_status", failing)
    assert run(capsys, "status") == (2, "", "dvlab: first — second line — third\\x1b[2J\n")
