"""DSP3xx: training tokens against D_opt (Eq. 4) and the compute against the laws' fit ranges."""

from __future__ import annotations

from collections.abc import Iterator

from dsplan.checking.facts import ERROR, INFO, WARNING, Facts, Laws, range_text
from dsplan.checking.registry import Hit, rule
from dsplan.checking.rules._text import fmt, ratio_text

# Tokens against D_opt (Eq. 4): over-training is often deliberate (a smaller model is cheaper to
# serve), so it is info; a run with far fewer tokens than D_opt spends its compute on a model too
# large for its data, a warning. Factor 2 either way: ours.
OVERTRAIN_FACTOR = 2.0
UNDERTRAIN_FACTOR = 2.0

# Tokens cannot be suggested without a valid count to start from (C = M x D needs D).
_TOKENS_HINT = "tokens = the run's training tokens, e.g. 2e12 (DeepSeek 7B and 67B)"


@rule(
    "DSP301",
    ERROR,
    "training tokens not positive, or C = M x D beyond float range",
    "must be positive and finite",
)
def tokens_positive(f: Facts) -> Iterator[Hit]:
    t = f.cfg.training
    if t.tokens <= 0:
        yield Hit("training.tokens", f"tokens = {fmt(t.tokens)} must be positive", _TOKENS_HINT)
    elif f.counts is not None and f.compute is None:
        # tokens = 1e300 or a width of 1e15: C overflows a float and every law would divide by 0.
        m = f.counts.flops_per_token
        yield Hit(
            "training.tokens",
            f"tokens = {fmt(t.tokens)} at M = {m:.4g} FLOPs/token makes C = M x D overflow: "
            "no run is that large",
            _TOKENS_HINT,
        )


def _against_d_opt(f: Facts) -> tuple[float, str, str] | None:
    """(tokens / D_opt, the comparison in words, the hint) where the laws could be evaluated."""
    if f.counts is None or f.compute is None or f.laws is None:
        return None
    t, laws = f.cfg.training, f.laws
    m = f.counts.flops_per_token
    ratio = t.tokens / laws.tokens
    unit = laws.model_unit
    model = "" if unit == "tokens" else f" with a model of {unit} = {laws.model_size:.3g}"
    lead = (
        f"tokens = {fmt(t.tokens)} is {ratio_text(ratio)} D_opt = {laws.tokens:.4g} at C = M x D "
        f"= {m:.4g} x {fmt(t.tokens)} = {f.compute:.4g} FLOPs "
        f"({t.tokens / f.counts.params_total:.3g} tokens/parameter)"
    )
    hint = f"tokens = {laws.tokens:.3g}{model} (allocation law, preset {f.preset.id})"
    return ratio, lead, hint


def _law_size(f: Facts) -> float | None:
    """The config's model size in the preset's own convention (parameters of a kind, or M)."""
    if f.counts is None or f.cfg.model.moe is not None:
        return None
    unit = f.preset.predicts
    if unit == "flops_per_token":
        return float(f.counts.flops_per_token)
    if unit == "params_total":
        return float(f.counts.params_total)
    if unit == "params_non_embedding":
        return float(f.counts.params_non_embedding)
    if unit == "params_non_embedding_with_head":
        m = f.cfg.model
        return float(f.counts.params_non_embedding + m.vocab_size * m.d_model)
    return None


def _against_inference_optimum(f: Facts, served: float) -> tuple[float, str] | None:
    """(tokens / D*, the comparison in words), D* the inference-aware tokens at the config's own
    loss for ``plan.inference_tokens`` (Sardana et al. 2023); None where the preset has no loss law."""
    loss, size, t = f.preset.loss, _law_size(f), f.cfg.training.tokens
    if loss is None or size is None or t <= 0:
        return None
    from dsplan.laws.allocation import parametric_loss
    from dsplan.laws.inference import flops_per_unit, inference_optimum

    target = parametric_loss(loss, size, t)
    best = inference_optimum(loss, target, served, flops_per_unit(f.preset.predicts)).optimum
    return t / best.tokens, (
        f"tokens = {fmt(t)} is {ratio_text(t / best.tokens)} D* = {best.tokens:.4g}, the "
        f"inference-aware tokens for plan.inference_tokens = {fmt(served)} at this model's loss "
        f"{target:.4g} nats (Sardana et al. 2023; model size {best.model_size:.3g})"
    )


@rule(
    "DSP302",
    INFO,
    "over-trained: tokens well above D_opt(C)",
    "more than 2x D_opt (Eq. 4), or 2x the inference-aware D of a declared [plan] inference_tokens",
)
def over_trained(f: Facts) -> Iterator[Hit]:
    found = _against_d_opt(f)
    if found is None or found[0] <= OVERTRAIN_FACTOR:
        return
    _, lead, hint = found
    served = f.cfg.inference_tokens
    if served is None:
        yield Hit(
            "training.tokens", f"{lead}: over-trained, fine if inference cost is the goal", hint
        )
        return
    inference = _against_inference_optimum(f, served)
    if inference is None:
        yield Hit(
            "training.tokens",
            f"{lead}: over-trained; plan.inference_tokens = {fmt(served)} is declared, but preset "
            f"{f.preset.id} has no loss law to size an inference-aware allocation with",
            hint,
        )
    elif inference[0] > OVERTRAIN_FACTOR:
        yield Hit(
            "training.tokens",
            f"{inference[1]}: over-trained even for that inference demand",
            f"tokens = {fmt(f.cfg.training.tokens / inference[0])} (dsplan budget "
            f"--inference-tokens {fmt(served)} --preset {f.preset.id})",
        )


@rule(
    "DSP303",
    WARNING,
    "under-trained: tokens well below D_opt(C)",
    "less than 1/2 D_opt (Eq. 4): the model is too large for its data",
)
def under_trained(f: Facts) -> Iterator[Hit]:
    found = _against_d_opt(f)
    if found is not None and found[0] < 1 / UNDERTRAIN_FACTOR:
        _, lead, hint = found
        yield Hit("training.tokens", f"{lead}: the model is too large for its data", hint)


def _outside_ranges(f: Facts, c: float, laws: Laws) -> tuple[list[str], list[str], list[float]]:
    """Where C lies outside the allocation and hyperparameter fit ranges: (above, below, floors).

    ``floors`` are the range minima that C lies below.
    """
    alloc = f.preset.fit_range
    above: list[str] = []
    below: list[str] = []
    floors: list[float] = []
    beyond = alloc.orders_beyond(c) > 0  # not at a bound within whole-token rounding
    if beyond and alloc.compute_max is not None and c > alloc.compute_max:
        above.append(
            f"{alloc.orders_beyond(c):.1f} orders of magnitude above the allocation law's "
            f"{range_text(alloc)}"
        )
    if beyond and alloc.compute_min is not None and c < alloc.compute_min:
        floors.append(alloc.compute_min)
        below.append(
            f"{alloc.orders_beyond(c):.1f} orders of magnitude below the allocation law's "
            f"{range_text(alloc)}"
        )
    if laws.hyper_orders > 0:
        where = (
            f"outside the hyperparameter law's fit range ({laws.hyper_label}: "
            f"{laws.hyper_range_text})"
        )
        floor = laws.hyper_floor
        if floor is not None and c < floor:
            floors.append(floor)
            below.append(f"{laws.hyper_orders:.1f} orders of magnitude {where}")
        else:
            above.append(f"{laws.hyper_orders:.1f} orders of magnitude {where}")
    return above, below, floors


@rule(
    "DSP304",
    INFO,
    "compute above the preset's fit range",
    "the preset's fit ranges; DeepSeek's 7B/67B sit 2.5 to 3.5 orders above Eq. 4's",
)
def above_fit_range(f: Facts) -> Iterator[Hit]:
    if f.compute is None or f.laws is None:
        return
    above, _, _ = _outside_ranges(f, f.compute, f.laws)
    if above:
        yield Hit(
            "training.tokens",
            f"C = {f.compute:.4g} FLOPs is {'; '.join(above)}: the laws are extrapolated",
            "none needed if intended: DeepSeek's own 7B and 67B sit 2.5 to 3.5 orders above "
            "the Eq. 4 range and match the laws (Section 3, Fig. 5)",
        )


@rule(
    "DSP305",
    WARNING,
    "compute below the preset's fit range",
    "the laws were neither fitted nor tested below the range's minimum",
)
def below_fit_range(f: Facts) -> Iterator[Hit]:
    if f.compute is None or f.laws is None or f.counts is None:
        return
    c, m = f.compute, f.counts.flops_per_token
    _, below, floors = _outside_ranges(f, c, f.laws)
    if not below:
        return
    yield Hit(
        "training.tokens",
        f"C = {c:.4g} FLOPs is {'; '.join(below)}: the laws were not fitted or tested here",
        (
            f"tokens >= {max(floors) / m:.3g} to reach C = {max(floors):.0e} FLOPs with this "
            "model; otherwise treat the suggested values as rough"
            if floors
            else "treat the suggested values as rough"
        ),
    )


FAMILY = (tokens_positive, over_trained, under_trained, above_fit_range, below_fit_range)
