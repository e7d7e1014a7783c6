"""Several provider processes as pure rules: who owns a record or a key, and reads over every shard.

The record numbers of N shards interleave without a gap or a repeat, a key has one owner
whichever process asks, and a read over every shard's file returns each row once, in order, the
same as one ledger holding them all.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_provider.__main__ import _parent_argv, main
from mock_provider.ledger import Ledger
from mock_provider.shards import Layout, Shards


@given(st.integers(min_value=1, max_value=5), st.integers(min_value=0, max_value=40))
def test_the_shards_number_every_record_once_and_each_number_names_its_shard(count: int, per_shard: int) -> None:
    numbers: list[int] = []
    for index in range(count):
        layout = Layout(Path("l.db"), index, count)
        seq = 0
        for _ in range(per_shard):
            seq = layout.next_seq(seq)
            assert layout.owner_of_seq(seq) == index
            numbers.append(seq)
    assert sorted(numbers) == list(range(1, count * per_shard + 1))


@given(st.integers(min_value=1, max_value=4), st.integers(min_value=0, max_value=1000))
def test_a_shard_resumes_numbering_after_any_number_seen(count: int, after: int) -> None:
    for index in range(count):
        seq = Layout(Path("l.db"), index, count).next_seq(after)
        assert seq > after and seq - after <= count and (seq - 1) % count == index


def test_one_process_numbers_as_before() -> None:
    layout = Layout(Path("l.db"))
    assert [layout.next_seq(n) for n in range(4)] == [1, 2, 3, 4]
    assert layout.path(0) == Path("l.db") and layout.owner_of_key("order", "k") == 0


def test_a_key_has_one_owner_and_keys_spread_over_the_shards() -> None:
    layouts = [Layout(Path("l.db"), index, 2) for index in range(2)]
    owners = [layouts[0].owner_of_key("order", f"key-{i}") for i in range(1000)]
    assert owners == [layouts[1].owner_of_key("order", f"key-{i}") for i in range(1000)]
    assert 400 < owners.count(0) < 600
    assert layouts[0].path(1) == Path("l.shard1of2.db")


def test_a_bad_layout_names_the_value() -> None:
    with pytest.raises(ValueError, match="processes=0"):
        Layout(Path("l.db"), 0, 0)
    with pytest.raises(ValueError, match="index=2"):
        Layout(Path("l.db"), 2, 2)


def test_reads_over_every_shard_return_each_row_once_in_order(tmp_path: Path) -> None:
    layouts = [Layout(tmp_path / "l.db", index, 3) for index in range(3)]
    ledgers = [Ledger(layout.path(layout.index), layout=layout) for layout in layouts]
    for i in range(50):
        ledger = ledgers[(i * 7) % 3]
        seq = ledger.next_seq()
        ledger.execute("INSERT INTO records (seq, id, object, merchant_id, amount_minor, currency, callback_url, "
                       "status, created_at, settle_after) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (seq, f"po_{seq:010d}", "order", f"m-{i % 5}", 1, "EUR", "u", "processing", "t", 0.0))
    for ledger in ledgers[1:]:
        ledger.commit_now()  # shard 0's writes are still open: its own connection sees them, nobody else
    shards = Shards(layouts[0], ledgers[0])
    try:
        def seq_of(row: sqlite3.Row) -> int:
            return int(row["seq"])
        streamed = [row["seq"] for rows in shards.iterate("SELECT * FROM records ORDER BY seq", (), seq_of, batch=7)
                    for row in rows]
        assert streamed == sorted(streamed) and len(streamed) == 50 and len(set(streamed)) == 50
        listed = shards.all("SELECT * FROM records WHERE merchant_id=? ORDER BY seq", ("m-2",), seq_of)
        assert [row["merchant_id"] for row in listed] == ["m-2"] * 10
        for seq in streamed:
            row = shards.of_seq(seq).one("SELECT id FROM records WHERE seq=?", (seq,))
            assert row is not None and row["id"] == f"po_{seq:010d}"
    finally:
        shards.close()
        for ledger in ledgers:
            ledger.db.close()


def test_the_parent_passes_every_option_but_its_own() -> None:
    assert _parent_argv(["--port", "1", "--processes", "2", "--seed", "3"]) == ["--port", "1", "--seed", "3"]
    assert _parent_argv(["--processes=2", "--db", "x"]) == ["--db", "x"]


@pytest.mark.parametrize(("value", "said"), [("0", "expected 1 or more processes, got 0"),
                                              ("two", "expected a whole number of processes, 1 or more, got 'two'")])
def test_a_bad_process_count_is_refused_naming_the_option(value: str, said: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--port", "1", "--db", "x.db", "--api-key", "k", "--webhook-secret", "s", "--processes", value])
    assert exited.value.code == 2
    assert f"--processes: {said}" in capsys.readouterr().err


def test_several_processes_refuse_the_stripe_dialect(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--port", "1", "--db", "x.db", "--api-key", "k", "--webhook-secret", "s", "--processes", "2",
              "--dialect", "stripe"])
    assert "native dialect only" in capsys.readouterr().err


def test_the_stage_takes_one_or_more_provider_processes_and_only_native_above_one(tmp_path: Path) -> None:
    from harness._exceptions import UsageError
    from harness.stage import StageConfig
    from harness.target import load_target

    assert StageConfig(root=tmp_path).provider_processes == 1
    with pytest.raises(UsageError, match="provider_processes=0"):
        StageConfig(root=tmp_path, provider_processes=0)
    stripe = load_target(Path(__file__).resolve().parents[2] / "examples" / "merchant" / "target.yaml")
    with pytest.raises(UsageError, match="native dialect only"):
        StageConfig(root=tmp_path, target=stripe, provider_processes=2)


def test_capacity_takes_provider_processes_and_refuses_zero(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli.capacity import request_for
    from harness.cli.main import build_parser

    parser = build_parser()
    args = parser.parse_args(["capacity", "smoke", "--rates", "10", "--provider-processes", "2"])
    assert request_for(args).provider_processes == 2
    assert request_for(parser.parse_args(["capacity", "smoke", "--rates", "10"])).provider_processes == 1
    with pytest.raises(SystemExit):
        parser.parse_args(["capacity", "smoke", "--provider-processes", "0"])
    assert "--provider-processes: expected 1 or more, got 0" in capsys.readouterr().err


def test_a_ledger_written_with_another_number_of_processes_is_refused(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "l.shard1of2.db").write_bytes(b"")
    assert Layout(tmp_path / "l.db", 0, 2).other_layouts() == []
    assert Layout(tmp_path / "l.db", 0, 3).other_layouts() == [tmp_path / "l.shard1of2.db"]
    with pytest.raises(SystemExit):
        main(["--port", "1", "--db", str(tmp_path / "l.db"), "--api-key", "k", "--webhook-secret", "s"])
    assert "holds a ledger written with another --processes" in capsys.readouterr().err
    (tmp_path / "m.db").write_bytes(b"")
    assert Layout(tmp_path / "m.db", 0, 2).other_layouts() == [tmp_path / "m.db"]
    assert Layout(tmp_path / "m.db").other_layouts() == []
