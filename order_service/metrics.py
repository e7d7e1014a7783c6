"""Prometheus metrics of the service (``/metrics``): what an on-call engineer would watch."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry()
PENDING = Gauge("orders_pending", "Orders and payouts not yet in a terminal state", registry=REGISTRY)
PROVIDER_CALLS = Counter("provider_calls_total", "Provider submissions by outcome", ["kind", "result"],
                         registry=REGISTRY)
ACTIONS = Counter("reconciler_actions_total", "Reconciler decisions", ["kind", "action"], registry=REGISTRY)
CALLBACKS_SEEN = Counter("callbacks_total", "Provider callbacks by outcome", ["outcome"], registry=REGISTRY)
BACKGROUND_WRITES_FAILED = Counter("background_writes_failed_total",
                                   "Rows acknowledged to the client but not written (ack-before-commit only)",
                                   ["kind"], registry=REGISTRY)
