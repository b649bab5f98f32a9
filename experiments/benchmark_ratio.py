"""Which default --ratio: test AUPRC over ratios, oversamplers and datasets.

Run from the repository root:

    python experiments/benchmark_ratio.py [--seeds 3] [--steps 1000]
        [--ratios 0.1 0.25 0.5 1.0] [--classifiers NAME ...] [--jobs 2]

For every dataset in ../shared/data (the credit-card sample and the six
ADBench tables; --data-dir to change), every seed 0..N-1, ratio (minority /
majority rows after oversampling), oversampler (none, random, smote, gan)
and classifier (logistic-regression, random-forest, hist-gradient-boosting),
it fits the classifier on the oversampled training split and scores the
test split. It prints one line per dataset (rows, features, minority rows,
the training split's natural minority / majority ratio); the mean test
AUPRC over seeds per (dataset, classifier, oversampler, ratio) with its
difference to none; and a summary per (oversampler, ratio): the mean over
(dataset, classifier) pairs of AUPRC minus none's, how many pairs each
ratio wins for its oversampler, and two-sided Wilcoxon signed-rank p-values
over those pairs against none and against the oversampler's best ratio;
last, the ratio that is best on average for gan. The detailed table goes to
--out (CSV), and everything printed to a markdown file beside it; with
--fits-out, one row per fit as well. Progress (dataset, seed, elapsed time)
goes to stderr. The default run takes about 11 minutes on a 2-core CPU.

A ratio at or below a training split's natural ratio adds no rows: the fit
is none's, so the cell reuses none's fit and is marked "adds no rows".

Per (dataset, seed) the table is split once and one GAN is trained, asked
for the rows of the largest ratio. Smaller ratios take the first rows of
those: exactly the rows a GAN trained for that ratio would give, since
training does not depend on the ratio and `gan_jax.sample` gives fewer
rows as a prefix of more rows from the same key. `none` does not depend on
the ratio and is fitted once per (dataset, seed, classifier).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import textwrap
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd
from joblib import Parallel, delayed

import gan_jax
from gan_jax.evaluation import evaluate_fit, train_seed_gan
from gan_jax.oversampling import num_rows_to_add
from gan_jax.statistics import paired_differences

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_OUT = Path("experiments/results/benchmark_ratio.csv")
OVERSAMPLERS = ("none", "random", "smote", "gan")
CLASSIFIERS = (
    "logistic-regression",
    "random-forest",
    "hist-gradient-boosting",
)
RATIOS = (0.1, 0.25, 0.5, 1.0)
TEST_SIZE = 0.3
ALPHA = 0.05

# AUPRC means that differ by less are counted as ties when ranking ratios.
_TIE_DECIMALS = 12

_TABLE_COLUMNS = [
    "dataset",
    "classifier",
    "oversampler",
    "ratio",
    "n_seeds",
    "auprc",
    "auprc_std",
    "diff_to_none",
    "rows_added",
    "adds_rows",
]


def dataset_name(path: Path) -> str:
    """A short name: 'creditcard', 'mammography', ..."""
    name = path.name.removesuffix(path.suffix)
    return name.removeprefix("adbench_").removesuffix("_sample")


def find_datasets(data_dir: Path) -> list[Path]:
    paths = sorted(
        path
        for path in data_dir.iterdir()
        if path.suffix in (".csv", ".npz") and path.is_file()
    )
    if not paths:
        raise gan_jax.DataError(f"no .csv or .npz tables in {data_dir}")
    return paths


def load_dataset(path: Path) -> gan_jax.Table:
    if path.suffix == ".csv":
        return gan_jax.load_table(path, target="Class")
    return gan_jax.load_table(path)


def natural_ratio(labels: np.ndarray) -> float:
    """Minority / majority rows of a labelled split."""
    return float((labels == 1).sum() / (labels == 0).sum())


def run_seed(
    parallel: Parallel,
    dataset: str,
    train: gan_jax.Table,
    test: gan_jax.Table,
    seed: int,
    settings: gan_jax.RunSettings,
    ratios: tuple[float, ...],
) -> tuple[list[dict], float]:
    """Every fit of one (dataset, seed).

    Returns:
        One row per (oversampler, classifier, ratio), none's with ratio
        NaN; and the seconds the GAN took to train and sample (NaN without
        gan).
    """
    synthetic, gan_seconds = None, math.nan
    if "gan" in settings.oversamplers:
        start = time.perf_counter()
        gan = train_seed_gan(
            train, seed, dataclasses.replace(settings, ratio=max(ratios))
        )
        synthetic = gan.synthetic
        gan_seconds = time.perf_counter() - start

    # The largest training sets first, so that no long fit is left for the
    # end while the other worker idles.
    adding = [r for r in sorted(ratios, reverse=True) if to_add(train, r)]
    tasks = [
        (oversampler, classifier, ratio)
        for ratio in adding
        for oversampler in settings.oversamplers
        if oversampler != "none"
        for classifier in settings.classifiers
    ]
    tasks += [("none", c, math.nan) for c in settings.classifiers]
    results = parallel(
        delayed(evaluate_fit)(
            train,
            test,
            seed=seed,
            oversampler=oversampler,
            classifier=classifier,
            settings=dataclasses.replace(
                settings, ratio=max(ratios) if math.isnan(ratio) else ratio
            ),
            synthetic=synthetic if oversampler == "gan" else None,
        )
        for oversampler, classifier, ratio in tasks
    )
    rows = []
    for (oversampler, _, ratio), (row, _) in zip(tasks, results, strict=True):
        rows.append(
            {
                "dataset": dataset,
                **row,
                "ratio": ratio,
                "adds_rows": oversampler != "none",
            }
        )

    # A ratio that adds no rows leaves the training split as it is: the
    # fit would be none's, bit for bit (same rows, same classifier seed).
    none_rows = {r["classifier"]: r for r in rows if r["oversampler"] == "none"}
    for ratio in ratios:
        if ratio in adding:
            continue
        for oversampler in settings.oversamplers:
            if oversampler == "none":
                continue
            for classifier in settings.classifiers:
                rows.append(
                    {
                        **none_rows[classifier],
                        "oversampler": oversampler,
                        "ratio": ratio,
                        "fit_seconds": 0.0,
                        "adds_rows": False,
                    }
                )
    return rows, gan_seconds


def to_add(train: gan_jax.Table, ratio: float) -> int:
    return num_rows_to_add(train.labels, ratio)


def cell_table(fits: pd.DataFrame) -> pd.DataFrame:
    """Mean AUPRC over seeds per (dataset, classifier, oversampler, ratio)."""
    keys = ["dataset", "classifier", "oversampler", "ratio"]
    table = (
        fits.groupby(keys, sort=False, dropna=False)
        .agg(
            n_seeds=("seed", "size"),
            auprc=("auprc", "mean"),
            auprc_std=("auprc", "std"),
            rows_added=("n_synthetic", "mean"),
            adds_rows=("adds_rows", "any"),
        )
        .reset_index()
    )
    none = table[table["oversampler"] == "none"].set_index(
        ["dataset", "classifier"]
    )["auprc"]
    table["diff_to_none"] = [
        auprc - none.get((dataset, classifier), math.nan)
        for dataset, classifier, auprc in zip(
            table["dataset"], table["classifier"], table["auprc"], strict=True
        )
    ]
    order = {
        "oversampler": {name: i for i, name in enumerate(OVERSAMPLERS)},
        "classifier": {name: i for i, name in enumerate(CLASSIFIERS)},
    }
    table = table.sort_values(
        keys,
        key=lambda column: (
            column.map(order[column.name]) if column.name in order else column
        ),
        na_position="first",
        kind="stable",
    )
    return table[_TABLE_COLUMNS].reset_index(drop=True)


def ratio_summary(
    table: pd.DataFrame, ratios: tuple[float, ...]
) -> pd.DataFrame:
    """Per (oversampler, ratio): mean gain over none, wins and p-values.

    The units are (dataset, classifier) pairs, each with its mean AUPRC
    over seeds. A pair's win goes to the ratio(s) with the highest AUPRC
    for that oversampler (all of them on a tie). The p-values are two-sided
    Wilcoxon signed-rank tests over the pairs (`paired_differences`, with
    the pair as the unit it pairs by), not corrected for multiplicity.
    """
    pairs = table[["dataset", "classifier"]].drop_duplicates()
    pair_ids = {
        (d, c): i for i, (d, c) in enumerate(pairs.itertuples(index=False))
    }
    table = table.assign(
        pair=[
            pair_ids[d, c]
            for d, c in zip(table["dataset"], table["classifier"], strict=True)
        ]
    )
    none = table[table["oversampler"] == "none"]
    rows = []
    for oversampler in OVERSAMPLERS:
        cells = table[table["oversampler"] == oversampler]
        if oversampler == "none" or cells.empty:
            continue

        # One "metrics" frame per oversampler: the pair plays the seed and
        # the ratio plays the oversampler, as paired_differences expects.
        labels = {r: f"{r:g}" for r in ratios}
        metrics = pd.concat(
            [
                pd.DataFrame(
                    {
                        "seed": cells["pair"],
                        "oversampler": cells["ratio"].map(labels),
                        "classifier": oversampler,
                        "auprc": cells["auprc"],
                    }
                ),
                pd.DataFrame(
                    {
                        "seed": none["pair"],
                        "oversampler": "none",
                        "classifier": oversampler,
                        "auprc": none["auprc"],
                    }
                ),
            ],
            ignore_index=True,
        )
        metrics["seed"] = metrics["seed"].astype(np.int64)
        against_none = paired_differences(metrics, baseline="none")
        against_none = against_none.set_index("oversampler")
        best = max(
            ratios,
            key=lambda r: against_none.loc[labels[r], "mean_difference"],
        )
        against_best = paired_differences(
            metrics[metrics["oversampler"] != "none"], baseline=labels[best]
        ).set_index("oversampler")

        wide = cells.pivot(index="pair", columns="ratio", values="auprc")
        top = wide.round(_TIE_DECIMALS)
        wins = top.eq(top.max(axis=1), axis=0).sum()
        no_rows = cells.groupby("ratio")["adds_rows"].apply(
            lambda a: (~a).sum()
        )
        for ratio in ratios:
            label = labels[ratio]
            rows.append(
                {
                    "oversampler": oversampler,
                    "ratio": ratio,
                    "n_pairs": int(against_none.loc[label, "n_pairs"]),
                    "mean_diff_to_none": against_none.loc[
                        label, "mean_difference"
                    ],
                    "p_vs_none": against_none.loc[label, "p_value"],
                    "wins": int(wins.get(ratio, 0)),
                    "best": ratio == best,
                    "p_vs_best": math.nan
                    if ratio == best
                    else against_best.loc[label, "p_value"],
                    "pairs_without_rows": int(no_rows.get(ratio, 0)),
                }
            )
    return pd.DataFrame(rows)


def format_detail(table: pd.DataFrame) -> list[str]:
    lines = [
        f"{'dataset':<11} {'classifier':<22} {'over.':<6} {'ratio':>5} "
        f"{'AUPRC':>6} {'-none':>7} {'added':>6}",
    ]
    for row in table.itertuples(index=False):
        ratio = "-" if math.isnan(row.ratio) else f"{row.ratio:g}"
        diff = "" if row.oversampler == "none" else f"{row.diff_to_none:+.4f}"
        if row.oversampler == "none":
            added = ""
        elif row.adds_rows:
            added = f"{row.rows_added:.0f}"
        else:
            added = "0 adds no rows"
        lines.append(
            f"{row.dataset:<11} {row.classifier:<22} {row.oversampler:<6} "
            f"{ratio:>5} {row.auprc:>6.4f} {diff:>7} {added:>6}".rstrip()
        )
    return lines


def format_summary(summary: pd.DataFrame) -> list[str]:
    lines = [
        f"{'over.':<6} {'ratio':>5} {'pairs':>5} {'mean -none':>10} "
        f"{'p vs none':>9} {'wins':>4} {'p vs best':>9} {'no rows':>7}",
    ]
    for row in summary.itertuples(index=False):
        vs_best = "best" if row.best else f"{row.p_vs_best:.3g}"
        lines.append(
            f"{row.oversampler:<6} {row.ratio:>5g} {row.n_pairs:>5} "
            f"{row.mean_diff_to_none:>+10.4f} {row.p_vs_none:>9.3g} "
            f"{row.wins:>4} {vs_best:>9} {row.pairs_without_rows:>7}"
        )
    return lines


def gan_verdict(summary: pd.DataFrame) -> list[str]:
    gan = summary[summary["oversampler"] == "gan"]
    if gan.empty:
        return []
    best = gan[gan["best"]].iloc[0]
    close = [
        f"{row.ratio:g} (p={row.p_vs_best:.2g})"
        for row in gan.itertuples(index=False)
        if not row.best and row.p_vs_best > ALPHA
    ]
    lines = [
        f"gan: best ratio on average {best['ratio']:g}, "
        f"{best['mean_diff_to_none']:+.4f} AUPRC vs none over "
        f"{best['n_pairs']} (dataset, classifier) pairs "
        f"(p={best['p_vs_none']:.2g}).",
    ]
    if close:
        lines.append(
            "Not distinguishable from it at alpha = "
            f"{ALPHA:g}: {', '.join(close)}."
        )
    else:
        lines.append(
            f"Every other ratio is worse at alpha = {ALPHA:g} (Wilcoxon)."
        )
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument(
        "--seeds", type=int, default=3, help="seeds 0 .. N-1 per dataset"
    )
    parser.add_argument(
        "--steps", type=int, default=1000, help="GAN training steps per seed"
    )
    parser.add_argument(
        "--ratios",
        type=float,
        nargs="+",
        default=list(RATIOS),
        help="minority / majority rows after oversampling, in (0, 1]",
    )
    parser.add_argument(
        "--oversamplers",
        nargs="+",
        default=list(OVERSAMPLERS),
        choices=OVERSAMPLERS,
    )
    parser.add_argument(
        "--classifiers",
        nargs="+",
        default=list(CLASSIFIERS),
        choices=CLASSIFIERS,
    )
    parser.add_argument(
        "--fits-out",
        type=Path,
        default=None,
        help="CSV of every fit (seed by seed), if given",
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="worker processes for the fits"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="CSV of the detailed table; a .md of all output goes beside it",
    )
    args = parser.parse_args()
    for name in ("seeds", "steps", "jobs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if any(not 0 < r <= 1 for r in args.ratios):
        parser.error("--ratios must lie in (0, 1]")
    if len(set(args.ratios)) < len(args.ratios):
        parser.error("--ratios lists a ratio twice")
    if "none" not in args.oversamplers:
        parser.error("--oversamplers must include none, the reference")
    args.ratios = tuple(sorted(args.ratios))
    return args


def main() -> None:
    args = parse_args()
    settings = gan_jax.RunSettings(
        oversamplers=tuple(args.oversamplers),
        classifiers=tuple(args.classifiers),
        num_seeds=args.seeds,
        seed=0,
        test_size=TEST_SIZE,
        ratio=max(args.ratios),
        gan_steps=args.steps,
        gan=gan_jax.GANConfig(),
    )
    try:
        paths = find_datasets(args.data_dir)
        tables = {dataset_name(path): load_dataset(path) for path in paths}
    except gan_jax.DataError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)

    start = time.perf_counter()
    fits, described = [], []
    with Parallel(n_jobs=args.jobs) as parallel:
        for dataset, data in tables.items():
            for seed in settings.seeds:
                parts = gan_jax.split(data, test_size=TEST_SIZE, seed=seed)
                seed_start = time.perf_counter()
                rows, gan_seconds = run_seed(
                    parallel,
                    dataset,
                    parts.train,
                    parts.test,
                    seed,
                    settings,
                    args.ratios,
                )
                fits += rows
                if seed == settings.seeds[0]:
                    described.append(
                        describe(dataset, data, parts.train, args.ratios)
                    )
                fitted = sum(row["fit_seconds"] > 0 for row in rows)
                print(
                    f"{dataset} seed {seed}: GAN {gan_seconds:.1f} s, "
                    f"{fitted} fits in "
                    f"{time.perf_counter() - seed_start:.1f} s; elapsed "
                    f"{time.perf_counter() - start:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    elapsed = time.perf_counter() - start

    fits = pd.DataFrame(fits)
    table = cell_table(fits)
    summary = ratio_summary(table, args.ratios)
    lines = [
        f"gan-jax {gan_jax.__version__}, jax {jax.__version__}",
        f"{len(tables)} datasets, seeds 0..{args.seeds - 1}, "
        f"{args.steps} GAN steps, test share {TEST_SIZE}",
        f"ratios {', '.join(f'{r:g}' for r in args.ratios)}; oversamplers "
        f"{', '.join(args.oversamplers)}",
        f"classifiers {', '.join(args.classifiers)}",
        f"{int((fits['fit_seconds'] > 0).sum())} fits in "
        f"{elapsed / 60:.1f} min with {args.jobs} jobs",
        "",
        "Datasets (natural = training split's minority / majority):",
        *described,
        "",
        "Mean test AUPRC over seeds; -none: difference to none's; added:",
        "mean synthetic rows ('adds no rows': the ratio is at or below the",
        "natural ratio, so the fit is none's).",
        *format_detail(table),
        "",
        "Per (oversampler, ratio), over (dataset, classifier) pairs of mean",
        "AUPRC: mean -none, wins (pairs where the ratio is the oversampler's",
        "best), two-sided Wilcoxon p vs none and vs the oversampler's best",
        "ratio (uncorrected), pairs where the ratio adds no rows.",
        *format_summary(summary),
        "",
        *textwrap.wrap(" ".join(gan_verdict(summary)), width=79),
    ]
    text = "\n".join(lines)
    print(text)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.6g")
    if args.fits_out is not None:
        args.fits_out.parent.mkdir(parents=True, exist_ok=True)
        fits.to_csv(args.fits_out, index=False)
    markdown = args.out.with_suffix(".md")
    markdown.write_text(
        "# benchmark_ratio\n\n```\n" + " ".join(sys.argv) + "\n```\n\n```\n"
        f"{text}\n```\n"
    )
    print(f"\nwrote {args.out} and {markdown}", file=sys.stderr)


def describe(
    dataset: str,
    table: gan_jax.Table,
    train: gan_jax.Table,
    ratios: tuple[float, ...],
) -> str:
    """'mammography: 11183 rows, 6 features, 260 minority, natural ...'."""
    natural = natural_ratio(train.labels)
    below = [f"{r:g}" for r in ratios if to_add(train, r) == 0]
    note = ""
    if len(below) == 1:
        note = f"\n    ratio {below[0]} adds no rows"
    elif below:
        note = f"\n    ratios {', '.join(below)} add no rows"
    return (
        f"  {dataset}: {table.num_rows} rows, {len(table.feature_names)} "
        f"features, {table.num_minority} minority, natural "
        f"{natural:.3f}{note}"
    )


if __name__ == "__main__":
    main()
