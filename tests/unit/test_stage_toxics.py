import pytest

from harness._exceptions import UsageError
from harness.stage import check_loopback
from harness.stage.toxics import ToxicKind, validate_toxic


def test_every_attribute_is_filled_and_durations_become_milliseconds() -> None:
    assert validate_toxic("latency", {"latency": "1.5s"}) == {"latency": 1500, "jitter": 0}
    assert validate_toxic(ToxicKind.SLICER, {}) == {"average_size": 64, "size_variation": 32, "delay": 0}
    assert validate_toxic("limit_data", {"bytes": "2048"}) == {"bytes": 2048}


@pytest.mark.parametrize("kind, attributes, message", [
    ("latency", {"latncy": 300}, "expected latency, jitter"),
    ("bandwidth", {"rate": -1}, "zero or more"),
    ("bandwidth", {"rate": "fast"}, "whole number"),
    ("earthquake", {}, "expected one of latency"),
    ("timeout", {"timeout": "soon"}, "timeout"),
    ("slicer", {"average_size": 10}, r"size_variation \(32\) must be smaller"),
])
def test_bad_attributes_are_refused_with_what_is_allowed(kind: str, attributes: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        validate_toxic(kind, attributes)


def test_loopback_guard() -> None:
    check_loopback("127.0.0.1:5432", allow_remote=False, what="db")
    check_loopback("[::1]:5432", allow_remote=False, what="db")
    check_loopback("localhost:80", allow_remote=False, what="db")
    with pytest.raises(UsageError, match="--allow-remote"):
        check_loopback("10.0.0.5:5432", allow_remote=False, what="db")
    check_loopback("10.0.0.5:5432", allow_remote=True, what="db")
