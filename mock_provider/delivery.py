"""Background work from durable state: settlement, and at-least-once signed callbacks.

Both loops read the ledger's tables, so after a SIGKILL and restart they carry on where the
last commit left them: records still ``processing`` settle, callbacks not yet acknowledged are
retried. Every delivery attempt, and every duplicate ordered by the behaviour, is journaled for
``/_ledger/callbacks`` (a drop is decided and journaled at settlement).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx

from mock_provider.provider import Provider
from mock_provider.signing import sign

log = logging.getLogger("mock_provider")

_TICK_S = 0.02
_MAX_IN_FLIGHT = 256


# One POST of a callback: (url, body, headers) to (HTTP status or None, why it failed or None).
Send = Callable[[str, bytes, dict[str, str]], Awaitable[tuple[int | None, str | None]]]


def _failure(exc: Exception) -> tuple[None, str]:
    return None, f"{type(exc).__name__}: {exc}"[:300]


class AiohttpSender:
    """Callbacks over aiohttp, whose connection pool costs little per request under load (httpx's
    pool bookkeeping was a third to a half of the provider's CPU when hundreds of callbacks a
    second went out). Open it inside the running loop; close it on the way out.
    """

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=5.0, sock_connect=2.0),
            connector=aiohttp.TCPConnector(limit=_MAX_IN_FLIGHT, keepalive_timeout=30))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        if self._session is None:
            raise RuntimeError("AiohttpSender.open() was not awaited")
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status, None
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            # The URL came from the client: one that cannot even be parsed (InvalidURL) is a
            # failed attempt like any other, journaled and retried until the attempts run out.
            return _failure(exc)


def httpx_sender(client: httpx.AsyncClient) -> Send:
    """Callbacks through an httpx client: tests deliver them in process through its transport."""
    async def send(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        try:
            response = await client.post(url, content=body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return _failure(exc)
        return response.status_code, None
    return send


class Deliverer:
    """Runs settlement and callback delivery until cancelled."""

    def __init__(self, provider: Provider, send: Send) -> None:
        self.provider = provider
        self.send = send
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        while True:
            try:
                now = time.time()
                if self.provider.settle_due(now):
                    await self.provider.ledger.committed()
                self._dispatch(now)
            except Exception:  # a loop that dies silently would stall every callback
                log.exception("settlement or delivery step failed; retrying")
            await asyncio.sleep(_TICK_S)

    def _dispatch(self, now: float) -> None:
        # At most _MAX_IN_FLIGHT events are being delivered, each one POST at a time: that bounds
        # the callbacks in flight, with no semaphore to pass per POST.
        room = _MAX_IN_FLIGHT - len(self._in_flight)
        if room <= 0:
            return
        loop = asyncio.get_running_loop()
        generation = self.provider.generation
        for row in self.provider.due_callbacks(now, room):
            self._in_flight.add(row["event_id"])
            task = loop.create_task(self._deliver(row, generation))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, row: dict[str, Any], generation: int) -> None:
        again = True
        try:
            again = await self._attempt(row)
        except Exception:  # the next tick retries the event; say why it failed rather than lose it
            log.exception("delivery of %s failed", row["event_id"])
        finally:
            self._in_flight.discard(row["event_id"])
            if again:
                self.provider.requeue(row, generation)

    async def _attempt(self, row: dict[str, Any]) -> bool:
        """One attempt (two POSTs when it is duplicated), journaled; True when the event is to be tried again."""
        behaviour = self.provider.behaviour
        attempt = int(row["attempt"]) + 1
        duplicate = attempt == 1 and self.provider.chance(behaviour.callback_duplicate_rate,
                                                              self.provider.duplicate_rng)
        status, error = await self._post(row)
        if duplicate:
            self.provider.journal(row, attempt, "duplicated", status, error)
            status, error = await self._post(row)
        delivered = status is not None and 200 <= status < 300
        self.provider.journal(row, attempt, "delivered" if delivered else "failed", status, error)
        again = not (delivered or attempt >= behaviour.callback_max_attempts)
        if again:
            backoff = behaviour.callback_backoff_ms / 1000 * (2 ** (attempt - 1))
            self.provider.callback_retry(row, attempt, time.time() + min(backoff, 60.0))
        else:
            self.provider.callback_done(row, attempt)
        await self.provider.ledger.committed()
        return again

    async def _post(self, row: dict[str, Any]) -> tuple[int | None, str | None]:
        body = row["body"].encode()
        headers = {"Content-Type": "application/json",
                   "Provider-Signature": sign(self.provider.behaviour.webhook_secret, body, int(time.time()))}
        return await self.send(row["url"], body, headers)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
