"""Evidence that is damaged, partial or contradictory never reads as intact, and both readers say so alike.

Each case is read by the Python reference and by the DuckDB reader, which must give the same evidence;
then the case's own expectation is checked (damage named by file and line, a flow that cannot be read,
a value read exactly).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rundir_builder import build_run, op, record, sut_row
from test_checker_reading import read_both

from harness.checker import reading
from harness.checker.evidence import EvidenceFiles, amount_value, parse_history_line
from harness.checker.integrity import write_manifest
from harness.checker.model import Kind, Verdict
from harness.checker.reading import EvidenceError, read_forged
from harness.run.verdict import judge_run

ORD, PAY = Kind.ORDER, Kind.PAYOUT
INVOKE = (b'{"type":"invoke","op":"order","id":"o1","process":1,"time":1,"wall":1.5,"attempt":1,'
          b'"value":{"amount_minor":%s,"currency":"EUR"}}')
OK = b'{"type":"ok","op":"order","id":"o1","process":1,"time":2,"wall":1.6,"attempt":1,"status":201,"error":null}'
SUT = b'{"order_id": "o1", "status": "succeeded", "amount_minor": 1000, "currency": "EUR"}'
LEDGER = (b'{"id":"po_1","merchant_order_id":"o1","amount_minor":1000,"currency":"EUR","status":"succeeded",'
          b'"idempotency_key":"o1","created_at":"2026-01-01T00:00:00Z"}')


def files_of(root: Path, history: list[bytes], sut: list[bytes] | None = None, ledger: list[bytes] | None = None,
             forged: list[bytes] | None = None) -> EvidenceFiles:
    (root / "history").mkdir(parents=True)
    (root / "state").mkdir()
    path = root / "history" / "1.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in history))
    state = {"sut": (root / "state" / "sut_orders.jsonl", [SUT] if sut is None else sut),
             "ledger": (root / "state" / "provider_orders.ndjson", [LEDGER] if ledger is None else ledger)}
    for target, rows in state.values():
        target.write_bytes(b"".join(row + b"\n" for row in rows))
    journal = None
    if forged is not None:
        journal = root / "forged.jsonl"
        journal.write_bytes(b"".join(row + b"\n" for row in forged))
    return EvidenceFiles(history=(path,), sut={ORD: state["sut"][0], PAY: root / "state" / "sut_payouts.jsonl"},
                         provider={ORD: state["ledger"][0], PAY: root / "state" / "provider_payouts.ndjson"},
                         forged=journal, root=root)


def read_alike(files: EvidenceFiles) -> dict[str, Any]:
    """The evidence both readers give, which must be the same."""
    python, duck = read_both(files)
    assert duck == python
    assert isinstance(python, dict)
    return python


def damaged_lines(evidence: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(d.file, d.line) for d in evidence["damage"]]


def client_amounts(evidence: dict[str, Any]) -> tuple[int | None, ...]:
    (judged,) = [e for e in evidence["judged"] if e.id == "o1"] or [None]
    return judged.client.amounts if judged is not None else (1000,)  # a clean id sent 1000, as the SUT holds


# 1. Amounts: exact integers within 64 bits, or damage; never rounded.

@pytest.mark.parametrize("text", [
    b"100000000000000000001", str(2 ** 70).encode(), b"18446744073709551616", b"9223372036854775808",
    b"-9223372036854775809", b"1.0000000000000000001", b"1000.0000000000000001", b"1e400", b"1e19", b"-1e-400",
    b"1000.5", b"1E+1000000",
    # Not numbers at all: DuckDB casts a JSON string or boolean to an integer ("1000" and true as 1000 and 1).
    b'"1000"', b"true", b"false", b"[1000]", b'{"minor": 1000}',
])
def test_an_amount_that_is_not_an_exact_64_bit_integer_is_damage_in_both_readers(tmp_path: Path, text: bytes) -> None:
    evidence = read_alike(files_of(tmp_path, [INVOKE % text, OK]))
    assert damaged_lines(evidence) == [("history/1.jsonl", 1), ("history/", None)]  # and the ok lacks its invoke
    assert "amount_minor" in evidence["damage"][0].what


@pytest.mark.parametrize(("text", "amount"), [
    (b"1000", 1000), (b"1e3", 1000), (b"1000.0", 1000), (b"10000E-1", 1000), (b"0.1e4", 1000),
    (b"1.152921504606847e18", 1152921504606847000), (b"9223372036854775807", 2 ** 63 - 1),
    (b"-9223372036854775808", -2 ** 63), (b"-0", 0), (b"-0.0e5", 0), (b"9.223372036854775807e18", 2 ** 63 - 1),
])
def test_an_amount_in_any_exact_form_reads_as_its_exact_value_in_both_readers(tmp_path: Path, text: bytes,
                                                                              amount: int) -> None:
    evidence = read_alike(files_of(tmp_path, [INVOKE % text, OK]))
    assert evidence["damage"] == []
    assert client_amounts(evidence) == (amount,)


@pytest.mark.parametrize("text", [b"100000000000000000001", b'"100000000000000000001"', b"1.0000000000000000001",
                                  b"1e400", b"NaN", b'"-9223372036854775809"', b'"' + b"1" * 5000 + b'"'])
def test_a_state_amount_that_is_not_an_exact_64_bit_integer_makes_its_flow_unreadable(tmp_path: Path,
                                                                                      text: bytes) -> None:
    row = b'{"order_id": "o1", "status": "succeeded", "amount_minor": %s}' % text
    evidence = read_alike(files_of(tmp_path, [INVOKE % b"1000", OK], sut=[SUT, row]))
    assert "state/sut_orders.jsonl:2" in evidence["unreadable"][ORD]


@pytest.mark.parametrize(("text", "amount"), [(b'"0000000000000000000000000007"', 7), (b'"-0"', 0), (b"7.0", 7),
                                              (b"7e0", 7), (b'"9223372036854775807"', 2 ** 63 - 1)])
def test_a_state_amount_in_any_exact_form_is_read_alike(tmp_path: Path, text: bytes, amount: int) -> None:
    row = b'{"order_id": "o2", "status": "succeeded", "amount_minor": %s}' % text
    evidence = read_alike(files_of(tmp_path, [INVOKE % b"1000", OK], sut=[SUT, row]))
    assert [row.amount_minor for e in evidence["judged"] if e.id == "o2" for row in e.sut] == [amount]


def test_the_definition_of_an_amount_is_exact() -> None:
    assert amount_value(2 ** 70) == (False, None)
    assert amount_value(2 ** 63) == (False, None)
    assert amount_value(-2 ** 63) == (True, -2 ** 63)
    assert amount_value(Decimal("1E+3")) == (True, 1000)
    assert amount_value(Decimal("1.0000000000000000001")) == (False, None)
    assert amount_value(Decimal("NaN")) == (False, None)
    assert amount_value(Decimal("Infinity")) == (False, None)
    assert amount_value(True) == (False, None)
    # A float has lost its JSON text (1e20 and 100000000000000000001 are one float): never taken as exact.
    assert amount_value(1e3) == (False, None)
    assert parse_history_line({"type": "invoke", "op": "order", "id": "o1",
                               "value": {"amount_minor": Decimal("1e3")}}) == ("invoke", "order", "o1", 1000, None)


# 2. NaN and Infinity are not JSON, wherever they are.

@pytest.mark.parametrize("where", [b'"wall":%s', b'"wall": %s', b'"x":[1,%s]', b'"x":{"y":  %s }',
                                   b'"value":{"amount_minor":%s}'])
def test_nan_and_infinity_make_a_history_line_damage_in_both_readers(tmp_path: Path, where: bytes) -> None:
    tokens = [b"NaN", b"Infinity", b"-Infinity", b"nan", b"-nan", b"inf", b"-inf", b"NAN", b"iNf", b"infinity",
              b"nAn", b"inF"]
    files = files_of(tmp_path, [INVOKE % b"1000", OK])
    # One file a token, so that the DuckDB reader decides each file on its own; all read at once.
    history = [*files.history]
    for n, token in enumerate(tokens, start=2):
        history.append(tmp_path / "history" / f"{n}.jsonl")
        history[-1].write_bytes(b'{"type":"ok","op":"get_order","id":"o1",' + where % token + b"}\n")
    evidence = read_alike(dataclasses.replace(files, history=tuple(history)))
    assert damaged_lines(evidence) == [(f"history/{n}.jsonl", 1) for n in range(2, len(tokens) + 2)]


def test_nan_spelled_inside_a_string_is_text(tmp_path: Path) -> None:
    line = b'{"type":"ok","op":"order","id":"o1","error":"ValueError: NaN, inf or -Infinity:nan}"}'
    evidence = read_alike(files_of(tmp_path, [INVOKE % b"1000", line]))
    assert evidence["damage"] == [] and evidence["counts"].ok == 1


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-inf", b"nan"])
def test_nan_in_a_state_row_makes_its_flow_unreadable_in_both_readers(tmp_path: Path, token: bytes) -> None:
    row = b'{"order_id": "o2", "status": "succeeded", "amount_minor": 5, "fee": %s}' % token
    evidence = read_alike(files_of(tmp_path, [INVOKE % b"1000", OK], sut=[SUT, row]))
    assert "state/sut_orders.jsonl:2" in evidence["unreadable"][ORD]


def test_nan_in_a_finished_run_gives_unknown_never_pass(tmp_path: Path) -> None:
    run_dir = build_run(tmp_path, op("order", "o1", "ok"), sut={ORD: [sut_row(ORD, "o1", "succeeded")]},
                        provider={ORD: [record(ORD, "o1", "succeeded")]})
    assert judge_run(run_dir)[0].verdict is Verdict.PASS
    history = run_dir.history / "1.jsonl"
    history.write_bytes(history.read_bytes().replace(b'"error": null', b'"error": null, "note": NaN', 1))
    write_manifest(run_dir)
    result = judge_run(run_dir)[0]
    assert result.verdict is Verdict.UNKNOWN
    assert result.checkers["history"].valid is Verdict.UNKNOWN and "history/1.jsonl:1" in str(result.reason)


# 3. Ids, statuses and provider ids are strings, never str() of another value.

@pytest.mark.parametrize("value", [b"123", b"null", b'["o1"]', b'{"id": "o1"}', b"true", b"1.5"])
@pytest.mark.parametrize("column", ["sut id", "sut status", "ledger merchant id", "ledger id", "ledger status"])
def test_a_state_row_whose_id_or_status_is_not_a_string_makes_its_flow_unreadable(tmp_path: Path, value: bytes,
                                                                                  column: str) -> None:
    side = column.split(" ", 1)[0]
    key = {"sut id": b"order_id", "sut status": b"status", "ledger merchant id": b"merchant_order_id",
           "ledger id": b"id", "ledger status": b"status"}[column]
    base = SUT if side == "sut" else LEDGER
    row = base.replace(b'"' + key + b'"', b'"replaced"', 1)[:-1] + b', "' + key + b'": ' + value + b"}"
    rows = [base, row]
    files = files_of(tmp_path, [INVOKE % b"1000", OK], **({"sut": rows} if side == "sut" else {"ledger": rows}))
    evidence = read_alike(files)
    file = "state/sut_orders.jsonl" if side == "sut" else "state/provider_orders.ndjson"
    why = evidence["unreadable"][ORD]
    assert f"{file}:2" in why and key.decode() in why and "string" in why


def test_a_number_id_is_never_taken_for_the_string_a_client_sent(tmp_path: Path) -> None:
    history = [(INVOKE % b"1000").replace(b'"o1"', b'"123"'), OK.replace(b'"o1"', b'"123"')]
    sut = [b'{"order_id": 123, "status": "succeeded", "amount_minor": 1000, "currency": "EUR"}']
    evidence = read_alike(files_of(tmp_path, history, sut=sut, ledger=[LEDGER.replace(b'"o1"', b'"123"')]))
    assert "order_id" in evidence["unreadable"][ORD] and evidence["clean"][ORD] == 0


# 4. The forged-callback journal is read as strictly.

@pytest.mark.parametrize("row", [
    b'{"object": "order", "claim": "succeeded", "kind": "unsigned", "http_status": 200}',
    b'{"object": "order", "id": 5, "claim": "succeeded", "kind": "unsigned", "http_status": 200}',
    b'{"object": "order", "id": "o1", "kind": "unsigned", "http_status": 200}',
    b'{"object": "order", "id": "o1", "claim": "paid", "kind": "unsigned", "http_status": 200}',
    b'{"object": "order", "id": "o1", "claim": "succeeded", "http_status": 200}',
    b'{"object": "order", "id": "o1", "claim": "succeeded", "kind": null, "http_status": 200}',
    b'{"object": "order", "id": "o1", "claim": "succeeded", "kind": "unsigned", "http_status": "200"}',
    b'{"object": "order", "id": "o1", "claim": "succeeded", "kind": "unsigned", "http_status": true}',
    b'{"object": "order", "id": "o1", "claim": "succeeded", "kind": "unsigned"}',
    b'{"object": "refund", "id": "o1", "claim": "succeeded", "kind": "unsigned", "http_status": 200}',
    b'["order", "o1"]',
    b'{"object": "order", "id": "o1", "id": "o2", "claim": "succeeded", "kind": "unsigned", "http_status": 200}',
])
def test_a_forged_journal_row_that_is_not_what_the_fault_writes_is_refused_by_file_and_line(
        tmp_path: Path, row: bytes) -> None:
    good = (b'{"object": "payout", "id": "p1", "claim": "paid", "kind": "stale_replay", "sent_at": 1.0, '
            b'"http_status": null}')
    path = tmp_path / "forged.jsonl"
    path.write_bytes(good + b"\n" + row + b"\n")
    with pytest.raises(EvidenceError, match=r"forged.jsonl:2"):
        read_forged(path)
    path.write_bytes(good + b"\n")
    (claim,) = read_forged(path)[(PAY, "p1")]
    assert (claim.claim, claim.how, claim.http_status) == ("paid", "stale_replay", None)


# 5. Nesting too deep for a parser is damage with a reason, never a traceback.

@pytest.mark.parametrize("line", [
    b"[" * 100_000,
    b'{"type":"ok","op":"order","id":"o1","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"type":"ok","op":"order","id":"o1","x":' + b'{"a":' * 5_000 + b"1" + b"}" * 5_000 + b"}",
    b'{"type":"ok","op":"order","id":"o1","x":' + b"[" * 300 + b"]" * 300 + b"}",
    b'{"type":"ok","op":"order","id":"o1","x":' + b'{"a":' * 128 + b"1" + b"}" * 128 + b"}",
    b'{"type":"ok","op":"order","id":"o1","x":"' + b"[" * 300 + b'","y":' + b"[" * 128 + b"]" * 128 + b"}",
])
def test_nesting_too_deep_is_damage_in_both_readers(tmp_path: Path, line: bytes) -> None:
    evidence = read_alike(files_of(tmp_path, [INVOKE % b"1000", line, OK]))
    assert damaged_lines(evidence) == [("history/1.jsonl", 2)]
    assert "deep" in evidence["damage"][0].what
    assert reading.events_naming(files_of(tmp_path / "again", [line]).history, [(ORD, "o1")]) == {(ORD, "o1"): []}


def test_nesting_within_the_limit_is_read(tmp_path: Path) -> None:
    line = b'{"type":"ok","op":"order","id":"o1","x":' + b"[" * 120 + b"]" * 120 + b"}"
    evidence = read_alike(files_of(tmp_path, [INVOKE % b"1000", line]))
    assert evidence["damage"] == [] and evidence["counts"].ok == 1


def test_nesting_too_deep_in_a_state_row_or_the_journal_is_refused(tmp_path: Path) -> None:
    deep = b'{"order_id": "o2", "status": "paid", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    evidence = read_alike(files_of(tmp_path, [INVOKE % b"1000", OK], sut=[SUT, deep]))
    assert "state/sut_orders.jsonl:2" in evidence["unreadable"][ORD]
    path = tmp_path / "forged.jsonl"
    path.write_bytes(b"[" * 100_000 + b"\n")
    with pytest.raises(EvidenceError, match=r"forged.jsonl:1"):
        read_forged(path)


# Other damage each reader once took otherwise.

@pytest.mark.parametrize(("line", "damaged"), [
    (b'{"type":"ok","op":"order","id":"o1","id":"o2"}', True),
    (b'{"type":"ok","type":"info","op":"order","id":"o1"}', True),
    (b'{"type":"invoke","op":"order","id":"o1","value":{"amount_minor":5,"amount_minor":6}}', True),
    (b'{"type":"invoke","op":"order","id":"o1","value":{"currency":"EUR","currency":"EUR"}}', True),
    (b'{"type":"ok","op":"order","id":"o1","wall":1,"wall":2}', False),  # a key the checker never reads
    (b'{"type":"ok","op":"order","id":"o1","x":{"a":1,"a":2}}', False),
    (b'{"type":"ok","op":"order","id":"o1","x":"a:b","wall":1,"wall":2}', False),
    (b'{"type":"ok","op":"order","id":"o1","x":"\\u003a","id":"o2"}', True),
    (b'{"type":"ok","op":"order","id":"o1","x":"\xff"}', True),  # not UTF-8
    (b'{"type":"ok","op":"order","id":"o1","x":"\xed\xa0\x80"}', True),  # a surrogate encoded in UTF-8
    (b'{"type":"ok","op":"order","id":"\\ud800"}', True),  # a lone surrogate is no text
    (b'{"type":"ok","op":"order","id":"o1","x":"\\udc00"}', True),
    (b'{"type":"ok","op":"order","id":"o1","x":"\\ud83d\\ude00"}', False),
    (b'\xef\xbb\xbf{"type":"ok","op":"order","id":"o1"}', True),
    (b'[{"type":"ok","op":"order","id":"o1"}]', True),
    (b'{"type":"ok","op":"order","id":"o1","x":"\x00"}', True),
    (b'{"type":"ok","op":"order","id":"o1","x":1e400}', False),  # JSON, however large
    (b'{"type":"ok","op":"order","id":"o1","x":' + b"1" * 5000 + b"}", False),
])
def test_lines_each_parser_once_read_its_own_way_are_read_alike(tmp_path: Path, line: bytes, damaged: bool) -> None:
    evidence = read_alike(files_of(tmp_path, [INVOKE % b"1000", OK, line]))
    # Read as an event, a second ok of o1 outnumbers its invoke: damage too, but of the history as a whole.
    assert damaged_lines(evidence) == [("history/1.jsonl", 3)] if damaged else [("history/", None)]


@pytest.mark.parametrize("row", [
    b'{"order_id": "o2", "order_id": "o3", "status": "paid"}',
    b'{"order_id": "o2", "status": "paid", "status": "paid"}',
    b'{"order_id": "o2", "status": "paid",}',
    b'{"order_id": "o2", "status": "paid"}\x0b',
    b'{"order_id": "o2", "status": "paid", "note": "\xff"}',
    b'\xef\xbb\xbf{"order_id": "o2", "status": "paid"}',
    b'{"order_id": "\\ud800", "status": "paid"}',
])
def test_a_damaged_state_row_makes_its_flow_unreadable_in_both_readers(tmp_path: Path, row: bytes) -> None:
    evidence = read_alike(files_of(tmp_path, [INVOKE % b"1000", OK], sut=[SUT, row]))
    assert "state/sut_orders.jsonl:2" in evidence["unreadable"][ORD]


def test_a_nul_escaped_in_an_id_is_part_of_it_in_both_readers(tmp_path: Path) -> None:
    history = [(INVOKE % b"1000").replace(b'"o1"', b'"o\\u00001"'), OK.replace(b'"o1"', b'"o\\u00001"')]
    evidence = read_alike(files_of(tmp_path, history))
    assert {e.id for e in evidence["judged"]} == {"o\x001", "o1"} and evidence["damage"] == []


def test_a_line_longer_than_duckdb_takes_is_read_alike(tmp_path: Path) -> None:
    long = b'{"type":"ok","op":"order","id":"o1","error":"' + b"x" * (17 << 20) + b'"}'
    evidence = read_alike(files_of(tmp_path, [INVOKE % b"1000", long]))
    assert evidence["damage"] == [] and evidence["counts"].ok == 1


def test_an_examples_history_holds_its_events_however_their_id_is_escaped(tmp_path: Path) -> None:
    history = [INVOKE % b"5", OK.replace(b'"o1"', b'"\\u006f1"'), b'{"type":"ok","op":"get_order","id":"o\\/1"}',
               b'{"type":"ok","op":"get_order","id":"o\\/1","id2":"o1"}']
    files = files_of(tmp_path, [line.replace(b'"o1"', b'"\\u00e9/1"', 1) if n == 0 else line
                                for n, line in enumerate(history)] + [b'{"type":"ok","op":"order","id":"\\u00e9\\/1"}'])
    found = reading.events_naming(files.history, [(ORD, "o1"), (ORD, "é/1")])
    assert [e["type"] for e in found[(ORD, "o1")]] == ["ok"]
    assert [e["type"] for e in found[(ORD, "é/1")]] == ["invoke", "ok"]
