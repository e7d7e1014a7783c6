"""The per-id judge: one ``IdEvidence`` to the categories it falls in (DESIGN.md section 6). Pure.

``duplicated`` (more than one provider record, or more than one SUT row) and
``amount_mismatch`` (amounts or currencies not all equal between client, SUT and provider, or one
id sent with two amounts) are judged independently; of the rest at most one applies, by this
precedence (the first that applies explains the rest, so nothing is counted twice for one cause):

1. no client ever submitted the id: ``forged_accepted`` if the SUT holds it, the provider does
   not, and a forged callback named it; otherwise ``unexpected``;
2. the SUT has no row: ``lost`` if a client got ``ok``, else ``orphaned`` if the provider charged
   or paid it or still holds it ``processing`` (a charge in flight the merchant never recorded);
   else nothing (an ``info`` or ``fail`` that never took effect is fine);
3. a SUT row is ``pending``: ``unreturned``;
4. a SUT row's status equals what a forged callback claimed and the provider does not agree:
   ``forged_accepted`` (it would otherwise be ``divergent``);
5. a SUT row's terminal status disagrees with the provider, or the client was told a definite no
   (``fail`` and never ``ok``) while the provider charged: ``divergent``;
6. none of the above, no ``ok`` but an ``info``, and the SUT holds it: ``recovered`` (reported).

Every SUT row counts and the rows are judged as a set, so the verdict never depends on the
order in which the SUT's SQL returned them.
"""

from __future__ import annotations

from typing import NamedTuple

from contract import Status
from harness.checker.evidence import IdEvidence, ProviderRecord
from harness.checker.model import Category, Kind

PROCESSING, FAILED, PENDING = Status.PROCESSING, Status.FAILED, Status.PENDING


class Finding(NamedTuple):
    """One category an id falls in, why, and (for ``duplicated``) where the copies are."""

    category: Category
    why: str
    where: str | None = None


def provider_status(kind: Kind, records: tuple[ProviderRecord, ...]) -> str | None:
    """The provider's word on an id: charged if any record moved money, else in flight, else refused."""
    if not records:
        return None
    statuses = {record.status for record in records}
    for status in (kind.success, PROCESSING, kind.refusal):
        if status in statuses:
            return status
    return min(statuses)


def _disagreement(kind: Kind, sut_status: str, truth: str | None) -> str | None:
    """Why a terminal SUT status contradicts the provider, or None if it does not."""
    if sut_status in (kind.success, kind.refusal):
        return None if truth == sut_status else f"SUT {sut_status}, provider {truth or 'has no record'}"
    if sut_status == FAILED:
        return f"SUT failed, provider {truth}" if truth in (kind.success, PROCESSING) else None
    return (f"SUT status {sut_status!r} is not a contract status of {kind.value}s: the target's statuses map "
            "it to nothing (it is reported, never guessed)")


def _mismatch(evidence: IdEvidence) -> str | None:
    """Why amounts or currencies differ between the client, the SUT and the provider, or None."""
    client = evidence.client
    if client is not None and len([a for a in client.amounts if a is not None]) > 1:
        return f"the client sent one id with different amounts {sorted(a for a in client.amounts if a is not None)}"
    if client is not None and len([c for c in client.currencies if c is not None]) > 1:
        return f"the client sent one id in different currencies {sorted(c for c in client.currencies if c)}"
    amounts: dict[str, set[int]] = {}
    currencies: dict[str, set[str]] = {}
    if client is not None:
        amounts["client"] = {a for a in client.amounts if a is not None}
        currencies["client"] = {c for c in client.currencies if c is not None}
    amounts["sut"] = {row.amount_minor for row in evidence.sut if row.amount_minor is not None}
    currencies["sut"] = {row.currency for row in evidence.sut if row.currency is not None}
    amounts["provider"] = {r.amount_minor for r in evidence.provider if r.amount_minor is not None}
    currencies["provider"] = {r.currency for r in evidence.provider if r.currency is not None}
    reasons = []
    if len(set().union(*amounts.values())) > 1:
        reasons.append("amount " + ", ".join(f"{who} {sorted(v)}" for who, v in amounts.items() if v))
    if len(set().union(*currencies.values())) > 1:
        reasons.append("currency " + ", ".join(f"{who} {sorted(v)}" for who, v in currencies.items() if v))
    return "; ".join(reasons) or None


def judge(evidence: IdEvidence) -> list[Finding]:
    """Every category ``evidence`` falls in, in a fixed order (see the module docstring).

    >>> from contract import Status
from harness.checker.evidence import ClientSummary, SutRow
    >>> ok = ClientSummary(invokes=1, ok=1, fail=0, info=0, amounts=(100,), currencies=("EUR",))
    >>> [f.category.value for f in judge(IdEvidence(Kind.ORDER, "o1", ok))]
    ['lost']
    """
    kind, client, rows, records = evidence.kind, evidence.client, evidence.sut, evidence.provider
    found: list[Finding] = []
    if len(records) > 1:
        found.append(Finding(Category.DUPLICATED, f"{len(records)} provider records", "provider"))
    if len(rows) > 1:
        found.append(Finding(Category.DUPLICATED, f"{len(rows)} SUT rows: "
                             + ", ".join(sorted(f"{r.status} {r.amount_minor}" for r in rows)), "sut"))
    mismatch = _mismatch(evidence)
    if mismatch:
        found.append(Finding(Category.AMOUNT_MISMATCH, mismatch))
    truth = provider_status(kind, records)
    claims = evidence.forged
    if client is None:
        if rows and not records and claims:
            found.append(Finding(Category.FORGED_ACCEPTED,
                                 f"exists only through forged callbacks ({claims[0].how})"))
        else:
            where = "SUT and provider" if rows and records else "SUT" if rows else "provider"
            found.append(Finding(Category.UNEXPECTED, f"held by the {where}, submitted by no client"))
        return found
    if not rows:
        if client.ok:
            found.append(Finding(Category.LOST, f"client got ok {client.ok} time(s), SUT has no record"))
        elif truth in (kind.success, PROCESSING):
            found.append(Finding(Category.ORPHANED, f"provider {truth}, SUT has no record"))
        return found
    statuses = sorted({row.status for row in rows})
    if PENDING in statuses:
        found.append(Finding(Category.UNRETURNED, f"SUT still pending; provider {truth or 'has no record'}"))
        return found
    for status in statuses:
        forged = [claim for claim in claims if claim.claim == status]
        if forged and truth != status:
            found.append(Finding(Category.FORGED_ACCEPTED, f"SUT {status} as a forged callback "
                                 f"({forged[0].how}) claimed; provider {truth or 'has none'}"))
            return found
    whys = [why for status in statuses if (why := _disagreement(kind, status, truth)) is not None]
    if not whys and not client.ok and client.fail and truth == kind.success:
        whys.append(f"client was told no (fail), provider {truth}")
    if whys:
        found.append(Finding(Category.DIVERGENT, "; ".join(whys)))
    elif not client.ok and client.unknown:
        found.append(Finding(Category.RECOVERED, f"outcome unknown to the client, SUT {', '.join(statuses)}"))
    return found
