"""Points stripe-python at the mock provider, or makes it trust the stage's test CA, unchanged.

The stage puts this directory first on the SUT's ``PYTHONPATH``, so the SUT's files are never
touched. Python imports ``sitecustomize`` at start-up; this one installs an import hook that, once
the service imports ``stripe``, applies what the stage set:

- ``ORDERQUAKE_STRIPE_API_BASE`` (the target's ``python_shim: true``): the SDK's API base, the
  module-level ``stripe.api_base`` and the default of ``StripeClient``, is the provider link;
- ``ORDERQUAKE_STRIPE_CA_BUNDLE`` (``intercept: true``): ``stripe.ca_bundle_path`` is the stage's
  test CA. stripe-python passes its own bundled CA file to every request, so ``REQUESTS_CA_BUNDLE``
  and ``SSL_CERT_FILE`` never reach it; the API base stays ``https://api.stripe.com``, reached
  through ``HTTPS_PROXY`` (``harness.stage.intercept``).

Then it hands over to any other ``sitecustomize`` further down the path, so a virtualenv's own
one still runs. Nothing here imports stripe before the service does.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

_BASE = os.environ.get("ORDERQUAKE_STRIPE_API_BASE", "")
_BUNDLE = os.environ.get("ORDERQUAKE_STRIPE_CA_BUNDLE", "")
_HERE = os.path.dirname(os.path.abspath(__file__))


def _point(stripe: Any) -> None:
    if _BUNDLE:
        stripe.ca_bundle_path = _BUNDLE
    if _BASE:
        stripe.api_base = _BASE
        stripe.DEFAULT_API_BASE = _BASE
        client: Any = sys.modules.get("stripe._stripe_client")
        if client is not None:
            client.DEFAULT_API_BASE = _BASE


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        _point(module)


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


if _BASE or _BUNDLE:
    if "stripe" in sys.modules:
        _point(sys.modules["stripe"])
    else:
        sys.meta_path.insert(0, _Finder())
_chain()
