"""How fast and how small reading a large run's evidence is: 1,000,000 orders with their history.

Writes a synthetic run directory (history of 8 processes with duplicates and unknown outcomes, the
SUT state, the provider ledger, ``run.json``, the scenario, the fault journal and the manifest as the
final reads write it) into a temporary folder, a second one with the same history in another key
order and spacing (as a writer of that layout would leave it, with its own manifest) and a third
with that history under the first run's manifest (a history written again after the final reads,
which the reader must scan line by line). Then measures, each in a fresh child process so that its
memory is its own: the previous implementation (``load_inputs`` + ``check``, if an old source tree
is given with ``--previous-src``: it left the tree in 605fe04), the Python reference reader
(``harness.checker.reading``; ``--skip-python`` skips it: about a minute, 2.4 GiB), the DuckDB reader
as the verdict runs it (the manifest verified, then ``harness.checker.reading_duckdb`` with the strict
files it found) on each layout, the whole verdict (``judge_run``: the manifest checked, the evidence
read and judged, the SLO metrics) and the whole ``orderquake check`` (the verdict, then
``verdict.json``, ``report.html`` and ``junit.xml``). For each: wall time, CPU time (its threads and
children included) and peak RSS (sampled from /proc every 10 ms, children included). The DuckDB reader
(in either layout as written) and the verdict must stay within 3 s and 700 MiB; the machine's load
average is printed too, since on a shared machine CPU time is the steadier number.

    python -m bench checker_scale
    python -m bench.checker_scale [--orders 1000000] [--skip-python] [--no-rewritten] [--quick] [--previous-src DIR]

An old tree for ``--previous-src``: ``git archive 34c5b42 harness | tar -x -C DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._figures import Figure

_PROCESSES = 8
_TARGET_SECONDS = 3.0
_TARGET_BYTES = 700 << 20


def generate(run_dir: Path, orders: int, rewritten: Path | None = None) -> None:
    """Every 100th order is submitted twice, every 200th ends ``info``, every 20th is declined.

    ``rewritten``, if given, gets the same history in another layout (keys reversed, spaces after
    ``:`` and ``,``, as Python's json writes them) and links to the same state files, with a manifest of
    its own; ``rewritten``-after gets that history with the first run's manifest (rewritten since).
    """
    from harness.run.final_reads import mark_complete  # here: --previous-src must come first on sys.path
    from harness.rundir import RunDir

    history = run_dir / "history"
    state = run_dir / "state"
    history.mkdir(parents=True)
    state.mkdir()
    files = [(history / f"{p}.jsonl").open("w") for p in range(_PROCESSES)]
    others = []
    if rewritten is not None:
        (rewritten / "history").mkdir(parents=True)
        others = [(rewritten / "history" / f"{p}.jsonl").open("w") for p in range(_PROCESSES)]
    with (state / "sut_orders.jsonl").open("w") as sut, (state / "provider_orders.ndjson").open("w") as ledger:
        for n in range(orders):
            process = n % _PROCESSES
            op_id = f"rbench-o-{process}-{n}"
            amount = 100 + n % 9000
            attempts = 2 if n % 100 == 0 else 1
            for attempt in range(1, attempts + 1):
                outcome = "info" if n % 200 == 0 and attempt == 1 else "ok"
                for kind, time_ns, wall in (("invoke", n * 10, 1795416377.96), (outcome, n * 10 + 5, 1795416378.96)):
                    status = "null" if kind != "ok" else "201"
                    error = '"ReadTimeout: timed out"' if kind == "info" else "null"
                    # The history writer's layout, key for key (harness.load.history.HistoryWriter).
                    files[process].write(
                        f'{{"type":"{kind}","op":"order","id":"{op_id}","process":{process},"time":{time_ns},'
                        f'"wall":{wall},"attempt":{attempt},"value":{{"amount_minor":{amount},"currency":"EUR"}},'
                        f'"status":{status},"error":{error}}}\n')
                    if others:
                        others[process].write(
                            f'{{"error": {error}, "status": {status}, "value": {{"currency": "EUR", '
                            f'"amount_minor": {amount}}}, "attempt": {attempt}, "wall": {wall}, "time": {time_ns}, '
                            f'"process": {process}, "id": "{op_id}", "op": "order", "type": "{kind}"}}\n')
            status = "declined" if n % 20 == 0 else "succeeded"
            sut.write(f'{{"order_id":"{op_id}","status":"{status}","amount_minor":{amount}}}\n')
            ledger.write(f'{{"id":"po_{n}","merchant_order_id":"{op_id}","amount_minor":{amount},"currency":"EUR",'
                         f'"status":"{status}","idempotency_key":"{op_id}","created_at":"2026-01-01T00:00:00Z",'
                         '"settled_at":"2026-01-01T00:00:01Z"}\n')
    for handle in files + others:
        handle.close()
    (state / "sut_payouts.jsonl").write_text("")
    (state / "provider_payouts.ndjson").write_text("")
    _complete(run_dir, orders)
    if rewritten is not None:
        # The same run with its history as a writer of that layout would have left it (the final reads list it
        # strict); and again with the first run's manifest: the history written again after the final reads.
        changed = rewritten.parent / f"{rewritten.name}-after"
        for twin in (rewritten, changed):
            (twin / "state").mkdir(parents=True)
            for path in state.iterdir():
                if path.name != "complete.json" or twin == changed:
                    os.link(path, twin / "state" / path.name)
            for name in ("run.json", "scenario.yaml", "faults.jsonl"):
                shutil.copy(run_dir / name, twin / name)
        (changed / "history").mkdir()
        for path in (rewritten / "history").iterdir():
            os.link(path, changed / "history" / path.name)
        mark_complete(RunDir(rewritten), {"orders": orders})


def _complete(run_dir: Path, orders: int) -> None:
    """What else a finished run leaves, so that ``orderquake check`` judges it as it would a real one:
    ``run.json`` (the load's start and length), the scenario, an empty fault journal, the manifest as the
    final reads write it (every file strict: the lines above are strict JSON, as the writers write it)."""
    from harness.run.final_reads import mark_complete
    from harness.rundir import RunDir

    run = RunDir(run_dir)
    run.write_json(run.run_info, {"variant": "correct", "started": "2026-11-23T10:00:00+00:00",
                                  "load_started_wall": 1795416377.0, "load_seconds": max(1.0, orders * 1e-5)})
    run.scenario.write_text((Path(__file__).resolve().parent.parent / "scenarios" / "smoke.yaml").read_text())
    run.faults.write_text("")
    mark_complete(run, {"orders": orders})


class _TreeRss(threading.Thread):
    """The peak of this process's RSS plus its children's, sampled every 10 ms from /proc."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kib = 0
        self._done = threading.Event()

    @staticmethod
    def _rss_kib(pid: int | str) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def sample(self) -> None:
        me = os.getpid()
        children = Path(f"/proc/{me}/task/{me}/children").read_text().split()
        self.peak_kib = max(self.peak_kib, self._rss_kib(me) + sum(map(self._rss_kib, children)))

    def run(self) -> None:
        while not self._done.wait(0.01):
            self.sample()

    def stop(self) -> None:
        self._done.set()
        self.join()
        self.sample()


def measure_reader(reader: str, run_dir: Path, previous_src: Path | None) -> dict[str, Any]:
    """Read ``run_dir`` once with ``reader``; called in a child so that the RSS is the reader's alone."""
    if reader in ("verdict", "check"):
        from harness.checker.model import RunVerdict
        from harness.cli.main import main as orderquake
        from harness.run.verdict import judge_run
        from harness.rundir import RunDir

        def run() -> dict[str, Any]:
            if reader == "verdict":  # what the checker decides, without the report
                verdict, _ = judge_run(RunDir(run_dir))
            else:  # the whole command: the verdict, verdict.json, run.json's metrics, report.html, junit.xml
                with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
                    orderquake(["check", str(run_dir)])
                verdict = RunVerdict.from_json(json.loads(RunDir(run_dir).verdict.read_text()))
            return {"verdict": verdict.verdict.value, "attempted": verdict.counts.attempted}
    elif reader == "previous":
        if previous_src is not None:
            sys.path.insert(0, str(previous_src))
        try:
            from harness.checker.artifacts import load_inputs
            from harness.checker.check import check
        except ImportError as exc:
            return {"skipped": f"the previous reader is not in this tree ({exc}); give --previous-src"}

        def run() -> dict[str, Any]:
            result = check(load_inputs(run_dir))
            return {"verdict": result.verdict.value, "attempted": result.counts.attempted}
    else:
        from harness.checker import reading
        from harness.run.verdict import verified_evidence
        from harness.rundir import RunDir

        def run() -> dict[str, Any]:
            if reader == "duckdb":  # as the verdict reads: the manifest checked, its strict files left unscanned
                (_, verification), (failed, evidence) = verified_evidence(RunDir(run_dir))
                if evidence is None or verification.problems:
                    raise RuntimeError(f"expected intact evidence: {failed or verification.problems}")
            else:
                evidence = reading.read_evidence(RunDir(run_dir).evidence_files())
            return {"summary": summarize(evidence), "attempted": evidence.counts.attempted}
    sampler = _TreeRss()
    sampler.start()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    outcome = run()
    seconds = time.perf_counter() - started
    sampler.stop()
    after = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
           + children.ru_utime + children.ru_stime)
    peak_kib = max(sampler.peak_kib, after.ru_maxrss + children.ru_maxrss)
    return {"wall_s": round(seconds, 3), "cpu_s": round(cpu, 3), "peak_rss_bytes": peak_kib * 1024, **outcome}


def summarize(evidence: Any) -> str:
    """What must be equal between readers, in a few words (the judged ids sorted by flow and id)."""
    judged = sorted((e.kind.value, e.id, e.client, e.sut, e.provider, e.forged) for e in evidence.judged)
    return json.dumps({"judged": len(judged), "judged_sha256": hashlib.sha256(repr(judged).encode()).hexdigest()[:16],
                       "clean": {k.value: n for k, n in evidence.clean.items()},
                       "money": sorted([k.value, c, s.provider_minor, s.sut_minor]
                                       for (k, c), s in evidence.money.items()),
                       "counts": evidence.counts.to_json(), "damage": len(evidence.damage),
                       "torn": len(evidence.torn), "unreadable": sorted(k.value for k in evidence.unreadable)},
                      sort_keys=True)


def _child(reader: str, run_dir: Path, previous_src: Path | None) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.checker_scale", "--measure", reader, str(run_dir)]
    if previous_src is not None:
        command += ["--previous-src", str(previous_src)]
    child = subprocess.run(command, capture_output=True, text=True, check=False)
    if child.returncode != 0:
        return {"failed": child.stderr.strip().splitlines()[-1] if child.stderr.strip() else "no output"}
    result: dict[str, Any] = json.loads(child.stdout)
    return result


def measure(orders: int, *, skip_python: bool, rewritten_too: bool,
            previous_src: Path | None) -> list[tuple[str, dict[str, Any]]]:
    """Generate the synthetic run (and its rewritten twin), then read it with each reader in a child."""
    with tempfile.TemporaryDirectory(prefix="orderquake-bench-") as tmp:
        run_dir, rewritten = Path(tmp) / "run", Path(tmp) / "rewritten"
        started = time.perf_counter()
        generate(run_dir, orders, rewritten if rewritten_too else None)
        os.sync()  # the generator's writes reach the disk before any reader is timed, as a finished run's have
        size = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
        print(f"generated {orders} orders ({size / 1e6:.0f} MB of artifacts"
              f"{', and the history again in another layout' if rewritten_too else ''}) in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        plan = [("previous", run_dir), ("python", run_dir), ("duckdb", run_dir), ("verdict", run_dir),
                ("check", run_dir)]
        changed = rewritten.parent / f"{rewritten.name}-after"
        plan += [("duckdb", rewritten), ("duckdb", changed)] if rewritten_too else []
        names = {rewritten: " (another layout)", changed: " (rewritten after)"}
        rows = []
        for reader, directory in plan:
            label = f"{reader}{names.get(directory, '')}"
            if reader == "python" and skip_python:
                rows.append((label, {"skipped": "--skip-python"}))
                continue
            if reader == "previous" and previous_src is None:
                rows.append((label, {"skipped": "no --previous-src"}))
                continue
            rows.append((label, _child(reader, directory, previous_src)))
    return rows


def figures(quick: bool = True) -> list[Figure]:
    """The suite's rows: the DuckDB reader (every run's) on 1,000,000 orders, time and peak memory."""
    orders = 1_000_000
    rows = measure(orders, skip_python=True, rewritten_too=not quick, previous_src=None)
    report(rows)
    numbers, whole, command = dict(rows)["duckdb"], dict(rows)["verdict"], dict(rows)["check"]
    reproduce = "python -m bench.checker_scale --skip-python" + (" --no-rewritten" if quick else "")
    if "wall_s" not in numbers:
        failed = str(numbers.get("failed") or numbers.get("skipped"))
        return [Figure("checker evidence reader on 1,000,000 orders", f"failed: {failed}", "-", reproduce)]
    rss = int(numbers["peak_rss_bytes"]) / (1 << 20)
    return [
        Figure("checker on 1,000,000 synthetic orders (DuckDB reader): time",
               f"{numbers['wall_s']:.2f} s wall, {numbers['cpu_s']:.2f} s CPU (target 3 s)",
               "the manifest's SHA-256 of 648 MB on two threads, then DuckDB's NDJSON parse of 2M history lines and "
               "1M SUT rows and ledger records and the per-id join, on its threads over 2 shared cores (no leniency "
               "scan: every file is strict and unchanged); Python sees only the unclean ids",
               reproduce),
        Figure("checker on 1,000,000 synthetic orders (DuckDB reader): peak memory",
               f"{rss:.0f} MiB RSS (target 700 MiB)",
               "DuckDB's hash tables of the join, plus the Python process around it", reproduce),
        Figure("the verdict on 1,000,000 synthetic orders (judge_run)", _timed(whole, "target 3 s"),
               "the reader above, then run.json's SLO metrics from a second DuckDB pass over the history "
               "(harness.load.history_sql: its parse about 1 s, the pairing 0.5 s)", reproduce),
        Figure("orderquake check on 1,000,000 synthetic orders (verdict, report.html, junit.xml)",
               _timed(command, "57 s before the history's operations moved to SQL"),
               "the verdict, then the report's own DuckDB pass over the history for its timeline and tables",
               reproduce),
    ]


def _timed(numbers: dict[str, Any], note: str) -> str:
    if "wall_s" not in numbers:
        return f"failed: {numbers.get('failed') or numbers.get('skipped')}"
    return (f"{numbers['wall_s']:.2f} s wall, {numbers['cpu_s']:.2f} s CPU, "
            f"{int(numbers['peak_rss_bytes']) / (1 << 20):.0f} MiB ({note})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--skip-python", action="store_true", help="do not run the (slow) Python reference reader")
    parser.add_argument("--no-rewritten", action="store_true",
                        help="do not write and read the history again in another layout (halves the generation)")
    parser.add_argument("--quick", action="store_true", help="--skip-python --no-rewritten (what 'make bench' runs)")
    parser.add_argument("--previous-src", type=Path, help="a source tree holding the previous reader")
    parser.add_argument("--measure", nargs=2, metavar=("READER", "RUN_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure_reader(args.measure[0], Path(args.measure[1]), args.previous_src)))
        return 0
    return report(measure(args.orders, skip_python=args.skip_python or args.quick,
                          rewritten_too=not (args.no_rewritten or args.quick), previous_src=args.previous_src))


def report(rows: list[tuple[str, dict[str, Any]]]) -> int:
    print(f"\n{'reader':34} {'wall s':>7} {'CPU s':>7} {'peak RSS':>9}   result")
    ok = True
    summaries = set()
    for label, numbers in rows:
        if "wall_s" not in numbers:
            print(f"{label:34} {'-':>7} {'-':>7} {'-':>9}   {numbers.get('skipped') or numbers.get('failed')}")
            ok = ok and not label.startswith(("duckdb", "verdict", "check"))
            continue
        rss = int(numbers["peak_rss_bytes"])
        verdict = ""
        if label.startswith(("duckdb", "verdict")) and not label.endswith("(rewritten after)"):
            passed = numbers["wall_s"] <= _TARGET_SECONDS and rss <= _TARGET_BYTES
            if label.startswith("duckdb"):  # the checker's target; the whole verdict's is shown, not yet met
                ok = ok and passed
            verdict = "PASS" if passed else "MISS"
        if "summary" in numbers:
            summaries.add(numbers["summary"])
        shown = f"{numbers['attempted']} submissions" + (f", {numbers['verdict']}" if "verdict" in numbers else "")
        print(f"{label:34} {numbers['wall_s']:7.2f} {numbers['cpu_s']:7.2f} {rss / (1 << 20):6.0f} MiB   "
              f"{shown} {verdict}")
    same = "the same evidence" if len(summaries) == 1 else f"{len(summaries)} different evidences"
    print(f"\nreaders of evidence: {same}; targets {_TARGET_SECONDS:.0f} s and {_TARGET_BYTES >> 20} MiB for the "
          f"DuckDB reader (the manifest verified, then the evidence read and joined per id; in either layout as "
          f"its writer left it), which the exit status holds, and for the verdict (judge_run: that, judging, and "
          f"the SLO metrics from a second pass over the history), shown; 'rewritten after' is a history changed "
          f"since the final reads, so every line is scanned (no target); 'check' is the whole command, "
          f"report.html included; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ok = ok and len(summaries) <= 1
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
