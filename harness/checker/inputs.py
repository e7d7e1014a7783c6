"""What the checker reads: the client history (summarised per id), the SUT's final state, the
provider's ledger and the forged-callback journal.

The history of a large run has millions of events, so it is summarised as it is read: per
submitted id, how often it was sent and how each send ended, and the amounts it was sent with.
The full events of a few ids (the examples of the verdict) are fetched afterwards through
``History.events_for``, from memory or by reading the files again.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from harness._exceptions import UsageError
from harness.checker.model import Counts, Kind

Key = tuple[Kind, str]
Row = tuple[str, str, "str | int | None", str, str, str]
_WRITE_OPS = frozenset({"order", "payout"})
_COMPLETIONS = frozenset({"ok", "fail", "info"})
_OUTCOME_COLUMN = {"ok": 3, "fail": 4, "info": 5}  # in HistorySummariser's columns
EventsFor = Callable[[Collection[Key]], dict[Key, list[dict[str, Any]]]]


class ClientOps:
    """Every submission of one id: how many, how each ended, which amount (one row of a ``ClientTable``)."""

    __slots__ = ("amount", "amounts_differ", "fail", "info", "invokes", "ok", "source")

    def __init__(self, amount: int | None, source: int = -1, invokes: int = 1, ok: int = 0, fail: int = 0,
                 info: int = 0, amounts_differ: bool = False) -> None:
        self.amount = amount
        # Which history file holds the id's events, so that its examples are read from there
        # alone; -1 when they are spread over several (or the events came from memory).
        self.source = source
        self.amounts_differ = amounts_differ
        self.invokes = invokes
        self.ok = ok
        self.fail = fail
        self.info = info

    @property
    def unknown(self) -> int:
        """Submissions whose outcome the client never learned: ``info``, or no completion at all."""
        return self.invokes - self.ok - self.fail

    def __repr__(self) -> str:
        return (f"ClientOps(invokes={self.invokes}, ok={self.ok}, fail={self.fail}, info={self.info}, "
                f"amount={self.amount})")


class ClientTable:
    """The submissions of one kind, one row per id, held as columns: a million ids are a list of
    strings and a few arrays rather than a million objects, and cross a process boundary as such
    (``harness.checker.history_files``). ``ClientOps`` of one row are made on demand, for the few
    ids the checker judges in full. An amount the client never sent is ``NO_AMOUNT`` in its column.
    """

    NO_AMOUNT = -(1 << 63)
    __slots__ = ("_index", "amount", "differ", "fail", "ids", "info", "invokes", "ok", "source")

    def __init__(self, ids: list[str], invokes: array[int], ok: array[int], fail: array[int], info: array[int],
                 amount: array[int], differ: bytearray, source: array[int], *,
                 index: dict[str, int] | None = None) -> None:
        """From its columns, and the row of each id when the caller has it already."""
        self.ids, self.invokes, self.ok, self.fail, self.info = ids, invokes, ok, fail, info
        self.amount, self.differ, self.source = amount, differ, source
        self._index = index

    def __reduce__(self) -> tuple[Any, ...]:
        # The ids as one string when no id holds the separator: a list of a million strings
        # would be pickled (and memoised) one by one.
        joined = "\n".join(self.ids)
        ids: str | list[str] = joined if joined.count("\n") == max(len(self.ids) - 1, 0) else self.ids
        return _table, (ids, self.invokes, self.ok, self.fail, self.info, self.amount, self.differ, self.source)

    @property
    def index(self) -> dict[str, int]:
        """Row of each id (built the first time an id is looked up in a table from columns)."""
        if self._index is None:
            self._index = dict(zip(self.ids, range(len(self.ids)), strict=True))
        return self._index

    def drop_index(self) -> None:
        """Free the map of id to row; it is built again at the next lookup."""
        self._index = None

    def row(self, row: int) -> ClientOps:
        amount = self.amount[row]
        return ClientOps(None if amount == self.NO_AMOUNT else amount, self.source[row], self.invokes[row],
                         self.ok[row], self.fail[row], self.info[row], bool(self.differ[row]))

    def get(self, op_id: str) -> ClientOps | None:
        row = self.index.get(op_id)
        return None if row is None else self.row(row)

    def items(self) -> Iterator[tuple[str, ClientOps]]:
        for row, op_id in enumerate(self.ids):
            yield op_id, self.row(row)

    def __contains__(self, op_id: object) -> bool:
        return op_id in self.index

    def __len__(self) -> int:
        return len(self.ids)


def _table(ids: str | list[str], *columns: Any) -> ClientTable:
    if isinstance(ids, str):
        ids = ids.split("\n") if ids or len(columns[0]) else []
    return ClientTable(ids, *columns)


class SutRecord(NamedTuple):
    """One row of the target's state SQL, status already in contract names."""

    status: str
    amount_minor: int | None


class ProviderRecord(NamedTuple):
    """One provider ledger record (several for one merchant id means a duplicate charge)."""

    provider_id: str
    status: str
    amount_minor: int | None


class ForgedClaim(NamedTuple):
    """One forged or replayed callback the ``forged_callbacks`` fault sent."""

    claim: str
    how: str
    http_status: int | None


def _amount_of(event: Mapping[str, Any]) -> Any:
    value = event.get("value")
    return value.get("amount_minor") if isinstance(value, dict) else None


class HistorySummariser:
    """Folds events into one ``ClientTable`` row per submitted id.

    Every completion follows its own invoke (the writer records the invoke first), so an id's
    invokes without a completion are its invokes minus its completions: no pairing is needed.
    """

    def __init__(self) -> None:
        # Per kind while folding: the row of each id, then the columns of ClientTable as lists
        # (faster to grow and add to than arrays); ``finish`` makes them the table's arrays.
        self._index: dict[str, dict[str, int]] = {op: {} for op in _WRITE_OPS}
        self._columns: dict[str, tuple[list[Any], ...]] = {op: ([], [], [], [], [], [], [], []) for op in _WRITE_OPS}
        self.totals = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}

    def add_all(self, events: Iterable[Mapping[str, Any]], *, source: int = -1) -> None:
        """Fold parsed events (dicts of DESIGN.md section 5); malformed ones are skipped."""
        rows: list[Row] = []
        for event in events:
            op, op_id, kind = event.get("op"), event.get("id"), event.get("type")
            if op not in _WRITE_OPS or type(op_id) is not str:
                continue
            if kind == "invoke":
                rows.append((op, op_id, _amount_of(event), "", "", ""))
            elif kind in _COMPLETIONS:
                rows.append(("", "", None, kind, op, op_id))
        self.add_rows(rows, source=source)

    def add_rows(self, rows: Collection[Row], *, source: int = -1) -> None:
        """Fold rows of write events, each either an invoke ``(op, id, amount, "", "", "")`` or a
        completion ``("", "", _, type, op, id)``; op is ``order`` or ``payout``, type ``ok``, ``fail``
        or ``info``, and the amount digits (the fast reader), an int, or empty or None.

        Every completion follows its invoke in the rows of its process, so folding in row order
        never meets a completion before its id exists.
        """
        # The hot loop of a large check (millions of events): locals and subscripts only.
        index, columns = self._index, self._columns
        counters = {(kind, op): columns[op][_OUTCOME_COLUMN[kind]] for kind in _COMPLETIONS for op in _WRITE_OPS}
        totals = self.totals
        none = ClientTable.NO_AMOUNT
        for op, op_id, amount, kind, done_op, done_id in rows:
            if op:
                if type(amount) is not int:
                    amount = int(amount) if amount else none
                rows_of = index[op]
                row = rows_of.get(op_id)
                ids, amounts, invokes, oks, fails, infos, differ, sources = columns[op]
                if row is None:
                    rows_of[op_id] = len(ids)
                    ids.append(op_id)
                    amounts.append(amount)
                    invokes.append(1)
                    oks.append(0)
                    fails.append(0)
                    infos.append(0)
                    differ.append(0)
                    sources.append(source)
                else:
                    invokes[row] += 1
                    if sources[row] != source:
                        sources[row] = -1
                    if amount != amounts[row]:
                        differ[row] = 1
                totals["invoke"] += 1
                continue
            row = index[done_op].get(done_id)
            if row is None:
                continue  # a completion without its invoke says nothing the checker can use
            counters[kind, done_op][row] += 1
            totals[kind] += 1

    def table(self, kind: Kind) -> ClientTable:
        """The folded rows of one kind as a ``ClientTable`` (once: the columns are handed over, not copied)."""
        ids, *lists = self._columns[kind.value]

        def packed(column: list[int]) -> array[int]:
            # One column at a time, each list emptied as soon as it is packed: the peak memory
            # is the lists, not the lists and the arrays.
            try:
                return array("q", column)
            except (OverflowError, TypeError) as exc:
                raise UsageError(f"expected every amount_minor in the history to be a whole number of at most "
                                 f"64 bits ({exc}): was the history written by another tool?") from exc
            finally:
                column.clear()

        amount, invokes, ok, fail, info = (packed(column) for column in lists[:5])
        differ = bytearray(lists[5])
        lists[5].clear()
        return ClientTable(ids, invokes, ok, fail, info, amount, differ, packed(lists[6]),
                           index=self._index[kind.value])

    def finish(self, events_for: EventsFor) -> History:
        return History(self.table(Kind.ORDER), self.table(Kind.PAYOUT), events_for, totals=self.totals)


class History:
    """The client history summarised per id, plus a way to fetch the full events of a few ids."""

    def __init__(self, orders: ClientTable, payouts: ClientTable, events_for: EventsFor, *,
                 totals: Mapping[str, int]) -> None:
        self.ops = {Kind.ORDER: orders, Kind.PAYOUT: payouts}
        self.events_for = events_for
        invokes = totals["invoke"]
        # An invoke without a completion (a process killed mid-request) counts as info.
        self.counts = Counts(attempted=invokes, ok=totals["ok"], fail=totals["fail"],
                             info=invokes - totals["ok"] - totals["fail"], ids=len(orders) + len(payouts))

    @classmethod
    def from_events(cls, events: Iterable[Mapping[str, Any]]) -> History:
        """From events held in memory (tests, small runs)."""
        kept = [dict(event) for event in events]
        summariser = HistorySummariser()
        summariser.add_all(kept)

        def events_for(keys: Collection[Key]) -> dict[Key, list[dict[str, Any]]]:
            return select_events(kept, keys)

        return summariser.finish(events_for)


def select_events(events: Iterable[Mapping[str, Any]], keys: Collection[Key]) -> dict[Key, list[dict[str, Any]]]:
    """The events of ``keys`` (reads of an id included), each id's in the order given."""
    wanted: dict[str, set[Kind]] = {}
    for kind, op_id in keys:
        wanted.setdefault(op_id, set()).add(kind)
    found: dict[Key, list[dict[str, Any]]] = {key: [] for key in keys}
    for event in events:
        kinds = wanted.get(event.get("id"))  # type: ignore[arg-type]
        if not kinds:
            continue
        op = str(event.get("op", ""))
        kind = Kind.PAYOUT if op.endswith("payout") else Kind.ORDER
        if kind in kinds:
            found[(kind, str(event["id"]))].append(dict(event))
    return found


@dataclass(frozen=True)
class CheckInputs:
    """Everything the checker judges; ``load_inputs`` builds it from a run directory."""

    history: History
    sut: Mapping[Kind, Mapping[str, SutRecord]]
    provider: Mapping[Kind, Mapping[str, list[ProviderRecord]]]
    forged: Mapping[Key, list[ForgedClaim]] = field(default_factory=dict)
    final_reads_complete: bool = True
    incomplete_reason: str | None = None
    recovery_seconds: float | None = None
