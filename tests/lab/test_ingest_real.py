"""The real samples through the whole ingest, checked against counts taken from the raw files.

Expected values come from the files themselves: ``json.loads`` per line
(``parse_float=Decimal``, so epoch seconds keep every digit), ``str.count``
and plain regular expressions.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dvlab.lab.ingest import ingest
from dvlab.lab.store import open_lab

from .ingest_support import query, run_cli

pytestmark = pytest.mark.realdata

PG = "pgbadger-postgres"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RFC3339_Z = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z")


def gunzipped_lines(path: Path) -> list[str]:
    text = gzip.decompress(path.read_bytes()).decode("utf-8")
    assert text.endswith("\n")
    lines = text.split("\n")[:-1]
    assert len(lines) == text.count("\n")
    return lines


def epoch_seconds_to_utc(value: Decimal) -> datetime:
    """Epoch seconds with any number of decimals, cut (not rounded) to the microsecond."""
    return EPOCH + timedelta(microseconds=int(value * 1_000_000))


def rfc3339_z_to_utc(text: str) -> datetime:
    match = RFC3339_Z.fullmatch(text)
    assert match is not None, text
    year, month, day, hour, minute, second = (int(x) for x in match.groups()[:6])
    micro = int((match[7] or "")[:6].ljust(6, "0"))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


@pytest.fixture(scope="module")
def pg_lab(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lab = tmp_path_factory.mktemp("pg") / "lab.duckdb"
    summary = ingest(
        lab, [str(real_data / PG / "cnpg.log.gz"), str(real_data / PG / "cloudsql.log.gz")]
    )
    assert [(s.status, s.format, s.rows_rejected) for s in summary.sources] == [
        ("loaded", "jsonl", 0),
        ("loaded", "jsonl", 0),
    ]
    return lab


def per_value(lab: Path, column: str, source: Path) -> dict[Any, int]:
    rows = query(
        lab, f"SELECT {column}, count(*) FROM logs WHERE source = ? GROUP BY 1", [str(source)]
    )
    return dict(rows)  # type: ignore[arg-type]


def test_cnpg_counts_per_logger_and_level(real_data: Path, pg_lab: Path) -> None:
    source = real_data / PG / "cnpg.log.gz"
    records = [json.loads(line) for line in gunzipped_lines(source)]

    assert len(records) == 2022  # as SOURCE.md says
    assert query(pg_lab, "SELECT count(*) FROM logs WHERE source = ?", [str(source)]) == [(2022,)]
    assert per_value(pg_lab, "service", source) == Counter(r.get("logger") for r in records)
    assert per_value(pg_lab, "level_raw", source) == Counter(r["level"] for r in records)
    assert per_value(pg_lab, "host", source) == {None: 2022}  # logging_pod is no host variant


def test_cnpg_newest_first_comes_out_oldest_first(
    real_data: Path, pg_lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = real_data / PG / "cnpg.log.gz"
    lines = gunzipped_lines(source)
    expected = {
        number: epoch_seconds_to_utc(json.loads(line, parse_float=Decimal)["ts"])
        for number, line in enumerate(lines, start=1)
    }
    assert expected[1] > expected[len(lines)]  # the file runs newest first

    stored = dict(query(pg_lab, "SELECT line, ts FROM logs WHERE source = ?", [str(source)]))
    assert stored == expected  # every time, to the microsecond

    code, out, _ = run_cli(
        capsys, "--db", str(pg_lab), "timeline", "--format", "json", "--limit", "100000"
    )
    assert code == 0
    timeline = [json.loads(x) for x in out.splitlines() if str(source) in x]
    times = [datetime.fromisoformat(row["ts"]) for row in timeline]
    assert len(timeline) == len(lines)
    assert times == sorted(expected.values())
    oldest = min(expected.values())
    assert timeline[0]["line"] in {n for n, t in expected.items() if t == oldest}


def test_cloudsql_severity_message_and_nanosecond_times(real_data: Path, pg_lab: Path) -> None:
    source = real_data / PG / "cloudsql.log.gz"
    records = [json.loads(line) for line in gunzipped_lines(source)]

    assert len(records) == 1343
    assert per_value(pg_lab, "level_raw", source) == Counter(r["severity"] for r in records)
    levels = query(
        pg_lab,
        "SELECT DISTINCT level_raw, level FROM logs WHERE source = ? ORDER BY 1",
        [str(source)],
    )
    assert levels == [("ALERT", "fatal"), ("INFO", "info")]
    rows = query(pg_lab, "SELECT line, ts, message FROM logs WHERE source = ?", [str(source)])
    assert {line: (ts, message) for line, ts, message in rows} == {
        n: (rfc3339_z_to_utc(r["timestamp"]), r["textPayload"])
        for n, r in enumerate(records, start=1)
    }

    # receiveTimestamp carries nanoseconds; it stays, as written, in attributes, and the
    # lab's time path reads it to the microsecond, cut
    digits = [len(RFC3339_Z.fullmatch(r["receiveTimestamp"])[7] or "") for r in records]  # type: ignore[index]
    assert max(digits) > 6
    received = open_lab(pg_lab).sql(
        "SELECT line, attributes->>'$.receiveTimestamp', dvlab_ts(attributes->>'$.receiveTimestamp')"
        " FROM logs WHERE source = $source",
        {"source": str(source)},
    )
    assert {line: (text, ts) for line, text, ts in received.fetchall()} == {
        n: (r["receiveTimestamp"], rfc3339_z_to_utc(r["receiveTimestamp"]))
        for n, r in enumerate(records, start=1)
    }


LOGHUB = {
    "loghub-openstack/OpenStack_2k.log": re.compile(
        r"\S+ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \d+ [A-Z]+ \S"
    ),
    "loghub-linux/Linux_2k.log": re.compile(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ \S"),
    "loghub-openssh/OpenSSH_2k.log": re.compile(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ \S"),
}


def test_cli_summary_totals_match_the_files(
    real_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = [real_data / name for name in LOGHUB]
    texts = [p.read_text(encoding="utf-8") for p in paths]
    lines = [t.split("\n") if not t.endswith("\n") else t.split("\n")[:-1] for t in texts]
    starts = [
        sum(1 for x in ls if rx.match(x)) for ls, rx in zip(lines, LOGHUB.values(), strict=True)
    ]
    bad = [
        [n for n, x in enumerate(ls, 1) if not rx.match(x)]
        for ls, rx in zip(lines, LOGHUB.values(), strict=True)
    ]
    assert bad == [[], [899], []]  # 'Jul  7 08:06:15 combo  -- root[2421]: ...' has no tag
    loaded, rejected = sum(starts), sum(len(b) for b in bad)

    lab = tmp_path / "text.duckdb"
    code, out, err = run_cli(capsys, "--db", str(lab), "ingest", *map(str, paths))
    assert (code, err) == (0, "")
    summary = re.search(r": 3 source\(s\), (\d+) loaded, (\d+) rejected, 0 skipped in ", out)
    assert summary is not None, out
    assert (int(summary[1]), int(summary[2])) == (loaded, rejected) == (5999, 1)
    assert query(lab, "SELECT count(*) FROM logs") == [(loaded,)]
    assert query(lab, "SELECT source, line, raw FROM rejects") == [
        (str(paths[1]), 899, lines[1][898])
    ]

    as_json = tmp_path / "json.duckdb"
    code, out, _ = run_cli(capsys, "--db", str(as_json), "ingest", "--json", *map(str, paths))
    report = json.loads(out)
    assert code == 0
    assert (report["rows_loaded"], report["rows_rejected"], report["failed"]) == (
        loaded,
        rejected,
        0,
    )
    assert [s["rows_loaded"] for s in report["sources"]] == starts
    assert [s["rows_rejected"] for s in report["sources"]] == [len(b) for b in bad]
    assert [s["format"] for s in report["sources"]] == ["oslo", "syslog", "syslog"]


SPARK = "loghub-spark/Spark_2k.log"
SPARK_PATTERN = r"^(?P<ts>\S+ \S+) (?P<level>\w+) (?P<logger>[^:]+): (?P<msg>.*)$"


def test_spark_two_digit_years_are_rejected_until_their_form_is_said(
    real_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Spark writes yy/MM/dd: DuckDB alone reads 17/06/09 as the year 17. Without
    --time-format every line is a reject that says so; with it, each line is its time."""
    source = tmp_path / "Spark_2k.log"
    source.write_bytes((real_data / SPARK).read_bytes())
    text = source.read_bytes().decode("utf-8")
    assert text.endswith("\r\n")  # CRLF, the last line ended too
    lines = text.split("\r\n")[:-1]
    assert len(lines) == 2000
    times = [datetime.strptime(x[:17], "%y/%m/%d %H:%M:%S").replace(tzinfo=UTC) for x in lines]
    levels = Counter(x.split(" ")[2] for x in lines)
    lab = str(tmp_path / "lab.duckdb")

    code, out, _ = run_cli(capsys, "--db", lab, "ingest", str(source), "--pattern", SPARK_PATTERN)
    assert code == 0 and ", 0 loaded, 2000 rejected, " in out
    reasons = query(
        Path(lab), "SELECT DISTINCT regexp_replace(reason, '\"[^\"]*\"', 'T') FROM rejects"
    )
    assert reasons == [
        ("unparseable time T (its year is not written in full: say the form with "
         "--time-format, as %y/%m/%d %H:%M:%S)",)
    ]  # fmt: skip
    assert run_cli(capsys, "--db", lab, "forget", str(source))[0] == 0

    form = ["--time-format", "%y/%m/%d %H:%M:%S"]
    code, out, _ = run_cli(
        capsys, "--db", lab, "ingest", str(source), "--pattern", SPARK_PATTERN, *form
    )
    assert code == 0 and ", 2000 loaded, 0 rejected, " in out
    assert query(Path(lab), "SELECT ts FROM logs ORDER BY line") == [(t,) for t in times]
    stored = query(Path(lab), "SELECT level_raw, count(*) FROM logs GROUP BY 1")
    assert dict(stored) == levels  # type: ignore[arg-type]

    # grown: the source keeps its form (and its pattern) without being told again
    with source.open("a", encoding="utf-8") as fh:
        fh.write("17/06/09 20:12:01 WARN storage.BlockManager: one more\r\n")
    code, out, err = run_cli(capsys, "--db", lab, "ingest", str(source))
    assert (code, err) == (0, "")
    assert query(Path(lab), "SELECT ts, level FROM logs WHERE line = 2001") == [
        (datetime(2017, 6, 9, 20, 12, 1, tzinfo=UTC), "warn")
    ]
    assert query(Path(lab), "SELECT count(*) FROM rejects") == [(0,)]
