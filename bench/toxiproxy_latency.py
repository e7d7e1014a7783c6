"""What a Toxiproxy link adds to each request: latency at one connection, direct and proxied, side by side.

One small HTTP server (``bench._receiver``: httptools on uvloop, answers 200 with an empty body)
and one real ``toxiproxy-server`` with one proxy in front of it and no toxic. wrk, one thread
and one connection, alternates between the direct address and the proxy's, ``--rounds`` times,
in one run; the added latency is the proxied percentile minus the direct one, round by round,
and the figure is their median. Nothing is pinned (the stage pins nothing either). On a shared
machine the direct p99 itself swings from about 0.1 ms to several ms with the neighbours' load,
so many short alternating rounds are worth more than a few long ones.

    python -m bench.toxiproxy_latency [--rounds 8] [--seconds 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from bench._figures import Figure
from bench.provider_throughput import Measurement, _free_port, parse_wrk, receiver, run_wrk, spawn
from harness.stage.toxiproxy import ToxiproxyClient, toxiproxy_binary


def measure(rounds: int, seconds: float) -> tuple[list[Measurement], list[Measurement]]:
    """(direct, proxied) wrk runs at one connection, alternated ``rounds`` times."""
    direct: list[Measurement] = []
    proxied: list[Measurement] = []
    api_port = _free_port()
    with receiver("0,1") as upstream, spawn([str(toxiproxy_binary()), "-host", "127.0.0.1", "-port", str(api_port)],
                  api_port, quiet=True):
        client = ToxiproxyClient(f"http://127.0.0.1:{api_port}")
        try:
            listen = f"127.0.0.1:{_free_port()}"
            client.create_proxy("bench", listen, f"127.0.0.1:{upstream}")
            urls = {"direct": f"http://127.0.0.1:{upstream}/", "proxied": f"http://{listen}/"}
            for url in urls.values():  # warm-up: connections, the Go scheduler, the caches
                run_wrk(url, None, 1, 1.0, "0,1")
            for round_no in range(rounds):
                for side, url, into in (("direct", urls["direct"], direct), ("proxied", urls["proxied"], proxied)):
                    into.append(parse_wrk(side, 1, run_wrk(url, None, 1, seconds, "0,1")))
                d, p = direct[-1], proxied[-1]
                print(f"round {round_no + 1}: direct p50 {d.p50_ms * 1000:.0f} us p99 {d.p99_ms * 1000:.0f} us "
                      f"({d.requests_per_s:.0f} req/s); proxied p50 {p.p50_ms * 1000:.0f} us "
                      f"p99 {p.p99_ms * 1000:.0f} us ({p.requests_per_s:.0f} req/s)", flush=True)
        finally:
            client.close()
    return direct, proxied


def added_us(direct: list[Measurement], proxied: list[Measurement]) -> tuple[float, float]:
    """Median over rounds of (proxied - direct) at p50 and at p99, in microseconds."""
    p50 = statistics.median((p.p50_ms - d.p50_ms) * 1000 for d, p in zip(direct, proxied, strict=True))
    p99 = statistics.median((p.p99_ms - d.p99_ms) * 1000 for d, p in zip(direct, proxied, strict=True))
    return p50, p99


def figures(quick: bool = True) -> list[Figure]:
    """The suite's rows: Toxiproxy's added latency at p50 and p99."""
    rounds, seconds = (6, 2.0) if quick else (8, 2.0)
    direct, proxied = measure(rounds, seconds)
    p50, p99 = added_us(direct, proxied)
    d50 = statistics.median(d.p50_ms for d in direct) * 1000
    d99 = statistics.median(d.p99_ms for d in direct) * 1000
    reproduce = f"python -m bench.toxiproxy_latency --rounds {rounds} --seconds {seconds:g}"
    limits = ("Toxiproxy's copy of each request and response through its Go pipeline (two extra loopback "
              "hops); the p99s are mostly the neighbours' scheduling on 2 shared cores (see the direct p99), "
              "so the p99 difference is the noisier figure")
    return [Figure("Toxiproxy added latency per request, p50 (one connection, no toxic)",
                   f"{p50:+.0f} us (direct p50 {d50:.0f} us)", limits, reproduce),
            Figure("Toxiproxy added latency per request, p99 (one connection, no toxic)",
                   f"{p99:+.0f} us (direct p99 {d99:.0f} us)", limits, reproduce)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.toxiproxy_latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true", help="6 rounds (what 'make bench' runs)")
    args = parser.parse_args(argv)
    direct, proxied = measure(6 if args.quick else args.rounds, args.seconds)
    p50, p99 = added_us(direct, proxied)
    print(f"Toxiproxy adds {p50:.0f} us at p50 and {p99:.0f} us at p99 (median of the rounds' differences)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
