"""Syslog: the real loghub Linux and OpenSSH samples, RFC 5424 and RFC 3164 by hand."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dvlab.sources.syslog import SyslogParser

from .conftest import Run

LINUX = "loghub-linux/Linux_2k.log"
OPENSSH = "loghub-openssh/OpenSSH_2k.log"
MONTHS = {"Jun": 6, "Jul": 7, "Dec": 12}  # the months these samples hold


def _expected_bsd(line: str, year: int) -> dict[str, object]:
    """What one well-formed loghub line should give, read by fixed columns and splits.

    ``Mmm dd HH:MM:SS`` is always 15 characters (the day is padded with a space).
    """
    host, _, after = line[16:].partition(" ")
    tag_token, _, rest = after.partition(" ")
    pid = re.search(r"\[(\d+)\]:$", tag_token)
    return {
        "ts_raw": f"{year}-{MONTHS[line[:3]]:02d}-{int(line[4:6]):02d} {line[7:15]}",
        "host": host,
        "service": tag_token.split("[")[0].rstrip(":"),
        "message": after.split(": ", 1)[1] if tag_token.endswith(":") else rest,
        "pid": int(pid.group(1)) if pid else None,
    }


@pytest.mark.realdata
def test_real_linux_messages(
    real_data: Path, run: Run, raw_lines: Callable[[Path], list[str]]
) -> None:
    path = real_data / LINUX
    lines = raw_lines(path)
    records, rejects = run(SyslogParser(), path.read_text(encoding="utf-8"), year=2005)

    # a line is malformed when nothing but a space follows the host: no tag at all
    numbered = list(enumerate(lines, start=1))
    malformed = [n for n, line in numbered if line[16:].partition(" ")[2].startswith(" ")]
    good = [(n, line) for n, line in numbered if n not in malformed]
    expected = [_expected_bsd(line, 2005) for _, line in good]

    assert len(lines) == 2000
    assert malformed == [899]  # 'Jul  7 08:06:15 combo  -- root[2421]: ROOT LOGIN ON tty2'
    assert [r.line for r in rejects] == malformed
    assert "no tag after the host 'combo'" in rejects[0].reason
    assert len(records) == 1999
    assert [r["line"] for r in records] == [n for n, _ in good]
    assert Counter(r["service"] for r in records) == Counter(e["service"] for e in expected)
    assert Counter(r["service"] for r in records)["ftpd"] == 916
    assert {r["host"] for r in records} == {"combo"}
    assert [r["ts_raw"] for r in records] == [e["ts_raw"] for e in expected]
    assert [r["message"] for r in records] == [e["message"] for e in expected]
    assert [r["attributes"].get("pid") for r in records] == [e["pid"] for e in expected]
    assert all(r["level_raw"] is None for r in records)  # no PRI in these files


@pytest.mark.realdata
def test_real_linux_untagged_colon(real_data: Path, run: Run) -> None:
    """``syslogd 1.4.1: restart.`` has a tag ended by a space, as RFC 3164 allows."""
    records, _ = run(SyslogParser(), (real_data / LINUX).read_text(encoding="utf-8"), year=2005)
    restart = next(r for r in records if r["line"] == 146)
    assert restart["service"] == "syslogd"
    assert restart["message"] == "1.4.1: restart."
    assert restart["ts_raw"] == "2005-06-19 04:09:11"


@pytest.mark.realdata
def test_real_linux_year_from_mtime(real_data: Path, run: Run) -> None:
    text = (real_data / LINUX).read_text(encoding="utf-8")
    # modified in January 2006: June and July 2006 would lie in the future, so 2005
    records, _ = run(SyslogParser(), text, mtime=datetime(2006, 1, 10, tzinfo=UTC))
    assert {r["ts_raw"][:5] for r in records} == {"2005-"}
    # modified the day after the last line: the same year
    records, _ = run(SyslogParser(), text, mtime=datetime(2005, 7, 28, tzinfo=UTC))
    assert records[0]["ts_raw"] == "2005-06-14 15:16:01"
    assert records[-1]["ts_raw"] == "2005-07-27 14:42:00"


@pytest.mark.realdata
def test_real_openssh(real_data: Path, run: Run, raw_lines: Callable[[Path], list[str]]) -> None:
    path = real_data / OPENSSH
    lines = raw_lines(path)
    text = path.read_text(encoding="utf-8")
    records, rejects = run(SyslogParser(), text, mtime=datetime(2006, 1, 5, tzinfo=UTC))

    expected = [_expected_bsd(line, 2005) for line in lines]
    assert len(lines) == 2000
    assert rejects == []
    assert len(records) == 2000
    assert Counter(r["service"] for r in records) == Counter(e["service"] for e in expected)
    assert Counter(r["service"] for r in records) == {"sshd": 2000}
    assert {r["host"] for r in records} == {line.split()[3] for line in lines} == {"LabSZ"}
    assert [r["ts_raw"] for r in records] == [e["ts_raw"] for e in expected]
    assert [r["attributes"]["pid"] for r in records] == [e["pid"] for e in expected]
    assert [r["message"] for r in records] == [e["message"] for e in expected]
    assert records[0]["message"] == (
        "reverse mapping checking getaddrinfo for ns.marryaldkfaczcz.com [173.234.31.186] "
        "failed - POSSIBLE BREAK-IN ATTEMPT!"
    )


RFC5424 = (
    "<165>1 2024-05-01T12:00:00.123456+02:00 web-1.example.org billing 8812 PAY42 "
    '[order@32473 id="A-17" amount="12.50"][trace@32473 span="s1" span="s2"] '
    "\ufeffPayment accepted\n"
    "<14>1 2024-05-01T12:00:01Z - - - - - plain message\n"
    "<11>1 2024-05-01T12:00:02Z host app - - [flag@1]\n"
    "<13>1 - host app worker-3 - -\n"
    '<86>1 2024-05-01T12:00:03Z host sshd - - [x@1 q="a \\"quoted\\" \\] end\\\\"] msg\n'
)


def test_rfc5424(run: Run) -> None:
    records, rejects = run(SyslogParser(), RFC5424)
    assert rejects == []
    payment, plain, flagged, empty, escaped = records

    assert payment["ts_raw"] == "2024-05-01T12:00:00.123456+02:00"
    assert payment["level_raw"] == "notice"  # 165 = 20 * 8 + 5
    assert payment["host"] == "web-1.example.org"
    assert payment["service"] == "billing"
    assert payment["message"] == "Payment accepted"  # BOM removed
    assert payment["attributes"] == {
        "facility": "local4",
        "pid": 8812,
        "msgid": "PAY42",
        "order@32473.id": "A-17",
        "order@32473.amount": "12.50",
        "trace@32473.span": ["s1", "s2"],
    }

    assert plain["level_raw"] == "info"  # 14 = 1 * 8 + 6
    assert (plain["host"], plain["service"]) == (None, None)
    assert plain["attributes"] == {"facility": "user"}
    assert plain["message"] == "plain message"

    assert flagged["level_raw"] == "err"
    assert flagged["attributes"] == {"facility": "user", "flag@1": True}
    assert flagged["message"] == ""

    assert empty["ts_raw"] is None  # NILVALUE time: the lab rejects it later
    assert empty["attributes"] == {"facility": "user", "pid": "worker-3"}
    assert empty["message"] == ""

    assert escaped["attributes"]["facility"] == "authpriv"  # 86 = 10 * 8 + 6
    assert escaped["attributes"]["x@1.q"] == 'a "quoted" ] end\\'
    assert escaped["message"] == "msg"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("<192>Jun 14 15:16:01 h a: x", "PRI <192> is out of range (0..191)"),
        ("<14>2 2024-05-01T12:00:00Z h a - - - x", "RFC 5424 version 2 (only 1 is defined)"),
        ('<14>1 2024-05-01T12:00:00Z h a - - [x@1 k="v"', "is not closed with ']'"),
        ('<14>1 2024-05-01T12:00:00Z h a - - [x@1 k="v', "an unclosed value in [x@1 ...]"),
        (
            "<14>1 2024-05-01T12:00:00Z h a - - [x@1 k=v] msg",
            "parameter in [x@1 ...] at column 41",
        ),
        ("<14>1 2024-05-01T12:00:00Z h a - - [ k] msg", "element without an SD-ID at column 36"),
        ("<14>1 2024-05-01T12:00:00Z h a - - {} msg", "should be '-' or '[...]'"),
        ("<14>1 2024-05-01T12:00:00Z h a - - [x@1]msg", "instead of a space before the message"),
        ("Foo 14 15:16:01 h a: x", "expected RFC 3164"),
        ("14 Jun 15:16:01 h a: x", "expected RFC 3164"),
    ],
)
def test_rejects(run: Run, line: str, reason: str) -> None:
    records, rejects = run(SyslogParser(), "<13>Jun 14 15:16:00 h a: ok\n" + line, year=2024)
    assert len(records) == 1
    assert [r.line for r in rejects] == [2]
    assert rejects[0].reason.startswith("not a syslog line")
    assert reason in rejects[0].reason
    assert rejects[0].raw == line


def test_rfc3164_tags_and_pri(run: Run) -> None:
    text = "\n".join(
        [
            "<38>Feb  5 17:32:18 gw sshd(pam_unix)[19939]: check pass; user unknown",
            "<0>Feb  5 17:32:19 gw kernel: panic",
            "Feb  5 17:32:20 gw postfix/smtpd[123]: connect from x",
            "Feb  5 17:32:21 gw named:no space after the colon",
            "Feb  5 17:32:22.250 gw rsyncd 3.2: started",
            "2024-02-05T17:32:23.123456+01:00 gw nginx[99]: GET /",
            "<31>2024-02-05T17:32:24Z gw cron: tick",
        ]
    )
    records, rejects = run(SyslogParser(), text, year=2024)
    assert rejects == []
    got = [
        (r["ts_raw"], r["level_raw"], r["service"], r["attributes"], r["message"]) for r in records
    ]
    assert got == [
        (
            "2024-02-05 17:32:18",
            "info",
            "sshd(pam_unix)",
            {"facility": "auth", "pid": 19939},
            "check pass; user unknown",
        ),
        ("2024-02-05 17:32:19", "emerg", "kernel", {"facility": "kern"}, "panic"),
        ("2024-02-05 17:32:20", None, "postfix/smtpd", {"pid": 123}, "connect from x"),
        ("2024-02-05 17:32:21", None, "named", {}, "no space after the colon"),
        ("2024-02-05 17:32:22.250", None, "rsyncd", {}, "3.2: started"),
        ("2024-02-05T17:32:23.123456+01:00", None, "nginx", {"pid": 99}, "GET /"),
        ("2024-02-05T17:32:24Z", "debug", "cron", {"facility": "daemon"}, "tick"),
    ]
    assert {r["host"] for r in records} == {"gw"}


def test_december_to_january_rollover(run: Run) -> None:
    text = "\n".join(
        [
            "Dec 30 23:00:00 h a: one",
            "Dec 31 23:59:59 h a: two",
            "Jan  1 00:00:01 h a: three",
            "Jan  2 08:00:00 h a: four",
        ]
    )
    expected = [
        "2023-12-30 23:00:00",
        "2023-12-31 23:59:59",
        "2024-01-01 00:00:01",
        "2024-01-02 08:00:00",
    ]
    with_year, _ = run(SyslogParser(), text, year=2023)
    assert [r["ts_raw"] for r in with_year] == expected
    # file last written on 2 January 2024: December 2024 lies ahead, so December 2023
    from_mtime, _ = run(SyslogParser(), text, mtime=datetime(2024, 1, 2, 9, 0, tzinfo=UTC))
    assert [r["ts_raw"] for r in from_mtime] == expected


def test_java_stack_trace_is_one_record(run: Run) -> None:
    text = (
        "Mar  3 10:00:00 app1 java[100]: Exception caught\n"
        "java.lang.IllegalStateException: x\n"
        "\tat com.example.A.run(A.java:10)\n"
        "Caused by: java.io.IOException: closed\n"
        "\t... 3 more\n"
        "Mar  3 10:00:01 app1 java[100]: next\n"
    )
    records, rejects = run(SyslogParser(), text, year=2024)
    assert rejects == []
    trace, after = records
    assert (trace["line"], trace["end_line"]) == (1, 5)
    assert trace["message"] == (
        "Exception caught\n"
        "java.lang.IllegalStateException: x\n"
        "\tat com.example.A.run(A.java:10)\n"
        "Caused by: java.io.IOException: closed\n"
        "\t... 3 more"
    )
    assert (after["line"], after["end_line"], after["message"]) == (6, 6, "next")


def test_looks_like() -> None:
    sample = [
        "Jun 14 15:16:01 combo su: x",
        "<14>1 2024-05-01T12:00:01Z - - - - - m",
        "level=info msg=x",
        "",
    ]
    assert SyslogParser().looks_like(sample) == 2 / 3


def test_rfc5424_structured_data_fills_site_and_ids_the_header_lacks(run: Run) -> None:
    line = (
        "<27>1 2026-11-30T10:50:00.000Z nett-sto1-1 nett 412 HEALTH "
        '[site@49610 site="sto1" request_id="r-9"][origin ip="10.0.0.1"] link down'
    )
    (record,), rejects = run(SyslogParser(), line)
    assert rejects == []
    assert (record["site"], record["correlation_id"], record["host"]) == (
        "sto1",
        "r-9",
        "nett-sto1-1",
    )
    # the parameters stay in attributes as well
    assert record["attributes"]["site@49610.site"] == "sto1"
    assert record["attributes"]["origin.ip"] == "10.0.0.1"
    assert record["trace_id"] is None
