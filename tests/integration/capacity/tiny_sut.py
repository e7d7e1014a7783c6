"""A deliberately tiny SUT: faster than the load generator can drive, and still correct by the checker.

It speaks the contract of DESIGN.md section 4 with the least work a correct service can do: it
never calls the provider, so it takes no money; every order and payout is stored ``failed`` (a
visible, definitive refusal: the provider holds nothing, so nothing diverges and no money moves),
durably in PostgreSQL before it is answered, many rows per statement (group commit), and reads are
answered from memory once their row has committed. A bare ASGI app under uvicorn, one process.

    PORT=8000 DATABASE_URL=postgresql://... python tiny_sut.py
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import psycopg
import uvicorn

_TABLES = {"orders": "order_id", "payouts": "payout_id"}
_SCHEMA = "".join(f"CREATE TABLE IF NOT EXISTS {table} ({key} TEXT PRIMARY KEY, status TEXT NOT NULL, "
                  "amount_minor BIGINT NOT NULL, currency TEXT NOT NULL);" for table, key in _TABLES.items())

Scope = dict[str, Any]


class Store:
    """Rows written in batches: whatever arrives while a batch is at the database goes in the next one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.known: dict[str, dict[str, Any]] = {}
        self.queue: dict[str, list[tuple[dict[str, Any], asyncio.Future[bool]]]] = {t: [] for t in _TABLES}
        self.wake = asyncio.Event()

    async def run(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute(_SCHEMA.encode())
            while True:
                await self.wake.wait()
                self.wake.clear()
                for table, key in _TABLES.items():
                    batch, self.queue[table] = self.queue[table], []
                    if batch:
                        await self._write(conn, table, key, batch)

    async def _write(self, conn: psycopg.AsyncConnection[Any], table: str, key: str,
                     batch: list[tuple[dict[str, Any], asyncio.Future[bool]]]) -> None:
        rows = [row for row, _ in batch]
        cursor = await conn.execute(
            f"INSERT INTO {table} SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[]) "
            f"ON CONFLICT DO NOTHING RETURNING {key}".encode(),
            ([r[key] for r in rows], ["failed"] * len(rows), [r["amount_minor"] for r in rows],
             [r["currency"] for r in rows]))
        created = {row[0] for row in await cursor.fetchall()}
        for row, future in batch:
            self.known.setdefault(row[key], row)
            future.set_result(row[key] in created)
            created.discard(row[key])  # a second copy in the same batch is a repeat

    async def create(self, table: str, row: dict[str, Any]) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.queue[table].append((row, future))
        self.wake.set()
        return await future


STORE: Store | None = None
_TASKS: set[asyncio.Task[None]] = set()  # the writer, referenced so it is never collected


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Any, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Any, send: Any) -> None:
    global STORE
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                STORE = Store(os.environ["DATABASE_URL"])
                _TASKS.add(asyncio.get_running_loop().create_task(STORE.run()))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert STORE is not None
    path, method = scope["path"], scope["method"]
    parts = path.strip("/").split("/")
    if path == "/healthz":
        await _answer(send, 200, {"status": "ok"})
    elif method == "POST" and len(parts) == 1 and parts[0] in _TABLES:
        key = _TABLES[parts[0]]
        request = json.loads(await _body(receive))
        row: dict[str, Any] = {key: str(request[key]), "amount_minor": int(request["amount_minor"]),
               "currency": str(request["currency"]), "status": "failed"}
        created = await STORE.create(parts[0], row)
        await _answer(send, 201 if created else 200, {key: row[key], "status": "failed"})
    elif method == "GET" and len(parts) == 2 and parts[0] in _TABLES:
        stored = STORE.known.get(parts[1])
        await _answer(send, 200 if stored else 404, stored or {"error": "not found"})
    elif method == "POST" and path == "/provider/callbacks":
        await _answer(send, 401, {"error": "this service calls no provider"})
    else:
        await _answer(send, 404, {"error": "not found"})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning", access_log=False)
