"""Shapes from Hugging Face ``config.json`` files, counted as transformers builds them.

The bar is the parameter total that transformers instantiates from the same file with
``AutoModelForCausalLM.from_config`` (a tied embedding counted once), to the parameter. Each
``model_type`` below was read off transformers' own configuration and modeling classes (5.25.0) and
checked against it on the fixtures in tests/data/hf/ (``python bench/hf_counts.py`` recomputes it):

================  ============  =========  ============================================================
model_type        tie default   head_dim   beyond a LLaMA block
================  ============  =========  ============================================================
llama             untied        derived    ``attention_bias`` (q, k, v, o), ``mlp_bias`` (gate, up, down)
mistral           untied        derived    nothing (no bias keys are read)
qwen2             untied        derived    q, k, v biases always (no o bias)
qwen3             untied        128        q/k norms over one head (``head_dim`` each); ``attention_bias``
gemma             tied          256        ``attention_bias``
gemma2            tied          256        four norms per block; ``attention_bias``
olmo              untied        derived    no norm weights at all (non-parametric LayerNorm); ``attention_bias``
olmo2             untied        derived    q/k norms over the whole projections; ``attention_bias``
phi3              untied        derived    nothing (qkv_proj and gate_up_proj are fused, same weights)
================  ============  =========  ============================================================

"derived" is ``hidden_size / num_attention_heads``; a ``head_dim`` key always wins. Yi, DeepSeek LLM
and SmolLM ship as ``llama``. A file without ``model_type`` is dispatched by ``architectures``; any
other architecture (mixture-of-experts ones by name) is refused rather than miscounted.

Keys are read strictly: a size must be a JSON integer (not a bool, a float, a string or null) between
1 and :data:`MAX_SIZE`, a switch a JSON bool. A missing ``num_key_value_heads`` means multi-head
attention only where transformers says so (``llama``, ``olmo``, ``olmo2``, ``phi3``); elsewhere the
config class falls back on one checkpoint's value (Mistral's 8, Gemma 2's 4), so the key is required.

``max_position_embeddings`` is the context window, not the training sequence length: it is reported,
never used for M (Llama 3.1 trains at 8192 tokens and serves 131072).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsplan.errors import InputError
from dsplan.model.defaults import DEFAULT_SEQ_LEN
from dsplan.model.flops import LLAMA_BLOCK, Block, Shape

# A real config.json is a few kilobytes; a bound keeps /dev/zero or a 100 MB file from hanging the
# read. (A local bounded read: dsplan/io.py has none yet.)
MAX_CONFIG_BYTES = 1 << 20
# Any size above this is a typo or an attack, not a model (and would overflow a float later on).
MAX_SIZE = 2**31 - 1

_MOE_KEYS = ("num_experts", "n_routed_experts", "num_local_experts", "moe_intermediate_size")
# The mixture-of-experts model types dsplan.model.hf_moe counts (``dsplan model`` takes them).
MOE_MODEL_TYPES = (
    "deepseek_v2",
    "deepseek_v3",
    "gpt_oss",
    "mixtral",
    "olmoe",
    "qwen2_moe",
    "qwen3_moe",
)
MOE_ARCHITECTURES = {
    "DeepseekV2ForCausalLM": "deepseek_v2",
    "DeepseekV3ForCausalLM": "deepseek_v3",
    "GptOssForCausalLM": "gpt_oss",
    "MixtralForCausalLM": "mixtral",
    "OlmoeForCausalLM": "olmoe",
    "Qwen2MoeForCausalLM": "qwen2_moe",
    "Qwen3MoeForCausalLM": "qwen3_moe",
}


@dataclass(frozen=True)
class _Family:
    """How transformers builds one ``model_type``, as far as parameter counts go."""

    name: str
    tied: bool  # the config class's default for tie_word_embeddings
    head_dim: int = 0  # when head_dim is absent; 0: hidden_size / num_attention_heads
    head_dim_null_derived: bool = False  # "head_dim": null means derived (else transformers fails)
    kv_absent_is_mha: bool = True  # a missing num_key_value_heads means num_attention_heads
    kv_null_is_mha: bool = True  # "num_key_value_heads": null means num_attention_heads
    reads_attention_bias: bool = True  # attention_bias adds q, k, v and o biases
    reads_mlp_bias: bool = False
    qkv_bias: bool = False  # q, k, v biases whatever the keys say
    norms_per_layer: int = 2
    final_norm: bool = True
    qk_norm: str = "none"


FAMILIES: dict[str, _Family] = {
    "llama": _Family("Llama", tied=False, head_dim_null_derived=True, reads_mlp_bias=True),
    "mistral": _Family(
        "Mistral",
        tied=False,
        head_dim_null_derived=True,
        kv_absent_is_mha=False,
        kv_null_is_mha=False,
        reads_attention_bias=False,
    ),
    "qwen2": _Family(
        "Qwen2", tied=False, kv_absent_is_mha=False, reads_attention_bias=False, qkv_bias=True
    ),
    "qwen3": _Family("Qwen3", tied=False, head_dim=128, kv_absent_is_mha=False, qk_norm="head"),
    "gemma": _Family(
        "Gemma", tied=True, head_dim=256, kv_absent_is_mha=False, kv_null_is_mha=False
    ),
    "gemma2": _Family(
        "Gemma 2",
        tied=True,
        head_dim=256,
        kv_absent_is_mha=False,
        kv_null_is_mha=False,
        norms_per_layer=4,
    ),
    "olmo": _Family("OLMo", tied=False, norms_per_layer=0, final_norm=False),
    "olmo2": _Family("OLMo 2", tied=False, qk_norm="projection"),
    "phi3": _Family("Phi-3", tied=False, reads_attention_bias=False),
}
ARCHITECTURES = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "GemmaForCausalLM": "gemma",
    "Gemma2ForCausalLM": "gemma2",
    "OlmoForCausalLM": "olmo",
    "Olmo2ForCausalLM": "olmo2",
    "Phi3ForCausalLM": "phi3",
}


@dataclass(frozen=True)
class HfConfig:
    """A ``config.json`` read: the shape it builds and what the file said about itself.

    Attributes:
        path: The file, as given.
        model_type: transformers' ``model_type`` (from ``architectures`` when the key is absent).
        family: Its readable name ("Gemma 2").
        shape: The shape, with the training ``seq_len`` given to :func:`read_hf_config`.
        max_position_embeddings: The context window the file states (None if absent).
    """

    path: str
    model_type: str
    family: str
    shape: Shape
    max_position_embeddings: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "model_type": self.model_type,
            "family": self.family,
            "max_position_embeddings": self.max_position_embeddings,
            "beyond_llama_block": list(beyond_llama_block(self.shape)),
        }


def beyond_llama_block(shape: Shape) -> tuple[str, ...]:
    """What ``shape`` holds that a LLaMA block of its sizes would not, in words ("q/k/v biases")."""
    out = []
    derived = shape.d_model // shape.n_heads
    if shape.head_dim * shape.n_heads != shape.d_model:
        out.append(
            f"head_dim {shape.head_dim} (not d_model / n_heads = "
            f"{shape.d_model} / {shape.n_heads} = {derived:g})"
            if shape.d_model % shape.n_heads == 0
            else f"head_dim {shape.head_dim} (n_heads does not divide d_model)"
        )
    b = shape.block
    if b.qkv_bias:
        out.append("q/k/v biases")
    if b.o_bias:
        out.append("an o_proj bias")
    if b.mlp_bias:
        out.append("MLP biases")
    if b.norms_per_layer != LLAMA_BLOCK.norms_per_layer:
        out.append(
            "no norm weights (non-parametric norms)"
            if b.norms_per_layer == 0
            else f"{b.norms_per_layer} norm weight vectors per block"
        )
    if not b.final_norm and b.norms_per_layer:
        out.append("no final norm weights")
    if b.qk_norm == "head":
        out.append("q/k norms over one head")
    elif b.qk_norm == "projection":
        out.append("q/k norms over the whole projections")
    return tuple(out)


def read_hf_config(path: Path | str, *, seq_len: int = DEFAULT_SEQ_LEN) -> HfConfig:
    """Read a Hugging Face ``config.json`` and count it as transformers builds it.

    Args:
        path: The file.
        seq_len: The training sequence length in tokens (``max_position_embeddings`` is the context
            window and is only reported).

    Returns:
        An :class:`HfConfig` whose ``shape`` counts to transformers' parameter total.

    Raises:
        InputError: an unreadable, oversized or invalid file, a key of the wrong type or out of
            range, a missing key, or an architecture dsplan cannot count exactly (mixture-of-experts
            ones by name), naming the file and the key.
    """
    name = str(path)
    return hf_config_from_data(_load(Path(path), name), name, seq_len=seq_len)


def moe_model_type(data: dict[str, Any]) -> str | None:
    """The mixture-of-experts model type a loaded ``config.json`` names, if any."""
    model_type = data.get("model_type")
    if isinstance(model_type, str):
        return model_type if model_type in MOE_MODEL_TYPES else None
    architectures = data.get("architectures")
    if "model_type" not in data and isinstance(architectures, list) and architectures:
        first = architectures[0]
        return MOE_ARCHITECTURES.get(first) if isinstance(first, str) else None
    return None


def hf_config_from_data(
    data: dict[str, Any], name: str, *, seq_len: int = DEFAULT_SEQ_LEN
) -> HfConfig:
    """:func:`read_hf_config` of a loaded file (``name`` is how messages name it)."""
    moe = moe_model_type(data)
    if moe is not None:
        raise InputError(
            f"{name}: model_type {moe!r} is a mixture-of-experts model: `dsplan model` counts it, "
            "this command does not take one yet"
        )
    for key in _MOE_KEYS:
        if key in data and data[key] not in (None, 0, False):
            raise InputError(
                f"{name}: mixture-of-experts models ({key}) are counted only as "
                f"{', '.join(MOE_MODEL_TYPES)}; dsplan would miscount this one, so it refuses"
            )
    model_type = _model_type(data, name)
    fam = FAMILIES[model_type]

    def size(key: str) -> int:
        if key not in data:
            raise InputError(f"{name}: missing key {key!r}")
        return _size(data[key], key, name)

    def switch(key: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise InputError(f"{name}: {key} must be true or false, got {_show(value)}")
        return value

    d_model = size("hidden_size")
    n_heads = size("num_attention_heads")
    n_layers = size("num_hidden_layers")
    d_ff = size("intermediate_size")
    vocab_size = size("vocab_size")

    kv_key = "num_key_value_heads"
    if kv_key not in data and not fam.kv_absent_is_mha:
        raise InputError(
            f"{name}: missing key {kv_key!r}; transformers' {fam.name} config would not take "
            "num_attention_heads but one checkpoint's default, so give it"
        )
    if data.get(kv_key) is None and (kv_key not in data or fam.kv_null_is_mha):
        n_kv_heads = n_heads
    else:
        n_kv_heads = size(kv_key)
    if n_heads % n_kv_heads:
        raise InputError(
            f"{name}: {kv_key} ({n_kv_heads}) must divide num_attention_heads ({n_heads})"
        )

    if "head_dim" not in data or (data["head_dim"] is None and fam.head_dim_null_derived):
        head_dim = fam.head_dim
    else:
        head_dim = size("head_dim")
    if head_dim == 0 and d_model % n_heads:
        raise InputError(
            f"{name}: num_attention_heads ({n_heads}) must divide hidden_size ({d_model}), "
            "or give head_dim"
        )

    tied = switch("tie_word_embeddings", fam.tied)
    attention_bias = switch("attention_bias", False) if fam.reads_attention_bias else False
    mlp_bias = switch("mlp_bias", False) if fam.reads_mlp_bias else False
    context = data.get("max_position_embeddings")
    context = None if context is None else _size(context, "max_position_embeddings", name)
    try:
        shape = Shape(
            n_layers=n_layers,
            d_model=d_model,
            n_heads=n_heads,
            n_kv_heads=n_kv_heads,
            d_ff=d_ff,
            vocab_size=vocab_size,
            seq_len=seq_len,
            tied_embeddings=tied,
            head_dim=head_dim,
            block=Block(
                qkv_bias=fam.qkv_bias or attention_bias,
                o_bias=attention_bias,
                mlp_bias=mlp_bias,
                norms_per_layer=fam.norms_per_layer,
                final_norm=fam.final_norm,
                qk_norm=fam.qk_norm,
            ),
        )
    except InputError as exc:  # seq_len, the one size not from the file
        raise InputError(f"{name}: {exc}") from None
    return HfConfig(name, model_type, fam.name, shape, context)


def shape_from_hf_config(path: Path | str, *, seq_len_default: int = DEFAULT_SEQ_LEN) -> Shape:
    """The :class:`Shape` of a ``config.json`` (see :func:`read_hf_config`).

    Args:
        path: The file.
        seq_len_default: The training sequence length in tokens; ``max_position_embeddings`` is
            not used for it.

    Raises:
        InputError: as :func:`read_hf_config`.
    """
    return read_hf_config(path, seq_len=seq_len_default).shape


class _Unreadable(ValueError):
    """A JSON constant (NaN, Infinity) that is no number; raised from the parser's hook."""


def _reject_constant(token: str) -> Any:
    raise _Unreadable(f"{token} is not a JSON number")


def load_config_json(path: Path, name: str) -> dict[str, Any]:
    """The JSON object of a ``config.json``, read with the bounds above."""
    return _load(path, name)


def _load(path: Path, name: str) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise InputError(
            f"{name}: larger than {MAX_CONFIG_BYTES // 1024} KiB; a config.json is a few kilobytes"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}: not valid JSON: {exc}") from None
    except _Unreadable as exc:
        raise InputError(f"{name}: not valid JSON: {exc}") from None
    except ValueError:  # an integer literal of thousands of digits
        raise InputError(f"{name}: not valid JSON: a number too long to read") from None
    except RecursionError:
        raise InputError(f"{name}: not valid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise InputError(f"{name}: expected a JSON object, got {_json_type(data)}")
    return data


def _model_type(data: dict[str, Any], name: str) -> str:
    supported = ", ".join(sorted(FAMILIES))
    if "model_type" in data:
        model_type = data["model_type"]
        if not isinstance(model_type, str):
            raise InputError(f"{name}: model_type must be a string, got {_show(model_type)}")
        if model_type not in FAMILIES:
            moe = " (mixture-of-experts)" if "moe" in model_type.lower() else ""
            raise InputError(
                f"{name}: model_type {model_type!r}{moe} is not one dsplan counts exactly "
                f"({supported}); it refuses rather than miscounting"
            )
        return model_type
    architectures = data.get("architectures")
    if isinstance(architectures, list) and architectures:
        first = architectures[0]
        if isinstance(first, str) and first in ARCHITECTURES:
            return ARCHITECTURES[first]
        raise InputError(
            f"{name}: no model_type, and architectures[0] {_show(first)} is not one dsplan counts "
            f"exactly ({', '.join(sorted(ARCHITECTURES))})"
        )
    raise InputError(
        f"{name}: missing key 'model_type' (and no architectures): which decoder is it? "
        f"dsplan counts {supported}"
    )


def _size(value: Any, key: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SIZE:
        raise InputError(
            f"{name}: {key} must be a positive integer up to {MAX_SIZE}, got {_show(value)}"
        )
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _show(value: Any) -> str:
    """A value for a one-line message: JSON spelling, cut short."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return "an integer of more than 30 digits"
    if isinstance(value, (dict, list)):
        return _json_type(value)
    text = json.dumps(value, ensure_ascii=True, allow_nan=True)
    return text if len(text) <= 40 else text[:37] + "..."
