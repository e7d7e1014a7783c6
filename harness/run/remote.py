"""The run's hooks for remote Locust workers: the collector around the load, and the upload window.

    with remote_workers(request, run_dir, env, reporter) as collector:   # waits for every worker to join
        ...                                                                # Locust and the faults
        await_uploads(collector, reporter)                                # bounded; then workers.json
    # final reads after this: the shipped history files are in history/ when the manifest counts them

The collector listens on the master's host, on the port after the master's
(``harness.distributed.protocol``); binding anything but loopback needs ``--allow-remote``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from harness._exceptions import UsageError
from harness.distributed import Collector, CollectorConfig, collecting, parse_address
from harness.distributed.protocol import COLLECTOR_PORT_OFFSET, DEFAULT_MASTER_PORT
from harness.run.progress import Reporter
from harness.run.request import RunRequest
from harness.run.signals import shielded
from harness.rundir import RunDir

UPLOAD_WAIT_S = 30.0  # after the load: a live worker ships its history in about a second


def master_address(request: RunRequest) -> tuple[str, int | None]:
    """Where the Locust master binds: loopback and a free port unless remote workers need a known one."""
    if not request.remote_workers:
        return "127.0.0.1", None
    host, port = parse_address(request.master_bind or f"127.0.0.1:{DEFAULT_MASTER_PORT}", what="--master-bind")
    if not request.allow_remote and not _loopback(host):
        raise UsageError(f"--master-bind {request.master_bind} is not a loopback address: workers on other machines "
                         "reach the run only when --allow-remote is given")
    return host, port


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextmanager
def remote_workers(request: RunRequest, run_dir: RunDir, env: Mapping[str, str],
                   reporter: Reporter) -> Iterator[Collector | None]:
    """The collector for the body of the ``with`` (``None`` without remote workers), once every
    expected remote worker has joined; ``workers.json`` is written when the body ends."""
    if not request.remote_workers:
        yield None
        return
    host, port = master_address(request)
    assert port is not None
    config = CollectorConfig(run_id=run_dir.run_id, env=env, expected=request.remote_workers, local=request.workers)
    with collecting(config, run_dir, host=host, port=port + COLLECTOR_PORT_OFFSET, guard=shielded) as collector:
        reporter.say(f"waiting up to {request.remote_wait:g} s for {request.remote_workers} remote Locust worker(s): "
                     f"orderquake worker --master {host}:{port} (collector on port {collector.port})")
        collector.wait_for_joins(request.remote_wait)
        yield collector


def await_uploads(collector: Collector | None, reporter: Reporter) -> None:
    """Give the remote workers ``UPLOAD_WAIT_S`` to ship their history; what is late is missing."""
    if collector is None:
        return
    if not collector.wait_for_uploads(UPLOAD_WAIT_S):
        reporter.say(f"note: not every remote worker shipped its history within {UPLOAD_WAIT_S:g} s; "
                     "the verdict names what is missing")
