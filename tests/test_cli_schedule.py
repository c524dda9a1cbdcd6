"""`dsplan schedule`: every format, the worked example, the plot extra and every input error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import OUTPUT_REL, assert_input_error, run_cli

DOCS = Path(__file__).resolve().parent.parent / "docs" / "schedule.md"
# DeepSeek LLM 7B (arXiv 2401.02954, Table 2): 2T tokens, 2304 x 4096-token batches, peak 4.2e-4.
RUN_7B = ("--tokens", "2e12", "--batch-size-tokens", "9437184", "--learning-rate", "4.2e-4")
SHAPE_7B = ("--n-layers", "30", "--d-model", "4096")


def schedule(*args: str):
    return run_cli("schedule", *args)


def test_worked_example_json() -> None:
    # DeepSeek-LLM README: drops at 1.6T and 1.8T tokens; extended to 3T, the 1.6T checkpoint is
    # reused (arXiv 2401.02954, Section 2.3). Integer steps: within one batch, rel=1e-5.
    r = schedule(*RUN_7B, "--extend-to", "3e12", *SHAPE_7B, "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["schema_version"] == 1
    assert doc["kind"] == "multistep"
    names = [m["name"] for m in doc["milestones"]]
    assert names == ["warmup_end", "stage2", "stage3", "end"]
    assert set(doc["milestones"][0]) == {"name", "step", "tokens", "learning_rate"}
    assert doc["milestones"][1]["tokens"] == pytest.approx(1.6e12, rel=1e-5)
    assert doc["milestones"][2]["tokens"] == pytest.approx(1.8e12, rel=1e-5)
    ext = doc["extension"]
    assert ext["reusable_tokens"] == pytest.approx(1.6e12, rel=1e-5)
    assert ext["reusable_tokens"] == doc["milestones"][1]["tokens"]
    assert ext["reuse_fraction"] == pytest.approx(0.8, rel=1e-5)
    assert [m["tokens"] for m in ext["milestones"][1:3]] == [
        pytest.approx(2.4e12, rel=1e-5),
        pytest.approx(2.7e12, rel=1e-5),
    ]
    # Eq. 1 (arXiv 2401.02954) at C2 = M x 3T: lower rate, larger batch than the running ones.
    c2 = ext["compute_flops"]
    assert c2 == pytest.approx(ext["flops_per_token"] * 3e12, rel=OUTPUT_REL)
    assert ext["law_learning_rate"] == pytest.approx(0.3118 * c2**-0.125, rel=OUTPUT_REL)
    assert ext["learning_rate_drift"] == pytest.approx(
        ext["law_learning_rate"] / 4.2e-4 - 1, abs=OUTPUT_REL
    )  # a drift near 0: its written value is within 5e-7 of the rate ratio, not of itself
    assert ext["batch_size_drift"] == pytest.approx(
        0.2920 * c2**0.3271 / 9437184 - 1, abs=OUTPUT_REL
    )


def test_worked_example_text_is_in_the_docs() -> None:
    r = schedule(*RUN_7B, "--extend-to", "3e12", *SHAPE_7B)
    assert r.exit_code == 0, r.stderr
    assert "1.6T" in r.stdout and "1.8T" in r.stdout
    assert "reuse the checkpoint at step 169,542 = 1.6T tokens" in r.stdout
    assert "█" in r.stdout and "▲ reused checkpoint" in r.stdout
    # The token axis ticks each drop and labels it: 1.6T and 1.8T, then 2.4T and 2.7T for 3T.
    axes = [line for line in r.stdout.splitlines() if "└" in line]
    assert [a.count("┬") for a in axes] == [2, 2]
    assert "1.6T 1.8T" in r.stdout and "2.4T  2.7T  3T tokens" in r.stdout
    # The docs show this very output; regenerate docs/schedule.md when it changes.
    assert r.stdout.strip() in DOCS.read_text(encoding="utf-8")


def test_extension_without_m_says_drift_cannot_be_computed() -> None:
    r = schedule(*RUN_7B, "--extend-to", "3e12", "--format", "json")
    assert r.exit_code == 0, r.stderr
    ext = r.json()["extension"]
    for key in ("compute_flops", "law_learning_rate", "learning_rate_drift", "batch_size_drift"):
        assert ext[key] is None
    assert "warning: drift cannot be computed" in r.stderr


def test_flops_per_token_gives_the_drift() -> None:
    r = schedule(*RUN_7B, "--extend-to", "3e12", "--flops-per-token", "4.23e10", "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["extension"]["compute_flops"] == pytest.approx(4.23e10 * 3e12, rel=OUTPUT_REL)


def test_budget_mode_knows_m() -> None:
    r = schedule("--budget", "1e20", "--extend-to", "1e11", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["inputs"]["mode"] == "budget"
    m = doc["inputs"]["flops_per_token"]
    assert doc["extension"]["compute_flops"] == pytest.approx(m * 1e11, rel=OUTPUT_REL)
    # The plan's own numbers: D = C / M and the batch and rate of `dsplan budget`.
    plan = run_cli("budget", "1e20", "--format", "json").json()
    assert doc["tokens"] == plan["training"]["tokens"]
    assert doc["tokens_per_step"] == plan["hyperparameters"]["tokens_per_step"]
    assert doc["peak_learning_rate"] == plan["hyperparameters"]["learning_rate"]
    assert doc["milestones"] == plan["schedule"]["milestones"]


@pytest.mark.parametrize("kind", ["cosine", "wsd"])
def test_other_kinds_extend(kind) -> None:
    r = schedule(*RUN_7B, "--kind", kind, "--extend-to", "3e12", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["kind"] == kind
    assert doc["final_learning_rate"] == pytest.approx(4.2e-5, rel=OUTPUT_REL)
    ext = doc["extension"]
    if kind == "wsd":  # the last stable checkpoint, at 90% of the planned tokens
        assert ext["reuse_fraction"] == pytest.approx(0.9, rel=1e-5)
    else:  # cosine loses most of the run: say how much
        assert ext["reuse_fraction"] < 0.5
        assert any("are lost" in n for n in ext["notes"])


def test_csv_every_k() -> None:
    r = schedule(*RUN_7B, "--format", "csv", "--every", "50000")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "step,tokens,learning_rate"
    steps = [int(line.split(",")[0]) for line in lines[1:]]
    assert steps == [0, 50000, 100000, 150000, 200000, 211927]
    assert float(lines[1].split(",")[2]) == 0.0
    assert float(lines[-1].split(",")[2]) == pytest.approx(4.2e-5, rel=OUTPUT_REL)


def test_csv_extended_run() -> None:
    r = schedule(*RUN_7B, "--format", "csv", "--every", "100000", "--extend-to", "3e12")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("317891,")
    assert "csv: the rates of the extended run" in r.stderr


def test_custom_stages_and_warmup_clamp() -> None:
    r = schedule(
        "--tokens",
        "1e6",
        "--batch-size-tokens",
        "1e4",
        "--learning-rate",
        "1e-3",
        "--stage-fractions",
        "0.5,0.75",
        "--stage-factors",
        "0.5,0.25",
        "-f",
        "json",
    )
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert [m["step"] for m in doc["milestones"]] == [10, 50, 75, 100]
    assert doc["warmup_steps"] == 10
    assert "warning: warm-up shortened from 2000 to 10 steps" in r.stderr


def test_help() -> None:
    r = schedule("--help")
    assert r.exit_code == 0
    assert "--extend-to" in r.stdout and "Examples" in r.stdout


def test_plot_needs_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    assert_input_error(
        schedule(*RUN_7B, "--plot", "lr.png"),
        "--plot needs matplotlib, which is not installed: pip install 'dsplan[plot]'",
    )


BAD = [
    (
        ("--tokens", "0", "--batch-size-tokens", "1e6", "--learning-rate", "1e-3"),
        "--tokens must be a positive finite number",
    ),
    (
        ("--tokens", "1e9", "--batch-size-tokens", "-5", "--learning-rate", "1e-3"),
        "--batch-size-tokens must be a positive finite number",
    ),
    (
        ("--tokens", "1e9", "--batch-size-tokens", "1e6", "--learning-rate", "0"),
        "--learning-rate must be a positive finite number",
    ),
    (
        ("--tokens", "1e9", "--batch-size-tokens", "1.5", "--learning-rate", "1e-3"),
        "whole number of tokens",
    ),
    (("--tokens", "1e9", "--batch-size-tokens", "1e6"), "missing: --learning-rate"),
    ((), "give --budget C, or an explicit run"),
    (("--budget", "1e21", "--tokens", "1e9"), "give either --budget or an explicit run, not both"),
    (("--budget", "0"), "--budget must be a positive finite number"),
    (
        (*RUN_7B, "--stage-fractions", "0.9,0.8"),
        "stage fractions must increase strictly and lie in (0, 1), got 0.9,0.8",
    ),
    (
        (*RUN_7B, "--stage-fractions", "0.8,1"),
        "stage fractions must increase strictly and lie in (0, 1), got 0.8,1",
    ),
    (
        (*RUN_7B, "--stage-fractions", "0,0.9"),
        "stage fractions must increase strictly and lie in (0, 1), got 0,0.9",
    ),
    ((*RUN_7B, "--stage-fractions", "a,b"), "--stage-fractions takes comma-separated numbers"),
    (
        (*RUN_7B, "--stage-factors", "0.316"),
        "give as many stage factors as stage fractions, got factors 0.316 for fractions 0.8,0.9",
    ),
    ((*RUN_7B, "--stage-factors", "0.316,0"), "stage factors must lie in (0, 1], got 0.316,0"),
    (
        (*RUN_7B, "--kind", "cosine", "--final-lr-fraction", "1"),
        "final learning-rate fraction must lie in [0, 1)",
    ),
    ((*RUN_7B, "--kind", "wsd", "--decay-fraction", "0"), "decay fraction must lie in (0, 1)"),
    ((*RUN_7B, "--kind", "wsd", "--decay-fraction", "1"), "decay fraction must lie in (0, 1)"),
    ((*RUN_7B, "--decay-fraction", "0.2"), "--decay-fraction applies to --kind wsd, not multistep"),
    (
        (*RUN_7B, "--kind", "cosine", "--stage-fractions", "0.5"),
        "--stage-fractions applies to --kind multistep, not cosine",
    ),
    (
        (*RUN_7B, "--final-lr-fraction", "0.2"),
        "--final-lr-fraction applies to --kind cosine or wsd",
    ),
    (
        (*RUN_7B, "--extend-to", "1e12"),
        "the extended run must be longer than the planned 2e+12 tokens, got 1e+12 (--extend-to)",
    ),
    (
        (*RUN_7B, "--extend-to", "2e12"),
        "the extended run must be longer than the planned 2e+12 tokens",
    ),
    ((*RUN_7B, "--extend-to", "-3e12"), "--extend-to must be a positive finite number"),
    ((*RUN_7B, "--warmup-steps", "-1"), "--warmup-steps must not be negative"),
    ((*RUN_7B, "--every", "10"), "--every applies to --format csv only"),
    ((*RUN_7B, "-f", "csv", "--every", "0"), "--every must be a positive integer"),
    ((*RUN_7B, "-f", "env"), "'env' is not one of"),
    ((*RUN_7B, "--n-layers", "30"), "give both --n-layers and --d-model"),
    ((*RUN_7B, "--n-kv-heads", "8"), "give --n-layers and --d-model too"),
    ((*RUN_7B, *SHAPE_7B, "--flops-per-token", "4e10"), "not both"),
    ((*RUN_7B, "--flops-per-token", "0"), "--flops-per-token must be a positive finite number"),
    ((*RUN_7B, "--aspect-ratio", "100"), "--aspect-ratio applies to --budget plans only"),
    (("--budget", "1e21", "--n-layers", "30"), "not both"),
    (("--budget", "1e21", "--preset", "nope"), "unknown preset 'nope'"),
    ((*RUN_7B, "--kind", "linear"), "Invalid value for '--kind'"),
    ((*RUN_7B, "--plot", "lr.txt"), "--plot lr.txt: give a file ending in .png, .svg, .pdf"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD, ids=[b[1][:40] for b in BAD])
def test_bad_input_exits_2(args, fragment) -> None:
    assert_input_error(schedule(*args), fragment)


def test_chart_ticks_line_up_with_the_drop() -> None:
    from dsplan.output.schedule_chart import CHART_WIDTH, axis_rows, chart_column, chart_rows
    from dsplan.scheduling.schedules import multistep

    s = multistep(1e-3, 2e12, 2304 * 4096)
    axis, labels = axis_rows(s, 2e12)
    assert len(axis) == CHART_WIDTH and labels.endswith(" 2T tokens") and labels.startswith("0")
    # The first column drawn below the peak is the column of the first tick (drop at 80%: col 48).
    top = chart_rows(s, 2e12, 1e-3)[0]
    first_low = next(i for i, c in enumerate(top) if i > 2 and c != "█")
    assert axis.index("┬") == first_low == chart_column(1.6e12, 2e12) == 48
