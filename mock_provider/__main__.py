"""``python -m mock_provider --port N --db PATH --webhook-secret S --api-key K --seed N [--dialect stripe]
[--processes N]``.

``--dialect stripe`` speaks Stripe's v1 wire format (mock_provider.dialects.stripe_api); its webhooks
go to ``--callback-base-url`` + ``--stripe-webhook-path``. ``--processes N`` serves the port from N
processes under one supervising parent (mock_provider.supervisor), one ledger shard each
(mock_provider.shards); the options after it are the parent's own, given to each process.
"""

from __future__ import annotations

import argparse
import gc
import logging
import socket
import sys
from pathlib import Path

import uvicorn

from mock_provider.app import create_app
from mock_provider.dialects import Dialect, StripeOptions
from mock_provider.peers import Cluster
from mock_provider.shards import Layout
from mock_provider.supervisor import die_with_parent, supervise

# What the parent passes on to each provider process: everything but --processes.
_CHILD_ONLY = ("--shard", "--listen-fd", "--parent", "--peer-fds")


def _processes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes, 1 or more, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more processes, got {value}")
    return value


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    return int(index), int(count)


def _peer_fds(text: str) -> dict[int, int]:
    return {int(k): int(fd) for k, fd in (item.split("=", 1) for item in text.split(",") if item)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mock_provider", description="The orderquake mock payment provider.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True,
                        help="SQLite ledger file (created if missing); with --processes N, N files beside it")
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
    parser.add_argument("--processes", type=_processes, default=1,
                        help="provider processes serving the one port, one ledger shard each (default 1; "
                             "native dialect only above 1)")
    # Set by the supervisor for each of its processes (mock_provider.supervisor), never by hand.
    parser.add_argument("--shard", type=_shard, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--parent", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--peer-fds", type=_peer_fds, default={}, help=argparse.SUPPRESS)
    return parser


def _parent_argv(argv: list[str]) -> list[str]:
    """``argv`` without ``--processes N`` (either spelling): what each provider process is started with."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--processes":
            skip = True
        elif not arg.startswith("--processes="):
            kept.append(arg)
    return kept


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        stripe = StripeOptions(webhook_path=args.stripe_webhook_path, callback_base_url=args.callback_base_url)
    except ValueError as exc:
        parser.error(f"{exc} (from --stripe-webhook-path / --callback-base-url)")
    if args.processes > 1 and args.dialect is not Dialect.NATIVE:
        parser.error(f"--processes {args.processes} serves the native dialect only, got --dialect {args.dialect.value}")
    if args.shard is None:
        foreign = Layout(args.db, 0, args.processes).other_layouts()
        if foreign:
            parser.error(f"--db {args.db}: {foreign[0]} holds a ledger written with another --processes; start with "
                         "the same number of processes as before, or give another --db")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.processes > 1:
        if any(arg.split("=", 1)[0] in _CHILD_ONLY for arg in argv):
            parser.error("--processes is the parent's option; --shard, --listen-fd, --parent and --peer-fds are set "
                         "by it for each process")
        sys.exit(supervise(_parent_argv(argv), args.host, args.port, args.processes))
    cluster = None
    if args.shard is not None:
        if args.parent is not None:
            die_with_parent(args.parent)
        index, count = args.shard
        cluster = Cluster(Layout(args.db, index, count),
                          {k: socket.socket(fileno=fd) for k, fd in args.peer_fds.items()})
    app = create_app(db=args.db, api_key=args.api_key, webhook_secret=args.webhook_secret, seed=args.seed,
                     dialect=args.dialect, stripe=stripe, cluster=cluster)
    # Everything made at start-up lives as long as the process: keep the collector off it, and
    # collect the young generation every 50,000 allocations rather than 700 (requests make many).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                            loop="uvloop", http="httptools", backlog=4096, timeout_keep_alive=30)
    server = uvicorn.Server(config)
    server.run(sockets=None if args.listen_fd is None else [socket.socket(fileno=args.listen_fd)])


if __name__ == "__main__":
    main()
