"""Figures for ``dsplan schedule --plot``: learning rate against tokens, planned and extended runs.

matplotlib is the optional extra ``dsplan[plot]``, imported only inside :func:`plot_schedules`; the
check for it and its message are shared with ``dsplan fit --plot`` (:mod:`dsplan.output.plot`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dsplan.output.plot import pyplot, save_figure
from dsplan.scheduling.schedules import Schedule, rate_table

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
        path: The file to write (.png, .svg or .pdf; see :func:`dsplan.output.plot.validate_plot_path`).
        reuse_tokens: Where a continual run picks up the planned one (a dashed vertical line).
        title: The figure title.

    Raises:
        InputError: matplotlib is missing, or the file cannot be written.
    """
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
