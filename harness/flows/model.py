"""A target's flows: what one client operation is, as HTTP steps against the SUT or the provider.

Parsed from the target file's ``flows:`` section (docs/design.md section 4, "Flows") and, inside
Locust, again from the same data (``ORDERQUAKE_FLOWS``), so both read one definition. Every
template is checked here against the names it may use, so a misspelt placeholder or capture is
refused before anything starts, with the file, line and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contract import Flow
from harness._yaml import Path_, Reader, show
from harness.flows.template import Capture, Template, body_names, compile_body

OPERATION_FIELDS = ("id", "amount_minor", "amount_decimal", "currency", "account_id", "attempt")
USER_FIELDS = ("user",)
BROWSER_FIELDS = ("publishable_key",)  # what a payer's browser holds (Stripe.js's key)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORRELATIONS = ("id", "sut_id", "provider_id")
_STEP_KEYS = ("name", "to", "method", "path", "headers", "json", "form", "done", "exists", "refused", "capture")
_FLOW_KEYS = ("user", "steps", "read", "correlate")


@dataclass(frozen=True)
class Step:
    """One HTTP request of a flow and what its response codes mean."""

    name: str
    method: str
    path: Template
    to: str = "sut"  # or "provider": the payer's browser calling the provider directly
    headers: Mapping[str, Template] = field(default_factory=dict)
    json: Any = None  # a compiled body (harness.flows.template.compile_body) or None
    form: Mapping[str, Template] | None = None
    done: tuple[int, ...] = ()  # empty: any 2xx
    exists: tuple[int, ...] = ()
    refused: tuple[int, ...] = ()
    capture: Mapping[str, Capture] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """Every placeholder this step's templates name."""
        found = list(self.path.names)
        for template in self.headers.values():
            found += template.names
        found += body_names(self.json)
        for template in (self.form or {}).values():
            found += template.names
        return tuple(found)


@dataclass(frozen=True)
class FlowSteps:
    """One flow (order or payout) of a target: per-user set-up, the operation, the read."""

    flow: Flow
    user: tuple[Step, ...] = ()
    steps: tuple[Step, ...] = ()
    read: Step | None = None
    correlate: str = "id"  # the SUT column a provider record is matched against (harness.run.final_reads)


def _codes(r: Reader, raw: Any, path: Path_) -> tuple[int, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw or not all(
            isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599 for code in raw):
        raise r.fail(path, f"expected a list of HTTP status codes like [200, 201], got {show(raw)}")
    return tuple(raw)


def _template(r: Reader, raw: Any, path: Path_) -> Template:
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise r.fail(path, f"expected a string template, got {show(raw)}")
    return r.convert(path, str(raw), Template.parse)


def _body(r: Reader, raw: Any, path: Path_) -> Any:
    if isinstance(raw, dict):
        return {str(key): _body(r, value, (*path, str(key))) for key, value in raw.items()}
    if isinstance(raw, list):
        return [_body(r, item, (*path, index)) for index, item in enumerate(raw)]
    if isinstance(raw, str):
        return _template(r, raw, path)
    return compile_body(raw)


def parse_step(r: Reader, raw: Any, path: Path_, known: set[str]) -> Step:
    """One step; ``known`` holds the names its templates may use and gains its captures."""
    data = r.mapping(raw, path, _STEP_KEYS)
    default = path[-1] if isinstance(path[-1], str) else f"step-{path[-1] + 1}"
    name = r.text(data.get("name", default), (*path, "name"))
    to = data.get("to", "sut")
    if to not in ("sut", "provider"):
        raise r.fail((*path, "to"), f"expected sut or provider, got {show(to)}")
    method = str(data.get("method", "GET")).upper()
    if method not in METHODS:
        raise r.fail((*path, "method"), f"expected one of {', '.join(METHODS)}, got {show(data.get('method'))}")
    if "path" not in data:
        raise r.fail(path, "missing key 'path': expected the request path, like /api/orders/")
    template = _template(r, data["path"], (*path, "path"))
    if not template.text.startswith("/"):
        raise r.fail((*path, "path"), f"expected a path starting with '/', got {template.text!r}")
    headers_raw = data.get("headers") or {}
    if not isinstance(headers_raw, dict):
        raise r.fail((*path, "headers"), f"expected a mapping of header names to templates, got {show(headers_raw)}")
    headers = {str(k): _template(r, v, (*path, "headers", str(k))) for k, v in headers_raw.items()}
    if "json" in data and "form" in data:
        raise r.fail((*path, "form"), "expected either json or form, not both")
    body = _body(r, data["json"], (*path, "json")) if "json" in data else None
    form = None
    if "form" in data:
        form_raw = data["form"]
        if not isinstance(form_raw, dict):
            raise r.fail((*path, "form"), f"expected a mapping of form fields to templates, got {show(form_raw)}")
        form = {str(k): _template(r, v, (*path, "form", str(k))) for k, v in form_raw.items()}
    capture_raw = data.get("capture") or {}
    if not isinstance(capture_raw, dict):
        raise r.fail((*path, "capture"), f"expected a mapping of names to JSON paths like {{order: $.id}}, "
                                         f"got {show(capture_raw)}")
    step = Step(name=name, method=method, path=template, to=to, headers=headers, json=body, form=form,
                done=_codes(r, data.get("done"), (*path, "done")),
                exists=_codes(r, data.get("exists"), (*path, "exists")),
                refused=_codes(r, data.get("refused"), (*path, "refused")),
                capture={str(k): r.convert((*path, "capture", str(k)), v, Capture.parse)
                         for k, v in capture_raw.items()})
    for unknown in [n for n in step.names if n not in known]:
        raise r.fail(_where(raw, path, unknown), f"unknown placeholder {{{unknown}}}: expected one of "
                     f"{', '.join(sorted(known))} (an operation's fields, the user's number, what earlier steps "
                     "captured)")
    for name_ in step.capture:
        if name_ in OPERATION_FIELDS:
            raise r.fail((*path, "capture", name_), f"capture name {name_!r} would hide the operation's own field")
    known.update(step.capture)
    return step


def _where(raw: Any, path: Path_, name: str) -> Path_:
    """The most precise field under ``path`` whose text names ``{name}`` (for the error's line)."""
    needle = "{" + name + "}"
    if isinstance(raw, dict):
        items: list[tuple[str | int, Any]] = [(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, list):
        items = list(enumerate(raw))
    else:
        return path
    for key, value in items:
        if isinstance(value, str) and needle in value:
            return (*path, key)
        deeper = _where(value, (*path, key), name)
        if deeper != (*path, key):
            return deeper
    return path


def parse_flows(r: Reader, raw: Any, path: Path_ = ("flows",)) -> dict[Flow, FlowSteps]:
    """The ``flows:`` section: ``{order: {...}, payout: {...}}``, each flow optional."""
    names = tuple(flow.value for flow in Flow)
    data = r.mapping(raw, path, names)
    flows: dict[Flow, FlowSteps] = {}
    for flow_name, flow_raw in data.items():
        flow = Flow(flow_name)
        where = (*path, flow_name)
        section = r.mapping(flow_raw, where, _FLOW_KEYS)
        known = set(USER_FIELDS) | set(BROWSER_FIELDS)
        user = tuple(parse_step(r, item, (*where, "user", i), known)
                     for i, item in enumerate(_list(r, section.get("user"), (*where, "user"))))
        if not section.get("steps"):
            raise r.fail(where, "missing key 'steps': expected the list of HTTP steps of one operation")
        user_known = set(known)
        known |= set(OPERATION_FIELDS)
        steps = tuple(parse_step(r, item, (*where, "steps", i), known)
                      for i, item in enumerate(_list(r, section["steps"], (*where, "steps"))))
        read = None
        if section.get("read") is not None:
            read = parse_step(r, section["read"], (*where, "read"), user_known | {"id", "attempt"})
        correlate = section.get("correlate") or {}
        correlate = r.mapping(correlate, (*where, "correlate"), ("provider",))
        provider = correlate.get("provider", "id")
        if provider not in CORRELATIONS:
            raise r.fail((*where, "correlate", "provider"), f"expected one of {', '.join(CORRELATIONS)} (the SUT "
                         f"column the provider's merchant id is matched against), got {show(provider)}")
        flows[flow] = FlowSteps(flow=flow, user=user, steps=steps, read=read, correlate=provider)
    return flows


def _list(r: Reader, raw: Any, path: Path_) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise r.fail(path, f"expected a list of steps, got {show(raw)}")
    return raw


def sample_values(flow: Flow, *, attempt: int = 1) -> dict[str, Any]:
    """The fields of one made-up operation, for ``orderquake validate`` to render steps with."""
    letter = flow.value[0]
    return {"id": f"r0-{letter}-1-1", "amount_minor": 1250, "amount_decimal": amount_decimal(1250),
            "currency": "EUR", "account_id": "acct-7", "attempt": attempt, "user": 1}


def amount_decimal(amount_minor: int) -> str:
    """``1250`` as ``"12.50"``: the major unit with two decimals (the load sends EUR only)."""
    sign = "-" if amount_minor < 0 else ""
    whole, cents = divmod(abs(amount_minor), 100)
    return f"{sign}{whole}.{cents:02d}"

