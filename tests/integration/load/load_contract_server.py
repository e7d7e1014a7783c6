"""A tiny server speaking the SUT HTTP contract, for the load generator's own tests.

It keeps orders and payouts in memory, answers 201 on creation and 200 on a repeat, and hangs
every ``--hang-every``-th submission for ``--hang-seconds`` so that clients time out.

    python load_contract_server.py --port 8123 --hang-every 7 --hang-seconds 3
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def build_app(hang_every: int, hang_seconds: float) -> Starlette:
    stores: dict[str, dict[str, dict[str, object]]] = {"orders": {}, "payouts": {}}
    counter = itertools.count(1)
    keys = {"orders": "order_id", "payouts": "payout_id"}

    async def submit(request: Request) -> JSONResponse:
        kind = request.url.path.strip("/")
        body = await request.json()
        op_id = body.get(keys[kind])
        if not isinstance(op_id, str) or not isinstance(body.get("amount_minor"), int):
            return JSONResponse({"error": "expected an id and an integer amount_minor"}, status_code=422)
        if hang_every and next(counter) % hang_every == 0:
            await asyncio.sleep(hang_seconds)
        store = stores[kind]
        created = op_id not in store
        store.setdefault(op_id, {"status": "pending", "amount_minor": body["amount_minor"], "currency": "EUR"})
        return JSONResponse({keys[kind]: op_id, "status": "pending"}, status_code=201 if created else 200)

    async def read(request: Request) -> JSONResponse:
        kind = request.url.path.split("/")[1]
        op_id = request.path_params["op_id"]
        record = stores[kind].get(op_id)
        if record is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse({keys[kind]: op_id, **record})

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[
        Route("/orders", submit, methods=["POST"]), Route("/payouts", submit, methods=["POST"]),
        Route("/orders/{op_id}", read), Route("/payouts/{op_id}", read), Route("/healthz", health),
    ])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hang-every", type=int, default=0)
    parser.add_argument("--hang-seconds", type=float, default=0.0)
    args = parser.parse_args()
    uvicorn.run(build_app(args.hang_every, args.hang_seconds), host="127.0.0.1", port=args.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
