"""The rules of ``dsplan check``: a run config against the paper's laws.

Every rule has a stable id (DSP1xx shape, DSP2xx hyperparameters, DSP3xx tokens and fit range,
DSP4xx schedule, DSP5xx hardware, DSP6xx the parallel layout of a trainer's file, DSP7xx
mixture-of-experts and MLA), declared with its severity and title beside its code in one module per
family; :data:`RULES` is built from them. Every finding names the file, the key, the numbers and the
value the laws suggest. All rules run on every file; nothing here prints or exits.

A check is two steps: :func:`dsplan.checking.facts.derive` computes, once, everything the rules
compare against (the counts, C, the laws at C, the batch, the steps, the GPU's numbers); then each
rule reads those facts and returns its hits. Rules share no state, so their order does not matter;
the findings of a file are sorted by severity, line and rule.

The compute of a config is C = M * D with M the *exact* non-embedding FLOPs per token of its shape
(:func:`dsplan.model.flops.counts`: GQA and the real d_ff counted, attention unmasked as in Eq. 2) and D
its training tokens; the learning rate, batch and token laws are the preset's, evaluated at that C.

Tolerance bands (ours; the paper publishes none). DeepSeek's near-optimal region is the set of
settings whose generalization error is within 0.25% of the minimum, and the paper only says those
points "fall within a broad band" (arXiv 2401.02954, Section 3.1, Fig. 3). The released models sit
close to Eq. 1: learning rate 0.99x (7B) and 1.01x to 1.03x (67B), batch 1.02x (7B) and 0.91x to 0.96x
(67B, depending on how M is counted). We therefore warn beyond a factor of 2 either way, about eight
times the released models' largest deviation in log terms and well outside anything DeepSeek used,
and report an error beyond a factor of 4, where a setting is much more likely a typo, a unit mistake
or a config copied from another scale than a choice. The same reasoning, with the numbers, is in
docs/check.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dsplan.catalog.presets import load_preset
from dsplan.checking.facts import (
    BATCH_ERROR_FACTOR,
    BATCH_WARNING_FACTOR,
    ERROR,
    INFO,
    SEVERITIES,
    WARNING,
    derive,
)
from dsplan.checking.files import config_paths, parse_any, read_config_text
from dsplan.checking.findings import (
    SCHEMA_VERSION,
    Derived,
    FileReport,
    Finding,
    Report,
    iter_findings,
)
from dsplan.checking.registry import Rule, RuleCheck
from dsplan.checking.rules import hardware, hyperparameters, layout, moe, schedule, shape, tokens
from dsplan.checking.rules.hyperparameters import LR_ERROR_FACTOR, LR_WARNING_FACTOR
from dsplan.checking.rules.shape import (
    D_FF_RATIO_ERROR_BELOW,
    D_FF_RATIO_WARN,
    HEAD_DIM_RANGE,
    VOCAB_MULTIPLE,
)
from dsplan.checking.rules.tokens import OVERTRAIN_FACTOR, UNDERTRAIN_FACTOR
from dsplan.checking.run_config import RunConfig
from dsplan.checking.schema import ConfigProblems, Problem
from dsplan.checking.selection import ALL, Selection, split_codes, unknown_code
from dsplan.errors import InputError

__all__ = [
    "BATCH_ERROR_FACTOR",
    "BATCH_WARNING_FACTOR",
    "CHECKS",
    "D_FF_RATIO_ERROR_BELOW",
    "D_FF_RATIO_WARN",
    "ERROR",
    "HEAD_DIM_RANGE",
    "INFO",
    "LR_ERROR_FACTOR",
    "LR_WARNING_FACTOR",
    "OVERTRAIN_FACTOR",
    "RULES",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "UNDERTRAIN_FACTOR",
    "VOCAB_MULTIPLE",
    "WARNING",
    "Derived",
    "FileReport",
    "Finding",
    "Report",
    "Rule",
    "check_config",
    "check_files",
    "check_texts",
    "iter_findings",
    "parse_selection",
]

CHECKS: tuple[RuleCheck, ...] = tuple(
    sorted(
        (
            *shape.FAMILY,
            *hyperparameters.FAMILY,
            *tokens.FAMILY,
            *schedule.FAMILY,
            *hardware.FAMILY,
            *layout.FAMILY,
            *moe.FAMILY,
        ),
        key=lambda c: c.rule.id,
    )
)
RULES: dict[str, Rule] = {c.rule.id: c.rule for c in CHECKS}
if len(RULES) != len(CHECKS):  # pragma: no cover - a rule id declared twice
    raise RuntimeError("duplicate rule id in dsplan.checking.rules")

_ORDER = {s: i for i, s in enumerate(SEVERITIES)}


def _file_ignores(cfg: RunConfig) -> tuple[str, ...]:
    """The codes of ``[check] ignore`` (ids or prefixes, any case).

    Raises:
        ConfigProblems: one problem for each code that starts no rule id.
    """
    codes = split_codes(cfg.ignore)
    problems = [
        Problem(cfg.file, cfg.line_of("check.ignore"), "check.ignore", why)
        for why in (unknown_code(code, list(RULES)) for code in codes)
        if why is not None
    ]
    if problems:
        raise ConfigProblems(problems)
    return codes


def parse_selection(
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    *,
    names: tuple[str, str] = ("select", "ignore"),
) -> Selection:
    """The rules that ``select`` and ``ignore`` codes leave running (:mod:`dsplan.checking.selection`).

    Raises:
        InputError: a code that starts no rule id, named with ``names``.
    """
    return Selection.parse(select, ignore, rule_ids=list(RULES), names=names)


def check_config(cfg: RunConfig, selection: Selection = ALL) -> FileReport:
    """Run every rule on one loaded config (those ``selection`` and the file's ignores leave).

    Raises:
        ConfigProblems: ``[check].ignore`` names a rule that does not exist.
        PresetError: the preset cannot be loaded.
    """
    ignored = _file_ignores(cfg)
    preset = load_preset(cfg.preset)
    facts = derive(cfg, preset)
    found = [
        Finding(
            rule=c.rule.id,
            severity=hit.severity or c.rule.severity,
            file=cfg.file,
            key=hit.key,
            line=cfg.line_of(hit.key),
            message=hit.message,
            hint=hit.hint,
            trainer_key=cfg.trainer_keys.get(hit.key),
        )
        for c in CHECKS
        if selection.enabled(c.rule.id) and not any(c.rule.id.startswith(i) for i in ignored)
        for hit in c(facts)
    ]
    found.sort(key=lambda f: (_ORDER[f.severity], f.line if f.line is not None else 0, f.rule))
    laws = facts.laws
    derived = Derived(
        preset=preset.id,
        preset_source=preset.source,
        flops_per_token=facts.counts.flops_per_token if facts.counts else None,
        compute_flops=facts.compute,
        params_total=facts.counts.params_total if facts.counts else None,
        batch_size_tokens=facts.batch_tokens,
        total_steps=facts.total_steps,
        learning_rate_law=laws.learning_rate if laws else None,
        batch_size_tokens_law=laws.batch_size_tokens if laws else None,
        tokens_law=laws.tokens if laws else None,
        implied_mfu=facts.hardware.implied_mfu if facts.hardware else None,
        **_layout_fields(cfg),
    )
    return FileReport(cfg.file, tuple(found), derived)


def _layout_fields(cfg: RunConfig) -> dict[str, Any]:
    """The derived keys of where a config came from and its parallel layout."""
    t, lay = cfg.training, cfg.layout
    sequences = t.batch_size_sequences
    if sequences is None and t.batch_size_tokens is not None and cfg.model.seq_len > 0:
        whole = t.batch_size_tokens / cfg.model.seq_len
        sequences = int(whole) if whole == int(whole) else None
    fields: dict[str, Any] = {
        "dialect": cfg.dialect,
        "tokens": t.tokens,
        "global_batch_sequences": sequences,
        "world_size": lay.world_size if lay else cfg.hardware.num_gpus,
    }
    if lay is not None:
        fields.update(lay.to_dict())
    return fields


def check_texts(
    sources: Sequence[tuple[str, str, Path]],
    *,
    preset: str | None = None,
    strict: bool = False,
    selection: Selection = ALL,
    dialect: str | None = None,
    hf_config: str | None = None,
    world_size: int | None = None,
    gpu: str | None = None,
) -> Report:
    """Check several configs given as ``(text, display_name, base_dir)``.

    Every file is loaded first; if any cannot be, :class:`ConfigProblems` lists the problems of all
    of them (exit 2). Otherwise every rule runs on every file.
    """
    if preset is not None:
        load_preset(preset)  # an unknown --preset is one error, not one per file
    configs: list[RunConfig] = []
    problems: list[Problem] = []
    for text, name, base in sources:
        try:
            configs.append(
                parse_any(
                    text,
                    name,
                    base_dir=base,
                    preset=preset,
                    dialect=dialect,
                    hf_config=hf_config,
                    world_size=world_size,
                )
            )
        except ConfigProblems as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigProblems(problems)
    if gpu is not None:
        from dataclasses import replace

        # --gpu names the GPU whose memory the layout must fit (DSP606), over the file's own.
        configs = [
            replace(c, layout=replace(c.layout, gpu=gpu)) if c.layout is not None else c
            for c in configs
        ]
    reports: list[FileReport] = []
    for cfg in configs:
        try:
            reports.append(check_config(cfg, selection))
        except ConfigProblems as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigProblems(problems)
    return Report(tuple(reports), strict=strict)


def check_files(
    names: Sequence[str],
    *,
    preset: str | None = None,
    strict: bool = False,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    dialect: str | None = None,
    hf_config: str | None = None,
    world_size: int | None = None,
    gpu: str | None = None,
) -> Report:
    """Read and check config files (``-`` is standard input, read once; a folder is every
    ``*.toml`` under it, see :func:`~dsplan.checking.files.config_paths`).

    Args:
        names: Files, folders, or ``-``.
        preset: A preset id or path for every file, overriding ``[data].preset``.
        strict: Exit code 1 on warnings too.
        select: Rule codes to run (ids or prefixes such as ``DSP3``; comma-separated values
            allowed); all rules if empty.
        ignore: Rule codes not to run; see :mod:`dsplan.checking.selection` for how the two combine.
        dialect: Read every file as this dialect (``dsplan``, ``torchtitan``, ``megatron``)
            instead of detecting each one's from its content.
        hf_config: A model ``config.json`` for trainer files that do not give the shape.
        world_size: GPUs of the run, for trainer files that do not say.
        gpu: The GPU whose memory every file's layout must fit (DSP606), over the file's own.

    Raises:
        ConfigProblems: any file that cannot be read or loaded; every such problem is listed.
        InputError: no files given, an unknown ``preset`` or an unknown rule code.
    """
    if not names:
        raise InputError("give at least one config file (or - for standard input)")
    selection = parse_selection(select, ignore)
    if names.count("-") > 1:
        raise InputError("standard input (-) can be given only once")
    if dialect is not None:
        from dsplan.checking.dialects import check_dialect

        check_dialect(dialect)
    if world_size is not None and world_size <= 0:
        raise InputError(f"the world size must be a positive number of GPUs, got {world_size}")
    if gpu is not None:
        from dsplan.catalog.gpus import get_gpu

        gpu = get_gpu(gpu).id
    paths, problems = config_paths(names)
    sources = []
    for name in paths:
        try:
            text, display, base = read_config_text(name)
        except ConfigProblems as exc:
            problems.extend(exc.problems)
            continue
        sources.append((text, display, base))
    try:
        report = check_texts(
            sources,
            preset=preset,
            strict=strict,
            selection=selection,
            dialect=dialect,
            hf_config=hf_config,
            world_size=world_size,
            gpu=gpu,
        )
    except ConfigProblems as exc:
        raise ConfigProblems([*problems, *exc.problems]) from None
    if problems:
        raise ConfigProblems(problems)
    return report
