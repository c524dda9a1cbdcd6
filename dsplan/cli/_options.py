"""Options shared by the commands that plan or search shapes: one definition, one help text."""

from typing import Annotated

import typer

PresetOption = Annotated[
    str,
    typer.Option(help="Law preset: an id (see `dsplan presets`) or a path to a .toml file."),
]
SeqLenOption = Annotated[int, typer.Option(help="Sequence length in tokens.")]
VocabSizeOption = Annotated[int, typer.Option(help="Vocabulary size.")]
AspectRatioOption = Annotated[float, typer.Option(help="Target d_model / n_layers of the shape.")]
HeadDimOption = Annotated[
    int | None, typer.Option(help="Head size [default: 128; 64 below 1024 wide].")
]
KvHeadsOption = Annotated[
    int | None, typer.Option(help="KV heads [default: MHA up to 40 heads, else 8].")
]
LayersMultipleOption = Annotated[
    int, typer.Option(help="Layer count multiple (e.g. pipeline stages).")
]
HeadsMultipleOption = Annotated[
    int | None,
    typer.Option(
        help="Head count multiple (tensor parallelism) [default: 8 from 1024 wide, else 1]."
    ),
]
WarmupStepsOption = Annotated[
    int, typer.Option(help="Linear warm-up steps (clamped to 10% of short runs).")
]
HyperparametersOption = Annotated[
    str | None,
    typer.Option(
        help="Hyperparameter law: deepseek, step-law, kaplan or a .toml path "
        "[default: the preset's own, else deepseek]."
    ),
]
UniqueTokensOption = Annotated[
    str | None,
    typer.Option(
        help="Unique tokens available: report epochs, effective data and a re-allocated plan."
    ),
]

# Mixture-of-experts shapes (with --moe): `dsplan budget`, `dsplan shapes` and `dsplan layout`.
MoeOption = Annotated[
    bool,
    typer.Option(
        "--moe",
        help="Plan a mixture-of-experts model: Eq. 4 applied to the activated compute (an "
        "assumption of dsplan's). Needs --n-experts and --top-k.",
    ),
]
NExpertsOption = Annotated[
    int | None, typer.Option(help="--moe: routed experts per MoE layer.", show_default=False)
]
TopKOption = Annotated[
    int | None, typer.Option(help="--moe: routed experts per token.", show_default=False)
]
SharedExpertsOption = Annotated[int, typer.Option(help="--moe: shared experts per MoE layer.")]
FirstDenseLayersOption = Annotated[
    int, typer.Option(help="--moe: leading layers with a dense feed-forward layer.")
]
MlaOption = Annotated[
    bool,
    typer.Option("--mla", help="--moe: Multi-head Latent Attention (DeepSeek-V2/V3's sizes)."),
]

# Inference-aware allocation (Sardana et al. 2023): `dsplan budget` and `dsplan compare`.
InferenceTokensOption = Annotated[
    str | None,
    typer.Option(
        help="Tokens the model will serve: plan the smaller, longer-trained model that reaches "
        "the same loss for the least training + inference FLOPs (needs a preset with a loss law).",
        show_default=False,
    ),
]
TargetLossOption = Annotated[
    str | None,
    typer.Option(
        help="With --inference-tokens: the loss to reach (nats, the preset's data) instead of "
        "that of the compute-optimal plan at C; give no C.",
        show_default=False,
    ),
]
MatchQualityOption = Annotated[
    str | None,
    typer.Option(
        help="With --inference-tokens: match the loss of this model size (parameters; M for a "
        "law in M) trained compute-optimally, e.g. 13e9; give no C.",
        show_default=False,
    ),
]
