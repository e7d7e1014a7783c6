"""Toxiproxy faults: every toxic kind on any link and direction, and a link taken down.

The toxic's attributes, their units and their checks come from ``harness.stage.toxics`` (one
schema, used by ``orderquake fault add`` too); a fault adds the link, the direction and the
toxicity. The toxic is named after the scheduled fault, so two faults on one link never collide
and ``heal`` removes exactly its own.
"""

from __future__ import annotations

from typing import ClassVar

from harness._units import parse_fraction
from harness.faults.base import Fault, FaultContext, Param, choice
from harness.stage.local import LINKS
from harness.stage.toxics import SCHEMA, Stream, ToxicKind, validate_toxic

_LINK = Param("link", "the Toxiproxy link: " + ", ".join(LINKS), choice(*LINKS), choices=LINKS)


def _attribute_parser(kind: ToxicKind, name: str) -> Param:
    attribute = next(a for a in SCHEMA[kind] if a.name == name)

    def parse(value: object) -> int:
        return validate_toxic(kind, {name: value})[name]

    return Param(name, attribute.help, parse, default=attribute.default)


def _toxic_params(kind: ToxicKind) -> tuple[Param, ...]:
    streams = tuple(s.value for s in Stream)
    return (_LINK,
            Param("stream", "direction: upstream (to the server) or downstream (to the client)",
                  choice(*streams), default=Stream.DOWNSTREAM.value, choices=streams),
            Param("toxicity", "fraction of connections affected", lambda v: parse_fraction(v, name="toxicity"),
                  default=1.0),
            *(_attribute_parser(kind, a.name) for a in SCHEMA[kind]))


def _toxic_exists(ctx: FaultContext, link: str, name: str) -> bool:
    return any(t.name == name for t in ctx.stage.toxiproxy.proxy(link).toxics)


class ToxicFault(Fault):
    """A Toxiproxy toxic on one link; subclasses only say which kind."""

    toxic: ClassVar[ToxicKind]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.kind = cls.toxic.value
        cls.params = _toxic_params(cls.toxic)

    def apply(self, ctx: FaultContext) -> None:
        attributes = {a.name: self.values[a.name] for a in SCHEMA[self.toxic]}
        ctx.stage.toxiproxy.add_toxic(self.values["link"], self.toxic, name=self.name, stream=self.values["stream"],
                                      toxicity=self.values["toxicity"], attributes=attributes)

    def heal(self, ctx: FaultContext) -> None:
        if _toxic_exists(ctx, self.values["link"], self.name):
            ctx.stage.toxiproxy.remove_toxic(self.values["link"], self.name)


class Latency(ToxicFault):
    toxic = ToxicKind.LATENCY
    summary = "delay every chunk of data by latency +/- jitter"


class Bandwidth(ToxicFault):
    toxic = ToxicKind.BANDWIDTH
    summary = "limit the link to rate KB/s"


class SlowClose(ToxicFault):
    toxic = ToxicKind.SLOW_CLOSE
    summary = "delay the closing of connections"


class Timeout(ToxicFault):
    toxic = ToxicKind.TIMEOUT
    summary = "stop all data and close after timeout ms (0: hang until healed)"


class ResetPeer(ToxicFault):
    toxic = ToxicKind.RESET_PEER
    summary = "reset connections (TCP RST) after timeout ms"


class Slicer(ToxicFault):
    toxic = ToxicKind.SLICER
    summary = "slice data into small packets with delays between them"


class LimitData(ToxicFault):
    toxic = ToxicKind.LIMIT_DATA
    summary = "close connections after bytes of data"


class LinkDown(Fault):
    """The link refuses every connection and drops the open ones, as a pulled cable would."""

    kind = "down"
    summary = "disable the link: connections refused and the open ones closed"
    params = (_LINK,)

    def apply(self, ctx: FaultContext) -> None:
        ctx.stage.toxiproxy.set_enabled(self.values["link"], False)

    def heal(self, ctx: FaultContext) -> None:
        ctx.stage.toxiproxy.set_enabled(self.values["link"], True)


TOXIC_FAULTS: tuple[type[ToxicFault], ...] = (Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData)
