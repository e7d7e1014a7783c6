"""A scenario fitted to a target: the operations it can send, the faults its provider dialect takes.

A target with ``flows:`` may describe only some operations (a shop with orders and no payouts);
the scenario's mix then keeps the weights of the operations the target has, and the run says
which were dropped. A scenario that would send none of the target's operations, or that uses a
fault the target's provider dialect cannot express (``Fault.dialects``: a forged callback is
written in the native format, a late Stripe event in Stripe's), does not apply: ``orderquake
run`` refuses it (exit 2) and the matrix skips it.
"""

from __future__ import annotations

from dataclasses import replace

from harness._exceptions import UsageError
from harness.faults import fault_class
from harness.scenario import Operation, Scenario
from harness.stage.attach import PROCESS_FAULTS
from harness.target import Target


def fault_kinds(scenario: Scenario) -> set[str]:
    kinds = {fault.kind for fault in scenario.faults}
    if scenario.nemesis is not None:
        kinds |= {choice.kind for choice in scenario.nemesis.kinds}
    return kinds


def fit_scenario(scenario: Scenario, target: Target) -> tuple[Scenario, tuple[str, ...]]:
    """The scenario as it runs against ``target`` and notes on what was left out, or a UsageError
    saying why it does not apply."""
    dialect = target.provider.dialect
    unsupported = sorted(kind for kind in fault_kinds(scenario) if dialect not in fault_class(kind).dialects)
    if unsupported:
        speaks = "; ".join(f"{kind} needs the {' or '.join(fault_class(kind).dialects)} dialect"
                           for kind in unsupported)
        raise UsageError(f"scenario {scenario.name} does not apply to target {target.name}, whose provider speaks "
                         f"{dialect}: {speaks}")
    supported = set(target.flow_names())
    mix = scenario.load.mix
    dropped = sorted(op.value for op, weight in mix.items() if weight > 0 and op.value not in supported)
    kept = {op: weight for op, weight in mix.items() if op.value in supported}
    writes = (Operation.ORDER, Operation.PAYOUT)
    if not any(kept.get(op, 0) > 0 for op in writes):
        raise UsageError(f"scenario {scenario.name} does not apply to target {target.name}: it sends "
                         f"{', '.join(dropped) or 'nothing'}, and the target's flows describe only "
                         f"{', '.join(sorted(supported))}")
    if not dropped:
        return scenario, ()
    note = (f"target {target.name} has no flow for {', '.join(dropped)}: those weights of the mix are dropped, "
            f"the rest keep theirs")
    return replace(scenario, load=replace(scenario.load, mix=kept)), (note,)


def refuse_process_faults(scenario: Scenario) -> None:
    """Attach mode starts, stops and kills nothing: a fault that would is refused before the run."""
    needing = sorted(fault_kinds(scenario) & PROCESS_FAULTS)
    if needing:
        raise UsageError(f"scenario {scenario.name} needs to stop or kill processes ({', '.join(needing)}), and in "
                         "attach mode orderquake never stops or kills what it did not start: run it on a stage "
                         "orderquake starts, or remove those faults")
