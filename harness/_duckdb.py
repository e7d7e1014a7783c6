"""One way to open DuckDB for reading a run's evidence: in memory, bounded, and the same JSON macros.

The checker's reader (``harness.checker.reading_duckdb``) and the history's operations
(``harness.load.history_sql``) both hand DuckDB NDJSON files and read values as the JSON texts its
reader returns; these macros say once what such a text is (null, a string, an integer).

    with session() as con:
        con.execute("SELECT whole('12')").fetchone()   # (12,)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

THREADS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
MEMORY_LIMIT = "512MB"  # what a million orders need without spilling

MACROS = [
    # A value as DuckDB's JSON reader hands it: its canonical JSON text. A string's text is unique to
    # it, so ids are compared and joined as texts, and Python decodes those it is given.
    "CREATE TEMP MACRO jnull(j) AS j IS NULL OR j = 'null'",
    "CREATE TEMP MACRO jstr(j) AS coalesce(starts_with(j, '\"'), false)",
    "CREATE TEMP MACRO jtext(j) AS CASE WHEN j <> 'null' THEN j END",
    # An integer within 64 bits, else NULL. A real is NULL too, whatever its value: DuckDB hands its text
    # as written again from a double (1.0000000000000000001 as 1.0), so only the reference can read it exactly.
    # Cast as text: a JSON value cast to BIGINT would take "5" and true for 5 and 1.
    "CREATE TEMP MACRO whole(j) AS CASE WHEN NOT (contains(j, '.') OR contains(j, 'e') OR contains(j, 'E')) "
    "THEN TRY_CAST(j::VARCHAR AS BIGINT) END",
]


@contextmanager
def session() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory database with the macros, at most ``THREADS`` threads and ``MEMORY_LIMIT``, spilling
    to a directory under the system temp dir that is removed afterwards. A table's rows keep the order
    they were inserted in (a file's line order), as the Python readers meet them."""
    scratch = tempfile.mkdtemp(prefix="orderquake-duckdb-")
    con = duckdb.connect(":memory:", config={
        "threads": THREADS, "memory_limit": MEMORY_LIMIT, "temp_directory": os.path.join(scratch, "spill"),
        "preserve_insertion_order": True,
        "python_enable_replacements": False})  # a missing table is an error, never a Python variable of its name
    try:
        for statement in MACROS:
            con.execute(statement)
        yield con
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
