"""Unsupervised detectors compared: the GAN against the standard ones.

For each seed the table is split afresh (stratified, as `gan-jax run`
splits it). Every detector is fitted on the common-class rows of the
training split only: the rare rows of the training split are left out, as
they would be unknown where no label exists, and no test row reaches a
fit. Each detector then scores the test split, and only those scores meet
the test labels, as AUPRC (the rare class as positive) and ROC AUC.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.ensemble import IsolationForest
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
)
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM
from threadpoolctl import threadpool_limits

from gan_jax import statistics
from gan_jax.config import DetectSettings
from gan_jax.data import DataError, Table, split
from gan_jax.detection import SCORES, GANAnomalyDetector

#: Names accepted by `make_detector` (and by --detectors), the GAN first.
DETECTORS = (
    "gan",
    "isolation-forest",
    "local-outlier-factor",
    "one-class-svm",
)

#: Columns of the per-fit metrics table, in order.
DETECTION_COLUMNS = (
    "seed",
    "detector",
    "auprc",
    "roc_auc",
    "n_train",
    "n_test",
    "n_test_anomalies",
    "fit_seconds",
    "score_seconds",
)

#: Fewest common-class training rows a comparison accepts.
MIN_NORMAL_ROWS = 20

_DISPLAY_NAMES = {
    "gan": "GAN",
    "isolation-forest": "IsolationForest",
    "local-outlier-factor": "LocalOutlierFactor",
    "one-class-svm": "OneClassSVM",
}


def display_name(detector: str) -> str:
    return _DISPLAY_NAMES.get(detector, detector)


def make_detector(name: str, seed: int, settings: DetectSettings):
    """A fresh, unfitted detector with `fit` and `score_samples`.

    The standard detectors keep scikit-learn's defaults, as a user would
    first try them; LocalOutlierFactor and OneClassSVM see standardised
    features (distances and the RBF kernel depend on the units), the
    IsolationForest does not need them.
    """
    if name == "gan":
        return GANAnomalyDetector(
            score=settings.score,
            config=settings.gan,
            num_steps=settings.gan_steps,
            random_state=seed,
        )
    if name == "isolation-forest":
        return IsolationForest(random_state=seed, n_jobs=1)
    if name == "local-outlier-factor":
        return Pipeline(
            [
                ("standardize", StandardScaler()),
                ("detect", LocalOutlierFactor(novelty=True)),
            ]
        )
    if name == "one-class-svm":
        return Pipeline(
            [("standardize", StandardScaler()), ("detect", OneClassSVM())]
        )
    raise ValueError(
        f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}"
    )


@dataclasses.dataclass(eq=False)
class DetectionResult:
    """The outcome of `compare_detectors`.

    Attributes:
        metrics: one row per (seed, detector), columns `DETECTION_COLUMNS`.
        first_seed: the seed whose scores are kept below.
        test_labels: that seed's test labels (1 = rare).
        anomaly_scores: per detector, that seed's test anomaly scores
            (minus `score_samples`: higher is more anomalous).
        histories: per seed, the GAN's training metrics (empty without
            `gan`).
    """

    metrics: pd.DataFrame
    first_seed: int
    test_labels: np.ndarray
    anomaly_scores: dict[str, np.ndarray]
    histories: dict[int, dict[str, np.ndarray]]

    def curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The first seed's precision-recall curve per detector."""
        curves = {}
        for detector, scores in self.anomaly_scores.items():
            precision, recall, _ = precision_recall_curve(
                self.test_labels, scores
            )
            curves[detector] = (precision, recall)
        return curves


def check_settings(table: Table, settings: DetectSettings) -> None:
    """Refuses settings or data a comparison cannot use, in one line.

    Raises:
        ValueError: an unknown detector or score name.
        DataError: too few rows of either class to split (the test split
            then holds at least one rare row), or too few common-class
            training rows.
    """
    unknown = [n for n in settings.detectors if n not in DETECTORS]
    if unknown:
        raise ValueError(
            f"unknown detector(s) {', '.join(unknown)}; choose from "
            f"{', '.join(DETECTORS)}"
        )
    if settings.score not in SCORES:
        raise ValueError(
            f"unknown score {settings.score!r}; choose from {', '.join(SCORES)}"
        )
    for seed in settings.seeds:
        parts = split(table, test_size=settings.test_size, seed=seed)
        normal = int((parts.train.labels == 0).sum())
        if normal < MIN_NORMAL_ROWS:
            raise DataError(
                f"the training split has {normal} common-class rows; the "
                f"detectors need at least {MIN_NORMAL_ROWS}"
            )


def compare_detectors(
    table: Table,
    settings: DetectSettings,
    *,
    jobs: int = 1,
    on_fit_done: Callable[[dict], None] | None = None,
    gan_callback: Callable | None = None,
) -> DetectionResult:
    """Fits and scores every detector for every seed.

    The GANs train in this process, one seed after another (they use all
    cores through XLA); the other detectors' fits run in `jobs` worker
    processes, one thread each, so that results do not depend on `jobs`.

    Args:
        table: the labelled table.
        settings: detectors, seeds, split and GAN settings.
        jobs: worker processes for the standard detectors (-1: every core).
        on_fit_done: called with each finished metrics row.
        gan_callback: passed to `gan_jax.train` for every GAN (progress).

    Returns:
        The metrics of every (seed, detector) and the first seed's scores.
    """
    check_settings(table, settings)
    splits = {
        seed: split(table, test_size=settings.test_size, seed=seed)
        for seed in settings.seeds
    }
    tasks = [
        (seed, name) for seed in settings.seeds for name in settings.detectors
    ]
    done: dict[tuple[int, str], tuple[dict, np.ndarray, dict | None]] = {}

    def finish(task, outcome):
        done[task] = outcome
        if on_fit_done is not None:
            on_fit_done(outcome[0])

    for task in tasks:
        if task[1] == "gan":
            seed, name = task
            finish(
                task,
                _fit_and_score(
                    name, seed, splits[seed], settings, callback=gan_callback
                ),
            )
    others = [task for task in tasks if task[1] != "gan"]
    if others:
        outcomes = Parallel(n_jobs=jobs, return_as="generator")(
            delayed(_fit_and_score_single_threaded)(
                name, seed, splits[seed], settings
            )
            for seed, name in others
        )
        for task, outcome in zip(others, outcomes, strict=True):
            finish(task, outcome)

    first_seed = settings.seeds[0]
    metrics = pd.DataFrame(
        [done[task][0] for task in tasks], columns=list(DETECTION_COLUMNS)
    )
    return DetectionResult(
        metrics=metrics,
        first_seed=first_seed,
        test_labels=splits[first_seed].test.labels,
        anomaly_scores={
            name: done[(first_seed, name)][1] for name in settings.detectors
        },
        histories={
            seed: done[(seed, "gan")][2]
            for seed in settings.seeds
            if (seed, "gan") in done
        },
    )


def _fit_and_score_single_threaded(name, seed, parts, settings):
    with threadpool_limits(1):
        return _fit_and_score(name, seed, parts, settings)


def _fit_and_score(name, seed, parts, settings, *, callback=None):
    """(metrics row, test anomaly scores, GAN history or None)."""
    train, test = parts.train, parts.test
    normal = train.features[train.labels == 0]
    detector = make_detector(name, seed, settings)
    if callback is not None:
        detector.set_params(callback=callback)
    start = time.perf_counter()
    detector.fit(normal)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    anomaly = -np.asarray(detector.score_samples(test.features), np.float64)
    score_seconds = time.perf_counter() - start
    if not np.isfinite(anomaly).all():
        raise DataError(
            f"{display_name(name)} gave NaN or infinite scores on seed "
            f"{seed}'s test split"
        )
    row = {
        "seed": seed,
        "detector": name,
        "auprc": float(average_precision_score(test.labels, anomaly)),
        "roc_auc": float(roc_auc_score(test.labels, anomaly)),
        "n_train": len(normal),
        "n_test": test.num_rows,
        "n_test_anomalies": test.num_minority,
        "fit_seconds": fit_seconds,
        "score_seconds": score_seconds,
    }
    history = getattr(detector, "history_", None) if name == "gan" else None
    return row, anomaly, history


#: The classifier column of the view `statistics` reads (see `_as_fits`).
_UNSUPERVISED = "unsupervised"


def _as_fits(metrics: pd.DataFrame) -> pd.DataFrame:
    """The detection metrics in the shape of `statistics`: one "fit" per
    (seed, detector), the detector in the oversampler column."""
    return metrics.rename(columns={"detector": "oversampler"}).assign(
        classifier=_UNSUPERVISED
    )


def summarize_detectors(
    metrics: pd.DataFrame, *, metric: str = "auprc"
) -> pd.DataFrame:
    """Mean, spread and bootstrap interval per detector (see
    `gan_jax.statistics.summarize`); columns `detector, n_seeds, mean, std,
    ci_low, ci_high`."""
    summary = statistics.summarize(_as_fits(metrics), metric=metric)
    return summary.drop(columns="classifier").rename(
        columns={"oversampler": "detector"}
    )


def gan_against_others(
    metrics: pd.DataFrame, *, metric: str = "auprc"
) -> pd.DataFrame:
    """The GAN minus each other detector, paired by seed.

    The two-sided Wilcoxon signed-rank test of
    `gan_jax.statistics.paired_differences`; columns `detector, n_pairs,
    mean_difference` (GAN minus detector) and `p_value`. Empty without a
    GAN or without another detector.
    """
    columns = ["detector", "n_pairs", "mean_difference", "p_value"]
    present = set(metrics["detector"])
    if "gan" not in present or len(present) < 2:
        return pd.DataFrame(columns=columns)
    paired = statistics.paired_differences(
        _as_fits(metrics), metric=metric, baseline="gan"
    )
    return pd.DataFrame(
        {
            "detector": paired["oversampler"],
            "n_pairs": paired["n_pairs"],
            # paired_differences gives detector minus GAN; the test is
            # two-sided, so only the sign of the mean changes.
            "mean_difference": -paired["mean_difference"],
            "p_value": paired["p_value"],
        }
    )[columns]
