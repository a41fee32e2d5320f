"""The Prometheus readers: exposition text (0.0.4 and OpenMetrics) and saved API responses.

Every expected value is written by hand beside its input, or counted from a
real scrape in the test with plain string handling.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import duckdb
import pytest

from dvlab.errors import BadInputError
from dvlab.sources import files, prometheus, telemetry
from dvlab.sources.prometheus import Exposition, exposition_format, parse
from tests.conftest import real_sample

NODE = "prometheus-node-exporter/e2e-output.txt"
DEMO = "prometheus-demo-scrape/alltypes.237mfs.prom.txt"


def rows(out: Exposition) -> list[tuple[int, str, dict[str, str], float | None, str, str]]:
    """(line, name, labels, value, type, family) of each stored sample."""
    return [
        (out.lines[i], out.names[i], out.labels(i), out.values[i], out.types[i], out.families[i])
        for i in range(len(out.lines))
        if i not in out.dropped
    ]


def rejects(out: Exposition) -> list[tuple[int, str]]:
    return [(line, reason) for line, reason, _ in out.rejects]


# --------------------------------------------------------------------------- good input


def test_samples_carry_their_family_type_and_labels() -> None:
    text = "\n".join(
        [
            "# HELP http_seconds Request time.",  # 1
            "# TYPE http_seconds histogram",  # 2
            'http_seconds_bucket{le="0.5",path="/a"} 1',  # 3
            'http_seconds_bucket{le="+Inf",path="/a"} 4',  # 4
            'http_seconds_sum{path="/a"} 7.25',  # 5
            'http_seconds_count{path="/a"} 4',  # 6
            "# TYPE rpc summary",  # 7
            'rpc{quantile="0.9"} 1e+06',  # 8
            "rpc_sum 3",  # 9
            "rpc_count 2",  # 10
            "# TYPE jobs_total counter",  # 11
            "jobs_total -1.5E-3",  # 12
            "# TYPE temp untyped",  # 13
            "temp 21",  # 14
            "stray 1",  # 15
        ]
    )
    out = parse(text, openmetrics=False)
    assert rejects(out) == []
    assert rows(out) == [
        (3, "http_seconds_bucket", {"le": "0.5", "path": "/a"}, 1.0, "histogram", "http_seconds"),
        (4, "http_seconds_bucket", {"le": "+Inf", "path": "/a"}, 4.0, "histogram", "http_seconds"),
        (5, "http_seconds_sum", {"path": "/a"}, 7.25, "histogram", "http_seconds"),
        (6, "http_seconds_count", {"path": "/a"}, 4.0, "histogram", "http_seconds"),
        (8, "rpc", {"quantile": "0.9"}, 1_000_000.0, "summary", "rpc"),
        (9, "rpc_sum", {}, 3.0, "summary", "rpc"),
        (10, "rpc_count", {}, 2.0, "summary", "rpc"),
        (12, "jobs_total", {}, -0.0015, "counter", "jobs_total"),
        (14, "temp", {}, 21.0, "unknown", "temp"),
        (15, "stray", {}, 1.0, "unknown", "stray"),
    ]
    families = {f.name: (f.type, f.help, f.line) for f in out.declared.values()}
    assert families == {
        "http_seconds": ("histogram", "Request time.", 1),
        "rpc": ("summary", None, 7),
        "jobs_total": ("counter", None, 11),
        "temp": ("unknown", None, 13),
    }
    assert out.times == [None] * 10


def test_label_and_help_escapes_are_decoded() -> None:
    text = (
        "# HELP x A \\\\ backslash and a\\nnew line.\n"
        "# TYPE x gauge\n"
        'x{path="C:\\\\temp",quote="say \\"hi\\"",nl="a\\nb",brace="}{",hash="a # b"} 1\n'
    )
    out = parse(text, openmetrics=False)
    assert rows(out) == [
        (
            3,
            "x",
            {
                "path": "C:\\temp",
                "quote": 'say "hi"',
                "nl": "a\nb",
                "brace": "}{",
                "hash": "a # b",
            },
            1.0,
            "gauge",
            "x",
        )
    ]
    assert out.declared["x"].help == "A \\ backslash and a\nnew line."


def test_spacing_commas_and_crlf_are_taken() -> None:
    text = '# TYPE a gauge\r\na { x = "1" , y="2", } 3\r\na{z="1"}\t4 \r\nb{} 5\r\n'
    out = parse(text, openmetrics=False)
    assert rejects(out) == []
    assert [(r[0], r[2], r[3]) for r in rows(out)] == [
        (2, {"x": "1", "y": "2"}, 3.0),
        (3, {"z": "1"}, 4.0),
        (4, {}, 5.0),
    ]


def test_a_0_0_4_timestamp_is_milliseconds() -> None:
    out = parse('up 1 1700000000123\nup{a="b"} 1 253402300799999\n', openmetrics=False)
    # the second: 9999-12-31T23:59:59.999Z, the last millisecond the lab takes
    assert out.times == [1_700_000_000_123_000, 253_402_300_799_999_000]


OUT_OF_RANGE = "timestamp out of range (a time from 1970 to 9999)"


@pytest.mark.parametrize(
    "stamp",
    ["-5", "253402300800000", "99999999999999999", "99999999999999999999999"],
)
def test_a_timestamp_before_1970_or_after_9999_is_a_reject(stamp: str) -> None:
    out = parse(f'up 1\nup{{a="b"}} 2 {stamp}\n', openmetrics=False)
    assert out.rows == 1
    assert out.rejects == [
        (2, "timestamp out of range (a time from 1970 to 9999)", f'up{{a="b"}} 2 {stamp}')
    ]


def test_a_timestamp_too_large_to_be_a_time_is_a_reject_at_once() -> None:
    """Multiplied out, 1e999990 seconds alone took half a minute; 5,000 digits of
    milliseconds are past what int() reads."""
    text = f'up 1\nup{{a="b"}} 2 1e999990\nup{{a="c"}} 3 {"9" * 5000}\n# EOF\n'
    out = parse(text, openmetrics=True)
    assert out.values == [1.0]
    reasons = [(line, reason) for line, reason, _ in out.rejects]
    assert reasons == [(2, OUT_OF_RANGE), (3, OUT_OF_RANGE)]
    out = parse(f'up 1\nup{{a="c"}} 3 {"9" * 5000}\n', openmetrics=False)
    assert [(line, reason) for line, reason, _ in out.rejects] == [(2, OUT_OF_RANGE)]
    api = prometheus.read_api(
        '{"status":"success","data":{"resultType":"vector","result":'
        '[{"metric":{},"value":[1e999990,"1"]}]}}',
        "v.json",
    )
    assert api.rows == []
    assert [(line, reason) for line, reason, _ in api.rejects] == [
        (1, f"data.result[0].value: {OUT_OF_RANGE}")
    ]


def test_openmetrics_takes_several_timed_samples_of_a_series_but_not_two_at_one_time() -> None:
    text = "up 1 1700000000\nup 2 1700000015\nup 3 1700000015\n# EOF\n"
    out = parse(text, openmetrics=True)
    assert out.values == [1.0, 2.0]
    assert [(line, reason) for line, reason, _ in out.rejects] == [
        (3, "the series up again (first on line 2)")
    ]


def test_a_label_with_an_empty_value_is_no_label() -> None:
    # to Prometheus e{a=""} is the series e: here the second sample of one series
    out = parse('e{a="",b="x"} 1\ne{b="x"} 2\nf{a=""} 3\n', openmetrics=False)
    assert out.values == [1.0, 3.0]
    assert (out.label_keys, out.offsets) == (["b"], [0, 1, 1])  # e: b; f: none
    assert [(line, reason) for line, reason, _ in out.rejects] == [
        (2, 'the series e{b="x"} again (first on line 1)')
    ]


def test_nothing_but_comments_is_not_a_scrape() -> None:
    with pytest.raises(BadInputError, match="no line is a sample"):
        parse("# just a note\n\n# another\n", openmetrics=False, source="notes.prom")


def test_openmetrics_families_units_timestamps_and_exemplars() -> None:
    text = "\n".join(
        [
            "# TYPE requests counter",  # 1
            "# UNIT requests requests",  # 2
            '# HELP requests Requests \\"served\\".',  # 3
            'requests_total{code="200"} 10 1700000000.5 # {trace_id="abc"} 1 1700000000.25',  # 4
            'requests_created{code="200"} 1699990000',  # 5
            "# TYPE build info",  # 6
            'build_info{version="1.2"} 1',  # 7
            "# TYPE state stateset",  # 8
            'state{state="ready"} 1',  # 9
            'state{state="down"} 0',  # 10
            "# TYPE queue gaugehistogram",  # 11
            'queue_bucket{le="1"} 2',  # 12
            'queue_bucket{le="+Inf"} 3',  # 13
            "queue_gsum 4",  # 14
            "queue_gcount 3",  # 15
            "# TYPE other unknown",  # 16
            "other 1.5e3 1.7e9",  # 17
            "# EOF",  # 18
        ]
    )
    out = parse(text, openmetrics=True)
    assert rejects(out) == []
    assert [(r[0], r[1], r[4], r[5]) for r in rows(out)] == [
        (4, "requests_total", "counter", "requests"),
        (5, "requests_created", "counter", "requests"),
        (7, "build_info", "info", "build"),
        (9, "state", "stateset", "state"),
        (10, "state", "stateset", "state"),
        (12, "queue_bucket", "gaugehistogram", "queue"),
        (13, "queue_bucket", "gaugehistogram", "queue"),
        (14, "queue_gsum", "gaugehistogram", "queue"),
        (15, "queue_gcount", "gaugehistogram", "queue"),
        (17, "other", "unknown", "other"),
    ]
    # seconds, exactly: 1700000000.5 s and 1.7e9 s in microseconds
    assert out.times[0] == 1_700_000_000_500_000
    assert out.times[-1] == 1_700_000_000_000_000
    requests = out.declared["requests"]
    assert (requests.type, requests.unit, requests.help, requests.line) == (
        "counter",
        "requests",
        'Requests "served".',
        1,
    )


def test_a_family_without_samples_is_still_declared() -> None:
    out = parse(
        "# HELP go_goroutines Goroutines.\n# TYPE go_goroutines gauge\n", openmetrics=False
    )
    assert rows(out) == []
    assert out.declared["go_goroutines"].type == "gauge"


def test_a_summary_quantile_of_nan_is_kept_without_a_value() -> None:
    """A quantile of NaN is a window without observations, not a fault: value NULL."""
    text = '# TYPE rpc summary\nrpc{quantile="0.5"} NaN\nrpc_sum 0\nrpc_count 0\n'
    out = parse(text, openmetrics=False)
    assert rejects(out) == []
    assert [(r[0], r[3]) for r in rows(out)] == [(2, None), (3, 0.0), (4, 0.0)]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('up{job="a} 1', 'bad label syntax: the label set does not close (name="value", ...)'),
        ("up{job=a} 1", 'bad label syntax in {job=a} (expected name="value", ...)'),
        ('up{9job="a"} 1', 'bad label syntax in {9job="a"} (expected name="value", ...)'),
        ('up{job="a",job="b"} 1', "label job is given twice"),
        ('up{job="a"}', 'no value after up{job="a"}'),
        ("up", "no value after up"),
        ("up abc", "'abc' is not a number in Go's syntax, as 1.5, 1e+06, +Inf, -Inf or NaN"),
        ("up 1_000", "'1_000' is not a number in Go's syntax, as 1.5, 1e+06, +Inf, -Inf or NaN"),
        ("up 1 2 3", "'3' after the value and timestamp"),
        ("9up 1", "'9up' is not a metric name (nor is this a # line)"),
        ("up-time 1", "'up-time' is not a metric name"),
        (
            "up 1 1.5",
            "timestamp '1.5' is not whole milliseconds since the epoch (the 0.0.4 format); "
            "an OpenMetrics file counts seconds: --format openmetrics",
        ),
        ("up 1 # trace", "bad exemplar 'trace' (expected # {labels} value [time])"),
        (
            "# TYPE up sometimes",
            "'sometimes' is not a metric type (one of: counter, gauge, "
            "histogram, gaugehistogram, summary, info, stateset, unknown, untyped)",
        ),
        ("# TYPE 9up gauge", "malformed declaration (expected # HELP|TYPE|UNIT name ...)"),
    ],
)
def test_a_malformed_line_is_rejected_and_the_rest_kept(line: str, reason: str) -> None:
    out = parse(f"ok 1\n{line}\nok2 2\n", openmetrics=False)
    assert rejects(out) == [(2, reason)]
    assert out.rejects[0][2] == line
    assert [r[1] for r in rows(out)] == ["ok", "ok2"]


@pytest.mark.parametrize("value", ["NaN", "+Inf", "-Inf", "nan", "Inf"])
def test_nan_and_infinite_values_are_rejected(value: str) -> None:
    out = parse(f'# TYPE g gauge\ng{{le="+Inf"}} {value}\ng 1\n', openmetrics=False)
    assert rejects(out) == [
        (2, f"value {value} is not a measurement: a rate or average over it means nothing")
    ]
    assert [(r[0], r[2]) for r in rows(out)] == [(3, {})]


def test_the_same_series_twice_is_rejected_naming_the_first() -> None:
    text = 'a{x="1",y="2"} 1\na{y="2",x="1"} 2\na{x="1"} 3\na{y="2",x="1"} 4\n'
    out = parse(text, openmetrics=False)
    assert rejects(out) == [
        (2, 'the series a{y="2",x="1"} again (first on line 1)'),
        (4, 'the series a{y="2",x="1"} again (first on line 1)'),
    ]
    assert [(r[0], r[3]) for r in rows(out)] == [(1, 1.0), (3, 3.0)]


def test_a_histogram_series_without_an_inf_bucket_loses_its_buckets() -> None:
    text = "\n".join(
        [
            "# TYPE h histogram",  # 1
            'h_bucket{path="/a",le="0.1"} 1',  # 2
            'h_bucket{path="/b",le="0.1"} 5',  # 3
            'h_bucket{path="/a",le="1"} 3',  # 4
            'h_bucket{path="/b",le="+Inf"} 6',  # 5
            'h_sum{path="/a"} 2',  # 6
            'h_count{path="/a"} 3',  # 7
            "h_bucket 1",  # 8
        ]
    )
    out = parse(text, openmetrics=False)
    missing = (
        'the histogram series h{path="/a"} has no le="+Inf" bucket (its first bucket is on '
        "line 2), so its total count is unknown"
    )
    assert rejects(out) == [
        (2, missing),
        (4, missing),
        (8, "a bucket of the histogram h without an le label"),
    ]
    assert out.rejects[1][2] == 'h_bucket{path="/a",le="1"} 3'
    assert [r[0] for r in rows(out)] == [3, 5, 6, 7]


def test_a_bucket_bound_of_nan_is_no_bound() -> None:
    text = '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="NaN"} 2\nh_bucket{le="+Inf"} 3\n'
    out = parse(text, openmetrics=False)
    assert rejects(out) == [(3, 'le="NaN" is not a bucket bound')]
    assert [r[0] for r in rows(out)] == [2, 4]


def test_a_repeated_or_late_declaration_is_rejected() -> None:
    text = "\n".join(
        [
            "# TYPE a gauge",  # 1
            "# HELP a First.",  # 2
            "a 1",  # 3
            "# TYPE a counter",  # 4
            "# HELP a Second.",  # 5
            "b 1",  # 6
            "# TYPE b gauge",  # 7
            "# HELP c Only help.",  # 8
            "c_total 1",  # 9
            "# TYPE c counter",  # 10
            'd_bucket{le="+Inf"} 1',  # 11
            "# TYPE d histogram",  # 12
        ]
    )
    out = parse(text, openmetrics=False)
    assert rejects(out) == [
        (4, "a second TYPE line for a (the first is on line 1)"),
        (5, "a second HELP line for a (the first is on line 2)"),
        (
            7,
            "TYPE for b after its samples (the first is on line 6); a family's type comes "
            "before its samples",
        ),
        (
            10,
            "TYPE for c after its samples (the first is on line 9); a family's type comes "
            "before its samples",
        ),
        (
            12,
            "TYPE for d after its samples (the first is on line 11); a family's type comes "
            "before its samples",
        ),
    ]
    assert out.declared["a"].type == "gauge"
    assert out.declared["a"].help == "First."
    assert "b" not in out.declared
    assert out.declared["c"].type == "unknown"
    assert [(r[1], r[4], r[5]) for r in rows(out)] == [
        ("a", "gauge", "a"),
        ("b", "unknown", "b"),
        ("c_total", "unknown", "c_total"),
        ("d_bucket", "unknown", "d_bucket"),
    ]


def test_openmetrics_rejects_text_after_eof() -> None:
    out = parse("a 1\n# EOF\nb 2\n", openmetrics=True)
    assert rejects(out) == [(3, "text after # EOF (line 2)")]
    assert [r[1] for r in rows(out)] == ["a"]


def test_a_file_that_is_no_exposition_fails_whole() -> None:
    text = "2026-05-01 12:00:00 INFO starting\n2026-05-01 12:00:01 INFO ready\n"
    with pytest.raises(BadInputError) as caught:
        parse(text, openmetrics=False, source="app.log")
    assert str(caught.value) == (
        "app.log:1: '2026-05-01' is not a metric name (nor is this a # line); no line is a "
        "sample (name{labels} value) or a # HELP or # TYPE line, so this is not a "
        "Prometheus exposition"
    )
    assert caught.value.line == 1


# --------------------------------------------------------------------------- detection


def test_sniff_tells_the_two_text_formats() -> None:
    assert exposition_format(b"# HELP up Up.\n# TYPE up gauge\nup 1\n") == "prometheus"
    assert exposition_format(b'up{job="a"} 1\nup{job="b"} 0\n') == "prometheus"
    assert exposition_format(b"# TYPE up gauge\nup 1\n# EOF\n") == "openmetrics"
    assert exposition_format(b"# TYPE b info\nb_info 1\n") == "openmetrics"
    assert exposition_format(b'# TYPE c counter\nc_total 1 # {t="1"} 1\n') == "openmetrics"
    assert exposition_format(b"# TYPE u untyped\nu 1\n# EOF\n") == "prometheus"
    # a sample with a fault does not hide a scrape: its reader rejects that line
    assert exposition_format(b"# TYPE up gauge\nup{job=a} 1\n") == "prometheus"


@pytest.mark.parametrize(
    "head",
    [
        b"2026-05-01T12:00:00Z INFO starting up\n",
        b"Jan  1 00:00:00 host sshd[1]: Accepted password for root\n",
        b'{"time": "2026-05-01T12:00:00Z", "msg": "up 1"}\n',
        b"level=info msg=ready\n",
        b"ready 1\nsteady 2\n",  # could be samples, but nothing says it is a scrape
        b"# HELP me\nplease help me now\n",
        b"# a shell comment\nexport X=1\n",
        b"Config{debug=true} loaded\nserving on :8080\n",
    ],
)
def test_sniff_never_takes_a_log(head: bytes) -> None:
    assert exposition_format(head) is None
    assert not prometheus.looks_like_api(head)


def test_no_real_log_sample_sniffs_as_a_scrape(real_data: Path) -> None:
    heads = {
        path: files.peek_head(path)
        for path in sorted(real_data.rglob("*"))
        if path.is_file() and "prometheus" not in path.parent.name and path.name != "LICENSE"
    }
    assert len(heads) > 20
    taken = [str(p) for p, head in heads.items() if telemetry.sniff(head) in prometheus.READERS]
    assert taken == []


@pytest.mark.parametrize("name", [NODE, DEMO])
def test_the_real_scrapes_sniff_as_0_0_4(real_data: Path, name: str) -> None:
    assert exposition_format(files.peek_head(real_sample(real_data, name))) == "prometheus"


@pytest.mark.parametrize("name", [NODE, DEMO])
def test_a_real_scrape_parses_whole(real_data: Path, name: str) -> None:
    text = real_sample(real_data, name).read_text(encoding="utf-8")
    lines = text.split("\n")  # as an exposition ends lines: not splitlines()
    samples = [n for n, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]
    types = {
        line.split()[2]: line.split()[3].replace("untyped", "unknown")
        for line in lines
        if line.startswith("# TYPE ")
    }
    out = parse(text, openmetrics=False)
    assert rejects(out) == []
    assert out.lines == samples
    assert {f.name: f.type for f in out.declared.values()} == types


# --------------------------------------------------------------------------- the HTTP API

MATRIX = """{
  "status": "success",
  "data": {
    "resultType": "matrix",
    "result": [
      {
        "metric": {"__name__": "up", "job": "node"},
        "values": [
          [1700000000.123, "1"],
          [1700000015, "0"],
          [1700000030, "NaN"]
        ]
      },
      {
        "metric": {"job": "api"},
        "values": [[1700000000, "2.5e+00"]]
      }
    ]
  }
}
"""


def test_a_query_range_matrix_gives_a_row_per_point_on_its_line() -> None:
    points = prometheus.read_api(MATRIX, "m.json")
    assert [(r["line"], r["ts"], r["name"], r["labels"], r["value"]) for r in points.rows] == [
        (9, 1_700_000_000_123_000, "up", [("job", "node")], 1.0),
        (10, 1_700_000_015_000_000, "up", [("job", "node")], 0.0),
        (16, 1_700_000_000_000_000, "{}", [("job", "api")], 2.5),
    ]
    assert [(line, reason) for line, reason, _ in points.rejects] == [
        (
            11,
            "data.result[0].values[2]: value NaN is not a measurement: a rate or average "
            "over it means nothing",
        )
    ]
    assert points.rejects[0][2] == '[1700000030, "NaN"]'


def test_a_query_vector_and_scalar() -> None:
    vector = json.dumps(
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [
                    {"metric": {"__name__": "x", "a": "1"}, "value": [1.5, "3"]},
                    {"metric": {"__name__": "x", "a": "2"}, "value": [1.5, "+Inf"]},
                    {"metric": {"__name__": "x"}, "histogram": [1.5, {"count": "1"}]},
                ],
            },
        }
    )
    points = prometheus.read_api(vector, "v.json")
    assert [(r["ts"], r["name"], r["labels"], r["value"]) for r in points.rows] == [
        (1_500_000, "x", [("a", "1")], 3.0)
    ]
    assert [reason for _, reason, _ in points.rejects] == [
        "data.result[1].value: value +Inf is not a measurement: a rate or average over it "
        "means nothing",
        "data.result[2]: a native histogram value: only float samples are stored",
    ]
    scalar = '{"status":"success","data":{"resultType":"scalar","result":[1700000000,"42"]}}'
    points = prometheus.read_api(scalar, "s.json")
    assert [(r["line"], r["name"], r["labels"], r["value"]) for r in points.rows] == [
        (1, "scalar", [], 42.0)
    ]


def test_an_api_series_twice_at_one_time_is_a_reject_naming_the_first() -> None:
    """Labels in another order are the same series: its second value at 1700000000 is a
    fault (a scrape rejects the same); at another time it is the series' next point."""
    text = (
        '{"status":"success","data":{"resultType":"matrix","result":[\n'
        '{"metric":{"__name__":"up","job":"a"},"values":[[1700000000,"1"],[1700000015,"1"]]},\n'
        '{"metric":{"job":"a","__name__":"up"},"values":[[1700000000,"5"],[1700000030,"2"]]}]}}'
    )
    points = prometheus.read_api(text, "m.json")
    assert [(r["ts"], r["value"]) for r in points.rows] == [
        (1_700_000_000_000_000, 1.0),
        (1_700_000_015_000_000, 1.0),
        (1_700_000_030_000_000, 2.0),
    ]
    assert [(line, reason) for line, reason, _ in points.rejects] == [
        (3, 'data.result[1].values[0]: the series up{job="a"} again at this time (first on '
         "line 2)")
    ]  # fmt: skip


def test_an_api_point_before_1970_or_after_9999_is_a_reject() -> None:
    text = (
        '{"status":"success","data":{"resultType":"matrix","result":[\n'
        '{"metric":{"__name__":"up"},"values":[[1700000000,"1"],[1e20,"1"],[-100,"1"]]}]}}'
    )
    points = prometheus.read_api(text, "m.json")
    assert [r["ts"] for r in points.rows] == [1_700_000_000_000_000]
    assert [(line, reason) for line, reason, _ in points.rejects] == [
        (2, "data.result[0].values[1]: timestamp out of range (a time from 1970 to 9999)"),
        (2, "data.result[0].values[2]: timestamp out of range (a time from 1970 to 9999)"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"status":"error","errorType":"bad_data","error":"parse error at char 4"}',
            'e.json:1: the saved query failed: status "error", errorType "bad_data", error '
            '"parse error at char 4"',
        ),
        (
            '{"status":"success","data":{"resultType":"string","result":[1,"hello"]}}',
            "e.json:1: data.resultType is string: a string result holds no samples to store",
        ),
        (
            '{"status":"success","data":{"resultType":"matrix","result":[}',
            "e.json:1: not valid JSON: Expecting value (column 61); a saved Prometheus API "
            "response is one JSON object",
        ),
        (
            '{"status":"success","data":{"result":[]}}',
            "e.json:1: data.resultType is null; expected matrix (query_range), vector or "
            "scalar (query)",
        ),
    ],
)
def test_an_api_response_that_holds_no_samples_fails_whole(text: str, message: str) -> None:
    with pytest.raises(BadInputError) as caught:
        prometheus.read_api(text, "e.json")
    assert str(caught.value) == message


def test_api_sniff() -> None:
    assert prometheus.looks_like_api(MATRIX.encode())
    assert prometheus.looks_like_api(b'{"status":"error","errorType":"timeout","error":"x"}')
    assert not prometheus.looks_like_api(b'{"status":"ok"}')
    lines = b'{"status":"success","data":{"resultType":"vector","result":[]}}\n' * 2
    assert not prometheus.looks_like_api(lines)


# --------------------------------------------------------------------------- staging


def staging() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TEMP TABLE stage_rejects (src BIGINT, source VARCHAR, line BIGINT, "
        "reason VARCHAR, raw VARCHAR)"
    )
    return con


def test_stage_fills_metrics_families_and_rejects(tmp_path: Path) -> None:
    path = tmp_path / "scrape.prom"
    path.write_text('# TYPE a gauge\na{x="1"} 1\na{x="2"} NaN\nb 2 1700000000000\n')
    source = telemetry.Source(
        path=path, src=3, name="scrape.prom", at="2026-05-01T12:00:00Z", site="s1", service="n"
    )
    con = staging()
    made = telemetry.by_format("prometheus").stage(con, source)  # type: ignore[union-attr]
    assert [(m.kind, m.rows, m.rejects) for m in made] == [("metrics", 2, 1), ("families", 1, 0)]
    got = con.execute(
        f"""SELECT line, strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%f'), name, labels,
                   value, type, site, service, family
            FROM {made[0].table} ORDER BY line"""
    ).fetchall()
    assert got == [
        (2, "2026-05-01 12:00:00.000000", "a", {"x": "1"}, 1.0, "gauge", "s1", "n", "a"),
        (4, "2023-11-14 22:13:20.000000", "b", {}, 2.0, "unknown", "s1", "n", "b"),
    ]
    assert con.execute(f"SELECT * FROM {made[1].table}").fetchall() == [
        (1, "a", "gauge", None, None)
    ]
    assert con.execute("SELECT * FROM stage_rejects").fetchall() == [
        (
            3,
            "scrape.prom",
            3,
            "value NaN is not a measurement: a rate or average over it means nothing",
            'a{x="2"} NaN',
        )
    ]


def test_stage_takes_the_modification_time_without_at(tmp_path: Path) -> None:
    path = tmp_path / "scrape.prom"
    path.write_text("a 1\n")
    os.utime(path, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    source = telemetry.Source(path=path, src=0, name=str(path))
    con = staging()
    made = telemetry.by_format("prometheus").stage(con, source)  # type: ignore[union-attr]
    epoch = con.execute(f"SELECT epoch_us(ts) FROM {made[0].table}").fetchall()
    assert epoch == [(1_700_000_000_123_456,)]  # nanoseconds cut to microseconds


def test_stage_refuses_an_at_that_is_no_time(tmp_path: Path) -> None:
    path = tmp_path / "scrape.prom"
    path.write_text("a 1\n")
    source = telemetry.Source(path=path, src=0, name="scrape.prom", at="yesterday-ish")
    with pytest.raises(BadInputError, match="--at 'yesterday-ish' is not a time"):
        telemetry.by_format("prometheus").stage(staging(), source)  # type: ignore[union-attr]


def test_nan_is_not_a_float_the_rows_hold() -> None:
    """The rows never carry NaN: it is either rejected or NULL (a quantile)."""
    out = parse('# TYPE s summary\ns{quantile="1"} NaN\ng NaN\n', openmetrics=False)
    assert not any(isinstance(v, float) and math.isnan(v) for v in out.values)


def test_stage_names_the_line_of_a_byte_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "scrape.prom"
    path.write_bytes(b'# TYPE a gauge\na{x="\xff"} 1\n')
    source = telemetry.Source(path=path, src=0, name="scrape.prom")
    with pytest.raises(BadInputError) as caught:
        telemetry.by_format("prometheus").stage(staging(), source)  # type: ignore[union-attr]
    assert str(caught.value) == (
        "scrape.prom:2: not UTF-8 text (byte 20); a Prometheus scrape is UTF-8"
    )
