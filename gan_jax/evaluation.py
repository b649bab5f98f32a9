"""The comparison: every oversampler with every classifier, over seeds.

For each seed the table is split afresh; the GAN, the scaler inside it, the
oversamplers and the classifiers are fitted on the training split only, and
only the metrics meet the test split's labels. The grid of fits runs in
worker processes (joblib); each fit is single-threaded and seeded, so the
metrics do not depend on the number of workers.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
)
from threadpoolctl import threadpool_limits

from gan_jax.classifiers import CLASSIFIERS, fit_classifier, make_classifier
from gan_jax.config import RunSettings
from gan_jax.data import (
    DataError,
    Split,
    Table,
    check_enough_minority_rows,
    split,
)
from gan_jax.oversampling import (
    OVERSAMPLERS,
    GANOversampler,
    num_rows_to_add,
    resample,
)

logger = logging.getLogger(__name__)

#: Columns of the per-fit metrics table, in order.
METRIC_COLUMNS = (
    "seed",
    "oversampler",
    "classifier",
    "auprc",
    "roc_auc",
    "precision",
    "recall",
    "f1",
    "recall_at_precision_90",
    "tn",
    "fp",
    "fn",
    "tp",
    "n_train",
    "n_synthetic",
    "fit_seconds",
)


@dataclasses.dataclass(eq=False)
class SeedGAN:
    """What one seed's GAN left behind, for the report.

    Attributes:
        history: per-step training metrics.
        real: (rows, features) the training split's minority rows.
        synthetic: (rows, features) generated minority rows, original units.
    """

    history: dict[str, np.ndarray]
    real: np.ndarray
    synthetic: np.ndarray


@dataclasses.dataclass(eq=False)
class RunResult:
    """The outcome of `run_comparison`.

    Attributes:
        metrics: one row per (seed, oversampler, classifier), columns
            `METRIC_COLUMNS`.
        gans: per seed, the GAN's history and rows (empty without `gan`).
        curves: for the first seed, per (oversampler, classifier), the test
            labels' precision-recall curve as (precision, recall) arrays.
    """

    metrics: pd.DataFrame
    gans: dict[int, SeedGAN]
    curves: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]


def classification_metrics(
    labels: np.ndarray, scores: np.ndarray
) -> dict[str, float]:
    """Threshold-free and threshold-0.5 metrics of minority scores.

    Args:
        labels: (rows,) true 0/1 labels of the test split.
        scores: (rows,) predicted probability of the minority.
    """
    predicted = (scores >= 0.5).astype(int)
    tn, fp, fn, tp = confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    curve_precision, curve_recall, _ = precision_recall_curve(labels, scores)
    reaching = curve_precision >= 0.9
    return {
        "auprc": float(average_precision_score(labels, scores)),
        "roc_auc": float(roc_auc_score(labels, scores)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "recall_at_precision_90": float(curve_recall[reaching].max())
        if reaching.any()
        else 0.0,
        "tn": int(tn),
        "fp": int(fp),
        "fn": int(fn),
        "tp": int(tp),
    }


def evaluate_fit(
    train: Table,
    test: Table,
    *,
    seed: int,
    oversampler: str,
    classifier: str,
    settings: RunSettings,
    synthetic: np.ndarray | None = None,
) -> tuple[dict, np.ndarray]:
    """Resamples the training split, fits one classifier, scores the test.

    Returns:
        The metrics row (`METRIC_COLUMNS`) and the test scores.
    """
    start = time.perf_counter()
    # One thread per fit: the grid is parallel across processes, and a
    # fixed thread count keeps floating-point sums in a fixed order.
    with threadpool_limits(1):
        resampled = resample(
            oversampler,
            train.features,
            train.labels,
            ratio=settings.ratio,
            seed=seed,
            class_weight=settings.class_weight,
            synthetic=synthetic,
        )
        model = make_classifier(classifier, seed)
        fit_classifier(
            model,
            resampled.features,
            resampled.labels,
            resampled.sample_weight,
        )
        scores = model.predict_proba(test.features)[:, 1]
    seconds = time.perf_counter() - start
    row = {
        "seed": seed,
        "oversampler": oversampler,
        "classifier": classifier,
        **classification_metrics(test.labels, scores),
        "n_train": len(resampled.labels),
        "n_synthetic": resampled.num_synthetic,
        "fit_seconds": seconds,
    }
    return row, scores


def train_seed_gan(
    train: Table,
    seed: int,
    settings: RunSettings,
    *,
    on_steps: Callable[[int], None] | None = None,
) -> SeedGAN:
    """Trains one seed's GAN on the training split's minority rows.

    `on_steps`, if given, is called with the number of steps of each chunk
    as training goes.
    """
    to_add = num_rows_to_add(train.labels, settings.ratio)
    oversampler = GANOversampler(
        sampling_strategy={1: train.num_minority + to_add},
        random_state=seed,
        config=settings.gan,
        num_steps=settings.gan_steps,
        callback=None
        if on_steps is None
        else lambda state, metrics: on_steps(len(metrics["d_loss"])),
    )
    oversampler.fit_resample(train.features, train.labels)
    synthetic = oversampler.synthetic_.get(
        1, np.zeros((0, train.features.shape[1]), train.features.dtype)
    )
    history = oversampler.histories_.get(1, {})
    return SeedGAN(history, train.minority_features, synthetic)


def split_for_run(table: Table, settings: RunSettings) -> dict[int, Split]:
    """Each seed's split, after checking that the run can be done at all.

    Raises:
        ValueError: an unknown oversampler or classifier name.
        DataError: a training split with too few minority rows, or a ratio
            that adds no rows.
    """
    _check_names(settings.oversamplers, OVERSAMPLERS, "oversampler")
    _check_names(settings.classifiers, CLASSIFIERS, "classifier")
    splits = {
        seed: split(table, test_size=settings.test_size, seed=seed)
        for seed in settings.seeds
    }
    for parts in splits.values():
        check_enough_minority_rows(parts.train, what="training split")
        _check_ratio_adds_rows(parts.train, settings)
    return splits


def run_comparison(
    table: Table,
    settings: RunSettings,
    *,
    jobs: int = 1,
    on_gan_steps: Callable[[int], None] | None = None,
    on_fit_done: Callable[[dict], None] | None = None,
) -> RunResult:
    """Runs the whole grid: seeds x oversamplers x classifiers.

    Args:
        table: the labelled table; it is split per seed.
        settings: what to compare, and how.
        jobs: worker processes for the grid of fits (results do not depend
            on it); -1 uses every core.
        on_gan_steps: called with the number of GAN steps just taken, a
            chunk at a time, while the seeds' GANs train.
        on_fit_done: called with each metrics row as it arrives.

    Returns:
        The metrics of every fit and what the report needs besides.
    """
    splits = split_for_run(table, settings)

    gans = {}
    if "gan" in settings.oversamplers:
        for seed, parts in splits.items():
            gans[seed] = train_seed_gan(
                parts.train, seed, settings, on_steps=on_gan_steps
            )

    tasks = [
        (seed, oversampler, classifier)
        for seed in settings.seeds
        for oversampler in settings.oversamplers
        for classifier in settings.classifiers
    ]
    results = Parallel(n_jobs=jobs, return_as="generator")(
        delayed(evaluate_fit)(
            splits[seed].train,
            splits[seed].test,
            seed=seed,
            oversampler=oversampler,
            classifier=classifier,
            settings=settings,
            synthetic=gans[seed].synthetic if oversampler == "gan" else None,
        )
        for seed, oversampler, classifier in tasks
    )
    rows, curves = [], {}
    first_seed = settings.seeds[0]
    for (seed, oversampler, classifier), (row, scores) in zip(
        tasks, results, strict=True
    ):
        rows.append(row)
        if seed == first_seed:
            precision, recall, _ = precision_recall_curve(
                splits[seed].test.labels, scores
            )
            curves[oversampler, classifier] = (precision, recall)
        if on_fit_done is not None:
            on_fit_done(row)
    metrics = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    return RunResult(metrics=metrics, gans=gans, curves=curves)


def _check_ratio_adds_rows(train: Table, settings: RunSettings) -> None:
    """Refuses a ratio that the training rows already reach.

    Every oversampler that adds rows would then add none and repeat `none`,
    and the comparison would look like a tie instead of saying nothing.
    """
    adding = set(settings.oversamplers) - {"none", "class-weight"}
    if adding and num_rows_to_add(train.labels, settings.ratio) == 0:
        current = train.num_minority / (train.num_rows - train.num_minority)
        raise DataError(
            f"ratio {settings.ratio} adds no rows: the training split of "
            f"{train.source} already has {current:.3f} minority rows per "
            "majority row; choose a larger --ratio"
        )


def _check_names(names, known, kind: str) -> None:
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"unknown {kind}(s) {', '.join(unknown)}; choose from "
            f"{', '.join(known)}"
        )
