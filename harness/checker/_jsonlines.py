"""JSON-lines artifacts, one object at a time.

Lines are read from the file as they are parsed, each by orjson, and handed on at once, so a
million-line ledger never exists as a million dicts or a million lines. (Measured on this
project's artifacts, a call per line is also faster than one call on the whole file made into
an array.) A line that is not a JSON object is an error that names the file and the line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from harness._exceptions import UsageError


def line_count(text: str) -> int:
    """How many lines ``text`` has, a last one without its newline included."""
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def rows(path: Path) -> Iterator[dict[str, Any]]:
    """Every JSON object of ``path``, skipping blank lines."""
    loads = orjson.loads
    with path.open("rb") as handle:
        yield from _objects(path, handle, loads)


def _objects(path: Path, handle: Iterable[bytes], loads: Callable[[bytes], Any]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(handle, start=1):
        try:
            row = loads(line)
        except orjson.JSONDecodeError as exc:
            if not line.strip():
                continue
            raise UsageError(f"{path}:{number}: expected one JSON object per line, got {line[:80]!r}: "
                             "the artifact was damaged; restore it or rerun") from exc
        if type(row) is not dict:
            raise UsageError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        yield row
