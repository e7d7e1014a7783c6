"""Step rates and held-fault specs: what the command line accepts, and what it refuses with the allowed names."""

from __future__ import annotations

import pytest

from harness._exceptions import UsageError
from harness.capacity.plan import describe_fault, geometric, parse_fault, parse_rates


def test_rates_are_a_list_or_a_geometric_ladder() -> None:
    assert parse_rates("20, 40,80") == (20.0, 40.0, 80.0)
    assert geometric(50, 2, 400) == (50.0, 100.0, 200.0, 400.0)
    assert geometric(10, 1.5, 30) == (10.0, 15.0, 22.5)


@pytest.mark.parametrize("text", ["", "20,x", "40,20", "20,20", "0,10", "-5"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_rates(text)


def test_a_ladder_needs_a_factor_above_one() -> None:
    with pytest.raises(UsageError, match="--factor"):
        geometric(10, 1, 40)


def test_short_spec_kind_link_value() -> None:
    fault = parse_fault("latency:provider:300ms")
    assert (fault.kind, fault.at, fault.duration) == ("latency", 0.0, None)
    assert fault.params["link"] == "provider" and fault.params["latency"] == 300
    assert describe_fault(fault) == "latency provider latency=300 jitter=0"


def test_short_spec_with_named_parameters_and_a_fault_without_link() -> None:
    fault = parse_fault("reset_peer:db:0,toxicity=0.1")
    assert fault.params["toxicity"] == 0.1 and fault.params["timeout"] == 0
    slow = parse_fault("provider_slow,ms=400")
    assert slow.kind == "provider_slow" and slow.params["ms"] == 400


def test_a_scenario_fault_entry_is_accepted() -> None:
    fault = parse_fault("{kind: latency, link: db, latency: 50ms, jitter: 10ms}")
    assert fault.params["link"] == "db" and fault.params["jitter"] == 10


@pytest.mark.parametrize(("spec", "message"), [
    ("latncy:provider:300ms", "unknown fault kind"),
    ("latency:nowhere:300ms", "expected one of"),
    ("latency:provider:300ms:9", "at most 2 value"),
    ("latency:provider:300ms,jiter=5", "unknown parameter"),
    ("latency:provider,300ms", "NAME=VALUE"),
])
def test_bad_specs_say_what_is_allowed(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_fault(spec)
