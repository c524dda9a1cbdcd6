"""`budget C --gpu G --gpus N`: the best layout, the corrected feasibility, and its [parallelism] table."""

from __future__ import annotations

import re

import pytest
from conftest import assert_input_error, run_cli

from dsplan.checking.dialects import detect
from dsplan.checking.reader import parse_config
from dsplan.checking.schema import ConfigProblems
from dsplan.planning.cost import resolve_hardware
from dsplan.planning.layout import search_layouts
from dsplan.planning.layout_fit import fit_layout
from dsplan.planning.plan import plan


def test_budget_shows_the_best_layout_of_the_search() -> None:
    r = run_cli("budget", "1e24", "--gpu", "h800", "--gpus", "2048", "--format", "json")
    assert r.exit_code == 0, r.stderr
    cost = r.json()["cost"]
    layout = cost["layout"]
    assert layout["verdict"] == "fits" and cost["feasibility"]["fits_memory"] is True
    # The same layout `dsplan layout --budget 1e24` ranks first.
    found = run_cli("layout", "--budget", "1e24", "--gpu", "h800", "--gpus", "2048", "-f", "json")
    assert layout["best"] == found.json()["layouts"][0]
    # budget finds only the best (a bounded search), `layout` all of them.
    assert "fitting" not in layout and layout["examined"] < found.json()["examined"]
    best = layout["best"]
    assert best["memory"]["required_bytes"] <= best["memory"]["gpu_memory_bytes"]
    # The states floor stays a lower bound of the layout's weights + gradients + optimizer.
    states = sum(best["memory"][k] for k in ("weights_bytes", "gradients_bytes", "optimizer_bytes"))
    assert states >= cost["memory"]["states_bytes"] / 2048
    text = run_cli("budget", "1e24", "--gpu", "h800", "--gpus", "2048").stdout
    assert "fits in memory        yes, on 2,048 GPUs" in text
    lay = best["layout"]
    assert f"best layout           TP {lay['tp']} x PP {lay['pp']} x DP {lay['dp']}" in text


def test_too_few_gpus_need_at_least_the_fewest_that_hold_a_layout() -> None:
    r = run_cli("budget", "1e24", "--gpu", "h800", "--gpus", "16", "--format", "json")
    assert r.exit_code == 1  # infeasible, the JSON still on stdout
    cost = r.json()["cost"]
    needed = cost["layout"]["gpus_needed"]
    assert cost["layout"]["verdict"] == "needs more GPUs" and cost["layout"]["best"] is None
    assert cost["feasibility"]["feasible"] is False
    assert f"needs at least {needed:,} GPUs" in r.stderr
    # K is the fewest: a layout fits on K GPUs and on no count below it.
    p = plan(1e24)
    shape, batch = p.architecture.shape, p.hyperparameters.batch_size_sequences
    hw = resolve_hardware("h800")
    assert search_layouts(shape, hw, n_gpus=needed, global_batch=batch).candidates
    assert not any(
        search_layouts(shape, hw, n_gpus=n, global_batch=batch).candidates for n in range(1, needed)
    )
    text = run_cli("budget", "1e24", "--gpu", "h800", "--gpus", "16").stdout
    assert f"does not fit on 16 GPUs: needs at least {needed:,}" in text


def test_a_count_that_splits_nothing_does_not_fit_though_fewer_gpus_would() -> None:
    # 1e19's batch is 120 sequences: 1,024 GPUs cannot split it (DP <= 120, TP <= 8, PP <= layers).
    r = run_cli("budget", "1e19", "--gpu", "h100", "--gpus", "1024", "--format", "json")
    assert r.exit_code == 1
    layout = r.json()["cost"]["layout"]
    assert layout["verdict"] == "does not fit"
    assert layout["gpus_needed"] == 1
    assert "do not split over them; 1 GPU holds one" in r.stderr


def test_fit_layout_without_any_fit_says_so() -> None:
    p = plan(1e24)
    fit = fit_layout(
        p.architecture.shape, resolve_hardware("h800"), n_gpus=8, global_batch=1, node_size=1
    )
    # One sequence a step and no TP: only pipeline stages shard the model, at most one per layer.
    assert not fit.fits
    assert fit.gpus_needed is None or fit.gpus_needed <= p.architecture.shape.n_layers


@pytest.mark.parametrize("compute", ["1e19", "1e20", "1e21", "1e22", "1e23", "1e24", "1e25"])
def test_the_written_layout_round_trips_through_check_strict(compute: str) -> None:
    gpus = "64" if float(compute) < 1e24 else "2048"
    r = run_cli("budget", compute, "--gpu", "h100", "--gpus", gpus, "--format", "toml")
    assert r.exit_code == 0, r.stderr
    assert "\n[parallelism]\n" in r.stdout
    assert detect(r.stdout) == "dsplan"
    checked = run_cli("check", "--strict", "--format", "json", "-", input=r.stdout)
    assert checked.exit_code == 0, checked.stdout
    derived = checked.json()["files"][0]["derived"]
    best = run_cli("budget", compute, "--gpu", "h100", "--gpus", gpus, "-f", "json").json()
    lay = best["cost"]["layout"]["best"]["layout"]
    assert (derived["tensor_parallel"], derived["pipeline_parallel"]) == (lay["tp"], lay["pp"])
    assert (derived["data_parallel"], derived["world_size"]) == (lay["dp"], int(gpus))


LLAMA_405B = """\
[model]
n_layers = 126
d_model = 16384
n_heads = 128
n_kv_heads = 8
d_ff = 53248
vocab_size = 128256
seq_len = 8192

[training]
tokens = 1.56e13
batch_size_sequences = 2048
learning_rate = 8e-5

[parallelism]
tensor_parallel = 8
pipeline_parallel = 16
data_parallel = 64
zero_stage = 2
micro_batch = 1
{extra}
gpus = 8192
gpu = "h100"
"""


def _rules(text: str, *args: str) -> set[str]:
    r = run_cli("check", "--format", "json", *args, "-", input=text)
    assert r.exit_code in (0, 1), r.stderr
    return {f["rule"] for f in r.json()["files"][0]["findings"]}


def test_llama3_405b_layout_fits_with_its_uneven_split_stated() -> None:
    # Llama 3 405B (arXiv 2407.21783, Table 4 and Section 3.3.2): TP 8, PP 16, DP 64 on 8,192
    # H100s; 126 layers on 16 stages, the first and last one layer short. ZeRO-2 (gradients
    # sharded too) is what dsplan's search keeps for it without recomputation.
    stated = LLAMA_405B.format(extra="stage_layers = [7" + ", 8" * 14 + ", 7]")
    assert not {"DSP601", "DSP602", "DSP603", "DSP605", "DSP606", "DSP607"} & _rules(stated)
    assert "DSP607" in _rules(LLAMA_405B.format(extra=""))  # uneven, stated nowhere
    wrong = LLAMA_405B.format(extra="stage_layers = [8" + ", 8" * 15 + "]")  # 128 layers
    assert "DSP607" in _rules(wrong)
    # TP 1, PP 1 (on 2,048 GPUs, one sequence each): the replicated bf16 weights alone are 810 GB.
    flat = stated.replace("tensor_parallel = 8", "tensor_parallel = 1")
    flat = flat.replace("pipeline_parallel = 16", "pipeline_parallel = 1")
    flat = flat.replace("data_parallel = 64", "data_parallel = 2048").replace("stage_layers", "#")
    assert "DSP606" in _rules(flat.replace("gpus = 8192", "gpus = 2048"))


def test_check_gpu_names_the_memory_a_layout_must_fit() -> None:
    text = LLAMA_405B.format(extra="stage_layers = [7" + ", 8" * 14 + ", 7]")
    no_gpu = text.replace('gpu = "h100"\n', "")
    flat = no_gpu.replace("pipeline_parallel = 16", "pipeline_parallel = 2")
    flat = flat.replace("data_parallel = 64", "data_parallel = 512").replace("stage_layers", "#")
    assert "DSP606" not in _rules(flat)  # no GPU named: memory is not checked
    assert "DSP606" in _rules(flat, "--gpu", "h100")
    assert "DSP606" not in _rules(flat, "--gpu", "b200")  # 192 GB hold what 80 GB do not
    assert_input_error(run_cli("check", "--gpu", "h1000", "-", input=flat), "unknown GPU")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('recompute = "some"', "unknown recomputation 'some'"),
        ("zero_stage = 4", "must be 0, 1, 2 or 3"),
        ("stage_layers = [7.5, 7.5]", "expected whole numbers of layers"),
        ("gpus = 16", "16 is not hardware.num_gpus (8)"),
        ('gpu = "a100"', "is not hardware.gpu"),
        ('gpu = "h1000"', "unknown GPU"),
    ],
)
def test_parallelism_values_that_cannot_be_loaded(table: str, message: str) -> None:
    text = (
        "[model]\nn_layers = 2\nd_model = 256\nn_heads = 2\n[training]\ntokens = 1e9\n"
        "batch_size_sequences = 8\nlearning_rate = 1e-3\n"
    )
    if "hardware.num_gpus" in message or "hardware.gpu" in message:
        text += '[hardware]\ngpu = "h100"\nnum_gpus = 8\n'
    with pytest.raises(ConfigProblems, match=re.escape(message)):
        parse_config(text + f"[parallelism]\n{table}\n", "run.toml")


def test_torchtitan_degrees_are_still_torchtitan() -> None:
    assert detect("[parallelism]\ntensor_parallel_degree = 2\n") == "torchtitan"
    assert detect("[parallelism]\ndata_parallel_shard_degree = -1\n") == "torchtitan"
    assert detect("[parallelism]\ntensor_parallel = 2\n") == "dsplan"


def test_deepseek_v3_layout_fits_with_full_recomputation_only() -> None:
    # DeepSeek-V3 (arXiv 2412.19437, Section 3.2): 2,048 H800, PP 16, EP 64 across 8 nodes, ZeRO-1
    # DP, no TP. dsplan's memory model (docs/memory.md) holds it with full recomputation only.
    from pathlib import Path

    v3 = (Path(__file__).parent / "data/configs/valid/deepseek-v3-moe.toml").read_text()
    table = (
        "\n[parallelism]\ntensor_parallel = 1\npipeline_parallel = 16\nexpert_parallel = 64\n"
        'zero_stage = 1\nmicro_batch = 1\nrecompute = "{r}"\nstage_layers = [3'
        + ", 4" * 13
        + ', 3, 3]\ngpus = 2048\ngpu = "h800"\n'
    )
    assert "DSP606" not in _rules(v3 + table.format(r="full"))
    assert "DSP606" in _rules(v3 + table.format(r="none"))


MOE_4E24 = ("4e24", "--moe", "--n-experts", "256", "--top-k", "8", "--n-shared-experts", "1",
            "--first-dense-layers", "3", "--mla")  # fmt: skip


def test_moe_plans_are_laid_out_with_expert_parallelism() -> None:
    hardware = ("--gpu", "h800", "--gpus", "2048")
    r = run_cli("budget", *MOE_4E24, *hardware, "--format", "json")
    assert r.exit_code == 0, r.stderr
    layout = r.json()["cost"]["layout"]
    best = layout["best"]["layout"]
    assert layout["verdict"] == "fits" and (best["dp"] * best["cp"]) % best["ep"] == 0
    toml = run_cli("budget", *MOE_4E24, *hardware, "--format", "toml").stdout
    assert f"expert_parallel = {best['ep']}" in toml
    checked = run_cli("check", "--strict", "--format", "json", "--gpu", "h800", "-", input=toml)
    assert checked.exit_code == 0, checked.stdout
    assert checked.json()["files"][0]["derived"]["expert_parallel"] == best["ep"]


def test_too_few_gpus_for_an_moe_plan() -> None:
    r = run_cli("budget", *MOE_4E24, "--gpu", "h800", "--gpus", "64", "--format", "json")
    assert r.exit_code == 1
    needed = r.json()["cost"]["layout"]["gpus_needed"]
    assert needed > 64 and f"needs at least {needed:,} GPUs" in r.stderr
    # The states floor (ZeRO-3 over every GPU) is a lower bound of it.
    assert needed >= r.json()["cost"]["memory"]["min_gpus_zero3"]


def test_the_node_size_comes_from_the_gpu_table() -> None:
    # An H100 PCIe pair shares an NVLink bridge (node of 2 in the table): tensor parallelism may
    # not go past 2 there, where an HGX board allows 8.
    p = plan(1e22)
    shape, batch = p.architecture.shape, p.hyperparameters.batch_size_sequences
    pcie = fit_layout(shape, resolve_hardware("h100-pcie"), n_gpus=64, global_batch=batch)
    sxm = fit_layout(shape, resolve_hardware("h100"), n_gpus=64, global_batch=batch)
    assert (pcie.search.node_size, sxm.search.node_size) == (2, 8)
    assert pcie.best is not None and pcie.best.memory.layout.tp <= 2


def test_the_search_for_the_fewest_gpus_is_bounded_and_says_so() -> None:
    # A 3,509-layer, 151T-parameter plan (1e30 FLOPs) took 160 s to search for the fewest GPUs;
    # the search now stops at a fixed number of layer estimates and says so (deterministically).
    r = run_cli("budget", "1e30", "--gpu", "h800", "--gpus", "64", "--format", "json")
    assert r.exit_code == 1
    layout = r.json()["cost"]["layout"]
    assert layout["verdict"] == "does not fit" and layout["gpus_needed_exhaustive"] is False
    assert "search for the fewest GPUs stopped after 500,000" in r.stderr
    # An ordinary plan's search runs to its end.
    small = run_cli("budget", "1e24", "--gpu", "h800", "--gpus", "16", "--format", "json")
    assert small.json()["cost"]["layout"]["gpus_needed_exhaustive"] is True
