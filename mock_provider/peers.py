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


class Peer(asyncio.Protocol):
    """One end of the socket pair to another provider process.

    Frames written in one turn of the event loop leave in one ``write`` (a relay per creation
    would otherwise cost a system call each way), and a read hands on every whole frame it holds.
    """

    def __init__(self, index: int, sock: socket.socket) -> None:
        self.index = index
        self._sock = sock
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._transport: asyncio.Transport | None = None
        self._handle: Callable[[str, list[Any]], Awaitable[Any]] | None = None
        self._handling: set[asyncio.Task[None]] = set()
        self._inbox = bytearray()
        self._outbox: list[bytes] = []
        self._gone = False

    async def open(self, handle: Callable[[str, list[Any]], Awaitable[Any]]) -> None:
        self._handle = handle
        await asyncio.get_running_loop().connect_accepted_socket(lambda: self, self._sock)

    # ---- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        inbox = self._inbox
        inbox += data
        offset = 0
        while len(inbox) - offset >= _HEADER.size:
            (length,) = _HEADER.unpack_from(inbox, offset)
            if len(inbox) - offset - _HEADER.size < length:
                break
            start = offset + _HEADER.size
            self._received(orjson.loads(bytes(inbox[start:start + length])))
            offset = start + length
        del inbox[:offset]

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone = True
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(PeerError(f"provider process {self.index} is gone"))

    # ---- frames ----------------------------------------------------------------------------------
    def _received(self, frame: list[Any]) -> None:
        kind, request_id, *rest = frame
        if kind == _REQUEST:
            task = asyncio.get_running_loop().create_task(self._answer(request_id, rest[0], rest[1]))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)
            return
        future = self._waiting.pop(request_id, None)
        if future is not None and not future.done():
            if kind == _RESULT:
                future.set_result(rest[0])
            else:
                future.set_exception(PeerError(f"provider process {self.index}: {rest[0]}"))

    def _send(self, frame: list[Any]) -> None:
        if self._gone or self._transport is None:
            raise PeerError(f"provider process {self.index} is not connected")
        payload = orjson.dumps(frame)
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox += (_HEADER.pack(len(payload)), payload)

    def _flush(self) -> None:
        out, self._outbox = self._outbox, []
        if self._transport is not None and not self._gone:
            self._transport.write(b"".join(out))

    async def call(self, op: str, *args: Any, timeout_s: float | None = None) -> Any:
        """``op(*args)`` in the other process; its result, or PeerError (also when it is gone)."""
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            self._send([_REQUEST, request_id, op, list(args)])
            return await (future if timeout_s is None else asyncio.wait_for(future, timeout_s))
        except TimeoutError as exc:
            raise PeerError(f"provider process {self.index} did not answer {op} within {timeout_s} s") from exc
        finally:
            self._waiting.pop(request_id, None)

    async def _answer(self, request_id: int, op: str, args: list[Any]) -> None:
        assert self._handle is not None
        try:
            frame = [_RESULT, request_id, await self._handle(op, args)]
        except Exception as exc:  # the caller is told why, instead of waiting for its timeout
            frame = [_ERROR, request_id, f"{op} failed: {type(exc).__name__}: {exc}"[:500]]
        with contextlib.suppress(PeerError):  # the caller is gone: nobody to answer
            self._send(frame)

    async def close(self) -> None:
        for task in list(self._handling):
            task.cancel()
        if self._transport is not None:
            self._transport.close()


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
        """``op(*args)`` in process ``index``; no deadline: the answer comes, or PeerError when it is gone."""
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
            status, body = await self.peers[0].call("control", op, *args, timeout_s=30.0)
            return int(status), body
        return await self._control_here(op, *args)

    async def _control_here(self, op: str, *args: Any) -> tuple[int, Any]:
        async with self._control_lock:
            status, body = await self._handlers[op](*args)
            if status < 400:
                await asyncio.gather(*(peer.call(op, *args, timeout_s=30.0) for peer in self.peers.values()))
            return status, body

    async def close(self) -> None:
        for peer in self.peers.values():
            await peer.close()
