"""``orderquake_faults``: the fault catalogue as context managers that heal however the block ends.

    with orderquake_faults.db_outage():
        load.wait_until(8)
    with orderquake_faults.latency("provider", 300, jitter=50):
        ...
    with orderquake_faults.inject("callback_drop", rate=0.5):
        ...

A fault is applied on enter and healed on exit, also when the block raises or the apply failed
half-way (every fault's ``heal`` is safe then). Inside an ``orderquake_load`` run, each start and
heal is journaled in that run's ``faults.jsonl`` as the runner's scheduler does, so the verdict is
``unknown`` when a fault failed to apply or heal.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.faults import FaultContext, make_fault

if TYPE_CHECKING:
    from harness.stage import LocalStage


class FaultJournal(Protocol):
    """Where a fault's start and heal are recorded: the load run it happened in."""

    @property
    def scratch(self) -> Path: ...

    def record_fault(self, name: str, kind: str, params: Mapping[str, Any], phase: str, error: str | None) -> None: ...


class Faults:
    """Faults on one stage; ``journal`` is the load run in progress, if any."""

    def __init__(self, stage: LocalStage, *, seed: int, scratch: Path) -> None:
        self.stage = stage
        self.journal: FaultJournal | None = None
        self.applied = 0
        self._rng = random.Random(seed)
        self._scratch = scratch

    def _context(self) -> FaultContext:
        run_dir = self.journal.scratch if self.journal is not None else self._scratch
        return FaultContext(stage=self.stage, target=self.stage.target, run_dir=run_dir, rng=self._rng)

    def _record(self, name: str, kind: str, params: Mapping[str, Any], phase: str, error: BaseException | None
                ) -> None:
        if self.journal is not None:
            why = None if error is None else f"{type(error).__name__}: {error}"
            self.journal.record_fault(name, kind, params, phase, why)

    @contextmanager
    def inject(self, kind: str, *, name: str | None = None, **params: Any) -> Iterator[None]:
        """Any fault of the catalogue (``orderquake faults`` lists them) with its parameters.

        >>> with orderquake_faults.inject("reset_peer", link="db", timeout=0):  # doctest: +SKIP
        ...     load.wait_until(6)
        """
        self.applied += 1
        name = name or f"f{self.applied}-{kind}"
        fault = make_fault(name, kind, params)  # a bad kind or parameter is refused before anything changes
        ctx = self._context()
        try:
            try:
                fault.apply(ctx)
            except Exception as exc:
                self._record(name, kind, params, "start", exc)
                raise
            self._record(name, kind, params, "start", None)
            yield
        finally:
            try:
                fault.heal(ctx)
            except Exception as exc:
                self._record(name, kind, params, "heal", exc)
                raise
            self._record(name, kind, params, "heal", None)

    def db_outage(self) -> Any:
        """PostgreSQL stopped at once (immediate shutdown) and started again on exit."""
        return self.inject("db_outage")

    def latency(self, link: str, ms: int | str, *, jitter: int | str = 0, **params: Any) -> Any:
        """Every chunk on ``link`` (client, provider, callbacks, db) delayed by ``ms`` +/- ``jitter``."""
        return self.inject("latency", link=link, latency=ms, jitter=jitter, **params)

    def heal_all(self) -> None:
        """The stage's own heal: every toxic removed, every process up (the last word after a test)."""
        self.stage.heal()
