"""The verdict in one sentence a person reads first: which invariant, how many, worth how much money;
or why the run could not be decided; or, for a pass, that every submission is accounted for.

    >>> headline(RunVerdict.from_json({"verdict": "unknown", "checkers": {"evidence": {"valid": "unknown",
    ...     "reason": "state/complete.json missing"}}}))
    '<b>Not decided</b>, so not a pass: <code>evidence</code>: state/complete.json missing.'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.checker.model import Category, CategoryResult, RunVerdict, Verdict
from harness.report import _format as fmt
from harness.report._page import e
from harness.report.junit import format_observed

MEANING = {
    Category.LOST: "acknowledged to the client, no record in the SUT",
    Category.ORPHANED: "charged or paid by the provider (or still in flight there), no record in the SUT",
    Category.UNRETURNED: "still pending in the SUT after the recovery deadline",
    Category.DIVERGENT: "the SUT's final state disagrees with the provider's",
    Category.DUPLICATED: "recorded more than once, by the provider or in the SUT",
    Category.AMOUNT_MISMATCH: "amount or currency differs between client, SUT and provider",
    Category.UNEXPECTED: "held by the SUT or the provider, never submitted by a client",
    Category.FORGED_ACCEPTED: "changed by a forged or replayed callback",
    Category.RECOVERED: "unknown to the client (info), yet it did take effect: reported, not a violation",
}


def headline(verdict: RunVerdict | None) -> str:
    """The verdict in one sentence of HTML: which invariant, how many, worth how much; or why undecided."""
    if verdict is None:
        return "The run was not judged: there is no readable <code>verdict.json</code>."
    parts = [_violation_phrase(c, r) for c, r in sorted(verdict.invariants.items(), key=lambda i: -i[1].count)
             if c.violation and r.count]
    money = _money_phrase(verdict)
    if verdict.verdict is Verdict.FAIL:
        found = "; ".join(parts) or e(verdict.reason or "a checker failed")
        return f"{found}. {money}"
    if verdict.verdict is Verdict.UNKNOWN:
        undecided = [f"<code>{e(name)}</code>: {e(r.reason or 'could not decide')}"
                     for name, r in verdict.checkers.items() if r.valid is Verdict.UNKNOWN]
        why = "; ".join(undecided) or e(verdict.reason or "no checker could decide")
        return f"<b>Not decided</b>, so not a pass: {why}."
    counts = verdict.counts
    sentence = (f"<b>Every one of {fmt.count(counts.attempted)} submissions</b> ({fmt.count(counts.ids)} ids) is "
                f"accounted for, in the SUT and at the provider. {money}")
    breached = [s for s in verdict.slo if not s.passed]
    if breached:
        rules = ", ".join(f"<code>{e(s.rule)}</code> (observed {e(format_observed(s.rule, s.observed))})"
                          for s in breached)
        sentence += f" But a service level was breached: {rules}."
    return sentence


def _violation_phrase(category: Category, result: CategoryResult) -> str:
    kinds = sorted({str(x.get("kind")) for x in result.examples if x.get("kind")})
    noun = " and ".join(f"{k}s" for k in kinds) if kinds else "ids"
    worth = _worth(result.examples)
    if result.count <= len(result.examples):
        lead = f"<b>{fmt.count(result.count)} {e(noun if result.count != 1 else noun.rstrip('s'))} " \
               f"{e(category.value.replace('_', ' '))}</b>"
        tail = f", worth {e(worth)}" if worth else ""
    else:
        lead = f"<b>{fmt.count(result.count)} {e(category.value.replace('_', ' '))}</b>"
        tail = f" (the {len(result.examples)} shown are {e(noun)}{', worth ' + e(worth) if worth else ''})"
    return f"{lead}: {e(MEANING[category])}{tail}"


def _worth(examples: Sequence[Mapping[str, Any]]) -> str:
    """The amounts the examples' clients submitted, per currency: what the violation is worth."""
    totals: dict[str, int] = {}
    for example in examples:
        for event in example.get("history") or ():
            value = event.get("value") if isinstance(event, Mapping) else None
            if event.get("type") == "invoke" and not str(event.get("op")).startswith("get_") \
                    and isinstance(value, Mapping) and isinstance(value.get("amount_minor"), int):
                currency = str(value.get("currency") or "unknown")
                totals[currency] = totals.get(currency, 0) + value["amount_minor"]
                break
    return " + ".join(fmt.money(v, c) for c, v in sorted(totals.items()))


def _money_phrase(verdict: RunVerdict) -> str:
    if not verdict.money:
        return ""
    broken = []
    unknown = []
    for (kind, currency), flow in sorted(verdict.money.items(), key=lambda i: (i[0][0].value, i[0][1] or "")):
        if flow.conserved is None:
            unknown.append(f"{kind.value}s {currency}")
        elif not flow.conserved and flow.sut_minor is not None:
            difference = flow.sut_minor - flow.provider_minor
            side = "more" if difference > 0 else "less"
            broken.append(f"{kind.value}s: the SUT records <b>{e(fmt.money(abs(difference), currency))} {side}</b> "
                          f"than the provider moved")
    if broken:
        return "Money is not conserved: " + "; ".join(broken) + "."
    if unknown:
        return f"Money conservation could not be proven for {e(', '.join(unknown))} (the SUT's rows carry no amount)."
    moved = ", ".join(f"{kind.value}s {e(fmt.money(flow.provider_minor, currency))}"
                      for (kind, currency), flow in sorted(verdict.money.items(),
                                                           key=lambda i: (i[0][0].value, i[0][1] or "")))
    return f"Money is conserved ({moved})."
