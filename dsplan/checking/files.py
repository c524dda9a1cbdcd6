"""Config files as ``check`` takes them: folders expanded, text read with bounds, dialect chosen.

:func:`parse_any` hands dsplan's own TOML to :func:`dsplan.checking.reader.parse_config` and a
trainer's file to its dialect (:mod:`dsplan.checking.dialects`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from dsplan.catalog.presets import load_preset
from dsplan.checking.reader import parse_config
from dsplan.checking.run_config import RunConfig
from dsplan.checking.schema import STDIN_NAME, ConfigProblems, Problem
from dsplan.io import UnreadableFile, read_input


def read_config_text(name: str) -> tuple[str, str, Path]:
    """Read a config file (or standard input for ``-``).

    Returns:
        ``(text, display_name, base_dir)``.

    Raises:
        ConfigProblems: the file is missing, unreadable or not UTF-8.
    """
    try:
        # A byte-order mark (Windows editors write one) is dropped: it is not TOML syntax.
        text = read_input(name)
    except UnreadableFile as exc:
        shown = STDIN_NAME if name == "-" else name
        raise ConfigProblems([Problem(shown, None, "", exc.reason)]) from None
    if name == "-":
        return text, STDIN_NAME, Path()
    return text, name, Path(name).parent


# Files in a folder that may hold a trainer's config: kept when a trainer dialect recognises the
# content (a CI workflow YAML or a helper script is skipped, not an error).
TRAINER_SUFFIXES = (".yaml", ".yml", ".sh", ".bash", ".args")


def _trainer_file(path: Path) -> bool:
    """Whether a file in a folder is a trainer config dsplan reads (nanotron, OLMo, Megatron)."""
    from dsplan.checking.dialects import detect

    try:
        text = read_input(path)
    except UnreadableFile:
        return False  # not text: not a config
    return detect(text) not in ("dsplan", "torchtitan")


def config_paths(names: Sequence[str]) -> tuple[list[str], list[Problem]]:
    """The files to check: each name as given, a folder replaced by the configs under it.

    A folder stands for every ``*.toml`` under it (dsplan's TOML or a torchtitan job file) and
    every ``*.yaml``, ``*.yml``, ``*.sh``, ``*.bash`` and ``*.args`` file whose content a trainer
    dialect recognises (a nanotron or OLMo YAML, a Megatron-LM script or argument file; others,
    such as a CI workflow, are skipped). It is walked recursively, without following symbolic links
    to folders and skipping hidden folders (``.git``, ``.venv``), and its files come in sorted
    order, so a report is the same on every machine. A folder with no config is a problem (exit
    2), not a pass.

    Returns:
        ``(paths, problems)``.
    """
    paths: list[str] = []
    problems: list[Problem] = []
    for name in names:
        if name == "-" or not Path(name).is_dir():
            paths.append(name)
            continue
        found = []
        for root, dirs, files in os.walk(name):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for f in files:
                path = Path(root, f)
                if f.endswith(".toml") or (
                    f.lower().endswith(TRAINER_SUFFIXES) and _trainer_file(path)
                ):
                    found.append(path)
        if not found:
            problems.append(
                Problem(
                    name,
                    None,
                    "",
                    "a folder with no config under it (*.toml, or a nanotron or OLMo YAML or a "
                    "Megatron-LM script or argument file)",
                )
            )
        paths += [str(p) for p in sorted(found)]
    return paths, problems


def load_config(name: str, *, preset: str | None = None) -> RunConfig:
    """Read and parse one run config (``-`` for standard input); see :func:`parse_config`."""
    text, display, base = read_config_text(name)
    return parse_config(text, display, base_dir=base, preset=preset)


def parse_any(
    text: str,
    file: str,
    *,
    base_dir: Path | None = None,
    preset: str | None = None,
    dialect: str | None = None,
    hf_config: str | None = None,
    world_size: int | None = None,
) -> RunConfig:
    """A config in any dialect dsplan reads: dsplan's TOML, or a trainer's file translated.

    The dialect is ``dialect`` when given, else detected from the text
    (:func:`dsplan.checking.dialects.detect`).

    Raises:
        ConfigProblems: every problem of the file.
    """
    # Imported here for start-up: the dialects package only when a config is parsed.
    from dsplan.checking.dialects import YAML_SUFFIXES, detect, translate

    chosen = dialect or detect(text)
    if chosen == "dsplan" and file.lower().endswith(YAML_SUFFIXES):
        raise ConfigProblems(
            [
                Problem(
                    file,
                    None,
                    "",
                    "a YAML file that is neither a nanotron config (model.model_config, tokens, "
                    "parallelism) nor an OLMo one (global_train_batch_size, max_duration); "
                    "name its dialect: `dsplan check --dialect nanotron` (or olmo)",
                )
            ]
        )
    if chosen == "dsplan":
        return parse_config(text, file, base_dir=base_dir, preset=preset)
    if preset is not None:
        load_preset(preset)
    return translate(
        chosen,
        text,
        file,
        base_dir=base_dir if base_dir is not None else Path(),
        preset=preset,
        hf_config=hf_config,
        world_size=world_size,
    )
