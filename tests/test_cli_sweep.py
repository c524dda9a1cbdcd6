"""`dsplan sweep`: formats, run configs, the paper's design and the error paths."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest
from conftest import assert_input_error, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from dsplan.planning.sweep import CSV_COLUMNS, SweepOptions, design, parse_budgets

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_default_sweep_is_the_papers_design() -> None:
    # arXiv 2401.02954, Section 3.2: 8 budgets from 1e17 to 3e20 FLOPs, about 10 splits each.
    r = run_cli("sweep")
    assert r.exit_code == 0, r.stderr
    table = rows(r.stdout)
    assert list(table[0]) == list(CSV_COLUMNS)
    budgets = sorted({float(t["compute_flops"]) for t in table})
    assert len(budgets) == 8
    assert budgets[0] == 1e17
    assert budgets[-1] == 3e20
    assert len(table) == 80


def test_each_run_spends_its_budget_exactly() -> None:
    for t in rows(run_cli("sweep", "--budgets", "1e18,1e20").stdout):
        m, d, c = int(t["flops_per_token"]), int(t["tokens"]), float(t["compute_flops"])
        # Whole tokens (D = C / M rounded): C = M * D to within half a token's FLOPs.
        assert abs(m * d - c) <= m / 2
        assert int(t["batch_size_tokens"]) == int(t["batch_size_sequences"]) * int(t["seq_len"])


def test_hyperparameters_follow_eq1_at_1e17() -> None:
    # arXiv 2401.02954, Eq. 1 at C = 1e17 (reference §9 table): eta = 2.338e-3, B = 1.062e5 tokens.
    table = rows(run_cli("sweep", "--budgets", "1e17,1e18").stdout)
    first = [t for t in table if float(t["compute_flops"]) == 1e17]
    assert float(first[0]["learning_rate"]) == pytest.approx(2.338e-3, rel=1e-3)
    # The batch is rounded to whole sequences of 4096 (26 x 4096 = 106,496 tokens).
    assert int(first[0]["batch_size_tokens"]) == pytest.approx(1.062e5, rel=0.01)


@settings(max_examples=25, deadline=None)
@given(
    c=st.floats(1e18, 1e22),
    points=st.integers(3, 12),
    span=st.floats(0.3, 1.0),
)
def test_isoflop_design_invariants(c: float, points: int, span: float) -> None:
    sweep = design((c,), SweepOptions(points=points, span_decades=span))
    ms = [r.flops_per_token for r in sweep.runs]
    assert ms == sorted(ms)
    assert len(set(ms)) == len(ms) <= points
    for r in sweep.runs:
        assert r.flops_per_token * r.tokens == pytest.approx(c, rel=1e-12)
        assert 0.5 < r.flops_per_token / r.target_flops_per_token < 2


def test_parse_budgets() -> None:
    assert parse_budgets("1e17..1e19", 3) == (1e17, 1e18, 1e19)
    assert parse_budgets("1e19, 1e17", 8) == (1e17, 1e19)
    with pytest.raises(Exception, match="must increase"):
        parse_budgets("1e19..1e17", 3)


def test_json_and_text() -> None:
    r = run_cli("sweep", "--budgets", "1e18,1e19", "--points", "4", "--format", "json")
    doc = r.json()
    assert doc["schema_version"] == 1
    assert doc["kind"] == "isoflop"
    assert len(doc["runs"]) == 8
    assert set(doc["runs"][0]) == set(CSV_COLUMNS)
    t = run_cli("sweep", "--budgets", "1e18,1e19", "--points", "4", "--format", "text")
    assert t.exit_code == 0
    assert "isoflop sweep: 8 runs at 2 budgets" in t.stdout


def test_hyperparameter_grid() -> None:
    r = run_cli(
        "sweep", "--kind", "hyperparameters", "--budgets", "1e17,1e18",
        "--flops-per-token", "1.77e8", "--lr-points", "3", "--batch-points", "4",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    table = rows(r.stdout)
    assert len(table) == 24
    for c in (1e17, 1e18):
        at = [t for t in table if float(t["compute_flops"]) == c]
        assert len({t["learning_rate"] for t in at}) == 3
        assert len({t["batch_size_sequences"] for t in at}) == 4
        assert len({(t["n_layers"], t["d_model"]) for t in at}) == 1


def test_run_configs_are_written(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    r = run_cli("sweep", "--budgets", "1e18,1e19", "--points", "3", "--configs-dir", str(folder))
    assert r.exit_code == 0, r.stderr
    files = sorted(folder.glob("*.toml"))
    assert [f.stem for f in files] == [t["run_id"] for t in rows(r.stdout)]
    config = tomllib.loads(files[0].read_text())
    assert set(config) == {"schema_version", "model", "training", "data", "check"}
    # An IsoFLOP point is off D_opt by design, and says so (dsplan.planning.sweep.check_ignores).
    assert {"DSP302", "DSP303"} <= set(config["check"]["ignore"])
    assert set(config["model"]) == {
        "n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff", "vocab_size", "seq_len",
        "tied_embeddings",
    }  # fmt: skip
    assert config["training"]["schedule"] == "multistep"
    assert config["data"]["preset"] == "current"
    first = rows(r.stdout)[0]
    assert config["training"]["tokens"] == round(float(first["tokens"]))
    assert config["training"]["learning_rate"] == float(first["learning_rate"])


@pytest.mark.parametrize(
    "args",
    [
        ["--budgets", "1e18,1e19", "--points", "5"],
        # The default grid reaches 10^0.6 = 3.98x either side of Eq. 1; its batches must round
        # towards the law, or the outermost ones cross `dsplan check`'s 4x error bound (DSP202).
        ["--kind", "hyperparameters"],
    ],
)
def test_run_configs_pass_check(tmp_path: Path, args: list[str]) -> None:
    folder = tmp_path / "runs"
    assert run_cli("sweep", *args, "--configs-dir", str(folder)).exit_code == 0
    files = sorted(str(f) for f in folder.glob("*.toml"))
    r = run_cli("check", *files, "--strict", "--format", "json")
    assert r.exit_code == 0, r.stdout
    assert r.json()["summary"]["errors"] == r.json()["summary"]["warnings"] == 0


@settings(max_examples=25, deadline=None)
@given(c=st.floats(1e16, 1e22), span=st.floats(0.1, 1.0), points=st.integers(2, 9))
def test_grid_batches_stay_within_their_span(c: float, span: float, points: int) -> None:
    options = SweepOptions(kind="hyperparameters", batch_points=points, batch_span_decades=span)
    sweep = design((c,), options)
    law = sweep.preset.batch_size
    assert law is not None
    for r in sweep.runs:
        ratio = r.batch_size_tokens / law(c)
        assert 10**-span * (1 - 1e-9) <= ratio <= 10**span * (1 + 1e-9)


def test_preset_file_is_found_from_the_configs_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A relative preset path in a run config is resolved from the config's folder (dsplan.checking.config),
    # so the sweep writes it relative to --configs-dir, not to the working directory.
    monkeypatch.chdir(tmp_path)
    Path("mine.toml").write_text(_preset_text())
    r = run_cli(
        "sweep", "--preset", "mine.toml", "--budgets", "1e18,1e19", "--points", "3",
        "--configs-dir", "runs/deep",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    config = tomllib.loads(Path("runs/deep/c01-m01.toml").read_text())
    assert config["data"]["preset"] == "../../mine.toml"
    assert config["schema_version"] == 1
    monkeypatch.chdir(tmp_path / "runs")
    assert run_cli("check", "deep/c01-m02.toml").exit_code == 0


def _preset_text() -> str:
    from dsplan.catalog.presets import presets_dir

    return (presets_dir() / "current.toml").read_text().replace('id = "current"', 'id = "mine"')


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--budgets", "abc"], "budget must be a positive number"),
        (["--budgets", "1e19..1e17"], "must increase"),
        (
            ["--budgets", "1e17..1e19", "--count", "1"],
            "needs a count of at least 2, got 1 (--count)",
        ),
        (
            ["--points", "2"],
            "at least 3 model sizes per budget: a parabola needs three runs, got 2 (--points)",
        ),
        (
            ["--kind", "grid"],
            "the sweep kind must be one of isoflop, hyperparameters, got 'grid' (--kind)",
        ),
        (["--preset", "curent"], "did you mean current"),
        (["--format", "toml"], "'toml' is not one of"),
        (
            ["--span-decades", "0"],
            "span in decades must be positive for an IsoFLOP sweep (--span-decades)",
        ),
        (["--seq-len", "0"], "--seq-len must be a positive integer"),
        (
            ["--budgets", "1e12"],
            "budget 1e+12 FLOPs: M = 3.36e+04 FLOPs/token is too small for any shape",
        ),
        (["--budgets", "1e18", "--configs-dir", __file__], "a file, not a folder"),
    ],
)
def test_errors(args: list[str], fragment: str) -> None:
    assert_input_error(run_cli("sweep", *args), fragment)
