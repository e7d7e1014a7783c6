"""A target's flows inside Locust: one simulated user's set-up and operations as HTTP steps.

The locustfile uses this when ``ORDERQUAKE_FLOWS`` is set (``harness.load.command.locust_env``):
the JSON of the target's ``flows:`` section, the provider's direct URL (the payer's browser
reaches the provider over the internet, never through the SUT's provider link) and the values a
browser holds. The rules (templates, codes to outcomes) are ``harness.flows``; this module only
sends the requests with the user's Locust client, so they count in Locust's statistics.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract import Flow, publishable_key
from harness._yaml import Reader
from harness.flows.engine import Request, Response, Result, classify, run_steps
from harness.flows.model import FlowSteps, Step, amount_decimal, parse_flows

if TYPE_CHECKING:
    from harness.target import Target


class FlowsConfig:
    """What ``ORDERQUAKE_FLOWS`` holds, parsed once per process."""

    def __init__(self, text: str) -> None:
        data = json.loads(text)
        self.flows: dict[Flow, FlowSteps] = parse_flows(Reader("ORDERQUAKE_FLOWS", {}), data["flows"])
        self.provider_url: str = str(data["provider_url"]).rstrip("/")
        self.values: dict[str, str] = {str(k): str(v) for k, v in data.get("values", {}).items()}


def from_environment() -> FlowsConfig | None:
    """``ORDERQUAKE_FLOWS``: the JSON itself, or ``@FILE`` holding it (what ``orderquake up`` prints)."""
    text = os.environ.get("ORDERQUAKE_FLOWS")
    if text and text.startswith("@"):
        text = Path(text[1:]).read_text()
    return FlowsConfig(text) if text else None


def environment_value(flows: Mapping[str, Any], provider_url: str, values: Mapping[str, str]) -> str:
    """The ``ORDERQUAKE_FLOWS`` text for a target's raw ``flows:`` data."""
    return json.dumps({"flows": flows, "provider_url": provider_url, "values": dict(values)})


def flows_env(target: Target, provider_url: str, api_key: str) -> str:
    """``ORDERQUAKE_FLOWS`` for a stage's load: the target's steps, the provider's address as the
    load reaches it, the key a payer's browser holds; empty for a target without ``flows``."""
    if not target.flows:
        return ""
    return environment_value(target.raw["flows"], provider_url, {"publishable_key": publishable_key(api_key)})


class UserFlows:
    """One simulated user's state: its number, what its set-up captured, its HTTP client."""

    def __init__(self, config: FlowsConfig, client: Any, user: int) -> None:
        self.config = config
        self.client = client
        self.known: dict[str, Any] = {**config.values, "user": user}
        self.ready: set[Flow] = set()

    def has(self, flow: Flow) -> bool:
        return flow in self.config.flows

    def set_up(self, flow: Flow) -> bool:
        """Run the flow's per-user steps once; False (to be tried again later) when they did not all pass."""
        if flow in self.ready:
            return True
        result = run_steps(self.config.flows[flow].user, self.known, self._send, set_up=True)
        if result.outcome != "ok":
            return False
        self.known.update(result.captures)
        self.ready.add(flow)
        return True

    def submit(self, flow: Flow, op_id: str, body: Mapping[str, Any], attempt: int) -> Result:
        amount = int(body["amount_minor"])
        values = {**self.known, "id": op_id, "amount_minor": amount, "amount_decimal": amount_decimal(amount),
                  "currency": body["currency"], "account_id": body["account_id"], "attempt": attempt}
        return run_steps(self.config.flows[flow].steps, values, self._send)

    def read(self, flow: Flow, op_id: str) -> Result:
        step = self.config.flows[flow].read
        assert step is not None, "the load only reads flows whose target has a read step"
        return run_steps((step,), {**self.known, "id": op_id, "attempt": 1}, self._send)

    def _send(self, step: Step, request: Request) -> Response:
        url = request.path if step.to == "sut" else self.config.provider_url + request.path
        name = f"{step.to}:{step.name}"
        try:
            with self.client.request(request.method, url, name=name, data=request.body, headers=request.headers,
                                     catch_response=True) as response:
                status = int(response.status_code or 0) or None
                body = response.content or b""
                if classify(step, status, set_up=True) in ("next", "ok"):
                    response.success()
                else:
                    failure = response.request_meta.get("exception") if status is None else None
                    error = f"{type(failure).__name__}: {failure}" if failure is not None else f"HTTP {status}"
                    response.failure(error)
                    return Response(status, body, f"{step.name}: {error}")
                return Response(status, body)
        except Exception as exc:
            return Response(None, b"", f"{step.name}: {type(exc).__name__}: {exc}")
