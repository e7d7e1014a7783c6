"""Parsing of durations, sizes and rates as users write them in scenario files and options.

>>> parse_duration("800ms")
0.8
>>> parse_duration("1m30s")
90.0
"""

from __future__ import annotations

import re

from harness._exceptions import UsageError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object, *, name: str = "duration") -> float:
    """Seconds from ``"15s"``, ``"800ms"``, ``"1m30s"``, or a bare number of seconds.

    Raises UsageError naming ``name`` and the bad value for anything else, negatives included.
    """
    if isinstance(value, bool):
        raise UsageError(f"expected a duration like '15s' or '800ms', got {name}={value!r} (bool)")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION_PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise UsageError(
                    f"expected a duration like '15s', '800ms' or '1m30s', got {name}={value!r}"
                ) from None
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise UsageError(
            f"expected a duration like '15s' or '800ms', got {name}={value!r} ({type(value).__name__})"
        )
    if seconds < 0:
        raise UsageError(f"expected a duration of zero or more, got {name}={value!r}")
    return seconds


def parse_milliseconds(value: object, *, name: str = "duration") -> int:
    """Whole milliseconds from a duration; a bare number means milliseconds here (Toxiproxy's unit)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise UsageError(f"expected milliseconds of zero or more, got {name}={value!r}")
        return int(value)
    return round(parse_duration(value, name=name) * 1000)


def parse_fraction(value: object, *, name: str = "fraction") -> float:
    """A probability in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UsageError(f"expected a number from 0 to 1, got {name}={value!r} ({type(value).__name__})")
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"expected a number from 0 to 1, got {name}={value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise UsageError(f"expected a number from 0 to 1, got {name}={value!r}")
    return number


def format_duration(seconds: float) -> str:
    """The short human form used in tables: ``1.5s``, ``250ms``, ``2m05s``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"
