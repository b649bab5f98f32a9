"""The report of gan-jax detect, from made-up results (no training)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gan_jax.config import DetectSettings
from gan_jax.detection_report import (
    summary_frame,
    summary_table,
    write_detection_report,
)
from gan_jax.detectors import DETECTION_COLUMNS, DetectionResult


def _result(detectors, num_seeds=6, gan_gain=0.2) -> DetectionResult:
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(num_seeds):
        for index, detector in enumerate(detectors):
            auprc = 0.3 + 0.05 * index + rng.uniform(0, 0.01)
            if detector == "gan":
                auprc += gan_gain
            rows.append(
                {
                    "seed": seed,
                    "detector": detector,
                    "auprc": auprc,
                    "roc_auc": 0.8 + 0.01 * index,
                    "n_train": 900,
                    "n_test": 400,
                    "n_test_anomalies": 20,
                    "fit_seconds": 1.0,
                    "score_seconds": 0.5,
                }
            )
    labels = np.r_[np.zeros(380, int), np.ones(20, int)]
    return DetectionResult(
        metrics=pd.DataFrame(rows, columns=list(DETECTION_COLUMNS)),
        first_seed=0,
        test_labels=labels,
        anomaly_scores={d: rng.normal(size=400) + labels for d in detectors},
        histories={
            seed: {"d_loss": np.ones(10), "g_loss": np.zeros(10)}
            for seed in range(num_seeds)
            if "gan" in detectors
        },
    )


STANDARD = ["isolation-forest", "local-outlier-factor", "one-class-svm"]


def test_the_report_names_the_best_standard_detector_and_the_gap(tmp_path):
    result = _result(["gan", *STANDARD])
    settings = DetectSettings(num_seeds=6)
    write_detection_report(
        result, settings, tmp_path, title="t", data_description="d"
    )
    report = (tmp_path / "report.md").read_text()
    # OneClassSVM is the best standard detector (AUPRC about 0.45); the
    # GAN gets about 0.30 + 0.2, above it on every seed.
    verdict = report.split("## Verdict")[1].split("##")[0]
    assert "above the best standard detector, OneClassSVM" in verdict
    assert "p = 0.031, significant at 0.05 over 6 seeds" in verdict
    assert "cannot reach" not in report
    assert {p.name for p in (tmp_path / "figures").iterdir()} == {
        "scores_by_detector.png",
        "precision_recall.png",
        "gan_scores.png",
        "gan_losses.png",
    }
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["detector"]) == ["gan", *STANDARD]
    assert np.isnan(summary.loc[0, "auprc_gan_minus_detector"])
    assert (summary["auprc_gan_minus_detector"].iloc[1:] > 0).all()


def test_without_a_gan_there_is_no_verdict_and_no_gan_figure(tmp_path):
    result = _result(STANDARD, num_seeds=2)
    write_detection_report(
        result,
        DetectSettings(detectors=tuple(STANDARD), num_seeds=2),
        tmp_path,
        title="t",
        data_description="d",
    )
    report = (tmp_path / "report.md").read_text()
    assert "## Verdict" not in report
    assert "The GAN against" not in report
    assert "GAN" not in summary_table(result.metrics)
    assert {p.name for p in (tmp_path / "figures").iterdir()} == {
        "scores_by_detector.png",
        "precision_recall.png",
    }


def test_the_printed_table_has_one_line_per_detector():
    metrics = _result(["gan", *STANDARD], num_seeds=1).metrics
    lines = summary_table(metrics).splitlines()
    assert len(lines) == 5
    assert lines[1].startswith("GAN ") and lines[1].endswith("—")
    # One seed: no spread and no test.
    assert "±" not in lines[2] and "p = n/a" in lines[2]


def test_summary_frame_holds_both_metrics_for_every_detector():
    frame = summary_frame(_result(["gan", *STANDARD]).metrics)
    for metric in ("auprc", "roc_auc"):
        for column in ("mean", "std", "ci_low", "ci_high", "p_value"):
            assert f"{metric}_{column}" in frame
    assert frame.loc[1, "roc_auc_gan_minus_detector"] == pytest.approx(-0.01)
