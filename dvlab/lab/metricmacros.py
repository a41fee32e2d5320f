"""SQL macros the curated metric queries share (installed on every lab connection).

``dvlab_labels_text(labels)``
    A series' labels as Prometheus writes them, sorted by name:
    ``{code="500",method="GET"}`` (quotes, backslashes and line breaks escaped), ``''`` for
    none. One text per series, so points group and print by it.
``dvlab_cumulative(type, name, labels)``
    Whether a series only grows until its process restarts: a counter (but its
    ``_created`` series, a time), and a histogram's or summary's ``_bucket``,
    ``_count`` and ``_sum`` series; not one labelled ``temporality="delta"``,
    whose points each count since the one before.
``dvlab_step_start(step, start)``
    ``start``, once ``step`` (an interval as text, or NULL for none) is a fixed length
    above zero that DuckDB can step by: days, or hours and less, not both, and no months
    or years (their length depends on when they start). Otherwise an error saying so:
    the queries that take a step check it also when run as plain SQL.
"""

from __future__ import annotations

import duckdb

MACROS = (
    r"""CREATE OR REPLACE TEMP MACRO dvlab_labels_text(labels) AS (
        CASE WHEN cardinality(labels) > 0
             THEN '{' || array_to_string(list_transform(list_sort(map_entries(labels)),
                      lambda e: e.key || '="'
                                || replace(replace(replace(e.value, '\', '\\'), '"', '\"'),
                                           chr(10), '\n') || '"'),
                      ',') || '}'
             ELSE '' END)""",
    r"""CREATE OR REPLACE TEMP MACRO dvlab_step_start(step, start) AS (
        CASE WHEN step IS NOT NULL
                  AND (datepart('year', step::INTERVAL) * 12
                       + datepart('month', step::INTERVAL) <> 0
                       OR epoch(step::INTERVAL) <= 0
                       OR (datepart('day', step::INTERVAL) <> 0
                           AND step::INTERVAL
                               <> to_days(datepart('day', step::INTERVAL)::INTEGER)))
             THEN error('step ' || step::VARCHAR || ': give a length above zero in days, '
                        || 'or in hours and less (such as ''30 days'' or ''26 hours''); '
                        || 'a month or a year is no fixed length')
             ELSE start END)""",
    """CREATE OR REPLACE TEMP MACRO dvlab_cumulative(type, name, labels) AS (
        coalesce(labels['temporality'], '') <> 'delta'
        AND ((type = 'counter' AND NOT suffix(name, '_created'))
             OR (type IN ('histogram', 'summary')
                 AND regexp_matches(name, '_(bucket|count|sum)$'))))""",
)


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create the macros on ``con`` (idempotent)."""
    for statement in MACROS:
        con.execute(statement)
