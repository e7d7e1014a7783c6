"""A mock payment provider that behaves, and on request misbehaves, like a real one.

Strict where real providers are strict (idempotency keys, signed at-least-once callbacks,
reconciliation lists), controllable where a test needs it to misbehave (``/_control/behaviour``),
and its ledger (SQLite, WAL) is the truth the checker trusts. Run it alone with
``python -m mock_provider --port N --db PATH --webhook-secret S --api-key K --seed N``; add
``--processes N`` to serve the port from N processes with one truth (``mock_provider.shards``).
"""

from mock_provider.app import create_app

__all__ = ["create_app"]
