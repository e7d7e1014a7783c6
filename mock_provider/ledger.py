"""The provider's ledger: SQLite in WAL mode with group commit.

Every write runs at once on the one connection, inside an open transaction, and the request
then awaits the next commit; a committer task commits whatever has accumulated and wakes every
waiter. A request is answered only after its write is committed, yet hundreds of requests share
one commit. With ``synchronous=NORMAL`` a WAL commit survives the process being SIGKILLed (the
WAL is in the OS page cache, replayed on open); it is not promised to survive a power loss,
which no test here needs. In WAL mode with ``synchronous=NORMAL`` only checkpoints fsync; they
run on a worker thread with a connection of their own (automatic checkpoints are off), so no
request ever waits for the disk. Settlement and callbacks are driven from these tables, so both
resume after a restart.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mock_provider.shards import Layout

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,             -- the rowid; the public id ends with it, so no index on id
    id TEXT NOT NULL,
    object TEXT NOT NULL,                -- 'order' | 'payout'
    merchant_id TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    destination TEXT,
    callback_url TEXT NOT NULL,
    status TEXT NOT NULL,
    idempotency_key TEXT,
    created_at TEXT NOT NULL,
    settled_at TEXT,
    settle_after REAL NOT NULL
);
-- The only secondary index: reconciliation lists by merchant id. Due records are found through an
-- in-memory schedule rebuilt from the table on start (see Provider), which keeps inserts cheap.
CREATE INDEX IF NOT EXISTS records_merchant ON records(object, merchant_id);
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS outbox (
    event_id TEXT PRIMARY KEY,
    object TEXT NOT NULL,
    object_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    type TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(done, next_at);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    line TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


_CHECKPOINT_EVERY_S = 0.5


class Ledger:
    """One SQLite connection, used only from the event loop's thread.

    With a ``layout`` of several shards, record numbers are that shard's (``Layout.next_seq``).
    """

    def __init__(self, path: Path, *, layout: Layout | None = None) -> None:
        self.path = path
        self._layout = layout if layout is not None and layout.count > 1 else None
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA wal_autocheckpoint=0")
        self.db.executescript(SCHEMA)
        self.db.row_factory = sqlite3.Row
        self._in_tx = False
        # Writes queued by ``execute_later``: statement -> parameter rows, in the order they came.
        self._later: dict[str, list[tuple[Any, ...]]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._wake: asyncio.Event | None = None
        self._committer: asyncio.Task[None] | None = None
        self._checkpointer: asyncio.Task[None] | None = None
        # Ids never repeat, not even after a wipe and a restart: the high-water mark outlives the rows.
        row = self.db.execute("SELECT MAX(COALESCE((SELECT MAX(seq) FROM records), 0), "
                              "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key='seq'), 0))").fetchone()
        self.seq = int(row[0])

    # ---- writes ------------------------------------------------------------------------------
    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """Run a write inside the open group transaction (opened on demand)."""
        self._begin()
        return self.db.execute(sql, params)

    def _begin(self) -> None:
        if not self._in_tx:
            self.db.execute("BEGIN")
            self._in_tx = True

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Run one write for many parameter rows inside the open group transaction."""
        if rows:
            self._begin()
            self.db.executemany(sql, rows)

    def execute_later(self, sql: str, params: tuple[Any, ...]) -> None:
        """Queue a write for the group transaction: it runs, batched with the same statement's other
        rows (one ``executemany``), just before the commit, a read, or a wipe.

        Only for writes that commute with every other write but a wipe (the journal's appends, the
        outbox's updates by event id), so that running them later changes nothing anyone can see:
        every read on this connection and every commit runs them first.
        """
        self._begin()
        rows = self._later.get(sql)
        if rows is None:
            self._later[sql] = [params]
        else:
            rows.append(params)

    def _flush(self) -> None:
        later, self._later = self._later, {}
        for sql, rows in later.items():
            self.db.executemany(sql, rows)

    async def committed(self) -> None:
        """Wait until every write made so far is committed."""
        if not self._in_tx:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        if self._wake is not None:
            self._wake.set()
        await future

    def commit_now(self) -> None:
        if self._in_tx:
            if self._later:
                self._flush()
            self.db.execute("COMMIT")
            self._in_tx = False
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def _commit_loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Let the requests already running on this loop iteration join the same commit.
            await asyncio.sleep(0)
            self.commit_now()

    async def _checkpoint_loop(self) -> None:
        checkpointer = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        running: asyncio.Future[sqlite3.Cursor] | None = None
        try:
            while True:
                await asyncio.sleep(_CHECKPOINT_EVERY_S)
                # PASSIVE: copy what is committed without waiting for (or blocking) the writer.
                running = asyncio.ensure_future(asyncio.to_thread(checkpointer.execute,
                                                                  "PRAGMA wal_checkpoint(PASSIVE)"))
                await asyncio.shield(running)
        finally:
            if running is not None and not running.done():
                await asyncio.wait([running])  # never close the connection under a running checkpoint
            checkpointer.close()

    def start(self) -> None:
        self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._committer = loop.create_task(self._commit_loop())
        self._checkpointer = loop.create_task(self._checkpoint_loop())

    async def close(self) -> None:
        tasks = [task for task in (self._committer, self._checkpointer) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.commit_now()
        self.db.close()

    def next_seq(self) -> int:
        self.seq = self.seq + 1 if self._layout is None else self._layout.next_seq(self.seq)
        return self.seq

    # ---- reads -------------------------------------------------------------------------------
    def one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        if self._later:
            self._flush()
        row: sqlite3.Row | None = self.db.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        if self._later:
            self._flush()
        return list(self.db.execute(sql, params).fetchall())

    def iterate(self, sql: str, params: tuple[Any, ...] = (), batch: int = 2000) -> Iterator[list[sqlite3.Row]]:
        if self._later:
            self._flush()
        cursor = self.db.execute(sql, params)
        while rows := cursor.fetchmany(batch):
            yield rows

    def wipe(self) -> None:
        """Empty the ledger, keeping the id sequence so no later record reuses an old id."""
        if self._later:
            self._flush()
        for table in ("records", "idempotency", "outbox", "journal"):
            self.execute(f"DELETE FROM {table}")
        self.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('seq', ?)", (str(self.seq),))
