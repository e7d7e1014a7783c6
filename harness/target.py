"""The target file (DESIGN.md section 4): how to start a system under test and read its state.

``start`` is an argv list; ``{variant}`` in it becomes the ``--variant`` of the run (default
``correct``) and ``{python}`` the interpreter running orderquake, so a target file works inside
and outside a virtualenv. The SUT gets its environment from the stage (PORT, DATABASE_URL, ...).
An optional ``variants`` list (orderquake's addition to the format) lets a wrong ``--variant`` be
refused with the allowed names before anything starts, instead of as a SUT that exits at start.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contract import SUT_STATUSES, Flow
from harness._exceptions import ScenarioError, UsageError
from harness._paths import PROJECT_ROOT

DEFAULT_TARGET = PROJECT_ROOT / "targets" / "reference.yaml"
FLOW_STATUSES = {flow.plural: tuple(status.value for status in SUT_STATUSES[flow]) for flow in Flow}
CONTRACT_STATUSES = tuple(dict.fromkeys(status for statuses in FLOW_STATUSES.values() for status in statuses))
_KEYS = {"name", "start", "health", "state", "env", "ready_deadline", "variants"}
_STATE_KEYS = {"orders_sql", "payouts_sql", "status_map"}


@dataclass(frozen=True)
class TargetState:
    """The SQL that lists the SUT's orders and payouts, and its status words per flow in contract names."""

    orders_sql: str
    payouts_sql: str
    status_maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # "orders"/"payouts" -> map

    def status_map(self, flow: str) -> Mapping[str, str]:
        """The SUT's status words of ``flow`` (``orders`` or ``payouts``) to the contract's."""
        return self.status_maps.get(flow, {})

    def sql(self, flow: str) -> str:
        return self.orders_sql if flow == "orders" else self.payouts_sql


@dataclass(frozen=True)
class Target:
    name: str
    start: tuple[str, ...]
    health: str
    state: TargetState
    env: Mapping[str, str] = field(default_factory=dict)
    ready_deadline: float = 30.0
    source: Path | None = None
    variants: tuple[str, ...] = ()  # empty: any variant is passed through unchecked

    def check_variant(self, variant: str | None) -> str:
        """The variant to run (default ``correct``), or a UsageError listing the target's variants."""
        chosen = variant or "correct"
        if self.variants and chosen not in self.variants:
            raise UsageError(f"unknown variant {chosen!r} of target {self.name}: expected one of "
                             f"{', '.join(self.variants)}")
        return chosen

    def argv(self, variant: str | None) -> list[str]:
        """The start argv with ``{variant}`` and ``{python}`` filled in."""
        chosen = self.check_variant(variant)
        return [part.replace("{variant}", chosen).replace("{python}", sys.executable) for part in self.start]

    def to_yaml(self) -> str:
        data: dict[str, Any] = {"name": self.name, "start": list(self.start), "health": self.health,
                                "state": {"orders_sql": self.state.orders_sql, "payouts_sql": self.state.payouts_sql,
                                          "status_map": {flow: dict(m) for flow, m in self.state.status_maps.items()}},
                                "env": dict(self.env), "ready_deadline": self.ready_deadline}
        if self.variants:
            data["variants"] = list(self.variants)
        return yaml.safe_dump(data, sort_keys=False)


def _fail(path: Path, field_name: str, message: str) -> ScenarioError:
    return ScenarioError(message, file=str(path), field=field_name)


def _text(data: Mapping[str, Any], key: str, path: Path, where: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, f"{where}{key}", f"expected a non-empty string, got {value!r}")
    return value


def _status_maps(raw: Any, path: Path) -> dict[str, dict[str, str]]:
    """``status_map`` per flow (``{orders: {...}, payouts: {...}}``), or one flat map for both flows."""
    where = "state.status_map"
    if not isinstance(raw, dict):
        raise _fail(path, where, "expected a mapping of the SUT's status names to contract names, per flow "
                                 "({orders: {paid: succeeded}, payouts: {...}}) or for both")
    per_flow = bool(raw) and set(raw) <= set(FLOW_STATUSES) and all(isinstance(v, dict) for v in raw.values())
    maps: dict[str, dict[str, str]] = {}
    for flow, allowed in FLOW_STATUSES.items():
        entries = (raw.get(flow) or {}) if per_flow else raw
        prefix = f"{where}.{flow}" if per_flow else where
        choices = allowed if per_flow else CONTRACT_STATUSES
        for own, contract in entries.items():
            if contract not in choices:
                raise _fail(path, f"{prefix}.{own}", f"expected one of {', '.join(choices)}, got {contract!r}")
        maps[flow] = {str(own): str(contract) for own, contract in entries.items()
                      if per_flow or contract in allowed}
    return maps


def load_target(path: Path | None = None) -> Target:
    """Read and check a target file; ``None`` is the reference service."""
    path = path or DEFAULT_TARGET
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"target file {path} not found: expected a YAML file as in DESIGN.md section 4 "
                         f"(see {DEFAULT_TARGET})") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"not valid YAML: {exc}", file=str(path)) from None
    if not isinstance(data, dict):
        raise _fail(path, "(top level)", f"expected a mapping with {', '.join(sorted(_KEYS))}")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise _fail(path, unknown[0], f"unknown key; expected one of {', '.join(sorted(_KEYS))}")
    start = data.get("start")
    if not isinstance(start, list) or not start or not all(isinstance(p, str) for p in start):
        raise _fail(path, "start", f"expected a non-empty list of strings (an argv), got {start!r}")
    health = _text(data, "health", path)
    if not health.startswith("/"):
        raise _fail(path, "health", f"expected a path starting with '/', got {health!r}")
    state = data.get("state")
    if not isinstance(state, dict):
        raise _fail(path, "state", "expected a mapping with orders_sql, payouts_sql and optional status_map")
    unknown = sorted(set(state) - _STATE_KEYS)
    if unknown:
        raise _fail(path, f"state.{unknown[0]}", f"unknown key; expected one of {', '.join(sorted(_STATE_KEYS))}")
    status_maps = _status_maps(state.get("status_map") or {}, path)
    env = data.get("env") or {}
    if not isinstance(env, dict):
        raise _fail(path, "env", "expected a mapping of extra environment variables")
    variants = data.get("variants") or []
    if not isinstance(variants, list) or not all(isinstance(v, str) and v for v in variants):
        raise _fail(path, "variants", f"expected a list of variant names, got {variants!r}")
    deadline = data.get("ready_deadline", 30.0)
    if not isinstance(deadline, int | float) or deadline <= 0:
        raise _fail(path, "ready_deadline", f"expected seconds above zero, got {deadline!r}")
    return Target(name=_text(data, "name", path), start=tuple(start), health=health,
                  state=TargetState(orders_sql=_text(state, "orders_sql", path, "state."),
                                    payouts_sql=_text(state, "payouts_sql", path, "state."),
                                    status_maps=status_maps),
                  env={str(k): str(v) for k, v in env.items()}, ready_deadline=float(deadline), source=path,
                  variants=tuple(variants))
