"""How the stage uses the intercept: the proxy as a supervised process, and what the SUT is told."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.stage.intercept.certs import InterceptCerts
from harness.stage.process import SupervisedProcess, tcp_probe

TRUST_DIR = Path(__file__).resolve().parents[1] / "shim"  # its sitecustomize also sets the CA bundle
NO_PROXY = "127.0.0.1,localhost"  # the SUT's database, the callbacks and the direct provider stay unproxied


def proxy_process(port: int, upstream: str, certs: InterceptCerts, log_path: Path) -> SupervisedProcess:
    """The proxy on ``127.0.0.1:port``, tunnelling the certificate's hosts to ``upstream`` (host:port)."""
    argv = [sys.executable, "-m", "harness.stage.intercept", "--port", str(port), "--upstream", upstream,
            "--cert", str(certs.server_cert), "--key", str(certs.server_key)]
    for host in certs.hosts:
        argv += ["--allow-host", host]
    return SupervisedProcess(name="intercept", argv=argv, log_path=log_path, probe=tcp_probe("127.0.0.1", port),
                             ready_deadline_s=20.0)


def sut_environment(proxy_url: str, certs: InterceptCerts) -> dict[str, str]:
    """HTTPS through the proxy, loopback direct, and the test CA as the only trusted root.

    ``SSL_CERT_FILE`` serves OpenSSL's default store and Go's ``crypto/x509``, ``REQUESTS_CA_BUNDLE``
    requests, ``CURL_CA_BUNDLE`` curl; stripe-python pins its own bundle, so the ``shim``
    sitecustomize on ``PYTHONPATH`` points it at the same file.
    """
    bundle = str(certs.bundle)
    python_path = os.pathsep.join(p for p in (str(TRUST_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {"HTTPS_PROXY": proxy_url, "https_proxy": proxy_url, "NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY,
            "SSL_CERT_FILE": bundle, "REQUESTS_CA_BUNDLE": bundle, "CURL_CA_BUNDLE": bundle,
            "ORDERQUAKE_STRIPE_CA_BUNDLE": bundle, "PYTHONPATH": python_path}
