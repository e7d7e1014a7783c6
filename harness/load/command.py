"""The ``locust`` invocation for a load shape: argv and environment, master and workers.

The orchestrator starts these as subprocesses (``harness.run.load_process.LoadProcess``) and
never imports Locust. The environment variables are the whole interface to the locustfile; they
are listed in docs/architecture.md, section "Load and history".
"""

from __future__ import annotations

import math
import socket
import sys
from pathlib import Path

from harness._exceptions import UsageError
from harness.load.shape import LoadShape

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"

Command = tuple[list[str], dict[str, str]]


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
                    master_port: int | None = None, flows: str = "") -> list[Command]:
    """Every process to start, the master (or the only process) first.

    With ``workers`` > 0 the master only coordinates, on loopback, and each worker is a
    ``--worker`` process writing its own history file (named by its pid) in ``history_dir``.

    >>> cmds = locust_commands(LoadShape(users=2, spawn_rate=2, duration_s=5), host="http://127.0.0.1:1",
    ...                        history_dir=Path("h"), locust_dir=Path("l"), seed=1, run_id="r1")
    >>> "--headless" in cmds[0][0], len(cmds)
    (True, 1)
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise UsageError(f"expected workers to be a whole number of zero or more, got workers={workers!r}")
    if not run_id or not run_id.replace("-", "").isalnum():
        raise UsageError(f"expected a run id of letters, digits and '-', got run_id={run_id!r}")
    env = locust_env(shape, history_dir=history_dir, seed=seed, run_id=run_id, history=history, flows=flows)
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    master = [
        *base, "--headless", "--host", host,
        "--users", str(shape.users), "--spawn-rate", _number(shape.spawn_rate),
        "--run-time", f"{math.ceil(shape.duration_s)}s",
        "--stop-timeout", _number(shape.stop_timeout_s),
        "--csv", str(locust_dir / "locust"), "--html", str(locust_dir / "report.html"),
        "--only-summary", "--loglevel", "WARNING",
    ]
    if workers == 0:
        return [(master, env)]
    port = master_port if master_port is not None else _free_port()
    master += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
               "--expect-workers", str(workers), "--expect-workers-max-wait", "60"]
    worker = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
              "--loglevel", "WARNING"]
    return [(master, env)] + [(list(worker), {**env, "ORDERQUAKE_WORKER_INDEX": str(i)}) for i in range(workers)]


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
