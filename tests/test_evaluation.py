import dataclasses

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_CONFIG

from gan_jax import (
    DataError,
    GANOversampler,
    evaluation,
    load_table,
    make_fraud_like,
)
from gan_jax.classifiers import CLASSIFIERS, fit_classifier, make_classifier
from gan_jax.config import RunSettings
from gan_jax.evaluation import (
    METRIC_COLUMNS,
    classification_metrics,
    run_comparison,
)
from gan_jax.oversampling import OVERSAMPLERS

FAST = RunSettings(
    classifiers=("logistic-regression", "hist-gradient-boosting"),
    num_seeds=2,
    gan_steps=20,
    ratio=0.2,
    gan=SMALL_CONFIG,
)


@pytest.fixture(scope="module")
def table():
    return load_table(
        make_fraud_like(num_rows=1500, minority_fraction=0.05, seed=5)
    )


def test_classification_metrics_match_hand_computed_values():
    labels = np.array([0, 0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.6, 0.3, 0.8, 0.4])
    metrics = classification_metrics(labels, scores)
    # At 0.5: one true positive (0.8), one false positive (0.6), one false
    # negative (0.4), three true negatives.
    assert (metrics["tn"], metrics["fp"], metrics["fn"], metrics["tp"]) == (
        3,
        1,
        1,
        1,
    )
    assert metrics["precision"] == pytest.approx(0.5)
    assert metrics["recall"] == pytest.approx(0.5)
    assert metrics["f1"] == pytest.approx(0.5)
    # Ranked: 0.8 (pos), 0.6 (neg), 0.4 (pos): AP = 1/2 * (1 + 2/3).
    assert metrics["auprc"] == pytest.approx((1 + 2 / 3) / 2)
    # 7 of the 8 (positive, negative) pairs are ordered correctly.
    assert metrics["roc_auc"] == pytest.approx(7 / 8)
    # Precision 0.9 is reached only at the top row: recall 1/2.
    assert metrics["recall_at_precision_90"] == pytest.approx(0.5)


def test_recall_at_precision_90_is_zero_when_never_reached():
    labels = np.array([0, 1, 0, 1])
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    assert classification_metrics(labels, scores)["recall_at_precision_90"] == 0


@pytest.fixture(scope="module")
def fast_result(table):
    return run_comparison(table, FAST)


def test_every_fit_gives_one_row_with_every_column(fast_result):
    result = fast_result
    metrics = result.metrics
    assert list(metrics.columns) == list(METRIC_COLUMNS)
    assert len(metrics) == 2 * len(OVERSAMPLERS) * 2
    assert set(metrics["oversampler"]) == set(OVERSAMPLERS)
    assert metrics[["auprc", "roc_auc"]].notna().all().all()
    gan_rows = metrics[metrics["oversampler"] == "gan"]
    assert (gan_rows["n_synthetic"] > 0).all()
    assert set(result.gans) == {0, 1}
    assert len(result.curves) == len(OVERSAMPLERS) * 2


def _without_timing(metrics):
    return metrics.drop(columns="fit_seconds")


def test_same_settings_give_the_same_metrics(table, fast_result):
    first = fast_result.metrics
    second = run_comparison(table, FAST).metrics
    assert _without_timing(first).equals(_without_timing(second))


def test_a_different_base_seed_gives_different_metrics(table, fast_result):
    first = fast_result.metrics
    other = run_comparison(
        table, RunSettings(**{**FAST.__dict__, "seed": 7})
    ).metrics
    assert not np.array_equal(first["auprc"], other["auprc"])


def test_metrics_do_not_depend_on_the_number_of_jobs(table):
    settings = RunSettings(
        **{**FAST.__dict__, "oversamplers": ("none", "smote", "gan")}
    )
    one = run_comparison(table, settings, jobs=1).metrics
    two = run_comparison(table, settings, jobs=2).metrics
    assert _without_timing(one).equals(_without_timing(two))


def test_no_test_row_ever_reaches_a_fit(table, monkeypatch):
    seen_by_fits = []
    scored = []
    gan_trainings = []

    class SpyClassifier:
        def __init__(self, name, seed, **options):
            self.model = make_classifier(name, seed, **options)

        def fit(self, features, labels, sample_weight=None):
            seen_by_fits.append(np.asarray(features))
            fit_classifier(self.model, features, labels, sample_weight)
            return self

        def predict_proba(self, features):
            scored.append(np.asarray(features))
            return self.model.predict_proba(features)

    real_resample = evaluation.resample

    def spy_resample(name, features, labels, **kwargs):
        seen_by_fits.append(np.asarray(features))
        return real_resample(name, features, labels, **kwargs)

    real_train_many = evaluation.train_many_checkpointed

    def spy_gan_training(rows, *args, **kwargs):
        seen_by_fits.extend(np.asarray(part) for part in rows)
        gan_trainings.append(len(rows))
        return real_train_many(rows, *args, **kwargs)

    monkeypatch.setattr(evaluation, "make_classifier", SpyClassifier)
    monkeypatch.setattr(evaluation, "resample", spy_resample)
    monkeypatch.setattr(evaluation, "train_many_checkpointed", spy_gan_training)
    # One seed: another seed's split may rightly train on these test rows.
    run_comparison(table, RunSettings(**{**FAST.__dict__, "num_seeds": 1}))

    test_rows = {row.tobytes() for rows in scored for row in rows}
    assert len(seen_by_fits) > len(OVERSAMPLERS)
    assert gan_trainings, "the GAN's training rows were not seen"
    for rows in seen_by_fits:
        assert not test_rows & {row.tobytes() for row in rows}
    # Only the test split is scored: 30 % of the table.
    assert {len(rows) for rows in scored} == {450}


def test_unknown_names_are_rejected_before_any_work(table):
    with pytest.raises(ValueError, match="smoat"):
        run_comparison(
            table, RunSettings(**{**FAST.__dict__, "oversamplers": ("smoat",)})
        )


@pytest.mark.parametrize(
    "field, value",
    [
        ("num_seeds", 0),
        ("ratio", 0.0),
        ("ratio", 1.5),
        ("test_size", 1.0),
        ("gan_steps", 0),
        ("seed", -1),
        ("class_weight", "heavy"),
        ("oversamplers", ()),
        ("classifiers", ("random-forest", "random-forest")),
    ],
)
def test_bad_run_settings_are_rejected(field, value):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        RunSettings(**{field: value})


def test_run_settings_default_to_every_oversampler_and_classifier():
    # config.py may not import the registries, so it repeats their names.
    assert RunSettings().oversamplers == OVERSAMPLERS
    assert RunSettings().classifiers == CLASSIFIERS


def test_a_ratio_the_training_rows_already_reach_is_refused(table):
    # 5 % minority: 0.0526 minority rows per majority row.
    with pytest.raises(DataError, match="adds no rows"):
        run_comparison(table, RunSettings(**{**FAST.__dict__, "ratio": 0.05}))
    weights_only = RunSettings(
        **{
            **FAST.__dict__,
            "ratio": 0.05,
            "oversamplers": ("none", "class-weight"),
        }
    )
    assert len(run_comparison(table, weights_only).metrics) == 2 * 2 * 2


def test_gan_progress_reports_every_step_of_every_seed(table):
    steps = []
    run_comparison(
        table,
        RunSettings(**{**FAST.__dict__, "oversamplers": ("none", "gan")}),
        on_gan_steps=steps.append,
    )
    assert sum(steps) == FAST.num_seeds * FAST.gan_steps


def test_every_seed_trained_together_gives_the_rows_it_gives_alone(table):
    settings = RunSettings(**{**FAST.__dict__, "num_seeds": 3})
    splits = evaluation.split_for_run(table, settings)
    together = evaluation.train_gans(splits, settings, seeds_per_group=2)
    for seed, parts in splits.items():
        alone = evaluation.train_seed_gan(parts.train, seed, settings)
        assert np.array_equal(together[seed].synthetic, alone.synthetic)
        sampler = GANOversampler(
            config=settings.gan,
            num_steps=settings.gan_steps,
            random_state=seed,
            # imbalanced-learn's dict: the minority class's count after.
            sampling_strategy={
                1: len(alone.real) + len(alone.synthetic),
            },
        )
        sampler.fit_resample(parts.train.features, parts.train.labels)
        assert np.array_equal(sampler.synthetic_[1], alone.synthetic)


def test_compare_rerun_finds_every_changed_value():
    rows = [
        {name: 0.5 for name in METRIC_COLUMNS}
        | {"seed": seed, "oversampler": "gan", "classifier": "lr"}
        for seed in (0, 1)
    ]
    metrics = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    metrics.loc[1, "roc_auc"] = np.nan
    again = metrics[metrics["seed"] == 1].copy()
    again["fit_seconds"] = 9.0  # timing never counts
    assert evaluation.compare_rerun(metrics, again, 1).identical
    again.loc[1, "f1"] = 0.5000001
    again.loc[1, "tp"] = 7
    check = evaluation.compare_rerun(metrics, again, 1)
    assert not check.identical and len(check.differences) == 2
    assert check.line().startswith("re-run of seed 1: NOT identical, 2 values")
    missing = evaluation.compare_rerun(metrics, again.iloc[:0], 1)
    assert missing.differences == ("gan with lr: missing from one of the two",)


def test_a_conditional_gan_learns_the_whole_training_split_only(
    table, monkeypatch
):
    learned = []
    real_train_many = evaluation.train_many_checkpointed

    def spy_gan_training(rows, *args, **kwargs):
        learned.append((rows, kwargs["labels"]))
        return real_train_many(rows, *args, **kwargs)

    monkeypatch.setattr(evaluation, "train_many_checkpointed", spy_gan_training)
    settings = RunSettings(
        **{
            **FAST.__dict__,
            "num_seeds": 1,
            "oversamplers": ("none", "gan"),
            "gan": dataclasses.replace(SMALL_CONFIG, objective="conditional"),
        }
    )
    result = run_comparison(table, settings)
    parts = evaluation.split_for_run(table, settings)[0]
    ((rows,), (labels,)) = learned[0]
    np.testing.assert_array_equal(rows, parts.train.features)
    np.testing.assert_array_equal(labels, parts.train.labels)
    test_rows = {row.tobytes() for row in parts.test.features}
    assert not test_rows & {row.tobytes() for row in rows}
    gan_fits = result.metrics[result.metrics["oversampler"] == "gan"]
    assert len(gan_fits) == len(FAST.classifiers)
    assert (gan_fits["n_synthetic"] > 0).all()


def test_a_selecting_run_samples_the_selected_step_as_the_sampler_does(table):
    settings = RunSettings(
        **{**FAST.__dict__, "num_seeds": 1, "gan_select_every": 10}
    )
    splits = evaluation.split_for_run(table, settings)
    (seed,) = splits
    gan = evaluation.train_gans(splits, settings)[seed]
    assert gan.selected_step in (10, 20)
    sampler = GANOversampler(
        config=settings.gan,
        num_steps=settings.gan_steps,
        random_state=seed,
        select_every=10,
        sampling_strategy={1: len(gan.real) + len(gan.synthetic)},
    )
    parts = splits[seed]
    sampler.fit_resample(parts.train.features, parts.train.labels)
    assert np.array_equal(sampler.synthetic_[1], gan.synthetic)


def test_a_run_shorter_than_the_selection_interval_samples_its_last_step(
    table,
):
    settings = RunSettings(
        **{**FAST.__dict__, "num_seeds": 1, "gan_select_every": 250}
    )
    splits = evaluation.split_for_run(table, settings)
    (gan,) = evaluation.train_gans(splits, settings).values()
    assert gan.selected_step == settings.gan_steps
    plain = RunSettings(**{**FAST.__dict__, "num_seeds": 1})
    (alone,) = evaluation.train_gans(splits, plain).values()
    assert np.array_equal(gan.synthetic, alone.synthetic)
