"""The shell every orderquake page shares: escaping, tables, and the assets inlined into the page.

A page is one file that opens anywhere, offline: the CSS, the charting library and the page's
script are copied into it, and its data is a JSON document in a ``<script type="application/json">``
that the script reads. Nothing is fetched when the page is viewed.

The charting library is uPlot (``assets/uPlot.iife.min.js``, ``assets/uPlot.min.css``, MIT,
licence in ``assets/uPlot.LICENSE``), vendored unchanged from the npm package ``uplot@1.6.32``.
Why uPlot: it draws tens of thousands of points per chart on a canvas in milliseconds (a soak run
has one point per second per series), it is 50 KB with no dependency, its cursor sync gives
several charts one shared time axis and its legend shows the values under the cursor, and it is
actively maintained. Its one-line banner (the project's address) is replaced by the licence text
when inlined, so the page names no external address.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from importlib.resources import files
from typing import Any

UPLOT_VERSION = "1.6.32"

_ASSETS = files("harness.report") / "assets"


def asset(name: str) -> str:
    """The text of one of the files in ``harness/report/assets/``."""
    return (_ASSETS / name).read_text(encoding="utf-8")


def e(value: object) -> str:
    """``value`` as HTML text, quotes included (safe in attributes too)."""
    return html.escape(str(value), quote=True)


def cell(content: str, css: str = "") -> str:
    """One ``<td>`` of HTML that is already escaped."""
    return f'<td class="{css}">{content}</td>' if css else f"<td>{content}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, css: str = "", numeric: Iterable[int] = ()
          ) -> str:
    """A table of escaped headers and rows of ready ``<td>`` cells (see ``cell``); the headers of the
    ``numeric`` columns are aligned right, as their cells should be (``cell(..., "num")``)."""
    right = set(numeric)
    head = "".join(f'<th class="num">{e(h)}</th>' if i in right else f"<th>{e(h)}</th>"
                   for i, h in enumerate(headers))
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return (f'<div class="table-wrap"><table class="{css}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def section(anchor: str, title: str, body: str, *, note: str = "") -> str:
    lead = f'<p class="note">{note}</p>' if note else ""
    return f'<section id="{e(anchor)}"><h2>{e(title)}</h2>{lead}{body}</section>'


def json_script(element_id: str, payload: Any) -> str:
    """``payload`` as a JSON data block; ``<`` is escaped so no value can close the script element."""
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False, default=str).replace("<", "\\u003c")
    return f'<script type="application/json" id="{e(element_id)}">{text}</script>'


def _library() -> str:
    script = asset("uPlot.iife.min.js")
    if script.startswith("/*!"):
        script = script[script.index("*/") + 2:].lstrip("\n")
    notice = asset("uPlot.LICENSE").replace("*/", "* /")
    return f"/*! uPlot v{UPLOT_VERSION}\n{notice}\n*/\n{script}"


def document(title: str, body: str, *, data: Any | None = None, page_script: str | None = None) -> str:
    """A whole page: ``body`` is ready HTML; with ``data``, the charting library and ``page_script``
    (an asset's name) are inlined and read it from the ``oq-data`` block."""
    scripts = ""
    style = asset("page.css")
    if data is not None:
        style = asset("uPlot.min.css") + "\n" + style
        shared = asset("charts.js")
        own = asset(page_script) if page_script else ""
        scripts = (json_script("oq-data", data) + f"<script>{_library()}</script>"
                   + f"<script>{shared}\n{own}</script>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title)}</title><style>{style}</style></head>"
            f"<body>{body}{scripts}</body></html>\n")
