"""`dvlab sql`: parameters bound (never pasted), output formats, curated queries, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dvlab.cli import main
from tests.cli_fixture import RECORDS, write_fixture
from tests.stopping import stop_midway


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    db = tmp_path / "lab.duckdb"
    assert main(["--db", str(db), "ingest", str(write_fixture(tmp_path))]) == 0
    return db


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_param_is_bound_not_pasted(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT count(*) AS n FROM logs WHERE service = $svc"
    code, out, _ = run(
        capsys, "--db", str(lab), "sql", sql, "--param", "svc=provisioning", "--format", "csv"
    )
    assert code == 0
    assert out.splitlines() == ["n", "2"]
    # a value that would change the query if it were pasted in matches nothing
    hostile = "svc=x' OR '1'='1"
    code, out, _ = run(capsys, "--db", str(lab), "sql", sql, "--param", hostile, "--format", "csv")
    assert out.splitlines() == ["n", "0"]


def test_csv_json_and_table_formats(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT service, count(*) AS n FROM logs GROUP BY service ORDER BY service"
    expected = sorted({r["service"] for r in RECORDS})
    counts = {s: sum(1 for r in RECORDS if r["service"] == s) for s in expected}

    _, out, _ = run(capsys, "--db", str(lab), "sql", sql, "--format", "csv")
    assert out.splitlines() == ["service,n"] + [f"{s},{counts[s]}" for s in expected]

    _, out, _ = run(capsys, "--db", str(lab), "sql", sql, "--format", "json")
    assert [json.loads(line) for line in out.splitlines()] == [
        {"service": s, "n": counts[s]} for s in expected
    ]

    _, out, _ = run(capsys, "--db", str(lab), "sql", sql)
    lines = out.splitlines()
    assert lines[0].split() == ["service", "n"]
    assert [line.split() for line in lines[2:-1]] == [[s, str(counts[s])] for s in expected]
    assert lines[-1] == f"({len(expected)} rows)"


def test_parquet_needs_out_and_writes_the_rows(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--db", str(lab), "sql", "SELECT 1", "--format", "parquet")
    assert code == 2
    assert "needs --out" in err
    target = tmp_path / "out.parquet"
    sql = "SELECT message FROM logs WHERE level = $level ORDER BY ts"
    code, _, _ = run(
        capsys,
        "--db",
        str(lab),
        "sql",
        sql,
        "--param",
        "level=error",
        "--format",
        "parquet",
        "--out",
        str(target),
    )
    assert code == 0
    rows = duckdb.sql(f"SELECT * FROM read_parquet('{target}')").fetchall()
    assert rows == [("attach_port gave up",)]


def test_list_shows_each_curated_query_with_its_description(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "sql", "--list")
    assert code == 0
    timeline = next(line for line in out.splitlines() if line.startswith("timeline "))
    first_line = (
        (Path(__file__).parent.parent / "queries" / "timeline.sql").read_text().splitlines()[0]
    )
    assert first_line.lstrip("- ").strip() in timeline


def test_curated_query_by_name_with_params(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--db", str(lab), "sql", "timeline", "--param", "id=r-1", "--format", "json"
    )
    assert code == 0
    messages = [json.loads(line)["message"] for line in out.splitlines()]
    assert messages == ["GET /v1/vms 200", "retrying attach_port"]


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SELEC 1", "Parser Error"),
        ("SELECT * FROM no_such_table", "no_such_table"),
        ("SELECT $missing", "missing"),
    ],
)
def test_bad_sql_gives_one_line_and_exit_2(
    lab: Path, capsys: pytest.CaptureFixture[str], sql: str, fragment: str
) -> None:
    code, out, err = run(capsys, "--db", str(lab), "sql", sql)
    assert code == 2
    assert out == ""
    assert err.startswith("dvlab: ") and fragment in err


def test_unknown_param_of_curated_query(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--db", str(lab), "sql", "timeline", "--param", "nope=1")
    assert code == 2
    assert "no parameter nope" in err


def test_no_lab_yet_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--db", str(tmp_path / "none.duckdb"), "sql", "SELECT 1")
    assert code == 2
    assert "no lab at" in err and "dvlab ingest" in err


def test_console_script_runs(lab: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dvlab.cli",
            "--db",
            str(lab),
            "sql",
            "SELECT count(*) AS n FROM logs",
            "--format",
            "csv",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["n", str(len(RECORDS))]


def test_several_statements_say_that_only_the_last_result_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = tmp_path / "lab.duckdb"
    source = tmp_path / "one.jsonl"
    source.write_text('{"ts":"2026-12-01T10:00:00Z","msg":"m"}\n')
    assert main(["--db", str(lab), "ingest", str(source)]) == 0
    capsys.readouterr()

    code = main(["--db", str(lab), "sql", "SELECT 1 AS a; SELECT 2 AS b", "--format", "csv"])
    out, err = capsys.readouterr()

    assert (code, out) == (0, "b\n2\n")
    assert err == "dvlab: 2 statements given; each runs, and the result shown is the last one's\n"
    code = main(["--db", str(lab), "sql", "SELECT ';' AS c;", "--format", "csv"])
    out, err = capsys.readouterr()
    assert (code, out, err) == (0, "c\n;\n", "")


def test_each_of_several_statements_gets_the_parameters_it_uses(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DuckDB binds parameters to the last statement only: dvlab runs the statements one
    by one, so a $name may stand in any of them, written in any case."""
    by_service: dict[str, int] = {}
    for record in RECORDS:
        by_service[str(record["service"])] = by_service.get(str(record["service"]), 0) + 1
    service, expected = sorted(by_service.items())[0]
    own = tmp_path / "two.sql"
    own.write_text(
        "CREATE TEMP TABLE picked AS SELECT * FROM logs WHERE service = $svc;\n"
        "SELECT count(*) AS n, min($Tag) AS tag FROM picked\n"
    )
    code, out, _ = run(
        capsys,
        "--db",
        str(lab),
        "sql",
        str(own),
        "-p",
        f"svc={service}",
        "-p",
        "tag=x",
        "--format",
        "csv",
    )
    assert (code, out) == (0, f"n,tag\n{expected},x\n")

    # a parameter no statement uses is a mistake, as it is with one statement
    code, _, err = run(
        capsys, "--db", str(lab), "sql", "SELECT $a; SELECT 2", "-p", "a=1", "-p", "b=2"
    )
    assert code == 2
    assert "parameter b is used by no statement" in err
    # and with one statement, the same words (not DuckDB's count mismatch)
    assert run(capsys, "--db", str(lab), "sql", "SELECT 1 AS a", "-p", "c=3") == (
        2,
        "",
        "dvlab: parameter c is used by no statement of the query (write it as $name)\n",
    )

    # the result shown is the last statement's, also when that one is no query
    code, out, _ = run(
        capsys,
        "--db",
        str(lab),
        "sql",
        "SELECT 5 AS v; CREATE TEMP TABLE u AS SELECT 1 AS w",
        "--format",
        "csv",
    )
    assert (code, out) == (0, "Count\n1\n")


def test_a_sql_file_of_ones_own_runs_as_it_stands(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outside queries/, a file needs no description line nor @param lines: each $name
    it uses is a parameter it needs, bound, never pasted."""
    plain = tmp_path / "answer.sql"
    plain.write_text("select 42 as answer\n")
    assert run(capsys, "--db", str(lab), "sql", str(plain), "--format", "csv") == (
        0,
        "answer\n42\n",
        "",
    )
    counted = tmp_path / "by_service.sql"
    counted.write_text("SELECT count(*) AS n FROM logs WHERE service = $svc\n")
    code, out, _ = run(
        capsys,
        "--db",
        str(lab),
        "sql",
        str(counted),
        "--param",
        "svc=provisioning",
        "--format",
        "csv",
    )
    assert (code, out) == (0, "n\n2\n")
    code, out, err = run(capsys, "--db", str(lab), "sql", str(counted))
    assert (code, out) == (2, "")
    assert "needs --param svc=VALUE" in err


def test_a_file_in_the_curated_folder_must_describe_itself(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "queries"
    folder.mkdir()
    (folder / "bare.sql").write_text("select 1\n")
    monkeypatch.setenv("DVLAB_QUERIES", str(folder))
    code, _, err = run(capsys, "--db", str(lab), "sql", "bare")
    assert code == 2
    assert "must start with a '-- description' line" in err


def test_a_json_file_holds_one_document_and_a_jsonl_file_a_line_per_row(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SELECT service, count(*) AS n FROM logs GROUP BY service ORDER BY service"
    expected = sorted({r["service"] for r in RECORDS})
    rows = [{"service": s, "n": sum(1 for r in RECORDS if r["service"] == s)} for s in expected]
    document, lines = tmp_path / "out.json", tmp_path / "out.jsonl"
    assert run(capsys, "--db", str(lab), "sql", sql, "--out", str(document))[0] == 0
    assert run(capsys, "--db", str(lab), "sql", sql, "--out", str(lines))[0] == 0
    assert json.loads(document.read_text()) == rows
    assert [json.loads(line) for line in lines.read_text().splitlines()] == rows


# Which `$name` in a file of one's own is a parameter: only one DuckDB reads as such


@pytest.mark.parametrize(
    ("sql", "names"),
    [
        ("SELECT $a, '$q', $b, $a", ["a", "b"]),
        ("SELECT 'costs $5 or $x' AS v", []),
        ("SELECT 'it''s $x' AS v, $y", ["y"]),
        ("SELECT E'it\\'s $x' AS v, $y", ["y"]),
        ("SELECT e'a\\\\' || '$q', $y", ["y"]),
        ("SELECT 'a\\' || '$q', $y", ["y"]),
        ('SELECT 1 AS "col $x", "a""$b" FROM t WHERE c = $y', ["y"]),
        ("SELECT 1 AS v -- uses $x later\n, $y", ["y"]),
        ("SELECT 1 AS v -- uses $x later", []),
        ("SELECT /* $x */ $y", ["y"]),
        ("SELECT /* outer /* inner $x */ still comment $z */ $y", ["y"]),
        ("SELECT $$ $x $$, $tag$ $y $tag$, $z", ["z"]),
        ("SELECT 1 AS a$x, $y", ["y"]),
        ("SELECT 'unterminated $x", []),
        ("SELECT /* unterminated $x", []),
        ("SELECT $1, '$q', $_under9", ["_under9"]),
    ],
)
def test_only_a_dollar_name_outside_strings_names_and_comments_is_a_parameter(
    tmp_path: Path, sql: str, names: list[str]
) -> None:
    from dvlab.lab import queries

    path = tmp_path / "own.sql"
    path.write_text(sql, encoding="utf-8")
    assert [p.name for p in queries.parse(path, curated=False).params] == names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT 'costs $5 or $x' AS v\n", "v\ncosts $5 or $x\n"),
        ("SELECT 1 AS v -- uses $x later\n", "v\n1\n"),
        ("/* $x */ SELECT 'a$b' AS \"c$d\"\n", "c$d\na$b\n"),
    ],
)
def test_a_dollar_in_a_string_or_comment_of_a_file_needs_no_param(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = tmp_path / "s1.sql"
    path.write_text(text, encoding="utf-8")
    assert run(capsys, "--db", str(lab), "sql", str(path), "--format", "csv") == (
        0,
        expected,
        "",
    )


def test_a_file_still_binds_the_params_it_uses_beside_a_dollar_in_a_string(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.sql"
    path.write_text("SELECT '$x' AS a, $y AS b -- $z\n", encoding="utf-8")
    code, out, err = run(capsys, "--db", str(lab), "sql", str(path), "--format", "csv")
    assert (code, out) == (2, "")
    assert err == "dvlab: query 'mixed' needs --param y=VALUE (required)\n"
    code, out, err = run(
        capsys, "--db", str(lab), "sql", str(path), "--param", "y=7", "--format", "csv"
    )
    assert (code, out, err) == (0, "a,b\n$x,7\n", "")


def test_a_file_whose_path_holds_a_blank_is_read_as_a_file(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my queries").mkdir()
    (tmp_path / "my queries" / "a b.sql").write_text("SELECT 41 + 1 AS n\n")
    (tmp_path / "select me.sql").write_text("SELECT 'file' AS n\n")
    monkeypatch.chdir(tmp_path)
    for name, expected in [
        ("my queries/a b.sql", "n\n42\n"),
        (str(tmp_path / "my queries" / "a b.sql"), "n\n42\n"),
        ("select me.sql", "n\nfile\n"),
    ]:
        assert run(capsys, "--db", str(lab), "sql", name, "--format", "csv") == (0, expected, "")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.sql", "no such file: missing.sql"),
        ("dir/missing.sql", "no such file: dir/missing.sql"),
        ("my dir/missing.sql", "no such file: my dir/missing.sql"),
        ("sub/timeline", "no such file: sub/timeline"),
        ("d.sql/", "d.sql/ is a folder, not a .sql file"),
        ("d.sql", "d.sql is a folder, not a .sql file"),
        ("./notes.txt", "./notes.txt is not a .sql file"),
    ],
)
def test_a_path_that_is_no_readable_sql_file_says_so(
    lab: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    message: str,
) -> None:
    (tmp_path / "d.sql").mkdir()
    (tmp_path / "notes.txt").write_text("SELECT 1\n")
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "--db", str(lab), "sql", name) == (2, "", f"dvlab: {message}\n")


def test_a_missing_file_name_says_so_yet_a_curated_query_file_name_still_runs(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no timeline.sql here
    assert run(capsys, "--db", str(lab), "sql", "timelines.sql") == (
        2,
        "",
        "dvlab: no such file: timelines.sql\n",
    )
    code, out, _ = run(
        capsys, "--db", str(lab), "sql", "timeline.sql", "--param", "id=r-2", "--format", "json"
    )
    assert code == 0
    assert [json.loads(line)["message"] for line in out.splitlines()] == ["attach_port gave up"]


def test_a_file_that_is_not_utf8_is_refused_naming_file_and_line(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.sql"
    path.write_bytes(b"-- caf\xc3\xa9 is fine\nSELECT 1 AS v\n, 'caf\xe9' AS w\n")
    assert run(capsys, "--db", str(lab), "sql", str(path)) == (
        2,
        "",
        f"dvlab: {path}:3: is not UTF-8 text (byte 0xe9); save it as UTF-8\n",
    )


def test_a_file_of_several_statements_says_that_only_the_last_result_shows(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "multi.sql"
    own.write_text("SELECT 1 AS v; SELECT 2 AS w;\n")
    notice = "dvlab: 2 statements given; each runs, and the result shown is the last one's\n"
    assert run(capsys, "--db", str(lab), "sql", str(own), "--format", "csv") == (
        0,
        "w\n2\n",
        notice,
    )
    folder = tmp_path / "queries"
    folder.mkdir()
    (folder / "three.sql").write_text(
        "-- three of them\nSELECT 1 AS a; SELECT 2 AS b; SELECT 3 AS c\n"
    )
    monkeypatch.setenv("DVLAB_QUERIES", str(folder))
    assert run(capsys, "--db", str(lab), "sql", "three", "--format", "csv") == (
        0,
        "c\n3\n",
        notice.replace("2 statements", "3 statements"),
    )


@pytest.mark.parametrize(
    "text", ["", "\n\n", "-- only a comment\n", "/* nothing */\n-- here\n", ";\n"]
)
def test_a_file_without_a_statement_is_refused(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = tmp_path / "empty.sql"
    path.write_text(text)
    assert run(capsys, "--db", str(lab), "sql", str(path)) == (
        2,
        "",
        f"dvlab: {path} holds no SQL statement\n",
    )


def test_sql_given_without_a_statement_is_refused(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "--db", str(lab), "sql", "-- just a note") == (
        2,
        "",
        "dvlab: the SQL given holds no SQL statement\n",
    )


def test_a_param_given_twice_is_refused(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(
        capsys, "--db", str(lab), "sql", "SELECT $x AS x", "--param", "x=1", "--param", "x=2"
    ) == (2, "", "dvlab: --param x given more than once; give each once\n")
    # DuckDB reads $x and $X as one parameter: two spellings are one given twice
    assert run(
        capsys, "--db", str(lab), "sql", "SELECT $x AS x", "--param", "x=1", "--param", "X=2"
    ) == (2, "", "dvlab: --param x given more than once; give each once\n")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_a_long_query_at_once(
    lab: Path, tmp_path: Path, signum: int
) -> None:
    """DuckDB looks for a pending signal only now and then, and not at all in some long
    statements: the query is interrupted through its connection instead. The first
    statement writes a file, so the signal comes while the long one runs."""
    started = tmp_path / "started.csv"
    query = (
        f"COPY (SELECT 1 AS n) TO '{started}'; "
        "SELECT sum(hash(i)) FROM range(1000000000000) t(i); "  # hours of work
        "SELECT 2 AS n"
    )
    code, _, err = stop_midway(
        ["--db", str(lab), "sql", query], lambda _pid: started.exists(), signum, settle=0.5
    )
    assert code == 130
    assert err.splitlines()[-1] == "dvlab: interrupted"


def test_a_failing_statement_of_several_is_named_with_its_line_in_the_file(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DuckDB counts lines within the statement it ran; the message counts them in the
    file, and says which statement failed."""
    own = tmp_path / "four.sql"
    own.write_text(
        "SELECT 1;\n"
        "SELECT 2;\n"
        "SELECT *\n"
        "FROM logs WHERE nosuchcol = 1;\n"  # line 4, in the third statement
        "SELECT 3\n"
    )
    text = own.read_text()
    for ending in ("\n", "\r\n", "\r"):  # as DuckDB counts lines: LF, CR LF, a lone CR
        own.write_bytes(text.replace("\n", ending).encode())
        code, out, err = run(capsys, "--db", str(lab), "sql", str(own))
        assert (code, out) == (2, "")  # a query that cannot run as written: bad input
        failed = err.splitlines()[-1]
        assert failed.startswith("dvlab: statement 3 of 4 failed: Binder Error: ")
        assert "LINE 4: FROM logs WHERE nosuchcol = 1;" in failed


def test_a_pipe_named_as_a_sql_file_is_said_to_be_one(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipe = tmp_path / "q.sql"
    os.mkfifo(pipe)
    assert run(capsys, "--db", str(lab), "sql", str(pipe)) == (
        2,
        "",
        f"dvlab: {pipe} is not a regular file (a pipe, socket or device); "
        "dvlab reads a query from a .sql file\n",
    )


def test_names_beyond_ascii_match_only_in_their_own_case(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DuckDB folds the case of ASCII letters alone: $ÄB takes -p ÄB, not -p äb."""
    assert run(
        capsys, "--db", str(lab), "sql", "SELECT $ÄB AS v", "-p", "ÄB=1", "--format", "csv"
    )[:2] == (0, "v\n1\n")
    assert run(capsys, "--db", str(lab), "sql", "SELECT $ÄB AS v", "-p", "äb=1") == (
        2,
        "",
        "dvlab: parameter äb is used by no statement of the query (write it as $name)\n",
    )
