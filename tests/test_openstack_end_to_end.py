"""The real OpenStack sample through the commands a user types, checked against the raw file."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from dvlab.cli import main

REQ = re.compile(r"\[(req-[0-9a-f-]{36})")


@pytest.fixture(scope="module")
def raw_lines(real_data: Path) -> list[str]:
    text = (real_data / "loghub-openstack" / "OpenStack_2k.log").read_text(encoding="utf-8")
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, real_data: Path) -> Path:
    db = tmp_path_factory.mktemp("openstack") / "lab.duckdb"
    source = real_data / "loghub-openstack" / "OpenStack_2k.log"
    assert main(["--db", str(db), "ingest", str(source)]) == 0
    return db


def sql_json(capsys: pytest.CaptureFixture[str], lab: Path, query: str) -> list[dict[str, object]]:
    assert main(["--db", str(lab), "sql", query, "--format", "json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_counts_match_the_raw_file(
    lab: Path, raw_lines: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # the raw file: column 1 is the rotated file name (program name before ".log"), column 5 the level
    services = Counter(line.split()[0].split(".log")[0] for line in raw_lines)
    levels = Counter(line.split()[4] for line in raw_lines)
    requests = {m.group(1) for line in raw_lines if (m := REQ.search(line))}
    assert sum(services.values()) == 2000
    assert services == {"nova-api": 1060, "nova-compute": 933, "nova-scheduler": 7}
    assert levels == {"INFO": 1969, "WARNING": 31}
    assert len(requests) == 938

    rows = sql_json(capsys, lab, "SELECT service, count(*) AS n FROM logs GROUP BY 1")
    assert {r["service"]: r["n"] for r in rows} == services
    rows = sql_json(capsys, lab, "SELECT level, level_raw, count(*) AS n FROM logs GROUP BY 1, 2")
    assert {(r["level"], r["level_raw"], r["n"]) for r in rows} == {
        ("info", "INFO", levels["INFO"]),
        ("warn", "WARNING", levels["WARNING"]),
    }
    rows = sql_json(capsys, lab, "SELECT count(DISTINCT correlation_id) AS n FROM logs")
    assert rows == [{"n": len(requests)}]
    assert sql_json(capsys, lab, "SELECT count(*) AS n FROM rejects") == [{"n": 0}]


@pytest.mark.parametrize("pick", [0, 1, 37, -1])
def test_timeline_of_a_request_prints_exactly_its_lines(
    lab: Path, raw_lines: list[str], capsys: pytest.CaptureFixture[str], pick: int
) -> None:
    # requests that span several lines make the better test; take them in file order
    per_request = Counter(m.group(1) for line in raw_lines if (m := REQ.search(line)))
    multi = [req for req, n in per_request.items() if n > 1]
    request = multi[pick]
    expected = [line for line in raw_lines if f"[{request} " in line]

    assert main(["--db", str(lab), "timeline", "--id", request, "--format", "json"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(printed) == len(expected) == per_request[request]
    # each printed row is one of the raw lines: same time to the millisecond, same message end
    for row, raw in zip(printed, expected, strict=True):
        date, clock = raw.split()[1:3]
        assert str(row["ts"]).startswith(f"{date}T{clock}") or str(row["ts"]).startswith(
            f"{date} {clock}"
        )
        message = raw.split("] ", 1)[1]
        message = re.sub(r"^\[instance: [0-9a-f-]+\] ", "", message)
        assert row["message"] == message
        assert row["correlation_id"] == request


@pytest.mark.slow
def test_report_over_openstack_charts_the_three_services(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(lab), "report", "incident-timeline", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    html = Path(re.search(r"report written: (\S+)", out).group(1))  # type: ignore[union-attr]
    assert html.is_file() and html.suffix == ".html"
    notebook = json.loads(Path(re.search(r"executed notebook: (\S+)", out).group(1)).read_text())  # type: ignore[union-attr]
    svgs = [
        "".join(o["data"]["image/svg+xml"])
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
        for o in cell.get("outputs", [])
        if "image/svg+xml" in o.get("data", {})
    ]
    assert svgs, "the report has no chart"
    for service in ("nova-api", "nova-compute", "nova-scheduler"):
        assert service in svgs[0]
    page = html.read_text(encoding="utf-8")
    assert "<script src=" not in page
