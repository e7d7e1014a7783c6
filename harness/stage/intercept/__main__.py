"""``python -m harness.stage.intercept``: the proxy as the stage's supervised process ``intercept``.

    python -m harness.stage.intercept --port 8443 --upstream 127.0.0.1:8001 --cert server.pem --key server.key
"""

from __future__ import annotations

import argparse

from harness.stage.intercept.certs import STRIPE_HOSTS
from harness.stage.intercept.proxy import ProxyConfig, run


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected host:port, got {text!r}")
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.stage.intercept", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="port to listen on")
    parser.add_argument("--upstream", type=_address, required=True,
                        help="host:port the tunnels' plaintext goes to (the provider link)")
    parser.add_argument("--cert", required=True, help="PEM server certificate for the intercepted hosts")
    parser.add_argument("--key", required=True, help="PEM private key of --cert")
    parser.add_argument("--allow-host", action="append", dest="hosts",
                        help=f"a host CONNECT may reach on port 443 (repeatable; default {', '.join(STRIPE_HOSTS)})")
    args = parser.parse_args(argv)
    upstream_host, upstream_port = args.upstream
    print(f"intercept proxy on {args.host}:{args.port} -> {upstream_host}:{upstream_port}", flush=True)
    run(ProxyConfig(host=args.host, port=args.port, upstream_host=upstream_host, upstream_port=upstream_port,
                    cert=args.cert, key=args.key, hosts=tuple(args.hosts or STRIPE_HOSTS)))


if __name__ == "__main__":
    main()
