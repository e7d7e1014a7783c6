"""What the checker reads: the client history (summarised per id), the SUT's final state, the
provider's ledger and the forged-callback journal.

The history of a large run has millions of events, so it is summarised as it is read: per
submitted id, how often it was sent and how each send ended, and the amounts it was sent with.
The full events of a few ids (the examples of the verdict) are fetched afterwards through
``History.events_for``, from memory or by reading the files again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from harness.checker.model import Counts, Kind

Key = tuple[Kind, str]
Row = tuple[str, str, "str | int | None", str, str, str]
_WRITE_OPS = frozenset({"order", "payout"})
_COMPLETIONS = frozenset({"ok", "fail", "info"})
EventsFor = Callable[[Collection[Key]], dict[Key, list[dict[str, Any]]]]


class ClientOps:
    """Every submission of one id (created at its first invoke): how many, how each ended, which amount."""

    __slots__ = ("amount", "amounts_differ", "fail", "info", "invokes", "ok", "source")

    def __init__(self, amount: int | None, source: int = -1) -> None:
        self.amount = amount
        # Which history file holds the id's events, so that its examples are read from there
        # alone; -1 when they are spread over several (or the events came from memory).
        self.source = source
        self.amounts_differ = False
        self.invokes = 1
        self.ok = 0
        self.fail = 0
        self.info = 0

    @property
    def unknown(self) -> int:
        """Submissions whose outcome the client never learned: ``info``, or no completion at all."""
        return self.invokes - self.ok - self.fail

    def __repr__(self) -> str:
        return (f"ClientOps(invokes={self.invokes}, ok={self.ok}, fail={self.fail}, info={self.info}, "
                f"amount={self.amount})")


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
    """Folds events into per-id ``ClientOps``.

    Every completion follows its own invoke (the writer records the invoke first), so an id's
    invokes without a completion are its invokes minus its completions: no pairing is needed.
    """

    def __init__(self) -> None:
        self.ops: dict[Kind, dict[str, ClientOps]] = {Kind.ORDER: {}, Kind.PAYOUT: {}}
        self._totals = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}

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
        tables = {"order": self.ops[Kind.ORDER], "payout": self.ops[Kind.PAYOUT]}
        totals = self._totals
        for op, op_id, amount, kind, done_op, done_id in rows:
            if op:
                if type(amount) is str:
                    amount = int(amount) if amount else None
                table = tables[op]
                ops = table.get(op_id)
                if ops is None:
                    table[op_id] = ClientOps(amount, source)  # type: ignore[arg-type]  # digits made an int above
                else:
                    ops.invokes += 1
                    if ops.source != source:
                        ops.source = -1
                    if amount != ops.amount:
                        ops.amounts_differ = True
                totals["invoke"] += 1
                continue
            ops = tables[done_op].get(done_id)
            if ops is None:
                continue  # a completion without its invoke says nothing the checker can use
            if kind == "ok":
                ops.ok += 1
            elif kind == "fail":
                ops.fail += 1
            else:
                ops.info += 1
            totals[kind] += 1

    def finish(self, events_for: EventsFor) -> History:
        return History(self.ops[Kind.ORDER], self.ops[Kind.PAYOUT], events_for, totals=self._totals)


class History:
    """The client history summarised per id, plus a way to fetch the full events of a few ids."""

    def __init__(self, orders: dict[str, ClientOps], payouts: dict[str, ClientOps], events_for: EventsFor, *,
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
