"""Templates over an operation's fields and earlier captures, and the JSON-path subset captures use.

A template is a string with ``{name}`` placeholders (``{{`` and ``}}`` are literal braces). A
string that is exactly one placeholder keeps the value's own type when rendered into a JSON body
(``"{amount_minor}"`` becomes the number 1250), so a body template can carry integers. Written
by hand: the format has to say which placeholder a template names before anything runs (to
refuse an unknown one at load time with its line), which ``str.format`` and Jinja only tell at
render time.

A capture is ``$`` followed by ``.name``, ``['name']`` or ``[index]`` steps: ``$.data.id``,
``$.items[0]['order-id']``. That subset is what response bodies of order APIs need.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness._exceptions import UsageError

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_STEP = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[(['"])(.*?)\3\]""")

Part = tuple[bool, str]  # (is a placeholder, literal text or placeholder name)


@dataclass(frozen=True)
class Template:
    """One compiled template string."""

    text: str
    parts: tuple[Part, ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """Compile ``text``; a brace that opens or closes no placeholder is a UsageError."""
        parts: list[Part] = []
        literal, index = "", 0
        while index < len(text):
            char = text[index]
            if text.startswith(("{{", "}}"), index):
                literal += char
                index += 2
                continue
            if char == "{":
                match = _PLACEHOLDER.match(text, index)
                if match is None:
                    raise UsageError(f"bad template {text!r}: '{{' at {index} opens no placeholder; expected "
                                     "{name} with a letter first (write '{{' for a literal brace)")
                if literal:
                    parts.append((False, literal))
                    literal = ""
                parts.append((True, match.group(1)))
                index = match.end()
                continue
            if char == "}":
                raise UsageError(f"bad template {text!r}: '}}' at {index} closes no placeholder (write '}}}}' "
                                 "for a literal brace)")
            literal += char
            index += 1
        if literal:
            parts.append((False, literal))
        return cls(text, tuple(parts))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for is_name, name in self.parts if is_name)

    def render(self, values: Mapping[str, Any]) -> str:
        return "".join(str(values[text]) if is_name else text for is_name, text in self.parts)

    def render_value(self, values: Mapping[str, Any]) -> Any:
        """As ``render``, except that a lone placeholder keeps its value's type."""
        if len(self.parts) == 1 and self.parts[0][0]:
            return values[self.parts[0][1]]
        return self.render(values)


def compile_body(body: Any) -> Any:
    """A JSON body template: every string value (not key) compiled to a Template."""
    if isinstance(body, str):
        return Template.parse(body)
    if isinstance(body, dict):
        return {str(key): compile_body(value) for key, value in body.items()}
    if isinstance(body, list):
        return [compile_body(item) for item in body]
    return body


def body_names(body: Any) -> tuple[str, ...]:
    """Every placeholder a compiled body names, in order."""
    if isinstance(body, Template):
        return body.names
    if isinstance(body, dict):
        return tuple(name for value in body.values() for name in body_names(value))
    if isinstance(body, list):
        return tuple(name for item in body for name in body_names(item))
    return ()


def render_body(body: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(body, Template):
        return body.render_value(values)
    if isinstance(body, dict):
        return {key: render_body(value, values) for key, value in body.items()}
    if isinstance(body, list):
        return [render_body(item, values) for item in body]
    return body


@dataclass(frozen=True)
class Capture:
    """A compiled JSON path of the subset above."""

    text: str
    steps: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> Capture:
        if not isinstance(text, str) or not text.startswith("$"):
            raise UsageError(f"bad capture {text!r}: expected a JSON path starting with '$', like $.id or "
                             "$.data[0]['order-id']")
        steps: list[str | int] = []
        index = 1
        while index < len(text):
            match = _STEP.match(text, index)
            if match is None:
                raise UsageError(f"bad capture {text!r} at character {index}: expected .name, [index] or ['name']")
            name, number, _, quoted = match.groups()
            steps.append(int(number) if number is not None else name if name is not None else quoted)
            index = match.end()
        return cls(text, tuple(steps))

    def extract(self, document: Any) -> Any:
        """The value at this path, or None when the document has nothing there."""
        value = document
        for step in self.steps:
            indexable = isinstance(value, list) and isinstance(step, int) and step < len(value)
            if not (indexable or (isinstance(value, dict) and isinstance(step, str) and step in value)):
                return None
            value = value[step]
        return value
