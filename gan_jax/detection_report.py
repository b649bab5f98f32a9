"""The report of `gan-jax detect`: summary.csv, report.md and figures.

The counterpart of `gan_jax.report` for the unsupervised comparison: the
GAN detector against IsolationForest, LocalOutlierFactor and OneClassSVM,
AUPRC and ROC AUC on the test split, per seed and over seeds.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from gan_jax import statistics
from gan_jax.config import DetectSettings
from gan_jax.detectors import (
    DetectionResult,
    display_name,
    gan_against_others,
    summarize_detectors,
)
from gan_jax.report import (
    DPI,
    draw_gan_losses,
    markdown_table,
    mean_std,
    panels,
)

#: The metrics of the comparison, with the name a table shows.
METRICS = {"auprc": "AUPRC", "roc_auc": "ROC AUC"}

_CAPTIONS = {
    "scores_by_detector.png": (
        "Test AUPRC and ROC AUC of every seed (dots) and their mean over "
        "seeds (bar) per detector; the dotted line in the AUPRC panel is "
        "the share of rare test rows, what random scores reach."
    ),
    "precision_recall.png": (
        "Precision against recall on the test split of the first seed, one "
        "line per detector (with that seed's AUPRC in the legend)."
    ),
    "gan_scores.png": (
        "The GAN's anomaly scores of the first seed's test rows, common and "
        "rare rows apart (densities over shared bins); the further apart, "
        "the better the ranking."
    ),
    "gan_losses.png": (
        "The detectors' GAN losses at every training step, one colour per "
        "seed: faint lines are the raw values, solid lines a trailing "
        "moving average."
    ),
}

_HISTOGRAM_BINS = 40


def summary_frame(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per detector: each metric's mean, std and interval, the
    GAN's paired difference and p-value, and the mean seconds."""
    frame = None
    for metric in METRICS:
        summary = summarize_detectors(metrics, metric=metric)
        summary = summary.rename(
            columns={
                column: f"{metric}_{column}"
                for column in ("mean", "std", "ci_low", "ci_high")
            }
        )
        paired = gan_against_others(metrics, metric=metric).rename(
            columns={
                "mean_difference": f"{metric}_gan_minus_detector",
                "p_value": f"{metric}_p_value",
            }
        )
        summary = summary.merge(
            paired.drop(columns="n_pairs"), on="detector", how="left"
        )
        frame = (
            summary
            if frame is None
            else frame.merge(summary.drop(columns="n_seeds"), on="detector")
        )
    seconds = (
        metrics.groupby("detector", sort=False)[
            ["fit_seconds", "score_seconds"]
        ]
        .mean()
        .reset_index()
    )
    return frame.merge(seconds, on="detector")


def summary_table(metrics: pd.DataFrame) -> str:
    """The plain-text table the command line prints."""
    summary = summary_frame(metrics)
    with_gan = "gan" in set(metrics["detector"])
    header = ["detector", "AUPRC", "ROC AUC"]
    if with_gan:
        header.append("GAN - detector AUPRC")
    rows = [header]
    for _, row in summary.iterrows():
        cells = [
            display_name(row["detector"]),
            mean_std(row["auprc_mean"], row["auprc_std"]),
            mean_std(row["roc_auc_mean"], row["roc_auc_std"]),
        ]
        if with_gan:
            difference = row["auprc_gan_minus_detector"]
            cells.append(
                "—"
                if pd.isna(difference)
                else f"{difference:+.3f} "
                f"({statistics.format_p_value(row['auprc_p_value'])})"
            )
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) for cell, width in zip(r, widths, strict=True)
        )
        for r in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def write_detection_report(
    result: DetectionResult,
    settings: DetectSettings,
    out_dir: pathlib.Path,
    *,
    title: str,
    data_description: str,
) -> None:
    """Writes summary.csv, report.md and figures/*.png into `out_dir`."""
    out_dir = pathlib.Path(out_dir)
    figures_dir = out_dir / "figures"
    figures_dir.mkdir(exist_ok=True)
    summary = summary_frame(result.metrics)
    summary.to_csv(out_dir / "summary.csv", index=False)

    drawers = {
        "scores_by_detector.png": lambda: draw_scores_by_detector(
            result.metrics
        ),
        "precision_recall.png": lambda: draw_precision_recall(result),
    }
    if "gan" in result.anomaly_scores:
        drawers["gan_scores.png"] = lambda: draw_gan_scores(result)
        drawers["gan_losses.png"] = lambda: draw_gan_losses(result.histories)
    for name, draw in drawers.items():
        draw().savefig(figures_dir / name, dpi=DPI)

    sections = [
        f"# {title}",
        _verdict_section(result.metrics, settings),
        _run_section(result, settings, data_description),
        _metrics_section(summary),
        _paired_section(summary, result.metrics),
        "## Figures\n\n"
        + "\n\n".join(
            f"![{name}](figures/{name})\n\n{_CAPTIONS[name]}"
            for name in _CAPTIONS
            if name in drawers
        ),
    ]
    text = "\n\n".join(section for section in sections if section) + "\n"
    (out_dir / "report.md").write_text(text, encoding="utf-8")


def _verdict_section(metrics: pd.DataFrame, settings: DetectSettings) -> str:
    """One sentence per metric: the GAN against the best other detector."""
    if "gan" not in set(metrics["detector"]):
        return ""
    lines = ["## Verdict", ""]
    for metric, label in METRICS.items():
        summary = summarize_detectors(metrics, metric=metric).set_index(
            "detector"
        )
        others = summary.drop(index="gan")
        gan_mean = summary.loc["gan", "mean"]
        if others.empty:
            lines.append(f"- {label}: the GAN scored {gan_mean:.3f}.")
            continue
        best = others["mean"].idxmax()
        paired = gan_against_others(metrics, metric=metric).set_index(
            "detector"
        )
        difference = paired.loc[best, "mean_difference"]
        p_value = paired.loc[best, "p_value"]
        relation = "above" if difference > 0 else "below"
        if difference == 0:
            relation = "level with"
        significant = "significant" if p_value < 0.05 else "not significant"
        if math.isnan(p_value):
            significant = "no test possible"
        lines.append(
            f"- {label}: the GAN ({settings.score} score) scored "
            f"{gan_mean:.3f}, {abs(difference):.3f} {relation} the best "
            f"standard detector, {display_name(best)} "
            f"({others.loc[best, 'mean']:.3f}); "
            f"{statistics.format_p_value(p_value)}, {significant} at 0.05 "
            f"over {int(paired.loc[best, 'n_pairs'])} seeds."
        )
    if settings.num_seeds < 6:
        lines += [
            "",
            f"With {settings.num_seeds} seeds the two-sided signed-rank "
            "test cannot reach p < 0.05 (its smallest p-value is "
            f"{2 / 2**settings.num_seeds:.3g}); use --seeds 6 or more for "
            "a difference to be able to count as significant.",
        ]
    return "\n".join(lines)


def _run_section(
    result: DetectionResult, settings: DetectSettings, description: str
) -> str:
    first = result.metrics[result.metrics["seed"] == result.first_seed].iloc[0]
    detectors = ", ".join(
        f"{display_name(name)} (`{name}`)" for name in settings.detectors
    )
    lines = [
        "## What was run",
        "",
        f"- Data: {description}",
        f"- Fitted on: the {int(first['n_train'])} common-class rows of the "
        f"training split (seed {result.first_seed}); its rare rows and the "
        "test split are never used for fitting.",
        f"- Scored on: the {int(first['n_test'])} test rows, "
        f"{int(first['n_test_anomalies'])} of them rare (seed "
        f"{result.first_seed}); the rare class is the positive one.",
        f"- Detectors: {detectors}",
        f"- Seeds: {', '.join(map(str, settings.seeds))}; each fixes the "
        "split and every detector's random state.",
        f"- Test share: {settings.test_size:g} of each class",
    ]
    if "gan" in settings.detectors:
        lines += [
            f"- GAN score: `{settings.score}`; training steps per seed: "
            f"{settings.gan_steps}",
            f"- GAN configuration: `{settings.gan}`",
        ]
    lines.append(
        "- Standard detectors: scikit-learn's defaults; LocalOutlierFactor "
        "(novelty mode) and OneClassSVM on standardised features."
    )
    return "\n".join(lines)


def _metrics_section(summary: pd.DataFrame) -> str:
    header = ["detector", "seeds"]
    for label in METRICS.values():
        header += [f"{label} mean ± std", f"{label} 95 % interval"]
    header += ["fit s", "score s"]
    rows = []
    for _, row in summary.iterrows():
        cells = [display_name(row["detector"]), str(int(row["n_seeds"]))]
        for metric in METRICS:
            cells += [
                mean_std(row[f"{metric}_mean"], row[f"{metric}_std"]),
                f"[{row[f'{metric}_ci_low']:.3f}, "
                f"{row[f'{metric}_ci_high']:.3f}]",
            ]
        cells += [f"{row['fit_seconds']:.1f}", f"{row['score_seconds']:.1f}"]
        rows.append(cells)
    return (
        "## Scores on the test split\n\nMean over seeds, sample standard "
        "deviation, and the percentile bootstrap interval of the mean.\n\n"
        + markdown_table(header, rows)
    )


def _paired_section(summary: pd.DataFrame, metrics: pd.DataFrame) -> str:
    if "gan" not in set(metrics["detector"]) or len(summary) < 2:
        return ""
    header = ["detector"]
    for label in METRICS.values():
        header += [f"GAN − detector, {label}", "p"]
    rows = []
    for _, row in summary[summary["detector"] != "gan"].iterrows():
        cells = [display_name(row["detector"])]
        for metric in METRICS:
            cells += [
                f"{row[f'{metric}_gan_minus_detector']:+.3f}",
                statistics.format_p_value(
                    row[f"{metric}_p_value"]
                ).removeprefix("p = "),
            ]
        rows.append(cells)
    return (
        "## The GAN against each detector\n\nDifferences paired by seed "
        "(the same split for both); two-sided Wilcoxon signed-rank test, "
        "not corrected for the several comparisons.\n\n"
        + markdown_table(header, rows)
    )


def _colors(detectors: list[str]) -> dict[str, tuple]:
    palette = colormaps["tab10"]
    return {name: palette(i % 10) for i, name in enumerate(detectors)}


def draw_scores_by_detector(metrics: pd.DataFrame) -> Figure:
    """Per detector, every seed's AUPRC and ROC AUC and their means."""
    detectors = statistics.in_order(metrics["detector"])
    colors = _colors(detectors)
    figure, axes = panels(
        len(METRICS), width=4.6, height=0.6 * len(detectors) + 1.6
    )
    for ax, (metric, label) in zip(axes, METRICS.items(), strict=True):
        for position, detector in enumerate(detectors):
            values = metrics.loc[metrics["detector"] == detector, metric]
            ax.barh(
                position,
                values.mean(),
                color=colors[detector],
                alpha=0.35,
                height=0.6,
            )
            ax.scatter(
                values,
                np.full(len(values), position),
                color=colors[detector],
                s=18,
                zorder=3,
            )
        if metric == "auprc":
            share = (metrics["n_test_anomalies"] / metrics["n_test"]).mean()
            ax.axvline(share, color="grey", linestyle=":", linewidth=1)
        ax.set_yticks(
            range(len(detectors)), [display_name(d) for d in detectors]
        )
        ax.set_ylim(len(detectors) - 0.5, -0.5)
        ax.set(xlabel=f"test {label}", xlim=(0, 1), title=label)
        ax.grid(axis="x", alpha=0.3)
    for ax in axes[1:]:
        ax.tick_params(labelleft=False)
    return figure


def draw_precision_recall(result: DetectionResult) -> Figure:
    """The first seed's precision-recall curve of every detector."""
    figure, (ax,) = panels(1, width=5.5, height=4.2)
    colors = _colors(list(result.anomaly_scores))
    first = result.metrics[result.metrics["seed"] == result.first_seed]
    auprc = dict(zip(first["detector"], first["auprc"], strict=True))
    for detector, (precision, recall) in result.curves().items():
        ax.step(
            recall,
            precision,
            where="post",
            color=colors[detector],
            label=f"{display_name(detector)} (AUPRC {auprc[detector]:.3f})",
        )
    ax.axhline(
        result.test_labels.mean(), color="grey", linestyle=":", linewidth=1
    )
    ax.set(
        xlabel="recall",
        ylabel="precision",
        xlim=(0, 1),
        ylim=(0, 1.02),
        title=f"test split, seed {result.first_seed}",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure


def draw_gan_scores(result: DetectionResult) -> Figure:
    """Histograms of the GAN's anomaly scores, common and rare test rows."""
    figure, (ax,) = panels(1, width=5.5, height=3.6)
    scores = result.anomaly_scores["gan"]
    labels = result.test_labels
    edges = np.histogram_bin_edges(scores, bins=_HISTOGRAM_BINS)
    for value, name, color in (
        (0, "common", "tab:blue"),
        (1, "rare", "tab:red"),
    ):
        ax.hist(
            scores[labels == value],
            bins=edges,
            density=True,
            alpha=0.5,
            color=color,
            label=f"{name} rows ({int((labels == value).sum())})",
        )
    ax.set(
        xlabel="GAN anomaly score (higher: more abnormal)",
        ylabel="density",
        title=f"test split, seed {result.first_seed}",
    )
    ax.legend(fontsize=8)
    return figure
