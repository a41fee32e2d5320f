"""--db, --debug and -v before or after the command, and each command's --help."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import dvlab.reporting.notebooks as notebooks
from dvlab.cli import build_parser, main
from tests.cli_fixture import write_fixture

# the shortest valid command line of each command
COMMANDS = {
    "ingest": ["ingest", "logs/"],
    "sql": ["sql", "SELECT 1"],
    "timeline": ["timeline"],
    "report": ["report", "incident-timeline"],
    "export": ["export", "parquet/"],
    "sample": ["sample", "--out", "sample/"],
}


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    db = tmp_path / "lab.duckdb"
    assert main(["--db", str(db), "ingest", str(write_fixture(tmp_path))]) == 0
    return db


@pytest.mark.parametrize("command", COMMANDS)
def test_global_options_after_the_command(command: str) -> None:
    args = build_parser().parse_args([*COMMANDS[command], "--db", "x.duckdb", "--debug", "-v"])

    assert (args.db, args.debug, args.verbose) == ("x.duckdb", True, True)


@pytest.mark.parametrize("command", COMMANDS)
def test_global_options_before_the_command_still_count(command: str) -> None:
    args = build_parser().parse_args(["--db", "x.duckdb", "--verbose", *COMMANDS[command]])

    assert (args.db, args.debug, args.verbose) == ("x.duckdb", False, True)


def test_no_global_options() -> None:
    args = build_parser().parse_args(COMMANDS["sql"])

    assert (args.db, args.debug, args.verbose) == (None, False, False)


def test_after_the_command_wins() -> None:
    args = build_parser().parse_args(["--db", "a.duckdb", "sql", "SELECT 1", "--db", "b.duckdb"])

    assert args.db == "b.duckdb"


def test_sql_with_db_after_the_query(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sql", "SELECT 42 AS answer", "--db", str(lab), "--format", "csv"])

    assert code == 0
    assert capsys.readouterr().out == "answer\n42\n"


def test_debug_after_the_command_shows_the_traceback(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sql", "SELEC 1", "--db", str(lab), "--debug"])

    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback (most recent call last)" in err
    assert "QueryError" in err and "Parser Error" in err


def test_after_lab_db_is_dvlabs_and_debug_is_jupyterlabs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}

    def fake_start(*, lab: Path, notebook_dir: Path | None = None, extra_args: Any = ()) -> int:
        seen.update(lab=lab, extra_args=list(extra_args))
        return 0

    monkeypatch.setattr(notebooks, "start_jupyterlab", fake_start)
    db = tmp_path / "lab.duckdb"

    assert main(["lab", "--db", str(db), "--debug", "--no-browser"]) == 0
    assert seen == {"lab": db, "extra_args": ["--debug", "--no-browser"]}


@pytest.mark.parametrize(
    ("command", "phrase"),
    [
        ("export", "Write the lab's tables as Parquet under FOLDER"),
        ("sample", "Write made-up logs of three sites and one incident into DIR"),
        ("lab", "the notebooks and %%sql cells read it"),
    ],
)
def test_help_describes_the_command(
    capsys: pytest.CaptureFixture[str], command: str, phrase: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])

    help_text = " ".join(capsys.readouterr().out.split())
    assert exit_info.value.code == 0
    assert phrase in help_text
    assert "%%%%" not in help_text
    assert "--db PATH" in help_text


@pytest.mark.parametrize(
    "zone", ["", "UTC+5", "Mars/Olympus", "posixrules", "right/UTC", "posix/Asia/Kathmandu"]
)
def test_ingest_refuses_a_zone_that_is_not_one(
    zone: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty --tz is no zone either (it was read as UTC, as if --tz had not been given)."""
    source = tmp_path / "app.jsonl"
    source.write_text('{"time": "2026-12-01 10:00:00", "msg": "hello"}\n', encoding="utf-8")

    code = main(["--db", str(tmp_path / "lab.duckdb"), "ingest", str(source), "--tz", zone])

    assert code == 2
    assert f"unknown time zone {zone!r} for --tz" in capsys.readouterr().err
    assert not (tmp_path / "lab.duckdb").exists()


@pytest.mark.parametrize("at", ["1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_ingest_refuses_an_at_before_1970(
    at: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scrape's own timestamps are taken from 1970 on; --at, which stands for them, too."""
    scrape = tmp_path / "s.prom"
    scrape.write_text('up{job="a"} 1\n', encoding="utf-8")

    code = main(["--db", str(tmp_path / "lab.duckdb"), "ingest", str(scrape), "--at", at])

    assert code == 2
    assert f"--at {at!r}: give a time from 1970 to 9999" in capsys.readouterr().err
    assert not (tmp_path / "lab.duckdb").exists()


def test_a_lab_path_with_a_backslash_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DuckDB takes a backslash for a folder separator: the lab would be looked for
    elsewhere ("Cannot open file .../x/y.duckdb")."""
    source = tmp_path / "a.jsonl"
    source.write_text('{"ts": "2026-12-01T10:00:00Z", "msg": "a"}\n', encoding="utf-8")

    code = main(["--db", str(tmp_path / "x\\y.duckdb"), "ingest", str(source)])

    assert code == 2
    assert "a lab's path cannot hold a backslash" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl"]


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--time-format", "%H:%M:%S"], "--time-format '%H:%M:%S' says no year"),
        (["--time-format", "%Y %Q"], "--time-format '%Y %Q': Failed to parse format specifier"),
        (["--time-format", "%Y"], "--time-format: for files only"),
        (["--format", "jsonl"], "--format: for files only"),
    ],
)
def test_ingest_refuses_a_time_format_it_cannot_use(
    extra: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the last case names a live source (never reached: refused before any connection)
    source = "nats://127.0.0.1:4222" if said.endswith("files only") else str(tmp_path / "a.log")
    stream = ["--stream", "S"] if source.startswith("nats") else []

    code = main(["--db", str(tmp_path / "lab.duckdb"), "ingest", source, *stream, *extra])

    assert code == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "lab.duckdb").exists()


def test_a_time_format_fails_a_source_whose_times_have_a_form_of_their_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Syslog's parser writes the times it reads in a form of its own; a JSON-lines file of
    the same run loads by the format given."""
    syslog = tmp_path / "messages"
    syslog.write_text("Jun  9 20:10:40 host app[1]: hello\n", encoding="utf-8")
    spark = tmp_path / "app.jsonl"
    spark.write_text('{"time": "17/06/09 20:10:40", "msg": "hi"}\n', encoding="utf-8")
    db = str(tmp_path / "lab.duckdb")

    code = main(["--db", db, "ingest", str(syslog), str(spark), "--time-format", "%y/%m/%d %H:%M:%S"])  # fmt: skip

    out, err = capsys.readouterr()
    assert code == 2
    assert f"{syslog}: --time-format is for JSON lines, logfmt and --pattern sources" in err
    assert "this one reads as syslog" in err
    assert ": 2 source(s), 1 loaded, 0 rejected, " in out


@pytest.mark.parametrize(
    ("line", "extra"),
    [
        (
            "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok",
            ["--pattern", r"^\[(?P<ts>[^\]]+)\] \[(?P<level>\w+)\] (?P<msg>.*)$"],
        ),
        ('ts="Sun Dec 04 04:47:44 2005" level=notice msg="workerEnv.init() ok"', []),
    ],
    ids=["pattern", "logfmt"],
)
def test_a_time_format_reads_a_month_name_time_as_written(
    line: str, extra: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Apache's error log: the reader had rewritten such a time in a form of its own before
    the format given read it, and every line had been a reject quoting a time the file does
    not hold ("2005-12-04 04:47:44")."""
    source = tmp_path / "error_log"
    source.write_text(line + "\n", encoding="utf-8")
    db = str(tmp_path / "lab.duckdb")

    code = main(["--db", db, "ingest", str(source), *extra, "--time-format", "%a %b %d %H:%M:%S %Y"])  # fmt: skip
    assert code == 0
    capsys.readouterr()
    assert main(["--db", db, "sql", "SELECT ts, message FROM logs", "--format", "csv"]) == 0

    assert (
        capsys.readouterr().out == "ts,message\n2005-12-04T04:47:44.000000Z,workerEnv.init() ok\n"
    )


def test_a_short_year_is_hinted_at_in_every_reject_until_a_form_is_given(
    tmp_path: Path,
) -> None:
    """A task table's time column, and a log's time: the hint had been missing from the one,
    and given to the other even with --time-format there."""
    import duckdb

    tasks = tmp_path / "tasks.csv"
    tasks.write_text("task_id,state,created_at\nt1,running,9/6/17 10:00:00\n", encoding="utf-8")
    logs = tmp_path / "app.jsonl"
    logs.write_text('{"time": "17/06/09 25:10:40", "msg": "no 25th hour"}\n', encoding="utf-8")
    db = tmp_path / "lab.duckdb"

    assert main(["--db", str(db), "ingest", str(tasks)]) == 0
    assert main(["--db", str(db), "ingest", str(logs), "--time-format", "%y/%m/%d %H:%M:%S"]) == 0

    con = duckdb.connect(str(db), read_only=True)
    try:
        reasons = dict(con.execute("SELECT source, reason FROM rejects").fetchall())
    finally:
        con.close()
    hint = " (its year is not written in full: say the form with --time-format"
    assert reasons[str(tasks)].startswith('tasks: column created_at: "9/6/17 10:00:00" is not')
    assert hint in reasons[str(tasks)]
    assert reasons[str(logs)] == 'unparseable time "17/06/09 25:10:40"'
