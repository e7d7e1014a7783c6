"""Reading a scenario file: YAML to a checked ``Scenario``, or a ScenarioError at file:line: field.

Every check names the field as a path (``faults[1].latency``), the line it is on, what was found
and what is allowed. Overrides from the command line (seed, duration, users, soak) are applied
before the checks that depend on them, so a fault that a shorter ``--duration`` pushes outside
the run is reported against the fault's own line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._exceptions import UsageError
from harness._units import parse_duration, parse_fraction
from harness._yaml import Path_, Reader, load_with_lines, render_path
from harness._yaml import show as _show
from harness.checker.model import Category
from harness.faults import ParamError, fault_class
from harness.scenario.model import LoadProfile, Nemesis, NemesisChoice, Operation, Scenario, ScheduledFault
from harness.scenario.slo import SloRule

VARIANTS = ("correct", "no-idempotency", "no-reconciler", "ack-before-commit", "fail-on-timeout",
            "no-signature-check")
_TOP = ("name", "description", "seed", "duration", "load", "faults", "nemesis", "recovery", "slo", "expect", "soak",
        "min_ops")
_LOAD = ("users", "spawn_rate", "mix", "duplicates", "request_timeout")
_FAULT_RESERVED = ("name", "kind", "at", "for")
_NEMESIS = ("seed", "interval", "for", "kinds", "max_concurrent", "start")


@dataclass(frozen=True)
class Overrides:
    """Command-line values that win over the file; ``soak`` picks the file's ``soak.duration``."""

    seed: int | None = None
    duration: float | None = None
    users: int | None = None
    soak: bool = False


class _Reader(Reader):
    """The generic reader with the scenario's durations."""

    def duration(self, value: Any, path: Path_) -> float:
        if isinstance(value, str) and value.strip().startswith("-"):
            # parse_duration would only say the text is not a duration; the sign is the mistake
            raise self.fail(path, f"expected a duration of zero or more like '15s', got {value!r}")
        return self.convert(path, value, lambda v: parse_duration(v, name=render_path(path)))


def load_scenario(path: Path, *, overrides: Overrides | None = None) -> Scenario:
    """Read, check and resolve one scenario file.

    >>> load_scenario(Path("scenarios/smoke.yaml"), overrides=Overrides(seed=3)).seed  # doctest: +SKIP
    3
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"scenario file {path} could not be read ({exc.strerror}): expected a YAML file; "
                         "the built-in ones are in scenarios/") from None
    return parse_scenario(text, file=str(path), overrides=overrides or Overrides(), source=path)


def parse_scenario(text: str, *, file: str, overrides: Overrides | None = None,
                   source: Path | None = None) -> Scenario:
    """``load_scenario`` for text already read; ``file`` names it in errors."""
    overrides = overrides or Overrides()
    data, lines = load_with_lines(text, file)
    r = _Reader(file, lines)
    top = r.mapping(data, (), _TOP)
    for required in ("name", "duration"):
        if required not in top:
            raise r.fail((), f"missing key {required!r}: a scenario needs at least name and duration")
    name = r.text(top["name"], ("name",))
    soak = None
    if "soak" in top:
        soak_map = r.mapping(top["soak"], ("soak",), ("duration",))
        soak = r.duration(soak_map.get("duration"), ("soak", "duration"))
    duration = r.duration(top["duration"], ("duration",))
    if overrides.soak:
        if soak is None:
            raise UsageError(f"{file}: --soak asked for, but the scenario declares no soak: add "
                             "'soak: {duration: 10m}' or give --duration")
        duration = soak
    if overrides.duration is not None:
        duration = overrides.duration
    if duration <= 0:
        raise r.fail(("duration",), f"expected a duration above zero, got {duration}")
    seed = overrides.seed if overrides.seed is not None else r.whole(top.get("seed", 1), ("seed",), 0)
    load = _load(r, top.get("load", {}), overrides)
    if overrides.users is not None and overrides.users < 1:
        raise UsageError(f"expected --users of 1 or more, got {overrides.users}")
    faults = _faults(r, top.get("faults") or [], duration)
    nemesis = _nemesis(r, top["nemesis"], seed) if top.get("nemesis") is not None else None
    recovery = r.mapping(top.get("recovery", {}), ("recovery",), ("deadline",))
    deadline = r.duration(recovery.get("deadline", 60.0), ("recovery", "deadline"))
    slo_raw = top.get("slo") or []
    if not isinstance(slo_raw, list):
        raise r.fail(("slo",), f"expected a list of rules like 'p99 < 1500ms', got {_show(slo_raw)}")
    slo = tuple(r.convert(("slo", i), rule, SloRule.parse) for i, rule in enumerate(slo_raw))
    min_ops = r.whole(top.get("min_ops", 1), ("min_ops",), 1)
    return Scenario(name=name, description=str(top.get("description") or "").strip(), seed=seed, duration=duration,
                    load=load, faults=faults, nemesis=nemesis, recovery_deadline=deadline, slo=slo,
                    expect=_expect(r, top.get("expect") or {}), soak_duration=soak, source=source, min_ops=min_ops)


def _load(r: _Reader, raw: Any, overrides: Overrides) -> LoadProfile:
    data = r.mapping(raw, ("load",), _LOAD)
    defaults = LoadProfile()
    users = r.whole(data.get("users", defaults.users), ("load", "users"), 1)
    mix = defaults.mix
    if "mix" in data:
        ops = tuple(op.value for op in Operation)
        raw_mix = r.mapping(data["mix"], ("load", "mix"), ops)
        mix = {Operation(op): r.whole(weight, ("load", "mix", op), 0) for op, weight in raw_mix.items()}
        if not any(mix.values()):
            raise r.fail(("load", "mix"), f"expected at least one weight above zero among {', '.join(ops)}")
    return LoadProfile(
        users=overrides.users if overrides.users is not None else users,
        spawn_rate=r.number(data.get("spawn_rate", defaults.spawn_rate), ("load", "spawn_rate"), above_zero=True),
        mix=mix,
        duplicates=r.convert(("load", "duplicates"), data.get("duplicates", 0.0),
                             lambda v: parse_fraction(v, name="duplicates")),
        request_timeout=r.duration(data.get("request_timeout", defaults.request_timeout),
                                   ("load", "request_timeout")))


def _fault_params(r: _Reader, kind: str, params: Mapping[str, Any], path: Path_) -> dict[str, Any]:
    try:
        return fault_class(kind).parse_params(params)
    except ParamError as exc:
        raise r.fail((*path, exc.param), str(exc)) from None


def _kind(r: _Reader, entry: Mapping[str, Any], path: Path_) -> str:
    if "kind" not in entry:
        raise r.fail(path, "missing key 'kind': 'orderquake faults' lists the fault kinds")
    kind = entry["kind"]
    r.convert((*path, "kind"), str(kind), fault_class)
    return str(kind)


def _faults(r: _Reader, raw: Any, duration: float) -> tuple[ScheduledFault, ...]:
    if not isinstance(raw, list):
        raise r.fail(("faults",), f"expected a list of faults like {{at: 10s, for: 5s, kind: db_outage}}, "
                                  f"got {_show(raw)}")
    faults = []
    names: set[str] = set()
    for index, entry in enumerate(raw):
        path: Path_ = ("faults", index)
        if not isinstance(entry, dict):
            raise r.fail(path, f"expected a mapping like {{at: 10s, for: 5s, kind: db_outage}}, got {_show(entry)}")
        kind = _kind(r, entry, path)
        at = r.duration(entry.get("at", 0), (*path, "at"))
        span = r.duration(entry["for"], (*path, "for")) if entry.get("for") is not None else None
        if at >= duration:
            raise r.fail((*path, "at"), f"the fault starts at {at:g}s, outside the run of {duration:g}s: "
                                        f"expected at < duration")
        if span is not None and at + span > duration:
            raise r.fail((*path, "for"), f"the fault ends at {at + span:g}s, after the run's {duration:g}s: "
                                         "expected at + for <= duration (leave 'for' out to last until the end)")
        name = r.text(entry.get("name", f"f{index + 1}-{kind}"), (*path, "name"))
        if name in names:
            raise r.fail((*path, "name"), f"fault name {name!r} is used twice: expected unique names")
        names.add(name)
        params = {k: v for k, v in entry.items() if k not in _FAULT_RESERVED}
        faults.append(ScheduledFault(name=name, kind=kind, at=at, duration=span,
                                     params=_fault_params(r, kind, params, path)))
    return tuple(faults)


def _nemesis(r: _Reader, raw: Any, seed: int) -> Nemesis:
    data = r.mapping(raw, ("nemesis",), _NEMESIS)
    kinds_raw = data.get("kinds")
    if not isinstance(kinds_raw, list) or not kinds_raw:
        raise r.fail(("nemesis", "kinds"), "expected a non-empty list of fault kinds (names, or mappings with "
                                           f"kind and parameters), got {_show(kinds_raw)}")
    choices = []
    for index, item in enumerate(kinds_raw):
        path: Path_ = ("nemesis", "kinds", index)
        entry = {"kind": item} if isinstance(item, str) else item
        if not isinstance(entry, dict):
            raise r.fail(path, f"expected a fault kind or a mapping with kind and parameters, got {_show(item)}")
        kind = _kind(r, entry, path)
        params = {k: v for k, v in entry.items() if k != "kind"}
        # the link may be left for the nemesis to draw: check the rest with any valid link
        needs_link = any(p.name == "link" for p in fault_class(kind).params)
        _fault_params(r, kind, params if "link" in params or not needs_link else {**params, "link": "provider"},
                      path)
        choices.append(NemesisChoice(kind=kind, params=params))
    return Nemesis(seed=r.whole(data.get("seed", seed), ("nemesis", "seed"), 0),
                   interval=_positive(r, data.get("interval", 10.0), ("nemesis", "interval")),
                   span=_positive(r, data.get("for", 5.0), ("nemesis", "for")),
                   kinds=tuple(choices),
                   max_concurrent=r.whole(data.get("max_concurrent", 1), ("nemesis", "max_concurrent"), 1),
                   start=r.duration(data.get("start", 5.0), ("nemesis", "start")))


def _positive(r: _Reader, value: Any, path: Path_) -> float:
    seconds = r.duration(value, path)
    if seconds <= 0:
        raise r.fail(path, f"expected a duration above zero, got {value!r}")
    return seconds


def _expect(r: _Reader, raw: Any) -> dict[str, str]:
    data = r.mapping(raw, ("expect",), VARIANTS)
    categories = tuple(c.value for c in Category if c.violation)
    for variant, category in data.items():
        if category not in categories:
            raise r.fail(("expect", variant), f"unknown category {category!r}: expected one of "
                                              f"{', '.join(categories)}")
    return {str(k): str(v) for k, v in data.items()}
