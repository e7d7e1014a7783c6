"""The variants: the correct service and four bugs real merchant services have, each a switch of one code path.

| variant                   | the bug                                                                  | shows as    |
|---------------------------|--------------------------------------------------------------------------|-------------|
| `correct`                 | none                                                                     | passes      |
| `event-marked-early`      | the webhook's event id is committed before the work it stands for (the   | unreturned  |
|                           | charge looked up at Stripe, the order updated); when that work fails,    |             |
|                           | the redelivery is skipped as already processed                           |             |
| `late-failure-overwrites` | a `payment_intent.payment_failed` after `succeeded` turns `paid` into     | divergent   |
|                           | `failed`                                                                 |             |
| `retry-double-payment`    | create-payment always makes a new PaymentIntent with a fresh idempotency | duplicated  |
|                           | key, so a client retrying after a lost answer pays twice                 |             |
| `webhook-error-200`       | a database error in the webhook handler is logged and answered 200, so   | unreturned  |
|                           | Stripe never delivers the event again                                    |             |

Reconciliation would rescue the webhook bugs, hiding them, so their variants reconcile as the
services that have these bugs do: `event-marked-early` only looks at orders it never received
an event for; `webhook-error-200` only cancels abandoned orders and trusts webhooks for every
payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum


class Variant(StrEnum):
    CORRECT = "correct"
    EVENT_MARKED_EARLY = "event-marked-early"
    LATE_FAILURE_OVERWRITES = "late-failure-overwrites"
    RETRY_DOUBLE_PAYMENT = "retry-double-payment"
    WEBHOOK_ERROR_200 = "webhook-error-200"


class Reconcile(Enum):
    """Which pending orders the background reconciler asks Stripe about."""

    ALL = "all"
    WITHOUT_EVENT = "without-event"  # orders no webhook was ever recorded for
    ABANDONED = "abandoned"  # only closing orders nobody paid; a confirmed payment is left to its webhook


@dataclass(frozen=True)
class Flags:
    """What the code path does differently; the correct service has every flag at its default."""

    reuse_open_intent: bool = True
    mark_event_with_update: bool = True
    failure_keeps_paid: bool = True
    webhook_db_error_fails: bool = True
    reconcile: Reconcile = Reconcile.ALL

    @classmethod
    def of(cls, variant: Variant) -> Flags:
        return {
            Variant.CORRECT: cls(),
            Variant.EVENT_MARKED_EARLY: cls(mark_event_with_update=False, reconcile=Reconcile.WITHOUT_EVENT),
            Variant.LATE_FAILURE_OVERWRITES: cls(failure_keeps_paid=False),
            Variant.RETRY_DOUBLE_PAYMENT: cls(reuse_open_intent=False),
            Variant.WEBHOOK_ERROR_200: cls(webhook_db_error_fails=False, reconcile=Reconcile.ABANDONED),
        }[variant]
