"""The plugin's settings: which target, which variant, which seed, and how long a stage lives.

Each setting is read from the first of these that gives it, and only that one is checked:

    @pytest.mark.orderquake(seed=3)       the marker closest to the test (function, class, module)
    --orderquake-seed 3                   the command line
    ORDERQUAKE_SEED=3                     the environment
    orderquake_seed = 3                   the ini file ([pytest] / [tool.pytest.ini_options])

A bad value names where it came from: ``invalid seed 'x' from --orderquake-seed: expected a whole
number of 0 or more``. A relative target path is relative to the directory pytest was started in
(command line, environment) or to the rootdir (marker, ini file). Nothing here starts a process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness._exceptions import UsageError
from harness.target import Target, load_target

MARKER = "orderquake"


class StageScope(StrEnum):
    """How long a stage lives: one for the whole session (per target, variant and seed), or one per test."""

    SESSION = "session"
    TEST = "test"


@dataclass(frozen=True)
class Setting:
    """One setting and its four spellings."""

    name: str
    help: str

    @property
    def option(self) -> str:
        return f"--orderquake-{self.name}"

    @property
    def env(self) -> str:
        return f"ORDERQUAKE_{self.name.upper()}"

    @property
    def ini(self) -> str:
        return f"orderquake_{self.name}"


SETTINGS = (
    Setting("target", "target file of the system under test (default: targets/reference.yaml)"),
    Setting("variant", "variant of the target to start, when its start argv has {variant} (default: correct)"),
    Setting("seed", "seed of the stage, the load and the faults' random choices (default: 1)"),
)
_MARKER_KEYS = (*(s.name for s in SETTINGS), "stage")


class SettingError(UsageError):
    """A setting's value is wrong; the message names the value and where it came from."""


@dataclass(frozen=True)
class Given:
    """A raw value and where it came from (``--orderquake-seed``, ``ORDERQUAKE_SEED``, ...)."""

    value: Any
    source: str
    base: Path  # what a relative path is relative to


@dataclass(frozen=True)
class Sources:
    """What the session knows before any test: command line, environment and ini values, raw."""

    options: Mapping[str, Any]
    environ: Mapping[str, str]
    ini: Mapping[str, str]
    invocation_dir: Path
    rootdir: Path
    ini_dir: Path | None = None

    def given(self, setting: Setting, marker: Mapping[str, Any]) -> Given | None:
        """The winning raw value of ``setting``: marker, option, environment, ini, in that order."""
        if setting.name in marker:
            return Given(marker[setting.name], f"marker {MARKER}({setting.name}=...)", self.rootdir)
        if self.options.get(setting.name) not in (None, ""):
            return Given(self.options[setting.name], setting.option, self.invocation_dir)
        if self.environ.get(setting.env):
            return Given(self.environ[setting.env], setting.env, self.invocation_dir)
        if self.ini.get(setting.name):
            return Given(self.ini[setting.name], f"ini {setting.ini}", self.ini_dir or self.rootdir)
        return None

    def any_given(self) -> bool:
        return any(self.given(setting, {}) is not None for setting in SETTINGS)


@dataclass(frozen=True)
class OrderquakeSettings:
    """The resolved settings of one test; ``sources`` says where each came from (``default`` if nowhere)."""

    target: Target
    target_path: Path | None  # None: the reference service
    variant: str
    seed: int
    stage: StageScope
    sources: Mapping[str, str]

    @property
    def stage_key(self) -> tuple[str, str, int]:
        """Tests whose keys are equal may share a session stage."""
        return (str(self.target_path or "reference"), self.variant, self.seed)


def _invalid(name: str, given: Given, why: str) -> SettingError:
    return SettingError(f"invalid {name} {given.value!r} from {given.source}: {why}")


def _seed(given: Given) -> int:
    value = given.value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise _invalid("seed", given, "expected a whole number of 0 or more")


def _target(given: Given) -> tuple[Path, Target]:
    if not isinstance(given.value, str | Path) or not str(given.value).strip():
        raise _invalid("target", given, "expected the path of a target file (YAML)")
    path = Path(given.value).expanduser()
    path = path if path.is_absolute() else given.base / path
    try:
        return path, load_target(path)
    except UsageError as exc:
        raise _invalid("target", given, str(exc)) from None


def _variant(given: Given, target: Target) -> str:
    if not isinstance(given.value, str) or not given.value.strip():
        raise _invalid("variant", given, "expected a variant name")
    try:
        return target.check_variant(given.value.strip())
    except UsageError as exc:
        raise _invalid("variant", given, str(exc)) from None


def _stage(marker: Mapping[str, Any]) -> StageScope:
    value = marker.get("stage", StageScope.SESSION.value)
    try:
        return StageScope(value)
    except ValueError:
        allowed = ", ".join(repr(s.value) for s in StageScope)
        raise SettingError(f"invalid stage {value!r} from marker {MARKER}(stage=...): expected one of {allowed}") \
            from None


def check_marker(kwargs: Mapping[str, Any], args: tuple[Any, ...] = ()) -> None:
    """Refuse positional arguments and unknown keywords of ``@pytest.mark.orderquake``."""
    if args:
        raise SettingError(f"invalid marker {MARKER}{args!r}: expected keywords only, as in "
                           f"{MARKER}(target=..., variant=..., seed=..., stage='test')")
    for key in kwargs:
        if key not in _MARKER_KEYS:
            raise SettingError(f"invalid marker {MARKER}({key}=...): unknown keyword; expected one of "
                               f"{', '.join(_MARKER_KEYS)}")


def resolve(sources: Sources, marker: Mapping[str, Any] | None = None) -> OrderquakeSettings:
    """The settings of one test from its merged marker keywords and the session's sources.

    >>> resolve(Sources({}, {"ORDERQUAKE_SEED": "4"}, {}, Path("."), Path("."))).seed  # doctest: +SKIP
    4
    """
    marker = marker or {}
    check_marker(marker)
    found = {setting.name: sources.given(setting, marker) for setting in SETTINGS}
    target_path, target = (None, load_target(None)) if found["target"] is None else _target(found["target"])
    variant = "correct" if found["variant"] is None else _variant(found["variant"], target)
    seed = 1 if found["seed"] is None else _seed(found["seed"])
    origin = {name: given.source if given is not None else "default" for name, given in found.items()}
    origin["stage"] = f"marker {MARKER}(stage=...)" if "stage" in marker else "default"
    return OrderquakeSettings(target=target, target_path=target_path, variant=variant, seed=seed,
                              stage=_stage(marker), sources=origin)
