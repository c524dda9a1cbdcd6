"""Users' files: Hugging Face config.json shapes, sweep results (CSV), and files dsplan writes."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

from dsplan.errors import InputError, SweepDataError
from dsplan.flops import Shape

_MOE_KEYS = ("num_experts", "n_routed_experts", "num_local_experts", "moe_intermediate_size")


def shape_from_hf_config(path: Path, *, seq_len_default: int = 4096) -> Shape:
    """A :class:`Shape` from a LLaMA-style Hugging Face ``config.json``.

    Raises:
        InputError: unreadable or invalid JSON, a missing key, or an unsupported architecture
            (mixture-of-experts), naming the file and key.
    """
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    for key in _MOE_KEYS:
        if data.get(key):
            raise InputError(
                f"{path}: mixture-of-experts models ({key}) are not supported yet; "
                "dsplan would miscount them, so it refuses"
            )

    def need(key: str) -> int:
        if key not in data:
            raise InputError(f"{path}: missing key {key!r}")
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InputError(f"{path}: {key} must be a positive integer, got {value!r}")
        return value

    n_heads = need("num_attention_heads")
    kv = data.get("num_key_value_heads") or n_heads
    return Shape(
        n_layers=need("num_hidden_layers"),
        d_model=need("hidden_size"),
        n_heads=n_heads,
        n_kv_heads=int(kv),
        d_ff=need("intermediate_size"),
        vocab_size=need("vocab_size"),
        seq_len=int(data.get("max_position_embeddings") or seq_len_default),
        tied_embeddings=bool(data.get("tie_word_embeddings", False)),
    )


def read_csv_rows(path: Path | str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Read a CSV file with a header row; ``-`` reads standard input.

    Returns:
        The header (stripped column names) and, per data row, its line number in the file and its
        cells by column name. Blank lines are skipped.

    Raises:
        SweepDataError: an unreadable file, no header, or a row with more cells than the header.
    """
    name = str(path)
    try:
        text = sys.stdin.read() if name == "-" else Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SweepDataError(f"{name}: no such file") from None
    except OSError as exc:
        raise SweepDataError(f"{name}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SweepDataError(f"{name}: not UTF-8 text") from None
    reader = csv.reader(text.splitlines())
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip() for cell in cells]
                continue
            if len(cells) > len(header):
                raise SweepDataError(
                    f"{name}, line {line}: {len(cells)} cells but the header has {len(header)}"
                )
            # A short row's missing cells read as empty, and the caller refuses them by name.
            rows.append((line, {h: c.strip() for h, c in zip(header, cells, strict=False)}))
    except csv.Error as exc:
        raise SweepDataError(f"{name}, line {reader.line_num}: not valid CSV: {exc}") from None
    if header is None:
        raise SweepDataError(f"{name}: empty file; expected a CSV header row")
    return header, rows


def write_text(path: Path | str, text: str) -> None:
    """Write a text file (UTF-8), creating its folder.

    Raises:
        InputError: the file or its folder cannot be written.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{target}: cannot write: {exc.strerror}") from None
