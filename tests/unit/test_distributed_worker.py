"""``orderquake worker``'s flow against an in-process collector, with a stand-in for Locust (a tiny
process that writes a history file as the locustfile would, then ends as told): the run's
variables reach it, its file is shipped and declared, and a process that died still has what it
wrote shipped, with its death reported."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from harness._exceptions import InfrastructureError
from harness.distributed import Collector, CollectorConfig, CollectorState, WorkerOptions, run_worker
from harness.distributed import worker as worker_module
from harness.load.command import Command

# Writes <pid + process base>.jsonl as the locustfile names it, with the seed it was given, then ends.
FAKE_LOCUST = """
import os, signal, sys
name = str(os.getpid() + int(os.environ["ORDERQUAKE_PROCESS_BASE"])) + ".jsonl"
path = os.path.join(os.environ["ORDERQUAKE_HISTORY_DIR"], name)
with open(path, "w") as f:
    f.write('{"type": "invoke", "seed": "%s"}\\n' % os.environ["ORDERQUAKE_SEED"])
if sys.argv[1] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    config = CollectorConfig(run_id="r1", env={"ORDERQUAKE_SEED": "42", "ORDERQUAKE_HISTORY_DIR": "/not/here"},
                             expected=2)
    state = CollectorState(config, history_dir=tmp_path / "run" / "history", rejected_dir=tmp_path / "run" / "w")
    served = Collector.start(state, host="127.0.0.1", port=0)
    yield served
    served.close()


def _fake(endings: Sequence[str], monkeypatch: pytest.MonkeyPatch) -> None:
    real = worker_module.remote_worker_commands

    def commands(env: Mapping[str, str], **kwargs: object) -> list[Command]:
        made = real(env, **kwargs)  # type: ignore[arg-type]
        return [([sys.executable, "-c", FAKE_LOCUST, ending], command_env)
                for ending, (_, command_env) in zip(endings, made, strict=True)]

    monkeypatch.setattr(worker_module, "remote_worker_commands", commands)


def _options(collector: Collector, tmp_path: Path) -> WorkerOptions:
    return WorkerOptions(master_host="127.0.0.1", master_port=1, collector=f"http://127.0.0.1:{collector.port}",
                         processes=2, join_wait_s=2.0, history_dir=tmp_path / "local")


def test_the_worker_runs_the_runs_configuration_and_ships_every_file(collector: Collector, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(["live", "live"], monkeypatch)
    assert run_worker(_options(collector, tmp_path), say=lambda line: None) == 0
    journal = collector.close()
    entry = journal.workers[0]
    assert entry.exit_codes == (0, 0) and entry.declared is not None and len(entry.declared) == 2
    assert set(entry.received) == set(entry.declared) and not entry.rejected
    shipped = sorted((tmp_path / "run" / "history").glob("*.jsonl"))
    assert [p.read_text() for p in shipped] == ['{"type": "invoke", "seed": "42"}\n'] * 2


def test_a_process_that_died_has_its_history_shipped_and_its_death_reported(collector: Collector, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(["live", "die"], monkeypatch)
    lines: list[str] = []
    assert run_worker(_options(collector, tmp_path), say=lines.append) == 4
    entry = collector.close().workers[0]
    assert entry.exit_codes == (0, -9)
    assert entry.declared is not None and set(entry.received) == set(entry.declared) and len(entry.declared) == 2
    assert "Locust exit codes [0, -9]" in lines[-1]


def test_a_worker_finds_no_run_and_says_what_to_do(tmp_path: Path) -> None:
    options = WorkerOptions(master_host="127.0.0.1", master_port=1, collector="http://127.0.0.1:9",
                            join_wait_s=0.0, history_dir=tmp_path)
    with pytest.raises(InfrastructureError, match=r"start 'orderquake run \.\.\. --remote-workers N' first"):
        run_worker(options, say=lambda line: None)
