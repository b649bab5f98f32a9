"""Quality metrics of synthetic rows, on sets whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_jax.quality import SUMMARY_NAMES, synthetic_quality

FEATURES = 4


def _normal(seed: int, rows: int, features: int = FEATURES) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, features))


@pytest.fixture(scope="module")
def training():
    return _normal(0, 300)


@pytest.fixture(scope="module")
def held_out():
    return _normal(1, 150)


def test_rows_from_the_real_distribution_score_as_good(training, held_out):
    quality = synthetic_quality(held_out, _normal(2, 600), training)
    assert quality.detectability_auc < 0.65
    assert quality.precision > 0.85 and quality.recall > 0.85
    assert quality.per_feature["ks"].max() < 0.2
    assert quality.per_feature["wasserstein"].max() < 0.25
    assert quality.correlation_difference < 0.15
    assert quality.copied_share == 0
    # Fresh rows are as far from the training rows as held-out rows are.
    assert quality.synthetic_to_training == pytest.approx(
        quality.held_out_to_training, rel=0.25
    )


def test_shifted_rows_are_told_apart_and_measured_by_the_shift(
    training, held_out
):
    quality = synthetic_quality(held_out, _normal(2, 600) + 1.0, training)
    assert quality.detectability_auc > 0.85
    # Standardised by the training rows (standard deviation about 1).
    np.testing.assert_allclose(quality.per_feature["wasserstein"], 1, atol=0.2)


def test_collapsed_rows_are_precise_but_recall_little(training, held_out):
    quality = synthetic_quality(held_out, _normal(2, 600) * 0.1, training)
    assert quality.precision > 0.95
    assert quality.recall < 0.2


def test_copies_of_training_rows_are_flagged(training, held_out):
    copies = training[np.random.default_rng(3).integers(0, 300, 400)]
    quality = synthetic_quality(held_out, copies, training)
    assert quality.copied_share == 1
    assert quality.synthetic_to_training == 0
    assert quality.held_out_to_training > 0.3


def test_lost_correlation_shows_in_the_correlation_difference():
    rng = np.random.default_rng(4)
    base = rng.normal(size=(400, 1))
    correlated = np.hstack([base, 0.9 * base + 0.3 * rng.normal(size=(400, 1))])
    independent = rng.normal(size=(400, 2))
    quality = synthetic_quality(correlated[:200], independent, correlated[200:])
    assert quality.correlation_difference == pytest.approx(0.95, abs=0.1)
    one_feature = synthetic_quality(
        correlated[:200, :1], independent[:, :1], correlated[200:, :1]
    )
    assert np.isnan(one_feature.correlation_difference)


def test_the_same_inputs_give_the_same_numbers(training, held_out):
    synthetic = _normal(5, 300) * 1.2
    first = synthetic_quality(held_out, synthetic, training).summary()
    second = synthetic_quality(held_out, synthetic, training).summary()
    assert first == second
    assert set(first) == set(SUMMARY_NAMES)


@settings(max_examples=10, deadline=None)
@given(
    scale=st.lists(st.floats(1e-3, 1e3), min_size=FEATURES, max_size=FEATURES),
    shift=st.lists(st.floats(-1e3, 1e3), min_size=FEATURES, max_size=FEATURES),
)
def test_units_do_not_change_the_distances(training, held_out, scale, shift):
    synthetic = _normal(6, 200) * 1.3 + 0.2
    before = synthetic_quality(held_out, synthetic, training)
    scale, shift = np.array(scale), np.array(shift)
    after = synthetic_quality(
        held_out * scale + shift,
        synthetic * scale + shift,
        training * scale + shift,
    )
    for name in ("wasserstein", "ks"):
        np.testing.assert_allclose(
            after.per_feature[name], before.per_feature[name], atol=1e-6
        )
    for name in (
        "precision",
        "recall",
        "synthetic_to_training",
        "held_out_to_training",
        "correlation_difference",
    ):
        assert getattr(after, name) == pytest.approx(
            getattr(before, name), abs=1e-6
        )


def test_a_constant_feature_is_measured_without_dividing_by_zero(held_out):
    training = _normal(0, 300)
    training[:, 0] = 7.0
    synthetic = _normal(2, 300)
    synthetic[:, 0] = 7.0
    quality = synthetic_quality(held_out, synthetic, training)
    assert np.isfinite(list(quality.summary().values())).all()


@pytest.mark.parametrize(
    "real, synthetic, message",
    [
        (np.ones((5, 3)), np.ones((5, 4)), "same number of features"),
        (np.ones((1, 4)), np.ones((5, 4)), "at least 2 rows"),
        (np.full((5, 4), np.nan), np.ones((5, 4)), "NaN"),
        (np.ones(5), np.ones((5, 4)), "rows, features"),
    ],
)
def test_unusable_rows_are_refused(real, synthetic, message, training):
    with pytest.raises(ValueError, match=message):
        synthetic_quality(real, synthetic, training)


def test_feature_names_must_match_the_features(training, held_out):
    with pytest.raises(ValueError, match="feature_names"):
        synthetic_quality(held_out, held_out, training, feature_names=["a"])
