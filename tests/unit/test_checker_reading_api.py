"""The reader's public face: which reader the package hands out, and what it shares with the reference."""

from __future__ import annotations

from pathlib import Path

import harness.checker
from harness.checker import evidence, reading, reading_duckdb
from harness.checker.model import Kind


def test_the_package_reads_evidence_as_runs_do_and_keeps_the_reference_at_hand() -> None:
    assert harness.checker.read_evidence is reading_duckdb.read_evidence
    assert callable(reading.read_evidence) and reading.read_evidence is not harness.checker.read_evidence


def test_money_is_added_by_one_public_definition_both_readers_use() -> None:
    assert not hasattr(reading, "_add_money")
    assert reading.add_money is evidence.add_money is reading_duckdb.add_money


def test_a_state_file_is_named_once_however_many_rows_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "sut_orders.jsonl"
    path.write_text("".join(f'{{"order_id": "o{n}", "status": "succeeded", "amount_minor": 5}}\n' for n in range(50)))
    calls: list[Path] = []

    def name(file: Path) -> str:
        calls.append(file)
        return file.name

    assert len(reading.read_sut(path, Kind.ORDER, name)) == 50
    assert calls == [path]
