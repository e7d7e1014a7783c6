"""A small, fast HTTP server for the benchmarks: every request is answered ``200`` with an empty body.

It stands for a live callback receiver (the provider's signed callbacks need somebody answering
200) and for the upstream of the Toxiproxy latency benchmark. It parses HTTP with httptools on
uvloop, keeps connections alive and does nothing else, so it costs a few microseconds per request
and is never what limits a figure. ``GET /_count`` answers the number of requests received so
far (itself not counted), so a benchmark can wait until every callback has arrived.

    python -m bench._receiver PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import cast

import httptools
import uvloop

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Type: text/plain\r\n\r\n"
_COUNT = b"/_count"


class _Counter:
    received = 0


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.WriteTransport | None = None
        self._url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport writes like an asyncio.Transport without being a subclass of one.
        self._transport = cast(asyncio.WriteTransport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_message_complete(self) -> None:
        assert self._transport is not None
        if self._url == _COUNT:
            body = str(_Counter.received).encode()
            self._transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        else:
            _Counter.received += 1
            self._transport.write(_OK)
        self._url = b""
        if not self._parser.should_keep_alive():
            self._transport.close()


async def _serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Protocol, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    uvloop.run(_serve(int(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
