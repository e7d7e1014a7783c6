"""Helpers for the reference service's integration tests: provider control, ledger reads, polling."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from harness.stage import LocalStage

# Short deadlines so that the reconciler acts within a test's patience.
FAST_SUT = {
    "ORDERQUAKE_SUT_PENDING_AFTER_MS": "500",
    "ORDERQUAKE_SUT_RECONCILE_INTERVAL_MS": "200",
    "ORDERQUAKE_SUT_PROVIDER_TIMEOUT_MS": "500",
    "ORDERQUAKE_SUT_POOL_SIZE": "4",
}


StageFactory = Callable[..., LocalStage]


def behave(stage: LocalStage, **changes: Any) -> None:
    """Change the mock provider's behaviour through its control API."""
    response = httpx.put(f"{stage.provider_url}/_control/behaviour", json=changes, timeout=5)
    assert response.status_code == 200, response.text


def ledger(stage: LocalStage, kind: str) -> list[dict[str, Any]]:
    """Every provider record of ``kind`` ("orders" or "payouts"), duplicates included."""
    response = httpx.get(f"{stage.provider_url}/_ledger/{kind}", timeout=10)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def order_body(order_id: str, amount: int = 1000) -> dict[str, Any]:
    return {"order_id": order_id, "account_id": "acc1", "amount_minor": amount, "currency": "EUR"}


def payout_body(payout_id: str, amount: int = 500) -> dict[str, Any]:
    return {"payout_id": payout_id, "account_id": "acc1", "amount_minor": amount, "currency": "EUR"}


def eventually(check: Callable[[], bool], deadline_s: float, what: str) -> None:
    """Poll ``check`` until true; fail naming ``what`` when the deadline passes first."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {deadline_s} s: {what}")
