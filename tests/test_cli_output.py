"""`dvlab sql` output: every DuckDB type in every format, one way of writing times, no escapes.

The expected text is written out by hand: DuckDB's own text for each value,
times as ISO 8601 UTC with ``Z``.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import duckdb
import pytest

import dvlab.cli as cli
from dvlab.cli import main
from tests.cli_fixture import write_fixture

# One row holding the types polars could not write: an interval with months, a list, a
# struct, a blob, a NULL, both infinities, an ordinary time (given at +01:00), text with
# quotes, a comma and non-ASCII letters, and a time inside a list.
EVERY_KIND = r"""
SELECT
    INTERVAL 1 MONTH + INTERVAL 2 HOUR AS i,
    [1, 2] AS l,
    {'a': 1, 'b': 'x'} AS s,
    '\xAA\x01'::BLOB AS b,
    NULL::INTEGER AS n,
    'infinity'::TIMESTAMPTZ AS pinf,
    '-infinity'::TIMESTAMPTZ AS ninf,
    TIMESTAMPTZ '2026-12-01 11:00:00+01' AS t,
    'Blåbær ☃ "q", x' AS u,
    [TIMESTAMPTZ '2026-12-01 10:00:00.5+00'] AS lt
"""
COLUMNS = ["i", "l", "s", "b", "n", "pinf", "ninf", "t", "u", "lt"]


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    db = tmp_path / "lab.duckdb"
    assert main(["--db", str(db), "ingest", str(write_fixture(tmp_path))]) == 0
    return db


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def table_cells(line: str) -> list[str]:
    """The cells of one table line (cells are separated by two spaces or more)."""
    return re.split(r" {2,}", line.rstrip())


def test_every_kind_as_csv(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--db", str(lab), "sql", EVERY_KIND, "--format", "csv")

    assert (code, err) == (0, "")
    assert out.splitlines() == [
        ",".join(COLUMNS),
        "1 month 02:00:00,"
        '"[1, 2]",'
        "\"{'a': 1, 'b': x}\","
        r"\xAA\x01,"
        ","
        "infinity,"
        "-infinity,"
        "2026-12-01T10:00:00.000000Z,"
        '"Blåbær ☃ ""q"", x",'
        "['2026-12-01T10:00:00.500000Z']",
    ]


def test_every_kind_as_json(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--db", str(lab), "sql", EVERY_KIND, "--format", "json")

    assert (code, err) == (0, "")
    assert [json.loads(line) for line in out.splitlines()] == [
        {
            "i": "1 month 02:00:00",
            "l": [1, 2],
            "s": {"a": 1, "b": "x"},
            "b": r"\xAA\x01",
            "n": None,
            "pinf": "infinity",
            "ninf": "-infinity",
            "t": "2026-12-01T10:00:00.000000Z",
            "u": 'Blåbær ☃ "q", x',
            "lt": ["2026-12-01T10:00:00.500000Z"],
        }
    ]


def test_json_output_is_json_whatever_the_floats(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """JSON has no NaN or infinity: such a value is null there (and kept in CSV)."""
    query = (
        "SELECT 'nan'::DOUBLE AS d, 'inf'::FLOAT AS f, '-inf'::DOUBLE AS g, 2.5::DOUBLE AS x, "
        "[1.0, 'nan'::DOUBLE] AS l, {'y': 'inf'::DOUBLE, 'z': 1.5::DOUBLE} AS s, "
        "map(['k'], ['nan'::DOUBLE]) AS m, [[{'w': '-inf'::FLOAT}]] AS deep"
    )
    code, out, _ = run(capsys, "--db", str(lab), "sql", query, "--format", "json")
    assert code == 0
    # the strict parser refuses what JSON does not have
    parsed = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in JSON output"))
    assert parsed == {
        "d": None,
        "f": None,
        "g": None,
        "x": 2.5,
        "l": [1.0, None],
        "s": {"y": None, "z": 1.5},
        "m": {"k": None},
        "deep": [[{"w": None}]],
    }
    code, out, _ = run(capsys, "--db", str(lab), "sql", query, "--format", "csv")
    assert out.splitlines()[1].lower().split(",")[:3] == ["nan", "inf", "-inf"]


def test_every_kind_as_a_table(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--db", str(lab), "sql", EVERY_KIND)

    assert (code, err) == (0, "")
    header, rule, row, count = out.splitlines()
    assert table_cells(header) == COLUMNS
    assert table_cells(row) == [
        "1 month 02:00:00",
        "[1, 2]",
        "{'a': 1, 'b': x}",
        r"\xAA\x01",
        "NULL",
        "infinity",
        "-infinity",
        "2026-12-01T10:00:00.000000Z",
        'Blåbær ☃ "q", x',
        "['2026-12-01T10:00:00.500000Z']",
    ]
    assert [len(dashes) for dashes in rule.split("  ")] == [
        len("1 month 02:00:00"),
        len("[1, 2]"),
        len("{'a': 1, 'b': x}"),
        len(r"\xAA\x01"),
        len("NULL"),
        len("infinity"),
        len("-infinity"),
        len("2026-12-01T10:00:00.000000Z"),
        len('Blåbær ☃ "q", x'),
        len("['2026-12-01T10:00:00.500000Z']"),
    ]
    assert count == "(1 row)"


def test_every_kind_as_parquet_keeps_the_types(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "every.parquet"

    code, out, err = run(
        capsys,
        "--db",
        str(lab),
        "sql",
        EVERY_KIND,
        "--format",
        "parquet",
        "--out",
        str(target),
    )

    assert (code, out, err) == (0, "", "")
    row = duckdb.sql(
        "SELECT i::VARCHAR, l, s, b, n, pinf::VARCHAR, ninf::VARCHAR, u "
        f"FROM read_parquet('{target}')"
    ).fetchall()
    assert row == [
        (
            "1 month 02:00:00",
            [1, 2],
            {"a": 1, "b": "x"},
            b"\xaa\x01",
            None,
            "infinity",
            "-infinity",
            'Blåbær ☃ "q", x',
        )
    ]


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_a_time_reads_the_same_in_every_format(
    lab: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    sql = "SELECT ts FROM logs WHERE message = 'link down'"

    code, out, _ = run(capsys, "--db", str(lab), "sql", sql, "--format", fmt)

    assert code == 0
    # the fixture's record says 2026-12-01T10:02:00Z
    assert "2026-12-01T10:02:00.000000Z" in out
    assert "+00" not in out


def test_a_repeated_column_name_keeps_both_values(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--db", str(lab), "sql", "SELECT 1 AS a, 2 AS a", "--format", "csv")

    assert code == 0
    assert out.splitlines()[1] == "1,2"


def test_table_shows_control_characters_as_escapes(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # ESC (a colour change), a C1 CSI, BEL in a column name, a newline and a tab
    sql = (
        "SELECT chr(27) || '[31mred' || chr(10) || 'next' || chr(9) || 'tab' || chr(155) || '2J'"
        ' AS "bell\x07"'
    )

    code, out, _ = run(capsys, "--db", str(lab), "sql", sql)

    assert code == 0
    assert out.splitlines() == [
        r"bell\x07",
        "-" * len("\\x1b[31mred⏎next\ttab\\x9b2J"),
        "\\x1b[31mred⏎next\ttab\\x9b2J",
        "(1 row)",
    ]


def test_no_rows_as_a_table_says_so(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--db", str(lab), "sql", "SELECT 1 AS n WHERE false")

    assert code == 0
    assert out.splitlines() == ["n", "-", "(0 rows)"]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_out_file_gets_what_stdout_would(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    # (a .json file holds one array instead: see test_cli_sql)
    target = tmp_path / f"every.{'jsonl' if fmt == 'json' else fmt}"

    _, to_stdout, _ = run(capsys, "--db", str(lab), "sql", EVERY_KIND, "--format", fmt)
    code, out, _ = run(
        capsys, "--db", str(lab), "sql", EVERY_KIND, "--format", fmt, "--out", str(target)
    )

    assert (code, out) == (0, "")
    assert target.read_text(encoding="utf-8") == to_stdout


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_out_ending_in_gz_or_zst_is_compressed_and_minus_is_stdout(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    """x.csv.gz is gzip'd CSV, x.jsonl.zst zstd'd JSON lines, and ``--out -`` is stdout,
    each holding what stdout gets; a table or Parquet is not compressed so."""
    _, to_stdout, _ = run(capsys, "--db", str(lab), "sql", EVERY_KIND, "--format", fmt)
    name = "every.csv" if fmt == "csv" else "every.jsonl"
    gz = tmp_path / f"{name}.gz"
    assert run(capsys, "--db", str(lab), "sql", EVERY_KIND, "--out", str(gz))[:2] == (0, "")
    assert gzip.decompress(gz.read_bytes()).decode("utf-8") == to_stdout
    zst = tmp_path / f"{name}.zst"
    assert run(capsys, "--db", str(lab), "sql", EVERY_KIND, "--out", str(zst))[:2] == (0, "")
    assert zst.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"  # zstd's frame magic
    reader = "read_csv" if fmt == "csv" else "read_json"
    con = duckdb.connect()
    assert (
        con.sql(f"SELECT count(*) FROM {reader}('{zst}')").fetchall()
        == con.sql(f"SELECT count(*) FROM {reader}('{gz}')").fetchall()
    )
    assert run(capsys, "--db", str(lab), "sql", EVERY_KIND, "--format", fmt, "--out", "-") == (
        0,
        to_stdout,
        "",
    )
    assert not Path("-").exists()


@pytest.mark.parametrize("name", ["t.txt.gz", "t.parquet.zst"])
def test_a_table_or_parquet_is_not_compressed(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, out, err = run(
        capsys, "--db", str(lab), "sql", "SELECT 1", "--out", str(tmp_path / name)
    )
    assert (code, out) == (2, "")
    assert "DuckDB compresses CSV and JSON output" in err
    assert not (tmp_path / name).exists()


def test_a_table_is_written_as_it_is_read_every_row_shown(
    lab: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Column widths come from the first rows (3 here); a wider cell further down pushes its
    own line out, and every row is still there."""
    monkeypatch.setattr(cli, "TABLE_SAMPLE_ROWS", 3)
    query = (
        "SELECT n, CASE WHEN n = 8 THEN 'a much wider cell' ELSE 'v' || n END AS v "
        "FROM range(1, 11) t(n) ORDER BY n"
    )
    code, out, _ = run(capsys, "--db", str(lab), "sql", query)

    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "n  v"
    assert lines[1] == "-  --"
    assert lines[2:5] == ["1  v1", "2  v2", "3  v3"]
    assert lines[9] == "8  a much wider cell"
    assert lines[11] == "10  v10"
    assert lines[12] == "(10 rows)"
    assert [line.split()[0] for line in lines[2:12]] == [str(n) for n in range(1, 11)]
