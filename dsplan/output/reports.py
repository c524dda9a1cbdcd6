"""Text reports of ``dsplan compare``, ``dsplan sweep`` and ``dsplan fit``: documents in, text out.

No maths here: each renderer reads a result (or its JSON document) and lays it out with the tables
of :mod:`dsplan.output.table`, which never cut a number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsplan.output.table import Column, FitTable
from dsplan.units import count, sci

if TYPE_CHECKING:
    from rich.console import RenderableType

    from dsplan.fitting import FitReport, ParametricFit
    from dsplan.planning.sweep import Sweep

_AGREEMENT_STYLES = {"agrees": "green", "differs": "yellow", "diverges": "bold red"}
_SIZE_UNITS = {
    "flops_per_token": "FLOPs/tok",
    "params_total": "params",
    "params_non_embedding": "non-emb",
    "params_non_embedding_with_head": "non-emb+head",
    "tokens": "tokens",
}
COMPARE_NOTES = (
    "Params and M are those of a real shape matching each law's own prediction (never M = 6N);",
    "tokens = C / M; D/N = tokens / total params. lr and batch: the law's own hyperparameter law",
    "(- where its paper gives none). Losses are each law's own (nats, own data): not comparable",
    "across laws. Sources: dsplan presets show ID.",
)


def _opt(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def compare_text(document: dict[str, Any]) -> list[RenderableType]:
    """The ``dsplan compare`` document as text: per budget, one row per law, then the verdicts."""
    from rich.text import Text

    parts: list[RenderableType] = []
    for budget in document["budgets"]:
        columns = [Column("law", "text")] + [
            Column(name)
            for name in (
                "law's own size",
                "params",
                "M",
                "tokens",
                "D/N",
                "lr",
                "batch",
                "loss",
                "beyond fit",
                "vs median N",
            )
        ]
        table = FitTable(columns)
        for row in budget["laws"]:
            unit = _SIZE_UNITS.get(row["model_size_unit"], row["model_size_unit"])
            size = row["model_size"]
            own = f"{sci(size, 3)} {unit}" if unit == "FLOPs/tok" else f"{count(size)} {unit}"
            beyond = row["fit_orders_beyond"]
            # "-": the law publishes no hyperparameter law; "undefined": it does, not at this N.
            lr = _opt(row["learning_rate"], ".2e")
            if row["hyperparameter_law"] is not None and row["learning_rate"] is None:
                lr = "undefined"
            table.add_row(
                f"{row['id']} ({row['status']})",
                own,
                count(row["params_total"]),
                sci(row["flops_per_token"], 3),
                count(row["tokens"]),
                f"{row['tokens_per_param']:.1f}",
                lr,
                "-" if row["batch_size_tokens"] is None else count(row["batch_size_tokens"]),
                _opt(row["predicted_loss"], ".3f"),
                Text(f"{beyond:.1f} OOM", style="red" if beyond >= 1 else ""),
                Text(
                    f"{row['params_vs_median']:.2f}x {row['agreement']}",
                    style=_AGREEMENT_STYLES[row["agreement"]],
                ),
            )
        summary = budget["summary"]
        # The title on its own line: a table title is padded to the table's width.
        parts += [
            f"dsplan compare {sci(budget['compute_flops'])} FLOPs",
            table,
            Text(
                f"agree (total params within {summary['agreement_band']:.0%} of the median "
                f"{count(summary['median_params_total'])}): {', '.join(summary['agree']) or 'none'}",
                style="green",
            ),
            Text(
                f"diverge (more than {summary['divergence_factor']:g}x from the median): "
                f"{', '.join(summary['diverge']) or 'none'}",
                style="red",
            ),
        ]
        if any("inference" in row for row in budget["laws"]):
            from dsplan.output.inference import inference_compare_table

            parts.append(inference_compare_table(budget, document["inputs"]["inference_tokens"]))
        for row in budget["laws"]:
            data = row.get("data_constrained")
            if data is None:
                continue
            realloc = data["reallocated"]
            tail = (
                f"; re-allocated: {count(realloc['params_total'])} params on "
                f"{count(realloc['tokens'])} tokens ({realloc['epochs']:.1f} epochs)"
                if realloc
                else ""
            )
            parts.append(
                f"  {row['id']}: {data['epochs']:.2f} epochs of {count(data['unique_tokens'])} "
                f"unique tokens, effective {count(data['effective_tokens'])}{tail}"
            )
    parts += [Text(line, style="dim") for line in COMPARE_NOTES]
    return parts


def sweep_csv(result: Sweep) -> str:
    """The sweep as CSV: a header of :data:`dsplan.planning.sweep.CSV_COLUMNS`, one row per run.

    Numbers as in every document (:mod:`dsplan.numbers`).
    """
    from dsplan.numbers import clean
    from dsplan.planning.sweep import CSV_COLUMNS

    lines = [",".join(CSV_COLUMNS)]
    for run in result.runs:
        row = clean(run.to_dict())
        lines.append(",".join(str(row[col]) for col in CSV_COLUMNS))
    return "\n".join(lines)


def sweep_text(result: Sweep) -> list[RenderableType]:
    """The runs of a sweep, one row each."""
    columns = [Column("run", "label")] + [
        Column(name)
        for name in ("C (FLOPs)", "layers", "d_model", "M", "tokens", "LR", "batch seq", "steps")
    ]
    table = FitTable(columns, box="plain")
    for r in result.runs:
        table.add_row(
            r.run_id,
            f"{r.compute_flops:.3g}",
            str(r.shape.n_layers),
            str(r.shape.d_model),
            sci(r.flops_per_token, 3),
            count(r.tokens),
            f"{r.learning_rate:.3e}",
            str(r.batch_size_sequences),
            str(r.total_steps),
        )
    head = (
        f"{result.kind} sweep: {len(result.runs)} runs at {len(result.budgets)} budgets "
        f"(preset {result.preset.id})"
    )
    return [head, "", table]


def _ref(law: Any) -> str:
    return f"{law.coefficient:.4g} x C^{law.exponent:.4f}"


def _law_cells(law: Any) -> tuple[str, str]:
    fitted = _ref(law)
    if law.exponent_interval is None or law.coefficient_interval is None:
        return fitted, "-"
    (elo, ehi), (clo, chi) = law.exponent_interval, law.coefficient_interval
    return fitted, f"exp [{elo:.4f}, {ehi:.4f}], coef [{clo:.3g}, {chi:.3g}]"


def fit_text(result: FitReport) -> list[RenderableType]:
    """The fit report: the per-budget optima, the fitted laws beside the preset's, predictions."""
    from dsplan.laws.forms import m_form

    ref = result.reference
    ref_laws = m_form(ref, "dsplan fit")
    parts: list[RenderableType] = []
    rows: list[tuple[str, Any, str]] = []
    iso, hp = result.isoflop, result.hyperparameters
    if iso is not None:
        used = [b for b in iso.budgets if b.used]
        budgets = FitTable(
            [
                Column("C (FLOPs)"),
                Column("runs"),
                Column("M_opt (FLOPs/token)"),
                Column("D_opt (tokens)"),
                Column("L_opt"),
                Column("note", "text"),
            ],
            box="plain",
        )
        for b in iso.budgets:
            cells = (
                (f"{b.flops_per_token_opt:.4g}", f"{b.tokens_opt:.4g}", f"{b.loss_opt:.4f}")
                if b.used and b.flops_per_token_opt and b.tokens_opt and b.loss_opt
                else ("-", "-", "-")
            )
            budgets.add_row(f"{b.compute_flops:.3g}", str(b.n_runs), *cells, b.note or "")
        parts += [
            f"IsoFLOP fit of {iso.source}: {iso.n_runs} runs, {len(used)} of {len(iso.budgets)} "
            f"budgets used ({iso.fit_range.compute_min:.3g} to {iso.fit_range.compute_max:.3g} FLOPs)",
            "",
            budgets,
            "",
        ]
        rows += [
            ("M_opt = k C^a", iso.model_scaling, _ref(ref_laws.model_scaling)),
            ("D_opt = k C^b", iso.data_scaling, _ref(ref_laws.data_scaling)),
            ("L_opt = k C^g", iso.loss_scaling, "unpublished (Figure 5 only)"),
        ]
    if hp is not None:
        grid = FitTable(
            [
                Column(name)
                for name in (
                    "C (FLOPs)",
                    "runs",
                    "near",
                    "best loss",
                    "LR band",
                    "batch band (tokens)",
                )
            ],
            box="plain",
        )
        for h in hp.budgets:
            grid.add_row(
                f"{h.compute_flops:.3g}",
                str(h.n_runs),
                str(h.n_near_optimal),
                f"{h.best_loss:.4f}",
                f"{h.learning_rate_min:.3g}..{h.learning_rate_max:.3g}",
                f"{h.batch_size_tokens_min:.3g}..{h.batch_size_tokens_max:.3g}",
            )
        parts += [
            f"Hyperparameter fit of {hp.source}: {hp.n_runs} runs at {len(hp.budgets)} budgets, "
            f"near-optimal = within {hp.threshold:.2%} of each budget's best loss",
            "",
            grid,
            "",
        ]
        rows += [
            ("eta_opt = k C^e", hp.learning_rate, _ref(ref.learning_rate)),
            ("B_opt = k C^e (tokens)", hp.batch_size, _ref(ref.batch_size)),
        ]
    first = iso if iso is not None else hp
    boot = None if first is None else first.bootstrap
    interval_head = (
        f"95% interval ({boot.resamples} resamples, seed {boot.seed})"
        if boot is not None
        else "95% interval (--bootstrap N)"
    )
    laws = FitTable(
        [
            Column("law", "label"),
            Column("fitted", "text"),
            Column(interval_head, "text"),
            Column(f"preset {ref.id}", "text"),
        ],
        box="plain",
    )
    for name, law, paper in rows:
        laws.add_row(name, *_law_cells(law), paper)
        if name.startswith("L_opt") and iso is not None and iso.loss_floor_scaling is not None:
            floor = iso.loss_floor_scaling
            floor_cells = "-"
            if floor.irreducible_interval is not None and floor.exponent_interval is not None:
                (flo, fhi), (glo, ghi) = floor.irreducible_interval, floor.exponent_interval
                floor_cells = f"E [{flo:.4f}, {fhi:.4f}], exp [{glo:.4f}, {ghi:.4f}]"
            laws.add_row(
                "L_opt = E + k C^g",
                f"{floor.irreducible:.4f} + {floor.coefficient:.4g} x C^{floor.exponent:.4f}",
                floor_cells,
                "-",
            )
    parts.append(laws)
    if iso is not None:
        parts.append(
            f"a + b = {iso.model_scaling.exponent + iso.data_scaling.exponent:.4f}; "
            f"preset {ref.id}: a = {ref_laws.model_scaling.exponent}, "
            f"b = {ref_laws.data_scaling.exponent}"
        )
        parts.append(
            "curve through each profile: parabola in ln M (--curve parabola)"
            if iso.curve is None
            else f"curve through each profile: E_b + P_b / M^{iso.curve.alpha:.3f} + "
            f"Q_b / D^{iso.curve.beta:.3f} (exponents shared by the budgets)"
        )
    for p in result.predictions:
        words = [f"at C = {p.compute_flops:.3g} FLOPs:"]
        if p.flops_per_token is not None and p.tokens is not None and p.loss is not None:
            words.append(
                f"M_opt {p.flops_per_token:.4g}{_around(p.flops_per_token_interval, '.4g')} "
                f"FLOPs/token, D_opt {p.tokens:.4g}{_around(p.tokens_interval, '.4g')} tokens, "
                f"loss {p.loss:.4f}{_around(p.loss_interval, '.4f')}"
            )
        if p.learning_rate is not None and p.batch_size_tokens is not None:
            words.append(f"LR {p.learning_rate:.3e}, batch {p.batch_size_tokens:.4g} tokens")
        parts.append(" ".join(words))
    return parts


def _around(interval: tuple[float, float] | None, fmt: str) -> str:
    """`` [low, high]`` after a value, or nothing without an interval."""
    return "" if interval is None else f" [{interval[0]:{fmt}}, {interval[1]:{fmt}}]"


def _interval(interval: tuple[float, float] | None, fmt: str) -> str:
    return "-" if interval is None else f"[{interval[0]:{fmt}}, {interval[1]:{fmt}}]"


def parametric_fit_text(result: ParametricFit) -> list[RenderableType]:
    """The parametric fit: the five parameters and a, each with its interval; the allocation."""
    unit = "N" if result.x_kind == "params" else "M"
    head = (
        f"Parametric fit of {result.source}: L({unit}, D) = E + A/{unit}^alpha + B/D^beta on "
        f"{result.n_runs} runs ({result.tokens_basis})"
    )
    if result.dropped:
        head += f", {len(result.dropped)} highest-loss run(s) left out"
    starts = (
        f"Huber (delta 1e-3) on log-loss, L-BFGS-B from {result.starts_run} of "
        f"{result.starts_total} grid starts, {result.starts_converged} converged; "
        f"objective {result.objective:.6g}"
    )
    interval_head = (
        f"95% interval ({result.resamples} resamples, seed {result.seed})"
        if result.resamples
        else "95% interval (--bootstrap N)"
    )
    table = FitTable(
        [Column("parameter", "label"), Column("fitted"), Column(interval_head, "text")],
        box="plain",
    )
    for name, label, fmt in (
        ("e", "E", ".4f"),
        ("a", "A", ".5g"),
        ("b", "B", ".5g"),
        ("alpha", "alpha", ".4f"),
        ("beta", "beta", ".4f"),
    ):
        est = result.params[name]
        table.add_row(label, format(est.value, fmt), _interval(est.interval, fmt))
    a, g = result.allocation_exponent, result.allocation_coefficient
    table.add_row("a = beta/(alpha+beta)", f"{a.value:.4f}", _interval(a.interval, ".4f"))
    table.add_row("G", f"{g.value:.5g}", _interval(g.interval, ".4g"))
    per = "(C / 6)" if result.x_kind == "params" else "C"
    parts: list[RenderableType] = [
        head,
        starts,
        "",
        table,
        f"{unit}_opt = G {per}^a, D_opt = C / "
        f"{'(6 N_opt)' if result.x_kind == 'params' else 'M_opt'} "
        "(closed form, Hoffmann et al. 2022, Appendix D.2)",
    ]
    for p in result.predictions:
        parts.append(
            f"at C = {p.compute_flops:.3g} FLOPs: {unit}_opt {p.size_opt.value:.4g} "
            f"{_interval(p.size_opt.interval, '.3g')}, D_opt {p.tokens_opt.value:.4g} "
            f"{_interval(p.tokens_opt.interval, '.3g')}, D/{unit} "
            f"{p.tokens_opt.value / p.size_opt.value:.1f}, loss {p.loss_opt.value:.4f} "
            f"{_interval(p.loss_opt.interval, '.4f')}"
        )
    return parts
