"""Tests for the built-in fraud-like dataset."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gan_jax import datasets

COMPONENTS = [f"V{j}" for j in range(1, 29)]
COLUMNS = ["Time", *COMPONENTS, "Amount", "Class"]
TWO_DAYS = 172_800


@pytest.fixture(scope="module")
def default_frame() -> pd.DataFrame:
    return datasets.make_fraud_like()


def _standardized_mean_differences(frame: pd.DataFrame) -> pd.Series:
    """Minority minus majority mean of each component, in majority SDs."""
    majority = frame.loc[frame["Class"] == 0, COMPONENTS]
    minority = frame.loc[frame["Class"] == 1, COMPONENTS]
    return (minority.mean() - majority.mean()) / majority.std()


def test_builtin_dataset_name_is_fraud_like():
    assert datasets.BUILTIN_DATASET == "fraud-like"


def test_columns_are_time_components_amount_class_in_order(default_frame):
    assert list(default_frame.columns) == COLUMNS


def test_class_is_int64_and_features_are_float64(default_frame):
    assert default_frame["Class"].dtype == np.int64
    features = default_frame.drop(columns="Class")
    assert (features.dtypes == np.float64).all()


def test_class_holds_only_zero_and_one(default_frame):
    assert set(default_frame["Class"].unique()) == {0, 1}


def test_default_has_20000_rows_with_400_minority(default_frame):
    assert len(default_frame) == 20_000
    assert default_frame["Class"].sum() == 400


def test_features_are_finite(default_frame):
    features = default_frame.drop(columns="Class").to_numpy()
    assert np.isfinite(features).all()


@settings(max_examples=25, deadline=None)
@given(
    num_rows=st.integers(min_value=2, max_value=400),
    minority_fraction=st.floats(
        min_value=0.0, max_value=1.0, exclude_min=True, exclude_max=True
    ),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_row_and_minority_counts_follow_the_fraction(
    num_rows, minority_fraction, seed
):
    frame = datasets.make_fraud_like(num_rows, minority_fraction, seed)

    expected = min(max(round(num_rows * minority_fraction), 1), num_rows - 1)
    assert len(frame) == num_rows
    assert frame["Class"].sum() == expected


@pytest.mark.parametrize(
    "num_rows, minority_fraction, expected",
    [(1000, 0.02, 20), (2, 0.01, 1), (2, 0.99, 1), (10, 0.5, 5)],
)
def test_minority_count_is_rounded_and_both_classes_present(
    num_rows, minority_fraction, expected
):
    frame = datasets.make_fraud_like(num_rows, minority_fraction)

    assert frame["Class"].sum() == expected


def test_same_seed_gives_identical_frame():
    first = datasets.make_fraud_like(3000, 0.05, seed=7)
    second = datasets.make_fraud_like(3000, 0.05, seed=7)

    pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_different_seeds_give_different_frames():
    first = datasets.make_fraud_like(3000, 0.05, seed=7)
    second = datasets.make_fraud_like(3000, 0.05, seed=8)

    assert not first.equals(second)
    assert not np.array_equal(first["V14"], second["V14"])


def test_rows_are_shuffled(default_frame):
    # Unshuffled, every minority row would sit at the end of the frame.
    minority_rows = np.flatnonzero(default_frame["Class"] == 1)
    assert minority_rows.min() < len(default_frame) // 2


def test_does_not_touch_global_numpy_random_state():
    before = np.random.get_state()[1].copy()
    datasets.make_fraud_like(500, seed=3)
    after = np.random.get_state()[1]

    np.testing.assert_array_equal(before, after)


def test_amount_is_positive_and_in_whole_cents(default_frame):
    amount = default_frame["Amount"]
    assert (amount > 0).all()
    np.testing.assert_allclose(amount * 100, np.round(amount * 100), atol=1e-6)


def test_amount_is_heavy_tailed(default_frame):
    amount = default_frame["Amount"]
    assert amount.max() / amount.median() > 100
    assert amount.skew() > 5


def test_minority_has_more_small_amounts(default_frame):
    is_small = default_frame["Amount"] < 5
    minority = default_frame["Class"] == 1
    # Expected shares are about 0.42 (minority) and 0.18 (majority).
    assert is_small[minority].mean() > 1.5 * is_small[~minority].mean()


def test_time_is_whole_seconds_within_two_days(default_frame):
    time = default_frame["Time"]
    assert (time == np.floor(time)).all()
    assert time.min() >= 0
    assert time.max() < TWO_DAYS


def test_majority_time_has_a_daily_cycle_and_minority_is_flatter(
    default_frame,
):
    hour = (default_frame["Time"] % 86_400) // 3600
    at_night = hour.between(1, 5)
    minority = default_frame["Class"] == 1
    # A flat day puts 5/24 (about 0.21) of the rows in these five hours; the
    # recipe expects about 0.05 (majority) and 0.17 (minority).
    assert at_night[~minority].mean() < 0.10
    assert at_night[minority].mean() > 0.12


def test_components_have_zero_mean_and_falling_spread_in_majority(
    default_frame,
):
    majority = default_frame.loc[default_frame["Class"] == 0, COMPONENTS]
    np.testing.assert_allclose(majority.mean(), 0.0, atol=0.05)
    spread = majority.std().to_numpy()
    assert spread[0] > 1.5 and spread[-1] < 0.4
    # Sampling noise may swap neighbours; the trend must still fall.
    assert np.corrcoef(np.arange(28), np.log(spread))[0, 1] < -0.99


def test_minority_differs_in_few_components_and_overlaps_in_most(
    default_frame,
):
    differences = _standardized_mean_differences(default_frame).abs()
    assert (differences > 1).sum() >= 4
    assert (differences < 0.3).sum() >= 15


def test_minority_differs_in_the_fraud_components(default_frame):
    differences = _standardized_mean_differences(default_frame)
    assert differences["V14"] < -1 and differences["V12"] < -1
    assert differences["V10"] < -1 and differences["V17"] < -1
    assert differences["V4"] > 1 and differences["V11"] > 1


def test_shifted_components_are_correlated_in_minority_only(default_frame):
    minority = default_frame["Class"] == 1
    minority_corr = default_frame.loc[minority, "V14"].corr(
        default_frame.loc[minority, "V12"]
    )
    majority_corr = default_frame.loc[~minority, "V14"].corr(
        default_frame.loc[~minority, "V12"]
    )
    assert minority_corr > 0.2
    assert abs(majority_corr) < 0.05


@pytest.mark.parametrize("seed", [0, 1])
def test_logistic_regression_learns_but_does_not_separate(seed):
    frame = datasets.make_fraud_like(seed=seed)
    features = frame.drop(columns="Class").to_numpy()
    labels = frame["Class"].to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.3, stratify=labels, random_state=0
    )
    classifier = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=1000, random_state=0)
    )
    classifier.fit(x_train, y_train)
    scores = classifier.predict_proba(x_test)[:, 1]

    # Base rate is 0.02: 0.5 is far above it, 0.95 far from perfect.
    assert 0.5 < average_precision_score(y_test, scores) < 0.95
    assert roc_auc_score(y_test, scores) < 0.995


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_rows": 1}, "num_rows"),
        ({"num_rows": 0}, "num_rows"),
        ({"num_rows": 100.0}, "num_rows"),
        ({"num_rows": True}, "num_rows"),
        ({"minority_fraction": 0.0}, "minority_fraction"),
        ({"minority_fraction": 1.0}, "minority_fraction"),
        ({"minority_fraction": -0.1}, "minority_fraction"),
        ({"minority_fraction": float("nan")}, "minority_fraction"),
        ({"minority_fraction": "0.1"}, "minority_fraction"),
        ({"minority_fraction": True}, "minority_fraction"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": None}, "seed"),
    ],
)
def test_invalid_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        datasets.make_fraud_like(**kwargs)


def test_numpy_scalars_are_accepted_as_arguments():
    frame = datasets.make_fraud_like(
        np.int64(50), np.float32(0.1), seed=np.uint32(4)
    )
    expected = datasets.make_fraud_like(50, 0.1, seed=4)

    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
