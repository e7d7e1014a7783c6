"""Stripe-style form bodies: ``a[b][c]=v`` nests, ``a[]=v`` and ``a[0]=v`` make lists.

>>> decode_form("metadata[order_id]=o-1&expand[]=latest_charge&amount=100")
{'metadata': {'order_id': 'o-1'}, 'expand': ['latest_charge'], 'amount': '100'}

Values stay strings: each endpoint knows which of its parameters are integers or booleans.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_MAX_DEPTH = 8


class FormError(ValueError):
    """A body or query that is not a well-formed bracket-nested form; ``param`` names the key."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def _lists(node: Any, where: str) -> Any:
    """Turn every dict whose keys are all ``""`` appends or indices into a list, in index order."""
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, int) for k in node):
        indices = sorted(node)
        if indices != list(range(len(indices))):
            raise FormError(where, f"{where}: expected list indices 0..{len(indices) - 1}, got {indices}")
        return [_lists(node[i], f"{where}[{i}]") for i in indices]
    if any(isinstance(k, int) for k in node):
        raise FormError(where, f"{where}: mixes list items and named keys")
    return {k: _lists(v, f"{where}[{k}]" if where else k) for k, v in node.items()}


def decode_form(raw: str | bytes) -> dict[str, Any]:
    """The nested parameters of an ``application/x-www-form-urlencoded`` body or a query string."""
    text = raw.decode("utf-8", errors="strict") if isinstance(raw, bytes) else raw
    root: dict[Any, Any] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, strict_parsing=False):
        match = _KEY.match(name)
        if match is None:
            raise FormError(name, f"malformed parameter name {name!r}")
        parts: list[str] = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        if len(parts) > _MAX_DEPTH:
            raise FormError(name, f"{name!r} nests deeper than {_MAX_DEPTH} levels")
        node: dict[Any, Any] = root
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            key: Any = part
            if depth > 0 and (part == "" or part.isdigit()):
                key = len(node) if part == "" else int(part)
            if last:
                if key in node:
                    raise FormError(name, f"parameter {name!r} given twice")
                node[key] = value
            else:
                child = node.setdefault(key, {})
                if not isinstance(child, dict):
                    raise FormError(name, f"{name!r} is both a value and a nested object")
                node = child
    decoded: dict[str, Any] = _lists(root, "")
    return decoded
