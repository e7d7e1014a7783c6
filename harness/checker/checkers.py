"""The checkers, one concern each, composed as Jepsen's are (``model.compose``). Pure.

Each returns a ``CheckerResult`` whose ``valid`` is pass, fail or unknown:

| checker | unknown when | fail when |
|---|---|---|
| ``run`` | the run was interrupted, or an error stopped it | |
| ``faults`` | a fault failed to apply or heal, never healed, or never started | |
| ``evidence`` | a file differs from the final reads' manifest | |
| ``reading`` | a flow's state or ledger is not records (not JSON, a column missing) | |
| ``history`` | a history line is not a valid event | |
| ``invariants`` | a flow could not be judged (its evidence is damaged) | an id fell in a violation |
| ``money`` | a flow could not be judged, or the SUT's rows carry no amount | a flow and currency not conserved |
| ``coverage`` | no operation was acknowledged, or fewer than the scenario's ``min_ops`` | |
| ``workers`` | a remote worker never joined, or its history did not arrive whole | |

``check_safe`` turns a checker that raised into ``unknown`` with the reason, so one broken
checker never takes the verdict with it and never makes it ``pass``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.checker.evidence import Evidence, IdEvidence, Key
from harness.checker.integrity import Problem
from harness.checker.judge import judge
from harness.checker.model import (
    EXAMPLES_PER_CATEGORY,
    Category,
    CategoryResult,
    CheckerResult,
    Kind,
    MoneyFlow,
    Verdict,
    WorkerCount,
)
from harness.distributed.journal import WorkerEntry, WorkerJournal
from harness.distributed.protocol import slot_of_file

T = TypeVar("T")
_HISTORY_SHOWN = 5


def check_safe(name: str, checker: Callable[[], T], fallback: T) -> tuple[CheckerResult | None, T]:
    """Run ``checker``; an exception becomes ``unknown`` with its reason, and ``fallback`` is returned."""
    try:
        return None, checker()
    except Exception as exc:  # any failure of a checker is an undecided verdict, never a pass
        return CheckerResult(name, Verdict.UNKNOWN, f"the checker could not run: {type(exc).__name__}: {exc}"), fallback


def _passed(name: str) -> CheckerResult:
    return CheckerResult(name, Verdict.PASS)


def run_checker(interrupted: bool, error: str | None) -> CheckerResult:
    """What the run itself went through: an interrupted or broken run did not do what it was asked."""
    if interrupted:
        return CheckerResult("run", Verdict.UNKNOWN, f"interrupted ({error or 'signal'}): partial results kept")
    if error:
        return CheckerResult("run", Verdict.UNKNOWN, error)
    return _passed("run")


def fault_checker(journal: Sequence[Mapping[str, Any]], planned: Iterable[str]) -> tuple[CheckerResult, list[str]]:
    """The fault journal: a fault that failed, never healed or never started means the run did not test
    what its scenario says. Returns the result and every fault error, as ``fault_errors``."""
    errors: list[str] = []
    started: dict[str, int] = {}
    healed: dict[str, int] = {}
    for record in journal:
        name, phase = str(record.get("name")), record.get("phase")
        if record.get("error"):
            errors.append(f"{name} {phase}: {record['error']}")
        if phase == "start":
            started[name] = started.get(name, 0) + 1
        elif phase == "heal":
            healed[name] = healed.get(name, 0) + 1
        else:
            errors.append(f"{name}: expected phase start or heal in faults.jsonl, got {phase!r}")
    problems = list(errors)
    problems += [f"{name} started but never healed" for name in started if healed.get(name, 0) < started[name]]
    problems += [f"{name} is in the scenario but never started" for name in planned if name not in started]
    if problems:
        return CheckerResult("faults", Verdict.UNKNOWN, "a fault failed: " + "; ".join(problems)), errors
    return _passed("faults"), errors


def integrity_checker(problems: Sequence[Problem]) -> CheckerResult:
    if not problems:
        return _passed("evidence")
    return CheckerResult("evidence", Verdict.UNKNOWN, "; ".join(map(str, problems)))


def reading_checker(evidence: Evidence) -> CheckerResult:
    """A flow whose state or ledger could not be read as records is not judged; the other flow is."""
    if not evidence.unreadable:
        return _passed("reading")
    return CheckerResult("reading", Verdict.UNKNOWN, "; ".join(
        f"the {kind.value}s could not be read: {why}" for kind, why in sorted(evidence.unreadable.items())))


def history_checker(evidence: Evidence) -> CheckerResult:
    if not evidence.damage:
        return _passed("history")
    shown = "; ".join(f"{d.file}:{d.line}: {d.what}" if d.line else f"{d.file}: {d.what}"
                      for d in evidence.damage[:_HISTORY_SHOWN])
    more = f" (and {len(evidence.damage) - _HISTORY_SHOWN} more)" if len(evidence.damage) > _HISTORY_SHOWN else ""
    return CheckerResult("history", Verdict.UNKNOWN, f"{len(evidence.damage)} damaged history line(s): {shown}{more}")


@dataclass(frozen=True)
class Judgement:
    """What the invariants checker found: per category its count and examples."""

    result: CheckerResult
    invariants: Mapping[Category, CategoryResult]


# Categories an unrecorded submission could explain: with a damaged or short history they are not counted.
_NEED_WHOLE_HISTORY = frozenset({Category.UNEXPECTED, Category.FORGED_ACCEPTED})


def invariants_checker(evidence: Evidence, *, unjudged: frozenset[Kind] = frozenset(),
                       history_whole: bool = True) -> Judgement:
    """Judge every id of the flows whose evidence is intact; fail on any violation seen there."""
    counts = dict.fromkeys(Category, 0)
    chosen: dict[Category, list[tuple[IdEvidence, str, str | None]]] = {c: [] for c in Category}
    set_aside = 0
    unjudged = unjudged - set(evidence.unreadable)  # said once, with the reason it could not be read
    for item in evidence.judged:
        if item.kind in unjudged:
            continue
        for finding in judge(item):
            category = finding.category
            if not history_whole and category in _NEED_WHOLE_HISTORY and item.client is None:
                set_aside += 1
                continue
            counts[category] += 1
            if len(chosen[category]) < EXAMPLES_PER_CATEGORY:
                chosen[category].append((item, finding.why, finding.where))
    wanted: list[Key] = [(item.kind, item.id) for found in chosen.values() for item, _, _ in found]
    events = evidence.events_for(wanted) if wanted else {}
    invariants = {category: CategoryResult(count=counts[category], violation=category.violation,
                                           examples=tuple(_example(item, why, where, events)
                                                          for item, why, where in chosen[category]))
                  for category in Category}
    violated = {c.value: n for c, n in counts.items() if n and c.violation}
    if violated:
        shown = ", ".join(f"{n} {name}" for name, n in violated.items())
        return Judgement(CheckerResult("invariants", Verdict.FAIL, shown), invariants)
    reasons = []
    if evidence.unreadable:
        reasons.append(f"the {' and '.join(k.value + 's' for k in sorted(evidence.unreadable))} were not judged")
    if unjudged:
        reasons.append(f"the {' and '.join(k.value + 's' for k in sorted(unjudged))} could not be judged: "
                       "their evidence is damaged")
    if set_aside:
        reasons.append(f"{set_aside} id(s) held by the SUT or provider with no submission in the history could "
                       "not be judged: the history is damaged")
    if reasons:
        return Judgement(CheckerResult("invariants", Verdict.UNKNOWN, "; ".join(reasons)), invariants)
    return Judgement(_passed("invariants"), invariants)


def _example(item: IdEvidence, why: str, where: str | None, events: Mapping[Key, list[dict[str, Any]]]
             ) -> dict[str, Any]:
    example: dict[str, Any] = {
        "id": item.id, "kind": item.kind.value, "why": why,
        "history": events.get((item.kind, item.id), []),
        "sut": [row._asdict() for row in item.sut],
        "provider": [record._asdict() for record in item.provider],
        "forged": [claim._asdict() for claim in item.forged],
    }
    if where is not None:
        example["where"] = where
    return example


def money_checker(evidence: Evidence, *, unjudged: frozenset[Kind] = frozenset()
                  ) -> tuple[CheckerResult, dict[tuple[Kind, str | None], MoneyFlow]]:
    """Per flow and currency, what the provider moved against what the SUT recorded as moved."""
    unjudged = unjudged | set(evidence.unreadable)
    money = {key: MoneyFlow(provider_minor=sums.provider_minor, sut_minor=sums.sut_minor)
             for key, sums in evidence.money.items() if key[0] not in unjudged}
    broken = [f"{kind.value}s {currency or '(no currency)'}: provider {flow.provider_minor}, SUT {flow.sut_minor}"
              for (kind, currency), flow in sorted(money.items(), key=_money_order) if flow.conserved is False]
    if broken:
        return CheckerResult("money", Verdict.FAIL, "not conserved: " + "; ".join(broken)), money
    unknown = [f"{kind.value}s {currency or '(no currency)'}" for (kind, currency), flow
               in sorted(money.items(), key=_money_order) if flow.conserved is None]
    if unjudged:
        return CheckerResult("money", Verdict.UNKNOWN, "not judged where the evidence is damaged"), money
    if unknown:
        return CheckerResult("money", Verdict.UNKNOWN, "the SUT's state rows carry no amount_minor for "
                             + ", ".join(unknown) + ": make the target's state SQL select it"), money
    return _passed("money"), money


def _money_order(item: tuple[tuple[Kind, str | None], MoneyFlow]) -> tuple[str, str]:
    (kind, currency), _ = item
    return kind.value, currency or ""


def coverage_checker(evidence: Evidence, *, min_ops: int = 1) -> CheckerResult:
    """A run that checked nothing proves nothing: at least ``min_ops`` acknowledged orders and payouts."""
    acknowledged = sum(evidence.acknowledged.values())
    if acknowledged >= max(min_ops, 1):
        return _passed("coverage")
    if not acknowledged:
        why = (f"no order or payout was acknowledged ({evidence.counts.attempted} submitted): the run checked "
               "nothing")
    else:
        why = f"{acknowledged} operation(s) acknowledged, fewer than the scenario's min_ops {min_ops}"
    return CheckerResult("coverage", Verdict.UNKNOWN, why)


def workers_checker(journal: WorkerJournal) -> tuple[CheckerResult, WorkerCount]:
    """Every expected remote worker joined and its history arrived as it declared it (each file's
    record count and SHA-256); local workers wrote theirs in place. A history that did not arrive
    makes the verdict ``unknown`` (what did arrive is still judged); a Locust process that died
    but whose history arrived is reported in ``died``, its open invokes read as ``info``."""
    problems: list[str] = []
    died: list[str] = []
    joined = sum(len(entry.slots) for entry in journal.workers)
    if joined < journal.expected:
        problems.append(f"{joined} of {journal.expected} remote Locust worker(s) joined")
    arrived = journal.local
    for entry in journal.workers:
        label = f"{entry.worker} ({entry.host}, slot{'s' if len(entry.slots) > 1 else ''} "
        label += ",".join(map(str, entry.slots)) + ")"
        if entry.declared is None:
            problems.append(f"{label}: its history never arrived (the worker never said it was done: killed, or "
                            "cut off before the upload window closed)")
            continue
        bad = _bad_uploads(entry)
        problems += [f"{label}: history/{name}: {why}" for name, why in sorted(bad.items())]
        bad_slots = {slot_of_file(name) for name in bad}
        arrived += sum(1 for slot in entry.slots if slot not in bad_slots)
        for slot, code in zip(entry.slots, entry.exit_codes, strict=False):
            if code is not None and code not in (0, 1):
                how = f"signal {-code}" if code < 0 else f"exit code {code}"
                died.append(f"{entry.worker} slot {slot} ({how})")
    count = WorkerCount(local=journal.local, remote_expected=journal.expected, remote_joined=joined,
                        histories_arrived=arrived, missing=tuple(problems), died=tuple(died))
    if problems:
        return CheckerResult("workers", Verdict.UNKNOWN, f"{arrived} of {count.histories_expected} worker "
                             f"histories arrived: " + "; ".join(problems)), count
    return _passed("workers"), count


def _bad_uploads(entry: WorkerEntry) -> dict[str, str]:
    bad = {}
    for name, digest in (entry.declared or {}).items():
        if name in entry.rejected:
            bad[name] = entry.rejected[name]
        elif name not in entry.received:
            bad[name] = f"{digest.records} records declared, never arrived"
        elif entry.received[name] != digest:
            bad[name] = f"{digest.records} records declared, {entry.received[name].records} kept with other content"
    return bad
