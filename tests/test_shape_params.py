"""The shape search in parameter space."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsplan.errors import InputError
from dsplan.laws.hyperparameters import params_in
from dsplan.model.flops import counts
from dsplan.model.shape import DEFAULT_TOLERANCE, SearchOptions, best_shape, best_shape_by_params

QUANTITIES = ["params_total", "params_non_embedding", "params_non_embedding_with_head"]


@settings(max_examples=30, deadline=None)
@given(quantity=st.sampled_from(QUANTITIES), log_n=st.floats(min_value=9.0, max_value=12.5))
def test_search_by_params_hits_the_count(quantity: str, log_n: float) -> None:
    target = 10**log_n
    cand = best_shape_by_params(target, quantity)
    c = counts(cand.shape)
    assert params_in(c, quantity) / target - 1 == pytest.approx(cand.relative_error, abs=1e-12)
    assert abs(cand.relative_error) <= DEFAULT_TOLERANCE  # 3%: the search's own tolerance
    assert cand.flops_per_token == c.flops_per_token  # the shape's exact M, never 6N


def test_search_by_m_is_unchanged() -> None:
    cand = best_shape(6.57e11)
    assert (cand.shape.n_layers, cand.shape.d_model) == (79, 11264)


def test_too_small_params_target() -> None:
    with pytest.raises(InputError, match="params_total = 1e\\+03 parameters is too small"):
        best_shape_by_params(1e3, "params_total", SearchOptions())


def test_search_by_m_refused() -> None:
    with pytest.raises(InputError, match="needs a parameter count"):
        best_shape_by_params(1e9, "flops_per_token")
