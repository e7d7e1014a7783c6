"""Tamper suite: one real run, then ``orderquake check`` on altered copies of its run directory.

Each alteration says what it stands for: a damaged artifact (the file no longer matches the
final reads' manifest, ``state/complete.json``) must be ``unknown`` (exit 4) naming the file; a
SUT or provider that really returned other data (the manifest recomputed with ``write_manifest``)
must be judged on that data; a history written in another layout (key order, spacing, number
form) is the same evidence; a torn last history line is ignored and reported.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.checker.integrity import write_manifest
from harness.cli.main import main
from harness.rundir import RunDir

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]

# No reads in the mix: then the last line of a history file is a write's completion (see the torn-line tests).
SCENARIO = """
name: tamper-base
description: orders and payouts with resubmissions; the provider link slowed for 4 s, then healed
seed: 23
duration: 14s
load: {users: 10, spawn_rate: 10, mix: {order: 6, payout: 3}, duplicates: 0.1}
faults:
  - {at: 4s, for: 4s, kind: latency, link: provider, latency: 300ms}
recovery: {deadline: 30s}
"""

SUT = {"order": "state/sut_orders.jsonl", "payout": "state/sut_payouts.jsonl"}
PROVIDER = {"order": "state/provider_orders.ndjson", "payout": "state/provider_payouts.ndjson"}
STATE_FILES = [*SUT.values(), *PROVIDER.values()]
SUCCESS = {"order": "succeeded", "payout": "paid"}
VIOLATIONS = ("lost", "orphaned", "unreturned", "divergent", "duplicated", "amount_mismatch", "unexpected",
              "forged_accepted")


def _without_times(verdict: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in verdict.items() if k not in ("finished", "duration_seconds")}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One passing run of the reference service, shared by every test (each alters its own copy)."""
    base = tmp_path_factory.mktemp("tamper")
    scenario = base / "scenario.yaml"
    scenario.write_text(SCENARIO)
    out = base / "runs"
    result = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--out", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["verdict"] == "pass" and verdict["exit_code"] == 0
    ok = Counter(e["op"] for path in sorted((run_dir / "history").glob("*.jsonl"))
                 for e in _read_jsonl(path) if e["type"] == "ok")
    assert ok["order"] > 100 and ok["payout"] > 50, ok
    faults = _read_jsonl(run_dir / "faults.jsonl")
    assert [(f["name"], f["phase"], f["error"]) for f in faults] == [("f1-latency", "start", None),
                                                                      ("f1-latency", "heal", None)]
    return run_dir


@pytest.fixture(scope="module")
def original(run: Path) -> dict[str, Any]:
    """The verdict the run itself wrote."""
    return json.loads((run / "verdict.json").read_text())


@pytest.fixture
def copy(run: Path, tmp_path: Path) -> Path:
    """A copy of the run directory to alter. ``stage/`` (the stage's databases, tens of MB) is no evidence."""
    target = tmp_path / run.name
    shutil.copytree(run, target, ignore=lambda folder, _: {"stage"} if Path(folder) == run else set())
    return target


def _check(path: Path) -> tuple[int, dict[str, Any]]:
    """``orderquake check`` in process: its exit code and the verdict.json it rewrote."""
    code = main(["check", str(path)])
    verdict = json.loads((path / "verdict.json").read_text())
    assert verdict["exit_code"] == code
    return code, verdict


def _violations(verdict: dict[str, Any]) -> dict[str, int]:
    return {name: verdict["invariants"][name]["count"] for name in VIOLATIONS if verdict["invariants"][name]["count"]}


def _first(path: Path, status: str) -> tuple[int, dict[str, Any]]:
    """The first record of a state file in ``status``, and its index."""
    records = _read_jsonl(path)
    return next((i, r) for i, r in enumerate(records) if r["status"] == status)


def _assert_unknown_naming(path: Path, *fragments: str) -> dict[str, Any]:
    code, verdict = _check(path)
    assert (verdict["verdict"], code) == ("unknown", 4), verdict["reason"]
    for fragment in fragments:
        assert fragment in verdict["reason"], verdict["reason"]
    return verdict


def test_untouched_copy_checks_to_the_same_verdict(copy: Path, original: dict[str, Any]) -> None:
    code, verdict = _check(copy)
    assert code == 0
    assert _without_times(verdict) == _without_times(original)


# --- the SUT's state: damaged (manifest kept) or really returned (manifest recomputed) ----------------------


@pytest.mark.parametrize("kind", ["order", "payout"])
def test_duplicated_sut_row_damages_the_file(copy: Path, kind: str) -> None:
    path = copy / SUT[kind]
    records = len(_read_jsonl(path))
    with path.open("a") as handle:
        handle.write(path.read_text().splitlines()[0] + "\n")
    _assert_unknown_naming(copy, f"{SUT[kind]}: {records + 1} records, the manifest says {records}")


@pytest.mark.parametrize("kind", ["order", "payout"])
def test_duplicated_sut_row_returned_by_the_sut_is_duplicated(copy: Path, kind: str) -> None:
    path = copy / SUT[kind]
    _, row = _first(path, SUCCESS[kind])
    with path.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    write_manifest(RunDir(copy))
    code, verdict = _check(copy)
    assert (verdict["verdict"], code) == ("fail", 1)
    assert _violations(verdict) == {"duplicated": 1}
    (example,) = verdict["invariants"]["duplicated"]["examples"]
    assert example["where"] == "sut" and example["id"] == row[f"{kind}_id"] and len(example["sut"]) == 2
    # The SUT now records the money twice.
    money = verdict["money"][f"{kind}s"]["EUR"]
    assert (money["conserved"], money["difference_minor"]) == (False, row["amount_minor"])


@pytest.mark.parametrize("kind", ["order", "payout"])
def test_row_returned_pending_is_unreturned(copy: Path, kind: str) -> None:
    path = copy / SUT[kind]
    rows = _read_jsonl(path)
    index, row = _first(path, SUCCESS[kind])
    rows[index] = {**row, "status": "pending"}
    _write_jsonl(path, rows)
    write_manifest(RunDir(copy))
    code, verdict = _check(copy)
    assert (verdict["verdict"], code) == ("fail", 1)
    assert _violations(verdict) == {"unreturned": 1}
    assert verdict["invariants"]["unreturned"]["examples"][0]["id"] == row[f"{kind}_id"]
    assert verdict["money"][f"{kind}s"]["EUR"]["difference_minor"] == -row["amount_minor"]


@pytest.mark.parametrize("kind", ["order", "payout"])
def test_status_altered_in_the_file_is_unknown(copy: Path, kind: str) -> None:
    path = copy / SUT[kind]
    text = path.read_text()
    success = f'"status": "{SUCCESS[kind]}"'
    assert success in text, text[:200]
    path.write_text(text.replace(success, '"status": "pending"', 1))
    _assert_unknown_naming(copy, f"{SUT[kind]}: altered")


# --- state files removed, cut short, emptied --------------------------------------------------------------


def _remove(path: Path) -> str:
    path.unlink()
    return "missing"


def _cut_short(path: Path) -> str:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    return f"{len(lines) - 1} records, the manifest says {len(lines)}"


def _empty(path: Path) -> str:
    records = len(path.read_text().splitlines())
    path.write_text("")
    return f"0 records, the manifest says {records}"


@pytest.mark.parametrize("alter", [_remove, _cut_short, _empty], ids=["removed", "cut-short", "emptied"])
@pytest.mark.parametrize("name", STATE_FILES)
def test_damaged_state_file_is_unknown_naming_it(copy: Path, name: str, alter: Callable[[Path], str]) -> None:
    what = alter(copy / name)
    _assert_unknown_naming(copy, f"{name}: {what}")


def test_manifest_removed_is_unknown(copy: Path) -> None:
    (copy / "state" / "complete.json").unlink()
    _assert_unknown_naming(copy, "state/complete.json: missing")


def test_run_json_removed_is_unknown(copy: Path) -> None:
    (copy / "run.json").unlink()
    _assert_unknown_naming(copy, "run.json is missing")


def test_every_file_emptied_is_unknown(copy: Path) -> None:
    for path in copy.rglob("*"):
        if path.is_file():
            path.write_bytes(b"")
    _assert_unknown_naming(copy, "state/complete.json")


def test_failed_fault_in_the_journal_is_unknown(copy: Path) -> None:
    failed = {"name": "f9-latency", "kind": "latency", "params": {}, "phase": "start", "at": 1, "t": 1,
              "error": "ToxiproxyError: refused"}
    with (copy / "faults.jsonl").open("a") as handle:
        handle.write(json.dumps(failed) + "\n")
        handle.write(json.dumps({**failed, "phase": "heal", "at": 2, "t": 2, "error": None}) + "\n")
    verdict = _assert_unknown_naming(copy, "f9-latency start: ToxiproxyError: refused")
    assert verdict["fault_errors"] == ["f9-latency start: ToxiproxyError: refused"]


# --- the history ------------------------------------------------------------------------------------------


def _history(copy: Path) -> list[Path]:
    files = sorted((copy / "history").glob("*.jsonl"))
    assert files
    return files


def test_damaged_history_line_is_unknown_naming_file_and_line(copy: Path) -> None:
    path = _history(copy)[0]
    lines = path.read_text().splitlines(keepends=True)
    middle = len(lines) // 2
    lines[middle] = '{"type": "ok", "op\n'
    path.write_text("".join(lines))
    _assert_unknown_naming(copy, f"{path.relative_to(copy).as_posix()}:{middle + 1}: expected one JSON object per line")


def _as_written(events: list[dict[str, Any]]) -> int:
    return len(events) - 1


def _once_submitted(events: list[dict[str, Any]]) -> int:
    """The latest completion of an id that got exactly one ok, so that tearing it makes the id recovered."""
    oks = Counter(e["id"] for e in events if e["type"] == "ok")
    return max(i for i, e in enumerate(events) if e["type"] == "ok" and e["op"] in SUT and oks[e["id"]] == 1)


@pytest.mark.parametrize("last", [_as_written, _once_submitted], ids=["as-written", "once-submitted-last"])
@pytest.mark.parametrize("keep", [lambda n: 1, lambda n: n // 3, lambda n: n // 2, lambda n: n - 1],
                         ids=["1-char", "a-third", "half", "all-but-one"])
def test_torn_last_line_is_ignored_and_reported(copy: Path, original: dict[str, Any], keep: Callable[[int], int],
                                                last: Callable[[list[dict[str, Any]]], int]) -> None:
    torn, recovered = [], []
    for path in _history(copy):
        lines = path.read_text().splitlines()
        events = [json.loads(line) for line in lines]
        # once-submitted-last moves that completion to the end of the file (after its invoke, as the writer
        # could have flushed it): the count of records the manifest holds is unchanged.
        index = last(events)
        lines.append(lines.pop(index))
        event = events[index]
        # The load stops after its requests complete, and it made no reads: its last event is a write's completion.
        assert event["type"] == "ok" and event["op"] in SUT, event
        # Without that completion, that submission's outcome is unknown (info). If it was the id's only ok, the
        # id was never acknowledged and the SUT holds it: recovered. If another submission of the same id got
        # its ok, the id is still acknowledged and clean.
        if sum(1 for e in events if e["type"] == "ok" and e["id"] == event["id"]) == 1:
            recovered.append(event["id"])
        path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:keep(len(lines[-1]))])
        torn.append(f"{path.relative_to(copy).as_posix()}:{len(lines)}")  # named inside the run directory
    if last is _once_submitted:
        assert len(recovered) == len(torn)
    code, verdict = _check(copy)
    assert (verdict["verdict"], code) == ("pass", 0), verdict["reason"]
    assert verdict["torn_lines"] == torn
    counts = original["counts"]
    assert verdict["counts"] == {**counts, "ok": counts["ok"] - len(torn), "info": counts["info"] + len(torn)}
    assert verdict["invariants"]["recovered"]["count"] == len(recovered)
    assert sorted(e["id"] for e in verdict["invariants"]["recovered"]["examples"]) == sorted(recovered)
    assert _violations(verdict) == {}


def test_last_line_without_newline_is_an_event(copy: Path, original: dict[str, Any]) -> None:
    for path in _history(copy):
        path.write_text(path.read_text().removesuffix("\n"))
    code, verdict = _check(copy)
    assert (verdict["verdict"], code) == ("pass", 0), verdict["reason"]
    assert verdict["torn_lines"] == []
    assert verdict["counts"] == original["counts"]


def _relayout(copy: Path, change: Callable[[dict[str, Any]], None] = lambda event: None) -> None:
    """Every history line written again: keys shuffled, spaces around separators, amounts as floats."""
    rng = random.Random(7)

    def shuffled(mapping: dict[str, Any]) -> dict[str, Any]:
        keys = list(mapping)
        rng.shuffle(keys)
        return {key: mapping[key] for key in keys}

    for path in _history(copy):
        out = []
        for line in path.read_text().splitlines():
            event = json.loads(line)
            value = event.get("value") or {}
            if isinstance(value.get("amount_minor"), int):
                value["amount_minor"] = float(value["amount_minor"])
            change(event)
            event["value"] = shuffled(value)
            out.append(json.dumps(shuffled(event), separators=(" ,  ", " : ")) + "\n")
        path.write_text("".join(out))


def test_history_in_another_layout_is_the_same_evidence(copy: Path, original: dict[str, Any]) -> None:
    _relayout(copy)
    first = _history(copy)[0].read_text().splitlines()[0]
    assert " : " in first and ".0" in first, first
    code, verdict = _check(copy)
    assert (verdict["verdict"], code) == ("pass", 0), verdict["reason"]
    for field in ("counts", "invariants", "money", "checkers", "torn_lines"):
        assert verdict[field] == original[field], field


def _single_invoke_order(copy: Path) -> str:
    """An order submitted once (no resubmission) that the SUT holds as succeeded."""
    invokes = Counter(e["id"] for path in _history(copy) for e in _read_jsonl(path)
                      if e["type"] == "invoke" and e["op"] == "order")
    return next(r["order_id"] for r in _read_jsonl(copy / SUT["order"])
                if r["status"] == "succeeded" and invokes[r["order_id"]] == 1)


@pytest.mark.parametrize("field,new", [("amount_minor", lambda amount: amount + 1.0), ("currency", lambda _: "JPY")],
                         ids=["amount", "currency"])
def test_history_in_another_layout_with_one_invoke_changed_is_amount_mismatch(
        copy: Path, field: str, new: Callable[[Any], Any]) -> None:
    victim = _single_invoke_order(copy)

    def change(event: dict[str, Any]) -> None:
        if event["type"] == "invoke" and event["op"] == "order" and event["id"] == victim:
            event["value"][field] = new(event["value"][field])

    _relayout(copy, change)
    code, verdict = _check(copy)
    assert (verdict["verdict"], code) == ("fail", 1)
    assert _violations(verdict) == {"amount_mismatch": 1}
    (example,) = verdict["invariants"]["amount_mismatch"]["examples"]
    assert example["id"] == victim
    assert verdict["checkers"]["money"]["valid"] == "pass"  # the SUT and the provider still agree


def test_provider_record_in_another_currency_is_amount_mismatch_and_money_not_conserved(copy: Path) -> None:
    path = copy / PROVIDER["order"]
    records = _read_jsonl(path)
    index, record = _first(path, "succeeded")
    records[index] = {**record, "currency": "JPY"}
    _write_jsonl(path, records)
    write_manifest(RunDir(copy))
    code, verdict = _check(copy)
    assert (verdict["verdict"], code) == ("fail", 1)
    assert _violations(verdict) == {"amount_mismatch": 1}
    assert verdict["invariants"]["amount_mismatch"]["examples"][0]["id"] == record["merchant_order_id"]
    money = verdict["money"]["orders"]
    amount = record["amount_minor"]
    # The provider moved that amount in JPY, the SUT recorded it in EUR: neither currency balances.
    assert (money["EUR"]["conserved"], money["EUR"]["difference_minor"]) == (False, amount)
    assert (money["JPY"]["provider_minor"], money["JPY"]["sut_minor"], money["JPY"]["conserved"]) == (amount, 0, False)
    assert verdict["money"]["payouts"]["EUR"]["conserved"] is True
