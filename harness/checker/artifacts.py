"""The checker's edge: read a run directory into ``CheckInputs``, write ``verdict.json``.

Files read (docs/architecture.md, "Run directory"): ``history/*.jsonl``,
``state/sut_orders.jsonl``, ``state/sut_payouts.jsonl``, ``state/provider_orders.ndjson``,
``state/provider_payouts.ndjson``, ``forged.jsonl`` (optional), ``consistency.jsonl``
(optional) and ``state/complete.json``, the marker the orchestrator writes after every final
read succeeded. Without the marker the verdict is ``unknown``.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from harness._exceptions import UsageError
from harness.checker._gcpause import paused_gc
from harness.checker._jsonlines import rows
from harness.checker.history_files import HistoryRead
from harness.checker.inputs import CheckInputs, ForgedClaim, Key, ProviderRecord, SutRecord
from harness.checker.model import CheckResult, Kind

COMPLETE_MARKER = Path("state") / "complete.json"
# One shared str per status instead of a fresh copy in each of a million records.
_STATUS = {s: s for s in ("pending", "processing", "succeeded", "declined", "paid", "rejected", "failed")}


def _amount(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise UsageError(f"{where}: expected amount_minor to be a whole number, got {value!r}")


def _bad_row(path: Path, number: int, line: bytes, required: tuple[str, ...]) -> UsageError:
    """What is wrong with one line of a state file, said so that someone can fix it."""
    where = f"{path}:{number}"
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError:
        return UsageError(f"{where}: expected one JSON object per line, got {line[:80]!r}: "
                          "the artifact was damaged; restore it or rerun")
    if not isinstance(row, dict):
        return UsageError(f"{where}: expected a JSON object, got {type(row).__name__}")
    missing = [key for key in required if key not in row]
    return UsageError(f"{where}: expected the fields {list(required)}, got {sorted(row)} (missing {missing}): "
                      "for the SUT state, make the target's state SQL select them")


def read_sut(path: Path, kind: Kind) -> dict[str, SutRecord]:
    """``state/sut_<kind>s.jsonl``: one row per SUT record, keyed by the contract's id column."""
    found: dict[str, SutRecord] = {}
    if not path.exists():
        return found
    required = (kind.sut_key, "status")
    key = kind.sut_key
    # The per-row loop of a million-row state: locals and subscripts, and a NamedTuple built
    # without its Python-level constructor.
    make, loads, statuses = tuple.__new__, orjson.loads, _STATUS
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                row = loads(line)
                op_id, status = row[key], row["status"]
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                if not line.strip():
                    continue
                raise _bad_row(path, number, line, required) from exc
            amount = row.get("amount_minor")
            if type(amount) is not int:
                amount = _amount(amount, f"{path}:{number}")
            found[op_id if type(op_id) is str else str(op_id)] = make(
                SutRecord, (statuses.get(status) or str(status), amount))
    return found


def read_provider(path: Path, kind: Kind) -> dict[str, list[ProviderRecord]]:
    """The provider's ledger, every record (duplicates included), keyed by the merchant's id."""
    records: dict[str, list[ProviderRecord]] = {}
    if not path.exists():
        return records
    key = kind.merchant_key
    required = (key, "id", "status", "amount_minor")
    make, loads, statuses = tuple.__new__, orjson.loads, _STATUS
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                row = loads(line)
                merchant, status, amount = row[key], row["status"], row["amount_minor"]
                record = make(ProviderRecord, (row["id"], statuses.get(status) or str(status), amount))
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                if not line.strip():
                    continue
                raise _bad_row(path, number, line, required) from exc
            if type(amount) is not int:
                record = record._replace(amount_minor=_amount(amount, f"{path}:{number}"))
            if type(merchant) is not str:
                merchant = str(merchant)
            found = records.get(merchant)
            if found is None:
                records[merchant] = [record]
            else:
                found.append(record)
    return records


def read_forged(path: Path) -> dict[Key, list[ForgedClaim]]:
    """``forged.jsonl`` of the forged_callbacks fault; absent when the fault did not run."""
    claims: dict[Key, list[ForgedClaim]] = {}
    if not path.exists():
        return claims
    for row in rows(path):
        try:
            kind = Kind(str(row.get("object")))
        except ValueError as exc:
            raise UsageError(f"{path}: expected object 'order' or 'payout', got {row.get('object')!r}") from exc
        status = row.get("http_status")
        claim = ForgedClaim(str(row.get("claim")), str(row.get("kind")), status if isinstance(status, int) else None)
        claims.setdefault((kind, str(row.get("id"))), []).append(claim)
    return claims


def read_recovery_seconds(path: Path) -> float | None:
    """Time to consistency: ``t`` of the first sample with nothing pending, None if never."""
    if not path.exists():
        return None
    for row in rows(path):
        if row.get("pending") == 0:
            return float(row.get("t") or 0.0)
    return None


def load_inputs(run_dir: Path) -> CheckInputs:
    """Read a run directory into ``CheckInputs``; a missing final-read marker makes them incomplete."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"expected a run directory, got {run_dir} (not a directory)")
    if not (run_dir / "history").is_dir():
        raise UsageError(f"expected {run_dir}/history/ with the client history: is {run_dir} a run directory?")
    state = run_dir / "state"
    complete = (run_dir / COMPLETE_MARKER).exists()
    reason = None
    if not complete:
        reason = (f"{run_dir / COMPLETE_MARKER} is missing: the final reads of the SUT state and the provider "
                  "ledger did not complete, so nothing can be proven")
    # A large history is summarised by a second process while this one reads the state.
    history = HistoryRead(run_dir / "history")
    try:
        with paused_gc():
            sut = {kind: read_sut(state / f"sut_{kind.value}s.jsonl", kind) for kind in Kind}
            provider = {kind: read_provider(state / f"provider_{kind.value}s.ndjson", kind) for kind in Kind}
            return CheckInputs(
                history=history.result(),
                sut=sut,
                provider=provider,
                forged=read_forged(run_dir / "forged.jsonl"),
                final_reads_complete=complete,
                incomplete_reason=reason,
                recovery_seconds=read_recovery_seconds(run_dir / "consistency.jsonl"),
            )
    finally:
        history.close()


def write_verdict(run_dir: Path, result: CheckResult) -> Path:
    """Write ``verdict.json`` atomically (a reader never sees half a verdict); return its path."""
    path = Path(run_dir) / "verdict.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    os.replace(tmp, path)
    return path
