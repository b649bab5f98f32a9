"""GANAnomalyDetector: scikit-learn's outlier API over a GAN of normal rows."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.base
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from gan_jax import GANConfig
from gan_jax.detection import (
    OFFSET_ROWS,
    SCORE_BLOCK_ROWS,
    SCORES,
    GANAnomalyDetector,
)

CONFIG = GANConfig(
    latent_dim=8,
    generator_widths=(32, 32),
    discriminator_widths=(32, 16),
    batch_size=32,
)
NUM_FEATURES = 4


def _normal_rows(seed: int, rows: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, NUM_FEATURES))


def _planted(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """200 normal test rows and 20 outliers far from them, with labels."""
    rng = np.random.default_rng(seed + 100)
    outliers = rng.normal(size=(20, NUM_FEATURES)) * 0.3 + 4
    rows = np.concatenate([_normal_rows(seed + 200, 200), outliers])
    return rows, np.r_[np.zeros(200), np.ones(20)]


def _detector(**parameters) -> GANAnomalyDetector:
    defaults = {"config": CONFIG, "num_steps": 300, "random_state": 0}
    return GANAnomalyDetector(**{**defaults, **parameters})


@pytest.fixture(scope="module")
def fitted() -> GANAnomalyDetector:
    return _detector().fit(_normal_rows(0, 400))


@pytest.mark.parametrize("score", ["inversion", "nearest"])
@pytest.mark.parametrize("seed", [0, 1])
def test_planted_outliers_rank_above_the_normal_rows(fitted, score, seed):
    detector = (
        fitted
        if seed == 0
        else _detector(random_state=seed).fit(_normal_rows(seed, 400))
    )
    rows, labels = _planted(seed)
    anomaly = -detector.rescored(score=score).score_samples(rows)
    # A random scorer's ROC AUC is 0.5 give or take 0.07 here; 0.95 is
    # out of its reach.
    assert roc_auc_score(labels, anomaly) > 0.95


def test_the_discriminator_scores_rows_like_the_training_rows_higher(fitted):
    # Far-away rows are where the discriminator extrapolates (see the
    # module docstring of gan_jax.detection); near the data its logit
    # tells training-like rows from uniform noise over the same box.
    detector = fitted.rescored(score="discriminator")
    rng = np.random.default_rng(5)
    normal = _normal_rows(7, 300)
    noise = rng.uniform(-2.5, 2.5, size=(300, NUM_FEATURES))
    scores = detector.score_samples(np.concatenate([normal, noise]))
    assert scores[:300].mean() > scores[300:].mean()


@pytest.mark.parametrize("score", SCORES)
def test_the_same_seed_gives_the_same_scores_bit_for_bit(score):
    rows, _ = _planted(0)
    training = _normal_rows(0, 400)
    first = _detector(score=score).fit(training)
    second = _detector(score=score).fit(training)
    other = _detector(score=score, random_state=1).fit(training)
    np.testing.assert_array_equal(
        first.score_samples(rows), second.score_samples(rows)
    )
    assert first.offset_ == second.offset_
    assert not np.array_equal(
        first.score_samples(rows), other.score_samples(rows)
    )


@settings(max_examples=8, deadline=None)
@given(
    picks=st.lists(
        st.integers(0, SCORE_BLOCK_ROWS + 99), min_size=1, max_size=40
    ),
    score=st.sampled_from(SCORES),
)
def test_a_rows_score_does_not_depend_on_the_rows_around_it(
    fitted, picks, score
):
    detector = fitted.rescored(score=score)
    rows = _normal_rows(9, SCORE_BLOCK_ROWS + 100)
    # More than one block, so that rows move between blocks and positions.
    everything = detector.score_samples(rows)
    np.testing.assert_array_equal(
        detector.score_samples(rows[picks]), everything[picks]
    )


@pytest.mark.parametrize(
    "changed",
    [
        {
            "score": "inversion",
            "inversion_steps": 5,
            "inversion_candidates": 3,
            "contamination": 0.1,
        },
        {"nearest_rows": 300},
    ],
)
def test_rescored_equals_a_fresh_fit_with_those_parameters(fitted, changed):
    rows, _ = _planted(0)
    fresh = _detector(**changed).fit(_normal_rows(0, 400))
    rescored = fitted.rescored(**changed)
    np.testing.assert_array_equal(
        rescored.score_samples(rows), fresh.score_samples(rows)
    )
    assert rescored.offset_ == fresh.offset_
    assert fitted.score == "nearest"  # the original is unchanged


def test_rescored_refuses_parameters_that_change_training(fitted):
    with pytest.raises(ValueError, match="num_steps"):
        fitted.rescored(num_steps=10)


def test_decision_function_and_predict_follow_scikit_learn(fitted):
    training = _normal_rows(0, 400)
    scores = fitted.score_samples(training)
    np.testing.assert_array_equal(
        fitted.decision_function(training), scores - fitted.offset_
    )
    predicted = fitted.predict(training)
    assert set(np.unique(predicted)) <= {-1, 1}
    # offset_ is the training scores' contamination quantile.
    assert np.mean(predicted == -1) == pytest.approx(0.01, abs=0.01)
    rows, labels = _planted(0)
    assert (fitted.predict(rows)[labels == 1] == -1).all()


def test_contamination_sets_the_share_of_training_outliers():
    training = _normal_rows(0, 400)
    detector = _detector(score="nearest", contamination=0.2).fit(training)
    assert np.mean(detector.predict(training) == -1) == pytest.approx(
        0.2, abs=0.01
    )


def test_the_offset_comes_from_at_most_offset_rows_training_rows():
    detector = _detector(score="discriminator", num_steps=20)
    detector.fit(_normal_rows(3, OFFSET_ROWS + 500))
    assert len(detector._offset_rows) == OFFSET_ROWS


def test_it_is_a_scikit_learn_estimator(fitted):
    clone = sklearn.base.clone(fitted)
    assert clone.get_params() == fitted.get_params()
    assert not hasattr(clone, "state_")
    labels = clone.fit_predict(_normal_rows(0, 400))
    np.testing.assert_array_equal(labels, fitted.predict(_normal_rows(0, 400)))


def test_a_discriminator_without_hidden_layers_still_scores():
    config = GANConfig(
        latent_dim=4,
        generator_widths=(16,),
        discriminator_widths=(),
        batch_size=16,
    )
    detector = GANAnomalyDetector(config=config, num_steps=20)
    detector.fit(_normal_rows(0, 100))
    assert np.isfinite(detector.score_samples(_normal_rows(1, 10))).all()


def test_unfitted_detector_refuses_to_score():
    with pytest.raises(NotFittedError):
        GANAnomalyDetector().score_samples(_normal_rows(0, 3))


@pytest.mark.parametrize(
    "rows, message",
    [
        (np.full((5, NUM_FEATURES), np.nan), "NaN"),
        (np.ones((1, NUM_FEATURES)), "at least 2"),
        (np.ones(5), "2D"),
    ],
)
def test_bad_training_rows_are_refused(rows, message):
    with pytest.raises(ValueError, match=message):
        _detector(num_steps=1).fit(rows)


def test_rows_of_another_width_are_refused(fitted):
    with pytest.raises(ValueError, match="fitted on 4"):
        fitted.score_samples(np.ones((3, 5)))


@settings(max_examples=25, deadline=None)
@given(
    parameter=st.sampled_from(
        [
            ("score", st.sampled_from(["logit", "", "Inversion"])),
            ("num_steps", st.integers(max_value=-1)),
            (
                "inversion_steps",
                st.one_of(st.integers(max_value=-1), st.just(2.5)),
            ),
            ("inversion_candidates", st.integers(max_value=0)),
            ("nearest_rows", st.integers(max_value=0)),
            (
                "contamination",
                st.floats(max_value=0) | st.floats(min_value=0.51),
            ),
            ("feature_weight", st.floats(min_value=1.01) | st.just(-0.1)),
            (
                "inversion_learning_rate",
                st.sampled_from([0, -1, np.inf, np.nan]),
            ),
            ("config", st.just({"latent_dim": 8})),
            ("config", st.just(GANConfig(objective="conditional"))),
        ]
    ),
    data=st.data(),
)
def test_bad_parameters_are_refused_before_training(parameter, data):
    name, values = parameter
    value = data.draw(values)
    with pytest.raises(ValueError, match=name):
        GANAnomalyDetector(**{name: value}).fit(_normal_rows(0, 10))
