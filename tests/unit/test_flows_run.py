"""A target's flows in a run: provider records keyed by the client's id, scenarios fitted to the target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rundir_builder import build_run, op, record

from contract import Flow
from harness._exceptions import UsageError
from harness.checker.integrity import write_manifest
from harness.checker.model import Category, Kind, Verdict
from harness.run.final_reads import correlate
from harness.run.fit import fit_scenario
from harness.run.verdict import judge_run
from harness.scenario import Operation, parse_scenario
from harness.target import parse_target

TARGET = """\
name: shop
start: [x]
health: /h
provider: {dialect: stripe}
state: {orders_sql: a, payouts_sql: b}
flows:
  order:
    correlate: {provider: CORRELATE}
    steps: [{name: create, method: POST, path: /orders}]
"""


def _target(correlate_by: str = "sut_id") -> object:
    return parse_target(TARGET.replace("CORRELATE", correlate_by), file="t.yaml")


def _row(client_id: str, sut_id: str, provider_id: str | None, status: str = "succeeded") -> dict[str, object]:
    return {"order_id": client_id, "sut_id": sut_id, "provider_id": provider_id, "status": status,
            "amount_minor": 1000, "currency": "EUR"}


def _pi(pi: str, merchant: str, status: str = "succeeded") -> dict[str, object]:
    return {"id": pi, "merchant_order_id": merchant, "status": status, "amount_minor": 1000, "currency": "EUR"}


@pytest.mark.parametrize("by", ["sut_id", "provider_id"])
def test_provider_records_are_keyed_by_the_client_s_id_and_a_second_charge_is_a_duplicate(tmp_path: Path,
                                                                                        by: str) -> None:
    events = op("order", "c1", "ok") + op("order", "c2", "ok")
    run_dir = build_run(tmp_path, events, complete=False,
                        sut={Kind.ORDER: [_row("c1", "ord_1", "pi_1"), _row("c2", "ord_2", "pi_2")]},
                        provider={Kind.ORDER: [_pi("pi_1", "ord_1"), _pi("pi_2", "ord_2"), _pi("pi_3", "ord_2")]})
    moved = correlate(_target(by), run_dir)  # type: ignore[arg-type]
    records = [json.loads(line) for line in run_dir.provider_ledger(Kind.ORDER).read_text().splitlines()]
    if by == "sut_id":
        assert moved == {"correlated_orders": 3}
        assert [r["merchant_order_id"] for r in records] == ["c1", "c2", "c2"]
        assert [r["merchant_ref"] for r in records] == ["ord_1", "ord_2", "ord_2"]
    else:  # the row stores one payment's id: the other charge points at no row
        assert moved == {"correlated_orders": 2}
        assert [r["merchant_order_id"] for r in records] == ["c1", "c2", "ord_2"]
    write_manifest(run_dir)
    verdict, _ = judge_run(run_dir)
    assert verdict.verdict is Verdict.FAIL
    found = {category for category, result in verdict.invariants.items() if result.count}
    expected = {Category.DUPLICATED} if by == "sut_id" else {Category.UNEXPECTED}
    assert expected <= found


def test_without_a_correlation_the_ledger_is_left_as_the_provider_wrote_it(tmp_path: Path) -> None:
    run_dir = build_run(tmp_path, op("order", "c1", "ok"), complete=False,
                        provider={Kind.ORDER: [record(Kind.ORDER, "c1", "succeeded")]})
    before = run_dir.provider_ledger(Kind.ORDER).read_bytes()
    assert correlate(_target("id"), run_dir) == {}  # type: ignore[arg-type]
    assert run_dir.provider_ledger(Kind.ORDER).read_bytes() == before


SCENARIO = """\
name: mixed
duration: 10s
load: {users: 1, spawn_rate: 1, mix: {order: 6, payout: 3, get_order: 1}}
FAULTS
"""


def test_a_scenario_keeps_the_operations_the_target_has_and_says_which_it_dropped() -> None:
    scenario = parse_scenario(SCENARIO.replace("FAULTS", ""), file="s.yaml")
    fitted, notes = fit_scenario(scenario, _target())  # type: ignore[arg-type]
    assert dict(fitted.load.mix) == {Operation.ORDER: 6}
    assert "payout" in notes[0] and "get_order" in notes[0]  # the target has no read step either
    assert Flow.ORDER in _target().flows  # type: ignore[attr-defined]


def test_a_scenario_the_target_cannot_run_does_not_apply() -> None:
    payouts_only = parse_scenario(SCENARIO.replace("FAULTS", "").replace("order: 6, ", "").replace(
        ", get_order: 1", ""), file="s.yaml")
    with pytest.raises(UsageError, match="does not apply to target shop: it sends payout"):
        fit_scenario(payouts_only, _target())  # type: ignore[arg-type]
    forged = parse_scenario(SCENARIO.replace("FAULTS", "faults: [{at: 1s, kind: forged_callbacks}]"), file="s.yaml")
    with pytest.raises(UsageError, match="forged_callbacks needs the native dialect"):
        fit_scenario(forged, _target())  # type: ignore[arg-type]
