"""The fit report, predictions at other budgets, and the fit written as a preset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dsplan.catalog.presets import FitRange, Preset
from dsplan.errors import InputError
from dsplan.fitting.hyperparameters import HyperparameterFit
from dsplan.fitting.isoflop import IsoFlopFit
from dsplan.fitting.parametric import PARAMS, ParametricFit
from dsplan.io import toml_string
from dsplan.laws.forms import m_form
from dsplan.numbers import text as number_text

SCHEMA_VERSION = 1
# Our threshold for the extrapolation warning, not the paper's.
EXTRAPOLATION_WARN_ORDERS = 1.0


@dataclass(frozen=True)
class Prediction:
    """The fitted laws at one compute budget."""

    compute_flops: float
    orders_beyond: float
    flops_per_token: float | None
    tokens: float | None
    loss: float | None
    learning_rate: float | None
    batch_size_tokens: float | None
    # The pure power law's L_opt (`loss` is that of the law with a floor, when there is one).
    loss_power_law: float | None = None
    # 95% bootstrap intervals of the three (None without a bootstrap).
    flops_per_token_interval: tuple[float, float] | None = None
    tokens_interval: tuple[float, float] | None = None
    loss_interval: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class FitReport:
    """Everything ``dsplan fit`` found; ``to_dict()`` is the JSON document."""

    isoflop: IsoFlopFit | None
    hyperparameters: HyperparameterFit | None
    reference: Preset
    predictions: tuple[Prediction, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        ref = m_form(self.reference, "dsplan fit")
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "reference": {
                "preset": self.reference.id,
                "source": self.reference.source,
                "model_scaling": ref.model_scaling.to_dict(),
                "data_scaling": ref.data_scaling.to_dict(),
                "learning_rate": ref.learning_rate.to_dict(),
                "batch_size": ref.batch_size.to_dict(),
            },
            "predictions": [p.to_dict() for p in self.predictions],
            "warnings": list(self.warnings),
        }
        iso, hp = self.isoflop, self.hyperparameters
        if iso is not None:
            doc.update(
                {
                    "source": iso.source,
                    "n_runs": iso.n_runs,
                    "model_scaling": iso.model_scaling.to_dict(),
                    "data_scaling": iso.data_scaling.to_dict(),
                    "loss_scaling": iso.loss_scaling.to_dict(),
                    "isoflop_curve": (
                        {"form": "parabola in ln M and in ln D per budget"}
                        if iso.curve is None
                        else iso.curve.to_dict()
                    ),
                    "loss_floor_scaling": (
                        None if iso.loss_floor_scaling is None else iso.loss_floor_scaling.to_dict()
                    ),
                    "budgets": [b.to_dict() for b in iso.budgets],
                    "fit_range": iso.fit_range.to_dict(),
                    "bootstrap": None if iso.bootstrap is None else iso.bootstrap.to_dict(),
                }
            )
        if hp is not None:
            doc.update(
                {
                    "hyperparameter_source": hp.source,
                    "hyperparameter_n_runs": hp.n_runs,
                    "learning_rate": hp.learning_rate.to_dict(),
                    "batch_size": hp.batch_size.to_dict(),
                    "near_optimal_threshold": hp.threshold,
                    "hyperparameter_budgets": [b.to_dict() for b in hp.budgets],
                    "hyperparameter_fit_range": hp.fit_range.to_dict(),
                    "hyperparameter_bootstrap": (
                        None if hp.bootstrap is None else hp.bootstrap.to_dict()
                    ),
                }
            )
        return doc


def _loss_opt(isoflop: IsoFlopFit, compute_flops: float) -> float:
    """L_opt at C: the law with an irreducible term, or the pure power law without one."""
    floor = isoflop.loss_floor_scaling
    return isoflop.loss_scaling(compute_flops) if floor is None else floor(compute_flops)


def _loss_interval(isoflop: IsoFlopFit, compute_flops: float) -> tuple[float, float] | None:
    floor = isoflop.loss_floor_scaling
    law = isoflop.loss_scaling if floor is None else floor
    return law.interval_at(compute_flops)


def predict(
    isoflop: IsoFlopFit | None, hyperparameters: HyperparameterFit | None, compute_flops: float
) -> tuple[Prediction, list[str]]:
    """The fitted laws at ``compute_flops``, with a warning when that is far outside the fit range."""
    ranges = [f.fit_range for f in (isoflop, hyperparameters) if f is not None]
    lo = min(r.compute_min for r in ranges if r.compute_min is not None)
    hi = max(r.compute_max for r in ranges if r.compute_max is not None)
    beyond = FitRange(lo, hi).orders_beyond(compute_flops)
    warnings = []
    if beyond > EXTRAPOLATION_WARN_ORDERS:
        warnings.append(
            f"prediction at {compute_flops:.3g} FLOPs lies {beyond:.1f} orders of magnitude outside "
            f"the fitted budgets ({lo:.3g} to {hi:.3g} FLOPs): an extrapolation"
        )
    return (
        Prediction(
            compute_flops=compute_flops,
            orders_beyond=beyond,
            flops_per_token=None if isoflop is None else isoflop.model_scaling(compute_flops),
            tokens=None if isoflop is None else isoflop.data_scaling(compute_flops),
            loss=None if isoflop is None else _loss_opt(isoflop, compute_flops),
            learning_rate=(
                None if hyperparameters is None else hyperparameters.learning_rate(compute_flops)
            ),
            batch_size_tokens=(
                None if hyperparameters is None else hyperparameters.batch_size(compute_flops)
            ),
            loss_power_law=None if isoflop is None else isoflop.loss_scaling(compute_flops),
            flops_per_token_interval=(
                None if isoflop is None else isoflop.model_scaling.interval_at(compute_flops)
            ),
            tokens_interval=(
                None if isoflop is None else isoflop.data_scaling.interval_at(compute_flops)
            ),
            loss_interval=None if isoflop is None else _loss_interval(isoflop, compute_flops),
        ),
        warnings,
    )


def report(
    isoflop: IsoFlopFit | None,
    hyperparameters: HyperparameterFit | None,
    reference: Preset,
    predict_at: Sequence[float] = (),
    extra_warnings: Sequence[str] = (),
) -> FitReport:
    """Gather the fits, the reference preset and predictions into one :class:`FitReport`."""
    if isoflop is None and hyperparameters is None:
        raise InputError("nothing to fit: give an IsoFLOP or a hyperparameter results file")
    warnings = list(extra_warnings)
    for f in (isoflop, hyperparameters):
        if f is not None:
            warnings.extend(f.warnings)
    predictions = []
    for c in predict_at:
        p, w = predict(isoflop, hyperparameters, c)
        predictions.append(p)
        warnings.extend(w)
    return FitReport(isoflop, hyperparameters, reference, tuple(predictions), tuple(warnings))


def preset_toml(fit: FitReport, preset_id: str, base: Preset) -> str:
    """The fit as a preset file (schema version 1) that ``dsplan budget --preset FILE`` loads.

    Laws that were not fitted are carried from ``base`` and the file's ``notes`` say which.
    """
    iso, hp = fit.isoflop, fit.hyperparameters
    sources, notes, kinds = [], [], []
    if iso is not None:
        kinds.append("IsoFLOP")
        model, data, alloc_range = (
            iso.model_scaling.power_law(),
            iso.data_scaling.power_law(),
            iso.fit_range,
        )
        sources.append(f"dsplan fit of IsoFLOP results {iso.source} ({iso.n_runs} runs)")
    else:
        base_laws = m_form(base, "dsplan fit")
        model, data, alloc_range = base_laws.model_scaling, base_laws.data_scaling, base.fit_range
        notes.append(
            f"model_scaling, data_scaling and fit_range are not fitted: carried from preset "
            f"{base.id!r} ({base.source})"
        )
    if hp is not None:
        kinds.append("hyperparameters")
        lr, batch, hp_range = hp.learning_rate.power_law(), hp.batch_size.power_law(), hp.fit_range
        sources.append(
            f"dsplan fit of hyperparameter results {hp.source} ({hp.n_runs} runs, near-optimal "
            f"within {hp.threshold:.2%})"
        )
    else:
        base_hp = m_form(base, "dsplan fit")
        lr, batch = base_hp.learning_rate, base_hp.batch_size
        hp_range = base.hyperparameter_fit_range or base.fit_range
        notes.append(
            f"learning_rate and batch_size are not fitted: carried from preset {base.id!r} "
            f"({base.source})"
        )
    lines = [
        "# Written by `dsplan fit`: laws fitted to your own sweep.",
        "schema_version = 1",
        f"id = {toml_string(preset_id)}",
        f"description = {toml_string('Laws fitted by dsplan fit (' + ', '.join(kinds) + ')')}",
        f"source = {toml_string('; '.join(sources))}",
    ]
    if notes:
        lines.append(f"notes = {toml_string(' '.join(n + '.' for n in notes))}")
    for table, law, comment in (
        ("model_scaling", model, "M_opt = coefficient * C ** exponent, FLOPs per token"),
        ("data_scaling", data, "D_opt = coefficient * C ** exponent, tokens"),
        ("learning_rate", lr, "peak learning rate = coefficient * C ** exponent"),
        ("batch_size", batch, "tokens = coefficient * C ** exponent"),
    ):
        lines += [
            "",
            f"[{table}]    # {comment}",
            f"coefficient = {number_text('coefficient', law.coefficient)}",
            f"exponent = {number_text('exponent', law.exponent)}",
        ]
    floor = None if iso is None else iso.loss_floor_scaling
    if floor is not None:
        lines += [
            "",
            "[loss_opt]    # L_opt = irreducible + coefficient * C ** exponent, the loss at M_opt",
        ]
        lines += [
            f"{key} = {number_text(key, value)}"
            for key, value in (
                ("irreducible", floor.irreducible),
                ("coefficient", floor.coefficient),
                ("exponent", floor.exponent),
            )
        ]
    for table, rng in (("fit_range", alloc_range), ("hyperparameter_fit_range", hp_range)):
        lines += ["", f"[{table}]    # FLOPs"]
        # TOML has no null: a bound the base preset does not state is left out.
        lines += [
            f"{key} = {number_text(key, value)}"
            for key, value in (("compute_min", rng.compute_min), ("compute_max", rng.compute_max))
            if value is not None
        ]
    return "\n".join(lines) + "\n"


# What a ``params`` column can count: the conventions of the presets' ``predicts`` (docs/laws.md).
PARAMS_CONVENTIONS = ("params_total", "params_non_embedding", "params_non_embedding_with_head")


def parametric_preset_toml(
    fit: ParametricFit, preset_id: str, params_convention: str = "params_total"
) -> str:
    """The fitted law as a preset with a ``[loss]`` table that ``dsplan budget --preset`` loads.

    Parameters predict ``params_convention``: what the file's ``params`` column counts is the
    user's to say (Chinchilla's, the default, is the total count). M predicts ``flops_per_token``
    with C = M D.
    """
    if params_convention not in PARAMS_CONVENTIONS:
        raise InputError(
            f"the parameter convention must be one of {', '.join(PARAMS_CONVENTIONS)}, "
            f"got {params_convention!r}",
            quantity="params_convention",
        )
    predicts = params_convention if fit.x_kind == "params" else "flops_per_token"
    unit = "N" if fit.x_kind == "params" else "M"
    lines = [
        "# Written by `dsplan fit --parametric`: a loss law fitted to your own runs.",
        "schema_version = 1",
        f"id = {toml_string(preset_id)}",
        "description = "
        + toml_string(f"Parametric loss L({unit}, D) fitted by dsplan fit --parametric"),
        "source = "
        + toml_string(
            f"dsplan fit --parametric of {fit.source} ({fit.n_runs} runs; Huber delta 1e-3 on "
            "log-loss, L-BFGS-B from Hoffmann's grid, after Besiroglu et al. 2024)"
        ),
        f"predicts = {toml_string(predicts)}",
        'form = "parametric_loss"',
        "",
        f"[loss]             # L({unit}, D) = e + a / {unit} ** alpha + b / D ** beta",
    ]
    lines += [f"{k} = {number_text(k, fit.value(k))}" for k in PARAMS]
    lines += ["", "[fit_range]        # the runs the law was fitted on"]
    lines += [f"{k} = {number_text(k, v)}" for k, v in fit.fit_range.to_dict().items()]
    return "\n".join(lines) + "\n"
