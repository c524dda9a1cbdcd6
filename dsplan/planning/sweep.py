"""Design the small experiments behind a scaling law: IsoFLOP profiles and hyperparameter grids.

The paper's recipe (arXiv 2401.02954, Sections 3.1 and 3.2):

* **IsoFLOP profiles**: 8 budgets from 1e17 to 3e20 FLOPs with about 10 model/data splits each,
  every run trained with the learning rate and batch size of Eq. 1 at its budget. Here each split is
  a real shape from :func:`dsplan.model.shape.best_shape` for a target M spread log-evenly around the
  preset's M_opt (a decade either side by default), trained on D = C / M_exact tokens so that every
  run at a budget spends exactly that budget.
* **Hyperparameter grids**: at a few small budgets, one model, learning rate x batch size on a
  log grid around Eq. 1's prediction (the paper's Figure 2).

Plain Python only: the design needs no numpy, and the output is a list of frozen runs that the CLI
renders as CSV, JSON or one run config per experiment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from dsplan.catalog.presets import Preset, load_preset
from dsplan.errors import InputError
from dsplan.laws.forms import MForm, m_form
from dsplan.model.flops import Shape, counts
from dsplan.model.shape import SearchOptions, best_shape
from dsplan.planning.plan import round_batch_sequences
from dsplan.scheduling.schedules import DEEPSEEK_WARMUP_STEPS, clamp_warmup, total_steps_for
from dsplan.units import parse_positive

SCHEMA_VERSION = 1
KINDS = ("isoflop", "hyperparameters")
# The paper's IsoFLOP design (Section 3.2): 8 budgets from 1e17 to 3e20 FLOPs, ~10 splits each.
DEFAULT_ISOFLOP_BUDGETS = "1e17..3e20"
DEFAULT_ISOFLOP_COUNT = 8
DEFAULT_POINTS = 10
DEFAULT_SPAN_DECADES = 1.0
# The paper's hyperparameter fit used budgets from 1e17 to 2e19 (Section 3.1); how many budgets and
# how wide a grid it used is not stated, so 3 budgets and 5 x 5 points, a factor 4 (0.6 decades)
# either side of Eq. 1, are our choice.
DEFAULT_HP_BUDGETS = "1e17..2e19"
DEFAULT_HP_COUNT = 3
DEFAULT_GRID_POINTS = 5
DEFAULT_GRID_SPAN_DECADES = 0.6
# Our warning threshold: a run this short spends much of itself in warm-up and its loss is noisy.
MIN_STEPS = 100

CSV_COLUMNS = (
    "run_id",
    "kind",
    "compute_flops",
    "target_flops_per_token",
    "flops_per_token",
    "tokens",
    "n_layers",
    "d_model",
    "n_heads",
    "n_kv_heads",
    "d_ff",
    "vocab_size",
    "seq_len",
    "params_non_embedding",
    "params_total",
    "learning_rate",
    "batch_size_tokens",
    "batch_size_sequences",
    "total_steps",
    "warmup_steps",
    "preset",
)


@dataclass(frozen=True)
class SweepRun:
    """One experiment: a shape, its tokens and its hyperparameters at one compute budget."""

    run_id: str
    kind: str
    compute_flops: float
    target_flops_per_token: float
    shape: Shape
    flops_per_token: int
    tokens: float
    params_non_embedding: int
    params_total: int
    learning_rate: float
    batch_size_tokens: int
    batch_size_sequences: int
    total_steps: int
    warmup_steps: int
    preset: str

    def to_dict(self) -> dict[str, Any]:
        """A flat mapping with exactly the CSV columns; the shape's sizes are inlined."""
        own = self.__dataclass_fields__
        return {col: getattr(self if col in own else self.shape, col) for col in CSV_COLUMNS}


# The most runs one sweep designs (budgets x points per budget). The paper's sweep has 80; 10,000
# designs in about 3 s, and more would only be a command that seems to hang.
MAX_RUNS = 10_000
# The widest span either side of the law's value: 10 decades, a factor of 1e10 (the paper's grids
# span well under one); far wider, the grid's values overflow.
MAX_SPAN_DECADES = 10


@dataclass(frozen=True)
class SweepOptions:
    """Everything a sweep design depends on besides its budgets."""

    kind: str = "isoflop"
    preset: str = "current"
    points: int = DEFAULT_POINTS
    span_decades: float = DEFAULT_SPAN_DECADES
    flops_per_token: float | None = None
    lr_points: int = DEFAULT_GRID_POINTS
    lr_span_decades: float = DEFAULT_GRID_SPAN_DECADES
    batch_points: int = DEFAULT_GRID_POINTS
    batch_span_decades: float = DEFAULT_GRID_SPAN_DECADES
    warmup_steps: int = DEEPSEEK_WARMUP_STEPS
    search: SearchOptions = field(default_factory=SearchOptions)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(
                f"the sweep kind must be one of {', '.join(KINDS)}, got {self.kind!r}",
                quantity="kind",
            )
        points = {
            "points": "model sizes per budget",
            "lr_points": "learning rates",
            "batch_points": "batch sizes",
        }
        for name, what in points.items():
            if getattr(self, name) < 1:
                raise InputError(f"the number of {what} must be at least 1", quantity=name)
        if self.kind == "isoflop" and self.points < 3:
            raise InputError(
                "an IsoFLOP sweep needs at least 3 model sizes per budget: a parabola needs three "
                f"runs, got {self.points}",
                quantity="points",
            )
        spans = {
            "span_decades": "model-size span",
            "lr_span_decades": "learning-rate span",
            "batch_span_decades": "batch-size span",
        }
        for name, what in spans.items():
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"the {what} in decades must be zero or positive", quantity=name)
            if value > MAX_SPAN_DECADES:
                raise InputError(
                    f"the {what} must be at most {MAX_SPAN_DECADES} decades, got {value:g}",
                    quantity=name,
                )
        if self.kind == "isoflop" and self.span_decades <= 0:
            raise InputError(
                "the model-size span in decades must be positive for an IsoFLOP sweep",
                quantity="span_decades",
            )
        if self.warmup_steps < 0:
            raise InputError("the warm-up steps must not be negative", quantity="warmup_steps")
        per_budget = self.points if self.kind == "isoflop" else self.lr_points * self.batch_points
        if per_budget > MAX_RUNS:
            name = "points" if self.kind == "isoflop" else "lr_points"
            raise InputError(
                f"{per_budget:,} runs per budget asked for; a sweep has at most {MAX_RUNS:,}",
                quantity=name,
            )


@dataclass(frozen=True)
class Sweep:
    """A designed sweep; ``to_dict()`` is the JSON document."""

    preset: Preset
    budgets: tuple[float, ...]
    options: SweepOptions
    runs: tuple[SweepRun, ...]
    warnings: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return self.options.kind

    def to_dict(self) -> dict[str, Any]:
        o = self.options
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "preset": self.preset.id,
            "preset_source": self.preset.source,
            "budgets": list(self.budgets),
            "inputs": {
                "points": o.points,
                "span_decades": o.span_decades,
                "flops_per_token": o.flops_per_token,
                "lr_points": o.lr_points,
                "lr_span_decades": o.lr_span_decades,
                "batch_points": o.batch_points,
                "batch_span_decades": o.batch_span_decades,
                "warmup_steps": o.warmup_steps,
                "seq_len": o.search.seq_len,
                "vocab_size": o.search.vocab_size,
                "aspect_ratio": o.search.aspect_ratio,
            },
            "runs": [r.to_dict() for r in self.runs],
            "warnings": list(self.warnings),
        }


def parse_budgets(text: str, count: int) -> tuple[float, ...]:
    """Budgets from ``"1e17..3e20"`` (``count`` log-spaced, ends included) or ``"1e17,1e18"``.

    Raises:
        InputError: a budget that is not a positive number, a reversed range, a bad count.
    """
    text = text.strip()
    if ".." in text:
        lo_text, _, hi_text = text.partition("..")
        lo = parse_positive(lo_text, "the first budget of the range")
        hi = parse_positive(hi_text, "the last budget of the range")
        if hi < lo:
            raise InputError(f"a range of budgets must increase, got {text!r}", quantity="budgets")
        if hi == lo:
            return (lo,)
        if count < 2:
            raise InputError(
                f"a range of budgets needs a count of at least 2, got {count}", quantity="count"
            )
        if count > MAX_RUNS:
            raise InputError(
                f"a range of budgets holds at most {MAX_RUNS:,}, got a count of {count}",
                quantity="count",
            )
        step = math.log(hi / lo) / (count - 1)
        values = [lo * math.exp(i * step) for i in range(count)]
        values[-1] = hi  # exact end, free of rounding
        return tuple(float(f"{v:.6g}") for v in values)
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise InputError(
            "no budgets given: give a range such as 1e17..3e20 or a list such as 1e17,1e18",
            quantity="budgets",
        )
    values = sorted({parse_positive(p, "budget") for p in parts})
    return tuple(values)


def _log_grid(center: float, span_decades: float, points: int) -> list[float]:
    """``points`` values log-evenly spaced over ``center`` x 10^(+-span_decades)."""
    if points == 1:
        return [center]
    return [
        center * 10 ** (-span_decades + 2 * span_decades * i / (points - 1)) for i in range(points)
    ]


def _run(
    run_id: str,
    kind: str,
    compute_flops: float,
    target: float,
    shape: Shape,
    learning_rate: float,
    sequences: int,
    options: SweepOptions,
    warnings: list[str],
) -> SweepRun:
    shape_counts = counts(shape)
    m = shape_counts.flops_per_token
    tokens = compute_flops / m
    batch_tokens = sequences * shape.seq_len
    total = total_steps_for(tokens, batch_tokens)
    warmup, _ = clamp_warmup(options.warmup_steps, total)
    if total < MIN_STEPS:
        warnings.append(
            f"{run_id}: only {total} optimizer steps ({tokens:.3g} tokens at {batch_tokens} "
            "tokens/step); its loss will be noisy, consider a larger budget"
        )
    return SweepRun(
        run_id=run_id,
        kind=kind,
        compute_flops=compute_flops,
        target_flops_per_token=target,
        shape=shape,
        flops_per_token=m,
        tokens=tokens,
        params_non_embedding=shape_counts.params_non_embedding,
        params_total=shape_counts.params_total,
        learning_rate=learning_rate,
        batch_size_tokens=batch_tokens,
        batch_size_sequences=sequences,
        total_steps=total,
        warmup_steps=warmup,
        preset=options.preset,
    )


def design(budgets: tuple[float, ...], options: SweepOptions | None = None) -> Sweep:
    """Design an IsoFLOP or hyperparameter sweep.

    Args:
        budgets: Compute budgets C in FLOPs (C = M x D), increasing.
        options: Kind, preset, points per budget and grid spans, shape-search options.

    Returns:
        A frozen :class:`Sweep`; runs are ordered by budget, then by M (IsoFLOP) or by learning rate
        and batch size (hyperparameters). Shapes that two targets share are kept once, with a warning.

    Raises:
        InputError: no budgets, a budget that is not positive, an unknown preset, bad options.

    References:
        arXiv 2401.02954, Section 3.1 (hyperparameter grids, Figure 2) and Section 3.2 (IsoFLOP
        profiles, 8 budgets from 1e17 to 3e20 FLOPs, about 10 splits each; Eq. 1 for each run's
        hyperparameters).
    """
    options = options or SweepOptions()
    if not budgets:
        raise InputError("give at least one budget")
    per_budget = (
        options.points if options.kind == "isoflop" else (options.lr_points * options.batch_points)
    )
    if len(budgets) * per_budget > MAX_RUNS:
        raise InputError(
            f"{len(budgets)} budgets x {per_budget:,} runs each is {len(budgets) * per_budget:,} "
            f"runs; a sweep has at most {MAX_RUNS:,} (fewer budgets or points)"
        )
    for c in budgets:
        if not (math.isfinite(c) and c > 0):
            raise InputError(f"budgets must be positive finite numbers, got {c!r}")
    preset = load_preset(options.preset)
    laws = m_form(preset, "dsplan sweep")  # sweeps are designed in M and Eq. 1: refuse other laws
    budget_runs = _isoflop_budget if options.kind == "isoflop" else _grid_budget
    warnings: list[str] = []
    runs: list[SweepRun] = []
    for b, c in enumerate(budgets, start=1):
        runs.extend(budget_runs(b, c, options, laws, warnings))
    return Sweep(preset, tuple(budgets), options, tuple(runs), tuple(warnings))


def _isoflop_budget(
    b: int, c: float, options: SweepOptions, laws: MForm, warnings: list[str]
) -> list[SweepRun]:
    m_opt = laws.model_scaling(c)
    lr = laws.learning_rate(c)
    batch = laws.batch_size(c)
    seen: set[Shape] = set()
    out: list[SweepRun] = []
    for target in _log_grid(m_opt, options.span_decades, options.points):
        try:
            shape = best_shape(target, options.search).shape
        except InputError as exc:
            raise InputError(
                f"budget {c:.3g} FLOPs: {exc}; raise the budget or narrow the model-size span",
                quantity="span_decades",
            ) from None
        if shape in seen:
            continue
        seen.add(shape)
        sequences, _ = round_batch_sequences(batch / shape.seq_len)
        out.append(_run("", "isoflop", c, target, shape, lr, sequences, options, warnings))
    out.sort(key=lambda r: r.flops_per_token)
    if len(out) < options.points:
        warnings.append(
            f"budget {c:.3g} FLOPs: {options.points - len(out)} of {options.points} targets share a "
            "shape with a neighbour (the budget is small for this span); kept once"
        )
    if len(out) < 3:
        warnings.append(
            f"budget {c:.3g} FLOPs: only {len(out)} distinct shapes; `dsplan fit` needs 3 per budget"
        )
    return [replace(r, run_id=f"c{b:02d}-m{i:02d}") for i, r in enumerate(out, start=1)]


def _grid_budget(
    b: int, c: float, options: SweepOptions, laws: MForm, warnings: list[str]
) -> list[SweepRun]:
    target = options.flops_per_token or laws.model_scaling(c)
    shape = best_shape(target, options.search).shape
    seen: set[tuple[float, int]] = set()
    out: list[SweepRun] = []
    lrs = _log_grid(laws.learning_rate(c), options.lr_span_decades, options.lr_points)
    law_sequences = laws.batch_size(c) / shape.seq_len
    batches = _log_grid(law_sequences, options.batch_span_decades, options.batch_points)
    for i, lr in enumerate(lrs, start=1):
        for j, batch in enumerate(batches, start=1):
            run = _run(
                f"c{b:02d}-lr{i:02d}-bs{j:02d}",
                "hyperparameters",
                c,
                target,
                shape,
                float(f"{lr:.4g}"),
                _grid_sequences(batch, law_sequences),
                options,
                warnings,
            )
            key = (run.learning_rate, run.batch_size_sequences)
            if key in seen:
                continue
            seen.add(key)
            out.append(run)
    if len(out) < options.lr_points * options.batch_points:
        warnings.append(
            f"budget {c:.3g} FLOPs: some batch sizes round to the same number of sequences; kept once"
        )
    return out


def _grid_sequences(sequences: float, law_sequences: float) -> int:
    """A grid batch in whole sequences, rounded as the planner rounds, but never away from the law.

    Rounding the grid's outermost batch away from Eq. 1's value would take it past
    ``--batch-span-decades`` (at the default 10^0.6 = 3.98x, past `dsplan check`'s 4x error bound
    for the batch); one rounding multiple back towards the law keeps it inside.
    """
    rounded, multiple = round_batch_sequences(sequences)
    away = (rounded - sequences) * (sequences - law_sequences) > 0
    if away and rounded > sequences and rounded > multiple:
        return rounded - multiple
    if away and rounded < sequences:
        return rounded + multiple
    return rounded
