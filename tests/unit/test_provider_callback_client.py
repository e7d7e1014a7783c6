"""The callbacks' own HTTP client, judged against aiohttp (the client it replaces) on a real socket.

Each URL is posted by both, to one small server that records the raw request; the request line,
the Host header, the caller's headers, the body and the status each client reports must agree,
and URLs the client does not send itself must reach the fallback. Failures (refused, timed out,
disconnected, an answer ended by the close) are a ``(None, reason)``, never an exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from harness.stage.ports import free_port
from mock_provider.callback_client import CallbackClient, plain_target
from mock_provider.delivery import AiohttpSender

Answer = Callable[[bytes], Awaitable[bytes | None]]  # request head -> raw answer, or None to hang up


@dataclass
class Seen:
    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    connections: int = 0


async def _ok(_: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@asynccontextmanager
async def server(answer: Answer = _ok) -> AsyncIterator[tuple[int, Seen]]:
    seen = Seen()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                seen.heads.append(head)
                seen.bodies.append(await reader.readexactly(length))
                raw = await answer(head)
                if raw is None:
                    break
                writer.write(raw)
                await writer.drain()
                if b"Connection: close" in raw:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    port = free_port()
    listening = await asyncio.start_server(handle, "127.0.0.1", port)
    async with listening:
        yield port, seen


def _request_line_and_host(head: bytes) -> tuple[bytes, bytes]:
    lines = head.split(b"\r\n")
    host = next(line for line in lines if line.lower().startswith(b"host:"))
    return lines[0], host.split(b":", 1)[1].strip()


def _header(head: bytes, name: bytes) -> bytes | None:
    return next((line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                 if line.lower().startswith(name.lower() + b":")), None)


PATHS = ["/callbacks", "", "/a/b?x=1&y=2", "/cb?x=a:b,c+d", "/p.q/r~s_t-u", "/a//b", "/a/../b", "/%41b", "/a/./b",
         "/cb?next=/x/../y", "/.well-known/x"]


@pytest.mark.parametrize("path", PATHS)
def test_the_client_sends_what_aiohttp_sends(path: str) -> None:
    async def body() -> None:
        async with server() as (port, seen):
            aiohttp_sender = AiohttpSender()
            await aiohttp_sender.open()
            fallbacks: list[str] = []

            async def fallback(url: str, data: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
                fallbacks.append(url)
                return await aiohttp_sender(url, data, headers)
            client = CallbackClient(fallback)
            try:
                for host in ("127.0.0.1", "localhost"):
                    url = f"http://{host}:{port}{path}"
                    headers = {"Content-Type": "application/json", "Provider-Signature": "t=1,v1=ab"}
                    ours = await client(url, b'{"n": 1}', headers)
                    theirs = await aiohttp_sender(url, b'{"n": 1}', headers)
                    assert ours == theirs == (200, None)
                    mine, reference = seen.heads[-2], seen.heads[-1]
                    assert _request_line_and_host(mine) == _request_line_and_host(reference)
                    for name in (b"Content-Type", b"Provider-Signature", b"Content-Length"):
                        assert _header(mine, name) == _header(reference, name)
                    assert seen.bodies[-2] == seen.bodies[-1] == b'{"n": 1}'
                    assert (url in fallbacks) == (plain_target(url) is None)
            finally:
                client.close()
                await aiohttp_sender.close()
    asyncio.run(body())


def test_urls_sent_directly_and_urls_handed_on() -> None:
    assert plain_target("http://sut.test/callbacks") is not None
    assert plain_target("http://127.0.0.1:9/x?a=1") is not None
    for url in ("https://sut.test/cb", "http://user:pw@sut.test/cb", "http://[::1]:80/cb", "http://[::1", "http://h/%20",
                "http://h/a/../b", "http://h:99999/cb", "http://h/cb#frag", "http://h/a b", "ftp://h/cb", "//h/cb"):
        assert plain_target(url) is None, url


def test_connections_are_kept_alive_and_a_closing_server_is_not_reused() -> None:
    answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", b"HTTP/1.1 204 No Content\r\n\r\n",
               b"HTTP/1.1 500 Oops\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad",
               b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"]

    async def answer(_: bytes) -> bytes:
        return answers.pop(0)

    async def body() -> None:
        async with server(answer) as (port, seen):
            client = CallbackClient(_no_fallback)
            try:
                statuses = [await client(f"http://127.0.0.1:{port}/cb", b"{}", {}) for _ in range(4)]
            finally:
                client.close()
            assert statuses == [(200, None), (204, None), (500, None), (201, None)]
            assert seen.connections == 2  # the first three on one connection, the fourth after its close
    asyncio.run(body())


def test_an_answer_without_a_length_ends_with_the_connection() -> None:
    async def answer(_: bytes) -> bytes:
        return b"HTTP/1.1 202 Accepted\r\nConnection: close\r\n\r\nsome body"

    async def body() -> tuple[int | None, str | None]:
        async with server(answer) as (port, _):
            client = CallbackClient(_no_fallback)
            try:
                return await client(f"http://127.0.0.1:{port}/cb", b"{}", {})
            finally:
                client.close()
    assert asyncio.run(body()) == (202, None)


def test_failures_are_reasons_not_exceptions() -> None:
    async def hang_up(_: bytes) -> None:
        return None

    async def never(_: bytes) -> bytes:
        await asyncio.sleep(10)
        return b""

    async def body() -> list[tuple[int | None, str | None]]:
        client = CallbackClient(_no_fallback, total_s=0.3, connect_s=0.3)
        try:
            refused = await client(f"http://127.0.0.1:{free_port()}/cb", b"{}", {})
            async with server(hang_up) as (port, _):
                disconnected = await client(f"http://127.0.0.1:{port}/cb", b"{}", {})
            async with server(never) as (port, _):
                timed_out = await client(f"http://127.0.0.1:{port}/cb", b"{}", {})
            async with server(lambda _: _garbage()) as (port, _):
                garbled = await client(f"http://127.0.0.1:{port}/cb", b"{}", {})
            return [refused, disconnected, timed_out, garbled]
        finally:
            client.close()
    refused, disconnected, timed_out, garbled = asyncio.run(body())
    assert refused[0] is None and "Connect" in (refused[1] or "")
    assert disconnected[0] is None and (disconnected[1] or "").startswith("Disconnected")
    assert timed_out == (None, "TimeoutError: ")
    assert garbled[0] is None and "HttpParser" in (garbled[1] or "")


async def _garbage() -> bytes:
    return b"NOT HTTP AT ALL\r\n\r\n"


async def _no_fallback(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
    raise AssertionError(f"{url} went to the fallback")
