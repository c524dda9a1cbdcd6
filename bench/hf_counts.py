"""Ground truth for `dsplan model --hf-config`: what transformers instantiates from each fixture.

Builds every config.json under tests/data/hf/ (dense and mixture-of-experts) with transformers on
the meta device (no memory, no weights) and sums ``p.numel()`` over ``model.parameters()``, which
yields a tied embedding once and leaves out buffers (DeepSeek-V3's ``e_score_correction_bias``).
Prints, per file, transformers' total, dsplan's total and whether they agree. Not run in CI: it
needs torch and transformers, which dsplan does not depend on.

    pip install torch transformers   # measured with torch 2.13.0 (CPU), transformers 5.25.0
    python bench/hf_counts.py [config.json ...]
    python bench/hf_counts.py --variants     # each fixture with its switches flipped

Exit status 1 if any count differs (a variant dsplan refuses is not a difference). The totals it
prints are the ones tests/test_hf_config.py and tests/test_moe.py pin.
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
    {"first_k_dense_replace": 0},
    {"q_lora_rank": None},
    {"n_shared_experts": None},
    {"decoder_sparse_step": 2},
    {"mlp_only_layers": [0, 5]},
]


def dsplan_total(path: Path) -> int:
    """dsplan's total for a dense or mixture-of-experts config.json."""
    from dsplan.model.flops import counts
    from dsplan.model.hf_moe import HfMoeConfig, read_any_hf_config
    from dsplan.model.moe import moe_counts

    read = read_any_hf_config(path)
    if isinstance(read, HfMoeConfig):
        return moe_counts(read.shape).params_total
    return counts(read.shape).params_total


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
    # auto_map points at remote code; the built-in class for model_type is what is counted. A
    # quantization_config (DeepSeek-V3's fp8, gpt-oss's mxfp4) would ask for kernels on the meta
    # device; the parameters are the same without it.
    cfg.pop("auto_map", None)
    cfg.pop("quantization_config", None)
    config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def variants() -> int:
    import tempfile

    from dsplan.errors import InputError

    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(FIXTURES.glob("*.json")):
            for changes in VARIANTS:
                variant = Path(tmp) / path.name
                variant.write_text(json.dumps(_config(path, changes)))
                try:
                    got: int | str = dsplan_total(variant)
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

    print(f"transformers {transformers.__version__}")
    if argv == ["--variants"]:
        return variants()
    paths = [Path(a) for a in argv] or sorted(FIXTURES.glob("*.json"))
    bad = 0
    for path in paths:
        expected = transformers_total(path)
        got = dsplan_total(path)
        bad += got != expected
        verdict = "ok" if got == expected else f"DIFFERS by {got - expected:+,}"
        print(f"{path.name:42} {expected:>17,} {got:>17,}  {verdict}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
