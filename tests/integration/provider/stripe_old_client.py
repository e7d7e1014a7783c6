"""Make calls with whichever ``stripe`` is first on PYTHONPATH, and say what it saw, as JSON lines.

The tests of an older stripe-python run this under ``PYTHONPATH=.tools/stripe-old`` so that the
SDK under test never shares a process with the venv's own. It first prints
``{"version": ..., "module": ...}``, then answers each request line on stdin, such as::

    {"api_base": "http://127.0.0.1:P", "api_key": "sk_test_x", "max_network_retries": 3,
     "calls": [{"call": "PaymentIntent.create", "args": [], "kwargs": {"amount": 1200, ...}}]}

with one line ``[...]``, one result per call: either ``{"object": ...}`` (how the returned object
looks and behaves, dict-wise included) or ``{"error": ...}`` (the class the SDK raised and its
fields), until stdin closes. It judges nothing: the test does.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import stripe


def _described(obj: Any) -> dict[str, Any]:
    response = obj.last_response
    return {
        "class": type(obj).__name__,
        "is_dict": isinstance(obj, dict),
        "data": json.loads(json.dumps(obj)),  # works only for a dict, and converts its nested objects too
        "attribute_id": obj.id,
        "item_id": obj["id"],
        "get_object": obj.get("object"),
        "plain_dict_id": dict(obj)["id"],
        "metadata_is_dict": isinstance(obj.get("metadata"), dict),
        "headers": {} if response is None else {k.lower(): v for k, v in response.headers.items()},
    }


def _raised(exc: Exception) -> dict[str, Any]:
    found: dict[str, Any] = {"class": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__],
                             "message": str(exc)}
    if isinstance(exc, stripe.StripeError):
        found |= {"http_status": exc.http_status, "code": exc.code, "param": getattr(exc, "param", None),
                  "error_is_dict": isinstance(exc.error, dict),
                  "error": None if exc.error is None else json.loads(json.dumps(exc.error))}
    return found


def _call(spec: dict[str, Any]) -> dict[str, Any]:
    owner, name = spec["call"].split(".")
    method = getattr(getattr(stripe, owner), name)
    try:
        return {"object": _described(method(*spec.get("args", []), **spec.get("kwargs", {})))}
    except (stripe.StripeError, ValueError) as exc:
        return {"error": _raised(exc)}


def _answer(line: str) -> list[dict[str, Any]]:
    request = json.loads(line)
    stripe.api_base, stripe.api_key = request["api_base"], request["api_key"]
    stripe.max_network_retries = request.get("max_network_retries", 0)
    return [_call(spec) for spec in request["calls"]]


def main() -> None:
    print(json.dumps({"version": stripe.VERSION, "module": stripe.__file__}), flush=True)
    for line in sys.stdin:
        print(json.dumps(_answer(line)), flush=True)


if __name__ == "__main__":
    main()
