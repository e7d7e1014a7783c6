"""The service's database: schema (created on start, idempotently) and a pool that rides out outages.

Connections are in autocommit mode: most of the service's writes are one statement each
(``Database.one``), a single round trip; ``Database.run`` wraps several in one transaction.
Both retry once on a broken connection: after a PostgreSQL restart every pooled connection is
dead, and the first use of each should not become a user-visible error when a fresh one works.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from order_service.kinds import KINDS

T = TypeVar("T")

SCHEMA = "".join(f"""
CREATE TABLE IF NOT EXISTS {k.table} (
    {k.id_field} TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    provider_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS {k.table}_pending ON {k.table} (updated_at) WHERE status = 'pending';
""" for k in KINDS.values()) + """
CREATE TABLE IF NOT EXISTS seen_events (
    event_id TEXT PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""

Conn = psycopg.AsyncConnection[dict[str, Any]]


class Unavailable(Exception):
    """The database cannot be reached right now."""


class Database:
    def __init__(self, url: str, size: int) -> None:
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url, min_size=min(4, size), max_size=size, open=False, timeout=3.0,
            # Statements are prepared (psycopg does so from the fifth use), but each is planned
            # for the rows it is given now: a generic plan made while the tables were small keeps
            # scanning them whole long after they have grown, until an ANALYZE that a short run
            # never sees.
            kwargs={"row_factory": dict_row, "connect_timeout": 3, "autocommit": True,
                    "options": "-c plan_cache_mode=force_custom_plan"},
            reconnect_timeout=3600)

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def create_schema(self) -> None:
        async def create(conn: Conn) -> None:
            await conn.execute("SELECT pg_advisory_xact_lock(4242)")
            await conn.execute(SCHEMA.encode())
        await self.run(create)

    async def run(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction; a dead connection gets one retry on a fresh one."""
        async def in_transaction(conn: Conn) -> T:
            async with conn.transaction():
                return await work(conn)
        return await self._with_connection(in_transaction)

    async def one(self, sql: bytes, params: Sequence[Any] | Mapping[str, Any] = ()) -> dict[str, Any] | None:
        """One statement on its own (autocommit): its first row, if any."""
        async def execute(conn: Conn) -> dict[str, Any] | None:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchone() if cursor.description is not None else None
        return await self._with_connection(execute)

    async def all(self, sql: bytes, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict[str, Any]]:
        """One statement on its own (autocommit): every row it returns."""
        async def execute(conn: Conn) -> list[dict[str, Any]]:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall() if cursor.description is not None else []
        return await self._with_connection(execute)

    async def _with_connection(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        for attempt in (1, 2):
            try:
                async with self.pool.connection() as conn:
                    return await work(conn)
            except PoolTimeout as exc:
                raise Unavailable(f"no database connection: {exc}") from exc
            except psycopg.OperationalError as exc:
                if attempt == 2:
                    raise Unavailable(str(exc).strip()) from exc
        raise AssertionError("unreachable")
