"""The rules of ``dsplan check``: a run config against the paper's laws.

Every rule has a stable id (DSP1xx shape, DSP2xx hyperparameters, DSP3xx tokens and fit range,
DSP4xx schedule, DSP5xx hardware), and every finding names the file, the key, the numbers and the
value the laws suggest. All rules run on every file; nothing here prints or exits.

The compute of a config is C = M * D with M the *exact* non-embedding FLOPs per token of its shape
(:func:`dsplan.model.flops.counts`: GQA and the real d_ff counted, attention unmasked as in Eq. 2) and D
its training tokens; the learning rate, batch and token laws are the preset's, evaluated at that C.

Tolerance bands (ours; the paper publishes none). DeepSeek's near-optimal region is the set of
settings whose generalization error is within 0.25% of the minimum, and the paper only says those
points "fall within a broad band" (arXiv 2401.02954, Section 3.1, Fig. 3). The released models sit
close to Eq. 1: learning rate 0.99x (7B) and 1.01x to 1.03x (67B), batch 1.02x (7B) and 0.91x to 0.96x
(67B, depending on how M is counted). We therefore warn beyond a factor of 2 either way, about eight
times the released models' largest deviation in log terms and well outside anything DeepSeek used,
and report an error beyond a factor of 4, where a setting is much more likely a typo, a unit mistake
or a config copied from another scale than a choice. The same reasoning, with the numbers, is in
docs/check.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from dsplan.catalog.presets import FitRange, Preset, load_preset
from dsplan.checking.config import (
    DEFAULT_STAGE_FACTORS,
    ConfigProblems,
    Problem,
    RunConfig,
    parse_config,
    read_config_text,
)
from dsplan.errors import InputError
from dsplan.model.flops import Counts, Shape, counts, swiglu_d_ff
from dsplan.model.shape import ASPECT_RANGE
from dsplan.planning.plan import round_batch_sequences
from dsplan.scheduling.schedules import DEFAULT_DECAY_FRACTION, MAX_WARMUP_FRACTION

SCHEMA_VERSION = 1
ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITIES = (ERROR, WARNING, INFO)

# Learning-rate and batch bands, as factors either side of Eq. 1 (see the module docstring).
LR_WARNING_FACTOR = 2.0
LR_ERROR_FACTOR = 4.0
BATCH_WARNING_FACTOR = 2.0
BATCH_ERROR_FACTOR = 4.0
# Tokens against D_opt (Eq. 4): over-training is often deliberate (a smaller model is cheaper to
# serve), so it is info; a run with far fewer tokens than D_opt spends its compute on a model too
# large for its data, a warning. Factor 2 either way: ours.
OVERTRAIN_FACTOR = 2.0
UNDERTRAIN_FACTOR = 2.0
# d_ff / d_model: SwiGLU uses 8/3 (LLaMA, DeepSeek), a GELU FFN 4, Qwen2-7B 5.3. Below 1 the FFN
# is narrower than the model, almost always a swapped or mistyped value. Ours.
D_FF_RATIO_WARN = (2.0, 6.0)
D_FF_RATIO_ERROR_BELOW = 1.0
# Head size: FlashAttention kernels take head sizes up to 256; below 32 heads get too thin.
HEAD_DIM_RANGE = (32, 256)
# Width over depth: dsplan.model.shape.ASPECT_RANGE, the band where Kaplan et al. (2020, Section 3.1,
# Fig. 5) found the loss within a few percent (DeepSeek 7B is 137, 67B 86).
# Tensor cores prefer vocabularies padded to a multiple of 64 (nanoGPT pads 50257 to 50304).
VOCAB_MULTIPLE = 64


@dataclass(frozen=True)
class Rule:
    """A rule: its id, the severities it can report, what it checks and where its threshold is from."""

    id: str
    severity: str
    title: str
    threshold: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("DSP101", ERROR, "a model size is zero or negative", "sizes are counts"),
        Rule("DSP102", ERROR, "n_heads does not divide d_model", "heads split the width evenly"),
        Rule(
            "DSP103",
            ERROR,
            "n_kv_heads does not divide n_heads",
            "GQA shares each KV head among a whole number of query heads",
        ),
        Rule(
            "DSP104",
            "error/warning",
            "d_ff out of proportion to d_model",
            "error below 1x d_model; warning outside 2x to 6x (SwiGLU 8/3, GELU 4; ours)",
        ),
        Rule(
            "DSP105",
            WARNING,
            "unusual head size",
            "head size outside 32 to 256 (FlashAttention supports up to 256)",
        ),
        Rule(
            "DSP106",
            WARNING,
            "extreme width/depth ratio",
            "d_model / n_layers outside 20 to 200 (Kaplan et al. 2020, Fig. 5)",
        ),
        Rule(
            "DSP107",
            INFO,
            "vocabulary not a multiple of 64",
            "tensor-core padding (nanoGPT pads 50257 to 50304)",
        ),
        Rule(
            "DSP201",
            "error/warning",
            "learning rate far from eta_opt(C)",
            "warning beyond 2x either way, error beyond 4x, against Eq. 1 (ours; see docs)",
        ),
        Rule(
            "DSP202",
            "error/warning",
            "batch size far from B_opt(C)",
            "warning beyond 2x either way, error beyond 4x, against Eq. 1 (ours; see docs)",
        ),
        Rule(
            "DSP203",
            ERROR,
            "batch size given in the wrong unit",
            "the value is outside the error band in its unit and inside it in the other, "
            "or batch_size_tokens is less than one sequence",
        ),
        Rule(
            "DSP204",
            WARNING,
            "batch_size_tokens not a whole number of sequences",
            "a step holds whole sequences of seq_len tokens",
        ),
        Rule(
            "DSP205",
            ERROR,
            "batch_size_tokens and batch_size_sequences disagree",
            "tokens = sequences x seq_len",
        ),
        Rule("DSP206", ERROR, "learning rate or batch size not positive", "must be positive"),
        Rule(
            "DSP301",
            ERROR,
            "training tokens not positive, or C = M x D beyond float range",
            "must be positive and finite",
        ),
        Rule(
            "DSP302",
            INFO,
            "over-trained: tokens well above D_opt(C)",
            "more than 2x D_opt (Eq. 4); often deliberate for cheaper inference",
        ),
        Rule(
            "DSP303",
            WARNING,
            "under-trained: tokens well below D_opt(C)",
            "less than 1/2 D_opt (Eq. 4): the model is too large for its data",
        ),
        Rule(
            "DSP304",
            INFO,
            "compute above the preset's fit range",
            "the preset's fit ranges; DeepSeek's 7B/67B sit 2.5 to 3.5 orders above Eq. 4's",
        ),
        Rule(
            "DSP305",
            WARNING,
            "compute below the preset's fit range",
            "the laws were neither fitted nor tested below the range's minimum",
        ),
        Rule("DSP401", ERROR, "warm-up as long as the run, or negative", "steps of the run"),
        Rule(
            "DSP402",
            WARNING,
            "warm-up longer than 10% of the run",
            "dsplan's cap (DeepSeek 7B: 2000 of ~212K steps, 0.9%)",
        ),
        Rule("DSP403", WARNING, "no warm-up", "DeepSeek warms up over 2000 steps (Section 2.3)"),
        Rule("DSP404", ERROR, "schedule milestones out of order", "milestones must increase"),
        Rule(
            "DSP405",
            ERROR,
            "a schedule milestone outside the run",
            "a drop at or after the end (or before the start) never happens",
        ),
        Rule(
            "DSP406",
            ERROR,
            "stage_factors and milestones differ in number",
            "one factor per drop",
        ),
        Rule("DSP407", WARNING, "the learning rate never decays", "every schedule should decay"),
        Rule(
            "DSP408",
            ERROR,
            "a schedule factor outside (0, 1]",
            "a factor above 1 raises the rate above the peak; 0 stops training",
        ),
        Rule("DSP409", WARNING, "the learning rate rises after a drop", "factors should decrease"),
        Rule("DSP410", WARNING, "a drop inside the warm-up", "drops come after the peak"),
        Rule(
            "DSP501",
            ERROR,
            "expected_days needs an MFU above 1",
            "hardware FLOPs / (num_gpus x dense peak x time) > 1: more than the GPUs can compute",
        ),
        Rule(
            "DSP502",
            WARNING,
            "expected_days needs an MFU above the best published",
            "the GPU table's mfu_best_published for that GPU and precision",
        ),
        Rule(
            "DSP503",
            ERROR,
            "model and optimizer states do not fit even fully sharded",
            "16 bytes/parameter over num_gpus (ZeRO-3) against GPU memory (dsplan.planning.cost)",
        ),
        Rule(
            "DSP504",
            INFO,
            "states do not fit under ZeRO-1",
            "weights and gradients replicated (4 bytes/parameter): needs ZeRO-3 or TP/PP",
        ),
        Rule(
            "DSP505",
            ERROR,
            "a hardware value out of range",
            "num_gpus, expected_days, budget_usd, price positive; mfu in (0, 1]",
        ),
        Rule(
            "DSP506",
            WARNING,
            "planned MFU above the best published",
            "the GPU table's mfu_best_published for that GPU and precision",
        ),
        Rule(
            "DSP507",
            WARNING,
            "expected_days needs more MFU than planned",
            "the MFU implied by expected_days on num_gpus against hardware.mfu",
        ),
        Rule(
            "DSP508",
            ERROR,
            "the run costs more than budget_usd",
            "GPU-hours x price per GPU-hour (dsplan.planning.cost) at the planned MFU",
        ),
        Rule(
            "DSP509",
            INFO,
            "hardware keys not checked",
            "hardware rules need hardware.gpu; budget_usd needs a price",
        ),
        Rule(
            "DSP411",
            WARNING,
            "schedule keys the chosen schedule ignores",
            "stale keys from another schedule",
        ),
    )
}


@dataclass(frozen=True)
class Finding:
    """One problem in one config: rule, severity, location, the numbers, and what the laws suggest."""

    rule: str
    severity: str
    file: str
    key: str
    line: int | None
    message: str
    hint: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Derived:
    """The numbers the rules compared against, echoed so a finding can be reproduced."""

    preset: str
    preset_source: str
    flops_per_token: int | None = None
    compute_flops: float | None = None
    params_total: int | None = None
    batch_size_tokens: float | None = None
    total_steps: int | None = None
    learning_rate_law: float | None = None
    batch_size_tokens_law: float | None = None
    tokens_law: float | None = None
    implied_mfu: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class FileReport:
    """The findings of one file, most severe first."""

    file: str
    findings: tuple[Finding, ...]
    derived: Derived

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "derived": self.derived.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "errors": self.count(ERROR),
            "warnings": self.count(WARNING),
            "infos": self.count(INFO),
        }


@dataclass(frozen=True)
class Report:
    """Every file's findings and the exit code they imply."""

    files: tuple[FileReport, ...]
    strict: bool = False

    def count(self, severity: str) -> int:
        return sum(f.count(severity) for f in self.files)

    @property
    def exit_code(self) -> int:
        """1 if any error (or, under ``strict``, any warning), else 0."""
        if self.count(ERROR) or (self.strict and self.count(WARNING)):
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "strict": self.strict,
            "summary": {
                "files": len(self.files),
                "errors": self.count(ERROR),
                "warnings": self.count(WARNING),
                "infos": self.count(INFO),
                "exit_code": self.exit_code,
            },
            "files": [f.to_dict() for f in self.files],
        }


@dataclass
class _Context:
    """What the rules of one file share: the config, its preset, and the numbers derived so far."""

    cfg: RunConfig
    preset: Preset
    found: list[Finding] = field(default_factory=list)
    shape: Shape | None = None
    counts: Counts | None = None
    compute: float | None = None
    batch_tokens: float | None = None
    batch_unit_wrong: bool = False
    total_steps: int | None = None
    implied_mfu: float | None = None
    tokens_law: float | None = None
    model_law: tuple[float, str] | None = None
    lr_law: float | None = None
    batch_law: float | None = None
    hyper_label: str = ""
    hyper_orders: float = 0.0
    hyper_range_text: str = ""
    # The compute below which an in-file Eq. 1 is extrapolated. None for a law file: its range may
    # also bound N and D, so a point outside it is reported as above the range.
    hyper_floor: float | None = None

    def add(self, rule: str, severity: str, key: str, message: str, hint: str) -> None:
        self.found.append(
            Finding(
                rule=rule,
                severity=severity,
                file=self.cfg.file,
                key=key,
                line=self.cfg.line_of(key),
                message=message,
                hint=hint,
            )
        )

    def given(self, key: str) -> bool:
        return key in self.cfg.given


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _list_text(values: Sequence[float]) -> str:
    return "[" + ", ".join(_fmt(v) for v in values) + "]"


def _value_text(value: float | Sequence[float] | None) -> str:
    if value is None:
        return "none"
    if isinstance(value, (int, float)):
        return _fmt(value)
    return _list_text(value)


def _ratio_text(ratio: float) -> str:
    return f"{ratio:.3g}x"


# --------------------------------------------------------------------------------------- DSP1xx


def _size_hint(name: str, d_model: int, n_heads: int) -> str:
    """A value for a size that is zero or negative: DeepSeek's, or one derived from the width."""
    if name == "n_heads" and d_model > 0:
        return f"n_heads = {max(1, d_model // 128)} (head size 128, as DeepSeek)"
    if name == "n_kv_heads" and n_heads > 0:
        return f"n_kv_heads = {n_heads} (MHA) or a divisor of it (GQA)"
    if name == "d_ff" and d_model > 0:
        return f"d_ff = {swiglu_d_ff(d_model)} (SwiGLU, 8/3 d_model rounded up to 256)"
    return {
        "n_layers": "n_layers = 30 (DeepSeek 7B), or see `dsplan budget` for a shape",
        "d_model": "d_model = 4096 (DeepSeek 7B), or see `dsplan budget` for a shape",
        "vocab_size": "vocab_size = the tokenizer's size, e.g. 102400 (DeepSeek)",
        "seq_len": "seq_len = 4096 (DeepSeek)",
    }.get(name, "")


def _divisors(n: int) -> list[int]:
    """The divisors of ``n > 0``, increasing; paired up to its square root, so that a mistyped
    width (d_model = 40000000001) costs milliseconds, not minutes."""
    small = [k for k in range(1, math.isqrt(n) + 1) if n % k == 0]
    return small + [n // k for k in reversed(small) if k * k != n]


def _nearest(target: int, values: list[int]) -> int:
    """The value closest to ``target``, the smaller on a tie."""
    return min(values, key=lambda v: (abs(v - target), v))


def _shape_rules(ctx: _Context) -> None:
    m = ctx.cfg.model
    bad = False
    for name in ("n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff", "vocab_size", "seq_len"):
        value = getattr(m, name)
        if value <= 0:
            bad = True
            ctx.add(
                "DSP101",
                ERROR,
                f"model.{name}",
                f"{name} = {value} must be positive",
                _size_hint(name, m.d_model, m.n_heads),
            )
    if bad:
        return
    if m.d_model % m.n_heads:
        bad = True
        best = _nearest(m.n_heads, _divisors(m.d_model))
        ctx.add(
            "DSP102",
            ERROR,
            "model.n_heads",
            f"n_heads = {m.n_heads} does not divide d_model = {m.d_model} "
            f"(head size would be {m.d_model / m.n_heads:.4g})",
            f"n_heads = {best} (head size {m.d_model // best}); or d_model = "
            f"{round(m.d_model / m.n_heads) * m.n_heads}",
        )
    if m.n_heads % m.n_kv_heads:
        bad = True
        divisors = _divisors(m.n_heads)
        best = _nearest(m.n_kv_heads, divisors)
        ctx.add(
            "DSP103",
            ERROR,
            "model.n_kv_heads",
            f"n_kv_heads = {m.n_kv_heads} does not divide n_heads = {m.n_heads}",
            f"n_kv_heads = {best} (divisors of {m.n_heads}: {', '.join(map(str, divisors))})",
        )
    ratio = m.d_ff / m.d_model
    swiglu = swiglu_d_ff(m.d_model)
    if ratio < D_FF_RATIO_ERROR_BELOW:
        ctx.add(
            "DSP104",
            ERROR,
            "model.d_ff",
            f"d_ff = {m.d_ff} is {ratio:.3g}x d_model = {m.d_model}: the feed-forward layer "
            "is narrower than the model",
            f"d_ff = {swiglu} (SwiGLU, 8/3 d_model rounded up to 256)",
        )
    elif not D_FF_RATIO_WARN[0] <= ratio <= D_FF_RATIO_WARN[1]:
        ctx.add(
            "DSP104",
            WARNING,
            "model.d_ff",
            f"d_ff = {m.d_ff} is {ratio:.3g}x d_model = {m.d_model}, outside "
            f"{D_FF_RATIO_WARN[0]:g}x to {D_FF_RATIO_WARN[1]:g}x",
            f"d_ff = {swiglu} (SwiGLU, 8/3 d_model rounded up to 256)",
        )
    if bad:
        return
    head_dim = m.d_model // m.n_heads
    if not HEAD_DIM_RANGE[0] <= head_dim <= HEAD_DIM_RANGE[1]:
        heads = max(1, m.d_model // 128)
        ctx.add(
            "DSP105",
            WARNING,
            "model.n_heads",
            f"head size d_model / n_heads = {head_dim} is outside "
            f"{HEAD_DIM_RANGE[0]} to {HEAD_DIM_RANGE[1]}",
            f"n_heads = {heads} (head size {m.d_model // heads})"
            if m.d_model % heads == 0
            else "a head size of 64 or 128",
        )
    aspect = m.d_model / m.n_layers
    if not ASPECT_RANGE[0] <= aspect <= ASPECT_RANGE[1]:
        ctx.add(
            "DSP106",
            WARNING,
            "model.n_layers",
            f"d_model / n_layers = {m.d_model} / {m.n_layers} = {aspect:.3g}, outside "
            f"{ASPECT_RANGE[0]:g} to {ASPECT_RANGE[1]:g}",
            f"n_layers = {max(1, round(m.d_model / 128))} for d_model / n_layers near 128, or "
            f"`dsplan shapes {counts(m.shape()).flops_per_token:.3g}` for shapes of the same M",
        )
    if m.vocab_size % VOCAB_MULTIPLE:
        padded = math.ceil(m.vocab_size / VOCAB_MULTIPLE) * VOCAB_MULTIPLE
        ctx.add(
            "DSP107",
            INFO,
            "model.vocab_size",
            f"vocab_size = {m.vocab_size} is not a multiple of {VOCAB_MULTIPLE}",
            f"vocab_size = {padded} (padded; the extra rows are never used)",
        )
    ctx.shape = m.shape()
    ctx.counts = counts(ctx.shape)


# --------------------------------------------------------------------------------------- DSP2xx


def _band(ratio: float, warn: float, error: float) -> str | None:
    """The severity of a ratio against a symmetric band of factors, or None inside it."""
    if ratio > error or ratio < 1 / error:
        return ERROR
    if ratio > warn or ratio < 1 / warn:
        return WARNING
    return None


def _batch_rules(ctx: _Context) -> None:
    t = ctx.cfg.training
    seq_len = ctx.cfg.model.seq_len
    if t.learning_rate <= 0:
        ctx.add(
            "DSP206",
            ERROR,
            "training.learning_rate",
            f"learning_rate = {t.learning_rate} must be positive",
            _lr_hint(ctx),
        )
    batch_bad = False
    for key, value in (
        ("batch_size_tokens", t.batch_size_tokens),
        ("batch_size_sequences", t.batch_size_sequences),
    ):
        if value is not None and value <= 0:
            batch_bad = True
            ctx.add(
                "DSP206",
                ERROR,
                f"training.{key}",
                f"{key} = {value} must be positive",
                _batch_hint(ctx, ctx.batch_law) if ctx.batch_law else "",
            )
    if batch_bad:
        return
    if t.batch_size_tokens is not None and t.batch_size_sequences is not None:
        implied = t.batch_size_sequences * seq_len
        if not math.isclose(implied, t.batch_size_tokens, rel_tol=1e-9):
            ctx.add(
                "DSP205",
                ERROR,
                "training.batch_size_tokens",
                f"batch_size_tokens = {_fmt(t.batch_size_tokens)} but batch_size_sequences = "
                f"{t.batch_size_sequences} x seq_len {seq_len} = {implied}",
                "give only one of the two",
            )
    if t.batch_size_sequences is not None:
        ctx.batch_tokens = float(t.batch_size_sequences * seq_len)
    elif t.batch_size_tokens is not None:
        ctx.batch_tokens = t.batch_size_tokens
    if t.batch_size_tokens is not None and t.batch_size_sequences is None:
        sequences = t.batch_size_tokens / seq_len
        if sequences >= 1 and not math.isclose(sequences, round(sequences), abs_tol=1e-9):
            whole = max(1, round(sequences))
            ctx.add(
                "DSP204",
                WARNING,
                "training.batch_size_tokens",
                f"batch_size_tokens = {_fmt(t.batch_size_tokens)} is {sequences:.4g} sequences "
                f"of {seq_len} tokens",
                f"batch_size_tokens = {whole * seq_len} ({whole} sequences)",
            )


def _lr_hint(ctx: _Context) -> str:
    if ctx.lr_law is None:
        return ""
    return f"learning_rate = {ctx.lr_law:.3g} ({ctx.hyper_label})"


def _batch_hint(ctx: _Context, law_tokens: float) -> str:
    seq_len = ctx.cfg.model.seq_len
    sequences, _ = round_batch_sequences(law_tokens / seq_len)
    return (
        f"batch_size_sequences = {sequences} ({_fmt(sequences * seq_len)} tokens; the law gives "
        f"{_fmt(law_tokens)} tokens: {ctx.hyper_label})"
    )


def _hyper_rules(ctx: _Context) -> None:
    if ctx.compute is None:
        return
    t = ctx.cfg.training
    c = ctx.compute
    law_lr = ctx.lr_law
    if law_lr is not None and t.learning_rate > 0:
        ratio = t.learning_rate / law_lr
        severity = _band(ratio, LR_WARNING_FACTOR, LR_ERROR_FACTOR)
        if severity:
            ctx.add(
                "DSP201",
                severity,
                "training.learning_rate",
                f"learning_rate = {_fmt(t.learning_rate)} is {_ratio_text(ratio)} eta_opt = "
                f"{law_lr:.4g} at C = {c:.4g} FLOPs (warning beyond {LR_WARNING_FACTOR:g}x, "
                f"error beyond {LR_ERROR_FACTOR:g}x)",
                _lr_hint(ctx),
            )
    law_batch = ctx.batch_law
    if ctx.batch_tokens is None or ctx.batch_tokens <= 0 or law_batch is None:
        return
    seq_len = ctx.cfg.model.seq_len
    ratio = ctx.batch_tokens / law_batch
    severity = _band(ratio, BATCH_WARNING_FACTOR, BATCH_ERROR_FACTOR)
    in_tokens = t.batch_size_sequences is None
    key = "training.batch_size_tokens" if in_tokens else "training.batch_size_sequences"
    given: float = ctx.batch_tokens if in_tokens else float(t.batch_size_sequences or 0)
    other = given * seq_len if in_tokens else float(given)
    other_ratio = other / law_batch
    less_than_a_sequence = in_tokens and given < seq_len
    if (
        severity == ERROR and _band(other_ratio, BATCH_ERROR_FACTOR, BATCH_ERROR_FACTOR) is None
    ) or less_than_a_sequence:
        if in_tokens:
            message = (
                f"batch_size_tokens = {_fmt(given)} is {given / seq_len:.3g} sequences of "
                f"{seq_len} tokens ({_ratio_text(ratio)} B_opt = {_fmt(law_batch)} tokens); "
                f"read as sequences it would be {_fmt(other)} tokens, {_ratio_text(other_ratio)} "
                "B_opt: a sequence count written as tokens?"
            )
            hint = f"batch_size_sequences = {int(given)}" if float(given).is_integer() else ""
        else:
            message = (
                f"batch_size_sequences = {int(given)} is {_fmt(ctx.batch_tokens)} tokens per step "
                f"({_ratio_text(ratio)} B_opt = {_fmt(law_batch)} tokens); read as tokens it "
                f"would be {_ratio_text(other_ratio)} B_opt: a token count written as sequences?"
            )
            hint = f"batch_size_tokens = {int(given)}"
        ctx.add("DSP203", ERROR, key, message, hint or _batch_hint(ctx, law_batch))
        # Steps derived from a batch in the wrong unit would only add misleading findings.
        ctx.batch_unit_wrong = True
    elif severity:
        ctx.add(
            "DSP202",
            severity,
            key,
            f"batch of {_fmt(ctx.batch_tokens)} tokens per step is {_ratio_text(ratio)} B_opt = "
            f"{_fmt(law_batch)} tokens at C = {c:.4g} FLOPs (warning beyond "
            f"{BATCH_WARNING_FACTOR:g}x, error beyond {BATCH_ERROR_FACTOR:g}x)",
            _batch_hint(ctx, law_batch),
        )


# --------------------------------------------------------------------------------------- DSP3xx


def _laws(ctx: _Context) -> None:
    """Evaluate the preset's allocation law and its hyperparameter law at the config's C.

    The allocation law is evaluated in its own units (``dsplan.laws.allocation.predict``) and the
    hyperparameter law chosen as ``dsplan budget`` chooses it (``dsplan.laws.hyperparameters``).
    """
    from dsplan.laws.allocation import predict
    from dsplan.laws.hyperparameters import hyperparameters_for

    if ctx.compute is None or ctx.counts is None:
        return
    p, c = ctx.preset, ctx.compute
    prediction = predict(p, c)
    ctx.tokens_law = prediction.law_tokens
    ctx.model_law = (prediction.model_size, prediction.model_size_unit)
    values, law = hyperparameters_for(
        p, c, ctx.counts, ctx.cfg.training.tokens, ctx.cfg.hyperparameters
    )
    ctx.lr_law, ctx.batch_law = values.learning_rate, values.batch_size_tokens
    ctx.hyper_orders = values.orders_beyond
    if law is None:
        hyper_range = p.hyperparameter_fit_range or p.fit_range
        ctx.hyper_label = f"Eq. 1, preset {p.id}"
        ctx.hyper_floor = hyper_range.compute_min
    else:
        hyper_range = law.fit_range
        ctx.hyper_label = f"hyperparameter law {law.id}"
    ctx.hyper_range_text = _range_text(hyper_range)


def _range_text(r: FitRange) -> str:
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


# Tokens cannot be suggested without a valid count to start from (C = M x D needs D).
_TOKENS_HINT = "tokens = the run's training tokens, e.g. 2e12 (DeepSeek 7B and 67B)"


def _token_rules(ctx: _Context) -> None:
    t = ctx.cfg.training
    if t.tokens <= 0:
        ctx.add(
            "DSP301",
            ERROR,
            "training.tokens",
            f"tokens = {_fmt(t.tokens)} must be positive",
            _TOKENS_HINT,
        )
        return
    if ctx.counts is None:
        return
    m = ctx.counts.flops_per_token
    c = m * t.tokens
    if not math.isfinite(c):
        # tokens = 1e300 or a width of 1e15: C overflows a float and every law would divide by 0.
        ctx.add(
            "DSP301",
            ERROR,
            "training.tokens",
            f"tokens = {_fmt(t.tokens)} at M = {m:.4g} FLOPs/token makes C = M x D overflow: "
            "no run is that large",
            _TOKENS_HINT,
        )
        return
    ctx.compute = c
    _laws(ctx)
    p = ctx.preset
    d_opt = ctx.tokens_law
    if d_opt is None or ctx.model_law is None:
        return
    ratio = t.tokens / d_opt
    per_param = t.tokens / ctx.counts.params_total
    at = f"at C = M x D = {m:.4g} x {_fmt(t.tokens)} = {c:.4g} FLOPs"
    size, unit = ctx.model_law
    model = "" if unit == "tokens" else f" with a model of {unit} = {size:.3g}"
    hint = f"tokens = {d_opt:.3g}{model} (allocation law, preset {p.id})"
    if ratio > OVERTRAIN_FACTOR:
        ctx.add(
            "DSP302",
            INFO,
            "training.tokens",
            f"tokens = {_fmt(t.tokens)} is {_ratio_text(ratio)} D_opt = {d_opt:.4g} {at} "
            f"({per_param:.3g} tokens/parameter): over-trained, fine if inference cost is the goal",
            hint,
        )
    elif ratio < 1 / UNDERTRAIN_FACTOR:
        ctx.add(
            "DSP303",
            WARNING,
            "training.tokens",
            f"tokens = {_fmt(t.tokens)} is {_ratio_text(ratio)} D_opt = {d_opt:.4g} {at} "
            f"({per_param:.3g} tokens/parameter): the model is too large for its data",
            hint,
        )
    alloc = p.fit_range
    above: list[str] = []
    below: list[str] = []
    floors: list[float] = []  # the range minima C lies below
    beyond = alloc.orders_beyond(c) > 0  # not at a bound within whole-token rounding
    if beyond and alloc.compute_max is not None and c > alloc.compute_max:
        above.append(
            f"{alloc.orders_beyond(c):.1f} orders of magnitude above the allocation law's "
            f"{_range_text(alloc)}"
        )
    if beyond and alloc.compute_min is not None and c < alloc.compute_min:
        floors.append(alloc.compute_min)
        below.append(
            f"{alloc.orders_beyond(c):.1f} orders of magnitude below the allocation law's "
            f"{_range_text(alloc)}"
        )
    if ctx.hyper_orders > 0:
        where = f"outside the hyperparameter law's fit range ({ctx.hyper_label}: {ctx.hyper_range_text})"
        floor = ctx.hyper_floor
        if floor is not None and c < floor:
            floors.append(floor)
            below.append(f"{ctx.hyper_orders:.1f} orders of magnitude {where}")
        else:
            above.append(f"{ctx.hyper_orders:.1f} orders of magnitude {where}")
    if above:
        ctx.add(
            "DSP304",
            INFO,
            "training.tokens",
            f"C = {c:.4g} FLOPs is {'; '.join(above)}: the laws are extrapolated",
            "none needed if intended: DeepSeek's own 7B and 67B sit 2.5 to 3.5 orders above "
            "the Eq. 4 range and match the laws (Section 3, Fig. 5)",
        )
    if below:
        ctx.add(
            "DSP305",
            WARNING,
            "training.tokens",
            f"C = {c:.4g} FLOPs is {'; '.join(below)}: the laws were not fitted or tested here",
            (
                f"tokens >= {max(floors) / m:.3g} to reach C = {max(floors):.0e} FLOPs with this "
                "model; otherwise treat the suggested values as rough"
                if floors
                else "treat the suggested values as rough"
            ),
        )


# --------------------------------------------------------------------------------------- DSP4xx


def _milestones(ctx: _Context) -> tuple[str, list[float]] | None:
    """The multistep drops as fractions of the tokens, with the key they came from."""
    t = ctx.cfg.training
    if t.stage_tokens is not None:
        if t.tokens <= 0:
            return None
        return "training.stage_tokens", [x / t.tokens for x in t.stage_tokens]
    return "training.stage_fractions", list(t.stage_fractions or ())


def _schedule_rules(ctx: _Context) -> None:
    t = ctx.cfg.training
    batch = ctx.batch_tokens
    if batch is not None and batch > 0 and not ctx.batch_unit_wrong and t.tokens > 0:
        ctx.total_steps = max(1, math.ceil(t.tokens / batch))
    steps = ctx.total_steps
    warm = t.warmup_steps
    if warm < 0:
        ctx.add(
            "DSP401",
            ERROR,
            "training.warmup_steps",
            f"warmup_steps = {warm} is negative",
            f"warmup_steps = {_warmup_suggestion(steps)} (DeepSeek: 2000)",
        )
    elif steps is not None and warm >= steps:
        ctx.add(
            "DSP401",
            ERROR,
            "training.warmup_steps",
            f"warmup_steps = {warm} but the run has only {steps} step{'' if steps == 1 else 's'} "
            f"({_fmt(t.tokens)} tokens / {_fmt(ctx.batch_tokens or 0)} tokens per step)",
            f"warmup_steps = {_warmup_suggestion(steps)} (1% of the run, as DeepSeek 7B)",
        )
    elif steps is not None and warm > MAX_WARMUP_FRACTION * steps:
        ctx.add(
            "DSP402",
            WARNING,
            "training.warmup_steps",
            f"warmup_steps = {warm} is {warm / steps:.1%} of the run's {steps} steps",
            f"warmup_steps <= {math.floor(MAX_WARMUP_FRACTION * steps)} "
            f"({MAX_WARMUP_FRACTION:.0%} of the run)",
        )
    elif warm == 0:
        ctx.add(
            "DSP403",
            WARNING,
            "training.warmup_steps",
            "warmup_steps = 0: the run starts at the peak learning rate",
            f"warmup_steps = {_warmup_suggestion(steps)} (DeepSeek: 2000)",
        )
    stale = _unused_schedule_keys(ctx)
    for key in stale:
        ctx.add(
            "DSP411",
            WARNING,
            key,
            f"{key} = {_value_text(getattr(t, key.split('.')[1]))} has no effect with "
            f"schedule = {t.schedule!r}",
            "remove it, or set the schedule it belongs to",
        )
    if t.schedule == "constant":
        ctx.add(
            "DSP407",
            WARNING,
            "training.schedule",
            f"schedule = 'constant': the learning rate stays at {_fmt(t.learning_rate)} for all "
            f"{_fmt(t.tokens)} tokens, it never decays",
            'schedule = "multistep" (DeepSeek: x0.316 at 80% and x0.1 at 90% of the tokens)',
        )
    elif t.schedule == "multistep":
        _multistep_rules(ctx)
    else:
        _decay_rules(ctx)


def _warmup_suggestion(steps: int | None) -> int:
    """DeepSeek's 2000 steps, or 1% of a shorter run (2000 is 0.9% of the 7B's ~212K steps)."""
    return 2000 if steps is None else max(1, min(2000, math.floor(0.01 * steps)))


_SCHEDULE_KEYS: dict[str, set[str]] = {
    "multistep": {"stage_fractions", "stage_tokens", "stage_factors"},
    "cosine": {"final_lr_fraction"},
    "wsd": {"final_lr_fraction", "decay_fraction"},
    "constant": set(),
}


def _unused_schedule_keys(ctx: _Context) -> list[str]:
    every = set().union(*_SCHEDULE_KEYS.values())
    unused = every - _SCHEDULE_KEYS[ctx.cfg.training.schedule]
    return [f"training.{k}" for k in sorted(unused) if ctx.given(f"training.{k}")]


def _multistep_rules(ctx: _Context) -> None:
    t = ctx.cfg.training
    found = _milestones(ctx)
    if found is None:
        return
    key, fractions = found
    factors = list(t.stage_factors)
    raw = list(t.stage_tokens) if t.stage_tokens is not None else fractions
    if any(b <= a for a, b in pairwise(raw)):
        ctx.add(
            "DSP404",
            ERROR,
            key,
            f"{key.split('.')[1]} = {_list_text(raw)} do not increase strictly",
            f"{key.split('.')[1]} = {_list_text(sorted(set(raw)))}",
        )
    outside = [f for f in fractions if not 0 < f < 1]
    if outside:
        shown = (
            ", ".join(f"{f * t.tokens:.4g} tokens" for f in outside)
            if t.stage_tokens is not None
            else ", ".join(f"{f:g}" for f in outside)
        )
        ctx.add(
            "DSP405",
            ERROR,
            key,
            f"drop at {shown} lies outside the run of {_fmt(t.tokens)} tokens: it never happens",
            "stage_fractions = [0.8, 0.9] (DeepSeek: 80% and 90% of the tokens)",
        )
    if len(factors) != len(fractions):
        ctx.add(
            "DSP406",
            ERROR,
            "training.stage_factors",
            f"{len(fractions)} milestones but {len(factors)} stage_factors",
            "one factor per milestone, e.g. stage_factors = [0.316, 0.1]",
        )
    bad = [f for f in factors if not 0 < f <= 1]
    if bad:  # an error already; "never decays" or "rises" would mislead
        ctx.add(
            "DSP408",
            ERROR,
            "training.stage_factors",
            f"stage_factors {', '.join(f'{f:g}' for f in bad)} outside (0, 1]",
            f"stage_factors = {list(DEFAULT_STAGE_FACTORS)} (DeepSeek)",
        )
    elif not factors or all(f >= 1 for f in factors):
        ctx.add(
            "DSP407",
            WARNING,
            "training.stage_factors",
            f"stage_factors = {factors}: the learning rate never drops",
            f"stage_factors = {list(DEFAULT_STAGE_FACTORS)} (DeepSeek)",
        )
    elif any(b > a for a, b in pairwise(factors)):
        ctx.add(
            "DSP409",
            WARNING,
            "training.stage_factors",
            f"stage_factors = {factors} rise after a drop",
            f"decreasing factors, e.g. {list(DEFAULT_STAGE_FACTORS)} (DeepSeek)",
        )
    steps = ctx.total_steps
    if steps is not None and 0 < t.warmup_steps < steps:
        early = [f for f in fractions if 0 < f < 1 and round(f * steps) < t.warmup_steps]
        if early:
            ctx.add(
                "DSP410",
                WARNING,
                key,
                f"a drop at step {round(early[0] * steps)} comes before warm-up ends at step "
                f"{t.warmup_steps}",
                f"drops after {t.warmup_steps / steps:.1%} of the run",
            )


def _decay_rules(ctx: _Context) -> None:
    t = ctx.cfg.training
    final = t.final_lr_fraction
    if not 0 <= final <= 1:
        ctx.add(
            "DSP408",
            ERROR,
            "training.final_lr_fraction",
            f"final_lr_fraction = {final:g} outside [0, 1]",
            "final_lr_fraction = 0.1",
        )
    elif final == 1:
        ctx.add(
            "DSP407",
            WARNING,
            "training.final_lr_fraction",
            f"final_lr_fraction = 1: the {t.schedule} schedule ends at its peak, it never decays",
            "final_lr_fraction = 0.1",
        )
    if t.schedule == "wsd":
        d = t.decay_fraction
        if not 0 <= d <= 1:
            ctx.add(
                "DSP405",
                ERROR,
                "training.decay_fraction",
                f"decay_fraction = {d:g} outside [0, 1]: the decay would start outside the run",
                f"decay_fraction = {DEFAULT_DECAY_FRACTION:g}",
            )
        elif d == 0:
            ctx.add(
                "DSP407",
                WARNING,
                "training.decay_fraction",
                "decay_fraction = 0: the wsd schedule never decays",
                f"decay_fraction = {DEFAULT_DECAY_FRACTION:g}",
            )


# --------------------------------------------------------------------------------------- DSP5xx

# Implied MFU above a planned one by less than this is rounding, not a claim (the TOML written by
# `dsplan budget --gpu ... --format toml` reproduces its own MFU to about 1e-15).
_MFU_SLACK = 1e-6


_HARDWARE_HINTS = {
    "num_gpus": "num_gpus = the GPUs the run is booked on (DeepSeek 67B: 2048 H800s)",
    "expected_days": "expected_days = the wall-clock days promised, or leave it out",
    "budget_usd": "budget_usd = the money available, or leave it out",
    "price_usd_per_gpu_hour": "leave it out to use the GPU table's price (`dsplan gpus`)",
}


def _hardware_rules(ctx: _Context) -> None:
    hw = ctx.cfg.hardware
    if not hw.given:
        return
    if hw.gpu is None:
        given = sorted(k for k in ctx.cfg.given if k.startswith("hardware."))
        ctx.add(
            "DSP509",
            INFO,
            given[0],
            f"{', '.join(given)} given without hardware.gpu: the hardware rules are skipped",
            'hardware.gpu = "h800" (see `dsplan gpus`)',
        )
        return
    bad = False
    for key, value in (
        ("num_gpus", hw.num_gpus),
        ("expected_days", hw.expected_days),
        ("budget_usd", hw.budget_usd),
        ("price_usd_per_gpu_hour", hw.price_usd_per_gpu_hour),
    ):
        if value is not None and value <= 0:
            bad = True
            ctx.add(
                "DSP505",
                ERROR,
                f"hardware.{key}",
                f"{key} = {value:g} must be positive",
                _HARDWARE_HINTS[key],
            )
    if hw.mfu is not None and not 0 < hw.mfu <= 1:
        bad = True
        ctx.add(
            "DSP505",
            ERROR,
            "hardware.mfu",
            f"mfu = {hw.mfu:g} must be a fraction in (0, 1]"
            + (" (a percentage?)" if 1 < hw.mfu <= 100 else ""),
            f"mfu = {hw.mfu / 100:g}" if 1 < hw.mfu <= 100 else "",
        )
    if bad or ctx.counts is None or ctx.cfg.training.tokens <= 0:
        return
    from dsplan.catalog.gpus import get_gpu
    from dsplan.planning.cost import (
        cluster_flops,
        gpu_hours,
        resolve_hardware,
        state_memory,
        wall_clock_days,
    )

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
        return
    flops = ctx.counts.flops_per_token_hardware * ctx.cfg.training.tokens
    best = gpu.best_published_mfu(dtype)
    best_text = (
        f"{best:g} ({gpu.best_published_source(dtype)})" if best is not None else "not published"
    )
    where = f"{gpu.id}, {dtype}, dense peak {peak / 1e12:g} TFLOP/s"
    if hw.mfu is not None and best is not None and hw.mfu > best:
        ctx.add(
            "DSP506",
            WARNING,
            "hardware.mfu",
            f"mfu = {hw.mfu:g} is above the best published {dtype} MFU on {gpu.id}: {best_text}",
            f"mfu <= {best:g}",
        )
    if hw.num_gpus is not None and hw.expected_days is not None:
        implied = flops / cluster_flops(hw.num_gpus, peak, 1.0, hw.expected_days)
        ctx.implied_mfu = implied
        claim = (
            f"{flops:.4g} hardware FLOPs (M + output head, x {ctx.cfg.training.tokens:.4g} tokens) "
            f"in {hw.expected_days:g} days on {hw.num_gpus:,} GPUs ({where}) needs MFU "
            f"{implied:.3g}"
        )
        hint = ""
        if planned_mfu:
            needed = wall_clock_days(gpu_hours(flops, peak, planned_mfu), hw.num_gpus)
            hint = f"expected_days = {needed:.3g} at MFU {planned_mfu:g}"
        if implied > 1:
            ctx.add("DSP501", ERROR, "hardware.expected_days", f"{claim}: above 1", hint)
        elif best is not None and implied > best:
            ctx.add(
                "DSP502",
                WARNING,
                "hardware.expected_days",
                f"{claim}, above the best published: {best_text}",
                hint,
            )
        elif hw.mfu is not None and implied > hw.mfu * (1 + _MFU_SLACK):
            ctx.add(
                "DSP507",
                WARNING,
                "hardware.expected_days",
                f"{claim}, more than the planned mfu = {hw.mfu:g}",
                hint,
            )
    if hw.num_gpus is not None:
        memory = state_memory(ctx.counts.params_total, gpu.memory_gb, hw.num_gpus)
        states_gb = memory.states_bytes / 1e9
        if memory.fits_zero3 is False:
            ctx.add(
                "DSP503",
                ERROR,
                "hardware.num_gpus",
                f"the model and optimizer states ({states_gb:,.0f} GB: "
                f"{ctx.counts.params_total:.4g} parameters x 16 bytes) do not fit on "
                f"{hw.num_gpus:,} x {gpu.memory_gb:g} GB {gpu.id} even fully sharded (ZeRO-3), "
                "before activations",
                f"num_gpus >= {memory.min_gpus_zero3:,}",
            )
        elif memory.fits_zero1 is False:
            fewest = (
                f"num_gpus >= {memory.min_gpus_zero1:,} for ZeRO-1"
                if memory.min_gpus_zero1 is not None
                else "ZeRO-3, or tensor/pipeline parallelism"
            )
            ctx.add(
                "DSP504",
                INFO,
                "hardware.num_gpus",
                f"the states ({states_gb:,.0f} GB) do not fit on {hw.num_gpus:,} {gpu.id} under "
                "ZeRO-1 (weights and gradients replicated): shard further",
                fewest,
            )
    if hw.budget_usd is not None:
        if price is None:
            ctx.add(
                "DSP509",
                INFO,
                "hardware.budget_usd",
                f"budget_usd not checked: the GPU table has no price for {gpu.id}",
                "hardware.price_usd_per_gpu_hour = ...",
            )
            return
        mfu = planned_mfu
        # Without a planned mfu, the one expected_days implies (when possible) prices the run.
        if hw.mfu is None and ctx.implied_mfu is not None and ctx.implied_mfu <= 1:
            mfu = ctx.implied_mfu
        if mfu is None:
            return
        hours = gpu_hours(flops, peak, mfu)
        cost = hours * price
        if cost > hw.budget_usd * (1 + _MFU_SLACK):
            ctx.add(
                "DSP508",
                ERROR,
                "hardware.budget_usd",
                f"the run takes {hours:,.0f} GPU-hours at MFU {mfu:.3g}: "
                f"${cost:,.0f} at ${price:g}/GPU-hour, over budget_usd = ${hw.budget_usd:,.0f}",
                f"budget_usd >= {cost:.4g}, or tokens = "
                f"{ctx.cfg.training.tokens * hw.budget_usd / cost:.3g} within the budget",
            )


# --------------------------------------------------------------------------------------- driver

_RULE_GROUPS: tuple[Callable[[_Context], None], ...] = (
    _shape_rules,
    _token_rules,
    _batch_rules,
    _hyper_rules,
    _schedule_rules,
    _hardware_rules,
)
_ORDER = {s: i for i, s in enumerate(SEVERITIES)}


def check_config(cfg: RunConfig) -> FileReport:
    """Run every rule on one loaded config.

    Raises:
        ConfigProblems: ``[check].ignore`` names a rule that does not exist.
        PresetError: the preset cannot be loaded.
    """
    unknown = [rule for rule in cfg.ignore if rule not in RULES]
    if unknown:
        import difflib

        problems = []
        for rule in unknown:
            close = difflib.get_close_matches(rule, list(RULES), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(
                Problem(
                    cfg.file,
                    cfg.line_of("check.ignore"),
                    "check.ignore",
                    f"unknown rule {rule!r}{hint}",
                )
            )
        raise ConfigProblems(problems)
    preset = load_preset(cfg.preset)
    ctx = _Context(cfg, preset)
    for group in _RULE_GROUPS:
        group(ctx)
    kept = [f for f in ctx.found if f.rule not in cfg.ignore]
    kept.sort(key=lambda f: (_ORDER[f.severity], f.line if f.line is not None else 0, f.rule))
    derived = Derived(
        preset=preset.id,
        preset_source=preset.source,
        flops_per_token=ctx.counts.flops_per_token if ctx.counts else None,
        compute_flops=ctx.compute,
        params_total=ctx.counts.params_total if ctx.counts else None,
        batch_size_tokens=ctx.batch_tokens,
        total_steps=ctx.total_steps,
        learning_rate_law=ctx.lr_law,
        batch_size_tokens_law=ctx.batch_law,
        tokens_law=ctx.tokens_law,
        implied_mfu=ctx.implied_mfu,
    )
    return FileReport(cfg.file, tuple(kept), derived)


def check_texts(
    sources: Sequence[tuple[str, str, Path]], *, preset: str | None = None, strict: bool = False
) -> Report:
    """Check several configs given as ``(text, display_name, base_dir)``.

    Every file is loaded first; if any cannot be, :class:`ConfigProblems` lists the problems of all
    of them (exit 2). Otherwise every rule runs on every file.
    """
    if preset is not None:
        load_preset(preset)  # an unknown --preset is one error, not one per file
    configs: list[RunConfig] = []
    problems: list[Problem] = []
    for text, name, base in sources:
        try:
            configs.append(parse_config(text, name, base_dir=base, preset=preset))
        except ConfigProblems as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigProblems(problems)
    reports: list[FileReport] = []
    for cfg in configs:
        try:
            reports.append(check_config(cfg))
        except ConfigProblems as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigProblems(problems)
    return Report(tuple(reports), strict=strict)


def check_files(names: Sequence[str], *, preset: str | None = None, strict: bool = False) -> Report:
    """Read and check config files (``-`` is standard input, read once).

    Raises:
        ConfigProblems: any file that cannot be read or loaded; every such problem is listed.
        InputError: no files given, or an unknown ``preset``.
    """
    if not names:
        raise InputError("give at least one config file (or - for standard input)")
    sources = []
    problems: list[Problem] = []
    if names.count("-") > 1:
        raise InputError("standard input (-) can be given only once")
    for name in names:
        try:
            text, display, base = read_config_text(name)
        except ConfigProblems as exc:
            problems.extend(exc.problems)
            continue
        sources.append((text, display, base))
    try:
        report = check_texts(sources, preset=preset, strict=strict)
    except ConfigProblems as exc:
        raise ConfigProblems([*problems, *exc.problems]) from None
    if problems:
        raise ConfigProblems(problems)
    return report


def iter_findings(report: Report) -> Iterator[Finding]:
    """Every finding of every file, in report order."""
    for file_report in report.files:
        yield from file_report.findings
