"""Pieces of the HTTP face every dialect shares: orjson responses and the dropped connection."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class Json(JSONResponse):
    """A JSON response rendered by orjson: the create path is hot enough for it to show."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def drop_connection(request: Request) -> bool:
    """Abort the TCP connection without a response: what a client sees when a provider dies mid-reply."""
    cycle = getattr(request.receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    transport.abort()
    return True


class Dropped(Response):
    """Sends nothing: the connection is already gone.

    The one yield lets the server run ``connection_lost`` for the aborted transport first, so it
    sees a client that went away rather than an app that forgot to answer (which it would log
    as an error and try to answer with a 500).
    """

    def __init__(self) -> None:
        super().__init__()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0)
