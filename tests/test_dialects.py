"""Trainer dialects: torchtitan job files and Megatron-LM scripts read as they are (issue 17).

The configs here and in tests/data/configs are written from the trainers' documented keys
(torchtitan v0.2.2 ``job_config.py``, Megatron-LM core_v0.14.0 ``arguments.py``; the digest is
/work/shared/reference/trainers.md), not copied from the trainers' repositories.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_input_error, run_cli

from dsplan.checking.dialects import detect
from dsplan.checking.dialects.bash import Unknown, commands
from dsplan.checking.dialects.megatron import _ramp
from dsplan.checking.files import parse_any
from dsplan.checking.rules import check_files
from dsplan.checking.schema import ConfigProblems

DATA = Path(__file__).parent / "data" / "configs"
TORCHTITAN_8B = DATA / "valid" / "torchtitan-llama3-8b.toml"
MEGATRON_1B = DATA / "valid" / "megatron-1b.sh"

# GPT-3 175B's shape (Brown et al. 2020, Table 2.1: 96 layers, d_model 12288, 96 heads, context
# 2048, batch 3.2M tokens = 1536 sequences), its batch ramp from 32K tokens over the first 4-12B
# tokens (Appendix B) and 300B tokens, as a Megatron-LM launch script.
GPT3_SCRIPT = """#!/bin/bash
GPUS_PER_NODE=8
NUM_NODES=128   # 1024 GPUs
TP=8
PP=16
SEQ=2048
TRAIN_TOKENS=300000000000

DISTRIBUTED_ARGS=(
    --nproc_per_node $GPUS_PER_NODE
    --nnodes ${NUM_NODES}
)
MODEL_ARGS=(
    --num-layers 96
    --hidden-size 12288
    --num-attention-heads 96
    --seq-length $SEQ
    --max-position-embeddings $SEQ
)
TRAINING_ARGS=(
    --micro-batch-size 1
    --global-batch-size 1536
    --rampup-batch-size 16 16 5859375
    --train-samples $((TRAIN_TOKENS / SEQ))
    --lr 6.0e-5 --min-lr 6.0e-6   # Table 2.1
    --lr-decay-style cosine
    --lr-decay-samples 126953125
    --lr-warmup-samples 183105
)
torchrun "${DISTRIBUTED_ARGS[@]}" pretrain_gpt.py \\
    "${MODEL_ARGS[@]}" \\
    "${TRAINING_ARGS[@]}" \\
    --tensor-model-parallel-size $TP \\
    --pipeline-model-parallel-size $PP \\
    --vocab-file gpt2-vocab.json --merge-file gpt2-merges.txt \\
    --bf16
"""


def _derived(path: Path, *args: str) -> dict:
    result = run_cli("check", str(path), "--format", "json", *args)
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout)["files"][0]["derived"]


def test_llama3_8b_torchtitan_matches_hand_arithmetic() -> None:
    # Llama 3 8B (torchtitan's llama3 "8B" flavor): 32 layers, d 4096, 32 heads of 128, 8 KV
    # heads, d_ff 14336, seq_len 8192 in the job file.
    # Per layer, matmul weights: Q and O 2 x 4096 x 4096 = 33,554,432; K and V 2 x 4096 x 1024
    # = 8,388,608; SwiGLU 3 x 4096 x 14336 = 176,160,768; together 218,103,808; x 32 layers
    # = 6,979,321,856. M = 6 x that = 41,875,931,136 plus attention 12 x 32 x 4096 x 8192
    # = 12,884,901,888: M = 54,760,833,024 FLOPs/token (5.476e10).
    m_hand = 6 * 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336) + 12 * 32 * 4096 * 8192
    assert m_hand == 54_760_833_024
    # D = steps x global batch x seq_len = 48000 x 768 x 8192 = 3.0199e11 tokens; C = M x D.
    d_hand = 48000 * 768 * 8192
    c_hand = 5.476e10 * 3.0199e11
    d = _derived(TORCHTITAN_8B)
    assert d["dialect"] == "torchtitan"
    assert d["flops_per_token"] == pytest.approx(m_hand, rel=0.01)
    assert d["tokens"] == d_hand
    assert d["compute_flops"] == pytest.approx(c_hand, rel=0.05)
    # Meta's published total for Llama 3.1 8B: 8.03B parameters (model card).
    assert d["params_total"] == pytest.approx(8.03e9, rel=0.001)
    assert (d["world_size"], d["data_parallel"], d["tensor_parallel"]) == (64, 32, 2)
    assert d["global_batch_sequences"] == 768


def test_gpt3_175b_megatron_matches_hand_arithmetic(tmp_path: Path) -> None:
    script = tmp_path / "gpt3.sh"
    script.write_text(GPT3_SCRIPT)
    # GeLU MLP of 4 x 12288 = 49152 (no --swiglu): per layer Q, K, V, O 4 x 12288^2 and the MLP
    # 2 x 12288 x 49152 = 8 x 12288^2, so 12 x 12288^2 = 1,811,939,328; x 96 = 173,946,175,488.
    # M = 6 x that = 1,043,677,052,928 plus attention 12 x 96 x 12288 x 2048 = 28,991,029,248:
    # M = 1.0727e12 FLOPs/token.
    m_hand = 6 * 96 * 12 * 12288**2 + 12 * 96 * 12288 * 2048
    assert m_hand == 1_072_668_082_176
    # D = --train-samples x seq = 146,484,375 x 2048 = 3.0e11 tokens: the ramp (16 -> 1536 over
    # 5,859,375 samples) changes the steps, not the samples. C = 1.0727e12 x 3.0e11 = 3.218e23.
    c_hand = 1.0727e12 * 3.0e11
    d = _derived(script)
    assert d["dialect"] == "megatron"
    assert d["flops_per_token"] == pytest.approx(m_hand, rel=0.01)
    assert d["tokens"] == 146_484_375 * 2048
    assert d["compute_flops"] == pytest.approx(c_hand, rel=0.05)
    # 175B parameters (Table 2.1); the vocabulary 50257 padded to a multiple of 128 x TP 8 = 51200.
    assert d["params_total"] == pytest.approx(175e9, rel=0.01)
    assert d["world_size"] == 1024
    assert (d["tensor_parallel"], d["pipeline_parallel"], d["data_parallel"]) == (8, 16, 8)
    assert d["global_batch_sequences"] == 1536
    # The schedule in full batches: warm-up ceil(183105 / 1536) = 120 steps; the cosine ends at
    # ceil(126953125 / 1536) = 82652 of ceil(146484375 / 1536) = 95368 steps, at min-lr / lr = 0.1.
    t = parse_any(GPT3_SCRIPT, "gpt3.sh", base_dir=tmp_path).training
    assert (t.warmup_steps, t.schedule, t.final_lr_fraction) == (120, "wsd", pytest.approx(0.1))
    assert t.decay_fraction == pytest.approx((82652 - 120) / 95368)


def test_batch_ramp_with_train_iters_counts_the_smaller_batches(tmp_path: Path) -> None:
    # From 16 by 16 to 64 over 96 samples: 3 increments of 32 samples each. Batch 16 for 2 iters
    # (32 samples), 32 for 1 iter (64), 48 for 1 iter (112 > 96): 4 iters, 112 samples; then
    # 10 - 4 = 6 iters of 64 = 384: 496 samples in 10 iterations.
    assert _ramp(16, 16, 96, 64) == (4, 112)
    text = GPT3_SCRIPT.replace("--train-samples $((TRAIN_TOKENS / SEQ))", "--train-iters 10")
    text = text.replace("--global-batch-size 1536", "--global-batch-size 64")
    text = text.replace("--rampup-batch-size 16 16 5859375", "--rampup-batch-size 16 16 96")
    cfg = parse_any(text, "ramp.sh", base_dir=tmp_path)
    assert cfg.training.tokens == 496 * 2048


def test_bash_reader_resolves_what_the_text_says_and_no_more() -> None:
    script = """
A=8          # a comment
B=${A}
export C=$((A * B + 2))
ARGS=(--x "$C" --y 'lit $A')
ARGS+=(--z $1)
run "${ARGS[@]}" --w $(hostname) \\
    --v `date` --u $UNSET
"""
    words = [w for cmd in commands(script) for w in cmd]
    texts = [w.text for w in words]
    assert texts[:5] == ["run", "--x", "66", "--y", "lit $A"]
    assert texts[5] == "--z" and isinstance(texts[6], Unknown)
    assert texts[7] == "--w" and isinstance(texts[8], Unknown)
    assert isinstance(texts[10], Unknown) and isinstance(texts[12], Unknown)
    assert "$UNSET" in texts[12].reason
    # Array elements keep the line they were written on; the continuation keeps its own.
    assert [w.line for w in words[1:3]] == [5, 5]
    assert words[-1].line == 8


def test_a_needed_value_set_only_at_run_time_is_an_input_error(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text(MEGATRON_1B.read_text().replace("--num-layers 24", "--num-layers $1"))
    result = run_cli("check", str(script))
    assert_input_error(result, "--num-layers: unknown value: $1 is set only when the script runs")
    assert ":9:" in result.stderr  # the line of --num-layers


def test_detection_and_forcing_a_dialect() -> None:
    assert detect(TORCHTITAN_8B.read_text()) == "torchtitan"
    assert detect(MEGATRON_1B.read_text()) == "megatron"
    assert detect((DATA / "valid" / "deepseek-7b.toml").read_text()) == "dsplan"
    result = run_cli("check", str(TORCHTITAN_8B), "--dialect", "dsplan")
    assert result.exit_code == 2 and "unknown table [job]" in result.stderr
    assert_input_error(run_cli("check", str(TORCHTITAN_8B), "--dialect", "nemo"), "unknown dialect")
    text = run_cli("check", str(TORCHTITAN_8B)).stdout
    assert "read as torchtitan" in text.splitlines()[0]


def test_findings_point_at_the_trainer_file_lines(tmp_path: Path) -> None:
    report = check_files([str(DATA / "invalid" / "DSP201-torchtitan-lr-from-finetuning.toml")])
    (finding,) = [f for f in report.files[0].findings if f.rule == "DSP201"]
    lines = (DATA / "invalid" / "DSP201-torchtitan-lr-from-finetuning.toml").read_text()
    assert lines.splitlines()[finding.line - 1] == "lr = 2e-5"


def test_torchtitan_shape_from_hf_assets_path_then_flavor(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    hf = json.loads((DATA / "hf" / "deepseek-llm-67b-config.json").read_text())
    (assets / "config.json").write_text(json.dumps(hf))
    job = TORCHTITAN_8B.read_text().replace(
        'flavor = "8B"', 'flavor = "8B"\nhf_assets_path = "assets"'
    )
    cfg = parse_any(job, "job.toml", base_dir=tmp_path)
    assert (cfg.model.n_layers, cfg.model.d_model) == (95, 8192)  # the file's, not the flavor's
    unknown = TORCHTITAN_8B.read_text().replace('flavor = "8B"', 'flavor = "9B"')
    with pytest.raises(ConfigProblems, match="pass --hf-config"):
        parse_any(unknown, "job.toml", base_dir=tmp_path)
    moe = TORCHTITAN_8B.read_text().replace('name = "llama3"', 'name = "llama4"')
    with pytest.raises(ConfigProblems, match="mixture-of-experts"):
        parse_any(moe, "job.toml", base_dir=tmp_path)
    cfg = parse_any(unknown, "job.toml", base_dir=tmp_path, hf_config=str(assets / "config.json"))
    assert cfg.model.n_layers == 95


def test_torchtitan_shard_minus_one_takes_the_rest_of_the_world(tmp_path: Path) -> None:
    job = TORCHTITAN_8B.read_text().replace(
        "data_parallel_shard_degree = 32", "data_parallel_shard_degree = -1"
    )
    job = job.replace("global_batch_size = 768\n", "")
    path = tmp_path / "job.toml"
    path.write_text(job)
    assert_input_error(run_cli("check", str(path)), "--world-size")
    d = _derived(path, "--world-size", "128")
    assert (d["data_parallel"], d["global_batch_sequences"]) == (64, 3 * 64)


def test_megatron_defaults_gelu_mha_tied_learned_positions(tmp_path: Path) -> None:
    args = (
        "--num-layers 2 --hidden-size 256 --num-attention-heads 4 --seq-length 128 "
        "--max-position-embeddings 512 --micro-batch-size 1 --global-batch-size 8 "
        "--train-iters 10 --lr 1e-3 --vocab-size 1000"
    )
    cfg = parse_any(args, "a.args", base_dir=tmp_path)
    m = cfg.model
    assert (m.n_kv_heads, m.d_ff, m.tied_embeddings, m.vocab_size) == (4, 1024, True, 1024)
    from dsplan.model.flops import counts

    c = counts(m.shape())
    # Per layer: attention 4 x 256^2 + GeLU 2 x 256 x 1024, with biases (3 x 256 + 256 + 1024 +
    # 256) and two LayerNorms with biases (4 x 256); a final LayerNorm (2 x 256); embeddings: the
    # padded vocabulary 1024 x 256 (tied) and 512 learned positions x 256.
    per_layer = 4 * 256**2 + 2 * 256 * 1024 + (3 * 256 + 256 + 1024 + 256) + 4 * 256
    assert c.params_total == 2 * per_layer + 2 * 256 + 1024 * 256 + 512 * 256
    assert c.flops_per_token == 6 * 2 * (4 * 256**2 + 2 * 256 * 1024) + 12 * 2 * 256 * 128


# DeepSeek-V3 (arXiv 2412.19437, Section 4.2) in Megatron-LM's MoE and MLA arguments.
V3_ARGS = """
--num-layers 61 --hidden-size 7168 --num-attention-heads 128 --ffn-hidden-size 18432
--swiglu --disable-bias-linear --normalization RMSNorm --position-embedding-type rope
--untie-embeddings-and-output-weights --vocab-size 129280 --make-vocab-size-divisible-by 1
--multi-latent-attention --q-lora-rank 1536 --kv-lora-rank 512
--qk-head-dim 128 --qk-pos-emb-head-dim 64 --v-head-dim 128
--num-experts 256 --moe-router-topk 8 --moe-ffn-hidden-size 2048
--moe-shared-expert-intermediate-size 2048 --moe-layer-freq '([0]*3+[1]*58)'
--seq-length 4096 --micro-batch-size 1 --global-batch-size 15360 --train-samples 3613281250
--lr 2.2e-4 --min-lr 2.2e-5 --lr-decay-style cosine --lr-warmup-iters 2000
"""


def test_megatron_moe_and_mla_count_as_dsplans_own_config(tmp_path: Path) -> None:
    from dsplan.catalog.presets import load_preset
    from dsplan.checking.facts import derive
    from dsplan.checking.files import load_config

    cfg = parse_any(V3_ARGS, "v3.args", base_dir=tmp_path)
    assert cfg.model.moe is not None and cfg.model.moe.n_dense_layers == 3
    ours = load_config(str(DATA / "valid" / "deepseek-v3-moe.toml"))
    got, want = (derive(c, load_preset("current")) for c in (cfg, ours))
    assert got.counts is not None and want.counts is not None
    assert got.counts.params_total == want.counts.params_total == 671_026_404_352
    assert got.compute == pytest.approx(want.compute, rel=1e-3)  # 3613281250 x 4096 = 14.8T


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--swiglu ", ""), "--swiglu"),
        (("'([0]*3+[1]*58)'", "2"), "leading dense layers"),
        (("--num-experts 256 ", ""), "dsplan counts MLA in mixture-of-experts models only"),
    ],
)
def test_megatron_moe_it_cannot_count_is_refused_by_name(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    with pytest.raises(ConfigProblems, match=message):
        parse_any(V3_ARGS.replace(*change), "v3.args", base_dir=tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "--num-layers 'unterminated",
        "X=$((" + "(" * 5000 + "1" + ")" * 5000 + "))\n--num-layers $X",
        "A=(" * 3,
        "--num-layers " + "$((9999999999*9999999999*9999999999))",
        "--num-layers 24 --hidden-size 1e400",
    ],
)
def test_hostile_scripts_are_input_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.sh"
    path.write_text(text)
    result = run_cli("check", str(path), "--dialect", "megatron")
    assert result.exit_code == 2, result.stdout
    assert "Traceback" not in result.stderr
    assert all(line.startswith("error: ") for line in result.stderr.splitlines())


def test_detection_ignores_flags_in_comments_and_elastic_nodes_stay_unknown(tmp_path: Path) -> None:
    dsplan_toml = (
        "# converted from --num-layers 30 --hidden-size 4096\n"
        + (DATA / "valid" / "deepseek-7b.toml").read_text()
    )
    assert detect(dsplan_toml) == "dsplan"
    assert detect('ARGS="--num-layers 2"') == "megatron"
    elastic = MEGATRON_1B.read_text().replace("--nnodes $NNODES", "--nnodes 1:$NNODES")
    cfg = parse_any(elastic, "e.sh", base_dir=tmp_path)
    assert cfg.layout is not None and cfg.layout.world_size is None


def test_a_decay_end_at_the_run_end_is_no_stale_key(tmp_path: Path) -> None:
    text = MEGATRON_1B.read_text().replace(
        "--lr-warmup-iters 2000", "--lr-warmup-iters 2000 --lr-decay-iters 30000"
    )
    path = tmp_path / "run.sh"
    path.write_text(text)
    report = check_files([str(path)], strict=True)
    assert report.exit_code == 0, [f.rule for f in report.files[0].findings]


@pytest.mark.parametrize(
    ("flavor", "multiplier", "multiple_of"),
    [("debugmodel", None, 256), ("8B", 1.3, 1024), ("70B", 1.3, 4096), ("405B", 1.2, 4096)],
)
def test_llama3_flavor_d_ff_is_torchtitans_formula(
    flavor: str, multiplier: float | None, multiple_of: int
) -> None:
    # torchtitan v0.2.2 models/llama3/model/model.py FeedForward: hidden = int(2 * 4 * dim / 3),
    # times ffn_dim_multiplier (truncated) when set, rounded up to a multiple of multiple_of.
    from dsplan.checking.dialects.torchtitan import _flavor_shape

    table = _flavor_shape("llama3", flavor)
    assert table is not None
    hidden = int(2 * 4 * table["d_model"] / 3)
    if multiplier is not None:
        hidden = int(multiplier * hidden)
    assert table["d_ff"] == multiple_of * -(-hidden // multiple_of)


@pytest.mark.parametrize(
    ("name", "flavor", "hf"),
    [
        ("llama3", "8B", "meta-llama--Llama-3.1-8B"),
        ("llama3", "405B", "meta-llama--Llama-3.1-405B"),
        ("qwen3", "8B", "Qwen--Qwen3-8B"),
        ("qwen3", "30B-A3B", "Qwen--Qwen3-30B-A3B"),
        ("qwen3", "235B-A22B", "Qwen--Qwen3-235B-A22B"),
        ("deepseek_v3", "16B", "deepseek-ai--DeepSeek-V2-Lite"),
        ("deepseek_v3", "236B", "deepseek-ai--DeepSeek-V2"),
        ("deepseek_v3", "671B", "deepseek-ai--DeepSeek-V3"),
    ],
)
def test_torchtitan_flavors_count_as_the_published_configs(
    tmp_path: Path, name: str, flavor: str, hf: str
) -> None:
    # The flavor table was transcribed from torchtitan's source; each flavor is the shape of a
    # published model whose config.json (tests/data/hf/) dsplan counts to transformers' total.
    from dsplan.catalog.presets import load_preset
    from dsplan.checking.facts import derive
    from dsplan.model.flops import counts
    from dsplan.model.hf_moe import read_any_hf_config
    from dsplan.model.moe import MoeShape, moe_counts

    job = TORCHTITAN_8B.read_text().replace('name = "llama3"', f'name = "{name}"')
    job = job.replace('flavor = "8B"', f'flavor = "{flavor}"')
    facts = derive(parse_any(job, "job.toml", base_dir=tmp_path), load_preset("current"))
    shape = read_any_hf_config(Path(__file__).parent / "data" / "hf" / f"{hf}.json").shape
    published = moe_counts(shape) if isinstance(shape, MoeShape) else counts(shape)
    assert facts.counts is not None
    assert facts.counts.params_total == published.params_total


def test_github_annotations_name_the_script_line_and_the_trainers_argument() -> None:
    path = DATA / "invalid" / "DSP604-megatron-uneven-stages.sh"
    out = run_cli("check", str(path), "--format", "github").stdout
    assert f"::error file={path},line=39,title=DSP604 --pipeline-model-parallel-size" in out
    document = json.loads(run_cli("check", str(path), "--format", "json").stdout)
    (finding,) = [f for f in document["files"][0]["findings"] if f["rule"] == "DSP604"]
    assert finding["trainer_key"] == "--pipeline-model-parallel-size"
    assert finding["key"] == "layout.pipeline"


def test_a_world_set_only_at_run_time_leaves_the_layout_rules_silent(tmp_path: Path) -> None:
    text = MEGATRON_1B.read_text().replace("GPUS_PER_NODE=8", "GPUS_PER_NODE=${GPUS_PER_NODE:-8}")
    cfg = parse_any(text, "run.sh", base_dir=tmp_path)
    assert cfg.layout is not None and cfg.layout.world_size is None
    cfg = parse_any(text, "run.sh", base_dir=tmp_path, world_size=16)
    assert cfg.layout is not None and cfg.layout.data == 4
