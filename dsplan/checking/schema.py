"""The run-config schema: every key, its kind, unit and default; load problems.

The schema is data (:data:`SCHEMA`), read by :mod:`dsplan.checking.reader` to type-check a config
and by docs/check.md's tests to keep the key reference complete. A load problem (:class:`Problem`)
is not a finding: a file that cannot be loaded exits 2 before any rule runs.
The typed config these keys load into is :mod:`dsplan.checking.run_config`.
"""

from __future__ import annotations

import difflib
from typing import Any

from dsplan.errors import ConfigError
from dsplan.model.defaults import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE
from dsplan.records import record
from dsplan.scheduling.schedules import (
    DEEPSEEK_STAGE_FACTORS,
    DEEPSEEK_STAGE_FRACTIONS,
    DEEPSEEK_WARMUP_STEPS,
    DEFAULT_DECAY_FRACTION,
    DEFAULT_FINAL_LR_FRACTION,
)

CONFIG_SCHEMA_VERSION = 1
SCHEDULES = ("multistep", "cosine", "wsd", "constant")
STDIN_NAME = "<stdin>"

# Defaults of the schedule keys: the multi-step ones are DeepSeek's (arXiv 2401.02954, Section 2.3);
# the cosine/WSD floor and the WSD decay fraction are `dsplan schedule`'s (dsplan.scheduling.schedules).
DEFAULT_STAGE_FRACTIONS = DEEPSEEK_STAGE_FRACTIONS
DEFAULT_STAGE_FACTORS = DEEPSEEK_STAGE_FACTORS
DEFAULT_WARMUP_STEPS = DEEPSEEK_WARMUP_STEPS


@record
class Key:
    """One key of the run-config schema."""

    table: str
    name: str
    kind: str  # "int", "number", "string", "bool", "numbers" (array), "strings" (array)
    unit: str
    default: Any
    description: str
    required: bool = False

    @property
    def path(self) -> str:
        return f"{self.table}.{self.name}" if self.table else self.name


_NO_DEFAULT = None

SCHEMA: tuple[Key, ...] = (
    Key("", "schema_version", "int", "", 1, "Version of this schema; 1."),
    # [model]: required unless hf_config is given; the defaults are DeepSeek's.
    Key("model", "n_layers", "int", "layers", _NO_DEFAULT, "Transformer blocks.", required=True),
    Key("model", "d_model", "int", "", _NO_DEFAULT, "Hidden width.", required=True),
    Key("model", "n_heads", "int", "heads", _NO_DEFAULT, "Query heads.", required=True),
    Key("model", "n_kv_heads", "int", "heads", "n_heads", "Key/value heads (GQA); MHA if omitted."),
    Key("model", "d_ff", "int", "", "8/3 d_model rounded up to 256", "SwiGLU inner width."),
    Key("model", "vocab_size", "int", "tokens", DEFAULT_VOCAB_SIZE, "Vocabulary size."),
    Key("model", "seq_len", "int", "tokens", DEFAULT_SEQ_LEN, "Training sequence length."),
    Key("model", "tied_embeddings", "bool", "", False, "Input embedding shared with the head."),
    Key(
        "model",
        "hf_config",
        "string",
        "path",
        _NO_DEFAULT,
        "A Hugging Face config.json (relative to this file) instead of the shape keys, LLaMA "
        "blocks only; seq_len is still this table's, never max_position_embeddings.",
    ),
    # [training]
    Key("training", "tokens", "number", "tokens", _NO_DEFAULT, "Training tokens D.", required=True),
    Key(
        "training",
        "batch_size_tokens",
        "number",
        "tokens/step",
        _NO_DEFAULT,
        "Global batch in tokens (give this or batch_size_sequences).",
    ),
    Key(
        "training",
        "batch_size_sequences",
        "int",
        "sequences/step",
        _NO_DEFAULT,
        "Global batch in sequences of seq_len tokens.",
    ),
    Key(
        "training",
        "learning_rate",
        "number",
        "",
        _NO_DEFAULT,
        "Peak learning rate (after warm-up).",
        required=True,
    ),
    Key("training", "warmup_steps", "int", "steps", DEFAULT_WARMUP_STEPS, "Linear warm-up length."),
    Key("training", "schedule", "string", "", "multistep", "multistep, cosine, wsd or constant."),
    Key(
        "training",
        "stage_fractions",
        "numbers",
        "fraction of tokens",
        list(DEFAULT_STAGE_FRACTIONS),
        "multistep: where the rate drops, as fractions of the training tokens.",
    ),
    Key(
        "training",
        "stage_tokens",
        "numbers",
        "tokens",
        _NO_DEFAULT,
        "multistep: where the rate drops, in tokens (instead of stage_fractions).",
    ),
    Key(
        "training",
        "stage_factors",
        "numbers",
        "fraction of peak",
        list(DEFAULT_STAGE_FACTORS),
        "multistep: the rate after each drop.",
    ),
    Key(
        "training",
        "final_lr_fraction",
        "number",
        "fraction of peak",
        DEFAULT_FINAL_LR_FRACTION,
        "cosine and wsd: the rate at the end of the run.",
    ),
    Key(
        "training",
        "decay_fraction",
        "number",
        "fraction of tokens",
        DEFAULT_DECAY_FRACTION,
        "wsd: the final part of the run over which the rate decays.",
    ),
    # [data]
    Key("data", "preset", "string", "", "current", "Law preset: an id or a path to a .toml file."),
    Key(
        "data",
        "hyperparameters",
        "string",
        "",
        "the preset's own Eq. 1, else the law it names",
        "Hyperparameter law id or file (as `dsplan budget --hyperparameters`).",
    ),
    # [hardware]: all optional
    Key("hardware", "gpu", "string", "", _NO_DEFAULT, "GPU id or alias (see `dsplan gpus`)."),
    Key(
        "hardware",
        "dtype",
        "string",
        "",
        "bf16 (fp16 where the GPU has no bf16)",
        "Training precision; MFU is against its dense peak.",
    ),
    Key("hardware", "num_gpus", "int", "GPUs", _NO_DEFAULT, "GPUs the run uses."),
    Key("hardware", "mfu", "number", "fraction", _NO_DEFAULT, "Model FLOPs utilisation planned."),
    Key("hardware", "expected_days", "number", "days", _NO_DEFAULT, "Wall-clock time claimed."),
    Key("hardware", "budget_usd", "number", "USD", _NO_DEFAULT, "Money available for the run."),
    Key(
        "hardware",
        "price_usd_per_gpu_hour",
        "number",
        "USD/GPU-hour",
        "the GPU table's price",
        "Price used against budget_usd.",
    ),
    # [plan]: what the plan was made for, beyond its training run
    Key(
        "plan",
        "inference_tokens",
        "number",
        "tokens",
        _NO_DEFAULT,
        "Tokens the model will serve: DSP302 then measures the tokens against the inference-aware "
        "allocation at the model's loss (Sardana et al. 2023), not D_opt.",
    ),
    # [check]
    Key("check", "ignore", "strings", "rule ids", [], "Rules to skip for this file."),
    # [parallelism]: the layout of the run on its GPUs (`dsplan budget --gpu G --gpus N` writes it);
    # the layout rules (DSP6xx) check it.
    Key("parallelism", "tensor_parallel", "int", "GPUs", 1, "Tensor-parallel size (TP)."),
    Key("parallelism", "pipeline_parallel", "int", "stages", 1, "Pipeline stages (PP)."),
    Key("parallelism", "context_parallel", "int", "GPUs", 1, "Context-parallel size (CP)."),
    Key(
        "parallelism",
        "expert_parallel",
        "int",
        "GPUs",
        1,
        "Expert-parallel size (EP), carved out of DP x CP.",
    ),
    Key(
        "parallelism",
        "data_parallel",
        "int",
        "replicas",
        "gpus / (TP x PP x CP)",
        "Data-parallel size (DP).",
    ),
    Key("parallelism", "zero_stage", "int", "", 1, "ZeRO stage across DP: 0, 1, 2 or 3."),
    Key("parallelism", "micro_batch", "int", "sequences", 1, "Micro-batch per DP rank."),
    Key("parallelism", "recompute", "string", "", "none", "none, selective or full."),
    Key(
        "parallelism",
        "sequence_parallel",
        "bool",
        "",
        "true with TP > 1",
        "Sequence parallelism in the TP group.",
    ),
    Key("parallelism", "virtual_stages", "int", "", 1, "Interleaved model chunks per stage."),
    Key(
        "parallelism",
        "stage_layers",
        "numbers",
        "layers",
        "an even split",
        "Layers per pipeline stage, first to last, for an uneven split.",
    ),
    Key("parallelism", "gpus", "int", "GPUs", "hardware.num_gpus", "GPUs of the layout."),
    Key("parallelism", "gpu", "string", "", "hardware.gpu", "GPU whose memory must hold it."),
    # [model.moe]: a mixture-of-experts model (docs/moe.md); the [model] keys are then its
    # attention and its dense layers' (d_ff).
    Key(
        "model.moe",
        "n_experts",
        "int",
        "experts",
        _NO_DEFAULT,
        "Routed experts per MoE layer.",
        required=True,
    ),
    Key(
        "model.moe",
        "top_k",
        "int",
        "experts",
        _NO_DEFAULT,
        "Routed experts each token runs.",
        required=True,
    ),
    Key(
        "model.moe",
        "d_ff_expert",
        "int",
        "",
        _NO_DEFAULT,
        "A routed expert's SwiGLU width.",
        required=True,
    ),
    Key("model.moe", "n_shared_experts", "int", "experts", 0, "Shared experts per MoE layer."),
    Key("model.moe", "d_ff_shared", "int", "", "d_ff_expert", "A shared expert's SwiGLU width."),
    Key(
        "model.moe",
        "n_dense_layers",
        "int",
        "layers",
        0,
        "Leading layers with a dense SwiGLU of model.d_ff (DeepSeek's first_k_dense_replace).",
    ),
    # [model.mla]: Multi-head Latent Attention (with [model.moe]; n_kv_heads = n_heads).
    Key(
        "model.mla",
        "kv_lora_rank",
        "int",
        "",
        _NO_DEFAULT,
        "MLA: key/value latent rank.",
        required=True,
    ),
    Key("model.mla", "q_lora_rank", "int", "", 0, "MLA: query latent rank; 0 for none."),
    Key("model.mla", "qk_nope_head_dim", "int", "", 128, "MLA: query/key head width, no RoPE."),
    Key("model.mla", "qk_rope_head_dim", "int", "", 64, "MLA: query/key head width with RoPE."),
    Key("model.mla", "v_head_dim", "int", "", 128, "MLA: value head width."),
)

TABLES = ("model", "training", "data", "hardware", "plan", "check", "parallelism")
# Tables inside [model]: an MoE model's experts and its MLA attention.
SUBTABLES = ("model.moe", "model.mla")
BY_PATH = {k.path: k for k in SCHEMA}
SHAPE_KEYS = ("n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff", "vocab_size")

# Names people carry over from other frameworks, mapped to ours, for the "did you mean" hint.
ALIASES = {
    "lr": "training.learning_rate",
    "peak_lr": "training.learning_rate",
    "max_lr": "training.learning_rate",
    "batch_size": "training.batch_size_sequences",
    "global_batch_size": "training.batch_size_sequences",
    "train_batch_size": "training.batch_size_sequences",
    "micro_batch_size": "training.batch_size_sequences",
    "batch_tokens": "training.batch_size_tokens",
    "tokens_per_step": "training.batch_size_tokens",
    "warmup": "training.warmup_steps",
    "warmup_iters": "training.warmup_steps",
    "lr_warmup_steps": "training.warmup_steps",
    "train_tokens": "training.tokens",
    "total_tokens": "training.tokens",
    "n_tokens": "training.tokens",
    "lr_schedule": "training.schedule",
    "scheduler": "training.schedule",
    "num_hidden_layers": "model.n_layers",
    "num_layers": "model.n_layers",
    "n_layer": "model.n_layers",
    "hidden_size": "model.d_model",
    "n_embd": "model.d_model",
    "dim": "model.d_model",
    "num_attention_heads": "model.n_heads",
    "n_head": "model.n_heads",
    "num_key_value_heads": "model.n_kv_heads",
    "n_kv_head": "model.n_kv_heads",
    "intermediate_size": "model.d_ff",
    "ffn_dim": "model.d_ff",
    "ffn_hidden_size": "model.d_ff",
    "max_position_embeddings": "model.seq_len",
    "seq_length": "model.seq_len",
    "context_length": "model.seq_len",
    "block_size": "model.seq_len",
    "max_seq_len": "model.seq_len",
    "n_vocab": "model.vocab_size",
    "gpus": "hardware.num_gpus",
    "n_gpus": "hardware.num_gpus",
    "gpu_count": "hardware.num_gpus",
    "days": "hardware.expected_days",
    "budget": "hardware.budget_usd",
    "cost_usd": "hardware.budget_usd",
    "tp": "parallelism.tensor_parallel",
    "tensor_parallel_size": "parallelism.tensor_parallel",
    "tensor_parallel_degree": "parallelism.tensor_parallel",
    "pp": "parallelism.pipeline_parallel",
    "pipeline_parallel_size": "parallelism.pipeline_parallel",
    "pipeline_parallel_degree": "parallelism.pipeline_parallel",
    "dp": "parallelism.data_parallel",
    "zero": "parallelism.zero_stage",
}


@record
class Problem:
    """One reason a config cannot be loaded: where it is and what is wrong."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigProblems(ConfigError):
    """Every problem found while loading one config file (exit 2)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in problems))


def closest_key(path: str) -> str | None:
    """The known key closest to an unknown ``table.key`` (aliases first, then spelling)."""
    table, _, name = path.rpartition(".")
    if name in ALIASES:
        return ALIASES[name]
    # The right name in the wrong table (learning_rate under [model]).
    elsewhere = [k.path for k in SCHEMA if k.name == name]
    if elsewhere:
        return elsewhere[0]
    same_table = [k.name for k in SCHEMA if k.table == table]
    close = difflib.get_close_matches(name, same_table, n=1, cutoff=0.6)
    if close:
        return f"{table}.{close[0]}" if table else close[0]
    close = difflib.get_close_matches(name, [k.name for k in SCHEMA], n=1, cutoff=0.75)
    if close:
        return next(k.path for k in SCHEMA if k.name == close[0])
    return None
