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
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
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

from mock_provider.behaviour import Behaviour
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
from mock_provider.peers import Cluster, PeerError
from mock_provider.provider import InFlight, KeyReused, Kind, Provider, ledger_line
from mock_provider.shards import Shards

_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_URL = re.compile(r"^https?://[!-~]{1,2040}$")  # printable ASCII only: no spaces or control characters
_MAX_AMOUNT = 10**12
_MAX_BODY = 16 * 1024


def error_body(kind: str, message: str, *, param: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"type": kind, "message": message}}
    if param is not None:
        body["error"]["param"] = param
    return body


def error(status: int, kind: str, message: str, *, param: str | None = None) -> Json:
    return Json(error_body(kind, message, param=param), status_code=status)


def _by_seq(row: sqlite3.Row) -> int:
    return int(row["seq"])


def _by_time(row: sqlite3.Row) -> tuple[str, int]:
    return str(row["at"]), int(row["seq"])


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
               stripe: StripeOptions | None = None, cluster: Cluster | None = None) -> Starlette:
    """The provider app; ``transport`` lets tests deliver callbacks in process.

    ``dialect`` picks the public API's wire format (:mod:`mock_provider.dialects`); the ledger, the
    settlement, the misbehaviour and the truth and control endpoints are the same in each.
    ``cluster`` makes this app one of several provider processes (:mod:`mock_provider.shards`):
    its ledger is its shard's file beside ``db``.
    """
    if cluster is not None and dialect is not Dialect.NATIVE:
        raise ValueError(f"several provider processes serve the native dialect only, got dialect={dialect.value}")
    layout = cluster.layout if cluster is not None else None
    ledger = Ledger(db if layout is None else layout.path(layout.index), layout=layout)
    shards = Shards(layout, ledger) if layout is not None else None
    start = Behaviour(api_key=api_key, webhook_secret=webhook_secret)
    face = StripeDialect(ledger, stripe or StripeOptions()) if dialect is Dialect.STRIPE else None
    provider = Provider(ledger, start, seed, face.event_for if face is not None else None, shards=shards)
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

    async def decide(kind: Kind, fields: dict[str, Any], key: str | None, request_hash: str) -> list[Any]:
        """A validated creation's answer, ``[status, body, replayed, drop]``: decided by the key's owner."""
        behaviour = provider.behaviour
        try:
            replay = provider.begin(kind, key, request_hash)
        except KeyReused:
            return [422, error_body("idempotency_error", "Idempotency-Key was already used with a different "
                                    "request body", param="Idempotency-Key"), False, False]
        except InFlight:
            return [409, error_body("idempotency_error", "a request with this Idempotency-Key is still being "
                                    "processed", param="Idempotency-Key"), False, False]
        if replay is not None:
            return [replay.status_code, replay.body, True, False]
        try:
            if await provider.held_then_failed(behaviour):
                return [500, error_body("api_error", "internal error (injected, nothing was processed)"), False, False]
            outcome = provider.create(kind, fields, key, request_hash)
            await ledger.committed()
        finally:
            provider.end(kind, key)
        if provider.chance(behaviour.process_then_error_rate):
            MISBEHAVIOURS.labels(kind="process_then_error").inc()
            return [500, error_body("api_error", "internal error (injected, after processing)"), False, False]
        return [201, outcome.body, False, provider.chance(behaviour.process_then_drop_rate)]

    async def relayed(kind: str, fields: dict[str, Any], key: str | None, request_hash: str) -> list[Any]:
        return await decide(Kind(kind), fields, key, request_hash)

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
            request_hash = "" if key is None else hashlib.sha256(
                orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()
            owner = 0 if layout is None or key is None else layout.owner_of_key(kind.value, key)
            if layout is None or key is None or owner == layout.index:
                status, body, replayed, drop = await decide(kind, fields, key, request_hash)
            else:
                assert cluster is not None
                try:
                    status, body, replayed, drop = await cluster.call(owner, "create", kind.value, fields, key,
                                                                      request_hash)
                except PeerError as exc:
                    return error(503, "api_error", f"the provider process owning this Idempotency-Key is not "
                                 f"answering ({exc}); retry with the same key")
            if replayed:
                return Json(body, status_code=status, headers={"Idempotent-Replayed": "true"})
            if drop and _drop_connection(request):
                MISBEHAVIOURS.labels(kind="process_then_drop").inc()
                return _Dropped()
            return Json(body, status_code=status)
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

    async def stream(batches: Iterator[list[Any]], line: Callable[[Any], str]) -> AsyncIterator[bytes]:
        for rows in batches:
            yield "".join(line(row) + "\n" for row in rows).encode()
            await asyncio.sleep(0)

    def every_shard(sql: str, params: tuple[Any, ...], key: Callable[[sqlite3.Row], Any]) -> Iterator[list[Any]]:
        """Rows of ``sql`` from this ledger, or from every shard's, each exactly once."""
        return ledger.iterate(sql, params) if shards is None else shards.iterate(sql, params, key)

    def ledger_stream(kind: Kind) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            await ledger.committed()
            rows = every_shard("SELECT * FROM records WHERE object=? ORDER BY seq", (kind.value,), _by_seq)
            return StreamingResponse(stream(rows, lambda row: orjson.dumps(ledger_line(row)).decode()),
                                     media_type="application/x-ndjson")
        return endpoint

    async def callbacks_journal(request: Request) -> Response:
        await ledger.committed()
        # Several shards' journals are merged by the time of each line.
        sql = ("SELECT line FROM journal ORDER BY seq" if shards is None
               else "SELECT seq, line, json_extract(line, '$.at') AS at FROM journal ORDER BY seq")
        return StreamingResponse(stream(every_shard(sql, (), _by_time), lambda row: row["line"]),
                                 media_type="application/x-ndjson")

    async def change_behaviour(raw: str) -> tuple[int, dict[str, Any]]:
        try:
            changes = json.loads(raw)
            if not isinstance(changes, dict):
                raise ValueError
        except ValueError:
            return 400, error_body("invalid_request_error", "expected a JSON object of behaviour fields")
        try:
            provider.behaviour = Behaviour.model_validate(provider.behaviour.model_dump() | changes)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return 422, error_body("invalid_request_error", f"{where}: {first['msg']}", param=where)
        return 200, provider.behaviour.model_dump()

    async def apply_reset(raw: str) -> tuple[int, dict[str, Any]]:
        try:
            options = json.loads(raw) if raw else {}
        except ValueError:
            return 400, error_body("invalid_request_error", "expected an empty body or {\"ledger\": true}")
        provider.behaviour = provider.initial
        if face is not None:
            face.reset()
        if isinstance(options, dict) and options.get("ledger") is True:
            ledger.wipe()
            if face is not None:
                face.wipe()
            provider.forget_schedule()
            await ledger.committed()
        return 200, provider.behaviour.model_dump()

    async def control(op: Callable[[str], Awaitable[tuple[int, dict[str, Any]]]], name: str,
                      request: Request) -> Response:
        """A control change, applied in every provider process before it is answered."""
        # Bodies travel between processes as text; latin-1 keeps every byte as it came.
        raw = (await request.body()).decode("latin-1")
        if cluster is None:
            status, body = await op(raw)
        else:
            try:
                status, body = await cluster.control(name, raw)
            except PeerError as exc:
                return error(503, "api_error", f"the change did not reach every provider process: {exc}")
        return Json(body, status_code=status)

    async def behaviour_endpoint(request: Request) -> Response:
        if request.method == "PUT":
            return await control(change_behaviour, "behaviour", request)
        return Json(provider.behaviour.model_dump())

    async def reset(request: Request) -> Response:
        return await control(apply_reset, "reset", request)

    async def healthz(request: Request) -> Response:
        if cluster is not None and not await cluster.all_answer():
            return error(503, "api_error", "not every provider process answers yet")
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
            if cluster is not None:
                await cluster.open({"create": relayed, "behaviour": change_behaviour, "reset": apply_reset})
            try:
                yield
            finally:
                task.cancel()
                await deliverer.close()
                if cluster is not None:
                    await cluster.close()
                if shards is not None:
                    shards.close()
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
