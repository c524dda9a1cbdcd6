"""The ``dsplan model`` document of a mixture-of-experts shape: its counts, compute and cost.

The dense document (:mod:`dsplan.planning.model_report`) is left as it is; an MoE document carries
``"kind": "moe"``, the :class:`~dsplan.model.moe.MoeShape` keys and the MoE counts. Time and cost
are of the activated path (M plus the output head, as for dense); memory is of every parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dsplan.model.moe import MoeCounts, MoeShape, moe_counts
from dsplan.planning.model_report import (
    MODEL_SCHEMA_VERSION,
    check_report_inputs,
    training_terms,
)

if TYPE_CHECKING:
    from dsplan.catalog.presets import Preset
    from dsplan.laws.hyperparameters import HyperparameterValues
    from dsplan.model.hf_moe import HfMoeConfig
    from dsplan.planning.cost import Cost, Hardware

MOE_CONVENTION = (
    "M = 6 x activated matmul weights of the layers (attention, router, shared experts, top_k "
    "routed experts, dense layers) + 6 n_layers n_heads (d_qk + d_v) seq_len (GQA/MHA: d_qk = d_v "
    "= head_dim; MLA: d_qk = qk_nope_head_dim + qk_rope_head_dim, d_v = v_head_dim): full, "
    "unmasked attention, vocabulary excluded, Eq. 2 of arXiv 2401.02954 carried over to the "
    "activated path; multi-token-prediction modules excluded"
)
ACTIVATED_CONVENTION = (
    "activated = all parameters but the routed experts a token skips (n_experts - top_k per MoE "
    "layer); params_activated counts the input embedding and the output head, "
    "params_activated_with_head the output head only (DeepSeek's 36.6B for V3, gpt-oss's 3.61B), "
    "params_activated_non_embedding neither"
)


@dataclass(frozen=True)
class MoeModelReport:
    """Counts of one MoE shape, and with a token count its compute, hyperparameters and cost.

    Attributes: as :class:`~dsplan.planning.model_report.ModelReport`, with an
    :class:`~dsplan.model.moe.MoeShape` and :class:`~dsplan.model.moe.MoeCounts`.
    """

    shape: MoeShape
    counts: MoeCounts
    seq_len_source: str
    hf_config: HfMoeConfig | None = None
    tokens: float | None = None
    preset_id: str | None = None
    law_id: str | None = None
    hyperparameters: HyperparameterValues | None = None
    cost: Cost | None = None

    @property
    def compute_flops(self) -> float | None:
        """C = M D in FLOPs (M of the activated path), with ``tokens``."""
        return None if self.tokens is None else self.counts.flops_per_token * self.tokens

    def to_dict(self) -> dict[str, Any]:
        c = self.counts
        doc: dict[str, Any] = {
            "schema_version": MODEL_SCHEMA_VERSION,
            "kind": "moe",
            "shape": self.shape.to_dict(),
            "block": self.shape.block.to_dict(),
            "seq_len_source": self.seq_len_source,
            **c.to_dict(),
            "params_activated_with_head": c.params_activated_non_embedding
            + self.shape.vocab_size * self.shape.d_model,
            "attention_convention": MOE_CONVENTION,
            "activated_convention": ACTIVATED_CONVENTION,
        }
        if self.hf_config is not None:
            doc["hf_config"] = self.hf_config.to_dict()
        if self.tokens is not None and self.hyperparameters is not None:
            values = self.hyperparameters
            batch = values.batch_size_tokens
            doc["training"] = {
                "tokens": self.tokens,
                "compute_flops": self.compute_flops,
                "tokens_per_param": self.tokens / c.params_total,
                "tokens_per_activated_param": self.tokens / c.params_activated,
            }
            doc["hyperparameters"] = {
                "preset": self.preset_id,
                "law": self.law_id,
                "learning_rate": values.learning_rate,
                "batch_size_tokens": batch,
                "batch_size_sequences": None if batch is None else batch / self.shape.seq_len,
                "notes": list(values.notes),
            }
        if self.cost is not None:
            doc["cost"] = self.cost.to_dict()
        return doc


def moe_model_report(
    shape: MoeShape,
    *,
    seq_len_source: str = "given",
    hf_config: HfMoeConfig | None = None,
    tokens: float | None = None,
    preset: Preset | None = None,
    hardware: Hardware | None = None,
) -> MoeModelReport:
    """Count ``shape``; with ``tokens``, the preset's hyperparameter law at C = M D and the cost.

    The hyperparameter law is evaluated at the activated compute C = M D (an assumption: DeepSeek
    publishes its Eq. 1 for dense models); a law that reads N reads the total parameters.

    Raises:
        InputError: hardware or a preset without tokens, or an unknown ``seq_len_source``.
    """
    check_report_inputs(seq_len_source, tokens, preset, hardware)
    c = moe_counts(shape)
    if tokens is None:
        return MoeModelReport(shape, c, seq_len_source, hf_config)
    training = training_terms(c, tokens, preset, hardware)
    return MoeModelReport(shape, c, seq_len_source, hf_config, tokens=tokens, **training)
