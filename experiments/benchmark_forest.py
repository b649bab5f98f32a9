"""Random-forest settings: detection quality against fit time.

Run from the repository root:

    python experiments/benchmark_forest.py [--seeds 5] [--rows 284807]

The random forest dominates the time of `gan-jax run` on large tables
(one fit of 100 fully grown trees on the full credit-card size takes
minutes on one core, against seconds for the other classifiers). This
script measures candidate settings side by side in one run:

1. quality: mean AUPRC on the real test split of every labelled dataset in
   ../shared/data (when present), over several seeds, for the
   oversamplers `none`, `class-weight` and `smote`;
2. time: one fit of each setting on a table the size of the full
   credit-card file (from the built-in dataset's recipe), on the
   training split with and without SMOTE.

Every fit is single-threaded, as in `gan-jax run`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import average_precision_score
from threadpoolctl import threadpool_limits

import gan_jax
from gan_jax.oversampling import resample

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FULL_ROWS = 284_807
FULL_FRAUDS = 492
OVERSAMPLERS = ("none", "class-weight", "smote")

#: Candidate settings (keyword arguments of RandomForestClassifier;
#: "max_rows" caps the rows per tree as `RunSettings.forest_rows_per_tree`
#: does, which on tables under the cap is the plain default).
VARIANTS = {
    "100 trees (sklearn default)": {},
    "100 trees, min_samples_leaf 3": {"min_samples_leaf": 3},
    "50 trees": {"n_estimators": 50},
    "100 trees, 25% rows per tree": {"max_samples": 0.25},
    "100 trees, 10% rows per tree": {"max_samples": 0.1},
    "gan-jax default (20,000 rows per tree at most)": {"max_rows": 20_000},
}


def forest(variant: str, seed: int, num_rows: int) -> RandomForestClassifier:
    params = {"n_estimators": 100, **VARIANTS[variant]}
    max_rows = params.pop("max_rows", None)
    if max_rows is not None and num_rows > max_rows:
        params["max_samples"] = max_rows
    return RandomForestClassifier(random_state=seed, n_jobs=1, **params)


def fit_and_score(variant, seed, train, test_features, oversampler):
    resampled = resample(
        oversampler, train.features, train.labels, ratio=0.25, seed=seed
    )
    model = forest(variant, seed, len(resampled.labels))
    start = time.perf_counter()
    model.fit(
        resampled.features,
        resampled.labels,
        sample_weight=resampled.sample_weight,
    )
    seconds = time.perf_counter() - start
    return model.predict_proba(test_features)[:, 1], seconds


def datasets():
    if not SHARED_DATA.is_dir():
        print(f"no {SHARED_DATA}: quality part skipped", file=sys.stderr)
        return
    for path in sorted(SHARED_DATA.glob("*.csv")) + sorted(
        SHARED_DATA.glob("*.npz")
    ):
        yield path.stem, gan_jax.load_table(path)


def quality(seeds: int) -> None:
    print(
        "mean AUPRC on the real test split "
        f"({seeds} seeds; fit seconds in brackets)"
    )
    header = f"{'dataset':<24} {'oversampler':<13}" + "".join(
        f" {name[:28]:>30}" for name in VARIANTS
    )
    print(header)
    means = {name: [] for name in VARIANTS}
    for dataset, table in datasets():
        for oversampler in OVERSAMPLERS:
            cells = []
            for variant in VARIANTS:
                scores, times = [], []
                for seed in range(seeds):
                    parts = gan_jax.split(table, test_size=0.3, seed=seed)
                    predicted, seconds = fit_and_score(
                        variant,
                        seed,
                        parts.train,
                        parts.test.features,
                        oversampler,
                    )
                    scores.append(
                        average_precision_score(parts.test.labels, predicted)
                    )
                    times.append(seconds)
                means[variant].append(np.mean(scores))
                cells.append(f"{np.mean(scores):.4f} ({np.mean(times):5.1f} s)")
            print(
                f"{dataset:<24} {oversampler:<13}"
                + "".join(f" {cell:>30}" for cell in cells),
                flush=True,
            )
    if any(means.values()):
        print(
            f"{'mean over all':<38}"
            + "".join(f" {np.mean(values):>30.4f}" for values in means.values())
        )


def timing(rows: int) -> None:
    table = gan_jax.make_fraud_like(
        num_rows=rows, minority_fraction=FULL_FRAUDS / FULL_ROWS, seed=0
    )
    table = gan_jax.load_table(table)
    parts = gan_jax.split(table, test_size=0.3, seed=0)
    print(
        f"\none fit at {rows:,} rows (training split {parts.train.num_rows:,}"
        " rows), seconds:"
    )
    print(f"{'setting':<32} {'none':>8} {'smote':>8}")
    for variant in VARIANTS:
        cells = []
        for oversampler in ("none", "smote"):
            _, seconds = fit_and_score(
                variant, 0, parts.train, parts.test.features[:1], oversampler
            )
            cells.append(seconds)
        print(f"{variant:<32} {cells[0]:8.1f} {cells[1]:8.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=FULL_ROWS)
    parser.add_argument("--skip-timing", action="store_true")
    args = parser.parse_args()
    with threadpool_limits(1):
        quality(args.seeds)
        if not args.skip_timing:
            timing(args.rows)


if __name__ == "__main__":
    main()
