"""Group commit: concurrent writes share a batch, each gets its own result or the batch's error,
and a record is never in two batches in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

import pytest

from order_service.batch import Batcher, Keys


class Store:
    """A stand-in database call that records each batch and can be held open or made to fail."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_with: Exception | None = None
        self.concurrent = 0
        self.most_concurrent = 0

    async def run(self, items: list[str]) -> list[str]:
        self.batches.append(list(items))
        self.concurrent += 1
        self.most_concurrent = max(self.most_concurrent, self.concurrent)
        try:
            await self.gate.wait()
            if self.fail_with is not None:
                raise self.fail_with
            return [item.upper() for item in items]
        finally:
            self.concurrent -= 1


def key_of(item: str) -> tuple[Hashable, ...]:
    return (("id", item.split(":")[0]),)


def test_concurrent_callers_share_one_batch_and_each_gets_its_own_result() -> None:
    async def body() -> tuple[list[str], list[list[str]]]:
        store = Store()
        batcher = Batcher(store.run, key_of, Keys())
        results = await asyncio.gather(*(batcher(f"o{n}") for n in range(50)))
        return list(results), store.batches
    results, batches = asyncio.run(body())
    assert results == [f"O{n}" for n in range(50)]
    assert batches == [[f"o{n}" for n in range(50)]]


def test_a_batch_holds_at_most_max_size_items() -> None:
    async def body() -> list[list[str]]:
        store = Store()
        batcher = Batcher(store.run, key_of, Keys(), max_size=8, in_flight=1)
        await asyncio.gather(*(batcher(f"o{n}") for n in range(20)))
        return store.batches
    assert [len(batch) for batch in asyncio.run(body())] == [8, 8, 4]


def test_the_same_id_waits_for_the_next_batch_and_never_runs_twice_at_once() -> None:
    async def body() -> tuple[list[list[str]], int]:
        store = Store()
        keys = Keys()
        inserts = Batcher(store.run, key_of, keys)
        updates = Batcher(store.run, key_of, keys)  # another statement on the same table
        first = asyncio.gather(inserts("a:1"), inserts("b:1"), inserts("a:2"))
        await asyncio.sleep(0)
        second = asyncio.gather(updates("a:3"), updates("c:1"))
        await asyncio.gather(first, second)
        return store.batches, store.most_concurrent
    batches, most = asyncio.run(body())
    for index, batch in enumerate(batches):
        ids = [item.split(":")[0] for item in batch]
        assert len(ids) == len(set(ids)), batch
        assert ("a:2" in batch) <= any("a:1" in earlier for earlier in batches[:index])
    assert sorted(item for batch in batches for item in batch) == ["a:1", "a:2", "a:3", "b:1", "c:1"]
    assert most <= 4


def test_an_id_in_flight_is_held_back_until_its_batch_has_finished() -> None:
    async def body() -> tuple[list[list[str]], list[list[str]]]:
        store = Store()
        store.gate.clear()
        batcher = Batcher(store.run, key_of, Keys(), in_flight=2)
        first = asyncio.ensure_future(batcher("a:1"))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(batcher("a:2"))
        other = asyncio.ensure_future(batcher("b:1"))
        await asyncio.sleep(0.01)
        seen_while_held = [list(batch) for batch in store.batches]
        store.gate.set()
        await asyncio.gather(first, second, other)
        return seen_while_held, store.batches
    held, batches = asyncio.run(body())
    assert held == [["a:1"], ["b:1"]]  # b went in a second batch at once; a:2 waited for a:1
    assert batches[-1] == ["a:2"]


def test_every_caller_of_a_failed_batch_gets_its_error_and_the_keys_are_released() -> None:
    async def body() -> tuple[list[BaseException | str], str]:
        store = Store()
        store.fail_with = ConnectionError("database down")
        keys = Keys()
        batcher = Batcher(store.run, key_of, keys)
        results = await asyncio.gather(batcher("a:1"), batcher("b:1"), return_exceptions=True)
        assert not keys.claimed
        store.fail_with = None
        return list(results), await batcher("a:2")
    results, after = asyncio.run(body())
    assert all(isinstance(result, ConnectionError) for result in results)
    assert after == "A:2"


def test_a_cancelled_batch_cancels_its_callers_instead_of_leaving_them_waiting() -> None:
    async def body() -> None:
        store = Store()
        store.gate.clear()
        batcher = Batcher(store.run, key_of, Keys())
        waiting = asyncio.ensure_future(batcher("a:1"))
        await asyncio.sleep(0.01)
        for task in list(batcher._tasks):  # the server is shutting down
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiting, timeout=1)
    asyncio.run(body())
