"""DSP2xx: learning rate and batch size against Eq. 1 at the config's compute.

Bands (ours; the paper publishes none): warn beyond a factor of 2 either way, error beyond 4. The
reasoning, with the released models' own deviations, is in :mod:`dsplan.checking.rules`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from dsplan.checking.facts import (
    BATCH_ERROR_FACTOR,
    BATCH_WARNING_FACTOR,
    ERROR,
    WARNING,
    Facts,
    band,
    batch_values_bad,
)
from dsplan.checking.registry import Hit, rule
from dsplan.checking.rules._text import fmt, ratio_text
from dsplan.planning.plan import round_batch_sequences

# Learning-rate bands, as factors either side of Eq. 1.
LR_WARNING_FACTOR = 2.0
LR_ERROR_FACTOR = 4.0


def _lr_hint(f: Facts) -> str:
    if f.laws is None or f.laws.learning_rate is None:
        return ""
    return f"learning_rate = {f.laws.learning_rate:.3g} ({f.laws.hyper_label})"


def _batch_hint(f: Facts, law_tokens: float) -> str:
    seq_len = f.cfg.model.seq_len
    sequences, _ = round_batch_sequences(law_tokens / seq_len)
    label = f.laws.hyper_label if f.laws is not None else ""
    return (
        f"batch_size_sequences = {sequences} ({fmt(sequences * seq_len)} tokens; the law gives "
        f"{fmt(law_tokens)} tokens: {label})"
    )


@rule(
    "DSP201",
    "error/warning",
    "learning rate far from eta_opt(C)",
    "warning beyond 2x either way, error beyond 4x, against Eq. 1 (ours; see docs)",
)
def learning_rate_band(f: Facts) -> Iterator[Hit]:
    t = f.cfg.training
    if f.compute is None or f.laws is None or f.laws.learning_rate is None:
        return
    law_lr = f.laws.learning_rate
    if t.learning_rate <= 0:
        return
    ratio = t.learning_rate / law_lr
    severity = band(ratio, LR_WARNING_FACTOR, LR_ERROR_FACTOR)
    if severity:
        yield Hit(
            "training.learning_rate",
            f"learning_rate = {fmt(t.learning_rate)} is {ratio_text(ratio)} eta_opt = "
            f"{law_lr:.4g} at C = {f.compute:.4g} FLOPs (warning beyond {LR_WARNING_FACTOR:g}x, "
            f"error beyond {LR_ERROR_FACTOR:g}x)",
            _lr_hint(f),
            severity,
        )


@rule(
    "DSP202",
    "error/warning",
    "batch size far from B_opt(C)",
    "warning beyond 2x either way, error beyond 4x, against Eq. 1 (ours; see docs)",
)
def batch_band(f: Facts) -> Iterator[Hit]:
    b = f.batch
    if b is None or b.wrong_unit or b.severity is None or f.laws is None:
        return
    law_batch = f.laws.batch_size_tokens
    if law_batch is None or f.batch_tokens is None or f.compute is None:
        return
    yield Hit(
        b.key,
        f"batch of {fmt(f.batch_tokens)} tokens per step is {ratio_text(b.ratio)} B_opt = "
        f"{fmt(law_batch)} tokens at C = {f.compute:.4g} FLOPs (warning beyond "
        f"{BATCH_WARNING_FACTOR:g}x, error beyond {BATCH_ERROR_FACTOR:g}x)",
        _batch_hint(f, law_batch),
        b.severity,
    )


@rule(
    "DSP203",
    ERROR,
    "batch size given in the wrong unit",
    "the value is outside the error band in its unit and inside it in the other, "
    "or batch_size_tokens is less than one sequence",
)
def batch_unit(f: Facts) -> Iterator[Hit]:
    b = f.batch
    if b is None or not b.wrong_unit or f.laws is None or f.laws.batch_size_tokens is None:
        return
    law_batch = f.laws.batch_size_tokens
    seq_len = f.cfg.model.seq_len
    given = b.given
    if b.in_tokens:
        message = (
            f"batch_size_tokens = {fmt(given)} is {given / seq_len:.3g} sequences of "
            f"{seq_len} tokens ({ratio_text(b.ratio)} B_opt = {fmt(law_batch)} tokens); "
            f"read as sequences it would be {fmt(b.other)} tokens, {ratio_text(b.other_ratio)} "
            "B_opt: a sequence count written as tokens?"
        )
        hint = f"batch_size_sequences = {int(given)}" if float(given).is_integer() else ""
    else:
        message = (
            f"batch_size_sequences = {int(given)} is {fmt(f.batch_tokens or 0)} tokens per step "
            f"({ratio_text(b.ratio)} B_opt = {fmt(law_batch)} tokens); read as tokens it "
            f"would be {ratio_text(b.other_ratio)} B_opt: a token count written as sequences?"
        )
        hint = f"batch_size_tokens = {int(given)}"
    yield Hit(b.key, message, hint or _batch_hint(f, law_batch))


@rule(
    "DSP204",
    WARNING,
    "batch_size_tokens not a whole number of sequences",
    "a step holds whole sequences of seq_len tokens",
)
def whole_sequences(f: Facts) -> Iterator[Hit]:
    t = f.cfg.training
    if batch_values_bad(f.cfg) or t.batch_size_tokens is None or t.batch_size_sequences is not None:
        return
    seq_len = f.cfg.model.seq_len
    sequences = t.batch_size_tokens / seq_len
    if sequences >= 1 and not math.isclose(sequences, round(sequences), abs_tol=1e-9):
        whole = max(1, round(sequences))
        yield Hit(
            "training.batch_size_tokens",
            f"batch_size_tokens = {fmt(t.batch_size_tokens)} is {sequences:.4g} sequences "
            f"of {seq_len} tokens",
            f"batch_size_tokens = {whole * seq_len} ({whole} sequences)",
        )


@rule(
    "DSP205",
    ERROR,
    "batch_size_tokens and batch_size_sequences disagree",
    "tokens = sequences x seq_len",
)
def batch_units_agree(f: Facts) -> Iterator[Hit]:
    t = f.cfg.training
    if batch_values_bad(f.cfg) or t.batch_size_tokens is None or t.batch_size_sequences is None:
        return
    seq_len = f.cfg.model.seq_len
    implied = t.batch_size_sequences * seq_len
    if not math.isclose(implied, t.batch_size_tokens, rel_tol=1e-9):
        yield Hit(
            "training.batch_size_tokens",
            f"batch_size_tokens = {fmt(t.batch_size_tokens)} but batch_size_sequences = "
            f"{t.batch_size_sequences} x seq_len {seq_len} = {implied}",
            "give only one of the two",
        )


@rule("DSP206", ERROR, "learning rate or batch size not positive", "must be positive")
def positive_hyperparameters(f: Facts) -> Iterator[Hit]:
    t = f.cfg.training
    if t.learning_rate <= 0:
        yield Hit(
            "training.learning_rate",
            f"learning_rate = {t.learning_rate} must be positive",
            _lr_hint(f),
        )
    law_batch = f.laws.batch_size_tokens if f.laws is not None else None
    for key, value in (
        ("batch_size_tokens", t.batch_size_tokens),
        ("batch_size_sequences", t.batch_size_sequences),
    ):
        if value is not None and value <= 0:
            yield Hit(
                f"training.{key}",
                f"{key} = {value} must be positive",
                _batch_hint(f, law_batch) if law_batch else "",
            )


FAMILY = (
    learning_rate_band,
    batch_band,
    batch_unit,
    whole_sequences,
    batch_units_agree,
    positive_hyperparameters,
)
