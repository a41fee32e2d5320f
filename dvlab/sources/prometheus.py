"""Prometheus scrapes and query results, as rows of the lab's ``metrics``.

Three readers (see dvlab.sources.telemetry):

``prometheus``
    The text exposition format 0.0.4 that ``/metrics`` endpoints answer with,
    one file per scrape: ``# HELP`` and ``# TYPE`` lines, then
    ``name{label="value",...} value [timestamp]``; a timestamp is whole
    milliseconds since the epoch.
``openmetrics``
    OpenMetrics 1.0 text: the same lines plus ``# UNIT``, the types
    ``info``, ``stateset`` and ``gaugehistogram``, exemplars after `` # ``
    (checked, not stored), ``# EOF`` as the last line, and timestamps in
    seconds (fractions allowed).
``prometheus-api``
    JSON saved from the HTTP API: ``/api/v1/query_range`` (a ``matrix``) or
    ``/api/v1/query`` (a ``vector`` or a ``scalar``).

Each sample is a ``metrics`` row: ``name`` is the series name as written
(``http_request_duration_seconds_bucket``), ``family`` the metric family it
belongs to (``http_request_duration_seconds``), ``type`` that family's type
(``unknown`` when nothing declares one; 0.0.4's ``untyped`` is called
``unknown`` as OpenMetrics calls it). A sample belongs to the family its own
name declares, else to the declared family its name is plus a suffix that
family's type allows (``_bucket``, ``_sum``, ``_count``, ``_created``,
``_total``, ``_gsum``, ``_gcount``, ``_info``); a sample of neither is a
family of its own, of type ``unknown``. Each family a HELP, TYPE or UNIT line
declares is a ``metric_families`` row, samples or none, so a family exposed
without samples is still known with its type.

A sample's time is its own timestamp, else ``--at``, else the file's
modification time: a folder of scrape files is a series, each file at its
own time.

What is rejected (a row of ``rejects`` naming the line; the rest of the file
is kept unless ``--strict``): a malformed line (a bad label, no value, a
value or timestamp that is not a number); the same series (name and labels)
twice in one scrape, the later one; a value of NaN or ±Inf, over which no
rate or average means anything; every bucket of a histogram series that has
no ``le="+Inf"`` bucket; a TYPE or HELP line for a family already given one,
or a TYPE line after the family's samples. One NaN is not rejected: a
summary's quantile of NaN is how a Prometheus client says its window holds
no observations, which is no fault of the scrape; it is kept as a row whose
``value`` is NULL (SQL aggregates skip it). A file in which no line is a
sample or a declaration is not an exposition and fails whole.

Telling 0.0.4 from OpenMetrics by a file's first bytes: ``# UNIT``, a type
only OpenMetrics has, an exemplar or a ``# EOF`` line in them say
OpenMetrics, unless an ``untyped`` type says 0.0.4. A large OpenMetrics file
that shows none of these early is read as 0.0.4 (its ``# EOF`` is then a
comment); its timestamps, if it has any, would be taken as milliseconds:
``--format openmetrics`` says otherwise.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from dvlab.errors import BadInputError
from dvlab.lab import timeconv
from dvlab.sources import files, natsmon, telemetry
from dvlab.sources.records import REJECT_EXCERPT

PROMETHEUS = "prometheus"
OPENMETRICS = "openmetrics"
PROMETHEUS_API = "prometheus-api"

#: a TYPE line's word -> the lab's type (schema.METRIC_TYPES)
TYPES: dict[str, str] = {
    "counter": "counter",
    "gauge": "gauge",
    "histogram": "histogram",
    "gaugehistogram": "gaugehistogram",
    "summary": "summary",
    "info": "info",
    "stateset": "stateset",
    "unknown": "unknown",
    "untyped": "unknown",
}

#: the suffixes a sample name may add to its family's name, by the family's type
SUFFIXES: dict[str, frozenset[str]] = {
    "counter": frozenset({"total", "created"}),
    "histogram": frozenset({"bucket", "sum", "count", "created"}),
    "gaugehistogram": frozenset({"bucket", "gsum", "gcount"}),
    "summary": frozenset({"sum", "count", "created"}),
    "info": frozenset({"info"}),
    "gauge": frozenset(),
    "stateset": frozenset(),
    "unknown": frozenset(),
}

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_QUOTED = r'"(?:[^"\\\n]|\\.)*"'
#: one label, ``name="value"``, spaces around allowed; _LABEL captures its name and value
_ONE_LABEL = r'[ \t]*{name}[ \t]*=[ \t]*"{value}"[ \t]*'
_LABEL = re.compile(
    _ONE_LABEL.format(name="([a-zA-Z_][a-zA-Z0-9_]*)", value=r'((?:[^"\\\n]|\\.)*)')
)
_LABEL_SET = "(?:{one},)*(?:{one})?[ \t]*".format(
    one=_ONE_LABEL.format(name="[a-zA-Z_][a-zA-Z0-9_]*", value=r'(?:[^"\\\n]|\\.)*')
)
_LABELS = re.compile(_LABEL_SET)
_ESCAPE = re.compile(r"\\(.)")
_UNESCAPED = {"n": "\n", "\\": "\\", '"': '"'}
#: Go's float syntax as an exposition writes it (Python's float() also takes ``1_0``)
_GO_FLOAT = (
    r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?"
    r"|[nN][aA][nN])"
)
_FLOAT = re.compile(_GO_FLOAT)
#: a 0.0.4 timestamp: whole milliseconds
_MILLISECONDS = re.compile(r"-?\d+")
#: an OpenMetrics timestamp: seconds, a fraction or an exponent allowed
_DECIMAL = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
#: a sample line's start: name, the label set in braces (quoted values may hold braces),
#: the rest; what _Parser.split reads a line with when the one-pass pattern did not take it
_SAMPLE = re.compile(rf"({_NAME})[ \t]*(\{{(?:[^\"}}]|{_QUOTED})*\}})?(.*)")
_DECLARATION = re.compile(rf"#[ \t]+(HELP|TYPE|UNIT)[ \t]+({_NAME})(?:[ \t]+(.*))?")
_KEYWORD = re.compile(r"#[ \t]+(HELP|TYPE|UNIT)\b")
#: how a sample with labels starts
_LABELLED = re.compile(rf"{_NAME}\{{")
_EXEMPLAR = re.compile(rf"\{{(?:[^\"}}]|{_QUOTED})*\}}[ \t]+(\S+)(?:[ \t]+(\S+))?[ \t]*")
_INFINITE = (math.inf, -math.inf)

#: label sets as written -> their pairs: a series' labels are written the same way in every
#: scrape of a target, so a folder of scrapes parses each label set once (the pairs are
#: never changed once made)
_LABEL_SETS: dict[str, list[tuple[str, str]]] = {}
_LABEL_SETS_KEPT = 200_000


def _line_pattern(timestamp: str) -> re.Pattern[str]:
    """One pattern that takes every line of a file in one pass (``findall``, a match a
    line): a sample as writers write it (name, labels, value, timestamp, exemplar), a
    HELP/TYPE/UNIT line (keyword, name, text), or anything else (the last group)."""
    sample = (
        rf"({_NAME})(?:\{{({_LABEL_SET})\}})?[ \t]+({_GO_FLOAT})"
        rf"(?:[ \t]+({timestamp}))?[ \t\r]*(#.*)?"
    )
    declaration = rf"#[ \t]+(HELP|TYPE|UNIT)[ \t]+({_NAME})(?:[ \t]+(.*))?"
    return re.compile(rf"^(?:{sample}|{declaration}|(.*))$", re.MULTILINE)


_LINE_PROMETHEUS = _line_pattern(_MILLISECONDS.pattern)
_LINE_OPENMETRICS = _line_pattern(_DECIMAL.pattern)

_GO_FLOATS = "a number in Go's syntax, as 1.5, 1e+06, +Inf, -Inf or NaN"


# --------------------------------------------------------------------------- values


def parse_value(text: str) -> float:
    """A sample value as Go writes floats; ValueError for anything else.

    >>> parse_value("1e+06"), parse_value("-Inf")
    (1000000.0, -inf)
    """
    if not _FLOAT.fullmatch(text):
        raise ValueError(f"{text!r} is not {_GO_FLOATS}")
    return float(text)


def unescape(text: str) -> str:
    r"""A label value or HELP text with its escapes (``\\``, ``\"``, ``\n``) decoded.

    >>> unescape(r'a \"b\" \\ c\nd')
    'a "b" \\ c\nd'
    """
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: _UNESCAPED.get(m.group(1), m.group(0)), text)


def parse_labels(text: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of a label set's inside (``a="1",b="x"``), values unescaped.

    Raises ValueError saying what is wrong: bad syntax, or a label given twice.
    """
    if not _LABELS.fullmatch(text):
        raise ValueError(f'bad label syntax in {{{text}}} (expected name="value", ...)')
    return _label_pairs(text)


def _label_pairs(text: str) -> list[tuple[str, str]]:
    """The pairs of a label set that matched _LABELS; ValueError for a label given twice."""
    pairs: list[tuple[str, str]] = _LABEL.findall(text)
    if "\\" in text:
        pairs = [(name, unescape(value)) for name, value in pairs]
    names = [name for name, _ in pairs]
    if len(set(names)) < len(names):
        twice = next(name for i, name in enumerate(names) if name in names[:i])
        raise ValueError(f"label {twice} is given twice")
    return pairs


#: the times a sample may carry, in epoch microseconds: 1970-01-01 up to the end of 9999
_EARLIEST_MICROS = 0
_LATEST_MICROS = 253_402_300_800_000_000 - 1


_OUT_OF_RANGE = "timestamp out of range (a time from 1970 to 9999)"


def _in_range(micros: int) -> int:
    """``micros`` if it is a time the lab can hold and a scrape can mean; ValueError else."""
    if not _EARLIEST_MICROS <= micros <= _LATEST_MICROS:
        raise ValueError(_OUT_OF_RANGE)
    return micros


def _micros_of_seconds(text: str) -> int:
    """Epoch seconds (OpenMetrics: a fraction or an exponent allowed) in whole microseconds."""
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"timestamp {text!r} is not a number of seconds since the epoch")
    return _micros(Decimal(text))


def _micros(seconds: Decimal) -> int:
    """``seconds`` in whole microseconds; ValueError, before any arithmetic, for a number too
    large to be a time at all (``1e999999`` would take seconds to multiply out)."""
    if seconds.adjusted() > 15:
        raise ValueError(_OUT_OF_RANGE)
    return int(seconds * 1_000_000)


# --------------------------------------------------------------------------- parsing


@dataclass
class Family:
    """What the exposition declares of one metric family, and where."""

    name: str
    line: int
    type: str = "unknown"
    help: str | None = None
    unit: str | None = None
    type_line: int | None = None
    help_line: int | None = None
    unit_line: int | None = None
    #: the line of its first sample, once it has one
    sample_line: int | None = None


@dataclass
class _Buckets:
    """The bucket lines of one histogram series (its labels but ``le``)."""

    first_line: int
    rows: list[int] = field(default_factory=list)
    has_inf: bool = False


@dataclass
class Exposition:
    """One scrape parsed: its samples as columns, its families, and its rejects."""

    lines: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    #: the sample's own time in epoch microseconds, None for the scrape's
    times: list[int | None] = field(default_factory=list)
    #: labels flattened: the sample i's pairs are label_keys[offsets[i]:offsets[i+1]]
    offsets: list[int] = field(default_factory=lambda: [0])
    label_keys: list[str] = field(default_factory=list)
    label_values: list[str] = field(default_factory=list)
    declared: dict[str, Family] = field(default_factory=dict)
    #: (line, reason, raw)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    #: row indexes dropped after the whole file was read (histograms without +Inf)
    dropped: set[int] = field(default_factory=set)

    @property
    def rows(self) -> int:
        return len(self.lines) - len(self.dropped)

    def labels(self, row: int) -> dict[str, str]:
        start, end = self.offsets[row], self.offsets[row + 1]
        return dict(zip(self.label_keys[start:end], self.label_values[start:end], strict=True))


def parse(text: str, *, openmetrics: bool, source: str = "<text>") -> Exposition:
    """Parse a scrape's text (0.0.4, or OpenMetrics when ``openmetrics``); see the module doc.

    Raises BadInputError, naming ``source`` and the first bad line, when no
    line of it is a sample or a declaration.
    """
    return _Parser(openmetrics, source).run(text)


class _Parser:
    """The state of reading one exposition line by line."""

    def __init__(self, openmetrics: bool, source: str = "<text>"):
        self.openmetrics = openmetrics
        self.source = source
        self.out = Exposition()
        self.text: list[str] = []
        #: (name, sorted labels, own time) -> the line of the series' first sample then
        self.series: dict[tuple[str, tuple[tuple[str, str], ...], int | None], int] = {}
        #: (family, labels but le) -> that histogram series' buckets
        self.buckets: dict[tuple[str, tuple[tuple[str, str], ...]], _Buckets] = {}
        #: the name of each sample of no declared family -> the line of its first
        self.undeclared: dict[str, int] = {}
        self.eof_line: int | None = None
        self.valid = 0

    def run(self, text: str) -> Exposition:
        self.text = text.split("\n")
        pattern = _LINE_OPENMETRICS if self.openmetrics else _LINE_PROMETHEUS
        for number, (
            name,
            inner,
            written,
            stamp,
            exemplar,
            keyword,
            declared,
            rest,
            other,
        ) in enumerate(pattern.findall(text), start=1):
            if self.eof_line is not None and (name or keyword or other.strip()):
                self.reject(
                    number, f"text after # EOF (line {self.eof_line})", self.text[number - 1]
                )
            elif name:
                self.plain_sample(number, name, inner, written, stamp, exemplar)
            elif keyword:
                self.declare(number, keyword, declared, rest)
            elif other.strip():
                self.other(number, other.rstrip("\r"))
        if not self.valid:
            # nothing but comments and blank lines is no scrape either
            first, reason = min(self.out.rejects)[:2] if self.out.rejects else (None, None)
            raise BadInputError(
                f"{reason + '; ' if reason else ''}no line is a sample (name{{labels}} value) "
                "or a # HELP or # TYPE line, so this is not a Prometheus exposition",
                source=self.source,
                line=first,
            )
        self.check_histograms()
        self.out.rejects.sort(key=lambda r: r[0])
        return self.out

    def reject(self, number: int, reason: str, line: str) -> None:
        self.out.rejects.append((number, reason, line.rstrip("\r")[:REJECT_EXCERPT]))

    def other(self, number: int, line: str) -> None:
        """A line the one-pass pattern does not take: ``# EOF``, a comment, or a sample
        written unusually or wrongly (which split reads or says what is wrong with)."""
        if line.rstrip() == "# EOF":
            self.eof_line = number
        elif line.lstrip()[:1] == "#":
            if _KEYWORD.match(line):
                reason = "malformed declaration (expected # HELP|TYPE|UNIT name ...)"
                self.reject(number, reason, line)
        else:
            try:
                name, pairs, written, micros = self.split(line)
            except ValueError as exc:
                self.reject(number, str(exc), line)
                return
            self.sample(number, name, pairs, written, micros)

    # ------------------------------------------------------------------ declarations

    def declare(self, number: int, keyword: str, name: str, rest: str) -> None:
        rest = rest.strip(" \t\r") if keyword == "TYPE" else rest.rstrip("\r")
        family = self.out.declared.get(name)
        problem = _declaration_problem(keyword, name, rest, family) or self.type_too_late(
            keyword, name, rest
        )
        if problem is not None:
            self.reject(number, problem, self.text[number - 1])
            return
        if family is None:
            family = self.out.declared[name] = Family(name=name, line=number)
        if keyword == "TYPE":
            family.type, family.type_line = TYPES[rest], number
        elif keyword == "HELP":
            family.help, family.help_line = unescape(rest), number
        else:
            family.unit, family.unit_line = rest, number
        self.valid += 1

    def type_too_late(self, keyword: str, name: str, rest: str) -> str | None:
        """Why a TYPE line for a family not declared before comes too late: samples it
        would have typed came before it, as a family of their own."""
        if keyword != "TYPE":
            return None
        names = [name, *(f"{name}_{suffix}" for suffix in SUFFIXES[TYPES[rest]])]
        first = min((self.undeclared[n] for n in names if n in self.undeclared), default=None)
        if first is None:
            return None
        return (
            f"TYPE for {name} after its samples (the first is on line {first}); a family's "
            "type comes before its samples"
        )

    # ------------------------------------------------------------------ samples

    def plain_sample(
        self, number: int, name: str, inner: str, written: str, stamp: str, exemplar: str
    ) -> None:
        """A sample line the one-pass pattern took (its labels' syntax is checked)."""
        try:
            pairs = _LABEL_SETS.get(inner)
            if pairs is None:
                pairs = _LABEL.findall(inner) if inner else []
                if len(pairs) > 1 or "\\" in inner:
                    pairs = _label_pairs(inner)
                if len(_LABEL_SETS) < _LABEL_SETS_KEPT:
                    _LABEL_SETS[inner] = pairs
            if exemplar:
                _check_exemplar(exemplar[1:])
            micros = self.timestamp(stamp) if stamp else None
        except ValueError as exc:
            self.reject(number, str(exc), self.text[number - 1])
            return
        self.sample(number, name, pairs, written, micros)

    def sample(
        self,
        number: int,
        name: str,
        pairs: list[tuple[str, str]],
        written: str,
        micros: int | None,
    ) -> None:
        """Store a well-formed sample, unless it is NaN or infinite, a series seen before,
        or a bucket without a bound."""
        if micros is not None and not _EARLIEST_MICROS <= micros <= _LATEST_MICROS:
            self.reject(number, _OUT_OF_RANGE, self.text[number - 1])
            return
        family = self.family_of(name)
        kind = family.type if family is not None else "unknown"
        value: float | None = float(written)
        if value != value or value in _INFINITE:
            if kind == "summary" and family is not None and name == family.name and value != value:
                value = None  # a quantile over a window without observations: nothing to measure
            else:
                self.reject(
                    number,
                    f"value {written} is not a measurement: a rate or average over it means "
                    "nothing",
                    self.text[number - 1],
                )
                return
        if any(not text for _, text in pairs):
            # a label whose value is empty is no label, to Prometheus: e{a=""} is e
            pairs = [(label, text) for label, text in pairs if text]
        # a series may have several samples at their own times (OpenMetrics allows it), but
        # never two at one time
        key = (name, tuple(sorted(pairs)) if len(pairs) > 1 else tuple(pairs), micros)
        first = self.series.get(key)
        if first is not None:
            shown = f"{name}{_shown_labels(pairs)}"
            self.reject(
                number, f"the series {shown} again (first on line {first})", self.text[number - 1]
            )
            return
        out = self.out
        if family is not None:
            if (
                kind in _HISTOGRAMS
                and name == family.name + "_bucket"
                and not self.bucket(number, len(out.lines), family.name, pairs)
            ):
                return
            if family.sample_line is None:
                family.sample_line = number
        elif name not in self.undeclared:
            self.undeclared[name] = number
        self.series[key] = number
        out.lines.append(number)
        out.names.append(name)
        out.families.append(family.name if family is not None else name)
        out.types.append(kind)
        out.values.append(value)
        out.times.append(micros)
        for label, text in pairs:
            out.label_keys.append(label)
            out.label_values.append(text)
        out.offsets.append(len(out.label_keys))
        self.valid += 1

    def split(self, line: str) -> tuple[str, list[tuple[str, str]], str, int | None]:
        """(name, labels, value as written, own time in microseconds) of a sample line;
        ValueError says what is wrong with it."""
        found = _SAMPLE.match(line)
        if found is None:
            raise ValueError(f"{line.split()[0]!r} is not a metric name (nor is this a # line)")
        name, braces, rest = found.groups()
        if rest.lstrip(" \t").startswith("{"):
            raise ValueError('bad label syntax: the label set does not close (name="value", ...)')
        body, hashed, exemplar = rest.partition("#")
        tokens = body.split()
        if not braces and rest and found.end(1) == found.start(3):
            raise ValueError(f"{line.split()[0]!r} is not a metric name")
        pairs = parse_labels(braces[1:-1]) if braces else []
        if not tokens:
            raise ValueError(f"no value after {name}{braces or ''}")
        if len(tokens) > 2:
            raise ValueError(f"{' '.join(tokens[2:])!r} after the value and timestamp")
        parse_value(tokens[0])
        micros = self.timestamp(tokens[1]) if len(tokens) == 2 else None
        if hashed:
            _check_exemplar(exemplar)
        return name, pairs, tokens[0], micros

    def timestamp(self, text: str) -> int:
        if self.openmetrics:
            return _micros_of_seconds(text)
        if not _MILLISECONDS.fullmatch(text):
            raise ValueError(
                f"timestamp {text!r} is not whole milliseconds since the epoch (the 0.0.4 "
                "format); an OpenMetrics file counts seconds: --format openmetrics"
            )
        if len(text.lstrip("-")) > 18:  # far beyond any time, and past int()'s own limit
            raise ValueError(_OUT_OF_RANGE)
        return int(text) * 1000

    def family_of(self, name: str) -> Family | None:
        """The declared family a sample named ``name`` belongs to, if any."""
        declared = self.out.declared
        family = declared.get(name)
        if family is not None:
            return family
        base, _, suffix = name.rpartition("_")
        family = declared.get(base)
        if family is not None and suffix in SUFFIXES[family.type]:
            return family
        return None

    def bucket(self, number: int, row: int, family: str, pairs: list[tuple[str, str]]) -> bool:
        """Note a histogram bucket; False (and a reject) when its ``le`` is missing or bad."""
        le = next((v for k, v in pairs if k == "le"), None)
        if le is None:
            reason = f"a bucket of the histogram {family} without an le label"
            self.reject(number, reason, self.text[number - 1])
            return False
        try:
            bound = parse_value(le)
            if bound != bound:
                raise ValueError("NaN")
        except ValueError:
            self.reject(number, f'le="{le}" is not a bucket bound', self.text[number - 1])
            return False
        key = (family, tuple(sorted(p for p in pairs if p[0] != "le")))
        series = self.buckets.get(key)
        if series is None:
            series = self.buckets[key] = _Buckets(first_line=number)
        series.rows.append(row)
        series.has_inf = series.has_inf or bound == math.inf
        return True

    def check_histograms(self) -> None:
        """Reject every bucket of a histogram series that has no ``le="+Inf"`` bucket."""
        out = self.out
        for (family, labels), series in self.buckets.items():
            if series.has_inf:
                continue
            reason = (
                f'the histogram series {family}{_shown_labels(list(labels))} has no le="+Inf" '
                f"bucket (its first bucket is on line {series.first_line}), so its total "
                "count is unknown"
            )
            for row in series.rows:
                out.dropped.add(row)
                self.reject(out.lines[row], reason, self.text[out.lines[row] - 1])


_HISTOGRAMS = ("histogram", "gaugehistogram")


def _declaration_problem(keyword: str, name: str, rest: str, family: Family | None) -> str | None:
    """What is wrong with a HELP, TYPE or UNIT line for ``name``, if anything."""
    if keyword == "TYPE" and rest not in TYPES:
        return f"{rest!r} is not a metric type (one of: {', '.join(TYPES)})"
    if family is None:
        return None
    first = {"TYPE": family.type_line, "HELP": family.help_line, "UNIT": family.unit_line}[keyword]
    if first is not None:
        return f"a second {keyword} line for {name} (the first is on line {first})"
    if keyword == "TYPE" and family.sample_line is not None:
        return (
            f"TYPE for {name} after its samples (the first is on line {family.sample_line}); "
            "a family's type comes before its samples"
        )
    return None


def _check_exemplar(text: str) -> None:
    """An exemplar (``{trace_id="..."} value [timestamp]``) is checked, not stored."""
    found = _EXEMPLAR.fullmatch(text.strip(" \t\r"))
    if found is None:
        raise ValueError(f"bad exemplar {text.strip()!r} (expected # {{labels}} value [time])")
    try:
        parse_value(found.group(1))
        if found.group(2) is not None:
            _micros_of_seconds(found.group(2))
    except ValueError as exc:
        raise ValueError(f"bad exemplar: {exc}") from None


def _shown_labels(pairs: list[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in pairs) + "}"


# --------------------------------------------------------------------------- detection

#: types only OpenMetrics has
_OPENMETRICS_TYPES = frozenset({"info", "stateset", "gaugehistogram", "unknown"})


def exposition_format(head: bytes) -> str | None:
    """``openmetrics`` or ``prometheus`` when a file starting with ``head`` is a scrape.

    Every whole line of ``head`` must be blank, a comment, a sample, or start
    as a sample with labels does (``name{``: one with a fault its reader
    rejects), and at least one must be a HELP, TYPE or UNIT line or a sample
    with labels (so a log line, which is none of these, never makes a file a
    scrape). A head that declares its families (a HELP, TYPE or UNIT line) may
    also hold a few lines that are none of these, one in ten of its sample
    lines at most: lines its reader rejects, which would otherwise have the whole
    scrape refused. See the module docstring for how OpenMetrics is told.

    >>> exposition_format(b'# TYPE up gauge\\nup{job="node"} 1\\n')
    'prometheus'
    >>> exposition_format(b'# TYPE up gauge\\n# UNIT up ratio\\nup 1\\n# EOF\\n')
    'openmetrics'
    >>> exposition_format(b"2026-05-01 12:00:00 INFO up 1\\n") is None
    True
    >>> scrape = b"# TYPE a gauge\\n" + b"a 1\\n" * 9
    >>> exposition_format(scrape + b"1bad 6\\n"), exposition_format(scrape + b"x y\\n" * 2)
    ('prometheus', None)
    """
    lines = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace").split("\n")
    if len(head) >= files.HEAD_BYTES and len(lines) > 1:
        lines.pop()  # cut off mid-line
    parser = _Parser(openmetrics=True)
    telling = declared = openmetrics = untyped = False
    samples = odd = 0
    for raw in lines:
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if line.rstrip() == "# EOF":
            openmetrics = True
        elif line[0] == "#":
            found = _DECLARATION.fullmatch(line.rstrip(" \t"))
            if found is None:
                if _KEYWORD.match(line):
                    return None
                continue
            keyword, _, rest = found.groups()
            word = (rest or "").strip()
            if keyword == "TYPE" and word not in TYPES:
                return None
            telling = declared = True
            openmetrics = openmetrics or keyword == "UNIT" or word in _OPENMETRICS_TYPES
            untyped = untyped or word == "untyped"
        else:
            try:
                _, pairs, _, _ = parser.split(line)
            except ValueError:
                if _LABELLED.match(line) is None:
                    odd += 1  # no sample: a scrape's only if there are few such
                continue  # a sample with a fault, which its reader will reject
            samples += 1
            telling = telling or bool(pairs)
            openmetrics = openmetrics or _has_exemplar(line)
    if not telling or (odd and not (declared and odd * 10 <= samples + odd)):
        return None
    return OPENMETRICS if openmetrics and not untyped else PROMETHEUS


# --------------------------------------------------------------------------- staging


def _mtime_micros(path: Path) -> int:
    return path.stat().st_mtime_ns // 1000


_TS = pa.timestamp("us", tz="UTC")
_LABEL_MAP = pa.map_(pa.string(), pa.string())


def _samples_table(out: Exposition) -> pa.Table:
    """The parsed samples as Arrow columns (``ts`` null where a sample has no time)."""
    labels = pa.MapArray.from_arrays(
        pa.array(out.offsets, pa.int32()),
        pa.array(out.label_keys, pa.string()),
        pa.array(out.label_values, pa.string()),
    )
    table = pa.table(
        {
            "line": pa.array(out.lines, pa.int64()),
            "ts": pa.array(out.times, pa.int64()).cast(_TS),
            "name": pa.array(out.names, pa.string()),
            "labels": labels.cast(_LABEL_MAP),
            "value": pa.array(out.values, pa.float64()),
            "type": pa.array(out.types, pa.string()),
            "family": pa.array(out.families, pa.string()),
        }
    )
    if out.dropped:
        table = table.filter(pa.array([i not in out.dropped for i in range(len(out.lines))]))
    return table


def _stage_samples(
    con: duckdb.DuckDBPyConnection, source: telemetry.Source, samples: pa.Table
) -> telemetry.Staged:
    """Write ``samples`` (line, ts, name, labels, value, type, family) as source's staged
    ``metrics``: a sample without a time takes ``--at``, else the file's modification time."""
    params: dict[str, object] = {"site": source.site, "service": source.service}
    if source.at is not None:
        timeconv.install(con)
        if con.execute("SELECT dvlab_ts(?) IS NULL", [source.at]).fetchall()[0][0]:
            raise BadInputError(
                f"--at {source.at!r} is not a time; give RFC 3339, as 2026-05-01T12:00:00Z",
                source=source.name,
            )
        scrape, params["at"] = "dvlab_ts($at)", source.at
    else:
        scrape, params["mtime"] = "make_timestamptz($mtime)", _mtime_micros(source.path)
    table = telemetry.table_name(source.src, "metrics")
    registered = f"{table}_arrow"
    telemetry.over_rows(
        con,
        f"""CREATE OR REPLACE TEMP TABLE {table} AS
            SELECT line, coalesce(ts, {scrape}) AS ts, name, labels, value, type,
                   $site::VARCHAR AS site, $service::VARCHAR AS service, family
            FROM {registered}""",
        registered,
        samples,
        params,
    )
    return telemetry.Staged("metrics", table, samples.num_rows, 0)


def _has_exemplar(line: str) -> bool:
    """Whether a sample line (one that parses) ends in an exemplar."""
    found = _SAMPLE.match(line)
    return found is not None and "#" in found.group(3)


_FAMILIES = pa.schema(
    [
        ("line", pa.int64()),
        ("family", pa.string()),
        ("type", pa.string()),
        ("help", pa.string()),
        ("unit", pa.string()),
    ]
)


def _stage_families(
    con: duckdb.DuckDBPyConnection, source: telemetry.Source, declared: dict[str, Family]
) -> telemetry.Staged:
    table = telemetry.table_name(source.src, "families")
    rows = pa.Table.from_pylist(
        [
            {"line": f.line, "family": f.name, "type": f.type, "help": f.help, "unit": f.unit}
            for f in declared.values()
        ],
        schema=_FAMILIES,
    )
    registered = f"{table}_arrow"
    telemetry.over_rows(
        con,
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM {registered}",
        registered,
        rows,
    )
    return telemetry.Staged("families", table, rows.num_rows, 0)


@dataclass(frozen=True)
class ExpositionReader:
    """The reader of scrapes in the 0.0.4 text format or in OpenMetrics text."""

    format: str
    timed_by_file: bool = True  # a scrape's samples seldom carry their own time

    def sniff(self, head: bytes) -> bool:
        return exposition_format(head) == self.format

    def stage(
        self, con: duckdb.DuckDBPyConnection, source: telemetry.Source
    ) -> list[telemetry.Staged]:
        text = files.read_text(source.path, source.name, what="a Prometheus scrape")
        out = parse(text, openmetrics=self.format == OPENMETRICS, source=source.name)
        metrics = _stage_samples(con, source, _samples_table(out))
        families = _stage_families(con, source, out.declared)
        telemetry.stage_rejects(con, source, out.rejects)
        return [
            telemetry.Staged(metrics.kind, metrics.table, metrics.rows, len(out.rejects)),
            families,
        ]


# --------------------------------------------------------------------------- the HTTP API

#: the name of a scalar result's row, and of a series whose labels hold no ``__name__``
SCALAR_NAME = "scalar"
NAMELESS = "{}"

_API_START = re.compile(rb'\A\s*\{\s*"(status|data)"\s*:')


def looks_like_api(head: bytes) -> bool:
    """Whether a file starting with ``head`` is a saved ``/api/v1/query`` or ``query_range``
    response: a JSON object that begins with ``"status"`` or ``"data"`` and names a
    ``"resultType"`` or an ``"errorType"`` within its first bytes, and not JSON lines."""
    text = head.removeprefix(b"\xef\xbb\xbf")
    if _API_START.match(text) is None:
        return False
    if b'"resultType"' not in text and b'"errorType"' not in text:
        return False
    return files.one_json_document(text)


@dataclass
class _Points:
    """The rows and rejects of one API response."""

    lines: dict[natsmon.JsonPath, int]
    text: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    #: (name, sorted labels, time) -> the line of that point's first appearance
    seen: dict[tuple[str, tuple[tuple[str, str], ...], int], int] = field(default_factory=dict)

    def line(self, path: natsmon.JsonPath) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def reject(self, path: natsmon.JsonPath, reason: str) -> None:
        line = self.line(path)
        raw = self.text[line - 1].strip() if line <= len(self.text) else ""
        self.rejects.append((line, f"{natsmon.path_text(path)}: {reason}", raw[:REJECT_EXCERPT]))

    def point(
        self, path: natsmon.JsonPath, point: object, name: str, labels: dict[str, str]
    ) -> None:
        """One ``[timestamp, "value"]`` pair as a row; a reject says what is wrong with it."""
        if not isinstance(point, list) or len(point) != 2:
            self.reject(path, f'{_json_shown(point)} is not a [timestamp, "value"] pair')
            return
        ts, written = point
        if isinstance(ts, bool) or not isinstance(ts, int | Decimal):
            self.reject(path, f"timestamp {_json_shown(ts)} is not a number of seconds")
            return
        if not isinstance(written, str):
            self.reject(
                path, f"value {_json_shown(written)} is not a string (the API quotes values)"
            )
            return
        try:
            value = parse_value(written)
        except ValueError as exc:
            self.reject(path, str(exc))
            return
        if math.isnan(value) or math.isinf(value):
            self.reject(
                path,
                f"value {written} is not a measurement: a rate or average over it means nothing",
            )
            return
        try:
            micros = _in_range(_micros(Decimal(ts)))
        except ValueError as exc:
            self.reject(path, str(exc))
            return
        line = self.line(path)
        key = (name, tuple(sorted(labels.items())), micros)
        if key in self.seen:
            # a series has one value at one time: a result that names it twice is a fault
            self.reject(
                path,
                f"the series {name}{_shown_labels(list(key[1]))} again at this time "
                f"(first on line {self.seen[key]})",
            )
            return
        self.seen[key] = line
        self.rows.append(
            {
                "line": line,
                "ts": micros,
                "name": name,
                "labels": list(labels.items()),
                "value": value,
                "type": "unknown",
                "family": name,
            }
        )

    def series(self, path: natsmon.JsonPath, entry: object, key: str) -> None:
        """One series of a vector (``key`` = value) or a matrix (``key`` = values)."""
        if not isinstance(entry, dict) or not isinstance(entry.get("metric", {}), dict):
            self.reject(path, f'{_json_shown(entry)} is not a series ({{"metric": {{...}}, ...}})')
            return
        metric = entry.get("metric", {})
        odd = next((k for k, v in metric.items() if not isinstance(v, str)), None)
        if odd is not None:
            self.reject(
                (*path, "metric", odd), f"label {_json_shown(metric[odd])} is not a string"
            )
            return
        labels = {k: v for k, v in metric.items() if k != "__name__"}
        name = metric.get("__name__", NAMELESS)
        if key not in entry:
            found = "a native histogram" if {"histogram", "histograms"} & set(entry) else "no"
            self.reject(path, f"{found} {key}: only float samples are stored")
            return
        if key == "value":
            self.point((*path, key), entry[key], name, labels)
            return
        points = entry[key]
        if not isinstance(points, list):
            self.reject((*path, key), f"{_json_shown(points)} is not a list of points")
            return
        for i, point in enumerate(points):
            self.point((*path, key, i), point, name, labels)


def _json_shown(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def read_api(text: str, source: str) -> _Points:
    """The points of a saved query or query_range response; BadInputError when the file is
    not one, its query failed, or its result is a string."""
    try:
        body = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"not valid JSON: {exc.msg} (column {exc.colno}); a saved Prometheus API "
            "response is one JSON object",
            source=source,
            line=exc.lineno,
        ) from None
    if not isinstance(body, dict) or "status" not in body:
        raise BadInputError(
            'not a Prometheus API response (a JSON object with "status" and "data")',
            source=source,
        )
    lines = natsmon.value_lines(text)
    if body["status"] != "success":
        raise BadInputError(
            f"the saved query failed: status {_json_shown(body['status'])}, "
            f"errorType {_json_shown(body.get('errorType'))}, error {_json_shown(body.get('error'))}",
            source=source,
            line=lines.get(("status",)),
        )
    data = body.get("data")
    kind = data.get("resultType") if isinstance(data, dict) else None
    if kind not in ("matrix", "vector", "scalar", "string"):
        raise BadInputError(
            f"data.resultType is {_json_shown(kind)}; expected matrix (query_range), vector "
            "or scalar (query)",
            source=source,
            line=lines.get(("data",)),
        )
    if kind == "string":
        raise BadInputError(
            "data.resultType is string: a string result holds no samples to store",
            source=source,
            line=lines.get(("data", "resultType")),
        )
    points = _Points(lines=lines, text=text.split("\n"))
    assert isinstance(data, dict)
    result = data.get("result")
    at: natsmon.JsonPath = ("data", "result")
    if kind == "scalar":
        points.point(at, result, SCALAR_NAME, {})
    elif not isinstance(result, list):
        points.reject(at, f"{_json_shown(result)} is not a list of series")
    else:
        for i, entry in enumerate(result):
            points.series((*at, i), entry, "values" if kind == "matrix" else "value")
    return points


_API_ROWS = pa.schema(
    [
        ("line", pa.int64()),
        ("ts", pa.int64()),
        ("name", pa.string()),
        ("labels", _LABEL_MAP),
        ("value", pa.float64()),
        ("type", pa.string()),
        ("family", pa.string()),
    ]
)


@dataclass(frozen=True)
class ApiReader:
    """The reader of JSON saved from Prometheus's ``/api/v1/query`` and ``query_range``."""

    format: str = PROMETHEUS_API
    timed_by_file: bool = False

    def sniff(self, head: bytes) -> bool:
        return looks_like_api(head)

    def stage(
        self, con: duckdb.DuckDBPyConnection, source: telemetry.Source
    ) -> list[telemetry.Staged]:
        text = files.read_text(source.path, source.name, what="a Prometheus API response")
        points = read_api(text, source.name)
        rows = pa.Table.from_pylist(points.rows, schema=_API_ROWS)
        rows = rows.set_column(1, "ts", rows.column("ts").cast(_TS))
        metrics = _stage_samples(con, source, rows)
        telemetry.stage_rejects(con, source, points.rejects)
        return [telemetry.Staged(metrics.kind, metrics.table, metrics.rows, len(points.rejects))]


READERS = (ExpositionReader(OPENMETRICS), ExpositionReader(PROMETHEUS), ApiReader())
