"""orderquake: chaos and load testing for order and payout flows, with an order-by-order proof."""

from harness._exceptions import (
    ExitCode,
    HarnessBug,
    InfrastructureError,
    Interrupted,
    OrderquakeError,
    ScenarioError,
    SutError,
    ToxiproxyError,
    UsageError,
)

__all__ = [
    "ExitCode",
    "HarnessBug",
    "InfrastructureError",
    "Interrupted",
    "OrderquakeError",
    "ScenarioError",
    "SutError",
    "ToxiproxyError",
    "UsageError",
]
