"""How the provider's processes talk to each other: one socket pair per pair of processes.

The supervisor (``mock_provider.supervisor``) makes a socket pair for every two processes before
it starts them, so no process has an address to find or a listener to wait for. Over each runs a
small request/response protocol in both directions: a frame is a 4-byte big-endian length and an
orjson array, ``[0, id, op, args]`` for a request, ``[1, id, result]`` or ``[2, id, error]`` for
its answer. Used for two things only, both rare or cheap next to a creation:

- ``relay``: a creation whose idempotency key another process owns (``Layout.owner_of_key``) is
  decided there and its answer relayed back;
- ``control``: a behaviour change or a reset is applied by every process, in one order: shard 0
  applies it, then every other shard, under one lock, before the request that asked is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from mock_provider.shards import Layout

Handler = Callable[..., Awaitable[Any]]
_HEADER = struct.Struct(">I")
_REQUEST, _RESULT, _ERROR = 0, 1, 2


class PeerError(Exception):
    """Another provider process failed a request, or is gone."""


class Peer:
    """One end of the socket pair to another provider process."""

    def __init__(self, index: int, sock: socket.socket) -> None:
        self.index = index
        self._sock = sock
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._handling: set[asyncio.Task[None]] = set()

    async def open(self, handle: Callable[[str, list[Any]], Awaitable[Any]]) -> None:
        reader, self._writer = await asyncio.open_connection(sock=self._sock)
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader, handle))

    def _send(self, frame: list[Any]) -> None:
        if self._writer is None or self._writer.is_closing():
            raise PeerError(f"provider process {self.index} is not connected")
        payload = orjson.dumps(frame)
        self._writer.write(_HEADER.pack(len(payload)) + payload)

    async def call(self, op: str, *args: Any, timeout_s: float | None = 30.0) -> Any:
        """``op(*args)`` in the other process; its result, or PeerError."""
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            self._send([_REQUEST, request_id, op, list(args)])
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError as exc:
            raise PeerError(f"provider process {self.index} did not answer {op} within {timeout_s} s") from exc
        finally:
            self._waiting.pop(request_id, None)

    async def _read(self, reader: asyncio.StreamReader, handle: Callable[[str, list[Any]], Awaitable[Any]]) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                (length,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                kind, request_id, *rest = orjson.loads(await reader.readexactly(length))
                if kind == _REQUEST:
                    task = loop.create_task(self._answer(request_id, rest[0], rest[1], handle))
                    self._handling.add(task)
                    task.add_done_callback(self._handling.discard)
                    continue
                future = self._waiting.get(request_id)
                if future is not None and not future.done():
                    if kind == _RESULT:
                        future.set_result(rest[0])
                    else:
                        future.set_exception(PeerError(f"provider process {self.index}: {rest[0]}"))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(PeerError(f"provider process {self.index} is gone"))

    async def _answer(self, request_id: int, op: str, args: list[Any],
                      handle: Callable[[str, list[Any]], Awaitable[Any]]) -> None:
        try:
            frame = [_RESULT, request_id, await handle(op, args)]
        except Exception as exc:  # the caller is told why, instead of waiting for its timeout
            frame = [_ERROR, request_id, f"{op} failed: {type(exc).__name__}: {exc}"[:500]]
        with contextlib.suppress(PeerError):  # the caller is gone: nobody to answer
            self._send(frame)

    async def close(self) -> None:
        for task in [*self._handling, *([self._reader_task] if self._reader_task else [])]:
            task.cancel()
        if self._writer is not None:
            self._writer.close()


class Cluster:
    """This process's view of the others: relays by owner, control applied everywhere in one order."""

    def __init__(self, layout: Layout, sockets: dict[int, socket.socket]) -> None:
        if set(sockets) != set(layout.siblings()):
            raise ValueError(f"expected a socket for each of processes {layout.siblings()}, got {sorted(sockets)}")
        self.layout = layout
        self.peers = {index: Peer(index, sock) for index, sock in sockets.items()}
        self._handlers: dict[str, Handler] = {}
        self._control_lock = asyncio.Lock()

    async def open(self, handlers: dict[str, Handler]) -> None:
        """Start answering the other processes with ``handlers`` (op name to coroutine function)."""
        self._handlers = handlers | {"ping": self._ping, "control": self._control_here}
        for peer in self.peers.values():
            await peer.open(self._handle)

    async def _handle(self, op: str, args: list[Any]) -> Any:
        handler = self._handlers.get(op)
        if handler is None:
            raise PeerError(f"unknown operation {op!r}")
        return await handler(*args)

    async def _ping(self) -> int:
        return self.layout.index

    async def call(self, index: int, op: str, *args: Any) -> Any:
        return await self.peers[index].call(op, *args)

    async def all_answer(self, timeout_s: float = 2.0) -> bool:
        """True when every other process answers a ping within ``timeout_s`` (the provider's readiness)."""
        try:
            await asyncio.gather(*(peer.call("ping", timeout_s=timeout_s) for peer in self.peers.values()))
        except PeerError:
            return False
        return True

    async def control(self, op: str, *args: Any) -> tuple[int, Any]:
        """Apply control operation ``op`` in every process; the first process's (status, body).

        The first process orders every change under one lock, so two changes asked of two processes
        at once end the same way in all of them. A change refused (status 400 or above) is applied
        nowhere else.
        """
        if self.layout.index != 0:
            status, body = await self.call(0, "control", op, *args)
            return int(status), body
        return await self._control_here(op, *args)

    async def _control_here(self, op: str, *args: Any) -> tuple[int, Any]:
        async with self._control_lock:
            status, body = await self._handlers[op](*args)
            if status < 400:
                await asyncio.gather(*(peer.call(op, *args) for peer in self.peers.values()))
            return status, body

    async def close(self) -> None:
        for peer in self.peers.values():
            await peer.close()
