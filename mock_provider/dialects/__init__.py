"""Wire dialects of the mock provider: one core (ledger, settlement, misbehaviour, truth streams), two faces.

``native`` is the API of docs/design.md section 3 (``/v1/orders``, ``/v1/payouts``, JSON bodies).
``stripe`` speaks Stripe's v1 wire format for what payment integrations use first (PaymentIntents,
Payouts, Events, signed webhooks), so a SUT built on the official SDK can be tested unchanged; see
:mod:`mock_provider.dialects.stripe_api`. Both record into the same ledger, so ``/_ledger/*``,
``/_control/*`` and every provider fault work the same in either.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract import Dialect

__all__ = ["Dialect", "StripeOptions"]


@dataclass(frozen=True)
class StripeOptions:
    """Start-up settings of the ``stripe`` dialect.

    Stripe sends webhooks to an endpoint configured once per account, not to a URL given with each
    request, so the endpoint is ``callback_base_url + webhook_path``; without a base URL events are
    still recorded (``GET /v1/events``) but none is delivered.
    """

    webhook_path: str = "/stripe/webhook"
    callback_base_url: str | None = None

    def __post_init__(self) -> None:
        if not self.webhook_path.startswith("/"):
            raise ValueError(f"expected a path starting with '/', got webhook_path={self.webhook_path!r}")
        base = self.callback_base_url
        if base is not None and not base.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got callback_base_url={base!r}")

    @property
    def webhook_url(self) -> str:
        """Where webhooks go; empty when no callback base URL was given."""
        if self.callback_base_url is None:
            return ""
        return self.callback_base_url.rstrip("/") + self.webhook_path


__all__ = ["Dialect", "StripeOptions"]
