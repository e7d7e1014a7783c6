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

_WRITES = {"order": Kind.ORDER, "payout": Kind.PAYOUT}
_COMPLETIONS = ("ok", "fail", "info")

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


class HistorySummariser:
    """Folds events, in each process's order, into per-id ``ClientOps``; pairs invokes with completions.

    Events of one process must come in the order that process wrote them; processes may follow
    one another (file after file), since an operation's invoke and completion share a process.
    """

    def __init__(self) -> None:
        self.ops: dict[Kind, dict[str, ClientOps]] = {Kind.ORDER: {}, Kind.PAYOUT: {}}
        self._open: dict[tuple[Any, ...], ClientOps] = {}

    def add(self, event: Mapping[str, Any]) -> None:
        kind = _WRITES.get(event.get("op"))  # type: ignore[arg-type]
        if kind is None:
            return
        op_id = event.get("id")
        if not isinstance(op_id, str):
            return
        key = (event.get("process"), kind, op_id, event.get("attempt"))
        if event.get("type") == "invoke":
            table = self.ops[kind]
            value = event.get("value") or {}
            amount = value.get("amount_minor") if isinstance(value, dict) else None
            ops = table.get(op_id)
            if ops is None:
                ops = table[op_id] = ClientOps(amount)
            elif amount != ops.amount:
                ops.amounts_differ = True
            ops.invokes += 1
            self._open[key] = ops
            return
        outcome = event.get("type")
        opened = self._open.pop(key, None)
        if opened is None or outcome not in _COMPLETIONS:
            return  # a completion without its invoke says nothing the checker can use
        if outcome == "ok":
            opened.ok += 1
        elif outcome == "fail":
            opened.fail += 1
        else:
            opened.info += 1

    def finish(self, events_for: EventsFor) -> History:
        """Invokes still open are ``info`` (the process died mid-request, or its last batch was lost)."""
        for ops in self._open.values():
            ops.info += 1
        self._open.clear()
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
        for event in kept:
            summariser.add(event)

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
