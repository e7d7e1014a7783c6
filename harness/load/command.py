"""The ``locust`` invocation for a load shape: argv and environment, master and workers.

The orchestrator starts these as subprocesses (``harness.run.load_process.LoadProcess``) and
never imports Locust. The environment variables are the whole interface to the locustfile; they
are listed in docs/architecture.md, section "Load and history".
"""

from __future__ import annotations

import math
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness._exceptions import UsageError
from harness.load.shape import LoadShape

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"

Command = tuple[list[str], dict[str, str]]
_BASE = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]


def locust_env(shape: LoadShape, *, history_dir: Path, seed: int, run_id: str, history: bool = True,
               flows: str = "") -> dict[str, str]:
    """The variables the locustfile reads (all of them, so the child inherits nothing stale).

    ``flows`` is the target's HTTP steps (``harness.load.steps.environment_value``); empty: the
    contract's API."""
    return {
        "ORDERQUAKE_FLOWS": flows,
        "ORDERQUAKE_HISTORY_DIR": str(history_dir),
        "ORDERQUAKE_HISTORY": "on" if history else "off",
        "ORDERQUAKE_MIX": shape.mix_json(),
        "ORDERQUAKE_DUPLICATES": repr(float(shape.duplicates)),
        "ORDERQUAKE_SEED": str(seed),
        "ORDERQUAKE_RUN_ID": run_id,
        "ORDERQUAKE_REQUEST_TIMEOUT": repr(float(shape.request_timeout_s)),
        "ORDERQUAKE_THINK_TIME": repr(float(shape.think_time_s)),
    }


def locust_commands(shape: LoadShape, *, host: str, history_dir: Path, locust_dir: Path, seed: int,
                    run_id: str, workers: int = 0, history: bool = True,
                    master_port: int | None = None, flows: str = "", remote_workers: int = 0,
                    master_host: str = "127.0.0.1") -> list[Command]:
    """Every process to start, the master (or the only process) first.

    With ``workers`` > 0 the master only coordinates, on loopback, and each worker is a
    ``--worker`` process writing its own history file (named by its pid) in ``history_dir``.
    ``remote_workers`` more are expected from other machines (``orderquake worker``, which starts
    them with ``remote_worker_commands``); the master then binds ``master_host``.

    >>> cmds = locust_commands(LoadShape(users=2, spawn_rate=2, duration_s=5), host="http://127.0.0.1:1",
    ...                        history_dir=Path("h"), locust_dir=Path("l"), seed=1, run_id="r1")
    >>> "--headless" in cmds[0][0], len(cmds)
    (True, 1)
    """
    for name, count in (("workers", workers), ("remote_workers", remote_workers)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise UsageError(f"expected {name} to be a whole number of zero or more, got {name}={count!r}")
    if not run_id or not run_id.replace("-", "").isalnum():
        raise UsageError(f"expected a run id of letters, digits and '-', got run_id={run_id!r}")
    env = locust_env(shape, history_dir=history_dir, seed=seed, run_id=run_id, history=history, flows=flows)
    master = [
        *_BASE, "--headless", "--host", host,
        "--users", str(shape.users), "--spawn-rate", _number(shape.spawn_rate),
        "--run-time", f"{math.ceil(shape.duration_s)}s",
        "--stop-timeout", _number(shape.stop_timeout_s),
        "--csv", str(locust_dir / "locust"), "--html", str(locust_dir / "report.html"),
        "--only-summary", "--loglevel", "WARNING",
    ]
    if workers == 0 and remote_workers == 0:
        return [(master, env)]
    port = master_port if master_port is not None else _free_port()
    master += ["--master", "--master-bind-host", master_host, "--master-bind-port", str(port),
               "--expect-workers", str(workers + remote_workers), "--expect-workers-max-wait", "60"]
    local_master = "127.0.0.1" if master_host in ("0.0.0.0", "*", "") else master_host
    worker = _worker_argv(local_master, port)
    return [(master, env)] + [(list(worker), {**env, "ORDERQUAKE_WORKER_INDEX": str(i)}) for i in range(workers)]


def remote_worker_commands(env: Mapping[str, str], *, master_host: str, master_port: int, history_dir: Path,
                           slots: Sequence[tuple[int, int]]) -> list[Command]:
    """The Locust worker processes of one ``orderquake worker``: the run's variables (``env``, as
    the collector shipped them) with this machine's history folder, and per slot its
    ``(worker index, process base)``, which keep its ids and process numbers apart from every
    other machine's."""
    commands = []
    for index, base in slots:
        commands.append((_worker_argv(master_host, master_port), {
            **env, "ORDERQUAKE_HISTORY_DIR": str(history_dir), "ORDERQUAKE_WORKER_INDEX": str(index),
            "ORDERQUAKE_PROCESS_BASE": str(base)}))
    return commands


def _worker_argv(master_host: str, master_port: int) -> list[str]:
    return [*_BASE, "--worker", "--master-host", master_host, "--master-port", str(master_port),
            "--loglevel", "WARNING"]


def locust_command(shape: LoadShape, *, host: str, history_dir: Path, locust_dir: Path, seed: int,
                   run_id: str, history: bool = True) -> Command:
    """The single-process ``locust`` invocation (no workers)."""
    return locust_commands(shape, host=host, history_dir=history_dir, locust_dir=locust_dir, seed=seed,
                           run_id=run_id, history=history)[0]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _free_port() -> int:
    # Bound and released at once: a small race with other processes, acceptable on loopback
    # where the master binds it a moment later and fails loudly if it was taken.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
