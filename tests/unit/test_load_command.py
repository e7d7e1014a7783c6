"""The load shape is checked at the boundary, and the locust command lines honour it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness._exceptions import UsageError
from harness.load import LOCUSTFILE, LoadShape, locust_command, locust_commands

SHAPE = LoadShape(users=40, spawn_rate=20, duration_s=60, mix={"order": 8, "payout": 1, "get_order": 1},
                  duplicates=0.05, request_timeout_s=3)


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_single_process_command_honours_the_shape(tmp_path: Path) -> None:
    argv, env = locust_command(SHAPE, host="http://127.0.0.1:9000", history_dir=tmp_path / "h",
                               locust_dir=tmp_path / "l", seed=7, run_id="r1a2b")
    assert argv[:5] == [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    assert "--headless" in argv
    assert option(argv, "--users") == "40" and option(argv, "--spawn-rate") == "20"
    assert option(argv, "--run-time") == "60s"
    assert float(option(argv, "--stop-timeout")) > SHAPE.request_timeout_s
    assert option(argv, "--csv") == str(tmp_path / "l" / "locust")
    assert option(argv, "--html") == str(tmp_path / "l" / "report.html")
    assert env["ORDERQUAKE_HISTORY_DIR"] == str(tmp_path / "h")
    assert json.loads(env["ORDERQUAKE_MIX"]) == {"get_order": 1.0, "order": 8.0, "payout": 1.0}
    assert float(env["ORDERQUAKE_DUPLICATES"]) == 0.05 and float(env["ORDERQUAKE_REQUEST_TIMEOUT"]) == 3.0
    assert env["ORDERQUAKE_SEED"] == "7" and env["ORDERQUAKE_RUN_ID"] == "r1a2b"
    assert env["ORDERQUAKE_HISTORY"] == "on"


def test_workers_get_a_master_on_loopback_and_share_the_history_dir(tmp_path: Path) -> None:
    commands = locust_commands(SHAPE, host="http://127.0.0.1:9000", history_dir=tmp_path, locust_dir=tmp_path,
                               seed=1, run_id="r1", workers=3, master_port=5999)
    master, *workers = commands
    assert "--master" in master[0] and option(master[0], "--expect-workers") == "3"
    assert option(master[0], "--master-bind-host") == "127.0.0.1"
    assert len(workers) == 3
    for index, (argv, env) in enumerate(workers):
        assert "--worker" in argv and option(argv, "--master-port") == "5999"
        assert env["ORDERQUAKE_HISTORY_DIR"] == str(tmp_path) and env["ORDERQUAKE_WORKER_INDEX"] == str(index)


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("users", 0, "users=0"), ("users", 2.5, "users=2.5"), ("spawn_rate", -1, "spawn_rate=-1"),
    ("duplicates", 1.5, "duplicates=1.5"), ("request_timeout_s", 0, "request_timeout_s=0"),
    ("mix", {"order": 1, "refund": 1}, "'refund'"), ("mix", {"get_order": 1}, "reads alone"),
    ("mix", {"order": -1}, "mix.order=-1"),
])
def test_a_bad_shape_names_the_field_and_value(field: str, value: object, needle: str) -> None:
    fields: dict[str, object] = {"users": 1, "spawn_rate": 1, "duration_s": 1, field: value}
    with pytest.raises(UsageError, match=needle.replace("[", r"\[").replace(".", r"\.")):
        LoadShape(**fields)  # type: ignore[arg-type]


def test_bad_workers_and_run_ids_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="workers=-1"):
        locust_commands(SHAPE, host="h", history_dir=tmp_path, locust_dir=tmp_path, seed=1, run_id="r", workers=-1)
    with pytest.raises(UsageError, match="run_id"):
        locust_commands(SHAPE, host="h", history_dir=tmp_path, locust_dir=tmp_path, seed=1, run_id="r/1")
