"""Provider misbehaviour: faults that PUT fields of the mock provider's ``/_control/behaviour``.

Toxiproxy sees bytes; these faults need the provider to *decide* something (process the order,
then fail; sign callbacks with another secret). Each fault changes a few behaviour fields. Before
the first change it remembers their values, and heal puts exactly those back, so faults touching
other fields can overlap. Heal without a remembered value means apply never reached the PUT:
nothing to undo.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from harness._exceptions import UsageError
from harness._units import parse_fraction, parse_milliseconds
from harness.faults.base import Fault, FaultContext, Param, choice


def _rate(help_text: str, default: float = 1.0) -> Param:
    return Param("rate", help_text, lambda v: parse_fraction(v, name="rate"), default=default)


def _ms(name: str, help_text: str, default: float) -> Param:
    def parse(value: object) -> float:
        return float(parse_milliseconds(value, name=name))

    return Param(name, help_text + " (ms; or a duration: 300ms, 1.5s)", parse, default=default)


def _sigma(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 5:
        raise UsageError(f"expected a number from 0 to 5, got sigma={value!r}")
    return float(value)


class BehaviourFault(Fault):
    """Sets ``changes(ctx)`` on the provider; heal restores what was there before."""

    _saved: dict[str, Any] | None = None

    @abstractmethod
    def changes(self, ctx: FaultContext) -> dict[str, Any]:
        """The behaviour fields this fault sets."""

    def apply(self, ctx: FaultContext) -> None:
        wanted = self.changes(ctx)
        if self._saved is None:
            current = ctx.stage.provider.behaviour()
            self._saved = {name: current[name] for name in wanted}
        ctx.stage.provider.set_behaviour(wanted)

    def heal(self, ctx: FaultContext) -> None:
        if self._saved is not None:
            ctx.stage.provider.set_behaviour(self._saved)
            self._saved = None


class ProviderErrors(BehaviourFault):
    kind = "provider_errors"
    summary = "the provider answers 500 without processing (error_rate)"
    params = (_rate("fraction of API calls answered 500", 0.5),)

    def changes(self, ctx: FaultContext) -> dict[str, Any]:
        return {"error_rate": self.values["rate"]}


class ProviderProcessThenError(BehaviourFault):
    kind = "provider_process_then_error"
    summary = "the provider commits the order, then answers 500 (charged, error returned)"
    params = (_rate("fraction of API calls processed then answered 500", 0.3),)

    def changes(self, ctx: FaultContext) -> dict[str, Any]:
        return {"process_then_error_rate": self.values["rate"]}


class ProviderResponseLost(BehaviourFault):
    kind = "provider_response_lost"
    summary = "the provider commits the order, then drops the connection (charged, response lost)"
    params = (_rate("fraction of API calls processed then dropped", 0.3),)

    def changes(self, ctx: FaultContext) -> dict[str, Any]:
        return {"process_then_drop_rate": self.values["rate"]}


class ProviderSlow(BehaviourFault):
    kind = "provider_slow"
    summary = "the provider holds each response for a delay drawn from a distribution"
    params = (Param("distribution", "fixed (ms), uniform (min_ms..max_ms) or lognormal (ms is the median, sigma)",
                    choice("fixed", "uniform", "lognormal"), default="fixed",
                    choices=("fixed", "uniform", "lognormal")),
              _ms("ms", "the fixed delay, or the lognormal median", 2000.0),
              _ms("min_ms", "uniform: the shortest delay", 0.0),
              _ms("max_ms", "uniform: the longest delay", 4000.0),
              Param("sigma", "lognormal: the spread (0 to 5)", _sigma, default=0.5))

    def changes(self, ctx: FaultContext) -> dict[str, Any]:
        distribution = self.values["distribution"]
        if distribution == "uniform":
            delay: dict[str, Any] = {"kind": "uniform", "min_ms": self.values["min_ms"],
                                     "max_ms": self.values["max_ms"]}
        elif distribution == "lognormal":
            delay = {"kind": "lognormal", "median_ms": max(self.values["ms"], 1.0), "sigma": self.values["sigma"]}
        else:
            delay = {"kind": "fixed", "ms": self.values["ms"]}
        return {"delay": delay}


class ProviderDeclines(BehaviourFault):
    kind = "provider_declines"
    summary = "the provider declines orders and rejects payouts at the given rates"
    params = (_rate("fraction of orders declined", 0.5),
              Param("reject_rate", "fraction of payouts rejected", lambda v: parse_fraction(v, name="reject_rate"),
                    default=0.5))

    def changes(self, ctx: FaultContext) -> dict[str, Any]:
        return {"decline_rate": self.values["rate"], "reject_rate": self.values["reject_rate"]}


class CallbackDrop(BehaviourFault):
    kind = "callback_drop"
    summary = "the provider never delivers a fraction of its callbacks"
    params = (_rate("fraction of callbacks dropped", 1.0),)

    def changes(self, ctx: FaultContext) -> dict[str, Any]:
        return {"callback_drop_rate": self.values["rate"]}


class CallbackDuplicate(BehaviourFault):
    kind = "callback_duplicate"
    summary = "the provider delivers a fraction of its callbacks twice"
    params = (_rate("fraction of callbacks delivered twice", 0.5),)

    def changes(self, ctx: FaultContext) -> dict[str, Any]:
        return {"callback_duplicate_rate": self.values["rate"]}


class CallbackDelay(BehaviourFault):
    kind = "callback_delay"
    summary = "the provider holds every callback before the first delivery"
    params = (_ms("delay", "how long each callback waits", 5000.0),)

    def changes(self, ctx: FaultContext) -> dict[str, Any]:
        return {"callback_delay_ms": round(self.values["delay"])}


class CallbackReorder(BehaviourFault):
    kind = "callback_reorder"
    summary = "the provider delivers a fraction of its callbacks out of order"
    params = (_rate("fraction of callbacks reordered", 0.5),)

    def changes(self, ctx: FaultContext) -> dict[str, Any]:
        return {"callback_reorder_rate": self.values["rate"]}


class SettlementStall(BehaviourFault):
    kind = "settlement_stall"
    summary = "the provider stops settling: everything stays processing until heal"

    def changes(self, ctx: FaultContext) -> dict[str, Any]:
        return {"settlement_stalled": True}


class ApiKeyRotation(BehaviourFault):
    """The provider's API key changes under the SUT, which keeps the old one: 401 on every call."""

    kind = "api_key_rotation"
    summary = "the provider's API key changes: the SUT's calls get 401 until heal restores it"

    def changes(self, ctx: FaultContext) -> dict[str, Any]:
        return {"api_key": f"sk_rotated_{ctx.rng.getrandbits(64):016x}"}


class WebhookSecretMismatch(BehaviourFault):
    """Callbacks are signed with a secret the SUT does not know: a correct SUT rejects them all."""

    kind = "webhook_secret_mismatch"
    summary = "the provider signs callbacks with another secret: a correct SUT rejects them"

    def changes(self, ctx: FaultContext) -> dict[str, Any]:
        return {"webhook_secret": f"whsec_other_{ctx.rng.getrandbits(64):016x}"}
