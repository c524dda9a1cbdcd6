"""The ``dsplan model`` document: counts of one shape, and optionally its training compute and cost.

:func:`model_report` is what the command calls; ``ModelReport.to_dict()`` is its JSON document, and
every number the text output shows comes from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dsplan.errors import InputError
from dsplan.model.flops import Counts, Shape, counts

if TYPE_CHECKING:
    from dsplan.catalog.presets import Preset
    from dsplan.laws.hyperparameters import HyperparameterValues
    from dsplan.model.hf_config import HfConfig
    from dsplan.model.moe import MoeCounts
    from dsplan.planning.cost import Cost, Hardware

MODEL_SCHEMA_VERSION = 1
ATTENTION_CONVENTION = (
    "M = 6 x matmul weights of the blocks + 12 n_layers n_heads head_dim seq_len (12 n_layers "
    "d_model seq_len when the heads span d_model): full, unmasked attention (no halving for the "
    "causal mask), vocabulary excluded, as in Eq. 2 of arXiv 2401.02954"
)
# Where the training sequence length came from: the caller's, or dsplan's default (never a
# config.json's max_position_embeddings, which is the context window).
SEQ_LEN_SOURCES = ("given", "default")


@dataclass(frozen=True)
class ModelReport:
    """Counts of one shape, and with a token count its compute, hyperparameters and cost.

    Attributes:
        shape: The shape counted.
        counts: Its exact and Eq. 2 counts.
        seq_len_source: ``"given"`` or ``"default"`` (the shape's ``seq_len`` is dsplan's default).
        hf_config: The ``config.json`` the shape came from, if any.
        tokens: Training tokens D, if given.
        preset_id: The preset whose hyperparameter law was evaluated (with ``tokens``).
        law_id: The hyperparameter law file used; None for a preset's own Eq. 1 tables.
        hyperparameters: The law's values at C = M D (with ``tokens``).
        cost: GPU time and cost of training D tokens (with ``tokens`` and hardware).
    """

    shape: Shape
    counts: Counts
    seq_len_source: str
    hf_config: HfConfig | None = None
    tokens: float | None = None
    preset_id: str | None = None
    law_id: str | None = None
    hyperparameters: HyperparameterValues | None = None
    cost: Cost | None = None

    @property
    def compute_flops(self) -> float | None:
        """C = M D in FLOPs, with ``tokens``."""
        return None if self.tokens is None else self.counts.flops_per_token * self.tokens

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "schema_version": MODEL_SCHEMA_VERSION,
            "shape": self.shape.to_dict(),
            "block": self.shape.block.to_dict(),
            "seq_len_source": self.seq_len_source,
            **self.counts.to_dict(),
            "attention_convention": ATTENTION_CONVENTION,
        }
        if self.hf_config is not None:
            doc["hf_config"] = self.hf_config.to_dict()
        if self.tokens is not None and self.hyperparameters is not None:
            values = self.hyperparameters
            batch = values.batch_size_tokens
            doc["training"] = {
                "tokens": self.tokens,
                "compute_flops": self.compute_flops,
                "tokens_per_param": self.tokens / self.counts.params_total,
            }
            doc["hyperparameters"] = {
                "preset": self.preset_id,
                "law": self.law_id,  # None: the preset's own Eq. 1 tables
                "learning_rate": values.learning_rate,
                "batch_size_tokens": batch,
                "batch_size_sequences": None if batch is None else batch / self.shape.seq_len,
                "notes": list(values.notes),
            }
        if self.cost is not None:
            doc["cost"] = self.cost.to_dict()
        return doc


def model_report(
    shape: Shape,
    *,
    seq_len_source: str = "given",
    hf_config: HfConfig | None = None,
    tokens: float | None = None,
    preset: Preset | None = None,
    hardware: Hardware | None = None,
) -> ModelReport:
    """Count ``shape``; with ``tokens``, evaluate the preset's hyperparameter law and the cost.

    Args:
        shape: The shape (its ``seq_len`` is the training sequence length).
        seq_len_source: ``"given"`` or ``"default"``: reported, so that a reader knows whether the
            sequence length was chosen.
        hf_config: The ``config.json`` the shape was read from, reported beside the counts.
        tokens: Training tokens D.
        preset: The preset whose hyperparameter law is evaluated at C = M D (needs ``tokens``).
        hardware: Resolved hardware for the cost of D tokens (needs ``tokens``).

    Raises:
        InputError: hardware or a preset without tokens, or an unknown ``seq_len_source``.
    """
    check_report_inputs(seq_len_source, tokens, preset, hardware)
    c = counts(shape)
    if tokens is None:
        return ModelReport(shape, c, seq_len_source, hf_config)
    training = training_terms(c, tokens, preset, hardware)
    return ModelReport(shape, c, seq_len_source, hf_config, tokens=tokens, **training)


def check_report_inputs(
    seq_len_source: str, tokens: float | None, preset: Preset | None, hardware: Hardware | None
) -> None:
    """What a model report (dense or MoE) refuses before it counts anything.

    Raises:
        InputError: an unknown ``seq_len_source``, or a preset or hardware without tokens.
    """
    if seq_len_source not in SEQ_LEN_SOURCES:
        raise InputError(
            f"seq_len_source must be one of {', '.join(SEQ_LEN_SOURCES)}, got {seq_len_source!r}"
        )
    if tokens is None and (preset is not None or hardware is not None):
        raise InputError("a preset or hardware needs the training tokens D")


def training_terms(
    c: Counts | MoeCounts, tokens: float, preset: Preset | None, hardware: Hardware | None
) -> dict[str, Any]:
    """The preset's hyperparameter law at C = M D and, with hardware, the cost of D tokens.

    Returns the report fields ``preset_id``, ``law_id``, ``hyperparameters`` and ``cost``.
    """
    # The hyperparameter laws (and their preset files) load only when D is given: start-up time.
    from dsplan.catalog.presets import load_preset, resolve_hyperparameter_law
    from dsplan.laws.hyperparameters import hyperparameters_for

    p = preset if preset is not None else load_preset("current")
    law = resolve_hyperparameter_law(p)
    cost = None
    if hardware is not None:
        from dsplan.planning.cost import estimate

        cost = estimate(c, tokens, hardware)
    return {
        "preset_id": p.id,
        "law_id": None if law is None else law.id,
        "hyperparameters": hyperparameters_for(p, c.flops_per_token * tokens, c, tokens, law),
        "cost": cost,
    }
