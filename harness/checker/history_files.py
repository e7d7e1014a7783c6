"""Reading ``history/*.jsonl`` into a ``History`` fast enough for a million orders.

The history writer puts the keys of every event in one order (``harness.load.history``), so
the write operations are found with one regular expression matched in C over a whole file,
invokes as (op, id, amount) and completions as (type, op, id). The result is used only
if, with the reads (``"op":"get_...``), it accounts for every line of the file (a quote inside a
JSON string is always escaped, so these patterns cannot match inside a value); any other file is
parsed as JSON, event by event. Reads do not enter the summary.

The examples' full events are found by a second pass over the files that hold them (each id
remembers the file it was submitted in; the writer keeps every event of an id, reads included,
in the file of the process that chose it): every top-level id of a file, in line order, is
tested against the wanted set in C, and only the lines that name a wanted id are parsed. An id
seen in several files is looked for in all of them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

import orjson

from harness.checker.inputs import History, HistorySummariser, Key, select_events
from harness.load.history import history_files, read_events

_WRITE = re.compile(r'\{"type":"(?:invoke","op":"(order|payout)","id":"([^"\\\n]*)","process":-?\d+,'
                    r'"time":-?\d+,"wall":[-+0-9.eE]+,"attempt":-?\d+,"value":\{(?:"amount_minor":(-?\d+)[,}])?'
                    r'|(ok|fail|info)","op":"(order|payout)","id":"([^"\\\n]*)")')
_ANY_ID = re.compile(r'\{"type":"\w+","op":"\w+","id":"([^"\\\n]*)"')


def _lines(text: str) -> int:
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def read_history(directory: Path) -> History:
    """Summarise every history file; examples' events are read again from their files on demand."""
    summariser = HistorySummariser()
    paths = history_files(directory)
    for source, path in enumerate(paths):
        text = path.read_bytes().decode(errors="replace")
        writes = _WRITE.findall(text)
        # Every line must be accounted for in the writer's compact layout: a write matched here,
        # or a read. Any other line (other spacing, key order, op) sends the file to JSON.
        if len(writes) + text.count('"op":"get_') == _lines(text):
            summariser.add_rows(writes, source=source)
        else:
            summariser.add_all(read_events(path), source=source)

    def events_for(keys: Collection[Key]) -> dict[Key, list[dict[str, Any]]]:
        sources = set()
        for kind, op_id in keys:
            ops = summariser.ops[kind].get(op_id)
            if ops is not None:
                sources.add(ops.source)
        chosen = paths if -1 in sources else [paths[i] for i in sorted(sources)]
        return select_events(_events_naming(chosen, {op_id for _, op_id in keys}), keys)

    return summariser.finish(events_for)


def _events_naming(paths: list[Path], ids: set[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in paths:
        text = path.read_bytes().decode(errors="replace")
        named = _ANY_ID.findall(text)
        if len(named) != _lines(text):
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
