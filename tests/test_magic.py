"""The ``%%sql`` cell magic, in a real IPython shell over a three-row lab."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from dvlab.lab import schema
from dvlab.magic import bind_from_namespace, sql_parameter_names

ROWS = [
    ("2026-12-04 10:00:00+00", "oslo", "gateway", "info", "started"),
    ("2026-12-04 10:01:00+00", "oslo", "gateway", "error", "upstream timed out"),
    ("2026-12-04 10:02:00+00", "bergen", "ledger", "error", "checksum mismatch"),
]


@pytest.fixture(scope="module")
def small_lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("magic") / "lab.duckdb"
    con = duckdb.connect(str(path))
    try:
        schema.migrate(con, "lab")
        con.executemany(
            "INSERT INTO logs (ts, site, service, level, message, source, line, ingest_id)"
            " VALUES (?::TIMESTAMPTZ, ?, ?, ?, ?, 'fixture.jsonl', ?, 1)",
            [(*row, line) for line, row in enumerate(ROWS, start=1)],
        )
    finally:
        con.close()
    return path


@pytest.fixture
def shell(small_lab: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("DVLAB_DB", str(small_lab))
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "dvlab.magic")
    yield ip
    InteractiveShell.clear_instance()


def test_sql_returns_a_polars_frame_from_the_default_lab(shell: InteractiveShell) -> None:
    frame = shell.run_cell_magic(
        "sql", "", "SELECT service, count(*) AS n FROM logs GROUP BY service ORDER BY service"
    )

    assert isinstance(frame, pl.DataFrame)
    assert frame.rows() == [("gateway", 2), ("ledger", 1)]


def test_sql_binds_dollar_names_from_notebook_variables(shell: InteractiveShell) -> None:
    shell.user_ns["site"] = "oslo"
    shell.user_ns["wanted"] = "error"

    frame = shell.run_cell_magic(
        "sql",
        "",
        "SELECT message FROM logs\n"
        "WHERE site = $site AND level = $wanted  -- not $unset\n"
        "  AND message <> '$unset either'",
    )

    assert frame.rows() == [("upstream timed out",)]


def test_sql_names_an_undefined_variable(shell: InteractiveShell) -> None:
    shell.user_ns.pop("nowhere", None)

    with pytest.raises(UsageError, match=r"\$nowhere .* not defined; assign nowhere"):
        shell.run_cell_magic("sql", "", "SELECT * FROM logs WHERE site = $nowhere")


def test_sql_out_stores_the_result(shell: InteractiveShell) -> None:
    returned = shell.run_cell_magic(
        "sql", "-o errors", "SELECT service FROM logs WHERE level = 'error' ORDER BY ts"
    )

    assert shell.user_ns["errors"] is returned
    assert returned.get_column("service").to_list() == ["gateway", "ledger"]


def test_sql_lab_option_overrides_the_default(
    shell: InteractiveShell, small_lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVLAB_DB", str(tmp_path / "elsewhere.duckdb"))

    frame = shell.run_cell_magic("sql", f"--lab {small_lab}", "SELECT count(*) AS n FROM logs")

    assert frame.rows() == [(3,)]


@pytest.mark.parametrize("quote", ['"', "'"])
def test_sql_lab_path_with_blanks_in_quotes(
    shell: InteractiveShell, small_lab: Path, tmp_path: Path, quote: str
) -> None:
    """The quotes had stayed part of the path ("no lab at \"/…\"")."""
    folder = tmp_path / "my labs"
    folder.mkdir()
    lab = folder / "lab.duckdb"
    lab.write_bytes(small_lab.read_bytes())

    frame = shell.run_cell_magic(
        "sql", f"--lab {quote}{lab}{quote}", "SELECT count(*) AS n FROM logs"
    )

    assert frame.rows() == [(3,)]


def test_sql_refuses_an_unclosed_quote(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="No closing quotation"):
        shell.run_cell_magic("sql", '--lab "x.duckdb', "SELECT 1")


def test_sql_in_a_run_cell_shows_its_result(shell: InteractiveShell) -> None:
    result = shell.run_cell("%%sql -o sites\nSELECT DISTINCT site FROM logs ORDER BY site")

    assert result.success
    assert result.result.get_column("site").to_list() == ["bergen", "oslo"]


def test_sql_refuses_a_bad_out_name(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="-o takes a variable name"):
        shell.run_cell_magic("sql", "-o 2x", "SELECT 1")


def test_sql_refuses_an_empty_cell(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="needs a query"):
        shell.run_cell_magic("sql", "", "  \n")


def test_parameter_names_skip_strings_and_comments() -> None:
    sql = (
        "SELECT $a, 'it''s $b', \"$c\", $$ $d $$ /* $e */, $f -- $g\n"
        "FROM logs WHERE x = $a OR y = $h_1"
    )

    assert sql_parameter_names(sql) == ["a", "f", "h_1"]


def test_parameter_names_skip_escape_and_dollar_quoted_strings(shell: InteractiveShell) -> None:
    """As DuckDB reads them: $x inside E'it\\'s $x' or $tag$ … $tag$ had been asked of the
    notebook ("assign x")."""
    sql = "SELECT E'it\\'s $x' AS s, $tag$ $y $tag$ AS t, $n AS n"
    shell.user_ns["n"] = 7

    assert sql_parameter_names(sql) == ["n"]
    assert shell.run_cell_magic("sql", "", sql).rows() == [("it's $x", " $y ", 7)]


def test_bind_lists_every_missing_name() -> None:
    with pytest.raises(UsageError, match=r"\$b, \$c .* they are not defined"):
        bind_from_namespace("SELECT $a, $b, $c", {"a": 1})


def test_sql_exists_only_after_load_ext() -> None:
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance()
    try:
        assert "sql" not in ip.magics_manager.magics["cell"]
        ip.run_line_magic("load_ext", "dvlab.magic")
        assert "sql" in ip.magics_manager.magics["cell"]
    finally:
        InteractiveShell.clear_instance()
