"""The verdict model: categories, money, counts, what each checker decided, and ``RunVerdict``
(DESIGN.md sections 6 and 8): what ``verdict.json`` holds and what every reader of it reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from contract import Flow
from harness._exceptions import ExitCode

EXAMPLES_PER_CATEGORY = 20


Kind = Flow  # the checker's name for the contract's flows


class Category(StrEnum):
    """What can be said of one id after the run; all but ``recovered`` are violations."""

    LOST = "lost"
    ORPHANED = "orphaned"
    UNRETURNED = "unreturned"
    DIVERGENT = "divergent"
    DUPLICATED = "duplicated"
    AMOUNT_MISMATCH = "amount_mismatch"
    UNEXPECTED = "unexpected"
    FORGED_ACCEPTED = "forged_accepted"
    RECOVERED = "recovered"

    @property
    def violation(self) -> bool:
        return self is not Category.RECOVERED


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CategoryResult:
    """How many ids fell in a category, and up to 20 of them with everything known about them."""

    count: int
    violation: bool
    examples: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "violation": self.violation, "examples": list(self.examples)}


@dataclass(frozen=True)
class MoneyFlow:
    """Sum of the amounts in which money moved, as the provider and as the SUT record it (minor units).

    ``sut_minor`` is None when the SUT's state rows carry no amount; conservation is then unknown.
    """

    provider_minor: int
    sut_minor: int | None

    @property
    def conserved(self) -> bool | None:
        return None if self.sut_minor is None else self.provider_minor == self.sut_minor

    def to_json(self) -> dict[str, Any]:
        difference = None if self.sut_minor is None else self.sut_minor - self.provider_minor
        return {"provider_minor": self.provider_minor, "sut_minor": self.sut_minor,
                "difference_minor": difference, "conserved": self.conserved}


@dataclass(frozen=True)
class Counts:
    """Client submissions (orders and payouts; reads are not counted) and their outcomes.

    ``attempted`` counts submissions, duplicates included, and equals ok + fail + info; an
    invoke without a completion is ``info``. ``ids`` counts distinct ids submitted.
    """

    attempted: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    ids: int = 0

    def to_json(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SloOutcome:
    """One SLO rule of the scenario as the orchestrator judged it."""

    rule: str
    observed: float | None
    passed: bool

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "observed": self.observed, "pass": self.passed}


@dataclass(frozen=True)
class CheckerResult:
    """What one checker decided: ``valid`` is pass, fail or unknown (Jepsen's true, false, :unknown)."""

    name: str
    valid: Verdict
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid.value, "reason": self.reason}

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> CheckerResult:
        return cls(name, Verdict(data["valid"]), data.get("reason"))


@dataclass(frozen=True)
class WorkerCount:
    """How many Locust workers took part in a distributed run and how many of their histories arrived.

    ``local`` workers write into the run directory themselves; each of the ``remote_expected``
    ones ships its history over the collector (``harness.distributed``). ``missing`` names every
    history that did not arrive whole; ``died`` every worker process that ended abnormally (its
    history arrived as far as it was written, its open invokes are ``info``).
    """

    local: int = 0
    remote_expected: int = 0
    remote_joined: int = 0
    histories_arrived: int = 0
    missing: tuple[str, ...] = ()
    died: tuple[str, ...] = ()

    @property
    def took_part(self) -> int:
        return self.local + self.remote_joined

    @property
    def histories_expected(self) -> int:
        return self.local + self.remote_expected

    def to_json(self) -> dict[str, Any]:
        return {"local": self.local, "remote_expected": self.remote_expected, "remote_joined": self.remote_joined,
                "took_part": self.took_part, "histories_expected": self.histories_expected,
                "histories_arrived": self.histories_arrived, "missing": list(self.missing), "died": list(self.died)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkerCount:
        return cls(local=int(data["local"]), remote_expected=int(data["remote_expected"]),
                   remote_joined=int(data["remote_joined"]), histories_arrived=int(data["histories_arrived"]),
                   missing=tuple(data.get("missing") or ()), died=tuple(data.get("died") or ()))


_MERGE_ORDER = (Verdict.FAIL, Verdict.UNKNOWN, Verdict.PASS)


def compose(results: Iterable[CheckerResult]) -> tuple[Verdict, str | None]:
    """Jepsen's merge: fail over unknown over pass; the reason names every checker that did not pass.

    >>> compose([CheckerResult("a", Verdict.PASS), CheckerResult("b", Verdict.UNKNOWN, "no ledger")])
    (<Verdict.UNKNOWN: 'unknown'>, 'b: no ledger')
    """
    results = list(results)
    valid = next((v for v in _MERGE_ORDER if any(r.valid is v for r in results)), Verdict.UNKNOWN)
    reasons = [f"{r.name}: {r.reason}" for r in results if r.valid is not Verdict.PASS and r.reason]
    if not results:
        reasons = ["no checker ran"]
    return valid, "; ".join(reasons) or None


@dataclass(frozen=True)
class RunVerdict:
    """The verdict of one run, as ``verdict.json`` holds it and every reader of it reads it.

    ``exit_code`` is derived here and nowhere else: 130 interrupted; else 1 a violation; else,
    when unknown, the exit code of the error that stopped the run (2 or 4) or 4; else 3 when an
    SLO was breached; else 0.
    """

    verdict: Verdict
    checkers: Mapping[str, CheckerResult]
    invariants: Mapping[Category, CategoryResult]
    money: Mapping[tuple[Kind, str | None], MoneyFlow]
    counts: Counts
    slo: tuple[SloOutcome, ...] = ()
    reason: str | None = None
    recovery_seconds: float | None = None
    scenario: str | None = None
    seed: int | None = None
    target: str | None = None
    variant: str | None = None
    started: str | None = None
    finished: str | None = None
    duration_seconds: float | None = None
    fault_errors: tuple[str, ...] = ()
    interrupted: bool = False
    error_exit_code: ExitCode | None = None
    torn_lines: tuple[str, ...] = ()
    workers: WorkerCount | None = None  # a distributed run's workers; None with one Locust process

    @property
    def violations(self) -> dict[Category, int]:
        return {c: r.count for c, r in self.invariants.items() if r.violation and r.count}

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.verdict is Verdict.FAIL:
            return ExitCode.VIOLATION
        if self.verdict is Verdict.UNKNOWN:
            return self.error_exit_code or ExitCode.INFRASTRUCTURE
        if any(not outcome.passed for outcome in self.slo):
            return ExitCode.SLO_BREACH
        return ExitCode.PASS

    def to_json(self) -> dict[str, Any]:
        money: dict[str, dict[str, Any]] = {}
        for (kind, currency), flow in sorted(self.money.items(), key=lambda item: (item[0][0], item[0][1] or "")):
            money.setdefault(f"{kind.value}s", {})[currency or "unknown"] = flow.to_json()
        return {
            "scenario": self.scenario, "seed": self.seed, "target": self.target, "variant": self.variant,
            "verdict": self.verdict.value, "exit_code": int(self.exit_code), "reason": self.reason,
            "checkers": {name: result.to_json() for name, result in self.checkers.items()},
            "invariants": {c.value: r.to_json() for c, r in self.invariants.items()},
            "money": money,
            "slo": [outcome.to_json() for outcome in self.slo],
            "counts": self.counts.to_json(),
            "recovery_seconds": self.recovery_seconds,
            "started": self.started, "finished": self.finished, "duration_seconds": self.duration_seconds,
            "fault_errors": list(self.fault_errors), "interrupted": self.interrupted,
            "error_exit_code": None if self.error_exit_code is None else int(self.error_exit_code),
            "torn_lines": list(self.torn_lines),
            "workers": None if self.workers is None else self.workers.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunVerdict:
        """Read ``verdict.json`` back; a file that is not one raises ``ValueError`` saying what is wrong."""
        try:
            money = {}
            for flow, by_currency in (data.get("money") or {}).items():
                kind = Kind(flow.removesuffix("s"))
                for currency, entry in by_currency.items():
                    money[(kind, None if currency == "unknown" else currency)] = MoneyFlow(
                        entry["provider_minor"], entry["sut_minor"])
            error = data.get("error_exit_code")
            return cls(
                verdict=Verdict(data["verdict"]),
                checkers={name: CheckerResult.from_json(name, entry)
                          for name, entry in (data.get("checkers") or {}).items()},
                invariants={Category(name): CategoryResult(int(entry["count"]), bool(entry["violation"]),
                                                           tuple(entry.get("examples") or ()))
                            for name, entry in (data.get("invariants") or {}).items()},
                money=money,
                counts=Counts(**(data.get("counts") or {})),
                slo=tuple(SloOutcome(s["rule"], s.get("observed"), bool(s["pass"])) for s in data.get("slo") or ()),
                reason=data.get("reason"), recovery_seconds=data.get("recovery_seconds"),
                scenario=data.get("scenario"), seed=data.get("seed"), target=data.get("target"),
                variant=data.get("variant"), started=data.get("started"), finished=data.get("finished"),
                duration_seconds=data.get("duration_seconds"),
                fault_errors=tuple(data.get("fault_errors") or ()), interrupted=bool(data.get("interrupted")),
                error_exit_code=None if error is None else ExitCode(int(error)),
                torn_lines=tuple(data.get("torn_lines") or ()),
                workers=None if data.get("workers") is None else WorkerCount.from_json(data["workers"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"expected verdict.json as orderquake writes it, got {type(exc).__name__}: {exc}") \
                from exc
