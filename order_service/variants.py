"""The variants: the correct service and five realistic bugs, each a switch in the one code path.

| variant              | the bug                                                              | caught as       |
|----------------------|----------------------------------------------------------------------|-----------------|
| `correct`            | none                                                                 | passes          |
| `no-idempotency`     | provider calls (and their automatic retries) carry no Idempotency-Key | duplicated      |
| `no-reconciler`      | trusts callbacks alone: nothing resolves an order whose callback is lost | unreturned  |
| `ack-before-commit`  | answers 201 before the order row is durable (written in the background) | lost          |
| `fail-on-timeout`    | a provider timeout or 5xx marks the order failed, though it may be charged | divergent  |
| `no-signature-check` | accepts callbacks without checking signature, timestamp or replay     | forged_accepted |
| `drop-when-busy`     | more creates in flight than pool connections: 201, and the write dropped | lost, under load |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Variant(StrEnum):
    CORRECT = "correct"
    NO_IDEMPOTENCY = "no-idempotency"
    NO_RECONCILER = "no-reconciler"
    ACK_BEFORE_COMMIT = "ack-before-commit"
    FAIL_ON_TIMEOUT = "fail-on-timeout"
    NO_SIGNATURE_CHECK = "no-signature-check"
    DROP_WHEN_BUSY = "drop-when-busy"


@dataclass(frozen=True)
class Flags:
    """What the code path does differently; the correct service has every flag at its default."""

    idempotency_key: bool = True
    reconciler: bool = True
    commit_before_ack: bool = True
    unknown_stays_pending: bool = True
    verify_callbacks: bool = True
    durable_when_busy: bool = True

    @classmethod
    def of(cls, variant: Variant) -> Flags:
        return {
            Variant.CORRECT: cls(),
            Variant.NO_IDEMPOTENCY: cls(idempotency_key=False),
            Variant.NO_RECONCILER: cls(reconciler=False),
            Variant.ACK_BEFORE_COMMIT: cls(commit_before_ack=False),
            Variant.FAIL_ON_TIMEOUT: cls(unknown_stays_pending=False),
            Variant.NO_SIGNATURE_CHECK: cls(verify_callbacks=False),
            Variant.DROP_WHEN_BUSY: cls(durable_when_busy=False),
        }[variant]
