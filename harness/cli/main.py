"""Entry point of the ``orderquake`` console script.

Every module in this package that defines ``register(subparsers)`` adds its commands; a
command's parser sets ``handler``, a function of the parsed arguments that returns an exit
code. Errors the user can act on become one clear line on stderr and their exit code, never
a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
from collections.abc import Sequence

from harness._exceptions import ExitCode, OrderquakeError

_SKIP = {"main", "_common"}
_BROKEN_PIPE = 128 + signal.SIGPIPE


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error lists what was allowed and exits with ExitCode.USAGE."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="orderquake",
        description="Chaos and load testing for order and payout flows, with an order-by-order proof.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    package = importlib.import_module("harness.cli")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name in _SKIP:
            continue
        module = importlib.import_module(f"harness.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _dispatch(argv)
        finally:
            # Flushed here, not at exit, so that a reader gone away is met below and not by the interpreter.
            sys.stdout.flush()
    except BrokenPipeError:
        # As Python's documentation of SIGPIPE advises: the next flush (at exit) goes to /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return _BROKEN_PIPE


def _dispatch(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        return int(handler(args))
    except OrderquakeError as exc:
        print(f"orderquake: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("orderquake: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
