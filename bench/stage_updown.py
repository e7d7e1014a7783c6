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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.stage_updown")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'stage':<34} {'up best':>8} {'up median':>10} {'down best':>10} {'down median':>12}")
    for label, components in (("postgres + toxiproxy + links", ()), ("full (+ provider + reference SUT)",
                                                                       ("provider", "sut"))):
        ups, downs = _measure(components, args.rounds)
        print(f"{label:<34} {min(ups):>7.2f}s {statistics.median(ups):>9.2f}s {min(downs):>9.2f}s "
              f"{statistics.median(downs):>11.2f}s")
    print("targets: up within 5 s, down within 3 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
