"""The intercepting proxy: ``CONNECT api.stripe.com:443`` in, plaintext HTTP to the provider link out.

    SUT ──CONNECT──> proxy ──TLS ends here──> plaintext ──[provider link]──> mock provider

A tunnel is accepted only to one of the certificate's hosts on port 443; any other ``CONNECT``
and every plain ``http://`` request is answered 403, so a SUT can never reach the internet
through it. Inside an accepted tunnel the proxy terminates TLS with the stage's certificate and
copies bytes both ways to one new connection to ``upstream`` (Toxiproxy's listen address of the
``provider`` link): one client connection is one upstream connection, so keep-alive, streaming
and every toxic of the link behave as they would on the direct path.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Collection
from dataclasses import dataclass

_HEAD_LIMIT = 16 * 1024
_HEAD_TIMEOUT_S = 10.0
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ProxyConfig:
    host: str
    port: int
    upstream_host: str
    upstream_port: int
    cert: str
    key: str
    hosts: Collection[str]


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """TLS for the SUT's side: HTTP/1.1 only (offered by ALPN), so no client switches to HTTP/2."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    return context


def parse_connect(head: bytes, hosts: Collection[str]) -> tuple[int, str]:
    """The answer to a request head: ``(200, host)`` for a tunnel to allow, else ``(status, reason)``.

    >>> parse_connect(b"CONNECT api.stripe.com:443 HTTP/1.1\\r\\n\\r\\n", {"api.stripe.com"})
    (200, 'api.stripe.com')
    >>> parse_connect(b"GET http://example.com/ HTTP/1.1\\r\\n\\r\\n", {"api.stripe.com"})[0]
    403
    """
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return 400, f"expected an HTTP/1.x request line, got {request_line[:80]!r}"
    method, authority, _ = parts
    if method != "CONNECT":
        return 403, (f"orderquake's intercept proxy only tunnels CONNECT to {', '.join(sorted(hosts))}:443; "
                     f"{method} {authority[:80]} refused")
    host, _, port = authority.rpartition(":")
    host = host.lower()
    if host not in hosts or port != "443":
        return 403, (f"CONNECT {authority[:80]} refused: orderquake's intercept proxy only reaches "
                     f"{', '.join(f'{h}:443' for h in sorted(hosts))} (the SUT must not reach the internet)")
    return 200, host


_ESTABLISHED = b"HTTP/1.1 200 Connection Established\r\n\r\n"
_PHRASES = {400: "Bad Request", 403: "Forbidden"}


def _refusal(status: int, reason: str) -> bytes:
    body = (reason + "\n").encode()
    return (f"HTTP/1.1 {status} {_PHRASES[status]}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
        pass


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(TimeoutError, ConnectionError, ssl.SSLError):
        await asyncio.wait_for(writer.wait_closed(), 2.0)


class InterceptProxy:
    """One listening socket; each accepted tunnel is served by ``_serve``."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.context = server_context(config.cert, config.key)
        self.hosts = frozenset(h.lower() for h in config.hosts)

    async def serve_forever(self, started: asyncio.Event | None = None) -> None:
        server = await asyncio.start_server(self._serve, self.config.host, self.config.port, limit=_HEAD_LIMIT)
        async with server:
            if started is not None:
                started.set()
            await server.serve_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._tunnel(reader, writer)
        except (TimeoutError, ConnectionError, ssl.SSLError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            pass  # the SUT hung up or spoke no TLS: its own error tells it so
        finally:
            await _close(writer)

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT_S)
        status, detail = parse_connect(head, self.hosts)
        if status != 200:
            print(f"{status}: {detail}", flush=True)  # in logs/intercept.log, for a SUT that wonders why
            writer.write(_refusal(status, detail))
            await writer.drain()
            return
        writer.write(_ESTABLISHED)
        await writer.drain()
        await writer.start_tls(self.context, ssl_handshake_timeout=_HEAD_TIMEOUT_S)
        try:
            up_reader, up_writer = await asyncio.open_connection(self.config.upstream_host, self.config.upstream_port)
        except OSError:
            return  # the link is down: the SUT sees its TLS connection closed, as with a dead server
        # Whichever side ends first ends the tunnel: an upstream reset by a toxic must reach the SUT.
        pipes = [asyncio.ensure_future(_pipe(reader, up_writer)), asyncio.ensure_future(_pipe(up_reader, writer))]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            await _close(up_writer)


def run(config: ProxyConfig) -> None:
    """Serve until the process is signalled (the stage stops it as a supervised process)."""
    asyncio.run(InterceptProxy(config).serve_forever())
