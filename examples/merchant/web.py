"""What every handler shares: the service's context, JSON errors, request bodies, the errors' translation.

Errors from the layers below are turned into answers once, here: the database unavailable is a
503, Stripe's failures the 502/503/504 that :mod:`payments` chose, a bad request a 4xx; never a
500 with a traceback.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from examples.merchant.config import Settings
from examples.merchant.db import Database, Unavailable
from examples.merchant.payments import ProviderError
from examples.merchant.variants import Flags

log = logging.getLogger("merchant")


@dataclass(frozen=True)
class Context:
    settings: Settings
    flags: Flags
    db: Database


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


class ClientError(Exception):
    """The client's request cannot be served as sent: ``status`` (4xx) and a machine-readable ``code``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise ClientError(400, "invalid_json", "expected a JSON object as the request body") from None
    if not isinstance(body, dict):
        raise ClientError(400, "invalid_json", f"expected a JSON object, got {type(body).__name__}")
    return body


def text_field(body: dict[str, Any], name: str, *, max_length: int = 200) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        raise ClientError(422, "invalid_field", f"{name}: expected a string of 1..{max_length} characters, "
                          f"got {value!r}")
    return value


async def on_client_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClientError)
    return error(exc.status, exc.code, str(exc))


async def on_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return error(503, "database_unavailable", "the service cannot reach its database, try again")


async def on_provider_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProviderError)
    log.warning("payment provider error on %s %s: %s", request.method, request.url.path, exc)
    return error(exc.status, "payment_provider_error", str(exc))


EXCEPTION_HANDLERS = {ClientError: on_client_error, Unavailable: on_unavailable, ProviderError: on_provider_error}
