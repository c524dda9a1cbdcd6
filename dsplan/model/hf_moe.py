"""Mixture-of-experts shapes from Hugging Face ``config.json`` files, counted as transformers builds them.

The bar is the dense reader's (:mod:`dsplan.model.hf_config`): the parameter total transformers
instantiates from the same file, to the parameter (transformers 5.25.0, on the fixtures in
tests/data/hf/; ``python bench/hf_counts.py`` recomputes it). What each ``model_type`` holds:

============  ==========================================================================================
model_type    attention; feed-forward layers
============  ==========================================================================================
deepseek_v2   MLA (``q_lora_rank`` null: one q_proj); ``first_k_dense_replace`` dense layers, then routed
deepseek_v3   + shared experts (one MLP of ``n_shared_experts x moe_intermediate_size``); a router weight
              per expert. V3's ``e_score_correction_bias`` is a buffer, not a parameter: not counted
              (58 x 256 values in the checkpoint). V3's MTP modules (``num_nextn_predict_layers``)
              are not built by transformers and are counted apart.
mixtral       GQA (no biases); ``num_local_experts`` experts of ``intermediate_size``, a router
qwen2_moe     GQA with q/k/v biases; experts of ``moe_intermediate_size``, one shared expert of
              ``shared_expert_intermediate_size`` with a one-unit gate; dense layers of
              ``intermediate_size`` where ``mlp_only_layers`` / ``decoder_sparse_step`` say so
qwen3_moe     GQA with q/k norms over one head (head_dim derived by default, unlike dense Qwen3's
              128), ``attention_bias``;
              experts of ``moe_intermediate_size``, no shared expert; dense layers as qwen2_moe
olmoe         GQA with q/k norms over the whole projections, ``attention_bias``; experts of
              ``intermediate_size``; a head_dim other than the derived one is refused (transformers
              sizes the q/k norms from the derived one)
gpt_oss       GQA with biases (``attention_bias``, on by default) and a sink per head (head_dim 64
              by default); router and experts with biases; experts of ``intermediate_size``
============  ==========================================================================================

Every model here unties its embeddings unless ``tie_word_embeddings`` says otherwise. DeepSeek's
``q_lora_rank`` (null: no query compression), ``n_shared_experts`` and ``first_k_dense_replace`` are
required (the config classes would fill in one checkpoint's value), as is ``num_key_value_heads``
except in OLMoE (absent: multi-head). A key that changes the count in a way not listed (DeepSeek's
``attention_bias``, V2's ``mlp_bias``, ``moe_layer_freq`` other than 1) is refused by name rather
than miscounted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsplan.errors import InputError
from dsplan.model.defaults import DEFAULT_SEQ_LEN
from dsplan.model.flops import Block
from dsplan.model.hf_config import (
    HfConfig,
    _show,
    _size,
    hf_config_from_data,
    load_config_json,
    moe_model_type,
)
from dsplan.model.moe import Mla, MoeShape

FAMILY_NAMES = {
    "deepseek_v2": "DeepSeek-V2",
    "deepseek_v3": "DeepSeek-V3",
    "gpt_oss": "gpt-oss",
    "mixtral": "Mixtral",
    "olmoe": "OLMoE",
    "qwen2_moe": "Qwen2-MoE",
    "qwen3_moe": "Qwen3-MoE",
}


@dataclass(frozen=True)
class HfMoeConfig:
    """A mixture-of-experts ``config.json`` read: the shape it builds and what the file said.

    Attributes:
        path: The file, as given.
        model_type: transformers' ``model_type``.
        family: Its readable name ("DeepSeek-V3").
        shape: The shape, with the training ``seq_len`` given to :func:`read_hf_moe_config`.
        max_position_embeddings: The context window the file states (None if absent).
    """

    path: str
    model_type: str
    family: str
    shape: MoeShape
    max_position_embeddings: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "model_type": self.model_type,
            "family": self.family,
            "max_position_embeddings": self.max_position_embeddings,
        }


def read_any_hf_config(
    path: Path | str, *, seq_len: int = DEFAULT_SEQ_LEN
) -> HfConfig | HfMoeConfig:
    """A dense or mixture-of-experts ``config.json``, whichever the file is.

    Raises:
        InputError: as :func:`~dsplan.model.hf_config.read_hf_config` and :func:`read_hf_moe_config`.
    """
    name = str(path)
    data = load_config_json(Path(path), name)
    model_type = moe_model_type(data)
    if model_type is None:
        return hf_config_from_data(data, name, seq_len=seq_len)
    return _moe_from_data(data, name, model_type, seq_len)


def read_hf_moe_config(path: Path | str, *, seq_len: int = DEFAULT_SEQ_LEN) -> HfMoeConfig:
    """Read a mixture-of-experts ``config.json`` and count it as transformers builds it.

    Args:
        path: The file.
        seq_len: The training sequence length in tokens (``max_position_embeddings`` is the context
            window and is only reported).

    Raises:
        InputError: an unreadable or invalid file, a key of the wrong type or out of range, a
            missing key, a model type that is not one of the table above, or a key dsplan cannot
            count exactly, naming the file and the key.
    """
    name = str(path)
    data = load_config_json(Path(path), name)
    model_type = moe_model_type(data)
    if model_type is None:
        raise InputError(
            f"{name}: not a mixture-of-experts model dsplan counts "
            f"({', '.join(sorted(FAMILY_NAMES))})"
        )
    return _moe_from_data(data, name, model_type, seq_len)


def _moe_from_data(data: dict[str, Any], name: str, model_type: str, seq_len: int) -> HfMoeConfig:
    def size(key: str, default: int | None = None) -> int:
        if key not in data:
            if default is not None:
                return default
            raise InputError(f"{name}: missing key {key!r}")
        return _size(data[key], key, name)

    def optional(key: str) -> int:
        """A size where null or absent means none (0)."""
        value = data.get(key)
        return 0 if value is None or value == 0 else _size(value, key, name)

    def required(key: str, *, null_is_none: bool = False) -> int:
        """A size that must be given (the config class would fill in one checkpoint's value);
        0 is allowed, and null means 0 where ``null_is_none``."""
        if key not in data:
            raise InputError(
                f"{name}: missing key {key!r}; transformers' {FAMILY_NAMES[model_type]} config "
                "would take one checkpoint's default, so give it"
            )
        value = data[key]
        if (value is None and null_is_none) or (value == 0 and not isinstance(value, bool)):
            return 0
        return _size(value, key, name)

    def switch(key: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise InputError(f"{name}: {key} must be true or false, got {_show(value)}")
        return value

    d_model = size("hidden_size")
    n_heads = size("num_attention_heads")
    n_layers = size("num_hidden_layers")
    vocab_size = size("vocab_size")
    tied = switch("tie_word_embeddings", False)
    top_k = size("num_experts_per_tok")
    common: dict[str, Any] = {
        "n_layers": n_layers,
        "d_model": d_model,
        "n_heads": n_heads,
        "vocab_size": vocab_size,
        "seq_len": seq_len,
        "tied_embeddings": tied,
        "top_k": top_k,
    }
    if model_type in ("deepseek_v2", "deepseek_v3"):
        if model_type == "deepseek_v2" and switch("mlp_bias", False):
            raise InputError(
                f"{name}: mlp_bias true in a DeepSeek-V2 config is not counted by dsplan; it "
                "refuses rather than miscounting"
            )
        if switch("attention_bias", False):
            raise InputError(
                f"{name}: attention_bias true in a DeepSeek MLA config is not counted by dsplan; "
                "it refuses rather than miscounting"
            )
        freq = data.get("moe_layer_freq", 1)
        if freq != 1 or isinstance(freq, bool):
            raise InputError(
                f"{name}: moe_layer_freq {_show(freq)} (not 1) is not counted by dsplan; it refuses "
                "rather than miscounting"
            )
        shape_args: dict[str, Any] = {
            "n_experts": size("n_routed_experts"),
            "d_ff_expert": size("moe_intermediate_size"),
            "n_shared_experts": required("n_shared_experts"),
            "n_dense_layers": min(required("first_k_dense_replace"), n_layers),
            "d_ff": size("intermediate_size"),
            "mla": Mla(
                kv_lora_rank=size("kv_lora_rank"),
                qk_nope_head_dim=size("qk_nope_head_dim"),
                qk_rope_head_dim=size("qk_rope_head_dim"),
                v_head_dim=size("v_head_dim"),
                q_lora_rank=required("q_lora_rank", null_is_none=True),
            ),
            "mtp_layers": optional("num_nextn_predict_layers")
            if model_type == "deepseek_v3"
            else 0,
        }
    else:
        kv_key = "num_key_value_heads"
        if data.get(kv_key) is None and model_type == "olmoe":
            n_kv_heads = n_heads
        else:
            if kv_key not in data:
                raise InputError(
                    f"{name}: missing key {kv_key!r}; transformers' {FAMILY_NAMES[model_type]} "
                    "config would not take num_attention_heads but one checkpoint's default, so "
                    "give it"
                )
            n_kv_heads = size(kv_key)
        if n_heads % n_kv_heads:
            raise InputError(
                f"{name}: {kv_key} ({n_kv_heads}) must divide num_attention_heads ({n_heads})"
            )
        # Unlike dense Qwen3 (128), Qwen3-MoE derives its head size when head_dim is absent.
        default_head = {"gpt_oss": 64}.get(model_type, 0)
        if data.get("head_dim") is None and ("head_dim" not in data or model_type != "gpt_oss"):
            head_dim = default_head
        else:
            head_dim = size("head_dim")
        if head_dim == 0 and d_model % n_heads:
            raise InputError(
                f"{name}: num_attention_heads ({n_heads}) must divide hidden_size ({d_model}), "
                "or give head_dim"
            )
        shape_args = {"n_kv_heads": n_kv_heads, "head_dim": head_dim}
        if model_type == "mixtral":
            shape_args.update(
                n_experts=size("num_local_experts"), d_ff_expert=size("intermediate_size")
            )
        elif model_type == "olmoe":
            if head_dim and head_dim * n_heads != d_model:
                # transformers' OLMoE sizes its q/k norms from hidden_size / num_attention_heads
                # whatever head_dim says; dsplan counts only the derived head size.
                raise InputError(
                    f"{name}: head_dim {head_dim} (not hidden_size / num_attention_heads) in an "
                    "OLMoE config is not counted by dsplan; it refuses rather than miscounting"
                )
            bias = switch("attention_bias", False)
            shape_args.update(
                n_experts=size("num_experts"),
                d_ff_expert=size("intermediate_size"),
                block=Block(qkv_bias=bias, o_bias=bias, qk_norm="projection"),
            )
        elif model_type == "gpt_oss":
            bias = switch("attention_bias", True)
            shape_args.update(
                n_experts=size("num_local_experts"),
                d_ff_expert=size("intermediate_size"),
                block=Block(qkv_bias=bias, o_bias=bias),
                router_bias=True,
                expert_bias=True,
                attention_sinks=True,
            )
        else:  # qwen2_moe, qwen3_moe
            n_dense = _qwen_dense_layers(data, name, n_layers)
            shape_args.update(
                n_experts=size("num_experts"),
                d_ff_expert=size("moe_intermediate_size"),
                n_dense_layers=n_dense,
                d_ff=size("intermediate_size") if n_dense else 0,
            )
            if model_type == "qwen2_moe":
                shared = optional("shared_expert_intermediate_size")
                if not shared:
                    raise InputError(
                        f"{name}: shared_expert_intermediate_size must be a positive integer: "
                        "transformers' Qwen2-MoE always builds the shared expert"
                    )
                shape_args.update(
                    block=Block(qkv_bias=True),
                    n_shared_experts=1,
                    d_ff_shared=shared,
                    shared_expert_gate=True,
                )
            else:
                bias = switch("attention_bias", False)
                shape_args.update(block=Block(qkv_bias=bias, o_bias=bias, qk_norm="head"))
    context = data.get("max_position_embeddings")
    context = None if context is None else _size(context, "max_position_embeddings", name)
    try:
        shape = MoeShape(**common, **shape_args)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None
    return HfMoeConfig(name, model_type, FAMILY_NAMES[model_type], shape, context)


def _qwen_dense_layers(data: dict[str, Any], name: str, n_layers: int) -> int:
    """Layers transformers builds with a dense MLP: listed in ``mlp_only_layers``, or off the
    ``decoder_sparse_step`` (a layer i is sparse when (i + 1) is a multiple of the step)."""
    step = data.get("decoder_sparse_step", 1)
    step = _size(step, "decoder_sparse_step", name)
    only = data.get("mlp_only_layers", [])
    if only is None:
        only = []
    if not isinstance(only, list) or any(
        isinstance(i, bool) or not isinstance(i, int) for i in only
    ):
        raise InputError(
            f"{name}: mlp_only_layers must be a list of layer numbers, got {_show(only)}"
        )
    # In closed form (a layer count may be 2**31 - 1): the layers off the step, plus the listed
    # layers that the step would have made sparse.
    listed_on_step = {i for i in only if 0 <= i < n_layers and (i + 1) % step == 0}
    return n_layers - n_layers // step + len(listed_on_step)
