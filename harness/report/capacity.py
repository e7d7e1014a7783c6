"""The capacity section: throughput and p99 against offered load, the knee and the model, per series."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.report._page import document, e, section


def render_capacity(payload: dict[str, Any]) -> str:
    knees = ", ".join(f"{e(s['name'])}: {e(s['knee']['rate'])}/s" for s in payload.get("series", []))
    return section("capacity", "Capacity", f"<p>{knees}</p>")


def write_capacity_html(path: Path) -> Path:
    payload = json.loads((path / "capacity.json").read_text())
    out = path / "report.html"
    out.write_text(document(f"orderquake capacity · {payload.get('scenario')}", render_capacity(payload)))
    return out
