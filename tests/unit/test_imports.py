"""Every module of the project imports first, on its own: no import cycle waits for an import order.

Each module is imported after every project module is forgotten (third-party packages stay
loaded, so this is one interpreter and a few seconds). The modules that run only inside Locust
(gevent-patched) and the interpreter start-up shim are left out.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("harness", "mock_provider", "order_service", "contract")
INSIDE_LOCUST = {"harness.load.locustfile", "harness.load.arrivals", "harness.stage.shim.sitecustomize"}
OPTIONAL = {"harness.stage.compose": "docker.errors"}  # a module of an optional extra: the package it needs


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            if name not in INSIDE_LOCUST and parts[-1] != "__main__":
                names.append(name)
    return names


def test_the_module_list_is_not_empty() -> None:
    assert {"harness.rundir", "harness.checker.integrity", "mock_provider.app"} <= set(_modules())


@pytest.mark.parametrize("name", _modules())
def test_a_module_imports_first(name: str) -> None:
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name], reason=f"{name} needs an optional extra that is not installed")
    saved = dict(sys.modules)
    try:
        for loaded in list(sys.modules):
            if loaded.split(".")[0] in PACKAGES:
                del sys.modules[loaded]
        importlib.import_module(name)
    finally:
        sys.modules.clear()
        sys.modules.update(saved)
