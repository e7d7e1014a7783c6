"""Prometheus metrics of the provider (``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry()
REQUESTS = Counter("provider_requests_total", "API requests by route and status", ["route", "status"],
                   registry=REGISTRY)
MISBEHAVIOURS = Counter("provider_misbehaviours_total", "Misbehaviours applied, by kind", ["kind"],
                        registry=REGISTRY)
CALLBACKS = Counter("provider_callback_attempts_total", "Callback attempts by outcome", ["outcome"],
                    registry=REGISTRY)
