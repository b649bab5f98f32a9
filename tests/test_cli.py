"""End-to-end tests of the `gan-jax` command, run as a user runs it."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

from gan_jax import make_fraud_like
from gan_jax.cli import main

SMALL = ["--generator-widths", "16,16", "--discriminator-widths", "16"]


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(tmp_path, monkeypatch):
    """Commands write to ./checkpoints by default: keep that out of the
    repository."""
    scratch = tmp_path / "cwd"
    scratch.mkdir()
    monkeypatch.chdir(scratch)


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gan_jax", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _without_timing(summary: str) -> str:
    return re.sub(r"in [\d.]+ s \(\d+ steps/s", "in _ s (_ steps/s", summary)


def test_train_prints_a_summary_and_where_it_saved():
    result = run_cli("train", "--steps", "40", "--seed", "3", *SMALL)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        "trained 40 steps on 280 minority rows (training split of fraud-like)"
    )
    assert "d_loss" in lines[0] and "g_loss" in lines[0]
    (saved,) = Path("checkpoints/train").iterdir()
    assert lines[1].startswith(
        f"saved {Path('checkpoints/train') / saved.name}"
    )
    assert "gan-jax sample --checkpoint" in lines[1]
    assert (saved / "gan" / "40").is_dir()
    assert "Traceback" not in result.stderr


def test_train_with_the_same_seed_gives_the_same_summary(capsys):
    # In one process (a fresh process repeating a run is tested with
    # --config): three launches of JAX would cost half a minute.
    def summary(seed):
        arguments = ["train", "--steps", "30", "--seed", str(seed), *SMALL]
        assert main(arguments) == 0
        return _without_timing(capsys.readouterr().out.splitlines()[0])

    first, second, other = summary(5), summary(5), summary(6)
    assert first == second
    assert first != other
    # Started in the same second or not, the three runs got three folders.
    assert len(list(Path("checkpoints/train").iterdir())) == 3


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


def test_train_reads_a_users_csv(fraud_csv, capsys):
    drop = ["--drop", "transaction_id,Time"]
    arguments = ["train", "--data", str(fraud_csv), *drop, "--steps", "20"]
    assert main([*arguments, *SMALL]) == 0
    out = capsys.readouterr().out
    assert "on 70 minority rows (training split of " in out
    assert str(fraud_csv) in out
    assert "30 held-out minority rows" in out


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
    "quality.csv",
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
        # Model selection rides along: the rerun test then covers it too.
        "--select-every",
        "10",
    )
    assert result.returncode == 0, result.stderr
    return out, result


def test_run_writes_every_output_file(finished_run):
    out, result = finished_run
    files = _files(out)
    assert RUN_FILES <= files
    # Besides the results: one record per fit, and each seed's final GAN.
    work = files - RUN_FILES
    assert {name for name in work if name.startswith("fits/")} >= {
        f"fits/seed-{seed}_{oversampler}_{classifier}.json"
        for seed in range(3)
        for oversampler in ("none", "smote", "gan")
        for classifier in ("logistic-regression", "hist-gradient-boosting")
    }
    assert all(name.startswith(("fits/", "gans/seed-")) for name in work)
    for seed in range(3):
        assert [p.name for p in (out / "gans" / f"seed-{seed}").iterdir()] == [
            "30"
        ]
    metrics = pd.read_csv(out / "metrics.csv")
    assert len(metrics) == 3 * 7 * 2
    record = json.loads((out / "config.json").read_text())
    assert record["settings"]["gan_select_every"] == 10
    report = (out / "report.md").read_text()
    assert "GAN model selection: every 10 steps" in report
    assert re.search(r"seed 0: step (10|20|30), seed 1: step", report)
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
        (["--select-every", "0"], "--select-every"),
        (["--select-every", "often"], "'none'"),
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


def test_a_refused_run_leaves_no_output_folder(tmp_path, capsys):
    path = tmp_path / "few.csv"
    rows = "".join(f"{i},{i % 7},{int(i % 10 == 0)}\n" for i in range(100))
    path.write_text("a,b,Class\n" + rows)
    out = tmp_path / "out"
    assert main(["run", "--data", str(path), "--out", str(out)]) == 2
    assert "at least 20" in capsys.readouterr().err
    assert not out.exists()
    assert not Path("checkpoints").exists()


# --- interrupts and --resume -------------------------------------------------

RESUMABLE_RUN = [
    "--oversamplers",
    "none,gan",
    "--classifiers",
    "logistic-regression",
    "--seeds",
    "2",
    "--steps",
    "600",
    "--checkpoint-every",
    "50",
    "--jobs",
    "1",
    *SMALL,
]


def _wait_for(condition, process, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _metrics(folder):
    return pd.read_csv(folder / "metrics.csv").drop(columns="fit_seconds")


@pytest.fixture(scope="module")
def resumable_reference(tmp_path_factory):
    """A run of RESUMABLE_RUN that nothing stopped."""
    reference = tmp_path_factory.mktemp("runs") / "reference"
    assert main(["run", *RESUMABLE_RUN, "--out", str(reference)]) == 0
    return reference


# SIGTERM takes SIGINT's handler (checked where gan-jax detect is
# stopped); SIGKILL's resume from the last periodic save is checked on
# gan-jax train and on train_checkpointed, which a run's GANs go through.
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130)])
def test_a_signal_during_training_saves_and_resume_finishes_the_same(
    resumable_reference, tmp_path, signum, status
):
    reference = resumable_reference

    out = tmp_path / "stopped"
    process = subprocess.Popen(
        [sys.executable, "-m", "gan_jax", "run", *RESUMABLE_RUN]
        + ["--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: (out / "gans" / "seed-0" / "50").is_dir(), process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == status, stderr
    if signum != signal.SIGKILL:  # which leaves no word behind
        assert f"gan-jax run --resume {out}" in stderr.splitlines()[-1]
        assert "Traceback" not in stderr
    assert not (out / "metrics.csv").exists()
    saved = sorted(int(p.name) for p in (out / "gans" / "seed-0").iterdir())
    assert saved and saved[-1] < 600  # stopped in seed 0's training

    assert main(["run", "--resume", str(out)]) == 0
    pd.testing.assert_frame_equal(
        _metrics(reference), _metrics(out), check_exact=True
    )
    assert (out / "report.md").read_text().replace(str(out), "") == (
        reference / "report.md"
    ).read_text().replace(str(reference), "")


def test_a_run_stopped_among_the_fits_keeps_them_and_resumes(
    tmp_path, monkeypatch
):
    reference = tmp_path / "reference"
    arguments = ["run", *RESUMABLE_RUN, "--steps", "60"]
    assert main([*arguments, "--out", str(reference)]) == 0

    import gan_jax.evaluation

    fit = gan_jax.evaluation._fit_task
    calls = []

    def stop_on_the_third_fit(*args):
        calls.append(args[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return fit(*args)

    monkeypatch.setattr(gan_jax.evaluation, "_fit_task", stop_on_the_third_fit)
    out = tmp_path / "stopped"
    assert main([*arguments, "--out", str(out)]) == 130
    assert len(list((out / "fits").glob("*.json"))) == 2

    refitted = []

    def count(*args):
        refitted.append(args[0])
        return fit(*args)

    monkeypatch.setattr(gan_jax.evaluation, "_fit_task", count)
    # In-process fits, so that the counting stand-in sees them.
    assert main(["run", "--resume", str(out), "--jobs", "1"]) == 0
    # The two recorded fits were not done again; the other two were.
    assert len(refitted) == 2 and not set(refitted) & set(calls[:2])
    pd.testing.assert_frame_equal(
        _metrics(reference), _metrics(out), check_exact=True
    )


def test_resume_refuses_what_it_cannot_continue(finished_run, tmp_path, capsys):
    out, _ = finished_run
    cases = [
        (["--resume", str(out)], "finished run"),
        (["--resume", str(tmp_path / "nothing")], "no run to resume"),
        (["--resume", str(tmp_path)], "not a gan-jax run folder"),
        (["--resume", str(out), "--seeds", "4"], "--seeds"),
        (["--resume", str(out), "--config", "c.json"], "--config"),
        (["--checkpoint-every", "0"], "--checkpoint-every"),
    ]
    for arguments, message in cases:
        assert main(["run", *arguments]) == 2, arguments
        error = capsys.readouterr().err
        assert len(error.strip().splitlines()) == 1, error
        assert message in error, (arguments, error)


def test_divergence_stops_the_run_with_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        ["run", *RESUMABLE_RUN, "--learning-rate", "1e30", "--out", str(out)]
    )
    assert code == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    # Two seeds: the message names the folder of the one that diverged.
    assert re.search(
        r"diverged at step \d+ of the GAN in \S+seed-\d: \w+ became nan", error
    ), error
    assert "no synthetic rows were made" in error
    assert not (out / "fits").exists()
    assert not (out / "metrics.csv").exists()


# --- gan-jax sample ----------------------------------------------------------


def test_sample_writes_rows_like_the_input_and_repeats(fraud_csv, tmp_path):
    trained = tmp_path / "trained"
    assert (
        main(
            ["train", "--data", str(fraud_csv), "--drop", "transaction_id"]
            + ["--steps", "20", "--out", str(trained), *SMALL]
        )
        == 0
    )
    paths = [tmp_path / name for name in ("a.csv", "b.csv", "c.parquet")]
    for path, seed in zip(paths, ("1", "1", "2"), strict=True):
        assert (
            main(
                ["sample", "--checkpoint", str(trained), "--rows", "50"]
                + ["--seed", seed, "--out", str(path)]
            )
            == 0
        )
    first, second = (pd.read_csv(path) for path in paths[:2])
    other = pd.read_parquet(paths[2])
    original = pd.read_csv(fraud_csv).drop(columns="transaction_id")
    assert list(first.columns) == list(original.columns)
    assert len(first) == 50 and (first["Class"] == 1).all()
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert not np.allclose(first.to_numpy(), other.to_numpy())
    # Original units: every value within the training rows' range (the
    # generator's tanh output maps into it).
    fraud = original[original["Class"] == 1].drop(columns="Class")
    values = first.drop(columns="Class")
    assert (values.min() >= fraud.min() - 1e-3 * fraud.abs().max()).all()
    assert (values.max() <= fraud.max() + 1e-3 * fraud.abs().max()).all()


def test_sample_refuses_bad_requests_with_one_line(
    finished_run, tmp_path, capsys
):
    out, _ = finished_run
    (tmp_path / "exists.csv").write_text("keep")
    cases = [
        ([str(tmp_path / "missing"), "5", "x.csv"], "no checkpoint at"),
        ([str(tmp_path), "5", "x.csv"], "not a gan-jax checkpoint"),
        ([str(out), "5", "x.csv"], "holds 3 GANs"),
        ([str(out / "gans" / "seed-0"), "0", "x.csv"], "--rows"),
        ([str(out / "gans" / "seed-0"), "5", "x.json"], "must end in"),
        (
            [str(out / "gans" / "seed-0"), "5", str(tmp_path / "exists.csv")],
            "already exists",
        ),
    ]
    for (checkpoint, rows, target), message in cases:
        code = main(
            ["sample", "--checkpoint", checkpoint, "--rows", rows]
            + ["--out", target]
        )
        assert code == 2, (checkpoint, message)
        error = capsys.readouterr().err
        assert len(error.strip().splitlines()) == 1, error
        assert message in error, error
    assert (tmp_path / "exists.csv").read_text() == "keep"


def test_sample_from_a_run_seed_repeats_the_runs_own_rows(finished_run):
    out, _ = finished_run
    path = Path("rows.csv")
    code = main(
        ["sample", "--checkpoint", str(out / "gans" / "seed-1"), "--rows", "7"]
        + ["--out", str(path)]
    )
    assert code == 0
    rows = pd.read_csv(path)
    assert len(rows) == 7
    assert "transaction_id" not in rows.columns and "Class" in rows.columns


def _final_state(folder):
    from gan_jax.checkpoints import restore

    return restore(folder)


def test_train_killed_with_sigkill_resumes_to_the_same_bits(tmp_path):
    arguments = ["--steps", "800", "--checkpoint-every", "100", "--seed", "2"]
    straight = tmp_path / "straight"
    assert main(["train", *arguments, "--out", str(straight), *SMALL]) == 0

    out = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "gan_jax", "train", *arguments, *SMALL]
        + ["--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(lambda: (out / "gan" / "100").is_dir(), process)
    process.kill()
    process.wait(timeout=60)
    saved = sorted(
        int(p.name) for p in (out / "gan").iterdir() if p.name.isdigit()
    )
    assert saved and saved[-1] < 800

    assert main(["train", "--resume", str(out)]) == 0
    first, second = _final_state(straight), _final_state(out)
    assert first.step == second.step == 800
    for a, b in zip(
        jax.tree.leaves(first.state), jax.tree.leaves(second.state), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for name, values in first.history.items():
        np.testing.assert_array_equal(values, second.history[name])


def test_train_resume_refuses_a_finished_or_changed_run(tmp_path, capsys):
    out = tmp_path / "trained"
    assert main(["train", "--steps", "20", "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    cases = [
        (["--resume", str(out)], "nothing to resume"),
        (["--resume", str(out), "--steps", "40"], "--steps"),
        (["--resume", str(tmp_path / "none")], "not a gan-jax train folder"),
    ]
    for arguments, message in cases:
        assert main(["train", *arguments]) == 2, arguments
        error = capsys.readouterr().err
        assert len(error.strip().splitlines()) == 1, error
        assert message in error, error


# --- gan-jax study -----------------------------------------------------------

STUDY = [
    "--oversamplers",
    "none,gan,random",
    "--classifiers",
    "logistic-regression",
    "--seeds",
    "3",
    "--steps",
    "40",
    "--jobs",
    "1",
    *SMALL,
]


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("studies") / "first"
    result = run_cli("study", *STUDY, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result


def test_study_reports_the_spread_and_a_reproduced_seed(finished_study):
    out, result = finished_study
    assert RUN_FILES | {"figures/auprc_boxplots.png"} <= _files(out)
    assert "re-run of seed 2: identical" in result.stdout.splitlines()
    report = (out / "report.md").read_text()
    assert "**re-run of seed 2: identical**" in report
    assert "## Spread across seeds" in report
    assert "auprc_boxplots.png" in report
    metrics = pd.read_csv(out / "metrics.csv")
    assert sorted(set(metrics["seed"])) == [0, 1, 2]
    # The spread table holds the seed-to-seed std of the GAN's gain.
    wide = metrics.pivot(index="seed", columns="oversampler", values="auprc")
    gains = wide["gan"] - wide["none"]
    assert f"| {gains.mean():+.4f} | {gains.std(ddof=1):.4f} |" in report
    record = json.loads((out / "config.json").read_text())
    assert record["command"] == "study"


def test_study_defaults_to_ten_seeds_in_its_own_folder(monkeypatch):
    seen = {}

    def stop_after_the_settings(splits, gans, settings, **kwargs):
        seen["seeds"] = settings.seeds
        raise KeyboardInterrupt

    import gan_jax.cli

    monkeypatch.setattr(gan_jax.cli, "fit_grid", stop_after_the_settings)
    arguments = ["--oversamplers", "none", "--classifiers", "random-forest"]
    assert main(["study", *arguments]) == 130
    assert seen["seeds"] == tuple(range(10))
    (folder,) = Path("checkpoints/studies").iterdir()
    assert json.loads((folder / "config.json").read_text())["seeds"] == list(
        range(10)
    )


def test_a_study_whose_rerun_differs_says_so_and_fails(
    tmp_path, monkeypatch, capsys
):
    import gan_jax.cli

    rerun = gan_jax.cli.rerun_seed

    def drifting(*args, **kwargs):
        metrics = rerun(*args, **kwargs)
        metrics.loc[1, "auprc"] += 1e-9
        return metrics

    monkeypatch.setattr(gan_jax.cli, "rerun_seed", drifting)
    out = tmp_path / "drift"
    assert main(["study", *STUDY, "--out", str(out)]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith(
        "gan-jax study: re-run of seed 2: NOT identical"
    )
    assert "gan with logistic-regression, auprc" in error[-1]
    assert "NOT identical, 1 value differs" in (out / "report.md").read_text()


def test_run_and_study_folders_resume_only_with_their_own_command(
    finished_study, tmp_path, capsys
):
    out, _ = finished_study
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text((out / "config.json").read_text())
    assert main(["run", "--resume", str(unfinished)]) == 2
    error = capsys.readouterr().err
    assert f"gan-jax study --resume {unfinished}" in error


# --- detect -------------------------------------------------------------------

FAST_DETECT = ["--seeds", "2", "--steps", "60", "--jobs", "1", *SMALL]

DETECT_FILES = {
    "config.json",
    "metrics.csv",
    "summary.csv",
    "report.md",
    "figures/scores_by_detector.png",
    "figures/precision_recall.png",
    "figures/gan_scores.png",
    "figures/gan_losses.png",
}


@pytest.fixture(scope="module")
def finished_detection(fraud_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("detections") / "first"
    arguments = ["--data", str(fraud_csv), "--drop", "transaction_id"]
    result = run_cli("detect", *arguments, "--out", str(out), *FAST_DETECT)
    assert result.returncode == 0, result.stderr
    return out, result


def test_detect_writes_its_report_and_compares_every_detector(
    finished_detection,
):
    out, result = finished_detection
    assert _files(out) == DETECT_FILES
    metrics = pd.read_csv(out / "metrics.csv")
    assert sorted(set(metrics["detector"])) == [
        "gan",
        "isolation-forest",
        "local-outlier-factor",
        "one-class-svm",
    ]
    assert set(metrics["seed"]) == {0, 1}
    # 1900 common rows, 70 % of them in the training split.
    assert (metrics["n_train"] == 1330).all()
    record = json.loads((out / "config.json").read_text())
    assert record["command"] == "detect"
    assert record["settings"]["score"] == "nearest"
    report = (out / "report.md").read_text()
    assert "## Verdict" in report and "IsolationForest" in report
    assert "cannot reach p < 0.05" in report  # two seeds
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["detector", "AUPRC", "ROC"]
    assert lines[-1] == f"wrote {out}"
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--seeds", "0"], "num_seeds"),
        (["--steps", "-5"], "gan_steps"),
        (["--score", "logit"], "--score"),
        (["--detectors", "gan,svm"], "svm"),
        (["--jobs", "0"], "--jobs"),
        (["--test-size", "1.5"], "test_size"),
        (["--data", "missing.csv"], "missing.csv"),
        (["--latent-dim", "0"], "latent_dim"),
        (["--objective", "conditional"], "conditional objective needs labels"),
    ],
)
def test_bad_detect_options_give_one_line_and_exit_2(
    arguments, message, tmp_path, capsys
):
    out = tmp_path / "out"
    assert main(["detect", *arguments, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1
    assert message in error
    assert not out.exists()
    assert not Path("checkpoints").exists()


def test_detect_refuses_a_folder_that_holds_something(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["detect", "--out", str(out), *FAST_DETECT]) == 2
    assert "not empty" in capsys.readouterr().err
    assert _files(out) == {"notes.txt"}


def test_a_diverging_detector_stops_with_one_line_and_writes_nothing(
    tmp_path, capsys
):
    out = tmp_path / "diverged"
    arguments = ["--learning-rate", "1e30", "--detectors", "gan"]
    assert main(["detect", *arguments, *FAST_DETECT, "--out", str(out)]) == 1
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    error = stderr.strip().splitlines()  # progress bars, then one line
    assert error[-1].startswith("gan-jax detect: a GAN's training diverged")
    assert "nothing was written" in error[-1]
    assert not out.exists() and not list(tmp_path.glob(".diverged*"))


def test_detect_refuses_a_file_as_its_folder(tmp_path, capsys):
    path = tmp_path / "taken.txt"
    path.write_text("mine")
    assert main(["detect", "--out", str(path), *FAST_DETECT]) == 2
    assert "is a file" in capsys.readouterr().err
    assert path.read_text() == "mine"


def test_a_detection_stopped_by_sigterm_leaves_nothing(tmp_path):
    parent = tmp_path / "detections"
    out = parent / "stopped"
    process = subprocess.Popen(
        [sys.executable, "-m", "gan_jax", "detect", "--out", str(out)]
        + ["--steps", "100000", *SMALL],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: any(parent.glob(".stopped.partial-*")), process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert stderr.splitlines()[-1] == "gan-jax: stopped by SIGTERM"
    assert list(parent.iterdir()) == []
