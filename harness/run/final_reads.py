"""The final reads: the SUT's state by its target's SQL and the provider's ledger, saved to the run.

Both are read directly, never through a Toxiproxy link, and saved under ``state/`` so that the
checker can be run again from the artifacts alone. ``state/complete.json`` is written last: a
run directory without it (an interrupted run, an unreachable database) gets the verdict
``unknown``, never ``pass``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from harness._exceptions import InfrastructureError, UsageError
from harness.checker.integrity import write_manifest
from harness.checker.jsontext import MAX_DEPTH
from harness.checker.model import Kind
from harness.rundir import RunDir
from harness.target import Target, TargetState

_READ_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def _mapped(row: dict[str, Any], status_map: Mapping[str, str]) -> dict[str, Any]:
    status = row.get("status")
    if status is not None:
        row["status"] = status_map.get(str(status), str(status))
    return row


def _query(database_url: str, sql: str, what: str) -> list[dict[str, Any]]:
    try:
        with psycopg.connect(database_url, connect_timeout=5, row_factory=dict_row) as conn:
            return [dict(row) for row in conn.execute(sql.encode())]
    except psycopg.errors.SyntaxError as exc:
        raise UsageError(f"the target's {what} is not valid SQL ({exc.diag.message_primary}): "
                         "fix the 'state' section of the target file") from exc
    except psycopg.Error as exc:
        raise InfrastructureError(f"could not read the SUT's {what.split('_')[0]} from its database: "
                                  f"{str(exc).strip()}") from exc


@dataclass(frozen=True)
class SutSaved:
    """What ``read_sut_state`` saved: rows per flow, and the files holding a row that strict JSON could
    not write as it was (a float NaN or infinity, written as Python's json writes it; a value nested
    deeper than the checker reads), which the manifest must not call strict."""

    counts: dict[str, int]
    lenient: frozenset[Path]


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list | tuple):
        return 1 + max(map(_depth, value), default=0)
    return 0


def sut_line(row: dict[str, Any]) -> tuple[str, bool]:
    """One SUT row as a JSON line, and whether it is strict JSON within ``MAX_DEPTH``."""
    try:
        strict = not any(isinstance(v, dict | list | tuple) for v in row.values()) or _depth(row) <= MAX_DEPTH
        return json.dumps(row, default=str, allow_nan=False), strict
    except (ValueError, RecursionError):
        return json.dumps(row, default=str), False


def read_sut_state(database_url: str, queries: TargetState, run_dir: RunDir) -> SutSaved:
    """Run the target's SQL, map statuses to contract names per flow, save ``state/sut_*.jsonl``."""
    counts, lenient = {}, set()
    for kind in Kind:
        flow = f"{kind.value}s"
        rows = [_mapped(row, queries.status_map(flow)) for row in _query(database_url, queries.sql(flow),
                                                                        f"{flow}_sql")]
        path = run_dir.sut_state(kind)
        with path.open("w") as handle:
            for row in rows:
                line, strict = sut_line(row)
                handle.write(line + "\n")
                if not strict:
                    lenient.add(path)
        counts[flow] = len(rows)
    return SutSaved(counts, frozenset(lenient))


def pending_names(status_map: Mapping[str, str]) -> list[str]:
    """The SUT's own status names that mean ``pending`` in the contract."""
    names = {own for own, contract in status_map.items() if contract == "pending"}
    if "pending" not in status_map:
        names.add("pending")
    return sorted(names)


def count_pending(database_url: str, queries: TargetState) -> int:
    """How many orders and payouts the SUT still holds in a non-terminal state."""
    total = 0
    for kind in ("orders", "payouts"):
        names, sql = pending_names(queries.status_map(kind)), queries.sql(kind)
        wrapped = f"SELECT count(*) AS n FROM ({sql}) AS q WHERE q.status::text = ANY(%s)"
        try:
            with psycopg.connect(database_url, connect_timeout=3) as conn:
                row = conn.execute(wrapped.encode(), (names,)).fetchone()
        except psycopg.Error as exc:
            message = f"could not count the SUT's pending {kind}: {str(exc).strip()}"
            raise InfrastructureError(message) from exc
        total += int(row[0]) if row else 0
    return total


def _stream_lines(client: httpx.Client, url: str) -> Iterator[bytes]:
    with client.stream("GET", url) as response:
        if response.status_code != 200:
            raise InfrastructureError(f"the provider's ledger {url} answered {response.status_code}; "
                                      "expected 200 with NDJSON")
        yield from response.iter_bytes()


def read_provider_ledger(provider_url: str, run_dir: RunDir) -> dict[str, int]:
    """Save every provider record and callback attempt, duplicates included; return line counts."""
    counts = {}
    try:
        with httpx.Client(base_url=provider_url, timeout=_READ_TIMEOUT) as client:
            ledgers = {"orders": run_dir.provider_ledger(Kind.ORDER), "payouts": run_dir.provider_ledger(Kind.PAYOUT),
                       "callbacks": run_dir.provider_callbacks}
            for name, path in ledgers.items():
                with path.open("wb") as handle:
                    for chunk in _stream_lines(client, f"/_ledger/{name}"):
                        handle.write(chunk)
                counts[name] = sum(1 for line in path.read_bytes().splitlines() if line.strip())
    except httpx.HTTPError as exc:
        raise InfrastructureError(f"could not read the provider's ledger at {provider_url}: {exc}") from exc
    return counts


def correlate(target: Target, run_dir: RunDir) -> dict[str, int]:
    """Key each provider record by the id the client chose, where the SUT chose its own ids.

    A target whose flow says ``correlate: {provider: sut_id}`` (the provider's merchant id is the
    SUT's own id) or ``{provider: provider_id}`` (the SUT stores the provider's id on its row)
    gets each ledger record's merchant id replaced by the client's id of the SUT row it points
    to, the original kept as ``merchant_ref``; a record no row points to keeps its own (the
    checker then finds it submitted by no client). Without that, the provider's merchant id is
    already the client's id (the contract). Returns how many records were re-keyed per flow.
    """
    moved: dict[str, int] = {}
    for kind, steps in target.flows.items():
        if steps.correlate == "id":
            continue
        index: dict[str, str] = {}
        for line in run_dir.sut_state(kind).read_bytes().splitlines():
            row = json.loads(line)
            ref, client_id = row.get(steps.correlate), row.get(kind.sut_key)
            if isinstance(ref, str) and ref and isinstance(client_id, str):
                index[ref] = client_id
        path, count, out = run_dir.provider_ledger(kind), 0, []
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            ref = record.get("id") if steps.correlate == "provider_id" else record.get(kind.merchant_key)
            if isinstance(ref, str) and ref in index:
                record["merchant_ref"], record[kind.merchant_key] = record.get(kind.merchant_key), index[ref]
                count += 1
            out.append(json.dumps(record) + "\n")
        path.write_text("".join(out))
        moved[f"correlated_{kind.plural}"] = count
    return moved


def final_reads(target: Target, database_url: str, provider_url: str, run_dir: RunDir) -> dict[str, Any]:
    """Every final read in order (SUT state, provider ledger, correlation), then the manifest."""
    sut = read_sut_state(database_url, target.state, run_dir)
    counts: dict[str, Any] = dict(sut.counts)
    counts.update({f"provider_{k}": v for k, v in read_provider_ledger(provider_url, run_dir).items()})
    counts.update(correlate(target, run_dir))
    mark_complete(run_dir, counts, lenient=sut.lenient)
    return counts


def mark_complete(run_dir: RunDir, counts: dict[str, Any], *, lenient: Collection[Path] = ()) -> None:
    """Record that every final read finished, with the manifest of every evidence file
    (``harness.checker.integrity``); the checker trusts the evidence only as far as it matches.

    Strict, in the manifest's word, is every file but ``lenient``: orderquake's own encoders wrote them
    all, the history by its writer (orjson), the provider's ledger and journals by the mock provider
    (orjson, kept byte for byte or written again by ``correlate`` from what json read of them), the SUT
    state by ``read_sut_state``, which names the files it could not write strictly."""
    files = [*run_dir.history_files(), run_dir.provider_callbacks,
             *(path for kind in Kind for path in (run_dir.sut_state(kind), run_dir.provider_ledger(kind)))]
    write_manifest(run_dir, counts, strict=[path for path in files if path not in lenient])
