"""The reader's edges on state and journal files: what it refuses, and how it says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rundir_builder import build_run, lines, op, record, sut_row

from harness.checker.evidence import EvidenceFiles
from harness.checker.model import Category, Kind
from harness.checker.reading import EvidenceError, read_evidence, read_provider, read_sut
from harness.cli.main import main
from harness.run.verdict import judge_run

ORD = Kind.ORDER


def test_a_damaged_state_file_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "sut_orders.jsonl"
    path.write_text('{"order_id": "a", "status": "paid"}\nnot json\n')
    with pytest.raises(EvidenceError, match=r"sut_orders.jsonl:2"):
        read_sut(path, ORD)


def test_state_rows_without_the_id_column_say_what_to_select(tmp_path: Path) -> None:
    path = tmp_path / "sut_orders.jsonl"
    path.write_text('{"id": "a", "status": "succeeded"}\n')
    with pytest.raises(EvidenceError, match=r"order_id.*state SQL"):
        read_sut(path, ORD)


def test_amounts_read_as_text_blank_lines_and_duplicates_are_kept(tmp_path: Path) -> None:
    sut = tmp_path / "sut.jsonl"
    sut.write_text('{"order_id": "a", "status": "succeeded", "amount_minor": "101"}\n\n')
    ledger = tmp_path / "ledger.ndjson"
    ledger.write_text(lines([record(ORD, "a", "succeeded", 101), record(ORD, "a", "succeeded", 101, n=1)]))
    assert read_sut(sut, ORD)["a"][0].amount_minor == 101
    assert [r.provider_id for r in read_provider(ledger, ORD)["a"]] == ["po_a_0", "po_a_1"]
    files = EvidenceFiles(history=(), sut={ORD: sut, Kind.PAYOUT: tmp_path / "none"},
                          provider={ORD: ledger, Kind.PAYOUT: tmp_path / "none"})
    evidence = read_evidence(files)
    assert len(evidence.judged) == 1 and evidence.judged[0].client is None


def test_a_forged_journal_explains_a_record_nobody_submitted(tmp_path: Path) -> None:
    forged = [{"object": "order", "id": "ghost", "claim": "succeeded", "kind": "unknown_id", "sent_at": 1.0,
               "http_status": 200}]
    run_dir = build_run(tmp_path, op("order", "o1", "ok"),
                        sut={ORD: [sut_row(ORD, "o1", "succeeded"), sut_row(ORD, "ghost", "succeeded", 7)]},
                        provider={ORD: [record(ORD, "o1", "succeeded")]}, forged=forged)
    result = judge_run(run_dir)[0]
    assert result.invariants[Category.FORGED_ACCEPTED].count == 1
    assert result.invariants[Category.UNEXPECTED].count == 0


def test_check_writes_the_verdict_atomically_and_refuses_what_is_not_a_run_directory(tmp_path: Path) -> None:
    run_dir = build_run(tmp_path, op("order", "o1", "ok"), sut={ORD: [sut_row(ORD, "o1", "succeeded")]},
                        provider={ORD: [record(ORD, "o1", "succeeded")]})
    assert main(["check", str(run_dir.path)]) == 0
    assert json.loads(run_dir.verdict.read_text())["verdict"] == "pass"
    assert not list(run_dir.path.glob("*.tmp"))
    assert main(["check", str(tmp_path / "nowhere")]) == 2
