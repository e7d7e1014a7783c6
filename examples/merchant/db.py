"""The connection pool, with a deadline on every unit of work and one retry on a connection found dead.

Every unit of work the service runs is safe to run twice (inserts guarded by unique keys, updates
guarded by the status they expect), so a connection that died under it (PostgreSQL restarted,
a link reset) gets one retry on a fresh one. Whatever still fails, or takes longer than the
deadline, is :class:`Unavailable`, which the handlers answer with a 503 (the webhook with a 500).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

T = TypeVar("T")
Conn = psycopg.AsyncConnection[dict[str, Any]]


class Unavailable(Exception):
    """The database could not be reached, or did not answer within the deadline."""


class Database:
    def __init__(self, pool_size: int, timeout_s: float, conninfo: str = "") -> None:
        self.timeout_s = timeout_s
        # Waiting for a connection is cut shorter than a statement: with PostgreSQL down, the pool has
        # none to give, and an answer within 2 s beats one at the client's (or Stripe's) own timeout.
        connect_s = min(2.0, timeout_s)
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            conninfo, min_size=min(2, pool_size), max_size=pool_size, open=False, timeout=connect_s,
            kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": max(1, int(connect_s)),
                    # The server gives up too, so that a statement cut off here does not hold its locks.
                    "options": f"-c statement_timeout={int(timeout_s * 1000)} "
                               f"-c idle_in_transaction_session_timeout={int(timeout_s * 2000)}"},
            reconnect_timeout=3600)

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close(timeout=2)

    async def transaction(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """``work`` in one transaction: all of it is committed or none."""
        async def in_transaction(conn: Conn) -> T:
            async with conn.transaction():
                return await work(conn)
        return await self.run(in_transaction)

    async def run(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """``work`` on a connection in autocommit mode: each statement is its own transaction."""
        for attempt in (1, 2):
            try:
                async with asyncio.timeout(self.timeout_s), self.pool.connection() as conn:
                    return await work(conn)
            except PoolTimeout as exc:
                raise Unavailable(f"no database connection: {exc}") from exc
            except TimeoutError as exc:
                raise Unavailable(f"the database did not answer within {self.timeout_s} s") from exc
            except psycopg.OperationalError as exc:
                if attempt == 2:
                    raise Unavailable(str(exc).strip() or type(exc).__name__) from exc
        raise AssertionError("unreachable")

    async def fetch_one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        async def one(conn: Conn) -> dict[str, Any] | None:
            return await (await conn.execute(sql.encode(), params)).fetchone()
        return await self.run(one)
