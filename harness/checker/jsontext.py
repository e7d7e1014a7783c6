"""One line of evidence as JSON, strictly: what the checker takes for a JSON value, and nothing else.

Every reader of evidence decodes a line here (``harness.checker.reading``; the DuckDB reader hands
this module every line it cannot decide exactly), so what is JSON never depends on the parser:

- the line is JSON as RFC 8259 writes it, in UTF-8: no ``NaN``, ``Infinity`` or ``-Infinity`` (Python's
  ``json`` takes them, they are not JSON), no byte order mark, no bytes that are not UTF-8 and no
  ``\\ud800`` without its pair (a string must be text), nesting at most ``MAX_DEPTH`` deep (deeper,
  Python's parser would run out of stack); anything else raises ``NotJson`` with the reason;
- a key given twice in one object holds a ``Repeated`` (both values): which one a parser keeps is not
  JSON's to say, so no reader may take it for either. Where the checker reads that key, the line is
  damage; elsewhere the repetition changes nothing the checker reads;
- the numbers at the ``exact`` paths are exact: an ``int`` for an integer, a ``Decimal`` for a real
  (``1e3`` and ``1000.0`` are 1000; ``1.0000000000000000001`` is not); elsewhere a real is a float, or a
  ``Decimal`` too when the line was asked for exact numbers and needed the careful parse below.

orjson decodes nearly every line; the few it refuses or leaves in doubt (a real where an exact number is
wanted, a repeated key it would silently drop, a colon escaped as ``\\u003a`` that hides one) are decoded
again by ``json`` with hooks that enforce the rules above.

    >>> decode(b'{"value": {"amount_minor": 1e3}}', exact=[("value", "amount_minor")])
    {'value': {'amount_minor': Decimal('1E+3')}}
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Any

import orjson

MAX_DEPTH = 128  # a history line nests 2 deep; orjson writes 254 deep at most, Python's json some 900
_LONG_INTEGER = 4000  # digits beyond which Python's int() refuses a literal (sys.int_info): read as a Decimal
_ESCAPED_COLON = (b"\\u003a", b"\\u003A")

Path = Sequence[str]


class NotJson(ValueError):
    """A line that is not one strict JSON value; the message says why."""


class Repeated:
    """What a key given more than once in one object holds: every value it was given, in order."""

    __slots__ = ("values",)

    def __init__(self, values: Sequence[Any]) -> None:
        self.values = tuple(values)

    def __repr__(self) -> str:
        return f"<one key given {len(self.values)} times: {', '.join(map(repr, self.values))}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Repeated) and other.values == self.values

    def __hash__(self) -> int:
        return hash(self.values)


def decode(line: bytes, exact: Collection[Path] = ()) -> Any:
    """One line as a JSON value (see the module docstring); ``NotJson`` when it is not one.

    ``exact`` names the keys (a path of them, from the top object) whose numbers must be exact.
    """
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return _careful(line, exact)
    if (line.count(b"[") + line.count(b"{") > MAX_DEPTH or _may_repeat(line, value)
            or any(type(_at(value, path)) is float for path in exact)):
        return _careful(line, exact)
    return value


def _may_repeat(line: bytes, value: Any) -> bool:
    """Whether an object of ``line`` may give a key twice (orjson keeps the last and says nothing).

    Every colon of a line is a key's or a string's; orjson writes ``value`` again with one per key it kept
    and every string's as they were, so the counts differ exactly when a key was given twice, unless a
    colon was escaped (``\\u003a``), which is then left to the careful parse.
    """
    colons = line.count(b":")
    if not colons:
        return False
    return colons != orjson.dumps(value).count(b":") or any(escaped in line for escaped in _ESCAPED_COLON)


def _at(value: Any, path: Path) -> Any:
    for key in path:
        if type(value) is not dict:
            return None
        value = value.get(key)
    return value


def _careful(line: bytes, exact: Collection[Path]) -> Any:
    """``json`` with every rule of the module enforced: slower, for the lines orjson does not settle."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotJson(f"not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_constant, parse_int=_integer,
                           parse_float=Decimal if exact else float)
    except RecursionError:
        raise NotJson(f"nested deeper than {MAX_DEPTH}") from None
    except json.JSONDecodeError as exc:
        raise NotJson(exc.msg + (f" at character {exc.pos}" if exc.pos else "")) from None
    _check_tree(value)
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) < len(pairs):
        for key in found:
            values = [value for name, value in pairs if name == key]
            if len(values) > 1:
                found[key] = Repeated(values)
    return found


def _constant(name: str) -> Any:
    raise NotJson(f"{name} is not JSON")


def _integer(text: str) -> int | Decimal:
    return int(text) if len(text) < _LONG_INTEGER else Decimal(text)


def _check_tree(value: Any) -> None:
    """Nesting within ``MAX_DEPTH``, and every string (keys too) text that UTF-8 can hold."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if type(node) is str:
            _check_text(node)
            continue
        if type(node) is Repeated:
            stack.extend((item, depth) for item in node.values)
            continue
        if type(node) not in (dict, list):
            continue
        if depth > MAX_DEPTH:
            raise NotJson(f"nested deeper than {MAX_DEPTH}")
        if type(node) is dict:
            for key in node:
                _check_text(key)
            stack.extend((item, depth + 1) for item in node.values())
        else:
            stack.extend((item, depth + 1) for item in node)


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            raise NotJson(f"a string holds a lone surrogate: {text[:40]!r}") from None
