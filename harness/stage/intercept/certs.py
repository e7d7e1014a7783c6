"""A throw-away certificate authority per stage, and one server certificate for Stripe's hosts.

Made with the ``openssl`` command line: the ``cryptography`` package is not a dependency of
orderquake (nor installed in its virtualenv), while ``openssl`` ships wherever Python's own
``ssl`` module does, so adding a compiled dependency for three commands is not worth it. Keys
are P-256 (generated in milliseconds, unlike RSA) and never leave the folder given, which the
stage removes with itself.

    >>> certs = make_certs(stage_root / "intercept")  # doctest: +SKIP
    >>> certs.bundle  # the file a SUT's SSL_CERT_FILE names: the test CA alone  # doctest: +SKIP
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness._exceptions import InfrastructureError

STRIPE_HOSTS = ("api.stripe.com", "files.stripe.com", "connect.stripe.com")
VALID_DAYS = 30  # a stage left up by ``orderquake up`` outlives a run by days, never by weeks
_CURVE = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")


@dataclass(frozen=True)
class InterceptCerts:
    """The files of one stage's test CA and its server certificate."""

    folder: Path
    hosts: tuple[str, ...]

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def bundle(self) -> Path:
        """The CA bundle the SUT trusts: the test CA alone, so no other host verifies through it."""
        return self.ca_cert


def _openssl(args: Sequence[str], folder: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise InfrastructureError("openssl not found on PATH: provider intercept needs it to make the stage's test "
                                  "certificates (Debian: apt-get install openssl)")
    try:
        subprocess.run([binary, *args], cwd=folder, check=True, capture_output=True, timeout=30)
    except subprocess.CalledProcessError as exc:
        raise InfrastructureError(f"openssl {args[0]} failed with code {exc.returncode} while making the stage's "
                                  f"test certificates: {exc.stderr.decode(errors='replace').strip()}") from exc
    except subprocess.TimeoutExpired as exc:
        raise InfrastructureError(f"openssl {args[0]} did not finish within 30 s") from exc


def make_certs(folder: Path, hosts: Sequence[str] = STRIPE_HOSTS) -> InterceptCerts:
    """A new CA and a certificate for ``hosts`` (each a subjectAltName) signed by it, in ``folder``.

    Any files of an earlier stage in ``folder`` are replaced: a CA is never reused.
    """
    if not hosts or not all(isinstance(h, str) and h and "," not in h for h in hosts):
        raise InfrastructureError(f"expected host names for the test certificate, got hosts={list(hosts)!r}")
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    certs = InterceptCerts(folder=folder, hosts=tuple(hosts))
    days = str(VALID_DAYS)
    _openssl(["req", "-x509", *_CURVE, "-keyout", certs.ca_key.name, "-out", certs.ca_cert.name, "-days", days,
              "-subj", f"/CN=orderquake test CA {secrets.token_hex(4)}",
              "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], folder)
    _openssl(["req", "-new", *_CURVE, "-keyout", certs.server_key.name, "-out", "server.csr",
              "-subj", f"/CN={hosts[0]}"], folder)
    extensions = folder / "server.ext"
    extensions.write_text("basicConstraints = critical, CA:FALSE\n"
                          "keyUsage = critical, digitalSignature\n"
                          "extendedKeyUsage = serverAuth\n"
                          "subjectKeyIdentifier = hash\n"
                          "authorityKeyIdentifier = keyid\n"
                          f"subjectAltName = {', '.join(f'DNS:{host}' for host in hosts)}\n")
    _openssl(["x509", "-req", "-in", "server.csr", "-CA", certs.ca_cert.name, "-CAkey", certs.ca_key.name,
              "-set_serial", str(secrets.randbits(63)), "-days", days, "-extfile", extensions.name,
              "-out", certs.server_cert.name], folder)
    (folder / "server.csr").unlink()
    extensions.unlink()
    for key in (certs.ca_key, certs.server_key):
        os.chmod(key, 0o600)
    return certs
