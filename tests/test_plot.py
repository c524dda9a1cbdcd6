"""The figures of `fit --plot`, `schedule --plot` and `compare --plot`, drawn by real matplotlib (Agg).

Each test runs the command, keeps the figure dsplan hands to ``save_figure`` (a real Figure, saved
as usual) and checks what is on its axes, then that the file is a real image. matplotlib is in the
``test`` extra, so CI runs these; without it they skip, saying why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _synthetic import Law, grid_csv, isoflop_csv
from conftest import assert_input_error, run_cli

pytest.importorskip("matplotlib", reason="the plot tests draw real figures: pip install matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"
RUN_7B = ("--tokens", "2e12", "--batch-size-tokens", "9437184", "--learning-rate", "4.2e-4")


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures dsplan saves, in order (saved to their files as usual)."""
    import dsplan.output.plot as plot

    kept: list[Any] = []
    save = plot.save_figure

    def keep(fig: Any, path: Path, *args: Any, **kwargs: Any) -> None:
        kept.append(fig)
        save(fig, path, *args, **kwargs)

    monkeypatch.setattr(plot, "save_figure", keep)
    return kept


def _points(collection: Any) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in collection.get_offsets()]


def test_fit_draws_profiles_minima_laws_and_bands(tmp_path: Path, figures: list[Any]) -> None:
    results, grid = tmp_path / "results.csv", tmp_path / "grid.csv"
    results.write_text(isoflop_csv(Law(), seed=11))
    grid.write_text(grid_csv())
    target = tmp_path / "fit.png"
    r = run_cli(
        "fit", str(results), "--hyperparameters", str(grid), "--plot", str(target),
        "--format", "json",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert target.read_bytes().startswith(PNG)
    (fig,) = figures
    profiles, model, data, lr, batch = fig.axes  # IsoFLOP, M_opt, D_opt, learning rate, batch
    used = [b for b in doc["budgets"] if b["used"]]
    assert len(used) == 8
    # Per used budget: its runs, its parabola and its starred minimum at the fitted (M_opt, L_opt).
    assert len(profiles.lines) == 8
    stars = profiles.collections[1::2]
    for star, b in zip(stars, used, strict=True):
        ((m, loss),) = _points(star)
        # The JSON writes M whole and the loss to 7 digits (output contract).
        assert m == pytest.approx(b["flops_per_token_opt"], abs=0.5)
        assert loss == pytest.approx(b["loss_opt"], rel=5e-7)
    assert profiles.get_xscale() == "log"
    law = doc["model_scaling"]
    assert model.get_title() == f"{law['coefficient']:.3g} C^{law['exponent']:.3f}"
    assert data.get_ylabel() == "D_opt (tokens)"
    # The near-optimal runs are highlighted: as many as the fit counted.
    near = sum(b["n_near_optimal"] for b in doc["hyperparameter_budgets"])
    for ax in (lr, batch):
        highlighted = ax.collections[1]
        assert highlighted.get_label() == "near-optimal"
        assert len(_points(highlighted)) == near


def test_parametric_fit_draws_the_surface_the_frontier_and_the_agreement(
    tmp_path: Path, figures: list[Any]
) -> None:
    results, target = tmp_path / "results.csv", tmp_path / "fit.png"
    law = Law()
    results.write_text(isoflop_csv(law, noise=0.0, seed=3))
    r = run_cli(
        "fit", str(results), "--parametric", "--starts", "10", "--plot", str(target),
        "--format", "json",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert target.read_bytes().startswith(PNG)
    (fig,) = figures
    surface, agreement = fig.axes
    (runs,) = surface.collections
    assert len(_points(runs)) == doc["n_runs"]
    # Six lines of equal compute through the fitted surface, then the compute-optimal frontier.
    *levels, frontier = surface.lines
    assert len(levels) == 6
    assert frontier.get_label() == "compute-optimal"
    # Each point of the frontier is the minimum of the fitted loss along its own line of compute:
    # the fitted law is the true one here (noise 0), so the frontier is the law's M_opt(C).
    xs, ys = (np.asarray(v) for v in frontier.get_data())
    for x, y in zip(xs[::20], ys[::20], strict=True):
        c = (x / law.m_opt(1.0)) ** (1 / law.model_exponent)  # invert M_opt = G C^a
        line = np.geomspace(x / 3, x * 3, 2001)
        assert y == pytest.approx(min(law.loss(m, c / m) for m in line), rel=1e-5)
    # Fitted against observed: one point a run, on the diagonal for an exact law.
    (points,) = agreement.collections
    fitted_obs = np.array(_points(points))
    assert fitted_obs[:, 0] == pytest.approx(fitted_obs[:, 1], rel=1e-4)


def test_fit_plot_write_error_exits_2(tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    results.write_text(isoflop_csv(Law(), seed=11))
    target = tmp_path / "missing" / "fit.svg"
    r = run_cli("fit", str(results), "--plot", str(target))
    assert_input_error(r, f"{target}: cannot write: No such file or directory")


def test_schedule_draws_both_runs_and_the_reused_checkpoint(
    tmp_path: Path, figures: list[Any]
) -> None:
    target = tmp_path / "lr.svg"
    args = (*RUN_7B, "--extend-to", "3e12", "--plot", str(target), "--format", "json")
    r = run_cli("schedule", *args)
    assert r.exit_code == 0, r.stderr
    assert f"wrote {target}" in r.stderr
    assert target.read_text().lstrip().startswith("<?xml")
    (fig,) = figures
    (ax,) = fig.axes
    planned, extended, reuse = ax.lines
    # DeepSeek 7B (arXiv 2401.02954, Table 2): peak 4.2e-4 held to 80% of 2T; the extension to 3T
    # reuses the checkpoint at 1.6T (Section 2.3).
    assert max(planned.get_ydata()) == pytest.approx(4.2e-4)
    assert max(planned.get_xdata()) == pytest.approx(2e12, rel=1e-5)
    assert max(extended.get_xdata()) == pytest.approx(3e12, rel=1e-5)
    assert reuse.get_xdata()[0] == pytest.approx(r.json()["extension"]["reusable_tokens"])
    assert reuse.get_label() == "reused checkpoint"


def test_compare_draws_every_law_and_marks_the_budgets(tmp_path: Path, figures: list[Any]) -> None:
    target = tmp_path / "laws.png"
    presets = ("--preset", "current", "--preset", "chinchilla-a3")
    r = run_cli("compare", "1e22", "1e24", *presets, "--plot", str(target), "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert target.read_bytes().startswith(PNG)
    (fig,) = figures
    ax_m, ax_d = fig.axes
    labels = [line.get_label() for line in ax_d.lines]
    assert labels[:2] == ["current", "chinchilla-a3"]
    # One dotted line per budget on each panel, after the laws.
    budget_lines = [line for line in ax_m.lines if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in budget_lines] == [1e22, 1e24]
    assert ax_m.get_yscale() == ax_d.get_yscale() == "log"
    # The grid spans two decades below the smallest budget to one above the largest, and the
    # plotted M at 1e24 (log-log interpolated) is the one the table reports for the law's shape.
    xs, ys = ax_m.lines[0].get_xdata(), ax_m.lines[0].get_ydata()
    assert xs[0] == pytest.approx(1e20) and xs[-1] == pytest.approx(1e25)
    assert list(ys) == sorted(ys)
    row = next(row for row in r.json()["budgets"][1]["laws"] if row["id"] == "current")
    at_1e24 = 10 ** np.interp(24.0, np.log10(xs), np.log10(ys))
    assert at_1e24 == pytest.approx(row["flops_per_token"], rel=0.02)
