"""What every fault is: a name, validated parameters, ``apply`` and an idempotent ``heal``.

A fault class declares its parameters as ``Param``s (name, help, parser, default); the scenario
loader checks a scenario's fault entries against them before anything starts, and
``orderquake faults`` prints them. ``heal`` must be safe after a failed, partial or repeated
``apply``: the scheduler heals every fault it tried to apply, whatever happened, and the stage's
own ``heal()`` runs after that as the last word.
"""

from __future__ import annotations

import json
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from harness._exceptions import UsageError

if TYPE_CHECKING:
    from harness.stage.protocol import Stage
    from harness.target import Target


class _Required:
    """Marks a parameter without a default: the scenario must give it."""

    def __repr__(self) -> str:
        return "required"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Param:
    """One parameter of a fault: ``parse`` turns the raw YAML value into the typed one or raises UsageError."""

    name: str
    help: str
    parse: Callable[[object], Any]
    default: Any = REQUIRED
    choices: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class FaultContext:
    """Everything a fault may touch while the run is on.

    ``stage`` gives Toxiproxy, PostgreSQL, the components and the direct URLs; ``target`` the
    SUT's SQL for the faults that read its state; ``rng`` is the run's seeded RNG, so that a
    fault's random choices replay with the seed; ``run_dir`` is where a fault writes its own
    journal (``forged.jsonl``). The scheduler journals start and heal in ``faults.jsonl``.
    """

    stage: Stage
    target: Target
    run_dir: Path
    rng: random.Random
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def append_jsonl(self, name: str, record: Mapping[str, Any]) -> None:
        """Append one JSON line to ``run_dir/name``; safe from several fault threads at once."""
        line = json.dumps(record, sort_keys=False) + "\n"
        with self._lock, (self.run_dir / name).open("a") as out:
            out.write(line)


class Fault(ABC):
    """One fault of the catalogue. Subclasses set ``kind``, ``summary`` and ``params``."""

    kind: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    dialects: ClassVar[tuple[str, ...]] = ("native", "stripe")  # the provider dialects it can be expressed in

    def __init__(self, name: str, params: Mapping[str, Any]) -> None:
        self.name = name
        self.values = self.parse_params(params)

    @classmethod
    def param(cls, name: str) -> Param:
        for candidate in cls.params:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    @classmethod
    def parse_params(cls, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Typed, complete parameters from ``raw``; UsageError names the first bad or unknown one.

        The error's ``param`` attribute names the parameter, so the scenario loader can point at
        its line.
        """
        known = {p.name: p for p in cls.params}
        for name in raw:
            if name not in known:
                allowed = ", ".join(known) or "none"
                raise ParamError(name, f"unknown parameter for fault {cls.kind}: expected one of {allowed}")
        values: dict[str, Any] = {}
        for param in cls.params:
            if param.name not in raw:
                if param.required:
                    raise ParamError(param.name, f"fault {cls.kind} needs {param.name} ({param.help})")
                values[param.name] = param.default
                continue
            try:
                values[param.name] = param.parse(raw[param.name])
            except UsageError as exc:
                raise ParamError(param.name, str(exc)) from None
        return values

    @abstractmethod
    def apply(self, ctx: FaultContext) -> None:
        """Inject the fault."""

    @abstractmethod
    def heal(self, ctx: FaultContext) -> None:
        """Undo the fault; safe after a failed, partial or repeated apply."""


class ParamError(UsageError):
    """A fault parameter is wrong; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)


# ---- parsers shared by the catalogue ---------------------------------------------------------


def choice(*allowed: str) -> Callable[[object], str]:
    """A parser accepting one of ``allowed``."""

    def parse(value: object) -> str:
        if value not in allowed:
            raise UsageError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return str(value)

    return parse


def whole(minimum: int = 0, maximum: int | None = None) -> Callable[[object], int]:
    """A parser accepting a whole number within bounds."""

    def parse(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"expected a whole number, got {value!r} ({type(value).__name__})")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"from {minimum} to {maximum}" if maximum is not None else f"of {minimum} or more"
            raise UsageError(f"expected a whole number {bound}, got {value}")
        return value

    return parse


class RoundsFault(Fault):
    """A fault that acts in rounds on a thread of its own while active (``every`` seconds apart):
    ``round(ctx, http)`` does one, with one HTTP client for the whole fault."""

    _stop: threading.Event | None = None
    _thread: threading.Thread | None = None

    @abstractmethod
    def round(self, ctx: FaultContext, http: httpx.Client) -> object:
        """One round of the fault; exposed so that a test can run exactly one."""

    def apply(self, ctx: FaultContext) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(ctx, self._stop), name=f"fault-{self.name}",
                                        daemon=True)
        self._thread.start()

    def heal(self, ctx: FaultContext) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self, ctx: FaultContext, stop: threading.Event) -> None:
        with httpx.Client(timeout=3.0) as http:
            while not stop.is_set():
                self.round(ctx, http)
                stop.wait(max(0.05, self.values["every"]))
