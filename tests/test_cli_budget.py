"""`dsplan budget`: formats, fields, the stable JSON contract, and every error path."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import assert_input_error, run_cli

from dsplan.numbers import is_integer_key
from dsplan.output.text import flatten

# Issue #2 and #3: these keys are a public contract; scripts depend on them.
STABLE_KEYS = [
    "schema_version",
    "compute_flops",
    "preset",
    "optimal.flops_per_token",
    "optimal.tokens",
    "hyperparameters.learning_rate",
    "hyperparameters.batch_size_tokens",
    "hyperparameters.batch_size_sequences",
    "training.tokens",
    "schedule.warmup_steps",
    "schedule.total_steps",
    "schedule.milestones",
    "warnings",
    "architecture.n_layers",
    "architecture.d_model",
    "architecture.n_heads",
    "architecture.n_kv_heads",
    "architecture.d_ff",
    "architecture.vocab_size",
    "architecture.seq_len",
    "architecture.flops_per_token",
    "architecture.params_non_embedding",
    "architecture.params_total",
]


def _get(doc: dict, path: str) -> object:  # type: ignore[type-arg]
    for part in path.split("."):
        doc = doc[part]
    return doc


def test_json_has_the_stable_keys() -> None:
    r = run_cli("budget", "1e24", "--format", "json")
    assert r.exit_code == 0
    doc = r.json()
    for key in STABLE_KEYS:
        _get(doc, key)
    assert doc["schema_version"] == 1
    assert doc["preset"] == "current"
    assert isinstance(doc["hyperparameters"]["batch_size_sequences"], int)
    assert isinstance(doc["warnings"], list) and doc["warnings"]
    milestone = doc["schedule"]["milestones"][0]
    assert set(milestone) >= {"step", "tokens", "learning_rate"}


def test_budget_literals() -> None:
    # 2_000e20 is Python's digit grouping: 2e23.
    doc = run_cli("budget", "2_000e20", "--format", "json").json()
    assert doc["compute_flops"] == 2e23


def test_several_budgets_give_a_list_and_rows() -> None:
    r = run_cli("budget", "1e21", "1e22", "1e23", "--format", "json")
    docs = r.json()
    assert [d["compute_flops"] for d in docs] == [1e21, 1e22, 1e23]
    text = run_cli("budget", "1e21", "1e22", "1e23")
    assert text.exit_code == 0
    assert text.stdout.count("e+2") >= 3


def test_field_prints_one_bare_value() -> None:
    r = run_cli("budget", "1e24", "--field", "hyperparameters.learning_rate")
    assert r.exit_code == 0
    # Eq. 1: 0.3118 * (1e24)^-0.125 = 0.3118e-3 in decimal; in floats 0.00031180000000000004,
    # which the output contract writes to 7 significant digits.
    assert r.stdout == "0.0003118\n"
    steps = run_cli("budget", "1e24", "--field", "schedule.milestones.1.step")
    assert steps.stdout.strip().isdigit()
    several = run_cli("budget", "1e21", "1e22", "--field", "architecture.n_layers")
    assert len(several.stdout.split()) == 2


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_env_is_safe_to_eval_in_bash() -> None:
    r = run_cli("budget", "1e24", "--format", "env", "--preset", "early")
    assert r.exit_code == 0
    assert all(line.startswith("DSPLAN_") for line in r.stdout.splitlines())
    script = (
        r.stdout
        + '\nprintf "%s|%s|%s" "$DSPLAN_HYPERPARAMETERS_LEARNING_RATE" "$DSPLAN_PRESET" "$DSPLAN_WARNINGS_0"'
    )
    shown = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, check=True
    ).stdout
    lr, preset, warning = shown.split("|")
    assert float(lr) == pytest.approx(0.3118 * 1e24**-0.125)
    assert preset == "early"
    assert "orders of magnitude" in warning


def test_text_output_reads_at_a_glance() -> None:
    r = run_cli("budget", "1e24")
    assert r.exit_code == 0
    for fragment in (
        "M_opt",
        "D_opt",
        "layers",
        "peak learning rate",
        "batch size",
        "stage2",
        "preset current",
        "arXiv 2401.02954",
    ):
        assert fragment in r.stdout
    assert "warning: " in r.stderr and "orders of magnitude" in r.stderr


def test_output_is_byte_identical() -> None:
    a = run_cli("budget", "3.2e23", "--format", "json").stdout
    b = run_cli("budget", "3.2e23", "--format", "json").stdout
    assert a == b


def test_options_reach_the_plan() -> None:
    doc = run_cli(
        "budget",
        "1e22",
        "--seq-len",
        "2048",
        "--vocab-size",
        "32000",
        "--layers-multiple",
        "4",
        "--head-dim",
        "64",
        "--n-kv-heads",
        "4",
        "--aspect-ratio",
        "100",
        "--heads-multiple",
        "16",
        "--format",
        "json",
    ).json()
    a = doc["architecture"]
    assert (a["seq_len"], a["vocab_size"], a["head_dim"], a["n_kv_heads"]) == (2048, 32000, 64, 4)
    assert a["n_layers"] % 4 == 0
    assert a["n_heads"] % 16 == 0
    assert doc["inputs"]["heads_multiple"] == 16


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["nonsense"], "compute budget must be a positive number"),
        (["0"], "positive finite"),
        (["--", "-1e20"], "positive finite"),
        (["-1e20"], "No such option"),
        (["inf"], "positive finite"),
        (["nan"], "positive finite"),
        (["1e24", "--preset", "curent"], "did you mean current"),
        (["1e24", "--preset", "./missing.toml"], "no such file"),
        (["1e24", "--field", "hyperparameters.lr"], "unknown field 'hyperparameters.lr'"),
        (["1e24", "--format", "xml"], "--format"),
        (["1e24", "--format", "csv"], "'csv' is not one of"),
        (["1e21", "1e22", "--format", "env"], "--format env takes one budget"),
        (["1e24", "--seq-len", "0"], "--seq-len must be a positive integer"),
        (
            ["1e24", "--aspect-ratio", "-3"],
            "the aspect ratio d_model / n_layers must be a positive number, got -3.0 (--aspect-ratio)",
        ),
        (["1e24", "--bogus"], "No such option"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], fragment: str) -> None:
    assert_input_error(run_cli("budget", *args), fragment)


def test_unknown_field_suggests() -> None:
    r = run_cli("budget", "1e24", "--field", "hyperparameters.learning_rat")
    assert_input_error(r, "did you mean hyperparameters.learning_rate?")


def test_malformed_preset_file_names_file_and_key(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "p.toml"
    path.write_text('schema_version = 1\nid = "p"\ndescription = "d"\nsource = "s"\n')
    assert_input_error(
        run_cli("budget", "1e24", "--preset", str(path)), f"{path}: missing table [model_scaling]"
    )


def test_no_args_shows_help() -> None:
    r = run_cli()
    assert r.exit_code == 0
    assert "budget" in r.stdout


def test_python_m_dsplan_runs() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "dsplan", "budget", "1e20", "--field", "preset"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0 and r.stdout == "current\n"
    bad = subprocess.run(
        [sys.executable, "-m", "dsplan", "budget", "nonsense"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("error: ") and len(bad.stderr.splitlines()) == 1


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_env_export_reaches_child_processes_and_shell_arithmetic() -> None:
    # The installed command, as a run script calls it: eval in one shell, read in a child shell.
    dsplan = [sys.executable, "-m", "dsplan"]
    command = " ".join(dsplan) + " budget 1e24 --format env --export"
    script = (
        f'eval "$({command})"\n'
        "bash -c 'echo $((DSPLAN_SCHEDULE_MILESTONES_0_TOKENS / 2)) $DSPLAN_TRAINING_TOKENS'"
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    half, tokens = done.stdout.split()
    plan = run_cli("budget", "1e24", "--format", "json").json()
    assert int(half) == plan["schedule"]["milestones"][0]["tokens"] // 2
    assert int(tokens) == plan["training"]["tokens"] == round(plan["training"]["tokens"])


def test_env_lines_are_exported_only_when_asked() -> None:
    plain = run_cli("budget", "1e24", "--format", "env").stdout.splitlines()
    exported = run_cli("budget", "1e24", "--format", "env", "--export").stdout.splitlines()
    assert exported == [f"export {line}" for line in plain]
    assert not any(line.endswith(".0") for line in plain if "_TOKENS=" in line)
    assert_input_error(
        run_cli("budget", "1e24", "--export"), "--export applies to --format env only"
    )


def test_script_formats_carry_no_float_noise() -> None:
    # Output contract (README): whole quantities are integers (floats of 15 digits only beyond
    # 2**63 - 1); every other number has at most 7 significant digits. env says the same as JSON.
    args = ("budget", "1e22", "--gpu", "h800", "--gpus", "64")
    doc = run_cli(*args, "--format", "json").json()
    for path, value in flatten(doc):
        key = path.split(".")[-1] if not path.split(".")[-1].isdigit() else path.split(".")[-2]
        if isinstance(value, float) and is_integer_key(key):
            assert abs(value) > 2**63 - 1, path
        elif isinstance(value, float):
            digits = repr(abs(value)).split("e")[0].replace(".", "").strip("0")
            assert len(digits) <= 7, (path, value)
    env = dict(line.split("=", 1) for line in run_cli(*args, "--format", "env").stdout.splitlines())
    assert env["DSPLAN_TRAINING_TOKENS"] == str(doc["training"]["tokens"])
    assert env["DSPLAN_HYPERPARAMETERS_LEARNING_RATE"] == repr(
        doc["hyperparameters"]["learning_rate"]
    )
    toml = run_cli("budget", "1e22", "--format", "toml").stdout
    assert "tokens = 172298882820\n" in toml  # C / M = 172298882819.55737, rounded to a whole token
    assert f"learning_rate = {doc['hyperparameters']['learning_rate']!r}\n" in toml
