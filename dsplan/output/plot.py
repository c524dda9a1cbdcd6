"""Figures for ``dsplan fit --plot``: IsoFLOP profiles (the paper's Figure 4) and the near-optimal
hyperparameter band (Figure 3). matplotlib is an optional extra, imported only here and only when a
plot is asked for.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dsplan.errors import InputError
from dsplan.fitting import FitReport, SweepData, budget_key

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


def save_figure(fig: Any, path: Path, failure: str = "cannot write") -> None:
    """Write ``fig`` to ``path`` and close it.

    Raises:
        InputError: the file cannot be written, as ``"{path}: {failure}: {reason}"``.
    """
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path)
    except OSError as exc:
        raise InputError(f"{path}: {failure}: {exc.strerror}") from None
    finally:
        plt.close(fig)


def plot_fit(report: FitReport, datasets: Mapping[str, SweepData], path: Path) -> None:
    """Draw the fitted profiles and laws to ``path`` (.png, .svg or .pdf)."""
    import numpy as np

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
            coef = np.polyfit(x, y, 2)
            grid = np.linspace(x.min(), x.max(), 100)
            ax.plot(np.exp(grid), np.polyval(coef, grid), color=colour, lw=1)
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
