"""The GPU table: dense peak throughput, memory, links, planning MFU and prices per accelerator.

The data lives in ``presets/hardware/gpus.toml`` (schema version 1); this module validates it and
looks entries up by id or alias. The file is read only when a GPU is asked for, so commands that do
not mention hardware never pay for it.

Conventions the file keeps (and :func:`parse_gpu` checks where it can):

* every peak is the DENSE figure in TFLOP/s (a vendor's 2:4-sparsity figure is halved or replaced);
* ``mfu_default`` is our planning assumption per dtype, against that dtype's dense peak;
* ``mfu_best_published`` is the best end-to-end MFU of a published run on this hardware;
* the first entry of ``prices`` is the default on-demand price, with the date it was observed;
* ``node_size`` (GPUs per scale-up domain), ``intra_node_gb_per_s`` and ``inter_node_gb_per_s``
  (one direction, per GPU) are optional and need a ``links_source``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import math
from pathlib import Path
from typing import Any

from dsplan.catalog.presets import looks_like_path, presets_dir, read_toml
from dsplan.errors import PresetError
from dsplan.io import loads_toml, read_input
from dsplan.records import record

SCHEMA_VERSION = 1
GPU_TABLE = Path("hardware") / "gpus.toml"
# The precisions a peak may be given for; training uses bf16, fp16 or fp8 (see TRAINING_DTYPES).
PEAK_DTYPES = ("bf16", "fp16", "fp8", "tf32")
TRAINING_DTYPES = ("bf16", "fp16", "fp8")
_REQUIRED_TEXT = ("name", "vendor", "interconnect", "mfu_default_source", "source")
_REQUIRED_NUMBERS = ("memory_gb", "memory_bandwidth_tb_per_s")
_OPTIONAL_NUMBERS = ("interconnect_gb_per_s", "tdp_w")
# The links of the layout search, one direction per GPU (docs/memory.md); all optional.
_LINK_NUMBERS = ("intra_node_gb_per_s", "inter_node_gb_per_s")


@record
class Price:
    """An on-demand price per GPU-hour, with who charged it, when, and where it was read."""

    usd_per_gpu_hour: float
    provider: str
    as_of: dt.date
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "usd_per_gpu_hour": self.usd_per_gpu_hour,
            "provider": self.provider,
            "as_of": self.as_of.isoformat(),
            "source": self.source,
        }


@record
class Gpu:
    """One accelerator. Peaks are dense TFLOP/s per dtype; MFU values are fractions in (0, 1]."""

    id: str
    name: str
    vendor: str
    aliases: tuple[str, ...]
    peak_tflops: tuple[tuple[str, float], ...]
    memory_gb: float
    memory_bandwidth_tb_per_s: float
    interconnect: str
    interconnect_gb_per_s: float | None
    tdp_w: float | None
    mfu_default: tuple[tuple[str, float], ...]
    mfu_default_source: str
    mfu_best_published: tuple[tuple[str, float], ...]
    mfu_best_published_source: tuple[tuple[str, str], ...]
    prices: tuple[Price, ...]
    source: str
    assumptions: tuple[str, ...] = ()
    notes: str | None = None
    node_size: int | None = None
    intra_node_gb_per_s: float | None = None
    inter_node_gb_per_s: float | None = None
    links_source: str | None = None

    def peak_flops(self, dtype: str) -> float | None:
        """The dense peak in FLOP/s for ``dtype``, or None when the part has none."""
        tflops = dict(self.peak_tflops).get(dtype)
        return None if tflops is None else tflops * 1e12

    def default_mfu(self, dtype: str) -> float | None:
        return dict(self.mfu_default).get(dtype)

    def best_published_mfu(self, dtype: str) -> float | None:
        return dict(self.mfu_best_published).get(dtype)

    def best_published_source(self, dtype: str) -> str | None:
        return dict(self.mfu_best_published_source).get(dtype)

    @property
    def default_dtype(self) -> str:
        """The precision a plan uses when none is given: bf16, else the first training dtype it has."""
        peaks = dict(self.peak_tflops)
        return next(d for d in TRAINING_DTYPES if d in peaks)

    @property
    def price(self) -> Price | None:
        """The default price (the first one listed), if any is public."""
        return self.prices[0] if self.prices else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "vendor": self.vendor,
            "aliases": list(self.aliases),
            "peak_tflops": dict(self.peak_tflops),
            "memory_gb": self.memory_gb,
            "memory_bandwidth_tb_per_s": self.memory_bandwidth_tb_per_s,
            "interconnect": self.interconnect,
            "interconnect_gb_per_s": self.interconnect_gb_per_s,
            "tdp_w": self.tdp_w,
            "mfu_default": dict(self.mfu_default),
            "mfu_default_source": self.mfu_default_source,
            "mfu_best_published": dict(self.mfu_best_published),
            "mfu_best_published_source": dict(self.mfu_best_published_source),
            "price_usd_per_gpu_hour": self.price.usd_per_gpu_hour if self.price else None,
            "price_as_of": self.price.as_of.isoformat() if self.price else None,
            "prices": [p.to_dict() for p in self.prices],
            "source": self.source,
            "assumptions": list(self.assumptions),
            "notes": self.notes,
            "node_size": self.node_size,
            "intra_node_gb_per_s": self.intra_node_gb_per_s,
            "inter_node_gb_per_s": self.inter_node_gb_per_s,
            "links_source": self.links_source,
        }


@record
class GpuTable:
    """Every entry of a GPU table file, in file order, with its alias map."""

    gpus: tuple[Gpu, ...]
    as_of: dt.date | None
    path: str

    def ids(self) -> list[str]:
        return [g.id for g in self.gpus]

    def names(self) -> dict[str, Gpu]:
        """Every id and alias -> its entry."""
        out: dict[str, Gpu] = {}
        for g in self.gpus:
            out[g.id] = g
            for alias in g.aliases:
                out[alias] = g
        return out


def _finite_positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PresetError(f"{where} must be a finite number, got {value!r}")
    if value <= 0:
        raise PresetError(f"{where} must be positive, got {value!r}")
    return float(value)


def _optional_text(entry: dict[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise PresetError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = _optional_text(entry, key, where)
    if value is None:
        raise PresetError(f"{where}: missing key {key}")
    return value


def _per_dtype(
    entry: dict[str, Any], key: str, where: str, *, fraction: bool
) -> tuple[tuple[str, float], ...]:
    table = entry.get(key, {})
    if not isinstance(table, dict):
        raise PresetError(f"{where}: {key} must be a table of dtype = number")
    out = []
    for dtype, value in table.items():
        if dtype not in PEAK_DTYPES:
            raise PresetError(
                f"{where}: {key}.{dtype}: unknown dtype; use one of {', '.join(PEAK_DTYPES)}"
            )
        number = _finite_positive(value, f"{where}: {key}.{dtype}")
        if fraction and number > 1:
            raise PresetError(f"{where}: {key}.{dtype} must be a fraction in (0, 1], got {number}")
        out.append((dtype, number))
    return tuple(out)


def _strings(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PresetError(f"{where}: {key} must be a list of non-empty strings")
    return tuple(value)


def _prices(entry: dict[str, Any], where: str) -> tuple[Price, ...]:
    raw = entry.get("prices", [])
    if not isinstance(raw, list):
        raise PresetError(f"{where}: prices must be a list of tables")
    out = []
    for i, item in enumerate(raw):
        at = f"{where}: prices[{i}]"
        if not isinstance(item, dict):
            raise PresetError(f"{at} must be a table")
        as_of = item.get("as_of")
        if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
            raise PresetError(f"{at}.as_of must be a TOML date such as 2026-09-25, got {as_of!r}")
        out.append(
            Price(
                usd_per_gpu_hour=_finite_positive(
                    item.get("usd_per_gpu_hour"), f"{at}.usd_per_gpu_hour"
                ),
                provider=_text(item, "provider", at),
                as_of=as_of,
                source=_text(item, "source", at),
            )
        )
    return tuple(out)


def parse_gpu(gpu_id: str, entry: Any, where: Path | str) -> Gpu:
    """Validate one ``[gpus.ID]`` table and build a :class:`Gpu`.

    Raises:
        PresetError: naming the file, the entry and the key that is missing or wrong.
    """
    at = f"{where}: gpus.{gpu_id}"
    if not isinstance(entry, dict):
        raise PresetError(f"{at} must be a table")
    if gpu_id != gpu_id.lower() or " " in gpu_id or "_" in gpu_id:
        raise PresetError(f"{at}: ids are lower-case and hyphenated")
    texts = {key: _text(entry, key, at) for key in _REQUIRED_TEXT}
    numbers = {key: _finite_positive(entry.get(key), f"{at}: {key}") for key in _REQUIRED_NUMBERS}
    optional = {
        key: (_finite_positive(entry[key], f"{at}: {key}") if key in entry else None)
        for key in _OPTIONAL_NUMBERS
    }
    peaks = _per_dtype(entry, "peak_tflops", at, fraction=False)
    peak_map = dict(peaks)
    if not any(d in peak_map for d in TRAINING_DTYPES):
        raise PresetError(f"{at}: peak_tflops needs at least one of {', '.join(TRAINING_DTYPES)}")
    if "fp8" in peak_map and "bf16" in peak_map and peak_map["fp8"] < peak_map["bf16"]:
        raise PresetError(f"{at}: peak_tflops.fp8 is below bf16; is one of them a sparse figure?")
    mfu_default = _per_dtype(entry, "mfu_default", at, fraction=True)
    best = _per_dtype(entry, "mfu_best_published", at, fraction=True)
    for key, table in (("mfu_default", mfu_default), ("mfu_best_published", best)):
        for dtype, _ in table:
            if dtype not in peak_map:
                raise PresetError(f"{at}: {key}.{dtype} given but there is no peak_tflops.{dtype}")
    if not mfu_default:
        raise PresetError(f"{at}: mfu_default needs at least one dtype")
    best_source = entry.get("mfu_best_published_source", {})
    if not isinstance(best_source, dict) or set(best_source) != {d for d, _ in best}:
        raise PresetError(
            f"{at}: mfu_best_published_source needs one source per dtype of mfu_best_published"
        )
    sources = {d: _text(best_source, d, f"{at}: mfu_best_published_source") for d in best_source}
    return Gpu(
        id=gpu_id,
        name=texts["name"],
        vendor=texts["vendor"],
        aliases=tuple(a.lower() for a in _strings(entry, "aliases", at)),
        peak_tflops=peaks,
        memory_gb=numbers["memory_gb"],
        memory_bandwidth_tb_per_s=numbers["memory_bandwidth_tb_per_s"],
        interconnect=texts["interconnect"],
        interconnect_gb_per_s=optional["interconnect_gb_per_s"],
        tdp_w=optional["tdp_w"],
        mfu_default=mfu_default,
        mfu_default_source=texts["mfu_default_source"],
        mfu_best_published=best,
        mfu_best_published_source=tuple((d, sources[d]) for d, _ in best),
        prices=_prices(entry, at),
        source=texts["source"],
        assumptions=_strings(entry, "assumptions", at),
        notes=_optional_text(entry, "notes", at),
        **_links(entry, at),
    )


def _links(entry: dict[str, Any], at: str) -> dict[str, Any]:
    """The optional ``node_size`` and per-direction link bandwidths, with their ``links_source``."""
    node = entry.get("node_size")
    if node is not None and (isinstance(node, bool) or not isinstance(node, int) or node < 1):
        raise PresetError(f"{at}: node_size must be a positive whole number of GPUs, got {node!r}")
    out: dict[str, Any] = {
        key: (_finite_positive(entry[key], f"{at}: {key}") if key in entry else None)
        for key in _LINK_NUMBERS
    }
    source = _optional_text(entry, "links_source", at)
    if source is None and (node is not None or any(v is not None for v in out.values())):
        raise PresetError(f"{at}: node_size and the link bandwidths need a links_source")
    return {"node_size": node, **out, "links_source": source}


def parse_table(data: dict[str, Any], where: Path | str) -> GpuTable:
    """Validate a parsed GPU table file.

    Raises:
        PresetError: a wrong schema version, a bad entry, or an alias used twice.
    """
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise PresetError(f"{where}: schema_version must be {SCHEMA_VERSION}, got {version!r}")
    entries = data.get("gpus")
    if not isinstance(entries, dict) or not entries:
        raise PresetError(f"{where}: needs at least one [gpus.ID] table")
    gpus = tuple(parse_gpu(gpu_id, entry, where) for gpu_id, entry in entries.items())
    seen: dict[str, str] = {}
    for g in gpus:
        for name in (g.id, *g.aliases):
            if name in seen and seen[name] != g.id:
                raise PresetError(f"{where}: {name!r} names both {seen[name]} and {g.id}")
            seen[name] = g.id
    as_of = data.get("as_of")
    return GpuTable(gpus, as_of if isinstance(as_of, dt.date) else None, str(where))


@functools.cache
def load_table(path: str | None = None) -> GpuTable:
    """The shipped GPU table, or a table file of the same schema."""
    file = Path(path) if path is not None else presets_dir() / GPU_TABLE
    return parse_table(read_toml(file), file)


def _shipped_entry(key: str) -> Gpu | None:
    """The shipped table's entry whose id or alias is ``key``, parsed alone (None if none is).

    Measured (bench/startup.py, budget-gpu): parsing the whole 38 kB table and building its 30
    entries costs `budget --gpu` about 7 ms of a ~35 ms start-up; one section costs a few tenths.
    The shipped file keeps one ``[gpus.ID]`` table a GPU with its ``aliases`` on one line, which
    this relies on; the whole table is still validated by :func:`load_table` (tests check that
    every name gives the same entry both ways, and `dsplan gpus` reads it whole), and an unknown
    name falls back to it for the did-you-mean.
    """
    file = presets_dir() / GPU_TABLE
    for gpu_id, names, section in _sections(file):
        if key in names:
            entry = loads_toml(section, str(file)).get("gpus", {}).get(gpu_id)
            return parse_gpu(gpu_id, entry, file) if entry is not None else None
    return None


@functools.cache
def _sections(file: Path) -> tuple[tuple[str, frozenset[str], str], ...]:
    """``(id, its id and aliases, the section's TOML)`` of each ``[gpus.ID]`` table of ``file``."""
    out = []
    for chunk in read_input(file).split("\n[gpus.")[1:]:
        gpu_id, _, _ = chunk.partition("]")
        names = {gpu_id}
        for line in chunk.splitlines():
            if line.startswith("aliases"):
                names.update(loads_toml(line, str(file)).get("aliases", ()))
                break
        out.append((gpu_id, frozenset(names), "[gpus." + chunk))
    return tuple(out)


def _normalise(name: str) -> str:
    return "-".join(name.strip().lower().replace("_", "-").split())


def get_gpu(name: str) -> Gpu:
    """Look a GPU up by id or alias (``h100`` is the SXM part), or load a ``.toml`` file of one entry.

    Raises:
        PresetError: an unknown name (the message lists the closest ids), or a bad file.
    """
    if looks_like_path(name):
        table = load_table(name)
        if len(table.gpus) != 1:
            raise PresetError(
                f"{name}: a GPU file must hold exactly one [gpus.ID] table", quantity="gpu"
            )
        return table.gpus[0]
    key = _normalise(name)
    found = _shipped_entry(key)
    if found is not None:
        return found
    table = load_table()
    names = table.names()
    if key in names:
        return names[key]
    close = difflib.get_close_matches(key, list(names), n=3, cutoff=0.5)
    suggestions = list(dict.fromkeys(names[c].id for c in close))
    hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
    raise PresetError(
        f"unknown GPU {name!r}{hint} (see `dsplan gpus` for the {len(table.gpus)} known ids; "
        "or give a path to a .toml file)"
    )
