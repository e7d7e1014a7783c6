"""Pausing the cyclic garbage collector while millions of acyclic records are built.

Reading a large run creates millions of small container objects (per-id summaries, records,
lists) and no reference cycles; every few thousand allocations the collector would walk all
of them again, which costs a quarter of the checker's time at a million orders. Reference
counting still frees everything; the collector is restored, as it was, on the way out.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
