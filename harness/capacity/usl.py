"""Gunther's Universal Scalability Law fitted to the steps, and what it predicts past the knee. Pure.

    X(N) = lam * N / (1 + sigma * (N - 1) + kappa * N * (N - 1))

``N`` is the concurrency of a step by Little's law (throughput x mean latency), ``X`` its
throughput; ``lam`` is the throughput of one client alone, ``sigma`` contention (the serial share,
Amdahl), ``kappa`` coherency (crosstalk: what makes throughput fall past its peak).

Why by hand and not numpy/scipy: neither is installed, and the fit needs no optimiser. Dividing
through by ``X``, the law is linear in its parameters (Gunther, *Guerrilla Capacity Planning*,
ch. 5-6, fits it the same way as a quadratic):

    N / X = a + b * (N - 1) + c * N * (N - 1),   a = 1/lam, b = sigma/lam, c = kappa/lam

so ordinary least squares on three regressors (a 3x3 system, solved below by Gaussian elimination)
gives the parameters exactly for exact data. A fit with a negative ``sigma`` or ``kappa`` has no
physical meaning, so the simpler laws nested in the USL are fitted too (``kappa = 0``: Amdahl's
saturation; ``sigma = kappa = 0``: linear) and the feasible one with the smallest squared error on
``X`` wins. R^2 is computed on ``X``, the quantity a capacity planner reads.

From the fit: the peak ``N* = sqrt((1 - sigma) / kappa)`` and ``X(N*)`` (no peak when
``kappa = 0``: throughput only approaches ``lam / sigma``); and the latency a load ``x`` per second
would see, ``R = N / x`` where ``X(N) = x`` (the smaller root), which does not exist past the peak:
an open-model load above the peak grows its queue without bound.

    >>> fit = fit_usl([1, 2, 4, 8, 16], [usl(n, 100, 0.05, 0.002) for n in (1, 2, 4, 8, 16)])
    >>> round(fit.sigma, 6), round(fit.kappa, 6), round(fit.lam, 3)
    (0.05, 0.002, 100.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GOOD_FIT = 0.90  # R^2 below this: the model is not to be trusted
MIN_POINTS = 4  # three parameters through three points always fit: that is no evidence


def usl(n: float, lam: float, sigma: float, kappa: float) -> float:
    """Throughput at concurrency ``n``."""
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


@dataclass(frozen=True)
class UslFit:
    lam: float
    sigma: float
    kappa: float
    r2: float | None
    points: int
    model: str  # "usl", "amdahl" (kappa = 0) or "linear"

    @property
    def peak_concurrency(self) -> float | None:
        if self.kappa <= 0 or self.sigma >= 1:
            return None
        return math.sqrt((1 - self.sigma) / self.kappa)

    @property
    def peak_throughput(self) -> float | None:
        n = self.peak_concurrency
        return usl(n, self.lam, self.sigma, self.kappa) if n is not None else None

    @property
    def ceiling(self) -> float | None:
        """What throughput approaches: the peak, else ``lam / sigma`` (Amdahl), else none."""
        if self.peak_throughput is not None:
            return self.peak_throughput
        return self.lam / self.sigma if self.sigma > 0 else None

    @property
    def trusted(self) -> bool:
        return self.r2 is not None and self.r2 >= GOOD_FIT and self.points >= MIN_POINTS

    def concurrency_at(self, throughput: float) -> float | None:
        """The smallest ``N`` at which the law gives ``throughput``; None past the ceiling."""
        if throughput <= 0:
            return 0.0
        # x * (1 + s(N-1) + k N(N-1)) = lam N   ->   x k N^2 + (x (s - k) - lam) N + x (1 - s) = 0
        a = throughput * self.kappa
        b = throughput * (self.sigma - self.kappa) - self.lam
        c = throughput * (1 - self.sigma)
        if abs(a) < 1e-15:
            return -c / b if b < 0 else None
        disc = b * b - 4 * a * c
        if disc < 0:
            return None
        roots = [r for r in ((-b - math.sqrt(disc)) / (2 * a), (-b + math.sqrt(disc)) / (2 * a)) if r > 0]
        return min(roots) if roots else None

    def latency_ms_at(self, throughput: float) -> float | None:
        """Little's law on the fitted curve: ``N / X`` in milliseconds; None when ``throughput`` is unreachable."""
        n = self.concurrency_at(throughput)
        return None if n is None or throughput <= 0 else round(n / throughput * 1000, 3)

    def verdict(self) -> str:
        if self.r2 is None:
            return "no fit: too few steps with a measured throughput and latency"
        if self.points < MIN_POINTS:
            return (f"not to be trusted: {self.points} steps fit any three-parameter curve (R^2 {self.r2:.3f}); "
                    f"run {MIN_POINTS} or more")
        if self.r2 < GOOD_FIT:
            return f"poor fit (R^2 {self.r2:.3f} < {GOOD_FIT}): the predictions are not to be trusted"
        return f"good fit (R^2 {self.r2:.3f}, {self.points} steps)"

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "lambda": self.lam, "sigma": self.sigma, "kappa": self.kappa, "r2": self.r2,
                "points": self.points, "peak_concurrency": self.peak_concurrency,
                "peak_throughput": self.peak_throughput, "ceiling": self.ceiling, "trusted": self.trusted,
                "verdict": self.verdict()}


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting; None when singular."""
    size = len(vector)
    rows = [[*row, value] for row, value in zip(matrix, vector, strict=True)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(rows[r][col]))
        if abs(rows[pivot][col]) < 1e-12 * max(1.0, max(abs(v) for v in rows[pivot][:size])):
            return None
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(col + 1, size):
            factor = rows[r][col] / rows[col][col]
            for c in range(col, size + 1):
                rows[r][c] -= factor * rows[col][c]
    solution = [0.0] * size
    for r in reversed(range(size)):
        solution[r] = (rows[r][size] - sum(rows[r][c] * solution[c] for c in range(r + 1, size))) / rows[r][r]
    return solution


def _least_squares(columns: Sequence[Sequence[float]], target: Sequence[float]) -> list[float] | None:
    normal = [[sum(a * b for a, b in zip(ci, cj, strict=True)) for cj in columns] for ci in columns]
    right = [sum(a * y for a, y in zip(ci, target, strict=True)) for ci in columns]
    return _solve(normal, right)


def _r2(n: Sequence[float], x: Sequence[float], lam: float, sigma: float, kappa: float) -> tuple[float, float]:
    predicted = [usl(v, lam, sigma, kappa) for v in n]
    sse = sum((p - o) ** 2 for p, o in zip(predicted, x, strict=True))
    mean = sum(x) / len(x)
    sst = sum((o - mean) ** 2 for o in x)
    return sse, (1 - sse / sst) if sst > 0 else (1.0 if sse < 1e-9 else 0.0)


def fit_usl(concurrency: Sequence[float], throughput: Sequence[float]) -> UslFit | None:
    """Fit the law (or the simpler law nested in it that fits best) to (N, X) pairs; None without two usable points."""
    pairs = [(n, x) for n, x in zip(concurrency, throughput, strict=True) if n > 0 and x > 0]
    if len(pairs) < 2:
        return None
    n = [p[0] for p in pairs]
    x = [p[1] for p in pairs]
    y = [a / b for a, b in pairs]
    ones = [1.0] * len(n)
    serial = [v - 1 for v in n]
    crosstalk = [v * (v - 1) for v in n]
    candidates: list[tuple[str, float, float, float]] = []
    for model, columns in (("usl", (ones, serial, crosstalk)), ("amdahl", (ones, serial)), ("linear", (ones,))):
        if len(pairs) < len(columns):
            continue
        solved = _least_squares(columns, y)
        if solved is None or solved[0] <= 0:
            continue
        a, b, c = (*solved, 0.0, 0.0)[:3]
        sigma, kappa = b / a, c / a
        if sigma < -1e-9 or kappa < -1e-12:
            continue
        candidates.append((model, 1 / a, max(0.0, sigma), max(0.0, kappa)))
    if not candidates:
        return None
    scored = [(_r2(n, x, lam, sigma, kappa), model, lam, sigma, kappa) for model, lam, sigma, kappa in candidates]
    (_, r2), model, lam, sigma, kappa = min(scored, key=lambda s: s[0][0])
    return UslFit(lam=lam, sigma=sigma, kappa=kappa, r2=round(r2, 6), points=len(pairs), model=model)


def predictions(fit: UslFit | None, knee_rate: float | None) -> list[dict[str, Any]]:
    """The latency the fit predicts at 1.5x and 2x the knee's rate, or why it cannot."""
    if fit is None or knee_rate is None:
        return []
    rows = []
    for factor in (1.5, 2.0):
        load = knee_rate * factor
        latency = fit.latency_ms_at(load)
        note = ("beyond the fitted ceiling: the queue grows without bound" if latency is None
                else ("" if fit.trusted else "the fit is not to be trusted"))
        rows.append({"factor": factor, "load": round(load, 3), "latency_ms": latency, "note": note})
    return rows
