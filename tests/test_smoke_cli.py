from conftest import assert_input_error, run_cli


def test_budget_json_runs() -> None:
    r = run_cli("budget", "1e24", "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["compute_flops"] == 1e24


def test_bad_budget_is_one_line() -> None:
    assert_input_error(run_cli("budget", "nonsense"), "compute budget")
