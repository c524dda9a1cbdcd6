"""``dsplan layout``: the parallel layouts of a model that fit a cluster, ranked by step time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dsplan.cli._hardware import DtypeOption, MfuOption
from dsplan.cli._options import (
    FirstDenseLayersOption,
    MlaOption,
    MoeOption,
    NExpertsOption,
    SharedExpertsOption,
    TopKOption,
)
from dsplan.cli._output import Format, dumps, exit_on_error, format_option, out, require_finite
from dsplan.errors import InputError, ProblemFound
from dsplan.model.defaults import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE
from dsplan.units import parse_positive, positive_int

FORMATS = (Format.text, Format.json)
MAX_GPUS = 2**20  # a bound on the search: a million GPUs
MAX_TOP = 1000
MAX_LINK_GB_PER_S = 1e6  # a bound on a link: a petabyte a second


def layout(
    gpu: Annotated[str, typer.Option(help="GPU id or alias (see `dsplan gpus`), or a .toml file.")],
    gpus: Annotated[int, typer.Option(help="Number of GPUs in the cluster.")],
    budget: Annotated[
        str | None,
        typer.Option(help="Lay out the plan of this compute budget C (as `dsplan budget C`)."),
    ] = None,
    n_layers: Annotated[int | None, typer.Option(help="Number of layers.")] = None,
    d_model: Annotated[int | None, typer.Option(help="Model width.")] = None,
    n_heads: Annotated[
        int | None, typer.Option(help="Attention heads [default: d_model / 128].")
    ] = None,
    n_kv_heads: Annotated[int | None, typer.Option(help="KV heads [default: = heads].")] = None,
    d_ff: Annotated[
        int | None,
        typer.Option(help="Feed-forward width [default: 8/3 d_model rounded up to 256]."),
    ] = None,
    vocab_size: Annotated[
        int | None, typer.Option(help=f"Vocabulary size [default: {DEFAULT_VOCAB_SIZE}].")
    ] = None,
    tied_embeddings: Annotated[
        bool, typer.Option("--tied-embeddings", help="Share input embedding and output head.")
    ] = False,
    hf_config: Annotated[
        Path | None,
        typer.Option(
            help="A Hugging Face config.json, dense or mixture-of-experts (as `dsplan model`)."
        ),
    ] = None,
    seq_len: Annotated[
        int | None,
        typer.Option(help=f"Training sequence length in tokens [default: {DEFAULT_SEQ_LEN}]."),
    ] = None,
    batch_size_tokens: Annotated[
        str | None,
        typer.Option(
            help="Tokens per optimizer step, a multiple of --seq-len (a given model; with "
            "--budget the plan's batch)."
        ),
    ] = None,
    mfu: MfuOption = None,
    dtype: DtypeOption = None,
    allowance: Annotated[
        float,
        typer.Option(
            help="Fraction of each GPU's memory set aside for context, buffers and fragmentation."
        ),
    ] = 0.05,
    node_size: Annotated[
        int | None,
        typer.Option(
            help="GPUs per node: the largest tensor-parallel size [default: the GPU table's, else 8]."
        ),
    ] = None,
    intra_node_gb_per_s: Annotated[
        float | None,
        typer.Option(help="GB/s one direction per GPU within a node [default: the GPU table's]."),
    ] = None,
    inter_node_gb_per_s: Annotated[
        float | None,
        typer.Option(
            help="GB/s one direction per GPU across nodes [default: the GPU table's, else 50]."
        ),
    ] = None,
    max_zero: Annotated[
        int,
        typer.Option(help="Highest ZeRO stage to search, 1 to 3."),
    ] = 2,
    top: Annotated[int, typer.Option(help="Layouts to print (text; json lists all).")] = 5,
    format: Annotated[Format, format_option(FORMATS, "Output: text or json.")] = Format.text,
    moe: MoeOption = False,
    n_experts: NExpertsOption = None,
    top_k: TopKOption = None,
    n_shared_experts: SharedExpertsOption = 0,
    first_dense_layers: FirstDenseLayersOption = 0,
    mla: MlaOption = False,
) -> None:
    """The tensor/context/pipeline/data-parallel layouts of a model that fit a cluster, best first.

    Enumerates TP (within a node), CP, PP, DP, EP (mixture-of-experts models), ZeRO stage,
    micro-batch, interleaving and recomputation; keeps what fits in GPU memory (docs/memory.md)
    and ranks it by an estimated step time: compute at the MFU, recomputation, the exposed
    communication over the GPU table's links and the pipeline bubble. Exit 1 when none fits.

    Examples:

        dsplan layout --budget 1e24 --gpu h800 --gpus 2048

        dsplan layout --n-layers 126 --d-model 16384 --n-heads 128 --n-kv-heads 8 --d-ff 53248 --vocab-size 128256 --seq-len 8192 --batch-size-tokens 16777216 --gpu h100 --gpus 8192 --mfu 0.43

        dsplan layout --hf-config config.json --seq-len 4096 --batch-size-tokens 4194304 --gpu h100 --gpus 512 --format json

        dsplan layout --budget 4e24 --moe --n-experts 256 --top-k 8 --n-shared-experts 1 --first-dense-layers 3 --mla --gpu h800 --gpus 2048
    """
    with exit_on_error():
        positive_int(gpus, "--gpus")
        if gpus > MAX_GPUS:
            raise InputError(f"--gpus must be at most {MAX_GPUS:,}, got {gpus:,}")
        positive_int(top, "--top")
        if top > MAX_TOP:
            raise InputError(f"--top must be at most {MAX_TOP:,}, got {top:,}")
        if node_size is not None:
            positive_int(node_size, "--node-size")
            if node_size > MAX_GPUS:
                raise InputError(f"--node-size must be at most {MAX_GPUS:,}, got {node_size:,}")
        for flag, value in (
            ("--intra-node-gb-per-s", intra_node_gb_per_s),
            ("--inter-node-gb-per-s", inter_node_gb_per_s),
        ):
            if value is not None and not 0 < value <= MAX_LINK_GB_PER_S:
                raise InputError(
                    f"{flag} must be a positive number of GB/s up to {MAX_LINK_GB_PER_S:g}, "
                    f"got {value!r}"
                )
        if seq_len is not None:
            positive_int(seq_len, "--seq-len")
        from dsplan.planning.communication import links_of
        from dsplan.planning.cost import resolve_hardware
        from dsplan.planning.layout import search_layouts

        hardware = resolve_hardware(gpu, dtype=dtype, mfu=mfu, n_gpus=gpus)
        links = links_of(
            hardware.gpu,
            node_size=node_size,
            intra_node_gb_per_s=intra_node_gb_per_s,
            inter_node_gb_per_s=inter_node_gb_per_s,
        )
        shape_flags = {
            "--n-layers": n_layers,
            "--d-model": d_model,
            "--n-heads": n_heads,
            "--n-kv-heads": n_kv_heads,
            "--d-ff": d_ff,
            "--vocab-size": vocab_size,
            "--tied-embeddings": tied_embeddings or None,
        }
        given = [flag for flag, value in shape_flags.items() if value is not None]
        moe_flags = {
            "--n-experts": n_experts is not None,
            "--top-k": top_k is not None,
            "--n-shared-experts": n_shared_experts != 0,
            "--first-dense-layers": first_dense_layers != 0,
            "--mla": mla,
        }
        stray = [flag for flag, set_ in moe_flags.items() if set_]
        if moe and budget is None:
            raise InputError(
                "--moe plans a mixture-of-experts model for --budget C; give a trained one as "
                "--hf-config"
            )
        if stray and not moe:
            raise InputError(f"{', '.join(stray)} plan a mixture-of-experts model: add --moe")
        if budget is not None:
            clash = given + [
                flag
                for flag, value in {
                    "--hf-config": hf_config,
                    "--batch-size-tokens": batch_size_tokens,
                }.items()
                if value is not None
            ]
            if clash:
                raise InputError(
                    f"give --budget or a model, not both ({', '.join(clash)} given with --budget; "
                    "the shape and the batch come from the plan)"
                )
            compute = parse_positive(budget, "--budget")
            if moe:
                shape, global_batch = _moe_plan(
                    compute,
                    seq_len or DEFAULT_SEQ_LEN,
                    n_experts=n_experts,
                    top_k=top_k,
                    n_shared_experts=n_shared_experts,
                    first_dense_layers=first_dense_layers,
                    mla=mla,
                )
            else:
                from dsplan.model.shape import SearchOptions
                from dsplan.planning.plan import PlanOptions, plan

                planned = plan(
                    compute, PlanOptions(search=SearchOptions(seq_len=seq_len or DEFAULT_SEQ_LEN))
                )
                shape = planned.architecture.shape
                global_batch = planned.hyperparameters.batch_size_sequences
        else:
            train_seq_len = seq_len or DEFAULT_SEQ_LEN
            if hf_config is not None:
                if given:
                    raise InputError(f"give --hf-config or {', '.join(given)}, not both")
                from dsplan.model.hf_moe import read_any_hf_config

                shape = read_any_hf_config(hf_config, seq_len=train_seq_len).shape
            else:
                if n_layers is None or d_model is None:
                    raise InputError(
                        "give --budget C, or a model: --n-layers and --d-model, or --hf-config"
                    )
                from dsplan.model.flops import Shape

                shape = Shape.build(
                    n_layers,
                    d_model,
                    n_heads=n_heads,
                    n_kv_heads=n_kv_heads,
                    d_ff=d_ff,
                    vocab_size=DEFAULT_VOCAB_SIZE if vocab_size is None else vocab_size,
                    seq_len=train_seq_len,
                    tied_embeddings=tied_embeddings,
                )
            if batch_size_tokens is None:
                raise InputError("a given model needs --batch-size-tokens (tokens per step)")
            tokens = parse_positive(batch_size_tokens, "--batch-size-tokens")
            if tokens % train_seq_len or tokens > 2.0**62:
                raise InputError(
                    f"--batch-size-tokens ({batch_size_tokens}) must be a whole number of "
                    f"--seq-len ({train_seq_len}) sequences"
                )
            global_batch = int(tokens) // train_seq_len
        search = search_layouts(
            shape,
            hardware,
            n_gpus=gpus,
            global_batch=global_batch,
            allowance=allowance,
            max_zero=max_zero,
            links=links,
        )
        document = search.to_dict()
        require_finite(document)
        if format is Format.json:
            out(dumps(document))
        else:
            from dsplan.output.layout import layout_text

            out(layout_text(document, top))
        if not search.candidates:
            raise ProblemFound(
                f"no layout of this model fits {gpus:,} x {hardware.gpu.id} "
                f"({hardware.gpu.memory_gb:g} GB); try more GPUs, a larger --max-zero or a "
                "smaller --batch-size-tokens"
            )


def _moe_plan(
    compute: float,
    seq_len: int,
    *,
    n_experts: int | None,
    top_k: int | None,
    n_shared_experts: int,
    first_dense_layers: int,
    mla: bool,
) -> tuple[Any, int]:
    """The shape and the batch in sequences of ``budget --moe``'s plan for ``compute``."""
    from dsplan.cli._moe_options import moe_search_options
    from dsplan.model.shape import DEFAULT_ASPECT_RATIO
    from dsplan.planning.moe_plan import MoePlanOptions, moe_plan

    search = moe_search_options(
        n_experts=n_experts,
        top_k=top_k,
        n_shared_experts=n_shared_experts,
        first_dense_layers=first_dense_layers,
        mla=mla,
        aspect_ratio=DEFAULT_ASPECT_RATIO,
        vocab_size=DEFAULT_VOCAB_SIZE,
        seq_len=seq_len,
    )
    planned = moe_plan(compute, MoePlanOptions(search=search))
    return planned.candidate.shape, planned.hyperparameters.batch_size_sequences


def register(app: typer.Typer) -> None:
    app.command()(layout)
