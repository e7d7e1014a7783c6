"""Property-based conformance: schemathesis against ``/openapi.json`` of a real provider, misbehaviour off.

Every operation is called with generated valid (positive) and invalid (negative) inputs; no
answer may be a 5xx or disagree with the published schema (status code, content type, body),
and invalid input must be rejected. Hypothesis drives each operation directly, bounded by a
quarter of the profile's ``max_examples`` (25 under the default ``ci`` profile, which is
derandomized, so the run takes well under a minute and tries the same inputs every time; 250
under ``HYPOTHESIS_PROFILE=explore``, with fresh seeds). See ``tests/conftest.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import given, settings
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


def prepare(case: schemathesis.Case) -> None:
    """Give the case the real API key, and a valid creation a fresh Idempotency-Key, in the case itself.

    Not through ``call_and_validate(headers=...)``: schemathesis would judge the case it generated
    while the server got another request. A negative case that leaves ``Authorization`` out on
    purpose must be sent without it, but schemathesis drops a caller's header for such a case only
    when headers are all it mutated (``get_exclude_headers`` in schemathesis 4.32). When it also
    mutated the query, the caller's key went out, and if the query mutation did not survive
    serialization either (an unknown parameter whose value is ``[]`` is not sent at all), a valid
    request was counted as invalid data accepted (ST201). So a generated ``Authorization``, valid
    or not, is replaced by the real key; a missing one stays missing, and the provider answers 401.

    The headers are assigned, not edited in place, so schemathesis revalidates what the case now
    carries: a negative case whose only violation was a malformed key becomes a positive one.
    """
    if "Authorization" in case.headers:
        headers = case.headers.copy()
        headers["Authorization"] = f"Bearer {API_KEY}"
        case.headers = headers
    meta = case.meta  # reading it revalidates the edited headers
    if case.method == "POST" and (meta is None or meta.generation.mode.is_positive):
        # Generated keys repeat across different bodies, which is rightly a 422; reusing a key
        # is covered by the idempotency tests, so valid requests here get a key of their own.
        headers = case.headers.copy()
        headers["Idempotency-Key"] = uuid.uuid4().hex
        case.headers = headers


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label}-{mode.value}" for label, mode in CASES])
def test_provider_conforms_to_its_openapi(running_provider: ProviderProcess, provider_schema: schemathesis.BaseSchema,
                                          label: str, mode: GenerationMode) -> None:
    operation = provider_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} missing from /openapi.json"

    # Each example is an HTTP round trip, hence a quarter of the profile's budget. Everything else
    # (derandomize, deadline, print_blob, health checks) comes from the loaded profile. No database:
    # this inner function has the same digest for every operation, so a stored example would be
    # replayed against the wrong one.
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=max(1, settings.default.max_examples // 4), database=None)
    def conforms(case: schemathesis.Case) -> None:
        prepare(case)
        case.call_and_validate(base_url=running_provider.url)

    conforms()
