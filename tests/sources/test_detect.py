"""Telling the format from the first lines."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from dvlab.errors import BadInputError
from dvlab.sources.detect import detect_format, json_share

LOGFMT = [
    'ts=2024-05-01T10:00:00Z level=info msg="started" version=1.2',
    "ts=2024-05-01T10:00:01Z level=warn msg=slow took=2.5s",
]
JSONL = ['{"level":"info","msg":"a"}', '  {"level":"warn","msg":"b","n":[1,2]}']
OSLO = [
    "2024-03-01 10:00:00.125 4242 INFO nova.compute.manager [req-1 u p - - -] ok",
    "2024-03-01 10:00:01.000 4242 INFO nova.scheduler.host_manager [-] x=1 y=2",
]
SYSLOG = [
    "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; uid=0 euid=0",
    '<14>1 2024-05-01T12:00:01Z host app - - [a@1 k="v"] k=v m=n',
]


@pytest.mark.parametrize(
    ("sample", "expected"),
    [(LOGFMT, "logfmt"), (JSONL, "jsonl"), (OSLO, "oslo"), (SYSLOG, "syslog")],
)
def test_inline_samples(sample: list[str], expected: str) -> None:
    assert detect_format(["", *sample, "   "]) == expected


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("loghub-openstack/OpenStack_2k.log", "oslo"),
        ("loghub-linux/Linux_2k.log", "syslog"),
        ("loghub-openssh/OpenSSH_2k.log", "syslog"),
        ("issues-cnpg/cnpg-6154_cluster-sample-1_failing_over.jsonl", "jsonl"),
    ],
)
def test_real_samples(
    real_data: Path, raw_lines: Callable[[Path], list[str]], path: str, expected: str
) -> None:
    assert detect_format(raw_lines(real_data / path)) == expected


@pytest.mark.realdata
def test_real_gzipped_json_lines(real_data: Path) -> None:
    with gzip.open(real_data / "pgbadger-postgres/pg_vacuums.json.gz", "rt") as fh:
        head = [next(fh).rstrip("\n") for _ in range(50)]
    assert detect_format(head) == "jsonl"


def test_only_the_first_200_lines_count() -> None:
    sample = ["free text"] * 200 + ["level=info msg=x"] * 1000
    with pytest.raises(BadInputError) as info:
        detect_format(sample)
    assert str(info.value) == (
        "could not tell the format of the input: none of jsonl, logfmt, oslo, syslog reads any "
        "of the first 200 lines that start a record; pass --format (jsonl, logfmt, oslo, "
        "syslog for logs; "
        "nats-monitor, otlp-json, openmetrics, prometheus, prometheus-api for metrics and "
        "traces), --kind for a table, or --pattern"
    )


def test_json_share() -> None:
    assert json_share(['{"a": 1}', "[1, 2]", '{"broken"', '"text"', ""]) == 1 / 4


@pytest.mark.realdata
def test_real_apache_error_log_is_not_detected(
    real_data: Path, raw_lines: Callable[[Path], list[str]]
) -> None:
    # "[Sun Dec 04 04:47:44 2005] [notice] ..." is none of the four formats
    with pytest.raises(BadInputError) as info:
        detect_format(raw_lines(real_data / "loghub-apache/Apache_2k.log"), source="Apache_2k.log")
    message = str(info.value)
    assert message.startswith("could not tell the format of Apache_2k.log")
    assert "none of jsonl, logfmt, oslo, syslog reads any of the first 200 lines that" in message
    assert message.endswith("), --kind for a table, or --pattern")
    assert "--format (jsonl, logfmt, oslo, syslog for logs; nats-monitor, otlp-json" in message


def test_a_mixed_sample_is_not_detected() -> None:
    # 3 of 5 syslog lines: 60%, short of 80%
    sample = [*SYSLOG, "Jun 14 15:16:02 combo su: x", *LOGFMT]
    with pytest.raises(BadInputError, match="the closest, syslog, reads 60% of the first 5 lines"):
        detect_format(sample)


def test_indented_lines_are_said_to_be_taken_as_continuations() -> None:
    """A file of one line and 13 indented ones had been said to have 1 line."""
    sample = ["2026-12-01 10:00:00 [INFO] start", *(f"    at frame{i}" for i in range(13))]
    with pytest.raises(
        BadInputError,
        match=r"any of the first 1 line that starts a record \(13 indented ones taken to",
    ):
        detect_format(sample)


def test_an_indented_json_object_is_a_record() -> None:
    """It had been taken for a continuation, and the file for no format."""
    assert detect_format([' {"ts": "2026-12-01T10:00:00Z", "msg": "a"}']) == "jsonl"


def test_an_empty_sample() -> None:
    with pytest.raises(BadInputError, match="it has no text lines"):
        detect_format(["", "  "])


def test_stack_trace_lines_do_not_count_against_the_format() -> None:
    # two logfmt records and a four-line Python traceback under the second
    sample = [
        "ts=2026-12-01T10:00:00Z level=info msg=start",
        'ts=2026-12-01T10:00:01Z level=error msg="boom"',
        "Traceback (most recent call last):",
        '  File "a.py", line 1, in <module>',
        "    main()",
        "ValueError: boom",
    ]
    assert detect_format(sample) == "logfmt"
