"""Reading a run's evidence with DuckDB: the ``Evidence`` of ``harness.checker.reading``, in seconds.

Why DuckDB: the Python reader decodes every line into Python objects, and a million orders are four
million lines; the regex reader before it matched the writer's key order and disagreed with JSON.
DuckDB is a well-kept embedded engine (one wheel, no server) that parses NDJSON in C++ on every core
and aggregates and joins in SQL, so a line means what its JSON values say, whatever the key order,
spacing or number form, and Python only builds the ids it must judge. What a line means is still
``harness.checker.evidence``'s; what this module cannot decide exactly goes to the Python code that
defines it:

- a history file DuckDB cannot read, or with a line that is not a valid event, is read by the
  reference's own loop (``split_lines``, ``reading.event_of``), which names the damage. A torn last
  line is found first (only the tail is read) and left out of a copy DuckDB reads;
- DuckDB's JSON reader is more lenient than JSON (``harness.checker.jsontext``): it skips blank lines
  and a leading BOM, lets ``\\v`` and ``\\f`` surround a record, takes a trailing comma before ``}`` or
  ``]``, reads ``NaN``, ``nan``, ``-Infinity``, ``inf`` in any case as numbers and nests without limit.
  One raw scan of every history and state line (``_SCAN``: a few substring tests a line, a regular
  expression only in the rare line holding a letter of ``nan`` or ``inf`` in the right case) sends a
  history file where that could matter to the reference loop, and a state file to the reference reader.
  A file ``strict`` names is not scanned: the manifest says orderquake's strict encoders alone wrote it
  and its bytes are still those (``harness.checker.integrity``), so none of its lines holds any of
  these (orjson and ``json.dumps(allow_nan=False)`` write none, nor a blank line). ``strict`` may be a
  callable, asked once the state is loaded, so that the manifest is verified meanwhile;
- a key given twice in one object makes DuckDB refuse the file when it reads that key (the
  reference then names the damage); a key it does not read may be given twice, as for the reference;
- a number it hands as a real (``1e3``) is its text written again from a double, so an amount is read
  here only when written as an integer within 64 bits; a SUT row or ledger record outside the plain
  forms (an id or status that is not a string, such an amount, a file DuckDB refuses) makes the whole
  reading the reference's, and a history line with one sends its file to the reference loop.

    evidence = read_evidence(run_dir.evidence_files())   # == reading.read_evidence(run_dir.evidence_files())
    evidence = read_evidence(files, strict=verify(run_dir).strict)   # the same, sooner

DuckDB runs as ``harness._duckdb.session`` opens it: in memory, at most four threads and 512 MB.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import duckdb

from harness._duckdb import session
from harness._exceptions import HarnessBug
from harness.checker import reading
from harness.checker.evidence import (
    WRITE_OPS,
    ClientSummary,
    Evidence,
    EvidenceFiles,
    ForgedClaim,
    HistoryDamage,
    IdEvidence,
    Key,
    MoneySums,
    ProviderRecord,
    SutRow,
    add_money,
)
from harness.checker.jsontext import MAX_DEPTH, decode
from harness.checker.model import Counts, Kind
from harness.load.history import split_lines

KINDS = tuple(Kind)  # a flow is its index in SQL: 0 order, 1 payout (2 marks a line DuckDB could not read)
TYPES = ("invoke", "ok", "fail", "info")  # an event type is its index in SQL
_BOM = b"\xef\xbb\xbf"
_PLACE = 1 << 40  # a history line's place, for the order the reference meets ids in: file * _PLACE + row
_GLOB = set("*?[]{}~")  # DuckDB would take a path with these for a pattern

# Every line of a history or state file as raw text, whatever it holds ('\x01' is in no line that is JSON),
# and whether DuckDB's JSON reader may take it otherwise than jsontext: a trailing comma (`,}`, `, ]`, a tab
# before the bracket), \v or \f around the object, NaN or Infinity in any case (DuckDB takes `nan`, `-inf`,
# `iNfInItY`, ... as numbers; looked for by a regular expression only in the few lines holding one of their
# first three letters, either all lower case or one of them upper case), or brackets enough to nest deeper
# than jsontext.MAX_DEPTH (counted only in lines long enough to). A history line is odd too when DuckDB
# would skip it (blank or spaces only) or it holds no object; a state file may hold blank lines.
_RAW = ("columns = {'line': 'VARCHAR'}, delim = '\x01', quote = '', escape = '', header = false, "
        "auto_detect = false, strict_mode = true, filename = true")
_LENIENT = f"""(contains(line, ',}}') OR contains(line, ',]') OR contains(line, ' }}') OR contains(line, ' ]')
    OR contains(line, chr(9)) OR contains(line, chr(11)) OR contains(line, chr(12))
    OR CASE WHEN contains(line, 'nan') OR contains(line, 'inf') OR contains(line, 'N') OR contains(line, 'A')
                 OR contains(line, 'I') OR contains(line, 'F')
            THEN regexp_matches(line, '[:,\\[][ \\r]*-?(?i:nan|inf|infinity)[ \\r]*[,\\]}}]') ELSE false END
    OR CASE WHEN strlen(line) > {2 * MAX_DEPTH}
            THEN strlen(line) - strlen(replace(replace(line, '[', ''), '{{', '')) > {MAX_DEPTH} ELSE false END)"""
_SCAN = f"""
SELECT filename, count(*), count(*) FILTER (WHERE line IS NULL OR NOT contains(line, '{{') OR lenient),
       count(*) FILTER (WHERE lenient)
FROM (SELECT filename, line, {_LENIENT} AS lenient FROM read_csv($paths, {_RAW})) GROUP BY filename
"""
_JSON = "format = 'newline_delimited', auto_detect = false"

_TABLES = [
    "CREATE TEMP TABLE python_events (f INTEGER, kind UTINYINT, id VARCHAR, type UTINYINT, amount BIGINT, "
    "currency VARCHAR)",
    # code: 1 the flow's success, 2 its refusal, 0 any other status (never clean).
    "CREATE TEMP TABLE sut (kind UTINYINT, id VARCHAR, status VARCHAR, code UTINYINT, amount BIGINT, "
    "currency VARCHAR, plain BOOLEAN)",
    "CREATE TEMP TABLE ledger (kind UTINYINT, id VARCHAR, provider_id VARCHAR, status VARCHAR, code UTINYINT, "
    "amount BIGINT, currency VARCHAR, plain BOOLEAN)",
    "CREATE TEMP TABLE forged (kind UTINYINT, id VARCHAR)",
]

# Every write event of the history, with the amount and currency of its invokes (a completion's are not
# the client's): those DuckDB reads, then those Python read. Valid reads are dropped; a line that is not a
# valid event as far as DuckDB can tell has kind 2 and its file's index as id. ``type`` is read as text:
# no JSON value but the string itself reads as 'invoke', 'ok', 'fail' or 'info'.
_DUCKDB_EVENTS = f"""
SELECT f, CASE WHEN bad THEN 2 ELSE (o = '"payout"')::UTINYINT END AS kind,
       CASE WHEN bad THEN f::VARCHAR ELSE i END AS id,
       CASE t WHEN 'invoke' THEN 0 WHEN 'ok' THEN 1 WHEN 'fail' THEN 2 ELSE 3 END AS type,
       CASE WHEN t = 'invoke' THEN amount END AS amount, CASE WHEN t = 'invoke' THEN jtext(c) END AS currency
FROM (SELECT *, o IS NULL OR o NOT IN ('"order"', '"payout"') OR t IS NULL OR t NOT IN {TYPES} OR NOT jstr(i)
                OR (NOT jnull(c) AND NOT jstr(c)) OR (NOT jnull(a) AND amount IS NULL) AS bad
      FROM (SELECT *, CASE WHEN NOT jnull(a) THEN whole(a) END AS amount
            FROM (SELECT $indexes[list_position($paths, filename)] AS f, type AS t, op AS o, id AS i,
                         value.amount_minor AS a, value.currency AS c
                  FROM read_json($paths, {_JSON}, filename = true,
                                 columns = {{'type': 'VARCHAR', 'op': 'JSON', 'id': 'JSON',
                                            'value': 'STRUCT(amount_minor JSON, currency JSON)'}}))
            WHERE o IN ('"order"', '"payout"') OR t IS NULL OR t NOT IN {TYPES} OR NOT jstr(o) OR NOT jstr(i)))
UNION ALL
"""
_PYTHON_EVENTS = "SELECT f, kind, id, type, amount, currency FROM python_events"

# Per id, the client's submissions; ``single`` when every invoke sent one amount and one currency.
_CLIENT = """
CREATE TEMP TABLE client AS
SELECT kind, id, invokes, ok, fail, info, amount, currency,
       coalesce(an = invokes AND amount = amax AND ((cn = invokes AND currency = cmax) OR cn = 0), false) AS single
FROM (SELECT kind, id, count(*) FILTER (WHERE type = 0) AS invokes, count(*) FILTER (WHERE type = 1) AS ok,
             count(*) FILTER (WHERE type = 2) AS fail, count(*) FILTER (WHERE type = 3) AS info,
             min(amount) AS amount, max(amount) AS amax, count(amount) AS an,
             min(currency) AS currency, max(currency) AS cmax, count(currency) AS cn
      FROM ({events}) GROUP BY kind, id)
"""

# A state row is plain when DuckDB reads it exactly as reading.read_sut / read_provider would.
_AMOUNT = """CASE WHEN jnull(a) THEN NULL
    WHEN jstr(a) THEN (CASE WHEN regexp_full_match(a, '"-?[0-9]+"') THEN TRY_CAST(replace(a, '"', '') AS BIGINT) END)
    ELSE whole(a) END"""
_PLAIN = "jstr(i) AND jstr(s) AND (jnull(a) OR amount IS NOT NULL) AND (jnull(c) OR jstr(c))"
_CODE = "CASE s WHEN $success THEN 1 WHEN $refusal THEN 2 ELSE 0 END"  # the statuses' JSON texts
_SUT = f"""
INSERT INTO sut
WITH e AS (SELECT "{{key}}" AS i, status AS s, amount_minor AS a, currency AS c
           FROM read_json($path, {_JSON}, columns = {{'{{key}}': 'JSON', 'status': 'JSON',
                                                  'amount_minor': 'JSON', 'currency': 'JSON'}})),
     n AS (SELECT *, {_AMOUNT} AS amount FROM e)
SELECT $kind, i, s, {_CODE}, amount, jtext(c), {_PLAIN} FROM n
"""
_LEDGER = f"""
INSERT INTO ledger
WITH e AS (SELECT "{{key}}" AS i, id AS p, status AS s, amount_minor AS a, currency AS c
           FROM read_json($path, {_JSON}, columns = {{'{{key}}': 'JSON', 'id': 'JSON', 'status': 'JSON',
                                                  'amount_minor': 'JSON', 'currency': 'JSON'}})),
     n AS (SELECT *, {_AMOUNT} AS amount FROM e)
SELECT $kind, i, p, s, {_CODE}, amount, jtext(c), {_PLAIN} AND jstr(p) FROM n
"""

# Per id: the client's submissions, its SUT row, its ledger record, whether a forged callback named it,
# and evidence.is_clean (a NULL anywhere means not clean); an id with several rows or records is never
# clean, and its rows are joined as they are. Clean ids are kept only as counts and money per flow and
# currency; every other id keeps a row of its own, to be judged.
_SUMMARY = """
CREATE TEMP TABLE summary AS
WITH several AS (SELECT kind, id, true AS several  -- looked for among ids whose hash comes twice: cheaper
                 FROM (SELECT kind, id FROM sut WHERE hash(kind, id) IN (
                             SELECT hash(kind, id) FROM sut GROUP BY ALL HAVING count(*) > 1)
                       GROUP BY kind, id HAVING count(*) > 1
                       UNION ALL
                       SELECT kind, id FROM ledger WHERE hash(kind, id) IN (
                             SELECT hash(kind, id) FROM ledger GROUP BY ALL HAVING count(*) > 1)
                       GROUP BY kind, id HAVING count(*) > 1
                       UNION ALL SELECT kind, id FROM forged) GROUP BY kind, id),
     j AS (SELECT kind, id, invokes, ok, single, c.amount, c.currency, several,
                  s.code AS sk, s.amount AS sa, s.currency AS sc, l.code AS pk, l.amount AS pa, l.currency AS pc
           FROM client c FULL JOIN sut s USING (kind, id) FULL JOIN ledger l USING (kind, id)
                LEFT JOIN several USING (kind, id)),
     c AS (SELECT *, coalesce(invokes > 0 AND ok > 0 AND single AND several IS NULL AND sk = pk AND sk > 0
                              AND sa = pa AND sa = amount AND pc IS NOT DISTINCT FROM currency
                              AND (sc IS NULL OR sc = currency),
                              false) AS clean FROM j)
SELECT kind, clean, clean AND sk = 1 AS moved, CASE WHEN clean THEN currency END AS currency,
       CASE WHEN NOT clean THEN id END AS id, count(*) AS ids,
       sum(CASE WHEN clean THEN sa END) AS sa, sum(CASE WHEN clean THEN pa END) AS pa
FROM c GROUP BY ALL
"""


class _Slow(Exception):
    """An input this module does not decide exactly; ``reading.read_evidence`` reads it instead."""


@dataclass
class _File:
    """One history file: what DuckDB reads of it (itself, a copy without a torn last line, or nothing,
    when Python reads it), and what it contributes besides events."""

    path: Path
    name: str
    view: Path | None
    damage: list[HistoryDamage] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)


Strict = frozenset[Path] | Callable[[], frozenset[Path]]


def read_evidence(files: EvidenceFiles, *, strict: Strict = frozenset()) -> Evidence:
    """Read every evidence file and join them per id; the result is ``reading.read_evidence``'s.
    ``strict``: the files known to hold strict JSON alone, or a callable giving them (see above)."""
    paths = [str(path) for path in files.history]
    if (any(not path.exists() for path in files.history) or len(set(paths)) != len(paths)
            or any(_GLOB & set(path) for path in paths)):
        return reading.read_evidence(files)  # missing, twice, or a name DuckDB would take for a pattern
    try:
        with _database() as (con, scratch):
            return _read(con, scratch, files, strict)
    except _Slow:
        return reading.read_evidence(files)


@contextmanager
def _database() -> Iterator[tuple[duckdb.DuckDBPyConnection, Path]]:
    with session() as con:
        scratch = Path(tempfile.mkdtemp(prefix="orderquake-duckdb-"))
        try:
            for statement in _TABLES:
                con.execute(statement)
            yield con, scratch
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _read(con: duckdb.DuckDBPyConnection, scratch: Path, files: EvidenceFiles, strict: Strict) -> Evidence:
    history = [_File(path, files.name(path), _fast_view(path, scratch / f"history-{n}.jsonl"))
               for n, path in enumerate(files.history)]
    forged = reading.read_forged(files.forged, files.name)  # small, and raises as the reference does
    if forged:
        con.execute("INSERT INTO forged SELECT k, to_json(i)::VARCHAR FROM (SELECT unnest($k) AS k, unnest($i) AS i)",
                    {"k": [KINDS.index(kind) for kind, _ in forged], "i": [op_id for _, op_id in forged]})
    for kind in KINDS:
        _load_state(con, _SUT, files.sut[kind], kind, kind.sut_key)
        _load_state(con, _LEDGER, files.provider[kind], kind, kind.merchant_key)
    _scan(con, files, history, strict() if callable(strict) else strict)
    if _one(con, "SELECT count(*) FROM (SELECT plain FROM sut UNION ALL SELECT plain FROM ledger) WHERE NOT plain"):
        raise _Slow
    events = _client(con, history)
    con.execute(_SUMMARY)
    judged, money = _judged(con, events, forged)
    for kind, currency, provider_minor, sut_minor in con.execute(
            "SELECT kind, currency, pa, sa FROM summary WHERE moved").fetchall():
        sums = money.setdefault((KINDS[kind], _decoded(currency)), MoneySums())
        sums.provider_minor += int(provider_minor)
        if sums.sut_minor is not None:
            sums.sut_minor += int(sut_minor)
    invokes, ok, fail, ids = con.execute(
        "SELECT coalesce(sum(invokes), 0), coalesce(sum(ok), 0), coalesce(sum(fail), 0), "
        "count(*) FILTER (WHERE invokes > 0) FROM client").fetchone() or (0, 0, 0, 0)
    paths = tuple(files.history)
    return Evidence(
        judged=judged, money=money,
        clean=dict.fromkeys(Kind, 0) | _per_kind(con, "SELECT kind, sum(ids) FROM summary WHERE clean GROUP BY kind"),
        counts=Counts(attempted=int(invokes), ok=int(ok), fail=int(fail), info=max(int(invokes - ok - fail), 0),
                      ids=int(ids)),
        acknowledged=dict.fromkeys(Kind, 0) | _per_kind(
            con, "SELECT kind, count(*) FILTER (WHERE invokes > 0 AND ok > 0) FROM client GROUP BY kind"),
        damage=[d for file in history for d in file.damage] + _excess(con, events),
        torn=[t for file in history for t in file.torn],
        events_for=lambda keys: reading.events_naming(paths, keys))


def _one(con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any] | None = None) -> Any:
    row = con.execute(query, params or {}).fetchone()
    return None if row is None else row[0]


def _per_kind(con: duckdb.DuckDBPyConnection, query: str) -> dict[Kind, int]:
    return {KINDS[kind]: int(count) for kind, count in con.execute(query).fetchall() if kind < len(KINDS)}


def _decoded(text: str | None) -> Any:
    """A JSON text DuckDB returned (an id, a status, a currency), as Python's json reads it."""
    return None if text is None else decode(text.encode())


def _quoted(word: str) -> str:
    """The JSON text of a contract word (a status: lowercase letters, which no escape changes)."""
    if not (word.isascii() and word.isalpha()):
        raise HarnessBug(f"expected a contract status of letters, got {word!r}")
    return f'"{word}"'


# The history.

def _fast_view(path: Path, copy: Path) -> Path | None:
    """What DuckDB reads of a history file (itself, or a copy without a torn last line); None for Python."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        if handle.read(len(_BOM)) == _BOM:
            return None  # DuckDB would skip it; to Python the first line is not JSON
        tail = _unterminated_tail(handle, size)
    if tail is None:
        return path
    if not isinstance(reading.event_of(tail), str):
        return path  # a last line without its newline that is an event all the same
    with path.open("rb") as source, copy.open("wb") as target:
        remaining = size - len(tail)
        while remaining:
            block = source.read(min(remaining, 8 << 20))
            target.write(block)
            remaining -= len(block)
    return copy


def _unterminated_tail(handle: BinaryIO, size: int) -> bytes | None:
    """The file's last line if it has no newline (torn, or merely unterminated), else None."""
    if size == 0:
        return None
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return None
    tail = b""
    position = size
    while position > 0:
        step = min(position, 1 << 16)
        position -= step
        handle.seek(position)
        tail = handle.read(step) + tail
        cut = tail.rfind(b"\n")
        if cut >= 0:
            return tail[cut + 1:]
    return tail


def _scan(con: duckdb.DuckDBPyConnection, files: EvidenceFiles, history: list[_File], strict: frozenset[Path]
          ) -> None:
    """One raw pass over the history and the state but ``strict``: a history file with a line DuckDB would read
    otherwise than Python goes to Python; a state file with one makes the whole reading the reference's."""
    state = [path for path in (*files.sut.values(), *files.provider.values()) if path.exists() and path not in strict]
    for path in state:
        with path.open("rb") as handle:
            if handle.read(len(_BOM)) == _BOM:
                raise _Slow  # DuckDB would skip it; to Python the first row is not JSON
    scanned = [file for file in history if file.view is not None and not (
        file.view == file.path and file.path in strict)]  # a copy without a torn line is counted
    found = _raw_counts(con, [str(file.view) for file in scanned] + [str(path) for path in state])
    for path in state:
        lenient = found[str(path)][2] if str(path) in found else int(path.stat().st_size > 0)
        if lenient:
            raise _Slow
    for file in scanned:
        if file.view is None:
            continue
        lines, odd, _ = found.get(str(file.view), (0, 0, 0))
        if odd or (str(file.view) not in found and file.view.stat().st_size):
            file.view = None
        elif file.view != file.path:  # the copy leaves the torn last line out
            file.torn.append(f"{file.name}:{lines + 1}")


def _raw_counts(con: duckdb.DuckDBPyConnection, paths: list[str]) -> dict[str, tuple[int, int, int]]:
    """(lines, odd history lines, lenient lines) of each file DuckDB can split into lines of UTF-8 text."""
    if not paths:
        return {}
    try:
        return {name: (lines, odd, lenient)
                for name, lines, odd, lenient in con.execute(_SCAN, {"paths": paths}).fetchall()}
    except duckdb.Error:  # one of them is not: which?
        if len(paths) == 1:
            return {}
        return {name: counts for path in paths for name, counts in _raw_counts(con, [path]).items()}


def _client(con: duckdb.DuckDBPyConnection, history: list[_File]) -> str:
    """Build ``client`` from every history file; return the query of the events it was built from."""
    for n, file in enumerate(history):
        if file.view is None:
            _python_history(con, n, file)
    while True:
        fast = {n: str(file.view) for n, file in enumerate(history) if file.view is not None}
        events = (_DUCKDB_EVENTS if fast else "") + _PYTHON_EVENTS
        params = {"paths": list(fast.values()), "indexes": list(fast)} if fast else {}
        try:
            con.execute(_CLIENT.format(events=events), params)
        except duckdb.Error:  # a line DuckDB's JSON reader refuses (two keys of one name, a value that is no object)
            _python_history(con, *_refused(con, history, fast))
            continue
        bad = [int(index) for (index,) in con.execute("SELECT id FROM client WHERE kind = 2").fetchall()]
        if not bad:
            return _bind(events, params)
        con.execute("DROP TABLE client")
        for n in bad:
            _python_history(con, n, history[n])


def _refused(con: duckdb.DuckDBPyConnection, history: list[_File], fast: dict[int, str]) -> tuple[int, _File]:
    for n, view in fast.items():
        try:
            con.execute(f"SELECT count(*), sum(hash(kind, id, type, amount, currency)) "
                        f"FROM ({_DUCKDB_EVENTS} {_PYTHON_EVENTS})", {"paths": [view], "indexes": [n]})
        except duckdb.Error:
            return n, history[n]
    raise _Slow  # DuckDB refused the files together but none alone: leave it to the reference


def _bind(query: str, params: dict[str, Any]) -> str:
    """``query`` with its parameters written in, to be run again as a subquery."""
    for name, value in params.items():
        query = query.replace(f"${name}", "[" + ", ".join(_literal(v) for v in value) + "]")
    return query


def _literal(value: object) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


def _python_history(con: duckdb.DuckDBPyConnection, index: int, file: _File) -> None:
    """One history file read line by line as ``reading.read_history`` reads it; its events go to SQL."""
    file.view, file.damage, file.torn = None, [], []
    events: list[tuple[int, str, int, int | None, str | None]] = []
    for number, line, unterminated in split_lines(file.path.read_bytes()):
        parsed = reading.event_of(line)
        if isinstance(parsed, str):
            if unterminated:
                file.torn.append(f"{file.name}:{number}")
            else:
                file.damage.append(HistoryDamage(file.name, number, parsed))
            continue
        kind, op, op_id, amount, currency = parsed
        flow = WRITE_OPS.get(op)
        if flow is not None:
            events.append((KINDS.index(flow), op_id, TYPES.index(kind), amount, currency))
    if events:
        kinds, ids, types, amounts, currencies = (list(column) for column in zip(*events, strict=True))
        con.execute("INSERT INTO python_events SELECT $f, k, to_json(i)::VARCHAR, t, CASE WHEN t = 0 THEN a END, "
                    "CASE WHEN t = 0 THEN to_json(c)::VARCHAR END FROM (SELECT unnest($k) AS k, unnest($i) AS i, "
                    "unnest($t) AS t, unnest($a)::BIGINT AS a, unnest($c)::VARCHAR AS c)",
                    {"f": index, "k": kinds, "i": ids, "t": types, "a": amounts, "c": currencies})


def _excess(con: duckdb.DuckDBPyConnection, events: str) -> list[HistoryDamage]:
    """Ids with more completions than invokes, in the order the reference meets them (first event first)."""
    if not _one(con, "SELECT count(*) FROM client WHERE ok + fail + info > invokes"):
        return []
    con.execute("CREATE TEMP TABLE excess AS SELECT kind, id, ok + fail + info AS completions, invokes FROM client "
                "WHERE ok + fail + info > invokes")
    con.execute(f"CREATE TEMP TABLE met AS SELECT f, kind, id FROM ({events}) SEMI JOIN excess USING (kind, id)")
    return [HistoryDamage("history/", None, f"{KINDS[kind].value} {_decoded(op_id)}: {completions} completions "
                          f"but {invokes} invokes (a completion needs its invoke)")
            for kind, op_id, completions, invokes in con.execute(f"""
                SELECT kind, id, any_value(completions), any_value(invokes) FROM excess JOIN met USING (kind, id)
                GROUP BY kind, id ORDER BY min(f::BIGINT * {_PLACE} + met.rowid)""").fetchall()]


# The SUT state, the provider ledger.

def _load_state(con: duckdb.DuckDBPyConnection, template: str, path: Path, kind: Kind, key: str) -> None:
    """Insert one state file's rows; a file DuckDB refuses is the reference's to read."""
    if not path.exists():
        return  # as reading._rows: no file, no row
    try:
        con.execute(template.replace("{key}", key), {
            "path": str(path), "kind": KINDS.index(kind), "success": _quoted(kind.success),
            "refusal": _quoted(kind.refusal)})
    except duckdb.Error:
        raise _Slow from None


# The ids that are not clean, with everything known of them.

def _judged(con: duckdb.DuckDBPyConnection, events: str, forged: dict[Key, list[ForgedClaim]]
            ) -> tuple[list[IdEvidence], dict[tuple[Kind, str | None], MoneySums]]:
    """Every id the SQL could not prove clean, built as the reference builds it, and the money it moved."""
    con.execute("CREATE TEMP TABLE judged AS SELECT kind, id FROM summary WHERE NOT clean")
    clients: dict[tuple[int, str], ClientSummary] = {}
    mixed = []
    for kind, op_id, invokes, ok, fail, info, amount, currency, single in con.execute(
            "SELECT kind, id, invokes, ok, fail, info, amount, currency, single FROM client SEMI JOIN judged "
            "USING (kind, id) WHERE invokes > 0").fetchall():
        if single:  # one amount and one currency (or none): what the client row holds
            clients[(kind, op_id)] = ClientSummary(invokes, ok, fail, info, (amount,), (_decoded(currency),))
        else:
            mixed.append((kind, op_id, invokes, ok, fail, info))
    if mixed:  # several amounts or currencies: the history is read again for these ids
        con.execute("CREATE TEMP TABLE mixed AS SELECT unnest($k) AS kind, unnest($i) AS id",
                    {"k": [m[0] for m in mixed], "i": [m[1] for m in mixed]})
        sets = {(kind, op_id): (amounts, null_amount, sent, null_currency)
                for kind, op_id, amounts, null_amount, sent, null_currency in con.execute(f"""
                    SELECT kind, id, list(DISTINCT amount) FILTER (WHERE amount IS NOT NULL), bool_or(amount IS NULL),
                           list(DISTINCT currency) FILTER (WHERE currency IS NOT NULL), bool_or(currency IS NULL)
                    FROM ({events}) SEMI JOIN mixed USING (kind, id) WHERE type = 0 GROUP BY kind, id""").fetchall()}
        for kind, op_id, invokes, ok, fail, info in mixed:
            amounts, null_amount, sent, null_currency = sets[(kind, op_id)]
            clients[(kind, op_id)] = ClientSummary(
                invokes, ok, fail, info, tuple([None] * null_amount + sorted(amounts or ())),
                tuple([None] * null_currency + sorted(_decoded(c) for c in sent or ())))
    sut: dict[tuple[int, str], list[SutRow]] = {}
    for kind, op_id, status, amount, currency in con.execute(
            "SELECT kind, id, status, amount, currency FROM sut SEMI JOIN judged USING (kind, id) "
            "ORDER BY sut.rowid").fetchall():
        sut.setdefault((kind, op_id), []).append(SutRow(_decoded(status), amount, _decoded(currency)))
    ledger: dict[tuple[int, str], list[ProviderRecord]] = {}
    for kind, op_id, provider_id, status, amount, currency in con.execute(
            "SELECT kind, id, provider_id, status, amount, currency FROM ledger SEMI JOIN judged USING (kind, id) "
            "ORDER BY ledger.rowid").fetchall():
        ledger.setdefault((kind, op_id), []).append(
            ProviderRecord(_decoded(provider_id), _decoded(status), amount, _decoded(currency)))
    judged = []
    money: dict[tuple[Kind, str | None], MoneySums] = {}
    for kind, op_id, text in sorted((kind, _decoded(text), text)
                                    for kind, text in con.execute("SELECT kind, id FROM judged").fetchall()):
        flow = KINDS[kind]
        evidence = IdEvidence(flow, op_id, clients.get((kind, text)), tuple(sut.get((kind, text), ())),
                              tuple(ledger.get((kind, text), ())), tuple(forged.get((flow, op_id), ())))
        add_money(money, evidence)
        judged.append(evidence)
    return judged, money
