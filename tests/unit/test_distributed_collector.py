"""The collector's side of the protocol: slots, verified uploads, the journal; first as plain calls,
then over a real loopback socket with the worker's own client, where a sender that goes away
mid-file leaves a short upload that is refused and journaled."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import pytest

from harness._exceptions import InfrastructureError
from harness.distributed import Collector, CollectorClient, CollectorConfig, CollectorState, Digest
from harness.distributed.protocol import RECORDS_HEADER, SHA256_HEADER, process_base

HISTORY = b'{"type": "invoke", "id": "a"}\n{"type": "ok", "id": "a"}\n'
ENV = {"ORDERQUAKE_RUN_ID": "r1", "ORDERQUAKE_SEED": "7", "ORDERQUAKE_HISTORY_DIR": "/run/history",
       "ORDERQUAKE_MIX": '{"order": 1}'}


def _state(tmp_path: Path, *, expected: int = 2, local: int = 0) -> CollectorState:
    config = CollectorConfig(run_id="r1", env=ENV, expected=expected, local=local)
    return CollectorState(config, history_dir=tmp_path / "history", rejected_dir=tmp_path / "workers",
                          clock=lambda: 1000.0)


def _name(slot: int, pid: int = 4242) -> str:
    return f"{process_base(slot) + pid}.jsonl"


def test_the_run_ships_its_variables_but_never_its_own_history_folder(tmp_path: Path) -> None:
    status, info = _state(tmp_path).run_info()
    assert status is HTTPStatus.OK and info["protocol"] == 1 and info["expected"] == 2
    assert "ORDERQUAKE_HISTORY_DIR" not in info["env"] and info["env"]["ORDERQUAKE_SEED"] == "7"


def test_slots_follow_the_local_workers_and_no_more_are_given_than_expected(tmp_path: Path) -> None:
    state = _state(tmp_path, expected=3, local=2)
    status, first = state.join({"processes": 2, "host": "a"})
    assert status is HTTPStatus.OK and first["worker"] == "w1"
    assert [s["worker_index"] for s in first["slots"]] == [2, 3]
    assert [s["process_base"] for s in first["slots"]] == [process_base(0), process_base(1)]
    status, refused = state.join({"processes": 2, "host": "b"})
    assert status is HTTPStatus.CONFLICT and "1 slot(s) are free" in refused["error"]
    assert state.join({"processes": 0})[0] is HTTPStatus.BAD_REQUEST
    assert state.join({"processes": True})[0] is HTTPStatus.BAD_REQUEST
    assert state.join({"processes": 1, "host": "b"})[0] is HTTPStatus.OK
    assert state.slots_joined == 3


def test_an_upload_is_kept_only_when_it_is_what_the_worker_declared(tmp_path: Path) -> None:
    state = _state(tmp_path)
    state.join({"processes": 2, "host": "a"})
    good, short = _name(0), _name(1)
    assert state.receive("w1", good, HISTORY, Digest.of(HISTORY))[0] is HTTPStatus.CREATED
    status, answer = state.receive("w1", short, HISTORY[:-9], Digest.of(HISTORY))
    assert status is HTTPStatus.UNPROCESSABLE_ENTITY and "2 records" in answer["error"]
    assert (tmp_path / "history" / good).read_bytes() == HISTORY
    assert not (tmp_path / "history" / short).exists(), "a short upload never reaches the judged history"
    assert (tmp_path / "workers" / "w1" / short).read_bytes() == HISTORY[:-9]
    assert state.receive("w1", _name(1), HISTORY, None)[0] is HTTPStatus.UNPROCESSABLE_ENTITY
    assert state.receive("w1", "4242.jsonl", HISTORY, Digest.of(HISTORY))[0] is HTTPStatus.BAD_REQUEST
    assert state.receive("w9", good, HISTORY, Digest.of(HISTORY))[0] is HTTPStatus.NOT_FOUND

    status, done = state.done("w1", {"files": {good: Digest.of(HISTORY).to_json(),
                                               short: Digest.of(HISTORY).to_json()}, "exit_codes": [0, 0]})
    assert status is HTTPStatus.OK and done["missing"] == [short]
    journal = state.close()
    entry = journal.workers[0]
    assert set(entry.received) == {good} and set(entry.rejected) == {short} and entry.exit_codes == (0, 0)
    assert entry.declared is not None and set(entry.declared) == {good, short}


def test_after_the_window_closes_nothing_is_taken(tmp_path: Path) -> None:
    state = _state(tmp_path)
    state.join({"processes": 1})
    journal = state.close()
    assert journal.closed_wall == 1000.0 and journal.workers[0].declared is None
    assert state.receive("w1", _name(0), HISTORY, Digest.of(HISTORY))[0] is HTTPStatus.GONE
    assert state.join({"processes": 1})[0] is HTTPStatus.GONE
    assert not (tmp_path / "history").exists()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Collector]:
    collector = Collector.start(_state(tmp_path, expected=1), host="127.0.0.1", port=0)
    yield collector
    collector.close()


def test_over_http_the_worker_client_joins_uploads_and_declares(served: Collector, tmp_path: Path) -> None:
    client = CollectorClient(f"http://127.0.0.1:{served.port}")
    try:
        info = client.run_info(1.0)
        joined = client.join(1, info)
        assert joined.worker == "w1" and joined.slots == ((0, process_base(0)),)
        assert joined.env["ORDERQUAKE_RUN_ID"] == "r1" and "ORDERQUAKE_HISTORY_DIR" not in joined.env
        path = tmp_path / "out" / _name(0)
        path.parent.mkdir()
        path.write_bytes(HISTORY)
        assert client.upload("w1", path)[0]
        assert client.done("w1", {path.name: Digest.of(HISTORY)}, [0]) == []
    finally:
        client.close()
    assert served.wait_for_uploads(1.0)
    assert (tmp_path / "history" / path.name).read_bytes() == HISTORY


def test_a_sender_that_goes_away_mid_file_leaves_a_refused_short_upload(served: Collector, tmp_path: Path) -> None:
    served.state.join({"processes": 1})
    declared = Digest.of(HISTORY)
    head = (f"PUT /v1/history/w1/{_name(0)} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(HISTORY)}\r\n"
            f"{RECORDS_HEADER}: {declared.records}\r\n{SHA256_HEADER}: {declared.sha256}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(head + HISTORY[:20])
        sock.shutdown(socket.SHUT_WR)  # the worker died: the rest never comes
        sock.settimeout(5)
        answer = sock.recv(4096)
    assert b" 422 " in answer.split(b"\r\n", 1)[0]
    entry = served.close().workers[0]
    assert _name(0) in entry.rejected and "short or damaged" in entry.rejected[_name(0)]
    assert not (tmp_path / "history" / _name(0)).exists()


def test_the_run_gives_up_waiting_for_workers_that_never_join(served: Collector) -> None:
    ticks = iter(range(100))
    with pytest.raises(InfrastructureError, match=r"0 of 1 remote Locust worker\(s\) joined within 3 s"):
        served.wait_for_joins(3.0, clock=lambda: float(next(ticks)))


def test_the_upload_window_waits_only_for_workers_that_joined(served: Collector) -> None:
    assert served.wait_for_uploads(0.0), "nobody joined: nothing to wait for"
    served.state.join({"processes": 1})
    ticks = iter(range(100))
    assert not served.wait_for_uploads(2.0, clock=lambda: float(next(ticks)))
