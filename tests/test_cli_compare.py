"""``dsplan compare``: formats, keys, highlighting, plot extra and error paths."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import assert_input_error, run_cli

from dsplan.catalog.presets import preset_ids

ROW_KEYS = {
    "id",
    "model_size",
    "model_size_unit",
    "params_total",
    "params_non_embedding",
    "flops_per_token",
    "tokens",
    "law_tokens",
    "tokens_per_param",
    "learning_rate",
    "batch_size_tokens",
    "predicted_loss",
    "fit_orders_beyond",
    "agreement",
    "source",
    "status",
}


def test_json_has_one_row_per_law() -> None:
    r = run_cli("compare", "1e21", "1e24", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["schema_version"] == 1
    assert [b["compute_flops"] for b in doc["budgets"]] == [1e21, 1e24]
    rows = doc["budgets"][1]["laws"]
    assert [row["id"] for row in rows] == preset_ids()
    for row in rows:
        assert set(row) >= ROW_KEYS
        # never M = 6N: M is the exact M of a shape, tokens = C / M
        assert row["tokens"] * row["flops_per_token"] == pytest.approx(1e24, rel=1e-9)


def test_rows_carry_law_specific_columns() -> None:
    doc = run_cli("compare", "1e21", "--format", "json").json()
    rows = {row["id"]: row for row in doc["budgets"][0]["laws"]}
    assert rows["current"]["learning_rate"] == pytest.approx(0.3118 * 1e21**-0.125)
    assert rows["kaplan"]["hyperparameter_law"] == "kaplan"
    assert rows["kaplan"]["model_size"] == pytest.approx(4.68e9, rel=0.005)  # Chinchilla D.4
    assert rows["chinchilla-a1"]["learning_rate"] is None  # the paper gives no law
    assert rows["chinchilla-a3"]["predicted_loss"] > 1.69
    assert rows["llama3"]["predicted_loss"] is None
    assert rows["llama3"]["model_size_unit"] == "tokens"
    assert rows["porian-rw"]["fit_orders_beyond"] == pytest.approx(1.59, abs=0.01)


def test_agreement_summary_at_1e24() -> None:
    # Reference §10, observations 1-2: the Chinchilla family agrees; Kaplan diverges sharply.
    summary = run_cli("compare", "1e24", "--format", "json").json()["budgets"][0]["summary"]
    assert {"chinchilla-a1", "chinchilla-20x", "epoch", "muennighoff"} <= set(summary["agree"])
    assert "kaplan" in summary["diverge"]


def test_text_highlights_agreement() -> None:
    r = run_cli("compare", "1e24", "--preset", "current", "--preset", "kaplan", "--preset", "epoch")
    assert r.exit_code == 0, r.stderr
    assert "dsplan compare 1.000e+24 FLOPs" in r.stdout
    assert "diverge (more than 2x from the median): kaplan" in r.stdout
    assert "never" in r.stdout and "M = 6N" in r.stdout


def test_kaplan_lr_undefined_is_reported_not_fatal() -> None:
    doc = run_cli("compare", "1e24", "--preset", "kaplan", "--format", "json").json()
    row = doc["budgets"][0]["laws"][0]
    assert row["learning_rate"] is None
    assert "breaks down" in row["hyperparameter_notes"][0]


def test_hyperparameters_override_for_every_row() -> None:
    doc = run_cli(
        "compare", "1e23", "--preset", "epoch", "--hyperparameters", "step-law", "--format", "json"
    ).json()
    row = doc["budgets"][0]["laws"][0]
    assert row["hyperparameter_law"] == "step-law"
    assert row["learning_rate"] > 0


def test_unique_tokens_adds_epochs_and_warns() -> None:
    r = run_cli(
        "compare",
        "1e24",
        "--preset",
        "chinchilla-a3",
        "--unique-tokens",
        "3e11",
        "--format",
        "json",
    )
    assert r.exit_code == 0
    data = r.json()["budgets"][0]["laws"][0]["data_constrained"]
    assert data["epochs"] > 4
    assert data["reallocated"]["epochs"] > 0
    assert "warning: chinchilla-a3: the plan repeats" in r.stderr


def test_plot_without_matplotlib_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the extra were not installed
    r = run_cli("compare", "1e24", "--plot", str(tmp_path / "laws.png"))
    assert_input_error(r, "pip install 'dsplan[plot]'")


def test_plot_needs_a_figure_file(tmp_path: Path) -> None:
    assert_input_error(
        run_cli("compare", "1e24", "--plot", str(tmp_path / "laws.txt")),
        "give a file ending in .png, .svg, .pdf",
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("compare", "lots"), "compute budget must be a positive number"),
        (("compare", "1e24", "--preset", "chinchila-a3"), "did you mean chinchilla-a3"),
        (("compare", "1e24", "--hyperparameters", "nope"), "unknown hyperparameter law 'nope'"),
        (("compare", "1e24", "--unique-tokens", "-5"), "--unique-tokens must be a positive"),
        (("compare", "1e24", "--format", "env"), "'env' is not one of"),
    ],
)
def test_input_errors(args: tuple[str, ...], fragment: str) -> None:
    assert_input_error(run_cli(*args), fragment)
