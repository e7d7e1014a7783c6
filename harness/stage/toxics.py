"""Toxiproxy's toxics as a closed set, with their attributes checked on our side.

Toxiproxy silently ignores a misspelled attribute (``latncy: 300`` adds a toxic with latency 0),
so every attribute is validated here against the kind's schema before it is sent: the name must
be known, the value a whole number within range. Units follow Toxiproxy: milliseconds, except
``bandwidth.rate`` (KB/s), ``slicer`` sizes (bytes) and ``slicer.delay`` (microseconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from harness._exceptions import UsageError
from harness._units import parse_milliseconds


class ToxicKind(StrEnum):
    LATENCY = "latency"
    BANDWIDTH = "bandwidth"
    SLOW_CLOSE = "slow_close"
    TIMEOUT = "timeout"
    RESET_PEER = "reset_peer"
    SLICER = "slicer"
    LIMIT_DATA = "limit_data"


class Stream(StrEnum):
    UPSTREAM = "upstream"      # client to server
    DOWNSTREAM = "downstream"  # server to client


@dataclass(frozen=True)
class Attribute:
    name: str
    help: str
    default: int
    duration: bool = False  # accepts "300ms" / "1.5s" and converts to milliseconds


SCHEMA: dict[ToxicKind, tuple[Attribute, ...]] = {
    ToxicKind.LATENCY: (Attribute("latency", "added delay (ms)", 0, True),
                        Attribute("jitter", "random +/- delay (ms)", 0, True)),
    ToxicKind.BANDWIDTH: (Attribute("rate", "KB/s allowed through", 0),),
    ToxicKind.SLOW_CLOSE: (Attribute("delay", "delay before the connection closes (ms)", 0, True),),
    ToxicKind.TIMEOUT: (Attribute("timeout", "close after this long with no data passing (ms); 0 hangs forever",
                                  0, True),),
    ToxicKind.RESET_PEER: (Attribute("timeout", "reset the connection (TCP RST) after this long (ms)", 0, True),),
    ToxicKind.SLICER: (Attribute("average_size", "average packet size (bytes)", 64),
                       Attribute("size_variation", "size variation (bytes)", 32),
                       Attribute("delay", "delay between packets (microseconds)", 0)),
    ToxicKind.LIMIT_DATA: (Attribute("bytes", "close the connection after this many bytes", 0),),
}


def toxic_kind(value: str) -> ToxicKind:
    try:
        return ToxicKind(value)
    except ValueError:
        raise UsageError(f"unknown toxic kind {value!r}: expected one of "
                         f"{', '.join(k.value for k in ToxicKind)}") from None


def stream(value: str) -> Stream:
    try:
        return Stream(value)
    except ValueError:
        raise UsageError(f"unknown stream {value!r}: expected upstream or downstream") from None


def validate_toxic(kind: ToxicKind | str, attributes: Mapping[str, Any]) -> dict[str, int]:
    """Check ``attributes`` against ``kind``'s schema; return them complete, as Toxiproxy wants them.

    >>> validate_toxic("latency", {"latency": "300ms"})
    {'latency': 300, 'jitter': 0}
    """
    kind = toxic_kind(kind) if isinstance(kind, str) else kind
    schema = {a.name: a for a in SCHEMA[kind]}
    unknown = sorted(set(attributes) - set(schema))
    if unknown:
        raise UsageError(f"unknown attribute(s) {', '.join(unknown)} for toxic {kind.value}: expected "
                         f"{', '.join(schema) or 'none'}")
    result = {}
    for name, attribute in schema.items():
        raw = attributes.get(name, attribute.default)
        if attribute.duration:
            value = parse_milliseconds(raw, name=name)
        elif isinstance(raw, bool) or not isinstance(raw, int | str):
            raise UsageError(f"{kind.value}.{name}: expected a whole number, got {raw!r}")
        else:
            try:
                value = int(raw)
            except ValueError:
                raise UsageError(f"{kind.value}.{name}: expected a whole number, got {raw!r}") from None
        if value < 0:
            raise UsageError(f"{kind.value}.{name}: expected zero or more, got {value}")
        result[name] = int(value)
    if kind is ToxicKind.SLICER and result["size_variation"] >= max(result["average_size"], 1):
        # Toxiproxy would cut empty or negative-sized chunks; it accepts the toxic without a word.
        raise UsageError(f"slicer.size_variation ({result['size_variation']}) must be smaller than "
                         f"slicer.average_size ({result['average_size']}); give both, e.g. "
                         "--average-size 10 --size-variation 5")
    return result
