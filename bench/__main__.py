"""``python -m bench [--full] [--results PATH] [NAME ...]``: the suite, one table, ``bench/RESULTS.md``.

Each module's ``figures(quick)`` measures and returns its rows; this collects them, prints one
table at the end and, when the whole suite ran, writes ``bench/RESULTS.md`` (or ``--results``)
from that same run. The default sizes fit ``make bench`` within 15 minutes on a shared 2-core
machine; ``--full`` uses each module's own defaults. A module that fails gets a row saying so,
and the exit code is 1. ``python -m bench.NAME`` runs one module with its detailed output only.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench._figures import Figure, git_commit, results_markdown, table

_ROOT = Path(__file__).resolve().parents[1]
# Cheap and steady first; the end-to-end stage last, so that a failure there loses least.
_ORDER = ("stage_updown", "toxiproxy_latency", "provider_throughput", "locust_history", "checker_scale",
          "order_service_e2e", "capacity_share")
_NOTES = (
    "Wall-clock rates move with the neighbours' load on this shared machine; figures per CPU-second "
    "(each process's user + system time from /proc) move much less, so ratios are quoted per CPU-second "
    "and measured side by side in this one run.",
    "The load generator of provider_throughput, toxiproxy_latency and order_service_e2e is wrk; "
    "locust_history measures Locust itself.",
)


def _names() -> list[str]:
    found = {m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_")}
    return [name for name in _ORDER if name in found] + sorted(found - set(_ORDER))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmark modules to run (default: all)")
    parser.add_argument("--full", action="store_true", help="each module's own (longer) sizes")
    parser.add_argument("--results", type=Path, help="where to write the results (default: bench/RESULTS.md when "
                                                     "every module ran)")
    args = parser.parse_args(argv)
    available = _names()
    unknown = [name for name in args.names if name not in available]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}: expected {', '.join(available)}", file=sys.stderr)
        return 2
    chosen = args.names or available
    started_at, started, load_start = datetime.now(UTC), time.monotonic(), os.getloadavg()
    rows: list[Figure] = []
    failed = 0
    for name in chosen:
        print(f"\n=== bench.{name} ===", flush=True)
        began = time.monotonic()
        try:
            rows += importlib.import_module(f"bench.{name}").figures(quick=not args.full)
        except Exception as exc:  # one broken benchmark must not cost the others' figures
            traceback.print_exc()
            failed += 1
            rows.append(Figure(f"bench.{name}", f"failed: {type(exc).__name__}: {exc}"[:200], "-",
                               f"python -m bench.{name}"))
        print(f"=== bench.{name}: {time.monotonic() - began:.1f} s ===", flush=True)
    seconds = time.monotonic() - started
    print(f"\n=== orderquake's own costs ({seconds / 60:.1f} min) ===\n{table(rows)}")
    results = args.results or (_ROOT / "bench" / "RESULTS.md" if not args.names else None)
    if results is not None:
        results.write_text(results_markdown(rows, started=started_at, seconds=seconds, commit=git_commit(_ROOT),
                                            load=(load_start, os.getloadavg()), notes=_NOTES))
        print(f"wrote {results}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
