"""Reading a run's evidence files into ``Evidence`` (the meaning of each line: ``harness.checker.evidence``).

Every line is decoded by ``harness.checker.jsontext.decode``, strictly and with its amount exact, so the
result depends only on the JSON values, never on key order, spacing or number form. A state or journal
row is read as strictly as a history line: each field the checker reads must be there with the type
the run writes (an id, a status, a provider id is a string: never ``str()`` of a number or of null),
else the file is refused by name and line (``EvidenceError``) and the verdict is ``unknown``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from decimal import Decimal
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
from harness.checker.jsontext import decode
from harness.checker.model import Counts, Kind
from harness.load.history import split_lines

_DIGITS = re.compile(r"-?[0-9]+")
_EVENT_AMOUNT = (("value", "amount_minor"),)  # the numbers jsontext.decode must keep exact
_ROW_AMOUNT = (("amount_minor",),)
_SQL_HINT = "make the target's state SQL select it, as text"
_LEDGER_HINT = "was the ledger written by the mock provider?"
_FORGED_HINT = "was it written by the forged_callbacks fault?"


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


def event_of(line: bytes) -> tuple[str, str, str, int | None, str | None] | str:
    """One history line as ``parse_history_line`` reads it, or what is wrong with it (not JSON included)."""
    try:
        return parse_history_line(decode(line, _EVENT_AMOUNT))
    except ValueError as exc:  # jsontext.NotJson
        return f"expected one JSON object per line, got {line[:80]!r}: {exc}"


def read_history(paths: Collection[Path], name: Callable[[Path], str] = _as_is
                 ) -> tuple[dict[Key, _Client], list[HistoryDamage], list[str], Counts]:
    clients: dict[Key, _Client] = {}
    damage: list[HistoryDamage] = []
    torn: list[str] = []
    totals = dict.fromkeys(("invoke", "ok", "fail", "info"), 0)
    for source, path in enumerate(paths):
        for number, line, unterminated in split_lines(path.read_bytes()):
            parsed = event_of(line)
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
            row = decode(line, _ROW_AMOUNT)
        except ValueError as exc:  # jsontext.NotJson
            raise EvidenceError(f"{where}: expected one JSON object per line, got {line[:80]!r} ({exc}): "
                                "the artifact was damaged; restore it or rerun") from None
        if type(row) is not dict:
            raise EvidenceError(f"{where}: expected a JSON object, got {type(row).__name__}")
        yield where, row


def _field(row: dict[str, Any], key: str, where: str, hint: str) -> Any:
    if key not in row:
        raise EvidenceError(f"{where}: expected the field {key!r}, got {sorted(row)}: {hint}")
    return row[key]


def _text(row: dict[str, Any], key: str, where: str, hint: str) -> str:
    value = _field(row, key, where, hint)
    if type(value) is not str:
        raise EvidenceError(f"{where}: expected {key} to be a string, got {value!r} ({type(value).__name__}): {hint}")
    return value


def _amount(row: dict[str, Any], where: str) -> int | None:
    value = row.get("amount_minor")
    exact = Decimal(value) if type(value) is str and _DIGITS.fullmatch(value) else value  # a bigint or numeric as text
    valid, amount = amount_value(exact)
    if not valid:
        raise EvidenceError(f"{where}: expected amount_minor to be a whole number within 64 bits, got {value!r}")
    return amount


def _currency(row: dict[str, Any], where: str) -> str | None:
    value = row.get("currency")
    if value is not None and type(value) is not str:
        raise EvidenceError(f"{where}: expected currency to be a string, got {value!r}")
    return value


def read_sut(path: Path, kind: Kind, name: Callable[[Path], str] = _as_is) -> dict[str, list[SutRow]]:
    """Every SUT row, keyed by the contract's id column; several rows of one id are all kept."""
    found: dict[str, list[SutRow]] = {}
    for where, row in _rows(path, name):
        op_id = _text(row, kind.sut_key, where, _SQL_HINT)
        status = _text(row, "status", where, _SQL_HINT)
        found.setdefault(op_id, []).append(SutRow(status, _amount(row, where), _currency(row, where)))
    return found


def read_provider(path: Path, kind: Kind, name: Callable[[Path], str] = _as_is
                  ) -> dict[str, list[ProviderRecord]]:
    """Every provider record (duplicates included), keyed by the merchant's id."""
    found: dict[str, list[ProviderRecord]] = {}
    for where, row in _rows(path, name):
        merchant = _text(row, kind.merchant_key, where, _LEDGER_HINT)
        record = ProviderRecord(_text(row, "id", where, _LEDGER_HINT), _text(row, "status", where, _LEDGER_HINT),
                                _amount(row, where), _currency(row, where))
        found.setdefault(merchant, []).append(record)
    return found


def read_forged(path: Path | None, name: Callable[[Path], str] = _as_is) -> dict[Key, list[ForgedClaim]]:
    """``forged.jsonl`` of the forged_callbacks fault; absent when the fault did not run.

    Each row as the fault writes it (docs/architecture.md): ``object`` a flow, ``id`` a string, ``claim``
    that flow's success or refusal, ``kind`` a string, ``http_status`` an integer or null.
    """
    claims: dict[Key, list[ForgedClaim]] = {}
    if path is None:
        return claims
    for where, row in _rows(path, name):
        flow = _text(row, "object", where, _FORGED_HINT)
        kind = next((kind for kind in Kind if kind.value == flow), None)
        if kind is None:
            raise EvidenceError(f"{where}: expected object one of {', '.join(k.value for k in Kind)}, got {flow!r}")
        op_id = _text(row, "id", where, _FORGED_HINT)
        claim = _text(row, "claim", where, _FORGED_HINT)
        if claim not in (kind.success, kind.refusal):
            raise EvidenceError(f"{where}: expected claim {kind.success!r} or {kind.refusal!r} of a {kind.value}, "
                                f"got {claim!r}")
        how = _text(row, "kind", where, _FORGED_HINT)
        status = _field(row, "http_status", where, _FORGED_HINT)
        if status is not None and type(status) is not int:
            raise EvidenceError(f"{where}: expected http_status to be an integer or null, got {status!r}")
        claims.setdefault((kind, op_id), []).append(ForgedClaim(claim, how, status))
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
            if b"\\" not in line and not any(needle in line for needle in needles):
                continue  # without a backslash, an id is written as orjson writes it; with one, it may be escaped
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

