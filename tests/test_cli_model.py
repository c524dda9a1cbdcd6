"""`dsplan model`, `dsplan shapes` and `dsplan presets`: formats, contract keys and error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_input_error, run_cli

MODEL_KEYS = [
    "flops_per_token",
    "flops_per_token_eq2",
    "params_non_embedding",
    "params_total",
    "params_non_embedding_eq2",
    "params_total_eq2",
    "ratio_6n1_to_m",
    "ratio_6n2_to_m",
]


def test_model_json_for_deepseek_67b() -> None:
    r = run_cli(
        "model", "--n-layers", "95", "--d-model", "8192", "--n-kv-heads", "8", "--format", "json"
    )
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    for key in MODEL_KEYS:
        assert key in doc
    # deepseek-llm.md §9: GQA-aware M 4.3273e11; Eq. 2 M 4.9728e11; 67.43B parameters.
    assert doc["flops_per_token"] == pytest.approx(4.3273e11, rel=1e-4)
    assert doc["flops_per_token_eq2"] == pytest.approx(4.9728e11, rel=1e-4)
    assert doc["params_total"] == pytest.approx(6.7425e10, rel=1e-4)
    assert doc["shape"]["d_ff"] == 22016 and doc["shape"]["n_heads"] == 64
    assert "unmasked" in doc["attention_convention"]


def test_model_with_tokens_reports_compute_and_hyperparameters() -> None:
    doc = run_cli(
        "model", "--n-layers", "30", "--d-model", "4096", "--tokens", "2e12", "--format", "json"
    ).json()
    # deepseek-llm.md §9: with the real matmul M (4.2467e10), C = 8.49e22 and eta = 4.244e-4.
    assert doc["training"]["compute_flops"] == pytest.approx(8.4935e22, rel=1e-4)
    assert doc["hyperparameters"]["learning_rate"] == pytest.approx(4.244e-4, rel=1e-3)
    assert doc["hyperparameters"]["batch_size_sequences"] == pytest.approx(2254.9, rel=1e-3)


def test_model_text_states_the_convention() -> None:
    r = run_cli("model", "--n-layers", "30", "--d-model", "4096", "--tokens", "2e12")
    assert r.exit_code == 0
    assert "Eq. 2" in r.stdout and "unmasked" in r.stdout and "C = M x D" in r.stdout


def test_llama2_7b_from_hf_config(tmp_path: Path) -> None:
    config = {
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "num_key_value_heads": 32,
        "vocab_size": 32000,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": False,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    doc = run_cli("model", "--hf-config", str(path), "--format", "json").json()
    # meta-llama/Llama-2-7b-hf: 6,738,415,616 parameters.
    assert doc["params_total"] == 6_738_415_616


def _hf(tmp_path: Path, **changes: object) -> str:
    config = {
        "model_type": "llama",
        "hidden_size": 1024,
        "intermediate_size": 2816,
        "num_attention_heads": 8,
        "num_hidden_layers": 4,
        "vocab_size": 1000,
    }
    config.update(changes)
    config = {k: v for k, v in config.items() if v is not None}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--n-layers", "4"], "give --n-layers and --d-model"),
        (["--n-layers", "4", "--d-model", "1000"], "default head size 128 does not divide"),
        (
            ["--n-layers", "4", "--d-model", "1024", "--n-heads", "7"],
            "n_heads (7) must divide d_model (1024)",
        ),
        (
            ["--n-layers", "4", "--d-model", "1024", "--n-kv-heads", "3"],
            "n_kv_heads (3) must divide n_heads (8)",
        ),
        (["--n-layers", "0", "--d-model", "1024"], "n_layers must be a positive integer"),
        (["--n-layers", "4", "--d-model", "1024", "--tokens", "-5"], "--tokens"),
        (
            ["--n-layers", "4", "--d-model", "1024", "--format", "env"],
            "'env' is not one of",
        ),
        (["--hf-config", "/nonexistent/config.json"], "no such file"),
    ],
)
def test_model_bad_input(args: list[str], fragment: str) -> None:
    assert_input_error(run_cli("model", *args), fragment)


def test_hf_config_errors(tmp_path: Path) -> None:
    assert_input_error(
        run_cli("model", "--hf-config", _hf(tmp_path, hidden_size=None)),
        "missing key 'hidden_size'",
    )
    assert_input_error(
        run_cli("model", "--hf-config", _hf(tmp_path, num_local_experts=8)), "mixture-of-experts"
    )
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    assert_input_error(run_cli("model", "--hf-config", str(bad)), "not valid JSON")


def test_shapes_lists_candidates() -> None:
    r = run_cli(
        "shapes", "4.2467e10", "--aspect-ratio", "136.5", "--n-kv-heads", "32", "--format", "json"
    )
    doc = r.json()
    first = doc["candidates"][0]
    # DeepSeek 7B's own shape comes first at its own M (issue #3 round trip).
    assert (first["n_layers"], first["d_model"]) == (30, 4096)
    assert abs(first["relative_error"]) < 1e-5
    assert len(doc["candidates"]) == 5
    text = run_cli("shapes", "4.2467e10", "--limit", "3")
    assert (
        text.exit_code == 0 and len(text.stdout.strip().splitlines()) == 6
    )  # title, blank, header, 3 rows


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["abc"], "target M must be a positive number"),
        (["1e3"], "too small for any shape"),
        (["1e10", "--limit", "0"], "--limit"),
    ],
)
def test_shapes_bad_input(args: list[str], fragment: str) -> None:
    assert_input_error(run_cli("shapes", *args), fragment)


def test_presets_list_and_show() -> None:
    listing = run_cli("presets", "--format", "json").json()
    assert {p["id"] for p in listing} >= {"current", "early", "openwebtext2"}
    text = run_cli("presets")
    assert "current" in text.stdout and "assumed" in text.stdout
    shown = run_cli("presets", "show", "early")
    assert "ASSUMPTION" in shown.stdout and "Table 4" in shown.stdout
    doc = run_cli("presets", "show", "current", "--format", "json").json()
    assert doc["model_scaling"] == {"coefficient": 0.1715, "exponent": 0.5243}


def test_presets_unknown() -> None:
    assert_input_error(run_cli("presets", "show", "openwebtext"), "did you mean openwebtext2")
