"""The provider's speed tricks, each against the plain way it replaced.

- ``iso`` (the date and time of a second formatted once) against ``datetime.isoformat``;
- ``Ledger.execute_later`` (writes batched into the commit) against running them at once: every
  read, commit and wipe sees the same tables;
- the outbox queued in memory against the table it mirrors: the same events, in the order the
  old ``SELECT ... ORDER BY next_at`` gave them, rebuilt on restart, and nothing requeued across a wipe.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from contract import Flow
from mock_provider.behaviour import Behaviour
from mock_provider.ledger import Ledger
from mock_provider.provider import Provider, iso


def _reference_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False, allow_infinity=False))
@example(1_700_000_000.9999995)
@example(1_700_000_000.0009995)
@example(1_700_000_000.9995)
@example(0.0)
def test_iso_is_datetimes_isoformat(ts: float) -> None:
    assert iso(ts) == _reference_iso(ts)
    assert iso(ts + 1e-3) == _reference_iso(ts + 1e-3)  # the cached second, then the next stamp in it


def test_iso_over_a_run_of_close_stamps() -> None:
    rng = random.Random(7)
    ts = 1_795_416_377.0
    for _ in range(20_000):
        ts += rng.choice((0.0, 1e-6, 0.0004999, 0.0005, 0.0137, 0.9999))
        assert iso(ts) == _reference_iso(ts)


def _ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.db")


def _lines(ledger: Ledger) -> list[str]:
    return [row["line"] for row in ledger.all("SELECT line FROM journal ORDER BY seq")]


def test_a_queued_write_is_seen_by_the_next_read_and_committed(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.execute_later("INSERT INTO journal (line) VALUES (?)", ("a",))
    ledger.execute("INSERT INTO meta (key, value) VALUES ('x', '1')")
    ledger.execute_later("INSERT INTO journal (line) VALUES (?)", ("b",))
    assert _lines(ledger) == ["a", "b"]
    ledger.execute_later("INSERT INTO journal (line) VALUES (?)", ("c",))
    ledger.commit_now()
    ledger.db.close()
    assert _lines(_ledger(tmp_path)) == ["a", "b", "c"]  # committed: another connection reads them


def test_a_write_queued_before_a_wipe_is_wiped(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.execute_later("INSERT INTO journal (line) VALUES (?)", ("before",))
    ledger.wipe()
    ledger.execute_later("INSERT INTO journal (line) VALUES (?)", ("after",))
    ledger.commit_now()
    assert _lines(ledger) == ["after"]


def _provider(ledger: Ledger, **behaviour: object) -> Provider:
    return Provider(ledger, Behaviour(api_key="k", webhook_secret="s", **behaviour), seed=3)


LATER = time.time() + 3600  # settlement and delivery times an hour ahead: everything is due


def _order(provider: Provider, n: int) -> None:
    provider.create(Flow.ORDER, {"merchant_order_id": f"m{n}", "amount_minor": 100 + n, "currency": "EUR",
                                 "callback_url": "http://sut.test/cb"}, None, "")


def test_the_outbox_in_memory_gives_the_events_in_the_tables_order(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    provider = _provider(ledger, settle_delay_ms=0, callback_reorder_rate=0.5, callback_drop_rate=0.1)
    for n in range(300):
        _order(provider, n)
        if n % 37 == 0:  # several settlements, so that next_at ties and interleavings both occur
            provider.settle_due(LATER)
    provider.settle_due(LATER)
    expected = [row["event_id"] for row in ledger.all("SELECT event_id FROM outbox WHERE done=0 AND next_at<=? "
                                                      "ORDER BY next_at", (LATER + 60,))]
    taken = [row["event_id"] for row in provider.due_callbacks(LATER + 60, 10_000)]
    assert taken == expected and len(taken) > 200
    journaled = [row["line"] for row in ledger.all("SELECT line FROM journal")]
    assert len(journaled) + len(taken) == 300  # each event either dropped (journaled) or queued


def test_the_outbox_is_rebuilt_on_restart_with_its_attempts(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    provider = _provider(ledger, settle_delay_ms=0)
    for n in range(3):
        _order(provider, n)
    provider.settle_due(LATER)
    first, second, third = provider.due_callbacks(LATER, 10)
    provider.callback_retry(first, 2, LATER + 600)
    provider.callback_done(second, 1)
    provider.requeue(first, provider.generation)
    ledger.commit_now()
    ledger.db.close()
    again = _provider(_ledger(tmp_path))
    rebuilt = {row["event_id"]: row for row in again.due_callbacks(LATER + 3600, 10)}
    assert set(rebuilt) == {first["event_id"], third["event_id"]}  # `third` was taken but never finished
    assert (rebuilt[first["event_id"]]["attempt"], rebuilt[first["event_id"]]["next_at"]) == (2, LATER + 600)
    assert rebuilt[third["event_id"]]["attempt"] == 0


def test_a_delivery_in_flight_across_a_wipe_does_not_requeue_its_event(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    provider = _provider(ledger, settle_delay_ms=0)
    _order(provider, 1)
    provider.settle_due(LATER)
    (row,) = provider.due_callbacks(LATER, 10)
    generation = provider.generation
    ledger.wipe()
    provider.forget_schedule()
    provider.callback_retry(row, 1, 0.0)
    provider.requeue(row, generation)
    assert provider.due_callbacks(LATER, 10) == []
    assert ledger.all("SELECT * FROM outbox") == []
