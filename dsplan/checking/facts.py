"""What the rules of ``dsplan check`` know about one config, derived once and frozen.

:func:`derive` is the only place where numbers are computed from a config: the exact counts of its
shape, its compute C = M x D, the preset's laws at that C, its batch in tokens, its step count and,
with a GPU, what the hardware table says. The rules (:mod:`dsplan.checking.rules`) read these facts
and never each other's results, so they can run in any order. A fact that cannot be derived (a
shape with a zero size has no counts) is ``None``, and the rules that need it stay silent: the
rule that reports the cause speaks instead.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from dsplan.errors import InputError
from dsplan.records import record

if TYPE_CHECKING:
    from dsplan.catalog.gpus import Gpu
    from dsplan.catalog.presets import FitRange, Preset
    from dsplan.checking.run_config import HardwareConfig, RunConfig
    from dsplan.model.flops import Counts
    from dsplan.model.moe import MoeCounts

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITIES = (ERROR, WARNING, INFO)

# Batch bands, as factors either side of Eq. 1 (the reasoning is in dsplan.checking.rules).
BATCH_WARNING_FACTOR = 2.0
BATCH_ERROR_FACTOR = 4.0

# The model sizes a config must give as positive integers.
SIZE_KEYS = ("n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff", "vocab_size", "seq_len")


@record
class Laws:
    """The preset's laws at the config's compute: D_opt, M_opt (in the law's unit), Eq. 1."""

    tokens: float
    model_size: float
    model_unit: str
    learning_rate: float | None
    batch_size_tokens: float | None
    hyper_label: str
    hyper_orders: float
    hyper_range_text: str
    # The compute below which an in-file Eq. 1 is extrapolated. None for a law file: its range may
    # also bound N and D, so a point outside it is reported as above the range.
    hyper_floor: float | None


@record
class BatchReading:
    """The config's batch against B_opt, in the unit it was given and read in the other unit."""

    key: str
    in_tokens: bool
    given: float
    other: float
    ratio: float
    other_ratio: float
    severity: str | None
    wrong_unit: bool


@record
class HardwareFacts:
    """A run's hardware as the GPU table resolves it: the numbers the DSP50x rules compare."""

    gpu: Gpu
    dtype: str
    peak_flops: float
    planned_mfu: float | None
    price_usd_per_gpu_hour: float | None
    hardware_flops: float
    best_mfu: float | None
    best_text: str
    where: str
    implied_mfu: float | None


@record
class Facts:
    """Everything the rules need about one config; see :func:`derive`."""

    cfg: RunConfig
    preset: Preset
    sizes_positive: bool
    counts: Counts | MoeCounts | None
    compute: float | None
    laws: Laws | None
    batch_tokens: float | None
    batch: BatchReading | None
    total_steps: int | None
    hardware: HardwareFacts | None

    def given(self, key: str) -> bool:
        return key in self.cfg.given


def derive(cfg: RunConfig, preset: Preset) -> Facts:
    """The facts of one loaded config under its preset (pure: no finding is made here)."""
    m = cfg.model
    positive = all(getattr(m, name) > 0 for name in SIZE_KEYS)
    divisible = positive and m.d_model % m.n_heads == 0 and m.n_heads % m.n_kv_heads == 0
    shape_counts: Counts | MoeCounts | None = None
    if m.moe is not None:
        shape_counts = _moe_counts(cfg) if positive else None
    elif divisible:
        from dsplan.model.flops import counts

        shape_counts = counts(m.shape())
    compute = _compute(cfg, shape_counts)
    laws = _laws(cfg, preset, compute, shape_counts) if shape_counts is not None else None
    batch_tokens = _batch_tokens(cfg)
    batch = None
    if compute is not None and laws is not None:
        batch = _batch_reading(cfg, batch_tokens, laws.batch_size_tokens)
    steps = None
    wrong_unit = batch is not None and batch.wrong_unit
    if batch_tokens is not None and batch_tokens > 0 and not wrong_unit and cfg.training.tokens > 0:
        steps = max(1, math.ceil(cfg.training.tokens / batch_tokens))
    return Facts(
        cfg=cfg,
        preset=preset,
        sizes_positive=positive,
        counts=shape_counts,
        compute=compute,
        laws=laws,
        batch_tokens=batch_tokens,
        batch=batch,
        total_steps=steps,
        hardware=_hardware(cfg, shape_counts),
    )


def _moe_counts(cfg: RunConfig) -> MoeCounts | None:
    """The counts of an MoE config (M of the activated path), or None where its sizes are
    inconsistent: the DSP6xx rules say why."""
    from dsplan.model.moe import moe_counts

    try:
        return moe_counts(cfg.model.moe_shape())
    except InputError:
        return None


def _compute(cfg: RunConfig, shape_counts: Counts | MoeCounts | None) -> float | None:
    """C = M x D, or None without valid counts, with tokens <= 0, or where C overflows a float."""
    tokens = cfg.training.tokens
    if tokens <= 0 or shape_counts is None:
        return None
    c = shape_counts.flops_per_token * tokens
    return c if math.isfinite(c) else None


def _laws(
    cfg: RunConfig, p: Preset, c: float | None, shape_counts: Counts | MoeCounts
) -> Laws | None:
    """Evaluate the preset's allocation law and its hyperparameter law at the config's C.

    The allocation law is evaluated in its own units (``dsplan.laws.allocation.predict``) and the
    hyperparameter law chosen as ``dsplan budget`` chooses it (``dsplan.laws.hyperparameters``).
    """
    if c is None:
        return None
    from dsplan.catalog.presets import resolve_hyperparameter_law
    from dsplan.laws.allocation import predict
    from dsplan.laws.hyperparameters import hyperparameters_for

    prediction = predict(p, c)
    law = resolve_hyperparameter_law(p, cfg.hyperparameters)
    values = hyperparameters_for(p, c, shape_counts, cfg.training.tokens, law)
    if law is None:
        hyper_range = p.hyperparameter_fit_range or p.fit_range
        label, floor = f"Eq. 1, preset {p.id}", hyper_range.compute_min
    else:
        hyper_range = law.fit_range
        label, floor = f"hyperparameter law {law.id}", None
    return Laws(
        tokens=prediction.law_tokens,
        model_size=prediction.model_size,
        model_unit=prediction.model_size_unit,
        learning_rate=values.learning_rate,
        batch_size_tokens=values.batch_size_tokens,
        hyper_label=label,
        hyper_orders=values.orders_beyond,
        hyper_range_text=range_text(hyper_range),
        hyper_floor=floor,
    )


def range_text(r: FitRange) -> str:
    """A fit range as ``C 1e+17 to 3e+20 FLOPs, N ...``, the parts it bounds only."""
    parts = []
    for name, lo, hi, unit in (
        ("C", r.compute_min, r.compute_max, "FLOPs"),
        ("N", r.params_min, r.params_max, "parameters"),
        ("D", r.tokens_min, r.tokens_max, "tokens"),
    ):
        if lo is not None or hi is not None:
            lo_text = f"{lo:.0e}" if lo is not None else "..."
            hi_text = f"{hi:.0e}" if hi is not None else "..."
            parts.append(f"{name} {lo_text} to {hi_text} {unit}")
    return ", ".join(parts) or "no stated range"


def batch_values_bad(cfg: RunConfig) -> bool:
    """A batch size given as zero or negative (DSP206): no batch can be derived from it."""
    t = cfg.training
    return any(v is not None and v <= 0 for v in (t.batch_size_tokens, t.batch_size_sequences))


def _batch_tokens(cfg: RunConfig) -> float | None:
    """Tokens per step: sequences x seq_len wins over batch_size_tokens when both are given."""
    t = cfg.training
    if batch_values_bad(cfg):
        return None
    if t.batch_size_sequences is not None:
        return float(t.batch_size_sequences * cfg.model.seq_len)
    return t.batch_size_tokens


def band(ratio: float, warn: float, error: float) -> str | None:
    """The severity of a ratio against a symmetric band of factors, or None inside it."""
    if ratio > error or ratio < 1 / error:
        return ERROR
    if ratio > warn or ratio < 1 / warn:
        return WARNING
    return None


def _batch_reading(
    cfg: RunConfig, batch_tokens: float | None, law_batch: float | None
) -> BatchReading | None:
    """The batch against B_opt; ``wrong_unit`` when it is in band only read in the other unit.

    A batch far outside the error band in its own unit but inside it in the other (512 written as
    batch_size_tokens) is a unit mistake, not a choice; so is a batch of less than one sequence.
    """
    if batch_tokens is None or batch_tokens <= 0 or law_batch is None:
        return None
    t = cfg.training
    seq_len = cfg.model.seq_len
    ratio = batch_tokens / law_batch
    severity = band(ratio, BATCH_WARNING_FACTOR, BATCH_ERROR_FACTOR)
    in_tokens = t.batch_size_sequences is None
    given: float = batch_tokens if in_tokens else float(t.batch_size_sequences or 0)
    other = given * seq_len if in_tokens else float(given)
    other_ratio = other / law_batch
    wrong_unit = (
        severity == ERROR and band(other_ratio, BATCH_ERROR_FACTOR, BATCH_ERROR_FACTOR) is None
    ) or (in_tokens and given < seq_len)
    return BatchReading(
        key="training.batch_size_tokens" if in_tokens else "training.batch_size_sequences",
        in_tokens=in_tokens,
        given=given,
        other=other,
        ratio=ratio,
        other_ratio=other_ratio,
        severity=severity,
        wrong_unit=wrong_unit,
    )


def hardware_values_bad(hw: HardwareConfig) -> bool:
    """A hardware value out of range (DSP505): the hardware rules then compare nothing."""
    counts_and_money = (hw.num_gpus, hw.expected_days, hw.budget_usd, hw.price_usd_per_gpu_hour)
    if any(v is not None and v <= 0 for v in counts_and_money):
        return True
    return hw.mfu is not None and not 0 < hw.mfu <= 1


def _hardware(cfg: RunConfig, shape_counts: Counts | MoeCounts | None) -> HardwareFacts | None:
    """The GPU table's view of the run, or None where the hardware rules have nothing to compare."""
    hw = cfg.hardware
    tokens = cfg.training.tokens
    if hw.gpu is None or hardware_values_bad(hw) or shape_counts is None or tokens <= 0:
        return None
    from dsplan.catalog.gpus import get_gpu
    from dsplan.planning.cost import cluster_flops, resolve_hardware

    gpu = get_gpu(hw.gpu)
    try:
        resolved = resolve_hardware(
            gpu, dtype=hw.dtype, mfu=hw.mfu, price_usd_per_gpu_hour=hw.price_usd_per_gpu_hour
        )
        planned_mfu: float | None = resolved.mfu
        price = resolved.price_usd_per_gpu_hour
    except InputError:  # no planning MFU for this precision in the table
        planned_mfu, price = hw.mfu, hw.price_usd_per_gpu_hour
    dtype = hw.dtype or gpu.default_dtype
    peak = gpu.peak_flops(dtype)
    if peak is None:  # refused by the loader; kept for direct construction
        return None
    flops = shape_counts.flops_per_token_hardware * tokens
    best = gpu.best_published_mfu(dtype)
    implied = None
    if hw.num_gpus is not None and hw.expected_days is not None:
        implied = flops / cluster_flops(hw.num_gpus, peak, 1.0, hw.expected_days)
    return HardwareFacts(
        gpu=gpu,
        dtype=dtype,
        peak_flops=peak,
        planned_mfu=planned_mfu,
        price_usd_per_gpu_hour=price,
        hardware_flops=flops,
        best_mfu=best,
        best_text=(
            f"{best:g} ({gpu.best_published_source(dtype)})"
            if best is not None
            else "not published"
        ),
        where=f"{gpu.id}, {dtype}, dense peak {peak / 1e12:g} TFLOP/s",
        implied_mfu=implied,
    )
