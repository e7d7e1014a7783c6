"""Reading a run's evidence files into ``Evidence`` (the meaning of each line: ``harness.checker.evidence``).

Every line is decoded as JSON by ``harness.load.history.decode``, so the result depends only
on the JSON values, never on key order, spacing or number form.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import orjson

from harness._exceptions import UsageError
from harness.checker.evidence import (
    WRITE_OPS,
    ClientSummary,
    Evidence,
    EvidenceFiles,
    ForgedClaim,
    HistoryDamage,
    IdEvidence,
    Key,
    MoneySums,
    ProviderRecord,
    SutRow,
    add_money,
    amount_value,
    is_clean,
    parse_history_line,
)
from harness.checker.model import Counts, Kind
from harness.load.history import decode, split_lines

_DIGITS = re.compile(r"-?[0-9]+")


class EvidenceError(UsageError):
    """A state or journal file that cannot be read as the run wrote it: the verdict is ``unknown``."""


class _Client:
    __slots__ = ("amounts", "currencies", "fail", "info", "invokes", "ok", "sources")

    def __init__(self) -> None:
        self.invokes = self.ok = self.fail = self.info = 0
        self.amounts: set[int | None] = set()
        self.currencies: set[str | None] = set()
        self.sources: set[int] = set()

    def summary(self) -> ClientSummary:
        return ClientSummary(self.invokes, self.ok, self.fail, self.info,
                             tuple(sorted(self.amounts, key=_none_first)),
                             tuple(sorted(self.currencies, key=_none_first)))


def _none_first(value: Any) -> tuple[bool, Any]:
    return (value is not None, value)


def _as_is(path: Path) -> str:
    return str(path)


def read_history(paths: Collection[Path], name: Callable[[Path], str] = _as_is
                 ) -> tuple[dict[Key, _Client], list[HistoryDamage], list[str], Counts]:
    clients: dict[Key, _Client] = {}
    damage: list[HistoryDamage] = []
    torn: list[str] = []
    totals = dict.fromkeys(("invoke", "ok", "fail", "info"), 0)
    for source, path in enumerate(paths):
        for number, line, unterminated in split_lines(path.read_bytes()):
            try:
                parsed = parse_history_line(decode(line))
            except ValueError:
                parsed = f"expected one JSON object per line, got {line[:80]!r}"
            if isinstance(parsed, str):
                if unterminated:
                    torn.append(f"{name(path)}:{number}")
                else:
                    damage.append(HistoryDamage(name(path), number, parsed))
                continue
            kind, op, op_id, amount, currency = parsed
            flow = WRITE_OPS.get(op)
            if flow is None:
                continue
            client = clients.get((flow, op_id))
            if client is None:
                client = clients[(flow, op_id)] = _Client()
            client.sources.add(source)
            if kind == "invoke":
                client.invokes += 1
                client.amounts.add(amount)
                client.currencies.add(currency)
                totals["invoke"] += 1
            else:
                setattr(client, kind, getattr(client, kind) + 1)
                totals[kind] += 1
    for (flow, op_id), client in clients.items():
        if client.ok + client.fail + client.info > client.invokes:
            damage.append(HistoryDamage(
                "history/", None, f"{flow.value} {op_id}: {client.ok + client.fail + client.info} completions "
                f"but {client.invokes} invokes (a completion needs its invoke)"))
    invokes = totals["invoke"]
    counts = Counts(attempted=invokes, ok=totals["ok"], fail=totals["fail"],
                    info=max(invokes - totals["ok"] - totals["fail"], 0),
                    ids=sum(1 for client in clients.values() if client.invokes))
    return clients, damage, torn, counts


def _rows(path: Path, name: Callable[[Path], str]) -> Iterator[tuple[str, dict[str, Any]]]:
    if not path.exists():
        return
    shown = name(path)
    for number, line, _ in split_lines(path.read_bytes()):
        if not line.strip():
            continue  # a state file may end in a blank line; it holds no record
        where = f"{shown}:{number}"
        try:
            row = decode(line)
        except ValueError:
            raise EvidenceError(f"{where}: expected one JSON object per line, got {line[:80]!r}: "
                                "the artifact was damaged; restore it or rerun") from None
        if type(row) is not dict:
            raise EvidenceError(f"{where}: expected a JSON object, got {type(row).__name__}")
        yield where, row


def _field(row: dict[str, Any], key: str, where: str, hint: str) -> Any:
    if key not in row:
        raise EvidenceError(f"{where}: expected the field {key!r}, got {sorted(row)}: {hint}")
    return row[key]


def _amount(row: dict[str, Any], where: str) -> int | None:
    value = row.get("amount_minor")
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)  # a bigint or numeric column read as text
    valid, amount = amount_value(value)
    if not valid:
        raise EvidenceError(f"{where}: expected amount_minor to be a whole number, got {value!r}")
    return amount


def _currency(row: dict[str, Any], where: str) -> str | None:
    value = row.get("currency")
    if value is not None and not isinstance(value, str):
        raise EvidenceError(f"{where}: expected currency to be a string, got {value!r}")
    return value


def read_sut(path: Path, kind: Kind, name: Callable[[Path], str] = _as_is) -> dict[str, list[SutRow]]:
    """Every SUT row, keyed by the contract's id column; several rows of one id are all kept."""
    found: dict[str, list[SutRow]] = {}
    hint = "make the target's state SQL select it"
    for where, row in _rows(path, name):
        op_id = _field(row, kind.sut_key, where, hint)
        status = _field(row, "status", where, hint)
        found.setdefault(str(op_id), []).append(SutRow(str(status), _amount(row, where), _currency(row, where)))
    return found


def read_provider(path: Path, kind: Kind, name: Callable[[Path], str] = _as_is
                  ) -> dict[str, list[ProviderRecord]]:
    """Every provider record (duplicates included), keyed by the merchant's id."""
    found: dict[str, list[ProviderRecord]] = {}
    hint = "was the ledger written by the mock provider?"
    for where, row in _rows(path, name):
        merchant = _field(row, kind.merchant_key, where, hint)
        record = ProviderRecord(str(_field(row, "id", where, hint)), str(_field(row, "status", where, hint)),
                                _amount(row, where), _currency(row, where))
        found.setdefault(str(merchant), []).append(record)
    return found


def read_forged(path: Path | None, name: Callable[[Path], str] = _as_is) -> dict[Key, list[ForgedClaim]]:
    """``forged.jsonl`` of the forged_callbacks fault; absent when the fault did not run."""
    claims: dict[Key, list[ForgedClaim]] = {}
    if path is None:
        return claims
    for where, row in _rows(path, name):
        try:
            kind = Kind(str(row.get("object")))
        except ValueError:
            raise EvidenceError(f"{where}: expected object 'order' or 'payout', got {row.get('object')!r}") from None
        status = row.get("http_status")
        claim = ForgedClaim(str(row.get("claim")), str(row.get("kind")), status if isinstance(status, int) else None)
        claims.setdefault((kind, str(row.get("id"))), []).append(claim)
    return claims


def events_naming(paths: Collection[Path], keys: Collection[Key]) -> dict[Key, list[dict[str, Any]]]:
    """The events of ``keys`` (reads of an id included), each id's in file and line order."""
    wanted: dict[str, set[Kind]] = {}
    for kind, op_id in keys:
        wanted.setdefault(op_id, set()).add(kind)
    needles = [orjson.dumps(op_id)[1:-1] for op_id in wanted]
    found: dict[Key, list[dict[str, Any]]] = {key: [] for key in keys}
    for path in paths:
        for _, line, _ in split_lines(path.read_bytes()):
            if not any(needle in line for needle in needles):
                continue
            try:
                event = decode(line)
            except ValueError:
                continue
            if type(event) is not dict or type(event.get("id")) is not str:
                continue
            kinds = wanted.get(event["id"])
            op = event.get("op")
            kind = Kind.PAYOUT if isinstance(op, str) and op.endswith("payout") else Kind.ORDER
            if kinds and kind in kinds:
                found[(kind, event["id"])].append(event)
    return found


def read_evidence(files: EvidenceFiles) -> Evidence:
    """Read every evidence file and join them per id (see ``harness.checker.evidence``)."""
    clients, damage, torn, counts = read_history(files.history, files.name)
    forged = read_forged(files.forged, files.name)
    judged: list[IdEvidence] = []
    clean = dict.fromkeys(Kind, 0)
    acknowledged = dict.fromkeys(Kind, 0)
    money: dict[tuple[Kind, str | None], MoneySums] = {}
    unreadable: dict[Kind, str] = {}
    for (kind, _), submitted in clients.items():
        if submitted.invokes and submitted.ok:
            acknowledged[kind] += 1
    for kind in Kind:
        try:
            sut = read_sut(files.sut[kind], kind, files.name)
            provider = read_provider(files.provider[kind], kind, files.name)
        except EvidenceError as exc:
            unreadable[kind] = str(exc)
            continue
        ids = {op_id for flow, op_id in clients if flow is kind} | set(sut) | set(provider)
        for op_id in sorted(ids):
            client = clients.get((kind, op_id))
            summary = client.summary() if client is not None and client.invokes else None
            evidence = IdEvidence(kind, op_id, summary, tuple(sut.get(op_id, ())), tuple(provider.get(op_id, ())),
                                  tuple(forged.get((kind, op_id), ())))
            add_money(money, evidence)
            if is_clean(evidence):
                clean[kind] += 1
            else:
                judged.append(evidence)
    paths = tuple(files.history)
    return Evidence(judged=judged, clean=clean, money=money, counts=counts, acknowledged=acknowledged,
                    damage=damage, torn=torn, unreadable=unreadable,
                    events_for=lambda keys: events_naming(paths, keys))

