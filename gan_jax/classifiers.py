"""The classifiers that judge whether oversampling helps.

Each is a scikit-learn estimator with `predict_proba`, seeded from the
run's seed, and single-threaded: the run parallelises over fits instead,
which keeps every result independent of the number of worker processes.
"""

from __future__ import annotations

from sklearn.base import ClassifierMixin
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

#: Names accepted by `make_classifier` (and by --classifiers).
CLASSIFIERS = ("logistic-regression", "random-forest", "hist-gradient-boosting")


def make_classifier(
    name: str,
    seed: int,
    *,
    num_rows: int | None = None,
    forest_rows_per_tree: int | None = None,
) -> ClassifierMixin:
    """A fresh, unfitted classifier.

    Args:
        name: one of `CLASSIFIERS`.
        seed: the random state of the estimator.
        num_rows: the number of rows it will be fitted on.
        forest_rows_per_tree: if given and `num_rows` is larger, each
            random-forest tree draws this many rows (with replacement)
            instead of `num_rows`. Why: fully grown trees on all rows of a
            table the size of the full credit-card file take minutes per
            fit on one thread, two orders of magnitude more than the other
            classifiers; fewer rows per tree was the cheapest remedy
            measured (experiments/benchmark_forest.py; figures and the
            cost in AUPRC in the README). Smaller sets are untouched.

    Returns:
        An estimator whose `fit` accepts `sample_weight` (for class weights)
        and which has `predict_proba`.
    """
    if name == "logistic-regression":
        # Standardised features: the solver converges on raw amounts and
        # seconds only slowly, and the penalty treats features alike.
        return Pipeline(
            [
                ("standardize", StandardScaler()),
                (
                    "classify",
                    LogisticRegression(max_iter=2000, random_state=seed),
                ),
            ]
        )
    if name == "random-forest":
        capped = (
            forest_rows_per_tree is not None
            and num_rows is not None
            and num_rows > forest_rows_per_tree
        )
        return RandomForestClassifier(
            n_estimators=100,
            max_samples=forest_rows_per_tree if capped else None,
            random_state=seed,
            n_jobs=1,
        )
    if name == "hist-gradient-boosting":
        return HistGradientBoostingClassifier(random_state=seed)
    raise ValueError(
        f"unknown classifier {name!r}; choose from {', '.join(CLASSIFIERS)}"
    )


def fit_classifier(
    classifier: ClassifierMixin, features, labels, sample_weight=None
) -> ClassifierMixin:
    """Fits, routing `sample_weight` to the final step of a pipeline."""
    if sample_weight is None:
        return classifier.fit(features, labels)
    if isinstance(classifier, Pipeline):
        step = classifier.steps[-1][0]
        return classifier.fit(
            features, labels, **{f"{step}__sample_weight": sample_weight}
        )
    return classifier.fit(features, labels, sample_weight=sample_weight)
