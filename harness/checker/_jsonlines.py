"""Reading JSON-lines artifacts of a million lines within the checker's time and memory budget.

Two ways, the fast one tried first:

- ``columns``: for files of flat objects (the SUT state rows, the provider ledger), each wanted
  key is found with one regular expression over the whole text, in C. It is used only when it
  provably lines up with the lines: exactly one ``{`` per line (so no nested object, and no
  brace inside a string) and exactly one match per line for every key. A quote inside a JSON
  string is always escaped, so ``"key":`` cannot match inside a value. Otherwise None.
- ``rows``: every object parsed by orjson, a chunk of lines at a time so that only one chunk
  of dicts is alive at once; a bad line is reported with its number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from harness._exceptions import UsageError

_CHUNK_LINES = 20_000


@cache
def _string_field(key: str) -> re.Pattern[str]:
    return re.compile(rf'"{re.escape(key)}":\s*"([^"\\]*)"')


@cache
def _int_field(key: str) -> re.Pattern[str]:
    return re.compile(rf'"{re.escape(key)}":\s*(-?\d+)(?=\s*[,}}])')


def columns(text: str, strings: Sequence[str], ints: Sequence[str]) -> list[list[str]] | None:
    """The values of ``strings`` then ``ints`` (as digit strings), one list per key, or None.

    >>> columns('{"a": "x", "n": 1}\\n{"n": 2, "a": "y"}\\n', ["a"], ["n"])
    [['x', 'y'], ['1', '2']]
    """
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if not text.strip() or text.count("{") != lines:
        return None
    found = []
    for pattern in [_string_field(k) for k in strings] + [_int_field(k) for k in ints]:
        values = pattern.findall(text)
        if len(values) != lines:
            return None
        found.append(values)
    return found


def rows(path: Path) -> Iterator[dict[str, Any]]:
    """Every JSON object of ``path``; a line that is not one names the file and line number."""
    lines = path.read_bytes().splitlines()
    for start in range(0, len(lines), _CHUNK_LINES):
        chunk = [line for line in lines[start:start + _CHUNK_LINES] if line.strip()]
        try:
            parsed = orjson.loads(b"[" + b",".join(chunk) + b"]")
        except orjson.JSONDecodeError:
            parsed = None  # find the culprit, line by line, to name it
        if parsed is None or not all(type(row) is dict for row in parsed):
            window = lines[start:start + _CHUNK_LINES]
            parsed = [_one(path, start + offset + 1, line) for offset, line in enumerate(window) if line.strip()]
        yield from parsed


def _one(path: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{path}:{number}: expected one JSON object per line, got {line[:80]!r}: "
                         "the artifact was damaged; restore it or rerun") from exc
    if not isinstance(row, dict):
        raise UsageError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
    return row
