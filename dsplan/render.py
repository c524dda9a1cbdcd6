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
from dsplan.units import count, sci, si

if TYPE_CHECKING:
    from rich.console import RenderableType

    from dsplan.plan import Plan


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


def env_lines(document: dict[str, Any], prefix: str = "DSPLAN") -> str:
    """``PREFIX_PATH=value`` lines for every scalar, quoted so that ``eval`` in bash is safe."""
    import re
    import shlex

    lines = []
    for path, value in flatten(document):
        name = re.sub(r"[^A-Za-z0-9]+", "_", f"{prefix}_{path}").upper()
        lines.append(f"{name}={shlex.quote(scalar_text(value))}")
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
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
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
    """One plan as a rich table that reads at a glance."""
    from rich.table import Table
    from rich.text import Text

    a = plan.architecture
    s = a.shape
    h = plan.hyperparameters
    table = Table(
        title=f"dsplan budget {sci(plan.compute_flops)} FLOPs ({si(plan.compute_flops, 'FLOPs')})",
        show_header=False,
        title_justify="left",
        caption_justify="left",
        box=None,
        pad_edge=False,
    )
    table.add_column(style="bold")
    table.add_column()

    def section(name: str) -> None:
        table.add_row(Text(name, style="cyan"), "")

    section("Optimal allocation (Eq. 4)")
    table.add_row("  M_opt", both(plan.optimal.flops_per_token, "FLOPs/token"))
    table.add_row("  D_opt", f"{sci(plan.optimal.tokens)} tokens ({count(plan.optimal.tokens)})")
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
    section("Hyperparameters (Eq. 1)")
    table.add_row("  peak learning rate", f"{h.learning_rate:.3e}")
    table.add_row(
        "  batch size",
        f"{h.batch_size_sequences} sequences x {s.seq_len} = {count(h.tokens_per_step)} tokens "
        f"(law: {count(h.batch_size_tokens)} tokens = {h.batch_size_sequences_exact:.1f} sequences, "
        f"rounded to a multiple of {h.batch_rounding_multiple})",
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
    from rich.table import Table

    table = Table(title="dsplan budget", title_justify="left")
    for name in (
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
    ):
        table.add_column(name, justify="right", no_wrap=True)
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


def to_text(*renderables: RenderableType | str) -> str:
    """Render for stdout: styled on a terminal, plain and wide enough not to wrap when piped.

    Trailing spaces that rich pads lines with are removed, so piped output diffs cleanly.
    """
    from rich.console import Console

    con = Console(highlight=False)
    if not con.is_terminal:
        con = Console(highlight=False, width=200, no_color=True)
    with con.capture() as capture:
        for item in renderables:
            con.print(item)
    return "\n".join(line.rstrip() for line in capture.get().splitlines())


def preset_footer(plans: Sequence[Plan]) -> str:
    """The footer naming the preset(s) and their source."""
    seen: dict[str, str] = {}
    for p in plans:
        seen.setdefault(p.preset.id, p.preset.source)
    return "\n".join(f"preset {pid}: {source}" for pid, source in seen.items())
