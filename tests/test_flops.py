"""Parameter and FLOP accounting against published numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsplan.errors import InputError
from dsplan.model.flops import Shape, counts, swiglu_d_ff

# arXiv 2401.02954, Table 3 (n_vocab = 102400, l_seq = 4096 for every row), as printed:
# (n_layers, d_model, N1, N2, M, 6N1/M, 6N2/M). The paper rounds to 3 significant digits (N, M)
# and 2 decimals (ratios), so the tolerances below are half a unit of the last printed digit.
TABLE_3 = [
    (8, 512, 25.2e6, 77.6e6, 352e6, 0.43, 1.32),
    (12, 768, 84.9e6, 164e6, 963e6, 0.53, 1.02),
    (24, 1024, 302e6, 407e6, 3.02e9, 0.60, 0.81),
    (24, 2048, 1.21e9, 1.42e9, 9.66e9, 0.75, 0.88),
    (32, 4096, 6.44e9, 6.86e9, 45.1e9, 0.85, 0.91),
    (40, 5120, 12.6e9, 13.1e9, 85.6e9, 0.88, 0.92),
    (80, 8192, 64.4e9, 65.3e9, 419e9, 0.92, 0.94),
]


@pytest.mark.parametrize(("n", "d", "n1", "n2", "m", "r1", "r2"), TABLE_3, ids=lambda v: str(v))
def test_table_3_through_eq2_fields(
    n: int, d: int, n1: float, n2: float, m: float, r1: float, r2: float
) -> None:
    c = counts(Shape.build(n, d, n_heads=d // 64))
    assert c.params_non_embedding_eq2 == pytest.approx(n1, rel=0.005)
    assert c.params_total_eq2 == pytest.approx(n2, rel=0.005)
    assert c.flops_per_token_eq2 == pytest.approx(m, rel=0.005)
    # The paper's ratios are rounded (0.857 prints as 0.85 in one row), so allow one unit of 0.01.
    assert c.ratio_6n1_to_m_eq2 == pytest.approx(r1, abs=0.0101)
    assert c.ratio_6n2_to_m_eq2 == pytest.approx(r2, abs=0.0101)


def test_deepseek_7b_counts() -> None:
    # deepseek-llm.md §9: Eq. 2 M = 2520 * 4096^2 = 4.2279e10; GQA/SwiGLU-aware M = 4.2467e10;
    # 6.07B non-embedding and 6.91B total parameters from the released config (d_ff 11008).
    c = counts(Shape.build(30, 4096))
    assert c.flops_per_token_eq2 == 2520 * 4096**2
    assert c.flops_per_token == pytest.approx(4.2467e10, rel=1e-4)
    assert c.params_non_embedding == pytest.approx(6.0713e9, rel=1e-4)
    assert c.params_total == pytest.approx(6.9104e9, rel=1e-4)


def test_deepseek_67b_counts() -> None:
    # deepseek-llm.md §9: 95 x 8192, 64 heads, 8 KV heads, d_ff 22016: Eq. 2 M = 4.9728e11,
    # GQA-aware M = 4.3273e11, 65.75B non-embedding and 67.43B total parameters.
    c = counts(Shape.build(95, 8192, n_kv_heads=8))
    assert c.flops_per_token_eq2 == pytest.approx(4.9728e11, rel=1e-4)
    assert c.flops_per_token == pytest.approx(4.3273e11, rel=1e-4)
    assert c.params_non_embedding == pytest.approx(6.5746e10, rel=1e-4)
    assert c.params_total == pytest.approx(6.7425e10, rel=1e-4)
    # Eq. 2's 12 n d^2 overstates the real non-embedding count (it ignores GQA and the FFN width).
    assert c.params_non_embedding_eq2 > c.params_non_embedding


# Exact parameter counts of released models, from their Hugging Face checkpoints
# (meta-llama/Llama-2-{7b,13b,70b}-hf, mistralai/Mistral-7B-v0.1): untied embeddings, RMSNorm.
RELEASED = [
    ("Llama-2-7B", Shape(32, 4096, 32, 32, 11008, 32000), 6_738_415_616),
    ("Llama-2-13B", Shape(40, 5120, 40, 40, 13824, 32000), 13_015_864_320),
    ("Llama-2-70B", Shape(80, 8192, 64, 8, 28672, 32000), 68_976_648_192),
    ("Mistral-7B-v0.1", Shape(32, 4096, 32, 8, 14336, 32000), 7_241_732_096),
]


@pytest.mark.parametrize(("name", "shape", "total"), RELEASED, ids=[r[0] for r in RELEASED])
def test_released_parameter_counts_exact(name: str, shape: Shape, total: int) -> None:
    assert counts(shape).params_total == total


def test_tied_embeddings_count_one_matrix() -> None:
    untied = counts(Shape.build(12, 768, n_heads=12))
    tied = counts(Shape.build(12, 768, n_heads=12, tied_embeddings=True))
    assert untied.params_total - tied.params_total == 102_400 * 768
    assert untied.flops_per_token == tied.flops_per_token


@pytest.mark.parametrize(("d_model", "d_ff"), [(4096, 11008), (8192, 22016), (5120, 13824)])
def test_swiglu_width(d_model: int, d_ff: int) -> None:
    # DeepSeek 7B / 67B configs (11008, 22016); 5120 -> 13824 as in Llama 2 13B.
    assert swiglu_d_ff(d_model) == d_ff


def test_hardware_flops_add_the_output_head() -> None:
    c = counts(Shape.build(30, 4096))
    assert c.flops_per_token_hardware - c.flops_per_token == 6 * 102_400 * 4096


@given(
    n=st.integers(1, 128),
    heads=st.integers(1, 64),
    head_dim=st.sampled_from([64, 128]),
    seq=st.sampled_from([512, 2048, 4096, 8192]),
)
def test_mha_vanilla_ffn_matches_eq2(n: int, heads: int, head_dim: int, seq: int) -> None:
    # With MHA and d_ff = 8/3 d exactly (a vanilla 12 d^2 block), exact M equals Eq. 2.
    d = heads * head_dim * 3
    c = counts(Shape(n, d, heads * 3, heads * 3, 8 * d // 3, seq_len=seq))
    assert c.flops_per_token == c.flops_per_token_eq2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"n_layers": 0, "d_model": 4096, "n_heads": 32, "n_kv_heads": 32, "d_ff": 11008},
            "n_layers",
        ),
        (
            {"n_layers": 2, "d_model": 4096, "n_heads": 30, "n_kv_heads": 30, "d_ff": 11008},
            "must divide d_model",
        ),
        (
            {"n_layers": 2, "d_model": 4096, "n_heads": 32, "n_kv_heads": 6, "d_ff": 11008},
            "must divide n_heads",
        ),
        ({"n_layers": 2, "d_model": 4096, "n_heads": 32, "n_kv_heads": 32, "d_ff": -1}, "d_ff"),
    ],
)
def test_bad_shapes_are_input_errors(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Shape(**kwargs)
