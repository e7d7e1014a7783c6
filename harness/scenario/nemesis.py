"""The nemesis: a random fault schedule drawn from the catalogue, replayed exactly by its seed.

The draw is a pure function of (nemesis, run duration): an RNG of its own, seeded from the
nemesis seed alone, so the same seed and duration give the same schedule on any machine and
whatever the load did. Two faults that act on the same thing (the same kind; PostgreSQL's two
faults) never overlap, so each heal restores what its own apply changed.
"""

from __future__ import annotations

import random

from harness.faults import fault_class
from harness.scenario.model import Nemesis, ScheduledFault
from harness.stage.local import LINKS

_SHARED_RESOURCE = {"db_outage": "postgres", "db_kill": "postgres"}
_SHORTEST_SPAN = 1.0


def _resource(kind: str) -> str:
    return _SHARED_RESOURCE.get(kind, kind)


def expand(nemesis: Nemesis, duration: float) -> tuple[ScheduledFault, ...]:
    """The faults the nemesis draws for a load phase of ``duration`` seconds.

    >>> from harness.scenario.model import NemesisChoice
    >>> n = Nemesis(seed=1, interval=10, span=5, kinds=(NemesisChoice("db_outage"),))
    >>> expand(n, 30) == expand(n, 30)
    True
    """
    rng = random.Random(f"orderquake-nemesis-{nemesis.seed}")
    drawn: list[ScheduledFault] = []
    t = nemesis.start
    while True:
        t += rng.uniform(0.5, 1.5) * nemesis.interval
        span = min(rng.uniform(0.5, 1.5) * nemesis.span, duration - t)
        if span < _SHORTEST_SPAN:
            break
        active = [f for f in drawn if f.at + (f.duration or 0) > t]
        busy = {_resource(f.kind) for f in active}
        choices = [c for c in nemesis.kinds if _resource(c.kind) not in busy]
        if len(active) >= nemesis.max_concurrent or not choices:
            continue
        choice = choices[rng.randrange(len(choices))]
        params = dict(choice.params)
        if "link" not in params and any(p.name == "link" for p in fault_class(choice.kind).params):
            params["link"] = LINKS[rng.randrange(len(LINKS))]
        at = round(t, 3)
        drawn.append(ScheduledFault(name=f"nemesis-{len(drawn) + 1}-{choice.kind}", kind=choice.kind, at=at,
                                    duration=round(span, 3), params=fault_class(choice.kind).parse_params(params)))
    return tuple(drawn)
