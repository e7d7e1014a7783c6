from pathlib import Path

import pytest

from harness._exceptions import ScenarioError, UsageError
from harness.target import DEFAULT_TARGET, load_target


def test_reference_target_fills_variant_and_python() -> None:
    target = load_target(None)
    argv = target.argv("no-reconciler")
    assert argv[1:] == ["-m", "order_service", "--variant", "no-reconciler"]
    assert Path(argv[0]).name.startswith("python")
    assert load_target(DEFAULT_TARGET).state.orders_sql.startswith("SELECT order_id")


@pytest.mark.parametrize("text, field", [
    ("name: x\nstart: python\nhealth: /h\nstate: {orders_sql: a, payouts_sql: b}\n", "start"),
    ("name: x\nstart: [a]\nhealth: h\nstate: {orders_sql: a, payouts_sql: b}\n", "health"),
    ("name: x\nstart: [a]\nhealth: /h\nstate: {orders_sql: a}\n", "state.payouts_sql"),
    ("name: x\nstart: [a]\nhealth: /h\nstate: {orders_sql: a, payouts_sql: b, status_map: {ok: great}}\n",
     "state.status_map.ok"),
    ("name: x\nstart: [a]\nhealth: /h\nstat: {}\n", "stat"),
])
def test_bad_target_files_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_target(path)
    assert caught.value.field == field
    assert str(path) in str(caught.value)


def test_missing_target_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        load_target(tmp_path / "none.yaml")


def test_a_variant_the_target_does_not_list_is_refused_with_the_list(tmp_path: Path) -> None:
    target = load_target(None)
    with pytest.raises(UsageError, match="expected one of correct, no-idempotency"):
        target.argv("bogus")
    path = tmp_path / "open.yaml"
    path.write_text("name: x\nstart: [run, '{variant}']\nhealth: /h\nstate: {orders_sql: a, payouts_sql: b}\n")
    assert load_target(path).argv("anything") == ["run", "anything"]


def test_the_reference_target_lists_every_variant_of_the_reference_service() -> None:
    variants = pytest.importorskip("order_service.variants")
    assert set(load_target(None).variants) == {v.value for v in variants.Variant}
