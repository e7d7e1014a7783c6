from harness.run.metrics import client_metrics


def _op(process: int, oid: str, t0_ms: float, t1_ms: float, outcome: str, wall: float) -> list[dict]:
    base = {"process": process, "op": "order", "id": oid, "attempt": 1}
    return [{**base, "type": "invoke", "time": int(t0_ms * 1e6), "wall": wall},
            {**base, "type": outcome, "time": int(t1_ms * 1e6), "wall": wall + (t1_ms - t0_ms) / 1000}]


def test_latency_percentiles_and_rates_from_paired_events() -> None:
    events = []
    for i in range(100):
        events += _op(1, f"o{i}", 0, i + 1, "ok", 1000.0 + i / 50)
    events += _op(2, "bad", 0, 5, "fail", 1000.5)
    events += _op(2, "timeout", 0, 5000, "info", 1001.0)
    events.append({"process": 3, "op": "order", "id": "cut", "attempt": 1, "type": "invoke", "time": 0,
                   "wall": 1001.5})
    metrics = client_metrics(events, load_seconds=2.0, origin_wall=1000.0)
    assert (metrics.ok, metrics.fail, metrics.info) == (100, 1, 2)
    assert metrics.completed == 103
    assert metrics.p50_ms == 50.0
    assert metrics.p99_ms == 99.0
    assert metrics.error_rate == round(3 / 103, 6)
    assert metrics.rps == 51.5
    assert [b["t"] for b in metrics.timeline] == [0, 1]
    assert sum(b["ok"] for b in metrics.timeline) == 100


def test_info_latencies_do_not_enter_percentiles() -> None:
    events = _op(1, "a", 0, 10, "ok", 10.0) + _op(1, "b", 0, 60_000, "info", 10.0)
    metrics = client_metrics(events, load_seconds=1.0, origin_wall=10.0)
    assert metrics.p99_ms == 10.0
    assert metrics.observed(3.5)["recovery"] == 3.5
