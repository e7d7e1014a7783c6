"""The harness's share of the CPU at the reference service's knee, from ``orderquake capacity``.

Runs ``orderquake capacity smoke`` on a geometric ladder of arrival rates against the reference
service (one stage, open-model Locust load, each step judged), then reads ``capacity.json``: the
knee (the highest step where every SLO and invariant holds) and that step's CPU seconds per
component, from each component's own process accounting. The harness's share is the provider's,
Toxiproxy's and Locust's CPU over every component's (the SUT and PostgreSQL included).

    python -m bench.capacity_share [--start 50] [--max 800] [--step-duration 5s]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench._figures import Figure

HARNESS = ("provider", "toxiproxy", "locust")


@dataclass(frozen=True)
class Share:
    knee_rate: float | None
    lower_bound: bool
    why: str
    cpu: dict[str, float]
    harness_limited: bool

    @property
    def share(self) -> float:
        total = sum(self.cpu.values())
        return sum(self.cpu.get(name, 0.0) for name in HARNESS) / total if total else float("nan")


def measure(start: float, maximum: float, step_duration: str, timeout_s: float = 420.0) -> Share:
    """One capacity run of the smoke scenario; the knee's step, read back from ``capacity.json``."""
    orderquake = Path(sys.executable).parent / "orderquake"
    with tempfile.TemporaryDirectory(prefix="oq-bench-capacity-") as out:
        command = [str(orderquake), "capacity", "smoke", "--start", f"{start:g}", "--factor", "2",
                   "--max", f"{maximum:g}", "--step-duration", step_duration, "--out", out]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        print(done.stdout[-4000:], flush=True)
        found = sorted(Path(out).rglob("capacity.json"))
        if not found:
            raise RuntimeError(f"orderquake capacity wrote no capacity.json (exit {done.returncode}): "
                               f"{done.stderr.strip()[-300:]}")
        data = json.loads(found[0].read_text())
    series = data["series"][0]
    knee = series["knee"]
    steps = {step["index"]: step for step in series["steps"]}
    step = steps.get(knee["step"]) if knee["step"] is not None else None
    return Share(knee["rate"], bool(knee["lower_bound"]), str(knee["why"]),
                 {k: float(v) for k, v in (step["cpu_seconds"] if step else {}).items()},
                 bool(step["harness_limited"]) if step else False)


def figures(quick: bool = True) -> list[Figure]:
    """The suite's row: the harness's CPU share at the knee."""
    start, maximum, duration = (50.0, 800.0, "5s") if quick else (50.0, 1600.0, "8s")
    result = measure(start, maximum, duration)
    reproduce = f"orderquake capacity smoke --start {start:g} --factor 2 --max {maximum:g} --step-duration {duration}"
    if result.knee_rate is None or not result.cpu:
        return [Figure("harness CPU share at the reference service's knee (orderquake capacity)",
                       "no knee: " + result.why, "-", reproduce)]
    split = ", ".join(f"{name} {seconds:.1f}" for name, seconds in sorted(result.cpu.items(), key=lambda kv: -kv[1]))
    bound = ", a lower bound" if result.lower_bound else ""
    return [Figure("harness CPU share at the reference service's knee (orderquake capacity, smoke mix)",
                   f"{result.share:.0%} at the knee {result.knee_rate:g} ops/s{bound} (CPU s: {split})",
                   "the knee's step: provider + Toxiproxy + Locust over every component; the knee itself is set by "
                   f"{result.why.split(';')[-1].strip()}; 2 shared cores", reproduce)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity_share", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=float, default=50.0)
    parser.add_argument("--max", type=float, default=800.0)
    parser.add_argument("--step-duration", default="5s")
    parser.add_argument("--quick", action="store_true", help="the defaults (what 'make bench' runs)")
    args = parser.parse_args(argv)
    result = measure(args.start, args.max, args.step_duration)
    print(f"knee {result.knee_rate} ops/s ({result.why}); harness share of the CPU there {result.share:.1%}: "
          f"{result.cpu}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
