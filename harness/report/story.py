"""One example of a violation told on one line of time: what each client attempt did and when, what
the provider recorded and when, the fault windows around it, and what the final reads found.

Drawn as a small inline SVG (no script needed to read it), zoomed to the example's own span so
that a double submission 3 ms apart is two bars, not one dot; every mark has a tooltip with its
exact time. Below it, the same story as text, for copying ids and times.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.report import _format as fmt
from harness.report._page import e
from harness.report.analysis import FaultWindow

FAULT_COLOURS = ("#8250df", "#bf3989", "#0f766e", "#953800", "#1b7c83", "#6e7781")

_W, _LEFT, _CAP = 1000, 74, 196
_PLOT = _W - _LEFT - _CAP
_ROW, _TOP, _AXIS = 14, 18, 22
_MIN_SPAN = 1.0
_OUTCOME_COLOUR = {"ok": "#2da44e", "fail": "#cf222e", "info": "#d4a72c", "open": "#d4a72c"}
_MONEY_MOVED = {"succeeded", "paid"}
_REFUSED = {"declined", "rejected", "failed"}


@dataclass(frozen=True)
class Window:
    """A fault window as the charts draw it, in seconds since the load started."""

    label: str
    colour: str
    start: float
    end: float
    title: str

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "colour": self.colour, "start": self.start, "end": self.end,
                "title": self.title}


def colours(n: int) -> list[str]:
    """The colour of each of ``n`` fault windows, the same on every chart and table of a page."""
    return [FAULT_COLOURS[i % len(FAULT_COLOURS)] for i in range(n)]


def window_label(window: FaultWindow) -> str:
    return f"{window.kind} · {window.link}" if window.link else window.kind


def chart_windows(windows: Sequence[FaultWindow], seconds: float) -> list[Window]:
    """The fault windows as the charts shade them; one never healed runs to ``seconds``."""
    out = []
    for window, colour in zip(windows, colours(len(windows)), strict=True):
        end = window.end_t if window.end_t is not None else float(seconds)
        healed = f"healed at {fmt.seconds(window.end_t)}" if window.end_t is not None else "never healed"
        out.append(Window(label=window_label(window), colour=colour, start=window.start_t, end=end,
                          title=f"{window.name}: {window_label(window)}, from {fmt.seconds(window.start_t)}, "
                                f"{healed}"))
    return out


@dataclass(frozen=True)
class Attempt:
    """One client operation of the example's id: its invoke and completion (either may be missing)."""

    op: str
    attempt: object
    start: float | None
    end: float | None
    outcome: str  # ok, fail, info; "open" when the invoke never completed
    status: object
    error: object
    latency_ms: float | None


def attempts(history: Sequence[Mapping[str, Any]], origin: float) -> list[Attempt]:
    """Pair the example's events on (process, op, attempt), in the order they were invoked."""
    open_: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    done: list[Attempt] = []
    for event in history:
        key = (event.get("process"), event.get("op"), event.get("attempt"))
        if event.get("type") == "invoke":
            open_[key] = event
            continue
        invoke = open_.pop(key, None)
        start = _t(invoke, origin) if invoke is not None else None
        latency = None
        if invoke is not None and _number(invoke.get("time")) is not None and _number(event.get("time")) is not None:
            latency = (float(event["time"]) - float(invoke["time"])) / 1e6
        done.append(Attempt(str(event.get("op")), event.get("attempt"), start, _t(event, origin),
                            str(event.get("type")), event.get("status"), event.get("error"), latency))
    for invoke in open_.values():
        done.append(Attempt(str(invoke.get("op")), invoke.get("attempt"), _t(invoke, origin), None, "open",
                            None, None, None))
    return sorted(done, key=lambda a: (a.start if a.start is not None else a.end or 0.0))


def render(example: Mapping[str, Any], *, origin: float, windows: Sequence[Window],
           provider_times: Mapping[str, tuple[float | None, float | None]]) -> str:
    """The example's SVG line of time and its text, as HTML."""
    tries = attempts(list(example.get("history") or ()), origin)
    records = [r for r in example.get("provider") or () if isinstance(r, Mapping)]
    rows = [r for r in example.get("sut") or () if isinstance(r, Mapping)]
    times = [t for a in tries for t in (a.start, a.end) if t is not None]
    times += [t for r in records for t in provider_times.get(str(r.get("provider_id")), (None, None)) if t is not None]
    lo, hi = _domain(times)
    near = [w for w in windows if w.start < hi and w.end > lo]
    client_rows = _pack([(a.start if a.start is not None else a.end or lo, a.end if a.end is not None else hi)
                         for a in tries])
    lanes_client = max(client_rows, default=-1) + 1 or 1
    lanes_provider = max(len(records), 1)
    height = _TOP + (lanes_client + lanes_provider) * _ROW + 10 + _AXIS
    provider_top = _TOP + lanes_client * _ROW + 10

    def x(t: float) -> float:
        return _LEFT + (t - lo) / (hi - lo) * _PLOT

    parts = [_bands(near, x, height - _AXIS)]
    parts.append(f'<text class="lane" x="4" y="{_TOP + 10}">client</text>'
                 f'<text class="lane" x="4" y="{provider_top + 10}">provider</text>')
    for attempt, row in zip(tries, client_rows, strict=True):
        parts.append(_attempt_bar(attempt, row, x, lo, hi))
    for index, record in enumerate(records):
        times_of = provider_times.get(str(record.get("provider_id")))
        parts.append(_provider_bar(record, times_of, provider_top + index * _ROW, x, hi))
    parts.append(_axis(lo, hi, x, height - _AXIS))
    parts.append(_final_cap(rows, records, bool(tries), height))
    svg = (f'<svg class="story" viewBox="0 0 {_W} {height}" role="img" '
           f'aria-label="timeline of {e(example.get("id"))}">{"".join(parts)}</svg>')
    return svg + _text(tries, records, rows, example.get("forged") or (), _relations(near, times), provider_times)


def overview(examples: Sequence[Mapping[str, Any]], *, origin: float, windows: Sequence[Window], seconds: float,
             violation: bool = True) -> str:
    """Every example of a category on the whole run's time axis, one thin row each: where in the run
    they happened, against the fault windows."""
    spans = []
    for example in examples:
        events = [e_ for e_ in example.get("history") or () if isinstance(e_, Mapping)]
        writes = [t for ev in events if not str(ev.get("op")).startswith("get_") and (t := _t(ev, origin)) is not None]
        reads = [t for ev in events if str(ev.get("op")).startswith("get_") and (t := _t(ev, origin)) is not None]
        if writes or reads:
            spans.append((str(example.get("id")), writes, reads))
    if not spans:
        return ""
    end = max(seconds, *(max(w + r) for _, w, r in spans), 1.0)
    height = _TOP + len(spans) * 6 + 4 + _AXIS

    def x(t: float) -> float:
        return _LEFT + t / end * _PLOT

    colour = "#cf222e" if violation else "#6e7781"
    marks = []
    for n, (op_id, writes, reads) in enumerate(spans):
        y = _TOP + n * 6
        bar = (f'<rect x="{x(min(writes)):.1f}" y="{y}" width="{max(x(max(writes)) - x(min(writes)), 3):.1f}" '
               f'height="4" rx="1" fill="{colour}"/>' if writes else "")
        dots = "".join(f'<circle cx="{x(t):.1f}" cy="{y + 2}" r="1.6" fill="#6e7781"/>' for t in reads)
        when = f"submitted {min(writes):.3f} s" if writes else "never submitted"
        marks.append(f"<g><title>{e(op_id)}: {when}{f', {len(reads)} read(s)' if reads else ''}</title>"
                     f"{bar}{dots}</g>")
    return (f'<svg class="story overview" viewBox="0 0 {_W} {height}" role="img" aria-label="when the examples '
            f'happened"><text class="lane" x="4" y="{_TOP + 8}">when</text>{_bands(windows, x, height - _AXIS)}'
            f'{"".join(marks)}{_axis(0.0, end, x, height - _AXIS)}'
            f'<text x="{_LEFT + _PLOT + 16}" y="{_TOP + 8}">{len(spans)} examples in the run:</text>'
            f'<text x="{_LEFT + _PLOT + 16}" y="{_TOP + 22}">bar: submitted, dot: read</text></svg>')


def relation(window: Window, times: Sequence[float]) -> str:
    """How the example's events stand to a fault window: inside it, or how long before or after."""
    if not times:
        return f"{window.label}: no time to place it against"
    first, last = min(times), max(times)
    if window.start <= last and window.end >= first:
        return f"during {window.label}"
    if last < window.start:
        return f"{window.label} began {fmt.seconds(window.start - last)} after"
    return f"{window.label} healed {fmt.seconds(first - window.end)} before"


def _relations(windows: Sequence[Window], times: Sequence[float]) -> list[str]:
    return [relation(w, times) for w in windows]


def _domain(times: list[float]) -> tuple[float, float]:
    if not times:
        return 0.0, _MIN_SPAN
    lo, hi = min(times), max(times)
    if hi - lo < _MIN_SPAN:
        middle = (lo + hi) / 2
        lo, hi = middle - _MIN_SPAN / 2, middle + _MIN_SPAN / 2
    pad = (hi - lo) * 0.06
    return lo - pad, hi + pad


def _pack(spans: list[tuple[float, float]]) -> list[int]:
    """A row per span such that spans in one row do not overlap (concurrent attempts stack)."""
    ends: list[float] = []
    rows = []
    for start, end in spans:
        row = next((i for i, last in enumerate(ends) if last <= start), len(ends))
        if row == len(ends):
            ends.append(end)
        else:
            ends[row] = end
        rows.append(row)
    return rows


def _bands(windows: Sequence[Window], x: Any, bottom: float) -> str:
    out = []
    for w in windows:
        left, right = max(x(w.start), _LEFT), min(x(w.end), _LEFT + _PLOT)
        width = max(right - left, 1.5)
        label = w.label if width > 7 * len(w.label) else (w.label[: max(int(width / 7) - 1, 0)] + "…"
                                                            if width > 24 else "")
        out.append(f'<g><title>{e(w.title)}</title><rect x="{left:.1f}" y="2" width="{width:.1f}" '
                   f'height="{bottom - 2:.1f}" fill="{e(w.colour)}" fill-opacity="0.12" stroke="{e(w.colour)}" '
                   f'stroke-opacity="0.5"/><text class="band-label" x="{left + 4:.1f}" y="13" '
                   f'style="fill:{e(w.colour)}">{e(label)}</text></g>')
    return "".join(out)


def _attempt_bar(a: Attempt, row: int, x: Any, lo: float, hi: float) -> str:
    start = a.start if a.start is not None else (a.end if a.end is not None else lo)
    end = a.end if a.end is not None else hi
    read = a.op.startswith("get_")
    y = _TOP + row * _ROW + (4 if read else 2)
    height = 6 if read else 10
    left = x(start)
    width = max(x(end) - left, 3.0)
    colour = _OUTCOME_COLOUR.get(a.outcome, "#8c959f")
    dash = ' stroke-dasharray="4 3"' if a.outcome == "open" else ""
    fill_opacity = "0.55" if read else "0.9"
    tip = _attempt_text(a)
    invoke_tick = (f'<line x1="{left:.1f}" x2="{left:.1f}" y1="{y - 2}" y2="{y + height + 2}" stroke="#1f2328"/>'
                   if a.start is not None else "")
    return (f'<g><title>{e(tip)}</title><rect x="{left:.1f}" y="{y}" width="{width:.1f}" height="{height}" rx="2" '
            f'fill="{colour}" fill-opacity="{fill_opacity}" stroke="{colour}"{dash}/>{invoke_tick}</g>')


def _provider_bar(record: Mapping[str, Any], times: tuple[float | None, float | None] | None, y: float, x: Any,
                  hi: float) -> str:
    status = str(record.get("status"))
    created, settled = times or (None, None)
    if created is None:
        return ""
    colour = "#2da44e" if status in _MONEY_MOVED else "#8c959f" if status in _REFUSED else "#d4a72c"
    left = x(created)
    width = max(x(settled if settled is not None else hi) - left, 3.0)
    tip = f"provider {record.get('provider_id')}: {status}, created {fmt.seconds(created)}" + (
        f", settled {fmt.seconds(settled)}" if settled is not None else ", not settled")
    return (f'<g><title>{e(tip)}</title><rect x="{left:.1f}" y="{y + 2}" width="{width:.1f}" height="10" rx="2" '
            f'fill="{colour}" fill-opacity="0.35" stroke="{colour}"/>'
            f'<circle cx="{left:.1f}" cy="{y + 7}" r="3" fill="{colour}"/></g>')


def _axis(lo: float, hi: float, x: Any, y: float) -> str:
    digits = max(0, min(3, 1 - math.floor(math.log10(hi - lo))))
    ticks = [lo + (hi - lo) * i / 4 for i in range(5)]
    out = [f'<line x1="{_LEFT}" x2="{_LEFT + _PLOT}" y1="{y}" y2="{y}" stroke="#d1d9e0"/>']
    for i, t in enumerate(ticks):
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{y}" y2="{y + 4}" stroke="#d1d9e0"/>'
                   f'<text x="{x(t):.1f}" y="{y + 15}" text-anchor="{anchor}">{t:.{digits}f} s</text>')
    return "".join(out)


def _final_cap(rows: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]], submitted: bool,
               height: float) -> str:
    left = _LEFT + _PLOT + 16
    sut = ", ".join(str(r.get("status")) for r in rows) or "no record"
    provider = ", ".join(str(r.get("status")) for r in records) or "no record"
    sut_bad = (not rows and submitted) or len(rows) > 1
    return (f'<line x1="{left - 8}" x2="{left - 8}" y1="2" y2="{height - _AXIS}" stroke="#d1d9e0" '
            f'stroke-dasharray="3 3"/><text x="{left}" y="13">at the final read</text>'
            f'<text class="final{" bad" if sut_bad else ""}" x="{left}" y="{_TOP + 12}">SUT: {e(_clip(sut))}</text>'
            f'<text class="final{" bad" if len(records) > 1 else ""}" x="{left}" y="{_TOP + 28}">'
            f'provider: {e(_clip(provider))}</text>')


def _clip(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _attempt_text(a: Attempt) -> str:
    start = "never invoked" if a.start is None else f"{a.start:.3f} s"
    if a.outcome == "open":
        return f"{start} {a.op} #{a.attempt}: invoked, never completed"
    status = f" {a.status}" if a.status is not None else ""
    took = f" in {fmt.milliseconds(a.latency_ms)}" if a.latency_ms is not None else ""
    error = f" ({a.error})" if a.error else ""
    return f"{start} {a.op} #{a.attempt} → {a.outcome}{status}{took}{error}"


def _text(tries: Sequence[Attempt], records: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]],
          forged: Sequence[Any], faults: Sequence[str],
          provider_times: Mapping[str, tuple[float | None, float | None]]) -> str:
    spans = []
    for a in tries:
        css = "o-invoke" if a.outcome == "open" else f"o-{a.outcome}"
        spans.append(f'<span class="{css}">{e(_attempt_text(a))}</span>')
    for r in records:
        created, settled = provider_times.get(str(r.get("provider_id")), (None, None))
        when = f" created {fmt.seconds(created)}" if created is not None else ""
        when += f", settled {fmt.seconds(settled)}" if settled is not None else ""
        amount = fmt.money(_int(r.get("amount_minor")), _str(r.get("currency")))
        spans.append(f"<span><i>provider</i> {e(r.get('status'))} {e(amount)}{e(when)}</span>")
    for row in rows:
        amount = fmt.money(_int(row.get("amount_minor")), _str(row.get("currency")))
        spans.append(f"<span><i>SUT</i> {e(row.get('status'))} {e(amount)}</span>")
    for claim in forged:
        if isinstance(claim, Mapping):
            spans.append(f"<span><i>forged callback</i> {e(claim.get('claim'))} ({e(claim.get('how'))}), "
                         f"HTTP {e(claim.get('http_status'))}</span>")
    if faults:
        spans.append("<span><i>faults</i> " + "; ".join(e(f) for f in faults) + "</span>")
    return f'<div class="events">{"".join(spans)}</div>'


def _t(event: Mapping[str, Any] | None, origin: float) -> float | None:
    wall = _number(event.get("wall")) if event is not None else None
    return None if wall is None else wall - origin


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
