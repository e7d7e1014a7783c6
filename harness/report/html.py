"""``report.html``: one self-contained page a person would rather look at than read.

Built from the run directory alone (``verdict.json``, ``run.json``, ``faults.jsonl``,
``consistency.jsonl``): the verdict first, then what went wrong with examples, then the
timeline of throughput and outcomes with the faults drawn over it, then time to consistency.
No JavaScript, no external assets: the file can be attached to a CI job and opened anywhere.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from harness.report.svg import bars_chart, line_chart

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d232b;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px}
.sub{color:#5b6673}
.badge{display:inline-block;padding:4px 12px;border-radius:14px;font-weight:600;color:#fff}
.pass{background:#1f883d}.fail{background:#cf222e}.unknown{background:#9a6700}.slo{background:#bc4c00}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:10px 14px;min-width:110px}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d8dee4;border-radius:8px}
th,td{padding:6px 10px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600}
td.bad{color:#cf222e;font-weight:600} td.ok{color:#1f883d}
details{background:#fff;border:1px solid #d8dee4;border-radius:8px;margin:6px 0;padding:6px 10px}
pre{white-space:pre-wrap;font-size:12px;margin:6px 0}
svg{background:#fff;border:1px solid #d8dee4;border-radius:8px}
"""


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _e(value: object) -> str:
    return html.escape(str(value))


def _badge(verdict: dict[str, Any]) -> str:
    word = str(verdict.get("verdict", "unknown"))
    css = word if word in {"pass", "fail", "unknown"} else "unknown"
    if word == "pass" and verdict.get("exit_code") == 3:
        css, word = "slo", "pass (SLO breached)"
    return f'<span class="badge {css}">{_e(word)}</span>'


def _cards(verdict: dict[str, Any]) -> str:
    counts = verdict.get("counts", {})
    items = [("attempted", counts.get("attempted")), ("ok", counts.get("ok")), ("fail", counts.get("fail")),
             ("info", counts.get("info")), ("recovery", f"{verdict.get('recovery_seconds', '?')} s"),
             ("exit code", verdict.get("exit_code"))]
    cards = "".join(f'<div class="card"><b>{_e("-" if v is None else v)}</b>{_e(k)}</div>'
                    for k, v in items)
    return f'<div class="cards">{cards}</div>'


def _invariants(verdict: dict[str, Any]) -> str:
    rows = []
    details = []
    for category, entry in sorted(verdict.get("invariants", {}).items()):
        count = int(entry.get("count", 0))
        violation = bool(entry.get("violation")) and count > 0
        css = "bad" if violation else "ok"
        meaning = "violation" if entry.get("violation") else "reported"
        rows.append(f'<tr><td>{_e(category)}</td><td class="{css}">{count}</td><td>{meaning}</td></tr>')
        if count and entry.get("examples"):
            body = "".join(f"<pre>{_e(json.dumps(example, indent=1, default=str))}</pre>"
                           for example in entry["examples"])
            details.append(f"<details><summary>{_e(category)}: {count} (examples with their history)"
                           f"</summary>{body}</details>")
    table = "<table><tr><th>invariant</th><th>count</th><th>kind</th></tr>" + "".join(rows) + "</table>"
    return table + "".join(details)


def _checkers(verdict: dict[str, Any]) -> str:
    """Each checker's word: the reason a verdict is not a pass is read here first."""
    checkers = verdict.get("checkers") or {}
    rows = "".join(
        f'<tr><td>{_e(name)}</td><td class="{"ok" if entry.get("valid") == "pass" else "bad"}">'
        f'{_e(entry.get("valid"))}</td><td>{_e(entry.get("reason") or "")}</td></tr>'
        for name, entry in checkers.items() if isinstance(entry, dict))
    if not rows:
        return ""
    return "<h2>Checkers</h2><table><tr><th>checker</th><th>result</th><th>why</th></tr>" + rows + "</table>"


def _money(verdict: dict[str, Any]) -> str:
    money = verdict.get("money") or {}
    if not money:
        return ""
    rows = "".join(f"<tr><td>{_e(k)}</td><td><pre>{_e(json.dumps(v, default=str))}</pre></td></tr>"
                   for k, v in sorted(money.items()))
    return "<h2>Money</h2><table><tr><th>flow</th><th>sums</th></tr>" + rows + "</table>"


def _slo(verdict: dict[str, Any]) -> str:
    slos = verdict.get("slo") or []
    if not slos:
        return ""
    rows = "".join(
        f'<tr><td>{_e(s.get("rule"))}</td><td>{_e(s.get("observed"))}</td>'
        f'<td class="{"ok" if s.get("pass") else "bad"}">{"pass" if s.get("pass") else "breach"}</td></tr>'
        for s in slos)
    header = "<h2>Service levels</h2><table><tr><th>rule</th><th>observed</th><th></th></tr>"
    return header + rows + "</table>"


def _faults_table(faults: list[dict[str, Any]]) -> str:
    if not faults:
        return "<p class=sub>No faults were injected.</p>"
    rows = "".join(
        f"<tr><td>{_e(f.get('name'))}</td><td>{_e(f.get('phase'))}</td>"
        f"<td>{_e(round(float(f.get('t', 0)), 2))} s</td>"
        f"<td>{_e(json.dumps(f.get('params', {}), default=str))}</td>"
        f"<td>{_e(f.get('error') or '')}</td></tr>" for f in faults)
    return ("<table><tr><th>fault</th><th>phase</th><th>at</th><th>parameters</th><th>error</th></tr>"
            + rows + "</table>")


def _fault_spans(faults: list[dict[str, Any]]) -> list[tuple[float, float, str]]:
    """Pair each fault's start with its heal, as (start s, end s, name) spans for the charts."""
    open_at: dict[str, float] = {}
    spans = []
    for record in faults:
        name = str(record.get("name"))
        t = float(record.get("t", 0.0))
        if record.get("phase") == "start":
            open_at[name] = t
        elif record.get("phase") == "heal" and name in open_at:
            spans.append((open_at.pop(name), t, name))
    spans.extend((start, start, name) for name, start in open_at.items())
    return spans


def render_html(run_dir: Path) -> str:
    """The report page of a finished (or interrupted) run, as a string."""
    verdict = _read_json(run_dir / "verdict.json")
    info = _read_json(run_dir / "run.json")
    faults = _read_jsonl(run_dir / "faults.jsonl")
    consistency = _read_jsonl(run_dir / "consistency.jsonl")
    spans = _fault_spans(faults)
    timeline = info.get("timeline", [])
    throughput = bars_chart(
        "Completed operations per second (green ok, red fail, amber unknown)", timeline, spans)
    latency = line_chart("p99 latency per second (ms)", [(b["t"], b.get("p99_ms")) for b in timeline], spans)
    pending = line_chart("Pending orders and payouts after heal (time to consistency)",
                         [(c.get("t", i), c.get("pending")) for i, c in enumerate(consistency)], [])
    title = f"{verdict.get('scenario', run_dir.name)} against {verdict.get('target', '?')}"
    head = (f"<h1>{_e(title)} {_badge(verdict)}</h1><div class=sub>variant {_e(verdict.get('variant'))} · "
            f"seed {_e(verdict.get('seed'))} · {_e(verdict.get('started'))} → {_e(verdict.get('finished'))}"
            f" · {_e(run_dir.name)}</div>")
    reason = f"<p><b>{_e(verdict['reason'])}</b></p>" if verdict.get("reason") else ""
    body = (head + reason + _cards(verdict) + _checkers(verdict) + "<h2>Invariants</h2>" + _invariants(verdict)
            + _money(verdict) + _slo(verdict) + "<h2>Load and faults</h2>" + throughput + latency
            + _faults_table(faults) + "<h2>Recovery</h2>" + pending)
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>orderquake: {_e(title)}</title>"
            f"<style>{_CSS}</style><main>{body}</main></html>\n")


def write_html(run_dir: Path) -> Path:
    """Write ``report.html`` into the run directory and return its path."""
    path = run_dir / "report.html"
    path.write_text(render_html(run_dir))
    return path
