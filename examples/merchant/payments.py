"""Stripe, through the official SDK: its module-level API, called on worker threads, errors translated once.

The SDK is configured here and nowhere else: the secret key, two automatic retries (it sends
an idempotency key with every POST, so its own retries never pay twice) and a 5 s read timeout.
It keeps its default ``stripe.api_base``, read at every call, so whatever points the SDK
elsewhere before the service starts (a test double's ``sitecustomize``) is honoured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import stripe
from starlette.concurrency import run_in_threadpool


class ProviderError(Exception):
    """Stripe failed or could not be reached; ``status`` is what the service answers its own client."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code = status, code


class IntentStatus(StrEnum):
    """Stripe's PaymentIntent statuses (capture is automatic here, so never ``requires_capture``)."""

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Intent:
    """What the service reads of a PaymentIntent."""

    id: str
    status: IntentStatus
    client_secret: str
    order_id: str | None
    attempt_failed: bool  # a confirmation was refused (Stripe puts it back to requires_payment_method)
    charge_id: str | None  # the charge of a confirmed PaymentIntent: what receipts and refunds name

    @property
    def open(self) -> bool:
        """Still waiting for the payer: neither confirmed, nor canceled, nor refused."""
        return not self.attempt_failed and self.status in (
            IntentStatus.REQUIRES_PAYMENT_METHOD, IntentStatus.REQUIRES_CONFIRMATION, IntentStatus.REQUIRES_ACTION)

    @classmethod
    def of(cls, obj: Any) -> Intent:
        data = obj if isinstance(obj, dict) else obj.to_dict()
        charge = data.get("latest_charge")
        return cls(id=data["id"], status=IntentStatus(data["status"]), client_secret=data.get("client_secret") or "",
                   order_id=(data.get("metadata") or {}).get("order_id"),
                   attempt_failed=data.get("last_payment_error") is not None,
                   charge_id=charge.get("id") if isinstance(charge, dict) else charge)


def configure(secret_key: str) -> None:
    stripe.api_key = secret_key
    stripe.max_network_retries = 2
    stripe.default_http_client = stripe.RequestsClient(timeout=(2.0, 5.0))


async def _call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return await run_in_threadpool(method, *args, **kwargs)
    except stripe.APIConnectionError as exc:
        raise ProviderError(504, f"the payment provider did not answer: {exc.user_message or exc}") from exc
    except stripe.RateLimitError as exc:
        raise ProviderError(503, "the payment provider is busy, try again", exc.code) from exc
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        raise ProviderError(502, "the payment provider refused our credentials", exc.code) from exc
    except stripe.APIError as exc:
        status = 503 if exc.http_status == 503 else 502
        raise ProviderError(status, "the payment provider failed, try again", exc.code) from exc
    except stripe.StripeError as exc:
        raise ProviderError(502, f"the payment provider refused the request: {exc.user_message or exc}",
                            exc.code) from exc


async def create_intent(amount: int, currency: str, order_id: str, idempotency_key: str | None) -> Intent:
    """A new, unconfirmed PaymentIntent for ``order_id``; the payer confirms it with its client secret."""
    kwargs: dict[str, Any] = {"amount": amount, "currency": currency, "metadata": {"order_id": order_id},
                              "payment_method_types": ["card"]}
    if idempotency_key is not None:
        kwargs["idempotency_key"] = idempotency_key
    return Intent.of(await _call(stripe.PaymentIntent.create, **kwargs))


async def retrieve_intent(intent_id: str, *, with_charge: bool = False) -> Intent:
    """The PaymentIntent as Stripe has it now; ``with_charge`` expands its charge (for the receipt)."""
    if with_charge:
        return Intent.of(await _call(stripe.PaymentIntent.retrieve, intent_id, expand=["latest_charge"]))
    return Intent.of(await _call(stripe.PaymentIntent.retrieve, intent_id))


async def cancel_intent(intent_id: str) -> Intent:
    """Cancel an unconfirmed PaymentIntent; a :class:`ProviderError` with code
    ``payment_intent_unexpected_state`` if the payer confirmed it first."""
    return Intent.of(await _call(stripe.PaymentIntent.cancel, intent_id, cancellation_reason="abandoned"))
