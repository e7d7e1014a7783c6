"""Orders and payouts share one flow; a ``Kind`` names what differs (table, id field, provider path).

The words themselves are the contract's (``contract.Flow``); this adds the service's own table.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract import Flow


@dataclass(frozen=True)
class Kind:
    flow: Flow

    @property
    def name(self) -> str:
        return self.flow.value

    @property
    def table(self) -> str:
        return self.flow.plural

    @property
    def id_field(self) -> str:
        """The client-chosen id: ``order_id`` | ``payout_id``."""
        return self.flow.sut_key

    @property
    def provider_path(self) -> str:
        return self.flow.provider_path

    @property
    def merchant_field(self) -> str:
        """The provider's name for our id."""
        return self.flow.merchant_key

    @property
    def success(self) -> str:
        """Provider and SUT status of a success."""
        return self.flow.success.value

    @property
    def refusal(self) -> str:
        """... of a definitive refusal."""
        return self.flow.refusal.value


ORDER = Kind(Flow.ORDER)
PAYOUT = Kind(Flow.PAYOUT)
KINDS = {k.name: k for k in (ORDER, PAYOUT)}
