"""The provider as N processes: which process owns what, and reads over every process's ledger.

With ``--processes N`` each process is one shard with a SQLite ledger of its own, so that no
write ever waits for another process:

- record numbers are strided, shard ``k`` of ``N`` numbering ``k + 1, k + 1 + N, ...``, so ids stay
  unique and every id names its owner (``owner_of_seq``); the owner alone settles a record and
  delivers its callbacks, so each is delivered by exactly one process;
- a creation with an ``Idempotency-Key`` is decided by the key's owner (``owner_of_key``, a hash
  stable across processes), to which any other process relays it (``mock_provider.peers``): the
  in-flight check, the replay and the 422 of one key are then one process's, as with one process;
  a creation without a key is a new record wherever it lands;
- reads (a record by id, a list by merchant id, the truth streams) read the other shards' files
  through read-only connections of their own: a shard commits before it answers, so whatever was
  acknowledged anywhere is visible everywhere.

With one process (the default) the layout is the plain ``--db`` file and nothing here is used.
"""

from __future__ import annotations

import hashlib
import heapq
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Layout:
    """Shard ``index`` of ``count``, whose ledgers live beside ``db``."""

    db: Path
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"expected 1 or more provider processes, got processes={self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"expected a shard index in 0..{self.count - 1}, got index={self.index}")

    def path(self, index: int) -> Path:
        """Shard ``index``'s ledger: ``--db`` itself with one process, ``<stem>.shard<k>of<N><suffix>`` beside it."""
        if self.count == 1:
            return self.db
        return self.db.with_name(f"{self.db.stem}.shard{index}of{self.count}{self.db.suffix}")

    def other_layouts(self) -> list[Path]:
        """Ledger files beside ``db`` written with another number of processes, which this layout would not read."""
        mine = {self.path(k) for k in range(self.count)}
        found = [self.db] if self.db.exists() else []
        found += sorted(self.db.parent.glob(f"{self.db.stem}.shard*of*{self.db.suffix}"))
        return [path for path in found if path not in mine]

    def owner_of_seq(self, seq: int) -> int:
        return (seq - 1) % self.count

    def owner_of_key(self, scope: str, key: str) -> int:
        """The shard deciding every creation with this idempotency key, the same in every process."""
        if self.count == 1:
            return 0
        digest = hashlib.blake2s(f"{scope}\0{key}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.count

    def next_seq(self, after: int) -> int:
        """The first record number above ``after`` that this shard numbers."""
        seq = after + 1
        return seq + (self.index - (seq - 1)) % self.count

    def siblings(self) -> list[int]:
        return [k for k in range(self.count) if k != self.index]


class Source(Protocol):
    """What a shard's reads need of a connection: ``mock_provider.ledger.Ledger`` or a read-only one."""

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None: ...

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]: ...

    def iterate(self, sql: str, params: tuple[Any, ...] = (), batch: int = 2000) -> Iterator[list[sqlite3.Row]]: ...


class ReadOnlyLedger:
    """Another shard's ledger, read through a connection that can never write to it.

    Opened on first use: the sibling creates its file as it starts, perhaps after this one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                                 check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout=2000")
            self._db = db
        return self._db

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._connection().execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return list(self._connection().execute(sql, params).fetchall())

    def iterate(self, sql: str, params: tuple[Any, ...] = (), batch: int = 2000) -> Iterator[list[sqlite3.Row]]:
        cursor = self._connection().execute(sql, params)
        while rows := cursor.fetchmany(batch):
            yield rows

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class Shards:
    """Every shard's ledger as seen from shard ``layout.index``: its own connection and the others read-only."""

    def __init__(self, layout: Layout, own: Source) -> None:
        self.layout = layout
        self._sources: list[Source] = [own if k == layout.index else ReadOnlyLedger(layout.path(k))
                                       for k in range(layout.count)]

    def of_seq(self, seq: int) -> Source:
        """The ledger holding record ``seq``."""
        return self._sources[self.layout.owner_of_seq(seq)]

    def all(self, sql: str, params: tuple[Any, ...], key: Callable[[sqlite3.Row], Any]) -> list[sqlite3.Row]:
        """Rows of ``sql`` from every shard, merged by ``key`` (each shard's rows must come sorted by it)."""
        return list(heapq.merge(*(source.all(sql, params) for source in self._sources), key=key))

    def iterate(self, sql: str, params: tuple[Any, ...], key: Callable[[sqlite3.Row], Any],
                batch: int = 2000) -> Iterator[list[sqlite3.Row]]:
        """``all`` in batches, streaming: each shard's rows sorted by ``key``, every row exactly once."""
        def rows(source: Source) -> Iterator[sqlite3.Row]:
            for chunk in source.iterate(sql, params, batch):
                yield from chunk
        merged = heapq.merge(*(rows(source) for source in self._sources), key=key)
        chunk: list[sqlite3.Row] = []
        for row in merged:
            chunk.append(row)
            if len(chunk) >= batch:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def close(self) -> None:
        for source in self._sources:
            if isinstance(source, ReadOnlyLedger):
                source.close()
