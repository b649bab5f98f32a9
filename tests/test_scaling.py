import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gan_jax.scaling import Scaler

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
tables = st.integers(1, 6).flatmap(
    lambda columns: hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 30), st.just(columns)),
        elements=finite,
    )
)


@settings(max_examples=100, deadline=None)
@given(tables)
def test_training_rows_map_into_unit_interval_and_back(rows):
    scaler = Scaler().fit(rows)
    scaled = scaler.transform(rows)
    assert scaled.dtype == np.float32
    assert np.all(np.abs(scaled) <= 1 + 1e-6)
    restored = scaler.inverse_transform(scaled)
    # float32 keeps about 7 significant digits of the position in the range.
    tolerance = 1e-6 * (np.abs(rows).max(axis=0) + 1) * 4
    assert np.all(np.abs(restored - rows) <= tolerance)


def test_minimum_and_maximum_map_to_minus_one_and_one():
    rows = np.array([[0.0, -5.0], [10.0, 5.0], [2.5, 0.0]])
    scaled = Scaler().fit_transform(rows)
    np.testing.assert_allclose(scaled[:2], [[-1, -1], [1, 1]])
    np.testing.assert_allclose(scaled[2], [-0.5, 0.0])


def test_constant_column_maps_to_zero_and_back_to_its_value():
    rows = np.array([[3.5, 1.0], [3.5, 2.0], [3.5, 4.0]])
    scaler = Scaler().fit(rows)
    np.testing.assert_array_equal(scaler.transform(rows)[:, 0], 0.0)
    restored = scaler.inverse_transform(np.zeros((2, 2)))
    np.testing.assert_array_equal(restored[:, 0], 3.5)


def test_values_outside_the_training_range_pass_through_unclipped():
    scaler = Scaler().fit(np.array([[0.0], [10.0]]))
    scaled = scaler.transform(np.array([[-10.0], [20.0]]))
    np.testing.assert_allclose(scaled, [[-3.0], [3.0]])
    np.testing.assert_allclose(scaler.inverse_transform(scaled), [[-10], [20]])


def test_unfitted_scaler_says_so():
    with pytest.raises(ValueError, match="not fitted"):
        Scaler().transform(np.zeros((1, 2)))


def test_wrong_feature_count_is_rejected():
    scaler = Scaler().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="expected"):
        scaler.transform(np.zeros((3, 4)))


@pytest.mark.parametrize(
    "rows", [np.zeros((0, 2)), np.array([[np.nan, 1.0]]), np.zeros(3)]
)
def test_fit_rejects_empty_non_finite_or_flat_input(rows):
    with pytest.raises(ValueError):
        Scaler().fit(rows)
