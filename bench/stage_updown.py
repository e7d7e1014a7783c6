"""How long ``up`` and ``down`` of the local stage take (targets: up within 5 s, down within 3 s).

Runs the whole stage (PostgreSQL with the cached initdb template, Toxiproxy, the four links, the
mock provider and the reference SUT) a few times, plus the infrastructure alone, and prints the
best and median of each. The first round may include the one-off initdb that fills the cache.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench._figures import Figure
from harness.stage import LocalStage, StageConfig


def _measure(components: tuple[str, ...], rounds: int) -> tuple[list[float], list[float]]:
    ups, downs = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="oq-bench-") as root:
            started = time.monotonic()
            stage = LocalStage.start(StageConfig(root=Path(root) / "stage", components=components))
            ups.append(time.monotonic() - started)
            started = time.monotonic()
            stage.stop()
            downs.append(time.monotonic() - started)
    return ups, downs


_LABELS = (("postgres + toxiproxy + links", ()), ("full (+ provider + reference SUT)", ("provider", "sut")))
_LIMITS = {
    (): ("PostgreSQL's postmaster start (a copy of the cached initdb template), in parallel with Toxiproxy's, "
         "then the four links created one API call each",
         "Toxiproxy's stop, then PostgreSQL's fast shutdown, one after the other"),
    ("provider", "sut"): ("the provider's and the SUT's Python start-up (imports, then readiness polled) after "
                          "PostgreSQL; 2 shared cores",
                          "each component's graceful stop in turn (SIGTERM, uvicorn's shutdown), then Toxiproxy "
                          "and PostgreSQL"),
}


def measure(rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    """Up and down times per stage shape, printed as they come."""
    print(f"{'stage':<34} {'up best':>8} {'up median':>10} {'down best':>10} {'down median':>12}")
    results = {}
    for label, components in _LABELS:
        ups, downs = _measure(components, rounds)
        results[label] = (ups, downs)
        print(f"{label:<34} {min(ups):>7.2f}s {statistics.median(ups):>9.2f}s {min(downs):>9.2f}s "
              f"{statistics.median(downs):>11.2f}s")
    print("targets: up within 5 s, down within 3 s")
    return results


def figures(quick: bool = True) -> list[Figure]:
    """The suite's rows: up and down of the full stage and of the infrastructure alone."""
    rounds = 2 if quick else 3
    results = measure(rounds)
    rows = []
    for label, components in _LABELS:
        ups, downs = results[label]
        up_limit, down_limit = _LIMITS[components]
        reproduce = f"python -m bench.stage_updown --rounds {rounds}"
        rows.append(Figure(f"stage up, {label}", f"{statistics.median(ups):.2f} s (best {min(ups):.2f}, target 5 s)",
                           up_limit, reproduce))
        rows.append(Figure(f"stage down, {label}", f"{statistics.median(downs):.2f} s (best {min(downs):.2f}, "
                           "target 3 s)", down_limit, reproduce))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.stage_updown")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2 rounds (what 'make bench' runs)")
    args = parser.parse_args(argv)
    measure(2 if args.quick else args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
