"""How good synthetic rows are, before anyone trusts them.

`synthetic_quality` compares synthetic rare rows with real rare rows that
no fit has seen (the test split's) and with the rows the generator learned
from (the training split's), on five questions:

- marginals: per feature, the Wasserstein distance and the two-sample
  Kolmogorov-Smirnov statistic between real and synthetic values;
- dependence: the mean absolute difference between the two correlation
  matrices' off-diagonal entries;
- detectability: the cross-validated ROC AUC of a classifier telling real
  from synthetic rows (0.5: indistinguishable; 1: always told apart);
- coverage: k-nearest-neighbour precision (the share of synthetic rows
  inside the real rows' k-NN balls: are they realistic?) and recall (the
  share of real rows inside the synthetic rows' balls: is the real
  variety covered?), after Kynkaanniemi et al., 2019;
- privacy: the distance from each synthetic row to its closest training
  row, against the same distance for the held-out real rows (a synthetic
  set much closer to the training rows than fresh real rows are is
  memorising), and the share of synthetic rows that copy a training row.

Distances and the Wasserstein distance are measured on features
standardised by the training rows' mean and standard deviation, so that
every feature counts alike and no held-out row shapes the scale.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

#: Neighbours of the coverage balls (the paper's k = 3 is noisier on the
#: few hundred rows a rare class has).
COVERAGE_NEIGHBOURS = 5

#: Folds of the detectability classifier's cross-validation (fewer when
#: either side has fewer rows).
DETECTABILITY_FOLDS = 5

#: A synthetic row within this distance (standardised units) of a
#: training row counts as a copy of it.
COPY_DISTANCE = 1e-6

#: At most this many rows of each kind enter the metrics (a seeded draw),
#: which bounds the cost of the neighbour searches and the classifier.
MAX_ROWS = 5000

#: The summary values, with what a report calls them.
SUMMARY_NAMES = {
    "mean_wasserstein": "mean Wasserstein distance",
    "mean_ks": "mean KS statistic",
    "correlation_difference": "correlation difference",
    "detectability_auc": "detectability ROC AUC",
    "precision": "k-NN precision",
    "recall": "k-NN recall",
    "synthetic_to_training": "median distance synthetic → training",
    "held_out_to_training": "median distance held-out → training",
    "copied_share": "share of copied training rows",
}


@dataclasses.dataclass(frozen=True)
class Quality:
    """The quality of one synthetic set; see the module docstring.

    Attributes:
        per_feature: one row per feature: `feature, wasserstein, ks`.
        correlation_difference: mean absolute difference of pairwise
            correlations (NaN with one feature).
        detectability_auc: cross-validated real-vs-synthetic ROC AUC.
        precision: share of synthetic rows inside the real k-NN balls.
        recall: share of real rows inside the synthetic k-NN balls.
        synthetic_to_training: median distance from a synthetic row to its
            closest training row.
        held_out_to_training: the same for the held-out real rows.
        copied_share: share of synthetic rows within `COPY_DISTANCE` of a
            training row.
        num_real, num_synthetic: rows that entered the metrics.
    """

    per_feature: pd.DataFrame
    correlation_difference: float
    detectability_auc: float
    precision: float
    recall: float
    synthetic_to_training: float
    held_out_to_training: float
    copied_share: float
    num_real: int
    num_synthetic: int

    def summary(self) -> dict[str, float]:
        """The headline numbers, keyed as `SUMMARY_NAMES`."""
        return {
            "mean_wasserstein": float(self.per_feature["wasserstein"].mean()),
            "mean_ks": float(self.per_feature["ks"].mean()),
            **{
                name: float(getattr(self, name))
                for name in SUMMARY_NAMES
                if name not in ("mean_wasserstein", "mean_ks")
            },
        }


def synthetic_quality(
    real: np.ndarray,
    synthetic: np.ndarray,
    training: np.ndarray,
    *,
    feature_names: Sequence[str] | None = None,
    seed: int = 0,
) -> Quality:
    """Measures synthetic rows against held-out real rows.

    Args:
        real: (rows, features) real rare rows that no fit has seen (the
            test split's), at least 2.
        synthetic: (rows, features) generated rows, at least 2.
        training: (rows, features) the rows the generator was fitted on, at
            least 2; they set the standardisation and the privacy distances.
        feature_names: one per feature (default x0, x1, ...).
        seed: seeds the subsampling and the detectability classifier.

    Returns:
        The metrics; deterministic given the inputs and the seed.

    Raises:
        ValueError: shapes that do not match, too few rows, or values that
            are not finite.
    """
    real, synthetic, training = (
        _checked(rows, name)
        for rows, name in (
            (real, "real"),
            (synthetic, "synthetic"),
            (training, "training"),
        )
    )
    widths = {real.shape[1], synthetic.shape[1], training.shape[1]}
    if len(widths) != 1:
        raise ValueError(
            "real, synthetic and training rows must have the same number "
            f"of features, got {real.shape[1]}, {synthetic.shape[1]} and "
            f"{training.shape[1]}"
        )
    num_features = real.shape[1]
    names = (
        [f"x{i}" for i in range(num_features)]
        if feature_names is None
        else list(feature_names)
    )
    if len(names) != num_features:
        raise ValueError(
            f"feature_names has {len(names)} names for {num_features} features"
        )

    rng = np.random.default_rng(seed)
    real, synthetic, training = (
        _at_most(rows, MAX_ROWS, rng) for rows in (real, synthetic, training)
    )
    centre = training.mean(axis=0)
    spread = training.std(axis=0)
    # A constant training feature keeps its units: any spread at all in
    # the other sets is then a real difference, not a division by zero.
    spread = np.where(spread > 0, spread, 1.0)

    def standardise(rows: np.ndarray) -> np.ndarray:
        return (rows - centre) / spread

    real_z, synthetic_z, training_z = map(
        standardise, (real, synthetic, training)
    )
    per_feature = pd.DataFrame(
        {
            "feature": names,
            "wasserstein": [
                stats.wasserstein_distance(real_z[:, i], synthetic_z[:, i])
                for i in range(num_features)
            ],
            "ks": [
                stats.ks_2samp(real[:, i], synthetic[:, i]).statistic
                for i in range(num_features)
            ],
        }
    )
    precision, recall = _coverage(real_z, synthetic_z)
    to_training = NearestNeighbors(n_neighbors=1).fit(training_z)
    synthetic_distance = to_training.kneighbors(synthetic_z)[0][:, 0]
    held_out_distance = to_training.kneighbors(real_z)[0][:, 0]
    return Quality(
        per_feature=per_feature,
        correlation_difference=_correlation_difference(real, synthetic),
        detectability_auc=_detectability(real_z, synthetic_z, seed),
        precision=precision,
        recall=recall,
        synthetic_to_training=float(np.median(synthetic_distance)),
        held_out_to_training=float(np.median(held_out_distance)),
        copied_share=float(np.mean(synthetic_distance <= COPY_DISTANCE)),
        num_real=len(real),
        num_synthetic=len(synthetic),
    )


def marginal_distance(real: np.ndarray, synthetic: np.ndarray) -> float:
    """Mean over features of the Wasserstein distance between the real and
    the synthetic values, in the units given.

    Cheap enough to measure during training (no classifier, no neighbour
    search); `gan_jax.checkpoints` picks a GAN's best step by it, on the
    rows it learned from, scaled as it learned them.

    Args:
        real: (rows, features) real rows, at least one.
        synthetic: (rows, features) generated rows, at least one.
    """
    real, synthetic = np.asarray(real), np.asarray(synthetic)
    if real.ndim != 2 or synthetic.ndim != 2 or not len(real) * len(synthetic):
        raise ValueError("real and synthetic must be non-empty row matrices")
    if real.shape[1] != synthetic.shape[1]:
        raise ValueError(
            f"real rows have {real.shape[1]} features, synthetic rows "
            f"{synthetic.shape[1]}"
        )
    return float(
        np.mean(
            [
                stats.wasserstein_distance(real[:, i], synthetic[:, i])
                for i in range(real.shape[1])
            ]
        )
    )


def _checked(rows, name: str) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] == 0:
        raise ValueError(
            f"{name} rows must be a (rows, features) array, got shape "
            f"{rows.shape}"
        )
    if len(rows) < 2:
        raise ValueError(f"{name} needs at least 2 rows, got {len(rows)}")
    if not np.isfinite(rows).all():
        raise ValueError(f"{name} rows hold NaN or infinite values")
    return rows


def _at_most(rows: np.ndarray, limit: int, rng) -> np.ndarray:
    if len(rows) <= limit:
        return rows
    return rows[np.sort(rng.choice(len(rows), limit, replace=False))]


def _correlation_difference(real: np.ndarray, synthetic: np.ndarray) -> float:
    if real.shape[1] < 2:
        return math.nan

    def correlations(rows):
        with np.errstate(invalid="ignore", divide="ignore"):
            matrix = np.corrcoef(rows, rowvar=False)
        # A constant feature correlates with nothing.
        return np.nan_to_num(matrix, nan=0.0)

    difference = np.abs(correlations(real) - correlations(synthetic))
    off_diagonal = ~np.eye(real.shape[1], dtype=bool)
    return float(difference[off_diagonal].mean())


def _coverage(real: np.ndarray, synthetic: np.ndarray) -> tuple[float, float]:
    """k-NN precision and recall; balls reach the k-th nearest other row."""

    def radii(rows: np.ndarray) -> np.ndarray:
        k = min(COVERAGE_NEIGHBOURS, len(rows) - 1)
        # k + 1: the nearest row of each row is itself.
        distances = NearestNeighbors(n_neighbors=k + 1).fit(rows)
        return distances.kneighbors(rows)[0][:, k]

    def inside(points: np.ndarray, centres: np.ndarray, radius) -> float:
        distances = euclidean_distances(points, centres)
        return float(np.mean((distances <= radius[None, :]).any(axis=1)))

    real_radii, synthetic_radii = radii(real), radii(synthetic)
    precision = _blockwise(inside, synthetic, real, real_radii)
    recall = _blockwise(inside, real, synthetic, synthetic_radii)
    return precision, recall


def _blockwise(inside, points, centres, radius, block: int = 256) -> float:
    """`inside` over blocks of points, so memory stays block x centres."""
    shares = [
        inside(points[start : start + block], centres, radius)
        * len(points[start : start + block])
        for start in range(0, len(points), block)
    ]
    return float(sum(shares) / len(points))


def _detectability(real: np.ndarray, synthetic: np.ndarray, seed: int) -> float:
    """Cross-validated ROC AUC of real (0) against synthetic (1) rows.

    Both sides get the same number of rows (a seeded draw from the larger),
    so that the AUC does not reward guessing the larger class.
    """
    rng = np.random.default_rng(seed)
    count = min(len(real), len(synthetic))
    real = _at_most(real, count, rng)
    synthetic = _at_most(synthetic, count, rng)
    rows = np.concatenate([real, synthetic])
    labels = np.r_[np.zeros(count, int), np.ones(count, int)]
    folds = StratifiedKFold(
        n_splits=max(2, min(DETECTABILITY_FOLDS, count)),
        shuffle=True,
        random_state=seed,
    )
    classifier = HistGradientBoostingClassifier(random_state=seed)
    # One thread: a few hundred rows gain nothing from OpenMP, and on a
    # busy machine its threads wait for each other (ten times slower).
    with threadpool_limits(1):
        scores = cross_val_predict(
            classifier, rows, labels, cv=folds, method="predict_proba"
        )[:, 1]
    return float(roc_auc_score(labels, scores))
