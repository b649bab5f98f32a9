"""Which GAN, transform and step count: every oversampler on real data.

Run from the repository root:

    python experiments/benchmark_oversamplers.py [--seeds 6]
        [--steps 1000,3000] [--variants reference/minmax,...]
        [--datasets creditcard,thyroid,...] [--jobs 2]
        [--out experiments/results/benchmark_oversamplers]

For every dataset in ../shared/data (--data-dir to change), every seed
0..N-1 (each its own stratified split, 30 % held out) and every classifier
(logistic-regression, random-forest, hist-gradient-boosting), it fits the
classifier on the training split resampled by each classical oversampler
(none, class-weight, random, smote, borderline-smote, adasyn) and by each
GAN variant (objective / transform: reference/minmax, reference/quantile,
wgan-gp/minmax, wgan-gp/quantile, conditional/minmax, conditional/quantile)
at each step count, and for reference/minmax and reference/quantile also
with model selection (`--select-every 250` up to the longest step count,
method "gan <variant> <steps> selected"), and scores the test split. The
GAN of a seed is the one `gan-jax run` trains (same key, same rows, ratio
0.25); longer step counts continue the same training, so the
1000-step rows are exactly those of `gan-jax run --steps 1000`. Each GAN's
rows are also measured against the test split's minority rows
(`gan_jax.synthetic_quality`).

It prints, and writes to <out>/report.md: the mean test AUPRC per
(dataset, classifier) of none, of the best classical oversampler and of
every GAN method; per GAN method, over the (dataset, classifier) pairs,
the mean difference to none, how many pairs it matches or beats the best
classical oversampler in (mean AUPRC at least as high), and in how many it
is significantly worse or better than none (two-sided Wilcoxon signed-rank
over seeds, p < 0.05; with 5 seeds no p-value can go below 0.0625, hence 6
by default); the quality of each GAN method's rows, averaged; the best
method by a fixed rule (fewest pairs significantly worse than none, then
most pairs level with the best classical oversampler, then the largest
mean difference to none); and pair by pair, that method and the default.
One row per fit goes to <out>/fits.csv and one per GAN to
<out>/quality.csv.

The work is long (hours on a 2-core CPU: 7 datasets x 6 seeds x 6 GAN
variants, WGAN-GP's critic updating 5 times per step), so it is kept as it
goes: each finished (dataset, seed) is appended to fits.csv, and a run
started again with the same --out fits only what is missing there (a new
variant, for instance, on the seeds already done). Progress goes to
stderr; --report-only writes the report of what is there.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

import gan_jax
from gan_jax.evaluation import evaluate_fit, seed_gan_key
from gan_jax.oversampling import num_rows_to_add
from gan_jax.scaling import make_scaler
from gan_jax.statistics import (
    CLASSICAL_OVERSAMPLERS,
    compare_to_best_classical,
    paired_differences,
)

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_OUT = Path("experiments/results/benchmark_oversamplers")
CLASSIFIERS = ("logistic-regression", "random-forest", "hist-gradient-boosting")
CLASSICAL = ("none", *CLASSICAL_OVERSAMPLERS)
VARIANTS = (
    "reference/minmax",
    "reference/quantile",
    "wgan-gp/minmax",
    "wgan-gp/quantile",
    "conditional/minmax",
    "conditional/quantile",
)
#: Variants also trained with model selection (`select_every`) to the
#: longest step count: method "gan <variant> <steps> selected".
SELECTED = ("reference/minmax", "reference/quantile")
SELECT_EVERY = 250
#: The method `gan-jax run` uses by default, shown pair by pair.
DEFAULT_METHOD = "gan conditional/quantile 3000"
RATIO = 0.25
TEST_SIZE = 0.3
ALPHA = 0.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--steps", default="1000,3000")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--selected",
        default=",".join(SELECTED),
        help="variants also run with model selection ('' for none)",
    )
    parser.add_argument("--classifiers", default=",".join(CLASSIFIERS))
    parser.add_argument("--datasets", default=None)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="write the report of the fits in --out, fitting nothing",
    )
    args = parser.parse_args()
    steps = sorted({int(s) for s in args.steps.split(",")})
    variants = args.variants.split(",")
    selected = [v for v in args.selected.split(",") if v]
    unknown = [v for v in variants + selected if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {unknown}; choose from {VARIANTS}")
    classifiers = tuple(args.classifiers.split(","))

    args.out.mkdir(parents=True, exist_ok=True)
    fits = _read(args.out / "fits.csv")
    quality = _read(args.out / "quality.csv")
    done = (
        fits.groupby(["dataset", "seed"])["oversampler"].agg(set).to_dict()
        if len(fits)
        else {}
    )
    start = time.perf_counter()
    paths = [] if args.report_only else _datasets(args.data_dir, args.datasets)
    with Parallel(n_jobs=args.jobs) as parallel:
        for path in paths:
            table = gan_jax.load_table(path)
            name = _name(path)
            for seed in range(args.seeds):
                present = done.get((name, seed), set())
                wanted = [
                    v
                    for v in variants
                    if any(f"gan {v} {n}" not in present for n in steps)
                ]
                selecting = [
                    v
                    for v in selected
                    if _selected_name(v, steps) not in present
                ]
                if "none" in present and not wanted and not selecting:
                    continue
                new_fits, new_quality = _one_seed(
                    parallel,
                    name,
                    table,
                    seed,
                    wanted,
                    steps,
                    classifiers,
                    classical="none" not in present,
                    selecting=selecting,
                )
                fits = pd.concat([fits, pd.DataFrame(new_fits)])
                quality = pd.concat([quality, pd.DataFrame(new_quality)])
                _write(fits, args.out / "fits.csv")
                _write(quality, args.out / "quality.csv")
                print(
                    f"{name} seed {seed}: {time.perf_counter() - start:.0f} s",
                    file=sys.stderr,
                )
    text = _report(fits, quality, args)
    print(text)
    (args.out / "report.md").write_text(text + "\n", encoding="utf-8")


def _datasets(data_dir: Path, names: str | None) -> list[Path]:
    paths = sorted(
        p for p in data_dir.iterdir() if p.suffix in (".csv", ".npz")
    )
    if names:
        wanted = set(names.split(","))
        paths = [p for p in paths if _name(p) in wanted]
    if not paths:
        sys.exit(f"no datasets to run in {data_dir}")
    return paths


def _name(path: Path) -> str:
    stem = path.name.removesuffix(path.suffix)
    return stem.removeprefix("adbench_").removesuffix("_sample")


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.exists() else pd.DataFrame()


def _write(frame: pd.DataFrame, path: Path) -> None:
    partial = path.with_suffix(".partial")
    frame.to_csv(partial, index=False)
    partial.replace(path)


def _selected_name(variant: str, steps: list[int]) -> str:
    return f"gan {variant} {max(steps)} selected"


def _one_seed(
    parallel,
    name,
    table,
    seed,
    variants,
    steps,
    classifiers,
    *,
    classical,
    selecting=(),
):
    """The fits (and GAN qualities) of one (dataset, seed): the classical
    oversamplers' if `classical`, every step count of `variants`, and the
    selected step of each of `selecting`."""
    parts = gan_jax.split(table, test_size=TEST_SIZE, seed=seed)
    train, test = parts.train, parts.test
    to_add = num_rows_to_add(train.labels, RATIO)
    settings = gan_jax.RunSettings(ratio=RATIO, classifiers=classifiers)
    synthetic, quality = {}, []
    made = [
        (f"gan {variant} {step_count}", rows, seconds)
        for variant in variants
        for step_count, rows, seconds in _gan_rows(
            train, seed, variant, steps, to_add
        )
    ]
    made += [
        (
            _selected_name(variant, steps),
            *_selected_rows(train, seed, variant, max(steps), to_add),
        )
        for variant in selecting
    ]
    for method, rows, seconds in made:
        synthetic[method] = rows
        measured = gan_jax.synthetic_quality(
            test.minority_features, rows, train.minority_features, seed=seed
        )
        quality.append(
            {
                "dataset": name,
                "seed": seed,
                "method": method,
                "gan_seconds": seconds,
                **measured.summary(),
            }
        )
    tasks = [(o, c) for o in CLASSICAL if classical for c in classifiers]
    tasks += [(m, c) for m in synthetic for c in classifiers]
    results = parallel(
        delayed(_fit)(
            train,
            test,
            seed=seed,
            oversampler="gan" if method in synthetic else method,
            classifier=classifier,
            settings=settings,
            synthetic=synthetic.get(method),
        )
        for method, classifier in tasks
    )
    fits = [
        {"dataset": name, **row, "oversampler": method}
        for (method, _), row in zip(tasks, results, strict=True)
        if row is not None
    ]
    return fits, quality


def _fit(*args, **kwargs) -> dict | None:
    """A fit's metrics row, or None where the oversampler refuses the
    data (ADASYN without majority neighbours): that cell stays empty."""
    try:
        return evaluate_fit(*args, **kwargs)[0]
    except gan_jax.DataError as error:
        print(f"skipped: {error}", file=sys.stderr)
        return None


def _gan_rows(train, seed, variant, steps, to_add):
    """(steps, synthetic rows, seconds) at each step count, one training."""
    objective, transform = variant.split("/")
    config = dataclasses.replace(
        gan_jax.GANConfig(), objective=objective, transform=transform
    )
    keys = gan_jax.gan_keys(seed_gan_key(seed))
    # What `gan-jax run` trains on: the minority rows, or for the
    # conditional GAN every row with its label.
    rows, labels = gan_jax.gan_training_rows(
        train.features, train.labels, 1, config
    )
    scaler = make_scaler(transform).fit(rows)
    scaled = scaler.transform(rows)
    if labels is not None:
        scaled = gan_jax.with_labels(scaled, labels)
    state = gan_jax.init_state(config, rows.shape[1], keys.init)
    start, done = time.perf_counter(), 0
    for step_count in steps:
        state, _ = gan_jax.train(state, scaled, step_count - done, keys.train)
        done = step_count
        rows = scaler.inverse_transform(
            np.asarray(gan_jax.sample(state, to_add, keys.sample))
        ).astype(train.features.dtype)
        yield step_count, rows, time.perf_counter() - start


def _selected_rows(train, seed, variant, num_steps, to_add):
    """(synthetic rows, seconds) of the run's GAN with model selection:
    what `gan-jax run --select-every SELECT_EVERY` samples."""
    objective, transform = variant.split("/")
    config = dataclasses.replace(
        gan_jax.GANConfig(), objective=objective, transform=transform
    )
    rows, labels = gan_jax.gan_training_rows(
        train.features, train.labels, 1, config
    )
    start = time.perf_counter()
    fitted = gan_jax.train_checkpointed(
        rows,
        config,
        num_steps,
        seed_gan_key(seed),
        labels=labels,
        select_every=SELECT_EVERY,
    )
    synthetic = fitted.sample(to_add, gan_jax.gan_keys(fitted.key).sample)
    print(
        f"  {variant}: selected step {fitted.selected_step} of {num_steps}",
        file=sys.stderr,
    )
    return (
        synthetic.astype(train.features.dtype),
        time.perf_counter() - start,
    )


def _report(fits: pd.DataFrame, quality: pd.DataFrame, args) -> str:
    if fits.empty:
        return "no fits yet"
    gans = [
        m for m in dict.fromkeys(fits["oversampler"]) if m.startswith("gan ")
    ]
    seeds = fits.groupby("dataset")["seed"].nunique()
    lines = [
        "# Every oversampler, every GAN variant (mean test AUPRC)",
        "",
        f"Seeds per dataset: {', '.join(f'{d} {n}' for d, n in seeds.items())}"
        f"; ratio {RATIO}; methods named gan <objective>/<transform> <steps>.",
        "",
    ]
    header = ["dataset", "classifier", "none", "best classical", *gans]
    rows, summary = [], {m: [] for m in gans}
    for (dataset, classifier), group in fits.groupby(
        ["dataset", "classifier"], sort=False
    ):
        means = group.groupby("oversampler")["auprc"].mean()
        classical = {o: means[o] for o in CLASSICAL_OVERSAMPLERS if o in means}
        best = max(classical, key=classical.get)
        view = group[["seed", "oversampler", "classifier", "auprc"]]
        to_none = paired_differences(view).set_index("oversampler")
        cells = [dataset, classifier, f"{means['none']:.3f}"]
        cells.append(f"{means[best]:.3f} ({best})")
        for method in gans:
            difference = to_none.loc[method, "mean_difference"]
            p_value = to_none.loc[method, "p_value"]
            versus = compare_to_best_classical(view, method=method).iloc[0]
            summary[method].append(
                {
                    "to_none": difference,
                    "worse": p_value < ALPHA and difference < 0,
                    "better": p_value < ALPHA and difference > 0,
                    "matches_best": versus["mean_difference"] >= 0,
                }
            )
            cells.append(f"{means[method]:.3f} ({difference:+.3f})")
        rows.append(cells)
    lines += _table(header, rows)
    lines += [
        "",
        "Per GAN method over the (dataset, classifier) pairs: mean AUPRC "
        "difference to none; pairs where its mean AUPRC matches or beats "
        "the best classical oversampler; pairs significantly worse / "
        f"better than none (p < {ALPHA}); and the quality of its rows "
        "(means over datasets and seeds).",
        "",
    ]
    quality_means = quality.groupby("method").mean(numeric_only=True)
    header = [
        "method",
        "vs none",
        "matches best classical",
        "worse than none",
        "better than none",
        "detectability",
        "k-NN precision",
        "k-NN recall",
        "mean KS",
        "GAN s",
    ]
    rows = []
    for method, pairs in summary.items():
        q = quality_means.loc[method]
        rows.append(
            [
                method,
                f"{np.mean([p['to_none'] for p in pairs]):+.4f}",
                f"{sum(p['matches_best'] for p in pairs)} / {len(pairs)}",
                str(sum(p["worse"] for p in pairs)),
                str(sum(p["better"] for p in pairs)),
                f"{q['detectability_auc']:.3f}",
                f"{q['precision']:.3f}",
                f"{q['recall']:.3f}",
                f"{q['mean_ks']:.3f}",
                f"{q['gan_seconds']:.0f}",
            ]
        )
    lines += _table(header, rows)
    # The aim, in its order: never significantly worse than no
    # augmentation, then as often as possible level with the best
    # classical oversampler; then the larger mean gain over none.
    best = max(
        summary,
        key=lambda m: (
            -sum(p["worse"] for p in summary[m]),
            sum(p["matches_best"] for p in summary[m]),
            np.mean([p["to_none"] for p in summary[m]]),
        ),
    )
    lines += [
        "",
        "Best by the rule (fewest pairs significantly worse than none, "
        "then most pairs level with the best classical oversampler, then "
        f"the largest mean difference to none): {best}",
    ]
    for method in dict.fromkeys([DEFAULT_METHOD, best]):
        if method in summary:
            lines += ["", *_one_method_table(fits, method)]
    return "\n".join(lines)


def _one_method_table(fits: pd.DataFrame, method: str) -> list[str]:
    """Per (dataset, classifier): `method` against none and against the
    best classical oversampler, with the paired p-values."""
    header = [
        "dataset",
        "classifier",
        "none",
        "best classical",
        method,
        "vs none (p)",
        "vs best classical (p)",
    ]
    rows = []
    for (dataset, classifier), group in fits.groupby(
        ["dataset", "classifier"], sort=False
    ):
        view = group[["seed", "oversampler", "classifier", "auprc"]]
        means = view.groupby("oversampler")["auprc"].mean()
        to_none = paired_differences(view).set_index("oversampler")
        versus = compare_to_best_classical(view, method=method).iloc[0]
        rows.append(
            [
                dataset,
                classifier,
                f"{means['none']:.3f}",
                f"{means[versus['reference']]:.3f} ({versus['reference']})",
                f"{means[method]:.3f}",
                f"{to_none.loc[method, 'mean_difference']:+.3f} "
                f"({to_none.loc[method, 'p_value']:.2g})",
                f"{versus['mean_difference']:+.3f} ({versus['p_value']:.2g})",
            ]
        )
    return [f"### {method}, pair by pair", "", *_table(header, rows)]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


if __name__ == "__main__":
    main()
