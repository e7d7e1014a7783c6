"""Inputs that once gave a wrong ``pass``: each must now give the verdict the evidence supports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rundir_builder import AMOUNT, build_run, op, record, sut_row

from harness._exceptions import ExitCode
from harness.checker.checkers import check_safe
from harness.checker.integrity import write_manifest
from harness.checker.model import Category, Kind, RunVerdict, Verdict
from harness.cli.main import main
from harness.run.verdict import RunFacts, judge_run
from harness.rundir import RunDir

ORD, PAY = Kind.ORDER, Kind.PAYOUT


def clean_run(tmp_path: Path, *, orders: int = 3, payouts: int = 2, **extra: Any) -> RunDir:
    """Orders and payouts acknowledged, charged or paid, and recorded: a run that passes."""
    events = [e for n in range(orders) for e in op("order", f"o{n}", "ok", time=n * 10)]
    events += [e for n in range(payouts) for e in op("payout", f"p{n}", "ok", time=n * 10)]
    sut = {ORD: [sut_row(ORD, f"o{n}", "succeeded", currency="EUR") for n in range(orders)],
           PAY: [sut_row(PAY, f"p{n}", "paid", currency="EUR") for n in range(payouts)]}
    provider = {ORD: [record(ORD, f"o{n}", "succeeded") for n in range(orders)],
                PAY: [record(PAY, f"p{n}", "paid") for n in range(payouts)]}
    return build_run(tmp_path, events, sut=extra.pop("sut", sut), provider=extra.pop("provider", provider), **extra)


def verdict_of(run_dir: RunDir) -> RunVerdict:
    return judge_run(run_dir)[0]


def counts(result: RunVerdict) -> dict[str, int]:
    return {c.value: r.count for c, r in result.invariants.items() if r.count}


def test_the_clean_run_passes(tmp_path: Path) -> None:
    result = verdict_of(clean_run(tmp_path))
    assert (result.verdict, result.exit_code, counts(result)) == (Verdict.PASS, ExitCode.PASS, {})
    assert result.money[(ORD, "EUR")].conserved and result.money[(PAY, "EUR")].conserved


# 1. Every SUT row counts.

@pytest.mark.parametrize(("rows", "expected"), [
    ([("succeeded", AMOUNT), ("pending", AMOUNT)], {"duplicated": 1, "unreturned": 1}),
    ([("succeeded", AMOUNT), ("succeeded", AMOUNT)], {"duplicated": 1}),
    ([("succeeded", AMOUNT), ("succeeded", 7)], {"duplicated": 1, "amount_mismatch": 1}),
    ([("succeeded", AMOUNT), ("failed", AMOUNT)], {"duplicated": 1, "divergent": 1}),
])
def test_several_sut_rows_for_one_id_are_a_violation_whatever_their_order(
        tmp_path: Path, rows: list[tuple[str, int]], expected: dict[str, int]) -> None:
    verdicts = []
    for n, ordering in enumerate((rows, rows[::-1])):
        sut = {ORD: [sut_row(ORD, "o0", status, amount) for status, amount in ordering]
               + [sut_row(ORD, f"o{k}", "succeeded") for k in (1, 2)]}
        provider = {ORD: [record(ORD, f"o{k}", "succeeded") for k in range(3)]}
        result = verdict_of(clean_run(tmp_path / str(n), payouts=0, sut=sut, provider=provider))
        assert result.verdict is Verdict.FAIL and counts(result) == expected
        example = result.invariants[Category.DUPLICATED].examples[0]
        assert example["where"] == "sut" and len(example["sut"]) == 2
        verdicts.append({c: (r.count, [e["why"] for e in r.examples]) for c, r in result.invariants.items()})
    assert verdicts[0] == verdicts[1]


def test_two_succeeded_sut_rows_count_the_money_twice(tmp_path: Path) -> None:
    sut = {ORD: [sut_row(ORD, "o0", "succeeded"), sut_row(ORD, "o0", "succeeded")]}
    result = verdict_of(clean_run(tmp_path, orders=1, payouts=0, sut=sut,
                                  provider={ORD: [record(ORD, "o0", "succeeded")]}))
    assert result.money[(ORD, "EUR")].sut_minor == 2 * AMOUNT and result.money[(ORD, "EUR")].conserved is False


# 2. Evidence that does not match its own marker.

def _rewrite(path: Path, change: Any) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(change(lines)))


@pytest.mark.parametrize("damage", ["removed", "emptied", "short", "extra", "altered"])
def test_state_that_differs_from_the_manifest_is_unknown_naming_the_file(tmp_path: Path, damage: str) -> None:
    run_dir = clean_run(tmp_path)
    path = run_dir.sut_state(ORD)
    if damage == "removed":
        path.unlink()
    elif damage == "emptied":
        path.write_text("")
    elif damage == "short":
        _rewrite(path, lambda lines: lines[1:])
    elif damage == "extra":
        _rewrite(path, lambda lines: [*lines, lines[0]])
    else:
        _rewrite(path, lambda lines: [lines[0].replace('"succeeded"', '"declined"'), *lines[1:]])
    result = verdict_of(run_dir)
    assert (result.verdict, result.exit_code) == (Verdict.UNKNOWN, ExitCode.INFRASTRUCTURE)
    assert "state/sut_orders.jsonl" in (result.reason or "")
    assert counts(result) == {}, "the damaged flow is not judged"


def test_a_violation_in_intact_evidence_still_fails_beside_damaged_evidence(tmp_path: Path) -> None:
    sut = {ORD: [sut_row(ORD, f"o{n}", "succeeded") for n in range(3)], PAY: [sut_row(PAY, "p0", "paid")]}  # p1 lost
    run_dir = clean_run(tmp_path, sut=sut)
    _rewrite(run_dir.provider_ledger(ORD), lambda lines: lines[1:])
    result = verdict_of(run_dir)
    assert result.verdict is Verdict.FAIL and counts(result) == {"lost": 1}
    assert result.checkers["evidence"].valid is Verdict.UNKNOWN


def test_without_the_manifest_nothing_is_proven(tmp_path: Path) -> None:
    result = verdict_of(clean_run(tmp_path, complete=False))
    assert result.verdict is Verdict.UNKNOWN and "complete.json" in (result.reason or "")


def test_a_history_file_shorter_than_the_manifest_says_is_unknown(tmp_path: Path) -> None:
    run_dir = clean_run(tmp_path)
    _rewrite(run_dir.history / "1.jsonl", lambda lines: lines[:-2])
    result = verdict_of(run_dir)
    assert result.verdict is Verdict.UNKNOWN and "history/1.jsonl" in (result.reason or "")


# 3. The fault journal is a checker: `orderquake check` sees what the run saw.

def test_a_fault_that_failed_to_apply_is_unknown_for_the_run_and_for_check(tmp_path: Path) -> None:
    journal = [{"name": "f1-latency", "kind": "latency", "params": {}, "phase": "start", "at": 1.0, "t": 1.0,
                "error": "ToxiproxyError: refused"},
               {"name": "f1-latency", "kind": "latency", "params": {}, "phase": "heal", "at": 2.0, "t": 2.0,
                "error": None}]
    run_dir = clean_run(tmp_path, faults=journal)
    result = verdict_of(run_dir)
    assert (result.verdict, result.exit_code) == (Verdict.UNKNOWN, ExitCode.INFRASTRUCTURE)
    assert result.fault_errors == ("f1-latency start: ToxiproxyError: refused",)
    assert main(["check", str(run_dir.path)]) == 4
    written = json.loads(run_dir.verdict.read_text())
    assert written["fault_errors"] and "refused" in written["reason"]


def test_a_fault_never_healed_or_never_started_is_unknown(tmp_path: Path) -> None:
    scenario = ("name: unit\nseed: 4\nduration: 10s\nload: {users: 1, mix: {order: 1}}\n"
                "faults: [{at: 1s, for: 2s, kind: db_outage}]\n")
    started = [{"name": "f1-db_outage", "kind": "db_outage", "params": {}, "phase": "start", "at": 1.0, "t": 1.0,
                "error": None}]
    never = verdict_of(clean_run(tmp_path / "a", scenario=scenario))
    assert never.verdict is Verdict.UNKNOWN and "never started" in (never.reason or "")
    unhealed = verdict_of(clean_run(tmp_path / "b", scenario=scenario, faults=started))
    assert unhealed.verdict is Verdict.UNKNOWN and "never healed" in (unhealed.reason or "")


def test_an_interrupted_run_stays_interrupted_when_checked_again(tmp_path: Path) -> None:
    run_dir = clean_run(tmp_path, facts=RunFacts(interrupted=True, error="SIGINT", load_seconds=1.0))
    assert verdict_of(run_dir).exit_code is ExitCode.INTERRUPTED
    assert main(["check", str(run_dir.path)]) == 130


# 4. Currency.

def test_a_currency_that_differs_is_an_amount_mismatch_and_money_is_kept_per_currency(tmp_path: Path) -> None:
    provider = {ORD: [record(ORD, "o0", "succeeded", currency="JPY"),
                      *(record(ORD, f"o{n}", "succeeded") for n in (1, 2))],
                PAY: [record(PAY, f"p{n}", "paid") for n in range(2)]}
    result = verdict_of(clean_run(tmp_path, provider=provider))
    assert result.verdict is Verdict.FAIL and counts(result) == {"amount_mismatch": 1}
    assert "currency" in result.invariants[Category.AMOUNT_MISMATCH].examples[0]["why"]
    assert result.money[(ORD, "JPY")].provider_minor == AMOUNT
    assert result.money[(ORD, "EUR")].conserved is False


def test_a_sut_currency_column_is_compared_too(tmp_path: Path) -> None:
    sut = {ORD: [sut_row(ORD, "o0", "succeeded", currency="USD")], PAY: []}
    result = verdict_of(clean_run(tmp_path, orders=1, payouts=0, sut=sut,
                                  provider={ORD: [record(ORD, "o0", "succeeded")]}))
    assert counts(result) == {"amount_mismatch": 1}


# 5. and 6. History lines.

def test_a_damaged_line_in_the_middle_of_a_history_file_is_unknown_naming_file_and_line(tmp_path: Path) -> None:
    run_dir = clean_run(tmp_path)
    _rewrite(run_dir.history / "1.jsonl", lambda lines: [lines[0], "{not json\n", *lines[1:]])
    result = verdict_of(run_dir)
    assert result.verdict is Verdict.UNKNOWN
    assert "1.jsonl:2" in (result.reason or "")


def test_a_line_removed_and_replaced_by_garbage_hides_no_lost_order(tmp_path: Path) -> None:
    run_dir = clean_run(tmp_path, sut={ORD: [sut_row(ORD, "o1", "succeeded"), sut_row(ORD, "o2", "succeeded")],
                                       PAY: [sut_row(PAY, f"p{n}", "paid") for n in range(2)]})
    # o0's row is gone and its ok line damaged (same line count): its charge still shows, as orphaned.
    _rewrite(run_dir.history / "1.jsonl", lambda lines: [lines[0], '{"type": "ok", "op"\n', *lines[2:]])
    result = verdict_of(run_dir)
    assert result.checkers["history"].valid is Verdict.UNKNOWN
    assert result.verdict is Verdict.FAIL and counts(result) == {"orphaned": 1}


def test_a_torn_last_line_is_ignored_at_every_cut(tmp_path: Path) -> None:
    reference = verdict_of(clean_run(tmp_path / "ref"))
    last = json.dumps(op("order", "o9", "ok")[0])
    for cut in range(1, len(last)):
        run_dir = clean_run(tmp_path / str(cut))
        with (run_dir.history / "1.jsonl").open("a") as handle:
            handle.write(last[:cut])
        write_manifest(run_dir)
        result = verdict_of(run_dir)
        assert (result.verdict, counts(result), result.counts) == (reference.verdict, {}, reference.counts), cut
        assert result.torn_lines == ("history/1.jsonl:11",)


def test_key_order_spacing_and_number_form_do_not_change_the_verdict(tmp_path: Path) -> None:
    run_dir = clean_run(tmp_path)
    before = verdict_of(run_dir)

    def reformat(lines: list[str]) -> list[str]:
        out = []
        for line in lines:
            event = json.loads(line)
            if event.get("value", {}).get("amount_minor") is not None:
                event["value"]["amount_minor"] = float(event["value"]["amount_minor"])
            out.append(json.dumps(dict(reversed(event.items())), indent=None, separators=(" , ", " : ")) + "\n")
        return out

    _rewrite(run_dir.history / "1.jsonl", reformat)
    after = verdict_of(run_dir)
    assert (after.verdict, after.counts, counts(after)) == (before.verdict, before.counts, counts(before))
    _rewrite(run_dir.history / "1.jsonl", lambda lines: [lines[0].replace("1000.0", "1001"), *lines[1:]])
    assert counts(verdict_of(run_dir)) == {"amount_mismatch": 1}


# 7. A vacuous run.

def test_a_run_that_acknowledged_nothing_is_unknown(tmp_path: Path) -> None:
    empty = verdict_of(build_run(tmp_path / "a"))
    assert (empty.verdict, empty.exit_code) == (Verdict.UNKNOWN, ExitCode.INFRASTRUCTURE)
    assert "checked nothing" in (empty.reason or "")
    failed_only = verdict_of(build_run(tmp_path / "b", op("order", "o1", "fail")))
    assert failed_only.verdict is Verdict.UNKNOWN


def test_fewer_acknowledged_operations_than_min_ops_is_unknown(tmp_path: Path) -> None:
    scenario = "name: unit\nseed: 4\nduration: 10s\nload: {users: 1, mix: {order: 1}}\nmin_ops: 10\n"
    result = verdict_of(clean_run(tmp_path, scenario=scenario))
    assert result.verdict is Verdict.UNKNOWN and "min_ops 10" in (result.reason or "")


# Orphans in flight, and the composition itself.

def test_a_provider_record_still_processing_with_no_sut_row_is_orphaned(tmp_path: Path) -> None:
    events = op("order", "o0", "ok") + op("order", "o1", "info")
    result = verdict_of(build_run(tmp_path, events, sut={ORD: [sut_row(ORD, "o0", "succeeded")]},
                                  provider={ORD: [record(ORD, "o0", "succeeded"), record(ORD, "o1", "processing")]}))
    assert counts(result) == {"orphaned": 1}


def test_a_checker_that_raises_is_unknown_never_pass() -> None:
    def broken() -> int:
        raise RuntimeError("boom")

    failed, value = check_safe("invariants", broken, 0)
    assert failed is not None and failed.valid is Verdict.UNKNOWN and "boom" in (failed.reason or "")
    assert value == 0


def test_a_damaged_state_row_is_unknown_with_file_and_line(tmp_path: Path) -> None:
    run_dir = clean_run(tmp_path)
    run_dir.sut_state(ORD).write_text("{not json\n")
    write_manifest(run_dir)
    result = verdict_of(run_dir)
    assert result.verdict is Verdict.UNKNOWN and "sut_orders.jsonl:1" in (result.reason or "")


def test_an_unreadable_payout_state_leaves_the_orders_judged(tmp_path: Path) -> None:
    sut = {ORD: [sut_row(ORD, f"o{n}", "succeeded") for n in range(3)] + [sut_row(ORD, "o0", "succeeded")],
           PAY: [{"payout_id": "p0", "status": "paid", "amount_minor": "abc"}, sut_row(PAY, "p1", "paid")]}
    result = verdict_of(clean_run(tmp_path, sut=sut))
    assert result.verdict is Verdict.FAIL and counts(result) == {"duplicated": 1}
    assert "payouts could not be read: state/sut_payouts.jsonl:1" in (result.reason or "")


@pytest.mark.parametrize("amount", ["--5", "\u00b2", "5.5", ""])
def test_an_amount_that_is_no_whole_number_names_file_and_line(tmp_path: Path, amount: str) -> None:
    sut = {ORD: [{"order_id": "o0", "status": "succeeded", "amount_minor": amount}], PAY: []}
    result = verdict_of(clean_run(tmp_path, orders=1, payouts=0, sut=sut))
    assert result.verdict is Verdict.UNKNOWN
    assert "state/sut_orders.jsonl:1: expected amount_minor to be a whole number" in (result.reason or "")


def test_reasons_name_files_inside_the_run_directory_so_a_moved_directory_reads_the_same(tmp_path: Path) -> None:
    import shutil

    run_dir = clean_run(tmp_path / "a")
    with (run_dir.history / "1.jsonl").open("a") as handle:
        handle.write('{"type": "ok", "op"')
    write_manifest(run_dir)
    _rewrite(run_dir.history / "1.jsonl", lambda lines: [lines[0], "oops\n", *lines[1:]])
    moved = tmp_path / "b"
    shutil.copytree(run_dir.path, moved)
    first, second = verdict_of(run_dir), verdict_of(RunDir(moved))
    assert (first.reason, first.torn_lines) == (second.reason, second.torn_lines)
    assert str(tmp_path) not in (first.reason or "") + "".join(first.torn_lines)
