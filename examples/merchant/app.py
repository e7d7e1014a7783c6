"""The Starlette application: routes, the pool's and the reconciler's lifetimes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from examples.merchant import payments
from examples.merchant.accounts import login, signup
from examples.merchant.config import Settings
from examples.merchant.db import Conn, Database, Unavailable
from examples.merchant.orders import create_order, create_payment, order_by_ref
from examples.merchant.reconciler import Reconciler
from examples.merchant.variants import Flags, Variant
from examples.merchant.web import EXCEPTION_HANDLERS, Context, context, error
from examples.merchant.webhooks import stripe_webhook


async def healthz(request: Request) -> Response:
    async def ping(conn: Conn) -> None:
        await conn.execute("SELECT 1")
    try:
        await context(request).db.run(ping)
    except Unavailable as exc:
        return error(503, "database_unavailable", str(exc))
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings, variant: Variant, conninfo: str = "") -> Starlette:
    ctx = Context(settings=settings, flags=Flags.of(variant), db=Database(settings.db_pool_size,
                                                                          settings.db_timeout_s, conninfo))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        payments.configure(settings.stripe_secret_key)
        await ctx.db.open()
        task = asyncio.create_task(Reconciler(ctx).run_forever(), name="reconciler")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await ctx.db.close()

    app = Starlette(routes=[
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/signup/", signup, methods=["POST"]),
        Route("/api/login/", login, methods=["POST"]),
        Route("/api/orders/", create_order, methods=["POST"]),
        Route("/api/orders/by-ref/{client_ref:path}/", order_by_ref, methods=["GET"]),
        Route("/api/orders/{order_id}/create-payment/", create_payment, methods=["POST"]),
        Route("/webhooks/stripe", stripe_webhook, methods=["POST"]),
    ], exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    app.state.ctx = ctx
    return app
