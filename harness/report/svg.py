"""Small inline SVG charts for the HTML report: no JavaScript, no external assets."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

_W, _H, _PAD = 1040, 180, 36
_COLOURS = {"ok": "#1f883d", "fail": "#cf222e", "info": "#d4a72c"}


def _frame(title: str, inner: str, x_max: float, y_max: float) -> str:
    axis = (f'<text x="{_PAD}" y="14" font-size="12">{html.escape(title)}</text>'
            f'<text x="4" y="{_PAD + 4}" font-size="10">{y_max:g}</text>'
            f'<text x="{_W - _PAD}" y="{_H - 6}" font-size="10" text-anchor="end">{x_max:.0f} s</text>'
            f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - 8}" y2="{_H - _PAD}" stroke="#8c959f"/>')
    return f'<svg viewBox="0 0 {_W} {_H}" width="100%" role="img">{axis}{inner}</svg>'


def _scale(x_max: float, y_max: float) -> tuple[float, float]:
    return (_W - _PAD - 8) / max(x_max, 1e-9), (_H - 2 * _PAD) / max(y_max, 1e-9)


def _spans(spans: Sequence[tuple[float, float, str]], sx: float) -> str:
    parts = []
    for start, end, name in spans:
        x = _PAD + start * sx
        width = max((end - start) * sx, 2)
        parts.append(f'<rect x="{x:.1f}" y="20" width="{width:.1f}" height="{_H - _PAD - 20}" fill="#8250df"'
                     f' fill-opacity="0.12"><title>{html.escape(name)}</title></rect>'
                     f'<text x="{x + 2:.1f}" y="30" font-size="10" fill="#8250df">{html.escape(name)}</text>')
    return "".join(parts)


def bars_chart(title: str, buckets: Sequence[dict[str, Any]],
               spans: Sequence[tuple[float, float, str]]) -> str:
    """Stacked bars per second of ``ok``/``fail``/``info`` counts, fault spans shaded behind them."""
    if not buckets:
        return ""
    x_max = max(float(b["t"]) for b in buckets) + 1
    y_max = max(sum(int(b.get(k, 0)) for k in _COLOURS) for b in buckets) or 1
    sx, sy = _scale(x_max, y_max)
    bars = []
    for bucket in buckets:
        y = float(_H - _PAD)
        for key, colour in _COLOURS.items():
            height = int(bucket.get(key, 0)) * sy
            if height:
                y -= height
                x = _PAD + float(bucket["t"]) * sx
                bars.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(sx - 1, 1):.1f}"'
                            f' height="{height:.1f}" fill="{colour}"/>')
    return _frame(title, _spans(spans, sx) + "".join(bars), x_max, y_max)


def line_chart(title: str, points: Sequence[tuple[Any, Any]],
               spans: Sequence[tuple[float, float, str]]) -> str:
    """A polyline of (seconds, value) points; points without a value are skipped."""
    clean = [(float(x), float(y)) for x, y in points if x is not None and y is not None]
    if not clean:
        return ""
    x_max = max(x for x, _ in clean) + 1
    y_max = max(y for _, y in clean) or 1
    sx, sy = _scale(x_max, y_max)
    path = " ".join(f"{_PAD + x * sx:.1f},{_H - _PAD - y * sy:.1f}" for x, y in clean)
    line = f'<polyline points="{path}" fill="none" stroke="#0969da" stroke-width="2"/>'
    return _frame(title, _spans(spans, sx) + line, x_max, y_max)
