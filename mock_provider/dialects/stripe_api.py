"""The ``stripe`` dialect: Stripe's v1 wire format over the shared core.

Form-encoded bodies with bracket nesting, ``Authorization: Bearer sk_test_...`` (or basic auth
with the key as user, as the SDK may send), Stripe's objects and error shapes, ``Idempotency-Key``
as Stripe documents it, and webhooks signed ``Stripe-Signature: t=...,v1=...``.

Endpoints: PaymentIntents (create, with or without ``confirm=true``; retrieve; confirm; cancel;
list; search by ``metadata['order_id']:'...'``), Payouts (create, retrieve, list), Events
(retrieve, list). A confirmed PaymentIntent is one ledger record whose merchant id is
``metadata[order_id]``, a Payout one whose merchant id is ``metadata[payout_id]`` ('' when absent),
so ``/_ledger/orders`` and ``/_ledger/payouts`` keep their format and the checker reads one ledger.
The ledger keeps currencies upper case (``EUR``) as the native dialect does; the wire has them
lower case. A PaymentIntent settles as the native order does (``processing`` until
``settle_delay_ms``, then ``succeeded`` or declined at ``decline_rate``), as Stripe's delayed
payment methods do, so settlement faults apply; a declining test card (``pm_card_chargeDeclined``)
is refused at once with a 402. A declined PaymentIntent cannot be confirmed again here.

Idempotency: the same key with the same parameters replays the stored answer, errors included,
with ``Idempotent-Replayed: true``; with other parameters it is a 400 ``idempotency_error``; while
the first is in flight a 409. Parameter validation failures are not stored (as at Stripe). A
request without a key (the SDK adds one to every POST; an application retrying by itself sends a
new one) always acts anew. Misbehaviour (``/_control/behaviour``) applies to every POST in the
native order; ``PUT /_control/stripe {"injected_error_status": 429|500|503}`` picks the status of
``error_rate``'s injected failures.

Keys: the secret key (``sk_...``) may call everything. The publishable key derived from it
(``contract.publishable_key``, the one derivation the harness and the mock share), which
Stripe.js uses in the payer's browser, may only retrieve and confirm a PaymentIntent, and only
with that intent's ``client_secret``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contract import Flow, publishable_key
from mock_provider.delivery import Send
from mock_provider.dialects import StripeOptions
from mock_provider.dialects import stripe_shapes as shapes
from mock_provider.dialects.forms import FormError, decode_form
from mock_provider.dialects.stripe_store import StripeStore
from mock_provider.dialects.wire import Dropped, Json, drop_connection
from mock_provider.ledger import Ledger
from mock_provider.metrics import MISBEHAVIOURS, REQUESTS
from mock_provider.provider import InFlight, KeyReused, Provider

_MAX_BODY = 16 * 1024
_MAX_AMOUNT = 10**12
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_KEY = re.compile(r"^[ -~]{1,255}$")
_CLAUSE = re.compile(r"""^\s*(?:metadata\[(['"])(?P<key>[^'"]+)\1\]|(?P<field>status))"""
                     r"""\s*:\s*(['"])(?P<value>[^'"]*)\4\s*$""")
_INJECTED = {429: ("invalid_request_error", "rate_limit"), 500: ("api_error", None), 503: ("api_error", None)}


class KeyKind(Enum):
    """Which of the account's two keys authorised a request."""

    SECRET = "secret"
    PUBLISHABLE = "publishable"


# What a publishable key may call: the payer's side of a PaymentIntent (route names of ``routes()``).
_PUBLISHABLE_ROUTES = frozenset({"confirm_payment_intent", "get_payment_intent"})


class ParamError(Exception):
    """A 400 ``invalid_request_error`` naming the parameter; never stored under an idempotency key."""

    def __init__(self, param: str | None, message: str, code: str = "parameter_invalid", status: int = 400) -> None:
        super().__init__(message)
        self.param, self.code, self.status = param, code, status


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def _fail(status: int, kind: str, message: str, *, code: str | None = None, param: str | None = None,
          headers: Mapping[str, str] | None = None) -> Json:
    return Json(shapes.error_body(kind, message, code=code, param=param), status_code=status,
                headers=dict(headers or {}))


def _allowed(params: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ParamError(unknown[0], f"Received unknown parameter: {unknown[0]}", "parameter_unknown")


def _amount(params: Mapping[str, Any]) -> int:
    raw = params.get("amount")
    if raw is None:
        raise ParamError("amount", "Missing required param: amount.", "parameter_missing")
    if not isinstance(raw, str) or not raw.isdigit() or not 0 < int(raw) <= _MAX_AMOUNT:
        raise ParamError("amount", f"Invalid integer: {raw}; expected 1..{_MAX_AMOUNT} minor units",
                         "parameter_invalid_integer")
    return int(raw)


def _currency(params: Mapping[str, Any]) -> str:
    raw = params.get("currency")
    if raw is None:
        raise ParamError("currency", "Missing required param: currency.", "parameter_missing")
    if not isinstance(raw, str) or not _CURRENCY.match(raw):
        raise ParamError("currency", f"Invalid currency: {raw}. Expected a three-letter ISO code such as eur.")
    return raw.lower()


def _metadata(params: Mapping[str, Any]) -> dict[str, str]:
    raw = params.get("metadata", {})
    if raw == "":
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ParamError("metadata", "Invalid object: metadata must be a hash of strings")
    if len(raw) > 50 or any(len(k) > 40 or len(v) > 500 for k, v in raw.items()):
        raise ParamError("metadata", "metadata: at most 50 keys of up to 40 characters, values up to 500")
    return {k: v for k, v in raw.items() if v != ""}  # an empty value unsets the key


def _flag(params: Mapping[str, Any], name: str) -> bool:
    raw = params.get(name, "false")
    if raw not in ("true", "false"):
        raise ParamError(name, f"Invalid boolean: {raw}")
    return raw == "true"


def _text(params: Mapping[str, Any], name: str, default: str | None = None) -> str | None:
    raw = params.get(name, default)
    if raw is not None and not isinstance(raw, str):
        raise ParamError(name, f"Invalid string: {name} must be a string")
    return raw or default


def _payment_method(params: Mapping[str, Any]) -> str | None:
    method = _text(params, "payment_method")
    if method is not None and method not in shapes.SUCCEEDING_CARDS and method not in shapes.DECLINING_CARDS:
        raise ParamError("payment_method", f"No such PaymentMethod: '{method}'", "resource_missing")
    return method


def _expand(params: Mapping[str, Any], expandable: set[str]) -> list[str]:
    raw = params.get("expand", [])
    fields = [raw] if isinstance(raw, str) else raw
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise ParamError("expand", "Invalid array: expand must be a list of strings")
    for name in fields:
        if name not in expandable:
            raise ParamError("expand", f"This property cannot be expanded ({name}).")
    return fields


def _limit(params: Mapping[str, Any]) -> int:
    raw = params.get("limit", "10")
    if not isinstance(raw, str) or not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise ParamError("limit", f"Invalid integer: {raw}; limit must be in 1..100", "parameter_invalid_integer")
    return int(raw)


class StripeDialect:
    """Routes, event shapes and webhook headers of the Stripe face; ``bind`` it to the provider."""

    def __init__(self, ledger: Ledger, options: StripeOptions) -> None:
        self.ledger = ledger
        self.options = options
        self.store = StripeStore(ledger)
        self.injected_error_status = 500
        self._requests = itertools.count(1)
        self._provider: Provider | None = None

    def bind(self, provider: Provider) -> None:
        self._provider = provider

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            raise RuntimeError("StripeDialect.bind(provider) was not called")
        return self._provider

    # ---- hooks of the core --------------------------------------------------------------------
    def event_for(self, kind: Flow, row: Mapping[str, Any], now: float) -> tuple[str, str, dict[str, Any]] | None:
        """The Stripe Event for a decided record (settled, refused or canceled), recorded for the Events API."""
        event_type = shapes.EVENT_TYPES[(kind, str(row["status"]))]
        obj_name = "payment_intent" if kind is Flow.ORDER else "payout"
        found = self.store.get(obj_name, row["id"])
        if found is None:  # a record this dialect did not make (a native ledger reopened as stripe)
            return None
        stored, _ = found
        if kind is Flow.ORDER:
            obj = shapes.payment_intent(stored, None if row["status"] == "canceled" else row)
        else:
            obj = shapes.payout(stored, row)
        body = shapes.event(f"evt_{row['id'].split('_', 1)[1]}_{row['status']}", event_type, obj, now)
        self.store.add_event(body)
        if not row["callback_url"]:
            return None
        return body["id"], event_type, body

    def wrap_send(self, send: Send) -> Send:
        """Webhooks carry ``Stripe-Signature``; the scheme (HMAC-SHA256 over ``"{t}.{payload}"``) is the core's."""
        async def stripe_send(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
            renamed = {("Stripe-Signature" if k == "Provider-Signature" else k): v for k, v in headers.items()}
            renamed["User-Agent"] = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
            return await send(url, body, renamed)
        return stripe_send

    def wipe(self) -> None:
        self.store.wipe()

    def reset(self) -> None:
        self.injected_error_status = 500

    # ---- the HTTP face ------------------------------------------------------------------------
    def _key_kind(self, request: Request) -> KeyKind | None:
        """Which key authorised ``request``, or None for a missing or wrong one."""
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                credential = base64.b64decode(credential, validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                return None
        elif scheme.lower() != "bearer":
            return None
        api_key = self.provider.behaviour.api_key
        if hmac.compare_digest(credential.encode(), api_key.encode()):
            return KeyKind.SECRET
        if hmac.compare_digest(credential.encode(), publishable_key(api_key).encode()):
            return KeyKind.PUBLISHABLE
        return None

    @staticmethod
    def _client_secret(request: Request, stored: Mapping[str, Any], params: Mapping[str, Any]) -> None:
        """A publishable key must present the intent's ``client_secret``; a secret key may, and then it must match."""
        given = params.get("client_secret")
        if given is None and not request.state.publishable:
            return
        if given is None:
            raise ParamError("client_secret", "Missing required param: client_secret.", "parameter_missing")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), stored["client_secret"].encode()):
            raise ParamError("client_secret", "The client_secret provided does not match the client_secret "
                             "associated with the PaymentIntent.", "payment_intent_invalid_parameter")

    def _endpoint(self, route: str, handler: Callable[[Request], Awaitable[Response]]
                  ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            request_id = f"req_{self.provider.seed}_{next(self._requests)}"
            kind = self._key_kind(request)
            request.state.publishable = kind is KeyKind.PUBLISHABLE
            if kind is None:
                response: Response = _fail(401, "invalid_request_error",
                                           "Invalid API Key provided: send 'Authorization: Bearer sk_test_...'")
            elif kind is KeyKind.PUBLISHABLE and route not in _PUBLISHABLE_ROUTES:
                response = _fail(401, "invalid_request_error", "This API call cannot be made with a publishable "
                                 "API key. Please use a secret API key.")
            else:
                try:
                    response = await handler(request)
                except ParamError as exc:
                    response = _fail(exc.status, "invalid_request_error", str(exc), code=exc.code, param=exc.param)
            response.headers["Request-Id"] = request_id
            REQUESTS.labels(route, str(response.status_code)).inc()
            return response
        return endpoint

    @staticmethod
    async def _form(request: Request) -> dict[str, Any]:
        kind = request.headers.get("content-type", "application/x-www-form-urlencoded").split(";")[0].strip()
        raw = bytearray()
        async for chunk in request.stream():  # chunked bodies arrive here piece by piece
            raw += chunk
            if len(raw) > _MAX_BODY:
                raise ParamError(None, f"Request body larger than {_MAX_BODY} bytes", "parameter_invalid", 413)
        if raw and kind != "application/x-www-form-urlencoded":
            raise ParamError(None, f"Invalid request: expected application/x-www-form-urlencoded, got {kind}")
        try:
            return decode_form(bytes(raw))
        except (FormError, UnicodeDecodeError) as exc:
            raise ParamError(getattr(exc, "param", None), f"Invalid request body: {exc}") from exc

    @staticmethod
    def _query(request: Request) -> dict[str, Any]:
        try:
            return decode_form(request.url.query)
        except FormError as exc:
            raise ParamError(exc.param, str(exc)) from exc

    async def _mutate(self, request: Request, params: dict[str, Any],
                      apply: Callable[[str | None], Answer]) -> Response:
        """The native misbehaviour order (app.py) around ``apply``, which writes without committing."""
        key = request.headers.get("idempotency-key")
        if key is not None and not _KEY.match(key):
            raise ParamError("Idempotency-Key", "Idempotency-Key: expected 1-255 printable ASCII characters")
        provider, behaviour = self.provider, self.provider.behaviour
        request_hash = "" if key is None else hashlib.sha256(
            request.url.path.encode() + orjson.dumps(params, option=orjson.OPT_SORT_KEYS)).hexdigest()
        try:
            replay = self.store.begin(key, request_hash)
        except KeyReused:
            return _fail(400, "idempotency_error", "Keys for idempotent requests can only be used with the same "
                         f"parameters they were first used with. Try using a key other than '{key}' if you meant "
                         "to execute a different request.", code="idempotency_key_in_use")
        except InFlight:
            return _fail(409, "invalid_request_error", "There is currently another in-progress request using this "
                         "Stripe token (probably the same idempotency key); try again later.",
                         code="idempotency_key_in_use")
        if replay is not None:
            return Json(replay[1], status_code=replay[0], headers={"Idempotent-Replayed": "true",
                                                                   "Idempotency-Key": key or ""})
        try:
            if await provider.held_then_failed(behaviour):
                error_type, code = _INJECTED[self.injected_error_status]
                return _fail(self.injected_error_status, error_type,
                             "An unknown error occurred (injected, nothing was processed)", code=code)
            answer = apply(key)
            self.store.remember(key, request_hash, answer.status, answer.body)
            await self.ledger.committed()
        finally:
            self.store.end(key)
        if provider.chance(behaviour.process_then_error_rate):
            MISBEHAVIOURS.labels(kind="process_then_error").inc()
            return _fail(500, "api_error", "An unknown error occurred (injected, after processing)")
        if provider.chance(behaviour.process_then_drop_rate) and drop_connection(request):
            MISBEHAVIOURS.labels(kind="process_then_drop").inc()
            return Dropped()
        headers = {"Idempotency-Key": key} if key is not None else {}
        return Json(answer.body, status_code=answer.status, headers=headers)

    # ---- PaymentIntents -----------------------------------------------------------------------
    def _intent(self, intent_id: str) -> tuple[dict[str, Any], dict[str, Any] | None, int]:
        found = self.store.get("payment_intent", intent_id)
        if found is None:
            raise ParamError("intent", f"No such payment_intent: '{intent_id}'", "resource_missing", 404)
        stored, seq = found
        return stored, self.store.record(seq), seq

    @staticmethod
    def _expanded(intent: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        if "latest_charge" in expand and intent["latest_charge"] is not None:
            return intent | {"latest_charge": shapes.charge(intent)}
        return intent

    def _confirm(self, stored: dict[str, Any], seq: int, key: str | None, expand: list[str]) -> Answer:
        """Make the ledger record of a PaymentIntent: the charge attempt the checker counts."""
        method = stored["payment_method"]
        decline = shapes.DECLINING_CARDS.get(method or "")
        row = self.provider.insert_record(
            Flow.ORDER, stored["id"], seq, merchant_id=stored["metadata"].get("order_id", ""),
            amount_minor=stored["amount"], currency=stored["currency"].upper(), destination=None,
            callback_url=self.options.webhook_url, key=key,
            status="processing" if decline is None else Flow.ORDER.refusal.value)
        intent = self._expanded(shapes.payment_intent(stored, row), expand)
        if decline is None:
            return Answer(200, intent)
        self.provider.announce(Flow.ORDER, row, time.time())
        return Answer(402, shapes.card_error(decline, intent))

    @staticmethod
    def _unexpected(intent: dict[str, Any], action: str) -> ParamError:
        return ParamError(None, f"You cannot {action} this PaymentIntent because it has a status of "
                          f"{intent['status']}.", "payment_intent_unexpected_state")

    async def create_intent(self, request: Request) -> Response:
        params = await self._form(request)
        _allowed(params, {"amount", "currency", "metadata", "confirm", "payment_method", "description", "expand",
                          "automatic_payment_methods", "payment_method_types", "return_url", "capture_method",
                          "receipt_email", "statement_descriptor", "customer"})
        amount, currency, metadata = _amount(params), _currency(params), _metadata(params)
        confirm, method, expand = _flag(params, "confirm"), _payment_method(params), _expand(params, {"latest_charge"})
        description = _text(params, "description")
        if _text(params, "capture_method", "automatic") != "automatic":
            raise ParamError("capture_method", "Only capture_method=automatic is supported by this mock")
        if confirm and method is None:
            raise ParamError("payment_method", "You cannot confirm this PaymentIntent because it's missing a "
                             "payment method.", "payment_intent_unexpected_state")

        def apply(key: str | None) -> Answer:
            seq = self.ledger.next_seq()
            intent_id = self.provider.new_id(Flow.ORDER, seq, prefix="pi_")
            secret = hashlib.blake2s(f"{self.provider.seed}:{intent_id}".encode(), digest_size=12).hexdigest()
            stored = {"id": intent_id, "amount": amount, "currency": currency, "metadata": metadata,
                      "client_secret": f"{intent_id}_secret_{secret}", "created": int(time.time()),
                      "description": description, "payment_method": method, "canceled_at": None,
                      "cancellation_reason": None}
            self.store.put("payment_intent", stored, seq, metadata.get("order_id", ""))
            if confirm:
                return self._confirm(stored, seq, key, expand)
            return Answer(200, shapes.payment_intent(stored, None))
        return await self._mutate(request, params, apply)

    async def confirm_intent(self, request: Request) -> Response:
        params = await self._form(request)
        _allowed(params, {"payment_method", "expand", "return_url", "receipt_email", "client_secret"})
        method, expand = _payment_method(params), _expand(params, {"latest_charge"})
        intent_id = request.path_params["id"]

        def apply(key: str | None) -> Answer:
            stored, record, seq = self._intent(intent_id)
            intent = shapes.payment_intent(stored, record)
            if record is not None or stored["canceled_at"] is not None:
                error = self._unexpected(intent, "confirm")
                return Answer(400, shapes.error_body("invalid_request_error", str(error), code=error.code,
                                                     payment_intent=intent))
            if method is not None:
                stored = stored | {"payment_method": method}
                self.store.put("payment_intent", stored, seq, stored["metadata"].get("order_id", ""))
            if stored["payment_method"] is None:
                return Answer(400, shapes.error_body(
                    "invalid_request_error", "You cannot confirm this PaymentIntent because it's missing a payment "
                    "method.", code="payment_intent_unexpected_state", param="payment_method"))
            return self._confirm(stored, seq, key, expand)
        # A 404 or a wrong client secret is not an answer worth storing under the key.
        self._client_secret(request, self._intent(intent_id)[0], params)
        return await self._mutate(request, params, apply)

    async def cancel_intent(self, request: Request) -> Response:
        params = await self._form(request)
        _allowed(params, {"cancellation_reason", "expand"})
        reason = _text(params, "cancellation_reason")
        if reason not in (None, "duplicate", "fraudulent", "requested_by_customer", "abandoned"):
            raise ParamError("cancellation_reason", f"Invalid cancellation_reason: {reason}")
        intent_id = request.path_params["id"]
        self._intent(intent_id)

        def apply(key: str | None) -> Answer:
            stored, record, seq = self._intent(intent_id)
            intent = shapes.payment_intent(stored, record)
            if record is not None or stored["canceled_at"] is not None:
                error = self._unexpected(intent, "cancel")
                return Answer(400, shapes.error_body("invalid_request_error", str(error), code=error.code,
                                                     payment_intent=intent))
            stored = stored | {"canceled_at": int(time.time()), "cancellation_reason": reason}
            merchant_id = stored["metadata"].get("order_id", "")
            self.store.put("payment_intent", stored, seq, merchant_id)
            self.provider.announce(Flow.ORDER, {"id": intent_id, "status": "canceled", "merchant_id": merchant_id,
                                                "callback_url": self.options.webhook_url}, time.time())
            return Answer(200, shapes.payment_intent(stored, None))
        return await self._mutate(request, params, apply)

    async def get_intent(self, request: Request) -> Response:
        params = self._query(request)
        _allowed(params, {"expand", "client_secret"})
        stored, record, _ = self._intent(request.path_params["id"])
        self._client_secret(request, stored, params)
        return Json(self._expanded(shapes.payment_intent(stored, record), _expand(params, {"latest_charge"})))

    def _intents(self, page: list[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
        return [shapes.payment_intent(stored, self.store.record(seq)) for stored, seq in page]

    def _before(self, obj: str, params: Mapping[str, Any]) -> int | None:
        after = _text(params, "starting_after")
        if after is None:
            return None
        found = self.store.get(obj, after)
        if found is None:
            raise ParamError("starting_after", f"No such {obj}: '{after}'", "resource_missing", 404)
        return found[1]

    async def list_intents(self, request: Request) -> Response:
        params = self._query(request)
        _allowed(params, {"limit", "starting_after", "expand"})
        limit = _limit(params)
        page = self.store.page("payment_intent", limit + 1, self._before("payment_intent", params))
        return Json(shapes.listing("/v1/payment_intents", self._intents(page[:limit]), len(page) > limit))

    async def search_intents(self, request: Request) -> Response:
        params = self._query(request)
        _allowed(params, {"query", "limit", "page", "expand"})
        query, limit = _text(params, "query"), _limit(params)
        if query is None:
            raise ParamError("query", "Missing required param: query.", "parameter_missing")
        where, args, status = "", [], None
        for clause in re.split(r"\s+AND\s+", query.strip()):
            match = _CLAUSE.match(clause)
            if match is None:
                raise ParamError("query", f"Unsupported search clause {clause!r}: this mock understands "
                                 "metadata['key']:'value' and status:'value' joined by AND")
            if match["field"] == "status":
                status = match["value"]
            elif match["key"] == "order_id":
                where += " AND merchant_id=?"
                args.append(match["value"])
            else:
                where += " AND json_extract(body, ?)=?"
                args += [f'$.metadata."{match["key"]}"', match["value"]]
        found = self._intents(self.store.page("payment_intent", 10_000, None, where, args))
        found = [i for i in found if status is None or i["status"] == status][:limit]
        return Json(shapes.search_result("/v1/payment_intents/search", found))

    # ---- Payouts ------------------------------------------------------------------------------
    async def create_payout(self, request: Request) -> Response:
        params = await self._form(request)
        _allowed(params, {"amount", "currency", "metadata", "destination", "description", "method",
                          "statement_descriptor", "source_type", "expand"})
        amount, currency, metadata = _amount(params), _currency(params), _metadata(params)
        destination = _text(params, "destination", "ba_default") or "ba_default"
        method = _text(params, "method", "standard")
        if method not in ("standard", "instant"):
            raise ParamError("method", f"Invalid method: {method}; expected standard or instant")
        description = _text(params, "description")
        _expand(params, set())

        def apply(key: str | None) -> Answer:
            seq = self.ledger.next_seq()
            payout_id = self.provider.new_id(Flow.PAYOUT, seq, prefix="po_")
            stored = {"id": payout_id, "currency": currency, "metadata": metadata, "created": int(time.time()),
                      "description": description, "method": method}
            merchant_id = metadata.get("payout_id", "")
            self.store.put("payout", stored, seq, merchant_id)
            row = self.provider.insert_record(Flow.PAYOUT, payout_id, seq, merchant_id=merchant_id,
                                              amount_minor=amount, currency=currency.upper(), destination=destination,
                                              callback_url=self.options.webhook_url, key=key)
            return Answer(200, shapes.payout(stored, row))
        return await self._mutate(request, params, apply)

    def _payout(self, payout_id: str) -> dict[str, Any]:
        found = self.store.get("payout", payout_id)
        record = None if found is None else self.store.record(found[1])
        if found is None or record is None:
            raise ParamError("payout", f"No such payout: '{payout_id}'", "resource_missing", 404)
        return shapes.payout(found[0], record)

    async def get_payout(self, request: Request) -> Response:
        _allowed(self._query(request), {"expand"})
        return Json(self._payout(request.path_params["id"]))

    async def list_payouts(self, request: Request) -> Response:
        params = self._query(request)
        _allowed(params, {"limit", "starting_after", "expand"})
        limit = _limit(params)
        page = self.store.page("payout", limit + 1, self._before("payout", params))
        data = [self._payout(stored["id"]) for stored, _ in page[:limit]]
        return Json(shapes.listing("/v1/payouts", data, len(page) > limit))

    # ---- Events -------------------------------------------------------------------------------
    async def get_event(self, request: Request) -> Response:
        _allowed(self._query(request), {"expand"})
        found = self.store.event(request.path_params["id"])
        if found is None:
            raise ParamError("id", f"No such event: '{request.path_params['id']}'", "resource_missing", 404)
        return Json(found)

    async def list_events(self, request: Request) -> Response:
        params = self._query(request)
        _allowed(params, {"limit", "starting_after", "type", "expand"})
        after = _text(params, "starting_after")
        if after is not None and self.store.event(after) is None:
            raise ParamError("starting_after", f"No such event: '{after}'", "resource_missing", 404)
        data, more = self.store.events(_limit(params), after, _text(params, "type"))
        return Json(shapes.listing("/v1/events", data, more))

    async def unknown(self, request: Request) -> Response:
        raise ParamError(None, f"Unrecognized request URL ({request.method}: {request.url.path}).",
                         "resource_missing", 404)

    # ---- control ------------------------------------------------------------------------------
    async def control(self, request: Request) -> Response:
        """``GET|PUT /_control/stripe``: the dialect's own knobs (``injected_error_status``)."""
        if request.method == "PUT":
            try:
                changes = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                changes = None
            if not isinstance(changes, dict) or set(changes) - {"injected_error_status"}:
                return _fail(422, "invalid_request_error", "expected {\"injected_error_status\": 429|500|503}")
            status = changes.get("injected_error_status", self.injected_error_status)
            if status not in _INJECTED:
                return _fail(422, "invalid_request_error",
                             f"injected_error_status: expected one of 429, 500, 503, got {status!r}",
                             param="injected_error_status")
            self.injected_error_status = status
        return Json({"injected_error_status": self.injected_error_status,
                     "webhook_url": self.options.webhook_url})

    def routes(self) -> list[Route]:
        api = self._endpoint
        return [
            Route("/v1/payment_intents", api("create_payment_intent", self.create_intent), methods=["POST"]),
            Route("/v1/payment_intents", api("list_payment_intents", self.list_intents), methods=["GET"]),
            Route("/v1/payment_intents/search", api("search_payment_intents", self.search_intents),
                  methods=["GET"]),
            Route("/v1/payment_intents/{id}", api("get_payment_intent", self.get_intent), methods=["GET"]),
            Route("/v1/payment_intents/{id}/confirm", api("confirm_payment_intent", self.confirm_intent),
                  methods=["POST"]),
            Route("/v1/payment_intents/{id}/cancel", api("cancel_payment_intent", self.cancel_intent),
                  methods=["POST"]),
            Route("/v1/payouts", api("create_payout", self.create_payout), methods=["POST"]),
            Route("/v1/payouts", api("list_payouts", self.list_payouts), methods=["GET"]),
            Route("/v1/payouts/{id}", api("get_payout", self.get_payout), methods=["GET"]),
            Route("/v1/events", api("list_events", self.list_events), methods=["GET"]),
            Route("/v1/events/{id}", api("get_event", self.get_event), methods=["GET"]),
            Route("/v1/{rest:path}", api("unknown", self.unknown), methods=["GET", "POST", "DELETE"]),
            Route("/_control/stripe", self.control, methods=["GET", "PUT"]),
        ]
