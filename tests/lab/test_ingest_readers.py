"""The three JSON-lines readers give the same rows, and all give the right ones.

The whole-file reader (read_json, written into the lab at commit) takes a
file whose lines are JSON objects but for a few (blank, not JSON, not an
object), which it locates first and rejects through the line reader's SQL.
The lines reader takes a file with more such lines: DuckDB reads it as lines
and the line reader's SQL runs over all of them at once. The chunk reader
takes what DuckDB cannot split into lines, and every resumed read.
``jsonlines.whole_file_plan`` returning None is the seam that sends a file
past the whole-file reader; ``_Staging.add_json_lines`` returning False
sends it past the lines reader.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dvlab.lab import ingest as ingest_module
from dvlab.lab.ingest import IngestOptions, ingest
from dvlab.sources import jsonlines
from dvlab.sources.fields import VARIANTS

from .ingest_support import (
    CONTENT_COLUMNS,
    content_rows,
    force_chunk_reader,
    force_lines_reader,
    jsonl,
    query,
    watch_whole_file_reader,
)

READERS = ["whole-file", "lines", "chunk"]
T0 = "2026-05-01T12:00:00Z"


def utc(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    micro: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def variant_records() -> list[tuple[dict[str, Any], str, str]]:
    """(record, column, expected value): one record per field-name variant.

    A dotted variant comes twice: as a key with a dot in it, and as a path
    into a nested object (``{"service": {"name": ...}}``).
    """
    out: list[tuple[dict[str, Any], str, str]] = []
    for column, variants in VARIANTS.items():
        for variant in variants:
            value = "2026-05-01T12:34:56+00:00" if column == "ts_raw" else f"{column}<{variant}>"
            base: dict[str, Any] = {} if column == "ts_raw" else {"time": T0}
            if column != "message":
                base["msg"] = f"variant {variant}"
            out.append(({**base, variant: value}, column, value))
            if "." in variant:
                root, leaf = variant.split(".")
                out.append(({**base, root: {leaf: value}}, column, value))
    return out


#: records a reader could get wrong, each with what the lab must hold (written by hand)
TRICKY: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        {"time": T0, "level": 30, "msg": "pino number level", "request_id": 12345, "task_id": 7.5},
        {"level": "info", "level_raw": "30", "correlation_id": "12345", "task_id": "7.5"},
    ),
    (
        {"time": T0, "level": True, "msg": "boolean level"},
        {"level": None, "level_raw": "true", "attributes": {}},
    ),
    (
        {
            "time": T0,
            "msg": "nested one to three deep",
            "http": {"status": 500},
            "k8s": {"pod": {"name": "p-1", "labels": {"app": "web"}}},
        },
        {"attributes": {"http.status": 500, "k8s.pod.name": "p-1", "k8s.pod.labels.app": "web"}},
    ),
    (
        {
            "time": T0,
            "msg": "arrays, empty objects, nulls",
            "tags": ["a", {"b": 1}, None],
            "meta": {},
            "gone": None,
            "inner": {"x": None},
        },
        {"attributes": {"tags": ["a", {"b": 1}, None], "meta": {}, "inner.x": None}},
    ),
    (
        {
            "time": T0,
            "msg": 'quotes " and \\ backslash\nnew line\ttab é ✓ 日本 😀',
            "note": "caf\u00e9 \u2028 line separator",
        },
        {
            "message": 'quotes " and \\ backslash\nnew line\ttab é ✓ 日本 😀',
            "attributes": {"note": "café \u2028 line separator"},
        },
    ),
    (
        {
            "time": T0,
            "msg": "an object where a string goes",
            "service": {"name": "billing"},
            "host": {"name": "db-1", "ip": "10.0.0.1"},
        },
        {"service": "billing", "host": "db-1", "attributes": {"host.ip": "10.0.0.1"}},
    ),
    (
        {
            "time": T0,
            "msg": "key shapes",
            "a.b": "dotted key",
            "with space": 1,
            "ключ": "значение",
        },
        {"attributes": {"a.b": "dotted key", "with space": 1, "ключ": "значение"}},
    ),
    (
        {"time": T0, "msg": "quotes in keys", 'say "hi"': 1, "back\\slash": 2},
        {"attributes": {'say "hi"': 1, "back\\slash": 2}},
    ),
    (
        {
            "time": T0,
            "msg": "numbers as written",
            "f": 1.5,
            "big": 12345678901234567890,
            "neg": -3,
            "flag": False,
        },
        {"attributes": {"f": 1.5, "big": 12345678901234567890, "neg": -3, "flag": False}},
    ),
    (
        {"time": T0, "msg": "array where a string goes", "service": ["a", "b"], "level": {"n": 1}},
        {"service": None, "level_raw": None},
    ),
]

#: (time value, expected UTC) with --tz Europe/Oslo; naive times are Oslo wall-clock time
TIMES: list[tuple[Any, datetime]] = [
    ("2026-05-01T12:00:00Z", utc(2026, 5, 1, 12)),
    ("2026-05-01T14:00:00+02:00", utc(2026, 5, 1, 12)),
    ("2026-05-01T06:30:00-0530", utc(2026, 5, 1, 12)),
    ("2026-05-01 12:00:00.123456789Z", utc(2026, 5, 1, 12, 0, 0, 123456)),
    ("2022-11-27T18:58:02.0936375Z", utc(2022, 11, 27, 18, 58, 2, 93637)),
    ("2016-12-31T23:59:60Z", utc(2016, 12, 31, 23, 59, 59, 999999)),
    ("2017-01-01T00:59:60.5+01:00", utc(2016, 12, 31, 23, 59, 59, 999999)),
    ("2015-10-18 18:01:47,978Z", utc(2015, 10, 18, 18, 1, 47, 978000)),
    # epochs: seconds (integer, fractional, as text), milliseconds, microseconds, nanoseconds
    (1669575482, utc(2022, 11, 27, 18, 58, 2)),
    (1669575482.0936375, utc(2022, 11, 27, 18, 58, 2, 93637)),
    ("1669575482.0936375", utc(2022, 11, 27, 18, 58, 2, 93637)),
    (1669575482093, utc(2022, 11, 27, 18, 58, 2, 93000)),
    (1669575482093637, utc(2022, 11, 27, 18, 58, 2, 93637)),
    (1669575482093637512, utc(2022, 11, 27, 18, 58, 2, 93637)),
    # Oslo across the spring change (2026-03-29 02:00 CET -> 03:00 CEST)
    ("2026-03-29T01:59:59", utc(2026, 3, 29, 0, 59, 59)),
    ("2026-03-29T03:00:00", utc(2026, 3, 29, 1, 0, 0)),
    # ... and the autumn one (2026-10-25 03:00 CEST -> 02:00 CET)
    ("2026-10-25T01:59:59", utc(2026, 10, 24, 23, 59, 59)),
    ("2026-10-25T03:00:00", utc(2026, 10, 25, 2, 0, 0)),
    ("2026-07-01 12:00:00", utc(2026, 7, 1, 10)),
    ("2026-01-01 12:00:00", utc(2026, 1, 1, 11)),
    ("2026-07-01 12:00:00Z", utc(2026, 7, 1, 12)),  # an explicit offset wins over --tz
]

REJECTED_TIMES = [None, "", "half past nine", "2026-13-01T00:00:00Z", {"at": T0}, [T0]]


def ingest_with(
    reader: str,
    lab: Path,
    source: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: IngestOptions,
) -> None:
    taken = None
    if reader == "chunk":
        force_chunk_reader(monkeypatch)
    elif reader == "lines":
        taken = force_lines_reader(monkeypatch)
    else:
        taken = watch_whole_file_reader(monkeypatch)
    ingest(lab, [str(source)], options)
    if taken is not None:
        assert taken == [True], f"the {reader} reader did not take the file"
    monkeypatch.undo()


@pytest.mark.parametrize("reader", READERS)
def test_every_field_name_variant_fills_its_column(
    tmp_path: Path, lab_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = variant_records()
    source = tmp_path / "variants.jsonl"
    source.write_text(jsonl([r for r, _, _ in cases]), encoding="utf-8")

    ingest_with(reader, lab_path, source, monkeypatch, IngestOptions(format="jsonl"))

    for line, (rec, column, value) in enumerate(cases, start=1):
        if column == "ts_raw":
            got = query(lab_path, "SELECT ts FROM logs WHERE line = ?", [line])
            assert got == [(datetime.fromisoformat(value),)], f"line {line}: {json.dumps(rec)}"
        else:
            got = query(lab_path, f"SELECT {column} FROM logs WHERE line = ?", [line])
            assert got == [(value,)], f"line {line}: {json.dumps(rec)} should fill {column}"
    # a key (or nested value) that filled a column is not kept in attributes as well
    attributes = query(lab_path, "SELECT line, attributes::VARCHAR FROM logs ORDER BY line")
    assert attributes == [(line, "{}") for line in range(1, len(cases) + 1)]


@pytest.mark.parametrize("reader", READERS)
def test_tricky_records_give_the_values_written_by_hand(
    tmp_path: Path, lab_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "tricky.jsonl"
    source.write_text(jsonl([r for r, _ in TRICKY]), encoding="utf-8")

    ingest_with(reader, lab_path, source, monkeypatch, IngestOptions(format="jsonl"))

    rows = {row[-1]: row for row in content_rows(lab_path)}
    names = list(CONTENT_COLUMNS)
    assert sorted(rows) == list(range(1, len(TRICKY) + 1))
    for line, (_, expected) in enumerate(TRICKY, start=1):
        got = dict(zip(names, rows[line], strict=True))
        for column, value in expected.items():
            assert got[column] == value, f"line {line}, {column}"


@pytest.mark.parametrize("reader", READERS)
def test_time_notations_end_in_utc(
    tmp_path: Path, lab_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [{"time": value, "msg": f"t{i}"} for i, (value, _) in enumerate(TIMES)]
    records += [{"time": value, "msg": "rejected"} for value in REJECTED_TIMES]
    source = tmp_path / "times.jsonl"
    source.write_text(jsonl(records), encoding="utf-8")

    ingest_with(
        reader, lab_path, source, monkeypatch, IngestOptions(format="jsonl", tz="Europe/Oslo")
    )

    got = query(lab_path, "SELECT line, ts FROM logs ORDER BY line")
    assert got == [(line, expected) for line, (_, expected) in enumerate(TIMES, start=1)]
    rejected = query(lab_path, "SELECT line, reason FROM rejects ORDER BY line")
    first = len(TIMES) + 1
    assert [r[0] for r in rejected] == list(range(first, first + len(REJECTED_TIMES)))
    assert [r[1] for r in rejected] == [
        "no time: the record has no time field",
        'no time: its time field "time" is empty',
        'unparseable time "half past nine"',
        'unparseable time "2026-13-01T00:00:00Z"',
        # the object had been "no time field" (its flattened member "time.at" is no key a
        # time comes from)
        'no time: its time field "time" holds an object, not a time',
        'no time: its time field "time" holds an array, not a time',
    ]


def corpus() -> list[dict[str, Any]]:
    """Every variant, tricky record and time notation, with times that do and do not parse."""
    records = [r for r, _, _ in variant_records()] + [r for r, _ in TRICKY]
    records += [{"time": value, "msg": "time"} for value, _ in TIMES]
    records += [{"time": value, "msg": "no usable time"} for value in REJECTED_TIMES]
    return records


def every_reader(
    tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch, options: IngestOptions
) -> list[Any]:
    """(content rows, rejects) of the same text read by each reader in turn."""
    results = []
    for reader in READERS:
        folder = tmp_path / reader
        folder.mkdir()
        source = folder / "same.jsonl"
        source.write_bytes(text.encode("utf-8"))
        lab = folder / "lab.duckdb"
        ingest_with(reader, lab, source, monkeypatch, options)
        rejects = query(lab, "SELECT line, reason, raw FROM rejects ORDER BY line")
        results.append((content_rows(lab), rejects))
    return results


def test_every_reader_gives_identical_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = corpus()
    whole, lines, chunk = every_reader(
        tmp_path, jsonl(records), monkeypatch, IngestOptions(format="jsonl", tz="Europe/Oslo")
    )

    assert len(whole[0]) == len(records) - len(REJECTED_TIMES)
    assert len(whole[1]) == len(REJECTED_TIMES)
    assert whole == lines == chunk


def test_every_reader_skips_a_byte_order_mark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "\ufeff" + jsonl([{"time": T0, "msg": "first"}, {"time": T0, "msg": "second"}])
    whole, lines, chunk = every_reader(tmp_path, text, monkeypatch, IngestOptions(format="jsonl"))

    assert [(row[-1], row[6]) for row in whole[0]] == [(1, "first"), (2, "second")]
    assert whole == lines == chunk


@pytest.mark.slow
def test_every_reader_agrees_on_a_large_shuffled_corpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big enough for read_json to split the file between threads; line numbers must hold."""
    shapes = corpus()
    rng = random.Random(20261204)
    records = []
    for i in range(120_000):
        rec = dict(rng.choice(shapes))
        rec["seq"] = i + 1  # the line number, for an independent check of the numbering
        records.append(rec)
    whole, lines, chunk = every_reader(
        tmp_path, jsonl(records), monkeypatch, IngestOptions(format="jsonl", tz="Europe/Oslo")
    )

    assert all(row[-2]["seq"] == row[-1] for row in whole[0])
    assert len(whole[0]) + len(whole[1]) == len(records)
    assert whole == lines == chunk


@pytest.mark.parametrize("reader", READERS)
def test_site_and_service_options_fill_only_what_records_lack(
    tmp_path: Path, lab_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "fill.jsonl"
    source.write_text(
        jsonl(
            [
                {"time": T0, "msg": "bare"},
                {"time": T0, "msg": "own site", "dc": "bgo1"},
                {"time": T0, "msg": "own service", "app": "billing"},
                {"time": T0, "msg": "empty service", "service": ""},
            ]
        ),
        encoding="utf-8",
    )

    ingest_with(
        reader,
        lab_path,
        source,
        monkeypatch,
        IngestOptions(format="jsonl", site="osl1", service="gateway"),
    )

    assert query(lab_path, "SELECT line, site, service FROM logs ORDER BY line") == [
        (1, "osl1", "gateway"),
        (2, "bgo1", "gateway"),
        (3, "osl1", "billing"),
        (4, "osl1", "gateway"),
    ]


@pytest.mark.parametrize("memory", [None, "100MB"])
@pytest.mark.parametrize("reader", READERS)
def test_line_numbers_hold_across_many_row_groups(
    tmp_path: Path,
    lab_path: Path,
    reader: str,
    memory: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Line n says n in its message and its attributes; every stored row must agree with its
    line number, over more rows than DuckDB reads in one piece (122,880), with the level,
    time and nesting work that runs beside the numbering."""
    if memory is not None:
        # staging smaller than the file: DuckDB spills to disk, and the order must hold
        monkeypatch.setenv("DVLAB_STAGING_MEMORY", memory)
    count = 300_000
    words = ["info", "WARN", "Error", "notice", "crit", "weird"]
    bad = {n for n in range(1, count + 1) if n % 9_973 == 0}  # a time that is not one
    with (tmp_path / "many.jsonl").open("w", encoding="utf-8") as fh:
        for n in range(1, count + 1):
            ts = (
                "not a time"
                if n in bad
                else f"2026-05-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"
            )
            nested = f', "http": {{"n": {n}, "deep": {{"n": {n}}}}}' if n % 4 == 0 else ""
            fh.write(
                f'{{"ts": "{ts}", "level": "{words[n % len(words)]}", "msg": "m{n}", "n": {n}{nested}}}\n'
            )

    ingest_with(reader, lab_path, tmp_path / "many.jsonl", monkeypatch, IngestOptions())

    con = duckdb.connect(str(lab_path), read_only=True)
    try:
        rows, wrong = con.execute(
            """SELECT count(*), count(*) FILTER (WHERE
                   message <> 'm' || line
                   OR (attributes->>'n')::BIGINT <> line
                   OR (line % 4 = 0 AND ((attributes->>'$."http.n"')::BIGINT IS DISTINCT FROM line
                                         OR (attributes->>'$."http.deep.n"')::BIGINT
                                            IS DISTINCT FROM line))
                   OR (line % 4 <> 0 AND attributes->>'$."http.n"' IS NOT NULL)
                   OR level_raw <> (['info', 'WARN', 'Error', 'notice', 'crit', 'weird'])[line % 6 + 1])
               FROM logs"""
        ).fetchall()[0]
        rejected = [r[0] for r in con.execute("SELECT line FROM rejects ORDER BY line").fetchall()]
    finally:
        con.close()
    assert (rows, wrong) == (count - len(bad), 0)
    assert rejected == sorted(bad)


@pytest.mark.parametrize("reader", READERS)
def test_nested_keys_keep_their_characters_at_every_depth(
    tmp_path: Path, lab_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Brackets, quotes and backslashes in keys survive flattening; empty keys go."""
    records = [
        ({"k[1]": {"y": {"z": 1}}, "other": {"w": {"v": 2}}}, {"k[1].y.z": 1, "other.w.v": 2}),
        ({"a": {"x[0]": {"y": 1}}}, {"a.x[0].y": 1}),
        ({'q"uote': {'in"ner': {"z": 1}}}, {'q"uote.in"ner.z': 1}),
        ({"a": {"b\\c": {"d": 1}}}, {"a.b\\c.d": 1}),
        ({"x": {"": 1}, "e": {"": {"": 1}}, "f": {"": 1, "g": 2}}, {"f.g": 2}),
        (
            {"d": {"e": {"f": {"g": {}, "h": [1, {"i": 2}]}}}},
            {"d.e.f.g": {}, "d.e.f.h": [1, {"i": 2}]},
        ),
    ]
    lines = [
        json.dumps({"ts": f"2026-05-01T12:00:0{i}Z", **record})
        for i, (record, _) in enumerate(records)
    ]
    source = tmp_path / "keys.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    ingest_with(reader, lab_path, source, monkeypatch, IngestOptions())

    rows = {row[-1]: row for row in content_rows(lab_path)}
    names = list(CONTENT_COLUMNS)
    for line, (_, attributes) in enumerate(records, start=1):
        assert dict(zip(names, rows[line], strict=True))["attributes"] == attributes, line


@pytest.mark.parametrize("reader", READERS)
def test_records_whose_keys_differ_line_to_line(
    tmp_path: Path, lab_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More distinct keys than a column each should get (one of its own per line): the
    same rows as any other file, each key in its own line's attributes."""
    count = 600
    assert count > jsonlines.WIDE_KEYS  # so the file is read the wide way
    with (tmp_path / "wide.jsonl").open("w", encoding="utf-8") as fh:
        for n in range(1, count + 1):
            record: dict[str, Any] = {
                "ts": f"2026-05-01T12:{n // 60 % 60:02d}:{n % 60:02d}Z",
                "lvl": "WARNING" if n % 2 else "info",
                "msg": f"m{n}",
                f"k{n}": n,
                "nested": {"a": {"b": n}},
                "gone": None,
            }
            fh.write(json.dumps(record) + "\n")

    ingest_with(reader, lab_path, tmp_path / "wide.jsonl", monkeypatch, IngestOptions())

    rows = {row[-1]: row for row in content_rows(lab_path)}
    names = list(CONTENT_COLUMNS)
    assert sorted(rows) == list(range(1, count + 1))
    for n in (1, 2, 299, count):
        got = dict(zip(names, rows[n], strict=True))
        assert got["message"] == f"m{n}"
        assert got["level"] == ("warn" if n % 2 else "info")
        assert got["attributes"] == {f"k{n}": n, "nested.a.b": n}, n


# --------------------------------------------------------------------------- lines that hold no record

#: a file with lines that are no records: (bytes, the (line, message) rows it holds,
#: the (line, reason) rejects, the blank lines skipped), all counted by hand
MIXED = (
    b'{"ts":"2026-05-01T12:00:01Z","msg":"one"}\r\n'
    b"\r\n"
    b"not json at all\r\n"
    b'{"ts":"2026-05-01T12:00:04Z","msg":"four","http":{"status":503}}\r\n'
    b"   \r\n"
    b"[1, 2]\r\n"
    b'{"ts":"later","msg":"seven"}\r\n'
    b'{"ts":"2026-05-01T12:00:08Z","msg":"eight"}'
)
MIXED_ROWS = [(1, "one"), (4, "four"), (8, "eight")]
MIXED_REJECTS = [
    (3, "not valid JSON"),
    (6, "a JSON line must be an object, not an array"),
    (7, 'unparseable time "later"'),
]
MIXED_SKIPPED = 2


@pytest.mark.parametrize("reader", READERS)
def test_a_file_with_lines_that_are_no_records_loads_the_same_either_way(
    tmp_path: Path, lab_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(MIXED)

    # (so mixed a start needs the format said: detection wants 4 records in the first 5 lines)
    ingest_with(reader, lab_path, source, monkeypatch, IngestOptions(format="jsonl"))

    assert query(lab_path, "SELECT line, message FROM logs ORDER BY line") == MIXED_ROWS
    assert query(lab_path, "SELECT line, reason FROM rejects ORDER BY line") == MIXED_REJECTS
    assert query(lab_path, "SELECT raw FROM rejects ORDER BY line")[0] == ("not json at all",)
    assert query(lab_path, "SELECT rows_skipped FROM ingests") == [(MIXED_SKIPPED,)]
    attributes = query(lab_path, "SELECT attributes::VARCHAR FROM logs WHERE line = 4")[0][0]
    assert json.loads(attributes) == {"http.status": 503}


#: records the whole-file reader reads in one pass, taking the values of keys a column maps
#: as text: numbers, booleans, empty strings, strings that start as JSON would but are none,
#: a second variant of a column left as a string attribute; with what the lab must hold
PLAIN_TEXT: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        {"time": T0, "level": 30, "msg": "number level", "request_id": 12345, "task_id": 7.5},
        {"level_raw": "30", "correlation_id": "12345", "task_id": "7.5", "attributes": {}},
    ),
    ({"time": T0, "level": True, "msg": ""}, {"level_raw": "true", "attributes": {"msg": ""}}),
    (
        {"time": T0, "msg": "{not json", "host": "[x", "site": ' {"a": 1}'},
        {"message": "{not json", "host": "[x", "site": ' {"a": 1}', "attributes": {}},
    ),
    (
        {"time": T0, "msg": 'esc " \\ \u0000 é 😀', "level": "error", "severity": "warn"},
        {"message": 'esc " \\ \u0000 é 😀', "level": "error", "attributes": {"severity": "warn"}},
    ),
    (
        {"time": T0, "msg": "first variant empty", "level": "", "severity": "debug"},
        {"level": "debug", "attributes": {"level": ""}},
    ),
    (
        {"ts": 1767225600123, "msg": "epoch as a number"},
        {"ts": utc(2026, 1, 1, 0, 0, 0, 123000), "attributes": {}},
    ),
]

#: (key read again as JSON, a record whose value there the reader's text leaves open, what
#: the lab must hold)
READ_AGAIN: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("msg", {"time": T0, "msg": '{"a": 1}'}, {"message": '{"a": 1}', "attributes": {}}),
    ("msg", {"time": T0, "msg": ["a"]}, {"message": None, "attributes": {"msg": ["a"]}}),
    (
        "host",
        {"time": T0, "msg": "m", "host": {"name": "db-1", "ip": "10.0.0.1"}},
        {"host": "db-1", "attributes": {"host.ip": "10.0.0.1"}},
    ),
    (
        "severity",
        {"time": T0, "msg": "m", "level": "info", "severity": "3"},
        {"level": "info", "attributes": {"severity": "3"}},
    ),
    (
        "severity",
        {"time": T0, "msg": "m", "level": "info", "severity": 3},
        {"level": "info", "attributes": {"severity": 3}},
    ),
    (
        "severity",
        {"time": T0, "msg": "m", "level": "info", "severity": "true"},
        {"level": "info", "attributes": {"severity": "true"}},
    ),
]


def reads_as_text(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record the keys each whole-file read takes as text."""
    reads: list[list[str]] = []
    real = jsonlines.whole_file_sql

    def watched(path: Path, keys: list[str], **kwargs: Any) -> str:
        reads.append(sorted(kwargs.get("text", ())))
        return real(path, keys, **kwargs)

    monkeypatch.setattr(jsonlines, "whole_file_sql", watched)
    return reads


def check_by_hand(lab: Path, expected: list[dict[str, Any]]) -> None:
    rows = {row[-1]: dict(zip(CONTENT_COLUMNS, row, strict=True)) for row in content_rows(lab)}
    assert sorted(rows) == list(range(1, len(expected) + 1))
    for line, want in enumerate(expected, start=1):
        for column, value in want.items():
            assert rows[line][column] == value, f"line {line}, {column}"


def test_keys_a_column_maps_are_read_as_text_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [r for r, _ in PLAIN_TEXT]
    reads = reads_as_text(monkeypatch)
    whole, lines, _ = every_reader(tmp_path, jsonl(records), monkeypatch, IngestOptions())

    keys = {k for r in records for k in r}
    assert reads == [sorted(keys)]  # one read, every key (each one a column maps) as text
    assert whole == lines
    check_by_hand(tmp_path / "whole-file" / "lab.duckdb", [want for _, want in PLAIN_TEXT])


@pytest.mark.parametrize(("key", "record", "want"), READ_AGAIN)
def test_a_value_whose_text_could_be_a_strings_is_read_again_as_json(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    record: dict[str, Any],
    want: dict[str, Any],
) -> None:
    plain = {"time": T0, "msg": "plain", "level": "info", "severity": "warn", "host": "h"}
    reads = reads_as_text(monkeypatch)
    whole, lines, _ = every_reader(tmp_path, jsonl([plain, record]), monkeypatch, IngestOptions())

    text = sorted({"time", "msg", "level", "severity", "host"})
    assert reads == [text, [k for k in text if k != key]]
    assert whole == lines
    check_by_hand(tmp_path / "whole-file" / "lab.duckdb", [{"message": "plain"}, want])


#: (an object's line as written, the attributes the lab must hold): text that would fool a
#: split of the object's text at each '","' (see dvlab_json_compact_members)
OBJECT_MEMBERS: list[tuple[str, dict[str, Any] | None]] = [
    ('{"a": "x,", "b": 1}', {"o.a": "x,", "o.b": 1}),
    ('{"a":"p,\\"q\\":1","b":[",\\"",2]}', {"o.a": 'p,"q":1', "o.b": [',"', 2]}),
    ('{"n":{"c":1,"d":2},"e":3}', {"o.n.c": 1, "o.n.d": 2, "o.e": 3}),
    ('{"n":{"c":1},"e":[1,{"f":",\\""}]}', {"o.n.c": 1, "o.e": [1, {"f": ',"'}]}),
    ('{"":1,"f":2}', {"o.f": 2}),
    ('{"":1}', {}),
    ("{}", {"o": {}}),
    (
        '{ "k\\"ey" : 1 ,  "ключ":"é 😀", "sp ace": null }',
        {'o.k"ey': 1, "o.ключ": "é 😀", "o.sp ace": None},
    ),
    ('{"a,\\"b":1,"c":"\\u0000,\\""}', {'o.a,"b': 1, "o.c": '\x00,"'}),
    # a key twice: no value by hand (which one stays is not said), the readers agree
    ('{"a":1,"a":2,"b":3}', None),
]


def test_an_objects_members_are_flattened_alike_whatever_its_text_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "".join(
        f'{{"time": "{T0}", "msg": "line {n}", "o": {obj}}}\n'
        for n, (obj, _) in enumerate(OBJECT_MEMBERS, start=1)
    )
    whole, lines, chunk = every_reader(tmp_path, text, monkeypatch, IngestOptions())

    got = [row[-2] for row in whole[0]]
    assert len(got) == len(OBJECT_MEMBERS)
    for line, (have, (_, want)) in enumerate(zip(got, OBJECT_MEMBERS, strict=True), start=1):
        if want is not None:
            assert have == want, f"line {line}"
    assert whole == lines == chunk


@pytest.mark.slow
def test_lines_near_the_longest_the_reader_takes_keep_their_place_in_a_large_file(
    tmp_path: Path, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines of 15 MB among 300,000 short ones: the file is read in parts of a size of its
    own (see jsonlines.lines_reader), and these lines cross from one part to the next."""
    long_text = "x" * (15 << 20)
    short = [{"time": T0, "msg": f"short {n}"} for n in range(150_000)]
    records = [*short, {"time": T0, "msg": long_text}, *short, {"time": T0, "msg": long_text}]
    source = tmp_path / "long.jsonl"
    source.write_text(jsonl(records), encoding="utf-8")
    taken = watch_whole_file_reader(monkeypatch)

    summary = ingest(lab_path, [str(source)], IngestOptions())

    assert taken == [True]
    assert summary.total("rows_loaded") == len(records)
    long_lines = query(
        lab_path,
        "SELECT line, length(message) FROM logs WHERE length(message) > 100 ORDER BY line",
    )
    assert long_lines == [(150_001, 15 << 20), (300_002, 15 << 20)]
    assert query(lab_path, "SELECT message FROM logs WHERE line = 150_002") == [("short 0",)]


def test_keys_holding_control_characters_are_kept_by_every_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lines and chunk readers had found no value under a top-level key holding a line
    break, a tab or a NUL (DuckDB's JSON paths take no escapes but a quote's)."""
    record = {"time": T0, "msg": "m", "a\nb": 1, "lev\tel": "x", "nul\u0000": 2, "n": {"c\rd": 3}}
    whole, lines, chunk = every_reader(tmp_path, jsonl([record]), monkeypatch, IngestOptions())

    assert whole[0][0][-2] == {"a\nb": 1, "lev\tel": "x", "nul\u0000": 2, "n.c\rd": 3}
    assert whole == lines == chunk


def test_the_whole_file_reader_takes_a_file_with_a_few_bad_lines_by_default(
    tmp_path: Path, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(MIXED)
    taken = watch_whole_file_reader(monkeypatch)
    summary = ingest(lab_path, [str(source)], IngestOptions(format="jsonl"))

    assert taken == [True]
    assert (summary.total("rows_loaded"), summary.total("rows_rejected")) == (3, 3)
    assert summary.total("rows_skipped") == MIXED_SKIPPED


@pytest.mark.parametrize("limit", ["odd", "rowless"])
def test_more_odd_lines_than_the_whole_file_reader_locates_go_to_the_lines_reader(
    tmp_path: Path, lab_path: Path, limit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MIXED has 4 lines that hold no record, 2 of them blank (no row from DuckDB's
    reader): one fewer than either allows sends the file on, with the same result."""
    if limit == "odd":
        monkeypatch.setattr(jsonlines, "ODD_LINES_MAX", 3)
    else:
        monkeypatch.setattr(jsonlines, "ROWLESS_LINES_MAX", 1)
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(MIXED)
    whole = watch_whole_file_reader(monkeypatch)
    lines: list[bool] = []
    real = ingest_module._Staging.add_json_lines

    def watched(self: ingest_module._Staging, *args: Any) -> bool:
        lines.append(real(self, *args))
        return lines[-1]

    monkeypatch.setattr(ingest_module._Staging, "add_json_lines", watched)
    ingest(lab_path, [str(source)], IngestOptions(format="jsonl"))

    assert (whole, lines) == ([], [True])
    assert query(lab_path, "SELECT line, message FROM logs ORDER BY line") == MIXED_ROWS
    assert query(lab_path, "SELECT line, reason FROM rejects ORDER BY line") == MIXED_REJECTS
    assert query(lab_path, "SELECT rows_skipped FROM ingests") == [(MIXED_SKIPPED,)]


def test_more_rows_than_planned_from_a_file_that_did_not_grow_go_to_the_lines_reader(
    tmp_path: Path, lab_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were DuckDB's reader to give a row for a line it gave none alone, the rows would
    shift; told so here (every odd line said to give none), the reader must give way."""
    monkeypatch.setattr(
        ingest_module._Staging, "rows_given", lambda self, odd, keys: [0] * len(odd)
    )
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(MIXED)
    whole = watch_whole_file_reader(monkeypatch)

    ingest(lab_path, [str(source)], IngestOptions(format="jsonl"))

    assert whole == [False]
    assert query(lab_path, "SELECT line, message FROM logs ORDER BY line") == MIXED_ROWS
    assert query(lab_path, "SELECT line, reason FROM rejects ORDER BY line") == MIXED_REJECTS


@pytest.mark.parametrize(
    ("rowless", "lines"),
    [
        ([], [1, 2, 3, 4, 5, 6]),
        ([1], [2, 3, 4, 5, 6, 7]),
        ([2, 3, 7], [1, 4, 5, 6, 8, 9]),
        ([4, 5, 6], [1, 2, 3, 7, 8, 9]),
        ([1, 3, 5, 7, 9], [2, 4, 6, 8, 10, 11]),
    ],
)
def test_rows_are_numbered_around_lines_that_gave_none(
    rowless: list[int], lines: list[int]
) -> None:
    """Six rows, read in order from a file whose lines ``rowless`` gave no row: their lines
    are the other lines in turn (written out by hand)."""
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t AS SELECT range AS n FROM range(6)")
        got = con.execute(f"SELECT {jsonlines.row_line_sql(rowless)} FROM t ORDER BY n").fetchall()
    finally:
        con.close()
    assert [r[0] for r in got] == lines


def test_numbering_around_a_thousand_rowless_lines_matches_a_count(tmp_path: Path) -> None:
    """The balanced CASE against counting, for every row of 20,000, with 1,000 rowless
    lines in runs and alone."""
    rng = random.Random(7)
    total = 21_000
    rowless = sorted(rng.sample(range(1, total + 1), 1_000))
    skipped = set(rowless)
    expected = [n for n in range(1, total + 1) if n not in skipped]
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TABLE t AS SELECT range AS n FROM range({len(expected)})")
        got = con.execute(f"SELECT {jsonlines.row_line_sql(rowless)} FROM t ORDER BY n").fetchall()
    finally:
        con.close()
    assert [r[0] for r in got] == expected


@pytest.mark.parametrize(
    ("content", "rows", "rejects"),
    [
        # a carriage return inside a line: DuckDB would end the line there (raw in a
        # string it is no JSON either: line 1 is a reject)
        (
            b'{"ts":"2026-05-01T12:00:01Z","msg":"a\rb"}\n\n{"ts":"2026-05-01T12:00:03Z"}\n',
            [3],
            [1],
        ),
        # bytes that are not UTF-8: the chunk reader replaces them, and the line loads
        (
            b'{"ts":"2026-05-01T12:00:01Z","msg":"caf\xe9"}\nbad\n{"ts":"2026-05-01T12:00:03Z"}\n',
            [1, 3],
            [2],
        ),
    ],
    ids=["carriage-return", "not-utf-8"],
)
def test_what_duckdb_cannot_split_into_lines_goes_to_the_chunk_reader(
    tmp_path: Path,
    lab_path: Path,
    content: bytes,
    rows: list[int],
    rejects: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "odd.jsonl"
    source.write_bytes(content)
    taken = force_lines_reader(monkeypatch)

    summary = ingest(lab_path, [str(source)], IngestOptions(format="jsonl"))

    assert taken == [False]
    assert summary.failed == []
    # each line once: nothing of the refused attempt is left behind
    assert [r[0] for r in query(lab_path, "SELECT line FROM logs ORDER BY line")] == rows
    assert [r[0] for r in query(lab_path, "SELECT line FROM rejects ORDER BY line")] == rejects


@pytest.mark.parametrize("reader", READERS)
def test_a_control_byte_in_a_line_is_that_lines_reject_either_way(
    tmp_path: Path, lab_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lines reader splits on nothing but line ends (its column separator, byte 1,
    included): raw in a string, such a byte makes the line no JSON."""
    source = tmp_path / "odd.jsonl"
    source.write_bytes(
        b'{"ts":"2026-05-01T12:00:01Z","msg":"a\x01b"}\n\x01\n{"ts":"2026-05-01T12:00:03Z"}\n'
    )

    ingest_with(reader, lab_path, source, monkeypatch, IngestOptions(format="jsonl"))

    assert [r[0] for r in query(lab_path, "SELECT line FROM logs")] == [3]
    assert query(lab_path, "SELECT line, raw FROM rejects ORDER BY line") == [
        (1, '{"ts":"2026-05-01T12:00:01Z","msg":"a\x01b"}'),
        (2, "\x01"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("reader", ["whole-file", "lines"])
def test_bad_and_blank_lines_do_not_shift_numbering_across_many_row_groups(
    tmp_path: Path, lab_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Line n says n; bad and blank lines among 300,000 must not shift the numbering."""
    count = 300_000
    bad = {n for n in range(1, count + 1) if n % 9_973 == 0}
    blank = {n for n in range(1, count + 1) if n % 7_919 == 0} - bad
    with (tmp_path / "many.jsonl").open("w", encoding="utf-8") as fh:
        for n in range(1, count + 1):
            if n in bad:
                fh.write(f"garbage {n}\n")
            elif n in blank:
                fh.write("\n")
            else:
                nested = f', "http": {{"n": {n}}}' if n % 4 == 0 else ""
                fh.write(f'{{"ts": "2026-05-01T12:00:00Z", "msg": "m{n}", "n": {n}{nested}}}\n')
    ingest_with(reader, lab_path, tmp_path / "many.jsonl", monkeypatch, IngestOptions())

    con = duckdb.connect(str(lab_path), read_only=True)
    try:
        rows, wrong = con.execute(
            """SELECT count(*), count(*) FILTER (WHERE message <> 'm' || line
                   OR (attributes->>'n')::BIGINT <> line
                   OR (line % 4 = 0) <> (attributes->>'$."http.n"' IS NOT NULL))
               FROM logs"""
        ).fetchall()[0]
        rejected = con.execute("SELECT line, raw FROM rejects ORDER BY line").fetchall()
        skipped = con.execute("SELECT rows_skipped FROM ingests").fetchall()[0][0]
    finally:
        con.close()
    assert (rows, wrong) == (count - len(bad) - len(blank), 0)
    assert rejected == [(n, f"garbage {n}") for n in sorted(bad)]
    assert skipped == len(blank)


@pytest.mark.parametrize("space", [b"\f", b"\v"])
def test_a_form_feed_or_vertical_tab_around_an_object_makes_the_line_a_reject(
    tmp_path: Path, lab_path: Path, space: bytes
) -> None:
    """JSON has no such whitespace; the line is a reject however the file is read (DuckDB's
    whole-file reader would skip the byte, the line readers refuse the line)."""
    source = tmp_path / "spaces.jsonl"
    source.write_bytes(
        b'{"ts":"2026-05-01T12:00:01Z","msg":"one"}\n'
        + space
        + b'{"ts":"2026-05-01T12:00:02Z","msg":"two"}\n'
        + b'{"ts":"2026-05-01T12:00:03Z","msg":"three"}'
        + space
        + b"\n"
    )

    ingest(lab_path, [str(source)], IngestOptions(format="jsonl"))

    assert query(lab_path, "SELECT line, message FROM logs ORDER BY line") == [(1, "one")]
    assert query(lab_path, "SELECT line, reason FROM rejects ORDER BY line") == [
        (2, "not valid JSON"),
        (3, "not valid JSON"),
    ]


@pytest.mark.parametrize("reader", READERS)
def test_only_json_whitespace_makes_a_line_blank_and_a_mark_only_starts_the_file(
    tmp_path: Path, lab_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines 2 (spaces and a tab) and 6 (empty) are skipped; a form feed or vertical tab
    alone is no JSON whitespace (lines 3, 4), and a byte-order mark is allowed only where
    the file starts (line 1 loads, line 5 is a reject)."""
    bom = "\ufeff".encode()
    source = tmp_path / "blank.jsonl"
    source.write_bytes(
        bom
        + b'{"ts":"2026-05-01T12:00:01Z","msg":"one"}\n'
        + b" \t \n"
        + b"\f\n"
        + b" \v \n"
        + bom
        + b'{"ts":"2026-05-01T12:00:05Z","msg":"five"}\n'
        + b"\n"
        + b'{"ts":"2026-05-01T12:00:07Z","msg":"seven"}\n'
    )

    ingest_with(reader, lab_path, source, monkeypatch, IngestOptions(format="jsonl"))

    assert query(lab_path, "SELECT line, message FROM logs ORDER BY line") == [
        (1, "one"),
        (7, "seven"),
    ]
    assert query(lab_path, "SELECT line, reason FROM rejects ORDER BY line") == [
        (3, "not valid JSON"),
        (4, "not valid JSON"),
        (5, "not valid JSON"),
    ]
    assert query(lab_path, "SELECT rows_skipped FROM ingests") == [(2,)]


@pytest.mark.parametrize("reader", READERS)
def test_keys_found_only_beside_bad_lines_are_kept(
    tmp_path: Path, lab_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Good lines alternate with lines that are not JSON. The first 150 good lines each
    have a key of their own (few enough keys for a column each), the rest share one: no
    key may be lost with its neighbours in the block of rows DuckDB works on."""
    count = 6_000

    def own(n: int) -> str:
        return f"own{n}" if n < 300 else "other"

    with (tmp_path / "mixed.jsonl").open("w", encoding="utf-8") as fh:
        for n in range(1, count + 1):
            if n % 2:
                fh.write(f'{{"ts": "2026-05-01T12:00:00Z", "msg": "m{n}", "{own(n)}": {n}}}\n')
            else:
                fh.write("garbage\n" if n % 4 else "[1]\n")

    options = IngestOptions(format="jsonl")
    ingest_with(reader, lab_path, tmp_path / "mixed.jsonl", monkeypatch, options)

    rows = query(lab_path, "SELECT line, attributes::VARCHAR FROM logs ORDER BY line")
    assert [(line, json.loads(a)) for line, a in rows] == [
        (n, {own(n): n}) for n in range(1, count + 1, 2)
    ]
    assert query(lab_path, "SELECT count(*) FROM rejects") == [(count // 2,)]


@pytest.mark.parametrize(
    ("data", "last_start", "lines"),
    [
        (b"", 0, 0),
        (b"a", 0, 1),
        (b"a\n", 0, 1),
        (b"ab\ncd\n", 3, 2),
        (b"ab\ncd", 3, 2),
        (b"ab\n\n", 3, 2),
        (b"\n\n\n", 2, 3),
        (b"abc\nde\nfgh\n", 7, 3),
    ],
)
@pytest.mark.parametrize("compressed", [False, True])
def test_the_end_of_a_file_is_found_whatever_the_block_size(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    last_start: int,
    lines: int,
    compressed: bool,
) -> None:
    """Size, tail, where the last line starts and how many lines there are, read through
    blocks of 1 to 3 bytes so that newlines fall at every place in a block."""
    import gzip

    from dvlab.sources import files

    path = tmp_path / ("f.jsonl.gz" if compressed else "f.jsonl")
    path.write_bytes(gzip.compress(data) if compressed else data)
    for block in (1, 2, 3):
        monkeypatch.setattr(files, "CHUNK_BYTES", block)
        assert ingest_module._scan_lines(path) == (len(data), data, last_start, lines)
        if data or compressed:
            assert ingest_module._scan_end(path) == (len(data), data, last_start)
