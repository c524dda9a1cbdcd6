"""DSP7xx: a mixture-of-experts model's experts and its MLA attention ([model.moe], [model.mla]).

Silent on a dense config. What the counts need (positive sizes, top-k within the experts, fewer
dense layers than layers, MLA's head layout) is an error here; when one fails the config has no
counts, and the rules that need M stay silent (:mod:`dsplan.checking.facts`).
"""

from __future__ import annotations

from collections.abc import Iterator

from dsplan.checking.facts import ERROR, INFO, WARNING, Facts
from dsplan.checking.registry import Hit, rule

# Expert widths in multiples of 128 tile evenly on tensor cores (128-wide MMA tiles in the usual
# kernels) and split evenly under expert tensor parallelism of up to 128 / 64 = 2 on 64-wide
# tiles. DeepSeek-V2/V3, Mixtral, Qwen3-MoE and OLMoE all use one; gpt-oss's 2880 does not. Ours.
EXPERT_WIDTH_MULTIPLE = 128
# DeepSeek-V2/V3's MLA sizes (dsplan.model.moe_shape, not imported here: start-up of check).
DEEPSEEK_MLA = {
    "kv_lora_rank": 512,
    "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64,
    "v_head_dim": 128,
}


@rule("DSP701", ERROR, "an MoE size is zero or negative", "experts and widths are counts")
def moe_sizes_positive(f: Facts) -> Iterator[Hit]:
    moe = f.cfg.model.moe
    if moe is None:
        return
    for name in ("n_experts", "top_k", "d_ff_expert"):
        value = getattr(moe, name)
        if value <= 0:
            yield Hit(
                f"model.moe.{name}",
                f"{name} = {value} must be positive",
                {
                    "n_experts": "n_experts = 256 (DeepSeek-V3), 64 (DeepSeek-V2-Lite) or 8 (Mixtral)",
                    "top_k": "top_k = 8 (DeepSeek-V3) or 2 (Mixtral)",
                    "d_ff_expert": "d_ff_expert = 8/3 d_model / (top_k + n_shared_experts), a "
                    "multiple of 128 (docs/moe.md)",
                }[name],
            )
    for name in ("n_shared_experts", "d_ff_shared", "n_dense_layers"):
        value = getattr(moe, name)
        if value < 0:
            yield Hit(f"model.moe.{name}", f"{name} = {value} must be 0 or positive", f"{name} = 0")


@rule("DSP702", ERROR, "top_k above n_experts", "a token runs at most every routed expert")
def top_k_within_experts(f: Facts) -> Iterator[Hit]:
    moe = f.cfg.model.moe
    if moe is None or moe.top_k <= moe.n_experts or moe.n_experts <= 0:
        return
    yield Hit(
        "model.moe.top_k",
        f"top_k = {moe.top_k} is more than n_experts = {moe.n_experts}",
        f"top_k <= {moe.n_experts} (DeepSeek-V3: 8 of 256)",
    )


@rule(
    "DSP703",
    INFO,
    "expert width not a multiple of 128",
    "tensor-core tiles and expert tensor parallelism (DeepSeek, Mixtral, Qwen3-MoE use one)",
)
def expert_width_alignment(f: Facts) -> Iterator[Hit]:
    moe = f.cfg.model.moe
    if moe is None:
        return
    for name in ("d_ff_expert", "d_ff_shared"):
        value = getattr(moe, name)
        if value > 0 and value % EXPERT_WIDTH_MULTIPLE:
            aligned = max(1, round(value / EXPERT_WIDTH_MULTIPLE)) * EXPERT_WIDTH_MULTIPLE
            yield Hit(
                f"model.moe.{name}",
                f"{name} = {value} is not a multiple of {EXPERT_WIDTH_MULTIPLE}",
                f"{name} = {aligned}",
            )


@rule(
    "DSP704",
    ERROR,
    "dense layers as many as the layers",
    "first dense layers < n_layers: an MoE model has an MoE layer",
)
def dense_layers_below_layers(f: Facts) -> Iterator[Hit]:
    m = f.cfg.model
    if m.moe is None or m.moe.n_dense_layers < m.n_layers or m.n_layers <= 0:
        return
    yield Hit(
        "model.moe.n_dense_layers",
        f"n_dense_layers = {m.moe.n_dense_layers} leaves no MoE layer of n_layers = {m.n_layers}",
        f"n_dense_layers <= {m.n_layers - 1} (DeepSeek-V3: 3 of 61), or a dense config",
    )


@rule(
    "DSP705",
    WARNING,
    "shared-expert width without shared experts",
    "d_ff_shared sizes shared experts; with none it counts nothing",
)
def shared_expert_consistency(f: Facts) -> Iterator[Hit]:
    moe = f.cfg.model.moe
    if moe is None or moe.n_shared_experts or not moe.d_ff_shared:
        return
    yield Hit(
        "model.moe.d_ff_shared",
        f"d_ff_shared = {moe.d_ff_shared} with n_shared_experts = 0: no shared expert has it",
        "n_shared_experts = 1 (DeepSeek-V3), or remove d_ff_shared",
    )


@rule(
    "DSP706",
    "error/warning",
    "MLA sizes inconsistent",
    "error: sizes not positive, an odd RoPE width, n_kv_heads != n_heads; warning: a latent no "
    "smaller than what it compresses",
)
def mla_dimensions(f: Facts) -> Iterator[Hit]:
    m, a = f.cfg.model, f.cfg.model.mla
    if a is None:
        return
    for name in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
        if getattr(a, name) <= 0:
            yield Hit(
                f"model.mla.{name}", f"{name} = {getattr(a, name)} must be positive", "", ERROR
            )
    if a.q_lora_rank < 0:
        yield Hit(
            "model.mla.q_lora_rank", f"q_lora_rank = {a.q_lora_rank} must be 0 or positive", ""
        )
    if a.qk_rope_head_dim > 0 and a.qk_rope_head_dim % 2:
        yield Hit(
            "model.mla.qk_rope_head_dim",
            f"qk_rope_head_dim = {a.qk_rope_head_dim} is odd: RoPE rotates pairs of dimensions",
            f"qk_rope_head_dim = {a.qk_rope_head_dim + 1} (DeepSeek: 64)",
            ERROR,
        )
    if m.n_kv_heads != m.n_heads:
        yield Hit(
            "model.n_kv_heads",
            f"n_kv_heads = {m.n_kv_heads} with MLA: MLA has one key/value head per query head "
            f"(n_heads = {m.n_heads})",
            f"n_kv_heads = {m.n_heads}, or remove it",
            ERROR,
        )
    compressed = m.n_heads * (a.qk_nope_head_dim + a.v_head_dim)
    if 0 < compressed <= a.kv_lora_rank:
        yield Hit(
            "model.mla.kv_lora_rank",
            f"kv_lora_rank = {a.kv_lora_rank} is no smaller than the keys and values it "
            f"compresses, n_heads x (qk_nope_head_dim + v_head_dim) = {compressed}",
            "kv_lora_rank = 512 (DeepSeek-V2/V3)",
            WARNING,
        )
    if 0 < m.d_model <= a.q_lora_rank:
        yield Hit(
            "model.mla.q_lora_rank",
            f"q_lora_rank = {a.q_lora_rank} is no smaller than d_model = {m.d_model}: the query "
            "is not compressed",
            "q_lora_rank = 0 (no compression, as DeepSeek-V2-Lite) or below d_model",
            WARNING,
        )


FAMILY = (
    moe_sizes_positive,
    top_k_within_experts,
    expert_width_alignment,
    dense_layers_below_layers,
    shared_expert_consistency,
    mla_dimensions,
)
