"""The checker's edge: a run directory on disk to a verdict, and ``orderquake check`` on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness._exceptions import UsageError
from harness.checker import Category, Kind, Verdict, check, load_inputs, write_verdict
from harness.cli.main import main
from harness.load.history import EventType, HistoryWriter, Op


def make_run(root: Path, *, orders: int = 5, complete: bool = True) -> Path:
    """A finished run where every order was acknowledged, charged and recorded as succeeded."""
    run_dir = root / "run"
    writer = HistoryWriter(run_dir / "history", process_file="1")
    sut, ledger = [], []
    for n in range(orders):
        op_id = f"r1-o-1-{n}"
        value = {"amount_minor": 100 + n, "currency": "EUR"}
        writer.record(EventType.INVOKE, Op.ORDER, op_id, process=1, attempt=1, value=value)
        writer.record(EventType.OK, Op.ORDER, op_id, process=1, attempt=1, value=value, status=201)
        writer.record(EventType.INVOKE, Op.GET_ORDER, op_id, process=1, attempt=1)
        writer.record(EventType.OK, Op.GET_ORDER, op_id, process=1, attempt=1, status=200)
        sut.append({"order_id": op_id, "status": "succeeded", "amount_minor": 100 + n})
        ledger.append({"id": f"po_{n}", "merchant_order_id": op_id, "amount_minor": 100 + n, "currency": "EUR",
                       "status": "succeeded", "idempotency_key": op_id})
    writer.close()
    state = run_dir / "state"
    state.mkdir()
    (state / "sut_orders.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sut))
    (state / "sut_payouts.jsonl").write_text("")
    (state / "provider_orders.ndjson").write_text("".join(json.dumps(r) + "\n" for r in ledger))
    (state / "provider_payouts.ndjson").write_text("")
    (run_dir / "consistency.jsonl").write_text('{"t": 0.0, "pending": 3}\n{"t": 1.0, "pending": 0}\n')
    if complete:
        (state / "complete.json").write_text("{}")
    return run_dir


def test_a_clean_run_directory_passes(tmp_path: Path) -> None:
    result = check(load_inputs(make_run(tmp_path)))
    assert result.verdict is Verdict.PASS
    assert result.counts.attempted == 5 and result.counts.ok == 5
    assert result.recovery_seconds == 1.0


def test_without_the_final_read_marker_the_verdict_is_unknown(tmp_path: Path) -> None:
    result = check(load_inputs(make_run(tmp_path, complete=False)))
    assert result.verdict is Verdict.UNKNOWN
    assert "complete.json" in (result.reason or "")


def test_removing_an_acknowledged_order_from_the_saved_state_makes_check_report_it_lost(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = make_run(tmp_path)
    (run_dir / "verdict.json").write_text(json.dumps({"scenario": "smoke", "seed": 7, "slo": []}))
    path = run_dir / "state" / "sut_orders.jsonl"
    rows = path.read_text().splitlines()
    path.write_text("\n".join(rows[:2] + rows[3:]) + "\n")

    assert main(["check", str(run_dir)]) == 1

    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["verdict"] == "fail" and verdict["exit_code"] == 1 and verdict["scenario"] == "smoke"
    lost = verdict["invariants"]["lost"]
    assert lost["count"] == 1 and lost["examples"][0]["id"] == "r1-o-1-2"
    history = lost["examples"][0]["history"]
    assert [(e["type"], e["op"]) for e in history] == [("invoke", "order"), ("ok", "order"),
                                                       ("invoke", "get_order"), ("ok", "get_order")]
    assert verdict["money"]["orders"]["conserved"] is False
    assert "lost: 1 VIOLATION" in capsys.readouterr().out


def test_check_exits_4_when_the_final_reads_did_not_complete(tmp_path: Path) -> None:
    assert main(["check", str(make_run(tmp_path, complete=False))]) == 4


def test_a_torn_history_line_is_an_unmatched_invoke(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, orders=1)
    with (run_dir / "history" / "1.jsonl").open("ab") as handle:
        handle.write(b'{"type":"invoke","op":"order","id":"r1-o-1-9","process":1,"attempt":1,'
                     b'"value":{"amount_minor":5}}\n{"type":"ok","op":"ord')
    result = check(load_inputs(run_dir))
    assert result.counts.info == 1 and result.verdict is Verdict.PASS


def test_a_damaged_state_file_names_the_file_and_line(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, orders=1)
    (run_dir / "state" / "sut_orders.jsonl").write_text('{"order_id": "a", "status": "paid"}\nnot json\n')
    with pytest.raises(UsageError, match=r"sut_orders.jsonl:2"):
        load_inputs(run_dir)


def test_state_rows_without_the_id_column_say_what_to_select(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, orders=1)
    (run_dir / "state" / "sut_orders.jsonl").write_text('{"id": "a", "status": "succeeded"}\n')
    with pytest.raises(UsageError, match="order_id"):
        load_inputs(run_dir)


def test_forged_journal_is_read(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, orders=1)
    (run_dir / "state" / "sut_orders.jsonl").write_text(
        (run_dir / "state" / "sut_orders.jsonl").read_text()
        + '{"order_id": "ghost", "status": "succeeded", "amount_minor": 7}\n')
    (run_dir / "forged.jsonl").write_text(json.dumps({"object": "order", "id": "ghost", "claim": "succeeded",
                                                      "kind": "unknown_id", "sent_at": 1.0, "http_status": 200}))
    result = check(load_inputs(run_dir))
    assert result.invariants[Category.FORGED_ACCEPTED].count == 1
    assert result.invariants[Category.UNEXPECTED].count == 0


def test_write_verdict_writes_the_json_atomically(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, orders=1)
    path = write_verdict(run_dir, check(load_inputs(run_dir)))
    assert json.loads(path.read_text())["verdict"] == "pass"
    assert not list(run_dir.glob("*.tmp"))


def test_unusual_state_files_are_read_row_by_row_to_the_same_effect(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, orders=3)
    state = run_dir / "state"
    # A duplicate provider record, an amount as a string, a blank line: the row-by-row reader's cases.
    ledger = state / "provider_orders.ndjson"
    first = ledger.read_text().splitlines()[0]
    ledger.write_text(ledger.read_text() + first.replace('"po_0"', '"po_dup"') + "\n\n")
    sut = state / "sut_orders.jsonl"
    sut.write_text(sut.read_text().replace('"amount_minor": 101', '"amount_minor": "101"') + "\n")
    result = check(load_inputs(run_dir))
    assert result.invariants[Category.DUPLICATED].count == 1
    assert [r["provider_id"] for r in result.invariants[Category.DUPLICATED].examples[0]["provider"]] == [
        "po_0", "po_dup"]
    assert result.invariants[Category.AMOUNT_MISMATCH].count == 0
    assert result.money[Kind.ORDER].sut_minor == 100 + 101 + 102
