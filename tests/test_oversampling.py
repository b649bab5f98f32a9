import dataclasses

import jax
import numpy as np
import pytest
from conftest import SMALL_CONFIG
from imblearn.pipeline import Pipeline
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.preprocessing import StandardScaler

from gan_jax import DataError, load_table, make_fraud_like
from gan_jax.oversampling import (
    OVERSAMPLERS,
    GANOversampler,
    class_weights,
    num_rows_to_add,
    resample,
)


@pytest.fixture(scope="module")
def training_rows():
    table = load_table(
        make_fraud_like(num_rows=1500, minority_fraction=0.04, seed=3)
    )
    return table.features, table.labels


def test_rows_to_add_follow_imbalanced_learns_arithmetic():
    labels = np.array([0] * 100 + [1] * 5)
    assert num_rows_to_add(labels, 0.1) == 5
    assert num_rows_to_add(labels, 1.0) == 95
    assert num_rows_to_add(labels, 0.05) == 0
    assert num_rows_to_add(labels, 0.01) == 0


@pytest.mark.parametrize("ratio", [0, -0.1, 1.5, "0.5"])
def test_ratio_outside_unit_interval_is_rejected(ratio):
    with pytest.raises(ValueError, match="ratio"):
        num_rows_to_add(np.array([0, 0, 1]), ratio)


@pytest.mark.parametrize("name", ["random", "smote", "borderline-smote"])
def test_classical_oversamplers_reach_the_ratio_exactly(training_rows, name):
    features, labels = training_rows
    resampled = resample(name, features, labels, ratio=0.25, seed=0)
    minority = (resampled.labels == 1).sum()
    majority = (resampled.labels == 0).sum()
    assert minority == int(0.25 * majority)
    assert resampled.num_synthetic == len(resampled.labels) - len(labels)


def test_adasyn_comes_close_to_the_ratio(training_rows):
    features, labels = training_rows
    resampled = resample("adasyn", features, labels, ratio=0.25, seed=0)
    wanted = num_rows_to_add(labels, 0.25)
    assert abs(resampled.num_synthetic - wanted) <= 0.05 * wanted


@pytest.mark.parametrize("name", ["random", "smote", "adasyn"])
def test_oversamplers_keep_every_real_row(training_rows, name):
    features, labels = training_rows
    resampled = resample(name, features, labels, ratio=0.2, seed=1)
    np.testing.assert_array_equal(resampled.features[: len(labels)], features)
    np.testing.assert_array_equal(resampled.labels[: len(labels)], labels)
    assert (resampled.labels[len(labels) :] == 1).all()


@pytest.mark.parametrize("name", ["random", "smote", "adasyn"])
def test_oversamplers_are_deterministic_for_a_seed(training_rows, name):
    features, labels = training_rows
    first = resample(name, features, labels, ratio=0.2, seed=4)
    second = resample(name, features, labels, ratio=0.2, seed=4)
    np.testing.assert_array_equal(first.features, second.features)


def test_none_and_class_weight_add_no_rows(training_rows):
    features, labels = training_rows
    for name in ("none", "class-weight"):
        resampled = resample(name, features, labels, ratio=0.5, seed=0)
        assert resampled.num_synthetic == 0
        assert resampled.features is features or np.array_equal(
            resampled.features, features
        )
    weights = resample("class-weight", features, labels, ratio=0.5, seed=0)
    np.testing.assert_array_equal(
        weights.sample_weight, np.where(labels == 1, 10.0, 1.0)
    )


def test_balanced_weights_give_each_class_equal_total_weight():
    labels = np.array([0] * 90 + [1] * 10)
    weights = class_weights(labels, "balanced")
    assert weights[labels == 0].sum() == pytest.approx(
        weights[labels == 1].sum()
    )


def test_unknown_oversampler_lists_the_known_ones(training_rows):
    features, labels = training_rows
    with pytest.raises(ValueError, match="smote"):
        resample("smoat", features, labels, ratio=0.2, seed=0)
    assert "gan" in OVERSAMPLERS


def test_gan_takes_the_synthetic_rows_it_is_given(training_rows):
    features, labels = training_rows
    to_add = num_rows_to_add(labels, 0.2)
    synthetic = np.full((to_add + 5, features.shape[1]), 7.0, np.float32)
    resampled = resample(
        "gan", features, labels, ratio=0.2, seed=0, synthetic=synthetic
    )
    assert resampled.num_synthetic == to_add
    assert (resampled.features[len(labels) :] == 7.0).all()
    with pytest.raises(ValueError, match="synthetic rows"):
        resample("gan", features, labels, ratio=0.2, seed=0)


# --- GANOversampler ----------------------------------------------------------


def _gan(random_state=0, **kwargs):
    return GANOversampler(
        sampling_strategy=0.2,
        random_state=random_state,
        config=SMALL_CONFIG,
        num_steps=30,
        **kwargs,
    )


def test_gan_oversampler_adds_minority_rows_to_the_ratio(training_rows):
    features, labels = training_rows
    new_features, new_labels = _gan().fit_resample(features, labels)
    assert (new_labels == 1).sum() == int(0.2 * (labels == 0).sum())
    np.testing.assert_array_equal(new_features[: len(labels)], features)
    assert new_features.dtype == features.dtype


def test_gan_rows_lie_within_the_minority_training_range(training_rows):
    # tanh output in [-1, 1] maps back onto [min, max] of the rows the GAN
    # was fitted on: the original units, never the scaled ones.
    features, labels = training_rows
    sampler = _gan()
    sampler.fit_resample(features, labels)
    synthetic = sampler.synthetic_[1]
    minority = features[labels == 1]
    span = minority.max(axis=0) - minority.min(axis=0)
    assert (synthetic >= minority.min(axis=0) - 1e-5 * span).all()
    assert (synthetic <= minority.max(axis=0) + 1e-5 * span).all()


def test_gan_oversampler_is_deterministic_for_a_random_state(training_rows):
    features, labels = training_rows
    first, _ = _gan(5).fit_resample(features, labels)
    second, _ = _gan(5).fit_resample(features, labels)
    other, _ = _gan(6).fit_resample(features, labels)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_gan_oversampler_keeps_the_trained_state(training_rows):
    features, labels = training_rows
    sampler = _gan()
    sampler.fit_resample(features, labels)
    assert int(sampler.states_[1].step) == 30
    assert len(sampler.histories_[1]["g_loss"]) == 30
    assert isinstance(sampler.states_[1].step, jax.Array)


def test_gan_oversampler_works_in_an_imblearn_pipeline(training_rows):
    features, labels = training_rows
    pipeline = Pipeline(
        [
            ("oversample", _gan()),
            ("standardize", StandardScaler()),
            ("classify", LogisticRegression(max_iter=2000)),
        ]
    )
    scores = cross_val_score(
        pipeline, features, labels, cv=3, scoring="average_precision"
    )
    assert scores.shape == (3,)
    assert np.isfinite(scores).all()
    # Well above the 4 % base rate: the pipeline learned something.
    assert scores.mean() > 0.2


def test_a_sampler_that_refuses_the_data_says_which_and_why():
    # No minority row has a majority neighbour: ADASYN cannot weigh rows.
    rng = np.random.default_rng(0)
    features = np.concatenate(
        [rng.normal(0, 1, (200, 3)), rng.normal(100, 1, (20, 3))]
    )
    labels = np.r_[np.zeros(200, int), np.ones(20, int)]
    with pytest.raises(DataError, match="adasyn cannot oversample"):
        resample("adasyn", features, labels, ratio=0.5, seed=0)


def test_a_conditional_gan_oversampler_learns_every_row(training_rows):
    features, labels = training_rows
    config = dataclasses.replace(SMALL_CONFIG, objective="conditional")
    sampler = GANOversampler(
        sampling_strategy=0.25, random_state=0, config=config, num_steps=30
    )
    new_features, new_labels = sampler.fit_resample(features, labels)
    to_add = num_rows_to_add(labels, 0.25)
    assert len(new_features) == len(features) + to_add
    assert (new_labels[len(labels) :] == 1).all()
    np.testing.assert_array_equal(new_features[: len(features)], features)
    # One GAN, for the minority, scaled on all the rows it learned.
    assert list(sampler.scalers_) == [1]
    np.testing.assert_array_equal(
        sampler.scalers_[1].data_min, features.min(axis=0)
    )
    again = GANOversampler(
        sampling_strategy=0.25, random_state=0, config=config, num_steps=30
    ).fit_resample(features, labels)
    np.testing.assert_array_equal(again[0], new_features)
