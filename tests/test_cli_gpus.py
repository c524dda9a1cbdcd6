"""``dsplan gpus``: list and show, text and JSON, and the unknown-id error."""

from __future__ import annotations

from conftest import assert_input_error, run_cli

from dsplan.catalog.gpus import load_table


def test_list_json() -> None:
    r = run_cli("gpus", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["schema_version"] == 1 and doc["as_of"] == "2026-11-28"
    assert [g["id"] for g in doc["gpus"]] == load_table().ids()
    h100 = next(g for g in doc["gpus"] if g["id"] == "h100-sxm")
    assert h100["peak_tflops"]["bf16"] == 989 and h100["price_as_of"] == "2026-09-25"
    assert all(g["source"] for g in doc["gpus"])


def test_list_text() -> None:
    r = run_cli("gpus")
    assert r.exit_code == 0 and r.stderr == ""
    for gpu_id in ("h100-sxm", "tpu-v5p", "trainium2", "mi355x"):
        assert gpu_id in r.stdout
    assert "dense" in r.stdout
    # What one "GPU" is, where that is not obvious (gpus.md section 0: per chip vs per package).
    assert "per 2-GCD package for MI250X" in r.stdout
    assert "per Blackwell GPU for GB200/GB300" in r.stdout
    assert all(line == line.rstrip() for line in r.stdout.splitlines())


def test_show_by_alias_json() -> None:
    r = run_cli("gpus", "h100", "--format", "json")
    assert r.exit_code == 0
    doc = r.json()
    assert doc["schema_version"] == 1 and doc["id"] == "h100-sxm"
    assert doc["mfu_best_published"] == {"bf16": 0.48, "fp8": 0.425}
    assert "Megatron-Core" in doc["mfu_best_published_source"]["bf16"]


def test_show_text_has_sources_and_assumptions() -> None:
    r = run_cli("gpus", "h800")
    assert r.exit_code == 0
    assert r.stdout.startswith("h800: NVIDIA H800 SXM5 80GB (NVIDIA)")
    assert "source" in r.stdout and "assumption" in r.stdout and "as of 2024-12-27" in r.stdout
    r = run_cli("gpus", "mi300x")
    assert "none public in the table; give --price-per-gpu-hour" in r.stdout


def test_unknown_gpu() -> None:
    assert_input_error(run_cli("gpus", "h1000"), "unknown GPU 'h1000'; did you mean h100-sxm")


def test_format_not_offered() -> None:
    assert_input_error(run_cli("gpus", "--format", "env"), "'env' is not one of")
