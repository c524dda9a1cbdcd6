"""Memory of a training run on its GPUs: model and optimizer states, sharded by ZeRO.

Conventions (documented in docs/hardware.md): model and optimizer states take 16 bytes per
parameter (mixed-precision Adam): bf16 weights 2, bf16 gradients 2, fp32 master weights 4, Adam
first and second moments 4 + 4. ZeRO-3 shards all 16 over the GPUs; ZeRO-1 shards the 12 bytes of
optimizer state and keeps weights and gradients replicated. Activations, buffers and fragmentation
are not counted yet.
"""

from __future__ import annotations

import math
from typing import Any

from dsplan.records import record

# Mixed-precision Adam, per parameter (Rajbhandari et al. 2020, ZeRO, Section 3.1: 2 + 2 + 12 bytes).
STATE_BYTES_PER_PARAM = (
    ("weights_bf16", 2),
    ("gradients_bf16", 2),
    ("master_weights_fp32", 4),
    ("adam_m_fp32", 4),
    ("adam_v_fp32", 4),
)
BYTES_PER_PARAM = sum(b for _, b in STATE_BYTES_PER_PARAM)
# ZeRO-1 keeps weights and gradients replicated on every GPU and shards the rest.
ZERO1_REPLICATED_BYTES_PER_PARAM = 4

MEMORY_NOTE = (
    f"states only: {BYTES_PER_PARAM} bytes per parameter (bf16 weights 2, bf16 gradients 2, fp32 "
    "master weights 4, Adam m 4, Adam v 4); ZeRO-1 shards the 12 bytes of optimizer state, ZeRO-3 "
    "all 16; activations, buffers and fragmentation excluded; tensor or pipeline parallelism would "
    "also shard weights and gradients"
)


@record
class Memory:
    """Model and optimizer states against GPU memory, under ZeRO-1 and ZeRO-3 sharding."""

    params: int
    gpu_memory_bytes: float
    n_gpus: int | None
    min_gpus_zero3: int
    min_gpus_zero1: int | None

    @property
    def states_bytes(self) -> float:
        return float(self.params * BYTES_PER_PARAM)

    def zero1_bytes_per_gpu(self, n_gpus: int) -> float:
        sharded = BYTES_PER_PARAM - ZERO1_REPLICATED_BYTES_PER_PARAM
        return float(self.params * (ZERO1_REPLICATED_BYTES_PER_PARAM + sharded / n_gpus))

    def zero3_bytes_per_gpu(self, n_gpus: int) -> float:
        return self.states_bytes / n_gpus

    @property
    def fits_zero3(self) -> bool | None:
        return None if self.n_gpus is None else self.n_gpus >= self.min_gpus_zero3

    @property
    def fits_zero1(self) -> bool | None:
        if self.n_gpus is None:
            return None
        return self.min_gpus_zero1 is not None and self.n_gpus >= self.min_gpus_zero1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "params": self.params,
            "bytes_per_param": BYTES_PER_PARAM,
            "bytes_per_param_breakdown": dict(STATE_BYTES_PER_PARAM),
            "states_bytes": self.states_bytes,
            "gpu_memory_bytes": self.gpu_memory_bytes,
            "min_gpus_zero1": self.min_gpus_zero1,
            "min_gpus_zero3": self.min_gpus_zero3,
            "note": MEMORY_NOTE,
        }
        if self.n_gpus is not None:
            out.update(
                {
                    "gpus": self.n_gpus,
                    "zero1_bytes_per_gpu": self.zero1_bytes_per_gpu(self.n_gpus),
                    "zero3_bytes_per_gpu": self.zero3_bytes_per_gpu(self.n_gpus),
                    "fits_zero1": self.fits_zero1,
                    "fits_zero3": self.fits_zero3,
                }
            )
        return out


def state_memory(params: int, gpu_memory_gb: float, n_gpus: int | None = None) -> Memory:
    """How the 16 bytes per parameter of model and optimizer state fit on GPUs.

    Args:
        params: Parameters, embeddings included.
        gpu_memory_gb: Memory of one GPU in GB (1e9 bytes).
        n_gpus: GPU count to check, if known.

    Returns:
        A :class:`Memory` with the smallest GPU counts that hold the states under ZeRO-3 (all
        16 bytes sharded) and ZeRO-1 (12 bytes sharded, 4 replicated; None when the replicated
        part alone overflows one GPU).

    References:
        Rajbhandari et al. 2020 (ZeRO, arXiv 1910.02054), Section 5: stages 1 and 3. DeepSeek LLM
        trains with ZeRO-1 (arXiv 2401.02954, Section 2.4).
    """
    capacity = gpu_memory_gb * 1e9
    states = params * BYTES_PER_PARAM
    min_zero3 = max(1, math.ceil(states / capacity))
    replicated = params * ZERO1_REPLICATED_BYTES_PER_PARAM
    sharded = params * (BYTES_PER_PARAM - ZERO1_REPLICATED_BYTES_PER_PARAM)
    min_zero1 = (
        max(1, math.ceil(sharded / (capacity - replicated))) if replicated < capacity else None
    )
    return Memory(params, capacity, n_gpus, min_zero3, min_zero1)
