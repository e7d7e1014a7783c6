"""A typed client of the mock provider's control and truth endpoints, beside the Toxiproxy client.

The faults that make the provider misbehave, and the ones that read what it did, call these
methods instead of building their own HTTP requests, so that a fault's context stays narrow and
a failure reads the same wherever it happens: an ``InfrastructureError`` naming the endpoint,
what it answered and what to check. The Stripe dialect's ``/v1/events`` is read with the
provider's API key, as the SDK would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from harness._exceptions import InfrastructureError


class ProviderControl:
    """``/_control/behaviour``, ``/_ledger/callbacks`` and (Stripe dialect) ``/v1/events`` of one provider."""

    def __init__(self, base_url: str, *, api_key: str = "", timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.transport = transport  # a test's in-memory provider; None: the network

    def _call(self, method: str, path: str, *, body: Mapping[str, Any] | None = None,
              params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None) -> httpx.Response:
        url = f"{self.base_url}{path}"
        try:
            with httpx.Client(transport=self.transport, timeout=self.timeout) as client:
                response = client.request(method, url, json=body, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise InfrastructureError(f"the mock provider's control API at {url} could not be reached ({exc}); "
                                      "is the provider running?") from exc
        if response.status_code >= 400:
            raise InfrastructureError(f"the mock provider refused {method} {url}: {response.status_code} "
                                      f"{response.text[:300]}")
        return response

    def behaviour(self) -> dict[str, Any]:
        """The misbehaviour in force (``GET /_control/behaviour``)."""
        result: dict[str, Any] = self._call("GET", "/_control/behaviour").json()
        return result

    def set_behaviour(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change some fields of the behaviour (``PUT /_control/behaviour``); returns the whole of it."""
        result: dict[str, Any] = self._call("PUT", "/_control/behaviour", body=changes).json()
        return result

    def delivered_event_ids(self, last: int = 200) -> list[str]:
        """The event ids of callbacks the provider delivered, newest last, from its journal."""
        events = []
        for line in self._call("GET", "/_ledger/callbacks").text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("outcome") == "delivered":
                events.append(str(entry["event_id"]))
        return events[-last:]

    def stripe_events(self, event_type: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The Stripe dialect's most recent events of ``event_type``, newest first (``GET /v1/events``)."""
        response = self._call("GET", "/v1/events", params={"type": event_type, "limit": limit},
                              headers={"Authorization": f"Bearer {self.api_key}"})
        data: list[dict[str, Any]] = response.json()["data"]
        return data
