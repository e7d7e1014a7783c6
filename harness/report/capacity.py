"""The capacity report: throughput and p99 against offered load, each knee and model marked, per series.

Built from ``capacity.json`` alone (``harness.capacity.output``) into the capacity directory's
``report.html``, a page like every orderquake page (``harness.report._page``: offline, uPlot
inlined). Top to bottom: the knee of each series side by side and in one sentence why; the two
charts, every series on them (the baseline and the held fault), the knee of each as a dashed line
and the model's curve dashed beside the measured points; then per series the model's verdict and
predictions, and a table of every step with its numbers, its CPU per component, whether the
harness was the limit and why it broke, with a link to the series' own run report.

Chart data (``oq-data``): ``{"loads": [x...], "series": [{"name", "colour", "throughput": [y|null],
"p99": [...], "model_throughput": [...], "model_latency": [...], "knee": rate|null}]}``, every
array on the one ``loads`` axis (the step rates of every series and the model's grid, sorted).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.capacity.usl import UslFit
from harness.report import _format as fmt
from harness.report._page import cell, document, e, section, table

COLOURS = ("#0969da", "#e16f24", "#8250df", "#1a7f37")
_CPU = ("sut", "postgres", "provider", "toxiproxy", "locust")
_GRID = 24


def _fit(model: Mapping[str, Any]) -> UslFit | None:
    try:
        return UslFit(lam=float(model["lambda"]), sigma=float(model["sigma"]), kappa=float(model["kappa"]),
                      r2=model.get("r2"), points=int(model["points"]), model=str(model["model"]))
    except (KeyError, TypeError, ValueError):
        return None


def chart_data(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The charts' series on one axis of offered load; see the module docstring."""
    series = list(payload.get("series", []))
    rates = {float(s["rate"]) for one in series for s in one.get("steps", [])}
    top = max([*rates, *(2 * float(one["knee"]["rate"]) for one in series if one["knee"].get("rate"))], default=1.0)
    grid = {round(top * i / _GRID, 3) for i in range(1, _GRID + 1)}
    loads = sorted(rates | grid)
    out = []
    for index, one in enumerate(series):
        by_rate = {float(s["rate"]): s for s in one.get("steps", [])}
        fit = _fit(one.get("model", {}))
        ceiling = fit.ceiling if fit is not None else None
        out.append({
            "name": one["name"], "colour": COLOURS[index % len(COLOURS)], "knee": one["knee"].get("rate"),
            "lower_bound": one["knee"].get("lower_bound"),
            "throughput": [by_rate[x]["load"]["throughput"] if x in by_rate else None for x in loads],
            "p99": [by_rate[x]["load"]["latency"]["p99_ms"] if x in by_rate else None for x in loads],
            # Below its ceiling an open model serves what it is offered; the fit says where that ends.
            "model_throughput": [round(min(x, ceiling), 3) if ceiling is not None else None for x in loads]
            if fit is not None else [None] * len(loads),
            "model_latency": [fit.latency_ms_at(x) if fit is not None else None for x in loads],
        })
    return {"loads": loads, "series": out}


def _knee_text(one: Mapping[str, Any]) -> str:
    knee = one["knee"]
    rate = knee.get("rate")
    if rate is None:
        return "none"
    return f"{'≥ ' if knee.get('lower_bound') else ''}{rate:g}/s"


def _hero(payload: Mapping[str, Any]) -> str:
    series = payload.get("series", [])
    knees = " · ".join(f"{e(s['name'])} {e(_knee_text(s))}" for s in series)
    facts = [("scenario", payload.get("scenario")), ("target", payload.get("target")),
             ("variant", payload.get("variant")), ("steps", ", ".join(f"{r:g}/s" for r in payload.get("rates", []))),
             ("step", fmt.seconds(payload.get("step_seconds")))]
    dl = "".join(f"<div><dt>{e(k)}</dt><dd>{e(v)}</dd></div>" for k, v in facts if v is not None)
    why = "<br>".join(f"<b>{e(s['name'])}</b>: {e(s['knee']['why'])}" for s in series)
    return (f'<header class="hero v-pass"><div class="wrap"><div class="hero-top"><span class="pill">CAPACITY</span>'
            f"<h1>{e(payload.get('scenario'))}<span class=\"sub\"> knee {knees}</span></h1></div>"
            f'<p class="why">{why}</p><dl class="facts">{dl}</dl></div></header>')


def _cards(series: Sequence[Mapping[str, Any]]) -> str:
    cards = []
    for one in series:
        knee = one["knee"]
        model = one.get("model", {})
        peak = model.get("peak_throughput") or model.get("ceiling")
        css = "bad" if knee.get("rate") is None else "warn" if knee.get("lower_bound") else "good"
        cards += [(_knee_text(one), f"knee · {one['name']}", css),
                  (f"{knee['first_broken_rate']:g}/s" if knee.get("first_broken_rate") else "none",
                   f"first broken · {one['name']}", "bad" if knee.get("first_broken_rate") else ""),
                  (f"{peak:.0f}/s" if peak else "none", f"model peak · {one['name']}",
                   "" if model.get("trusted") else "warn")]
    return '<div class="cards">' + "".join(
        f'<div class="card {css}"><b>{e(v)}</b><span>{e(label)}</span></div>' for v, label, css in cards) + "</div>"


def _charts() -> str:
    def one(kind: str, title: str) -> str:
        return (f'<div><div class="grid-head"><span>{e(title)}</span></div>'
                f'<div class="chart" data-oq-chart="{kind}"></div></div>')
    note = ("Each series' steps (points), its knee (dashed line; a lower bound when the harness was the limit or no "
            "step broke) and its Universal Scalability Law fit (dashed: served throughput up to the fitted ceiling; "
            "mean latency by Little's law on the fitted curve, absent past the ceiling, where an open-model queue "
            "grows without bound). Latency runs from each operation's intended start.")
    body = ('<div class="panel"><div class="grid">' + one("capacity-throughput", "throughput against offered load")
            + one("capacity-latency", "p99 latency against offered load") + "</div></div>")
    return section("capacity", "Capacity", body, note=note)


def _model(one: Mapping[str, Any]) -> str:
    model = one.get("model", {})
    rows = [[cell(e(f"{p['factor']:g}x knee")), cell(e(f"{p['load']:g}/s"), "num"),
             cell(e(fmt.milliseconds(p["latency_ms"])) if p["latency_ms"] is not None else "unbounded", "num"),
             cell(e(p.get("note") or ""))] for p in model.get("predictions", [])]
    params = ""
    if "lambda" in model:
        peak = (f"peak {model['peak_throughput']:.0f}/s at concurrency {model['peak_concurrency']:.1f}"
                if model.get("peak_concurrency") else f"no peak (ceiling {model.get('ceiling') or 0:.0f}/s)")
        params = (f"<p>{e(model['model'])}: lambda {model['lambda']:.3g}/s per client, sigma {model['sigma']:.3g}, "
                  f"kappa {model['kappa']:.3g}; {e(peak)}</p>")
    return (f"<h3>model: {e(model.get('verdict', 'no model'))}</h3>{params}"
            + (table(["prediction", "load", "latency", "note"], rows, numeric=(1, 2)) if rows else ""))


def _steps(one: Mapping[str, Any], page_dir: Path) -> str:
    rows = []
    for step in one.get("steps", []):
        load = step["load"]
        cpu = step.get("cpu_seconds", {})
        status = "holds" if step["holds"] else "broken: " + "; ".join(step["broken"])
        if step["harness_limited"]:
            status += " · harness-limited: " + "; ".join(step["limits"])
        css = "" if step["holds"] else "bad"
        rows.append([cell(e(f"{step['rate']:g}"), "num"), cell(e(f"{step['achieved_offer']:g}"), "num"),
                     cell(e(f"{load['throughput']:g}"), "num"),
                     cell(e(fmt.milliseconds(load["latency"]["p50_ms"])), "num"),
                     cell(e(fmt.milliseconds(load["latency"]["p99_ms"])), "num"),
                     cell(e(fmt.milliseconds(load["latency"]["max_ms"])), "num"),
                     cell(e(fmt.percent(load["error_rate"])), "num"), cell(e(fmt.percent(load["info_rate"])), "num"),
                     cell(e("-" if step["backlog"] is None else step["backlog"]), "num"),
                     cell(e(" / ".join(f"{cpu.get(n, 0):.1f}" for n in _CPU)), "num"),
                     cell(e(status), css)])
    headers = ["rate/s", "sent/s", "done/s", "p50", "p99", "max", "errors", "info", "backlog",
               "CPU s " + "/".join(_CPU), "step"]
    run = Path(one["run_dir"]) / "report.html"
    try:
        link = f' · <a href="{e(run.relative_to(page_dir).as_posix())}">the series\' run report</a>'
    except ValueError:
        link = ""
    faults = ", ".join(one.get("faults", [])) or "no fault"
    return (f"<h3>{e(one['name'])} · {e(faults)} · verdict {e(one['verdict'])}{link}</h3>"
            + table(headers, rows, numeric=range(10)) + _model(one))


def render_capacity(payload: Mapping[str, Any], page_dir: Path) -> str:
    """The capacity page of ``capacity.json``'s ``payload`` as a string."""
    series = list(payload.get("series", []))
    body = (_hero(payload) + "<main>" + _cards(series) + _charts()
            + section("steps", "Steps", "".join(_steps(one, page_dir) for one in series),
                      note="Offered load (rate), what the generator sent, what the service completed per second, "
                           "latency from the intended start (ok and fail), the pending backlog when the step's load "
                           "ended, and CPU seconds per component during the step.")
            + "</main>")
    return document(f"orderquake capacity · {payload.get('scenario')}", body, data=chart_data(payload),
                    page_script="capacity.js")


def write_capacity_html(path: Path) -> Path:
    """Write ``report.html`` beside ``capacity.json`` in the capacity directory ``path``."""
    payload = json.loads((path / "capacity.json").read_text())
    out = path / "report.html"
    out.write_text(render_capacity(payload, path), encoding="utf-8")
    return out
