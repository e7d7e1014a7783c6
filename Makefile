# orderquake: the two commands that matter are 'make demo' and 'make test'.
VENV := .venv/bin
PYTEST := $(VENV)/pytest

.PHONY: setup test test-fast test-explore lint demo bench matrix soak clean test-compose

setup:
	@bash scripts/setup.sh

lint: setup
	$(VENV)/ruff check .
	$(VENV)/mypy

# Fast unit tests first (no server), then the integration tests on the real stage.
test: lint
	$(PYTEST) -q -m "not integration and not slow"
	$(PYTEST) -q -m "integration and not slow"

test-fast: setup
	$(PYTEST) -q -m "not integration and not slow"

# The property-based tests with fresh random seeds and ten times the examples (tests/conftest.py);
# 'make test' runs them derandomized. A failure prints the seed and a @reproduce_failure blob.
test-explore: setup
	HYPOTHESIS_PROFILE=explore $(PYTEST) -q tests/integration/provider/test_provider_schemathesis.py \
		$(wildcard tests/unit/test_checker_reading.py)

# The main job: the default scenario against the reference service on the local stage.
demo: setup
	$(VENV)/orderquake run scenarios/smoke.yaml

# The throughput benchmarks drive HTTP with wrk, a load tool other than orderquake itself. One table
# at the end, and bench/RESULTS.md from the same run (within 15 minutes on a shared 2-core machine);
# BENCH_PROVIDER_PREVIOUS=<commit> measures that commit's mock provider beside the current one.
bench: setup
	@command -v wrk >/dev/null || { command -v apt-get >/dev/null && apt-get install -y -qq wrk >/dev/null; } \
		|| { echo "bench: wrk not found: install it (Debian: apt-get install wrk)" >&2; exit 2; }
	$(VENV)/python -m bench

matrix: setup
	$(VENV)/orderquake matrix --seeds 3

# A long run of the nemesis scenario (its soak: block), against the reference service.
soak: setup
	$(VENV)/orderquake run scenarios/chaos-mix.yaml --soak

# The stage in containers: starts a Docker engine where none answers, builds the images from
# local parts only (scripts/compose-setup.sh), then runs tests/compose (marked 'compose', which
# 'make test' never selects): smoke, db-outage and sut-crash on --stage compose.
test-compose: setup
	@$(VENV)/python -c 'import docker' 2>/dev/null || $(VENV)/python -m pip install --quiet 'docker>=7.1'
	@bash scripts/compose-setup.sh
	$(PYTEST) -q -m compose --durations=0 tests/compose

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
