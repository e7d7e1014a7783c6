"""The catalogue: every fault by name, and its description for ``orderquake faults``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness._exceptions import UsageError
from harness.faults.base import Fault
from harness.faults.forged import ForgedCallbacks
from harness.faults.processes import DbKill, DbOutage, ProviderCrash, SutCrash
from harness.faults.provider import (
    ApiKeyRotation,
    CallbackDelay,
    CallbackDrop,
    CallbackDuplicate,
    CallbackReorder,
    ProviderDeclines,
    ProviderErrors,
    ProviderProcessThenError,
    ProviderResponseLost,
    ProviderSlow,
    SettlementStall,
    WebhookSecretMismatch,
)
from harness.faults.stripe import LateFailureEvents
from harness.faults.toxic import TOXIC_FAULTS, LinkDown

_ALL: tuple[type[Fault], ...] = (
    *TOXIC_FAULTS, LinkDown,
    DbOutage, DbKill, ProviderCrash, SutCrash,
    ProviderErrors, ProviderProcessThenError, ProviderResponseLost, ProviderSlow, ProviderDeclines,
    CallbackDrop, CallbackDuplicate, CallbackDelay, CallbackReorder, SettlementStall,
    ApiKeyRotation, WebhookSecretMismatch,
    ForgedCallbacks, LateFailureEvents,
)

REGISTRY: dict[str, type[Fault]] = {cls.kind: cls for cls in _ALL}


def fault_class(kind: str) -> type[Fault]:
    """The class registered as ``kind``; UsageError listing the catalogue otherwise."""
    try:
        return REGISTRY[kind]
    except KeyError:
        raise UsageError(f"unknown fault kind {kind!r}: expected one of {', '.join(REGISTRY)} "
                         "('orderquake faults' describes them)") from None


def make_fault(name: str, kind: str, params: Mapping[str, Any]) -> Fault:
    """A ready fault: ``make_fault("f1", "latency", {"link": "provider", "latency": "800ms"})``."""
    return fault_class(kind)(name, params)


def describe(kind: str) -> str:
    """The catalogue entry of one fault as text: summary, then one line per parameter."""
    cls = fault_class(kind)
    lines = [f"{cls.kind}: {cls.summary}"]
    for param in cls.params:
        default = "required" if param.required else f"default {param.default!r}"
        lines.append(f"    {param.name:<14} {param.help} ({default})")
    return "\n".join(lines)
