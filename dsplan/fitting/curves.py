"""The curve through an IsoFLOP profile: the loss family E + P / M^alpha + Q / D^beta, per budget.

Along a line of constant compute a loss of the Chinchilla form L = E + A / M^alpha + B / D^beta is
not a parabola in ln M: with x = ln M - (the budget's mean ln M) it is E + P e^(-alpha x) +
Q e^(beta x), a sum of two exponentials, steeper on the small-model side when alpha > beta. A
parabola's vertex therefore lands off the true minimum by an amount set by the sweep's span and
centring, which more runs do not shrink (issue #16, part 0). This module fits the family itself.

Each budget b has its own linear coefficients (E_b, P_b, Q_b); the exponents (alpha, beta) are
shared by all budgets, as they are in the law. For fixed exponents the fit is linear least squares
per budget (3 x 3 normal equations from weighted sums, as the parabola's were); the exponents are
found by a grid over the profiled residual sum of squares, then Gauss-Newton with the linear
coefficients eliminated (a Schur complement over the budgets). The parabola in ln M is the limit
alpha = beta -> 0 of this family (the span of 1, e^(-eps x), e^(eps x) tends to that of 1, x, x^2),
so the family contains the old curve rather than replacing it with a different guess.

The bootstrap (fitting/isoflop.py) does not redo the search per resample: each resample's residuals
move the exponents by one Gauss-Newton step from the fit (:func:`linearised_step`, linear in the
residuals), and its coefficients are then solved exactly at those exponents. numpy is imported
inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Bounds of the fitted exponents (our choice): real loss curves have 0.05 to 1 (Chinchilla 0.34 and
# 0.28, Epoch's refit 0.35 and 0.37); below 0.02 the family is a parabola to float precision.
EXPONENT_MIN = 0.02
EXPONENT_MAX = 4.0
GRID = 9  # grid points per exponent for the starting values (log-spaced between the bounds)
GRID_CELLS = 20_000  # runs the grid looks at, at most (every k-th run of each budget)
MAX_STEPS = 40  # Gauss-Newton steps of the point estimate
TOLERANCE = 1e-9  # stop when a step moves the exponents less than this
# Columns per run: c0 = 1, c1 = e^(-alpha x1) - 1, c2 = e^(-beta x2) - 1, c3 = x1 e^(-alpha x1),
# c4 = x2 e^(-beta x2) (c3, c4 are minus the derivatives of c1, c2 in alpha, beta); a fit needs the
# weighted sums of the products c_j c_k (j <= k), c_j y and y^2: 21 numbers per budget.
PAIRS = [(j, k) for j in range(5) for k in range(j, 5)]
N_FEATURES = len(PAIRS) + 5 + 1


def _index(j: int, k: int) -> int:
    return PAIRS.index((min(j, k), max(j, k)))


G_INDEX = [[_index(j, k) for k in range(5)] for j in range(5)]
T_INDEX = [len(PAIRS) + j for j in range(5)]
YY_INDEX = len(PAIRS) + 5


def columns(x1: Any, x2: Any, alpha: float, beta: float) -> list[Any]:
    """The columns c0..c4 per run (each shaped like ``x1``)."""
    import numpy as np

    with np.errstate(over="ignore", invalid="ignore"):
        f1 = np.exp(-alpha * x1)
        f2 = np.exp(-beta * x2)
        return [np.ones_like(x1), f1 - 1, f2 - 1, x1 * f1, x2 * f2]


def weighted_sums(x1: Any, x2: Any, y: Any, weights: Any, alpha: float, beta: float) -> Any:
    """The 21 weighted sums over each budget's runs (shape ``x1.shape[:-1] + (21,)``) that define
    a fit and its Gauss-Newton step: c_j c_k (j <= k), c_j y and y^2."""
    import numpy as np

    c = columns(x1, x2, alpha, beta)
    wc = [weights * cj for cj in c]
    out = np.empty((*x1.shape[:-1], N_FEATURES))
    with np.errstate(over="ignore", invalid="ignore"):
        for n, (j, k) in enumerate(PAIRS):
            out[..., n] = (wc[j] * c[k]).sum(-1)
        for j in range(5):
            out[..., T_INDEX[j]] = (wc[j] * y).sum(-1)
        out[..., YY_INDEX] = (weights * y * y).sum(-1)
    return out


def linear_inverse(sums: Any) -> tuple[Any, Any]:
    """The inverse of each budget's 3 x 3 normal matrix (any leading shape), and where it exists."""
    import numpy as np

    h = {(j, k): sums[..., G_INDEX[j][k]] for j in range(3) for k in range(j, 3)}
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # Scale rows and columns by the diagonal: the columns' sizes differ by orders of magnitude.
        d = [np.sqrt(np.where(h[j, j] > 0, h[j, j], 1.0)) for j in range(3)]
        a = {jk: v / (d[jk[0]] * d[jk[1]]) for jk, v in h.items()}
        # The symmetric adjugate from the six distinct entries.
        c00 = a[1, 1] * a[2, 2] - a[1, 2] ** 2
        c01 = a[0, 2] * a[1, 2] - a[0, 1] * a[2, 2]
        c02 = a[0, 1] * a[1, 2] - a[0, 2] * a[1, 1]
        c11 = a[0, 0] * a[2, 2] - a[0, 2] ** 2
        c12 = a[0, 1] * a[0, 2] - a[0, 0] * a[1, 2]
        c22 = a[0, 0] * a[1, 1] - a[0, 1] ** 2
        det = a[0, 0] * c00 + a[0, 1] * c01 + a[0, 2] * c02
        # Fewer than 3 distinct runs make the scaled system singular (its determinant near 0).
        ok = np.isfinite(det) & (det > 1e-10)
        safe = np.where(ok, det, 1.0)
        cof = ((c00, c01, c02), (c01, c11, c12), (c02, c12, c22))
        inv = np.stack(
            [np.stack([cof[i][j] / (safe * d[i] * d[j]) for j in range(3)], -1) for i in range(3)],
            -2,
        )
    return inv, ok & np.isfinite(inv).all((-1, -2))


def solve_linear(sums: Any) -> tuple[Any, Any]:
    """Linear coefficients (E', P, Q) from the sums (any leading shape), and where they exist."""
    import numpy as np

    inv, ok = linear_inverse(sums)
    t = np.stack([sums[..., T_INDEX[j]] for j in range(3)], -1)
    with np.errstate(invalid="ignore", over="ignore"):
        theta = np.einsum("...ij,...j->...i", inv, t)
    return theta, ok & np.isfinite(theta).all(-1)


def _sse(sums: Any, theta: Any) -> Any:
    """Residual sum of squares of the least-squares solution ``theta``."""
    t = [sums[..., T_INDEX[j]] for j in range(3)]
    return sums[..., YY_INDEX] - sum(theta[..., j] * t[j] for j in range(3))


def gauss_newton_step(sums: Any, theta: Any, use: Any) -> tuple[Any, Any, Any]:
    """One Gauss-Newton step for the shared exponents, the budgets' linear solutions eliminated.

    ``sums`` (..., B, 21) at the current exponents, ``theta`` (..., B, 3) the budgets' linear
    solutions there, ``use`` (..., B) which budgets count. Returns (d_alpha, d_beta) of shape (...)
    and the coefficients' change (..., B, 3), the step's first-order consequence for them.
    """
    import numpy as np

    g = np.stack([np.stack([sums[..., G_INDEX[j][k]] for k in range(5)], -1) for j in range(5)], -2)
    t = np.stack([sums[..., T_INDEX[j]] for j in range(5)], -1)
    p, q = theta[..., 1], theta[..., 2]
    scale = np.stack([-p, -q], -1)  # d mu / d alpha = -P c3, d mu / d beta = -Q c4
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        h_ll = g[..., :3, :3]
        h_gl = g[..., 3:, :3] * scale[..., :, None]  # (..., B, 2, 3)
        h_gg = g[..., 3:, 3:] * scale[..., :, None] * scale[..., None, :]
        # Gradient of the residuals along the exponents: sum (d mu) r, with r = y - c theta.
        resid = t[..., 3:] - np.einsum("...ij,...j->...i", g[..., 3:, :3], theta)
        grad = scale * resid
        safe_ll = np.where(use[..., None, None], h_ll, np.eye(3))
        inv_ll = np.linalg.inv(safe_ll)
        k = np.einsum("...ij,...jk->...ik", h_gl, inv_ll)  # (..., B, 2, 3)
        schur = h_gg - np.einsum("...ij,...kj->...ik", k, h_gl)
        w = use[..., None, None]
        s = np.where(w, schur, 0).sum(-3)  # (..., 2, 2)
        rhs = np.where(use[..., None], grad, 0).sum(-2)
        det = s[..., 0, 0] * s[..., 1, 1] - s[..., 0, 1] * s[..., 1, 0]
        ok = np.isfinite(det) & (det > 0)
        da = np.where(ok, (s[..., 1, 1] * rhs[..., 0] - s[..., 0, 1] * rhs[..., 1]) / det, 0.0)
        db = np.where(ok, (s[..., 0, 0] * rhs[..., 1] - s[..., 1, 0] * rhs[..., 0]) / det, 0.0)
        step = np.stack([da, db], -1)
        dtheta = -np.einsum(
            "...ij,...jk,...k->...i", inv_ll, np.swapaxes(h_gl, -1, -2), step[..., None, :]
        )
    return da, db, np.where(use[..., None], dtheta, 0.0)


def linearised_step(base: Any, theta: Any, use: Any) -> Any:
    """The Gauss-Newton step that data ``fitted + r`` take from the point fit, as a function of r.

    ``base`` (B, 21): the point fit's sums; ``theta`` (B, 3) its coefficients; ``use`` (B,) the
    budgets that share the exponents. The step solves J'J d = J'r with the point fit's Jacobian J,
    the budgets' coefficients eliminated (a Schur complement over the budgets). The returned
    function takes u = (R, B, 5), the sums of c0..c4 times r per budget, and gives
    (d_alpha (R,), d_beta (R,), d_theta (R, B, 3)). Without a usable 2 x 2 system (exponents
    that the data cannot tell apart) the exponents stay where they are.
    """
    import numpy as np

    g = np.stack([np.stack([base[..., G_INDEX[j][k]] for k in range(5)], -1) for j in range(5)], -2)
    inv_ll, ok = linear_inverse(base)
    use = use & ok
    inv_ll = np.where(use[:, None, None], inv_ll, 0.0)
    scale = np.stack([-theta[:, 1], -theta[:, 2]], -1)  # d mu / d alpha = -P c3, d beta: -Q c4
    h_gl = g[:, 3:, :3] * scale[:, :, None]  # (B, 2, 3)
    h_gg = g[:, 3:, 3:] * scale[:, :, None] * scale[:, None, :]
    k = np.einsum("bij,bjk->bik", h_gl, inv_ll)  # (B, 2, 3)
    schur = np.where(use[:, None, None], h_gg - np.einsum("bij,bkj->bik", k, h_gl), 0.0).sum(0)
    det = schur[0, 0] * schur[1, 1] - schur[0, 1] * schur[1, 0]
    identified = bool(np.isfinite(det) and det > 1e-12 * max(1.0, float(np.abs(schur).max()) ** 2))
    s_inv = (
        np.array([[schur[1, 1], -schur[0, 1]], [-schur[1, 0], schur[0, 0]]]) / det
        if identified
        else np.zeros((2, 2))
    )

    def step(u: Any) -> tuple[Any, Any, Any]:
        """For u of shape (R, B, 5)."""
        u_l = u[..., :3]
        v = scale * u[..., 3:]
        rhs = np.where(use[:, None], v - np.einsum("bij,rbj->rbi", k, u_l), 0.0).sum(1)
        d_g = rhs @ s_inv.T  # (R, 2)
        back = u_l - np.einsum("bij,ri->rbj", h_gl, d_g)  # u_l - H_lg d_g
        d_theta = np.einsum("bij,rbj->rbi", inv_ll, back)
        return d_g[:, 0], d_g[:, 1], d_theta

    return step


def minima(alpha: Any, beta: Any, theta: Any) -> tuple[Any, Any, Any]:
    """Where E' + P (e^(-alpha x) - 1) + Q (e^(beta x) - 1) is least along the IsoFLOP line.

    On the line through a budget's runs (ln M + ln D = the mean of the runs' ln M + ln D), the
    centred coordinates obey x2 = -x1 = -x. Returns x*, the curve's value there, and validity
    (P > 0 and Q > 0: otherwise the curve is monotone or concave and has no minimum).
    """
    import numpy as np

    e, p, q = theta[..., 0], theta[..., 1], theta[..., 2]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ok = (p > 0) & (q > 0) & (alpha > 0) & (beta > 0)
        x = np.log(np.where(ok, alpha * p, 1.0) / np.where(ok, beta * q, 1.0)) / (alpha + beta)
        value = e + p * np.expm1(-alpha * x) + q * np.expm1(beta * x)
    return x, value, ok & np.isfinite(x) & np.isfinite(value)


@dataclass(frozen=True)
class CurveFit:
    """The shared exponents and each budget's coefficients at the point estimate."""

    alpha: float
    beta: float
    theta: Any  # (B, 3)
    ok: Any  # (B,) a nonsingular fit
    converged: bool


def linear_sums(x1: Any, x2: Any, y: Any, weights: Any, alpha: float, beta: float) -> Any:
    """The sums of :func:`features` that the linear fit and its residuals need (the others 0).

    Cheaper than all 21: the search for the exponents evaluates many of them.
    """
    import numpy as np

    out = np.zeros((*x1.shape[:-1], N_FEATURES))
    with np.errstate(over="ignore", invalid="ignore"):
        c = [weights, np.expm1(-alpha * x1) * weights, np.expm1(-beta * x2) * weights]
        wy = weights * y
        for j in range(3):
            for k in range(j, 3):
                out[..., G_INDEX[j][k]] = (c[j] * c[k]).sum(-1) if j else c[k].sum(-1)
            out[..., T_INDEX[j]] = (c[j] * y).sum(-1)
        out[..., YY_INDEX] = (wy * y).sum(-1)
    return out


def fit_curves(x1: Any, x2: Any, y: Any, weights: Any, use: Any) -> CurveFit:
    """The point estimate: exponents by grid, then Gauss-Newton with step halving.

    ``x1``, ``x2``, ``y``, ``weights``: (B, W) arrays (padding has weight 0, the others 1);
    ``use``: (B,) the budgets whose residuals fit the exponents. The grid only finds the starting
    point: on a large sweep it looks at every k-th run of each budget (at most GRID_CELLS cells).
    """
    import numpy as np

    def sse_of(sums: Any) -> tuple[float, Any, Any]:
        theta, ok = solve_linear(sums)
        sse = np.where(use & ok, _sse(sums, theta), 0.0).sum()
        return float(sse) if np.isfinite(sse) else np.inf, theta, ok

    stride = max(1, -(-x1.size // GRID_CELLS))
    sx1, sx2, sy, sw = (v[:, ::stride] for v in (x1, x2, y, weights))
    grid = np.geomspace(EXPONENT_MIN, EXPONENT_MAX / 4, GRID)
    best = (np.inf, grid[0], grid[0])
    for a in grid:
        for b in grid:
            sse = sse_of(linear_sums(sx1, sx2, sy, sw, a, b))[0]
            if sse < best[0]:
                best = (sse, a, b)
    _, a, b = best
    sse, theta, ok = sse_of(linear_sums(x1, x2, y, weights, a, b))
    converged = False
    for _ in range(MAX_STEPS):
        sums = weighted_sums(x1, x2, y, weights, a, b)
        da, db, _ = gauss_newton_step(sums, theta, use & ok)
        da, db = float(da), float(db)
        factor = 1.0
        moved = False
        for _ in range(30):
            na = min(max(a + factor * da, EXPONENT_MIN), EXPONENT_MAX)
            nb = min(max(b + factor * db, EXPONENT_MIN), EXPONENT_MAX)
            new = sse_of(linear_sums(x1, x2, y, weights, na, nb))
            if new[0] <= sse:
                moved = abs(na - a) + abs(nb - b) > TOLERANCE
                a, b = na, nb
                sse, theta, ok = new
                break
            factor /= 2
        if not moved:
            converged = True
            break
    return CurveFit(float(a), float(b), theta, ok, converged)
