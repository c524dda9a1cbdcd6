"""`budget --format megatron`: Megatron-LM launch arguments that `check --strict` reads back."""

from __future__ import annotations

import math
import re
import shlex
from pathlib import Path

import pytest
from conftest import assert_input_error, run_cli

from dsplan.checking.dialects import detect
from dsplan.checking.files import parse_any
from dsplan.checking.megatron_writer import megatron_layout, megatron_split
from dsplan.checking.schema import ConfigProblems
from dsplan.model.flops import Shape
from dsplan.planning.cost import resolve_hardware
from dsplan.planning.layout_fit import fit_layout

PARSER = Path(__file__).parent / "data" / "megatron" / "arguments.txt"


def _parser_arguments() -> dict[str, set[str] | None]:
    """Names (and value choices) read from Megatron-LM's parser; see the file's header."""
    names: dict[str, set[str] | None] = {}
    for line in PARSER.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, choices = line.partition(":")
            names[name.strip()] = set(choices.split()) if choices else None
    return names


def _script(*args: str) -> str:
    r = run_cli("budget", *args, "--format", "megatron")
    assert r.exit_code == 0, r.stderr
    return r.stdout


def _arguments(script: str) -> list[tuple[str, str | None]]:
    """The Megatron arguments of a script (after pretrain_gpt.py) and of its restart lines."""
    lines = [ln.rstrip("\\").strip() for ln in script.splitlines()]
    command = " ".join(ln for ln in lines if ln and not ln.startswith("#"))
    words = shlex.split(command.split("pretrain_gpt.py", 1)[1])
    for ln in lines:
        if ln.startswith("# dsplan-lr-drop"):
            words += shlex.split(ln.split("#")[1])[2:]
    out: list[tuple[str, str | None]] = []
    for i, w in enumerate(words):
        if w.startswith("--"):
            nxt = words[i + 1] if i + 1 < len(words) else None
            out.append((w[2:], None if nxt is None or nxt.startswith("--") else nxt))
    return out


SCRIPTS = [
    ("1e24", "--gpu", "h800", "--gpus", "2048"),
    ("1e21", "--gpu", "a100", "--gpus", "16"),
    ("1e22",),
    ("4e23", "--moe", "--n-experts", "64", "--top-k", "6", "--n-shared-experts", "2"),
    ("4e24", "--moe", "--n-experts", "256", "--top-k", "8", "--n-shared-experts", "1",
     "--first-dense-layers", "3", "--mla"),
]  # fmt: skip


@pytest.mark.parametrize("args", SCRIPTS, ids=[" ".join(a) for a in SCRIPTS])
def test_every_argument_is_one_of_megatron_lm(args: tuple[str, ...]) -> None:
    known = _parser_arguments()
    script = _script(*args)
    assert "core_v0.14.0" in script.splitlines()[2]  # the release, in the header
    assert detect(script) == "megatron"
    for name, value in _arguments(script):
        assert name in known, name
        choices = known[name]
        if choices is not None:
            assert value in choices, (name, value)


def test_one_argument_a_line_with_continuations() -> None:
    script = _script("1e24", "--gpu", "h800", "--gpus", "2048")
    body = [ln for ln in script.splitlines() if not ln.startswith("#")]
    assert body[0].startswith("torchrun --nproc_per_node 8 --nnodes 256 pretrain_gpt.py \\")
    assert all(ln.startswith("    --") and ln.count(" --") == 1 for ln in body[1:])
    assert all(ln.endswith(" \\") for ln in body[:-1]) and not body[-1].endswith("\\")


@pytest.mark.parametrize("compute", ["1e19", "1e20", "1e21", "1e22", "1e23", "1e24", "1e25"])
def test_dense_round_trip_keeps_m_c_lr_and_batch(compute: str) -> None:
    gpus = "64" if float(compute) < 1e24 else "2048"
    hardware = ("--gpu", "h100", "--gpus", gpus)
    plan = run_cli("budget", compute, *hardware, "--format", "json").json()
    script = _script(compute, *hardware)
    checked = run_cli("check", "--strict", "--format", "json", "-", input=script)
    assert checked.exit_code == 0, checked.stdout
    derived = checked.json()["files"][0]["derived"]
    assert derived["dialect"] == "megatron"
    assert derived["flops_per_token"] == plan["architecture"]["flops_per_token"]
    assert derived["params_total"] == plan["architecture"]["params_total"]
    assert derived["global_batch_sequences"] == plan["hyperparameters"]["batch_size_sequences"]
    lr = plan["hyperparameters"]["learning_rate"]
    written = parse_any(script, "pretrain.sh", base_dir=Path()).training.learning_rate
    assert math.isclose(written, lr, rel_tol=1e-6)  # 7 significant digits
    # Eq. 1 at the script's own C (whole iterations move C by less than a step's share).
    assert math.isclose(derived["learning_rate_law"], lr, rel_tol=1e-4)
    # Whole iterations: D within one step of the plan's C / M.
    step = plan["hyperparameters"]["tokens_per_step"]
    assert abs(derived["tokens"] - plan["training"]["tokens"]) <= step
    m = derived["flops_per_token"]
    assert abs(derived["compute_flops"] - m * plan["training"]["tokens"]) <= m * step
    lay = plan["cost"]["layout"]["best"]["layout"]
    assert derived["world_size"] == int(gpus)
    if lay["zero"] <= 1:  # the layout Megatron expresses is the search's best
        assert (derived["tensor_parallel"], derived["pipeline_parallel"]) == (lay["tp"], lay["pp"])


MOE = [
    ("1e22", "--n-experts", "8", "--top-k", "2"),
    ("4e23", "--n-experts", "64", "--top-k", "6", "--n-shared-experts", "2"),
    ("4e24", "--n-experts", "256", "--top-k", "8", "--n-shared-experts", "1",
     "--first-dense-layers", "3", "--mla"),
]  # fmt: skip


@pytest.mark.parametrize("moe", MOE)
@pytest.mark.parametrize("hardware", [(), ("--gpu", "h800", "--gpus", "2048")])
def test_moe_round_trip_keeps_the_activated_m(
    moe: tuple[str, ...], hardware: tuple[str, ...]
) -> None:
    plan = run_cli("budget", moe[0], "--moe", *moe[1:], *hardware, "--format", "json").json()
    script = _script(moe[0], "--moe", *moe[1:], *hardware)
    if hardware:
        assert "--expert-model-parallel-size" in script
    checked = run_cli("check", "--strict", "--format", "json", "-", input=script)
    assert checked.exit_code == 0, checked.stdout
    derived = checked.json()["files"][0]["derived"]
    arch = plan["architecture"]
    assert derived["flops_per_token"] == arch["flops_per_token"]
    assert derived["params_total"] == arch["params_total"]
    assert derived["global_batch_sequences"] == plan["hyperparameters"]["batch_size_sequences"]


def test_the_multi_step_schedule_is_read_from_the_restart_lines() -> None:
    plan = run_cli("budget", "1e24", "--format", "json").json()
    script = _script("1e24")
    cfg = parse_any(script, "pretrain.sh", base_dir=Path())
    t = cfg.training
    assert t.schedule == "multistep" and t.warmup_steps == plan["schedule"]["warmup_steps"]
    factors = [round(f, 4) for f in t.stage_factors]
    assert factors == [0.316, 0.1]  # DeepSeek LLM, Section 2.3
    stages = {m["name"]: m for m in plan["schedule"]["milestones"]}
    seq_tokens = plan["hyperparameters"]["tokens_per_step"]
    assert t.stage_tokens == (
        stages["stage2"]["step"] * seq_tokens,
        stages["stage3"]["step"] * seq_tokens,
    )
    # The first run stops at the first drop; the restart at the second.
    assert f"--exit-interval {stages['stage2']['step']} \\" in script
    assert f"--exit-interval {stages['stage3']['step']}  #" in script
    # Without the restart lines, a constant rate is what Megatron would run: DSP407.
    bare = "\n".join(ln for ln in script.splitlines() if "dsplan-lr-drop" not in ln)
    assert "DSP407" in run_cli("check", "-", input=bare).stdout


def test_restart_lines_that_cannot_be_read_are_input_errors() -> None:
    script = _script("1e22")
    broken = script.replace("# dsplan-lr-drop 2", "# dsplan-lr-drop x2", 1)
    with pytest.raises(ConfigProblems, match="dsplan-lr-drop ITERATION"):
        parse_any(broken, "pretrain.sh", base_dir=Path())
    cosine = script.replace("--lr-decay-style constant", "--lr-decay-style cosine")
    with pytest.raises(ConfigProblems, match="need --lr-decay-style constant"):
        parse_any(cosine, "pretrain.sh", base_dir=Path())


def test_declared_departures_are_ignored_as_in_the_toml() -> None:
    # Below the preset's fit range, the plan warns (DSP305) and declares it, as its TOML does.
    script = _script("1e16")
    assert re.search(r"^# dsplan-ignore DSP305: ", script, re.MULTILINE)
    assert run_cli("check", "--strict", "-", input=script).exit_code == 0
    undeclared = re.sub(r"^# dsplan-ignore .*\n", "", script, flags=re.MULTILINE)
    assert "DSP305" in run_cli("check", "-", input=undeclared).stdout


@pytest.mark.parametrize(
    ("layers", "stages", "split"),
    [
        (126, 16, (7,) + (8,) * 14 + (7,)),  # Llama 3 405B (arXiv 2407.21783, Section 3.3.2)
        (61, 16, (2,) + (4,) * 14 + (3,)),
        (79, 2, (39, 40)),
        (56, 16, (7,) + (3,) * 14 + (7,)),  # no middle of 4 leaves the edges a layer
        (80, 8, (10,) * 8),
    ],
)
def test_megatron_split_has_even_middle_stages(
    layers: int, stages: int, split: tuple[int, ...]
) -> None:
    got = megatron_split(layers, stages)
    assert got == split and sum(got) == layers and len(set(got[1:-1])) <= 1


LLAMA_405B = Shape.build(
    126, 16384, n_heads=128, n_kv_heads=8, d_ff=53248, vocab_size=128256, seq_len=8192
)


def test_the_exported_layout_is_one_megatron_runs() -> None:
    # dsplan's best layout of Llama 3 405B on 8,192 H100s uses ZeRO-2 (no Megatron argument); the
    # export takes the best with the distributed optimizer, on Megatron's split, that still fits.
    fit = fit_layout(LLAMA_405B, resolve_hardware("h100", mfu=0.43), n_gpus=8192, global_batch=2048)
    assert fit.best is not None and fit.best.memory.layout.zero == 2
    mem = megatron_layout(fit, LLAMA_405B)
    assert mem is not None and mem.fits and mem.layout.zero <= 1
    split = tuple(s.layers for s in mem.stages)
    assert split == megatron_split(126, mem.layout.pp)


def test_uneven_stages_are_written_and_read_back_without_dsp604() -> None:
    from dsplan.checking.megatron_writer import _layout_args
    from dsplan.planning.memory import Layout, run_memory

    lay = Layout(tp=8, pp=16, dp=64, zero=1, recompute="full", stage_layers=megatron_split(126, 16))
    mem = run_memory(LLAMA_405B, lay, gpu_memory_gb=80, global_batch=2048)
    args = _layout_args(LLAMA_405B, mem)
    assert "--decoder-first-pipeline-num-layers 7" in args
    assert "--decoder-last-pipeline-num-layers 7" in args
    assert "--recompute-granularity full" in args and "--use-distributed-optimizer" in args
    script = (
        "torchrun --nproc_per_node 8 --nnodes 1024 pretrain_gpt.py --num-layers 126 "
        "--hidden-size 16384 --ffn-hidden-size 53248 --num-attention-heads 128 "
        "--group-query-attention --num-query-groups 8 --swiglu --disable-bias-linear "
        "--normalization RMSNorm --position-embedding-type rope "
        "--untie-embeddings-and-output-weights --vocab-size 128256 --seq-length 8192 "
        "--micro-batch-size 1 --global-batch-size 2048 --train-iters 1000 --lr 8e-5 "
        + " ".join(args)
    )
    found = run_cli("check", "--format", "json", "--gpu", "h100", "-", input=script).json()
    rules = {f["rule"] for f in found["files"][0]["findings"]}
    assert not {"DSP601", "DSP602", "DSP603", "DSP604", "DSP606"} & rules


def test_megatron_format_takes_one_budget() -> None:
    assert_input_error(
        run_cli("budget", "1e22", "1e23", "--format", "megatron"), "takes one budget"
    )
