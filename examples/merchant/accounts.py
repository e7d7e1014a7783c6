"""Sign-up, log-in, and the ``Authorization: Token <token>`` every other API call carries.

Passwords are kept as scrypt hashes and tokens as SHA-256 digests, so the database alone gives
neither away. Hashing costs CPU on purpose (a third of a second at the default cost on a busy
small machine): it runs on a worker thread.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from examples.merchant.db import Conn
from examples.merchant.web import ClientError, context, error, json_object, text_field

_R, _P = 8, 1  # scrypt's block size and parallelism; its cost ``n`` is a setting (MERCHANT_PASSWORD_HASH_N)


def hash_password(password: str, n: int, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$digest``: the cost travels with the hash, so a changed setting spares old passwords."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=_R, p=_P, maxmem=256 * n * _R)
    return f"scrypt${n}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    _, n, r, p, salt, digest = stored.split("$")
    given = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                           maxmem=256 * int(n) * int(r))
    return hmac.compare_digest(given.hex(), digest)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _credentials(body: dict[str, Any]) -> tuple[str, str]:
    email = text_field(body, "email", max_length=254).strip().lower()
    if "@" not in email:
        raise ClientError(422, "invalid_field", f"email: expected an e-mail address, got {email!r}")
    return email, text_field(body, "password", max_length=200)


async def signup(request: Request) -> Response:
    email, password = _credentials(await json_object(request))
    password_hash = await run_in_threadpool(hash_password, password, context(request).settings.password_hash_n)

    async def insert(conn: Conn) -> int | None:
        row = await (await conn.execute(
            "INSERT INTO account (email, password_hash) VALUES (%s, %s) ON CONFLICT (email) DO NOTHING RETURNING id",
            (email, password_hash))).fetchone()
        return None if row is None else int(row["id"])
    account_id = await context(request).db.run(insert)
    if account_id is None:
        return error(409, "email_taken", f"an account with e-mail {email} exists")
    return JSONResponse({"id": account_id}, status_code=201)


async def login(request: Request) -> Response:
    email, password = _credentials(await json_object(request))
    db = context(request).db
    account = await db.fetch_one("SELECT id, password_hash FROM account WHERE email = %s", (email,))
    if account is None or not await run_in_threadpool(check_password, password, account["password_hash"]):
        return error(401, "invalid_credentials", "wrong e-mail or password")
    token = secrets.token_urlsafe(32)

    async def insert(conn: Conn) -> None:
        await conn.execute("INSERT INTO auth_token (token_hash, account_id) VALUES (%s, %s)",
                           (token_digest(token), account["id"]))
    await db.run(insert)
    return JSONResponse({"token": token})


async def authenticate(request: Request) -> int:
    """The account id of the request's token; a :class:`ClientError` 401 without a valid one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "token" or not token:
        raise ClientError(401, "not_authenticated", "send 'Authorization: Token <token>' (POST /api/login/)")
    row = await context(request).db.fetch_one("SELECT account_id FROM auth_token WHERE token_hash = %s",
                                              (token_digest(token.strip()),))
    if row is None:
        raise ClientError(401, "not_authenticated", "the token is not valid")
    return int(row["account_id"])
