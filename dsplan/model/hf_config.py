"""Shapes from Hugging Face ``config.json`` files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dsplan.errors import InputError
from dsplan.model.flops import Shape

_MOE_KEYS = ("num_experts", "n_routed_experts", "num_local_experts", "moe_intermediate_size")


def shape_from_hf_config(path: Path, *, seq_len_default: int = 4096) -> Shape:
    """A :class:`Shape` from a LLaMA-style Hugging Face ``config.json``.

    Raises:
        InputError: unreadable or invalid JSON, a missing key, or an unsupported architecture
            (mixture-of-experts), naming the file and key.
    """
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    for key in _MOE_KEYS:
        if data.get(key):
            raise InputError(
                f"{path}: mixture-of-experts models ({key}) are not supported yet; "
                "dsplan would miscount them, so it refuses"
            )

    def need(key: str) -> int:
        if key not in data:
            raise InputError(f"{path}: missing key {key!r}")
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InputError(f"{path}: {key} must be a positive integer, got {value!r}")
        return value

    n_heads = need("num_attention_heads")
    kv = data.get("num_key_value_heads") or n_heads
    return Shape(
        n_layers=need("num_hidden_layers"),
        d_model=need("hidden_size"),
        n_heads=n_heads,
        n_kv_heads=int(kv),
        d_ff=need("intermediate_size"),
        vocab_size=need("vocab_size"),
        seq_len=int(data.get("max_position_embeddings") or seq_len_default),
        tied_embeddings=bool(data.get("tie_word_embeddings", False)),
    )
