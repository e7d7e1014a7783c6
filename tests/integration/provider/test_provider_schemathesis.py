"""Property-based conformance: schemathesis against ``/openapi.json`` of a real provider, misbehaviour off.

Every operation is called with generated valid (positive) and invalid (negative) inputs; no
answer may be a 5xx or disagree with the published schema (status code, content type, body),
and invalid input must be rejected. Hypothesis drives each operation directly, bounded by
``max_examples``, so the run takes well under a minute.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from provider_process import API_KEY, ProviderProcess, provider_process
from schemathesis import GenerationMode

from mock_provider.openapi import OPENAPI

# /healthz takes no input at all, so it has no invalid input to generate.
OPERATIONS = [f"{method.upper()} {path}" for path, item in OPENAPI["paths"].items() for method in item]
CASES = [(label, mode) for label in OPERATIONS for mode in GenerationMode
         if not (label == "GET /healthz" and mode is GenerationMode.NEGATIVE)]


@pytest.fixture(scope="module")
def running_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderProcess]:
    with provider_process(Path(tmp_path_factory.mktemp("schemathesis"))) as provider:
        yield provider


@pytest.fixture(scope="module")
def provider_schema(running_provider: ProviderProcess) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{running_provider.url}/openapi.json")


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label}-{mode.value}" for label, mode in CASES])
def test_provider_conforms_to_its_openapi(running_provider: ProviderProcess, provider_schema: schemathesis.BaseSchema,
                                          label: str, mode: GenerationMode) -> None:
    operation = provider_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} missing from /openapi.json"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def conforms(case: schemathesis.Case) -> None:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        if mode is GenerationMode.POSITIVE and case.method == "POST":
            # Generated keys repeat across different bodies, which is rightly a 422; reusing a key
            # is covered by the idempotency tests, so valid requests here get a key of their own.
            headers["Idempotency-Key"] = uuid.uuid4().hex
        case.call_and_validate(base_url=running_provider.url, headers=headers)

    conforms()
