"""YAML trainers: nanotron and OLMo training configs read as they are (issue 17).

The configs here and in tests/data/configs are written from the trainers' config dataclasses
(nanotron ``src/nanotron/config/config.py`` and ``models_config.py``; OLMo ``olmo/config.py``; the
digest is /work/shared/reference/trainers.md), not copied from the trainers' repositories.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import assert_input_error, run_cli

from dsplan.checking.dialects import detect
from dsplan.checking.dialects.yaml_doc import MAX_NODES, MAX_YAML_BYTES, load
from dsplan.checking.files import parse_any
from dsplan.checking.rules import check_files
from dsplan.checking.schema import ConfigProblems

DATA = Path(__file__).parent / "data" / "configs"
NANOTRON = DATA / "valid" / "nanotron-tinyllama-1b.yaml"
OLMO = DATA / "valid" / "olmo-1b.yaml"


def _derived(path: Path, *args: str) -> dict:
    result = run_cli("check", str(path), "--format", "json", *args)
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout)["files"][0]["derived"]


def _write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_nanotron_tinyllama_matches_hand_arithmetic() -> None:
    # TinyLlama 1.1B: 22 layers, hidden 2048, 32 heads of 64, 4 KV heads, intermediate 5632.
    # Per layer: Q and O 2 x 2048^2 = 8,388,608; K and V 2 x 2048 x 256 = 1,048,576; the gated MLP
    # 3 x 2048 x 5632 = 34,603,008; together 44,040,192, x 22 = 968,884,224. M = 6 x that plus
    # attention 12 x 22 x 2048 x 2048 = 1,107,296,256: M = 6,920,601,600 FLOPs/token.
    m_hand = 6 * 22 * (2 * 2048**2 + 2 * 2048 * 256 + 3 * 2048 * 5632) + 12 * 22 * 2048 * 2048
    assert m_hand == 6_920_601_600
    # Global batch = dp x micro_batch_size x batch_accumulation_per_replica = 32 x 4 x 4 = 512
    # sequences (nanotron's Config.global_batch_size); D = 100000 steps x 512 x 2048 tokens.
    d = _derived(NANOTRON)
    assert d["dialect"] == "nanotron"
    assert d["flops_per_token"] == pytest.approx(m_hand, rel=0.01)
    assert d["tokens"] == 100_000 * 512 * 2048
    assert d["compute_flops"] == pytest.approx(6.9206e9 * 1.048576e11, rel=0.05)
    # TinyLlama's published total: 1,100,048,384 parameters (its model card: 1.1B; untied 32000 x
    # 2048 embeddings and head, 22 x (44,040,192 + 2 x 2048) + 2048).
    assert d["params_total"] == 1_100_048_384
    assert (d["world_size"], d["data_parallel"], d["tensor_parallel"]) == (64, 32, 2)
    assert d["global_batch_sequences"] == 512
    assert d["total_steps"] == 100_000


def test_olmo_1b_counts_its_published_size() -> None:
    # OLMo-1B (Groeneveld et al. 2024, Table 1): 1.18B parameters. mlp_ratio 8 gives a SwiGLU
    # hidden size of 8 x 2048 = 16384, halved into gate and up: d_ff 8192; 50304 tied embeddings,
    # no biases, non-parametric LayerNorm: 16 x (4 x 2048^2 + 3 x 2048 x 8192) + 50304 x 2048.
    d = _derived(OLMO, "--world-size", "64")
    assert d["dialect"] == "olmo"
    assert d["params_total"] == 16 * (4 * 2048**2 + 3 * 2048 * 8192) + 50304 * 2048
    assert d["params_total"] == pytest.approx(1.18e9, rel=0.005)
    # max_duration "2e11T": ceil(2e11 / (1024 x 2048)) = 95368 steps of 1024 sequences.
    assert d["total_steps"] == 95368
    assert d["tokens"] == 95368 * 1024 * 2048
    # FSDP only: DP is the world.
    assert (d["world_size"], d["data_parallel"], d["tensor_parallel"]) == (64, 64, 1)


def test_detection_and_the_yaml_a_dialect_cannot_place(tmp_path: Path) -> None:
    assert detect(NANOTRON.read_text()) == "nanotron"
    assert detect(OLMO.read_text()) == "olmo"
    first = run_cli("check", str(NANOTRON)).stdout.splitlines()[0]
    assert "read as nanotron" in first
    other = _write(tmp_path, "name: something\nsteps: 3\n")
    assert_input_error(run_cli("check", str(other)), "`dsplan check --dialect nanotron` (or olmo)")
    forced = run_cli("check", str(OLMO), "--dialect", "nanotron")
    assert forced.exit_code == 2 and "tokens.sequence_length: missing required key" in forced.stderr


def test_without_pyyaml_a_yaml_config_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError
    result = run_cli("check", str(NANOTRON), str(OLMO))
    assert_input_error(result, "pip install 'dsplan[yaml]'")
    # dsplan's own TOML needs no YAML.
    assert run_cli("check", str(DATA / "valid" / "deepseek-7b.toml")).exit_code == 0


def test_findings_point_at_the_line_of_the_trainers_key() -> None:
    path = DATA / "invalid" / "DSP201-nanotron-lr-from-finetuning.yaml"
    report = check_files([str(path)])
    (finding,) = [f for f in report.files[0].findings if f.rule == "DSP201"]
    assert path.read_text().splitlines()[finding.line - 1].strip() == "learning_rate: 2.0e-05"
    assert finding.trainer_key == "optimizer.learning_rate_scheduler.learning_rate"
    out = run_cli("check", str(path), "--format", "github").stdout
    assert f"::error file={path},line={finding.line},title=DSP201" in out


@pytest.mark.parametrize(
    ("change", "schedule", "decay", "final"),
    [
        # cosine from the end of warm-up to the end of the run: dsplan's cosine, at min/peak.
        ((), "cosine", 98000 / 100000, 0.1),
        # a decay that starts at 80% and lasts to the end (WSD): the last 20% decay, to the floor.
        (
            (
                "lr_decay_style: cosine",
                "lr_decay_style: linear\n    lr_decay_starting_step: 80000"
                "\n    lr_decay_steps: 20000",
            ),
            "wsd",
            0.2,
            0.1,
        ),
        # lr_decay_steps longer than the run: it stops halfway down the linear decay.
        (
            ("lr_decay_style: cosine", "lr_decay_style: linear\n    lr_decay_steps: 196000"),
            "wsd",
            0.98,
            0.1 + 0.9 * 0.5,
        ),
    ],
)
def test_nanotron_schedule_in_dsplans_terms(
    tmp_path: Path, change: tuple[str, str], schedule: str, decay: float, final: float
) -> None:
    text = NANOTRON.read_text().replace(*change) if change else NANOTRON.read_text()
    t = parse_any(text, "run.yaml", base_dir=tmp_path).training
    assert (t.schedule, t.warmup_steps) == (schedule, 2000)
    assert t.decay_fraction == pytest.approx(decay)
    assert t.final_lr_fraction == pytest.approx(final)


def test_nanotron_requires_what_nanotron_requires(tmp_path: Path) -> None:
    text = NANOTRON.read_text().replace("    lr_warmup_style: linear\n", "")
    with pytest.raises(ConfigProblems, match="nanotron refuses a missing one"):
        parse_any(text, "run.yaml", base_dir=tmp_path)
    text = NANOTRON.read_text().replace("  train_steps: 100000\n", "")
    with pytest.raises(ConfigProblems, match=r"tokens\.train_steps: missing required key"):
        parse_any(text, "run.yaml", base_dir=tmp_path)
    text = NANOTRON.read_text().replace("    vocab_size: 32000", "    vocab_size: many")
    with pytest.raises(ConfigProblems, match="expected an integer, got 'many'"):
        parse_any(text, "run.yaml", base_dir=tmp_path)


def test_nanotron_world_size_mismatch_is_a_layout_error(tmp_path: Path) -> None:
    report = check_files([str(NANOTRON)], world_size=128)
    (finding,) = [f for f in report.files[0].findings if f.rule == "DSP601"]
    assert "DP 32 x TP 2 x PP 1 x CP 1 = 64 GPUs, but the world is 128" in finding.message
    assert "parallelism.dp = 64" in finding.hint


def test_olmo_durations_and_schedulers(tmp_path: Path) -> None:
    text = OLMO.read_text()
    steps = parse_any(text.replace("2e11T", "50000"), "r.yaml", base_dir=tmp_path)
    assert steps.training.tokens == 50000 * 1024 * 2048
    with pytest.raises(ConfigProblems, match="counts epochs"):
        parse_any(text.replace("2e11T", "1ep"), "r.yaml", base_dir=tmp_path)
    with pytest.raises(ConfigProblems, match="never reaches a floor"):
        parse_any(
            text.replace("cosine_with_warmup", "inverse_sqrt_with_warmup"),
            "r.yaml",
            base_dir=tmp_path,
        )
    constant = parse_any(
        text.replace("cosine_with_warmup", "constant"), "r.yaml", base_dir=tmp_path
    )
    assert (constant.training.schedule, constant.training.warmup_steps) == ("constant", 0)
    # t_max before the end of the run: the decay is over at t_max, then flat at alpha_f.
    short = text.replace("alpha_f: 0.1", "alpha_f: 0.1\n  t_max: 52000")
    t = parse_any(short, "r.yaml", base_dir=tmp_path).training
    assert (t.schedule, t.final_lr_fraction) == ("wsd", pytest.approx(0.1))
    assert t.decay_fraction == pytest.approx(50000 / 95368)
    # units: tokens counts t_warmup in tokens.
    tokens = text.replace("t_warmup: 2000", "units: tokens\n  t_warmup: 4194304000")
    assert parse_any(tokens, "r.yaml", base_dir=tmp_path).training.warmup_steps == 2000


def test_a_comment_declares_the_rules_a_yaml_config_skips(tmp_path: Path) -> None:
    bad = DATA / "invalid" / "DSP402-nanotron-long-warmup.yaml"
    text = "# dsplan: ignore DSP402 (a long warm-up on purpose)\n" + bad.read_text()
    assert check_files([str(_write(tmp_path, text))], strict=True).exit_code == 0
    typo = _write(tmp_path, "# dsplan: ignore DSP4O2\n" + bad.read_text(), "typo.yaml")
    result = run_cli("check", str(typo))
    assert_input_error(result, "typo.yaml:1: check.ignore: unknown rule 'DSP4O2'")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # The "billion laughs": ten aliases of ten aliases ..., 10^9 values once expanded.
        (
            'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
                for i in range(8)
            )
            + "model: {model_config: {hidden_size: *i}}\ntokens: {}\nparallelism: {}\n",
            f"more than {MAX_NODES} values",
        ),
        ("model:\n  model_config: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        (
            "model:\n  model_config: !!python/object/apply:os.system ['echo pwned']\n",
            "tag !!python/object/apply:os.system is not a plain YAML value",
        ),
        ("model:\n  model_config: {hidden_size: [unclosed\n", "not valid YAML"),
        ("- a list\n- at the top\ntokens:\n", "not valid YAML"),
        ("model_config: x\n" + "#" * (MAX_YAML_BYTES + 1), "larger than 256 KiB"),
        ("model:\n  model_config:\n    hidden_size: " + "1" * 5000 + "\n", "cannot read"),
        ("general:\n  date: 2024-13-45\nmodel:\n  model_config: {}\n", "month must be in 1..12"),
    ],
)
def test_hostile_yaml_is_an_input_error(tmp_path: Path, text: str, message: str) -> None:
    result = run_cli("check", str(_write(tmp_path, text)), "--dialect", "nanotron")
    assert result.exit_code == 2, result.stdout
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert all(line.startswith("error: ") for line in result.stderr.splitlines())


def test_no_yaml_tag_is_ever_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "touched"
    text = f"a: !!python/object/apply:pathlib.Path.touch [{str(marker)!r}]\n"
    with pytest.raises(ConfigProblems):
        load(text, "x.yaml")
    assert not marker.exists()


def test_the_memory_rule_reads_nanotrons_zero_and_recomputation(tmp_path: Path) -> None:
    # 64 sequences of 2048 tokens per micro-batch on one GPU, no recomputation: the activations
    # alone exceed an H100's 80 GB; recompute_layer (full recomputation) and a micro-batch of 4 fit.
    text = NANOTRON.read_text().replace("micro_batch_size: 4", "micro_batch_size: 64")
    text = text.replace("batch_accumulation_per_replica: 4", "batch_accumulation_per_replica: 1")
    text = text.replace("  tp: 2", "  tp: 1").replace("  dp: 32", "  dp: 8")
    report = check_files([str(_write(tmp_path, text))], gpu="h100")
    assert "DSP606" in {f.rule for f in report.files[0].findings}
    cfg = parse_any(text, "run.yaml", base_dir=tmp_path)
    assert cfg.layout is not None
    assert (cfg.layout.zero, cfg.layout.recompute, cfg.layout.sequence_parallel) == (
        1,
        "none",
        True,
    )
    fits = check_files([str(NANOTRON)], gpu="h100")
    assert "DSP606" not in {f.rule for f in fits.files[0].findings}


@pytest.mark.parametrize(
    ("path", "rule", "message"),
    [
        (
            "DSP402-nanotron-long-warmup.yaml",
            "DSP402",
            "lr_warmup_steps 25000 is 25.0% of train_steps 100000",
        ),
        (
            "DSP402-torchtitan-long-warmup.toml",
            "DSP402",
            "lr_scheduler.warmup_steps 10000 is 20.8% of training.steps 48000",
        ),
        (
            "DSP402-olmo-long-warmup.yaml",
            "DSP402",
            "scheduler.t_warmup 20000 is 21.0% of max_duration '2e11T' (95368 steps)",
        ),
        (
            "DSP407-nanotron-no-min-decay-lr.yaml",
            "DSP407",
            "the run ends at its peak rate, learning_rate 0.0004: it never decays (min_decay_lr "
            "absent: nanotron's default is learning_rate)",
        ),
        (
            "DSP408-nanotron-min-lr-above-peak.yaml",
            "DSP408",
            "min_decay_lr 0.004 is above the peak, learning_rate 0.0004: the run ends at 10x the peak",
        ),
        (
            "DSP403-nanotron-constant-warmup.yaml",
            "DSP403",
            "lr_warmup_style constant (lr_warmup_steps 2000): the run starts at the peak learning rate",
        ),
    ],
)
def test_schedule_findings_speak_the_trainers_terms(path: str, rule: str, message: str) -> None:
    report = check_files([str(DATA / "invalid" / path)])
    (finding,) = [f for f in report.files[0].findings if f.rule == rule]
    assert finding.message == message


def test_megatron_schedule_findings_name_its_arguments(tmp_path: Path) -> None:
    script = (DATA / "valid" / "megatron-1b.sh").read_text()
    long = script.replace("--lr-warmup-iters 2000", "--lr-warmup-iters 40000")
    report = check_files([str(_write(tmp_path, long, "run.sh"))])
    (finding,) = [f for f in report.files[0].findings if f.rule == "DSP401"]
    assert finding.message.startswith(
        "--lr-warmup-iters 40000 is longer than the run, --train-iters"
    )


def test_olmo_layout_rules_with_the_world_size() -> None:
    # FSDP: DP is the world. 1024 sequences do not split into micro-batches of 8 on 48 GPUs
    # (8 x 48 = 384 does not divide 1024): DSP602. On 64 GPUs they do (2 micro-batches each).
    bad = check_files([str(OLMO)], world_size=48)
    (finding,) = [f for f in bad.files[0].findings if f.rule == "DSP602"]
    assert "global batch 1024 is not a multiple of micro-batch 8 x DP 48 = 384" in finding.message
    assert finding.trainer_key == "global_train_batch_size"
    good = check_files([str(OLMO)], world_size=64)
    assert not {f.rule for f in good.files[0].findings if f.rule.startswith("DSP6")}
    # Without the world size, the layout rules that need it stay silent.
    assert check_files([str(OLMO)]).files[0].derived.world_size is None


def test_the_pure_python_composer_bounds_nesting_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without libyaml (or with one older than 0.2.5), PyYAML's own composer reads the file; the
    # recursion bound stops a deep file there.
    from dsplan.checking.dialects import yaml_doc

    monkeypatch.setattr(yaml_doc, "_loader", lambda module: module.SafeLoader)
    with pytest.raises(ConfigProblems, match="nested too deeply"):
        load("a: " + "[" * 5000 + "]" * 5000 + "\n", "deep.yaml")
    data, lines = load(NANOTRON.read_text(), "n.yaml")
    assert data["tokens"]["train_steps"] == 100000
    assert (
        lines["tokens.train_steps"]
        == NANOTRON.read_text().splitlines().index("  train_steps: 100000") + 1
    )


def test_yaml_pitfalls_are_named(tmp_path: Path) -> None:
    text = NANOTRON.read_text()
    # PyYAML (YAML 1.1) reads 4e-4 as a string; nanotron would refuse it too.
    typo = text.replace("learning_rate: 0.0004", "learning_rate: 4e-4")
    with pytest.raises(ConfigProblems, match=r"YAML reads 4e-4 as a string: write 4\.0e-4"):
        parse_any(typo, "run.yaml", base_dir=tmp_path)
    twice = text.replace("  train_steps: 100000", "  train_steps: 100000\n  train_steps: 5")
    with pytest.raises(ConfigProblems, match=r"tokens\.train_steps is written twice"):
        parse_any(twice, "run.yaml", base_dir=tmp_path)
    # OLMo loads its YAML with OmegaConf, whose resolver reads 4e-4 as a float.
    olmo = OLMO.read_text().replace("learning_rate: 4.0e-4", "learning_rate: 4e-4")
    assert parse_any(olmo, "olmo.yaml", base_dir=tmp_path).training.learning_rate == 4e-4
