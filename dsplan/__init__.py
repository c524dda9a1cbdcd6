"""dsplan: plan LLM pretraining runs from the DeepSeek LLM scaling laws (arXiv 2401.02954).

The package is a plain-Python core (frozen dataclasses and functions) with a thin Typer CLI on top.
The public API is the names in ``__all__``, importable as ``from dsplan import NAME`` (README,
"Library use"). Import cost matters (dsplan runs inside shell loops, and every ``dsplan`` command
imports this module first), so they are resolved lazily, on first use, from the modules in
``_PUBLIC``; the ``TYPE_CHECKING`` block gives mypy and editors the same names.

    >>> from dsplan import plan
    >>> p = plan(1e24)
    >>> round(p.optimal.flops_per_token / 1e11, 2)
    6.57
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsplan._version import __version__

if TYPE_CHECKING:
    from dsplan.catalog.gpus import Gpu, get_gpu
    from dsplan.catalog.presets import Preset, load_preset
    from dsplan.checking.config import RunConfig, config_toml, load_config
    from dsplan.checking.rules import Report, check_files
    from dsplan.errors import DsplanError, InputError, ProblemFound
    from dsplan.fitting.report import FitReport
    from dsplan.fitting.run import fit, read_sweep
    from dsplan.laws.inference import InferenceOptimum, InferenceTarget, inference_optimum
    from dsplan.model.flops import Counts, Shape, counts
    from dsplan.model.hf_config import HfConfig, read_hf_config
    from dsplan.model.hf_moe import HfMoeConfig, read_any_hf_config
    from dsplan.model.moe import Mla, MoeCounts, MoeShape, moe_counts
    from dsplan.model.moe_shape import MoeSearchOptions, search_moe
    from dsplan.model.shape import SearchOptions, best_shape
    from dsplan.planning.compare import Comparison, compare
    from dsplan.planning.cost import Cost, Hardware, estimate, resolve_hardware
    from dsplan.planning.inference import inference_plan
    from dsplan.planning.model_report import ModelReport, model_report
    from dsplan.planning.moe_plan import MoePlan, MoePlanOptions, moe_plan
    from dsplan.planning.moe_report import MoeModelReport, moe_model_report
    from dsplan.planning.plan import Plan, PlanOptions, plan
    from dsplan.planning.sweep import Sweep, SweepOptions
    from dsplan.planning.sweep import design as design_sweep
    from dsplan.scheduling.continual import Extension, extend
    from dsplan.scheduling.schedules import Schedule, cosine, learning_rate_at, multistep, wsd

# Public name -> (module, attribute). Each function or type has one home module; this table only
# re-exports it. No public name may also be the name of a module directly inside dsplan/: once that
# module is imported, Python sets it as an attribute of the package and it would shadow the function
# (tests/test_public_api.py checks both).
_PUBLIC: dict[str, tuple[str, str]] = {
    # planning
    "plan": ("dsplan.planning.plan", "plan"),
    "Plan": ("dsplan.planning.plan", "Plan"),
    "PlanOptions": ("dsplan.planning.plan", "PlanOptions"),
    "compare": ("dsplan.planning.compare", "compare"),
    "Comparison": ("dsplan.planning.compare", "Comparison"),
    "resolve_hardware": ("dsplan.planning.cost", "resolve_hardware"),
    "Hardware": ("dsplan.planning.cost", "Hardware"),
    "estimate": ("dsplan.planning.cost", "estimate"),
    "Cost": ("dsplan.planning.cost", "Cost"),
    "design_sweep": ("dsplan.planning.sweep", "design"),
    "Sweep": ("dsplan.planning.sweep", "Sweep"),
    "SweepOptions": ("dsplan.planning.sweep", "SweepOptions"),
    # model
    "Shape": ("dsplan.model.flops", "Shape"),
    "Counts": ("dsplan.model.flops", "Counts"),
    "counts": ("dsplan.model.flops", "counts"),
    "best_shape": ("dsplan.model.shape", "best_shape"),
    "SearchOptions": ("dsplan.model.shape", "SearchOptions"),
    "model_report": ("dsplan.planning.model_report", "model_report"),
    "ModelReport": ("dsplan.planning.model_report", "ModelReport"),
    "read_hf_config": ("dsplan.model.hf_config", "read_hf_config"),
    "HfConfig": ("dsplan.model.hf_config", "HfConfig"),
    "MoeShape": ("dsplan.model.moe", "MoeShape"),
    "Mla": ("dsplan.model.moe", "Mla"),
    "MoeCounts": ("dsplan.model.moe", "MoeCounts"),
    "moe_counts": ("dsplan.model.moe", "moe_counts"),
    "read_any_hf_config": ("dsplan.model.hf_moe", "read_any_hf_config"),
    "HfMoeConfig": ("dsplan.model.hf_moe", "HfMoeConfig"),
    "moe_model_report": ("dsplan.planning.moe_report", "moe_model_report"),
    "MoeModelReport": ("dsplan.planning.moe_report", "MoeModelReport"),
    "search_moe": ("dsplan.model.moe_shape", "search_moe"),
    "MoeSearchOptions": ("dsplan.model.moe_shape", "MoeSearchOptions"),
    "moe_plan": ("dsplan.planning.moe_plan", "moe_plan"),
    "inference_plan": ("dsplan.planning.inference", "inference_plan"),
    "InferenceTarget": ("dsplan.laws.inference", "InferenceTarget"),
    "inference_optimum": ("dsplan.laws.inference", "inference_optimum"),
    "InferenceOptimum": ("dsplan.laws.inference", "InferenceOptimum"),
    "MoePlan": ("dsplan.planning.moe_plan", "MoePlan"),
    "MoePlanOptions": ("dsplan.planning.moe_plan", "MoePlanOptions"),
    # scheduling
    "Schedule": ("dsplan.scheduling.schedules", "Schedule"),
    "multistep": ("dsplan.scheduling.schedules", "multistep"),
    "cosine": ("dsplan.scheduling.schedules", "cosine"),
    "wsd": ("dsplan.scheduling.schedules", "wsd"),
    "learning_rate_at": ("dsplan.scheduling.schedules", "learning_rate_at"),
    "extend": ("dsplan.scheduling.continual", "extend"),
    "Extension": ("dsplan.scheduling.continual", "Extension"),
    # catalog
    "load_preset": ("dsplan.catalog.presets", "load_preset"),
    "Preset": ("dsplan.catalog.presets", "Preset"),
    "get_gpu": ("dsplan.catalog.gpus", "get_gpu"),
    "Gpu": ("dsplan.catalog.gpus", "Gpu"),
    # checking
    "check_files": ("dsplan.checking.rules", "check_files"),
    "Report": ("dsplan.checking.rules", "Report"),
    "load_config": ("dsplan.checking.config", "load_config"),
    "RunConfig": ("dsplan.checking.config", "RunConfig"),
    "config_toml": ("dsplan.checking.config", "config_toml"),
    # fitting
    "fit": ("dsplan.fitting.run", "fit"),
    "read_sweep": ("dsplan.fitting.run", "read_sweep"),
    "FitReport": ("dsplan.fitting.report", "FitReport"),
    # errors
    "DsplanError": ("dsplan.errors", "DsplanError"),
    "InputError": ("dsplan.errors", "InputError"),
    "ProblemFound": ("dsplan.errors", "ProblemFound"),
}

# The same names, spelled out for linters and readers (a test keeps the two equal).
__all__ = [
    "Comparison",
    "Cost",
    "Counts",
    "DsplanError",
    "Extension",
    "FitReport",
    "Gpu",
    "Hardware",
    "HfConfig",
    "HfMoeConfig",
    "InferenceOptimum",
    "InferenceTarget",
    "InputError",
    "Mla",
    "ModelReport",
    "MoeCounts",
    "MoeModelReport",
    "MoePlan",
    "MoePlanOptions",
    "MoeSearchOptions",
    "MoeShape",
    "Plan",
    "PlanOptions",
    "Preset",
    "ProblemFound",
    "Report",
    "RunConfig",
    "Schedule",
    "SearchOptions",
    "Shape",
    "Sweep",
    "SweepOptions",
    "__version__",
    "best_shape",
    "check_files",
    "compare",
    "config_toml",
    "cosine",
    "counts",
    "design_sweep",
    "estimate",
    "extend",
    "fit",
    "get_gpu",
    "inference_optimum",
    "inference_plan",
    "learning_rate_at",
    "load_config",
    "load_preset",
    "model_report",
    "moe_counts",
    "moe_model_report",
    "moe_plan",
    "multistep",
    "plan",
    "read_any_hf_config",
    "read_hf_config",
    "read_sweep",
    "resolve_hardware",
    "search_moe",
    "wsd",
]


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'dsplan' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value  # resolved once; later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
