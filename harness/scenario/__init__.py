"""The scenario model: load shape, fault schedule, nemesis, recovery, SLOs, as checked frozen data.

``load_scenario(path, overrides=Overrides(seed=3))`` reads and checks a file (errors carry the
file, line and field); ``scenario.schedule()`` is the full fault list with the nemesis drawn;
``scenario.to_yaml()`` is the resolved file kept in the run directory.
"""

from harness.scenario.loader import VARIANTS, Overrides, load_scenario, parse_scenario
from harness.scenario.model import LoadProfile, Nemesis, NemesisChoice, Operation, Scenario, ScheduledFault
from harness.scenario.nemesis import expand
from harness.scenario.slo import Metric, Op, SloRule

__all__ = ["VARIANTS", "LoadProfile", "Metric", "Nemesis", "NemesisChoice", "Op", "Operation", "Overrides",
           "Scenario", "ScheduledFault", "SloRule", "expand", "load_scenario", "parse_scenario"]
