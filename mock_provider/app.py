"""The provider's HTTP API (DESIGN.md section 3) as a plain Starlette app.

Misbehaviour is applied in the create handlers in the order a real outage would show it: after
the idempotency check (replays never misbehave), a response delay while the key is in flight,
then "500 without processing", then the record is created and committed,
then "500 after processing" or "drop the connection after processing" (the charged-but-no-answer
case). Only creations misbehave; reads and the truth and control endpoints never do.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope
from starlette.types import Send as ASGISend

from mock_provider.behaviour import Behaviour, draw_delay_s
from mock_provider.callback_client import CallbackClient
from mock_provider.delivery import AiohttpSender, Deliverer, Send, httpx_sender
from mock_provider.dialects import Dialect, StripeOptions
from mock_provider.dialects.stripe_api import StripeDialect
from mock_provider.dialects.wire import Dropped as _Dropped
from mock_provider.dialects.wire import Json
from mock_provider.dialects.wire import drop_connection as _drop_connection
from mock_provider.ledger import Ledger
from mock_provider.metrics import MISBEHAVIOURS, REGISTRY, REQUESTS
from mock_provider.openapi import OPENAPI
from mock_provider.provider import InFlight, KeyReused, Kind, Provider, ledger_line

_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_URL = re.compile(r"^https?://[!-~]{1,2040}$")  # printable ASCII only: no spaces or control characters
_MAX_AMOUNT = 10**12
_MAX_BODY = 16 * 1024


def error(status: int, kind: str, message: str, *, param: str | None = None) -> Json:
    body: dict[str, Any] = {"error": {"type": kind, "message": message}}
    if param is not None:
        body["error"]["param"] = param
    return Json(body, status_code=status)


class Invalid(Exception):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def _validate(kind: Kind, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Invalid("body", "expected a JSON object")
    required = [kind.merchant_key, "amount_minor", "currency", "callback_url"]
    if kind is Kind.PAYOUT:
        required.append("destination")
    unknown = sorted(set(data) - set(required))
    if unknown:
        raise Invalid(unknown[0], f"unknown field {unknown[0]!r}; expected {', '.join(required)}")
    for name in required:
        if name not in data:
            raise Invalid(name, f"missing required field {name!r}")
    merchant_id = data[kind.merchant_key]
    if not isinstance(merchant_id, str) or not _ID.match(merchant_id):
        raise Invalid(kind.merchant_key, "expected 1-128 characters of [A-Za-z0-9._:-]")
    amount = data["amount_minor"]
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= _MAX_AMOUNT:
        raise Invalid("amount_minor", f"expected a whole number of minor units in 1..{_MAX_AMOUNT}")
    if not isinstance(data["currency"], str) or not _CURRENCY.match(data["currency"]):
        raise Invalid("currency", "expected an ISO 4217 code such as EUR")
    url = data["callback_url"]
    if not isinstance(url, str) or not _URL.match(url):
        raise Invalid("callback_url", "expected an http(s) URL of printable ASCII, at most 2048 characters")
    if kind is Kind.PAYOUT and (not isinstance(data["destination"], str) or not _ID.match(data["destination"])):
        raise Invalid("destination", "expected 1-128 characters of [A-Za-z0-9._:-]")
    return data


def _unknown_query(request: Request, allowed: set[str]) -> Response | None:
    """A 400 naming the first query parameter the endpoint does not take, as a strict provider answers."""
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if not unknown:
        return None
    return error(400, "invalid_request_error", f"unknown query parameter {unknown[0]!r}", param=unknown[0])


def create_app(*, db: Path, api_key: str, webhook_secret: str, seed: int,
               transport: httpx.AsyncBaseTransport | None = None, dialect: Dialect = Dialect.NATIVE,
               stripe: StripeOptions | None = None) -> Starlette:
    """The provider app; ``transport`` lets tests deliver callbacks in process.

    ``dialect`` picks the public API's wire format (:mod:`mock_provider.dialects`); the ledger, the
    settlement, the misbehaviour and the truth and control endpoints are the same in each.
    """
    ledger = Ledger(db)
    start = Behaviour(api_key=api_key, webhook_secret=webhook_secret)
    face = StripeDialect(ledger, stripe or StripeOptions()) if dialect is Dialect.STRIPE else None
    provider = Provider(ledger, start, seed) if face is None else Provider(ledger, start, seed, face.event_for)
    if face is not None:
        face.bind(provider)

    def authorised(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {provider.behaviour.api_key}"

    def api(route: str) -> Callable[[Callable[[Request], Awaitable[Response]]],
                                    Callable[[Request], Awaitable[Response]]]:
        def wrap(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
            counters: dict[int, Any] = {}

            async def endpoint(request: Request) -> Response:
                if not authorised(request):
                    response: Response = error(401, "authentication_error",
                                               "invalid API key: send 'Authorization: Bearer <key>'")
                else:
                    response = await handler(request)
                counter = counters.get(response.status_code)
                if counter is None:
                    counter = counters[response.status_code] = REQUESTS.labels(route, str(response.status_code))
                counter.inc()
                return response
            return endpoint
        return wrap

    def creator(kind: Kind) -> Callable[[Request], Awaitable[Response]]:
        async def create(request: Request) -> Response:
            raw = await request.body()
            if len(raw) > _MAX_BODY:
                return error(413, "invalid_request_error", f"body larger than {_MAX_BODY} bytes")
            try:
                fields = _validate(kind, orjson.loads(raw))
            except orjson.JSONDecodeError:
                return error(400, "invalid_request_error", "body is not valid JSON")
            except Invalid as exc:
                return error(422, "invalid_request_error", str(exc), param=exc.param)
            key = request.headers.get("idempotency-key")
            if key is not None and not _ID.match(key):
                return error(400, "invalid_request_error", "Idempotency-Key: expected 1-128 of [A-Za-z0-9._:-]",
                             param="Idempotency-Key")
            behaviour = provider.behaviour
            request_hash = "" if key is None else hashlib.sha256(
                orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()
            try:
                replay = provider.begin(kind, key, request_hash)
            except KeyReused:
                return error(422, "idempotency_error",
                             "Idempotency-Key was already used with a different request body", param="Idempotency-Key")
            except InFlight:
                return error(409, "idempotency_error", "a request with this Idempotency-Key is still being processed",
                             param="Idempotency-Key")
            if replay is not None:
                return Json(replay.body, status_code=replay.status_code, headers={"Idempotent-Replayed": "true"})
            try:
                # The key stays in flight through the delay, as it would at a slow provider.
                delay = draw_delay_s(behaviour.delay, provider.rng)
                if delay:
                    await asyncio.sleep(delay)
                if provider.chance(behaviour.error_rate):
                    MISBEHAVIOURS.labels(kind="error").inc()
                    return error(500, "api_error", "internal error (injected, nothing was processed)")
                outcome = provider.create(kind, fields, key, request_hash)
                await ledger.committed()
            finally:
                provider.end(kind, key)
            if provider.chance(behaviour.process_then_error_rate):
                MISBEHAVIOURS.labels(kind="process_then_error").inc()
                return error(500, "api_error", "internal error (injected, after processing)")
            if provider.chance(behaviour.process_then_drop_rate) and _drop_connection(request):
                MISBEHAVIOURS.labels(kind="process_then_drop").inc()
                return _Dropped()
            return Json(outcome.body, status_code=201)
        return create

    def reader(kind: Kind) -> Callable[[Request], Awaitable[Response]]:
        async def read(request: Request) -> Response:
            unknown = _unknown_query(request, set())
            if unknown is not None:
                return unknown
            found = provider.get(kind, request.path_params["id"])
            if found is None:
                return error(404, "invalid_request_error", f"no such {kind.value}", param="id")
            return Json(found)
        return read

    def lister(kind: Kind) -> Callable[[Request], Awaitable[Response]]:
        async def listing(request: Request) -> Response:
            unknown = _unknown_query(request, {kind.merchant_key})
            if unknown is not None:
                return unknown
            merchant_id = request.query_params.get(kind.merchant_key)
            if merchant_id is None or not _ID.match(merchant_id):
                return error(400, "invalid_request_error",
                             f"query parameter {kind.merchant_key} is required: 1-128 of [A-Za-z0-9._:-]",
                             param=kind.merchant_key)
            return Json({"object": "list", "data": provider.by_merchant_id(kind, merchant_id)})
        return listing

    async def stream(sql: str, params: tuple[Any, ...], line: Callable[[Any], str]) -> AsyncIterator[bytes]:
        for rows in ledger.iterate(sql, params):
            yield "".join(line(row) + "\n" for row in rows).encode()
            await asyncio.sleep(0)

    def ledger_stream(kind: Kind) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            await ledger.committed()
            return StreamingResponse(stream("SELECT * FROM records WHERE object=? ORDER BY seq", (kind.value,),
                                            lambda row: orjson.dumps(ledger_line(row)).decode()),
                                     media_type="application/x-ndjson")
        return endpoint

    async def callbacks_journal(request: Request) -> Response:
        await ledger.committed()
        return StreamingResponse(stream("SELECT line FROM journal ORDER BY seq", (), lambda row: row["line"]),
                                 media_type="application/x-ndjson")

    async def behaviour_endpoint(request: Request) -> Response:
        if request.method == "PUT":
            try:
                changes = json.loads(await request.body())
                if not isinstance(changes, dict):
                    raise ValueError
            except ValueError:
                return error(400, "invalid_request_error", "expected a JSON object of behaviour fields")
            try:
                provider.behaviour = Behaviour.model_validate(provider.behaviour.model_dump() | changes)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                return error(422, "invalid_request_error", f"{where}: {first['msg']}", param=where)
        return Json(provider.behaviour.model_dump())

    async def reset(request: Request) -> Response:
        raw = await request.body()
        try:
            options = json.loads(raw) if raw else {}
        except ValueError:
            return error(400, "invalid_request_error", "expected an empty body or {\"ledger\": true}")
        provider.behaviour = provider.initial
        if face is not None:
            face.reset()
        if isinstance(options, dict) and options.get("ledger") is True:
            ledger.wipe()
            if face is not None:
                face.wipe()
            provider.forget_schedule()
            await ledger.committed()
        return Json(provider.behaviour.model_dump())

    async def healthz(request: Request) -> Response:
        return Json({"status": "ok", "records": ledger.seq})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Response:
        return Json(OPENAPI)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ledger.start()
        async with contextlib.AsyncExitStack() as stack:
            if transport is None:
                sender = AiohttpSender()
                await sender.open()
                stack.push_async_callback(sender.close)
                client = CallbackClient(fallback=sender)  # plain http:// itself, the rest through aiohttp
                stack.callback(client.close)
                send: Send = client
            else:
                in_process = await stack.enter_async_context(httpx.AsyncClient(transport=transport, timeout=5.0))
                send = httpx_sender(in_process)
            if face is not None:
                send = face.wrap_send(send)
            deliverer = Deliverer(provider, send)
            task = asyncio.get_running_loop().create_task(deliverer.run())
            try:
                yield
            finally:
                task.cancel()
                await deliverer.close()
                await ledger.close()

    create_order, create_payout = api("create_order")(creator(Kind.ORDER)), api("create_payout")(creator(Kind.PAYOUT))
    native = [
        Route("/v1/orders", create_order, methods=["POST"]),
        Route("/v1/orders", api("list_orders")(lister(Kind.ORDER)), methods=["GET"]),
        Route("/v1/orders/{id}", api("get_order")(reader(Kind.ORDER)), methods=["GET"]),
        Route("/v1/payouts", create_payout, methods=["POST"]),
        Route("/v1/payouts", api("list_payouts")(lister(Kind.PAYOUT)), methods=["GET"]),
        Route("/v1/payouts/{id}", api("get_payout")(reader(Kind.PAYOUT)), methods=["GET"]),
    ]
    shared = [
        Route("/_ledger/orders", ledger_stream(Kind.ORDER), methods=["GET"]),
        Route("/_ledger/payouts", ledger_stream(Kind.PAYOUT), methods=["GET"]),
        Route("/_ledger/callbacks", callbacks_journal, methods=["GET"]),
        Route("/_control/behaviour", behaviour_endpoint, methods=["GET", "PUT"]),
        Route("/_control/reset", reset, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    hot = {("POST", "/v1/orders"): create_order, ("POST", "/v1/payouts"): create_payout} if face is None else {}
    return _App(hot, routes=(native if face is None else face.routes()) + shared, lifespan=lifespan)


class _App(Starlette):
    """Starlette, with the creations (every order and payout of a run) answered without its router.

    Under load the middleware and routing layers were a tenth of the provider's CPU. A creation
    needs none of them: no path parameters, no middleware of ours, and an unexpected exception
    gets the same plain 500 from uvicorn that ServerErrorMiddleware would send. Every other
    request, and a creation under a root path, goes through Starlette as before.
    """

    def __init__(self, hot: dict[tuple[str, str], Callable[[Request], Awaitable[Response]]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hot = hot

    async def __call__(self, scope: Scope, receive: Receive, send: ASGISend) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            endpoint = self._hot.get((scope["method"], scope["path"]))
            if endpoint is not None:
                scope["app"] = self
                response = await endpoint(Request(scope, receive))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
