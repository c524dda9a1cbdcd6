"""The GPU table: schema of every entry, lookup by id and alias, and the loader's error messages."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from dsplan.catalog.gpus import PEAK_DTYPES, TRAINING_DTYPES, get_gpu, load_table, parse_table
from dsplan.errors import PresetError

TABLE = load_table()
GPUS = TABLE.gpus
IDS = [g.id for g in GPUS]

# The accelerators issue #4 names, by the id or alias a user would type.
REQUIRED = [
    "v100", "a100-40gb", "a100-80gb", "a800", "h100-sxm", "h100-pcie", "h100-nvl", "h800", "h20",
    "h200", "b200", "gb200", "b300", "l40s", "l4", "rtx-4090", "rtx-3090", "mi250x", "mi300x",
    "mi325x", "mi355x", "tpu-v4", "tpu-v5e", "tpu-v5p", "tpu-v6e", "gaudi-2", "gaudi-3",
    "trainium", "trainium2",
]  # fmt: skip


def test_table_has_every_required_accelerator() -> None:
    assert len(GPUS) >= 28
    for name in REQUIRED:
        assert get_gpu(name).id in IDS


@pytest.mark.parametrize("gpu", GPUS, ids=IDS)
def test_entry_schema(gpu) -> None:  # type: ignore[no-untyped-def]
    assert gpu.id == gpu.id.lower() and " " not in gpu.id and "_" not in gpu.id
    assert gpu.source.strip() and gpu.name and gpu.vendor and gpu.interconnect
    peaks = dict(gpu.peak_tflops)
    assert peaks and set(peaks) <= set(PEAK_DTYPES)
    assert any(d in peaks for d in TRAINING_DTYPES)
    for value in peaks.values():
        assert math.isfinite(value) and value > 0
    if "fp8" in peaks and "bf16" in peaks:
        assert peaks["fp8"] >= peaks["bf16"]
    # Dense peaks only: nothing in the table beats the densest part (GB200/GB300 at 5 PF fp8).
    assert max(peaks.values()) <= 5100
    assert gpu.memory_gb > 0 and gpu.memory_bandwidth_tb_per_s > 0
    for dtype, mfu in gpu.mfu_default:
        assert 0 < mfu <= 1 and dtype in peaks
    assert gpu.mfu_default_source.strip()
    # A planning default never exceeds what a published run achieved on the same hardware.
    for dtype, best in gpu.mfu_best_published:
        assert 0 < best <= 1 and dtype in peaks
        assert gpu.best_published_source(dtype)
        default = gpu.default_mfu(dtype)
        assert default is None or default <= best
    for price in gpu.prices:
        assert price.usd_per_gpu_hour > 0 and isinstance(price.as_of, dt.date)
        assert price.provider and price.source
    # Every training dtype the part has can be planned without --mfu (fp16 falls back to bf16).
    for dtype in TRAINING_DTYPES:
        if dtype in peaks:
            assert gpu.default_mfu(dtype) is not None or (
                dtype == "fp16" and gpu.default_mfu("bf16") is not None
            )


# Dense peaks in TFLOP/s, each the vendor's sparse figure halved or the vendor's dense figure
# (reference: shared/reference/gpus.md section 1; NVIDIA H100 page "1,979* with sparsity").
@pytest.mark.parametrize(
    ("gpu_id", "dtype", "tflops"),
    [
        ("h100-sxm", "bf16", 989),
        ("h100-sxm", "fp8", 1979),
        ("a100-80gb", "bf16", 312),
        ("h800", "bf16", 989),
        ("b200", "bf16", 2250),
        ("l4", "bf16", 121),
        ("l40s", "bf16", 362),
        ("mi300x", "bf16", 1307.4),
        ("trainium2", "bf16", 667),
        ("gaudi-3", "bf16", 1677),
    ],
)
def test_dense_peaks(gpu_id: str, dtype: str, tflops: float) -> None:
    assert get_gpu(gpu_id).peak_flops(dtype) == pytest.approx(tflops * 1e12, rel=1e-9)


# Every entry against shared/reference/gpus.md section 1, copied by hand from its table: the dense
# training peak (bf16, or fp16 on the V100), the dense fp8 peak (None where the part has none or
# none is published) and the memory in GB (1e9 bytes; GiB converted). The sparse figures the
# reference names as traps must never appear: H100 1979 bf16, L4 242 bf16, L40S 733 bf16, MI355X
# 10,100 fp8, Trainium2 2,563; this table pins the halved values instead.
REFERENCE_SPECS = {
    "v100-sxm2": (125, None, 32),
    "a100-40gb": (312, None, 40),
    "a100-80gb": (312, None, 80),
    "a800": (312, None, 80),
    "h100-sxm": (989, 1979, 80),
    "h100-pcie": (756, 1513, 80),
    "h100-nvl": (835, 1670, 94),
    "h800": (989, 1979, 80),
    "h20": (148, 296, 96),
    "h200": (989, 1979, 141),
    "b200": (2250, 4500, 180),
    "gb200": (2500, 5000, 186),
    "b300": (2250, 4500, 288),
    "gb300": (2500, 5000, 288),
    "l40s": (362, 733, 48),
    "l4": (121, 242.5, 24),
    "rtx-4090": (165.2, 330.3, 24),
    "rtx-3090": (71, None, 24),
    "mi250x": (383, None, 128),  # per OAM package (2 GCDs): 191.5 per GCD
    "mi300x": (1307.4, 2614.9, 192),
    "mi325x": (1307.4, 2614.9, 256),
    "mi355x": (2517, 5033, 288),
    "tpu-v4": (275, None, 32 * 2**30 / 1e9),
    "tpu-v5e": (197, None, 16),
    "tpu-v5p": (459, None, 95),
    "tpu-v6e": (918, None, 32),
    "gaudi-2": (432, 865, 96),
    "gaudi-3": (1677, 1677, 128),  # as shipped (1.6 GHz MME), not the 1,835 whitepaper figure
    "trainium": (190, 190, 32 * 2**30 / 1e9),
    "trainium2": (667, 1299, 96 * 2**30 / 1e9),
}


def test_every_entry_matches_the_reference_table() -> None:
    assert set(REFERENCE_SPECS) == set(TABLE.ids())
    for gpu_id, (train_tflops, fp8_tflops, memory_gb) in REFERENCE_SPECS.items():
        g = get_gpu(gpu_id)
        assert g.peak_flops(g.default_dtype) == pytest.approx(train_tflops * 1e12, rel=1e-9), gpu_id
        fp8 = g.peak_flops("fp8")
        assert (fp8 is None) == (fp8_tflops is None), gpu_id
        if fp8_tflops is not None:
            assert fp8 == pytest.approx(fp8_tflops * 1e12, rel=1e-9), gpu_id
        assert g.memory_gb == pytest.approx(memory_gb, rel=1e-3), gpu_id


def test_aliases_are_unique_and_resolve() -> None:
    names = TABLE.names()
    assert get_gpu("h100").id == "h100-sxm"
    assert get_gpu("H100").id == "h100-sxm"
    assert get_gpu("A100").id == "a100-80gb"
    assert get_gpu("rtx_4090").id == "rtx-4090"
    assert len(names) == sum(1 + len(g.aliases) for g in GPUS)


def test_unknown_gpu_lists_close_ids() -> None:
    with pytest.raises(PresetError) as info:
        get_gpu("h1000")
    assert str(info.value) == (
        "unknown GPU 'h1000'; did you mean h100-sxm, v100-sxm2? (see `dsplan gpus` for the "
        f"{len(GPUS)} known ids; or give a path to a .toml file)"
    )


def test_unknown_gpu_without_close_match() -> None:
    with pytest.raises(PresetError, match=r"^unknown GPU 'zzzzzz' \(see"):
        get_gpu("zzzzzz")


ONE_ENTRY = """
schema_version = 1
[gpus.my-chip]
name = "My chip"
vendor = "Me"
peak_tflops = { bf16 = 100, fp8 = 200 }
memory_gb = 40
memory_bandwidth_tb_per_s = 1
interconnect = "PCIe"
mfu_default = { bf16 = 0.5 }
mfu_default_source = "my measurement"
source = "my lab notebook"
"""


def test_gpu_from_file(tmp_path: Path) -> None:
    path = tmp_path / "chip.toml"
    path.write_text(ONE_ENTRY)
    gpu = get_gpu(str(path))
    assert gpu.id == "my-chip" and gpu.peak_flops("bf16") == 1e14 and gpu.price is None


def _table(**changes: object) -> dict[str, object]:
    from dsplan.catalog.presets import tomllib  # tomllib on 3.11+, tomli on 3.10

    data = tomllib.loads(ONE_ENTRY)
    data["gpus"]["my-chip"].update(changes)  # type: ignore[index]
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"source": ""}, "source must be a non-empty string"),
        ({"peak_tflops": {"bf16": -1}}, "peak_tflops.bf16 must be positive"),
        ({"peak_tflops": {"bf16": 100, "fp8": 50}}, "fp8 is below bf16"),
        ({"peak_tflops": {"int4": 100}}, "unknown dtype"),
        ({"mfu_default": {"bf16": 1.5}}, "must be a fraction in (0, 1]"),
        ({"mfu_default": {"fp16": 0.5}}, "no peak_tflops.fp16"),
        ({"mfu_best_published": {"bf16": 0.6}}, "one source per dtype"),
        ({"prices": [{"usd_per_gpu_hour": 1, "provider": "x", "source": "y"}]}, "TOML date"),
        ({"memory_gb": 0}, "memory_gb must be positive"),
        ({"node_size": 8}, "need a links_source"),
        ({"node_size": 0, "links_source": "x"}, "node_size must be a positive whole number"),
        ({"node_size": True, "links_source": "x"}, "node_size must be a positive whole number"),
        ({"inter_node_gb_per_s": -5, "links_source": "x"}, "inter_node_gb_per_s must be positive"),
    ],
)
def test_bad_entries_name_the_key(changes: dict[str, object], message: str) -> None:
    with pytest.raises(PresetError, match=r"t\.toml: gpus\.my-chip") as info:
        parse_table(_table(**changes), "t.toml")
    assert message in str(info.value)


def test_bad_schema_version() -> None:
    with pytest.raises(PresetError, match="schema_version must be 1"):
        parse_table({"schema_version": 2, "gpus": {}}, "t.toml")


# The links of the layout search, where a published training run states them.
@pytest.mark.parametrize(
    ("gpu_id", "node", "intra", "inter"),
    [
        # DeepSeek-V3 (arXiv 2412.19437, Section 3.2): nodes of 8 H800, NVLink 160 GB/s achieved
        # within a node, InfiniBand 50 GB/s per GPU across nodes.
        ("h800", 8, 160, 50),
        # Llama 3 (arXiv 2407.21783, Section 3.3.1): 8 H100 per server over NVLink (900 GB/s
        # bidirectional), 400 Gbps between GPUs across servers.
        ("h100", 8, 450, 50),
        # Narayanan et al. 2021 (arXiv 2104.04473, Section 5): 8 A100 per node, eight 200 Gb/s
        # HDR InfiniBand adapters per node.
        ("a100-80gb", 8, 300, 25),
        # Intel Gaudi docs (Network Configuration): 21 scale-up and 3 scale-out 200 Gb/s ports.
        ("gaudi-3", 8, 525, 75),
        ("gb200", 72, 900, 50),
    ],
)
def test_links_where_published(gpu_id: str, node: int, intra: float, inter: float) -> None:
    gpu = get_gpu(gpu_id)
    assert (gpu.node_size, gpu.intra_node_gb_per_s, gpu.inter_node_gb_per_s) == (node, intra, inter)
    entry = gpu.to_dict()
    assert entry["node_size"] == node and entry["links_source"]


@pytest.mark.parametrize("gpu", GPUS, ids=IDS)
def test_links_are_consistent(gpu) -> None:  # type: ignore[no-untyped-def]
    # One direction is at most the bidirectional headline, and a node's links beat the network.
    if gpu.intra_node_gb_per_s is not None and gpu.interconnect_gb_per_s is not None:
        assert gpu.intra_node_gb_per_s <= gpu.interconnect_gb_per_s
    if gpu.intra_node_gb_per_s is not None and gpu.inter_node_gb_per_s is not None:
        assert gpu.inter_node_gb_per_s < gpu.intra_node_gb_per_s
    if gpu.node_size is not None or gpu.intra_node_gb_per_s is not None:
        assert gpu.links_source
    # An inter-node figure no source of the entry states is labelled as ours.
    published = ("arXiv", "docs.habana.ai")
    if gpu.inter_node_gb_per_s is not None and not any(p in gpu.links_source for p in published):
        assert any("inter_node_gb_per_s" in a for a in gpu.assumptions)


def test_looking_up_one_entry_gives_the_validated_table_s_entry() -> None:
    # get_gpu parses only the entry it is asked for (start-up); it must be the very entry the
    # validated table holds, for every id and alias, in any case and with spaces or underscores.
    for name, gpu in load_table().names().items():
        assert get_gpu(name) == gpu
        assert get_gpu(f" {name.upper().replace('-', '_')} ") == gpu
