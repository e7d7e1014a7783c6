"""YAML with positions: the data of a scenario or target file and the line of every key and list item.

PyYAML's plain ``safe_load`` forgets where a value came from; a validation error must say
``scenarios/x.yaml:12: faults[1].latency``. So the file is composed into nodes once, the data is
constructed from them as ``safe_load`` would, and a walk over the same nodes records each path's
line. A path is a tuple of keys and list indexes: ``("faults", 1, "latency")``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml

from harness._exceptions import ScenarioError, UsageError

Path_ = tuple[str | int, ...]


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], file: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                # safe_load keeps the last value silently; a repeated key is nearly always a mistake
                raise ScenarioError(f"key {key!r} appears twice in the same mapping: expected each key once",
                                    file=file, line=key_node.start_mark.line + 1, field=render_path((*path, key)))
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), lines, file)


def load_with_lines(text: str, file: str) -> tuple[Any, dict[Path_, int]]:
    """``(data, lines)`` of one YAML document; raises ScenarioError (with the line) if it is not YAML."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[Path_, int] = {(): node.start_mark.line + 1}
        _walk(node, (), lines, file)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ScenarioError(f"not valid YAML: {exc.problem or exc}", file=file,
                            line=None if mark is None else mark.line + 1) from None
    finally:
        loader.dispose()


def render_path(path: Path_) -> str:
    """``("faults", 1, "latency")`` as ``faults[1].latency``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def line_of(lines: dict[Path_, int], path: Path_) -> int | None:
    """The line of ``path`` or of its nearest ancestor that has one."""
    while True:
        if path in lines:
            return lines[path]
        if not path:
            return None
        path = path[:-1]


def show(value: Any) -> str:
    """A found value as an error message shows it: ``'x' (str)``."""
    return f"{value!r} ({type(value).__name__})"


T = TypeVar("T")


@dataclass
class Reader:
    """The data of one file with its lines; every accessor raises a ScenarioError pointing at the field."""

    file: str
    lines: dict[Path_, int]

    def fail(self, path: Path_, message: str) -> ScenarioError:
        return ScenarioError(message, file=self.file, line=line_of(self.lines, path), field=render_path(path))

    def mapping(self, value: Any, path: Path_, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping with keys {', '.join(allowed)}, got {show(value)}")
        for key in value:
            if key not in allowed:
                raise self.fail((*path, key), f"unknown key {key!r}: expected one of {', '.join(allowed)}")
        return value

    def convert(self, path: Path_, value: Any, parse: Callable[[Any], T]) -> T:
        try:
            return parse(value)
        except UsageError as exc:
            raise self.fail(path, str(exc)) from None

    def whole(self, value: Any, path: Path_, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"expected a whole number, got {show(value)}")
        if value < minimum:
            raise self.fail(path, f"expected a whole number of {minimum} or more, got {value}")
        return value

    def number(self, value: Any, path: Path_, *, above_zero: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (above_zero and value == 0):
            bound = "above zero" if above_zero else "of zero or more"
            raise self.fail(path, f"expected a number {bound}, got {show(value)}")
        return float(value)

    def text(self, value: Any, path: Path_) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"expected a non-empty string, got {show(value)}")
        return value.strip()
