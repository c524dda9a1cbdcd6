"""The wheel carries the presets: build it, install it in a fresh venv, run it outside the checkout."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: hatchling comes with the test extra, so this needs no network.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("dsplan-*.whl")
    return path


def test_wheel_contains_the_presets(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for preset in ("current", "early", "openwebtext2"):
        assert f"dsplan/presets/{preset}.toml" in names
    assert "dsplan/py.typed" in names


def _running_site_dirs() -> list[str]:
    """Where the interpreter running the suite finds typer, rich and the rest (its site-packages)."""
    return [
        entry
        for entry in sys.path
        if Path(entry).name in ("site-packages", "dist-packages") and Path(entry).is_dir()
    ]


def test_installed_wheel_runs_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    # A venv of its own, without pip (fast), that sees the *running* interpreter's site-packages
    # through a .pth file: typer, rich and the rest come from wherever the suite was installed, with
    # no network and no dependence on the base interpreter. A .pth path line only extends sys.path
    # (the .pth files in that folder, an editable dsplan's among them, are not processed), and the
    # venv's own site-packages comes first, so its dsplan (the wheel) is the one imported.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    bindir = venv / ("Scripts" if sys.platform == "win32" else "bin")
    python = str(bindir / "python")
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site_packages, "_running_suite.pth").write_text(
        "".join(f"{d}\n" for d in _running_site_dirs()), encoding="utf-8"
    )
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--ignore-installed",  # never touch a dsplan installed where the suite runs
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [str(bindir / "dsplan"), "budget", "1e24", "--preset", "early", "--format", "json"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["preset"] == "early"
    where = subprocess.run(
        [python, "-c", "import dsplan.catalog.presets as p; print(p.presets_dir())"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where == str(Path(site_packages, "dsplan", "presets").resolve())
