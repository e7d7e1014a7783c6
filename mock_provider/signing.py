"""Callback signatures: ``Provider-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""

from __future__ import annotations

import functools
import hashlib
import hmac


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for ``body`` signed at ``timestamp``: ``t=1700000000,v1=<64 hex digits>``.

    The receiver recomputes the HMAC over ``"<t>." + raw body`` with the shared secret and compares
    in constant time; the timestamp is inside the MAC so an old signature cannot be re-dated.
    """
    mac = _keyed(secret).copy()
    mac.update(b"%d." % timestamp)
    mac.update(body)
    return f"t={timestamp},v1={mac.hexdigest()}"


@functools.lru_cache(maxsize=16)
def _keyed(secret: str) -> hmac.HMAC:
    """The HMAC state after the key: every callback signs with one secret, so its set-up is done once."""
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def verify(secret: str, body: bytes, header: str, *, now: float, tolerance_s: float = 300.0) -> bool:
    """True when ``header`` is a valid signature of ``body`` made within ``tolerance_s`` of ``now``."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)
