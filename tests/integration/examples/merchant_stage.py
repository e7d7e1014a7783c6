"""A small stage for the example merchant: a real PostgreSQL, the real mock provider (stripe dialect)
and the merchant service, each a real process, stopped whatever happens.

The merchant is pointed at the mock the way orderquake does it: a ``sitecustomize.py`` on its
``PYTHONPATH`` sets ``stripe.api_base`` before the service starts; the service itself reads no
Stripe address. Its database is a fresh one per start, migrated by ``python -m examples.merchant
migrate`` and given the target file's fixtures.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml

from contract import publishable_key
from harness.stage.postgres import PostgresServer, data_home
from tests.integration.processes import healthy, stop, wait_for

REPO = Path(__file__).resolve().parents[3]
TARGET = REPO / "examples" / "merchant" / "target.yaml"
API_KEY = "sk_test_merchant"
WEBHOOK_SECRET = "whsec_merchant"
SHIM_VARIABLE = "MERCHANT_TEST_STRIPE_API_BASE"  # read by the test's sitecustomize only, never by the service

# A database error the tests switch on per order: any UPDATE of a listed order's status fails.
FAULT_SQL = """
CREATE TABLE test_fault (order_id TEXT PRIMARY KEY);
CREATE FUNCTION test_fault_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM test_fault WHERE order_id = NEW.id) THEN
        RAISE EXCEPTION 'injected failure updating order %', NEW.id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_fault BEFORE UPDATE OF status ON shop_order FOR EACH ROW EXECUTE FUNCTION test_fault_update();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Provider:
    url: str
    control: httpx.Client

    def behave(self, **fields: Any) -> None:
        self.control.put("/_control/behaviour", json=fields).raise_for_status()

    def records(self, merchant_id: str) -> list[dict[str, Any]]:
        lines = self.control.get("/_ledger/orders").text.splitlines()
        return [r for r in map(json.loads, filter(None, lines)) if r["merchant_order_id"] == merchant_id]

    def deliveries(self, object_id: str) -> list[dict[str, Any]]:
        lines = self.control.get("/_ledger/callbacks").text.splitlines()
        return [r for r in map(json.loads, filter(None, lines)) if r["object_id"] == object_id]

    def confirm(self, intent: str, secret: str, payment_method: str = "pm_card_visa") -> httpx.Response:
        """What Stripe.js does in the payer's browser: confirm with the publishable key and the client secret."""
        return httpx.post(f"{self.url}/v1/payment_intents/{intent}/confirm", timeout=10,
                          headers={"Authorization": f"Bearer {publishable_key(API_KEY)}"},
                          data={"client_secret": secret, "payment_method": payment_method})


@dataclass
class Merchant:
    """A running merchant service and a client logged in to it."""

    url: str
    database_url: str
    variant: str
    provider: Provider
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))
    token: str = ""

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        return self.http.request(method, f"{self.url}{path}", headers=headers, **kwargs)

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(query.encode(), params)
            return cursor.fetchall() if cursor.description is not None else []

    def order(self, client_ref: str, amount: int = 1234, currency: str = "EUR") -> dict[str, Any]:
        response = self.api("POST", "/api/orders/", json={
            "client_ref": client_ref, "items": [{"sku": "credit", "quantity": amount}], "currency": currency})
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def pay(self, order_id: str) -> tuple[str, str]:
        response = self.api("POST", f"/api/orders/{order_id}/create-payment/")
        assert response.status_code == 200, response.text
        return response.json()["payment_intent_id"], response.json()["client_secret"]

    def status(self, client_ref: str) -> str:
        response = self.api("GET", f"/api/orders/by-ref/{client_ref}/")
        assert response.status_code == 200, response.text
        return str(response.json()["status"])

    def wait_status(self, client_ref: str, status: str, timeout_s: float = 15) -> None:
        wait_for(lambda: self.status(client_ref) == status, timeout_s, f"order {client_ref} {status}")

    def webhook(self, event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> httpx.Response:
        """Post ``event`` signed as Stripe signs: HMAC-SHA256 over ``"{t}.{payload}"``."""
        payload = json.dumps(event).encode()
        t = int(time.time())
        signature = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
        return self.http.post(f"{self.url}/webhooks/stripe", content=payload,
                              headers={"Stripe-Signature": f"t={t},v1={signature}",
                                       "Content-Type": "application/json"})


@dataclass
class Stage:
    postgres: PostgresServer
    provider: Provider
    sut_port: int
    root: Path
    starts: int = 0

    @contextmanager
    def merchant(self, variant: str = "correct", **env: str) -> Iterator[Merchant]:
        """The merchant service in ``variant`` on a fresh database, signed up and logged in."""
        self.starts += 1
        name = f"merchant{self.starts}"
        database_url = self.postgres.create_database(name)
        target = yaml.safe_load(TARGET.read_text())
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "STRIPE_", "MERCHANT_"))}
        shim = self.root / "shim"
        shim.mkdir(exist_ok=True)
        (shim / "sitecustomize.py").write_text(
            f"import os\n\nimport stripe\n\nstripe.api_base = os.environ[{SHIM_VARIABLE!r}]\n")
        sut_env = base_env | {
            "PYTHONPATH": str(shim), SHIM_VARIABLE: self.provider.url,
            "MERCHANT_PORT": str(self.sut_port), "PGHOST": "127.0.0.1", "PGPORT": str(self.postgres.port),
            "PGDATABASE": name, "PGUSER": "postgres", "PGPASSWORD": "",
            "STRIPE_SECRET_KEY": API_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            # Short deadlines, so that reconciliation acts within a test's patience.
            "MERCHANT_RECONCILE_INTERVAL_S": "0.3", "MERCHANT_RECONCILE_AFTER_S": "0.5",
            "MERCHANT_PAYMENT_WINDOW_S": "10", "MERCHANT_DB_TIMEOUT_S": "3",
            "MERCHANT_PASSWORD_HASH_N": target["env"]["MERCHANT_PASSWORD_HASH_N"]} | env
        for argv in target["setup"]:
            command = [sys.executable if a == "{python}" else a for a in argv]
            done = subprocess.run(command, cwd=REPO, env=sut_env, capture_output=True, timeout=60, check=False)
            assert done.returncode == 0, done.stderr.decode()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(target["fixtures"].encode())
            conn.execute(FAULT_SQL.encode())
        log = self.root / f"{name}-{variant}.log"
        argv = [sys.executable if a == "{python}" else a.replace("{variant}", variant) for a in target["start"]]
        with log.open("ab") as out:
            process = subprocess.Popen(argv, cwd=REPO, env=sut_env, stdout=out, stderr=subprocess.STDOUT)
        merchant = Merchant(f"http://127.0.0.1:{self.sut_port}", database_url, variant, self.provider)
        try:
            wait_for(healthy(merchant.url, process, log), 30, f"the merchant ({variant}) answers /healthz")
            credentials = {"email": "buyer@shop.test", "password": "pw-buyer"}
            assert merchant.api("POST", "/api/signup/", json=credentials).status_code == 201
            merchant.token = merchant.api("POST", "/api/login/", json=credentials).json()["token"]
            yield merchant
        finally:
            merchant.http.close()
            stop(process)


@contextmanager
def stage(root: Path) -> Iterator[Stage]:
    """PostgreSQL and the stripe-dialect provider, its webhooks aimed at the port the merchant will take."""
    data = data_home(root / "pg")
    postgres = PostgresServer(data_dir=data, port=free_port(), log_path=root / "pg.log")
    sut_port, port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / "provider.log"
    command = [sys.executable, "-m", "mock_provider", "--port", str(port), "--db", str(root / "ledger.db"),
               "--api-key", API_KEY, "--webhook-secret", WEBHOOK_SECRET, "--seed", "11", "--dialect", "stripe",
               "--callback-base-url", f"http://127.0.0.1:{sut_port}", "--stripe-webhook-path", "/webhooks/stripe"]
    try:
        postgres.init()
        postgres.start()
        with log.open("ab") as out:
            process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                       env=os.environ | {"PYTHONPATH": str(REPO)})
        try:
            wait_for(healthy(url, process, log), 30, "the stripe-dialect provider answers /healthz")
            with httpx.Client(base_url=url, timeout=10) as control:
                provider = Provider(url, control)
                provider.behave(decline_rate=0.0, settle_delay_ms=100, callback_backoff_ms=100)
                yield Stage(postgres, provider, sut_port, root)
        finally:
            stop(process)
    finally:
        postgres.stop("immediate")  # no checkpoint: the cluster is thrown away
        if data != root / "pg":  # a cluster kept outside the test's folder (run as root) is removed here
            shutil.rmtree(data, ignore_errors=True)
