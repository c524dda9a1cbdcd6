"""The mixture-of-experts flags of ``budget --moe`` and ``shapes --moe``, checked once (imported only with --moe)."""

from __future__ import annotations

from dsplan.errors import InputError
from dsplan.model.moe_shape import MoeSearchOptions
from dsplan.units import positive_int


def moe_search_options(
    *,
    n_experts: int | None,
    top_k: int | None,
    n_shared_experts: int,
    first_dense_layers: int,
    mla: bool,
    aspect_ratio: float,
    vocab_size: int,
    seq_len: int,
) -> MoeSearchOptions:
    """The MoE search options of ``budget --moe`` and ``shapes --moe``, their flags checked."""
    for flag, value in (("--n-experts", n_experts), ("--top-k", top_k)):
        if value is None:
            raise InputError(f"--moe needs {flag}")
    assert n_experts is not None and top_k is not None
    positive_int(n_experts, "--n-experts")
    positive_int(top_k, "--top-k")
    for flag, value in (
        ("--n-shared-experts", n_shared_experts),
        ("--first-dense-layers", first_dense_layers),
    ):
        if value < 0:
            raise InputError(f"{flag} must be 0 or a positive integer, got {value}")
    if top_k > n_experts:
        raise InputError(f"--top-k ({top_k}) must be at most --n-experts ({n_experts})")
    return MoeSearchOptions(
        n_experts=n_experts,
        top_k=top_k,
        n_shared_experts=n_shared_experts,
        n_dense_layers=first_dense_layers,
        mla=mla,
        aspect_ratio=aspect_ratio,
        vocab_size=positive_int(vocab_size, "--vocab-size"),
        seq_len=positive_int(seq_len, "--seq-len"),
    )
