"""``dsplan check`` and ``dsplan budget --format toml``: formats, exit codes, streams, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_input_error, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from dsplan.catalog.presets import preset_ids

DATA = Path(__file__).parent / "data" / "configs"
SEVEN_B = str(DATA / "valid" / "deepseek-7b.toml")
SIXTY_SEVEN_B = str(DATA / "valid" / "deepseek-67b.toml")
LR_ERROR = str(DATA / "invalid" / "DSP201-lr-4x-too-high.toml")
LR_WARNING = str(DATA / "invalid" / "DSP201-lr-somewhat-high.toml")


def test_valid_files_exit_0_with_a_summary() -> None:
    r = run_cli("check", SEVEN_B, SIXTY_SEVEN_B)
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""
    assert "dsplan check passed: 0 errors, 0 warnings, 3 infos in 2 files" in r.stdout
    assert "DSP302" in r.stdout


def test_an_error_exits_1_and_every_file_is_reported() -> None:
    r = run_cli("check", LR_ERROR, SEVEN_B)
    assert r.exit_code == 1
    assert "error DSP201" in r.stdout
    assert "deepseek-7b.toml" in r.stdout
    assert "suggested: learning_rate = 0.000741" in r.stdout
    assert "dsplan check failed: 1 error" in r.stdout


def test_warnings_pass_unless_strict() -> None:
    assert run_cli("check", LR_WARNING).exit_code == 0
    r = run_cli("check", LR_WARNING, "--strict")
    assert r.exit_code == 1
    assert "(--strict)" in r.stdout


def test_json_document() -> None:
    r = run_cli("check", LR_ERROR, SEVEN_B, "--format", "json")
    assert r.exit_code == 1
    doc = r.json()
    assert doc["schema_version"] == 1
    assert doc["summary"] == {
        "files": 2,
        "errors": 1,
        "warnings": 0,
        "infos": 3,
        "exit_code": 1,
    }
    first = doc["files"][0]["findings"][0]
    assert set(first) == {"rule", "severity", "file", "key", "line", "message", "hint"}
    assert (first["rule"], first["severity"], first["key"]) == (
        "DSP201",
        "error",
        "training.learning_rate",
    )
    assert doc["files"][1]["derived"]["learning_rate_law"] > 0


def test_github_annotations() -> None:
    r = run_cli("check", LR_ERROR, SEVEN_B, "--format", "github")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith(
        f"::error file={LR_ERROR},line=15,title=DSP201 training.learning_rate::"
    )
    assert any(line.startswith("::notice file=") and "DSP302" in line for line in lines)
    assert lines[-1].startswith("dsplan check failed")


def test_github_escapes_commas_and_colons_in_properties(tmp_path: Path) -> None:
    path = tmp_path / "a,b:c.toml"
    path.write_text(Path(LR_ERROR).read_text())
    r = run_cli("check", str(path), "--format", "github")
    assert "a%2Cb%3Ac.toml" in r.stdout.splitlines()[0]


def test_stdin() -> None:
    r = run_cli("check", "-", input=Path(SEVEN_B).read_text())
    assert r.exit_code == 0
    assert "<stdin>" in r.stdout


def test_unknown_key_exits_2_naming_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(Path(SEVEN_B).read_text().replace("learning_rate", "lr"))
    assert_input_error(
        run_cli("check", str(path)),
        f"{path}:18: training.lr: unknown key; did you mean training.learning_rate?",
    )


def test_wrong_type_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(Path(SEVEN_B).read_text().replace("= 2304", '= "2304"'))
    r = run_cli("check", str(path), "--format", "json")
    assert_input_error(r, "training.batch_size_sequences: expected an integer, got a string")


def test_unparseable_file_exits_2_with_the_parser_line(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("[model]\nn_layers = 30\nd_model = = 4096\n")
    assert_input_error(run_cli("check", str(path)), f"{path}:3: not valid TOML")


def test_missing_file_among_good_ones_exits_2_and_prints_nothing_on_stdout() -> None:
    r = run_cli("check", SEVEN_B, "nope.toml", "--format", "json")
    assert_input_error(r, "nope.toml: no such file")


def test_several_load_errors_are_all_listed(tmp_path: Path) -> None:
    a = tmp_path / "a.toml"
    a.write_text("[model]\nn_layers = 'x'\n")
    r = run_cli("check", str(a), "missing.toml")
    assert r.exit_code == 2
    assert r.stdout == ""
    errors = r.stderr.splitlines()
    assert all(line.startswith("error: ") for line in errors)
    assert any("missing.toml: no such file" in line for line in errors)
    assert any(f"{a}:2: model.n_layers: expected an integer" in line for line in errors)
    assert "Traceback" not in r.stderr


def test_unknown_preset_option_exits_2() -> None:
    assert_input_error(run_cli("check", SEVEN_B, "--preset", "curent"), "unknown preset 'curent'")


def test_preset_option_is_used() -> None:
    r = run_cli("check", SEVEN_B, "--preset", "early", "--format", "json")
    assert r.json()["files"][0]["derived"]["preset"] == "early"


def test_format_not_offered() -> None:
    assert_input_error(run_cli("check", SEVEN_B, "--format", "csv"), "'csv' is not one of")


def test_help_has_examples() -> None:
    r = run_cli("check", "--help")
    assert r.exit_code == 0
    assert "Examples:" in r.stdout


def test_budget_toml_takes_one_budget() -> None:
    assert_input_error(
        run_cli("budget", "1e20", "1e21", "--format", "toml"), "--format toml takes one budget"
    )


PRESETS = preset_ids()


@settings(max_examples=60, deadline=None)
@given(preset=st.sampled_from(PRESETS), exponent=st.floats(min_value=17.0, max_value=26.0))
def test_budget_toml_round_trips_through_check(preset: str, exponent: float) -> None:
    budget = f"{10**exponent:.6g}"
    written = run_cli("budget", budget, "--preset", preset, "--format", "toml")
    assert written.exit_code == 0, written.stderr
    # Every plan passes --strict, at every budget: what a plan breaks as asked (a budget below the
    # fit range, a parameter law's tokens through the embedding) its [check] table declares.
    checked = run_cli("check", "-", "--format", "json", "--strict", input=written.stdout)
    assert checked.exit_code == 0, checked.stdout
    doc = checked.json()
    assert doc["summary"]["errors"] == 0
    derived = doc["files"][0]["derived"]
    assert derived["preset"] == preset
    # Whole tokens (D = C / M rounded): C = M * D to within half a token's FLOPs, and the written
    # FLOP count carries 15 digits.
    slack = derived["flops_per_token"] / 2 + float(budget) * 1e-14
    assert abs(derived["compute_flops"] - float(budget)) <= slack


ROOT = Path(__file__).parent.parent


def test_docs_list_every_config_key() -> None:
    from dsplan.checking.config import SCHEMA

    docs = (ROOT / "docs" / "check.md").read_text()
    for key in SCHEMA:
        assert f"| `{key.path}` |" in docs, key.path


def test_pre_commit_hook_pattern_matches_run_configs_only() -> None:
    import re

    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "- id: dsplan-check\n" in text
    assert "entry: dsplan check\n" in text
    (pattern,) = set(re.findall(r"files: '([^']+)'", text))
    matches = re.compile(pattern).search
    assert matches("runs/7b.toml")
    assert matches("configs/runs/7b.toml")
    assert matches("pretrain.run.toml")
    assert not matches("pyproject.toml")
    assert not matches("presets/current.toml")


def test_budget_toml_with_gpu_round_trips() -> None:
    written = run_cli("budget", "1e24", "--gpu", "h800", "--gpus", "2048", "--format", "toml")
    assert written.exit_code == 0, written.stderr
    assert 'gpu = "h800"' in written.stdout
    checked = run_cli("check", "-", "--format", "json", "--strict", input=written.stdout)
    assert checked.exit_code == 0, checked.stdout
    derived = checked.json()["files"][0]["derived"]
    # expected_days is written to 7 significant digits, so the MFU it implies is 0.4 to about 1e-7.
    assert derived["implied_mfu"] == pytest.approx(0.4, rel=1e-6)


def test_docs_console_examples_match_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each `$ dsplan check ...` example of docs/check.md that runs on tests/data/configs: every line
    # it shows (bar "...", the elided ones) is a line of the real output, in the same order.
    import re
    import shlex

    docs = (ROOT / "docs" / "check.md").read_text()
    monkeypatch.chdir(DATA)
    examples = 0
    for block in re.findall(r"```console\n(.*?)```", docs, re.DOTALL):
        command, *shown = block.split("\n$ echo $?")[0].splitlines()
        args = shlex.split(command.removeprefix("$ dsplan "))
        files = [a for a in args if a.endswith(".toml")]
        if args[0] != "check" or not all(f.startswith(("valid/", "invalid/")) for f in files):
            continue
        examples += 1
        real = iter(run_cli(*args).stdout.splitlines())
        for line in shown:
            if line.strip() != "...":
                assert line in real, line
    assert examples >= 2


# ------------------------------------------------------------ --select, --ignore, folders, -q

# A warning (DSP201), two infos (DSP302, DSP304) and nothing else.
LR_INFOS = str(DATA / "invalid" / "DSP201-lr-somewhat-high.toml")


def _rules(*args: str) -> set[str]:
    r = run_cli("check", *args, "--format", "json")
    assert r.exit_code in (0, 1), r.stderr
    return {f["rule"] for file in r.json()["files"] for f in file["findings"]}


def test_select_and_ignore_take_ids_prefixes_commas_and_repeats() -> None:
    every = _rules(SEVEN_B)
    assert every == {"DSP302", "DSP304"}
    assert _rules(SEVEN_B, "--ignore", "DSP302") == {"DSP304"}
    assert _rules(SEVEN_B, "--ignore", "DSP302,DSP304") == set()
    assert _rules(SEVEN_B, "--ignore", "DSP302", "--ignore", "dsp304") == set()
    assert _rules(SEVEN_B, "--ignore", "DSP3") == set()
    assert _rules(SEVEN_B, "--select", "DSP1,DSP2") == set()
    assert _rules(SEVEN_B, "--select", "DSP30") == every
    # The more specific code wins; on a tie, the ignore.
    assert _rules(SEVEN_B, "--select", "DSP3", "--ignore", "DSP304") == {"DSP302"}
    assert _rules(SEVEN_B, "--select", "DSP304", "--ignore", "DSP3") == {"DSP304"}
    assert _rules(SEVEN_B, "--select", "DSP3", "--ignore", "DSP3") == set()


def test_an_ignored_warning_no_longer_fails_strict() -> None:
    assert run_cli("check", LR_WARNING, "--strict").exit_code == 1
    assert run_cli("check", LR_WARNING, "--strict", "--ignore", "DSP201").exit_code == 0


@pytest.mark.parametrize("flag", ["--select", "--ignore"])
@pytest.mark.parametrize("code", ["DSP999", "DSP8", "E501", "DSP1O1"])
def test_unknown_rule_codes_exit_2_naming_the_flag(flag: str, code: str) -> None:
    assert_input_error(run_cli("check", SEVEN_B, flag, f"DSP302,{code}"), f"{flag}: unknown rule")


def test_file_ignore_takes_prefixes_too(tmp_path: Path) -> None:
    text = Path(SEVEN_B).read_text()
    (tmp_path / "a.toml").write_text(text + '\n[check]\nignore = ["DSP3"]\n')
    assert _rules(str(tmp_path / "a.toml")) == set()
    # A file's ignore wins over --select, as ruff's per-file ignores do.
    assert _rules(str(tmp_path / "a.toml"), "--select", "DSP302") == set()
    (tmp_path / "b.toml").write_text(text + '\n[check]\nignore = ["DSP8"]\n')
    assert_input_error(run_cli("check", str(tmp_path / "b.toml")), "check.ignore: unknown rule")


def test_a_folder_is_every_toml_under_it_sorted_and_recursive(tmp_path: Path) -> None:
    text = Path(SEVEN_B).read_text()
    for name in ("b.toml", "a.toml", "sub/c.toml", "sub/deeper/d.toml", ".hidden/e.toml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "notes.txt").write_text("not a config")
    r = run_cli("check", str(tmp_path), "--format", "json")
    assert r.exit_code == 0, r.stderr
    files = [Path(f["file"]).relative_to(tmp_path).as_posix() for f in r.json()["files"]]
    assert files == ["a.toml", "b.toml", "sub/c.toml", "sub/deeper/d.toml"]


def test_a_folder_holds_every_file_a_dialect_recognises(tmp_path: Path) -> None:
    data = Path(SEVEN_B).parent
    for source, name in (
        (data / "deepseek-7b.toml", "a.toml"),
        (data / "torchtitan-llama3-8b.toml", "titan.toml"),
        (data / "megatron-1b.sh", "sub/pretrain.sh"),
        (data / "megatron-1b.args", "sub/run.args"),
        (data / "nanotron-tinyllama-1b.yaml", "yaml/nanotron.yaml"),
        (data / "olmo-1b.yaml", "yaml/olmo.yml"),
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source.read_text())
    # Not configs: skipped, not errors.
    (tmp_path / "ci.yaml").write_text("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n")
    (tmp_path / "setup.sh").write_text("#!/bin/bash\npip install -e .\n")
    (tmp_path / "binary.args").write_bytes(bytes(range(256)))
    r = run_cli("check", str(tmp_path), "--format", "json")
    assert r.exit_code == 0, r.stderr
    found = {
        Path(f["file"]).relative_to(tmp_path).as_posix(): f["derived"]["dialect"]
        for f in r.json()["files"]
    }
    assert found == {
        "a.toml": "dsplan",
        "sub/pretrain.sh": "megatron",
        "sub/run.args": "megatron",
        "titan.toml": "torchtitan",
        "yaml/nanotron.yaml": "nanotron",
        "yaml/olmo.yml": "olmo",
    }


def test_a_folder_without_configs_exits_2(tmp_path: Path) -> None:
    assert_input_error(run_cli("check", str(tmp_path)), "a folder with no config under it")


def test_quiet_prints_only_the_summary_line() -> None:
    for fmt in ("text", "github"):
        loud = run_cli("check", LR_ERROR, SEVEN_B, "--format", fmt)
        quiet = run_cli("check", LR_ERROR, SEVEN_B, "--format", fmt, "-q")
        assert quiet.exit_code == loud.exit_code == 1
        assert quiet.stdout == loud.stdout.splitlines()[-1] + "\n"
        assert quiet.stdout.startswith("dsplan check failed: 1 error")
    # JSON has no quiet form: the summary is the document's `summary`.
    assert run_cli("check", SEVEN_B, "--format", "json", "--quiet").json()["summary"]["files"] == 1
    assert run_cli("check", SEVEN_B, "--quiet").exit_code == 0
