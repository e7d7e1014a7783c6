"""The callbacks' HTTP client: plain HTTP/1.1 POSTs over a pool of keep-alive connections.

Under load every order costs one callback, so the client is half of the provider's HTTP work.
aiohttp spent about a quarter of the provider's CPU on it (its request and response objects,
tracing hooks, cookie jar, timeouts, URL normalisation); this client writes the request in one
buffer and reads the answer with httptools (the parser uvicorn already uses), which is all a
callback needs. A URL it does not take as it is (``https``, user info, IPv6, percent escapes, dot
segments: anything aiohttp would encode, normalise or wrap in TLS) goes to aiohttp unchanged.

Limits as aiohttp had them: 5 s for the whole exchange, 2 s to connect, idle connections kept
30 s. A failure is ``(None, "<exception type>: <message>")``, journaled and retried by the
caller like any other.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import cast

import httptools

_TOTAL_S = 5.0
_CONNECT_S = 2.0
_KEEPALIVE_S = 30.0
_MAX_IDLE = 256
# Host names and IPv4 addresses, and paths and queries aiohttp (yarl) sends exactly as written.
_PLAIN = re.compile(r"^http://([A-Za-z0-9.-]+)(?::(\d{1,5}))?(/[A-Za-z0-9\-._~/=&?:+,]*)?$")
_COMMON = "Accept: */*\r\nUser-Agent: orderquake-mock-provider\r\n"
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|$|\?)")

Fallback = Callable[[str, bytes, dict[str, str]], Awaitable[tuple[int | None, str | None]]]


class Disconnected(ConnectionError):
    """The server closed the connection before its answer was complete."""


def plain_target(url: str) -> tuple[str, int, bytes] | None:
    """``(host, port, request head prefix)`` of a URL this client sends as it is, or None.

    >>> plain_target("http://127.0.0.1:8000/callbacks?x=1")[2].split(b"\\r\\n")[:2]
    [b'POST /callbacks?x=1 HTTP/1.1', b'Host: 127.0.0.1:8000']
    """
    match = _PLAIN.match(url)
    if match is None:
        return None
    host, port_text, path = match.group(1), match.group(2), match.group(3) or "/"
    port = int(port_text) if port_text is not None else 80
    if not 0 < port < 65536 or _DOT_SEGMENT.search(path.split("?", 1)[0] + "?") or path.startswith("//"):
        return None
    host_header = host if port_text is None else f"{host}:{port}"
    return host, port, f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\n{_COMMON}".encode()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer parsed as it arrives."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.WriteTransport | None = None
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False
        self.idle_since = 0.0
        self._headers_done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport writes like an asyncio.Transport without being a subclass of one.
        self.transport = cast(asyncio.WriteTransport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._finish(exc=exc)
            self.close()

    def eof_received(self) -> None:
        self.closed = True  # the transport closes itself; connection_lost settles a pending answer

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_message_complete(self) -> None:
        self._headers_done = False
        if not self.parser.should_keep_alive():
            self.closed = True
        self._finish(status=self.parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._headers_done:  # an answer without a length ends when the connection does
            self._finish(status=self.parser.get_status_code())
        else:
            self._finish(exc=Disconnected("server disconnected before its answer was complete"))

    def _finish(self, *, status: int = 0, exc: BaseException | None = None) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(status)
            else:
                waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[int]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class CallbackClient:
    """``await client(url, body, headers)`` -> ``(HTTP status, None)`` or ``(None, why it failed)``."""

    def __init__(self, fallback: Fallback, *, total_s: float = _TOTAL_S, connect_s: float = _CONNECT_S) -> None:
        self._fallback = fallback
        self._total_s, self._connect_s = total_s, connect_s
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._targets: dict[str, tuple[str, int, bytes] | None] = {}

    async def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        target = self._targets.get(url, False)
        if target is False:
            if len(self._targets) > 4096:
                self._targets.clear()
            target = self._targets[url] = plain_target(url)
        if target is None or any("\r" in v or "\n" in v for v in headers.values()):
            return await self._fallback(url, body, headers)
        host, port, head = cast(tuple[str, int, bytes], target)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._total_s
        connection = self._take(host, port, loop.time())
        try:
            if connection is None:
                connection = await self._connect(loop, host, port, self._connect_s)
            waiter: asyncio.Future[int] = loop.create_future()
            connection.waiter = waiter
            extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            assert connection.transport is not None
            connection.transport.write(b"%s%sContent-Length: %d\r\n\r\n%s" % (head, extra.encode(), len(body), body))
            timer = loop.call_at(deadline, _expire, waiter)
            try:
                status = await waiter
            finally:
                timer.cancel()
        except (OSError, TimeoutError, httptools.HttpParserError, UnicodeError) as exc:
            if connection is not None:
                connection.close()
            return None, f"{type(exc).__name__}: {exc}"[:300]
        except BaseException:
            if connection is not None:
                connection.close()
            raise
        self._give_back(host, port, connection, loop.time())
        return status, None

    @staticmethod
    async def _connect(loop: asyncio.AbstractEventLoop, host: str, port: int, timeout_s: float) -> _Connection:
        _, connection = await asyncio.wait_for(loop.create_connection(_Connection, host, port), timeout_s)
        return connection

    def _take(self, host: str, port: int, now: float) -> _Connection | None:
        idle = self._idle.get((host, port))
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < _KEEPALIVE_S:
                return connection
            connection.close()
        return None

    def _give_back(self, host: str, port: int, connection: _Connection, now: float) -> None:
        if connection.closed:
            connection.close()
            return
        idle = self._idle.setdefault((host, port), [])
        if len(idle) >= _MAX_IDLE:
            connection.close()
            return
        connection.idle_since = now
        idle.append(connection)

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
