"""The run-config schema: every key, its kind, unit and default; the typed config; load problems.

The schema is data (:data:`SCHEMA`), read by :mod:`dsplan.checking.reader` to type-check a config
and by docs/check.md's tests to keep the key reference complete. A load problem (:class:`Problem`)
is not a finding: a file that cannot be loaded exits 2 before any rule runs.

Why one module of ~600 lines: a third of it is the key table itself (data, a row a key); the
typed tables it describes and the load problems sit beside it so that a key, its type and its
default are read in one place.
"""

from __future__ import annotations

import difflib
from dataclasses import field
from typing import TYPE_CHECKING, Any

from dsplan.checking.toml_lines import line_of
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

if TYPE_CHECKING:
    from dsplan.model.flops import Block, Shape
    from dsplan.model.moe import MoeShape

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
    # [check]
    Key("check", "ignore", "strings", "rule ids", [], "Rules to skip for this file."),
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

TABLES = ("model", "training", "data", "hardware", "check")
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


@record
class MoeTable:
    """The ``[model.moe]`` table, with defaults filled in (``d_ff_shared`` 0: as ``d_ff_expert``)."""

    n_experts: int
    top_k: int
    d_ff_expert: int
    n_shared_experts: int = 0
    d_ff_shared: int = 0
    n_dense_layers: int = 0
    # Not keys of the table: they come only from a model.hf_config that has them (gpt-oss's
    # biases and sinks, Qwen2-MoE's shared-expert gate), so that it is counted as transformers
    # builds it.
    router_bias: bool = False
    expert_bias: bool = False
    shared_expert_gate: bool = False
    attention_sinks: bool = False


@record
class MlaTable:
    """The ``[model.mla]`` table, with defaults filled in."""

    kv_lora_rank: int
    q_lora_rank: int = 0
    qk_nope_head_dim: int = 128
    qk_rope_head_dim: int = 64
    v_head_dim: int = 128


@record
class ModelConfig:
    """The ``[model]`` table, with defaults filled in. Sizes are not validated here (see check).

    ``head_dim`` (0: ``d_model / n_heads``) and ``block`` (None: LLaMA's) are not keys of the table:
    they come only from a ``model.hf_config`` whose blocks hold more than LLaMA's (Gemma's head size,
    Qwen2's biases, OLMo 2's q/k norms), so that such a model is counted as transformers builds it.
    """

    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    d_ff: int
    vocab_size: int
    seq_len: int
    tied_embeddings: bool
    head_dim: int = 0
    block: Block | None = None
    moe: MoeTable | None = None
    mla: MlaTable | None = None

    @classmethod
    def from_shape(cls, shape: Shape, seq_len: int | None = None) -> ModelConfig:
        """The table of a :class:`~dsplan.model.flops.Shape`; ``seq_len`` overrides its own."""
        from dsplan.model.flops import LLAMA_BLOCK

        own_head = shape.n_heads * shape.head_dim != shape.d_model
        return cls(
            n_layers=shape.n_layers,
            d_model=shape.d_model,
            n_heads=shape.n_heads,
            n_kv_heads=shape.n_kv_heads,
            d_ff=shape.d_ff,
            vocab_size=shape.vocab_size,
            seq_len=shape.seq_len if seq_len is None else seq_len,
            tied_embeddings=shape.tied_embeddings,
            head_dim=shape.head_dim if own_head else 0,
            block=None if shape.block == LLAMA_BLOCK else shape.block,
        )

    @classmethod
    def from_moe_shape(cls, shape: MoeShape, seq_len: int | None = None) -> ModelConfig:
        """The tables of a :class:`~dsplan.model.moe.MoeShape` (a ``model.hf_config`` of an MoE
        model); ``seq_len`` overrides its own. Without dense layers ``d_ff`` is the default width,
        as when a written config leaves it out."""
        from dsplan.model.flops import LLAMA_BLOCK, swiglu_d_ff

        mla = shape.mla
        own_head = mla is None and shape.n_heads * shape.head_dim != shape.d_model
        return cls(
            n_layers=shape.n_layers,
            d_model=shape.d_model,
            n_heads=shape.n_heads,
            n_kv_heads=shape.n_kv_heads,
            d_ff=shape.d_ff or swiglu_d_ff(shape.d_model),
            vocab_size=shape.vocab_size,
            seq_len=shape.seq_len if seq_len is None else seq_len,
            tied_embeddings=shape.tied_embeddings,
            head_dim=shape.head_dim if own_head else 0,
            block=None if shape.block == LLAMA_BLOCK else shape.block,
            moe=MoeTable(
                n_experts=shape.n_experts,
                top_k=shape.top_k,
                d_ff_expert=shape.d_ff_expert,
                n_shared_experts=shape.n_shared_experts,
                d_ff_shared=shape.d_ff_shared,
                n_dense_layers=shape.n_dense_layers,
                router_bias=shape.router_bias,
                expert_bias=shape.expert_bias,
                shared_expert_gate=shape.shared_expert_gate,
                attention_sinks=shape.attention_sinks,
            ),
            mla=None
            if mla is None
            else MlaTable(
                kv_lora_rank=mla.kv_lora_rank,
                q_lora_rank=mla.q_lora_rank,
                qk_nope_head_dim=mla.qk_nope_head_dim,
                qk_rope_head_dim=mla.qk_rope_head_dim,
                v_head_dim=mla.v_head_dim,
            ),
        )

    @property
    def real_head_dim(self) -> int:
        """The head size: ``head_dim`` when the model has its own, else ``d_model // n_heads``."""
        return self.head_dim or self.d_model // max(self.n_heads, 1)

    def shape(self) -> Shape:
        """The :class:`~dsplan.model.flops.Shape`; raises InputError if the sizes are inconsistent."""
        from dsplan.model.flops import LLAMA_BLOCK, Shape

        return Shape(
            n_layers=self.n_layers,
            d_model=self.d_model,
            n_heads=self.n_heads,
            n_kv_heads=self.n_kv_heads,
            d_ff=self.d_ff,
            vocab_size=self.vocab_size,
            seq_len=self.seq_len,
            tied_embeddings=self.tied_embeddings,
            head_dim=self.head_dim,
            block=self.block or LLAMA_BLOCK,
        )

    def moe_shape(self) -> MoeShape:
        """The :class:`~dsplan.model.moe.MoeShape` of a ``[model.moe]`` config; raises InputError
        if the sizes are inconsistent (or there is no ``[model.moe]``)."""
        from dsplan.errors import InputError
        from dsplan.model.flops import LLAMA_BLOCK
        from dsplan.model.moe import Mla, MoeShape

        if self.moe is None:
            raise InputError("not a mixture-of-experts config: no [model.moe]")
        moe, a = self.moe, self.mla
        mla = (
            None
            if a is None
            else Mla(
                kv_lora_rank=a.kv_lora_rank,
                qk_nope_head_dim=a.qk_nope_head_dim,
                qk_rope_head_dim=a.qk_rope_head_dim,
                v_head_dim=a.v_head_dim,
                q_lora_rank=a.q_lora_rank,
            )
        )
        return MoeShape(
            n_layers=self.n_layers,
            d_model=self.d_model,
            n_heads=self.n_heads,
            n_kv_heads=self.n_kv_heads,
            head_dim=self.head_dim if mla is None else 0,
            n_experts=moe.n_experts,
            top_k=moe.top_k,
            d_ff_expert=moe.d_ff_expert,
            n_shared_experts=moe.n_shared_experts,
            d_ff_shared=moe.d_ff_shared,
            n_dense_layers=moe.n_dense_layers,
            d_ff=self.d_ff if moe.n_dense_layers else 0,
            vocab_size=self.vocab_size,
            seq_len=self.seq_len,
            tied_embeddings=self.tied_embeddings,
            block=self.block or LLAMA_BLOCK,
            mla=mla,
            router_bias=moe.router_bias,
            expert_bias=moe.expert_bias,
            shared_expert_gate=moe.shared_expert_gate,
            attention_sinks=moe.attention_sinks,
        )


@record
class TrainingConfig:
    """The ``[training]`` table, with defaults filled in."""

    tokens: float
    learning_rate: float
    batch_size_tokens: float | None
    batch_size_sequences: int | None
    warmup_steps: int
    schedule: str
    stage_fractions: tuple[float, ...] | None
    stage_tokens: tuple[float, ...] | None
    stage_factors: tuple[float, ...]
    final_lr_fraction: float
    decay_fraction: float


@record
class HardwareConfig:
    """The ``[hardware]`` table; every key optional."""

    gpu: str | None = None
    dtype: str | None = None
    num_gpus: int | None = None
    mfu: float | None = None
    expected_days: float | None = None
    budget_usd: float | None = None
    price_usd_per_gpu_hour: float | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in self.__dict__.values())


@record
class Layout:
    """How a trainer file lays the run out on its GPUs (a trainer dialect only; see ``dialects``).

    Degrees are the trainer's own: ``data`` is DP (torchtitan: replicate x shard), ``world_size``
    is None where the file does not say how many GPUs run it. ``split`` names whose rule divides
    the layers over pipeline stages: ``"megatron"`` (even, unless the first/last stage layers are
    given) or ``"torchtitan"`` (its own uneven split).
    """

    tensor: int = 1
    pipeline: int = 1
    context: int = 1
    expert: int = 1
    data: int | None = None
    world_size: int | None = None
    micro_batch: int | None = None
    global_batch: int | None = None
    first_stage_layers: int | None = None
    last_stage_layers: int | None = None
    split: str = "megatron"
    gpus_per_node: int = 8

    def to_dict(self) -> dict[str, Any]:
        return {
            "tensor_parallel": self.tensor,
            "pipeline_parallel": self.pipeline,
            "context_parallel": self.context,
            "expert_parallel": self.expert,
            "data_parallel": self.data,
        }


@record
class RunConfig:
    """A loaded run config: typed values, where each key was written, and what was given."""

    file: str
    model: ModelConfig
    training: TrainingConfig
    preset: str
    hardware: HardwareConfig
    ignore: tuple[str, ...] = ()
    hyperparameters: str | None = None
    given: frozenset[str] = frozenset()
    lines: dict[str, int] = field(default_factory=dict, compare=False)
    # Where the config came from: "dsplan" (this schema) or a trainer's dialect, with its layout.
    dialect: str = "dsplan"
    layout: Layout | None = None
    # A trainer dialect: the trainer's key or argument each dsplan key was read from.
    trainer_keys: dict[str, str] = field(default_factory=dict, compare=False)

    def line_of(self, key: str) -> int | None:
        """The line where ``key`` (``training.learning_rate``) or its table is written, if known."""
        return line_of(self.lines, key)
