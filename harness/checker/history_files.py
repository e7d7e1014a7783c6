"""Reading ``history/*.jsonl`` into a ``History`` fast enough for a million orders.

The history writer puts the keys of every event in one order (``harness.load.history``), so
the write operations are found with one regular expression matched in C over 8 MB of whole
lines at a time, invokes as (op, id, amount) and completions as (type, op, id). The result is
used only if, with the reads (``"op":"get_...``), it accounts for every line of the piece (a
quote inside a JSON string is always escaped, so these patterns cannot match inside a value);
any other piece is parsed as JSON, event by event. Reads do not enter the summary.

A large history is summarised by a second Python process (``HistoryRead``) while the caller
reads the SUT state and the ledger: this module run as ``python -m``, which hands back only the
per-id columns (``ClientTable``) in a temporary file.

The examples' full events are found by a second pass over the files that hold them (each id
remembers the file it was submitted in; the writer keeps every event of an id, reads included,
in the file of the process that chose it): every top-level id of a file, in line order, is
tested against the wanted set in C, and only the lines that name a wanted id are parsed. An id
seen in several files is looked for in all of them.
"""

from __future__ import annotations

import itertools
import os
import pickle
import re
import subprocess
import sys
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import orjson

from harness.checker._gcpause import paused_gc
from harness.checker._jsonlines import line_count
from harness.checker.inputs import ClientTable, History, HistorySummariser, Key, select_events
from harness.checker.model import Kind
from harness.load.history import history_files, parse_events, read_events

_WRITE = re.compile(r'\{"type":"(?:invoke","op":"(order|payout)","id":"([^"\\\n]*)","process":-?\d+,'
                    r'"time":-?\d+,"wall":[-+0-9.eE]+,"attempt":-?\d+,"value":\{(?:"amount_minor":(-?\d+)[,}])?'
                    r'|(ok|fail|info)","op":"(order|payout)","id":"([^"\\\n]*)")')
# Above this size a second process summarises the history (about 50,000 orders' worth); below
# it, starting that process would cost more than it saves.
WORKER_BYTES = 32 << 20
# Files are matched a piece at a time, so that neither a whole file nor all its matches are held at once.
_PIECE_BYTES = 8 << 20
_ANY_ID = re.compile(r'\{"type":"\w+","op":"\w+","id":"([^"\\\n]*)"')


def _pieces(path: Path) -> Iterator[bytes]:
    """``path`` in pieces of whole lines of about ``_PIECE_BYTES`` each (the last may be torn)."""
    with path.open("rb") as handle:
        rest = b""
        while block := handle.read(_PIECE_BYTES):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            rest = block[cut:]
            if cut:
                yield block[:cut]
        if rest:
            yield rest


def _summarise(paths: list[Path]) -> HistorySummariser:
    summariser = HistorySummariser()
    for source, path in enumerate(paths):
        for piece in _pieces(path):
            text = piece.decode(errors="replace")
            writes = _WRITE.findall(text)
            # Every line must be accounted for in the writer's compact layout: a write matched
            # here, or a read. Any other line (other spacing, key order, op) sends the piece to JSON.
            if len(writes) + text.count('"op":"get_') == line_count(text):
                summariser.add_rows(writes, source=source)
            else:
                summariser.add_all(parse_events(piece), source=source)
    return summariser


class HistoryRead:
    """Reading ``history/`` while the caller does other work: a history larger than
    ``worker_bytes`` is summarised in a second Python process (the checker's other inputs are
    read meanwhile, so both cores work), which hands back only the per-id columns. If that
    process fails for any reason the history is read here instead, so a damaged file is
    reported exactly as it would have been.
    """

    def __init__(self, directory: Path, *, worker_bytes: int = WORKER_BYTES) -> None:
        self.paths = history_files(directory)
        self._worker: subprocess.Popen[bytes] | None = None
        self._out: Path | None = None
        if sum(path.stat().st_size for path in self.paths) > worker_bytes:
            handle, out = tempfile.mkstemp(prefix="orderquake-history-", suffix=".pickle")
            os.close(handle)
            self._out = Path(out)
            package_root = str(Path(__file__).resolve().parents[2])
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root,
                                                                              os.environ.get("PYTHONPATH")]))}
            self._worker = subprocess.Popen(
                [sys.executable, "-m", "harness.checker.history_files", str(self._out), *map(str, self.paths)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    def result(self) -> History:
        tables = self._from_worker() if self._worker is not None else None
        if tables is None:
            summary = _summarise(self.paths)
            tables = (summary.table(Kind.ORDER), summary.table(Kind.PAYOUT), summary.totals)
        orders, payouts, totals = tables
        paths = self.paths

        def events_for(keys: Collection[Key]) -> dict[Key, list[dict[str, Any]]]:
            sources = set()
            for kind, op_id in keys:
                table = orders if kind is Kind.ORDER else payouts
                row = table.index.get(op_id)
                if row is not None:
                    sources.add(table.source[row])
            chosen = paths if -1 in sources else [paths[i] for i in sorted(sources)]
            return select_events(_events_naming(chosen, {op_id for _, op_id in keys}), keys)

        return History(orders, payouts, events_for, totals=totals)

    def _from_worker(self) -> tuple[ClientTable, ClientTable, dict[str, int]] | None:
        # The worker writes a file and exits before it is read, so that its memory and this
        # process's copy of the tables are never held at the same time.
        worker, out = self._worker, self._out
        assert worker is not None and out is not None
        try:
            if worker.wait() == 0:
                with out.open("rb") as handle:
                    tables = pickle.load(handle)  # written by our own worker just now
                if isinstance(tables, tuple) and len(tables) == 3:
                    return tables
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError):
            pass
        finally:
            self.close()
        return None

    def close(self) -> None:
        """Stop the worker and remove its file (also when the result is no longer wanted)."""
        if self._worker is not None and self._worker.poll() is None:
            self._worker.kill()
            self._worker.wait()
        self._worker = None
        if self._out is not None:
            self._out.unlink(missing_ok=True)
            self._out = None


def read_history(directory: Path, *, worker_bytes: int = WORKER_BYTES) -> History:
    """Summarise every history file; examples' events are read again from their files on demand."""
    reading = HistoryRead(directory, worker_bytes=worker_bytes)
    try:
        return reading.result()
    finally:
        reading.close()


def _events_naming(paths: list[Path], ids: set[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in paths:
        text = path.read_bytes().decode(errors="replace")
        named = _ANY_ID.findall(text)
        if len(named) != line_count(text):
            found.extend(event for event in read_events(path) if event.get("id") in ids)
            continue
        hits = list(itertools.compress(itertools.count(), map(ids.__contains__, named)))
        if not hits:
            continue
        lines = text.split("\n")
        for index in hits:
            try:
                event = orjson.loads(lines[index])
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict):
                found.append(event)
    return found


def main(argv: list[str]) -> int:
    """The worker of ``HistoryRead``: ``OUT FILE...``, the tables of the files pickled into OUT."""
    out, *paths = argv
    with paused_gc():
        summary = _summarise([Path(arg) for arg in paths])
        tables = (summary.table(Kind.ORDER), summary.table(Kind.PAYOUT), summary.totals)
        del summary
        for table in tables[:2]:
            table.drop_index()  # not sent; freed before the ids are joined for pickling
        with open(out, "wb") as handle:
            pickle.dump(tables, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
