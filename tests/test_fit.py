"""The fitting core: recovery of known laws, the bootstrap, diagnostics and refusals."""

from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from _synthetic import Law, grid_csv, isoflop_csv
from hypothesis import given, settings
from hypothesis import strategies as st

from dsplan.catalog.presets import load_preset, parse_preset
from dsplan.errors import FitError, InputError, SweepDataError
from dsplan.fitting import (
    fit_hyperparameters,
    fit_isoflop,
    parse_column_map,
    preset_toml,
    report,
    sweep_data,
)
from dsplan.fitting.numerics import parabola_vertex


def data_from(text: str, kind: str = "isoflop", column_map: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    rows = [(i, dict(zip(header, cells, strict=True))) for i, cells in enumerate(reader, start=2)]
    return sweep_data(header, rows, "results.csv", kind=kind, column_map=column_map)


def test_vertex_matches_polyfit() -> None:
    rng = np.random.default_rng(3)
    u = np.linspace(-1.5, 1.5, 9)
    y = 2.0 + 0.3 * u + 0.7 * u**2 + 0.01 * rng.standard_normal(9)
    w = np.ones((1, 1, 9))
    feats = np.stack([u**k for k in range(5)] + [y * u**k for k in range(3)], axis=-1)
    sums = np.einsum("rbn,nk->rbk", w, feats)
    u_star, y_star, ok = parabola_vertex(sums, 0)
    c2, c1, c0 = np.polyfit(u, y, 2)
    assert bool(ok[0, 0])
    assert u_star[0, 0] == pytest.approx(-c1 / (2 * c2), rel=1e-9)
    assert y_star[0, 0] == pytest.approx(c0 - c1**2 / (4 * c2), rel=1e-9)


def test_vertex_refuses_two_distinct_points() -> None:
    u = np.array([-1.0, -1.0, 1.0, 1.0])
    y = np.array([1.0, 1.0, 2.0, 2.0])
    feats = np.stack([u**k for k in range(5)] + [y * u**k for k in range(3)], axis=-1)
    sums = np.einsum("rbn,nk->rbk", np.ones((1, 1, 4)), feats)
    assert not bool(parabola_vertex(sums, 0)[2][0, 0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_isoflop_recovers_exponent_and_interval_covers(seed: int) -> None:
    law = Law()
    fit = fit_isoflop(data_from(isoflop_csv(law, seed=seed)), bootstrap=200, seed=seed)
    truth = law.model_exponent
    assert fit.model_scaling.exponent == pytest.approx(truth, abs=0.02)
    assert fit.data_scaling.exponent == pytest.approx(1 - truth, abs=0.02)
    lo, hi = fit.model_scaling.exponent_interval or (math.nan, math.nan)
    assert lo <= truth <= hi
    lo, hi = fit.data_scaling.exponent_interval or (math.nan, math.nan)
    assert lo <= 1 - truth <= hi
    assert fit.bootstrap is not None
    assert fit.bootstrap.failed == 0


@settings(max_examples=25, deadline=None)
@given(
    alpha=st.floats(0.25, 0.45),
    beta=st.floats(0.25, 0.45),
    seed=st.integers(0, 10_000),
)
def test_isoflop_recovers_any_law(alpha: float, beta: float, seed: int) -> None:
    law = Law(alpha=alpha, beta=beta)
    fit = fit_isoflop(data_from(isoflop_csv(law, noise=0.001, seed=seed)))
    assert fit.model_scaling.exponent == pytest.approx(law.model_exponent, abs=0.02)
    # M_opt * D_opt = C at every budget (D = C / M in the data).
    for b in fit.budgets:
        assert b.flops_per_token_opt is not None
        assert b.tokens_opt is not None
        assert b.flops_per_token_opt * b.tokens_opt == pytest.approx(b.compute_flops, rel=1e-3)


def test_bootstrap_is_reproducible_and_seeded() -> None:
    data = data_from(isoflop_csv(Law(), seed=5))
    one = fit_isoflop(data, bootstrap=50, seed=7)
    two = fit_isoflop(data, bootstrap=50, seed=7)
    other = fit_isoflop(data, bootstrap=50, seed=8)
    assert one.model_scaling == two.model_scaling
    assert one.model_scaling.exponent_interval != other.model_scaling.exponent_interval
    assert one.model_scaling.exponent == other.model_scaling.exponent


def test_loss_law_decreases_with_compute() -> None:
    fit = fit_isoflop(data_from(isoflop_csv(Law())))
    assert fit.loss_scaling.exponent < 0
    losses = [b.loss_opt for b in fit.budgets if b.loss_opt is not None]
    assert losses == sorted(losses, reverse=True)


def test_minimum_at_edge_is_reported() -> None:
    law = Law()
    # Budgets sampled only above M_opt: every profile's best run is its smallest model.
    text = isoflop_csv(law, noise=0.0)
    rows = list(csv.DictReader(io.StringIO(text)))
    kept = [
        r for r in rows if float(r["flops_per_token"]) > 1.5 * law.m_opt(float(r["compute_flops"]))
    ]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(kept)
    fit = fit_isoflop(data_from(buf.getvalue()))
    assert any("missed the optimum" in w for w in fit.warnings)


def test_too_few_points_and_non_convex_budgets_are_left_out() -> None:
    text = isoflop_csv(Law(), budgets=(1e17, 1e18, 1e19), noise=0.0)
    rows = list(csv.DictReader(io.StringIO(text)))
    c0, c2 = rows[0]["compute_flops"], rows[-1]["compute_flops"]
    kept = [r for r in rows if r["compute_flops"] != c0] + [
        r for r in rows if r["compute_flops"] == c0
    ][:2]
    for r in kept:  # make the last budget concave: loss falls away from the middle
        if r["compute_flops"] == c2:
            r["loss"] = repr(5.0 - math.log(float(r["flops_per_token"])) ** 2 / 1000)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(kept)
    with pytest.raises(FitError, match="only 1 budget"):
        fit_isoflop(data_from(buf.getvalue()))


def test_too_few_points_warns_but_fits() -> None:
    text = isoflop_csv(Law(), budgets=(1e17, 1e18, 1e19))
    lines = text.splitlines()
    # keep 2 runs of the first budget, everything else
    kept = [lines[0], *lines[1:3], *lines[11:]]
    fit = fit_isoflop(data_from("\n".join(kept)))
    assert any("too few points" in w for w in fit.warnings)
    assert [b.used for b in fit.budgets] == [False, True, True]


def test_exponent_sum_warning_when_compute_does_not_match() -> None:
    text = isoflop_csv(Law(), noise=0.0)
    rows = list(csv.DictReader(io.StringIO(text)))
    for r in rows:  # tokens reported 10x short at the largest budgets only
        if float(r["compute_flops"]) > 1e19:
            r["tokens"] = repr(float(r["tokens"]) / 10)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    fit = fit_isoflop(data_from(buf.getvalue()))
    assert any("sum to" in w for w in fit.warnings)
    assert any("differs from compute_flops" in w for w in fit.warnings)


def test_hyperparameter_fit_recovers_eq1_and_intervals_cover() -> None:
    # A synthetic grid centred on DeepSeek's Eq. 1 (arXiv 2401.02954, Section 3.1):
    # eta = 0.3118 C^-0.1250, B = 0.2920 C^0.3271 tokens.
    fit = fit_hyperparameters(data_from(grid_csv(), kind="hyperparameters"), bootstrap=100)
    assert fit.learning_rate.exponent == pytest.approx(-0.1250, abs=0.02)
    assert fit.batch_size.exponent == pytest.approx(0.3271, abs=0.02)
    assert fit.learning_rate(1e18) == pytest.approx(0.3118 * 1e18**-0.125, rel=0.1)
    lo, hi = fit.learning_rate.exponent_interval or (math.nan, math.nan)
    assert lo <= -0.1250 <= hi
    lo, hi = fit.batch_size.exponent_interval or (math.nan, math.nan)
    assert lo <= 0.3271 <= hi
    assert all(b.n_near_optimal >= 1 for b in fit.budgets)


def test_threshold_widens_the_band() -> None:
    data = data_from(grid_csv(), kind="hyperparameters")
    narrow = fit_hyperparameters(data, threshold=0.0025)
    wide = fit_hyperparameters(data, threshold=0.02)
    assert sum(b.n_near_optimal for b in wide.budgets) > sum(
        b.n_near_optimal for b in narrow.budgets
    )
    with pytest.raises(InputError, match="threshold"):
        fit_hyperparameters(data, threshold=-0.1)


def test_preset_toml_round_trips_and_notes_carried_laws(tmp_path: Path) -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    base = load_preset("current")
    iso = fit_isoflop(data_from(isoflop_csv(Law())))
    text = preset_toml(report(iso, None, base), "mine", base)
    preset = parse_preset(tomllib.loads(text), tmp_path / "mine.toml")
    # Written to 7 significant digits (dsplan/numbers.py).
    assert preset.model_scaling.exponent == pytest.approx(iso.model_scaling.exponent, rel=5e-7)
    assert preset.learning_rate == base.learning_rate
    assert preset.notes is not None
    assert "learning_rate and batch_size are not fitted" in preset.notes
    assert preset.fit_range.compute_min == pytest.approx(1e17)
    assert preset.fit_range.compute_max == pytest.approx(3e20)


def test_missing_column_names_it() -> None:
    with pytest.raises(SweepDataError, match="missing column 'loss'"):
        data_from("compute_flops,flops_per_token,tokens\n1,2,3\n")


def test_bad_cells_name_row_and_column() -> None:
    head = "compute_flops,flops_per_token,tokens,loss\n"
    with pytest.raises(SweepDataError, match=r"row 2 \(line 3\), column 'loss': not a number"):
        data_from(head + "1e17,1e8,1e9,3.1\n1e17,1e8,1e9,abc\n")
    with pytest.raises(
        SweepDataError, match=r"row 1 \(line 2\), column 'tokens': must be a positive"
    ):
        data_from(head + "1e17,1e8,-5,3.1\n")
    with pytest.raises(SweepDataError, match="column 'flops_per_token': not a number: ''"):
        data_from(head + "1e17,,1e9,3.1\n")


def test_nan_loss_is_dropped_with_a_warning() -> None:
    head = "compute_flops,flops_per_token,tokens,loss\n"
    data = data_from(head + "1e17,1e8,1e9,3.1\n1e18,1e8,1e10,nan\n1e18,2e8,5e9,3\n")
    assert len(data) == 2
    assert "dropped 1 run(s) whose loss is NaN: rows 2 (line 3)" in data.warnings[0]


def test_one_budget_is_refused() -> None:
    head = "compute_flops,flops_per_token,tokens,loss\n"
    with pytest.raises(SweepDataError, match="column 'compute_flops': 1 distinct budget"):
        data_from(head + "1e17,1e8,1e9,3.1\n1e17,2e8,5e8,3.0\n")


def test_column_map() -> None:
    assert parse_column_map(["loss=val_bpb"]) == {"loss": "val_bpb"}
    text = isoflop_csv(Law()).replace("loss", "val_bpb", 1)
    assert len(data_from(text, column_map={"loss": "val_bpb"})) == 80
    with pytest.raises(InputError, match="OURS=THEIRS"):
        parse_column_map(["loss"])
    with pytest.raises(InputError, match="unknown column 'los'"):
        parse_column_map(["los=x"])


def test_loss_law_with_an_irreducible_term() -> None:
    # Issue 16, part 0: on the synthetic sweep (L = 1.7 + 400/M^0.34 + 410/D^0.28, 0.2%
    # noise, 8 budgets 1e17..3e20) the pure power law L_opt = k C^g predicts 1.37 at 1e24, below the
    # floor of 1.7 (true optimum 1.867). With the floor, L_opt(C) = E + k C^g is exact for this law
    # (both terms scale as C^(-alpha beta / (alpha + beta)) at the optimum).
    from dsplan.fitting import fit_isoflop, predict, sweep_data

    law = Law()
    text = isoflop_csv(law, noise=0.002, seed=0)
    header, *lines = text.splitlines()
    rows = [
        (i + 2, dict(zip(header.split(","), ln.split(","), strict=True)))
        for i, ln in enumerate(lines)
    ]
    fit = fit_isoflop(sweep_data(header.split(","), rows, "synthetic"), bootstrap=100, seed=0)
    floor = fit.loss_floor_scaling
    assert floor is not None
    lo, hi = floor.irreducible_interval or (0.0, 0.0)
    assert lo <= law.e <= hi
    exact = law.alpha * law.beta / (law.alpha + law.beta)
    glo, ghi = floor.exponent_interval or (0.0, 0.0)
    assert glo <= -exact <= ghi
    m = law.m_opt(1e24)
    true_opt = law.loss(m, 1e24 / m)  # 1.8666
    p, _ = predict(fit, None, 1e24)
    assert p.loss == pytest.approx(true_opt, rel=0.01)
    assert p.loss_power_law is not None and p.loss_power_law < law.e  # the old law's failure
