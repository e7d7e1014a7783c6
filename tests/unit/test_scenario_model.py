"""The scenario model: built-in files, overrides, the resolved YAML, the nemesis draw, SLO rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness._paths import scenarios_dir
from harness.checker.model import Category
from harness.faults import REGISTRY, make_fault
from harness.scenario import (
    Metric,
    Nemesis,
    NemesisChoice,
    Operation,
    Overrides,
    SloRule,
    expand,
    load_scenario,
    parse_scenario,
)

BUILT_IN = sorted(scenarios_dir().glob("*.yaml"))
SECTION_1 = {"provider-latency", "provider-response-lost", "provider-outage", "provider-errors", "db-outage",
             "db-connection-drops", "callbacks-lost-duplicated", "duplicate-submissions", "sut-crash", "config-error",
             "payout-chaos", "forged-callbacks"}
CAUGHT_BY = {"no-idempotency": "duplicated", "no-reconciler": "unreturned", "ack-before-commit": "lost",
             "fail-on-timeout": "divergent", "no-signature-check": "forged_accepted"}


@pytest.mark.parametrize("path", BUILT_IN, ids=[p.stem for p in BUILT_IN])
def test_built_in_scenario_is_valid_short_and_round_trips(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.description
    assert scenario.duration + scenario.recovery_deadline <= 120, "built-ins must fit a CI minute or two"
    assert 1 <= scenario.load.users <= 30
    assert scenario.soak_duration is not None
    again = parse_scenario(scenario.to_yaml(), file="resolved.yaml")
    assert again.to_data() == scenario.to_data()
    assert again.schedule() == scenario.schedule()


def test_built_ins_cover_section_1_and_every_seeded_bug() -> None:
    names = {p.stem for p in BUILT_IN}
    assert SECTION_1 | {"smoke", "chaos-mix"} <= names
    caught: dict[str, set[str]] = {}
    for path in BUILT_IN:
        for variant, category in load_scenario(path).expect.items():
            caught.setdefault(variant, set()).add(category)
    for variant, category in CAUGHT_BY.items():
        assert category in caught.get(variant, set()), f"no built-in scenario expects {variant} -> {category}"


def test_overrides_win_and_soak_keeps_fault_times() -> None:
    path = scenarios_dir() / "db-outage.yaml"
    plain = load_scenario(path)
    soak = load_scenario(path, overrides=Overrides(seed=99, users=3, soak=True))
    assert (soak.seed, soak.load.users, soak.duration) == (99, 3, 600.0)
    assert soak.faults == plain.faults
    longer = load_scenario(path, overrides=Overrides(duration=90.0, soak=True))
    assert longer.duration == 90.0


def test_defaults_and_units() -> None:
    scenario = parse_scenario("name: x\nduration: 1m30s\nfaults:\n  - {at: 500ms, kind: provider_slow, ms: 1.5s}\n",
                              file="x.yaml")
    assert scenario.duration == 90.0
    assert scenario.load.request_timeout == 5.0
    assert scenario.load.mix_json() == {"order": 8, "payout": 1, "get_order": 1}
    assert scenario.recovery_deadline == 60.0
    fault = scenario.faults[0]
    assert (fault.name, fault.at, fault.duration) == ("f1-provider_slow", 0.5, None)
    assert fault.params["ms"] == 1500.0
    assert fault.end(scenario.duration) == 90.0


def test_mix_accepts_every_operation() -> None:
    scenario = parse_scenario("name: x\nduration: 10s\nload: {mix: {get_payout: 2, payout: 1}}\n", file="x.yaml")
    assert scenario.load.mix == {Operation.GET_PAYOUT: 2, Operation.PAYOUT: 1}


NEMESIS = Nemesis(seed=5, interval=6.0, span=4.0, max_concurrent=2, start=2.0,
                  kinds=(NemesisChoice("latency", {"latency": 500}), NemesisChoice("db_outage"),
                         NemesisChoice("db_kill"), NemesisChoice("provider_errors", {"rate": 0.2}),
                         NemesisChoice("sut_crash")))


def test_nemesis_replays_exactly_with_the_same_seed() -> None:
    first = expand(NEMESIS, 120.0)
    assert first == expand(NEMESIS, 120.0)
    assert len(first) >= 5
    other = expand(Nemesis(**{**NEMESIS.__dict__, "seed": 6}), 120.0)
    assert [(f.at, f.kind) for f in other] != [(f.at, f.kind) for f in first]


def test_nemesis_stays_inside_the_run_and_respects_its_limits() -> None:
    drawn = expand(NEMESIS, 120.0)
    for fault in drawn:
        assert fault.duration is not None
        assert fault.at > 2.0 and fault.at + fault.duration <= 120.0
        assert fault.kind in REGISTRY
        if fault.kind == "latency":
            assert fault.params["link"] in {"client", "provider", "callbacks", "db"}
    for fault in drawn:  # at each start, what is active then (itself included)
        active = [g for g in drawn if g.at <= fault.at < g.at + (g.duration or 0)]
        assert len(active) <= NEMESIS.max_concurrent
        assert len([g for g in active if g.kind in {"db_outage", "db_kill"}]) <= 1, "PostgreSQL faults overlap"


def test_scenario_schedule_follows_the_run_seed() -> None:
    path = scenarios_dir() / "chaos-mix.yaml"
    one = load_scenario(path, overrides=Overrides(seed=1)).schedule()
    assert one == load_scenario(path, overrides=Overrides(seed=1)).schedule()
    assert one != load_scenario(path, overrides=Overrides(seed=2)).schedule()
    assert [f.at for f in one] == sorted(f.at for f in one)


@pytest.mark.parametrize(("text", "metric", "threshold", "observed", "passed"), [
    ("p99 < 1500ms", Metric.P99, 1500.0, 1499.0, True),
    ("p99 < 1.5s", Metric.P99, 1500.0, 1500.0, False),
    ("p50<=200", Metric.P50, 200.0, 200.0, True),
    ("error_rate < 0.3", Metric.ERROR_RATE, 0.3, 0.31, False),
    ("rps >= 20", Metric.RPS, 20.0, 25.0, True),
    ("recovery < 30s", Metric.RECOVERY, 30.0, 12.0, True),
])
def test_slo_rules(text: str, metric: Metric, threshold: float, observed: float, passed: bool) -> None:
    rule = SloRule.parse(text)
    assert (rule.metric, rule.threshold) == (metric, threshold)
    assert rule.evaluate({metric.value: observed}) == (observed, passed)


def test_slo_missing_observation_fails() -> None:
    assert SloRule.parse("recovery < 30s").evaluate({"recovery": None}) == (None, False)


def test_expect_categories_are_violations() -> None:
    for path in BUILT_IN:
        for category in load_scenario(path).expect.values():
            assert Category(category).violation


@pytest.mark.parametrize("path", BUILT_IN, ids=[p.stem for p in BUILT_IN])
def test_scheduled_params_make_the_same_fault_again(path: Path) -> None:
    """The orchestrator makes faults from resolved params; they must parse to themselves."""
    for fault in load_scenario(path).schedule():
        assert make_fault(fault.name, fault.kind, fault.params).values == fault.params
