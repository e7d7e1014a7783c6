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

from harness.checker.model import Kind

Key = tuple[Kind, str]
EventsFor = Callable[[Collection[Key]], dict[Key, list[dict[str, Any]]]]


class ClientOps:
    """Every submission of one id: how many, how each ended, and with which amount."""

    __slots__ = ("amount", "amounts_differ", "fail", "info", "invokes", "ok")

    def __init__(self, amount: int | None) -> None:
        self.amount = amount
        self.amounts_differ = False
        self.invokes = 0
        self.ok = 0
        self.fail = 0
        self.info = 0

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
    invokes without a completion are its invokes minus its completions: no pairing is needed,
    and events may come in any order.
    """

    def __init__(self) -> None:
        self.ops: dict[Kind, dict[str, ClientOps]] = {Kind.ORDER: {}, Kind.PAYOUT: {}}

    def add_all(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Fold parsed events (dicts of DESIGN.md section 5)."""
        self.add_rows((event.get("type"), event.get("op"), event.get("id"), _amount_of(event)) for event in events)

    def add_rows(self, rows: Iterable[tuple[Any, Any, Any, Any]]) -> None:
        """Fold ``(type, op, id, amount_minor)`` rows, as str or, from the fast reader, as bytes."""
        # The hot loop of a large check (millions of events): locals only, no per-event calls.
        orders, payouts = self.ops[Kind.ORDER], self.ops[Kind.PAYOUT]
        tables = {"order": orders, "payout": payouts, b"order": orders, b"payout": payouts}
        for kind, op, op_id, amount in rows:
            table = tables.get(op)
            if table is None:
                continue
            if type(op_id) is bytes:
                op_id = op_id.decode()
            elif type(op_id) is not str:
                continue
            if kind == "invoke" or kind == b"invoke":
                if type(amount) is bytes:
                    amount = int(amount) if amount else None
                ops = table.get(op_id)
                if ops is None:
                    ops = table[op_id] = ClientOps(amount)
                elif amount != ops.amount:
                    ops.amounts_differ = True
                ops.invokes += 1
                continue
            ops = table.get(op_id)
            if ops is None:
                continue  # a completion without its invoke says nothing the checker can use
            if kind == "ok" or kind == b"ok":
                ops.ok += 1
            elif kind == "fail" or kind == b"fail":
                ops.fail += 1
            elif kind == "info" or kind == b"info":
                ops.info += 1

    def finish(self, events_for: EventsFor) -> History:
        """Invokes without a completion are ``info`` (the process died mid-request, or lost its last batch)."""
        for table in self.ops.values():
            for ops in table.values():
                missing = ops.invokes - ops.ok - ops.fail - ops.info
                if missing > 0:
                    ops.info += missing
        return History(self.ops[Kind.ORDER], self.ops[Kind.PAYOUT], events_for)


class History:
    """The client history summarised per id, plus a way to fetch the full events of a few ids."""

    def __init__(self, orders: dict[str, ClientOps], payouts: dict[str, ClientOps], events_for: EventsFor) -> None:
        self.ops = {Kind.ORDER: orders, Kind.PAYOUT: payouts}
        self.events_for = events_for

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
