"""The ``provider.intercept`` key of a target file, and the environment the intercept gives the SUT."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness._exceptions import ScenarioError
from harness.stage.intercept import InterceptCerts, sut_environment
from harness.stage.intercept.wiring import TRUST_DIR
from harness.target import parse_target

BASE = "name: x\nstart: [a]\nhealth: /h\nstate: {orders_sql: a, payouts_sql: b}\n"


def test_intercept_is_off_unless_asked_and_on_with_the_stripe_dialect() -> None:
    assert parse_target(BASE, file="t.yaml").provider.intercept is False
    spec = parse_target(BASE + "provider: {dialect: stripe, intercept: true}\n", file="t.yaml").provider
    assert (spec.dialect, spec.intercept, spec.python_shim) == ("stripe", True, False)


@pytest.mark.parametrize("provider, message", [
    ("{dialect: stripe, intercept: 'yes'}", "expected true or false, got 'yes' (str)"),
    ("{intercept: true}", "needs dialect: stripe, got dialect 'native' (str)"),
    ("{dialect: stripe, intercept: true, python_shim: true}", "expected python_shim or intercept, not both"),
])
def test_a_bad_intercept_names_the_field_and_line(provider: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_target(BASE + f"provider: {provider}\n", file="t.yaml")
    assert caught.value.field == "provider.intercept"
    assert message in str(caught.value) and "t.yaml:5" in str(caught.value)


def test_the_sut_gets_the_proxy_for_https_only_and_the_test_ca_everywhere(tmp_path: Path) -> None:
    certs = InterceptCerts(folder=tmp_path, hosts=("api.stripe.com",))
    env = sut_environment("http://127.0.0.1:4000", certs)
    assert env["HTTPS_PROXY"] == env["https_proxy"] == "http://127.0.0.1:4000"
    assert "HTTP_PROXY" not in env and "http_proxy" not in env  # plain http would be refused anyway
    assert env["NO_PROXY"] == env["no_proxy"] == "127.0.0.1,localhost"
    bundle = str(tmp_path / "ca.pem")
    assert {env[k] for k in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                             "ORDERQUAKE_STRIPE_CA_BUNDLE")} == {bundle}
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(TRUST_DIR)
    assert (TRUST_DIR / "sitecustomize.py").is_file()


@pytest.mark.parametrize("bundle", ["/stage/intercept/ca.pem", ""])
def test_the_trust_hook_points_stripe_python_at_the_bundle_and_nothing_else(bundle: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(TRUST_DIR), "ORDERQUAKE_STRIPE_CA_BUNDLE": bundle}
    shown = subprocess.run([sys.executable, "-c", "import stripe; print(stripe.ca_bundle_path, stripe.api_base)"],
                           env=env, capture_output=True, text=True, timeout=60, check=True).stdout.split()
    assert shown[1] == "https://api.stripe.com"
    if bundle:
        assert shown[0] == bundle
    else:
        assert shown[0].endswith("stripe/data/ca-certificates.crt")
