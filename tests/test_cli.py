"""End-to-end tests of the `gan-jax` command, run as a user runs it."""

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from gan_jax import make_fraud_like
from gan_jax.cli import main

SMALL = ["--generator-widths", "16,16", "--discriminator-widths", "16"]


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gan_jax", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _without_timing(summary: str) -> str:
    return re.sub(r"in [\d.]+ s \(\d+ steps/s", "in _ s (_ steps/s", summary)


def test_train_prints_one_summary_line():
    result = run_cli("train", "--steps", "40", "--seed", "3", *SMALL)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "trained 40 steps on 280 minority rows (training split of fraud-like)"
    )
    assert "d_loss" in lines[0] and "g_loss" in lines[0]
    assert "Traceback" not in result.stderr


def test_train_with_the_same_seed_gives_the_same_summary():
    first = run_cli("train", "--steps", "30", "--seed", "5", *SMALL)
    second = run_cli("train", "--steps", "30", "--seed", "5", *SMALL)
    other = run_cli("train", "--steps", "30", "--seed", "6", *SMALL)
    assert _without_timing(first.stdout) == _without_timing(second.stdout)
    assert _without_timing(first.stdout) != _without_timing(other.stdout)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ([], "required"),
        (["fit"], "invalid choice"),
        (["train", "--steps", "ten"], "--steps"),
        (["train", "--steps", "0"], "--steps"),
        (["train", "--seed", "-1"], "--seed"),
        (["train", "--generator-widths", "64,x"], "--generator-widths"),
        (["train", "--dropout-rate", "1.5"], "dropout_rate"),
        (["train", "--latent-dim", "0"], "latent_dim"),
        (["train", "--real-target", "0", "--fake-target", "0.5"], "target"),
        (["train", "--unknown"], "unrecognized"),
    ],
)
def test_bad_input_gives_one_line_and_exit_status_2(capsys, arguments, message):
    assert main(arguments) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert message in captured.err


def test_bad_input_from_the_shell_has_no_traceback():
    result = run_cli("train", "--batch-size", "-4")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gan-jax: invalid configuration: batch_size must be a positive "
        "integer, got -4"
    ]
    assert result.stdout == ""


def test_help_lists_every_config_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--latent-dim", "--generator-widths", "--batch-size"):
        assert option in text


# --- gan-jax train on a user's table -----------------------------------------


@pytest.fixture(scope="module")
def fraud_csv(tmp_path_factory):
    """A small labelled CSV with an id column and 100 minority rows."""
    table = make_fraud_like(num_rows=2000, minority_fraction=0.05, seed=1)
    table.insert(0, "transaction_id", range(len(table)))
    path = tmp_path_factory.mktemp("data") / "transactions.csv"
    table.to_csv(path, index=False)
    return path


def test_train_reads_a_users_csv(fraud_csv):
    result = run_cli(
        "train",
        "--data",
        str(fraud_csv),
        "--drop",
        "transaction_id,Time",
        "--steps",
        "20",
        *SMALL,
    )
    assert result.returncode == 0, result.stderr
    assert "on 70 minority rows (training split of " in result.stdout
    assert str(fraud_csv) in result.stdout
    assert "30 held-out minority rows" in result.stdout


def test_train_takes_string_labels_with_the_minority_named(tmp_path):
    table = make_fraud_like(num_rows=1000, minority_fraction=0.1, seed=2)
    table["label"] = table.pop("Class").map({0: "ok", 1: "fraud"})
    path = tmp_path / "labelled.parquet"
    table.to_parquet(path)
    arguments = ["--data", str(path), "--target", "label", "--steps", "10"]
    assert main(["train", *arguments, "--minority", "fraud", *SMALL]) == 0
    assert main(["train", *arguments, *SMALL]) == 2


def _write_csv(directory, name, text):
    path = directory / name
    path.write_text(text)
    return str(path)


def _bad_table_cases(directory):
    """(arguments, a fact the one-line message must state) per bad input."""
    header = "a,b,Class\n"
    good_rows = "".join(f"{i},{i % 7},{int(i % 10 == 0)}\n" for i in range(100))
    return [
        (["--data", str(directory / "missing.csv")], "no such file"),
        (["--data", str(directory)], "is a directory"),
        (["--data", _write_csv(directory, "t.xlsx", "x")], "unsupported"),
        (["--data", _write_csv(directory, "empty.csv", "")], "is empty"),
        (["--data", _write_csv(directory, "h.csv", header)], "no rows"),
        (
            ["--data", _write_csv(directory, "no_target.csv", "a,b\n1,2\n")],
            "columns: a, b",
        ),
        (
            ["--data", _write_csv(directory, "one.csv", header + "1,2,0\n")],
            "only one class",
        ),
        (
            [
                "--data",
                _write_csv(
                    directory, "three.csv", header + "1,2,0\n1,2,1\n1,2,2\n"
                ),
            ],
            "3 classes",
        ),
        (
            [
                "--data",
                _write_csv(directory, "text.csv", header + "1,x,0\n2,y,1\n"),
            ],
            "non-numeric feature columns: b",
        ),
        (
            [
                "--data",
                _write_csv(
                    directory, "nan.csv", header + "1,,0\n2,3,1\n" + good_rows
                ),
            ],
            "1 of 102 rows",
        ),
        (
            [
                "--data",
                _write_csv(directory, "dup.csv", "a,a,Class\n1,2,0\n3,4,1\n"),
            ],
            "duplicate column names: a",
        ),
        (
            ["--data", _write_csv(directory, "ok.csv", header + good_rows)]
            + ["--drop", "c"],
            "cannot drop 'c'",
        ),
        (
            ["--data", _write_csv(directory, "few.csv", header + good_rows)],
            "at least 20",
        ),
        (
            [
                "--data",
                _write_csv(
                    directory, "tiny.csv", header + "1,2,0\n3,4,0\n5,6,1\n"
                ),
            ],
            "1 minority row",
        ),
        (
            [
                "--data",
                _write_csv(directory, "missing_label.csv", header + "1,2,\n"),
            ],
            "missing value",
        ),
    ]


def test_every_bad_table_gives_one_line_and_exit_status_2(tmp_path, capsys):
    for arguments, fact in _bad_table_cases(tmp_path):
        assert main(["train", *arguments, "--steps", "1"]) == 2, arguments
        captured = capsys.readouterr()
        assert captured.out == "", arguments
        assert len(captured.err.strip().splitlines()) == 1, captured.err
        assert captured.err.startswith("gan-jax: "), captured.err
        assert fact in captured.err, (fact, captured.err)


def test_a_bad_table_from_the_shell_has_no_traceback(tmp_path):
    path = _write_csv(tmp_path, "text.csv", "a,b,Class\n1,x,0\n2,y,1\n")
    result = run_cli("train", "--data", path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "categorical encoding is not supported yet" in result.stderr


def test_drop_invalid_rows_trains_on_what_remains(fraud_csv, tmp_path):
    table = pd.read_csv(fraud_csv)
    table.loc[:9, "Amount"] = np.nan
    path = tmp_path / "holes.csv"
    table.to_csv(path, index=False)
    arguments = ["train", "--data", str(path), "--steps", "5", *SMALL]
    assert main(arguments) == 2
    assert main([*arguments, "--drop-invalid-rows"]) == 0


def test_a_line_break_in_a_column_name_still_gives_one_line(tmp_path, capsys):
    path = tmp_path / "broken.csv"
    path.write_text('"first\nname",Class\nx,0\ny,1\n')
    assert main(["train", "--data", str(path)]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1
    assert "first name" in error


# --- gan-jax run --------------------------------------------------------------

FAST_RUN = [
    "--classifiers",
    "logistic-regression,hist-gradient-boosting",
    "--steps",
    "30",
    "--jobs",
    "2",
    *SMALL,
]

RUN_FILES = {
    "config.json",
    "metrics.csv",
    "summary.csv",
    "report.md",
    "figures/precision_recall.png",
    "figures/auprc_by_method.png",
    "figures/gan_losses.png",
    "figures/real_vs_synthetic_pca.png",
    "figures/feature_histograms.png",
    "figures/confusion_matrices.png",
}


def _files(folder):
    return {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file()
    }


@pytest.fixture(scope="module")
def finished_run(fraud_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "first"
    result = run_cli(
        "run",
        "--data",
        str(fraud_csv),
        "--drop",
        "transaction_id",
        "--out",
        str(out),
        *FAST_RUN,
    )
    assert result.returncode == 0, result.stderr
    return out, result


def test_run_writes_every_output_file(finished_run):
    out, result = finished_run
    assert _files(out) == RUN_FILES
    metrics = pd.read_csv(out / "metrics.csv")
    assert len(metrics) == 3 * 7 * 2
    assert f"wrote {out}" in result.stdout
    assert "GAN augmentation" in result.stdout
    assert "Traceback" not in result.stderr


def test_rerunning_a_config_gives_the_same_metrics(finished_run, tmp_path):
    out, _ = finished_run
    again = tmp_path / "again"
    result = run_cli(
        "run",
        "--config",
        str(out / "config.json"),
        "--out",
        str(again),
        "--jobs",
        "1",
    )
    assert result.returncode == 0, result.stderr
    first = pd.read_csv(out / "metrics.csv").drop(columns="fit_seconds")
    second = pd.read_csv(again / "metrics.csv").drop(columns="fit_seconds")
    pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_config_takes_no_other_settings(finished_run, capsys):
    out, _ = finished_run
    code = main(["run", "--config", str(out / "config.json"), "--seeds", "5"])
    assert code == 2
    assert "--seeds" in capsys.readouterr().err


def test_config_of_changed_data_is_refused(finished_run, tmp_path, capsys):
    out, _ = finished_run
    record = json.loads((out / "config.json").read_text())
    changed = pd.read_csv(record["data"]["source"])
    changed.loc[0, "Amount"] += 1
    path = tmp_path / "changed.csv"
    changed.to_csv(path, index=False)
    record["data"]["source"] = str(path)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(record))
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "o")])
    assert "fingerprint differs" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_run_refuses_to_overwrite_a_finished_run(finished_run, capsys):
    out, _ = finished_run
    assert main(["run", "--out", str(out), *FAST_RUN]) == 2
    assert "not empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--oversamplers", "smoat"], "smoat"),
        (["--classifiers", "svm"], "svm"),
        (["--ratio", "0"], "ratio"),
        (["--seeds", "0"], "num_seeds"),
        (["--jobs", "0"], "--jobs"),
        (["--config", "missing.json"], "no such file"),
    ],
)
def test_bad_run_options_give_one_line_and_exit_2(
    arguments, message, tmp_path, capsys
):
    out = tmp_path / "out"
    assert main(["run", *arguments, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1
    assert message in error
    assert not out.exists()


def test_a_failed_run_leaves_no_output_folder(tmp_path, capsys):
    path = tmp_path / "few.csv"
    rows = "".join(f"{i},{i % 7},{int(i % 10 == 0)}\n" for i in range(100))
    path.write_text("a,b,Class\n" + rows)
    out = tmp_path / "out"
    assert main(["run", "--data", str(path), "--out", str(out)]) == 2
    assert "at least 20" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [path]
