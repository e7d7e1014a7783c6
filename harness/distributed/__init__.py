"""Locust's distributed mode across machines: the run's collector and ``orderquake worker``.

The run serves a small HTTP collector next to its Locust master; each remote worker takes the
run's configuration from it, loads as Locust worker processes, and ships its history back with
each file's record count and SHA-256 before the verdict (docs/distributed.md).

    protocol.py    the wire names, addresses, process numbering, file digests (pure)
    journal.py     workers.json: what the collector saw of each worker (pure)
    collector.py   the run's side: CollectorState (the protocol) served over HTTP
    worker.py      the remote side: join, start Locust workers, ship the history
"""

from harness.distributed.collector import Collector, CollectorConfig, CollectorState, collecting, write_journal
from harness.distributed.journal import WorkerEntry, WorkerJournal
from harness.distributed.protocol import Digest, collector_url, parse_address
from harness.distributed.worker import CollectorClient, WorkerOptions, run_worker

__all__ = [
    "Collector",
    "CollectorClient",
    "CollectorConfig",
    "CollectorState",
    "Digest",
    "WorkerEntry",
    "WorkerJournal",
    "WorkerOptions",
    "collecting",
    "collector_url",
    "parse_address",
    "run_worker",
    "write_journal",
]
