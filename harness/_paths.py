"""Where orderquake keeps its things: the project root, the tools folder, the runs folder."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def tools_dir() -> Path:
    """The project-local tools folder that ``make setup`` fills (toxiproxy-server, caches)."""
    return Path(os.environ.get("ORDERQUAKE_TOOLS", PROJECT_ROOT / ".tools"))


def state_dir() -> Path:
    """Where the state file of a running stage lives; shared by every command on this machine."""
    return Path(os.environ.get("ORDERQUAKE_STATE_DIR", PROJECT_ROOT / "runs" / ".stage"))


def scenarios_dir() -> Path:
    """The built-in scenarios."""
    return PROJECT_ROOT / "scenarios"
