"""The USL fit recovers known parameters, chooses a nested law when the USL's would be negative, and says
when it is not to be trusted."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.capacity.usl import MIN_POINTS, fit_usl, predictions, usl

LOADS = (1, 2, 4, 8, 16, 32, 64)


@given(lam=st.floats(5, 5000), sigma=st.floats(0.001, 0.5), kappa=st.floats(1e-5, 0.01))
def test_exact_data_gives_back_lambda_sigma_kappa(lam: float, sigma: float, kappa: float) -> None:
    fit = fit_usl(LOADS, [usl(n, lam, sigma, kappa) for n in LOADS])
    assert fit is not None and fit.model == "usl"
    assert fit.lam == pytest.approx(lam, rel=1e-6)
    assert fit.sigma == pytest.approx(sigma, rel=1e-5, abs=1e-9)
    assert fit.kappa == pytest.approx(kappa, rel=1e-5, abs=1e-12)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.trusted


def test_noisy_data_still_lands_near_the_truth_and_the_peak() -> None:
    lam, sigma, kappa = 120.0, 0.04, 0.0015
    noise = [1.02, 0.98, 1.01, 0.99, 1.015, 0.985, 1.0]
    fit = fit_usl(LOADS, [usl(n, lam, sigma, kappa) * k for n, k in zip(LOADS, noise, strict=True)])
    assert fit is not None
    peak = math.sqrt((1 - sigma) / kappa)
    assert fit.peak_concurrency == pytest.approx(peak, rel=0.15)
    assert fit.peak_throughput == pytest.approx(usl(peak, lam, sigma, kappa), rel=0.05)
    assert fit.r2 is not None and fit.r2 > 0.95


def test_amdahl_data_is_fitted_without_a_peak() -> None:
    fit = fit_usl(LOADS, [usl(n, 50, 0.1, 0.0) for n in LOADS])
    assert fit is not None
    assert fit.kappa == pytest.approx(0.0, abs=1e-9)
    assert fit.peak_throughput is None
    assert fit.ceiling == pytest.approx(500.0, rel=1e-4)


def test_predicted_latency_is_littles_law_on_the_curve_and_none_past_the_peak() -> None:
    fit = fit_usl(LOADS, [usl(n, 100, 0.05, 0.002) for n in LOADS])
    assert fit is not None and fit.peak_throughput is not None
    n = fit.concurrency_at(500.0)
    assert n is not None and usl(n, 100, 0.05, 0.002) == pytest.approx(500.0)
    assert fit.latency_ms_at(500.0) == pytest.approx(n / 500 * 1000, abs=1e-3)
    assert fit.latency_ms_at(fit.peak_throughput * 1.01) is None
    rows = predictions(fit, 400.0)
    assert [r["factor"] for r in rows] == [1.5, 2.0]
    assert rows[0]["latency_ms"] is not None and rows[1]["latency_ms"] is None  # 800/s is past the ~740/s peak
    assert "without bound" in rows[1]["note"]


def test_few_or_scattered_points_are_said_not_to_be_trusted() -> None:
    three = fit_usl(LOADS[:3], [usl(n, 100, 0.05, 0.002) for n in LOADS[:3]])
    assert three is not None and not three.trusted and f"run {MIN_POINTS} or more" in three.verdict()
    scattered = fit_usl(LOADS, [100, 30, 400, 50, 380, 90, 300])
    assert scattered is not None and not scattered.trusted
    assert "not to be trusted" in scattered.verdict()
    assert fit_usl([1], [10]) is None
