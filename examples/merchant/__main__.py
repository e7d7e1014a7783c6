"""``python -m examples.merchant migrate`` | ``serve --variant NAME``: configured by the environment alone."""

from __future__ import annotations

import argparse
import logging
import sys

import psycopg
import uvicorn

from examples.merchant.app import create_app
from examples.merchant.config import ConfigError, from_env
from examples.merchant.schema import migrate
from examples.merchant.variants import Variant


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.merchant", description="The example merchant service.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create the schema (idempotent); PostgreSQL from PGHOST, PGPORT, ...")
    serve = commands.add_parser("serve", help="serve on 127.0.0.1:$MERCHANT_PORT")
    serve.add_argument("--variant", default=Variant.CORRECT.value, choices=[v.value for v in Variant])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("stripe").setLevel(logging.WARNING)  # it logs every request at INFO
    if args.command == "migrate":
        try:
            migrate()
        except psycopg.Error as exc:
            print(f"merchant: migrate failed: {exc}", file=sys.stderr)
            return 1
        return 0
    try:
        settings = from_env()
    except ConfigError as exc:
        print(f"merchant: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings, Variant(args.variant))
    uvicorn.run(app, host="127.0.0.1", port=settings.port, log_level="warning", access_log=False,
                backlog=2048, timeout_keep_alive=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
