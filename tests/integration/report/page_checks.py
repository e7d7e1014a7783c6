"""What every report page opened in Chromium must show: each chart drawn, no console error, nothing
fetched but the file itself; and its screenshot kept in tests/artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from chromium_cdp import Page

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

# Per canvas: its size, pixels drawn at all, and pixels in colour (the series; axes and grid are grey).
_CANVASES = """[...document.querySelectorAll("canvas")].map(c => {
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let drawn = 0, coloured = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] === 0) continue;
    drawn++;
    if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) coloured++;
  }
  const host = c.closest("[data-oq-chart], [data-oq-spark]");
  return {chart: host ? (host.dataset.oqChart || "spark") + " " + (host.dataset.op || "") : "?",
          width: c.width, height: c.height, drawn, coloured};
})"""

# Every address the page names in an attribute: all must stay inside the run directory.
_ADDRESSES = """[...document.querySelectorAll("[src], [href]")]
  .map(el => el.getAttribute("src") || el.getAttribute("href"))"""


def keep(shot: Path) -> None:
    """Also copy the screenshot to tests/artifacts/ (ignored by git), where CI can pick it up."""
    ARTIFACTS.mkdir(exist_ok=True)
    ignore = ARTIFACTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    shutil.copy2(shot, ARTIFACTS / shot.name)


def assert_clean(page: Page, url: str) -> None:
    assert page.console_errors == []
    assert page.requests == [url], "the page fetched something other than itself"
    addresses = page.evaluate(_ADDRESSES)
    assert all(":" not in a and not a.startswith("/") for a in addresses), addresses


def assert_drawn(page: Page, expected: int) -> list[dict[str, Any]]:
    canvases = page.evaluate(_CANVASES)
    assert len(canvases) == expected, canvases
    for canvas in canvases:
        assert canvas["width"] > 100 and canvas["height"] > 20, canvas
        assert canvas["drawn"] > 0 and canvas["coloured"] > 0, f"chart not drawn: {canvas}"
    return list(canvases)
