"""`dvlab ingest` of Prometheus scrapes and saved API responses into a lab.

Expected values are counted from the raw files here with plain string
handling (sample lines, TYPE lines, a histogram's buckets), or written by
hand beside small inputs; the lab is read back with plain read-only DuckDB.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dvlab.errors import BadInputError
from dvlab.lab.ingest import IngestOptions, ingest
from dvlab.lab.store import open_lab
from tests.conftest import real_sample

from .ingest_support import query, run_cli

NODE = Path("prometheus-node-exporter") / "e2e-output.txt"
DEMO = Path("prometheus-demo-scrape") / "alltypes.237mfs.prom.txt"
AT = "2026-05-01T12:00:00Z"
AT_TS = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def exposition_lines(path: Path) -> list[str]:
    """The file's lines as an exposition ends them (at \\n alone: a label value of the
    node exporter's scrape holds a character splitlines() would also break at)."""
    return path.read_text(encoding="utf-8").split("\n")


def write(path: Path, text: str, *, mtime: float | None = None) -> Path:
    path.write_text(text, encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def counts(lab: Path) -> tuple[int, int, int]:
    """Rows of metrics, metric_families and rejects."""
    if not lab.exists():
        return (0, 0, 0)
    found = query(
        lab,
        """SELECT (SELECT count(*) FROM metrics), (SELECT count(*) FROM metric_families),
                  (SELECT count(*) FROM rejects)""",
    )
    return found[0]


# --------------------------------------------------------------------------- real scrapes


@pytest.mark.parametrize("name", [NODE, DEMO])
def test_a_real_scrape_loads_every_family_and_sample(
    real_data: Path, lab_path: Path, name: Path
) -> None:
    path = real_sample(real_data, name)
    lines = exposition_lines(path)
    samples = [line for line in lines if line.strip() and not line.startswith("#")]
    # '# TYPE name type': 0.0.4's untyped is the lab's unknown
    types = {
        line.split()[2]: line.split()[3].replace("untyped", "unknown")
        for line in lines
        if line.startswith("# TYPE ")
    }
    helps = {line.split()[2] for line in lines if line.startswith("# HELP ")}

    summary = ingest(lab_path, [str(path)], IngestOptions(at=AT))

    assert [(s.status, s.format, s.rows_rejected) for s in summary.sources] == [
        ("loaded", "prometheus", 0)
    ]
    assert query(lab_path, "SELECT count(*), count(DISTINCT ts), min(ts) FROM metrics") == [
        (len(samples), 1, AT_TS)
    ]
    families = query(lab_path, "SELECT family, type FROM metric_families")
    assert dict(families) == types
    assert len(families) == len(types | dict.fromkeys(helps))  # each family once
    # a declared family's samples carry its type
    mistyped = query(
        lab_path,
        """SELECT m.name, m.type, f.type FROM metrics m JOIN metric_families f USING (family)
           WHERE m.type <> f.type""",
    )
    assert mistyped == []


def test_the_node_exporters_families_without_samples_are_known(
    real_data: Path, lab_path: Path
) -> None:
    path = real_sample(real_data, NODE)
    lines = exposition_lines(path)
    go_types = {
        line.split()[2]: line.split()[3] for line in lines if line.startswith("# TYPE go_")
    }
    assert go_types  # the exporter's go_* families, exposed without samples
    assert not [line for line in lines if line.startswith("go_")]
    ingest(lab_path, [str(path)], IngestOptions(at=AT))
    stored = query(
        lab_path, "SELECT family, type FROM metric_families WHERE family LIKE 'go\\_%' ESCAPE '\\'"
    )
    assert dict(stored) == go_types


def test_the_demo_scrapes_empty_quantiles_are_null(real_data: Path, lab_path: Path) -> None:
    path = real_sample(real_data, DEMO)
    nan_lines = [
        n
        for n, line in enumerate(exposition_lines(path), start=1)
        if not line.startswith("#") and line.endswith(" NaN")
    ]
    assert nan_lines  # summaries whose window had no observations
    ingest(lab_path, [str(path)], IngestOptions(at=AT))
    nulls = query(
        lab_path,
        "SELECT line, type, labels['quantile'] IS NOT NULL FROM metrics WHERE value IS NULL "
        "ORDER BY line",
    )
    assert nulls == [(n, "summary", True) for n in nan_lines]


#: a histogram_quantile over the stored buckets of one histogram (no labels but le) of one
#: source: the bucket holding the rank, interpolated linearly from the bound below it (0
#: for the first); a rank only +Inf reaches answers the largest finite bound
QUANTILE_SQL = """
WITH buckets AS (
    SELECT CAST(labels['le'] AS DOUBLE) AS le, value AS count
    FROM metrics WHERE name = $bucket AND source = $source
),
ranked AS (
    SELECT le, count,
           coalesce(lag(le) OVER (ORDER BY le), 0) AS lower,
           coalesce(lag(count) OVER (ORDER BY le), 0) AS below,
           $q * max(count) OVER () AS rank
    FROM buckets
)
SELECT CASE WHEN isinf(le) THEN lower
            ELSE lower + (le - lower) * (rank - below) / (count - below) END
FROM ranked WHERE count >= rank ORDER BY le LIMIT 1
"""


def test_a_histogram_quantile_over_the_loaded_buckets(real_data: Path, lab_path: Path) -> None:
    """go_gc_pauses_seconds of the demo scrape, 0.9 quantile, worked out from its lines.

    Its buckets: 6.4e-08: 0, 6.4e-07: 0, 7.168e-06: 137212, 8.192e-05: 208425,
    0.000917504: 376121, 0.01048576: 381798, 0.117440512: 381863, +Inf: 381864. The
    rank is 0.9 * 381864 = 343677.6, first reached by the 0.000917504 bucket, so the
    quantile is 8.192e-05 + (0.000917504 - 8.192e-05) * (343677.6 - 208425) / (376121 -
    208425), about 0.000756.
    """
    path = real_sample(real_data, DEMO)
    buckets = []
    for line in exposition_lines(path):
        if line.startswith('go_gc_pauses_seconds_bucket{le="'):
            bound, count = line.removeprefix('go_gc_pauses_seconds_bucket{le="').split('"} ')
            buckets.append((float(bound), float(count)))
    assert len(buckets) == 8 and buckets[-1][0] == float("inf")
    rank = 0.9 * buckets[-1][1]
    index = next(i for i, (_, count) in enumerate(buckets) if count >= rank)
    (lower, below), (upper, count) = buckets[index - 1], buckets[index]
    expected = lower + (upper - lower) * (rank - below) / (count - below)
    assert 7.5e-4 < expected < 7.6e-4  # the arithmetic of the docstring

    ingest(lab_path, [str(path)], IngestOptions(at=AT))
    got = query(
        lab_path,
        QUANTILE_SQL,
        {"bucket": "go_gc_pauses_seconds_bucket", "source": str(path), "q": 0.9},
    )
    assert got[0][0] == pytest.approx(expected, rel=1e-12)
    # and the curated query a user runs gives the same, for the scrape's one time
    curated = open_lab(lab_path).query("histogram_quantile", metric="go_gc_pauses_seconds", q=0.9)
    assert [row[-1] for row in curated.fetchall()] == [pytest.approx(expected, rel=1e-12)]


def test_the_quantile_sql_answers_the_largest_finite_bound_past_it(
    lab_path: Path, tmp_path: Path
) -> None:
    """A rank only the +Inf bucket reaches: the largest finite bound (Prometheus's rule)."""
    path = write(
        tmp_path / "h.prom",
        '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="2"} 2\nh_bucket{le="+Inf"} 10\n'
        "h_sum 50\nh_count 10\n",
    )
    ingest(lab_path, [str(path)], IngestOptions(at=AT))
    got = query(lab_path, QUANTILE_SQL, {"bucket": "h_bucket", "source": str(path), "q": 0.9})
    assert got == [(2.0,)]
    # rank 0.15 * 10 = 1.5 lies in the le=2 bucket: 1 + (2 - 1) * (1.5 - 1) / (2 - 1)
    got = query(lab_path, QUANTILE_SQL, {"bucket": "h_bucket", "source": str(path), "q": 0.15})
    assert got == [(1.5,)]


# --------------------------------------------------------------------------- scrape times

SCRAPE = '# TYPE up gauge\nup{job="a"} 1\nup{job="b"} {value}\n'


def scrape(value: int) -> str:
    return SCRAPE.replace("{value}", str(value))


def test_a_scrape_without_timestamps_takes_at_else_its_modification_time(
    lab_path: Path, tmp_path: Path
) -> None:
    stamped = write(tmp_path / "a.prom", scrape(1), mtime=1_700_000_000.25)
    unstamped = write(tmp_path / "b.prom", scrape(2), mtime=1_700_000_100.5)
    own = write(tmp_path / "c.prom", "# TYPE up gauge\nup 3 1600000000123\n", mtime=1_700_000_200)
    ingest(lab_path, [str(stamped)], IngestOptions(at=AT))
    ingest(lab_path, [str(own)], IngestOptions(at=AT))
    ingest(lab_path, [str(unstamped)])
    got = query(lab_path, "SELECT source, min(ts), max(ts) FROM metrics GROUP BY 1 ORDER BY 1")
    assert got == [
        (str(stamped), AT_TS, AT_TS),
        (str(unstamped), *[datetime(2023, 11, 14, 22, 15, 0, 500000, tzinfo=UTC)] * 2),
        # a sample's own timestamp wins over --at: 1600000000123 ms
        (str(own), *[datetime(2020, 9, 13, 12, 26, 40, 123000, tzinfo=UTC)] * 2),
    ]


def test_a_scrape_timed_by_at_is_unchanged_when_only_touched(
    lab_path: Path, tmp_path: Path
) -> None:
    """Its time is --at, not the file's: a new modification time alone changes nothing,
    and its points stay at --at."""
    path = write(tmp_path / "a.prom", scrape(1), mtime=1_700_000_000)
    ingest(lab_path, [str(path)], IngestOptions(at=AT))
    os.utime(path, (1_700_000_500, 1_700_000_500))
    summary = ingest(lab_path, [str(path)])

    assert [s.status for s in summary.sources] == ["unchanged"]
    assert query(lab_path, "SELECT DISTINCT ts FROM metrics") == [(AT_TS,)]


def test_a_folder_of_scrapes_is_a_series(
    lab_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "scrapes"
    folder.mkdir()
    for i in range(3):
        write(folder / f"scrape-{i}.prom", scrape(10 + i), mtime=1_700_000_000 + 15 * i)

    code, _, err = run_cli(capsys, "--db", str(lab_path), "ingest", str(folder))

    assert code == 0, err
    got = query(
        lab_path,
        "SELECT epoch(ts), value FROM metrics WHERE labels['job'] = 'b' ORDER BY ts",
    )
    assert got == [(1_700_000_000.0, 10.0), (1_700_000_015.0, 11.0), (1_700_000_030.0, 12.0)]
    assert query(lab_path, "SELECT DISTINCT format FROM ingests") == [("prometheus",)]


def test_at_is_refused_for_more_than_one_file(lab_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "scrapes"
    folder.mkdir()
    for i in range(2):
        write(folder / f"s{i}.prom", scrape(i), mtime=1_700_000_000 + 15 * i)

    with pytest.raises(BadInputError, match="--at gives every file the same time, and 2 files"):
        ingest(lab_path, [str(folder)], IngestOptions(at=AT))
    assert not lab_path.exists()


def test_a_renamed_scrape_is_the_same_scrape_but_a_copy_written_later_is_another(
    lab_path: Path, tmp_path: Path
) -> None:
    first = write(tmp_path / "a.prom", scrape(5), mtime=1_700_000_000)
    ingest(lab_path, [str(first)])
    renamed = first.rename(tmp_path / "b.prom")  # a rename keeps the modification time
    copied = write(tmp_path / "c.prom", scrape(5), mtime=1_700_000_060)

    summary = ingest(lab_path, [str(renamed), str(copied)])

    assert [(s.status, s.rows_loaded) for s in summary.sources] == [
        ("unchanged", 0),
        ("loaded", 2),
    ]
    got = query(lab_path, "SELECT epoch(ts), count(*) FROM metrics GROUP BY 1 ORDER BY 1")
    assert got == [(1_700_000_000.0, 2), (1_700_000_060.0, 2)]


def test_a_rewritten_scrape_replaces_its_samples_and_counts_only_them(
    lab_path: Path, tmp_path: Path
) -> None:
    path = write(tmp_path / "a.prom", scrape(5), mtime=1_700_000_000)
    ingest(lab_path, [str(path)])
    write(path, scrape(6) + 'up{job="c"} 1\n', mtime=1_700_000_015)

    summary = ingest(lab_path, [str(path)])

    # the two samples stored before are replaced; the family declared is no row
    assert [(s.status, s.rows_loaded, s.rows_replaced) for s in summary.sources] == [
        ("rewritten", 3, 2)
    ]


def test_identical_scrapes_in_other_files_are_each_a_point_of_the_series(
    lab_path: Path, tmp_path: Path
) -> None:
    """A target that did not change between scrapes writes the same bytes twice; and a later
    scrape may start and end as an earlier one did with more between. Each file is still a
    scrape of its own: none is skipped as a copy or read as a grown earlier file."""
    folder = tmp_path / "scrapes"
    folder.mkdir()
    write(folder / "s0.prom", scrape(7), mtime=1_700_000_000)
    write(folder / "s1.prom", scrape(7), mtime=1_700_000_015)
    ingest(lab_path, [str(folder)])
    # in a later run: the same start and end as s0, one more series between them
    longer = scrape(7).replace('up{job="b"}', 'up{job="z"} 3\nup{job="b"}')
    write(folder / "s2.prom", longer, mtime=1_700_000_030)
    summary = ingest(lab_path, [str(folder)])

    assert [(s.status, s.rows_loaded) for s in summary.sources] == [
        ("unchanged", 0),
        ("unchanged", 0),
        ("loaded", 3),
    ]
    got = query(
        lab_path,
        "SELECT epoch(ts), count(*) FROM metrics WHERE name = 'up' GROUP BY 1 ORDER BY 1",
    )
    assert got == [(1_700_000_000.0, 2), (1_700_000_015.0, 2), (1_700_000_030.0, 3)]


def test_ingesting_again_changes_nothing(lab_path: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "a.prom", scrape(1) + 'up{job="c"} NaN\n')
    first = ingest(lab_path, [str(path)])
    before = query(lab_path, "SELECT * FROM metrics ORDER BY line")
    again = ingest(lab_path, [str(path)])
    assert [(s.status, s.rows_loaded, s.rows_rejected) for s in first.sources] == [
        ("loaded", 2, 1)  # two samples (the family declared is not counted); NaN rejected
    ]
    assert [s.status for s in again.sources] == ["unchanged"]
    assert query(lab_path, "SELECT * FROM metrics ORDER BY line") == before
    assert counts(lab_path) == (2, 1, 1)


def test_a_changed_scrape_replaces_its_rows(lab_path: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "a.prom", scrape(1))
    ingest(lab_path, [str(path)], IngestOptions(at=AT))
    write(path, scrape(7) + "# TYPE extra counter\nextra_total 5\n")
    summary = ingest(lab_path, [str(path)], IngestOptions(at=AT))
    assert [s.status for s in summary.sources] == ["rewritten"]
    got = query(lab_path, "SELECT line, name, value FROM metrics ORDER BY line")
    assert got == [(2, "up", 1.0), (3, "up", 7.0), (5, "extra_total", 5.0)]
    assert query(lab_path, "SELECT family, type FROM metric_families ORDER BY line") == [
        ("up", "gauge"),
        ("extra", "counter"),  # extra_total is a sample of the counter extra
    ]


# --------------------------------------------------------------------------- bad input


def test_rejects_are_stored_with_line_and_reason(lab_path: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.prom",
        "# TYPE up gauge\n"  # 1
        'up{job="a"} 1\n'  # 2
        'up{job="a"} 2\n'  # 3
        "up{job=a} 3\n"  # 4
        "# TYPE h histogram\n"  # 5
        'h_bucket{le="1"} 1\n'  # 6
        "h_count 1\n",  # 7
    )
    ingest(lab_path, [str(path)])
    assert query(lab_path, "SELECT line, reason, raw FROM rejects ORDER BY line") == [
        (3, 'the series up{job="a"} again (first on line 2)', 'up{job="a"} 2'),
        (4, 'bad label syntax in {job=a} (expected name="value", ...)', "up{job=a} 3"),
        (
            6,
            'the histogram series h has no le="+Inf" bucket (its first bucket is on line 6), '
            "so its total count is unknown",
            'h_bucket{le="1"} 1',
        ),
    ]
    assert query(lab_path, "SELECT line FROM metrics ORDER BY line") == [(2,), (7,)]


@pytest.mark.parametrize("odd", ["1bad 6", "foo bar", '{"utf8.metric", a="b"} 5'])
def test_a_scrape_with_a_bad_line_near_its_top_is_still_told_a_scrape(
    lab_path: Path, tmp_path: Path, odd: str
) -> None:
    """One line that is no sample among a declared scrape's first lines: the line is a
    reject, as with --format prometheus, and the rest loads (the whole file had been
    refused as of no format)."""
    samples = "".join(f'req_total{{code="{200 + i}"}} {i}\n' for i in range(12))
    path = write(tmp_path / "one.prom", f"# TYPE req_total counter\nup 1\n{odd}\n{samples}")
    summary = ingest(lab_path, [str(path)])

    assert [(s.format, s.rows_loaded, s.rows_rejected) for s in summary.sources] == [
        ("prometheus", 13, 1)
    ]
    assert query(lab_path, "SELECT line, raw FROM rejects") == [(3, odd)]


def test_a_log_with_a_scrape_like_line_is_not_a_scrape(lab_path: Path, tmp_path: Path) -> None:
    """Lines that are no samples outnumber the samples: not a scrape, whatever one line
    declares. (The log's own reader takes it, and rejects the two lines.)"""
    log = "".join(f"2026-05-01T12:00:{i:02}Z INFO worker {i} started\n" for i in range(12))
    path = write(tmp_path / "app.log", "# TYPE up gauge\nup 1\n" + log)
    summary = ingest(lab_path, [str(path)])

    assert [(s.format, s.rows_loaded, s.rows_rejected) for s in summary.sources] == [
        ("syslog", 12, 2)
    ]
    assert query(lab_path, "SELECT count(*) FROM metrics") == [(0,)]


def test_strict_with_a_bad_line_writes_nothing(lab_path: Path, tmp_path: Path) -> None:
    good = write(tmp_path / "good.prom", scrape(1))
    bad = write(tmp_path / "bad.prom", scrape(2) + 'up{job="c"} +Inf\n')
    with pytest.raises(BadInputError, match="--strict: 1 line"):
        ingest(lab_path, [str(good), str(bad)], IngestOptions(strict=True))
    assert counts(lab_path) == (0, 0, 0)


def test_a_failed_file_leaves_what_was_stored(lab_path: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "a.prom", scrape(1))
    ingest(lab_path, [str(path)], IngestOptions(at=AT))
    before = query(lab_path, "SELECT * FROM metrics ORDER BY line")
    log = write(tmp_path / "app.log", "2026-05-01 12:00:00 INFO starting\n")
    summary = ingest(lab_path, [str(log)], IngestOptions(format="prometheus"))
    assert [(s.status, s.message) for s in summary.sources] == [
        (
            "failed",
            f"{log}:1: '2026-05-01' is not a metric name (nor is this a # line); no line is "
            "a sample (name{labels} value) or a # HELP or # TYPE line, so this is not a "
            "Prometheus exposition",
        )
    ]
    assert query(lab_path, "SELECT * FROM metrics ORDER BY line") == before
    assert counts(lab_path) == (2, 1, 0)


# --------------------------------------------------------------------------- other formats


def test_openmetrics_is_told_and_its_timestamps_are_seconds(
    lab_path: Path, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "om.txt",
        "# TYPE jobs counter\n# UNIT jobs jobs\njobs_total 4 1700000000.5\n"
        "jobs_created 1699999000\n# EOF\n",
    )
    summary = ingest(lab_path, [str(path)], IngestOptions(at=AT))
    assert [s.format for s in summary.sources] == ["openmetrics"]
    assert query(lab_path, "SELECT name, family, type, ts FROM metrics ORDER BY line") == [
        ("jobs_total", "jobs", "counter", datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
        ("jobs_created", "jobs", "counter", AT_TS),
    ]
    assert query(lab_path, "SELECT family, type, unit, line FROM metric_families") == [
        ("jobs", "counter", "jobs", 1)
    ]


def test_a_saved_query_range_response_loads_point_by_point(lab_path: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path / "range.json",
        '{"status":"success","data":{"resultType":"matrix","result":[\n'
        '  {"metric":{"__name__":"up","job":"a"},"values":[[1700000000,"1"],[1700000015.5,"0"]]},\n'
        '  {"metric":{"job":"b"},"values":[[1700000000,"-Inf"]]}\n'
        "]}}\n",
    )
    summary = ingest(lab_path, [str(path)], IngestOptions(site="s1"))
    assert [(s.format, s.rows_loaded, s.rows_rejected) for s in summary.sources] == [
        ("prometheus-api", 2, 1)
    ]
    assert query(
        lab_path,
        "SELECT line, epoch(ts), name, labels, value, type, site FROM metrics ORDER BY ts",
    ) == [
        (2, 1_700_000_000.0, "up", {"job": "a"}, 1.0, "unknown", "s1"),
        (2, 1_700_000_015.5, "up", {"job": "a"}, 0.0, "unknown", "s1"),
    ]
    assert query(lab_path, "SELECT line, reason FROM rejects") == [
        (
            3,
            "data.result[1].values[0]: value -Inf is not a measurement: a rate or average "
            "over it means nothing",
        )
    ]


def test_a_saved_failed_query_fails_whole(lab_path: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path / "err.json",
        '{"status":"error","errorType":"bad_data","error":"1:5: parse error"}\n',
    )
    summary = ingest(lab_path, [str(path)])
    assert [(s.status, s.message) for s in summary.sources] == [
        (
            "failed",
            f'{path}:1: the saved query failed: status "error", errorType "bad_data", '
            'error "1:5: parse error"',
        )
    ]
