"""A target's flows: templates, captures, the codes-to-outcome rules, and the target file's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contract import Flow
from harness._exceptions import ExitCode, ScenarioError, UsageError
from harness.flows.engine import Request, Response, classify, prepare, run_steps
from harness.flows.model import Step, amount_decimal
from harness.flows.template import Capture, Template
from harness.target import load_target, parse_target

MERCHANT = Path(__file__).resolve().parents[2] / "examples" / "merchant" / "target.yaml"
BASE = """\
name: shop
start: ["{python}", "-m", "shop", "--port", "{port}"]
health: /healthz
state: {orders_sql: "SELECT 1", payouts_sql: "SELECT 2"}
"""
FLOW = """\
flows:
  order:
    user:
      - {name: login, method: POST, path: /login, json: {user: "u{user}"}, capture: {token: $.token}}
    steps:
      - name: create
        method: POST
        path: /orders
        headers: {Authorization: "Token {token}"}
        json: {ref: "{id}", cents: "{amount_minor}", total: "{amount_decimal} {currency}"}
        capture: {order: $.data.id}
      - name: pay
        method: POST
        path: /orders/{order}/pay
        form: {attempt: "{attempt}"}
        exists: [409]
        refused: [402]
"""


def test_a_template_names_its_placeholders_and_keeps_a_lone_value_s_type() -> None:
    template = Template.parse("/a/{id}/{{literal}}/{n}")
    assert template.names == ("id", "n")
    assert template.render({"id": "x", "n": 3}) == "/a/x/{literal}/3"
    assert Template.parse("{amount_minor}").render_value({"amount_minor": 1250}) == 1250
    assert Template.parse("{amount_minor} EUR").render_value({"amount_minor": 1250}) == "1250 EUR"


@pytest.mark.parametrize("text", ["{id", "id}", "{1x}", "{ id }", "{}"])
def test_a_brace_that_opens_or_closes_no_placeholder_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="bad template"):
        Template.parse(text)


def test_a_capture_reads_the_json_path_subset_and_finds_nothing_where_nothing_is() -> None:
    document = {"data": {"items": [{"order-id": "o1"}], "id": 7}}
    assert Capture.parse("$.data.items[0]['order-id']").extract(document) == "o1"
    assert Capture.parse("$.data.id").extract(document) == 7
    assert Capture.parse("$.data.items[3]").extract(document) is None
    assert Capture.parse("$.nope.deeper").extract(document) is None
    for bad in ("data.id", "$data", "$.a[x]"):
        with pytest.raises(UsageError, match="bad capture"):
            Capture.parse(bad)


def test_amounts_in_major_units_have_two_decimals() -> None:
    assert [amount_decimal(a) for a in (1250, 5, 100, 0, -1)] == ["12.50", "0.05", "1.00", "0.00", "-0.01"]


def _step(**codes: tuple[int, ...]) -> Step:
    return Step(name="s", method="POST", path=Template.parse("/x"), **codes)  # type: ignore[arg-type]


@pytest.mark.parametrize("codes, status, expected", [
    ({}, 201, "next"), ({}, None, "info"), ({}, 500, "info"), ({}, 503, "info"), ({}, 404, "fail"),
    ({}, 408, "info"), ({}, 429, "info"), ({"done": (201,)}, 200, "info"), ({"done": (201,)}, 201, "next"),
    ({"exists": (409,)}, 409, "ok"), ({"refused": (402,)}, 402, "fail"), ({"exists": (400,)}, 400, "ok"),
    ({"done": (302,)}, 302, "next"), ({}, 302, "info"),
])
def test_response_codes_map_to_one_outcome(codes: dict[str, tuple[int, ...]], status: int | None,
                                           expected: str) -> None:
    assert classify(_step(**codes), status) == expected


def _flow(tmp_path: Path) -> tuple[Step, ...]:
    path = tmp_path / "t.yaml"
    path.write_text(BASE + FLOW)
    return load_target(path).flows[Flow.ORDER].steps


def test_steps_render_with_the_operation_s_fields_and_earlier_captures(tmp_path: Path) -> None:
    create, pay = _flow(tmp_path)
    values = {"id": "r-o-1", "amount_minor": 1250, "amount_decimal": "12.50", "currency": "EUR", "account_id": "a",
              "attempt": 2, "token": "T", "user": 1}
    request = prepare(create, values)
    assert request.headers == {"Authorization": "Token T", "Content-Type": "application/json"}
    assert json.loads(request.body or b"") == {"ref": "r-o-1", "cents": 1250, "total": "12.50 EUR"}
    sent: list[Request] = []

    def send(step: Step, request: Request) -> Response:
        sent.append(request)
        return Response(201, b'{"data": {"id": "ord/9"}}') if step.name == "create" else Response(409, b"")

    result = run_steps((create, pay), values, send)
    assert (result.outcome, result.error, result.captures) == ("ok", None, {"order": "ord/9"})
    assert sent[1].path == "/orders/ord%2F9/pay" and sent[1].body == b"attempt=2"
    assert result.steps == [("create", 201), ("pay", 409)]


@pytest.mark.parametrize("second, outcome", [(Response(402, b""), "fail"), (Response(None, b"", "reset"), "info"),
                                             (Response(200, b"{}"), "ok"), (Response(502, b""), "info")])
def test_the_step_that_ends_an_operation_decides_its_outcome(tmp_path: Path, second: Response, outcome: str) -> None:
    steps = _flow(tmp_path)
    answers = iter([Response(201, b'{"data": {"id": "o"}}'), second])
    result = run_steps(steps, {"id": "i", "amount_minor": 1, "amount_decimal": "0.01", "currency": "EUR",
                               "account_id": "a", "attempt": 1, "token": "t", "user": 1},
                       lambda _step, _request: next(answers))
    assert result.outcome == outcome
    assert (result.error is None) == (outcome == "ok")


def test_a_capture_that_finds_nothing_leaves_the_outcome_unknown(tmp_path: Path) -> None:
    create, _ = _flow(tmp_path)
    result = run_steps((create,), {"id": "i", "amount_minor": 1, "amount_decimal": "0.01", "currency": "EUR",
                                   "account_id": "a", "attempt": 1, "token": "t", "user": 1},
                       lambda _step, _request: Response(201, b'{"data": {}}'))
    assert result.outcome == "info" and "$.data.id found nothing" in (result.error or "")


@pytest.mark.parametrize("change, field, line", [
    (("{token}", "{tokn}"), "flows.order.steps[0].headers.Authorization", 13),
    (("/orders/{order}/pay", "/orders/{ordr}/pay"), "flows.order.steps[1].path", 18),
    (("{amount_decimal} {currency}", "{amount_decimal} {currency"), "flows.order.steps[0].json.total", 14),
    (("$.data.id", "data.id"), "flows.order.steps[0].capture.order", 15),
    (("refused: [402]", "refused: [42]"), "flows.order.steps[1].refused", 21),
    (("method: POST\n        path: /orders/", "method: FETCH\n        path: /orders/"),
     "flows.order.steps[1].method", 17),
])
def test_a_bad_flow_names_file_line_and_field_before_anything_starts(change: tuple[str, str], field: str,
                                                                     line: int) -> None:
    text = BASE + FLOW.replace(*change)
    with pytest.raises(ScenarioError) as caught:
        parse_target(text, file="t.yaml")
    assert (caught.value.field, caught.value.line) == (field, line)
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("extra, field", [
    ("provider: {dialect: adyen}\n", "provider.dialect"),
    ("env: {PGHOST: '{database_hst}'}\n", "env.PGHOST"),
    ("statuses: {orders: {paid: settled}}\n", "statuses.orders.paid"),
    ("setup: [[make, '{nope}']]\n", "setup[0][1]"),
    ("variants: {bug: {smoke: vanished}}\n", "variants.bug.smoke"),
    ("cwd: does-not-exist\n", "cwd"),
])
def test_bad_target_sections_name_their_field(extra: str, field: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_target(BASE + extra, file="t.yaml")
    assert caught.value.field == field and caught.value.line == 5


def test_templates_fill_the_start_command_and_the_environment() -> None:
    target = parse_target(BASE + "env: {PGHOST: '{database_host}', URL: 'http://{database_host}:{database_port}'}\n",
                          file="t.yaml")
    values = {"port": "9", "database_host": "127.0.0.1", "database_port": "5"}
    assert target.argv(None, values)[1:] == ["-m", "shop", "--port", "9"]
    assert target.environment(values) == {"PGHOST": "127.0.0.1", "URL": "http://127.0.0.1:5"}



def test_in_a_user_s_set_up_an_existing_account_goes_on_to_log_in(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(BASE + FLOW.replace(
        "    user:\n",
        "    user:\n      - {name: signup, method: POST, path: /signup, done: [201], exists: [409]}\n"))
    user = load_target(path).flows[Flow.ORDER].user
    answers = iter([Response(409, b""), Response(200, b'{"token": "T"}')])
    result = run_steps(user, {"user": 1}, lambda _step, _request: next(answers), set_up=True)
    assert (result.outcome, result.captures) == ("ok", {"token": "T"})
    assert classify(user[0], 409) == "ok" and classify(user[0], 409, set_up=True) == "next"


def test_a_step_whose_value_is_missing_is_an_unknown_outcome_not_a_crash(tmp_path: Path) -> None:
    _, pay = _flow(tmp_path)
    result = run_steps((pay,), {"id": "i", "attempt": 1}, lambda _step, _request: Response(200, b""))
    assert result.outcome == "info" and "no value for {order}" in (result.error or "")


def test_the_example_merchant_target_loads_and_lists_its_own_expectations() -> None:
    target = load_target(MERCHANT)
    assert target.provider.dialect == "stripe" and target.provider.python_shim
    assert target.flow_names() == ("order", "get_order")
    assert target.flows[Flow.ORDER].correlate == "sut_id"
    caught = {variant for expected in target.expect.values() for variant in expected}
    assert caught == set(target.variants) - {"correct"}


def test_validate_renders_a_target_s_steps_and_says_which_scenarios_apply(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli.main import main

    scenarios = Path(__file__).resolve().parents[2] / "scenarios"
    code = main(["validate", "--target", str(MERCHANT), str(scenarios / "payout-chaos.yaml"),
                 str(scenarios / "forged-callbacks.yaml")])
    out, err = capsys.readouterr()
    assert code == ExitCode.USAGE  # forged-callbacks does not apply to a Stripe-dialect target
    assert "confirm: POST {provider}/v1/payment_intents/<intent>/confirm" in out
    assert "Authorization: Token <token>" in out and '"quantity": 1250' in out
    assert "payout-chaos.yaml: ok" in out and "no flow for get_payout, payout" in out
    assert "forged_callbacks needs the native dialect" in err


def test_validate_names_file_line_and_field_of_a_bad_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli.main import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE + FLOW.replace("{token}", "{tokn}"))
    assert main(["validate", "--target", str(bad)]) == ExitCode.USAGE
    expected = f"{bad}:13: flows.order.steps[0].headers.Authorization: unknown placeholder {{tokn}}"
    assert expected in capsys.readouterr().err
