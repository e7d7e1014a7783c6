"""The fault catalogue: completeness, parameter checks, and apply/heal against in-memory fakes."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest

from harness._exceptions import InfrastructureError
from harness.cli.main import main
from harness.faults import REGISTRY, FaultContext, ParamError, describe, make_fault
from harness.stage.provider_control import ProviderControl
from harness.stage.toxics import SCHEMA, ToxicKind
from harness.stage.toxiproxy import ToxiproxyClient
from harness.target import load_target

SECTION_3 = {"provider_errors", "provider_process_then_error", "provider_response_lost", "provider_slow",
             "provider_declines", "callback_drop", "callback_duplicate", "callback_delay", "callback_reorder",
             "settlement_stall", "api_key_rotation", "webhook_secret_mismatch"}


def test_every_toxic_kind_has_a_fault_with_its_attributes() -> None:
    for kind in ToxicKind:
        cls = REGISTRY[kind.value]
        names = [p.name for p in cls.params]
        assert names[:3] == ["link", "stream", "toxicity"]
        assert names[3:] == [a.name for a in SCHEMA[kind]]


def test_catalogue_has_every_documented_fault() -> None:
    assert {"down", "db_outage", "db_kill", "provider_crash", "sut_crash", "forged_callbacks"} <= set(REGISTRY)
    assert set(REGISTRY) >= SECTION_3
    for kind, cls in REGISTRY.items():
        assert cls.kind == kind
        assert cls.summary


def test_parameters_are_typed_and_defaulted() -> None:
    fault = make_fault("f", "latency", {"link": "db", "latency": "1.5s", "stream": "upstream"})
    assert fault.values == {"link": "db", "stream": "upstream", "toxicity": 1.0, "latency": 1500, "jitter": 0}


@pytest.mark.parametrize(("kind", "params", "param", "says"), [
    ("latency", {"link": "db", "latency": "soon"}, "latency", "duration"),
    ("latency", {"link": "db", "stream": "sideways"}, "stream", "upstream, downstream"),
    ("latency", {"link": "db", "toxicity": 1.5}, "toxicity", "from 0 to 1"),
    ("down", {}, "link", "needs link"),
    ("db_outage", {"for_real": True}, "for_real", "expected one of none"),
    ("provider_slow", {"distribution": "gamma"}, "distribution", "fixed, uniform, lognormal"),
    ("provider_slow", {"sigma": 9}, "sigma", "0 to 5"),
    ("forged_callbacks", {"count": 0}, "count", "from 1 to 200"),
])
def test_bad_parameter_names_the_parameter(kind: str, params: dict[str, Any], param: str, says: str) -> None:
    with pytest.raises(ParamError) as info:
        make_fault("f", kind, params)
    assert info.value.param == param
    assert says in str(info.value)


def test_faults_command_prints_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faults"]) == 0
    out = capsys.readouterr().out
    for kind in REGISTRY:
        assert f"\n{kind}: " in f"\n{out}"
    assert "jitter" in out and "toxicity" in out
    assert describe("down").splitlines()[1].split()[0] == "link"


# ---- apply / heal against fakes ------------------------------------------------------------


class FakeToxiproxy:
    """Toxiproxy's API for one proxy, in memory, behind httpx.MockTransport."""

    def __init__(self) -> None:
        self.toxics: dict[str, dict[str, Any]] = {}
        self.enabled = True

    def _proxy(self) -> dict[str, Any]:
        return {"name": "provider", "listen": "127.0.0.1:1", "upstream": "127.0.0.1:2", "enabled": self.enabled,
                "toxics": list(self.toxics.values())}

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == "/proxies/provider":
            return httpx.Response(200, json=self._proxy())
        if request.method == "POST" and path == "/proxies/provider/toxics":
            body = json.loads(request.content)
            if body["name"] in self.toxics:
                return httpx.Response(409, json={"error": "toxic already exists"})
            self.toxics[body["name"]] = body
            return httpx.Response(200, json=body)
        if request.method == "DELETE" and path.startswith("/proxies/provider/toxics/"):
            name = path.rsplit("/", 1)[1]
            if self.toxics.pop(name, None) is None:
                return httpx.Response(404, json={"error": "toxic not found"})
            return httpx.Response(204)
        if request.method == "POST" and path == "/proxies/provider":
            self.enabled = json.loads(request.content)["enabled"]
            return httpx.Response(200, json=self._proxy())
        return httpx.Response(404, json={"error": f"unexpected {request.method} {path}"})


def _context(tmp_path: Path, toxiproxy: FakeToxiproxy, provider: Any = None) -> FaultContext:
    client = ToxiproxyClient("http://toxiproxy", transport=httpx.MockTransport(toxiproxy.handle))
    handler = provider.handle if provider is not None else FakeProvider().handle
    stage = SimpleNamespace(toxiproxy=client, provider_url="http://provider",
                            provider=ProviderControl("http://provider", transport=httpx.MockTransport(handler)))
    return FaultContext(stage=cast(Any, stage), target=load_target(None), run_dir=tmp_path, rng=random.Random(1))


def test_toxic_apply_then_heal_twice_leaves_nothing(tmp_path: Path) -> None:
    fake = FakeToxiproxy()
    ctx = _context(tmp_path, fake)
    fault = make_fault("f1-latency", "latency", {"link": "provider", "latency": 300, "toxicity": 0.5})
    fault.heal(ctx)  # before apply: nothing to undo, no error
    fault.apply(ctx)
    assert fake.toxics["f1-latency"]["attributes"] == {"latency": 300, "jitter": 0}
    assert fake.toxics["f1-latency"]["toxicity"] == 0.5
    fault.heal(ctx)
    fault.heal(ctx)
    assert fake.toxics == {}


def test_link_down_and_up(tmp_path: Path) -> None:
    fake = FakeToxiproxy()
    ctx = _context(tmp_path, fake)
    fault = make_fault("d", "down", {"link": "provider"})
    fault.apply(ctx)
    assert not fake.enabled
    fault.heal(ctx)
    fault.heal(ctx)
    assert fake.enabled


class FakeProvider:
    """``/_control/behaviour`` in memory: GET returns it, PUT merges."""

    def __init__(self) -> None:
        self.behaviour: dict[str, Any] = {"error_rate": 0.0, "api_key": "sk_test_a", "delay": {"kind": "none"},
                                          "settlement_stalled": False}
        self.puts: list[dict[str, Any]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == "http://provider/_control/behaviour"
        if request.method == "PUT":
            changes = json.loads(request.content)
            self.puts.append(changes)
            self.behaviour.update(changes)
        return httpx.Response(200, json=self.behaviour)


@pytest.mark.parametrize(("kind", "params", "field", "value"), [
    ("provider_errors", {"rate": 0.4}, "error_rate", 0.4),
    ("settlement_stall", {}, "settlement_stalled", True),
    ("provider_slow", {"distribution": "fixed", "ms": "3s"}, "delay", {"kind": "fixed", "ms": 3000.0}),
])
def test_behaviour_fault_restores_what_was_there(tmp_path: Path, kind: str,
                                                 params: dict[str, Any], field: str, value: Any) -> None:
    fake = FakeProvider()
    ctx = _context(tmp_path, FakeToxiproxy(), fake)
    before = dict(fake.behaviour)
    fault = make_fault("p", kind, params)
    fault.heal(ctx)
    assert fake.puts == [], "heal before apply must not touch the provider"
    fault.apply(ctx)
    assert fake.behaviour[field] == value
    fault.heal(ctx)
    fault.heal(ctx)
    assert fake.behaviour == before
    assert len(fake.puts) == 2


def test_api_key_rotation_changes_the_key_and_gives_it_back(tmp_path: Path) -> None:
    fake = FakeProvider()
    ctx = _context(tmp_path, FakeToxiproxy(), fake)
    fault = make_fault("k", "api_key_rotation", {})
    fault.apply(ctx)
    assert fake.behaviour["api_key"] not in ("sk_test_a", "")
    fault.heal(ctx)
    assert fake.behaviour["api_key"] == "sk_test_a"


def test_unreachable_provider_is_an_infrastructure_error(tmp_path: Path) -> None:
    class Refusing:
        def handle(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused")

    ctx = _context(tmp_path, FakeToxiproxy(), Refusing())
    with pytest.raises(InfrastructureError, match=r"control API .* could not be reached"):
        make_fault("p", "provider_errors", {}).apply(ctx)
