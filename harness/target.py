"""The target file (docs/design.md section 4): how to set up, start and inspect a system under test.

``start`` and each ``setup`` command are argv lists whose parts are templates: ``{variant}`` is the
run's ``--variant`` (default ``correct``), ``{python}`` the interpreter running orderquake, and the
stage's values (``{port}``, ``{database_url}``, ...: ``STAGE_FIELDS``) are what the stage gives.
``env`` maps the SUT's own variable names to templates over the same values, so a service that
reads ``PGHOST`` or ``STRIPE_SECRET_KEY`` gets them under its own names. ``flows`` (optional)
describes one client operation per flow as HTTP steps (``harness.flows``); without it the load
speaks the contract's API. ``variants`` lets a wrong ``--variant`` be refused with the allowed
names before anything starts. Every check names file, line and field.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contract import SUT_STATUSES, Dialect, Flow
from harness._exceptions import ScenarioError, UsageError
from harness._paths import PROJECT_ROOT
from harness._yaml import Path_, Reader, load_with_lines, show
from harness.checker.model import Category
from harness.flows.model import FlowSteps, parse_flows
from harness.flows.template import Template

DEFAULT_TARGET = PROJECT_ROOT / "targets" / "reference.yaml"
FLOW_STATUSES = {flow.plural: tuple(status.value for status in SUT_STATUSES[flow]) for flow in Flow}
CONTRACT_STATUSES = tuple(dict.fromkeys(status for statuses in FLOW_STATUSES.values() for status in statuses))
DIALECTS = tuple(dialect.value for dialect in Dialect)
STAGE_FIELDS = ("port", "database_url", "database_host", "database_port", "database_name", "database_user",
                "database_password", "provider_url", "api_key", "publishable_key", "webhook_secret",
                "callback_base_url")
COMMAND_FIELDS = ("variant", "python", *STAGE_FIELDS)
_KEYS = ("name", "cwd", "setup", "setup_deadline", "start", "health", "ready_deadline", "variants", "provider",
         "env", "fixtures", "statuses", "state", "flows")
_STATE_KEYS = ("orders_sql", "payouts_sql", "status_map")
_PROVIDER_KEYS = ("dialect", "webhook_path", "python_shim", "intercept")


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
class ProviderSpec:
    """How the mock provider speaks to this SUT: its API dialect, its webhook path, the SDK shim."""

    dialect: str = "native"
    webhook_path: str = "/stripe/webhook"  # the SUT's path the stripe dialect delivers events to
    python_shim: bool = False  # point stripe-python at the provider link with a sitecustomize
    intercept: bool = False  # proxy the SDK's https://api.stripe.com to the provider link (harness/stage/intercept)


@dataclass(frozen=True)
class Target:
    name: str
    start: tuple[str, ...]
    health: str
    state: TargetState
    env: Mapping[str, str] = field(default_factory=dict)  # the SUT's names to templates over STAGE_FIELDS
    ready_deadline: float = 30.0
    source: Path | None = None
    variants: tuple[str, ...] = ()  # empty: any variant is passed through unchecked
    cwd: Path | None = None
    setup: tuple[tuple[str, ...], ...] = ()
    setup_deadline: float = 300.0
    fixtures: str | None = None
    provider: ProviderSpec = field(default_factory=ProviderSpec)
    flows: Mapping[Flow, FlowSteps] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)  # the file's data, kept in the run directory
    expect: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # scenario -> {variant: category}

    def check_variant(self, variant: str | None) -> str:
        """The variant to run (default ``correct``), or a UsageError listing the target's variants."""
        chosen = variant or "correct"
        if self.variants and chosen not in self.variants:
            raise UsageError(f"unknown variant {chosen!r} of target {self.name}: expected one of "
                             f"{', '.join(self.variants)}")
        return chosen

    def command(self, argv: tuple[str, ...], variant: str | None, values: Mapping[str, str] | None = None
                ) -> list[str]:
        """``argv`` with ``{variant}``, ``{python}`` and the stage's ``values`` filled in."""
        known = {"variant": self.check_variant(variant), "python": sys.executable, **(values or {})}
        return [Template.parse(part).render(known) for part in argv]

    def argv(self, variant: str | None, values: Mapping[str, str] | None = None) -> list[str]:
        """The start argv with its placeholders filled in."""
        return self.command(self.start, variant, values)

    def environment(self, values: Mapping[str, str]) -> dict[str, str]:
        """``env`` rendered with the stage's values."""
        return {name: Template.parse(text).render(values) for name, text in self.env.items()}

    def flow_names(self) -> tuple[str, ...]:
        """The operations this target's load can send: every op when it speaks the contract."""
        if not self.flows:
            return tuple(op for flow in Flow for op in (flow.value, f"get_{flow.value}"))
        names: list[str] = []
        for flow, steps in self.flows.items():
            names.append(flow.value)
            if steps.read is not None:
                names.append(f"get_{flow.value}")
        return tuple(names)

    def to_yaml(self) -> str:
        if self.raw:
            return yaml.safe_dump(dict(self.raw), sort_keys=False)
        data: dict[str, Any] = {"name": self.name, "start": list(self.start), "health": self.health,
                                "state": {"orders_sql": self.state.orders_sql, "payouts_sql": self.state.payouts_sql,
                                          "status_map": {flow: dict(m) for flow, m in self.state.status_maps.items()}},
                                "env": dict(self.env), "ready_deadline": self.ready_deadline}
        if self.variants:
            data["variants"] = list(self.variants)
        return yaml.safe_dump(data, sort_keys=False)


def _status_maps(r: Reader, raw: Any, where: Path_) -> dict[str, dict[str, str]]:
    """A status map per flow (``{orders: {...}, payouts: {...}}``), or one flat map for both flows."""
    if not isinstance(raw, dict):
        raise r.fail(where, "expected a mapping of the SUT's status names to contract names, per flow "
                            "({orders: {paid: succeeded}, payouts: {...}}) or for both")
    per_flow = bool(raw) and set(raw) <= set(FLOW_STATUSES) and all(isinstance(v, dict) for v in raw.values())
    maps: dict[str, dict[str, str]] = {}
    for flow, allowed in FLOW_STATUSES.items():
        entries = (raw.get(flow) or {}) if per_flow else raw
        prefix = (*where, flow) if per_flow else where
        choices = allowed if per_flow else CONTRACT_STATUSES
        for own, contract in entries.items():
            if contract not in choices:
                raise r.fail((*prefix, str(own)), f"the SUT's word {own!r} maps to {show(contract)}: expected one "
                                                  f"of {', '.join(choices)}")
        maps[flow] = {str(own): str(contract) for own, contract in entries.items()
                      if per_flow or contract in allowed}
    return maps


def _variants(r: Reader, raw: Any) -> tuple[list[str], dict[str, dict[str, str]]]:
    """``variants``: a list of names, or a mapping of each name to the scenarios that catch it
    (``{scenario name: category}``), for the matrix of a target whose variants the built-in
    scenarios' ``expect:`` does not know."""
    if isinstance(raw, list):
        if not all(isinstance(v, str) and v for v in raw):
            raise r.fail(("variants",), f"expected a list of variant names, got {show(raw)}")
        return list(raw), {}
    if not isinstance(raw, dict):
        raise r.fail(("variants",), "expected a list of variant names, or a mapping of each variant to the scenarios "
                                    "that catch it ({no-retry: {provider-errors: unreturned}})")
    categories = [category.value for category in Category if category.violation]
    expect: dict[str, dict[str, str]] = {}
    for variant, caught in raw.items():
        where = ("variants", str(variant))
        if caught is None:
            caught = {}
        if not isinstance(caught, dict):
            raise r.fail(where, f"expected a mapping of scenario names to categories, got {show(caught)}")
        for scenario, category in caught.items():
            if category not in categories:
                raise r.fail((*where, str(scenario)), f"expected one of {', '.join(categories)}, got {show(category)}")
            expect.setdefault(str(scenario), {})[str(variant)] = str(category)
    return [str(v) for v in raw], expect


def _argv(r: Reader, raw: Any, path: Path_) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) for p in raw):
        raise r.fail(path, f"expected a non-empty list of strings (an argv), got {show(raw)}")
    for index, part in enumerate(raw):
        _check_template(r, part, (*path, index), COMMAND_FIELDS)
    return tuple(raw)


def _check_template(r: Reader, text: str, path: Path_, allowed: tuple[str, ...]) -> None:
    template = r.convert(path, text, Template.parse)
    for name in template.names:
        if name not in allowed:
            raise r.fail(path, f"unknown placeholder {{{name}}}: expected one of {', '.join(allowed)}")


def _provider(r: Reader, raw: Any) -> ProviderSpec:
    data = r.mapping(raw or {}, ("provider",), _PROVIDER_KEYS)
    dialect = data.get("dialect", "native")
    if dialect not in DIALECTS:
        raise r.fail(("provider", "dialect"), f"unknown dialect {show(dialect)}: expected one of {', '.join(DIALECTS)}")
    webhook = data.get("webhook_path", ProviderSpec.webhook_path)
    if not isinstance(webhook, str) or not webhook.startswith("/"):
        raise r.fail(("provider", "webhook_path"), f"expected a path starting with '/', got {show(webhook)}")
    shim = data.get("python_shim", False)
    if not isinstance(shim, bool):
        raise r.fail(("provider", "python_shim"), f"expected true or false, got {show(shim)}")
    intercept = data.get("intercept", False)
    if not isinstance(intercept, bool):
        raise r.fail(("provider", "intercept"), f"expected true or false, got {show(intercept)}")
    if intercept and dialect != "stripe":
        raise r.fail(("provider", "intercept"), f"intercept: true proxies Stripe's hosts, so it needs dialect: stripe, "
                                                f"got dialect {show(dialect)}")
    if intercept and shim:
        raise r.fail(("provider", "intercept"), "expected python_shim or intercept, not both: the shim already points "
                                                "stripe-python at the provider link")
    return ProviderSpec(dialect=dialect, webhook_path=webhook, python_shim=shim, intercept=intercept)


def load_target(path: Path | None = None) -> Target:
    """Read and check a target file; ``None`` is the reference service."""
    path = path or DEFAULT_TARGET
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UsageError(f"target file {path} not found: expected a YAML file as in docs/design.md section 4 "
                         f"(see {DEFAULT_TARGET})") from None
    except OSError as exc:
        raise UsageError(f"target file {path} could not be read ({exc.strerror}): expected a YAML file") from None
    return parse_target(text, file=str(path), source=path)


def parse_target(text: str, *, file: str, source: Path | None = None) -> Target:
    """``load_target`` for text already read; ``file`` names it in errors."""
    data, lines = load_with_lines(text, file)
    r = Reader(file, lines)
    if not isinstance(data, dict):
        raise ScenarioError(f"expected a mapping with {', '.join(_KEYS)}", file=file, line=1, field="(top level)")
    r.mapping(data, (), _KEYS)
    for required in ("name", "start", "health", "state"):
        if required not in data:
            raise r.fail((required,), f"missing key {required!r}: a target needs at least name, start, health "
                                      "and state")
    name = r.text(data["name"], ("name",))
    start = _argv(r, data["start"], ("start",))
    health = r.text(data["health"], ("health",))
    if not health.startswith("/"):
        raise r.fail(("health",), f"expected a path starting with '/', got {health!r}")
    state = r.mapping(data["state"], ("state",), _STATE_KEYS)
    for key in ("orders_sql", "payouts_sql"):
        if key not in state:
            raise r.fail(("state", key), f"missing key {key!r}: expected the SQL that lists the SUT's {key[:-4]}")
    if "status_map" in state and "statuses" in data:
        raise r.fail(("statuses",), "expected statuses or state.status_map, not both")
    if "statuses" in data:
        status_maps = _status_maps(r, data["statuses"] or {}, ("statuses",))
    else:
        status_maps = _status_maps(r, state.get("status_map") or {}, ("state", "status_map"))
    env = data.get("env") or {}
    if not isinstance(env, dict):
        raise r.fail(("env",), f"expected a mapping of environment variable names to templates, got {show(env)}")
    for key, value in env.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise r.fail(("env", str(key)), f"expected a string template, got {show(value)}")
        _check_template(r, str(value), ("env", str(key)), STAGE_FIELDS)
    variants, expect = _variants(r, data.get("variants") or [])
    base = source.resolve().parent if source is not None else PROJECT_ROOT
    cwd = None
    if data.get("cwd") is not None:
        cwd = (base / r.text(data["cwd"], ("cwd",))).resolve()
        if not cwd.is_dir():
            raise r.fail(("cwd",), f"expected a directory (relative to the target file), but {cwd} is not one")
    setup_raw = data.get("setup") or []
    if not isinstance(setup_raw, list):
        raise r.fail(("setup",), f"expected a list of commands (each an argv list), got {show(setup_raw)}")
    setup = tuple(_argv(r, command, ("setup", i)) for i, command in enumerate(setup_raw))
    fixtures = data.get("fixtures")
    if fixtures is not None and (not isinstance(fixtures, str) or not fixtures.strip()):
        raise r.fail(("fixtures",), f"expected SQL text to run against the SUT database, got {show(fixtures)}")
    flows = parse_flows(r, data["flows"]) if data.get("flows") is not None else {}
    return Target(name=name, start=start, health=health,
                  state=TargetState(orders_sql=r.text(state["orders_sql"], ("state", "orders_sql")),
                                    payouts_sql=r.text(state["payouts_sql"], ("state", "payouts_sql")),
                                    status_maps=status_maps),
                  env={str(k): str(v) for k, v in env.items()},
                  ready_deadline=r.number(data.get("ready_deadline", 30.0), ("ready_deadline",), above_zero=True),
                  source=source, variants=tuple(variants), cwd=cwd, setup=setup,
                  setup_deadline=r.number(data.get("setup_deadline", 300.0), ("setup_deadline",), above_zero=True),
                  fixtures=fixtures, provider=_provider(r, data.get("provider")), flows=flows, raw=data,
                  expect=expect)
