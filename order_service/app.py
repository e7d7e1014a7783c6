"""HTTP face of the service (the SUT contract of DESIGN.md section 4), as a plain Starlette app."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from order_service.config import Settings
from order_service.db import Database, Unavailable
from order_service.flows import Conflict, Rejected, Service
from order_service.kinds import ORDER, PAYOUT, Kind
from order_service.logs import fields
from order_service.metrics import PENDING, REGISTRY
from order_service.provider_client import ProviderClient
from order_service.variants import Flags, Variant

log = logging.getLogger("order_service")
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class JSONResponse(Response):
    """Starlette's JSONResponse rendered with orjson: the service's hottest serialisation."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validate(kind: Kind, data: Any) -> dict[str, Any] | str:
    if not isinstance(data, dict):
        return "expected a JSON object"
    for name in (kind.id_field, "account_id"):
        if not isinstance(data.get(name), str) or not _ID.match(data[name]):
            return f"{name}: expected 1-128 characters of [A-Za-z0-9._:-]"
    amount = data.get("amount_minor")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= 10**12:
        return "amount_minor: expected a whole number of minor units above zero"
    if not isinstance(data.get("currency"), str) or not _CURRENCY.match(data["currency"]):
        return "currency: expected an ISO 4217 code such as EUR"
    return {k: data[k] for k in (kind.id_field, "account_id", "amount_minor", "currency")}


def create_app(settings: Settings, variant: Variant) -> Starlette:
    flags = Flags.of(variant)
    db = Database(settings.database_url, settings.pool_size)
    service = Service(settings=settings, flags=flags, db=db,
                      provider=ProviderClient(settings))

    def creator(kind: Kind) -> Callable[[Request], Awaitable[Response]]:
        async def create(request: Request) -> Response:
            try:
                checked = _validate(kind, orjson.loads(await request.body()))
            except ValueError:
                return _error(400, "body is not valid JSON")
            if isinstance(checked, str):
                return _error(422, checked)
            try:
                status, body = await service.create(kind, checked)
            except Conflict as exc:
                return _error(409, str(exc))
            except Unavailable as exc:
                return _error(503, f"database unavailable, try again: {exc}"[:300])
            return JSONResponse(body, status_code=status)
        return create

    def reader(kind: Kind) -> Callable[[Request], Awaitable[Response]]:
        async def read(request: Request) -> Response:
            try:
                row = await service.get(kind, request.path_params["id"])
            except Unavailable as exc:
                return _error(503, f"database unavailable: {exc}"[:300])
            if row is None:
                return _error(404, f"no such {kind.name}")
            return JSONResponse(row)
        return read

    async def callbacks(request: Request) -> Response:
        try:
            outcome = await service.apply_callback(await request.body(), request.headers.get("provider-signature"))
        except Rejected as exc:
            log.info("callback_rejected", extra=fields(status=exc.status, reason=str(exc)))
            return _error(exc.status, str(exc))
        except Unavailable as exc:
            return _error(503, f"database unavailable: {exc}"[:300])
        return JSONResponse({"outcome": outcome})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "variant": variant.value})

    async def metrics(request: Request) -> Response:
        with suppress(Unavailable):
            PENDING.set(await service.pending_count())
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.open()
        await service.provider.open()
        await _create_schema(db)
        reconciler = asyncio.get_running_loop().create_task(service.reconciler()) if flags.reconciler else None
        try:
            yield
        finally:
            if reconciler is not None:
                reconciler.cancel()
            await service.provider.close()
            await db.close()

    app = Starlette(lifespan=lifespan, routes=[
        Route("/orders", creator(ORDER), methods=["POST"]),
        Route("/orders/{id}", reader(ORDER), methods=["GET"]),
        Route("/payouts", creator(PAYOUT), methods=["POST"]),
        Route("/payouts/{id}", reader(PAYOUT), methods=["GET"]),
        Route("/provider/callbacks", callbacks, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ])
    app.state.service = service
    return app


async def _create_schema(db: Database, deadline_s: float = 30.0) -> None:
    """Create the schema, waiting for the database within a deadline (it may start after us)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        try:
            await db.create_schema()
            return
        except Unavailable:
            if loop.time() > end:
                raise
            await asyncio.sleep(0.2)
