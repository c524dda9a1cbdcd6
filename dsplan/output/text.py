"""Turn result dictionaries into the output formats: JSON fields, env lines, and rich text.

No maths here. rich is imported inside the text renderers only, so the JSON and env paths of the
common commands stay fast.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from dsplan.errors import InputError
from dsplan.output.table import Column, FitTable, Styled
from dsplan.units import count, sci, si

if TYPE_CHECKING:
    from rich.console import RenderableType

    from dsplan.catalog.presets import FitRange, Preset
    from dsplan.planning.plan import Plan


def flatten(document: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar of a nested dict/list as ``(dotted.path, value)``, lists indexed by position."""
    if isinstance(document, dict):
        for key in sorted(document):
            yield from flatten(document[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(document, (list, tuple)):
        for i, item in enumerate(document):
            yield from flatten(item, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, document


def scalar_text(value: Any) -> str:
    """A scalar as a shell script wants it: bare numbers, bare strings, ``true``/``false``, empty for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (int, str)):
        return str(value)
    return json.dumps(value, sort_keys=True, allow_nan=False)


def env_lines(document: dict[str, Any], prefix: str = "DSPLAN", *, export: bool = False) -> str:
    """``PREFIX_PATH=value`` lines for every scalar, quoted so that ``eval`` in bash is safe.

    Numbers are written by :func:`dsplan.numbers.clean`, so whole quantities are integers
    that shell arithmetic takes (``$((DSPLAN_TRAINING_TOKENS / 2))``). With ``export``, each line is
    ``export NAME=value``: the variables reach the programs a run script starts.
    """
    import re
    import shlex

    from dsplan.numbers import clean

    lead = "export " if export else ""
    lines = []
    for path, value in flatten(clean(document)):
        name = re.sub(r"[^A-Za-z0-9]+", "_", f"{prefix}_{path}").upper()
        lines.append(f"{lead}{name}={shlex.quote(scalar_text(value))}")
    return "\n".join(lines)


def get_field(document: Any, path: str) -> Any:
    """The value at a dotted path (``hyperparameters.learning_rate``, ``schedule.milestones.0.step``).

    Raises:
        InputError: no such field; the message lists the keys available at the level that failed.
    """
    node = document
    walked: list[str] = []
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isascii() and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            where = ".".join(walked) or "the top level"
            if isinstance(node, dict):
                import difflib

                close = difflib.get_close_matches(part, list(node), n=1)
                hint = f"did you mean {'.'.join([*walked, close[0]])}? " if close else ""
                keys = ", ".join(sorted(node))
                raise InputError(f"unknown field {path!r}: {hint}keys at {where}: {keys}")
            if isinstance(node, list):
                raise InputError(f"unknown field {path!r}: {where} is a list of {len(node)} items")
            raise InputError(f"unknown field {path!r}: {where} is a value, not a table")
        walked.append(part)
    return node


def field_text(value: Any) -> str:
    """A field's value, bare for scalars and JSON for tables and lists."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, allow_nan=False)
    return scalar_text(value)


def both(value: float, unit: str) -> str:
    """``1.2e21 FLOPs (1.2 ZFLOPs)``: exact digits for copying, SI prefix for reading."""
    return f"{sci(value)} {unit} ({si(value, unit)})"


def plan_text(plan: Plan) -> RenderableType:
    """One plan as a table that reads at a glance."""
    a = plan.architecture
    s = a.shape
    h = plan.hyperparameters
    table = FitTable(
        [Column("", "text", style="bold"), Column("", "text")],
        title=f"dsplan budget {sci(plan.compute_flops)} FLOPs ({si(plan.compute_flops, 'FLOPs')})",
        box=None,
    )

    def section(name: str) -> None:
        table.add_row(Styled(name, "cyan"), "")

    o = plan.optimal
    if o.model_size_unit == "flops_per_token":
        # An inference-aware plan's M and D are the least-FLOPs pair at its loss, not Eq. 4's.
        aware = plan.inference is not None
        section("Allocation (inference-aware)" if aware else "Optimal allocation (Eq. 4)")
        table.add_row("  M*" if aware else "  M_opt", both(o.flops_per_token, "FLOPs/token"))
        table.add_row("  D*" if aware else "  D_opt", f"{sci(o.tokens)} tokens ({count(o.tokens)})")
    else:
        section(f"Allocation ({plan.preset.id})")
        size = o.model_size or 0.0
        table.add_row("  law predicts", f"{sci(size)} {o.model_size_unit} ({count(size)})")
        law_d = o.law_tokens or 0.0
        table.add_row(
            "  law's own D", f"{sci(law_d)} tokens ({count(law_d)}; {o.law_tokens_basis})"
        )
        table.add_row("  M (matching shape)", both(o.flops_per_token, "FLOPs/token"))
        table.add_row(
            "  D = C / M",
            f"{sci(o.tokens)} tokens ({count(o.tokens)}), {o.tokens / law_d:.2f}x the law's D",
        )
    section("Architecture (exact counts)")
    table.add_row(
        "  shape",
        f"{s.n_layers} layers x {s.d_model} wide (d/L {s.aspect_ratio:.0f}), {s.n_heads} heads of "
        f"{s.head_dim}, {s.n_kv_heads} KV heads, d_ff {s.d_ff}",
    )
    table.add_row(
        "  M of shape",
        f"{both(a.flops_per_token, 'FLOPs/token')}, {a.flops_per_token_error:+.2%} vs M_opt",
    )
    table.add_row(
        "  parameters",
        f"{count(a.counts.params_total)} total, {count(a.counts.params_non_embedding)} non-embedding "
        f"(vocab {s.vocab_size}, untied)"
        if not s.tied_embeddings
        else f"{count(a.counts.params_total)} total (tied embeddings)",
    )
    section("Training")
    table.add_row(
        "  tokens",
        f"{sci(plan.training.tokens)} ({count(plan.training.tokens)}), "
        f"{plan.training.tokens_per_param:.1f} tokens/parameter",
    )
    hlaw = plan.hyperparameter_law
    section(
        "Hyperparameters (Eq. 1)" if hlaw is None else f"Hyperparameters ({hlaw.id}, {hlaw.status})"
    )
    table.add_row("  peak learning rate", f"{h.learning_rate:.3e}")
    table.add_row(
        "  batch size",
        f"{h.batch_size_sequences} sequences x {s.seq_len} = {count(h.tokens_per_step)} tokens "
        f"(law: {count(h.batch_size_tokens)} tokens = {h.batch_size_sequences_exact:.1f} sequences, "
        f"rounded to a multiple of {h.batch_rounding_multiple})",
    )
    if plan.data is not None:
        dc = plan.data
        section("Data (Muennighoff 2023)")
        table.add_row(
            "  epochs",
            f"{dc.epochs:.2f} of {count(dc.unique_tokens)} unique tokens; effective data "
            f"{count(dc.effective_tokens)} ({dc.value_per_token:.2f} per token seen)",
        )
        if dc.reallocated_counts is not None and dc.reallocated_shape is not None:
            rs = dc.reallocated_shape
            table.add_row(
                "  re-allocated",
                f"{rs.n_layers} layers x {rs.d_model} wide, {count(dc.reallocated_counts.params_total)} "
                f"params on {count(dc.reallocated_tokens or 0.0)} tokens "
                f"({dc.reallocated_epochs or 0.0:.1f} epochs, model x{dc.reallocation_factor or 1.0:.2f})",
            )
    sched = plan.schedule
    section("Schedule (multi-step, Section 2.3)")
    table.add_row("  steps", f"{sched.total_steps:,} ({sched.warmup_steps:,} warm-up)")
    for m in sched.milestones:
        table.add_row(
            f"  {m.name}",
            f"step {m.step:>9,}  {count(m.tokens):>7} tokens  lr {m.learning_rate:.3e}",
        )
    return table


def plans_table(plans: Sequence[Plan]) -> RenderableType:
    """Several plans, one row each."""
    names = (
        "C (FLOPs)",
        "M_opt",
        "D_opt",
        "shape (L x d)",
        "params",
        "tokens",
        "lr",
        "batch (seq)",
        "steps",
        "beyond fit",
    )
    table = FitTable([Column(name) for name in names], title="dsplan budget")
    for p in plans:
        s = p.architecture.shape
        table.add_row(
            sci(p.compute_flops, 3),
            si(p.optimal.flops_per_token),
            count(p.optimal.tokens),
            f"{s.n_layers} x {s.d_model}",
            count(p.architecture.counts.params_total),
            count(p.training.tokens),
            f"{p.hyperparameters.learning_rate:.2e}",
            str(p.hyperparameters.batch_size_sequences),
            f"{p.schedule.total_steps:,}",
            f"{p.fit.allocation_orders_beyond:.1f} dex" if p.fit.allocation_orders_beyond else "-",
        )
    return table


def preset_footer(plans: Sequence[Plan]) -> str:
    """The footer naming the preset(s) and their source."""
    seen: dict[str, str] = {}
    for p in plans:
        seen.setdefault(p.preset.id, p.preset.source)
    return "\n".join(f"preset {pid}: {source}" for pid, source in seen.items())


def presets_table(presets: Sequence[Preset]) -> RenderableType:
    """The law presets, one row each."""
    columns = [Column("id", "label")] + [
        Column(name, "text")
        for name in ("predicts", "law", "fit range", "status", "hyperparameters")
    ]
    table = FitTable(columns, title="dsplan presets")
    for p in presets:
        table.add_row(
            p.id,
            p.predicts,
            law_formula(p),
            fit_range_text(p.fit_range),
            "assumed (see show)" if p.status_label == "assumption" else p.status_label,
            p.hyperparameter_law_id or "own (Eq. 1)",
        )
    return table


def preset_lines(p: Preset) -> str:
    """One preset as plain text: its laws, fit range, status, provenance and file."""
    lines = [
        f"{p.id}: {p.description}",
        f"  source:        {p.source}",
        f"  predicts:      {p.predicts} ({p.form})",
        f"  law:           {law_formula(p)}",
    ]
    if p.learning_rate is not None and p.batch_size is not None:
        lines += [
            f"  learning rate  = {p.learning_rate.coefficient} * C ^ {p.learning_rate.exponent}",
            f"  batch size     = {p.batch_size.coefficient} * C ^ {p.batch_size.exponent}  (tokens)",
        ]
    else:
        lines.append(f"  hyperparameters: {p.hyperparameter_law_id} (presets/hyperparameters/)")
    if p.own_hyperparameters is not None:
        lines.append(
            f"  paper's own hyperparameter law: {p.own_hyperparameters} "
            f"(--hyperparameters {p.own_hyperparameters}; shown by dsplan compare)"
        )
    lines += [
        f"  fit range:     {fit_range_text(p.fit_range)}",
        f"  status:        {p.status_label}",
    ]
    if p.hyperparameter_fit_range:
        lines.append(f"  hyperparameter fit range: {fit_range_text(p.hyperparameter_fit_range)}")
    if p.verification:
        lines.append(f"  verification:  {p.verification}")
    if p.assumption:
        lines.append(f"  ASSUMPTION:    {p.assumption}")
    if p.notes:
        lines.append(f"  notes:         {p.notes}")
    lines.append(f"  file:          {p.path}")
    return "\n".join(lines)


def law_formula(p: Preset) -> str:
    """The allocation law in one line, in the law's own units."""
    if p.form == "parametric_loss" and p.loss is not None:
        lo = p.loss
        return (
            f"L = {lo.e:.4g} + {lo.a:.5g}/N^{lo.alpha:.4g} + {lo.b:.5g}/D^{lo.beta:.4g}, "
            "argmin on C = 6ND"
        )
    if p.form == "fixed_ratio" and p.tokens_per_param is not None:
        return f"D = {p.tokens_per_param:g} N, C = 6ND"
    c = "C_min[PF-days]" if p.compute_unit == "pf_days" else "C"
    if p.compute_fraction != 1.0:
        c += f" (= {p.compute_fraction:g} C)"
    laws = (
        ("M_opt" if p.predicts == "flops_per_token" else "N_opt", p.model_scaling),
        ("D_opt", p.data_scaling),
    )
    return "; ".join(
        f"{name} = {law.coefficient:.5g} {c}^{law.exponent:.5g}"
        for name, law in laws
        if law is not None
    )


def fit_range_text(r: FitRange) -> str:
    """``1e+17 to 3e+20 FLOPs; 7e+07 to 1.6e+10 params``: only the bounds the paper states."""
    parts = []
    for name, unit in (("compute", "FLOPs"), ("params", "params"), ("tokens", "tokens")):
        lo, hi = getattr(r, f"{name}_min"), getattr(r, f"{name}_max")
        if lo is None and hi is None:
            continue
        lo_text = "?" if lo is None else f"{lo:.2g}"
        hi_text = "?" if hi is None else f"{hi:.2g}"
        parts.append(f"{lo_text} to {hi_text} {unit}")
    return "; ".join(parts)
