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


# Any finite value, from subnormals to the largest float64.
any_finite = st.floats(allow_nan=False, allow_infinity=False)
# A column that holds one value throughout.
constant_columns = st.tuples(st.integers(1, 20), any_finite).map(
    lambda size_value: np.full(size_value[0], size_value[1])
)


@st.composite
def wide_tables(draw) -> np.ndarray:
    """(rows, columns): any finite values, some columns constant."""
    rows = draw(st.integers(1, 20))
    columns = draw(st.integers(1, 6))
    table = draw(hnp.arrays(np.float64, (rows, columns), elements=any_finite))
    constant = draw(hnp.arrays(np.bool_, columns))
    table[:, constant] = table[0, constant]
    return table


def _half_range(rows: np.ndarray) -> np.ndarray:
    """Per column (max - min) / 2, computed so that it cannot overflow."""
    return rows.max(axis=0) / 2 - rows.min(axis=0) / 2


@settings(max_examples=200, deadline=None)
@given(wide_tables())
def test_any_finite_training_rows_map_into_unit_interval(rows):
    scaled = Scaler().fit(rows).transform(rows)
    assert np.isfinite(scaled).all()
    assert np.all(np.abs(scaled) <= 1)


@settings(max_examples=200, deadline=None)
@given(wide_tables())
def test_any_finite_rows_come_back_to_float32_precision_of_the_range(rows):
    scaler = Scaler().fit(rows)
    restored = scaler.inverse_transform(scaler.transform(rows))
    # float32 resolves a position to 2**-24 of the range's width (two
    # half-ranges); float64 arithmetic adds a few ulps of the values
    # themselves, which dominate only when the range is a few ulps wide.
    magnitude = np.abs(rows).max(axis=0)
    tolerance = (
        2.0**-22 * _half_range(rows)
        + 8 * np.finfo(np.float64).eps * magnitude
        + 8 * np.finfo(np.float64).smallest_subnormal
    )
    assert np.all(np.abs(restored - rows) <= tolerance)


@settings(max_examples=100, deadline=None)
@given(wide_tables())
def test_training_minimum_and_maximum_map_to_exactly_minus_one_and_one(rows):
    scaler = Scaler().fit(rows)
    varies = _half_range(rows) > 0
    lowest = scaler.transform(rows.min(axis=0, keepdims=True))[0]
    highest = scaler.transform(rows.max(axis=0, keepdims=True))[0]
    np.testing.assert_array_equal(lowest[varies], -1.0)
    np.testing.assert_array_equal(highest[varies], 1.0)


@settings(max_examples=100, deadline=None)
@given(constant_columns)
def test_any_constant_column_maps_to_zero_and_back_exactly(column):
    rows = column[:, None]
    scaler = Scaler().fit(rows)
    np.testing.assert_array_equal(scaler.transform(rows), 0.0)
    np.testing.assert_array_equal(scaler.inverse_transform(rows * 0), rows)


def test_range_a_few_ulps_wide_still_spans_minus_one_to_one():
    # Their midpoint is not a float: a line through the midpoint mapped
    # these rows to -2 and 0.
    rows = np.array([[0.3], [0.1 + 0.2]])
    scaler = Scaler().fit(rows)
    np.testing.assert_array_equal(scaler.transform(rows), [[-1.0], [1.0]])
    np.testing.assert_array_equal(
        scaler.inverse_transform(scaler.transform(rows)), rows
    )


def test_range_near_the_float64_limit_does_not_overflow():
    rows = np.array([[-1.7e308, 1e300], [1.7e308, -1e300], [0.0, 0.0]])
    scaler = Scaler().fit(rows)
    scaled = scaler.transform(rows)
    np.testing.assert_array_equal(scaled, [[-1, 1], [1, -1], [0, 0]])
    np.testing.assert_array_equal(scaler.inverse_transform(scaled), rows)


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
