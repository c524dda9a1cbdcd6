"""Synthetic sweep results scored by a known law L(M, D) = E + A / M^alpha + B / D^beta."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Law:
    alpha: float = 0.34
    beta: float = 0.28
    e: float = 1.7
    a: float = 400.0
    b: float = 410.0

    def loss(self, m: float, d: float) -> float:
        return self.e + self.a / m**self.alpha + self.b / d**self.beta

    @property
    def model_exponent(self) -> float:
        """The exact exponent of M_opt(C) under C = M D: beta / (alpha + beta)."""
        return self.beta / (self.alpha + self.beta)

    def m_opt(self, c: float) -> float:
        g = (self.alpha * self.a / (self.beta * self.b)) ** (1 / (self.alpha + self.beta))
        return g * c**self.model_exponent


def isoflop_csv(
    law: Law,
    budgets: tuple[float, ...] = tuple(np.geomspace(1e17, 3e20, 8)),
    points: int = 10,
    span: float = 1.0,
    noise: float = 0.002,
    seed: int = 0,
) -> str:
    """Runs spread log-evenly over M_opt x 10^(+-span) at each budget, loss with relative noise."""
    rng = np.random.default_rng(seed)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["compute_flops", "flops_per_token", "tokens", "loss", "note"])
    for c in budgets:
        for m in law.m_opt(c) * np.logspace(-span, span, points):
            d = c / m
            loss = law.loss(m, d) * (1 + noise * rng.standard_normal())
            w.writerow([repr(float(c)), repr(float(m)), repr(float(d)), repr(float(loss)), "x"])
    return buf.getvalue()


def score_sweep_csv(text: str, law: Law, noise: float = 0.0, seed: int = 0) -> str:
    """Add a loss column to a `dsplan sweep` CSV, scored by ``law`` (plus relative noise)."""
    rng = np.random.default_rng(seed)
    rows = list(csv.DictReader(io.StringIO(text)))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[*rows[0], "loss"], lineterminator="\n")
    w.writeheader()
    for r in rows:
        m, d = float(r["flops_per_token"]), float(r["tokens"])
        r["loss"] = repr(law.loss(m, d) * (1 + noise * rng.standard_normal()))
        w.writerow(r)
    return buf.getvalue()


def grid_csv(
    budgets: tuple[float, ...] = (1e17, 1e18, 1e19),
    lr_law: tuple[float, float] = (0.3118, -0.125),
    batch_law: tuple[float, float] = (0.2920, 0.3271),
    points: int = 9,
    noise: float = 0.0002,
    seed: int = 0,
) -> str:
    """A learning-rate x batch grid whose loss is a bowl in log space around the given laws."""
    rng = np.random.default_rng(seed)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["compute_flops", "loss", "learning_rate", "batch_size_tokens"])
    for c in budgets:
        lr0 = lr_law[0] * c ** lr_law[1]
        b0 = batch_law[0] * c ** batch_law[1]
        base = 3.0 - 0.05 * math.log10(c)
        for lr in lr0 * np.logspace(-0.6, 0.6, points):
            for b in b0 * np.logspace(-0.6, 0.6, points):
                bowl = 1 + 0.01 * math.log(lr / lr0) ** 2 + 0.01 * math.log(b / b0) ** 2
                loss = base * bowl * (1 + noise * rng.standard_normal())
                w.writerow([repr(float(c)), repr(loss), repr(float(lr)), repr(float(b))])
    return buf.getvalue()


# DeepSeek's Eq. 4, M_opt = 0.1715 C^0.5243 (arXiv 2401.02954, Table 4, 'Ours (Current Data)'):
# where `dsplan sweep` centres its model sizes with the default preset.
SWEEP_CENTRE = (0.1715, 0.5243)


def sweep_like(
    law: Law,
    count: int = 8,
    points: int = 10,
    span: float = 1.0,
    noise: float = 0.002,
    seed: int = 0,
    centre: tuple[float, float] = SWEEP_CENTRE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A sweep laid out as `dsplan sweep` lays it out, scored by ``law`` with relative noise.

    ``count`` budgets log-evenly from 1e17 to 3e20 (rounded to 6 digits), ``points`` model sizes
    log-evenly over the preset's M_opt(C) x 10^(+-span) (not the law's: the sweep does not know
    it), D = C / M. Without the shape search, so M is the target itself. Returns (C, M, D, loss).
    """
    rng = np.random.default_rng(seed)
    budgets = np.array([float(f"{c:.6g}") for c in np.geomspace(1e17, 3e20, count)])
    k, a = centre
    m = (k * budgets**a)[:, None] * np.logspace(-span, span, points)[None, :]
    c = np.broadcast_to(budgets[:, None], m.shape)
    d = c / m
    loss = (law.e + law.a / m**law.alpha + law.b / d**law.beta) * (
        1 + noise * rng.standard_normal(m.shape)
    )
    return c.ravel(), m.ravel(), d.ravel(), loss.ravel()


def sweep_data_of(columns: tuple[np.ndarray, ...], source: str = "synthetic"):  # type: ignore[no-untyped-def]
    """A SweepData from (C, M, D, loss) arrays, without the CSV round trip."""
    from dsplan.fitting import SweepData

    names = ("compute_flops", "flops_per_token", "tokens", "loss")
    return SweepData(
        source=source,
        lines=tuple(range(2, len(columns[0]) + 2)),
        columns={n: tuple(float(v) for v in col) for n, col in zip(names, columns, strict=True)},
    )
