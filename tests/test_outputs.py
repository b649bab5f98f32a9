import datetime
import json

import pytest

from gan_jax import load_table, make_fraud_like
from gan_jax.config import GANConfig, RunSettings
from gan_jax.outputs import (
    OutputError,
    atomic_directory,
    default_run_dir,
    fingerprint,
    read_record,
    run_record,
)


@pytest.fixture(scope="module")
def table():
    return load_table(make_fraud_like(num_rows=300, seed=1))


def test_a_finished_run_appears_whole(tmp_path):
    final = tmp_path / "run"
    with atomic_directory(final) as scratch:
        (scratch / "metrics.csv").write_text("x\n")
        assert not final.exists()
    assert (final / "metrics.csv").read_text() == "x\n"
    assert [path.name for path in tmp_path.iterdir()] == ["run"]


def test_a_failed_run_leaves_nothing_behind(tmp_path):
    final = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with atomic_directory(final) as scratch:
            (scratch / "metrics.csv").write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_run_leaves_nothing_behind(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(tmp_path / "run"):
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_an_existing_non_empty_folder_is_never_overwritten(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "old.csv").write_text("keep")
    with pytest.raises(OutputError, match="not empty"):
        with atomic_directory(tmp_path / "run"):
            pass
    assert (tmp_path / "run" / "old.csv").read_text() == "keep"


def test_an_existing_empty_folder_is_used(tmp_path):
    (tmp_path / "run").mkdir()
    with atomic_directory(tmp_path / "run") as scratch:
        (scratch / "a").write_text("1")
    assert (tmp_path / "run" / "a").exists()


def test_default_run_folder_names_the_time_and_the_data():
    when = datetime.datetime(2026, 12, 3, 17, 5, 9)
    path = default_run_dir("/data/my fraud.csv", now=when)
    assert str(path) == "checkpoints/runs/20261203-170509-my-fraud"


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
