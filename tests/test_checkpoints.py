"""Saving, restoring and resuming GANs (gan_jax.checkpoints).

Every run here uses one tiny config, rows of one shape and step counts that
are multiples of the chunk size, so the whole file compiles a single
training program.
"""

import dataclasses
import functools
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from conftest import tree_equal
from hypothesis import given, settings
from hypothesis import strategies as st

import gan_jax
from gan_jax import METRIC_NAMES, GANConfig, Scaler, init_state, train, training
from gan_jax.checkpoints import (
    SELECTION_ROWS,
    Checkpoint,
    CheckpointError,
    TrainingInterrupted,
    latest_step,
    remove_older_steps,
    resolve,
    restore,
    rows_fingerprint,
    save,
    selection_key,
    train_checkpointed,
)
from gan_jax.quality import marginal_distance
from gan_jax.scaling import QuantileScaler
from gan_jax.training import DivergenceError

# Orbax leaves futures of a failed read or write behind; they finish after
# their event loop has closed, whichever test runs then, and Python reports
# it.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore::pytest.PytestUnraisableExceptionWarning"
    ),
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited"),
]


@pytest.fixture
def collect_orbax_leftovers():
    """Finalises those futures now, not at a random later moment.

    Their finalisers log tracebacks, which Python 3.11 formats with `ast`;
    run by the garbage collector in the middle of pytest's own use of `ast`
    (when it formats a failure), they can crash CPython 3.11.7's `ast` with
    "SystemError: AST constructor recursion depth mismatch". A collection
    takes a while, so only tests that make orbax fail ask for one.
    """
    yield
    gc.collect()


def _raised_by(function) -> BaseException | None:
    """What `function()` raises, stripped of its traceback (see above)."""
    try:
        function()
    except Exception as error:
        error.__traceback__ = None
        return error
    finally:
        gc.collect()
    return None


CONFIG = GANConfig(
    latent_dim=4,
    generator_widths=(16,),
    discriminator_widths=(16,),
    batch_size=8,
)
#: Steps per compiled call; every step count below is a multiple of it.
CHUNK = 2
NUM_ROWS, NUM_FEATURES = 40, 3


def _rows(seed: int = 0) -> np.ndarray:
    """Rows on very different scales, so the scaler matters."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(NUM_ROWS, NUM_FEATURES))
    return (rows * [1.0, 300.0, 0.01] + [0.5, -70.0, 3.0]).astype(np.float32)


def _nudged(rows: np.ndarray) -> np.ndarray:
    """The same rows with one value moved by one ulp."""
    rows = rows.copy()
    rows[3, 1] = np.nextafter(rows[3, 1], np.float32(np.inf))
    return rows


def _fit(num_steps: int, directory=None, *, seed: int = 0, **kwargs):
    kwargs.setdefault("rows", _rows())
    return train_checkpointed(
        kwargs.pop("rows"),
        kwargs.pop("config", CONFIG),
        num_steps,
        jax.random.key(seed),
        directory=directory,
        chunk_size=kwargs.pop("chunk_size", CHUNK),
        **kwargs,
    )


@functools.cache
def _straight(num_steps: int, seed: int = 0) -> Checkpoint:
    """The run that never stopped and never saved."""
    return _fit(num_steps, seed=seed)


def _step_folders(directory: Path) -> list[int]:
    return sorted(
        int(child.name)
        for child in Path(directory).iterdir()
        if child.name.isdigit()
    )


def _all_finite(checkpoint: Checkpoint) -> bool:
    leaves = jax.tree.leaves(checkpoint.state) + list(
        checkpoint.history.values()
    )
    return all(bool(np.isfinite(np.asarray(leaf)).all()) for leaf in leaves)


def assert_same_checkpoint(left: Checkpoint, right: Checkpoint) -> None:
    """Bit-for-bit equality of everything a checkpoint holds."""
    assert left.step == right.step
    assert left.config == right.config
    assert tree_equal(left.state, right.state)
    assert set(left.history) == set(right.history) == set(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert left.history[name].dtype == np.float32, name
        assert right.history[name].dtype == np.float32, name
        assert left.history[name].shape == (left.step,), name
        np.testing.assert_array_equal(left.history[name], right.history[name])
    assert type(left.scaler) is type(right.scaler)
    for name in ("data_min", "data_max", "knots"):
        if not hasattr(left.scaler, name):
            continue
        left_values = getattr(left.scaler, name)
        right_values = getattr(right.scaler, name)
        assert left_values.dtype == right_values.dtype, name
        np.testing.assert_array_equal(left_values, right_values)
    np.testing.assert_array_equal(
        jax.random.key_data(left.key), jax.random.key_data(right.key)
    )
    assert left.feature_names == right.feature_names
    assert left.target == right.target
    assert left.minority_label == right.minority_label
    assert left.fingerprint == right.fingerprint
    assert left.select_every == right.select_every
    assert tree_equal(left.selected, right.selected)
    assert left.selection.dtype == right.selection.dtype == np.float64
    np.testing.assert_array_equal(left.selection, right.selection)


def test_assert_same_checkpoint_sees_any_difference():
    base = _straight(4)
    assert_same_checkpoint(base, _fit(4))
    others = [
        _straight(2),
        _straight(4, seed=1),
        _fit(4, rows=_nudged(_rows())),
        dataclasses.replace(base, target="other"),
        dataclasses.replace(base, minority_label=0),
        dataclasses.replace(base, feature_names=("a", "b", "c")),
        dataclasses.replace(
            base,
            history={**base.history, "g_loss": base.history["g_loss"] + 1},
        ),
        dataclasses.replace(
            base,
            state=base.state.replace(
                generator_batch_stats=jax.tree.map(
                    lambda leaf: leaf + 1, base.state.generator_batch_stats
                )
            ),
        ),
    ]
    for other in others:
        with pytest.raises(AssertionError):
            assert_same_checkpoint(base, other)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A folder of steps 4 and 8 (every 4); copy it before changing it."""
    directory = tmp_path_factory.mktemp("saved") / "gan"
    _fit(8, directory, every=4)
    assert _step_folders(directory) == [4, 8]
    return directory


# --- save and restore ---------------------------------------------------


@settings(max_examples=5, deadline=None)
@given(
    num_steps=st.sampled_from([2, 4, 6]),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    minority_label=st.sampled_from([1, 0, "fraud", np.int64(3)]),
    feature_names=st.sampled_from(
        [None, ("a", "b", "c"), ("température", "Δ amount", "x,y")]
    ),
)
def test_save_then_restore_gives_the_same_checkpoint(
    num_steps, seed, minority_label, feature_names
):
    original = _fit(
        num_steps,
        seed=seed,
        rows=_rows(seed % 7),
        feature_names=feature_names,
        target="label",
        minority_label=minority_label,
    )
    assert original.step == num_steps
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder) / "gan"
        step_folder = save(directory, original)
        assert step_folder == directory.absolute() / str(num_steps)
        assert latest_step(directory) == num_steps
        assert resolve(directory) == directory / str(num_steps)
        for path in (directory, str(step_folder)):
            restored = restore(path)
            assert_same_checkpoint(restored, original)
            assert restored.versions == original.versions
            assert restored.versions["jax"] == jax.__version__
    assert original.fingerprint == rows_fingerprint(_rows(seed % 7))
    assert original.target == "label"
    assert original.minority_label == minority_label
    assert isinstance(original.minority_label, (int, str))
    assert original.feature_names == (
        feature_names or tuple(f"x{i}" for i in range(NUM_FEATURES))
    )


def test_a_step_zero_checkpoint_saves_and_restores(tmp_path):
    error = _raised_by(lambda: _fit(0, tmp_path))
    assert error is None, repr(error)
    untrained = _fit(0, tmp_path)  # this time resumed from the saved step
    assert latest_step(tmp_path) == 0
    assert_same_checkpoint(restore(tmp_path), untrained)
    assert_same_checkpoint(untrained, _straight(0))


def test_rows_fingerprint_depends_on_values_and_shape():
    rows = _rows()
    assert rows_fingerprint(rows) == rows_fingerprint(rows.astype(np.float64))
    assert rows_fingerprint(rows) == rows_fingerprint(rows.copy(order="F"))
    assert rows_fingerprint(_nudged(rows)) != rows_fingerprint(rows)
    assert rows_fingerprint(rows.reshape(NUM_FEATURES, NUM_ROWS)) != (
        rows_fingerprint(rows)
    )


def test_restored_checkpoint_samples_the_same_rows(tmp_path):
    # A scaler stored in float32 would compute its half-range in float32
    # once restored, and so map the same generator output elsewhere.
    rows = _rows_with_inexact_float32_range()
    original = _fit(4, rows=rows)
    restored = restore(save(tmp_path, original))
    key = jax.random.key(5)
    np.testing.assert_array_equal(
        restored.sample(200, key), original.sample(200, key)
    )
    assert restored.scaler.data_min.dtype == original.scaler.data_min.dtype


def test_resumed_run_samples_the_same_rows_as_a_straight_run(tmp_path):
    rows = _rows_with_inexact_float32_range()
    _fit(4, tmp_path, every=4, rows=rows)
    resumed = _fit(8, tmp_path, every=4, rows=rows)
    straight = _fit(8, rows=rows)
    assert_same_checkpoint(resumed, straight)
    key = jax.random.key(6)
    np.testing.assert_array_equal(
        resumed.sample(200, key), straight.sample(200, key)
    )


QUANTILE_CONFIG = dataclasses.replace(CONFIG, transform="quantile")


def test_a_quantile_transform_saves_restores_and_resumes(tmp_path):
    rows = _rows(seed=3)
    rows[:, 1] = np.exp(rows[:, 1] / 100)  # a heavy tail
    _fit(4, tmp_path, every=4, rows=rows, config=QUANTILE_CONFIG)
    resumed = _fit(8, tmp_path, every=4, rows=rows, config=QUANTILE_CONFIG)
    straight = _fit(8, rows=rows, config=QUANTILE_CONFIG)
    assert isinstance(resumed.scaler, QuantileScaler)
    assert resumed.scaler.knots.shape == (NUM_FEATURES, NUM_ROWS)
    assert_same_checkpoint(resumed, straight)
    assert_same_checkpoint(restore(tmp_path), straight)
    key = jax.random.key(7)
    synthetic = restore(tmp_path).sample(300, key)
    np.testing.assert_array_equal(synthetic, straight.sample(300, key))
    # The inverse lands inside the training range, heavy tail included.
    assert (synthetic >= rows.min(axis=0)).all()
    assert (synthetic <= rows.max(axis=0)).all()


def test_a_folder_of_the_other_transform_is_not_resumed(tmp_path):
    _fit(4, tmp_path, every=4)
    error = _raised_by(
        lambda: _fit(8, tmp_path, every=4, config=QUANTILE_CONFIG)
    )
    assert isinstance(error, CheckpointError)
    assert "config" in str(error)


def _rows_with_inexact_float32_range() -> np.ndarray:
    """Rows whose half-range max/2 - min/2 rounds in float32."""
    rows = _rows(seed=2)
    low, high = rows.min(axis=0), rows.max(axis=0)
    exact = high.astype(np.float64) / 2 - low.astype(np.float64) / 2
    assert np.any((high / 2 - low / 2).astype(np.float64) != exact)
    return rows


def test_restore_keeps_a_non_default_key_implementation(tmp_path):
    original = dataclasses.replace(
        _straight(2), key=jax.random.key(3, impl="rbg")
    )
    restored = restore(save(tmp_path, original))
    assert jax.random.key_impl(restored.key) == jax.random.key_impl(
        original.key
    )
    assert_same_checkpoint(restored, original)


# --- resuming -------------------------------------------------------------


@pytest.mark.parametrize("first_part", [2, 4, 6])
def test_resuming_from_the_folder_equals_a_straight_run(tmp_path, first_part):
    first = _fit(first_part, tmp_path, every=4)
    assert latest_step(tmp_path) == first_part
    assert_same_checkpoint(first, _straight(first_part))
    resumed = _fit(8, tmp_path, every=4)
    assert_same_checkpoint(resumed, _straight(8))
    assert_same_checkpoint(restore(tmp_path), _straight(8))
    assert latest_step(tmp_path) == 8


def test_a_finished_folder_is_returned_without_training(tmp_path):
    _fit(8, tmp_path, every=4)
    before = sorted(p.name for p in tmp_path.iterdir())
    calls = []
    again = _fit(8, tmp_path, every=4, callback=lambda *a: calls.append(a))
    assert calls == []
    assert_same_checkpoint(again, _straight(8))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_saves_land_every_few_steps_and_at_the_end(tmp_path):
    seen = []
    _fit(
        10,
        tmp_path,
        every=4,
        keep=10,
        callback=lambda state, metrics: seen.append(
            (int(state.step), latest_step(tmp_path))
        ),
    )
    assert _step_folders(tmp_path) == [4, 8, 10]
    # The save of step 4 happens after the chunk that reaches step 4.
    assert seen == [(2, None), (4, None), (6, 4), (8, 4), (10, 8)]
    for step in (4, 8, 10):
        assert_same_checkpoint(restore(tmp_path / str(step)), _straight(step))


@settings(max_examples=5, deadline=None)
@given(stop_after=st.integers(min_value=1, max_value=6))
def test_an_interrupted_run_resumes_to_the_same_bits(stop_after):
    asked = []

    def should_stop():
        asked.append(True)
        return len(asked) == stop_after

    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder) / "gan"
        with pytest.raises(TrainingInterrupted) as caught:
            _fit(12, directory, every=4, should_stop=should_stop)
        stopped_at = CHUNK * stop_after
        assert len(asked) == stop_after
        assert caught.value.step == stopped_at
        assert caught.value.directory == directory.absolute()
        assert f"step {stopped_at}" in str(caught.value)
        assert latest_step(directory) == stopped_at
        assert_same_checkpoint(restore(directory), _straight(stopped_at))
        resumed = _fit(12, directory, every=4, should_stop=lambda: False)
        assert_same_checkpoint(resumed, _straight(12))
        assert_same_checkpoint(restore(directory), _straight(12))


def test_should_stop_without_a_folder_stops_without_saving():
    asked = []

    def should_stop():
        asked.append(True)
        return len(asked) == 2

    with pytest.raises(TrainingInterrupted) as caught:
        _fit(8, should_stop=should_stop)
    assert caught.value.step == 2 * CHUNK
    assert caught.value.directory is None
    assert str(caught.value) == f"training stopped at step {2 * CHUNK}"
    assert len(asked) == 2
    assert_same_checkpoint(_fit(8, should_stop=lambda: False), _straight(8))


_KILLED_RUN = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    from gan_jax import GANConfig
    from gan_jax.checkpoints import train_checkpointed

    rows = np.load(sys.argv[1])
    config = GANConfig(**json.loads(sys.argv[2]))
    train_checkpointed(
        rows, config, int(sys.argv[4]), jax.random.key(int(sys.argv[5])),
        directory=sys.argv[3], every=int(sys.argv[6]),
        chunk_size=int(sys.argv[7]),
    )
    """
)


def test_a_killed_run_resumes_to_the_same_bits(tmp_path):
    num_steps, seed, every = 24, 11, 4
    rows_file = tmp_path / "rows.npy"
    np.save(rows_file, _rows())
    directory = tmp_path / "gan"
    arguments = [
        str(rows_file),
        json.dumps(dataclasses.asdict(CONFIG)),
        str(directory),
        str(num_steps),
        str(seed),
        str(every),
        str(CHUNK),
    ]
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", _KILLED_RUN, *arguments],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=dict(os.environ),
        )
        try:
            deadline = time.monotonic() + 120
            while latest_step(directory) is None:
                if process.poll() is not None:
                    pytest.fail(
                        "the training process ended before its first save: "
                        + (tmp_path / "stderr.txt").read_text()[-2000:]
                    )
                if time.monotonic() > deadline:
                    pytest.fail("no step saved within 120 s")
                time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    killed_at = latest_step(directory)
    assert killed_at is not None and killed_at < num_steps
    assert killed_at % every == 0
    resumed = _fit(num_steps, directory, seed=seed, every=every)
    straight = _straight(num_steps, seed)
    assert_same_checkpoint(resumed, straight)
    assert_same_checkpoint(restore(directory), straight)


def test_a_crash_during_a_save_keeps_the_previous_step(tmp_path, monkeypatch):
    # The second save dies after its arrays are written, before its
    # metadata is: the step must not appear, the first one must survive.
    handler = ocp.handlers.JsonCheckpointHandler
    real_save = handler._save_fn
    saves = []

    async def failing_save(self, item, directory):
        saves.append(directory)
        if len(saves) == 2:
            raise OSError("disk full")
        return await real_save(self, item, directory)

    # Orbax's worker thread would print the error's traceback too.
    monkeypatch.setattr("threading.excepthook", lambda arguments: None)
    monkeypatch.setattr(handler, "_save_fn", failing_save)
    error = _raised_by(lambda: _fit(8, tmp_path, every=2))
    monkeypatch.setattr(handler, "_save_fn", real_save)
    # An OSError while saving becomes one CheckpointError line naming it.
    assert isinstance(error, CheckpointError) and "disk full" in str(error)
    assert "cannot save step 4" in str(error)
    assert len(saves) == 2
    assert latest_step(tmp_path) == 2
    assert _step_folders(tmp_path) == [2]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "2"]
    assert leftovers and all(name.startswith("4.") for name in leftovers)
    assert_same_checkpoint(restore(tmp_path), _straight(2))

    # Neither a complete step under a temporary name nor a numbered folder
    # without its metadata counts as a step.
    shutil.copytree(tmp_path / "2", tmp_path / "6.orbax-checkpoint-tmp-123")
    shutil.copytree(tmp_path / "2" / "arrays", tmp_path / "10" / "arrays")
    (tmp_path / "12").write_text("not a folder")
    assert latest_step(tmp_path) == 2
    assert_same_checkpoint(restore(tmp_path), _straight(2))

    resumed = _fit(8, tmp_path, every=2)
    assert_same_checkpoint(resumed, _straight(8))
    assert latest_step(tmp_path) == 8


# --- divergence -------------------------------------------------------------


def _poison_chunks_from(monkeypatch, first_bad_start: int) -> None:
    """Chunks starting at or after `first_bad_start` train on NaN rows.

    `train` and `train_many` check their data once on entry; this feeds NaN
    to the compiled chunks behind that check, so the losses diverge for
    real.
    """
    real_chunk = training._train_chunk_jit
    real_chunk_many = training._train_chunk_many_jit

    def chunk(state, data, key, num_steps, num_rows=None):
        if int(state.step) >= first_bad_start:
            data = jnp.full_like(data, jnp.nan)
        return real_chunk(state, data, key, num_steps, num_rows)

    def chunk_many(states, data, keys, counts, num_steps, shared):
        if int(states.step[0]) >= first_bad_start:
            data = jnp.full_like(data, jnp.nan)
        return real_chunk_many(states, data, keys, counts, num_steps, shared)

    monkeypatch.setattr(training, "_train_chunk_jit", chunk)
    monkeypatch.setattr(training, "_train_chunk_many_jit", chunk_many)


@pytest.fixture(scope="module")
def scaled():
    return Scaler().fit_transform(_rows())


def test_train_raises_at_the_next_step_on_a_nan_state(scaled):
    state, _ = train(
        init_state(CONFIG, NUM_FEATURES, jax.random.key(1)),
        scaled,
        4,
        jax.random.key(2),
        chunk_size=CHUNK,
    )
    poisoned = state.replace(
        generator_params=jax.tree.map(
            lambda leaf: jnp.full_like(leaf, jnp.nan), state.generator_params
        )
    )
    calls = []
    with pytest.raises(DivergenceError) as caught:
        train(
            poisoned,
            scaled,
            4,
            jax.random.key(2),
            chunk_size=CHUNK,
            callback=lambda *a: calls.append(a),
        )
    error = caught.value
    assert calls == []
    assert error.step == int(state.step) + 1 == 5
    assert error.what in ("d_loss", "g_loss")
    assert np.isnan(error.value)
    assert f"step {error.step}" in str(error)
    assert error.what in str(error)
    assert error.last_finite_state is poisoned


def test_train_divergence_keeps_the_chunks_starting_state(scaled, monkeypatch):
    start = init_state(CONFIG, NUM_FEATURES, jax.random.key(1))
    key = jax.random.key(2)
    at_six, _ = train(start, scaled, 6, key, chunk_size=CHUNK)
    _poison_chunks_from(monkeypatch, 6)
    seen = []
    with pytest.raises(DivergenceError) as caught:
        train(
            start,
            scaled,
            12,
            key,
            chunk_size=CHUNK,
            callback=lambda state, metrics: seen.append(int(state.step)),
        )
    error = caught.value
    assert seen == [2, 4, 6]
    assert error.step == 7
    assert error.what in METRIC_NAMES
    assert "step 7" in str(error) and error.what in str(error)
    assert tree_equal(error.last_finite_state, at_six)


def test_divergence_leaves_the_last_finite_checkpoint(tmp_path, monkeypatch):
    _poison_chunks_from(monkeypatch, 6)
    seen = []
    with pytest.raises(DivergenceError) as caught:
        _fit(
            12,
            tmp_path,
            every=4,
            keep=5,
            callback=lambda state, metrics: seen.append(int(state.step)),
            should_stop=lambda: False,
        )
    message = str(caught.value)
    assert caught.value.step == 7
    assert caught.value.what in METRIC_NAMES
    assert "step 7" in message and caught.value.what in message
    assert f"last finite checkpoint is step 4 in {tmp_path}" in message
    assert seen == [2, 4, 6]
    assert _step_folders(tmp_path) == [4]
    restored = restore(tmp_path)
    assert _all_finite(restored)
    assert_same_checkpoint(restored, _straight(4))

    # Once whatever diverged is fixed, the folder carries on.
    monkeypatch.undo()
    assert_same_checkpoint(_fit(12, tmp_path, every=4), _straight(12))


def test_divergence_before_any_save_says_so(tmp_path, monkeypatch):
    _poison_chunks_from(monkeypatch, 0)
    with pytest.raises(DivergenceError) as caught:
        _fit(8, tmp_path, every=4)
    assert caught.value.step == 1
    assert "step 1" in str(caught.value)
    assert "nothing was saved before it" in str(caught.value)
    assert latest_step(tmp_path) is None
    assert _step_folders(tmp_path) == []


# --- bad checkpoints --------------------------------------------------------


def _copy_step(saved: Path, destination: Path, step: int = 8) -> Path:
    copy = destination / str(step)
    shutil.copytree(saved / str(step), copy)
    return copy


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    return path


def _folder_holding(*names: str):
    """A maker of a folder that holds empty files or folders (trailing /)."""

    def make(path: Path) -> Path:
        for name in names:
            if name.endswith("/"):
                (path / name).mkdir(parents=True)
            else:
                _touch(path / name)
        return path

    return make


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda path: path / "missing", "no such file or folder"),
        (lambda path: _touch(path / "file"), "is a file"),
        (_folder_holding(), "is empty: no checkpoint was saved there"),
        (_folder_holding("notes.txt", "meta/"), "not a gan-jax checkpoint"),
        (_folder_holding("7/arrays/", "8/meta/"), "not a gan-jax checkpoint"),
        (_folder_holding("gan/"), "gan is empty"),
        (_folder_holding("gans/"), "not a gan-jax checkpoint"),
        (_folder_holding("gans/seed-1/x"), "not a gan-jax checkpoint"),
    ],
)
def test_restore_rejects_what_is_not_a_checkpoint(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(CheckpointError, match=message) as caught:
        restore(path)
    assert str(path) in str(caught.value)


def _edit_meta(change):
    def edit(step_folder: Path) -> None:
        path = step_folder / "meta" / "metadata"
        meta = json.loads(path.read_text())
        change(meta)
        path.write_text(json.dumps(meta))

    return edit


def _write_meta(text: bytes):
    def write(step_folder: Path) -> None:
        (step_folder / "meta" / "metadata").write_bytes(text)

    return write


@pytest.mark.usefixtures("collect_orbax_leftovers")
@pytest.mark.parametrize(
    "damage, message",
    [
        (_write_meta(b'{"format": "gan-jax'), "metadata cannot be read"),
        (_write_meta(b"\xff\xfe\x00garbage"), "metadata cannot be read"),
        (_write_meta(b"[1, 2]"), "not a gan-jax checkpoint"),
        (
            lambda step: (step / "meta" / "metadata").unlink(),
            "no meta/metadata",
        ),
        (_edit_meta(lambda m: m.update(format="other")), "not a gan-jax"),
        (
            _edit_meta(lambda m: m.update(format_version=2)),
            "format version 2; this gan-jax reads version 1",
        ),
        (_edit_meta(lambda m: m.pop("format_version")), "version None"),
        (
            _edit_meta(lambda m: m["config"].update(momentum=0.9)),
            "metadata is inconsistent",
        ),
        (
            _edit_meta(lambda m: m["config"].update(latent_dim=-1)),
            "metadata is inconsistent",
        ),
        (
            _edit_meta(lambda m: m.update(feature_names=["a"])),
            "metadata is inconsistent",
        ),
        (_edit_meta(lambda m: m.pop("config")), "metadata is inconsistent"),
        (
            _edit_meta(
                lambda m: m.update(
                    num_features=4, feature_names=["a", "b", "c", "d"]
                )
            ),
            "is damaged",
        ),
        (
            _edit_meta(lambda m: m.update(checksum="0" * 64)),
            "do not match the checksum",
        ),
        # Valid, plausible edits are caught too: the checksum covers what
        # the metadata says, not only the arrays.
        (
            _edit_meta(lambda m: m["config"].update(learning_rate=0.001)),
            "do not match the checksum",
        ),
        (
            _edit_meta(lambda m: m.update(minority_label="fraud")),
            "do not match the checksum",
        ),
        (
            _edit_meta(lambda m: m.update(feature_names=["x0", "x2", "x1"])),
            "do not match the checksum",
        ),
    ],
)
def test_damaged_metadata_is_reported(saved, tmp_path, damage, message):
    step_folder = _copy_step(saved, tmp_path)
    damage(step_folder)
    for path in (step_folder, tmp_path):
        with pytest.raises(CheckpointError, match=message) as caught:
            restore(path)
        assert str(step_folder) in str(caught.value)


def test_arrays_of_another_checkpoint_fail_the_checksum(saved, tmp_path):
    step_folder = _copy_step(saved, tmp_path)
    other = save(tmp_path / "other", _straight(8, seed=1))
    shutil.rmtree(step_folder / "arrays")
    shutil.copytree(other / "arrays", step_folder / "arrays")
    with pytest.raises(CheckpointError, match="do not match the checksum"):
        restore(step_folder)


@pytest.mark.usefixtures("collect_orbax_leftovers")
@pytest.mark.parametrize("how", ["truncate", "flip", "empty", "delete"])
def test_damaged_array_data_is_reported(saved, tmp_path, how):
    step_folder = _copy_step(saved, tmp_path)
    data_files = [
        *(step_folder / "arrays" / "d").iterdir(),
        step_folder / "arrays" / "manifest.ocdbt",
    ]
    assert len(data_files) >= 2
    for index, path in enumerate(data_files):
        copy = _copy_step(step_folder.parent, tmp_path / f"copy-{index}")
        _damage(copy / path.relative_to(step_folder), how, 0.5)
        with pytest.raises(CheckpointError, match="is damaged") as caught:
            restore(copy)
        assert str(copy) in str(caught.value)


def _damage(path: Path, how: str, where: float) -> None:
    data = bytearray(path.read_bytes())
    position = min(int(where * len(data)), len(data) - 1)
    if how == "truncate":
        path.write_bytes(bytes(data[:position]))
    elif how == "flip":
        data[position] ^= 0xFF
        path.write_bytes(bytes(data))
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()


@pytest.mark.usefixtures("collect_orbax_leftovers")
@settings(max_examples=8, deadline=None)
@given(
    data=st.data(),
    how=st.sampled_from(["truncate", "flip", "empty", "delete"]),
    where=st.floats(min_value=0, max_value=1),
)
def test_any_damaged_array_file_fails_or_restores_the_same(
    saved, data, how, where
):
    # Orbax keeps files it never reads again (ocdbt.process_0, _sharding):
    # damage there may go unnoticed, but never into other values.
    files = sorted(
        path.relative_to(saved / "8")
        for path in (saved / "8" / "arrays").rglob("*")
        if path.is_file()
    )
    target = data.draw(st.sampled_from(files))
    with tempfile.TemporaryDirectory() as folder:
        step_folder = _copy_step(saved, Path(folder))
        _damage(step_folder / target, how, where)
        try:
            restored = restore(step_folder)
        except CheckpointError as error:
            assert "is damaged" in str(error)
            assert str(step_folder) in str(error)
        else:
            assert_same_checkpoint(restored, _straight(8))


@pytest.mark.parametrize(
    "change, message",
    [
        (
            dict(config=dataclasses.replace(CONFIG, learning_rate=1e-3)),
            r"another configuration: learning_rate \(0\.0002 in the "
            r"checkpoint, 0\.001 now\)",
        ),
        (
            dict(config=dataclasses.replace(CONFIG, batch_size=16)),
            r"batch_size \(8 in the checkpoint, 16 now\)",
        ),
        (
            dict(rows=np.concatenate([_rows(), _rows()[:, :1]], axis=1)),
            "3 features, the data has 4",
        ),
        (dict(rows=_rows(seed=1)), "other rows"),
        (dict(rows=_rows()[:-1]), "other rows"),
        (dict(rows=_nudged(_rows())), "other rows"),
        (dict(seed=1), "another seed"),
        (dict(feature_names=("a", "b", "c")), "other columns"),
        (dict(target="label"), "target 'Class', not 'label'"),
        (dict(minority_label="fraud"), "minority_label 1, not 'fraud'"),
        (dict(num_steps=6), "at step 8, past the 6 steps"),
    ],
)
def test_resuming_a_mismatched_folder_is_refused(
    saved, tmp_path, change, message
):
    directory = tmp_path / "gan"
    shutil.copytree(saved, directory)
    change = dict(change)
    num_steps = change.pop("num_steps", 12)
    with pytest.raises(CheckpointError, match=message) as caught:
        _fit(num_steps, directory, every=4, **change)
    assert str(directory) in str(caught.value)
    assert _step_folders(directory) == [4, 8]
    assert_same_checkpoint(restore(directory), _straight(8))


def test_train_checkpointed_rejects_bad_arguments(tmp_path):
    for arguments, message in [
        (dict(num_steps=-1), "num_steps"),
        (dict(every=0), "every"),
        (dict(feature_names=("a", "b")), "2 feature names for 3"),
    ]:
        arguments = dict(arguments)
        with pytest.raises(ValueError, match=message):
            _fit(arguments.pop("num_steps", 4), tmp_path, **arguments)
    with pytest.raises(ValueError, match="keep"):
        save(tmp_path, _straight(2), keep=0)
    assert latest_step(tmp_path) is None


def test_train_checkpointed_rejects_keep_zero(tmp_path):
    try:
        _fit(4, tmp_path, every=2, keep=0)
    except ValueError as error:
        assert "keep" in str(error)
    else:
        assert latest_step(tmp_path) == 4, "keep=0 left no checkpoint"


def test_saving_into_a_file_is_a_checkpoint_error(tmp_path):
    path = _touch(tmp_path / "file")
    error = _raised_by(lambda: save(path, _straight(2)))
    assert isinstance(error, CheckpointError), repr(error)
    assert "cannot use" in str(error)


# --- finding checkpoints ----------------------------------------------------


def test_resolve_finds_train_and_run_folders(saved, tmp_path):
    train_out = tmp_path / "train"
    shutil.copytree(saved, train_out / "gan")
    assert resolve(train_out) == train_out / "gan" / "8"
    assert resolve(train_out / "gan" / "4") == train_out / "gan" / "4"
    assert_same_checkpoint(restore(train_out), _straight(8))

    run_out = tmp_path / "run"
    shutil.copytree(saved, run_out / "gans" / "seed-3")
    (run_out / "fits").mkdir()
    assert resolve(run_out) == run_out / "gans" / "seed-3" / "8"
    assert_same_checkpoint(restore(run_out), _straight(8))

    shutil.copytree(saved, run_out / "gans" / "seed-4")
    with pytest.raises(CheckpointError, match="holds 2 GANs") as caught:
        restore(run_out)
    for seed in (3, 4):
        assert str(run_out / "gans" / f"seed-{seed}") in str(caught.value)
    assert resolve(run_out / "gans" / "seed-4") == (
        run_out / "gans" / "seed-4" / "8"
    )


def test_latest_step_of_missing_or_empty_folders_is_none(tmp_path):
    assert latest_step(tmp_path / "missing") is None
    assert latest_step(tmp_path) is None
    assert latest_step(_touch(tmp_path / "file")) is None


# --- sampling ---------------------------------------------------------------


def test_sample_gives_rows_in_the_original_units():
    trained = _straight(8)
    rows = _rows()
    key = jax.random.key(7)
    first = trained.sample(500, key)
    assert first.shape == (500, NUM_FEATURES)
    np.testing.assert_array_equal(first, trained.sample(500, key))
    np.testing.assert_array_equal(first[:20], trained.sample(20, key))
    assert not np.array_equal(first, trained.sample(500, jax.random.key(8)))
    assert trained.sample(0, key).shape == (0, NUM_FEATURES)
    # The generator ends in tanh: back in scaled units every value lies in
    # [-1, 1], so in original units within the training rows' range.
    scaled = trained.scaler.transform(first)
    assert np.all(np.abs(scaled) <= 1 + 1e-6)
    span = rows.max(axis=0) - rows.min(axis=0)
    assert np.all(first >= rows.min(axis=0) - 1e-5 * span)
    assert np.all(first <= rows.max(axis=0) + 1e-5 * span)
    # Not just in range: spread over each feature's own scale.
    assert np.all(first.std(axis=0) > 1e-3 * span)


# --- keeping steps ----------------------------------------------------------


@pytest.mark.parametrize("keep", [1, 2])
def test_only_the_newest_steps_are_kept(tmp_path, keep):
    _fit(10, tmp_path, every=2, keep=keep)
    assert _step_folders(tmp_path) == [2, 4, 6, 8, 10][-keep:]
    remove_older_steps(tmp_path)
    assert _step_folders(tmp_path) == [10]
    assert_same_checkpoint(restore(tmp_path), _straight(10))
    remove_older_steps(tmp_path)
    assert _step_folders(tmp_path) == [10]


def test_save_keeps_the_newest_steps(tmp_path):
    for steps in (2, 4, 6):
        save(tmp_path, _straight(steps), keep=2)
    assert _step_folders(tmp_path) == [4, 6]
    assert_same_checkpoint(restore(tmp_path / "4"), _straight(4))


def test_remove_older_steps_leaves_other_files_alone(saved, tmp_path):
    directory = tmp_path / "gan"
    shutil.copytree(saved, directory)
    _touch(directory / "notes.txt")
    shutil.copytree(saved / "4", directory / "6.orbax-checkpoint-tmp")
    remove_older_steps(directory)
    assert sorted(p.name for p in directory.iterdir()) == [
        "6.orbax-checkpoint-tmp",
        "8",
        "notes.txt",
    ]
    remove_older_steps(tmp_path)  # no steps at all: nothing to do
    assert (directory / "8").is_dir()


# --- conditional GANs ---------------------------------------------------------

CONDITIONAL_CONFIG = dataclasses.replace(CONFIG, objective="conditional")


def _labels() -> np.ndarray:
    return (np.arange(NUM_ROWS) % 5 == 0).astype(np.int64)


def test_a_conditional_gan_resumes_to_the_same_bits(tmp_path):
    rows, labels = _rows(seed=4), _labels()

    def fit(num_steps, directory=None):
        return _fit(
            num_steps,
            directory,
            every=4,
            rows=rows,
            labels=labels,
            config=CONDITIONAL_CONFIG,
        )

    fit(4, tmp_path)
    resumed = fit(8, tmp_path)
    straight = fit(8)
    assert_same_checkpoint(resumed, straight)
    assert_same_checkpoint(restore(tmp_path), straight)
    # Scaled on every row, majority included; sampled with label 1.
    np.testing.assert_array_equal(resumed.scaler.data_min, rows.min(axis=0))
    key = jax.random.key(8)
    np.testing.assert_array_equal(
        restore(tmp_path).sample(50, key), straight.sample(50, key)
    )
    assert resumed.sample(50, key).shape == (50, NUM_FEATURES)


def test_a_conditional_folder_of_other_labels_is_not_resumed(tmp_path):
    rows, labels = _rows(seed=4), _labels()
    _fit(
        4,
        tmp_path,
        every=4,
        rows=rows,
        labels=labels,
        config=CONDITIONAL_CONFIG,
    )
    error = _raised_by(
        lambda: _fit(
            8,
            tmp_path,
            every=4,
            rows=rows,
            labels=np.roll(labels, 1),
            config=CONDITIONAL_CONFIG,
        )
    )
    assert isinstance(error, CheckpointError)
    assert "other rows" in str(error)


@pytest.mark.parametrize(
    "config, labels, message",
    [
        (CONDITIONAL_CONFIG, None, "pass labels"),
        (CONFIG, _labels(), "labels are for the conditional objective"),
        (CONDITIONAL_CONFIG, _labels()[:-1], "labels for"),
    ],
)
def test_labels_go_with_conditional_gans_only(config, labels, message):
    with pytest.raises(ValueError, match=message):
        _fit(2, config=config, labels=labels)


# --- model selection ----------------------------------------------------------


def test_selection_samples_from_the_step_closest_to_the_training_rows():
    rows = _rows()
    selecting = _fit(12, select_every=4)
    measured = []
    for step in (4, 8, 12):
        plain = _straight(step)
        generated = np.asarray(
            gan_jax.sample(
                plain.state, SELECTION_ROWS, selection_key(plain.key)
            )
        )
        distance = marginal_distance(plain.scaler.transform(rows), generated)
        measured.append((step, distance, plain))
    np.testing.assert_array_equal(
        selecting.selection, [[step, d] for step, d, _ in measured]
    )
    _, _, best = min(measured, key=lambda item: item[1])
    assert selecting.selected_step == best.step
    assert tree_equal(selecting.selected, best.state)
    # Training itself is untouched by the measurements.
    assert tree_equal(selecting.state, _straight(12).state)
    key = jax.random.key(9)
    np.testing.assert_array_equal(
        selecting.sample(100, key), best.sample(100, key)
    )


def test_without_selection_the_last_step_samples():
    plain = _straight(8)
    assert plain.selected is None and plain.select_every is None
    assert plain.selected_step == 8
    assert plain.generator is plain.state


@pytest.mark.parametrize("stop_at", [6, 8])
def test_a_selecting_run_resumes_to_the_same_bits(tmp_path, stop_at):
    _fit(stop_at, tmp_path, every=3, select_every=4)
    resumed = _fit(12, tmp_path, every=3, select_every=4)
    straight = _fit(12, select_every=4)
    assert_same_checkpoint(resumed, straight)
    restored = restore(tmp_path)
    assert_same_checkpoint(restored, straight)
    key = jax.random.key(9)
    np.testing.assert_array_equal(
        restored.sample(100, key), straight.sample(100, key)
    )


def test_a_folder_with_another_selection_is_not_resumed(tmp_path):
    _fit(4, tmp_path, every=4, select_every=4)
    error = _raised_by(lambda: _fit(8, tmp_path, every=4))
    assert isinstance(error, CheckpointError)
    assert "select_every 4" in str(error)


@pytest.mark.parametrize("select_every", [0, -4, 2.5, True])
def test_a_bad_selection_interval_is_refused(select_every):
    with pytest.raises(ValueError, match="select_every"):
        _fit(4, select_every=select_every)


@pytest.fixture(scope="module")
def saved_selecting(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("selecting")
    _fit(8, directory, every=8, select_every=4)
    return directory


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.update(selected_step=9), "metadata is inconsistent"),
        (lambda m: m.update(measurements=0), "metadata is inconsistent"),
        (lambda m: m.update(selected_step=8), "do not match the checksum"),
        (lambda m: m.update(select_every=2), "do not match the checksum"),
    ],
)
def test_damaged_selection_metadata_is_reported(
    saved_selecting, tmp_path, change, message
):
    step_folder = _copy_step(saved_selecting, tmp_path)
    _edit_meta(change)(step_folder)
    with pytest.raises(CheckpointError, match=message):
        restore(step_folder)
