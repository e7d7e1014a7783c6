"""Makes stripe-python trust the stage's test CA, for a SUT whose target sets ``intercept: true``.

stripe-python passes its own bundled CA file to every request (``verify=stripe.ca_bundle_path``),
so ``REQUESTS_CA_BUNDLE`` and ``SSL_CERT_FILE`` never reach it, and the intercept proxy's
certificate would be refused. The stage puts this directory first on the SUT's ``PYTHONPATH``
with ``ORDERQUAKE_STRIPE_CA_BUNDLE`` set; once the service imports ``stripe``, its
``ca_bundle_path`` names that bundle. The API base is left alone: the SDK still calls
``https://api.stripe.com``, through ``HTTPS_PROXY``. Any ``sitecustomize`` further down the path
runs too. Nothing here imports stripe before the service does.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

_BUNDLE = os.environ.get("ORDERQUAKE_STRIPE_CA_BUNDLE", "")
_HERE = os.path.dirname(os.path.abspath(__file__))


def _trust(stripe: Any) -> None:
    stripe.ca_bundle_path = _BUNDLE


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        _trust(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != "stripe":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def _chain() -> None:
    """Run the next ``sitecustomize`` on the path (ours shadows it)."""
    rest = [entry for entry in sys.path if os.path.abspath(entry or ".") != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None or spec.origin == __file__:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


if _BUNDLE:
    if "stripe" in sys.modules:
        _trust(sys.modules["stripe"])
    else:
        sys.meta_path.insert(0, _Finder())
_chain()
