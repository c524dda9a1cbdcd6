"""Every figure dsplan draws, and the one place matplotlib is driven from.

``dsplan fit --plot``: IsoFLOP profiles (the paper's Figure 4) and the near-optimal hyperparameter
band (Figure 3); ``dsplan fit --parametric --plot``: the fitted loss surface along lines of equal
compute, and fitted against observed loss; ``dsplan schedule --plot``: learning rate against tokens, planned and extended;
``dsplan compare --plot``: every law's M and D against C. matplotlib is the optional extra
``dsplan[plot]``, imported only inside these functions, on the Agg backend (files, no display).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsplan.errors import InputError
from dsplan.units import count

if TYPE_CHECKING:
    from dsplan.fitting import FitReport, ParametricData, ParametricFit, SweepData
    from dsplan.model.shape import SearchOptions
    from dsplan.planning.schedule_report import ScheduleReport
    from dsplan.scheduling.schedules import Schedule

SUFFIXES = (".png", ".svg", ".pdf")
INSTALL_HINT = "pip install 'dsplan[plot]'"


def validate_plot_path(path: Path) -> None:
    """Refuse a file type matplotlib would not write as the user expects."""
    if path.suffix.lower() not in SUFFIXES:
        raise InputError(f"--plot {path}: give a file ending in {', '.join(SUFFIXES)}")


def require_matplotlib() -> None:
    """Raise a clear :class:`InputError` naming the extra when matplotlib is not installed."""
    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except ValueError:  # a module object without a spec (e.g. set to None in sys.modules)
        found = False
    if not found:
        raise InputError(f"--plot needs matplotlib, which is not installed: {INSTALL_HINT}")


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (files only, no display).

    Raises:
        InputError: matplotlib is not installed.
    """
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(
    fig: Any, path: Path, failure: str = "cannot write", dpi: int | None = None
) -> None:
    """Write ``fig`` to ``path`` and close it.

    Raises:
        InputError: the file cannot be written, as ``"{path}: {failure}: {reason}"``.
    """
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=dpi)
    except OSError as exc:
        raise InputError(f"{path}: {failure}: {exc.strerror}") from None
    finally:
        plt.close(fig)


def plot_fit(report: FitReport, datasets: Mapping[str, SweepData], path: Path) -> None:
    """Draw the fitted profiles and laws to ``path`` (.png, .svg or .pdf)."""
    import numpy as np

    from dsplan.fitting.data import budget_key

    plt = pyplot()

    panels = []
    if report.isoflop is not None:
        panels += ["profiles", "model", "data"]
    if report.hyperparameters is not None:
        panels += ["lr", "batch"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    ax_of = dict(zip(panels, axes[0], strict=True))
    iso = report.isoflop
    if iso is not None:
        data = datasets["isoflop"]
        c = np.array(data.column("compute_flops"))
        m = np.array(data.column("flops_per_token"))
        d = np.array(data.column("tokens"))
        loss = np.array(data.column("loss"))
        keys = np.array([budget_key(v) for v in c])
        ax = ax_of["profiles"]
        cmap = plt.get_cmap("viridis")
        used = [b for b in iso.budgets if b.used]
        for i, b in enumerate(used):
            colour = cmap(i / max(1, len(used) - 1))
            sel = keys == b.compute_flops
            x, y = np.log(m[sel]), loss[sel]
            ax.scatter(m[sel], y, s=12, color=colour, label=f"{b.compute_flops:.0e}")
            grid = np.linspace(x.min(), x.max(), 100)
            if iso.curve is None:
                curve = np.polyval(np.polyfit(x, y, 2), grid)
            else:  # the fitted family, its exponents shared, along the budget's IsoFLOP line
                alpha, beta = iso.curve.alpha, iso.curve.beta
                lx, ld = x - x.mean(), np.log(d[sel]) - np.log(d[sel]).mean()
                basis = np.stack([np.ones_like(lx), np.exp(-alpha * lx), np.exp(-beta * ld)], -1)
                coef = np.linalg.lstsq(basis, y, rcond=None)[0]
                gx = grid - x.mean()  # on the line through the runs, centred ln D is -gx
                curve = coef[0] + coef[1] * np.exp(-alpha * gx) + coef[2] * np.exp(beta * gx)
            ax.plot(np.exp(grid), curve, color=colour, lw=1)
            ax.scatter([b.flops_per_token_opt], [b.loss_opt], marker="*", s=80, color=colour)
        ax.set(xscale="log", xlabel="M (FLOPs/token)", ylabel="loss", title="IsoFLOP profiles")
        ax.legend(fontsize=6, title="C (FLOPs)", title_fontsize=6)
        cs = np.array([b.compute_flops for b in used])
        line = np.geomspace(cs.min(), cs.max(), 50)
        for name, law, values, label in (
            (
                "model",
                iso.model_scaling,
                [b.flops_per_token_opt for b in used],
                "M_opt (FLOPs/token)",
            ),
            ("data", iso.data_scaling, [b.tokens_opt for b in used], "D_opt (tokens)"),
        ):
            ax = ax_of[name]
            ax.scatter(cs, values, color="grey", s=16)
            ax.plot(line, law.coefficient * line**law.exponent, "k:", lw=1)
            ax.set(
                xscale="log",
                yscale="log",
                xlabel="C (FLOPs)",
                ylabel=label,
                title=f"{law.coefficient:.3g} C^{law.exponent:.3f}",
            )
    hp = report.hyperparameters
    if hp is not None:
        data = datasets["hyperparameters"]
        c = np.array(data.column("compute_flops"))
        loss = np.array(data.column("loss"))
        keys = np.array([budget_key(v) for v in c])
        best = {b.compute_flops: b.best_loss for b in hp.budgets}
        near = np.array([loss[i] <= best[keys[i]] * (1 + hp.threshold) for i in range(len(c))])
        line = np.geomspace(c.min(), c.max(), 50)
        for name, law, column, label in (
            ("lr", hp.learning_rate, "learning_rate", "learning rate"),
            ("batch", hp.batch_size, "batch_size_tokens", "batch size (tokens)"),
        ):
            ax = ax_of[name]
            v = np.array(data.column(column))
            ax.scatter(c[~near], v[~near], s=6, color="lightgrey")
            ax.scatter(c[near], v[near], s=14, color="grey", label="near-optimal")
            ax.plot(line, law.coefficient * line**law.exponent, "k:", lw=1)
            ax.set(xscale="log", yscale="log", xlabel="C (FLOPs)", ylabel=label)
            ax.set_title(f"{law.coefficient:.3g} C^{law.exponent:.3f}")
            ax.legend(fontsize=6)
    fig.tight_layout()
    save_figure(fig, path)


# Lines of equal compute drawn through the fitted surface of ``fit --parametric --plot``.
PARAMETRIC_CURVES = 6


def plot_parametric(fit: ParametricFit, data: ParametricData, path: Path) -> None:
    """Draw a parametric fit to ``path``: the runs and the fitted L(X, D) along lines of equal
    compute (C = factor X D) with the compute-optimal frontier, and fitted against observed loss."""
    import numpy as np

    plt = pyplot()
    e, a, b, alpha, beta = (fit.value(k) for k in ("e", "a", "b", "alpha", "beta"))
    factor = fit.flops_factor
    x, d, loss = (np.array(v) for v in (data.x, data.tokens, data.loss))
    compute = factor * x * d

    def law(xs: Any, ds: Any) -> Any:
        return e + a / xs**alpha + b / ds**beta

    fig, (surface, agreement) = plt.subplots(1, 2, figsize=(8.4, 3.6))
    cmap = plt.get_cmap("viridis")
    lo, hi = np.log10(compute.min()), np.log10(compute.max())
    span = max(hi - lo, 1e-12)
    surface.scatter(x, loss, s=10, c=(np.log10(compute) - lo) / span, cmap=cmap, vmin=0, vmax=1)
    xs = np.geomspace(x.min(), x.max(), 200)
    for level in np.linspace(lo, hi, PARAMETRIC_CURVES):
        c = 10.0**level
        surface.plot(xs, law(xs, c / (factor * xs)), color=cmap((level - lo) / span), lw=1)
    # The frontier: X_opt = G (C / factor)^a, the closed form the report prints.
    cs = np.geomspace(compute.min(), compute.max(), 100)
    x_opt = fit.allocation_coefficient.value * (cs / factor) ** fit.allocation_exponent.value
    surface.plot(x_opt, law(x_opt, cs / (factor * x_opt)), "k--", lw=1, label="compute-optimal")
    unit = "N (parameters)" if fit.x_kind == "params" else "M (FLOPs/token)"
    surface.set(xscale="log", xlabel=unit, ylabel="loss", title="fitted loss at equal compute")
    surface.legend(fontsize=6)
    predicted = law(x, d)
    agreement.scatter(predicted, loss, s=8, color="grey")
    ends = [min(predicted.min(), loss.min()), max(predicted.max(), loss.max())]
    agreement.plot(ends, ends, "k:", lw=1)
    agreement.set(
        xscale="log",
        yscale="log",
        xlabel="fitted loss",
        ylabel="observed loss",
        title=f"E {e:.4g}, alpha {alpha:.3f}, beta {beta:.3f}",
    )
    fig.tight_layout()
    save_figure(fig, path)


# About 2000 points per curve draw a smooth line; more only slow the figure down.
POINTS_PER_CURVE = 2000


def plot_schedules(
    schedules: Sequence[tuple[str, Schedule]],
    path: Path,
    *,
    reuse_tokens: float | None = None,
    title: str = "",
) -> None:
    """Draw learning rate against tokens for each ``(label, schedule)`` and save the figure.

    Args:
        schedules: Labelled schedules, drawn on one pair of axes.
        path: The file to write (.png, .svg or .pdf; see :func:`validate_plot_path`).
        reuse_tokens: Where a continual run picks up the planned one (a dashed vertical line).
        title: The figure title.

    Raises:
        InputError: matplotlib is missing, or the file cannot be written.
    """
    from dsplan.scheduling.schedules import rate_table

    fig, ax = pyplot().subplots(figsize=(8, 4.5), dpi=120)
    for label, schedule in schedules:
        every = max(1, schedule.total_steps // POINTS_PER_CURVE)
        rows = list(rate_table(schedule, every))
        ax.plot([r[1] for r in rows], [r[2] for r in rows], label=label, linewidth=1.6)
    if reuse_tokens is not None:
        ax.axvline(
            reuse_tokens, linestyle="--", color="grey", linewidth=1, label="reused checkpoint"
        )
    ax.set_xlabel("tokens")
    ax.set_ylabel("learning rate")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, "cannot write the plot")


def plot_schedule_report(report: ScheduleReport, path: Path) -> None:
    """The schedule of ``dsplan schedule`` and, when extended, the longer run beside it."""
    from dsplan.scheduling.schedules import REFERENCES

    sched, extension = report.schedule, report.extension
    curves = [(f"{sched.kind}, {count(sched.tokens)} tokens", sched)]
    if extension:
        curves.append(
            (f"extended to {count(extension.extended_tokens)} tokens", extension.schedule)
        )
    plot_schedules(
        curves,
        path,
        reuse_tokens=extension.reusable_tokens if extension else None,
        title=f"dsplan schedule: {REFERENCES[sched.kind].split(' (')[0]}",
    )


def plot_comparison(
    path: Path, budgets: Sequence[float], presets: Sequence[str] | None, search: SearchOptions
) -> None:
    """Every law's M and D against C (:func:`dsplan.planning.compare.plot_series`), each law's
    compute fit range shaded, the budgets marked.

    Raises:
        InputError: matplotlib is missing, or the file cannot be written.
    """
    from dsplan.planning.compare import plot_series

    plt = pyplot()
    grid, series = plot_series(budgets, presets, search)
    fig, (ax_m, ax_d) = plt.subplots(1, 2, figsize=(13, 5.5), sharex=True)
    colors = plt.get_cmap("tab20")
    for i, (preset, ms, ds) in enumerate(series):
        color = colors(i % 20)
        ax_m.plot(grid, ms, color=color, label=preset.id)
        ax_d.plot(grid, ds, color=color, label=preset.id)
        lo, hi = preset.fit_range.compute_min, preset.fit_range.compute_max
        if lo is not None and hi is not None:
            for ax in (ax_m, ax_d):
                ax.axvspan(lo, hi, color=color, alpha=0.06, linewidth=0)
    for ax, ylabel in ((ax_m, "M (FLOPs/token, matching shape)"), (ax_d, "D = C / M (tokens)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("C (FLOPs)")
        ax.set_ylabel(ylabel)
        for c in budgets:
            ax.axvline(c, color="grey", linestyle=":", linewidth=1)
        ax.grid(True, which="major", alpha=0.3)
        ax.set_xlim(grid[0], grid[-1])  # fit ranges far below the budgets would squash the lines
    ax_d.legend(fontsize=7, loc="upper left")
    fig.suptitle("dsplan compare: compute-optimal M and D by law (shaded: each law's fit range)")
    fig.tight_layout()
    save_figure(fig, path, "cannot write the plot", dpi=120)
