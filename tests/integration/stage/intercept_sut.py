"""A SUT that calls Stripe as an unmodified service does: the official stripe SDK with its default
API base (``https://api.stripe.com``), no shim, and no proxy or certificate setting of its own.

Only the environment the stage gives it (``HTTPS_PROXY``, the test CA) brings its calls to the mock
provider. ``POST /pay/{order_id}`` creates a PaymentIntent and reads it back, answering what the
provider said and how long the two SDK calls took; an SDK error is answered 502 with its class.

    PORT=8000 PROVIDER_API_KEY=sk_test_... python intercept_sut.py
"""

from __future__ import annotations

import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import stripe

stripe.api_key = os.environ["PROVIDER_API_KEY"]
stripe.max_network_retries = 0  # one SDK call is one request: the test times the link, not retries


class Handler(BaseHTTPRequestHandler):
    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, {"api_base": stripe.api_base})
        else:
            self._reply(404, {})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.startswith("/pay/"):
            self._reply(200, {})  # the stripe dialect's webhooks: acknowledged, unused
            return
        order_id = self.path.removeprefix("/pay/")
        started = time.monotonic()
        try:
            created = stripe.PaymentIntent.create(amount=1200, currency="eur", metadata={"order_id": order_id},
                                                  idempotency_key=order_id)
            read = stripe.PaymentIntent.retrieve(created.id)
        except stripe.StripeError as exc:
            self._reply(502, {"error": type(exc).__name__, "message": str(exc)})
            return
        self._reply(200, {"id": read.id, "status": read.status, "amount": read.amount,
                          "order_id": read.metadata["order_id"], "seconds": time.monotonic() - started})

    def log_message(self, format: str, *args: object) -> None:
        return None


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
