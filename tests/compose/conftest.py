"""The compose tests need a Docker engine and the images of scripts/compose-setup.sh.

They run only when asked for by marker (``pytest -m compose``, as ``make test-compose`` does):
a ``pytest`` or ``make test`` without it deselects them, so no test here depends on an engine
that the fast and integration targets never start.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Not even imported unless asked for: the Docker SDK they import is an optional extra, absent
    from the checkout ``make test`` installs."""
    if "compose" in (config.getoption("markexpr") or ""):
        return None
    return collection_path.name.startswith("test_") and collection_path.suffix == ".py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [item for item in items if "/tests/compose/" in str(item.path)]
    for item in mine:
        item.add_marker(pytest.mark.compose)
        item.add_marker(pytest.mark.slow)
    if "compose" not in (config.getoption("markexpr") or ""):
        config.hook.pytest_deselected(items=mine)
        items[:] = [item for item in items if item not in mine]
