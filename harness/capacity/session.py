"""``orderquake capacity`` as a library call: the series (without and with the compared fault), then the outputs.

    >>> outcome = capacity(CapacityRequest(scenario=Path("scenarios/smoke.yaml"), rates=(20, 40, 80)))  # doctest: +SKIP
    >>> outcome.series[0].knee.rate  # doctest: +SKIP
    80.0

The capacity directory is ``<out or runs>/<UTC time>-capacity-<scenario>/``: ``capacity.json``,
``junit.xml``, ``report.html``, and one ordinary run directory per series.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness._exceptions import ExitCode
from harness._paths import PROJECT_ROOT
from harness.capacity.output import capacity_json, junit
from harness.capacity.plan import CapacityRequest
from harness.capacity.runner import Echo, Series, run_series
from harness.checker.model import Verdict
from harness.rundir import RunDir
from harness.scenario import Overrides, load_scenario
from harness.target import load_target


@dataclass(frozen=True)
class CapacityOutcome:
    path: Path
    series: tuple[Series, ...]
    exit_code: int

    @property
    def json_path(self) -> Path:
        return self.path / "capacity.json"

    @property
    def report(self) -> Path:
        return self.path / "report.html"


def _exit_code(series: tuple[Series, ...], min_knee: float | None) -> int:
    if any(s.verdict.interrupted for s in series):
        return int(ExitCode.INTERRUPTED)
    if any(s.verdict.error_exit_code is not None for s in series):
        return int(ExitCode.INFRASTRUCTURE)
    if min_knee is not None and any(s.knee.rate is None or s.knee.rate < min_knee for s in series[:1]):
        return int(ExitCode.VIOLATION)
    if any(s.verdict.verdict is Verdict.UNKNOWN and not s.steps for s in series):
        return int(ExitCode.INFRASTRUCTURE)
    return int(ExitCode.PASS)


def capacity(request: CapacityRequest, *, min_knee: float | None = None, echo: Echo | None = None,
             now: datetime | None = None) -> CapacityOutcome:
    """Run every series of ``request`` and write ``capacity.json``, ``junit.xml`` and ``report.html``.

    ``min_knee`` (the CI gate) applies to the first series, the one without the compared fault.
    """
    scenario = load_scenario(request.scenario, overrides=Overrides(seed=request.seed))
    target = load_target(request.target)
    variant = target.check_variant(request.variant)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    path = (request.out if request.out is not None else PROJECT_ROOT / "runs") / f"{stamp}-capacity-{scenario.name}"
    path.mkdir(parents=True, exist_ok=True)
    say = echo or (lambda line: None if request.quiet else print(line, file=sys.stderr, flush=True))
    plans = [("baseline", request.faults)]
    if request.compare_fault is not None:
        plans.append(("fault", (*request.faults, request.compare_fault)))
    series: list[Series] = []
    for name, faults in plans:
        one = run_series(name, scenario, target, variant, request, faults, path, say)
        series.append(one)
        if one.verdict.interrupted:
            break
    done = tuple(series)
    payload = capacity_json(done, scenario=scenario.name, target=target.name, variant=variant, rates=request.rates,
                            step_seconds=request.step_seconds, min_knee=min_knee)
    RunDir(path).write_json(path / "capacity.json", payload)
    junit(done, path / "junit.xml", min_knee=min_knee, report=str(path / "report.html"))
    # Imported here: the report reads the fit with harness.capacity.usl, whose package imports this module.
    from harness.report.capacity import write_capacity_html

    write_capacity_html(path)
    return CapacityOutcome(path=path, series=done, exit_code=_exit_code(done, min_knee))
