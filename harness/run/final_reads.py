"""The final reads: the SUT's state by its target's SQL and the provider's ledger, saved to the run.

Both are read directly, never through a Toxiproxy link, and saved under ``state/`` so that the
checker can be run again from the artifacts alone. ``state/complete.json`` is written last: a
run directory without it (an interrupted run, an unreachable database) gets the verdict
``unknown``, never ``pass``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from harness._exceptions import InfrastructureError, UsageError
from harness.checker.integrity import write_manifest
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


def read_sut_state(database_url: str, queries: TargetState, run_dir: RunDir) -> dict[str, int]:
    """Run the target's SQL, map statuses to contract names per flow, save ``state/sut_*.jsonl``."""
    counts = {}
    for kind in Kind:
        flow = f"{kind.value}s"
        rows = [_mapped(row, queries.status_map(flow)) for row in _query(database_url, queries.sql(flow),
                                                                        f"{flow}_sql")]
        with run_dir.sut_state(kind).open("w") as handle:
            for row in rows:
                handle.write(json.dumps(row, default=str) + "\n")
        counts[flow] = len(rows)
    return counts


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
    counts: dict[str, Any] = dict(read_sut_state(database_url, target.state, run_dir))
    counts.update({f"provider_{k}": v for k, v in read_provider_ledger(provider_url, run_dir).items()})
    counts.update(correlate(target, run_dir))
    mark_complete(run_dir, counts)
    return counts


def mark_complete(run_dir: RunDir, counts: dict[str, Any]) -> None:
    """Record that every final read finished, with the manifest of every evidence file
    (``harness.checker.integrity``); the checker trusts the evidence only as far as it matches."""
    write_manifest(run_dir, counts)
