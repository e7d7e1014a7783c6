"""The checker on crafted histories: every category, its edges, and the precedence between them."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from rundir_builder import AMOUNT, build_run, op, record, sut_row

from harness._exceptions import ExitCode
from harness.checker.evidence import ForgedClaim
from harness.checker.model import Category, Kind, MoneyFlow, RunVerdict, Verdict
from harness.run.verdict import judge_run

BASE = "base-1"  # one clean acknowledged order in every run, so that a run is never vacuous


def run(events: list[dict[str, Any]], *, sut: dict[str, tuple[str, int | None]] | None = None,
        provider: dict[str, list[tuple[str, int]]] | None = None, sut_payouts: dict[str, tuple[str, int]] | None = None,
        provider_payouts: dict[str, list[tuple[str, int]]] | None = None,
        forged: dict[tuple[Kind, str], list[ForgedClaim]] | None = None, complete: bool = True,
        pad: bool = True) -> RunVerdict:
    """Build a run directory of these events, rows and records, and judge it as ``orderquake check`` does."""
    sut = dict(sut or {})
    provider = dict(provider or {})
    if pad:
        events = op("order", BASE, "ok") + list(events)
        sut[BASE] = ("succeeded", AMOUNT)
        provider[BASE] = [("succeeded", AMOUNT)]

    def rows(kind: Kind, table: dict[str, tuple[str, int | None]] | None) -> list[dict[str, Any]]:
        return [sut_row(kind, k, status, amount) for k, (status, amount) in (table or {}).items()]

    def ledger(kind: Kind, table: dict[str, list[tuple[str, int]]] | None) -> list[dict[str, Any]]:
        return [record(kind, k, status, amount, n=i) for k, v in (table or {}).items()
                for i, (status, amount) in enumerate(v)]

    journal = [{"object": kind.value, "id": op_id, "claim": c.claim, "kind": c.how, "sent_at": 1.0,
                "http_status": c.http_status} for (kind, op_id), claims in (forged or {}).items() for c in claims]
    with tempfile.TemporaryDirectory() as root:
        run_dir = build_run(Path(root), events,
                            sut={Kind.ORDER: rows(Kind.ORDER, sut), Kind.PAYOUT: rows(Kind.PAYOUT, sut_payouts)},
                            provider={Kind.ORDER: ledger(Kind.ORDER, provider),
                                      Kind.PAYOUT: ledger(Kind.PAYOUT, provider_payouts)},
                            forged=journal or None, complete=complete)
        return judge_run(run_dir)[0]


def money(result: RunVerdict, kind: Kind, currency: str = "EUR") -> MoneyFlow:
    return result.money[(kind, currency)]


def found(result: RunVerdict) -> dict[str, int]:
    return {c.value: r.count for c, r in result.invariants.items() if r.count}


def test_a_clean_run_passes_with_money_conserved() -> None:
    result = run(op("order", "o1", "ok") + op("payout", "p1", "ok") + op("order", "o2", "ok"),
                 sut={"o1": ("succeeded", AMOUNT), "o2": ("declined", AMOUNT)},
                 provider={"o1": [("succeeded", AMOUNT)], "o2": [("declined", AMOUNT)]},
                 sut_payouts={"p1": ("paid", AMOUNT)}, provider_payouts={"p1": [("paid", AMOUNT)]})
    assert found(result) == {}
    assert result.verdict is Verdict.PASS and result.exit_code is ExitCode.PASS
    assert money(result, Kind.ORDER).conserved and money(result, Kind.PAYOUT).conserved
    assert result.counts.attempted == 3 + 1 and result.counts.ok == 3 + 1  # the padding order included


def test_info_then_present_is_recovered_not_a_violation() -> None:
    result = run(op("order", "o1", "info"), sut={"o1": ("succeeded", AMOUNT)}, provider={"o1": [("succeeded", AMOUNT)]})
    assert found(result) == {"recovered": 1}
    assert result.verdict is Verdict.PASS


def test_info_then_absent_is_fine() -> None:
    result = run(op("order", "o1", "info"))
    assert found(result) == {} and result.verdict is Verdict.PASS


def test_an_invoke_without_completion_counts_as_info() -> None:
    result = run(op("order", "o1", None), sut={"o1": ("succeeded", AMOUNT)}, provider={"o1": [("succeeded", AMOUNT)]})
    assert result.counts.info == 1
    assert found(result) == {"recovered": 1}


def test_ok_then_absent_is_lost_with_its_history_as_example() -> None:
    result = run(op("order", "o1", "ok"))
    assert found(result) == {"lost": 1} and result.verdict is Verdict.FAIL
    assert result.exit_code is ExitCode.VIOLATION
    example = result.invariants[Category.LOST].examples[0]
    assert example["id"] == "o1" and [e["type"] for e in example["history"]] == ["invoke", "ok"]


def test_lost_takes_precedence_over_orphaned() -> None:
    result = run(op("order", "o1", "ok"), provider={"o1": [("succeeded", AMOUNT)]})
    assert found(result) == {"lost": 1}
    assert money(result, Kind.ORDER).conserved is False


def test_charged_but_unknown_to_the_sut_is_orphaned() -> None:
    result = run(op("order", "o1", "info"), provider={"o1": [("succeeded", AMOUNT)]})
    assert found(result) == {"orphaned": 1}


def test_fail_but_charged_is_divergent() -> None:
    result = run(op("order", "o1", "fail"), sut={"o1": ("failed", AMOUNT)}, provider={"o1": [("succeeded", AMOUNT)]})
    assert found(result) == {"divergent": 1}


def test_client_told_no_while_the_provider_charged_is_divergent_even_if_the_sut_agrees() -> None:
    result = run(op("order", "o1", "fail"), sut={"o1": ("succeeded", AMOUNT)},
                 provider={"o1": [("succeeded", AMOUNT)]})
    assert found(result) == {"divergent": 1}


@pytest.mark.parametrize(("sut_status", "provider_status"), [
    ("succeeded", "declined"), ("succeeded", None), ("declined", "succeeded"), ("failed", "processing"),
    ("declined", None),
])
def test_terminal_states_that_disagree_are_divergent(sut_status: str, provider_status: str | None) -> None:
    provider = {"o1": [(provider_status, AMOUNT)]} if provider_status else {}
    result = run(op("order", "o1", "ok"), sut={"o1": (sut_status, AMOUNT)}, provider=provider)
    assert found(result) == {"divergent": 1}


@pytest.mark.parametrize(("sut_status", "provider_status"), [("failed", None), ("failed", "declined")])
def test_a_visible_failure_without_a_charge_is_fine(sut_status: str, provider_status: str | None) -> None:
    provider = {"o1": [(provider_status, AMOUNT)]} if provider_status else {}
    result = run(op("order", "o1", "ok"), sut={"o1": (sut_status, AMOUNT)}, provider=provider)
    assert found(result) == {}


def test_pending_past_the_deadline_is_unreturned() -> None:
    result = run(op("payout", "p1", "ok"), sut_payouts={"p1": ("pending", AMOUNT)},
                 provider_payouts={"p1": [("paid", AMOUNT)]})
    assert found(result) == {"unreturned": 1}


def test_two_provider_records_for_one_id_are_duplicated() -> None:
    events = op("order", "o1", "ok") + op("order", "o1", "ok", attempt=2)
    result = run(events, sut={"o1": ("succeeded", AMOUNT)},
                 provider={"o1": [("succeeded", AMOUNT), ("succeeded", AMOUNT)]})
    assert found(result) == {"duplicated": 1}
    assert money(result, Kind.ORDER).provider_minor == 2 * AMOUNT + AMOUNT  # the padding order included
    assert money(result, Kind.ORDER).conserved is False
    assert len(result.invariants[Category.DUPLICATED].examples[0]["history"]) == 4


def test_amounts_that_differ_between_client_sut_and_provider() -> None:
    result = run(op("order", "o1", "ok"), sut={"o1": ("succeeded", AMOUNT)}, provider={"o1": [("succeeded", 999)]})
    assert found(result) == {"amount_mismatch": 1}
    assert money(result, Kind.ORDER).conserved is False


def test_one_id_sent_with_two_amounts_is_an_amount_mismatch() -> None:
    events = op("order", "o1", "ok") + op("order", "o1", "ok", attempt=2, amount=5)
    result = run(events, sut={"o1": ("succeeded", AMOUNT)}, provider={"o1": [("succeeded", AMOUNT)]})
    assert found(result) == {"amount_mismatch": 1}


@pytest.mark.parametrize("where", ["sut", "provider", "both"])
def test_ids_nobody_attempted_are_unexpected(where: str) -> None:
    sut: dict[str, tuple[str, int | None]] = {"x": ("succeeded", AMOUNT)} if where in ("sut", "both") else {}
    provider = {"x": [("succeeded", AMOUNT)]} if where in ("provider", "both") else {}
    result = run([], sut=sut, provider=provider)
    assert found(result) == {"unexpected": 1}


def test_reads_do_not_make_an_id_attempted() -> None:
    read = [{"type": "invoke", "op": "get_order", "id": "x", "process": 1, "attempt": 1, "time": 1},
            {"type": "ok", "op": "get_order", "id": "x", "process": 1, "attempt": 1, "time": 2, "status": 200}]
    result = run(read, sut={"x": ("succeeded", AMOUNT)}, provider={"x": [("succeeded", AMOUNT)]})
    assert found(result) == {"unexpected": 1} and result.counts.attempted == 1  # the padding order alone


def test_a_forged_success_the_provider_declined_is_forged_accepted_not_divergent() -> None:
    forged = {(Kind.ORDER, "o1"): [ForgedClaim("succeeded", "bad_signature", 200)]}
    result = run(op("order", "o1", "ok"), sut={"o1": ("succeeded", AMOUNT)}, provider={"o1": [("declined", AMOUNT)]},
                 forged=forged)
    assert found(result) == {"forged_accepted": 1}


def test_a_rejected_forgery_is_not_counted() -> None:
    forged = {(Kind.ORDER, "o1"): [ForgedClaim("declined", "unsigned", 401)]}
    result = run(op("order", "o1", "ok"), sut={"o1": ("succeeded", AMOUNT)}, provider={"o1": [("succeeded", AMOUNT)]},
                 forged=forged)
    assert found(result) == {}


def test_a_record_that_exists_only_through_a_forged_callback_is_forged_accepted_not_unexpected() -> None:
    forged = {(Kind.PAYOUT, "ghost"): [ForgedClaim("paid", "unknown_id", 200)]}
    result = run([], sut_payouts={"ghost": ("paid", AMOUNT)}, forged=forged)
    assert found(result) == {"forged_accepted": 1}
    assert money(result, Kind.PAYOUT, None).conserved is False  # no currency anywhere: counted under none


def test_money_is_unknown_when_the_sut_rows_carry_no_amount() -> None:
    result = run(op("order", "o1", "ok"), sut={"o1": ("succeeded", None)}, provider={"o1": [("succeeded", AMOUNT)]})
    assert money(result, Kind.ORDER).conserved is None
    assert result.verdict is Verdict.UNKNOWN and "amount_minor" in (result.reason or "")


def test_examples_are_capped_at_twenty_and_the_count_is_exact() -> None:
    events = [e for n in range(30) for e in op("order", f"o{n}", "ok")]
    result = run(events)
    assert result.invariants[Category.LOST].count == 30
    assert len(result.invariants[Category.LOST].examples) == 20


def test_incomplete_final_reads_give_unknown_never_pass() -> None:
    result = run(op("order", "o1", "ok"), sut={"o1": ("succeeded", AMOUNT)}, provider={"o1": [("succeeded", AMOUNT)]},
                 complete=False)
    assert result.verdict is Verdict.UNKNOWN and result.exit_code is ExitCode.INFRASTRUCTURE
    assert result.to_json()["reason"]


def test_an_slo_breach_with_correctness_intact_exits_3_and_json_has_every_field(tmp_path: Path) -> None:
    scenario = "name: unit\nseed: 4\nduration: 10s\nload: {users: 1, mix: {order: 1}}\nslo: ['p99 < 1ms']\n"
    events = [{**e, "time": e["time"] + 20_000_000} if e["type"] == "ok" else e for e in op("order", "o1", "ok")]
    run_dir = build_run(tmp_path, events, sut={Kind.ORDER: [sut_row(Kind.ORDER, "o1", "succeeded")]},
                        provider={Kind.ORDER: [record(Kind.ORDER, "o1", "succeeded")]}, scenario=scenario)
    result = judge_run(run_dir)[0]
    assert result.verdict is Verdict.PASS and result.exit_code is ExitCode.SLO_BREACH
    payload = result.to_json()
    expected = {"scenario", "seed", "target", "variant", "verdict", "exit_code", "invariants", "money", "slo",
                "counts", "recovery_seconds", "started", "finished", "checkers", "reason", "fault_errors"}
    assert expected <= set(payload)
    assert set(payload["invariants"]) == {c.value for c in Category}
    assert payload["slo"] == [{"rule": "p99 < 1ms", "observed": 25.0, "pass": False}]
    assert set(payload["counts"]) >= {"attempted", "ok", "fail", "info"}
    assert RunVerdict.from_json(payload).to_json() == payload


def test_an_id_nobody_attempted_is_found_among_many_that_were() -> None:
    events = [e for n in range(5) for e in op("order", f"o{n}", "ok")]
    sut = {f"o{n}": ("succeeded", AMOUNT) for n in range(5)}
    provider = {f"o{n}": [("succeeded", AMOUNT)] for n in range(5)}
    result = run(events, sut={**sut, "x": ("succeeded", AMOUNT)}, provider={**provider, "y": [("declined", AMOUNT)]})
    assert found(result) == {"unexpected": 2}
    assert {e["id"] for e in result.invariants[Category.UNEXPECTED].examples} == {"x", "y"}
