"""The report of a comparison run: summary.csv, report.md and figures.

`write_report` turns a `RunResult` into files a person can read: a CSV
with one row per (oversampler, classifier), a Markdown report that opens
with the verdict on GAN augmentation and measures the quality of the
synthetic rows (`gan_jax.quality`; per seed in quality.csv), and PNG
figures (precision-recall curves, AUPRC per seed, the GAN's losses, real
against synthetic minority rows, confusion matrices). `summary_table` is
the short plain-text table the command line prints at the end of a run.

Figures are drawn on `matplotlib.figure.Figure` objects without pyplot, so
nothing here touches matplotlib's global figure manager or backend.
"""

from __future__ import annotations

import logging
import math
import pathlib
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from gan_jax import statistics
from gan_jax.config import RunSettings
from gan_jax.evaluation import RerunCheck, RunResult, SeedGAN
from gan_jax.quality import SUMMARY_NAMES, synthetic_quality

logger = logging.getLogger(__name__)

#: Resolution of every figure, in dots per inch.
DPI = 110

#: Most points of each kind in the PCA scatter; more only hide each other.
MAX_SCATTER_POINTS = 2000

#: Most features drawn in the histogram grid; more become unreadable.
MAX_HISTOGRAM_FEATURES = 30

#: The metrics besides AUPRC whose means go into summary.csv and report.md,
#: with the name a table shows.
OTHER_METRICS = {
    "roc_auc": "ROC AUC",
    "f1": "F1",
    "precision": "precision",
    "recall": "recall",
    "recall_at_precision_90": "recall at precision 0.9",
}

_BASELINE = statistics.BASELINE
_REAL_COLOR = "tab:blue"
_SYNTHETIC_COLOR = "tab:orange"
_HISTOGRAM_BINS = 30
_HISTOGRAM_COLUMNS = 6

_CAPTIONS = {
    "precision_recall.png": (
        "Precision against recall on the test split of the first seed, one "
        "line per method (with that seed's AUPRC in the legend); the dotted "
        "line is the share of minority rows, what random scores would reach."
    ),
    "auprc_by_method.png": (
        "Test AUPRC of every seed (dots) and its mean over seeds (bar) per "
        "method and classifier."
    ),
    "gan_losses.png": (
        "The GAN's discriminator and generator losses at every training "
        "step, one colour per seed: faint lines are the raw values, solid "
        "lines a trailing moving average."
    ),
    "real_vs_synthetic_pca.png": (
        "Real and synthetic minority rows of the first seed on the first two "
        "principal components of the standardized real rows (both the "
        "scaling and the components are fitted on real rows only)."
    ),
    "feature_histograms.png": (
        "Distribution of each feature in the real and synthetic minority "
        "rows of the first seed (densities over shared bins)."
    ),
    "auprc_boxplots.png": (
        "Test AUPRC across seeds per method and classifier: the box spans "
        "the middle half of the seeds, the line in it is the median, the "
        "whiskers reach the farthest seed within 1.5 box lengths, and "
        "every seed is a dot."
    ),
    "confusion_matrices.png": (
        "Test-split confusion matrices at threshold 0.5, summed over seeds, "
        "of no oversampling and of the oversampler with the highest mean "
        "AUPRC, per classifier; shading is the share of each true class."
    ),
}

_GAN_FIGURES = (
    "gan_losses.png",
    "real_vs_synthetic_pca.png",
    "feature_histograms.png",
)


def write_report(
    result: RunResult,
    settings: RunSettings,
    out_dir: pathlib.Path,
    *,
    title: str,
    data_description: str,
    feature_names: Sequence[str],
    rerun: RerunCheck | None = None,
) -> None:
    """Writes summary.csv, report.md and figures/*.png into `out_dir`.

    Figures that need a GAN (its losses, real against synthetic rows) are
    left out when the run trained none, and report.md says so. A study
    (`rerun` given) adds the spread across seeds: box plots of AUPRC, the
    seed-to-seed spread of the GAN's gain over no oversampling, and the
    outcome of re-running one seed from scratch.

    Args:
        result: the outcome of `gan_jax.evaluation.run_comparison`.
        settings: the settings the run was made with.
        out_dir: an existing directory; files in it are overwritten.
        title: the report's heading.
        data_description: one sentence on the data, such as its source.
        feature_names: one name per feature column, for the histograms.
        rerun: for a study, the check of its re-run seed.
    """
    out_dir = pathlib.Path(out_dir)
    figures_dir = out_dir / "figures"
    figures_dir.mkdir(exist_ok=True)

    summary = summary_frame(result)
    summary.to_csv(out_dir / "summary.csv", index=False)

    drawn, skipped = _write_figures(
        result, figures_dir, feature_names, study=rerun is not None
    )
    quality, quality_features = quality_frames(result.gans, feature_names)
    if not quality.empty:
        quality.to_csv(out_dir / "quality.csv", index=False)
    markdown = _report_markdown(
        result,
        settings,
        summary,
        title=title,
        data_description=data_description,
        drawn=drawn,
        skipped=skipped,
        rerun=rerun,
        quality=(quality, quality_features),
    )
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    logger.info(
        "wrote report.md, summary.csv and %d figures to %s",
        len(drawn),
        out_dir,
    )


def summary_frame(result: RunResult) -> pd.DataFrame:
    """The contents of summary.csv: one row per (oversampler, classifier).

    Returns:
        Columns `oversampler, classifier, n_seeds`; `mean_auprc,
        std_auprc, ci_low_auprc, ci_high_auprc` from
        `statistics.summarize`; `mean_<metric>` for each of
        `OTHER_METRICS`; `diff_vs_none, p_vs_none` from
        `statistics.paired_differences` (NaN for none itself, and for
        every row when the run has no fits without oversampling).
    """
    metrics = result.metrics
    summary = statistics.summarize(metrics, metric="auprc").rename(
        columns={
            name: f"{name}_auprc"
            for name in ("mean", "std", "ci_low", "ci_high")
        }
    )
    keys = ["oversampler", "classifier"]
    means = metrics.groupby(keys, sort=False)[list(OTHER_METRICS)].mean()
    summary = summary.merge(
        means.add_prefix("mean_").reset_index(), on=keys, how="left"
    )
    differences = _differences_to_baseline(metrics)
    return summary.merge(differences, on=keys, how="left")


def summary_table(result: RunResult) -> str:
    """A plain-text table of AUPRC for the terminal.

    One row per method, one column per classifier; a cell reads
    "0.742 ± 0.012 (+0.021, p=0.25)": mean ± standard deviation over
    seeds, then the mean paired difference to no oversampling and its
    Wilcoxon p-value.
    """
    summary = summary_frame(result)
    classifiers = list(pd.unique(summary["classifier"]))
    header = ["method", *classifiers]
    rows = []
    for oversampler, group in summary.groupby("oversampler", sort=False):
        cells = group.set_index("classifier")
        rows.append(
            [statistics.display_name(oversampler)]
            + [
                _terminal_cell(cells.loc[c]) if c in cells.index else "-"
                for c in classifiers
            ]
        )

    widths = [
        max(len(row[i]) for row in [header, *rows]) for i in range(len(header))
    ]
    heading = _n_seeds_text(summary, "AUPRC on the test split")
    if summary["diff_vs_none"].notna().any():
        heading += " (difference to no oversampling, Wilcoxon p)"
    lines = [
        heading + ":",
        _aligned(header, widths),
        _aligned(["-" * width for width in widths], widths),
        *(_aligned(row, widths) for row in rows),
    ]
    return "\n".join(lines)


def _aligned(texts: list[str], widths: list[int]) -> str:
    padded = (t.ljust(w) for t, w in zip(texts, widths, strict=True))
    return "  ".join(padded).rstrip()


def _differences_to_baseline(metrics: pd.DataFrame) -> pd.DataFrame:
    """`diff_vs_none` and `p_vs_none` per (oversampler, classifier)."""
    columns = ["oversampler", "classifier", "diff_vs_none", "p_vs_none"]
    if not (metrics["oversampler"] == _BASELINE).any():
        return pd.DataFrame(columns=columns).astype(
            {"diff_vs_none": float, "p_vs_none": float}
        )
    paired = statistics.paired_differences(metrics, metric="auprc")
    return paired.rename(
        columns={"mean_difference": "diff_vs_none", "p_value": "p_vs_none"}
    )[columns]


def _terminal_cell(row: pd.Series) -> str:
    """'0.742 ± 0.012 (+0.021, p=0.25)' for one summary row."""
    text = mean_std(row["mean_auprc"], row["std_auprc"])
    if not math.isnan(row["diff_vs_none"]):
        p_text = statistics.format_p_value(row["p_vs_none"], spaced=False)
        text += f" ({row['diff_vs_none']:+.3f}, {p_text})"
    return text


def mean_std(mean: float, std: float) -> str:
    if math.isnan(std):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {std:.3f}"


def _n_seeds_text(summary: pd.DataFrame, what: str) -> str:
    counts = sorted(set(summary["n_seeds"]))
    if len(counts) == 1:
        seeds = "seed" if counts[0] == 1 else "seeds"
        return f"{what}, mean ± std over {counts[0]} {seeds}"
    return f"{what}, mean ± std over {counts[0]} to {counts[-1]} seeds"


def _report_markdown(
    result: RunResult,
    settings: RunSettings,
    summary: pd.DataFrame,
    *,
    title: str,
    data_description: str,
    drawn: list[str],
    skipped: dict[str, str],
    rerun: RerunCheck | None = None,
    quality: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> str:
    sections = [f"# {title}", _verdict_section(result)]
    if rerun is not None:
        sections.append(_spread_section(result.metrics, rerun))
    sections += [
        _run_section(result, settings, data_description),
        _auprc_section(summary),
        _other_metrics_section(summary),
        _p_value_section(summary),
    ]
    if quality is not None and not quality[0].empty:
        sections.append(_quality_section(*quality))
    sections.append(_figures_section(drawn, skipped))
    return "\n\n".join(sections) + "\n"


#: Features the quality section lists, those least like the real ones.
QUALITY_FEATURES_SHOWN = 10

_QUALITY_MEANINGS = {
    "mean_wasserstein": "per feature, standardised units; 0 is identical",
    "mean_ks": "per feature, in [0, 1]; 0 is identical",
    "correlation_difference": "mean over feature pairs, in [0, 2]; 0 is "
    "identical",
    "detectability_auc": "a classifier telling real from synthetic, "
    "cross-validated; 0.5 is indistinguishable",
    "precision": "share of synthetic rows near real ones; 1 is best",
    "recall": "share of real rows near synthetic ones; 1 is best",
    "synthetic_to_training": "compare with the next line: much smaller "
    "means memorised rows",
    "held_out_to_training": "what fresh real rows give",
    "copied_share": "synthetic rows equal to a training row; 0 is best",
}


def quality_frames(
    gans: dict[int, SeedGAN], feature_names: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The quality of each seed's synthetic rows against its test split's
    minority rows (`gan_jax.quality.synthetic_quality`).

    Returns:
        One row per seed (`seed` and the `quality.SUMMARY_NAMES` columns),
        and one row per (seed, feature) (`seed, feature, wasserstein, ks`);
        seeds with fewer than two held-out or synthetic rows are left out.
    """
    summaries, features = [], []
    for seed, gan in sorted(gans.items()):
        if (
            gan.held_out is None
            or min(len(gan.held_out), len(gan.synthetic)) < 2
        ):
            continue
        measured = synthetic_quality(
            gan.held_out,
            gan.synthetic,
            gan.real,
            feature_names=feature_names,
            seed=seed,
        )
        summaries.append({"seed": seed, **measured.summary()})
        features.append(measured.per_feature.assign(seed=seed))
    if not summaries:
        return pd.DataFrame(), pd.DataFrame()
    per_feature = pd.concat(features, ignore_index=True)
    return pd.DataFrame(summaries), per_feature[
        ["seed", "feature", "wasserstein", "ks"]
    ]


def _quality_section(quality: pd.DataFrame, per_feature: pd.DataFrame) -> str:
    rows = []
    for name, label in SUMMARY_NAMES.items():
        values = quality[name]
        rows.append(
            [
                label,
                mean_std(values.mean(), values.std(ddof=1))
                if len(values) > 1
                else f"{values.iloc[0]:.3f}",
                _QUALITY_MEANINGS[name],
            ]
        )
    worst = (
        per_feature.groupby("feature", sort=False)[["wasserstein", "ks"]]
        .mean()
        .sort_values("ks", ascending=False)
        .head(QUALITY_FEATURES_SHOWN)
    )
    feature_rows = [
        [str(feature), f"{row['ks']:.3f}", f"{row['wasserstein']:.3f}"]
        for feature, row in worst.iterrows()
    ]
    seeds = len(quality)
    return "\n\n".join(
        [
            "## Quality of the synthetic rows",
            "The GAN's synthetic minority rows against the test split's "
            "real minority rows, which no fit has seen; distances on "
            "features standardised by the training minority rows. Mean "
            f"± standard deviation over {seeds} seed"
            f"{'s' if seeds != 1 else ''}; per seed in quality.csv.",
            markdown_table(["measure", "value", "reading"], rows),
            f"The {len(worst)} features least like the real ones (largest "
            "mean KS statistic):",
            markdown_table(
                ["feature", "KS statistic", "Wasserstein distance"],
                feature_rows,
            ),
        ]
    )


def gain_spread(metrics: pd.DataFrame) -> pd.DataFrame:
    """The GAN's AUPRC gain over no oversampling, seed by seed, summarized.

    Returns:
        One row per classifier with both `gan` and `none`: `n_seeds`,
        `mean, std` (the seed-to-seed standard deviation), `ci_low,
        ci_high` (bootstrap interval of the mean, as `statistics.summarize`),
        `min, max` and `n_positive` (seeds on which the GAN's AUPRC was
        higher); empty if the run lacks either method.
    """
    columns = ["classifier", "n_seeds", "mean", "std", "ci_low", "ci_high"]
    columns += ["min", "max", "n_positive"]
    wide = metrics.pivot_table(
        index=["seed", "classifier"],
        columns="oversampler",
        values="auprc",
        aggfunc="first",
    )
    if not {"gan", _BASELINE} <= set(wide.columns):
        return pd.DataFrame(columns=columns)
    gains = (wide["gan"] - wide[_BASELINE]).dropna().rename("auprc")
    gains = gains.reset_index().assign(oversampler="gan")
    summary = statistics.summarize(gains, metric="auprc")
    by_classifier = gains.groupby("classifier", sort=False)["auprc"]
    extremes = by_classifier.agg(
        min="min", max="max", n_positive=lambda values: int((values > 0).sum())
    ).reset_index()
    summary = summary.drop(columns="oversampler").merge(
        extremes, on="classifier"
    )
    order = statistics.in_order(metrics["classifier"])
    summary["order"] = summary["classifier"].map(order.index)
    return summary.sort_values("order")[columns].reset_index(drop=True)


def _spread_section(metrics: pd.DataFrame, rerun: RerunCheck) -> str:
    lines = ["## Spread across seeds", ""]
    lines.append(
        f"**{rerun.line()}** (its split, GAN and every fit made again from "
        "scratch, the GAN trained alone rather than among the other "
        "seeds; every metric but the fit time compared exactly)."
    )
    spread = gain_spread(metrics)
    if spread.empty:
        lines += [
            "",
            "The GAN's gain over no oversampling needs both 'gan' and "
            "'none' among the oversamplers; this study lacks one.",
        ]
        return "\n".join(lines)
    lines += [
        "",
        "The GAN's AUPRC gain over no oversampling, seed by seed: its "
        "mean, the seed-to-seed standard deviation, the bootstrap interval "
        "of the mean, the range, and the seeds on which the GAN helped. A "
        "spread larger than the mean says that one seed's verdict decides "
        "nothing.",
        "",
    ]
    header = ["classifier", "mean gain", "std across seeds", "95 % interval"]
    header += ["lowest", "highest", "seeds with a gain"]
    rows = [
        [
            row["classifier"],
            f"{row['mean']:+.4f}",
            "" if math.isnan(row["std"]) else f"{row['std']:.4f}",
            f"{row['ci_low']:+.4f} to {row['ci_high']:+.4f}",
            f"{row['min']:+.4f}",
            f"{row['max']:+.4f}",
            f"{row['n_positive']} of {row['n_seeds']}",
        ]
        for _, row in spread.iterrows()
    ]
    lines.append(markdown_table(header, rows))
    return "\n".join(lines)


def _verdict_section(result: RunResult) -> str:
    oversamplers = set(result.metrics["oversampler"])
    lines = ["## Verdict", ""]
    if "gan" not in oversamplers:
        lines.append(
            "No GAN was trained in this run ('gan' is not among the "
            "oversamplers), so there is no verdict on GAN augmentation; "
            "the tables below compare the oversamplers that were run."
        )
    elif _BASELINE not in oversamplers:
        lines.append(
            "The run has no fits without oversampling ('none' is not among "
            "the oversamplers), so there is no verdict on GAN augmentation "
            "against them; the tables below compare the oversamplers that "
            "were run."
        )
    else:
        lines.append(
            "AUPRC on the test split, GAN augmentation against no "
            "oversampling and against the best classical oversampler of "
            "each classifier (paired by seed, two-sided Wilcoxon "
            "signed-rank test):"
        )
        lines.append("")
        for classifier, sentence in statistics.verdicts(result.metrics).items():
            lines.append(f"- **{classifier}**: {sentence}")
    return "\n".join(lines)


def _run_section(
    result: RunResult, settings: RunSettings, data_description: str
) -> str:
    oversamplers = ", ".join(
        f"{statistics.display_name(name)} (`{name}`)"
        for name in settings.oversamplers
    )
    seeds = ", ".join(str(seed) for seed in settings.seeds)
    lines = [
        "## What was run",
        "",
        f"- Data: {data_description}",
        f"- Rows: {_rows_text(result)}",
        f"- Oversamplers: {oversamplers}",
        f"- Classifiers: {', '.join(settings.classifiers)}",
        f"- Seeds: {seeds}; each seed fixes the split, the GAN's key and "
        "every random state of its fits.",
        f"- Test share: {settings.test_size:g} of each class",
        f"- Minority / majority ratio after oversampling: {settings.ratio:g}",
    ]
    if "class-weight" in settings.oversamplers:
        lines.append(
            f"- Class weights of `class-weight`: {settings.class_weight}"
        )
    if "gan" in settings.oversamplers:
        lines.append(f"- GAN training steps per seed: {settings.gan_steps}")
        if settings.gan_select_every is not None:
            chosen = ", ".join(
                f"seed {seed}: step {gan.selected_step}"
                for seed, gan in result.gans.items()
            )
            lines.append(
                "- GAN model selection: every "
                f"{settings.gan_select_every} steps, the rows of each GAN "
                "were measured against its training minority rows (mean "
                "Wasserstein distance of the features); it sampled from "
                "the closest step, or from the last where no step was "
                f"measured ({chosen})"
            )
        lines.append(f"- GAN configuration: `{settings.gan}`")
    return "\n".join(lines)


def _rows_text(result: RunResult) -> str:
    """Split sizes, read back from the first fit's counts."""
    first = result.metrics.iloc[0]
    test_rows = int(first["tn"] + first["fp"] + first["fn"] + first["tp"])
    test_minority = int(first["fn"] + first["tp"])
    train_rows = int(first["n_train"] - first["n_synthetic"])
    text = (
        f"{train_rows + test_rows} per seed, {train_rows} for training and "
        f"{test_rows} for testing ({test_minority} minority rows in the "
        "test split)"
    )
    if result.gans:
        real = next(iter(result.gans.values())).real
        text += f"; the GAN learns from the {len(real)} training minority rows"
    return text + "."


def _auprc_section(summary: pd.DataFrame) -> str:
    header = [
        "classifier",
        "method",
        "AUPRC mean ± std",
        "95 % interval",
        "vs. no oversampling",
        "p",
    ]
    rows = []
    for row in _by_classifier(summary):
        has_difference = not math.isnan(row["diff_vs_none"])
        rows.append(
            [
                row["classifier"],
                statistics.display_name(row["oversampler"]),
                mean_std(row["mean_auprc"], row["std_auprc"]),
                f"{row['ci_low_auprc']:.3f} to {row['ci_high_auprc']:.3f}",
                f"{row['diff_vs_none']:+.3f}" if has_difference else "",
                _p_cell(row["p_vs_none"]) if has_difference else "",
            ]
        )
    intro = (
        "Area under the precision-recall curve on the test split. Mean and "
        "sample standard deviation over seeds; the interval is a percentile "
        "bootstrap of the mean over seeds, which with a handful of seeds is "
        "too narrow to be trusted as a 95 % interval; the difference to no "
        "oversampling is the mean of the per-seed differences, and p is "
        "the two-sided Wilcoxon signed-rank test of those differences."
    )
    return "\n\n".join(["## AUPRC", intro, markdown_table(header, rows)])


def _other_metrics_section(summary: pd.DataFrame) -> str:
    header = ["classifier", "method", *OTHER_METRICS.values()]
    rows = [
        [row["classifier"], statistics.display_name(row["oversampler"])]
        + [f"{row[f'mean_{name}']:.3f}" for name in OTHER_METRICS]
        for row in _by_classifier(summary)
    ]
    intro = (
        "Means over seeds on the test split. Precision, recall and F1 take "
        "the minority class at a score of 0.5 or more; ROC AUC and recall "
        "at precision 0.9 use every threshold (recall at precision 0.9 is 0 "
        "where no threshold reaches that precision)."
    )
    return "\n\n".join(
        ["## Other metrics", intro, markdown_table(header, rows)]
    )


def _p_value_section(summary: pd.DataFrame) -> str:
    n_seeds = int(summary["n_seeds"].min())
    comparisons = int(summary["diff_vs_none"].notna().sum())
    general = (
        "With n seeds the exact two-sided Wilcoxon signed-rank test cannot "
        "give a p-value below 2 / 2^n, reached only when every seed moves "
        "the same way: with 3 seeds the smallest p is 0.25, with 5 seeds "
        "0.0625, and 6 seeds are the fewest that can reach 0.05."
    )
    if n_seeds >= 2:
        smallest = 2.0 / 2.0**n_seeds
        reach = "can" if smallest <= 0.05 else "cannot"
        this_run = (
            f"This run has {n_seeds} seeds, so its smallest possible p is "
            f"{smallest:.3g} and it {reach} show a difference at the 0.05 "
            "level."
        )
    else:
        this_run = "This run has 1 seed, so no test was possible."
    caution = (
        "A large p-value with few seeds means the run could not tell the "
        "methods apart, not that they are equal."
    )
    if comparisons > 1:
        caution += (
            f" The p-values are not corrected for the {comparisons} "
            "comparisons in the table, so some small ones are expected by "
            "chance alone."
        )
    return "\n\n".join(
        ["## Reading the p-values", f"{general} {this_run} {caution}"]
    )


def _figures_section(drawn: list[str], skipped: dict[str, str]) -> str:
    parts = ["## Figures"]
    for name in drawn:
        alt = name.removesuffix(".png").replace("_", " ")
        parts.append(f"![{alt}](figures/{name})\n\n*{_CAPTIONS[name]}*")
    if skipped:
        lines = ["Not drawn:", ""]
        lines += [f"- `{name}`: {why}" for name, why in skipped.items()]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _by_classifier(summary: pd.DataFrame) -> list[pd.Series]:
    """Summary rows grouped by classifier, methods in run order."""
    return [
        row
        for _, group in summary.groupby("classifier", sort=False)
        for _, row in group.iterrows()
    ]


def _p_cell(p_value: float) -> str:
    return statistics.format_p_value(p_value).removeprefix("p = ")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" --- " for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _write_figures(
    result: RunResult,
    figures_dir: pathlib.Path,
    feature_names: Sequence[str],
    *,
    study: bool = False,
) -> tuple[list[str], dict[str, str]]:
    """Draws and saves every figure the result allows.

    Returns:
        The file names drawn, in report order, and for each figure left
        out the reason.
    """
    drawers: dict[str, Callable[[], Figure]] = {
        "precision_recall.png": lambda: draw_precision_recall(result),
        "auprc_by_method.png": lambda: draw_auprc_by_method(result.metrics),
    }
    if study:
        drawers["auprc_boxplots.png"] = lambda: draw_auprc_boxplots(
            result.metrics
        )
    skipped = {}
    if result.gans:
        first = result.gans[min(result.gans)]
        drawers["gan_losses.png"] = lambda: draw_gan_losses(
            {seed: gan.history for seed, gan in result.gans.items()}
        )
        if first.real.shape[1] >= 2 and len(first.real) >= 2:
            drawers["real_vs_synthetic_pca.png"] = lambda: (
                draw_real_vs_synthetic_pca(first.real, first.synthetic)
            )
        else:
            skipped["real_vs_synthetic_pca.png"] = (
                "two principal components need at least two features and "
                "two real minority rows."
            )
        drawers["feature_histograms.png"] = lambda: draw_feature_histograms(
            first.real, first.synthetic, feature_names
        )
    else:
        for name in _GAN_FIGURES:
            skipped[name] = (
                "no GAN was trained in this run ('gan' is not among the "
                "oversamplers)."
            )
    drawers["confusion_matrices.png"] = lambda: draw_confusion_matrices(
        result.metrics
    )

    for name, draw in drawers.items():
        figure = draw()
        figure.savefig(figures_dir / name, dpi=DPI)
    drawn = [name for name in _CAPTIONS if name in drawers]
    return drawn, skipped


def draw_precision_recall(result: RunResult) -> Figure:
    """Precision-recall curves of the first seed, one panel per classifier."""
    metrics = result.metrics
    first_seed = metrics["seed"].min()
    first = metrics[metrics["seed"] == first_seed]
    classifiers = statistics.in_order(metrics["classifier"])
    colors = _method_colors(statistics.in_order(metrics["oversampler"]))

    figure, axes = panels(len(classifiers), width=4.8, height=5.0)
    for ax, classifier in zip(axes, classifiers, strict=True):
        fits = first[first["classifier"] == classifier]
        for _, fit in fits.iterrows():
            curve = result.curves.get((fit["oversampler"], classifier))
            if curve is None:
                continue
            precision, recall = curve
            label = (
                f"{statistics.display_name(fit['oversampler'])} "
                f"(AUPRC {fit['auprc']:.3f})"
            )
            ax.plot(
                recall,
                precision,
                drawstyle="steps-post",
                color=colors[fit["oversampler"]],
                linewidth=1.2,
                label=label,
            )
        fit = fits.iloc[0]
        prevalence = (fit["fn"] + fit["tp"]) / (
            fit["tn"] + fit["fp"] + fit["fn"] + fit["tp"]
        )
        ax.axhline(prevalence, color="0.5", linestyle=":", linewidth=1)
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1.02),
            xlabel="recall",
            ylabel="precision",
            title=f"{classifier}, seed {first_seed}",
        )
        ax.grid(alpha=0.3)
        # Below the panel: inside it the legend would hide the curves' tails.
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.14),
            ncols=2,
            fontsize=7,
        )
    return figure


def draw_auprc_by_method(metrics: pd.DataFrame) -> Figure:
    """Test AUPRC of every seed and its mean, per method and classifier."""
    classifiers = statistics.in_order(metrics["classifier"])
    oversamplers = statistics.in_order(metrics["oversampler"])
    colors = _method_colors(oversamplers)
    positions = {name: i for i, name in enumerate(oversamplers)}

    height = 1.2 + 0.4 * len(oversamplers)
    figure, axes = panels(len(classifiers), width=3.8, height=height)
    for ax, classifier in zip(axes, classifiers, strict=True):
        fits = metrics[metrics["classifier"] == classifier]
        for oversampler, group in fits.groupby("oversampler", sort=False):
            y = positions[oversampler]
            values = group["auprc"].to_numpy()
            # A small fixed vertical offset per seed keeps equal values
            # apart without any randomness.
            offsets = np.linspace(-0.15, 0.15, len(values))
            color = colors[oversampler]
            ax.scatter(values, y + offsets, s=18, color=color, zorder=3)
            ax.vlines(values.mean(), y - 0.3, y + 0.3, color=color, lw=2)
        _label_methods(ax, oversamplers, classifier)
    for ax in axes[1:]:
        ax.tick_params(labelleft=False)
    return figure


def draw_auprc_boxplots(metrics: pd.DataFrame) -> Figure:
    """Box plots of test AUPRC across seeds, per method and classifier."""
    classifiers = statistics.in_order(metrics["classifier"])
    oversamplers = statistics.in_order(metrics["oversampler"])
    colors = _method_colors(oversamplers)
    height = 1.2 + 0.45 * len(oversamplers)
    figure, axes = panels(len(classifiers), width=3.8, height=height)
    for ax, classifier in zip(axes, classifiers, strict=True):
        fits = metrics[metrics["classifier"] == classifier]
        values = [
            fits.loc[fits["oversampler"] == name, "auprc"].to_numpy()
            for name in oversamplers
        ]
        boxes = ax.boxplot(
            values,
            positions=range(len(oversamplers)),
            orientation="horizontal",
            widths=0.6,
            showfliers=False,
            patch_artist=True,
            medianprops={"color": "black"},
        )
        for box, name in zip(boxes["boxes"], oversamplers, strict=True):
            box.set(facecolor=(*colors[name][:3], 0.35))
        for y, (name, seeds) in enumerate(
            zip(oversamplers, values, strict=True)
        ):
            offsets = np.linspace(-0.12, 0.12, len(seeds)) if len(seeds) else []
            ax.scatter(seeds, y + offsets, s=10, color=colors[name], zorder=3)
        _label_methods(ax, oversamplers, classifier)
    for ax in axes[1:]:
        ax.tick_params(labelleft=False)
    return figure


def draw_gan_losses(histories: dict[int, dict[str, np.ndarray]]) -> Figure:
    """The GANs' d_loss and g_loss per step, one line per seed.

    Args:
        histories: per seed, the training metrics of its GAN.
    """
    figure, axes = panels(2, width=5.0, height=3.6)
    colors = colormaps["tab10"]
    for ax, name, label in zip(
        axes,
        ("d_loss", "g_loss"),
        ("discriminator loss", "generator loss"),
        strict=True,
    ):
        for i, (seed, history) in enumerate(sorted(histories.items())):
            values = np.asarray(history.get(name, []), np.float64)
            if values.size == 0:
                continue
            steps = np.arange(1, len(values) + 1)
            color = colors(i % 10)
            ax.plot(steps, values, color=color, alpha=0.2, linewidth=0.8)
            ax.plot(
                steps,
                moving_average(values, max(1, len(values) // 50)),
                color=color,
                linewidth=1.5,
                label=f"seed {seed}",
            )
        ax.set(xlabel="step", ylabel=label, title=label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return figure


def draw_real_vs_synthetic_pca(
    real: np.ndarray, synthetic: np.ndarray
) -> Figure:
    """Real and synthetic rows on the real rows' first two components.

    Args:
        real: (rows, features) real minority rows; the scaler and the PCA
            are fitted on these only.
        synthetic: (rows, features) synthetic minority rows.
    """
    rng = np.random.default_rng(0)
    real = _subsample(real, MAX_SCATTER_POINTS, rng)
    synthetic = _subsample(synthetic, MAX_SCATTER_POINTS, rng)
    scaler = StandardScaler().fit(real)
    pca = PCA(n_components=2, svd_solver="full").fit(scaler.transform(real))

    figure = Figure(figsize=(6.0, 5.2), layout="constrained")
    ax = figure.subplots()
    for rows, color, label in (
        (real, _REAL_COLOR, "real"),
        (synthetic, _SYNTHETIC_COLOR, "synthetic"),
    ):
        if len(rows) == 0:
            continue
        points = pca.transform(scaler.transform(rows))
        ax.scatter(
            points[:, 0],
            points[:, 1],
            s=8,
            alpha=0.5,
            color=color,
            linewidths=0,
            label=f"{label} ({len(rows)} rows)",
        )
    share = pca.explained_variance_ratio_ * 100
    ax.set(
        xlabel=f"PC 1 ({share[0]:.0f} % of the real rows' variance)",
        ylabel=f"PC 2 ({share[1]:.0f} % of the real rows' variance)",
        title="Minority rows, first seed",
    )
    ax.grid(alpha=0.3)
    ax.legend(markerscale=2)
    return figure


def draw_feature_histograms(
    real: np.ndarray,
    synthetic: np.ndarray,
    feature_names: Sequence[str],
) -> Figure:
    """Densities of each feature, real against synthetic, in a grid.

    Args:
        real: (rows, features) real minority rows.
        synthetic: (rows, features) synthetic minority rows.
        feature_names: one name per feature.
    """
    num_features = min(real.shape[1], MAX_HISTOGRAM_FEATURES)
    columns = min(num_features, _HISTOGRAM_COLUMNS)
    rows = math.ceil(num_features / columns)
    figure = Figure(
        figsize=(2.1 * columns, 1.6 * rows + 0.6), layout="constrained"
    )
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()

    for i, ax in enumerate(axes):
        if i >= num_features:
            ax.set_axis_off()
            continue
        bins = _shared_bins(real[:, i], synthetic[:, i])
        for values, color in (
            (real[:, i], _REAL_COLOR),
            (synthetic[:, i], _SYNTHETIC_COLOR),
        ):
            if len(values):
                ax.hist(
                    values,
                    bins=bins,
                    density=True,
                    histtype="stepfilled",
                    alpha=0.45,
                    color=color,
                )
        ax.set_title(str(feature_names[i]), fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_yticks([])

    title = "Minority rows, first seed (density)"
    if real.shape[1] > num_features:
        title += f", first {num_features} of {real.shape[1]} features"
    figure.suptitle(title, fontsize=10)
    figure.legend(
        handles=[
            _patch(_REAL_COLOR, f"real ({len(real)} rows)"),
            _patch(_SYNTHETIC_COLOR, f"synthetic ({len(synthetic)} rows)"),
        ],
        loc="outside lower center",
        fontsize=8,
        ncols=2,
    )
    return figure


def draw_confusion_matrices(metrics: pd.DataFrame) -> Figure:
    """Confusion matrices summed over seeds, per classifier.

    Each row of panels is one classifier: no oversampling, then the other
    method with the highest mean AUPRC for that classifier.
    """
    classifiers = statistics.in_order(metrics["classifier"])
    pairs = [(c, _methods_to_show(metrics, c)) for c in classifiers]
    columns = max(len(methods) for _, methods in pairs)
    figure = Figure(
        figsize=(3.6 * columns, 3.0 * len(classifiers)), layout="constrained"
    )
    axes = np.atleast_2d(figure.subplots(len(classifiers), columns))
    if columns == 1:
        axes = axes.reshape(len(classifiers), 1)

    for row_axes, (classifier, methods) in zip(axes, pairs, strict=True):
        for ax, (role, oversampler) in zip(row_axes, methods, strict=False):
            fits = metrics[
                (metrics["classifier"] == classifier)
                & (metrics["oversampler"] == oversampler)
            ]
            counts = np.array(
                [
                    [fits["tn"].sum(), fits["fp"].sum()],
                    [fits["fn"].sum(), fits["tp"].sum()],
                ]
            )
            title = (
                f"{classifier}: {statistics.display_name(oversampler)}\n"
                f"{role}, {len(fits)} seeds"
            )
            _draw_confusion_matrix(ax, counts, title)
        for ax in row_axes[len(methods) :]:
            ax.set_axis_off()
    return figure


def _methods_to_show(
    metrics: pd.DataFrame, classifier: str
) -> list[tuple[str, str]]:
    """[(role, oversampler)]: the baseline and the best other method."""
    fits = metrics[metrics["classifier"] == classifier]
    means = fits.groupby("oversampler", sort=False)["auprc"].mean()
    methods = []
    if _BASELINE in means.index:
        methods.append(("baseline", _BASELINE))
    others = means.drop(_BASELINE, errors="ignore")
    if len(others):
        # idxmax keeps the first of equal means, that is the run's order.
        methods.append(("best oversampler by mean AUPRC", others.idxmax()))
    return methods


def _draw_confusion_matrix(ax, counts: np.ndarray, title: str) -> None:
    """A 2 x 2 heatmap shaded by share of the true class, counts written."""
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(
        counts, totals, out=np.zeros(counts.shape), where=totals > 0
    )
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(counts):
        ax.text(
            j,
            i,
            f"{count:,}\n{shares[i, j]:.1%}",
            ha="center",
            va="center",
            fontsize=9,
            color="white" if shares[i, j] > 0.6 else "black",
        )
    ax.set_xticks([0, 1], ["majority", "minority"])
    ax.set_yticks([0, 1], ["majority", "minority"])
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.set_title(title, fontsize=9)


def panels(count: int, *, width: float, height: float):
    """A constrained-layout figure with `count` panels side by side."""
    figure = Figure(figsize=(width * count, height), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, count)).ravel()
    return figure, list(axes)


def _method_colors(oversamplers: list[str]) -> dict[str, tuple]:
    """One colour per method, the same in every figure of a report."""
    palette = colormaps["tab10"]
    return {name: palette(i % 10) for i, name in enumerate(oversamplers)}


def _label_methods(ax, oversamplers: list[str], classifier: str) -> None:
    """One row per method, top to bottom, AUPRC along the x axis."""
    ax.set_yticks(
        range(len(oversamplers)),
        [statistics.display_name(name) for name in oversamplers],
    )
    ax.set_ylim(len(oversamplers) - 0.5, -0.5)
    ax.set(xlabel="test AUPRC", title=classifier)
    ax.grid(axis="x", alpha=0.3)


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over up to `window` values, same length as `values`."""
    sums = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def _subsample(
    rows: np.ndarray, limit: int, rng: np.random.Generator
) -> np.ndarray:
    if len(rows) <= limit:
        return rows
    return rows[np.sort(rng.choice(len(rows), size=limit, replace=False))]


def _shared_bins(real: np.ndarray, synthetic: np.ndarray) -> np.ndarray:
    """Bin edges over the real range, widened to cover the synthetic one."""
    values = np.concatenate([real, synthetic]).astype(np.float64)
    values = values[np.isfinite(values)]
    low, high = (values.min(), values.max()) if values.size else (0.0, 1.0)
    if low == high:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, _HISTOGRAM_BINS + 1)


def _patch(color: str, label: str) -> Patch:
    return Patch(color=color, alpha=0.45, label=label)
