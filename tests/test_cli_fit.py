"""`dsplan fit`: the sweep -> results -> fit -> preset -> budget loop, formats and error paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _synthetic import Law, grid_csv, isoflop_csv, score_sweep_csv
from conftest import OUTPUT_REL, assert_input_error, run_cli


@pytest.fixture
def results(tmp_path: Path) -> Path:
    path = tmp_path / "results.csv"
    path.write_text(isoflop_csv(Law(), seed=11))
    return path


def test_round_trip_sweep_score_fit(tmp_path: Path) -> None:
    # A sweep designed by `dsplan sweep` (real shapes, D = C / M_exact), scored by a known law,
    # fits back to that law.
    law = Law(alpha=0.30, beta=0.32)
    sweep = run_cli("sweep", "--budgets", "1e18..1e21", "--count", "6", "--points", "9")
    assert sweep.exit_code == 0, sweep.stderr
    path = tmp_path / "scored.csv"
    path.write_text(score_sweep_csv(sweep.stdout, law, noise=0.001, seed=2))
    r = run_cli("fit", str(path), "--bootstrap", "100", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["model_scaling"]["exponent"] == pytest.approx(law.model_exponent, abs=0.02)
    lo, hi = doc["model_scaling"]["exponent_interval"]
    assert lo <= law.model_exponent <= hi
    assert doc["data_scaling"]["exponent"] == pytest.approx(1 - law.model_exponent, abs=0.02)
    # The coefficient too: M_opt inside the fitted range. The sweep is centred on DeepSeek's M_opt,
    # about 3.5x below this law's; the parabolas' vertices came out 3.6% low there, the law's own
    # curve gives it to 0.5% (issue #16, part 0); 2% is our tolerance.
    m = doc["model_scaling"]
    assert m["coefficient"] * 1e20 ** m["exponent"] == pytest.approx(law.m_opt(1e20), rel=0.02)


def test_json_stable_keys(results: Path) -> None:
    doc = run_cli("fit", str(results), "--bootstrap", "20", "--format", "json").json()
    assert doc["schema_version"] == 1
    for law in ("model_scaling", "data_scaling", "loss_scaling"):
        assert set(doc[law]) == {
            "coefficient", "exponent", "coefficient_interval", "exponent_interval",
        }  # fmt: skip
        lo, hi = doc[law]["exponent_interval"]
        assert lo <= doc[law]["exponent"] <= hi
    assert doc["bootstrap"]["resamples"] == 20
    assert doc["fit_range"] == {"compute_min": 1e17, "compute_max": 3e20}
    assert "learning_rate" not in doc
    # Without --bootstrap the interval keys stay, as null.
    plain = run_cli("fit", str(results), "--format", "json").json()
    assert plain["model_scaling"]["exponent_interval"] is None
    assert plain["bootstrap"] is None


def test_text_report_shows_the_papers_laws(results: Path) -> None:
    r = run_cli("fit", str(results))
    assert r.exit_code == 0, r.stderr
    assert "M_opt = k C^a" in r.stdout
    # DeepSeek Eq. 4 (arXiv 2401.02954): M_opt = 0.1715 C^0.5243, shown beside the fit.
    assert "0.1715 x C^0.5243" in r.stdout
    assert "8 of 8 budgets used" in r.stdout


def test_output_preset_plans_a_budget(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "mylaws.toml"
    r = run_cli("fit", str(results), "--output", str(out), "--format", "json")
    assert r.exit_code == 0, r.stderr
    fitted = r.json()
    b = run_cli("budget", "1e20", "--preset", str(out), "--format", "json")
    assert b.exit_code == 0, b.stderr
    plan = b.json()
    assert plan["preset"] == "mylaws"
    m = fitted["model_scaling"]
    assert plan["optimal"]["flops_per_token"] == pytest.approx(
        m["coefficient"] * 1e20 ** m["exponent"], rel=OUTPUT_REL
    )
    # The learning rate is carried from Eq. 1 (not fitted here), and the file says so.
    assert plan["hyperparameters"]["learning_rate"] == pytest.approx(
        0.3118 * 1e20**-0.125, rel=OUTPUT_REL
    )
    assert "not fitted" in out.read_text()


def test_both_fits_into_one_preset(results: Path, tmp_path: Path) -> None:
    grid = tmp_path / "grid.csv"
    grid.write_text(grid_csv(lr_law=(0.5, -0.14)))
    out = tmp_path / "both.toml"
    r = run_cli(
        "fit", str(results), "--hyperparameters", str(grid), "--output", str(out),
        "--format", "json",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["learning_rate"]["exponent"] == pytest.approx(-0.14, abs=0.02)
    assert doc["near_optimal_threshold"] == 0.0025
    assert "not fitted" not in out.read_text()
    plan = run_cli("budget", "1e19", "--preset", str(out), "--format", "json").json()
    assert plan["hyperparameters"]["learning_rate"] == pytest.approx(
        doc["learning_rate"]["coefficient"] * 1e19 ** doc["learning_rate"]["exponent"],
        rel=OUTPUT_REL,
    )


def test_hyperparameter_kind_alone(tmp_path: Path) -> None:
    grid = tmp_path / "grid.csv"
    grid.write_text(grid_csv())
    r = run_cli("fit", str(grid), "--kind", "hyperparameters", "--threshold", "0.005")
    assert r.exit_code == 0, r.stderr
    assert "eta_opt = k C^e" in r.stdout
    assert "within 0.50%" in r.stdout
    toml = run_cli("fit", str(grid), "--kind", "hyperparameters", "--format", "toml")
    assert "model_scaling, data_scaling and fit_range are not fitted" in toml.stdout


def test_toml_format_and_stdin(results: Path) -> None:
    r = run_cli("fit", "-", "--format", "toml", "--id", "piped", input=results.read_text())
    assert r.exit_code == 0, r.stderr
    assert 'id = "piped"' in r.stdout
    assert "[model_scaling]" in r.stdout


def test_predict_warns_far_beyond(results: Path) -> None:
    r = run_cli("fit", str(results), "--predict", "1e24", "--format", "json")
    assert r.exit_code == 0
    (p,) = r.json()["predictions"]
    assert p["orders_beyond"] == pytest.approx(3.52, abs=0.01)
    assert "warning: prediction at 1e+24 FLOPs lies 3.5 orders" in r.stderr


def test_nan_loss_dropped_with_warning(tmp_path: Path) -> None:
    text = isoflop_csv(Law()).splitlines()
    cells = text[3].split(",")
    cells[3] = "nan"
    text[3] = ",".join(cells)
    path = tmp_path / "r.csv"
    path.write_text("\n".join(text))
    r = run_cli("fit", str(path), "--format", "json")
    assert r.exit_code == 0
    assert "dropped 1 run(s) whose loss is NaN: rows 3 (line 4)" in r.stderr
    assert r.json()["n_runs"] == 79


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return str(path)


HEAD = "compute_flops,flops_per_token,tokens,loss\n"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("compute_flops,tokens,loss\n1e17,1e9,3\n", "missing column 'flops_per_token'"),
        (
            HEAD + "1e17,1e8,1e9,3\n1e18,1e8,1e10,x\n",
            "row 2 (line 3), column 'loss': not a number: 'x'",
        ),
        (
            HEAD + "1e17,1e8,0,3\n",
            "row 1 (line 2), column 'tokens': must be a positive finite number, got '0'",
        ),
        (HEAD + "-1e17,1e8,1e9,3\n", "column 'compute_flops': must be a positive"),
        (
            HEAD + "1e17,1e8,1e9,3\n1e17,2e8,5e8,2.9\n",
            "column 'compute_flops': 1 distinct budget(s)",
        ),
        (HEAD + "1e17,1e8,1e9,inf\n", "column 'loss': must be a positive finite number, got 'inf'"),
        ("", "empty file"),
        (
            HEAD + "1e17,1e8,1e9,nan\n1e18,1e8,1e10,nan\n",
            "0 distinct budget(s) (none) after dropping 2 run(s) whose loss is NaN",
        ),
        (
            "compute_flops,flops_per_token,tokens,loss,loss\n1e17,1e8,1e9,3,4\n",
            "column 'loss' appears 2 times in the header",
        ),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, text: str, fragment: str) -> None:
    assert_input_error(run_cli("fit", write(tmp_path, text)), fragment)


def test_options_errors(results: Path) -> None:
    assert_input_error(run_cli("fit", "nope.csv"), "nope.csv: no such file")
    assert_input_error(
        run_cli("fit", str(results), "--bootstrap", "-1"),
        "the bootstrap resamples must be 0 to",
    )
    assert_input_error(run_cli("fit", str(results), "--format", "csv"), "'csv' is not one of")
    assert_input_error(run_cli("fit", str(results), "--column", "loss"), "OURS=THEIRS")
    assert_input_error(
        run_cli("fit", str(results), "--column", "loss=bpb"),
        "missing column 'bpb' (mapped from 'loss')",
    )
    assert_input_error(run_cli("fit", str(results), "--predict", "x"), "--predict must be")


def test_unfittable_valid_data_exits_1(tmp_path: Path) -> None:
    # Two budgets of two runs each: valid numbers, but no parabola can be fitted.
    path = write(
        tmp_path, HEAD + "1e17,1e8,1e9,3\n1e17,2e8,5e8,2.9\n1e18,1e8,1e10,2.8\n1e18,2e8,5e9,2.7\n"
    )
    r = run_cli("fit", path)
    assert r.exit_code == 1
    assert r.stdout == ""
    assert "error: " in r.stderr
    assert "only 0 budget(s) have a usable IsoFLOP minimum" in r.stderr
    assert "Traceback" not in r.stderr


def test_plot_without_matplotlib_says_how_to_install(
    results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    r = run_cli("fit", str(results), "--plot", str(tmp_path / "fit.png"))
    assert_input_error(
        r, "--plot needs matplotlib, which is not installed: pip install 'dsplan[plot]'"
    )
    assert_input_error(
        run_cli("fit", str(results), "--plot", str(tmp_path / "fit.txt")), "give a file ending in"
    )


def test_startup_imports_no_numpy() -> None:
    code = (
        "import sys, dsplan.cli; "
        "bad = [m for m in ('numpy', 'scipy', 'matplotlib') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_progress_bar_only_for_long_fits_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from dsplan.cli import fit as cli_fit

    with cli_fit._progress(10, "short") as tick:
        assert tick is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with cli_fit._progress(cli_fit.PROGRESS_CELLS, "long") as tick:
        assert tick is not None
        tick(5, 10)
        tick(10, 10)
