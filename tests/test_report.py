"""Tests for the report: summary.csv, report.md, figures, terminal table."""

import re

import numpy as np
import pandas as pd
import pytest

from gan_jax import statistics
from gan_jax.config import RunSettings
from gan_jax.evaluation import METRIC_COLUMNS, RerunCheck, RunResult, SeedGAN
from gan_jax.quality import SUMMARY_NAMES, synthetic_quality
from gan_jax.report import (
    OTHER_METRICS,
    gain_spread,
    summary_table,
    write_report,
)

SEEDS = (0, 1, 2)
OVERSAMPLERS = ("none", "smote", "gan")
CLASSIFIERS = ("logistic-regression", "random-forest")
FEATURE_NAMES = ("amount", "hour", "merchant risk", "distance")
FIGURES = (
    "precision_recall.png",
    "auprc_by_method.png",
    "gan_losses.png",
    "real_vs_synthetic_pca.png",
    "feature_histograms.png",
    "confusion_matrices.png",
)
GAN_FIGURES = (
    "gan_losses.png",
    "real_vs_synthetic_pca.png",
    "feature_histograms.png",
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _fake_result(oversamplers=OVERSAMPLERS, seeds=SEEDS) -> RunResult:
    """A small hand-made result with seeded random metrics."""
    rng = np.random.default_rng(1234)
    rows = []
    for seed in seeds:
        for oversampler in oversamplers:
            for classifier in CLASSIFIERS:
                tp, fn = rng.integers(5, 25, size=2)
                tn, fp = rng.integers(900, 1000), rng.integers(0, 30)
                row = {name: rng.uniform(0.3, 0.9) for name in METRIC_COLUMNS}
                row.update(
                    seed=seed,
                    oversampler=oversampler,
                    classifier=classifier,
                    tn=tn,
                    fp=fp,
                    fn=fn,
                    tp=tp,
                    n_train=1000 + (50 if oversampler != "none" else 0),
                    n_synthetic=50 if oversampler != "none" else 0,
                )
                rows.append(row)
    metrics = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))

    recall = np.linspace(1.0, 0.0, 12)
    curves = {
        (oversampler, classifier): (
            np.sort(rng.uniform(0.05, 1.0, 12)),
            recall,
        )
        for oversampler in oversamplers
        for classifier in CLASSIFIERS
    }
    gans = {}
    if "gan" in oversamplers:
        for seed in seeds:
            history = {
                "d_loss": rng.uniform(0.4, 0.7, 40).astype(np.float32),
                "g_loss": rng.uniform(0.8, 1.6, 40).astype(np.float32),
            }
            real = rng.normal(size=(40, len(FEATURE_NAMES)))
            synthetic = rng.normal(0.2, 1.1, size=(60, len(FEATURE_NAMES)))
            held_out = rng.normal(size=(30, len(FEATURE_NAMES)))
            gans[seed] = SeedGAN(history, real, synthetic, held_out)
    return RunResult(metrics=metrics, gans=gans, curves=curves)


def _settings(oversamplers, num_seeds) -> RunSettings:
    return RunSettings(
        oversamplers=oversamplers,
        classifiers=CLASSIFIERS,
        num_seeds=num_seeds,
        gan_steps=40,
    )


def _write(directory, oversamplers=OVERSAMPLERS, seeds=SEEDS, result=None):
    result = result or _fake_result(oversamplers, seeds)
    write_report(
        result,
        _settings(oversamplers, len(seeds)),
        directory,
        title="Test report",
        data_description="a hand-made table of 4 features",
        feature_names=FEATURE_NAMES,
    )
    return result


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """(result, directory) of a report with a GAN."""
    directory = tmp_path_factory.mktemp("with_gan")
    return _write(directory), directory


@pytest.fixture(scope="module")
def report_without_gan(tmp_path_factory):
    """(result, directory) of a report of a run without a GAN."""
    directory = tmp_path_factory.mktemp("without_gan")
    return _write(directory, oversamplers=("none", "smote")), directory


def test_write_report_creates_every_file(report):
    _, directory = report
    assert (directory / "summary.csv").is_file()
    assert (directory / "report.md").is_file()
    for name in FIGURES:
        assert (directory / "figures" / name).is_file(), name


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_is_a_non_empty_png(report, name):
    _, directory = report
    content = (directory / "figures" / name).read_bytes()
    assert content[:8] == PNG_SIGNATURE
    assert len(content) > 1024


def test_summary_csv_has_one_row_per_oversampler_and_classifier(report):
    _, directory = report
    summary = pd.read_csv(directory / "summary.csv")
    expected_columns = [
        "oversampler",
        "classifier",
        "n_seeds",
        "mean_auprc",
        "std_auprc",
        "ci_low_auprc",
        "ci_high_auprc",
        *(f"mean_{name}" for name in OTHER_METRICS),
        "diff_vs_none",
        "p_vs_none",
    ]
    assert list(summary.columns) == expected_columns
    pairs = zip(summary["oversampler"], summary["classifier"], strict=True)
    assert list(pairs) == [
        (oversampler, classifier)
        for oversampler in OVERSAMPLERS
        for classifier in CLASSIFIERS
    ]
    assert (summary["n_seeds"] == len(SEEDS)).all()


def test_summary_csv_means_equal_the_metrics_means(report):
    result, directory = report
    summary = pd.read_csv(directory / "summary.csv")
    means = result.metrics.groupby(["oversampler", "classifier"]).mean(
        numeric_only=True
    )
    for _, row in summary.iterrows():
        expected = means.loc[(row["oversampler"], row["classifier"])]
        assert row["mean_auprc"] == pytest.approx(expected["auprc"])
        for name in OTHER_METRICS:
            assert row[f"mean_{name}"] == pytest.approx(expected[name])


def test_summary_csv_difference_is_the_mean_paired_difference(report):
    result, directory = report
    summary = pd.read_csv(directory / "summary.csv")
    wide = result.metrics.pivot_table(
        index=["classifier", "seed"], columns="oversampler", values="auprc"
    )
    for _, row in summary.iterrows():
        if row["oversampler"] == "none":
            assert np.isnan(row["diff_vs_none"])
            assert np.isnan(row["p_vs_none"])
            continue
        per_seed = wide.loc[row["classifier"]]
        expected = (per_seed[row["oversampler"]] - per_seed["none"]).mean()
        assert row["diff_vs_none"] == pytest.approx(expected)
        assert 0 < row["p_vs_none"] <= 1


def test_report_opens_with_the_verdict_of_each_classifier(report):
    result, directory = report
    text = (directory / "report.md").read_text()
    first_table = text.index("## What was run")
    for classifier, sentence in statistics.verdicts(result.metrics).items():
        position = text.index(sentence)
        assert position < first_table
        assert classifier in text[:position].splitlines()[-1] + sentence


def test_report_names_every_method(report):
    _, directory = report
    text = (directory / "report.md").read_text()
    for oversampler in OVERSAMPLERS:
        assert statistics.display_name(oversampler) in text


def test_report_links_every_figure_with_a_relative_path(report):
    _, directory = report
    text = (directory / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(links) == sorted(f"figures/{name}" for name in FIGURES)
    for link in links:
        assert (directory / link).is_file()


def test_report_states_the_smallest_p_value_of_three_seeds(report):
    _, directory = report
    text = (directory / "report.md").read_text()
    assert "smallest possible p is 0.25" in text


def test_report_without_gan_leaves_out_the_gan_figures(report_without_gan):
    _, directory = report_without_gan
    for name in GAN_FIGURES:
        assert not (directory / "figures" / name).exists()
    for name in set(FIGURES) - set(GAN_FIGURES):
        assert (directory / "figures" / name).is_file()


def test_report_without_gan_says_why_figures_are_missing(report_without_gan):
    _, directory = report_without_gan
    text = (directory / "report.md").read_text()
    assert "no verdict on GAN augmentation" in text
    for name in GAN_FIGURES:
        assert f"figures/{name}" not in text
        line = next(line for line in text.splitlines() if name in line)
        assert "no GAN was trained" in line


def test_report_files_are_the_same_when_written_twice(report, tmp_path):
    _, directory = report
    _write(tmp_path)
    for name in ("summary.csv", "report.md"):
        assert (tmp_path / name).read_bytes() == (directory / name).read_bytes()


def test_one_seed_gives_a_report_without_tests(tmp_path):
    _write(tmp_path, seeds=(0,))
    text = (tmp_path / "report.md").read_text()
    assert "too few seeds for a p-value" in text
    assert "This run has 1 seed, so no test was possible." in text


def test_summary_table_names_every_method_and_classifier(report):
    result, _ = report
    table = summary_table(result)
    for oversampler in OVERSAMPLERS:
        assert statistics.display_name(oversampler) in table
    for classifier in CLASSIFIERS:
        assert classifier in table


def test_summary_table_cells_show_mean_std_difference_and_p(report):
    result, _ = report
    lines = summary_table(result).splitlines()
    gan_line = next(line for line in lines if line.startswith("GAN"))
    cell = r"\d\.\d{3} ± \d\.\d{3} \([+-]\d\.\d{3}, p=[\d.]+\)"
    assert len(re.findall(cell, gan_line)) == len(CLASSIFIERS)
    none_line = next(line for line in lines if line.startswith("no over"))
    assert "p=" not in none_line


# --- studies: the spread across seeds ----------------------------------------


def _gain_metrics(gains: dict[str, list[float]]) -> pd.DataFrame:
    """AUPRC rows where `none` scores 0.5 and `gan` 0.5 + the gain."""
    rows = []
    for classifier, values in gains.items():
        for seed, gain in enumerate(values):
            rows.append((seed, "none", classifier, 0.5))
            rows.append((seed, "gan", classifier, 0.5 + gain))
    return pd.DataFrame(
        rows, columns=["seed", "oversampler", "classifier", "auprc"]
    )


def test_gain_spread_matches_hand_computed_values():
    metrics = _gain_metrics(
        {"random-forest": [0.02, -0.01, 0.05, 0.0], "lr": [0.1, 0.3]}
    )
    spread = gain_spread(metrics).set_index("classifier")
    assert list(spread.index) == ["random-forest", "lr"]
    forest = spread.loc["random-forest"]
    assert forest["n_seeds"] == 4 and forest["n_positive"] == 2
    # Gains 0.02, -0.01, 0.05, 0.00: mean 0.015; squared deviations
    # 0.000025 + 0.000625 + 0.001225 + 0.000225 = 0.0021, / 3 = 0.0007.
    assert forest["mean"] == pytest.approx(0.015)
    assert forest["std"] == pytest.approx(0.0007**0.5)
    assert (forest["min"], forest["max"]) == pytest.approx((-0.01, 0.05))
    assert -0.01 <= forest["ci_low"] <= 0.015 <= forest["ci_high"] <= 0.05
    lr = spread.loc["lr"]
    assert lr["mean"] == pytest.approx(0.2)
    assert lr["std"] == pytest.approx(0.02**0.5)  # (0.1² + 0.1²) / 1


def test_gain_spread_is_empty_without_gan_or_none():
    metrics = _gain_metrics({"lr": [0.1, 0.2]})
    assert gain_spread(metrics[metrics["oversampler"] == "gan"]).empty
    assert gain_spread(metrics[metrics["oversampler"] == "none"]).empty


def test_a_study_report_adds_box_plots_the_spread_and_the_rerun(tmp_path):
    result = _fake_result()
    check = RerunCheck(seed=2, differences=())
    write_report(
        result,
        _settings(OVERSAMPLERS, len(SEEDS)),
        tmp_path,
        title="Study",
        data_description="a hand-made table",
        feature_names=FEATURE_NAMES,
        rerun=check,
    )
    report = (tmp_path / "report.md").read_text()
    assert "**re-run of seed 2: identical**" in report
    assert report.index("## Spread across seeds") < report.index("## AUPRC")
    assert "](figures/auprc_boxplots.png)" in report
    content = (tmp_path / "figures" / "auprc_boxplots.png").read_bytes()
    assert content[:8] == PNG_SIGNATURE
    for classifier in CLASSIFIERS:
        assert f"| {classifier} | " in report.split("## What was run")[0]


def test_a_plain_report_has_no_study_parts(report):
    _, directory = report
    assert "Spread across seeds" not in (directory / "report.md").read_text()
    assert not (directory / "figures" / "auprc_boxplots.png").exists()


def test_the_quality_of_the_synthetic_rows_is_in_the_report(report):
    result, directory = report
    quality = pd.read_csv(directory / "quality.csv")
    assert list(quality["seed"]) == list(SEEDS)
    assert list(quality.columns) == ["seed", *SUMMARY_NAMES]
    # The rows the report measured are the result's own.
    first = result.gans[0]
    expected = synthetic_quality(
        first.held_out, first.synthetic, first.real, seed=0
    ).summary()
    for name, value in expected.items():
        assert quality.loc[0, name] == pytest.approx(value, rel=1e-12)
    markdown = (directory / "report.md").read_text()
    section = markdown.split("## Quality of the synthetic rows")[1]
    section = section.split("\n## ")[0]
    for label in SUMMARY_NAMES.values():
        assert label in section
    for name in FEATURE_NAMES:
        assert f"| {name} |" in section


def test_no_quality_section_without_held_out_rows(tmp_path):
    result = _fake_result()
    for gan in result.gans.values():
        gan.held_out = None
    _write(tmp_path, result=result)
    assert (
        "Quality of the synthetic rows"
        not in (tmp_path / "report.md").read_text()
    )
    assert not (tmp_path / "quality.csv").exists()
