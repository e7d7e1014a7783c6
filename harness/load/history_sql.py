"""The history's client operations in DuckDB: each invoke paired with its completion, in SQL.

The metrics of ``run.json`` (``harness.run.metrics``), the report's timeline (``harness.report.series``)
and its per-operation and per-fault tables (``harness.report.analysis``) each pair a history's events
in Python, which at a million orders is tens of seconds per reader (four million dictionaries
decoded, one at a time). Here DuckDB reads every history file once, in C++ on every core, and pairs
the events per (process, op, id, attempt) in SQL; those readers then aggregate the pairs in SQL and
build the same objects as their Python code, which stays the definition.

The SQL pairing is exact only for a **well-formed** history, so ``operations`` gives ``None`` for any
other and the callers fall back to their Python code:

- every event has a ``type`` of invoke/ok/fail/info, an ``op`` of the load generator's, a string
  ``id``, an integer ``process``, an integer or null ``attempt``, an integer ``time`` and a non-zero
  number ``wall`` within 10^15 seconds of the epoch's start;
- every key's events alternate, an invoke first, each completion after its invoke (file by file in
  ``history_files`` order, line by line): one operation, or the same key used again after it completed
  (a client reading one order again and again), so every Python reader pairs them the same way;
- the caller vouches that every line is JSON (``clean``): the checker's reader has found no damaged
  and no torn line. DuckDB's JSON reader is more lenient than JSON (``harness.checker.jsontext``)
  and would read lines the Python readers pass over.

    with operations(run_dir.history, clean=True) as ops:
        if ops is not None:
            ops.con.execute("SELECT count(*) FROM ops WHERE outcome IS NULL").fetchone()  # never completed

Table ``ops``, one row per operation: ``op`` (its ``Op`` value), ``id`` (the id's JSON text),
``outcome`` (ok, fail, info, or NULL when never completed), ``irow`` (the invoke's place in the
history, for the order the Python readers meet operations in), ``iwall`` and ``cwall`` (the epoch
seconds of the invoke and of the completion), ``latency_ms`` (the completion's ``time`` minus the
invoke's, in milliseconds; NULL when never completed).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from harness._duckdb import session
from harness.load.history import EventType, Op, history_files

_TYPES = tuple(t.value for t in (EventType.INVOKE, EventType.OK, EventType.FAIL, EventType.INFO))
_OPS = tuple(op.value for op in Op)
_GLOB = set("*?[]{}~")  # DuckDB would take a path with these for a pattern


def _case(column: str, words: tuple[str, ...]) -> str:
    return "CASE " + column + "".join(f" WHEN '\"{w}\"' THEN '{w}'" for w in words) + " END"


_EVENTS = f"""
CREATE TEMP TABLE events AS
SELECT type, op, id, process, attempt, time, wall,
       coalesce(type IS NOT NULL AND op IS NOT NULL AND jstr(id) AND process IS NOT NULL
                AND (jnull(a) OR attempt IS NOT NULL) AND time IS NOT NULL
                AND NOT jstr(w) AND w NOT IN ('true', 'false') AND abs(wall) < 1e15 AND wall <> 0,
                false) AS regular
FROM (SELECT {_case('t', _TYPES)} AS type, {_case('o', _OPS)} AS op, i AS id, whole(p) AS process, a,
             CASE WHEN NOT jnull(a) THEN whole(a) END AS attempt, whole(tm) AS time, w,
             CASE WHEN NOT jnull(w) THEN TRY_CAST(w AS DOUBLE) END AS wall
      FROM read_json($paths, format = 'newline_delimited', auto_detect = false,
                     columns = {{'type': 'JSON', 'op': 'JSON', 'id': 'JSON', 'process': 'JSON', 'attempt': 'JSON',
                                'time': 'JSON', 'wall': 'JSON'}})
           AS raw(t, o, i, p, a, tm, w))
"""

_PAIRS = """
CREATE TEMP TABLE keys AS
SELECT process, op, id, attempt, count(*) FILTER (WHERE type = 'invoke') AS invokes,
       count(*) FILTER (WHERE type <> 'invoke') AS ends,
       min(rowid) FILTER (WHERE type = 'invoke') AS irow, min(rowid) FILTER (WHERE type <> 'invoke') AS crow,
       min(time) FILTER (WHERE type = 'invoke') AS itime, min(time) FILTER (WHERE type <> 'invoke') AS ctime,
       min(wall) FILTER (WHERE type = 'invoke') AS iwall, min(wall) FILTER (WHERE type <> 'invoke') AS cwall,
       min(type) FILTER (WHERE type <> 'invoke') AS outcome
FROM events GROUP BY process, op, id, attempt
"""

# A key used again and again (a client reading the same order each time it looks): its events one after the
# other, each with the next; well-formed when they alternate, invoke first.
_AGAIN = """
CREATE TEMP TABLE again AS
SELECT e.rowid AS r, e.op, e.id, e.type, e.time, e.wall,
       row_number() OVER w AS n, lead(e.type) OVER w AS next_type, lead(e.time) OVER w AS next_time,
       lead(e.wall) OVER w AS next_wall
FROM events e SEMI JOIN (SELECT * FROM keys WHERE invokes > 1) k
     ON e.process = k.process AND e.op = k.op AND e.id = k.id AND e.attempt IS NOT DISTINCT FROM k.attempt
WINDOW w AS (PARTITION BY e.process, e.op, e.id, e.attempt ORDER BY e.rowid)
"""

_IRREGULAR = """
SELECT (SELECT count(*) FROM events WHERE NOT regular)
     + (SELECT count(*) FROM keys WHERE invokes = 0 OR (invokes = 1 AND (ends > 1 OR crow < irow)))
     + (SELECT count(*) FROM again WHERE (n % 2 = 1) <> (type = 'invoke'))
"""

_OPS_TABLE = """
CREATE TEMP TABLE ops AS
SELECT op, id, outcome, irow, iwall, cwall, (ctime - itime) / 1000000.0::DOUBLE AS latency_ms FROM keys
WHERE invokes = 1
UNION ALL
SELECT op, id, next_type, r, wall, next_wall, (next_time - time) / 1000000.0::DOUBLE FROM again WHERE type = 'invoke'
"""


QUANTILES = (0.50, 0.95, 0.99)  # the percentiles run.json and the report show


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest rank, rounded to the microsecond: the one ranking of ``run.json``'s metrics, the report's
    charts and tables and the capacity steps, so their numbers agree; ``Operations.ranked`` picks the
    same value in SQL."""
    if not sorted_values:
        return None
    return rounded(sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)])


def rounded(ms: float | None) -> float | None:
    """A latency in milliseconds as every reader shows it: to three decimals."""
    return None if ms is None else round(ms, 3)


@dataclass(frozen=True)
class Operations:
    """A DuckDB connection holding table ``ops`` of one well-formed history."""

    con: duckdb.DuckDBPyConnection
    params: dict[str, object] = field(default_factory=dict)  # bound in every query that names them

    def ranked(self, group: tuple[str, ...], where: str, qs: tuple[float, ...], *, maximum: bool = False
               ) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        """Per ``group`` (expressions over ``ops``; none: one group), the nearest-rank percentiles
        ``qs`` of ``latency_ms`` over the rows ``where`` selects, unrounded, as ``percentile`` ranks a
        sorted list, then the maximum if asked."""
        picks = ", ".join(f"v[greatest(1, ceil($q{n} * len(v)))::BIGINT]" for n in range(len(qs)))
        top = ", v[len(v)]" if maximum else ""
        keys = "".join(f"{g} AS g{n}, " for n, g in enumerate(group))
        names = "".join(f"g{n}, " for n in range(len(group)))
        rows = self.rows(f"SELECT {names}{picks}{top} FROM (SELECT {keys}list_sort(list(latency_ms)) AS v FROM ops "
                         f"WHERE {where} GROUP BY ALL) WHERE len(v) > 0", {f"q{n}": float(q) for n, q in enumerate(qs)})
        return {tuple(row[:len(group)]): tuple(row[len(group):]) for row in rows}

    def rows(self, query: str, params: Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
        """``query``'s rows, with ``params`` and those of ``self.params`` it names bound."""
        bound = {k: v for k, v in {**self.params, **(params or {})}.items() if f"${k}" in query}
        return self.con.execute(query, bound).fetchall()


@dataclass(frozen=True)
class Shared:
    """Operations one reader already opened over a history (``None``: it would not pair in SQL), handed to
    the next reader of the same history so that the history is read once: the verdict's metrics, then
    the report (``harness.run.verdict.judge_and_write``)."""

    ops: Operations | None


def opened(shared: Shared | None, directory: Path, *, clean: bool) -> AbstractContextManager[Operations | None]:
    """``shared``'s operations when given, else ``operations(directory, clean=clean)``."""
    return nullcontext(shared.ops) if shared is not None else operations(directory, clean=clean)


def vouched(verdict: Any) -> bool:
    """Whether a judged run's ``verdict.json`` (a ``RunVerdict``) says every history line is JSON: its
    history checker passed and no line was torn."""
    if verdict is None:
        return False
    history = verdict.checkers.get("history")
    return history is not None and history.valid.value == "pass" and not verdict.torn_lines


@contextmanager
def operations(directory: Path, *, clean: bool) -> Iterator[Operations | None]:
    """The paired operations of ``directory``'s history, or ``None`` when the SQL would not pair them
    exactly as the Python readers do (see the module's docstring)."""
    paths = [str(path) for path in history_files(directory)]
    if not clean or not paths or any(_GLOB & set(path) for path in paths):
        yield None
        return
    with session() as con:
        try:
            con.execute(_EVENTS, {"paths": paths})
        except duckdb.Error:  # a line its JSON reader refuses
            yield None
            return
        con.execute(_PAIRS)
        con.execute(_AGAIN)
        irregular = con.execute(_IRREGULAR).fetchone()
        if irregular is None or irregular[0]:
            yield None
            return
        try:
            con.execute(_OPS_TABLE)
        except duckdb.Error:  # a time difference beyond 64 bits
            yield None
            return
        con.execute("DROP TABLE events; DROP TABLE again")
        yield Operations(con)
