"""Sweep results as a fit reads them: the columns each kind of fit needs, validated cell by cell."""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dsplan.errors import InputError, SweepDataError

KINDS = ("isoflop", "hyperparameters")
# Rows converted and checked together (numpy); a block with a bad cell is redone row by row.
FLUSH_ROWS = 65_536
ISOFLOP_COLUMNS = ("compute_flops", "flops_per_token", "tokens", "loss")
HYPERPARAMETER_COLUMNS = ("compute_flops", "loss", "learning_rate", "batch_size_tokens")
# The parametric fit (fitting/parametric.py) reads the model size as ``params`` or
# ``flops_per_token`` and the tokens as ``tokens`` or ``compute_flops`` (C = 6ND or C = MD).
ALL_COLUMNS = (*ISOFLOP_COLUMNS, "learning_rate", "batch_size_tokens", "params")


@dataclass(frozen=True)
class SweepData:
    """Validated sweep results: one entry per run, in file order (NaN losses already dropped)."""

    source: str
    lines: tuple[int, ...]
    columns: Mapping[str, tuple[float, ...]]
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, name: str) -> tuple[float, ...]:
        return self.columns[name]


def parse_column_map(items: Sequence[str]) -> dict[str, str]:
    """``["loss=val_bpb"]`` -> ``{"loss": "val_bpb"}``: our column name = the name in the file.

    Raises:
        InputError: an item without ``=``, or a name dsplan does not read.
    """
    mapping: dict[str, str] = {}
    for item in items:
        ours, sep, theirs = item.partition("=")
        ours, theirs = ours.strip(), theirs.strip()
        if not sep or not ours or not theirs:
            raise InputError(
                f"a column mapping is OURS=THEIRS such as loss=val_bpb, got {item!r}",
                quantity="column",
            )
        if ours not in ALL_COLUMNS:
            raise InputError(
                f"unknown column {ours!r} in a column mapping; dsplan reads "
                f"{', '.join(ALL_COLUMNS)}",
                quantity="column",
            )
        mapping[ours] = theirs
    return mapping


def budget_key(compute_flops: float) -> float:
    """Runs whose budgets agree to 6 significant digits belong to the same IsoFLOP profile."""
    return float(f"{compute_flops:.6g}")


def sweep_data(
    header: Sequence[str],
    rows: Iterable[tuple[int, Mapping[str, str]]],
    source: str,
    *,
    kind: str = "isoflop",
    column_map: Mapping[str, str] | None = None,
    keep: Sequence[str] | None = None,
) -> SweepData:
    """Check the cells of a results table and keep the columns a fit of ``kind`` needs.

    ``keep`` names the columns to keep instead of those of ``kind``; such a table (the parametric
    fit's) has no budgets, so it is not required to hold two of them.

    A loss of ``nan`` (a diverged or unfinished run) drops that run, with a warning; any other cell
    that is not a positive finite number (an empty cell included) is refused.

    Raises:
        SweepDataError: a missing column, a bad cell (naming its row, line and column), or fewer
            than 2 distinct budgets.
    """
    if kind not in KINDS:
        raise InputError(
            f"the results kind must be one of {', '.join(KINDS)}, got {kind!r}", quantity="kind"
        )
    column_map = dict(column_map or {})
    if keep is not None:
        needed: Sequence[str] = tuple(keep)
    else:
        needed = ISOFLOP_COLUMNS if kind == "isoflop" else HYPERPARAMETER_COLUMNS
    present = set(header)
    for ours in needed:
        theirs = column_map.get(ours, ours)
        if theirs not in present:
            mapped = f" (mapped from {ours!r})" if theirs != ours else ""
            raise SweepDataError(
                f"{source}: missing column {theirs!r}{mapped}; the header has "
                f"{', '.join(header) or 'nothing'} (map another name to it: {ours}=NAME)",
                quantity="column",
            )
        if header.count(theirs) > 1:
            raise SweepDataError(
                f"{source}: column {theirs!r} appears {header.count(theirs)} times in the header; "
                "rename all but one"
            )
    pairs = [(ours, column_map.get(ours, ours)) for ours in needed]
    theirs_all = [theirs for _, theirs in pairs]
    columns = [array("d") for _ in needed]  # 8 bytes a value: a million runs fit in 32 MB
    lines = array("q")
    dropped: list[str] = []
    inf = math.inf

    def drop_or_refuse(row_number: int, line: int, cells: Mapping[str, str]) -> None:
        """A row the fast path did not take: drop it (a NaN loss) or refuse its first bad cell."""
        for ours, theirs in pairs:
            text = cells.get(theirs, "")
            where = f"{source}, row {row_number} (line {line}), column {theirs!r}"
            try:
                value = float(text)
            except ValueError:
                raise SweepDataError(f"{where}: not a number: {text!r}") from None
            if ours == "loss" and math.isnan(value):
                dropped.append(f"{row_number} (line {line})")
                return
            if not math.isfinite(value) or value <= 0:
                raise SweepDataError(f"{where}: must be a positive finite number, got {text!r}")

    def take(row_number: int, line: int, texts: Sequence[str]) -> None:
        """One row the slow way: keep it, drop it (a NaN loss) or refuse its first bad cell."""
        try:
            parsed = [float(text) for text in texts]
        except ValueError:
            parsed = [-1.0]
        if all(0 < value < inf for value in parsed):  # False for NaN
            lines.append(line)
            for column, value in zip(columns, parsed, strict=True):
                column.append(value)
        else:
            drop_or_refuse(row_number, line, dict(zip(theirs_all, texts, strict=True)))

    def flush(first_row: int, chunk_lines: list[int], chunk: list[tuple[str, ...]]) -> None:
        """A block of rows at C speed when every cell is good, else row by row (same errors)."""
        import numpy as np

        texts = list(zip(*chunk, strict=True))
        try:
            converted = [array("d", map(float, column)) for column in texts]
        except ValueError:
            converted = []
        if converted:
            ok = np.ones(len(chunk), dtype=bool)
            for column in converted:
                values = np.frombuffer(column, dtype=np.float64)
                ok &= (values > 0) & (values < inf)
            if ok.all():
                lines.extend(chunk_lines)
                for target, column in zip(columns, converted, strict=True):
                    target.extend(column)
                return
        for k, (line, row) in enumerate(zip(chunk_lines, chunk, strict=True)):
            take(first_row + k, line, row)

    cells_of = operator.itemgetter(*theirs_all) if len(theirs_all) > 1 else None
    chunk_lines: list[int] = []
    chunk: list[tuple[str, ...]] = []
    first_row = 1
    for row_number, (line, cells) in enumerate(rows, start=1):
        try:
            texts = cells_of(cells) if cells_of is not None else (cells[theirs_all[0]],)
        except KeyError:  # a short row: its missing cells read as empty
            texts = tuple(cells.get(theirs, "") for theirs in theirs_all)
        chunk_lines.append(line)
        chunk.append(texts)
        if len(chunk) == FLUSH_ROWS:
            flush(first_row, chunk_lines, chunk)
            first_row = row_number + 1
            chunk_lines, chunk = [], []
    if chunk:
        flush(first_row, chunk_lines, chunk)
    values = dict(zip(needed, columns, strict=True))
    warnings = []
    if dropped:
        warnings.append(
            f"{source}: dropped {len(dropped)} run(s) whose loss is NaN: rows "
            + ", ".join(dropped[:10])
            + (" ..." if len(dropped) > 10 else "")
        )
    if keep is not None:
        return SweepData(
            source=source,
            lines=tuple(lines),
            columns={k: tuple(v) for k, v in values.items()},
            warnings=tuple(warnings),
        )
    theirs = column_map.get("compute_flops", "compute_flops")
    budgets = sorted({budget_key(c) for c in set(values["compute_flops"])})
    if len(budgets) < 2:
        found = ", ".join(f"{c:.3g}" for c in budgets) or "none"
        after = f" after dropping {len(dropped)} run(s) whose loss is NaN" if dropped else ""
        raise SweepDataError(
            f"{source}, column {theirs!r}: {len(budgets)} distinct budget(s) ({found}){after}; "
            "a power law needs at least 2 (the paper used 8)"
        )
    return SweepData(
        source=source,
        lines=tuple(lines),
        columns={k: tuple(v) for k, v in values.items()},
        warnings=tuple(warnings),
    )
