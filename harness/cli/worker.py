"""``orderquake worker --master HOST:PORT``: join a run from another machine as Locust worker(s).

The run (``orderquake run ... --remote-workers N``) serves its configuration and takes the
history back on its collector, next to the master (docs/distributed.md). Exit 0 when every
history file was accepted, 4 when one was not or a Locust process died, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.cli.run import whole_number
from harness.distributed import WorkerOptions, collector_url, parse_address, run_worker


def _worker(args: argparse.Namespace) -> int:
    host, port = parse_address(args.master, what="--master")
    options = WorkerOptions(master_host=host, master_port=port, collector=args.collector or collector_url(host, port),
                            processes=args.processes, join_wait_s=args.wait, history_dir=args.history_dir,
                            log_path=args.log)
    return run_worker(options, say=lambda line: print(line, file=sys.stderr, flush=True))


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker", help="join a run from another machine as Locust worker(s)",
        description="Join a run started with --remote-workers: take its configuration from its collector, run "
                    "the orderquake locustfile as Locust worker(s), and ship the history back when the load ends.")
    parser.add_argument("--master", required=True, metavar="HOST:PORT",
                        help="the run's Locust master (its --master-bind; port 5557 when omitted)")
    parser.add_argument("--processes", type=whole_number(1), default=1, metavar="K",
                        help="Locust worker processes on this machine (default 1; about one per core)")
    parser.add_argument("--collector", metavar="URL",
                        help="the run's collector (default http://HOST:PORT+1, next to the master)")
    parser.add_argument("--wait", type=float, default=120.0, metavar="SECONDS",
                        help="how long to wait for the run's collector to answer (default 120)")
    parser.add_argument("--history-dir", type=Path,
                        help="where the Locust processes write their history before it is shipped (default: a "
                             "temporary folder, removed once the run accepted every file)")
    parser.add_argument("--log", type=Path, help="Locust's output (default: this terminal)")
    parser.set_defaults(handler=_worker)
