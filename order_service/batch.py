"""Group commit: one statement, one round trip and one commit for many concurrent requests.

Under load, dozens of requests want the same kind of write at the same moment (store a new
order, record the provider's answer, apply a callback). A ``Batcher`` collects them while the
previous batch of its kind is at the database and sends them together: each request still gets
its own row's result, or the batch's error (``Unavailable``), exactly what it would have had
alone, and nothing is answered before its batch has committed. A lone request goes at once, on
the next turn of the event loop.

The batchers of one table share a ``Keys`` registry: a batch claims the keys of its items (the
record's id; a callback's event id) until it has committed, and an item whose key is claimed
waits for the next batch. So a record is in at most one batch in flight, two batches never lock
the same rows (no deadlock between them), and a second write of the same id sees the first one's
effect, as it would have one at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Keys:
    """The keys claimed by batches in flight, shared by the batchers of one table."""

    def __init__(self) -> None:
        self.claimed: set[Hashable] = set()
        self.batchers: list[Batcher[Any, Any]] = []

    def released(self) -> None:
        """A batch committed: items that waited for its keys may go now."""
        for batcher in self.batchers:
            batcher.kick()


class Batcher(Generic[Item, Result]):
    """Runs ``run(items)`` (one statement for all; a result per item, in order) for concurrent callers."""

    def __init__(self, run: Callable[[list[Item]], Awaitable[Sequence[Result]]],
                 keys_of: Callable[[Item], tuple[Hashable, ...]], keys: Keys, *,
                 max_size: int = 128, in_flight: int = 2) -> None:
        self._run = run
        self._keys_of = keys_of
        self._keys = keys
        self._max_size = max_size
        self._in_flight = in_flight
        self._running = 0
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        keys.batchers.append(self)

    async def __call__(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self.kick()
        return await future

    def kick(self) -> None:
        """Start a batch on the next turn of the loop, so that requests arriving meanwhile join it."""
        if self._waiting and not self._scheduled and self._running < self._in_flight:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        while self._waiting and self._running < self._in_flight:
            batch = self._take()
            if not batch:
                return  # every waiting item's key is in flight: the next release kicks again
            self._running += 1
            task = asyncio.get_running_loop().create_task(self._execute(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[tuple[Item, asyncio.Future[Result], tuple[Hashable, ...]]]:
        batch: list[tuple[Item, asyncio.Future[Result], tuple[Hashable, ...]]] = []
        later: list[tuple[Item, asyncio.Future[Result]]] = []
        claimed = self._keys.claimed
        for item, future in self._waiting:
            if future.done():
                continue  # its caller is gone (cancelled): nothing to write for it
            keys = self._keys_of(item)
            if len(batch) >= self._max_size or not claimed.isdisjoint(keys):
                later.append((item, future))
                continue
            claimed.update(keys)
            batch.append((item, future, keys))
        self._waiting = later
        return batch

    async def _execute(self, batch: list[tuple[Item, asyncio.Future[Result], tuple[Hashable, ...]]]) -> None:
        try:
            results = await self._run([item for item, _, _ in batch])
        except Exception as exc:  # the database's answer for every item of the batch
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future, _), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            for _, future, _ in batch:
                if not future.done():
                    future.cancel()  # the batch itself was cancelled (shutdown): no caller waits forever
            self._running -= 1
            for _, _, keys in batch:
                self._keys.claimed.difference_update(keys)
            self._keys.released()
