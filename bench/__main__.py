"""``python -m bench [NAME ...]``: run every benchmark module's ``main()``, or the ones named."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def _names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    available = _names()
    chosen = argv or available
    unknown = [name for name in chosen if name not in available]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}: expected {', '.join(available)}", file=sys.stderr)
        return 2
    failed = 0
    for name in chosen:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.monotonic()
        module = importlib.import_module(f"bench.{name}")
        code = module.main([])
        failed += 1 if code not in (None, 0) else 0
        print(f"=== bench.{name}: {time.monotonic() - started:.1f} s ===", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
