"""The pytest plugin without a stage: settings and their precedence, the marker, error sources, that
loading it starts and imports nothing heavy, the fault context managers, the scoping of a shared
stage's evidence, and the failure message of ``assert_verdict``."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.checker.model import Category, CategoryResult, CheckerResult, Counts, Kind, RunVerdict, Verdict
from harness.pytest_plugin import assert_verdict
from harness.pytest_plugin.faults import Faults
from harness.pytest_plugin.scope import drop_earlier, scoped_state
from harness.target import TargetState

pytest_plugins = ["pytester"]

SHOW_SETTINGS = """
import pytest

{marker}
def test_settings(orderquake_settings):
    s = orderquake_settings
    print(f"SETTINGS seed={{s.seed}} from {{s.sources['seed']}}; variant={{s.variant}} from {{s.sources['variant']}}")
"""


def _run(pytester: pytest.Pytester, *args: str, marker: str = "", ini: str = "") -> pytest.RunResult:
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(test_inner=SHOW_SETTINGS.format(marker=marker))
    return pytester.runpytest("-s", "-p", "no:cacheprovider", *args)


@pytest.mark.parametrize(("marker", "option", "env", "ini", "seed", "source"), [
    ("@pytest.mark.orderquake(seed=1)", "2", "3", "4", 1, "marker orderquake(seed=...)"),
    ("", "2", "3", "4", 2, "--orderquake-seed"),
    ("", None, "3", "4", 3, "ORDERQUAKE_SEED"),
    ("", None, None, "4", 4, "ini orderquake_seed"),
    ("", None, None, None, 1, "default"),
])
def test_precedence_is_marker_option_env_ini(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                             marker: str, option: str | None, env: str | None, ini: str | None,
                                             seed: int, source: str) -> None:
    monkeypatch.delenv("ORDERQUAKE_SEED", raising=False)
    if env is not None:
        monkeypatch.setenv("ORDERQUAKE_SEED", env)
    args = ("--orderquake-seed", option) if option is not None else ()
    result = _run(pytester, *args, marker=marker, ini=f"orderquake_seed = {ini}" if ini else "")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*SETTINGS seed={seed} from {source};*"])


def test_the_closest_marker_wins_per_key(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner="""
        import pytest
        pytestmark = pytest.mark.orderquake(seed=5, variant="no-reconciler")

        @pytest.mark.orderquake(seed=6)
        def test_settings(orderquake_settings):
            assert (orderquake_settings.seed, orderquake_settings.variant) == (6, "no-reconciler")
    """)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_variant_from_the_environment(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERQUAKE_VARIANT", "ack-before-commit")
    result = _run(pytester)
    result.stdout.fnmatch_lines(["*variant=ack-before-commit from ORDERQUAKE_VARIANT*"])


@pytest.mark.parametrize(("args", "env", "ini", "message"), [
    (("--orderquake-seed", "x"), None, None, "invalid seed 'x' from --orderquake-seed: expected a whole number*"),
    ((), "-3", None, "invalid seed '-3' from ORDERQUAKE_SEED: *"),
    ((), None, "orderquake_seed = 1.5", "invalid seed '1.5' from ini orderquake_seed: *"),
    (("--orderquake-variant", "nope"), None, None,
     "invalid variant 'nope' from --orderquake-variant: unknown variant 'nope' of target reference: expected one of*"),
    (("--orderquake-target", "missing.yaml"), None, None,
     "invalid target 'missing.yaml' from --orderquake-target: target file */missing.yaml not found*"),
])
def test_a_bad_session_value_names_its_source_at_start(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                       args: tuple[str, ...], env: str | None, ini: str | None,
                                                       message: str) -> None:
    monkeypatch.delenv("ORDERQUAKE_SEED", raising=False)
    if env is not None:
        monkeypatch.setenv("ORDERQUAKE_SEED", env)
    result = _run(pytester, *args, ini=ini or "")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}"])


def test_a_shadowed_bad_value_is_not_checked(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERQUAKE_SEED", "x")
    _run(pytester, "--orderquake-seed", "9").stdout.fnmatch_lines(["*seed=9 from --orderquake-seed*"])


@pytest.mark.parametrize(("marker", "message"), [
    ("@pytest.mark.orderquake(seed='x')", "invalid seed 'x' from marker orderquake(seed=...): *"),
    ("@pytest.mark.orderquake(variant='nope')", "invalid variant 'nope' from marker orderquake(variant=...): *"),
    ("@pytest.mark.orderquake(stage='module')", "invalid stage 'module' from marker orderquake(stage=...): "
                                                "expected one of 'session', 'test'"),
    ("@pytest.mark.orderquake(sed=1)", "invalid marker orderquake(sed=...): unknown keyword; expected one of*"),
    ("@pytest.mark.orderquake('x')", "invalid marker orderquake('x',): expected keywords only*"),
])
def test_a_bad_marker_fails_its_test_naming_the_marker(pytester: pytest.Pytester, marker: str, message: str) -> None:
    result = _run(pytester, marker=marker)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{message}"])


def test_marker_and_options_are_registered_with_help(pytester: pytest.Pytester) -> None:
    pytester.runpytest("--markers").stdout.fnmatch_lines(
        ["@pytest.mark.orderquake(target=PATH, variant=NAME, seed=N, stage='session'|'test'): *"])
    help_text = pytester.runpytest("--help").stdout
    help_text.fnmatch_lines(["orderquake resilience checks (precedence: marker > option > env > ini):",
                             "*--orderquake-target=TARGET*", "*--orderquake-variant=VARIANT*",
                             "*--orderquake-seed=SEED*", "*orderquake_seed (string):*"])


def test_loading_the_plugin_starts_and_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner="""
        import sys

        def test_plain(request):
            assert request.config.pluginmanager.has_plugin("orderquake")
            heavy = [m for m in ("locust", "gevent", "harness.stage", "harness.run", "psycopg")
                     if m in sys.modules]
            assert heavy == []
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1)
    plugins = pytester.runpytest_subprocess("--trace-config", "-p", "no:cacheprovider")
    plugins.stdout.fnmatch_lines(["*harness.pytest_plugin.plugin*"])


# ---- faults as context managers ----------------------------------------------------------------


class _Toxiproxy:
    def __init__(self, fail_apply: bool = False) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.fail_apply = fail_apply

    def set_enabled(self, link: str, enabled: bool) -> None:
        self.calls.append((link, enabled))
        if self.fail_apply and not enabled:
            raise RuntimeError("toxiproxy said no")


class _Journal:
    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.records: list[tuple[str, str, str | None]] = []

    def record_fault(self, name: str, kind: str, params: Any, phase: str, error: str | None) -> None:
        self.records.append((name, phase, error))


def _faults(tmp_path: Path, toxiproxy: _Toxiproxy) -> tuple[Faults, _Journal]:
    stage: Any = SimpleNamespace(toxiproxy=toxiproxy, target=None)
    faults = Faults(stage, seed=1, scratch=tmp_path)
    journal = _Journal(tmp_path)
    faults.journal = journal
    return faults, journal


def test_a_fault_heals_when_the_block_raises(tmp_path: Path) -> None:
    toxiproxy = _Toxiproxy()
    faults, journal = _faults(tmp_path, toxiproxy)
    with pytest.raises(KeyError), faults.inject("down", link="db"):
        assert toxiproxy.calls == [("db", False)]
        raise KeyError("the test broke")
    assert toxiproxy.calls == [("db", False), ("db", True)]
    assert journal.records == [("f1-down", "start", None), ("f1-down", "heal", None)]


def test_a_failed_apply_is_journaled_and_healed(tmp_path: Path) -> None:
    toxiproxy = _Toxiproxy(fail_apply=True)
    faults, journal = _faults(tmp_path, toxiproxy)
    with pytest.raises(RuntimeError, match="toxiproxy said no"), faults.inject("down", link="client"):
        pytest.fail("the block must not run when the fault did not apply")
    assert toxiproxy.calls == [("client", False), ("client", True)]
    assert journal.records == [("f1-down", "start", "RuntimeError: toxiproxy said no"), ("f1-down", "heal", None)]


def test_a_bad_fault_is_refused_before_anything_changes(tmp_path: Path) -> None:
    toxiproxy = _Toxiproxy()
    faults, journal = _faults(tmp_path, toxiproxy)
    with pytest.raises(Exception, match="unknown fault kind 'dbb_outage'"), faults.inject("dbb_outage"):
        pass
    bad_link = "expected one of client, provider, callbacks, db, got 'nowhere'"
    with pytest.raises(Exception, match=bad_link), faults.latency("nowhere", 300):
        pass
    assert toxiproxy.calls == [] and journal.records == []


# ---- a shared stage: each run judges its own ids -----------------------------------------------


def test_scoped_state_leaves_out_only_earlier_runs() -> None:
    state = TargetState("SELECT order_id, status FROM orders", "SELECT payout_id, status FROM payouts")
    assert scoped_state(state, []) is state
    scoped = scoped_state(state, ["r1a2b", "r3c4d"])
    assert scoped.orders_sql == ("SELECT * FROM (SELECT order_id, status FROM orders) AS oq_scope WHERE NOT coalesce("
                                 "starts_with(oq_scope.order_id::text, 'r1a2b-') OR "
                                 "starts_with(oq_scope.order_id::text, 'r3c4d-'), false)")
    assert "starts_with(oq_scope.payout_id::text, 'r1a2b-')" in scoped.payouts_sql
    # count_pending runs the SQL with parameters, where a '%' would be taken for a placeholder
    assert "%" not in scoped.orders_sql + scoped.payouts_sql
    with pytest.raises(ValueError, match="run id"):
        scoped_state(state, ["r1'; DROP TABLE orders; --"])


def test_drop_earlier_keeps_this_run_and_strangers(tmp_path: Path) -> None:
    ledger = tmp_path / "provider_orders.ndjson"
    lines = [json.dumps({"merchant_order_id": mid, "status": "succeeded"}) for mid in
             ("r1a-o-1-1", "r2b-o-1-1", "invented-id")]
    ledger.write_text("\n".join(lines) + "\nnot json\n")
    assert drop_earlier(ledger, Kind.ORDER, ["r1a"]) == 3
    assert ledger.read_text().splitlines() == [lines[1], lines[2], "not json"]


# ---- the failure message -----------------------------------------------------------------------


def _verdict(lost: int) -> RunVerdict:
    history = [{"type": "invoke", "op": "order", "id": "r9-o-1-7", "process": 1, "attempt": 1, "wall": 1003.25},
               {"type": "ok", "op": "order", "id": "r9-o-1-7", "process": 1, "attempt": 1, "wall": 1003.5,
                "status": 201}]
    examples = tuple({"id": f"r9-o-1-{7 + n}", "why": "client got ok 1 time(s), SUT has no record",
                      "history": history if n == 0 else []} for n in range(min(lost, 20)))
    invariants = {c: CategoryResult(0, c.violation) for c in Category}
    invariants[Category.LOST] = CategoryResult(lost, True, examples)
    valid = Verdict.FAIL if lost else Verdict.PASS
    return RunVerdict(verdict=valid, checkers={"invariants": CheckerResult("invariants", valid)},
                      invariants=invariants, money={}, counts=Counts(attempted=10, ok=9, fail=1, ids=10),
                      reason=f"invariants: {lost} lost" if lost else None)


def test_assert_verdict_lists_each_violation_with_its_first_examples(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"load_started_wall": 1000.0}))
    with pytest.raises(AssertionError) as failure:
        assert_verdict(_verdict(5), run_dir=tmp_path)
    lines = str(failure.value).splitlines()
    assert lines[0] == "orderquake verdict fail, expected pass: invariants: 5 lost"
    assert lines[1] == f"  run directory: {tmp_path} (report.html, verdict.json)"
    assert lines[2] == "  lost: 5"
    assert lines[3] == ("    r9-o-1-7: client got ok 1 time(s), SUT has no record | "
                        "order#1 +3.250s..+3.500s ok 201")
    assert lines[4] == "    r9-o-1-8: client got ok 1 time(s), SUT has no record | no client history"
    assert lines[6] == "    ... and 2 more in verdict.json"
    assert lines[7] == "  submissions: 10 (10 ids): ok 9, fail 1, info 0"


def test_assert_verdict_passes_what_was_expected_and_checks_its_arguments() -> None:
    assert_verdict(_verdict(0))
    assert_verdict(_verdict(2), "fail", category="lost")
    with pytest.raises(AssertionError, match="expected fail with duplicated violations"):
        assert_verdict(_verdict(2), "fail", category="duplicated")
    with pytest.raises(ValueError, match="got expected='passed'"):
        assert_verdict(_verdict(0), "passed")
