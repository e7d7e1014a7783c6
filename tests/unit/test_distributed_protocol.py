"""The worker protocol's pure parts: digests count records as the manifest does, process bases keep
machines apart, addresses are checked at the boundary."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness._exceptions import UsageError
from harness.checker.integrity import measure
from harness.distributed.protocol import (
    LOCAL_VARIABLES,
    Digest,
    collector_url,
    parse_address,
    process_base,
    slot_of_file,
)
from harness.load import LoadShape, locust_commands
from harness.load.command import remote_worker_commands

_LINES = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=20)


@given(lines=_LINES, torn=st.booleans())
def test_digest_counts_records_exactly_as_the_manifest_measures_a_file(tmp_path_factory: pytest.TempPathFactory,
                                                                       lines: list[bytes], torn: bool) -> None:
    data = b"".join(line + b"\n" for line in lines)
    if torn and lines:
        data = data[:-1]  # a last line without its newline still counts
    path = tmp_path_factory.mktemp("d") / "1.jsonl"
    path.write_bytes(data)
    assert Digest.of(data) == Digest(**measure(path, digest=True))
    assert Digest.of(data).sha256 == hashlib.sha256(data).hexdigest()


def test_a_short_upload_differs_from_what_was_declared_in_count_or_digest() -> None:
    data = b'{"type": "invoke"}\n{"type": "ok"}\n'
    for cut in range(len(data)):
        assert Digest.of(data[:cut]) != Digest.of(data)


@given(slot=st.integers(0, 4095), pid=st.integers(1, (1 << 22) - 1))
def test_every_slot_owns_its_file_names_and_no_local_pid_is_a_slot(slot: int, pid: int) -> None:
    assert slot_of_file(f"{process_base(slot) + pid}.jsonl") == slot
    assert slot_of_file(f"{pid}.jsonl") is None


@pytest.mark.parametrize("name", ["../1.jsonl", "a/4194305.jsonl", "0.jsonl", "4194305.json", "x.jsonl", "",
                                  "4194305.jsonl/.."])
def test_a_name_no_slot_writes_is_refused(name: str) -> None:
    assert slot_of_file(name) is None


def test_addresses_parse_with_locusts_default_port_and_name_the_option_when_bad() -> None:
    assert parse_address("10.1.2.3:6000", what="--master") == ("10.1.2.3", 6000)
    assert parse_address("loadgen", what="--master") == ("loadgen", 5557)
    assert parse_address("[::1]:7000", what="--master") == ("::1", 7000)
    assert collector_url("10.1.2.3", 6000) == "http://10.1.2.3:6001"
    assert collector_url("::1", 7000) == "http://[::1]:7001"
    for bad in ("host:0", "host:70000", "host:x", ":5557"):
        with pytest.raises(UsageError, match=r"--master='"):
            parse_address(bad, what="--master")



def test_the_master_expects_local_and_remote_workers_and_remote_ones_get_their_slot() -> None:
    shape = LoadShape(users=4, spawn_rate=4, duration_s=5)
    commands = locust_commands(shape, host="http://127.0.0.1:1", history_dir=Path("h"), locust_dir=Path("l"),
                               seed=1, run_id="r1", workers=1, remote_workers=2, master_host="0.0.0.0",
                               master_port=6000)
    master, local = commands[0][0], commands[1][0]
    assert len(commands) == 2, "remote workers are started by orderquake worker, not by the run"
    assert master[master.index("--expect-workers") + 1] == "3"
    assert master[master.index("--master-bind-host") + 1] == "0.0.0.0"
    assert local[local.index("--master-host") + 1] == "127.0.0.1"
    shipped = {k: v for k, v in commands[0][1].items() if k not in LOCAL_VARIABLES}
    remote = remote_worker_commands(shipped, master_host="10.0.0.9", master_port=6000, history_dir=Path("/w"),
                                    slots=[(1, process_base(0)), (2, process_base(1))])
    assert [env["ORDERQUAKE_PROCESS_BASE"] for _, env in remote] == [str(process_base(0)), str(process_base(1))]
    assert all(env["ORDERQUAKE_HISTORY_DIR"] == "/w" and env["ORDERQUAKE_SEED"] == "1" for _, env in remote)
    assert remote[0][0][remote[0][0].index("--master-host") + 1] == "10.0.0.9"
