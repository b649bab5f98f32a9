import datetime
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gan_jax import load_table, make_fraud_like
from gan_jax.config import GANConfig, RunSettings
from gan_jax.outputs import (
    OutputError,
    RunFolder,
    default_run_dir,
    fingerprint,
    read_record,
    read_train_record,
    run_record,
    train_record,
    write_table,
)


@pytest.fixture(scope="module")
def table():
    return load_table(make_fraud_like(num_rows=300, seed=1))


def test_a_new_run_folder_starts_with_its_record(tmp_path):
    folder = RunFolder.create(tmp_path / "run", {"format": 1})
    assert json.loads(folder.record_path.read_text()) == {"format": 1}
    assert [path.name for path in folder.path.iterdir()] == ["config.json"]


def test_an_existing_non_empty_folder_is_never_overwritten(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "old.csv").write_text("keep")
    with pytest.raises(OutputError, match="not empty"):
        RunFolder.create(tmp_path / "run", {})
    assert (tmp_path / "run" / "old.csv").read_text() == "keep"


def test_an_existing_empty_folder_is_used(tmp_path):
    (tmp_path / "run").mkdir()
    RunFolder.create(tmp_path / "run", {})
    assert (tmp_path / "run" / "config.json").exists()


def _row(seed, oversampler, classifier, auprc):
    return {
        "seed": np.int64(seed),
        "oversampler": oversampler,
        "classifier": classifier,
        "auprc": np.float64(auprc),
        "tn": np.int64(7),
    }


def test_saved_fits_come_back_exactly(tmp_path):
    folder = RunFolder.create(tmp_path / "run", {})
    scores = np.random.default_rng(0).random(50)
    folder.save_fit(_row(0, "smote", "random-forest", 1 / 3), scores)
    folder.save_fit(_row(1, "none", "random-forest", 0.1 + 0.2), None)
    finished = folder.finished_fits()
    assert set(finished) == {
        (0, "smote", "random-forest"),
        (1, "none", "random-forest"),
    }
    row, kept = finished[0, "smote", "random-forest"]
    assert row["auprc"] == 1 / 3 and row["tn"] == 7
    np.testing.assert_array_equal(kept, scores)
    row, kept = finished[1, "none", "random-forest"]
    assert row["auprc"] == 0.1 + 0.2 and kept.size == 0


def test_an_unreadable_fit_counts_as_not_done(tmp_path):
    folder = RunFolder.create(tmp_path / "run", {})
    folder.save_fit(_row(0, "none", "random-forest", 0.5), None)
    (folder.fits / "seed-0_none_random-forest.json").write_text('{"se')
    assert folder.finished_fits() == {}


def test_results_appear_with_metrics_last_and_mark_the_run_finished(
    tmp_path, monkeypatch
):
    folder = RunFolder.create(tmp_path / "run", {})
    visible = []

    def write(stage):
        (stage / "figures").mkdir()
        (stage / "figures" / "a.png").write_text("png")
        (stage / "metrics.csv").write_text("x\n")
        (stage / "report.md").write_text("# r")
        visible.extend(
            path.name
            for path in folder.path.iterdir()
            if not path.name.startswith(".")
        )

    moved = []
    replace = os.replace

    def spy(source, target):
        moved.append(Path(target).name)
        replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    RunFolder.open(folder.path)  # not finished yet: can be resumed
    folder.finish(write)
    assert visible == ["config.json"]
    assert moved[-1] == "metrics.csv"
    assert sorted(path.name for path in folder.path.iterdir()) == [
        "config.json",
        "figures",
        "metrics.csv",
        "report.md",
    ]
    with pytest.raises(OutputError, match="finished run"):
        RunFolder.open(folder.path)


def test_a_failed_finish_leaves_the_run_resumable(tmp_path):
    folder = RunFolder.create(tmp_path / "run", {})

    def write(stage):
        (stage / "report.md").write_text("half")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        folder.finish(write)
    assert [path.name for path in folder.path.iterdir()] == ["config.json"]
    RunFolder.open(folder.path)


def test_opening_something_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(OutputError, match="no run to resume"):
        RunFolder.open(tmp_path / "missing")
    with pytest.raises(OutputError, match="not a gan-jax run folder"):
        RunFolder.open(tmp_path)


@pytest.mark.parametrize(
    "name", ["rows.csv", "rows.csv.gz", "rows.parquet", "ROWS.CSV"]
)
def test_write_table_writes_names_and_the_label(tmp_path, name):
    rows = np.array([[1.5, -2.0], [3.25, 4.0]], np.float32)
    path = tmp_path / name
    write_table(path, rows, ("a", "b"), "Class", "fraud")
    frame = (
        pd.read_parquet(path)
        if name.endswith(".parquet")
        else pd.read_csv(path)
    )
    assert list(frame.columns) == ["a", "b", "Class"]
    np.testing.assert_array_equal(frame[["a", "b"]].to_numpy(), rows)
    assert list(frame["Class"]) == ["fraud", "fraud"]
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize(
    "name, message",
    [("rows.txt", "must end in"), ("missing/rows.csv", "no folder")],
)
def test_write_table_refuses_what_it_cannot_write(tmp_path, name, message):
    with pytest.raises(OutputError, match=message):
        write_table(tmp_path / name, np.zeros((1, 1)), ("a",), "y", 1)


def test_write_table_never_overwrites(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("keep")
    with pytest.raises(OutputError, match="already exists"):
        write_table(path, np.zeros((1, 1)), ("a",), "y", 1)
    assert path.read_text() == "keep"


def test_a_train_record_gives_back_its_settings(table, tmp_path):
    config = GANConfig(generator_widths=(8,))
    options = {"source": "fraud-like", "drop": [], "test_size": 0.25}
    record = train_record(table, options, 300, 4, 0.25, config, 50)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(record))
    data, steps, seed, read_config, expected, every = read_train_record(path)
    assert (data, steps, seed, read_config, every) == (
        options,
        300,
        4,
        config,
        50,
    )
    assert expected == fingerprint(table)
    record["command"] = "run"
    path.write_text(json.dumps(record))
    with pytest.raises(OutputError, match="not a usable gan-jax train"):
        read_train_record(path)


def test_default_run_folder_names_the_time_and_the_data(tmp_path):
    when = datetime.datetime(2026, 12, 3, 17, 5, 9)
    path = default_run_dir("/data/my fraud.csv", now=when)
    assert str(path) == "checkpoints/runs/20261203-170509-my-fraud"
    taken = default_run_dir("x.csv", now=when, parent=tmp_path)
    taken.mkdir()
    assert default_run_dir("x.csv", now=when, parent=tmp_path) == (
        tmp_path / "20261203-170509-x-2"
    )


def test_fingerprint_changes_with_any_value(table):
    changed = table.features.copy()
    changed[3, 2] += 1
    other = load_table(make_fraud_like(num_rows=300, seed=1))
    assert fingerprint(table) == fingerprint(other)
    assert fingerprint(table) != fingerprint(
        type(table)(**{**table.__dict__, "features": changed})
    )


def test_a_record_gives_back_its_settings(table, tmp_path):
    settings = RunSettings(
        num_seeds=4, ratio=0.3, gan=GANConfig(generator_widths=(8, 8))
    )
    options = {"source": "fraud-like", "target": None, "drop": ["Time"]}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(run_record(table, options, settings)))
    data, read_settings, expected = read_record(path)
    assert read_settings == settings
    assert data == options
    assert expected == fingerprint(table)
    record = json.loads(path.read_text())
    assert record["seeds"] == [0, 1, 2, 3]
    assert "jax" in record["versions"]


@pytest.mark.parametrize(
    "content", ["", "{}", "[1]", '{"data": {}, "settings": {"gan": 3}}']
)
def test_a_broken_record_gives_its_error(tmp_path, content):
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(OutputError, match="not a usable gan-jax run record"):
        read_record(path)


def test_a_missing_record_gives_its_error(tmp_path):
    with pytest.raises(OutputError, match="no such file"):
        read_record(tmp_path / "config.json")


def test_a_record_naming_an_unknown_method_is_refused(table, tmp_path):
    record = run_record(table, {"source": "fraud-like"}, RunSettings())
    record["settings"]["oversamplers"] = ["none", "magic"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(record))
    with pytest.raises(OutputError, match="unknown methods: magic"):
        read_record(path)
