"""Run directories built by hand, as a finished run would leave them, for the checker's tests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.checker.integrity import write_manifest
from harness.checker.model import Kind
from harness.run.verdict import RunFacts
from harness.rundir import RunDir

SCENARIO = """
name: unit
seed: 4
duration: 10s
load: {users: 1, spawn_rate: 1, mix: {order: 1}}
"""
TARGET = "name: unit-target\nstart: [x]\nhealth: /h\nstate: {orders_sql: a, payouts_sql: b}\n"
AMOUNT = 1000


def op(kind: str, op_id: str, outcome: str | None, *, attempt: int = 1, amount: int | None = AMOUNT,
       currency: str = "EUR", process: int = 1, time: int = 0) -> list[dict[str, Any]]:
    """One client operation: its invoke and (unless ``outcome`` is None) its completion."""
    value = {"amount_minor": amount, "currency": currency} if amount is not None else {}
    base = {"op": kind, "id": op_id, "process": process, "attempt": attempt, "wall": 100.0 + time / 1e9,
            "value": value, "error": None}
    events = [{**base, "type": "invoke", "time": time, "status": None}]
    if outcome is not None:
        status = {"ok": 201, "fail": 422, "info": None}[outcome]
        events.append({**base, "type": outcome, "time": time + 5_000_000, "status": status})
    return events


def sut_row(kind: Kind, op_id: str, status: str, amount: int | None = AMOUNT, currency: str | None = None
            ) -> dict[str, Any]:
    row: dict[str, Any] = {kind.sut_key: op_id, "status": status, "amount_minor": amount}
    if currency is not None:
        row["currency"] = currency
    return row


def record(kind: Kind, op_id: str, status: str, amount: int = AMOUNT, currency: str = "EUR", n: int = 0
           ) -> dict[str, Any]:
    prefix = "po" if kind is Kind.ORDER else "pp"
    return {"id": f"{prefix}_{op_id}_{n}", kind.merchant_key: op_id, "amount_minor": amount, "currency": currency,
            "status": status, "idempotency_key": op_id}


def lines(rows: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def build_run(root: Path, events: Sequence[Mapping[str, Any]] = (), *,
              sut: Mapping[Kind, Sequence[Mapping[str, Any]]] | None = None,
              provider: Mapping[Kind, Sequence[Mapping[str, Any]]] | None = None,
              forged: Sequence[Mapping[str, Any]] | None = None,
              faults: Sequence[Mapping[str, Any]] = (), scenario: str = SCENARIO,
              facts: RunFacts | None = None, complete: bool = True,
              consistency: Sequence[Mapping[str, Any]] = ({"t": 0.0, "pending": 0},)) -> RunDir:
    """A run directory as a finished run leaves it, with its manifest (unless ``complete`` is False)."""
    run_dir = RunDir.create("unit", out=root)
    (run_dir.history / "1.jsonl").write_text(lines(events))
    for kind in Kind:
        run_dir.sut_state(kind).write_text(lines((sut or {}).get(kind, ())))
        run_dir.provider_ledger(kind).write_text(lines((provider or {}).get(kind, ())))
    run_dir.provider_callbacks.write_text("")
    if forged is not None:
        run_dir.forged.write_text(lines(forged))
    run_dir.faults.write_text(lines(faults))
    run_dir.consistency.write_text(lines(consistency))
    run_dir.scenario.write_text(scenario)
    run_dir.target.write_text(TARGET)
    (facts or RunFacts(started="2026-12-01T00:00:00+00:00", load_started_wall=100.0, load_seconds=10.0)
     ).write(run_dir)
    if complete:
        write_manifest(run_dir)
    return run_dir
