"""Running a flow's steps: requests rendered from templates, response codes to one outcome.

Independent of Locust (the locustfile hands in a ``send`` built on its HTTP client), so the rules
are unit-tested with a plain function and ``orderquake validate`` renders steps with the same
``prepare``. One operation ends as exactly one of the history's outcomes:

- ``ok``: every step answered a ``done`` code (any 2xx when none is listed), or one answered an
  ``exists`` code (the operation was already done: the rest is skipped; in a user's set-up an
  ``exists`` code goes on to the next step instead: the account exists, log in);
- ``fail``: a step answered a ``refused`` code, or another 4xx (408, 425 and 429 aside): the
  service said definitely not;
- ``info``: no response, a 5xx, a 408/425/429, a 2xx the step does not list, or a capture that
  found nothing (the operation may have taken effect; the client cannot tell).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

from harness.flows.model import Step
from harness.flows.template import render_body

_UNKNOWN_4XX = (408, 425, 429)


class Request(NamedTuple):
    to: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None


class Response(NamedTuple):
    status: int | None  # None: no response (timeout, reset, refused)
    body: bytes
    error: str | None = None


Send = Callable[[Step, Request], Response]


@dataclass
class Result:
    """One operation's outcome, the last status and error, each step's status and the captures."""

    outcome: str  # ok | fail | info
    status: int | None = None
    error: str | None = None
    steps: list[tuple[str, int | None]] = field(default_factory=list)
    captures: dict[str, Any] = field(default_factory=dict)


def prepare(step: Step, values: Mapping[str, Any]) -> Request:
    """The request ``step`` makes with ``values``; path values are percent-encoded."""
    path = "".join(quote(str(values[text]), safe="") if is_name else text for is_name, text in step.path.parts)
    headers = {name: template.render(values) for name, template in step.headers.items()}
    body = None
    if step.json is not None:
        body = json.dumps(render_body(step.json, values)).encode()
        headers.setdefault("Content-Type", "application/json")
    elif step.form is not None:
        body = urlencode({name: template.render(values) for name, template in step.form.items()}).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    return Request(step.to, step.method, path, headers, body)


def classify(step: Step, status: int | None, *, set_up: bool = False) -> str:
    """``next`` (go on), or the operation's outcome when this response ends it. In a user's set-up
    an ``exists`` code goes on too (the account is there already: log in)."""
    if not status:
        return "info"
    if status in step.exists:
        return "next" if set_up else "ok"
    if status in step.refused:
        return "fail"
    if 200 <= status < 300:
        return "next" if not step.done or status in step.done else "info"
    if status in step.done:
        return "next"
    if 400 <= status < 500 and status not in _UNKNOWN_4XX:
        return "fail"
    return "info"


def run_steps(steps: tuple[Step, ...], values: Mapping[str, Any], send: Send, *, set_up: bool = False) -> Result:
    """Run ``steps`` in order with ``values`` (and what each captures) until one ends the operation;
    ``set_up``: a user's set-up steps (see ``classify``)."""
    known = dict(values)
    result = Result("ok")
    for step in steps:
        missing = [name for name in step.names if name not in known]
        if missing:  # a capture of a step that was skipped; the target file is checked, so rare
            result.outcome, result.error = "info", f"{step.name}: no value for {{{missing[0]}}}"
            return result
        response = send(step, prepare(step, known))
        result.steps.append((step.name, response.status))
        result.status = response.status
        verdict = classify(step, response.status, set_up=set_up)
        if verdict != "next":
            result.outcome = verdict
            if verdict != "ok":
                result.error = response.error or f"{step.name}: HTTP {response.status}"
            return result
        if step.capture:
            try:
                document = json.loads(response.body) if response.body else None
            except ValueError:
                document = None
            for name, capture in step.capture.items():
                value = capture.extract(document)
                if value is None or isinstance(value, dict | list):
                    result.outcome = "info"
                    result.error = (f"{step.name}: HTTP {response.status} but {capture.text} found "
                                    f"{'nothing' if value is None else 'no single value'} in the response")
                    return result
                known[name] = value
                result.captures[name] = value
    return result
