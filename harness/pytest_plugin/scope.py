"""One load run's evidence on a stage that earlier runs used too (the session stage).

The SUT's database and the provider's ledger outlive a run on a shared stage, so the orders of
the tests before would be ``unexpected`` in this one. Every id a Locust client chooses starts with
its run's id (``<run_id>-o-<pid>-<n>``), so the final reads leave out exactly the ids of the
*earlier* runs on the stage, and nothing else: an id no client of any run chose still counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from harness.checker.model import Kind
from harness.target import TargetState

_RUN_ID = re.compile(r"r[0-9a-f]+\Z")
_MERCHANT_ID = {Kind.ORDER: "merchant_order_id", Kind.PAYOUT: "merchant_payout_id"}


def _prefixes(earlier: Sequence[str]) -> list[str]:
    for run_id in earlier:
        if not _RUN_ID.match(run_id):  # they go into SQL text: only RunDir's own ids are accepted
            raise ValueError(f"expected a run id like 'r1a2b3c4d', got {run_id!r}")
    return [f"{run_id}-" for run_id in earlier]


def scoped_state(state: TargetState, earlier: Sequence[str]) -> TargetState:
    """The target's state SQL without the rows of ``earlier`` runs; unchanged when there are none.

    No ``%`` in the SQL: ``count_pending`` runs it with parameters, where ``%`` is a placeholder.

    >>> state = TargetState("SELECT * FROM orders", "SELECT * FROM payouts")
    >>> "NOT coalesce(starts_with(oq_scope.order_id::text, 'r1a-'), false)" in scoped_state(state, ["r1a"]).orders_sql
    True
    """
    prefixes = _prefixes(earlier)
    if not prefixes:
        return state

    def wrap(sql: str, column: str) -> str:
        earlier_run = " OR ".join(f"starts_with(oq_scope.{column}::text, '{prefix}')" for prefix in prefixes)
        # coalesce: a row whose id is NULL is kept, for the checker to see
        return f"SELECT * FROM ({sql}) AS oq_scope WHERE NOT coalesce({earlier_run}, false)"

    return TargetState(orders_sql=wrap(state.orders_sql, "order_id"),
                       payouts_sql=wrap(state.payouts_sql, "payout_id"), status_maps=state.status_maps)


def drop_earlier(path: Path, kind: Kind, earlier: Sequence[str]) -> int:
    """Remove from a provider ledger file the records of ``earlier`` runs; return the records kept.

    Kept lines are written back byte for byte; a line that is not a JSON record is kept too, so
    that the checker sees it as the damage it is.
    """
    prefixes = tuple(_prefixes(earlier))
    kept: list[bytes] = []
    for line in path.read_bytes().splitlines(keepends=True):
        if not line.strip():
            continue
        try:
            merchant_id = json.loads(line).get(_MERCHANT_ID[kind])
        except (ValueError, AttributeError):
            merchant_id = None
        if prefixes and isinstance(merchant_id, str) and merchant_id.startswith(prefixes):
            continue
        kept.append(line)
    if prefixes:
        path.write_bytes(b"".join(kept))
    return len(kept)
