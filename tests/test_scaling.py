import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gan_jax import GANConfig
from gan_jax.config import TRANSFORMS
from gan_jax.scaling import QuantileScaler, Scaler, make_scaler

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


# --- QuantileScaler -----------------------------------------------------------

# Tables with repeated values, heavy tails and constant columns alike.
quantile_tables = st.integers(1, 4).flatmap(
    lambda columns: hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 60), st.just(columns)),
        elements=st.one_of(
            finite,
            st.sampled_from([0.0, 1.0, 1e5]),
            st.floats(0, 30).map(np.exp),
        ),
    )
)


@settings(max_examples=60, deadline=None)
@given(quantile_tables, st.integers(2, 50))
def test_quantile_training_rows_map_into_unit_interval_and_back(
    rows, num_quantiles
):
    scaler = QuantileScaler(num_quantiles).fit(rows)
    scaled = scaler.transform(rows)
    assert scaled.dtype == np.float32
    assert np.all(np.abs(scaled) <= 1)
    restored = scaler.inverse_transform(scaled)
    # float32 positions; the slope between two quantiles magnifies their
    # rounding at most by the range over the narrowest gap in [-1, 1].
    positions = QuantileScaler.positions(scaler.knots.shape[1])
    widest_slope = np.ptp(rows, axis=0) / np.diff(positions).min()
    tolerance = 2e-7 * widest_slope + 1e-9 * (np.abs(rows).max(axis=0) + 1)
    assert np.all(np.abs(restored - rows) <= tolerance)


@settings(max_examples=60, deadline=None)
@given(quantile_tables, st.integers(2, 50))
def test_quantile_transform_keeps_the_order_of_values(rows, num_quantiles):
    scaler = QuantileScaler(num_quantiles).fit(rows)
    for column in range(rows.shape[1]):
        order = np.argsort(rows[:, column], kind="stable")
        scaled = scaler.transform(rows)[order, column]
        assert np.all(np.diff(scaled) >= 0)


@settings(max_examples=40, deadline=None)
@given(
    quantile_tables,
    st.lists(st.floats(-1, 1), min_size=1, max_size=20),
)
def test_anything_in_unit_interval_maps_back_into_the_training_range(
    rows, positions
):
    scaler = QuantileScaler().fit(rows)
    scaled = np.repeat(np.array(positions)[:, None], rows.shape[1], axis=1)
    restored = scaler.inverse_transform(scaled)
    assert np.all(restored >= rows.min(axis=0))
    assert np.all(restored <= rows.max(axis=0))
    assert np.all(np.diff(restored, axis=0)[np.diff(positions) >= 0] >= 0)


def test_quantiles_come_back_exactly_in_float64():
    rows = np.random.default_rng(0).lognormal(0, 3, size=(500, 2))
    scaler = QuantileScaler(100).fit(rows)
    positions = QuantileScaler.positions(100)
    restored = scaler.inverse_transform(np.c_[positions, positions])
    np.testing.assert_array_equal(restored, scaler.knots.T)


def test_a_heavy_tail_becomes_close_to_normal():
    from scipy import stats

    amounts = np.random.default_rng(1).lognormal(2, 2, size=(5000, 1))
    scaled = QuantileScaler().fit_transform(amounts)[:, 0]
    # Back to normal units: position times the normal quantile at 1 - 1e-7.
    normal = scaled * stats.norm.ppf(1 - QuantileScaler.BOUND)
    assert stats.kstest(normal, "norm").statistic < 0.01
    # Min-max scaling leaves most amounts in a sliver near -1.
    squeezed = Scaler().fit_transform(amounts)[:, 0]
    assert np.median(squeezed) < -0.99


def test_a_constant_column_maps_to_zero_and_back_to_its_value():
    rows = np.c_[np.full(30, 4.25), np.arange(30.0)]
    scaler = QuantileScaler().fit(rows)
    scaled = scaler.transform(rows)
    assert np.all(scaled[:, 0] == 0)
    np.testing.assert_array_equal(scaler.inverse_transform(scaled)[:, 0], 4.25)


def test_a_repeated_value_maps_to_the_middle_of_its_quantiles():
    rows = np.r_[np.zeros(80), np.arange(1.0, 21.0)][:, None]
    scaled = QuantileScaler().fit_transform(rows)[:, 0]
    assert np.unique(scaled[:80]).size == 1
    # The zeros hold levels 0 to 0.8 or so: their middle is below 0.
    assert -1 < scaled[0] < 0


def test_quantile_values_outside_the_training_range_are_clipped():
    scaler = QuantileScaler().fit(np.arange(10.0)[:, None])
    np.testing.assert_array_equal(
        scaler.transform(np.array([[-5.0], [50.0]]))[:, 0], [-1, 1]
    )


@pytest.mark.parametrize("num_quantiles", [1, 0, 2.5, True])
def test_quantile_scaler_needs_two_quantiles_or_more(num_quantiles):
    with pytest.raises(ValueError, match="num_quantiles"):
        QuantileScaler(num_quantiles)


def test_unfitted_or_mismatched_quantile_scaler_says_so():
    with pytest.raises(ValueError, match="not fitted"):
        QuantileScaler().transform(np.ones((2, 2)))
    scaler = QuantileScaler().fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"\(rows, 2\)"):
        scaler.inverse_transform(np.ones((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        QuantileScaler().fit(np.array([[np.nan]]))


def test_make_scaler_knows_every_transform_of_the_config():
    assert isinstance(make_scaler("minmax"), Scaler)
    assert isinstance(make_scaler("quantile"), QuantileScaler)
    for transform in TRANSFORMS:
        make_scaler(transform)
    with pytest.raises(ValueError, match="unknown transform"):
        make_scaler("log")
    with pytest.raises(ValueError, match="transform"):
        GANConfig(transform="log")
