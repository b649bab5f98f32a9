"""Statistics over seeds: summaries, paired tests and the verdict.

Every function takes `metrics`, a DataFrame with one row per fit: the
columns `seed`, `oversampler` and `classifier` name the fit, and float
columns such as `auprc`, `roc_auc` or `f1` hold its test-split metrics.
Each (seed, oversampler, classifier) appears at most once.

`summarize` gives the mean, spread and a bootstrap interval of one metric
per (oversampler, classifier). `paired_differences` and
`compare_to_best_classical` pair fits by seed and test the differences
with the two-sided Wilcoxon signed-rank test; `verdicts` turns both into
one sentence per classifier. The p-values are per comparison and are not
corrected for testing several oversamplers and classifiers at once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Iterable

import numpy as np
import pandas as pd
from scipy import stats

logger = logging.getLogger(__name__)

#: The oversamplers a GAN has to beat, in the order that breaks ties
#: between equal means.
CLASSICAL_OVERSAMPLERS = (
    "class-weight",
    "random",
    "smote",
    "borderline-smote",
    "adasyn",
)

#: The oversampler name of fits trained on the training split unchanged.
BASELINE = "none"

_KEYS = ("seed", "oversampler", "classifier")

_PAIRED_COLUMNS = [
    "oversampler",
    "classifier",
    "reference",
    "n_pairs",
    "mean_difference",
    "p_value",
]

_SUMMARY_COLUMNS = [
    "oversampler",
    "classifier",
    "n_seeds",
    "mean",
    "std",
    "ci_low",
    "ci_high",
]

# Differences are rounded before ranking: metrics that differ by the same
# amount should tie, not get distinct ranks from floating-point noise in
# the subtraction (0.31 - 0.30 != 0.51 - 0.50). Metrics live in [0, 1], so
# nothing real is lost at 12 decimals.
_DIFFERENCE_DECIMALS = 12

# With ties or zeros among the differences SciPy's exact null distribution
# no longer applies; it enumerates all 2**n sign flips instead, which stays
# deterministic and under a second up to n = 13 (8192 flips), as SciPy's
# own "auto" method does.
_MAX_ENUMERATED_PAIRS = 13

_DISPLAY_NAMES = {
    "none": "no oversampling",
    "class-weight": "class weights",
    "random": "random oversampling",
    "smote": "SMOTE",
    "borderline-smote": "borderline-SMOTE",
    "adasyn": "ADASYN",
    "gan": "GAN augmentation",
}


def summarize(
    metrics: pd.DataFrame,
    *,
    metric: str = "auprc",
    confidence: float = 0.95,
    num_bootstrap: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean, spread and bootstrap interval of a metric over seeds.

    The interval is the percentile bootstrap of the mean: the seeds are
    resampled with replacement `num_bootstrap` times and the interval cuts
    the resampled means at (1 - confidence) / 2 and (1 + confidence) / 2.
    Each (oversampler, classifier) draws from a fresh
    `numpy.random.default_rng(seed)` over its values sorted by seed, so
    its interval depends on its own values only: not on the row order,
    nor on which other fits are in `metrics`.

    Args:
        metrics: one row per fit (see the module docstring).
        metric: the metric column to summarize.
        confidence: the interval's coverage, in (0, 1).
        num_bootstrap: number of bootstrap resamples, at least 1.
        seed: non-negative integer seed of the resampling.

    Returns:
        One row per (oversampler, classifier) present, oversamplers and
        then classifiers in their order of first appearance in `metrics`,
        with the columns `oversampler, classifier, n_seeds, mean, std`
        (sample standard deviation, ddof=1; NaN for one seed),
        `ci_low, ci_high` (both the value itself for one seed).

    Raises:
        ValueError: `metrics` or an argument is unusable; the message says
            which and why.
    """
    _check_metrics(metrics, metric)
    _check_open_fraction("confidence", confidence)
    if not _is_integer(num_bootstrap) or num_bootstrap < 1:
        raise ValueError(
            f"num_bootstrap must be an integer of at least 1, got "
            f"{num_bootstrap!r}"
        )
    if not _is_integer(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

    quantiles = [(1 - confidence) / 2, (1 + confidence) / 2]
    groups = _groups(metrics)
    rows = []
    for oversampler in in_order(metrics["oversampler"]):
        for classifier in in_order(metrics["classifier"]):
            group = groups.get((oversampler, classifier))
            if group is None:
                continue
            values = group.sort_values("seed")[metric].to_numpy(np.float64)
            mean = float(values.mean())
            if len(values) == 1:
                std, low, high = math.nan, mean, mean
            else:
                std = float(values.std(ddof=1))
                rng = np.random.default_rng(int(seed))
                picks = rng.integers(
                    0, len(values), size=(int(num_bootstrap), len(values))
                )
                low, high = np.quantile(values[picks].mean(axis=1), quantiles)
            rows.append(
                (
                    oversampler,
                    classifier,
                    len(values),
                    mean,
                    std,
                    float(low),
                    float(high),
                )
            )
    return _frame(rows, _SUMMARY_COLUMNS)


def paired_differences(
    metrics: pd.DataFrame,
    *,
    metric: str = "auprc",
    baseline: str = BASELINE,
) -> pd.DataFrame:
    """Each oversampler against the baseline, paired by seed.

    For every oversampler other than `baseline` and every classifier, the
    fits are paired with the baseline's fits of the same classifier and
    seed; seeds present on one side only are left out. The p-value is that
    of the two-sided Wilcoxon signed-rank test on the differences
    (`scipy.stats.wilcoxon`, zeros discarded as Wilcoxon did):

    - no zeros and no ties: SciPy's exact null distribution
      (method="exact"), for any number of pairs;
    - zeros or ties, at most 13 pairs: all 2**n sign flips enumerated
      (`scipy.stats.PermutationMethod`), the exact null distribution given
      the tied ranks and zeros;
    - zeros or ties, more pairs: the normal approximation corrected for
      ties and zeros, as SciPy's method="auto" does;
    - every difference zero: 1.0, no evidence of any difference;
    - fewer than 2 pairs: NaN, as no test is possible, even when the one
      difference is zero (with no pair the mean difference is NaN too).

    Differences are rounded to 12 decimals before ranking so that equal
    differences tie despite floating-point noise.

    Args:
        metrics: one row per fit (see the module docstring).
        metric: the metric column to compare.
        baseline: the oversampler everything else is compared with.

    Returns:
        One row per (oversampler, classifier), in order of first appearance,
        with the columns `oversampler, classifier, reference` (the
        baseline's name), `n_pairs, mean_difference` (mean of oversampler
        minus baseline over the pairs) and `p_value`. A classifier without
        baseline fits gets rows with no pairs.

    Raises:
        ValueError: `metrics` or an argument is unusable, or `metrics` has
            no fit of `baseline`.
    """
    _check_metrics(metrics, metric)
    _check_present(metrics, baseline, "baseline")

    groups = _groups(metrics)
    rows = []
    for oversampler in in_order(metrics["oversampler"]):
        if oversampler == baseline:
            continue
        for classifier in in_order(metrics["classifier"]):
            method_rows = groups.get((oversampler, classifier))
            if method_rows is None:
                continue
            reference_rows = groups.get((baseline, classifier))
            rows.append(
                (
                    oversampler,
                    classifier,
                    baseline,
                    *_compare(method_rows, reference_rows, metric),
                )
            )
    return _frame(rows, _PAIRED_COLUMNS)


def compare_to_best_classical(
    metrics: pd.DataFrame,
    *,
    metric: str = "auprc",
    method: str = "gan",
) -> pd.DataFrame:
    """`method` against the best classical oversampler of each classifier.

    The best classical oversampler of a classifier is the one among
    `CLASSICAL_OVERSAMPLERS`, other than `method` itself, with the highest
    mean metric over all its seeds for that classifier; equal means go to
    the one listed first in `CLASSICAL_OVERSAMPLERS`. Choosing the best by
    its mean favours the classical side: the comparison is conservative
    for `method`. The pairing and the test are those of
    `paired_differences`.

    Args:
        metrics: one row per fit (see the module docstring).
        metric: the metric column to compare.
        method: the oversampler to put against the best classical one.

    Returns:
        One row per classifier that has fits of `method` and of at least
        one classical oversampler, in order of first appearance, with the
        columns of `paired_differences`; `reference` names the best
        classical oversampler.

    Raises:
        ValueError: `metrics` or an argument is unusable.
    """
    _check_metrics(metrics, metric)

    groups = _groups(metrics)
    rows = []
    for classifier in in_order(metrics["classifier"]):
        method_rows = groups.get((method, classifier))
        if method_rows is None:
            logger.info("no %r fits for classifier %r", method, classifier)
            continue
        best = _best_classical(groups, classifier, metric, method)
        if best is None:
            logger.info(
                "no classical oversampler fits for classifier %r", classifier
            )
            continue
        rows.append(
            (
                method,
                classifier,
                best,
                *_compare(method_rows, groups[(best, classifier)], metric),
            )
        )
    return _frame(rows, _PAIRED_COLUMNS)


def verdicts(
    metrics: pd.DataFrame,
    *,
    metric: str = "auprc",
    method: str = "gan",
    alpha: float = 0.05,
) -> dict[str, str]:
    """One sentence per classifier on `method` against its competitors.

    The competitors are no oversampling and the best classical oversampler
    (see `compare_to_best_classical`). A sentence reads, for example:

        GAN augmentation: +0.021 AUPRC vs. no oversampling (6 seeds,
        p = 0.031, significant at alpha = 0.05); -0.004 AUPRC vs. SMOTE,
        the best classical oversampler (6 seeds, p = 0.62, not significant
        at alpha = 0.05).

    A difference is significant when its p-value is at most `alpha`; each
    comparison is judged on its own, without correction for the others.
    Where too few seeds are paired for a test, the sentence says so. Where
    so few are paired that even the most extreme outcome could not reach
    `alpha` (with n pairs the smallest two-sided p-value is 2 / 2**n), it
    says that too.

    Args:
        metrics: one row per fit (see the module docstring); must hold fits
            of `method` and of the baseline "none".
        metric: the metric column to compare.
        method: the oversampler the verdict is about.
        alpha: the significance level, in (0, 1).

    Returns:
        The sentence for each classifier with fits of `method`, keyed by
        classifier, in order of first appearance.

    Raises:
        ValueError: `metrics` or an argument is unusable, or `metrics` has
            no fit of `method` or of "none".
    """
    _check_metrics(metrics, metric)
    _check_open_fraction("alpha", alpha)
    _check_present(metrics, method, "method")

    against_baseline = paired_differences(
        metrics, metric=metric, baseline=BASELINE
    )
    against_baseline = against_baseline[
        against_baseline["oversampler"] == method
    ].set_index("classifier")
    against_best = compare_to_best_classical(
        metrics, metric=metric, method=method
    ).set_index("classifier")
    metric_name = metric.upper().replace("_", " ")

    sentences = {}
    for classifier in against_baseline.index:
        parts = [
            _comparison_text(
                against_baseline.loc[classifier],
                metric_name,
                alpha,
                suffix="",
            )
        ]
        if classifier in against_best.index:
            parts.append(
                _comparison_text(
                    against_best.loc[classifier],
                    metric_name,
                    alpha,
                    suffix=", the best classical oversampler",
                )
            )
        else:
            parts.append("no classical oversampler to compare with")
        sentences[classifier] = f"{display_name(method)}: {'; '.join(parts)}."
    return sentences


def display_name(oversampler: str) -> str:
    """The name of an oversampler as a sentence should show it."""
    return _DISPLAY_NAMES.get(oversampler, oversampler)


def _comparison_text(
    row: pd.Series, metric_name: str, alpha: float, *, suffix: str
) -> str:
    """'+0.021 AUPRC vs. SMOTE, ... (5 seeds, p = 0.031, significant ...)'."""
    reference = display_name(row["reference"]) + suffix
    n_pairs = int(row["n_pairs"])
    if n_pairs == 0:
        return f"no seeds paired with {reference}"

    difference = f"{row['mean_difference']:+.3f} {metric_name}"
    seeds = f"{n_pairs} seed" if n_pairs == 1 else f"{n_pairs} seeds"
    p_value = row["p_value"]
    if math.isnan(p_value):
        judgement = "too few seeds for a p-value"
    else:
        significant = p_value <= alpha
        judgement = (
            f"{format_p_value(p_value)}, "
            f"{'' if significant else 'not '}significant at alpha = {alpha:g}"
        )
        if not significant and 2.0 / 2.0**n_pairs > alpha:
            judgement += f", which {n_pairs} seeds cannot reach"
    return f"{difference} vs. {reference} ({seeds}, {judgement})"


def format_p_value(p_value: float, *, spaced: bool = True) -> str:
    """'p = 0.25', 'p < 0.001' or 'p = n/a' (no test was possible).

    Two significant digits; `spaced=False` gives the compact 'p=0.25'.
    """
    equals = " = " if spaced else "="
    if math.isnan(p_value):
        return f"p{equals}n/a"
    if p_value < 0.001:
        return "p < 0.001" if spaced else "p<0.001"
    return f"p{equals}{p_value:#.2g}"


def _compare(
    method_rows: pd.DataFrame,
    reference_rows: pd.DataFrame | None,
    metric: str,
) -> tuple[int, float, float]:
    """(n_pairs, mean difference, p-value) of method minus reference."""
    if reference_rows is None:
        return 0, math.nan, math.nan
    paired = pd.merge(
        method_rows[["seed", metric]],
        reference_rows[["seed", metric]],
        on="seed",
        suffixes=("_method", "_reference"),
    ).sort_values("seed")
    differences = (
        paired[f"{metric}_method"] - paired[f"{metric}_reference"]
    ).to_numpy(np.float64)
    if len(differences) == 0:
        return 0, math.nan, math.nan
    return (
        len(differences),
        float(differences.mean()),
        _signed_rank_p_value(differences),
    )


def _signed_rank_p_value(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value; see `paired_differences`."""
    differences = np.round(differences, _DIFFERENCE_DECIMALS)
    if len(differences) < 2:
        return math.nan
    nonzero = differences[differences != 0]
    if len(nonzero) == 0:
        # SciPy gives NaN or 1.0 here depending on the method; no evidence
        # of a difference is p = 1.
        return 1.0

    has_zeros = len(nonzero) < len(differences)
    has_ties = len(np.unique(np.abs(nonzero))) < len(nonzero)
    if not (has_zeros or has_ties):
        method = "exact"
    elif len(differences) <= _MAX_ENUMERATED_PAIRS:
        # n_resamples at least the number of sign flips makes SciPy
        # enumerate them all: exact, and no random draw at all.
        method = stats.PermutationMethod(n_resamples=2 ** len(differences))
    else:
        # TODO: exact conditional p-values for many pairs with ties need
        # the null distribution of the tied ranks (a sum over subsets,
        # cheap by dynamic programming on doubled ranks); SciPy offers
        # only the normal approximation or random sign flips there.
        method = "asymptotic"
    result = stats.wilcoxon(
        differences,
        zero_method="wilcox",
        alternative="two-sided",
        method=method,
    )
    return float(result.pvalue)


def _best_classical(
    groups: dict[tuple[Hashable, Hashable], pd.DataFrame],
    classifier: str,
    metric: str,
    method: str,
) -> str | None:
    """The classical oversampler with the highest mean for a classifier."""
    best, best_mean = None, -math.inf
    for oversampler in CLASSICAL_OVERSAMPLERS:
        rows = groups.get((oversampler, classifier))
        if oversampler == method or rows is None:
            continue
        mean = float(rows[metric].mean())
        if mean > best_mean:
            best, best_mean = oversampler, mean
    return best


def _groups(
    metrics: pd.DataFrame,
) -> dict[tuple[Hashable, Hashable], pd.DataFrame]:
    """The fits of each (oversampler, classifier)."""
    return {
        key: group
        for key, group in metrics.groupby(
            ["oversampler", "classifier"], sort=False
        )
    }


def in_order(values: Iterable[Hashable]) -> list[Hashable]:
    """Distinct values in order of first appearance."""
    return list(pd.unique(pd.Series(list(values), dtype=object)))


def _frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("n_seeds", "n_pairs"):
        if column in frame:
            frame[column] = frame[column].astype(np.int64)
    return frame


def _check_metrics(metrics: pd.DataFrame, metric: str) -> None:
    """Raises ValueError unless `metrics` is usable for `metric`."""
    if not isinstance(metrics, pd.DataFrame):
        raise ValueError(
            f"metrics must be a pandas DataFrame, got {type(metrics).__name__}"
        )
    missing = [column for column in _KEYS if column not in metrics.columns]
    if missing:
        raise ValueError(
            f"metrics lacks the column(s) {missing}; it needs one row per "
            f"fit with the columns {list(_KEYS)} and metric columns"
        )
    if metric in _KEYS or metric not in metrics.columns:
        candidates = [c for c in metrics.columns if c not in _KEYS]
        raise ValueError(
            f"unknown metric column {metric!r}; metrics has {candidates}"
        )
    if metrics.empty:
        raise ValueError("metrics has no rows")
    for column in _KEYS:
        if metrics[column].isna().any():
            raise ValueError(f"metrics has missing values in {column!r}")
    if not pd.api.types.is_integer_dtype(metrics["seed"]):
        raise ValueError(
            f"metrics column 'seed' must hold integers, got dtype "
            f"{metrics['seed'].dtype}"
        )
    duplicated = metrics.duplicated(list(_KEYS), keep=False)
    if duplicated.any():
        first = metrics.loc[duplicated, list(_KEYS)].iloc[0]
        raise ValueError(
            f"metrics has {int(duplicated.sum())} duplicate rows for the "
            f"same (seed, oversampler, classifier), such as "
            f"({first['seed']}, {first['oversampler']!r}, "
            f"{first['classifier']!r}); keep one row per fit"
        )
    if not pd.api.types.is_numeric_dtype(
        metrics[metric]
    ) or pd.api.types.is_bool_dtype(metrics[metric]):
        raise ValueError(
            f"metric column {metric!r} must hold numbers, got dtype "
            f"{metrics[metric].dtype}"
        )
    finite = np.isfinite(metrics[metric].to_numpy(np.float64))
    if not finite.all():
        first = metrics.loc[~finite, list(_KEYS)].iloc[0]
        raise ValueError(
            f"metric column {metric!r} has {int((~finite).sum())} missing "
            f"or infinite values, such as at seed {first['seed']}, "
            f"oversampler {first['oversampler']!r}, classifier "
            f"{first['classifier']!r}; drop those fits or pick another "
            f"metric"
        )


def _check_present(metrics: pd.DataFrame, oversampler: str, role: str) -> None:
    if not (metrics["oversampler"] == oversampler).any():
        raise ValueError(
            f"metrics has no fit of the {role} {oversampler!r}; its "
            f"oversamplers are {in_order(metrics['oversampler'])}"
        )


def _check_open_fraction(name: str, value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not 0 < value < 1
    ):
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")


def _is_integer(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
