"""The typed run config: the tables of a config file with their defaults filled in.

:mod:`dsplan.checking.schema` lists the keys and :mod:`dsplan.checking.reader` loads a file into
these types; the rules read them through :func:`dsplan.checking.facts.derive`.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any

from dsplan.checking.toml_lines import line_of
from dsplan.errors import InputError
from dsplan.records import record

if TYPE_CHECKING:
    from dsplan.model.flops import Block, Shape
    from dsplan.model.moe import MoeShape


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
    """How a config lays the run out on its GPUs: a trainer file's degrees (see ``dialects``) or
    dsplan's own ``[parallelism]`` table.

    Degrees are the trainer's own: ``data`` is DP (torchtitan: replicate x shard), ``world_size``
    is None where the file does not say how many GPUs run it. ``split`` names whose rule divides
    the layers over pipeline stages: ``"megatron"`` (even, unless the first/last stage layers are
    given), ``"torchtitan"`` (its own uneven split), ``"nanotron"`` (blocks spread
    by their compute cost), ``"fsdp"`` (OLMo: no pipeline, DP is the world) or ``"dsplan"`` (even,
    unless ``stage_layers`` states the split). ``zero`` (None: unknown), ``recompute``,
    ``sequence_parallel`` (None: with TP > 1), ``virtual_stages`` and ``gpu`` are what the memory
    rule needs, where the config says.
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
    zero: int | None = None
    recompute: str = "none"
    sequence_parallel: bool | None = None
    virtual_stages: int = 1
    stage_layers: tuple[int, ...] = ()
    gpu: str | None = None

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
    # [plan] inference_tokens: the inference demand an over-trained run was planned for.
    inference_tokens: float | None = None
    lines: dict[str, int] = field(default_factory=dict, compare=False)
    # Where the config came from: "dsplan" (this schema) or a trainer's dialect, with its layout.
    dialect: str = "dsplan"
    layout: Layout | None = None
    # A trainer dialect: the trainer's key or argument each dsplan key was read from.
    trainer_keys: dict[str, str] = field(default_factory=dict, compare=False)
    # A trainer dialect: the schedule's quantities as the trainer writes them, for findings phrased
    # in its own terms: "warmup" ("lr_warmup_steps 5000"), "steps" ("train_steps 20000"), "floor"
    # ("min_decay_lr 3e-05") and "peak" ("learning_rate 0.0003").
    terms: dict[str, str] = field(default_factory=dict, compare=False)

    def line_of(self, key: str) -> int | None:
        """The line where ``key`` (``training.learning_rate``) or its table is written, if known."""
        return line_of(self.lines, key)
