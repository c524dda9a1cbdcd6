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

Schema version 1 grew, backward-compatibly, to hold other published laws (docs/laws.md). Every new
key is optional and defaults to what the DeepSeek files mean:

* ``predicts``: ``flops_per_token`` (default), ``params_total``, ``params_non_embedding``,
  ``params_non_embedding_with_head`` (Porian et al.'s N) or ``tokens``;
* ``form``: ``power_law`` (default; ``[model_scaling]`` predicts the quantity, ``[data_scaling]``
  the tokens, either one may be absent unless the law predicts M), ``parametric_loss`` (a
  ``[loss]`` table: ``e``, ``a``, ``b``, ``alpha``, ``beta``; L(N, D) with C = 6ND for a parameter
  count, L(M, D) with C = MD for ``predicts = "flops_per_token"``) or ``fixed_ratio``
  (``tokens_per_param``);
* ``compute_unit`` (``flops`` or ``pf_days``) and ``compute_fraction`` (the share of C the law's
  compute variable stands for: Kaplan's C_min = C / 2 at the critical batch);
* ``status``: ``verified``, ``derived``, ``secondary``, ``unverified`` or ``assumption``;
* ``hyperparameters``: the id of the hyperparameter law in ``presets/hyperparameters/`` that plans
  use when the file has no ``[learning_rate]`` and ``[batch_size]`` of its own (default ``deepseek``);
* ``own_hyperparameters``: the id of the hyperparameter law the law's own paper publishes, when it is
  not the one plans use by default (Kaplan: its LR(N) is undefined above 1e10 parameters, so plans
  default to ``deepseek``); ``dsplan compare`` shows it, ``--hyperparameters`` opts in;
* ``[repetition]``: Muennighoff et al.'s ``r_d_star`` and ``r_n_star`` for repeated data;
* ``[fit_range]`` may give ``compute_min``/``compute_max`` (FLOPs), ``params_min``/``params_max``
  (in the law's own parameter convention) and ``tokens_min``/``tokens_max``, each bound optional.

Hyperparameter laws live in ``presets/hyperparameters/*.toml`` (``kind = "hyperparameters"``), see
:class:`dsplan.laws.forms.HyperparameterLaw`.

The types these files parse into are in :mod:`dsplan.laws.types` (every law file) and
:mod:`dsplan.laws.forms` (loss, repetition and hyperparameter-law tables); this module reads files
and builds them, nothing else. The second module is imported inside the functions that build its
types: start-up laziness, not a cycle (neither module imports this one), so that ``dsplan budget``
with a DeepSeek preset does not define classes it does not use.
"""

from __future__ import annotations

import difflib
import functools
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsplan.errors import PresetError
from dsplan.io import UnreadableFile, loads_toml, read_input
from dsplan.laws.types import (
    COMPUTE_UNITS,
    DEFAULT_HYPERPARAMETERS,
    FORMS,
    PREDICTS,
    SCHEMA_VERSION,
    STATUSES,
    FitRange,
    PowerLaw,
    Preset,
)

if TYPE_CHECKING:
    from dsplan.laws.forms import HyperparameterLaw, Term
    from dsplan.laws.loss import ParametricLoss, Repetition

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

# The loader's public names include the types it returns (defined in dsplan.laws.types), so that
# `from dsplan.catalog.presets import Preset, load_preset` keeps working.
__all__ = [
    "COMPUTE_UNITS",
    "DEFAULT_HYPERPARAMETERS",
    "DEFAULT_PRESET",
    "FORMS",
    "PREDICTS",
    "REPETITION_PRESET",
    "SCHEMA_VERSION",
    "STATUSES",
    "FitRange",
    "PowerLaw",
    "Preset",
    "all_hyperparameter_laws",
    "all_presets",
    "hyperparameter_law_ids",
    "hyperparameters_dir",
    "load_hyperparameter_law",
    "load_preset",
    "looks_like_path",
    "parse_hyperparameter_law",
    "parse_preset",
    "preset_ids",
    "presets_dir",
    "read_toml",
    "resolve_hyperparameter_law",
    "tomllib",
]

DEFAULT_PRESET = "current"
# The law whose [loss] and [repetition] tables plan with repeated data (--unique-tokens).
REPETITION_PRESET = "muennighoff"


def presets_dir() -> Path:
    """The folder of shipped presets: inside the installed wheel, or at the top of a checkout."""
    pkg = Path(__file__).resolve().parent.parent  # dsplan/
    for candidate in (pkg / "presets", pkg.parent / "presets"):  # wheel, then checkout/editable
        if candidate.is_dir():
            return candidate
    raise PresetError("preset folder not found; reinstall dsplan or run from a source checkout")


@functools.cache
def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning every failure into a one-line :class:`PresetError`."""
    try:
        data: dict[str, Any] = loads_toml(read_input(path), str(path))
    except UnreadableFile as exc:
        raise PresetError(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path}: not valid TOML: {exc}") from None
    return data


def _check_version(data: dict[str, Any], where: Path) -> None:
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise PresetError(f"{where}: schema_version must be {SCHEMA_VERSION}, got {version!r}")


def _finite(value: Any, name: str, where: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PresetError(f"{where}: {name} must be a finite number, got {value!r}")
    return float(value)


def _number(data: dict[str, Any], table: str, key: str, where: Path) -> float:
    section = data.get(table)
    if not isinstance(section, dict):
        raise PresetError(f"{where}: missing table [{table}]")
    if key not in section:
        raise PresetError(f"{where}: missing key {table}.{key}")
    return _finite(section[key], f"{table}.{key}", where)


def _coefficient(data: dict[str, Any], table: str, where: Path) -> float:
    coefficient = _number(data, table, "coefficient", where)
    if coefficient <= 0:
        raise PresetError(f"{where}: {table}.coefficient must be positive, got {coefficient!r}")
    return coefficient


def _law(data: dict[str, Any], table: str, where: Path) -> PowerLaw:
    return PowerLaw(_coefficient(data, table, where), _number(data, table, "exponent", where))


def _optional_law(data: dict[str, Any], table: str, where: Path) -> PowerLaw | None:
    return _law(data, table, where) if table in data else None


_RANGE_KEYS = ("compute", "params", "tokens")


def _range(data: dict[str, Any], table: str, where: Path) -> FitRange:
    section = data.get(table)
    if not isinstance(section, dict):
        raise PresetError(f"{where}: missing table [{table}]")
    bounds: dict[str, float | None] = {}
    for quantity in _RANGE_KEYS:
        lo_key, hi_key = f"{quantity}_min", f"{quantity}_max"
        lo = _number(data, table, lo_key, where) if lo_key in section else None
        hi = _number(data, table, hi_key, where) if hi_key in section else None
        if (lo is not None and lo <= 0) or (hi is not None and hi <= 0):
            raise PresetError(f"{where}: {table} bounds must be positive")
        if lo is not None and hi is not None and lo > hi:
            raise PresetError(f"{where}: {table} needs 0 < {lo_key} <= {hi_key}")
        bounds[lo_key], bounds[hi_key] = lo, hi
    if all(v is None for v in bounds.values()):
        keys = ", ".join(f"{q}_min/{q}_max" for q in _RANGE_KEYS)
        raise PresetError(f"{where}: {table} needs at least one bound ({keys})")
    unknown = sorted(set(section) - set(bounds))
    if unknown:
        raise PresetError(f"{where}: unknown key {table}.{unknown[0]}")
    return FitRange(**bounds)


def _choice(
    data: dict[str, Any], key: str, allowed: tuple[str, ...], default: str, where: Path
) -> str:
    value = data.get(key, default)
    if value not in allowed:
        raise PresetError(f"{where}: {key} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _positive_top(data: dict[str, Any], key: str, where: Path) -> float | None:
    if key not in data:
        return None
    value = _finite(data[key], key, where)
    if value <= 0:
        raise PresetError(f"{where}: {key} must be positive, got {value!r}")
    return value


def _compute_fraction(data: dict[str, Any], where: Path) -> float:
    fraction = _positive_top(data, "compute_fraction", where)
    if fraction is None:
        return 1.0
    if fraction > 1:
        raise PresetError(f"{where}: compute_fraction must lie in (0, 1], got {fraction!r}")
    return fraction


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


def _loss(data: dict[str, Any], where: Path) -> ParametricLoss:
    from dsplan.laws.loss import ParametricLoss  # start-up laziness (module docstring)

    values = {k: _number(data, "loss", k, where) for k in ("e", "a", "b", "alpha", "beta")}
    if any(v <= 0 for v in values.values()):
        raise PresetError(f"{where}: every [loss] coefficient must be positive")
    return ParametricLoss(**values)


def _repetition(data: dict[str, Any], where: Path) -> Repetition:
    from dsplan.laws.loss import Repetition  # start-up laziness (module docstring)

    return Repetition(
        _number(data, "repetition", "r_d_star", where),
        _number(data, "repetition", "r_n_star", where),
    )


def _check_form(preset: Preset, where: Path) -> None:
    """The tables a law's ``form`` and ``predicts`` need are present and consistent."""
    if preset.form == "power_law":
        if preset.predicts == "tokens":
            if preset.data_scaling is None:
                raise PresetError(f"{where}: a law that predicts tokens needs [data_scaling]")
        elif preset.model_scaling is None:
            raise PresetError(f"{where}: missing table [model_scaling]")
        if preset.predicts == "flops_per_token" and preset.data_scaling is None:
            raise PresetError(f"{where}: missing table [data_scaling]")
        return
    m_loss = preset.form == "parametric_loss" and preset.predicts == "flops_per_token"
    if not preset.predicts.startswith("params_") and not m_loss:
        raise PresetError(f"{where}: form {preset.form} needs predicts = a parameter count")
    if preset.form == "parametric_loss" and preset.loss is None:
        raise PresetError(f"{where}: form parametric_loss needs a [loss] table")
    if preset.form == "fixed_ratio" and preset.tokens_per_param is None:
        raise PresetError(f"{where}: form fixed_ratio needs tokens_per_param")


def parse_preset(data: dict[str, Any], where: Path) -> Preset:
    """Validate a parsed preset file and build a :class:`Preset`.

    Raises:
        PresetError: naming the file and the key that is missing or wrong.
    """
    _check_version(data, where)
    if data.get("kind", "law") != "law":
        raise PresetError(f"{where}: this is a {data.get('kind')!r} file, not a law preset")
    if "predicts" not in data and "form" not in data:
        # A DeepSeek-form file names its laws before anything else (the original error order).
        for table in ("model_scaling", "data_scaling"):
            if table not in data:
                raise PresetError(f"{where}: missing table [{table}]")
    learning_rate = _optional_law(data, "learning_rate", where)
    batch_size = _optional_law(data, "batch_size", where)
    if (learning_rate is None) != (batch_size is None):
        # Both hyperparameter tables, or neither (then `hyperparameters` names a law file).
        missing = "learning_rate" if learning_rate is None else "batch_size"
        raise PresetError(f"{where}: missing table [{missing}]")
    fraction = _compute_fraction(data, where)
    repetition = _repetition(data, where) if "repetition" in data else None
    status = _text(data, "status", where, required=False)
    if status is not None and status not in STATUSES:
        raise PresetError(f"{where}: status must be one of {', '.join(STATUSES)}, got {status!r}")
    preset = Preset(
        id=_required_text(data, "id", where),
        description=_required_text(data, "description", where),
        source=_required_text(data, "source", where),
        model_scaling=_optional_law(data, "model_scaling", where),
        data_scaling=_optional_law(data, "data_scaling", where),
        learning_rate=learning_rate,
        batch_size=batch_size,
        fit_range=_range(data, "fit_range", where),
        hyperparameter_fit_range=(
            _range(data, "hyperparameter_fit_range", where)
            if "hyperparameter_fit_range" in data
            else None
        ),
        assumption=_text(data, "assumption", where, required=False),
        reference_compute=(
            _finite(data["reference_compute"], "reference_compute", where)
            if "reference_compute" in data
            else None
        ),
        verification=_text(data, "verification", where, required=False),
        notes=_text(data, "notes", where, required=False),
        predicts=_choice(data, "predicts", PREDICTS, "flops_per_token", where),
        form=_choice(data, "form", FORMS, "power_law", where),
        status=status,
        compute_unit=_choice(data, "compute_unit", COMPUTE_UNITS, "flops", where),
        compute_fraction=fraction,
        loss=_loss(data, where) if "loss" in data else None,
        tokens_per_param=_positive_top(data, "tokens_per_param", where),
        hyperparameters=_text(data, "hyperparameters", where, required=False),
        repetition=repetition,
        own_hyperparameters=_text(data, "own_hyperparameters", where, required=False),
        path=str(where),
    )
    _check_form(preset, where)
    return preset


def _term(data: dict[str, Any], table: str, where: Path) -> Term:
    from dsplan.laws.forms import Term  # start-up laziness (module docstring)

    section = data.get(table)
    if not isinstance(section, dict):
        raise PresetError(f"{where}: missing table [{table}]")
    form = section.get("form", "power_law")
    if form == "log_linear":
        return Term(
            form=form,
            intercept=_number(data, table, "intercept", where),
            slope=_number(data, table, "slope", where),
            params_max=_number(data, table, "params_max", where)
            if "params_max" in section
            else None,
        )
    if form != "power_law":
        raise PresetError(f"{where}: {table}.form must be power_law or log_linear, got {form!r}")
    coefficient = _coefficient(data, table, where)

    def exponent(key: str) -> float:
        return _number(data, table, key, where) if key in section else 0.0

    return Term(
        form=form,
        coefficient=coefficient,
        compute_exponent=exponent("compute_exponent"),
        params_exponent=exponent("params_exponent"),
        tokens_exponent=exponent("tokens_exponent"),
    )


def parse_hyperparameter_law(data: dict[str, Any], where: Path) -> HyperparameterLaw:
    """Validate a parsed hyperparameter-law file (``kind = "hyperparameters"``).

    Raises:
        PresetError: naming the file and the key that is missing or wrong.
    """
    _check_version(data, where)
    if data.get("kind") != "hyperparameters":
        raise PresetError(f'{where}: a hyperparameter law needs kind = "hyperparameters"')
    fraction = _compute_fraction(data, where)
    from dsplan.laws.forms import HyperparameterLaw  # start-up laziness (module docstring)

    return HyperparameterLaw(
        id=_required_text(data, "id", where),
        description=_required_text(data, "description", where),
        source=_required_text(data, "source", where),
        status=_choice(data, "status", STATUSES, "unverified", where),
        learning_rate=_term(data, "learning_rate", where),
        batch_size=_term(data, "batch_size", where) if "batch_size" in data else None,
        fit_range=_range(data, "fit_range", where),
        params=_choice(data, "params", PREDICTS[1:4], "params_non_embedding", where),
        compute_unit=_choice(data, "compute_unit", COMPUTE_UNITS, "flops", where),
        compute_fraction=fraction,
        verification=_text(data, "verification", where, required=False),
        notes=_text(data, "notes", where, required=False),
        path=str(where),
    )


def _ids(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.toml"))


def preset_ids() -> list[str]:
    """The ids of the shipped presets, sorted."""
    return _ids(presets_dir())


def looks_like_path(name: str) -> bool:
    """True for a name given as a TOML file rather than a shipped id."""
    return name.endswith(".toml") or "/" in name or "\\" in name


def _find(name: str, folder: Path, what: str) -> Path:
    """The file for an id in ``folder``, or ``name`` itself when it looks like a path.

    Raises:
        PresetError: an unknown id; the message suggests the closest ids.
    """
    if looks_like_path(name):
        return Path(name)
    path = folder / f"{name}.toml"
    if not path.is_file():
        known = _ids(folder)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise PresetError(
            f"unknown {what} {name!r}{hint} (known: {', '.join(known)}; "
            "or give a path to a .toml file)"
        )
    return path


@functools.cache
def load_preset(name: str = DEFAULT_PRESET) -> Preset:
    """Load a preset by id (``"current"``) or by path to a TOML file in the preset schema.

    Raises:
        PresetError: an unknown id (the message suggests the closest ids), or a bad file.
    """
    path = _find(name, presets_dir(), "preset")
    return parse_preset(read_toml(path), path)


def all_presets() -> list[Preset]:
    """Every shipped preset, in id order."""
    return [load_preset(preset_id) for preset_id in preset_ids()]


def hyperparameters_dir() -> Path:
    """The folder of hyperparameter laws, ``presets/hyperparameters/``."""
    return presets_dir() / "hyperparameters"


def hyperparameter_law_ids() -> list[str]:
    """The ids of the shipped hyperparameter laws, sorted."""
    return _ids(hyperparameters_dir())


@functools.cache
def load_hyperparameter_law(name: str = DEFAULT_HYPERPARAMETERS) -> HyperparameterLaw:
    """Load a hyperparameter law by id (``"step-law"``) or by path to a TOML file.

    Raises:
        PresetError: an unknown id (the message suggests the closest ids), or a bad file.
    """
    path = _find(name, hyperparameters_dir(), "hyperparameter law")
    return parse_hyperparameter_law(read_toml(path), path)


def all_hyperparameter_laws() -> list[HyperparameterLaw]:
    """Every shipped hyperparameter law, in id order."""
    return [load_hyperparameter_law(law_id) for law_id in hyperparameter_law_ids()]


def resolve_hyperparameter_law(
    preset: Preset, override: str | None = None
) -> HyperparameterLaw | None:
    """The hyperparameter law file a plan under ``preset`` uses; None for the preset's own tables.

    ``override`` (``--hyperparameters``) wins; then the preset's own ``[learning_rate]`` and
    ``[batch_size]`` (the DeepSeek files: None); then the law its file names; then ``deepseek``.

    Raises:
        PresetError: an unknown law id (the message suggests the closest ids), or a bad file.
    """
    law_id = override or preset.hyperparameter_law_id
    return None if law_id is None else load_hyperparameter_law(law_id)
