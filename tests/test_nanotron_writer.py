"""``dsplan budget C --format nanotron``: a nanotron YAML that ``dsplan check --strict`` passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import assert_input_error, run_cli

from dsplan.checking.dialects.nanotron import end_rate
from dsplan.checking.files import parse_any
from dsplan.checking.nanotron_writer import yaml_float
from dsplan.checking.rules import check_texts


def _written(*args: str) -> str:
    result = run_cli("budget", *args, "--format", "nanotron")
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("1e19",),
        ("1e21",),
        ("1e23",),
        ("1e25",),
        ("1e17", "--preset", "kaplan"),  # below the fit range: DSP305 declared by a comment
        ("1e23", "--preset", "kaplan"),  # a parameter-count law: DSP303 declared, the preset named
        ("1e22", "--gpu", "h100", "--gpus", "64"),
        ("1e25", "--gpu", "h100", "--gpus", "16384"),
    ],
    ids=" ".join,
)
def test_written_nanotron_configs_pass_check_strict(args: tuple[str, ...]) -> None:
    text = _written(*args)
    report = check_texts([(text, "<stdin>", Path())], strict=True)
    assert report.exit_code == 0, [f.rule for f in report.files[0].findings]
    assert report.files[0].derived.dialect == "nanotron"
    # The plan's C, within the rounding of train_steps (up, so never below it).
    compute = report.files[0].derived.compute_flops
    assert compute is not None and 1.0 <= compute / float(args[0]) < 1.01
    # Plain YAML as nanotron reads it (PyYAML's SafeLoader): floats are floats, not strings.
    data = yaml.safe_load(text)
    sched = data["optimizer"]["learning_rate_scheduler"]
    assert isinstance(sched["learning_rate"], float) and isinstance(sched["min_decay_lr"], float)
    tokens, par = data["tokens"], data["parallelism"]
    batch = par["dp"] * tokens["micro_batch_size"] * tokens["batch_accumulation_per_replica"]
    plan = json.loads(run_cli("budget", *args, "--format", "json").stdout)
    assert batch == plan["hyperparameters"]["batch_size_sequences"]
    if "--gpus" in args:
        # dsplan's best layout, or the best of those nanotron can run (ZeRO-1 at most, ...): it
        # fits, as check --gpu confirms.
        if "# Layout: dsplan's best on" in text:
            layout = plan["cost"]["layout"]["best"]["layout"]
            assert (par["tp"], par["pp"], par["dp"]) == (layout["tp"], layout["pp"], layout["dp"])
        else:
            assert "# Layout: dsplan's best nanotron can run on" in text
        assert data["optimizer"]["zero_stage"] in (0, 1)
        checked = run_cli("check", "--strict", "-", "--gpu", args[2], input=text)
        assert checked.exit_code == 0, checked.stdout


def test_the_multistep_schedule_is_nanotrons_decay_from_80_percent_to_a_tenth() -> None:
    text = _written("1e21")
    assert "has no\n# nanotron equivalent" in text
    cfg = parse_any(text, "<stdin>")
    t = cfg.training
    # DeepSeek's multi-step ends at 0.1 x the peak and first drops at 80% of the tokens (arXiv
    # 2401.02954, Section 2.3): here a linear decay over the last 20% of the steps to 0.1 x.
    assert (t.schedule, t.final_lr_fraction) == ("wsd", pytest.approx(0.1, rel=1e-6))
    assert t.decay_fraction == pytest.approx(0.2, abs=1e-3)
    assert end_rate("linear", 80, 20, 90, 1.0, 0.1) == pytest.approx(0.55)


def test_nanotron_format_takes_one_dense_budget() -> None:
    assert_input_error(
        run_cli("budget", "1e21", "1e22", "--format", "nanotron"), "takes one budget"
    )
    moe = run_cli(
        "budget", "1e22", "--moe", "--n-experts", "64", "--top-k", "6", "--format", "nanotron"
    )
    assert_input_error(moe, "not nanotron")
    assert _written("1e21") == _written("1e21")  # byte-identical


def test_yaml_floats_keep_a_dot() -> None:
    # PyYAML (YAML 1.1) reads 1e-05 as a string; 1.0e-05 as a float.
    assert yaml_float(1e-05) == "1.0e-05"
    assert yaml_float(0.0004) == "0.0004"
    assert isinstance(yaml.safe_load(yaml_float(7.393943e-05)), float)
