"""The intercept proxy in process on loopback: what it refuses, and the tunnel it makes to a stub upstream."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from harness.stage.intercept import InterceptCerts, InterceptProxy, ProxyConfig, make_certs, parse_connect
from harness.stage.ports import free_port

HOSTS = frozenset({"api.stripe.com", "files.stripe.com"})
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.mark.parametrize("head, status", [
    (b"CONNECT api.stripe.com:443 HTTP/1.1\r\nHost: api.stripe.com:443\r\n\r\n", 200),
    (b"CONNECT API.Stripe.com:443 HTTP/1.0\r\n\r\n", 200),
    (b"CONNECT files.stripe.com:443 HTTP/1.1\r\n\r\n", 200),
    (b"CONNECT example.com:443 HTTP/1.1\r\n\r\n", 403),
    (b"CONNECT api.stripe.com:80 HTTP/1.1\r\n\r\n", 403),
    (b"CONNECT api.stripe.com HTTP/1.1\r\n\r\n", 403),
    (b"CONNECT 127.0.0.1:443 HTTP/1.1\r\n\r\n", 403),
    (b"GET http://api.stripe.com/v1/charges HTTP/1.1\r\n\r\n", 403),
    (b"POST http://example.com/ HTTP/1.1\r\n\r\n", 403),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    (b"CONNECT api.stripe.com:443\r\n\r\n", 400),
])
def test_only_connect_to_an_intercepted_host_on_443_is_allowed(head: bytes, status: int) -> None:
    assert parse_connect(head, HOSTS)[0] == status


def test_a_refusal_names_the_hosts_it_would_reach() -> None:
    status, reason = parse_connect(b"CONNECT example.com:443 HTTP/1.1\r\n\r\n", HOSTS)
    assert status == 403 and "example.com:443 refused" in reason and "api.stripe.com:443" in reason


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> InterceptCerts:
    return make_certs(tmp_path_factory.mktemp("intercept"))


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def echo_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An upstream answering each request on the connection with the request head it received."""
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(head), head))
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def proxy(certs: InterceptCerts, upstream_port: int) -> AsyncIterator[int]:
    port = free_port()
    started = asyncio.Event()
    task = asyncio.ensure_future(InterceptProxy(ProxyConfig(
        host="127.0.0.1", port=port, upstream_host="127.0.0.1", upstream_port=upstream_port,
        cert=str(certs.server_cert), key=str(certs.server_key), hosts=HOSTS)).serve_forever(started))
    await asyncio.wait_for(started.wait(), 5)
    try:
        yield port
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def connect(port: int, authority: str) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return head, reader, writer


async def get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> bytes:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: api.stripe.com\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    return await reader.readexactly(length)


def test_a_tunnel_ends_tls_and_forwards_each_request_of_a_kept_alive_connection(certs: InterceptCerts) -> None:
    async def scenario() -> None:
        async with serving(echo_head) as upstream, proxy(certs, upstream) as port:
            head, reader, writer = await connect(port, "api.stripe.com:443")
            assert head.startswith(b"HTTP/1.1 200 ")
            context = ssl.create_default_context(cafile=str(certs.bundle))
            await writer.start_tls(context, server_hostname="api.stripe.com")
            tls = writer.get_extra_info("ssl_object")
            assert tls.selected_alpn_protocol() in (None, "http/1.1")
            assert (await get(reader, writer, "/v1/payment_intents/pi_1")).startswith(b"GET /v1/payment_intents/pi_1 ")
            second = await get(reader, writer, "/v1/events")
            assert second.startswith(b"GET /v1/events ") and b"Host: api.stripe.com" in second
            writer.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("request_head", [
    b"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
    b"CONNECT api.stripe.com:8443 HTTP/1.1\r\n\r\n",
    b"GET http://api.stripe.com/v1/charges HTTP/1.1\r\nHost: api.stripe.com\r\n\r\n",
])
def test_a_refused_request_gets_403_and_its_connection_closed(certs: InterceptCerts, request_head: bytes) -> None:
    upstream_reached: list[bool] = []

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reached.append(True)
        writer.close()

    async def scenario() -> bytes:
        async with serving(upstream) as upstream_port, proxy(certs, upstream_port) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request_head)
            answer = await asyncio.wait_for(reader.read(), 5)  # to EOF: the proxy closed the connection
            writer.close()
            return answer

    answer = asyncio.run(scenario())
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n") and b"refused" in answer
    assert not upstream_reached


def test_a_dead_upstream_closes_the_tunnel_after_tls(certs: InterceptCerts) -> None:
    async def scenario() -> bytes:
        async with proxy(certs, free_port()) as port:
            head, reader, writer = await connect(port, "api.stripe.com:443")
            assert head.startswith(b"HTTP/1.1 200 ")
            await writer.start_tls(ssl.create_default_context(cafile=str(certs.bundle)),
                                   server_hostname="api.stripe.com")
            writer.write(b"GET /v1/events HTTP/1.1\r\nHost: api.stripe.com\r\n\r\n")
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                return await asyncio.wait_for(reader.read(), 5)
            return b""

    assert asyncio.run(scenario()) == b""


def test_an_upstream_that_hangs_up_ends_the_tunnel(certs: InterceptCerts) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart")  # six bytes short
        await writer.drain()
        writer.close()

    async def scenario() -> bytes:
        async with serving(hang_up) as upstream, proxy(certs, upstream) as port:
            _, reader, writer = await connect(port, "api.stripe.com:443")
            await writer.start_tls(ssl.create_default_context(cafile=str(certs.bundle)),
                                   server_hostname="api.stripe.com")
            writer.write(b"GET /v1/events HTTP/1.1\r\nHost: api.stripe.com\r\n\r\n")
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                return await asyncio.wait_for(reader.read(), 5)
            return b"(reset)"

    assert asyncio.run(scenario()).endswith(b"\r\n\r\npart")

