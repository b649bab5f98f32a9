"""The unsupervised comparison: what every detector sees, and its figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gan_jax import GANConfig, load_table, make_fraud_like, split
from gan_jax import detection as detection_module
from gan_jax import detectors as detectors_module
from gan_jax.config import DetectSettings
from gan_jax.data import DataError
from gan_jax.detection import DEFAULT_SCORE
from gan_jax.detectors import (
    DETECTION_COLUMNS,
    DETECTORS,
    check_settings,
    compare_detectors,
    gan_against_others,
    make_detector,
    summarize_detectors,
)
from gan_jax.statistics import paired_differences

FAST = DetectSettings(
    num_seeds=2,
    gan_steps=60,
    gan=GANConfig(
        latent_dim=8,
        generator_widths=(32,),
        discriminator_widths=(32,),
        batch_size=32,
    ),
)


@pytest.fixture(scope="module")
def table():
    return load_table(
        make_fraud_like(num_rows=600, minority_fraction=0.1, seed=3)
    )


@pytest.fixture(scope="module")
def result(table):
    return compare_detectors(table, FAST, jobs=1)


def test_every_detector_and_seed_gives_one_row(result):
    metrics = result.metrics
    assert list(metrics.columns) == list(DETECTION_COLUMNS)
    assert len(metrics) == FAST.num_seeds * len(DETECTORS)
    assert set(zip(metrics["seed"], metrics["detector"], strict=True)) == {
        (seed, name) for seed in FAST.seeds for name in DETECTORS
    }
    assert metrics[["auprc", "roc_auc"]].apply(np.isfinite).all().all()
    assert ((metrics["auprc"] > 0) & (metrics["auprc"] <= 1)).all()
    # Fitted on the common rows of the training split, scored on the test.
    assert (metrics["n_train"] == 378).all()
    assert (metrics["n_test"] == 180).all()
    assert sorted(result.histories) == list(FAST.seeds)
    assert len(result.histories[0]["d_loss"]) == FAST.gan_steps


def test_the_first_seeds_scores_are_its_test_metrics(result, table):
    from sklearn.metrics import average_precision_score

    test = split(table, test_size=FAST.test_size, seed=0).test
    np.testing.assert_array_equal(result.test_labels, test.labels)
    first = result.metrics[result.metrics["seed"] == 0].set_index("detector")
    for name, scores in result.anomaly_scores.items():
        assert average_precision_score(test.labels, scores) == pytest.approx(
            first.loc[name, "auprc"], abs=0
        )


def test_the_same_settings_give_the_same_metrics_whatever_the_jobs(
    result, table
):
    again = compare_detectors(table, FAST, jobs=2).metrics
    timing = ["fit_seconds", "score_seconds"]
    pd.testing.assert_frame_equal(
        again.drop(columns=timing),
        result.metrics.drop(columns=timing),
        check_exact=True,
    )


def test_no_test_row_and_no_rare_row_ever_reaches_a_fit(table, monkeypatch):
    fitted_on = []
    scored = []
    real_make = detectors_module.make_detector

    class Spy:
        def __init__(self, name, seed, settings):
            self.model = real_make(name, seed, settings)

        def set_params(self, **params):
            self.model.set_params(**params)
            return self

        def fit(self, rows):
            fitted_on.append(np.asarray(rows))
            self.model.fit(rows)
            return self

        def score_samples(self, rows):
            scored.append(np.asarray(rows))
            return self.model.score_samples(rows)

    real_train = detection_module.train
    gan_rows = []

    def spy_train(state, data, *args, **kwargs):
        gan_rows.append(np.asarray(data))
        return real_train(state, data, *args, **kwargs)

    monkeypatch.setattr(detectors_module, "make_detector", Spy)
    monkeypatch.setattr(detection_module, "train", spy_train)
    # One seed: another seed's split may rightly train on these test rows.
    settings = DetectSettings(**{**FAST.__dict__, "num_seeds": 1})
    compare_detectors(table, settings, jobs=1)

    parts = split(table, test_size=settings.test_size, seed=0)
    normal = parts.train.features[parts.train.labels == 0]
    assert len(fitted_on) == len(DETECTORS)
    for rows in fitted_on:
        np.testing.assert_array_equal(rows, normal)
    # The GAN itself trained on those rows, scaled, and on nothing else.
    (trained,) = gan_rows
    assert trained.shape == normal.shape
    assert {len(rows) for rows in scored} == {parts.test.num_rows}


def test_gan_against_others_is_the_gan_minus_each_detector():
    metrics = pd.DataFrame(
        {
            "seed": [0, 1, 2, 0, 1, 2, 0, 1, 2],
            "detector": ["gan"] * 3 + ["isolation-forest"] * 3 + ["lof"] * 3,
            "auprc": [0.5, 0.6, 0.7, 0.4, 0.4, 0.4, 0.9, 0.9, 0.8],
        }
    )
    paired = gan_against_others(metrics).set_index("detector")
    assert paired.loc["isolation-forest", "mean_difference"] == pytest.approx(
        0.2
    )
    assert paired.loc["lof", "mean_difference"] == pytest.approx(-0.2667, 1e-3)
    # The p-value is the two-sided test of the same pairs.
    view = metrics.rename(columns={"detector": "oversampler"}).assign(
        classifier="x"
    )
    expected = paired_differences(view, baseline="isolation-forest")
    gan_row = expected[expected["oversampler"] == "gan"].iloc[0]
    assert paired.loc["isolation-forest", "p_value"] == gan_row["p_value"]
    assert (paired["n_pairs"] == 3).all()


def test_summaries_without_a_gan_or_with_one_seed_stay_defined():
    metrics = pd.DataFrame(
        {"seed": [0, 0], "detector": ["gan", "isolation-forest"]}
    ).assign(auprc=[0.3, 0.2])
    summary = summarize_detectors(metrics)
    assert list(summary["detector"]) == ["gan", "isolation-forest"]
    assert math.isnan(summary.loc[0, "std"])
    only_standard = metrics[metrics["detector"] != "gan"]
    assert gan_against_others(only_standard).empty


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"detectors": ("gan", "svm")}, ValueError, "svm"),
        ({"score": "logit"}, ValueError, "logit"),
        ({"test_size": 0.99}, DataError, "common-class rows"),
    ],
)
def test_unusable_settings_are_refused_before_any_fit(
    table, change, error, message
):
    settings = DetectSettings(**{**FAST.__dict__, **change})
    with pytest.raises(error, match=message):
        check_settings(table, settings)


def test_a_table_with_one_rare_row_is_refused():
    frame = make_fraud_like(num_rows=400, minority_fraction=0.05, seed=1)
    rare = frame.index[frame["Class"] == 1]
    table = load_table(frame.drop(index=rare[1:]))
    with pytest.raises(DataError, match="1 minority row"):
        check_settings(table, FAST)


def test_the_gan_detector_takes_the_settings_and_the_seed():
    detector = make_detector("gan", 7, FAST)
    assert detector.random_state == 7
    assert detector.num_steps == FAST.gan_steps
    assert detector.config == FAST.gan
    assert detector.score == FAST.score == DEFAULT_SCORE
