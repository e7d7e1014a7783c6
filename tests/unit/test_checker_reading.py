"""The DuckDB reader gives the Python reader's evidence, plain JSON parsing agrees with both, and neither
depends on key order, spacing or number form.

Runs are generated (several history files with writes, reads, duplicates, every outcome, amounts and
currencies in every JSON form, invalid lines, torn tails; SUT rows and ledger records with several rows
per id, ids on one side only, with and without a currency column) and written in a random layout.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.checker import reading, reading_duckdb
from harness.checker.evidence import Evidence, EvidenceFiles, is_clean
from harness.checker.model import Kind
from harness.load.history import EventType, HistoryWriter, Op

ORD, PAY = Kind.ORDER, Kind.PAYOUT


@dataclass(frozen=True)
class Raw:
    """A line written as these bytes, whatever the layout: damage, or JSON no serializer would write."""

    data: bytes


Item = Any  # a JSON value to serialize, or a Raw line


@dataclass
class Run:
    history: list[list[Item]]
    endings: list[str | int]  # "newline", "none" (last line unterminated) or where the last line is cut
    sut: dict[Kind, list[Item]] = field(default_factory=dict)
    provider: dict[Kind, list[Item]] = field(default_factory=dict)
    forged: list[Item] | None = None


# Serializing in any layout: key order, spacing, escapes; and any number form.

@dataclass(frozen=True)
class Number:
    """A number with the form it is written in, drawn once so that another layout keeps it."""

    text: str


def number(value: int, rng: random.Random) -> str:
    # Every form is exact, however large the value: amounts are read exactly, never through a double.
    forms = [str(value), f"{value}.0", f"{value}e0", f"{value * 10}e-1", f"{value}.000E+0"]
    digits = str(abs(value)).rstrip("0")
    if value and len(digits) < len(str(abs(value))):
        forms.append(f"{'-' if value < 0 else ''}{digits}e{len(str(abs(value))) - len(digits)}")
    return rng.choice(forms)


def with_forms(value: Any, rng: random.Random) -> Any:
    """``value`` with every number replaced by a ``Number`` in a form ``rng`` draws (1000, 1000.0, 1e3...)."""
    if isinstance(value, dict):
        return {k: with_forms(v, rng) for k, v in value.items()}
    if isinstance(value, list):
        return [with_forms(v, rng) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return Number(number(value, rng))
    if isinstance(value, float):
        return Number(json.dumps(value))  # NaN and Infinity as Python's json writes them
    return value


def space(rng: random.Random, tabs: bool = False) -> str:
    return rng.choice(["", " ", "  ", "\t" if tabs else ""]) if rng.random() < 0.5 else ""


def key(name: str, rng: random.Random) -> str:
    if name and rng.random() < 0.05:
        return f'"\\u{ord(name[0]):04x}{json.dumps(name)[2:]}'  # the same key, its first letter escaped
    return json.dumps(name, ensure_ascii=rng.random() < 0.5)


def dump(value: Any, rng: random.Random, tabs: bool = False) -> str:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        body = ",".join(f"{space(rng, tabs)}{key(k, rng)}{space(rng, tabs)}:{space(rng, tabs)}"
                        f"{dump(v, rng, tabs)}{space(rng, tabs)}" for k, v in items)
        return "{" + (body or space(rng, tabs)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(space(rng, tabs) + dump(v, rng, tabs) + space(rng, tabs) for v in value) + "]"
    if isinstance(value, Number):
        return value.text
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=rng.random() < 0.5)
    return json.dumps(value)


def line(item: Item, layout: random.Random, forms: random.Random) -> bytes:
    if isinstance(item, Raw):
        return item.data
    tabs = layout.random() < 0.02  # JSON's whitespace too, which sends a history file to Python
    return (space(layout, tabs) + dump(with_forms(item, forms), layout, tabs) + space(layout, tabs)).encode()


def write(run: Run, root: Path, layout: int, forms: int) -> tuple[EvidenceFiles, Run]:
    """The run's files under ``root``, in the layout and number forms the seeds draw; and the run with each cut
    last line pinned to the bytes written, so that another layout cuts it alike."""
    rng = random.Random(layout)

    def form(*place: int) -> random.Random:  # one line's number forms, whatever came before it
        return random.Random(sum(p * 1_000_003 ** n for n, p in enumerate((forms, *place))))

    (root / "history").mkdir(parents=True, exist_ok=True)
    (root / "state").mkdir(exist_ok=True)
    history, pinned = [], Run([list(items) for items in run.history], list(run.endings), run.sut, run.provider,
                              run.forged)
    for n, (items, ending) in enumerate(zip(run.history, run.endings, strict=True)):
        lines = [line(item, rng, form(n, i)) for i, item in enumerate(items)]
        if lines and isinstance(ending, int):
            lines[-1] = lines[-1][:ending]
            pinned.history[n][-1], pinned.endings[n] = Raw(lines[-1]), "none"
        data = b"".join(x + b"\n" for x in lines)
        if lines and ending != "newline":
            data = data[:-1]
        path = root / "history" / f"{n}.jsonl"
        path.write_bytes(data)
        history.append(path)
    sut = {kind: root / "state" / f"sut_{kind.value}s.jsonl" for kind in Kind}
    provider = {kind: root / "state" / f"provider_{kind.value}s.ndjson" for kind in Kind}
    for side, (paths, rows) in enumerate(((sut, run.sut), (provider, run.provider))):
        for k, (kind, path) in enumerate(paths.items()):
            if kind in rows:
                path.write_bytes(b"".join(line(row, rng, form(90 + 2 * side + k, i)) + b"\n"
                                          for i, row in enumerate(rows[kind])))
    forged = None
    if run.forged is not None:
        forged = root / "forged.jsonl"
        forged.write_bytes(b"".join(line(row, rng, form(98, i)) + b"\n" for i, row in enumerate(run.forged)))
    return EvidenceFiles(history=tuple(history), sut=sut, provider=provider, forged=forged, root=root), pinned


# Generating runs.

IDS = ["o1", "o2", "o3", "é-4", 'q"5', "a\\6", "z\u20287", "\U0001f6008", "n\x009"]
CURRENCIES = ["EUR", "USD", "€"]
STATUSES = ["succeeded", "declined", "paid", "rejected", "pending", "failed", "processing", "lost"]
amounts = st.one_of(st.none(), st.integers(0, 3), st.integers(-10**6, 10**6), st.integers(-2**63, 2**63 - 1),
                    st.integers(2**63, 2**70), st.just(-2**63 - 1))  # the last two: no amount (beyond 64 bits)
currencies = st.one_of(st.none(), st.sampled_from(CURRENCIES))
# JSON values that are not a valid field of an event (each one makes its line damage where it is read).
odd_values: st.SearchStrategy[Any] = st.sampled_from([
    1.5, "100", True, 5, [], {}, None, float("nan"), float("inf"), 7.25e-3, Number("1.0000000000000000001"),
    Number("1e400"), Number("-Infinity"), Number("nan"), [[[[{"deep": [[[]]]}]]]]])


@st.composite
def events(draw: st.DrawFn) -> Item:
    """A history line: mostly what the writer writes, sometimes an event with a field DuckDB must not misread."""
    op = draw(st.sampled_from(["order", "payout", "order", "payout", "get_order", "get_payout", "refund"]))
    event: dict[str, Any] = {"type": draw(st.sampled_from(["invoke", "invoke", "ok", "fail", "info"])), "op": op,
                             "id": draw(st.sampled_from(IDS)), "process": 7, "time": draw(st.integers(0, 10**12)),
                             "wall": 1795416377.96, "attempt": draw(st.integers(1, 3)),
                             "value": {"amount_minor": draw(amounts), "currency": draw(currencies)}
                             if op in ("order", "payout") else {},
                             "status": draw(st.sampled_from([None, 201, 422])),
                             "error": draw(st.sampled_from([None, "ReadTimeout: timed out", "a, } or ]"]))}
    change = draw(st.integers(0, 19))
    if change == 1:
        event.pop(draw(st.sampled_from(["value", "process", "error", "type", "id"])))
    elif change == 2 and isinstance(event["value"], dict) and event["value"]:
        event["value"].pop(draw(st.sampled_from(["amount_minor", "currency"])))
    elif change == 3:
        event[draw(st.sampled_from(["type", "op", "id", "value"]))] = draw(odd_values)
    elif change == 4 and isinstance(event["value"], dict) and event["value"]:
        event["value"][draw(st.sampled_from(["amount_minor", "currency"]))] = draw(odd_values)
    elif change == 5:
        event["type"] = draw(st.sampled_from(["done", "OK", "invoke "]))
    elif change == 6:
        event["extra"] = draw(st.sampled_from([{"nested": [1, {"id": 5}]}, float("nan"), "x"]))
    elif change == 7:
        event["value"] = None
    return event


# Lines no serializer writes: each is damage, or JSON whose reading depends on the parser.
RAW_LINES = [
    b"", b"   ", b"not json", b"[1, 2]", b"null", b'"order"', b"{}", b'{"type": "ok"} {"type": "ok"}',
    b'{"type":"ok","op":"order","id":"o1",}', b'{"type":"ok","op":"order","id":"o1" , }',
    b'{"type":"invoke","op":"order","id":"o1","value":{"amount_minor":5,}}',
    b'{"type":"invoke","op":"order","id":"o1","value":{"amount_minor":[5,]}}',
    b'\x0b{"type":"ok","op":"order","id":"o1"}', b'{"type":"ok","op":"order","id":"o1"}\x0c',
    b'{"type":"invoke","type":"ok","op":"order","id":"o2"}', b'{"type":"ok","op":"order","id":"o1","id":"o2"}',
    b'{"type":"invoke","op":"order","id":"o1","value":{"amount_minor":5,"amount_minor":6}}',
    b'{"type":"ok","op":"order","id":"o1","wall":NaN}', b'{"type":"ok","op":"order","id":"o1","wall":-Infinity}',
    b'{"type":"invoke","op":"order","id":"o1","value":{"amount_minor":NaN}}',
    b'{"type":"invoke","op":"order","id":"o1","value":{"amount_minor":1e400}}',
    b'{"type":"ok","op":"order","id":"o1"}\r', b'{"type":"ok","op":"order","id":"o1","x":"\x01"}',
    b'{"type":"ok","op":"order","id":"o1"}\x00', b'{"type":"ok","op":"order","id":"o1"}\r{"type":"ok","op":"order"}',
    b'\xef\xbb\xbf{"type":"ok","op":"order","id":"o1"}',
    b'{"type":"ok","op":"order","id":"o1","x":[1,inf]}', b'{"type":"ok","op":"order","id":"o1","x": -nan }',
    b'{"type":"ok","op":"order","id":"o1","x":"a:b","x":1}', b'{"type":"ok","op":"order","id":"o1","x":"\\u003a"}',
    b'{"type":"ok","op":"order","id":"o1","x":' + b"[" * 129 + b"]" * 129 + b"}",
    b'{"type":"ok","op":"order","id":"o1","x":' + b"[" * 128 + b"]" * 128 + b"}",
    b'{"type":"invoke","op":"order","id":"o1","value":{"amount_minor":1.0000000000000000001}}',
    b'{"type":"invoke","op":"order","id":"o1","value":{"amount_minor":9.223372036854775807e18}}',
]
# Rarer: a lone surrogate, an amount beyond 64 bits, bytes that are not UTF-8, a line too deep for a parser
# (each damage, which plain json.loads held to the same rules agrees with).
RARE_LINES = [
    b'{"type":"invoke","op":"order","id":"\\ud800","value":{}}',
    b'{"type":"invoke","op":"order","id":"o1","value":{"amount_minor":100000000000000000001}}',
    b'{"type":"ok","op":"order","id":"o1","x":"\xff"}',
    b'{"type":"ok","op":"order","id":"o1","x":' + b"[" * 5000 + b"]" * 5000 + b"}",
]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[list[Item]], list[str | int]]:
    files = draw(st.integers(1, 3))
    history, endings = [], []
    for _ in range(files):
        raw = st.sampled_from(RAW_LINES + RARE_LINES if draw(st.integers(0, 5)) == 3 else RAW_LINES).map(Raw)
        items = draw(st.lists(st.one_of(*[events()] * 9, raw), max_size=14))
        ending = draw(st.sampled_from(["newline", "newline", "none", "cut"]))
        history.append(items)
        endings.append(draw(st.integers(0, 400)) if ending == "cut" else ending)
    return history, endings


@st.composite
def state_rows(draw: st.DrawFn, kind: Kind, ledger: bool) -> list[Item]:
    rows: list[Item] = []
    for n in range(draw(st.integers(0, 8))):
        row: dict[str, Any] = {kind.merchant_key if ledger else kind.sut_key: draw(st.sampled_from([*IDS, "x9"])),
                               "status": draw(st.sampled_from(STATUSES))}
        if ledger:
            row |= {"id": f"po_{n}", "idempotency_key": "k", "created_at": "2026-01-01T00:00:00Z"}
        amount = draw(st.one_of(st.integers(0, 3), st.none(), st.just("2"), st.just(2.0), st.just("no amount")))
        if amount != "no amount":
            row["amount_minor"] = amount
        if draw(st.booleans()):
            row["currency"] = draw(currencies)
        if draw(st.integers(0, 99)) == 57:  # one the reference refuses (not 0: drawn often)
            row = draw(st.sampled_from([{"status": "paid"}, Raw(b"not json"), Raw(b'{"status": "paid", "x": NaN}'),
                                        {kind.sut_key: True, "status": None, kind.merchant_key: None, "id": True},
                                        {kind.sut_key: 5, "status": "paid", kind.merchant_key: 5, "id": "p"},
                                        {**row, "amount_minor": 2 ** 64}]))
        rows.append(row)
    return rows


@st.composite
def runs(draw: st.DrawFn) -> Run:
    history, endings = draw(histories())
    run = Run(history, endings)
    for kind in Kind:
        if draw(st.integers(0, 9)):
            run.sut[kind] = draw(state_rows(kind, ledger=False))
        if draw(st.integers(0, 9)):
            run.provider[kind] = draw(state_rows(kind, ledger=True))
    if draw(st.booleans()):  # written as is; now and then with an http_status the reference refuses
        run.forged = [Raw(json.dumps({"object": (kind := draw(st.sampled_from(list(Kind)))).value,
                                      "claim": kind.success, "id": draw(st.sampled_from(IDS)), "kind": "unknown_id",
                                      "http_status": draw(st.sampled_from([200, 200, 200, None, "200"]))}
                                     ).encode()) for _ in range(draw(st.integers(0, 2)))]
    return run


# What is compared.

def comparable(evidence: Evidence) -> dict[str, Any]:
    return {"judged": sorted(evidence.judged, key=lambda e: (e.kind, e.id)), "clean": dict(evidence.clean),
            "money": dict(evidence.money), "counts": evidence.counts, "acknowledged": dict(evidence.acknowledged),
            "damage": evidence.damage, "torn": evidence.torn, "unreadable": dict(evidence.unreadable)}


def read_both(files: EvidenceFiles) -> tuple[dict[str, Any] | type[Exception], dict[str, Any] | type[Exception]]:
    return outcome(reading.read_evidence, files), outcome(reading_duckdb.read_evidence, files)


def outcome(reader: Callable[[EvidenceFiles], Evidence], files: EvidenceFiles) -> dict[str, Any] | type[Exception]:
    try:
        return comparable(reader(files))
    except reading.EvidenceError as exc:  # a damaged forged-callback journal
        return type(exc)


def layout_free(result: dict[str, Any] | type[Exception]) -> dict[str, Any] | type[Exception]:
    """``result`` without the bytes of the lines that are not JSON, which another layout writes otherwise."""
    if not isinstance(result, dict):
        return result
    return {**result, "damage": [d._replace(what="not JSON") if d.what.startswith("expected one JSON object")
                                 else d for d in result["damage"]]}


def plain_json_history(paths: Iterable[Path], root: Path) -> dict[str, Any]:
    """The history summary and its damage, from the meaning in harness.checker.evidence and json.loads alone."""
    clients: dict[tuple[str, str], list[Any]] = {}
    damage: list[tuple[str, int]] = []
    torn: list[tuple[str, int]] = []
    totals = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
    for path in paths:
        name = path.relative_to(root).as_posix()
        lines = path.read_bytes().split(b"\n")
        unterminated = lines[-1] != b""
        if not unterminated:
            lines.pop()
        for number, raw in enumerate(lines, start=1):
            event = plain_event(raw)
            if event is None:
                (torn if unterminated and number == len(lines) else damage).append((name, number))
                continue
            kind, op, op_id, amount, currency = event
            if op not in ("order", "payout"):
                continue
            client = clients.setdefault((op, op_id), [0, 0, 0, 0, set(), set()])
            client[("invoke", "ok", "fail", "info").index(kind)] += 1
            totals[kind] += 1
            if kind == "invoke":
                client[4].add(amount)
                client[5].add(currency)
    excess = [(op, op_id) for (op, op_id), c in clients.items() if c[1] + c[2] + c[3] > c[0]]
    return {"clients": {k: (c[0], c[1], c[2], c[3], c[4], c[5]) for k, c in clients.items()},
            "damage": damage, "torn": torn, "excess": excess,
            "totals": (totals["invoke"], totals["ok"], totals["fail"])}


class Twice:
    """A key given twice in one object, as plain JSON reads it (no reader may take either value)."""


def plain_json(raw: bytes) -> Any:
    """json.loads held to the definition in harness.checker.jsontext, written plainly: UTF-8 text, no NaN or
    Infinity, a key given twice read as neither value, nesting at most 128 deep; reals exact."""
    def constant(name: str) -> Any:
        raise ValueError(name)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        return {k: v if keys.count(k) == 1 else Twice() for k, v in items}

    def depth(value: Any) -> int:
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        return 0 if children is None else 1 + max(map(depth, children), default=0)

    value = json.loads(raw.decode("utf-8"), parse_constant=constant, parse_float=Decimal, object_pairs_hook=pairs)
    json.dumps(value, ensure_ascii=False, default=str).encode()  # a lone surrogate is no UTF-8 text
    if depth(value) > 128:
        raise ValueError("too deep")
    return value


def plain_event(raw: bytes) -> tuple[str, str, str, int | None, str | None] | None:
    try:
        event = plain_json(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict) or event.get("type") not in ("invoke", "ok", "fail", "info"):
        return None
    if not isinstance(event.get("op"), str) or not isinstance(event.get("id"), str):
        return None
    value = event.get("value")
    if event["op"] not in ("order", "payout") or value is None:
        return event["type"], event["op"], event["id"], None, None
    if not isinstance(value, dict):
        return None
    amount, currency = value.get("amount_minor"), value.get("currency")
    if isinstance(amount, Decimal) and amount.is_finite() and amount == int(amount):
        amount = int(amount)
    if isinstance(amount, bool) or not (amount is None or isinstance(amount, int)) or \
            (amount is not None and not -2 ** 63 <= amount < 2 ** 63):
        return None
    if currency is not None and not isinstance(currency, str):
        return None
    return event["type"], event["op"], event["id"], amount, currency


def reader_history(files: EvidenceFiles) -> dict[str, Any]:
    clients, damage, torn, counts = reading.read_history(files.history, files.name)
    summaries = {(kind.value, op_id): (c.invokes, c.ok, c.fail, c.info, c.amounts, c.currencies)
                 for (kind, op_id), c in clients.items()}
    return {"clients": summaries, "damage": [(d.file, d.line) for d in damage if d.line is not None],
            "torn": [tuple(t.rsplit(":", 1)) for t in torn],
            "excess": [tuple(d.what.split(":")[0].split(" ", 1)) for d in damage if d.line is None],
            "totals": (counts.attempted, counts.ok, counts.fail)}


def plain_comparable(summary: dict[str, Any]) -> dict[str, Any]:
    summary["clients"] = {k: (*c[:4], set(c[4]), set(c[5])) for k, c in summary["clients"].items()}
    summary["torn"] = [(file, int(number)) for file, number in summary["torn"]]
    return summary


# The properties.

# Deterministic under the ci profile (tests/conftest.py: derandomized), where its 100 examples take about 15 s.
@given(runs(), st.integers(0, 2**32))
def test_duckdb_reads_what_python_reads_and_plain_json_agrees(run: Run, seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files, pinned = write(run, root, seed, seed)
        python, duck = read_both(files)
        assert duck == python
        if isinstance(python, dict):
            assert not any(is_clean(evidence) for evidence in python["judged"])
        assert plain_comparable(reader_history(files)) == plain_comparable(plain_json_history(files.history, root))
        # The same lines in another key order and spacing (the files are named relative to their root); the
        # number forms stay, since what is wrong with a value is said with its repr (5 or 5.0).
        rewritten, _ = write(pinned, root / "again", seed + 1, seed)
        assert tuple(map(layout_free, read_both(rewritten))) == (layout_free(python), layout_free(duck))


def test_a_last_line_cut_anywhere_is_torn_or_an_event_and_never_damage(tmp_path: Path) -> None:
    writer = HistoryWriter(tmp_path / "source", process_file="1")
    writer.record(EventType.INVOKE, Op.ORDER, "o-1", process=1, attempt=1, value={"amount_minor": 5, "currency": "EUR"})
    writer.record(EventType.OK, Op.ORDER, "o-1", process=1, attempt=1, value={"amount_minor": 5, "currency": "EUR"},
                  status=201)
    writer.close()
    body = writer.path.read_bytes()
    spaced = json.dumps(orjson.loads(body.splitlines()[-1]), indent=None).encode() + b"\n"
    for layout, data in (("writer", body), ("spaced", body.splitlines(keepends=True)[0] + spaced)):
        head, last = data[:data.rindex(b"\n", 0, len(data) - 1) + 1], data[data.rindex(b"\n", 0, len(data) - 1) + 1:]
        history = []
        for cut in range(len(last) + 1):  # every file one cut of the same last line; one read for them all
            path = tmp_path / layout / f"{cut:04d}.jsonl"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(head + last[:cut])
            history.append(path)
        files = EvidenceFiles(history=tuple(history), sut={k: tmp_path / "none" for k in Kind},
                              provider={k: tmp_path / "none" for k in Kind}, root=tmp_path)
        python, duck = read_both(files)
        assert duck == python
        assert isinstance(python, dict) and python["damage"] == []
        # Cut before its first byte, the line is not there; cut before its newline or after, it is an event.
        assert len(python["torn"]) == len(last) - 2 and python["counts"].ok == 2


def writer_run(root: Path, orders: int = 30, spaced: bool = False) -> EvidenceFiles:
    """A history as the HistoryWriter writes it, the SUT rows as the final reads write them, the ledger as the
    mock provider streams it."""
    writer = HistoryWriter(root / "history", process_file="7")
    sut, ledger = [], []
    for n in range(orders):
        value = {"amount_minor": 100 + n, "currency": "EUR"}
        writer.record(EventType.INVOKE, Op.ORDER, f"o-{n}", process=7, attempt=1, value=value)
        writer.record(EventType.OK if n % 5 else EventType.INFO, Op.ORDER, f"o-{n}", process=7, attempt=1,
                      value=value, status=201 if n % 5 else None, error=None if n % 5 else "ReadTimeout: timed out")
        writer.record(EventType.INVOKE, Op.GET_ORDER, f"o-{n}", process=7, attempt=1)
        writer.record(EventType.OK, Op.GET_ORDER, f"o-{n}", process=7, attempt=1, status=200)
        status = "declined" if n % 7 == 0 else "succeeded"
        sut.append({"order_id": f"o-{n}", "status": status, "amount_minor": 100 + n, "note": "ü"})
        ledger.append({"id": f"po_{n}", "merchant_order_id": f"o-{n}", "status": status, "amount_minor": 100 + n,
                       "currency": "EUR", "created_at": "2026-01-01T00:00:00Z", "idempotency_key": f"o-{n}",
                       "settled_at": None})
    sut.append({"order_id": "o-3", "status": "failed", "amount_minor": 103, "note": "twice"})
    writer.close()
    state = root / "state"
    state.mkdir()
    (state / "sut_orders.jsonl").write_text("".join(json.dumps(row, default=str) + "\n" for row in sut))
    ledger_lines = [json.dumps(r) if spaced else orjson.dumps(r).decode() for r in ledger]
    (state / "provider_orders.ndjson").write_text("".join(x + "\n" for x in ledger_lines))
    history = (root / "history" / "7.jsonl",)
    if spaced:
        history[0].write_text("".join(json.dumps(orjson.loads(x)) + "\n" for x in history[0].read_bytes().splitlines()))
    return EvidenceFiles(history=history, sut={ORD: state / "sut_orders.jsonl", PAY: state / "sut_payouts.jsonl"},
                         provider={ORD: state / "provider_orders.ndjson", PAY: state / "provider_payouts.ndjson"},
                         root=root)


@pytest.mark.parametrize("spaced", [False, True])
def test_the_writers_files_never_take_the_python_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      spaced: bool) -> None:
    files = writer_run(tmp_path, spaced=spaced)
    with files.history[0].open("ab") as handle:
        handle.write(b'{"type":"ok","op":"order","id":"o-99","pro')  # a torn last line: the copy leaves it out
    expected = comparable(reading.read_evidence(files))

    def forbidden(*args: object) -> None:
        raise AssertionError("the DuckDB reader fell back to Python on files the harness writes itself")

    monkeypatch.setattr(reading, "read_evidence", forbidden)
    monkeypatch.setattr(reading_duckdb, "_python_history", forbidden)
    assert comparable(reading_duckdb.read_evidence(files)) == expected
    assert expected["torn"] == ["history/7.jsonl:121"] and len(expected["judged"]) == 7
