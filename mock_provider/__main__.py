"""``python -m mock_provider --port N --db PATH --webhook-secret S --api-key K --seed N [--dialect stripe]``.

``--dialect stripe`` speaks Stripe's v1 wire format (mock_provider.dialects.stripe_api); its webhooks
go to ``--callback-base-url`` + ``--stripe-webhook-path``.
"""

from __future__ import annotations

import argparse
import gc
import logging
from pathlib import Path

import uvicorn

from mock_provider.app import create_app
from mock_provider.dialects import Dialect, StripeOptions


def main() -> None:
    parser = argparse.ArgumentParser(prog="mock_provider", description="The orderquake mock payment provider.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True, help="SQLite ledger file (created if missing)")
    parser.add_argument("--webhook-secret", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dialect", type=Dialect, choices=list(Dialect), default=Dialect.NATIVE,
                        help="wire format of the public API (default: native)")
    parser.add_argument("--callback-base-url", default=None,
                        help="stripe dialect: base URL of the SUT's webhook endpoint (the stage's CALLBACK_BASE_URL)")
    parser.add_argument("--stripe-webhook-path", default="/stripe/webhook",
                        help="stripe dialect: path of the webhook endpoint under --callback-base-url "
                             "(default: /stripe/webhook)")
    args = parser.parse_args()
    try:
        stripe = StripeOptions(webhook_path=args.stripe_webhook_path, callback_base_url=args.callback_base_url)
    except ValueError as exc:
        parser.error(f"{exc} (from --stripe-webhook-path / --callback-base-url)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = create_app(db=args.db, api_key=args.api_key, webhook_secret=args.webhook_secret, seed=args.seed,
                     dialect=args.dialect, stripe=stripe)
    # Everything made at start-up lives as long as the process: keep the collector off it, and
    # collect the young generation every 50,000 allocations rather than 700 (requests make many).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                loop="uvloop", http="httptools", backlog=4096, timeout_keep_alive=30)


if __name__ == "__main__":
    main()
