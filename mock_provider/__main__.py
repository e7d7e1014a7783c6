"""``python -m mock_provider --port N --db PATH --webhook-secret S --api-key K --seed N``."""

from __future__ import annotations

import argparse
import gc
import logging
from pathlib import Path

import uvicorn

from mock_provider.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="mock_provider", description="The orderquake mock payment provider.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True, help="SQLite ledger file (created if missing)")
    parser.add_argument("--webhook-secret", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = create_app(db=args.db, api_key=args.api_key, webhook_secret=args.webhook_secret, seed=args.seed)
    # Everything made at start-up lives as long as the process: keep the collector off it, and
    # collect the young generation every 50,000 allocations rather than 700 (requests make many).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                loop="uvloop", http="httptools", backlog=4096, timeout_keep_alive=30)


if __name__ == "__main__":
    main()
