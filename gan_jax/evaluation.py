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
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
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

from gan_jax.checkpoints import (
    DEFAULT_CHECKPOINT_EVERY,
    Checkpoint,
    train_checkpointed,
    train_many_checkpointed,
)
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
    gan_training_rows,
    num_rows_to_add,
    resample,
)
from gan_jax.training import gan_keys

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
        held_out: (rows, features) the test split's minority rows, which no
            fit sees, for the quality of the synthetic rows
            (`gan_jax.quality`); None where no test split was given.
        selected_step: the step the synthetic rows were sampled from (the
            last, unless the run selects one).
    """

    history: dict[str, np.ndarray]
    real: np.ndarray
    synthetic: np.ndarray
    held_out: np.ndarray | None = None
    selected_step: int | None = None


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
        model = make_classifier(
            classifier,
            seed,
            num_rows=len(resampled.labels),
            forest_rows_per_tree=settings.forest_rows_per_tree,
        )
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
    checkpoint_dir: Path | None = None,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    should_stop: Callable[[], bool] | None = None,
    test: Table | None = None,
) -> SeedGAN:
    """Trains one seed's GAN on the training split's minority rows.

    The same GAN, key and samples as the `gan` oversampler of `resample`
    (`GANOversampler` with `random_state=seed`), and as seed `seed` of
    `train_gans`.

    Args:
        train: the training split.
        seed: the run's seed for this split.
        settings: the GAN's configuration and step count, and the ratio.
        on_steps: called with the number of steps of each chunk.
        checkpoint_dir: where to save the GAN as it trains, and to resume
            from (see `gan_jax.checkpoints.train_checkpointed`).
        checkpoint_every: steps between saves.
        should_stop: asked after each chunk; True saves and raises
            `TrainingInterrupted`.
        test: the test split, whose minority rows the result keeps as
            `held_out` (they reach no fit).
    """
    rows, labels = gan_training_rows(
        train.features, train.labels, 1, settings.gan
    )
    fitted = train_checkpointed(
        rows,
        settings.gan,
        settings.gan_steps,
        seed_gan_key(seed),
        labels=labels,
        select_every=settings.gan_select_every,
        directory=checkpoint_dir,
        every=checkpoint_every,
        feature_names=train.feature_names,
        target=train.target,
        minority_label=train.label_values[1],
        callback=None
        if on_steps is None
        else lambda state, metrics: on_steps(len(metrics["d_loss"])),
        should_stop=should_stop,
    )
    return _seed_gan(fitted, train, settings, test)


def seed_gan_key(seed: int) -> jax.Array:
    """The root key of seed `seed`'s GAN."""
    # The minority label is 1 and the classes are (0, 1): GANOversampler
    # folds the class's index into its key.
    return jax.random.fold_in(jax.random.key(seed), 1)


def _seed_gan(
    fitted: Checkpoint,
    train: Table,
    settings: RunSettings,
    test: Table | None,
) -> SeedGAN:
    to_add = num_rows_to_add(train.labels, settings.ratio)
    synthetic = fitted.sample(to_add, gan_keys(fitted.key).sample)
    return SeedGAN(
        fitted.history,
        train.minority_features,
        synthetic.astype(train.features.dtype),
        None if test is None else test.minority_features,
        fitted.selected_step,
    )


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


#: One cell of the grid: (seed, oversampler, classifier).
Task = tuple[int, str, str]


def run_comparison(
    table: Table,
    settings: RunSettings,
    *,
    jobs: int = 1,
    on_gan_steps: Callable[[int], None] | None = None,
    on_fit_done: Callable[[dict, np.ndarray], None] | None = None,
    checkpoint_root: Path | None = None,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    finished: dict[Task, tuple[dict, np.ndarray]] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Runs the whole grid: seeds x oversamplers x classifiers.

    `split_for_run`, then `train_gans`, then `fit_grid`; see those for the
    arguments.

    Returns:
        The metrics of every fit and what the report needs besides.
    """
    splits = split_for_run(table, settings)
    gans = train_gans(
        splits,
        settings,
        on_steps=on_gan_steps,
        checkpoint_root=checkpoint_root,
        checkpoint_every=checkpoint_every,
        should_stop=should_stop,
    )
    return fit_grid(
        splits,
        gans,
        settings,
        jobs=jobs,
        finished=finished,
        on_fit_done=on_fit_done,
    )


def train_gans(
    splits: dict[int, Split],
    settings: RunSettings,
    *,
    on_steps: Callable[[int], None] | None = None,
    checkpoint_root: Path | None = None,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    should_stop: Callable[[], bool] | None = None,
    seeds_per_group: int | None = None,
    devices: Sequence[jax.Device] | None = None,
) -> dict[int, SeedGAN]:
    """Each seed's GAN, if the run compares the `gan` oversampler.

    All seeds train at once (`gan_jax.train_many_checkpointed`), each to the
    bits `train_seed_gan` gives it alone.

    Args:
        splits: each seed's split (`split_for_run`).
        settings: the run's settings.
        on_steps: called with the number of GAN steps just taken, a chunk
            at a time.
        checkpoint_root: if given, seed s's GAN saves and resumes its
            training in `checkpoint_root/seed-<s>`.
        checkpoint_every: GAN steps between saves.
        should_stop: asked after each chunk; True saves the GANs and raises
            `TrainingInterrupted`.
        seeds_per_group, devices: as for `gan_jax.train_many`.
    """
    if "gan" not in settings.oversamplers:
        return {}
    seeds = list(splits)
    rows, labels = zip(
        *(
            gan_training_rows(
                splits[seed].train.features,
                splits[seed].train.labels,
                1,
                settings.gan,
            )
            for seed in seeds
        ),
        strict=True,
    )
    fitted = train_many_checkpointed(
        list(rows),
        settings.gan,
        settings.gan_steps,
        [seed_gan_key(seed) for seed in seeds],
        labels=None if labels[0] is None else list(labels),
        select_every=settings.gan_select_every,
        directories=None
        if checkpoint_root is None
        else [Path(checkpoint_root) / f"seed-{seed}" for seed in seeds],
        every=checkpoint_every,
        feature_names=splits[seeds[0]].train.feature_names,
        target=splits[seeds[0]].train.target,
        minority_label=splits[seeds[0]].train.label_values[1],
        seeds_per_group=seeds_per_group,
        devices=devices,
        # Each chunk advances every seed's GAN by the same steps.
        callback=None
        if on_steps is None
        else lambda states, metrics: on_steps(metrics["d_loss"].size),
        should_stop=should_stop,
    )
    return {
        seed: _seed_gan(gan, splits[seed].train, settings, splits[seed].test)
        for seed, gan in zip(seeds, fitted, strict=True)
    }


def fit_grid(
    splits: dict[int, Split],
    gans: dict[int, SeedGAN],
    settings: RunSettings,
    *,
    jobs: int = 1,
    finished: dict[Task, tuple[dict, np.ndarray]] | None = None,
    on_fit_done: Callable[[dict, np.ndarray], None] | None = None,
) -> RunResult:
    """Fits every (seed, oversampler, classifier) and scores it.

    Args:
        splits: each seed's split.
        gans: each seed's GAN (`train_gans`), if `gan` is compared.
        settings: the run's settings.
        jobs: worker processes (results do not depend on it); -1 uses
            every core.
        finished: fits already done, by task, as `on_fit_done` received
            them in an earlier, interrupted run: they are not fitted again.
        on_fit_done: called with each new metrics row and its test scores
            as the fit ends (in any order), e.g. to save them.
    """
    finished = dict(finished or {})
    tasks = [
        (seed, oversampler, classifier)
        for seed in settings.seeds
        for oversampler in settings.oversamplers
        for classifier in settings.classifiers
    ]
    to_fit = [task for task in tasks if task not in finished]
    # Unordered: each fit is reported (and can be saved) as soon as it
    # ends; the table is put back in task order below. Each task gets only
    # its own seed's split, not the whole dict, to keep transfers small.
    results = Parallel(n_jobs=jobs, return_as="generator_unordered")(
        delayed(_fit_task)(
            task,
            splits[task[0]],
            settings,
            gans[task[0]].synthetic if task[1] == "gan" else None,
        )
        for task in to_fit
    )
    for task, row, scores in results:
        finished[task] = (row, scores)
        if on_fit_done is not None:
            on_fit_done(row, scores)

    rows, curves = [], {}
    first_seed = settings.seeds[0]
    for task in tasks:
        seed, oversampler, classifier = task
        row, scores = finished[task]
        rows.append(row)
        if seed == first_seed:
            precision, recall, _ = precision_recall_curve(
                splits[seed].test.labels, scores
            )
            curves[oversampler, classifier] = (precision, recall)
    metrics = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    return RunResult(metrics=metrics, gans=gans, curves=curves)


def _fit_task(
    task: Task, parts: Split, settings: RunSettings, synthetic
) -> tuple[Task, dict, np.ndarray]:
    seed, oversampler, classifier = task
    row, scores = evaluate_fit(
        parts.train,
        parts.test,
        seed=seed,
        oversampler=oversampler,
        classifier=classifier,
        settings=settings,
        synthetic=synthetic,
    )
    return task, row, scores


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


# -- re-running one seed ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RerunCheck:
    """One seed of a run done again from scratch, compared with the run.

    Attributes:
        seed: the seed re-run.
        differences: one text per metric value that came out different
            (timing aside); empty when the re-run is identical.
    """

    seed: int
    differences: tuple[str, ...]

    @property
    def identical(self) -> bool:
        return not self.differences

    def line(self) -> str:
        """'re-run of seed 3: identical', or what differed."""
        if self.identical:
            return f"re-run of seed {self.seed}: identical"
        count = len(self.differences)
        values = "value differs" if count == 1 else "values differ"
        return (
            f"re-run of seed {self.seed}: NOT identical, {count} {values} "
            f"(first: {self.differences[0]})"
        )


def rerun_seed(
    table: Table, settings: RunSettings, seed: int, *, jobs: int = 1
) -> pd.DataFrame:
    """Seed `seed` of a run done again from scratch and alone.

    Its split is made again, its GAN trained by itself (`train_seed_gan`,
    not among the other seeds as `train_gans` trains it), and every fit
    of the grid done again. Nothing is read from the run's folder.

    Returns:
        The seed's metrics rows, columns `METRIC_COLUMNS`.
    """
    alone = dataclasses.replace(settings, seed=seed, num_seeds=1)
    parts = split(table, test_size=settings.test_size, seed=seed)
    gans = (
        {seed: train_seed_gan(parts.train, seed, alone, test=parts.test)}
        if "gan" in settings.oversamplers
        else {}
    )
    return fit_grid({seed: parts}, gans, alone, jobs=jobs).metrics


def compare_rerun(
    metrics: pd.DataFrame, rerun: pd.DataFrame, seed: int
) -> RerunCheck:
    """Every metric of `rerun` against the same seed's rows of `metrics`.

    Values must be equal exactly (NaN equals NaN); `fit_seconds` is left
    out.
    """
    columns = [name for name in METRIC_COLUMNS if name != "fit_seconds"]
    keys = ["seed", "oversampler", "classifier"]
    original = metrics[metrics["seed"] == seed][columns].set_index(keys)
    again = rerun[columns].set_index(keys)
    differences = []
    for task in original.index.union(again.index, sort=False):
        label = f"{task[1]} with {task[2]}"
        if task not in again.index or task not in original.index:
            differences.append(f"{label}: missing from one of the two")
            continue
        for column in original.columns:
            first, second = original.at[task, column], again.at[task, column]
            both_nan = pd.isna(first) and pd.isna(second)
            if not both_nan and first != second:
                differences.append(
                    f"{label}, {column}: {first!r} then {second!r}"
                )
    return RerunCheck(seed=seed, differences=tuple(differences))
