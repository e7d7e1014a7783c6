"""Run the provider in process, for tests that need no socket.

httpx's ``ASGITransport`` does not run an app's lifespan, so :func:`in_process` runs it (the
group committer and the settlement and delivery loop live there) and hands back a client bound
to the app. Callbacks go through ``callbacks``, an ``httpx.MockTransport`` or any other
transport, so a test can answer them with a function.

>>> async with in_process(tmp_path / "ledger.db", callbacks=httpx.MockTransport(answer)) as client:
...     await client.post("/v1/orders", json=order)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from mock_provider.app import create_app

API_KEY = "test-key"
WEBHOOK_SECRET = "test-secret"


@asynccontextmanager
async def in_process(db: Path, *, seed: int = 1, callbacks: httpx.AsyncBaseTransport | None = None,
                     api_key: str = API_KEY, webhook_secret: str = WEBHOOK_SECRET) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a provider app running in this event loop, authorised with ``api_key``."""
    app = create_app(db=db, api_key=api_key, webhook_secret=webhook_secret, seed=seed, transport=callbacks)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://provider.test",
            headers={"Authorization": f"Bearer {api_key}"}) as client:
        yield client
