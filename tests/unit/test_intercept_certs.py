"""The stage's test CA and server certificate, checked by a real TLS handshake in memory (stdlib ssl)."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest

from harness._exceptions import InfrastructureError
from harness.stage.intercept import STRIPE_HOSTS, InterceptCerts, make_certs
from harness.stage.intercept import certs as certs_module


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> InterceptCerts:
    return make_certs(tmp_path_factory.mktemp("intercept"))


def handshake(certs: InterceptCerts, server_hostname: str, *, trusted: Path | None = None) -> None:
    """A TLS handshake between a client trusting ``trusted`` (default: the stage's bundle) and a server
    holding the stage's certificate, over memory buffers; raises what the client's verification raises."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certs.server_cert, certs.server_key)
    client_context = ssl.create_default_context(cafile=str(trusted or certs.bundle))
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(to_client, to_server, server_hostname=server_hostname)
    from_client, from_server = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context.wrap_bio(from_client, from_server, server_side=True)
    client_done = server_done = False
    for _ in range(20):
        try:
            client.do_handshake()
            client_done = True
        except ssl.SSLWantReadError:
            pass
        from_client.write(to_server.read())
        try:
            server.do_handshake()
            server_done = True
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError:
            pass  # the client's alert after it refused the certificate; the client raised already
        to_client.write(from_server.read())
        if client_done and server_done:
            return
    raise AssertionError("the in-memory handshake did not finish")


@pytest.mark.parametrize("host", STRIPE_HOSTS)
def test_the_certificate_verifies_against_the_stage_ca_for_each_stripe_host(certs: InterceptCerts, host: str) -> None:
    handshake(certs, host)


@pytest.mark.parametrize("host", ["example.com", "stripe.com", "evil.api.stripe.com", "api.stripe.com.example.org"])
def test_the_certificate_does_not_verify_for_another_host(certs: InterceptCerts, host: str) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        handshake(certs, host)


def test_every_stage_gets_its_own_ca(certs: InterceptCerts, tmp_path: Path) -> None:
    other = make_certs(tmp_path / "other")
    assert other.ca_cert.read_bytes() != certs.ca_cert.read_bytes()
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(certs, "api.stripe.com", trusted=other.bundle)


def test_keys_are_private_and_only_the_four_files_are_left(certs: InterceptCerts) -> None:
    assert sorted(p.name for p in certs.folder.iterdir()) == ["ca.key", "ca.pem", "server.key", "server.pem"]
    for key in (certs.ca_key, certs.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(certs.folder.stat().st_mode) == 0o700
    assert certs.bundle.read_text().count("BEGIN CERTIFICATE") == 1


def test_a_missing_openssl_is_an_infrastructure_error_saying_what_to_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(certs_module.shutil, "which", lambda name: None)
    with pytest.raises(InfrastructureError, match=r"openssl not found.*apt-get install openssl"):
        make_certs(tmp_path / "x")
