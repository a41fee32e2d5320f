"""`dvlab metrics`: a metric's points as a table, a counter's rate, a chart, and clear refusals.

The lab is ``tests/telemetry_fixture.py``; expected rows are read off its rows by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dvlab.cli import main
from tests.telemetry_fixture import make_telemetry_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_telemetry_lab(tmp_path_factory.mktemp("metrics") / "lab.duckdb")


def run(lab: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--db", str(lab), "metrics", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_values_as_csv(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(lab, capsys, "errors_open", "--format", "csv")

    # a series without labels has the empty text as its labels ("" in CSV), not NULL
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "ts,labels,site,service,value",
        '2026-12-04T10:02:00.000000Z,"",osl1,api,0.0',
        '2026-12-04T10:03:00.000000Z,"",osl1,api,0.0',
        '2026-12-04T10:04:00.000000Z,"",osl1,api,3.0',
    ]


def test_a_counters_rate_with_a_restart_in_a_window(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 180 at 10:03, 240 at 10:04 (+60 in 60 s), 30 at 10:05 (a restart: 30 since 0),
    # 930 at 10:06 (+900); the rate of 10:04 looks back before the window
    code, out, _ = run(
        lab,
        capsys,
        "requests_total",
        "--labels",
        "code=500",
        "--rate",
        "--from",
        "2026-12-04T10:04:00Z",
        "--format",
        "csv",
    )

    assert code == 0
    assert out.splitlines() == [
        "ts,labels,site,service,rate",
        '2026-12-04T10:04:00.000000Z,"{code=""500""}",osl1,gateway,1.0',
        '2026-12-04T10:05:00.000000Z,"{code=""500""}",osl1,gateway,0.5',
        '2026-12-04T10:06:00.000000Z,"{code=""500""}",osl1,gateway,15.0',
    ]


def test_table_lists_each_series_oldest_first(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(lab, capsys, "requests_total", "--to", "2026-12-04T10:01:30Z")

    # the code="200" series sorts before code="500"; two points each before 10:01:30
    assert code == 0
    assert out.splitlines() == [
        "ts                           labels        site  service  value",
        "---------------------------  ------------  ----  -------  -----",
        '2026-12-04T10:00:00.000000Z  {code="200"}  osl1  gateway  0.0',
        '2026-12-04T10:01:00.000000Z  {code="200"}  osl1  gateway  120.0',
        '2026-12-04T10:00:00.000000Z  {code="500"}  osl1  gateway  0.0',
        '2026-12-04T10:01:00.000000Z  {code="500"}  osl1  gateway  60.0',
        "(4 rows)",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["request_total"],
            "no metric 'request_total' in the lab; the closest names: requests_total, ",
        ),
        (
            ["requests_total", "--labels", "code=404"],
            "no series of 'requests_total' has code=404; its code values: 200, 500",
        ),
        (["requests_total", "--labels", "status=500"], "no series of 'requests_total' has a label 'status'"),
        (["requests_total", "--labels", "code"], "--labels takes key=value, not 'code'"),
        (
            ["queue_depth", "--rate"],
            "--rate is for counters, and 'queue_depth' is a gauge; show its values without --rate",
        ),
        (["queue_depth", "--from", "noon"], "--from 'noon' is not a time"),
        (
            ["queue_depth", "--from", "2026-12-05T00:00:00Z"],
            "no point of 'queue_depth' with these filters from 2026-12-05T00:00:00Z to the last;"
            " its points run from 2026-12-04T10:00:00Z to 2026-12-04T10:07:00Z",
        ),
        (["queue_depth", "--chart", "q.pdf"], "cannot write a chart as 'q.pdf'; name a .svg or .png file"),
    ],
)  # fmt: skip
def test_refusals_say_what_was_wrong(
    lab: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(lab, capsys, *args)

    assert (code, out) == (2, "")
    assert err.startswith(f"dvlab: {message}")


def test_a_lab_without_metrics_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "one.jsonl"
    source.write_text('{"ts": "2026-12-04T10:00:00Z", "msg": "hello"}\n', encoding="utf-8")
    db = tmp_path / "lab.duckdb"
    assert main(["--db", str(db), "ingest", str(source)]) == 0
    capsys.readouterr()

    code, _, err = run(db, capsys, "up")

    assert (code, err) == (2, "dvlab: no metric 'up': the lab holds no metrics (load a scrape or"
                           " a monitoring response with `dvlab ingest`)\n")  # fmt: skip


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_chart_is_written_with_one_line_per_series(
    lab: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str
) -> None:
    chart = tmp_path / f"requests{suffix}"

    code, out, _ = run(lab, capsys, "requests_total", "--rate", "--chart", str(chart))

    # two series of seven points each
    assert (code, out) == (0, f"chart written: {chart} (2 series, 14 points)\n")
    head = chart.read_bytes()[:200]
    if suffix == ".png":
        assert head.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        text = chart.read_text(encoding="utf-8")
        assert text.startswith("<svg")
        assert 'requests_total{code="200"} [osl1 gateway]' in text.replace("&quot;", '"')


def test_a_counters_created_time_is_no_count_to_take_a_rate_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """OpenMetrics gives a counter a _created series, of the counter's type: a time, which a
    restart moves, not a count; its rate would be read as a spike of the counter."""
    scrape = tmp_path / "a.txt"
    scrape.write_text(
        "# TYPE req counter\n"
        "req_total 10 1700000000\nreq_created 1699990000 1700000000\n"
        "req_total 20 1700000060\nreq_created 1699999999 1700000060\n# EOF\n",
        encoding="utf-8",
    )
    lab = tmp_path / "lab.duckdb"
    assert main(["--db", str(lab), "ingest", str(scrape), "--format", "openmetrics"]) == 0
    capsys.readouterr()

    code, _, err = run(lab, capsys, "req_created", "--rate")
    assert code == 2
    assert "'req_created' is a counter's creation time, not a count" in err
    # 10 then 20, 60 s apart: 1/6 a second
    code, out, _ = run(lab, capsys, "req_total", "--rate", "--format", "csv")
    assert code == 0
    assert out.splitlines()[-1].endswith(",0.16666666666666666")


def test_rate_of_a_metric_of_unknown_type_is_refused_in_plain_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scrape = tmp_path / "s.prom"
    scrape.write_text('hits{path="/"} 3\n')  # no TYPE line: its type is unknown
    lab = tmp_path / "lab.duckdb"
    assert main(["--db", str(lab), "ingest", str(scrape), "--at", "2026-12-04T10:00Z"]) == 0
    capsys.readouterr()

    code, _, err = run(lab, capsys, "hits", "--rate")

    assert code == 2
    assert "--rate is for counters, and 'hits' is an unknown; show its values" in err


def test_out_ending_in_json_writes_json(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "points.json"
    code, _, err = run(lab, capsys, "errors_open", "--out", str(out))

    assert (code, err) == (0, "")
    rows = json.loads(out.read_text(encoding="utf-8"))  # one array, as sql writes it
    assert [row["value"] for row in rows] == [0.0, 0.0, 3.0]


def test_labels_as_text_escape_quotes_backslashes_and_line_breaks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As Prometheus writes a label value: one line per point whatever the value holds."""
    scrape = tmp_path / "s.prom"
    scrape.write_text('# TYPE g gauge\ng{v="a\\"b\\\\c\\nd"} 1\n')
    lab = tmp_path / "lab.duckdb"
    assert main(["--db", str(lab), "ingest", str(scrape), "--at", "2026-12-04T10:00Z"]) == 0
    capsys.readouterr()

    code, out, _ = run(lab, capsys, "g", "--format", "csv")

    assert code == 0
    assert out.splitlines()[1:] == ['2026-12-04T10:00:00.000000Z,"{v=""a\\""b\\\\c\\nd""}",,,1.0']
