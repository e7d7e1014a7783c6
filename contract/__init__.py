"""The closed sets shared by the harness, the mock provider and the reference SUT (docs/design.md).

Defined once here and imported by all three, so a flow, a status, a link or a component is
spelled in one place:

    Flow.ORDER.success            # 'succeeded'
    SUT_STATUSES[Flow.PAYOUT]     # pending, paid, rejected, failed
    Link.DB, Component.PROVIDER
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Every status word of the contract, SUT's and provider's."""

    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    PAID = "paid"
    REJECTED = "rejected"
    FAILED = "failed"


class Flow(StrEnum):
    """The two flows; each has its own id space, statuses and provider ledger."""

    ORDER = "order"
    PAYOUT = "payout"

    @property
    def plural(self) -> str:
        """``orders`` / ``payouts``: the SUT's paths, the target's SQL keys, the ledger's names."""
        return f"{self.value}s"

    @property
    def success(self) -> Status:
        """The terminal status in which money moved."""
        return Status.SUCCEEDED if self is Flow.ORDER else Status.PAID

    @property
    def refusal(self) -> Status:
        """The provider's definitive no."""
        return Status.DECLINED if self is Flow.ORDER else Status.REJECTED

    @property
    def sut_key(self) -> str:
        """The client-chosen id's field in the SUT's API and state rows."""
        return f"{self.value}_id"

    @property
    def merchant_key(self) -> str:
        """The provider's name for the merchant's id."""
        return f"merchant_{self.value}_id"

    @property
    def provider_path(self) -> str:
        return f"/v1/{self.plural}"

    @property
    def provider_prefix(self) -> str:
        """How the provider's record ids begin."""
        return "po_" if self is Flow.ORDER else "pp_"


SUT_STATUSES: dict[Flow, tuple[Status, ...]] = {
    flow: (Status.PENDING, flow.success, flow.refusal, Status.FAILED) for flow in Flow}
PROVIDER_STATUSES: dict[Flow, tuple[Status, ...]] = {
    flow: (Status.PROCESSING, flow.success, flow.refusal) for flow in Flow}


class Link(StrEnum):
    """The Toxiproxy links of the stage, one per arrow of design.md section 2."""

    CLIENT = "client"
    PROVIDER = "provider"
    CALLBACKS = "callbacks"
    DB = "db"


class Component(StrEnum):
    """The processes of a stage."""

    POSTGRES = "postgres"
    TOXIPROXY = "toxiproxy"
    PROVIDER = "provider"
    SUT = "sut"
    LOCUST = "locust"


__all__ = ["PROVIDER_STATUSES", "SUT_STATUSES", "Component", "Flow", "Link", "Status"]


class Dialect(StrEnum):
    """The API dialects the mock provider speaks (the target file's ``provider.dialect``)."""

    NATIVE = "native"  # docs/design.md section 3
    STRIPE = "stripe"  # Stripe's wire format (mock_provider/dialects/)


def publishable_key(api_key: str) -> str:
    """The publishable key paired with a secret key (``sk_test_x`` -> ``pk_test_x``), as a browser holds it."""
    return "pk_" + (api_key.removeprefix("sk_") if api_key.startswith("sk_") else api_key)
