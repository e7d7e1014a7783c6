"""HTTPS interception: a SUT whose provider SDK always calls ``https://api.stripe.com`` reaches the
mock provider anyway, through the ``provider`` link, without a change to the service.

A target asks for it with ``provider: {dialect: stripe, intercept: true}``. What runs where:

- **The harness, at stage start** (``certs``): ``openssl`` makes a fresh test CA and one P-256
  certificate for ``api.stripe.com``, ``files.stripe.com`` and ``connect.stripe.com`` in
  ``<stage root>/intercept/`` (keys mode 0600); the folder is removed with the stage, by ``stop``,
  ``down`` or the next command's clean-up of a killed harness.
- **A process of the stage** (``proxy``, run as ``python -m harness.stage.intercept``, recorded in
  the state file as ``intercept`` like every component, so a detached ``orderquake up`` stage keeps
  it and ``down`` stops it): an asyncio HTTP proxy on ``127.0.0.1``. It tunnels ``CONNECT`` to those
  hosts on port 443 only, ends TLS with the stage's certificate, and streams the plaintext both
  ways to Toxiproxy's listen address of the ``provider`` link, so every provider fault applies.
  Any other ``CONNECT`` and plain ``http://`` requests get 403.
- **The SUT** (``wiring.sut_environment``): ``HTTPS_PROXY``/``https_proxy`` naming the proxy,
  ``NO_PROXY``/``no_proxy`` = ``127.0.0.1,localhost``, and the test CA as ``SSL_CERT_FILE``,
  ``REQUESTS_CA_BUNDLE`` and ``CURL_CA_BUNDLE``. Go's ``net/http`` (stripe-go's default client)
  honours all it needs of these. stripe-python does not: it passes its own bundled CA file to
  requests, which then ignores ``REQUESTS_CA_BUNDLE``; the ``harness/stage/shim`` folder's ``sitecustomize``,
  first on the SUT's ``PYTHONPATH``, sets ``stripe.ca_bundle_path`` to the test CA once the
  service imports stripe (the API base stays ``https://api.stripe.com``).

Tested by ``tests/unit/test_intercept_*.py`` (certificates checked with the stdlib ``ssl`` in
memory, the proxy's refusals and tunnel on loopback, the trust hook in a child interpreter) and
``tests/integration/stage/test_intercept*.py``: a real stage (PostgreSQL, Toxiproxy, the mock provider
in the stripe dialect) whose SUT is an unmodified stripe-python 16 service, and, marked ``slow``,
one built from ``intercept_go/`` on stripe-go v84's default client; each creates and reads back a
PaymentIntent held by the mock provider, and a latency toxic on the ``provider`` link slows it.
"""

from harness.stage.intercept.certs import STRIPE_HOSTS, InterceptCerts, make_certs
from harness.stage.intercept.proxy import InterceptProxy, ProxyConfig, parse_connect
from harness.stage.intercept.wiring import proxy_process, sut_environment

__all__ = ["STRIPE_HOSTS", "InterceptCerts", "InterceptProxy", "ProxyConfig", "make_certs", "parse_connect",
           "proxy_process", "sut_environment"]
