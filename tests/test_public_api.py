"""The public API: every name the README documents is importable as ``from dsplan import NAME``, is
the function or type of its home module (never a module of the same name), and does its job."""

from __future__ import annotations

import ast
import csv
import importlib
import json
import pkgutil
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import dsplan

ROOT = Path(__file__).resolve().parent.parent
NAMES = sorted(set(dsplan.__all__) - {"__version__"})


def _documented() -> set[str]:
    """The names in the first column of the README's "Library use" table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Library use") : text.index("\n## ", text.index("## Library use"))]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}


def test_the_readme_documents_exactly_the_public_names() -> None:
    assert _documented() == set(NAMES)


def test_all_lists_the_lazy_table_and_the_type_checking_imports() -> None:
    assert set(dsplan.__all__) == {*dsplan._PUBLIC, "__version__"}
    tree = ast.parse(Path(dsplan.__file__).read_text(encoding="utf-8"))
    (guard,) = [
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    ]
    seen = {
        alias.asname or alias.name: (node.module, alias.name)
        for node in guard.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    # What mypy sees is what the lazy lookup returns.
    assert seen == dsplan._PUBLIC


@pytest.mark.parametrize("name", NAMES)
def test_name_is_its_home_modules_object(name: str) -> None:
    module, attribute = dsplan._PUBLIC[name]
    namespace: dict[str, object] = {}
    exec(f"from dsplan import {name}", namespace)
    assert namespace[name] is getattr(importlib.import_module(module), attribute)
    assert not isinstance(namespace[name], type(sys))


def test_no_public_name_is_shadowed_by_a_module() -> None:
    # Importing a module dsplan/X.py sets dsplan.X to the module: no public name may be an X.
    modules = {m.name for m in pkgutil.iter_modules(dsplan.__path__)}
    assert not modules & set(NAMES)
    for info in pkgutil.walk_packages(dsplan.__path__, "dsplan."):
        if not info.name.startswith(("dsplan.cli", "dsplan.__main__")):
            importlib.import_module(info.name)
    for name in NAMES:
        module, attribute = dsplan._PUBLIC[name]
        assert getattr(dsplan, name) is getattr(sys.modules[module], attribute)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'plans'"):
        dsplan.plans  # noqa: B018
    assert "plan" in dir(dsplan)


def test_import_dsplan_imports_nothing_else() -> None:
    # Every `dsplan` command imports the package first: the public names cost nothing until used.
    code = "import sys, dsplan; print(sorted(m for m in sys.modules if m.startswith('dsplan')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.replace("'", '"')) == ["dsplan", "dsplan._version"]


def test_readme_python_example_from_issue_12() -> None:
    # `from dsplan import plan; plan(1e24)` once gave "'module' object is not callable".
    code = "from dsplan import plan; print(round(plan(1e24).optimal.flops_per_token / 1e11, 2))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "6.57"


# One call per public name, each with a checked result. Published numbers cite their source.
def _plan() -> None:
    p = dsplan.plan(1e24)
    assert isinstance(p, dsplan.Plan)
    # Eq. 4, arXiv 2401.02954: M_opt = 0.1715 C^0.5243.
    assert p.optimal.flops_per_token == pytest.approx(0.1715 * 1e24**0.5243)


def _moe(tmp_path: Path) -> None:
    hf = dsplan.read_any_hf_config(
        ROOT / "tests" / "data" / "hf" / "mistralai--Mixtral-8x7B-v0.1.json"
    )
    assert isinstance(hf, dsplan.HfMoeConfig) and isinstance(hf.shape, dsplan.MoeShape)
    c = dsplan.moe_counts(hf.shape)
    assert isinstance(c, dsplan.MoeCounts)
    assert c.params_total == 46_702_792_704  # transformers' total (tests/test_moe.py)
    report = dsplan.moe_model_report(hf.shape, hf_config=hf)
    assert isinstance(report, dsplan.MoeModelReport)
    assert report.to_dict()["params_activated"] == c.params_activated
    mla = dsplan.Mla(kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128)
    assert mla.qk_head_dim == 192


def _moe_plan() -> None:
    options = dsplan.MoePlanOptions(
        dsplan.MoeSearchOptions(n_experts=64, top_k=6, n_shared_experts=2)
    )
    p = dsplan.moe_plan(1e22, options)
    assert isinstance(p, dsplan.MoePlan)
    # Eq. 4 on the activated compute (docs/moe.md): the dense plan's M_opt at the same C.
    assert p.optimal.flops_per_token == dsplan.plan(1e22).optimal.flops_per_token
    found = dsplan.search_moe(p.optimal.flops_per_token, options.search, limit=2)
    assert found[0].shape == p.candidate.shape


def _plan_options() -> None:
    p = dsplan.plan(1e24, dsplan.PlanOptions(preset="early"))
    assert p.preset.id == "early"


def _shape_and_counts() -> None:
    c = dsplan.counts(dsplan.Shape.build(95, 8192, n_kv_heads=8))
    assert isinstance(c, dsplan.Counts)
    assert c.params_total == 67_425_001_472  # DeepSeek LLM 67B, arXiv 2401.02954 Table 2


def _model_report(tmp_path: Path) -> None:
    config = {
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_attention_heads": 32,
        "num_hidden_layers": 30,
        "vocab_size": 102400,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    hf = dsplan.read_hf_config(tmp_path / "config.json")
    assert isinstance(hf, dsplan.HfConfig)
    report = dsplan.model_report(hf.shape, seq_len_source="default", hf_config=hf)
    assert isinstance(report, dsplan.ModelReport)
    # DeepSeek LLM 7B (deepseek-ai/deepseek-llm-7b-base): 6,910,365,696 parameters.
    assert report.to_dict()["params_total"] == 6_910_365_696


def _best_shape() -> None:
    m = 0.1715 * 1e24**0.5243
    found = dsplan.best_shape(m, dsplan.SearchOptions(aspect_ratio=128))
    assert abs(found.flops_per_token / m - 1) < 0.05


def _compare() -> None:
    (comparison,) = dsplan.compare([1e24], ["current", "chinchilla-20x"])
    assert isinstance(comparison, dsplan.Comparison)
    assert [r.preset.id for r in comparison.rows] == ["current", "chinchilla-20x"]


def _hardware() -> None:
    gpu = dsplan.get_gpu("h800")
    assert isinstance(gpu, dsplan.Gpu) and gpu.memory_gb == 80
    hw = dsplan.resolve_hardware(gpu, n_gpus=2048, mfu=0.4)
    assert isinstance(hw, dsplan.Hardware)
    shape = dsplan.Shape.build(30, 4096)
    cost = dsplan.estimate(dsplan.counts(shape), 2e12, hw)
    assert isinstance(cost, dsplan.Cost)
    expected = 2e12 * dsplan.counts(shape).flops_per_token_hardware / (989e12 * 0.4) / 3600
    assert cost.gpu_hours == pytest.approx(expected)


def _schedules() -> None:
    # DeepSeek LLM 7B: 2T tokens in 2304 x 4096-token batches, peak 4.2e-4 (Table 2); the
    # multi-step schedule drops to 31.6% at 80% and 10% at 90% of the tokens (Section 2.3).
    s = dsplan.multistep(4.2e-4, 2e12, 2304 * 4096)
    assert isinstance(s, dsplan.Schedule)
    assert dsplan.learning_rate_at(s, s.total_steps) == pytest.approx(4.2e-5)
    assert dsplan.cosine(4.2e-4, 2e12, 2304 * 4096).milestones[-1].step == s.total_steps
    assert dsplan.wsd(4.2e-4, 2e12, 2304 * 4096).kind == "wsd"
    e = dsplan.extend(s, 3e12)
    assert isinstance(e, dsplan.Extension)
    assert e.reuse_fraction == pytest.approx(0.8, abs=1e-5)


def _sweep_and_fit(tmp_path: Path) -> None:
    sweep = dsplan.design_sweep((1e17, 1e18, 1e19), dsplan.SweepOptions(points=5))
    assert isinstance(sweep, dsplan.Sweep) and len(sweep.runs) == 15
    path = tmp_path / "results.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["compute_flops", "flops_per_token", "tokens", "loss"])
        for r in sweep.runs:
            loss = 1.7 + 400 / r.flops_per_token**0.34 + 410 / r.tokens**0.28
            w.writerow([r.compute_flops, r.flops_per_token, r.tokens, loss])
    assert len(dsplan.read_sweep(path)) == 15
    report = dsplan.fit(path)
    assert isinstance(report, dsplan.FitReport)
    assert report.isoflop is not None
    assert report.isoflop.model_scaling.exponent == pytest.approx(0.28 / 0.62, abs=0.01)
    flat = tmp_path / "flat.csv"
    flat.write_text(
        "compute_flops,flops_per_token,tokens,loss\n1e18,1e8,1e10,3\n1e19,1e9,1e10,3\n",
        encoding="utf-8",
    )
    with pytest.raises(dsplan.ProblemFound):
        dsplan.fit(flat)


def _check(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(dsplan.config_toml(dsplan.plan(1e20)), encoding="utf-8")
    cfg = dsplan.load_config(str(path))
    assert isinstance(cfg, dsplan.RunConfig)
    report = dsplan.check_files([str(path)], strict=True)
    assert isinstance(report, dsplan.Report)
    assert report.exit_code == 0


def _presets() -> None:
    preset = dsplan.load_preset("current")
    assert isinstance(preset, dsplan.Preset)
    assert preset.model_scaling.exponent == 0.5243  # Eq. 4


def _errors() -> None:
    with pytest.raises(dsplan.InputError, match="compute budget must be positive"):
        dsplan.plan(-1)
    assert issubclass(dsplan.InputError, dsplan.DsplanError)
    assert issubclass(dsplan.ProblemFound, dsplan.DsplanError)


def _inference() -> None:
    """Sardana et al. 2023 (arXiv 2401.00448), Fig. 1: 13B of Chinchilla quality, 2T tokens served."""
    loss = dsplan.load_preset("chinchilla-a3").loss
    assert loss is not None
    best = dsplan.inference_optimum(loss, 2.0238456965, 2e12)
    assert isinstance(best, dsplan.InferenceOptimum)
    assert best.optimum.model_size == pytest.approx(7.12e9, rel=5e-3)
    target = dsplan.InferenceTarget("model_size", 13e9)
    p = dsplan.inference_plan(target, 2e12, dsplan.PlanOptions(preset="chinchilla-a3"))
    assert p.inference is not None
    assert p.inference.optimum.saving_fraction == pytest.approx(0.163, abs=5e-4)


CALLS: dict[str, Callable[..., None]] = {
    "inference_plan": _inference,
    "InferenceTarget": _inference,
    "inference_optimum": _inference,
    "InferenceOptimum": _inference,
    "plan": _plan,
    "Plan": _plan,
    "PlanOptions": _plan_options,
    "Shape": _shape_and_counts,
    "Counts": _shape_and_counts,
    "counts": _shape_and_counts,
    "best_shape": _best_shape,
    "model_report": _model_report,
    "ModelReport": _model_report,
    "read_hf_config": _model_report,
    "HfConfig": _model_report,
    "MoeShape": _moe,
    "Mla": _moe,
    "MoeCounts": _moe,
    "moe_counts": _moe,
    "moe_model_report": _moe,
    "MoeModelReport": _moe,
    "moe_plan": _moe_plan,
    "MoePlan": _moe_plan,
    "MoePlanOptions": _moe_plan,
    "MoeSearchOptions": _moe_plan,
    "search_moe": _moe_plan,
    "read_any_hf_config": _moe,
    "HfMoeConfig": _moe,
    "SearchOptions": _best_shape,
    "compare": _compare,
    "Comparison": _compare,
    "get_gpu": _hardware,
    "Gpu": _hardware,
    "resolve_hardware": _hardware,
    "Hardware": _hardware,
    "estimate": _hardware,
    "Cost": _hardware,
    "multistep": _schedules,
    "cosine": _schedules,
    "wsd": _schedules,
    "Schedule": _schedules,
    "learning_rate_at": _schedules,
    "extend": _schedules,
    "Extension": _schedules,
    "design_sweep": _sweep_and_fit,
    "Sweep": _sweep_and_fit,
    "SweepOptions": _sweep_and_fit,
    "fit": _sweep_and_fit,
    "read_sweep": _sweep_and_fit,
    "FitReport": _sweep_and_fit,
    "ProblemFound": _sweep_and_fit,
    "check_files": _check,
    "Report": _check,
    "load_config": _check,
    "RunConfig": _check,
    "config_toml": _check,
    "load_preset": _presets,
    "Preset": _presets,
    "DsplanError": _errors,
    "InputError": _errors,
}


def test_every_public_name_has_a_call() -> None:
    assert set(CALLS) == set(NAMES)


@pytest.mark.parametrize("call", sorted(set(CALLS.values()), key=lambda f: f.__name__))
def test_public_call(call: Callable[..., None], tmp_path: Path) -> None:
    call(tmp_path) if call.__code__.co_argcount else call()


def test_the_package_docstring_example() -> None:
    import doctest

    result = doctest.testmod(dsplan, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3
    assert result.failed == 0
