"""The checker: a pure function from ``CheckInputs`` to ``CheckResult`` (DESIGN.md section 6).

Every id that a client submitted, the SUT holds, or the provider holds is judged once. One id
can be ``duplicated`` and ``amount_mismatch`` besides at most one of the other categories,
chosen by this precedence (the first that applies explains the rest, so nothing is counted
twice for one cause):

1. no client ever submitted the id: ``forged_accepted`` if the SUT holds it, the provider does
   not, and a forged callback named it; otherwise ``unexpected``;
2. the SUT has no record: ``lost`` if a client got ``ok``, else ``orphaned`` if the provider
   charged or paid it; else nothing (an ``info`` or ``fail`` that never took effect is fine);
3. the SUT record is ``pending``: ``unreturned``;
4. the SUT status equals what a forged callback claimed and the provider does not agree:
   ``forged_accepted`` (it would otherwise be ``divergent``);
5. the SUT's terminal status disagrees with the provider, or the client was told a definite
   no (``fail`` and never ``ok``) while the provider charged: ``divergent``;
6. none of the above, no ``ok`` but an ``info``, and the SUT holds it: ``recovered`` (reported,
   not a violation).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import count
from typing import Any

from harness.checker._gcpause import paused_gc
from harness.checker.inputs import CheckInputs, ClientOps, ForgedClaim, Key, ProviderRecord, SutRecord
from harness.checker.model import (
    EXAMPLES_PER_CATEGORY,
    Category,
    CategoryResult,
    CheckResult,
    Kind,
    MoneyFlow,
    Verdict,
)

_PROCESSING = "processing"
_FAILED = "failed"
_PENDING = "pending"


class _Tally:
    """Counts per category and the first ids of each, in the order they were judged."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(Category, 0)
        self.examples: dict[Category, list[tuple[Key, str]]] = {c: [] for c in Category}

    def add(self, category: Category, key: Key, why: str) -> None:
        self.counts[category] += 1
        if len(self.examples[category]) < EXAMPLES_PER_CATEGORY:
            self.examples[category].append((key, why))


def provider_status(kind: Kind, records: list[ProviderRecord]) -> str | None:
    """The provider's word on an id: charged if any record moved money, else in flight, else refused."""
    if not records:
        return None
    statuses = {record.status for record in records}
    for status in (kind.success, _PROCESSING, kind.refusal):
        if status in statuses:
            return status
    return records[0].status


def _disagreement(kind: Kind, sut_status: str, truth: str | None) -> str | None:
    """Why a terminal SUT status contradicts the provider, or None if it does not."""
    if sut_status == kind.success:
        return None if truth == kind.success else f"SUT {sut_status}, provider {truth or 'has no record'}"
    if sut_status == kind.refusal:
        return None if truth == kind.refusal else f"SUT {sut_status}, provider {truth or 'has no record'}"
    if sut_status == _FAILED:
        if truth in (kind.success, _PROCESSING):
            return f"SUT failed, provider {truth}"
        return None
    return f"SUT status {sut_status!r} is not a contract status"


def _amounts_differ(ops: ClientOps | None, sut: SutRecord | None, records: list[ProviderRecord]) -> str | None:
    amounts: dict[str, set[int]] = {}
    if ops is not None and ops.amount is not None:
        amounts.setdefault("client", set()).add(ops.amount)
        if ops.amounts_differ:
            return "the client sent one id with different amounts"
    if sut is not None and sut.amount_minor is not None:
        amounts.setdefault("sut", set()).add(sut.amount_minor)
    for record in records:
        if record.amount_minor is not None:
            amounts.setdefault("provider", set()).add(record.amount_minor)
    seen = set().union(*amounts.values()) if amounts else set()
    if len(seen) <= 1:
        return None
    return ", ".join(f"{who} {sorted(values)}" for who, values in amounts.items())


def _judge(kind: Kind, key: Key, ops: ClientOps | None, sut: SutRecord | None, records: list[ProviderRecord],
           claims: list[ForgedClaim], tally: _Tally) -> None:
    if len(records) > 1:
        tally.add(Category.DUPLICATED, key, f"{len(records)} provider records")
    mismatch = _amounts_differ(ops, sut, records)
    if mismatch:
        tally.add(Category.AMOUNT_MISMATCH, key, mismatch)
    truth = provider_status(kind, records)
    if ops is None:
        if sut is not None and not records and claims:
            tally.add(Category.FORGED_ACCEPTED, key, f"exists only through forged callbacks ({claims[0].how})")
        else:
            where = "SUT and provider" if sut is not None and records else "SUT" if sut is not None else "provider"
            tally.add(Category.UNEXPECTED, key, f"held by the {where}, submitted by no client")
        return
    if sut is None:
        if ops.ok:
            tally.add(Category.LOST, key, f"client got ok {ops.ok} time(s), SUT has no record")
        elif truth == kind.success:
            tally.add(Category.ORPHANED, key, f"provider {truth}, SUT has no record")
        return
    if sut.status == _PENDING:
        tally.add(Category.UNRETURNED, key, f"SUT still pending; provider {truth or 'has no record'}")
        return
    forged = [claim for claim in claims if claim.claim == sut.status]
    if forged and truth != sut.status:
        tally.add(Category.FORGED_ACCEPTED, key,
                  f"SUT {sut.status} as a forged callback ({forged[0].how}) claimed; provider {truth or 'has none'}")
        return
    why = _disagreement(kind, sut.status, truth)
    if why is None and not ops.ok and ops.fail and truth == kind.success:
        why = f"client was told no (fail), provider {truth}"
    if why is not None:
        tally.add(Category.DIVERGENT, key, why)
    elif not ops.ok and ops.unknown:
        tally.add(Category.RECOVERED, key, f"outcome unknown to the client, SUT {sut.status}")


def _money(kind: Kind, sut: Mapping[str, SutRecord], provider: Mapping[str, list[ProviderRecord]]) -> MoneyFlow:
    success = kind.success
    provider_sum = sum(record[2] or 0 for records in provider.values() for record in records if record[1] == success)
    moved = [record[1] for record in sut.values() if record[0] == success]
    sut_sum = None if None in moved else sum(moved)  # type: ignore[arg-type]
    return MoneyFlow(provider_minor=provider_sum, sut_minor=sut_sum)


def _example(key: Key, why: str, inputs: CheckInputs, events: Mapping[Key, list[dict[str, Any]]]) -> dict[str, Any]:
    kind, op_id = key
    sut = inputs.sut[kind].get(op_id)
    return {
        "id": op_id, "kind": kind.value, "why": why,
        "history": events.get(key, []),
        "sut": None if sut is None else sut._asdict(),
        "provider": [record._asdict() for record in inputs.provider[kind].get(op_id, [])],
        "forged": [claim._asdict() for claim in inputs.forged.get(key, [])],
    }


def check(inputs: CheckInputs) -> CheckResult:
    """Judge every id; ``unknown`` when the final reads did not complete, never ``pass``.

    >>> from harness.checker.inputs import History
    >>> empty = CheckInputs(History.from_events([]), {k: {} for k in Kind}, {k: {} for k in Kind})
    >>> check(empty).verdict.value
    'pass'
    """
    with paused_gc():
        return _check(inputs)


def _check(inputs: CheckInputs) -> CheckResult:
    tally = _Tally()
    no_records: list[ProviderRecord] = []
    no_claims: list[ForgedClaim] = []
    forged = inputs.forged
    for kind in Kind:
        client = inputs.history.ops[kind]
        sut = inputs.sut[kind]
        provider = inputs.provider[kind]
        agreed = {kind.success, kind.refusal}
        sut_get, provider_get = sut.get, provider.get
        in_sut = in_provider = 0
        # The client's table is walked by its columns; an id's ClientOps is made only to judge it in full.
        for row, op_id, ok, sent, differ in zip(count(), client.ids, client.ok, client.amount, client.differ):
            record = sut_get(op_id)
            records = provider_get(op_id, no_records)
            if records:
                in_provider += 1
            if record is not None:
                in_sut += 1
                # The common case, decided without a call: acknowledged, one provider record, the
                # same terminal status and amount everywhere, no forgery. Anything else is judged in full.
                if ok and len(records) == 1 and not forged and not differ:
                    status, amount = record
                    truth = records[0]
                    if status == truth[1] and status in agreed and sent == amount == truth[2]:
                        continue
            key = (kind, op_id)
            _judge(kind, key, client.row(row), record, records, forged.get(key, no_claims) if forged else no_claims,
                   tally)
        # Ids nobody submitted: looked for only when the counts say some exist.
        if in_sut < len(sut):
            for op_id, record in sut.items():
                if op_id not in client:
                    key = (kind, op_id)
                    _judge(kind, key, None, record, provider_get(op_id, no_records), forged.get(key, no_claims),
                           tally)
        if in_provider < len(provider):
            for op_id, records in provider.items():
                if op_id not in client and op_id not in sut:
                    key = (kind, op_id)
                    _judge(kind, key, None, None, records, forged.get(key, no_claims), tally)
    wanted = [key for examples in tally.examples.values() for key, _ in examples]
    events = inputs.history.events_for(wanted) if wanted else {}
    invariants = {
        category: CategoryResult(
            count=tally.counts[category], violation=category.violation,
            examples=tuple(_example(key, why, inputs, events) for key, why in tally.examples[category]))
        for category in Category
    }
    money = {kind: _money(kind, inputs.sut[kind], inputs.provider[kind]) for kind in Kind}
    broken = any(count and category.violation for category, count in tally.counts.items()) \
        or any(flow.conserved is False for flow in money.values())
    if not inputs.final_reads_complete:
        verdict, reason = Verdict.UNKNOWN, inputs.incomplete_reason or "the final reads did not complete"
    else:
        verdict, reason = (Verdict.FAIL if broken else Verdict.PASS), None
    return CheckResult(verdict=verdict, invariants=invariants, money=money, counts=inputs.history.counts,
                       recovery_seconds=inputs.recovery_seconds, reason=reason)
