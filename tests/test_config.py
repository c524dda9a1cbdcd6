"""The run-config loader: schema, types, unknown keys, lines, hf_config, and the TOML writer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsplan.checking.config import (
    SCHEMA,
    ConfigProblems,
    closest_key,
    config_toml,
    key_lines,
    parse_config,
)
from dsplan.planning.plan import plan

DATA = Path(__file__).parent / "data" / "configs"

MINIMAL = """\
[model]
n_layers = 24
d_model = 2048
n_heads = 16

[training]
tokens = 1e11
batch_size_sequences = 512
learning_rate = 7.5e-4
"""


def problems(text: str, name: str = "run.toml") -> list[str]:
    with pytest.raises(ConfigProblems) as info:
        parse_config(text, name)
    return [str(p) for p in info.value.problems]


def test_minimal_config_fills_documented_defaults() -> None:
    cfg = parse_config(MINIMAL, "run.toml")
    assert cfg.model.n_kv_heads == 16  # MHA when omitted
    assert cfg.model.d_ff == 5632  # SwiGLU 8/3 x 2048 rounded up to 256
    assert (cfg.model.vocab_size, cfg.model.seq_len) == (102_400, 4096)
    assert cfg.training.warmup_steps == 2000
    assert cfg.training.schedule == "multistep"
    assert cfg.training.stage_fractions == (0.8, 0.9)
    assert cfg.training.stage_factors == (0.316, 0.1)
    assert cfg.preset == "current"
    assert cfg.hardware.gpu is None


def test_every_schema_key_has_unit_or_description_and_a_known_kind() -> None:
    kinds = {"int", "number", "string", "bool", "numbers", "strings"}
    for key in SCHEMA:
        assert key.kind in kinds, key
        assert key.description.endswith("."), key


def test_unknown_key_suggests_the_closest_known_key() -> None:
    text = MINIMAL.replace("learning_rate", "learnig_rate")
    assert problems(text) == [
        "run.toml:9: training.learnig_rate: unknown key; did you mean training.learning_rate?"
    ]


@pytest.mark.parametrize(
    ("written", "suggested"),
    [
        ("training.lr", "training.learning_rate"),
        ("model.hidden_size", "model.d_model"),
        ("model.num_key_value_heads", "model.n_kv_heads"),
        ("training.batch_size", "training.batch_size_sequences"),
        ("model.learning_rate", "training.learning_rate"),  # right key, wrong table
        ("model.n_layer", "model.n_layers"),
    ],
)
def test_closest_key(written: str, suggested: str) -> None:
    assert closest_key(written) == suggested


def test_unknown_table_is_reported_with_the_closest_table() -> None:
    (line,) = problems(MINIMAL + "\n[trainig]\nfoo = 1\n")
    assert "unknown table [trainig]; did you mean [training]?" in line


def test_wrong_type_names_file_line_key_and_type() -> None:
    (line,) = problems(MINIMAL.replace("7.5e-4", '"7.5e-4"'))
    assert line == "run.toml:9: training.learning_rate: expected a number, got a string ('7.5e-4')"


def test_float_for_an_integer_key_is_a_type_error() -> None:
    (line,) = problems(MINIMAL.replace("n_layers = 24", "n_layers = 24.0"))
    assert "model.n_layers: expected an integer, got a float (24.0)" in line


def test_every_problem_of_a_file_is_collected() -> None:
    text = MINIMAL.replace("n_layers = 24", 'n_layers = "24"').replace("lear", "lr_lear")
    found = problems(text)
    assert len(found) == 2, found
    assert any("model.n_layers" in p for p in found)
    assert any("training.lr_learning_rate" in p for p in found)


def test_syntax_error_gives_the_parser_line() -> None:
    (line,) = problems(MINIMAL + "warmup_steps = \n", "bad.toml")
    assert line.startswith("bad.toml:10: not valid TOML")


def test_a_misspelt_required_key_is_one_problem_not_two() -> None:
    found = problems(MINIMAL.replace("tokens", "tokns"))
    assert found == ["run.toml:7: training.tokns: unknown key; did you mean training.tokens?"]


def test_missing_required_keys_are_named() -> None:
    found = problems("[model]\nn_layers = 2\n[training]\ntokens = 1e9\n")
    text = "\n".join(found)
    for key in ("model.d_model", "model.n_heads", "training.learning_rate"):
        assert key in text
    assert "give training.batch_size_tokens or training.batch_size_sequences" in text


def test_missing_table() -> None:
    found = problems("[model]\nn_layers = 2\nd_model = 128\nn_heads = 2\n")
    assert found == ["run.toml: training: missing table [training]"]


def test_unknown_schedule_suggests() -> None:
    (line,) = problems(MINIMAL + 'schedule = "cosin"\n')
    assert "unknown schedule 'cosin'; did you mean 'cosine'?" in line


def test_unknown_preset_in_file_is_a_load_problem() -> None:
    (line,) = problems(MINIMAL + '[data]\npreset = "curent"\n')
    assert "data.preset" in line
    assert "did you mean current" in line


def test_nan_is_refused() -> None:
    (line,) = problems(MINIMAL.replace("1e11", "nan"))
    assert "training.tokens: expected a finite number" in line


def test_hf_config_is_read_relative_to_the_file(tmp_path: Path) -> None:
    hf = {
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_attention_heads": 32,
        "num_hidden_layers": 30,
        "vocab_size": 102400,
        "max_position_embeddings": 4096,
    }
    (tmp_path / "config.json").write_text(json.dumps(hf))
    text = '[model]\nhf_config = "config.json"\nseq_len = 2048\n' + MINIMAL.split("\n\n", 1)[1]
    cfg = parse_config(text, "run.toml", base_dir=tmp_path)
    assert (cfg.model.n_layers, cfg.model.d_model, cfg.model.n_kv_heads) == (30, 4096, 32)
    assert cfg.model.seq_len == 2048  # the config's seq_len wins over max_position_embeddings


def test_hf_config_and_shape_keys_clash() -> None:
    text = '[model]\nhf_config = "x.json"\nn_layers = 2\n' + MINIMAL.split("\n\n", 1)[1]
    (line,) = problems(text)
    assert "model.n_layers: give either model.hf_config or the shape keys, not both" in line


def test_missing_hf_config_file_names_the_key(tmp_path: Path) -> None:
    text = '[model]\nhf_config = "nope.json"\n' + MINIMAL.split("\n\n", 1)[1]
    with pytest.raises(ConfigProblems) as info:
        parse_config(text, "run.toml", base_dir=tmp_path)
    (p,) = info.value.problems
    assert p.key == "model.hf_config"
    assert "no such file" in p.message


def test_key_lines_tracks_tables() -> None:
    lines = key_lines(MINIMAL)
    assert lines["model"] == 1
    assert lines["model.d_model"] == 3
    assert lines["training.learning_rate"] == 9


@pytest.mark.parametrize("preset", ["current", "early", "openwebtext2"])
def test_config_toml_reads_back_exactly(preset: str) -> None:
    from dsplan.planning.plan import PlanOptions

    p = plan(1e21, PlanOptions(preset=preset))
    cfg = parse_config(config_toml(p), "plan.toml")
    s = p.architecture.shape
    assert cfg.model.shape() == s
    # Tokens are written whole and rates to 7 significant digits (dsplan/numbers.py).
    assert cfg.training.tokens == round(p.training.tokens)
    assert cfg.training.learning_rate == pytest.approx(p.hyperparameters.learning_rate, rel=5e-7)
    assert cfg.training.batch_size_sequences == p.hyperparameters.batch_size_sequences
    assert cfg.preset == preset


def test_key_lines_places_quoted_and_dotted_keys() -> None:
    text = '[model]\n"n_layers" = 2\nhardware.gpu = "h800"\n[ "training" ]\n\'lr\' = 1e-3\n'
    lines = key_lines(text)
    assert lines["model.n_layers"] == 2
    assert lines["model.hardware"] == 3
    assert lines["model.hardware.gpu"] == 3
    assert lines["training"] == 4
    assert lines["training.lr"] == 5


def test_a_table_nested_in_another_is_one_problem_on_its_line() -> None:
    text = MINIMAL.replace("n_heads = 16\n", "n_heads = 16\ntraining.seq_len = 2048\n")
    text = text.replace("[training]\ntokens = 1e11\n", "[training]\n")
    assert problems(text.replace("training.seq_len", "training.tokens")) == [
        "run.toml:5: model.training: unknown key; move it to the top-level [training] table"
    ]


def test_a_byte_order_mark_is_not_a_syntax_error(tmp_path: Path) -> None:
    from dsplan.checking.config import load_config

    path = tmp_path / "run.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_config(str(path)).model.n_layers == 24
