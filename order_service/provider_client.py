"""Calls to the payment provider, each with explicit timeouts, classified once.

Every outcome is one of three: ``accepted`` (the provider has the record), ``refused`` (a
definitive 4xx: it certainly did not and will not process it), or ``unknown`` (a timeout, a
reset, a 5xx, a 401 or 409: it may or may not have). Only ``refused`` may fail an order.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from order_service.config import Settings
from order_service.kinds import Kind

# 401: our key is wrong (configuration), 409: the same key is in flight, 429: slow down.
_NOT_DEFINITIVE = {401, 403, 408, 409, 425, 429}


class Result(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Submission:
    result: Result
    record: dict[str, Any] | None = None
    error: str | None = None


class ProviderClient:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(
            base_url=settings.provider_url, transport=transport,
            headers={"Authorization": f"Bearer {settings.provider_api_key}"},
            timeout=httpx.Timeout(settings.provider_timeout_s, connect=min(1.0, settings.provider_timeout_s)),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=100))

    async def close(self) -> None:
        await self.http.aclose()

    async def submit_once(self, kind: Kind, body: dict[str, Any], key: str | None) -> Submission:
        headers = {"Idempotency-Key": key} if key is not None else {}
        try:
            response = await self.http.post(kind.provider_path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            return Submission(Result.UNKNOWN, error=f"{type(exc).__name__}: {exc}"[:300])
        if response.status_code in (200, 201):
            return Submission(Result.ACCEPTED, record=response.json())
        text = f"provider answered {response.status_code}: {response.text[:200]}"
        if 400 <= response.status_code < 500 and response.status_code not in _NOT_DEFINITIVE:
            return Submission(Result.REFUSED, error=text)
        return Submission(Result.UNKNOWN, error=text)

    async def submit(self, kind: Kind, body: dict[str, Any], key: str | None) -> Submission:
        """Submit, retrying an unknown outcome a few times with a short backoff."""
        outcome = await self.submit_once(kind, body, key)
        for attempt in range(self.settings.provider_retries):
            if outcome.result is not Result.UNKNOWN:
                break
            await asyncio.sleep(0.05 * (4 ** attempt))
            outcome = await self.submit_once(kind, body, key)
        return outcome

    async def find(self, kind: Kind, merchant_id: str) -> list[dict[str, Any]] | None:
        """The provider's records for ``merchant_id``; None when it could not be asked."""
        try:
            response = await self.http.get(kind.provider_path, params={kind.merchant_field: merchant_id})
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        data = response.json().get("data")
        return data if isinstance(data, list) else None
