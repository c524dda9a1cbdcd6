"""Ground truth for `dsplan model --hf-config`: what transformers instantiates from each fixture.

Builds every config.json under tests/data/hf/ with transformers on the meta device (no memory, no
weights) and sums ``p.numel()`` over ``model.parameters()``, which yields a tied embedding once.
Prints, per file, transformers' total, dsplan's total and whether they agree. Not run in CI: it
needs torch and transformers, which dsplan does not depend on.

    pip install torch transformers   # measured with torch 2.13.0 (CPU), transformers 5.25.0
    python bench/hf_counts.py [config.json ...]
    python bench/hf_counts.py --variants     # each fixture with its switches flipped

Exit status 1 if any count differs (a variant dsplan refuses is not a difference). The totals it
prints are the ones tests/test_hf_config.py pins.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "data" / "hf"


# Switches whose parameters differ by architecture: each is tried on every fixture. None removes
# the key (the config class's default applies).
VARIANTS: list[dict[str, object]] = [
    {"attention_bias": True},
    {"mlp_bias": True},
    {"tie_word_embeddings": None},
    {"tie_word_embeddings": True},
    {"head_dim": None},
    {"head_dim": 64},
    {"num_key_value_heads": None},
]


def _config(path: Path, changes: dict[str, object] | None = None) -> dict[str, object]:
    cfg = {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_dsplan")}
    for key, value in (changes or {}).items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    return cfg


def transformers_total(path: Path, changes: dict[str, object] | None = None) -> int:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = _config(path, changes)
    # auto_map points at remote code; the built-in class for model_type is what is counted.
    cfg.pop("auto_map", None)
    config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def variants() -> int:
    import tempfile

    from dsplan.errors import InputError
    from dsplan.model.flops import counts
    from dsplan.model.hf_config import read_hf_config

    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(FIXTURES.glob("*.json")):
            for changes in VARIANTS:
                variant = Path(tmp) / path.name
                variant.write_text(json.dumps(_config(path, changes)))
                try:
                    got: int | str = counts(read_hf_config(variant).shape).params_total
                except InputError as exc:
                    got = f"refused: {str(exc).split(': ', 1)[1][:60]}"
                try:
                    expected: int | str = transformers_total(path, changes)
                except Exception as exc:  # transformers' own refusal of a variant, reported
                    expected = f"transformers fails: {type(exc).__name__}"
                differs = isinstance(got, int) and got != expected
                bad += differs
                print(
                    f"{path.stem:36} {changes!s:32} {expected!s:>17} {got!s:>17}"
                    f"{'  DIFFERS' if differs else ''}"
                )
    return 1 if bad else 0


def main(argv: list[str]) -> int:
    import transformers

    from dsplan.model.flops import counts
    from dsplan.model.hf_config import read_hf_config

    print(f"transformers {transformers.__version__}")
    if argv == ["--variants"]:
        return variants()
    paths = [Path(a) for a in argv] or sorted(FIXTURES.glob("*.json"))
    bad = 0
    for path in paths:
        expected = transformers_total(path)
        got = counts(read_hf_config(path).shape).params_total
        bad += got != expected
        verdict = "ok" if got == expected else f"DIFFERS by {got - expected:+,}"
        print(f"{path.name:42} {expected:>17,} {got:>17,}  {verdict}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
