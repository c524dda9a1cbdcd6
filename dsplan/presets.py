"""Law presets: TOML files in ``presets/`` that hold coefficients and their provenance.

Formulas live in code, coefficients in data. A preset file (schema version 1) is::

    schema_version = 1
    id = "current"
    description = "..."
    source = "arXiv 2401.02954, Eq. 1 and Eq. 4"
    [model_scaling]    # M_opt = coefficient * C ** exponent, FLOPs per token
    [data_scaling]     # D_opt = coefficient * C ** exponent, tokens
    [learning_rate]    # peak learning rate = coefficient * C ** exponent
    [batch_size]       # tokens = coefficient * C ** exponent
    [fit_range]        # compute_min, compute_max in FLOPs

Optional provenance keys (``notes``, ``assumption``, ``verification``, ``reference_compute``,
``[hyperparameter_fit_range]``) are read where present. This is the only module, with
:mod:`dsplan.io`, that touches files.
"""

from __future__ import annotations

import difflib
import functools
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsplan.errors import PresetError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SCHEMA_VERSION = 1
DEFAULT_PRESET = "current"


def presets_dir() -> Path:
    """The folder of shipped presets: inside the installed wheel, or at the top of a checkout."""
    pkg = Path(__file__).resolve().parent
    for candidate in (pkg / "presets", pkg.parent / "presets"):  # wheel, then checkout/editable
        if candidate.is_dir():
            return candidate
    raise PresetError("preset folder not found; reinstall dsplan or run from a source checkout")


@functools.cache
def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning every failure into a one-line :class:`PresetError`."""
    try:
        with path.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)

    except FileNotFoundError:
        raise PresetError(f"{path}: no such file") from None
    except OSError as exc:
        raise PresetError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path}: not valid TOML: {exc}") from None
    return data


@dataclass(frozen=True)
class PowerLaw:
    """``y = coefficient * C ** exponent``."""

    coefficient: float
    exponent: float

    def __call__(self, compute_flops: float) -> float:
        return float(self.coefficient * compute_flops**self.exponent)

    def to_dict(self) -> dict[str, float]:
        return {"coefficient": self.coefficient, "exponent": self.exponent}


@dataclass(frozen=True)
class FitRange:
    """The compute range (FLOPs) over which a law was fitted."""

    compute_min: float
    compute_max: float

    def orders_beyond(self, compute_flops: float) -> float:
        """How many orders of magnitude ``compute_flops`` lies outside the range (0 inside)."""
        if compute_flops > self.compute_max:
            return math.log10(compute_flops / self.compute_max)
        if compute_flops < self.compute_min:
            return math.log10(self.compute_min / compute_flops)
        return 0.0

    def to_dict(self) -> dict[str, float]:
        return {"compute_min": self.compute_min, "compute_max": self.compute_max}


@dataclass(frozen=True, eq=False, repr=False)  # cheap to define: start-up time
class Preset:
    """A law preset: the allocation law, the hyperparameter laws and their provenance."""

    id: str
    description: str
    source: str
    model_scaling: PowerLaw
    data_scaling: PowerLaw
    learning_rate: PowerLaw
    batch_size: PowerLaw
    fit_range: FitRange
    hyperparameter_fit_range: FitRange | None = None
    assumption: str | None = None
    reference_compute: float | None = None
    verification: str | None = None
    notes: str | None = None
    path: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "description": self.description,
            "source": self.source,
            "model_scaling": self.model_scaling.to_dict(),
            "data_scaling": self.data_scaling.to_dict(),
            "learning_rate": self.learning_rate.to_dict(),
            "batch_size": self.batch_size.to_dict(),
            "fit_range": self.fit_range.to_dict(),
        }
        if self.hyperparameter_fit_range is not None:
            out["hyperparameter_fit_range"] = self.hyperparameter_fit_range.to_dict()
        for key in ("assumption", "reference_compute", "verification", "notes"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def _number(data: dict[str, Any], table: str, key: str, where: Path) -> float:
    section = data.get(table)
    if not isinstance(section, dict):
        raise PresetError(f"{where}: missing table [{table}]")
    if key not in section:
        raise PresetError(f"{where}: missing key {table}.{key}")
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PresetError(f"{where}: {table}.{key} must be a finite number, got {value!r}")
    return float(value)


def _top_number(data: dict[str, Any], key: str, where: Path) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PresetError(f"{where}: {key} must be a finite number, got {value!r}")
    return float(value)


def _law(data: dict[str, Any], table: str, where: Path) -> PowerLaw:
    coefficient = _number(data, table, "coefficient", where)
    if coefficient <= 0:
        raise PresetError(f"{where}: {table}.coefficient must be positive, got {coefficient!r}")
    return PowerLaw(coefficient, _number(data, table, "exponent", where))


def _range(data: dict[str, Any], table: str, where: Path) -> FitRange:
    lo = _number(data, table, "compute_min", where)
    hi = _number(data, table, "compute_max", where)
    if not 0 < lo <= hi:
        raise PresetError(f"{where}: {table} needs 0 < compute_min <= compute_max")
    return FitRange(lo, hi)


def _text(data: dict[str, Any], key: str, where: Path, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise PresetError(f"{where}: missing key {key}")
        return None
    if not isinstance(value, str):
        raise PresetError(f"{where}: {key} must be a string, got {value!r}")
    return value


def _required_text(data: dict[str, Any], key: str, where: Path) -> str:
    value = _text(data, key, where, required=True)
    if not value:
        raise PresetError(f"{where}: {key} must not be empty")
    return value


def parse_preset(data: dict[str, Any], where: Path) -> Preset:
    """Validate a parsed preset file and build a :class:`Preset`.

    Raises:
        PresetError: naming the file and the key that is missing or wrong.
    """
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise PresetError(f"{where}: schema_version must be {SCHEMA_VERSION}, got {version!r}")
    return Preset(
        id=_required_text(data, "id", where),
        description=_required_text(data, "description", where),
        source=_required_text(data, "source", where),
        model_scaling=_law(data, "model_scaling", where),
        data_scaling=_law(data, "data_scaling", where),
        learning_rate=_law(data, "learning_rate", where),
        batch_size=_law(data, "batch_size", where),
        fit_range=_range(data, "fit_range", where),
        hyperparameter_fit_range=(
            _range(data, "hyperparameter_fit_range", where)
            if "hyperparameter_fit_range" in data
            else None
        ),
        assumption=_text(data, "assumption", where, required=False),
        reference_compute=(
            _top_number(data, "reference_compute", where) if "reference_compute" in data else None
        ),
        verification=_text(data, "verification", where, required=False),
        notes=_text(data, "notes", where, required=False),
        path=str(where),
    )


def preset_ids() -> list[str]:
    """The ids of the shipped presets, sorted."""
    return sorted(p.stem for p in presets_dir().glob("*.toml"))


def _looks_like_path(name: str) -> bool:
    return name.endswith(".toml") or "/" in name or "\\" in name


@functools.cache
def load_preset(name: str = DEFAULT_PRESET) -> Preset:
    """Load a preset by id (``"current"``) or by path to a TOML file in the preset schema.

    Raises:
        PresetError: an unknown id (the message suggests the closest ids), or a bad file.
    """
    if _looks_like_path(name):
        path = Path(name)
        return parse_preset(read_toml(path), path)
    path = presets_dir() / f"{name}.toml"
    if not path.is_file():
        known = preset_ids()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise PresetError(
            f"unknown preset {name!r}{hint} (known: {', '.join(known)}; or give a path to a .toml file)"
        )
    return parse_preset(read_toml(path), path)


def all_presets() -> list[Preset]:
    """Every shipped preset, in id order."""
    return [load_preset(preset_id) for preset_id in preset_ids()]
