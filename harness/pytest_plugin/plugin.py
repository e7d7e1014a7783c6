"""The pytest plugin proper (entry point ``pytest11``): options, ini keys, the marker, the fixtures.

Loading it costs nothing: no stage, no Locust, no process, until a test asks for one of the
fixtures ``orderquake_stage``, ``orderquake_faults`` or ``orderquake_load``. See the package
docstring for the settings and their precedence.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.pytest_plugin.settings import MARKER, SETTINGS, OrderquakeSettings, SettingError, Sources, StageScope
from harness.pytest_plugin.settings import check_marker as _check_marker
from harness.pytest_plugin.settings import resolve as _resolve

if TYPE_CHECKING:
    from harness.checker.model import RunVerdict
    from harness.pytest_plugin.faults import Faults
    from harness.pytest_plugin.load import LoadRun
    from harness.pytest_plugin.stages import Leased, StagePool
    from harness.stage import LocalStage

_SOURCES = pytest.StashKey[Sources]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("orderquake", "orderquake resilience checks (precedence: marker > option > env > ini)")
    for setting in SETTINGS:
        group.addoption(setting.option, dest=f"orderquake_{setting.name}", default=None, metavar=setting.name.upper(),
                        help=f"{setting.help}; overrides {setting.env} and the ini key {setting.ini}")
        parser.addini(setting.ini, f"orderquake: {setting.help}; {setting.option} and {setting.env} override it",
                      default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(target=PATH, variant=NAME, seed=N, stage='session'|'test'): settings of the orderquake "
        "fixtures for this test (they win over --orderquake-*, ORDERQUAKE_* and the ini keys); stage='test' "
        "gives the test a stage of its own instead of the session's")
    inipath = config.inipath
    sources = Sources(options={s.name: config.getoption(f"orderquake_{s.name}") for s in SETTINGS},
                      environ=dict(os.environ), ini={s.name: str(config.getini(s.ini)) for s in SETTINGS},
                      invocation_dir=config.invocation_params.dir, rootdir=config.rootpath,
                      ini_dir=inipath.parent if inipath is not None else None)
    config.stash[_SOURCES] = sources
    if sources.any_given():  # a value given for the whole session is checked at once, as pytest-timeout does
        try:
            _resolve(sources)
        except SettingError as exc:
            raise pytest.UsageError(str(exc)) from None


def _marker_settings(item: pytest.Item) -> dict[str, Any]:
    """The keywords of every ``orderquake`` marker on the test, the closest one winning per key."""
    merged: dict[str, Any] = {}
    for marker in item.iter_markers(MARKER):
        _check_marker(marker.kwargs, marker.args)
        for key, value in marker.kwargs.items():
            merged.setdefault(key, value)
    return merged


@pytest.fixture
def orderquake_settings(request: pytest.FixtureRequest) -> OrderquakeSettings:
    """The test's resolved target, variant, seed and stage scope, and where each came from. Starts nothing."""
    try:
        return _resolve(request.config.stash[_SOURCES], _marker_settings(request.node))
    except SettingError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def _orderquake_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StagePool]:
    from harness.pytest_plugin.stages import StagePool

    pool = StagePool(make_root=lambda name: tmp_path_factory.mktemp(name, numbered=True))
    yield pool
    pool.close()


@pytest.fixture
def _orderquake_leased(request: pytest.FixtureRequest, orderquake_settings: OrderquakeSettings,
                       tmp_path: Path) -> Iterator[Leased]:
    from harness.pytest_plugin.stages import start_stage

    if orderquake_settings.stage is StageScope.TEST:
        leased = start_stage(orderquake_settings, tmp_path / "stage")
        try:
            yield leased
        finally:
            leased.stage.stop()
        return
    pool: StagePool = request.getfixturevalue("_orderquake_pool")
    leased = pool.get(orderquake_settings)
    leased.stage.heal()  # whatever an earlier test left: no toxic, every process up
    yield leased


@pytest.fixture
def orderquake_stage(_orderquake_leased: Leased) -> LocalStage:
    """A running ``LocalStage`` (PostgreSQL, Toxiproxy, mock provider, the target): ``.links``,
    ``.provider_url``, ``.client_url``, ``.sut_database_url``. Shared by the session's tests with the
    same target, variant and seed, unless the test is marked ``orderquake(stage="test")``."""
    return _orderquake_leased.stage


@pytest.fixture
def orderquake_faults(orderquake_stage: LocalStage, orderquake_settings: OrderquakeSettings,
                      tmp_path: Path) -> Iterator[Faults]:
    """Faults as context managers: ``with orderquake_faults.db_outage(): ...``; healed on exit, and the
    whole stage healed after the test."""
    from harness.pytest_plugin.faults import Faults
    from harness.run.signals import shielded

    faults = Faults(orderquake_stage, seed=orderquake_settings.seed, scratch=tmp_path)
    yield faults
    if faults.applied:
        with shielded():
            faults.heal_all()


@pytest.fixture
def orderquake_load(request: pytest.FixtureRequest, _orderquake_leased: Leased, orderquake_faults: Faults,
                    orderquake_settings: OrderquakeSettings, tmp_path: Path) -> Iterator[Callable[..., LoadRun]]:
    """Load in the background: ``with orderquake_load(users=8, mix={"order": 1}, duration="12s") as load:``,
    faults inside, then ``load.verdict()``; the run directory is under ``tmp_path / "orderquake"``."""
    from harness.pytest_plugin.assertions import remember
    from harness.pytest_plugin.load import LoadRun, scenario_for
    from harness.rundir import RunDir

    runs: list[LoadRun] = []

    def judged(run: LoadRun, verdict: RunVerdict) -> None:
        remember(verdict, run.run_dir.path)
        request.node.user_properties.append(("orderquake_run_dir", str(run.run_dir.path)))
        request.node.add_report_section("call", "orderquake", f"run directory: {run.run_dir.path}\nverdict: "
                                        f"{verdict.verdict.value} ({verdict.reason or 'every checker passed'})")

    def start(*, users: int = 8, mix: Mapping[str, int] | None = None, duration: float | str = "12s",
              spawn_rate: float | None = None, duplicates: float = 0.0, request_timeout: float | str = "5s",
              recovery: float | str = "30s", slo: tuple[str, ...] = (), min_ops: int = 1) -> LoadRun:
        name = request.node.name
        scenario = scenario_for(name, seed=orderquake_settings.seed, users=users, mix=mix, duration=duration,
                                spawn_rate=spawn_rate, duplicates=duplicates, request_timeout=request_timeout,
                                recovery=recovery, slo=slo, min_ops=min_ops)
        run = LoadRun(stage=_orderquake_leased.stage, settings=orderquake_settings, scenario=scenario,
                      run_dir=RunDir.create(name, out=tmp_path / "orderquake"), faults=orderquake_faults,
                      earlier_runs=_orderquake_leased.run_ids, on_verdict=judged)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.close()
