"""``python -m order_service --variant NAME``: the reference SUT, configured by the environment."""

from __future__ import annotations

import argparse
import gc
import sys

import uvicorn

from order_service.app import create_app
from order_service.config import ConfigError, from_env
from order_service.logs import configure
from order_service.variants import Variant


def main() -> int:
    parser = argparse.ArgumentParser(prog="order_service", description="The orderquake reference order service.")
    parser.add_argument("--variant", default="correct", choices=[v.value for v in Variant])
    args = parser.parse_args()
    try:
        settings = from_env()
    except ConfigError as exc:
        print(f"order_service: {exc}", file=sys.stderr)
        return 2
    configure()
    app = create_app(settings, Variant(args.variant))
    # Everything made at start-up lives as long as the process: keep the collector off it, and
    # collect the young generation every 50,000 allocations rather than 700 (requests make many).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    uvicorn.run(app, host="127.0.0.1", port=settings.port, log_level="warning", access_log=False,
                loop="uvloop", http="httptools", backlog=4096, timeout_keep_alive=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
