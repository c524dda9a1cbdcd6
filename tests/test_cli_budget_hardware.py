"""``dsplan budget --gpu ...`` and ``dsplan model ... --tokens D --gpu ...``: every option and exit."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import OUTPUT_REL, assert_input_error, run_cli

STABLE_KEYS = ("gpu", "peak_flops_per_gpu", "mfu", "flops_per_token_hardware", "gpu_hours")


def _cost(*args: str) -> dict:  # type: ignore[type-arg]
    r = run_cli("budget", *args, "--format", "json")
    assert r.exit_code == 0, r.stderr
    return r.json()["cost"]  # type: ignore[no-any-return]


def test_gpu_adds_the_cost_section() -> None:
    cost = _cost("1e24", "--gpu", "h800", "--gpus", "2048")
    for key in (*STABLE_KEYS, "wall_clock_days", "cost_usd"):
        assert key in cost
    assert cost["gpu"] == "h800" and cost["peak_flops_per_gpu"] == 989e12 and cost["mfu"] == 0.4
    # 2,048 GPUs: GPU-hours / 2048 / 24; the price is DeepSeek-V3's $2/GPU-hour assumption.
    assert cost["wall_clock_days"] == pytest.approx(cost["gpu_hours"] / 2048 / 24, rel=OUTPUT_REL)
    assert cost["cost_usd"] == pytest.approx(cost["gpu_hours"] * 2.0, rel=OUTPUT_REL)
    assert cost["dtype"] == "bf16" and cost["feasibility"]["feasible"] is True


def test_no_gpu_no_cost_and_no_table_read() -> None:
    r = run_cli("budget", "1e24", "--format", "json")
    assert "cost" not in r.json()
    code = (
        "import sys\n"
        "sys.argv = ['dsplan', 'budget', '1e24', '--format', 'json']\n"
        "from dsplan.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('dsplan.catalog.gpus', 'dsplan.planning.cost', 'numpy', 'scipy') if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_gpu_count_unknown_means_no_wall_clock() -> None:
    cost = _cost("1e22", "--gpu", "a100")
    assert "wall_clock_days" not in cost and cost["gpus"] is None
    assert cost["cost_usd"] == pytest.approx(cost["gpu_hours"] * 2.79, rel=OUTPUT_REL)


def test_no_price_known_means_no_cost_usd() -> None:
    cost = _cost("1e22", "--gpu", "mi300x", "--gpus", "64")
    assert "cost_usd" not in cost and "wall_clock_days" in cost


def test_each_option() -> None:
    base = _cost("1e22", "--gpu", "h100", "--gpus", "64")
    assert _cost("1e22", "--gpu", "h100", "--gpus", "64", "--mfu", "0.2")["gpu_hours"] == (
        pytest.approx(base["gpu_hours"] * 2, rel=OUTPUT_REL)
    )
    fp8 = _cost("1e22", "--gpu", "h100", "--dtype", "fp8")
    assert fp8["peak_flops_per_gpu"] == 1979e12 and fp8["mfu"] == 0.3 and fp8["dtype"] == "fp8"
    priced = _cost("1e22", "--gpu", "h100", "--price-per-gpu-hour", "1.5")
    assert priced["cost_usd"] == pytest.approx(priced["gpu_hours"] * 1.5, rel=OUTPUT_REL)
    assert priced["price_source"] == "given"
    days = _cost("1e22", "--gpu", "h100", "--days", "2")
    assert days["gpus_source"] == "fewest that meet --days"
    assert days["gpus"] == days["feasibility"]["gpus_required"]
    assert days["wall_clock_days"] <= 2
    money = _cost("1e22", "--gpu", "h100", "--max-cost-usd", "1e9")
    assert money["feasibility"]["fits_cost"] is True


def test_text_has_a_hardware_section() -> None:
    r = run_cli("budget", "1e24", "--gpu", "h800", "--gpus", "2048")
    assert r.exit_code == 0
    assert "Hardware (h800, bf16)" in r.stdout
    assert "GPU-hours" in r.stdout and "wall clock" in r.stdout and "states memory" in r.stdout


def test_several_budgets() -> None:
    r = run_cli("budget", "1e21", "1e22", "--gpu", "h100", "--gpus", "8", "--format", "json")
    assert r.exit_code == 0
    docs = r.json()
    assert [d["cost"]["gpu"] for d in docs] == ["h100-sxm", "h100-sxm"]
    text = run_cli("budget", "1e21", "1e22", "--gpu", "h100", "--gpus", "8")
    assert text.exit_code == 0 and "GPU-hours" in text.stdout and "feasible" in text.stdout


def test_field_and_env() -> None:
    r = run_cli("budget", "1e24", "--gpu", "h800", "--gpus", "2048", "--field", "cost.gpu")
    assert r.exit_code == 0 and r.stdout == "h800\n"
    env = run_cli("budget", "1e24", "--gpu", "h800", "--format", "env")
    assert "DSPLAN_COST_GPU_HOURS=" in env.stdout


def test_inverse_mode() -> None:
    r = run_cli("budget", "--gpu", "h800", "--gpus", "2048", "--days", "30", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    # C = 2048 x 989e12 x 0.4 x 30 days = 2.1000093696e24 FLOPs of hardware work.
    assert doc["cost"]["compute_flops_available"] == pytest.approx(2.1000093696e24, rel=OUTPUT_REL)
    assert doc["cost"]["wall_clock_days"] == pytest.approx(30, rel=1e-9)
    assert doc["compute_flops"] < doc["cost"]["compute_flops_available"]
    text = run_cli("budget", "--gpu", "h800", "--gpus", "2048", "--days", "30")
    assert text.exit_code == 0 and "cluster compute" in text.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--gpu", "h800", "--gpus", "2048"),
        ("--gpu", "h800", "--days", "30"),
        (),
    ],
)
def test_inverse_mode_needs_gpus_and_days(args: tuple[str, ...]) -> None:
    assert_input_error(
        run_cli("budget", *args),
        "give a compute budget C (e.g. 1e24), or --gpu, --gpus and --days to derive one",
    )


def test_missed_deadline_exits_1_with_json_on_stdout() -> None:
    r = run_cli(
        "budget", "1e24", "--gpu", "h800", "--gpus", "1024", "--days", "20", "--format", "json"
    )
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    f = doc["cost"]["feasibility"]
    assert f["feasible"] is False and f["fits_days"] is False and f["gpus_required"] == 1479
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: infeasible: needs 28.9 days on 1,024 h800"
    )
    assert "1,479 GPUs would meet it" in lines[0] and "Traceback" not in r.stderr


def test_over_budget_exits_1() -> None:
    r = run_cli("budget", "1e24", "--gpu", "h800", "--max-cost-usd", "1e6", "--format", "json")
    assert r.exit_code == 1
    assert r.json()["cost"]["feasibility"]["fits_cost"] is False
    assert r.stderr.startswith("error: infeasible: costs $1,419,089 at $2/GPU-hour, $419,089 (42%)")


def test_infeasible_text_still_prints_the_plan() -> None:
    r = run_cli("budget", "1e24", "--gpu", "h800", "--gpus", "1024", "--days", "20")
    assert r.exit_code == 1
    assert "Hardware (h800, bf16)" in r.stdout and "misses by 8.9 days" in r.stdout
    assert r.stderr.strip().splitlines()[-1].startswith("error: infeasible:")


def test_mfu_above_published_warns() -> None:
    r = run_cli("budget", "1e24", "--gpu", "h100", "--mfu", "0.6", "--format", "json")
    assert r.exit_code == 0
    assert r.stderr.startswith(
        "warning: MFU 0.6 is above the best published bf16 MFU on h100-sxm, 0.48 (Megatron-Core"
    )
    assert any("best published" in w for w in r.json()["warnings"])


def test_mfu_one_is_allowed() -> None:
    assert run_cli("budget", "1e22", "--gpu", "l4", "--mfu", "1").exit_code == 0


def test_memory_warning() -> None:
    # The states floor warns; no parallel layout fits either, so the plan is infeasible (exit 1,
    # the JSON still on stdout) and says how many GPUs would hold one.
    r = run_cli("budget", "1e24", "--gpu", "h100", "--gpus", "8", "--format", "json")
    assert r.exit_code == 1
    assert "do not fit on 8 h100-sxm of 80 GB even fully sharded (ZeRO-3): at least 21" in r.stderr
    cost = r.json()["cost"]
    assert cost["memory"]["fits_zero3"] is False
    assert cost["feasibility"]["fits_memory"] is False
    needed = cost["feasibility"]["gpus_required_memory"]
    assert needed == cost["layout"]["gpus_needed"] >= cost["memory"]["min_gpus_zero3"]
    assert f"needs at least {needed:,} GPUs" in r.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--gpu", "h1000"), "unknown GPU 'h1000'; did you mean h100-sxm"),
        (("--gpu", "h100", "--mfu", "0"), "the MFU must be a fraction in (0, 1], got 0.0 (--mfu)"),
        (
            ("--gpu", "h100", "--mfu", "1.2"),
            "the MFU must be a fraction in (0, 1], got 1.2 (--mfu)",
        ),
        (("--gpu", "h100", "--mfu", "-0.5"), "the MFU must be a fraction in (0, 1]"),
        (("--gpu", "a100", "--dtype", "fp8"), "a100-80gb has no fp8 peak"),
        (
            ("--gpu", "h100", "--dtype", "int4"),
            "the precision must be one of bf16, fp16, fp8, got 'int4' (--dtype)",
        ),
        (
            ("--gpu", "h100", "--gpus", "0"),
            "the GPU count must be a positive integer, got 0 (--gpus)",
        ),
        (
            ("--gpu", "h100", "--days", "-1"),
            "the deadline in days must be a positive finite number, got -1.0 (--days)",
        ),
        (
            ("--gpu", "h100", "--price-per-gpu-hour", "0"),
            "the price per GPU-hour must be a positive finite number, got 0.0 (--price-per-gpu-hour)",
        ),
        (
            ("--gpu", "h100", "--max-cost-usd", "0"),
            "the spending limit must be a positive finite number, got 0.0 (--max-cost-usd)",
        ),
        (
            ("--gpu", "mi300x", "--max-cost-usd", "1e6"),
            "a spending limit needs a price: the GPU table has none for mi300x; give the price per GPU-hour (--price-per-gpu-hour)",
        ),
        (("--gpus", "8"), "--gpus needs --gpu ID"),
        (("--mfu", "0.5"), "--mfu needs --gpu ID"),
        (("--days", "3"), "--days needs --gpu ID"),
        (("--gpu", "h100", "--mfu", "abc"), "'abc' is not a valid float"),
    ],
)
def test_input_errors(args: tuple[str, ...], fragment: str) -> None:
    assert_input_error(run_cli("budget", "1e24", *args, "--format", "json"), fragment)


def test_model_with_gpu() -> None:
    args = (
        "model",
        "--n-layers",
        "95",
        "--d-model",
        "8192",
        "--n-kv-heads",
        "8",
        "--tokens",
        "2e12",
    )
    r = run_cli(*args, "--gpu", "h800", "--gpus", "1024", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    cost = doc["cost"]
    assert cost["flops_per_token_hardware"] == doc["flops_per_token_hardware"]
    assert cost["tokens"] == 2e12 and cost["wall_clock_days"] > 0
    text = run_cli(*args, "--gpu", "h800", "--gpus", "1024")
    assert "Hardware (h800, bf16)" in text.stdout and "wall clock" in text.stdout
    late = run_cli(*args, "--gpu", "h800", "--gpus", "1024", "--days", "10", "--format", "json")
    assert late.exit_code == 1 and late.json()["cost"]["feasibility"]["feasible"] is False
    assert late.stderr.startswith("error: infeasible: needs 25.0 days on 1,024 h800 GPUs")


def test_model_gpu_needs_tokens() -> None:
    assert_input_error(
        run_cli("model", "--n-layers", "30", "--d-model", "4096", "--gpu", "h100"),
        "--gpu needs --tokens D",
    )
    assert_input_error(
        run_cli("model", "--n-layers", "30", "--d-model", "4096", "--gpus", "8"),
        "--gpus needs --gpu ID",
    )


def test_docs_worked_example_is_current() -> None:
    # docs/hardware.md shows real output of the worked example; it must not drift.
    import re
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "hardware.md").read_text()
    cost = run_cli("budget", "1e24", "--gpu", "h800", "--gpus", "2048", "--format", "json").json()
    cost = cost["cost"]
    assert re.search(rf"GPU-hours +{cost['gpu_hours']:,.0f}\n", docs)
    assert re.search(rf"wall clock +{cost['wall_clock_days']:.1f} days\n", docs)
    assert f"${cost['cost_usd']:,.0f} at $2/GPU-hour" in docs
    assert f'"gpu_hours": {cost["gpu_hours"]!r}' in docs


def test_gpu_from_a_toml_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from test_gpus import ONE_ENTRY

    path = tmp_path / "chip.toml"
    path.write_text(ONE_ENTRY)
    r = run_cli("budget", "1e21", "--gpu", str(path), "--gpus", "4", "--format", "json")
    assert r.exit_code == 0, r.stderr
    cost = r.json()["cost"]
    assert cost["gpu"] == "my-chip" and cost["peak_flops_per_gpu"] == 1e14 and cost["mfu"] == 0.5
    assert_input_error(
        run_cli("budget", "1e21", "--gpu", str(tmp_path / "no.toml")), "no such file"
    )
