"""Saving and restoring trained GANs, and training that survives interrupts.

A checkpoint is one orbax-checkpoint step folder with two items:

- `arrays`: the `GANState`, the fitted scaler's minima and maxima, the
  GAN's key (as raw key data) and the per-step metrics so far, written
  with orbax's standard array format (tensorstore; no pickle anywhere, so
  a checkpoint from an untrusted source can at worst fail to load);
- `meta`: JSON with the full `GANConfig`, the column names, the label
  column and minority label, the step, a fingerprint of the training rows,
  a checksum of the arrays and the package versions.

With model selection (`select_every`), a checkpoint also holds the
measured steps with their distances and the state of the best one, which
is the one that samples; they are saved and resumed like the rest.

`train_checkpointed` trains one GAN while saving every few steps into a
folder of such steps (orbax's `CheckpointManager`: each save is written to
a temporary folder and renamed into place, so a crash during a save leaves
the previous step intact). Run again on the same folder, it continues from
the last step and ends in the same bits as a run that never stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import shutil
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from gan_jax.config import GANConfig
from gan_jax.quality import marginal_distance
from gan_jax.sampling import sample
from gan_jax.scaling import QuantileScaler, Scaler, make_scaler
from gan_jax.training import (
    DEFAULT_CHUNK_SIZE,
    METRIC_NAMES,
    DivergenceError,
    GANState,
    check_count,
    gan_keys,
    init_state,
    stack_states,
    train_many,
    unstack_states,
    with_labels,
)

logger = logging.getLogger(__name__)

#: Steps between saves unless told otherwise: a save takes about a tenth of
#: a second, 500 steps about two seconds of training on a laptop CPU.
DEFAULT_CHECKPOINT_EVERY = 500

#: Saved steps kept in a training folder; older ones are deleted.
DEFAULT_KEEP = 2

_FORMAT = "gan-jax checkpoint"
_FORMAT_VERSION = 1
_VERSIONED_PACKAGES = (
    "gan-jax",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "orbax-checkpoint",
)


class CheckpointError(Exception):
    """A checkpoint that cannot be used: missing, damaged or mismatched."""


class TrainingInterrupted(Exception):
    """Training stopped on request after its current chunk.

    Attributes:
        step: the step reached, and saved if there is a folder.
        directory: the folder holding the checkpoint, or None when training
            was not saving.
    """

    def __init__(self, step: int, directory: Path | None) -> None:
        super().__init__(
            f"training stopped at step {step}"
            + ("" if directory is None else f", saved in {directory}")
        )
        self.step, self.directory = step, directory


@dataclasses.dataclass(eq=False)
class Checkpoint:
    """A trained (or partly trained) GAN with what it needs to be used.

    Attributes:
        state: the GAN.
        scaler: maps the original units to the [-1, 1] the GAN learned.
        key: the GAN's root key; initialisation, training and the run's own
            sample derive from it (`gan_jax.training.gan_keys`).
        history: each metric of `METRIC_NAMES` for steps 1 to `step`.
        feature_names: the columns the GAN generates, in order.
        target: the label column of the table it came from.
        minority_label: the label value of the rows it learned.
        fingerprint: SHA-256 of the training rows (original units; with
            their labels, for a conditional GAN).
        versions: package versions of the process that saved it.
        select_every: steps between measurements of the generator for
            model selection, or None when training keeps its last step.
        selected: the state at the best step measured so far (see
            `train_checkpointed`), or None without selection.
        selection: (measurements, 2) float64: each measured step and its
            `gan_jax.quality.marginal_distance`.
    """

    state: GANState
    scaler: Scaler | QuantileScaler
    key: jax.Array
    history: dict[str, np.ndarray]
    feature_names: tuple[str, ...]
    target: str
    minority_label: Any
    fingerprint: str
    versions: dict[str, str]
    select_every: int | None = None
    selected: GANState | None = None
    selection: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros((0, 2))
    )

    @property
    def step(self) -> int:
        return int(self.state.step)

    @property
    def config(self) -> GANConfig:
        return self.state.config

    @property
    def generator(self) -> GANState:
        """The GAN that samples: the selected step's where there is one,
        else the last step's."""
        return self.state if self.selected is None else self.selected

    @property
    def selected_step(self) -> int:
        """The step whose GAN samples (the last one without selection)."""
        return int(self.generator.step)

    def sample(self, num_rows: int, key: jax.Array) -> np.ndarray:
        """(num_rows, features) synthetic rows in the original units, from
        `generator`."""
        rows = np.asarray(sample(self.generator, num_rows, key))
        return self.scaler.inverse_transform(rows)


def rows_fingerprint(rows: np.ndarray) -> str:
    """SHA-256 (hex) of a float32 row matrix's shape and values."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    digest = hashlib.sha256(json.dumps(rows.shape).encode())
    digest.update(rows.tobytes())
    return digest.hexdigest()


def save(
    directory: str | Path, checkpoint: Checkpoint, *, keep: int = DEFAULT_KEEP
) -> Path:
    """Saves `checkpoint` as step `checkpoint.step` of `directory`.

    Keeps the newest `keep` steps. Returns the step folder.
    """
    check_count("keep", keep, minimum=1)
    directory = Path(directory).absolute()
    with _manager(directory, keep=keep) as manager:
        _save_with(manager, checkpoint)
    return directory / str(checkpoint.step)


def restore(path: str | Path) -> Checkpoint:
    """Reads a checkpoint.

    Args:
        path: a step folder, or a folder of steps (the newest is read), or
            the output folder of `gan-jax train` or of a one-seed
            `gan-jax run`.

    Raises:
        CheckpointError: nothing there, not a checkpoint, or damaged.
    """
    return _restore_step(resolve(path))


def resolve(path: str | Path) -> Path:
    """The step folder that `path` designates (see `restore`)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"no checkpoint at {path}: no such file or folder"
        )
    if not path.is_dir():
        raise CheckpointError(f"{path} is a file, not a checkpoint folder")
    if _is_step(path):
        return path
    steps = _steps(path)
    if steps:
        return path / str(steps[-1])
    for inner in ("gan", "gans"):
        if (path / inner).is_dir():
            nested = sorted(p for p in (path / inner).iterdir() if p.is_dir())
            if inner == "gan" or len(nested) == 1:
                return resolve(path / inner if inner == "gan" else nested[0])
            if nested:
                raise CheckpointError(
                    f"{path} holds {len(nested)} GANs; choose one of "
                    + ", ".join(str(p) for p in nested)
                )
    if not any(path.iterdir()):
        raise CheckpointError(f"{path} is empty: no checkpoint was saved there")
    raise CheckpointError(f"{path} is not a gan-jax checkpoint")


def latest_step(directory: str | Path) -> int | None:
    """The newest complete step saved in `directory`, or None."""
    directory = Path(directory)
    steps = _steps(directory) if directory.is_dir() else []
    return steps[-1] if steps else None


def train_checkpointed(
    rows: np.ndarray,
    config: GANConfig,
    num_steps: int,
    key: jax.Array,
    *,
    labels: np.ndarray | None = None,
    directory: str | Path | None = None,
    every: int = DEFAULT_CHECKPOINT_EVERY,
    keep: int = DEFAULT_KEEP,
    feature_names: Sequence[str] | None = None,
    target: str = "Class",
    minority_label: Any = 1,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    select_every: int | None = None,
    callback: Callable[[GANState, dict[str, np.ndarray]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Checkpoint:
    """Fits a scaler to `rows` and trains a GAN on them, saving as it goes.

    Without `directory` this is `Scaler` plus `init_state` plus `train`
    (with the keys of `gan_keys(key)`). With it, a step is saved every
    `every` steps and at the end; if the folder already holds steps,
    training continues from the newest one (after checking that it was made
    from the same rows, config and key), and the result is bit for bit
    that of an uninterrupted run.

    Args:
        rows: (rows, features) the rows to learn, in original units.
        config: the GAN's configuration.
        num_steps: total training steps (counting steps already saved).
        key: the GAN's root key (`gan_keys` splits it).
        labels: for the "conditional" objective (and only for it), each
            row's label, 1 for the class the GAN is to make and 0 for the
            others; the scaler is fitted to all the rows, and the GAN
            learns them through `gan_jax.training.with_labels`.
        directory: the folder of saved steps, or None for no saving.
        every: steps between saves.
        keep: saved steps kept.
        feature_names, target, minority_label: recorded with each save, so
            that `gan-jax sample` can write a table like the input.
        chunk_size: steps per compiled call (does not change the result).
        select_every: model selection: every `select_every` steps,
            `SELECTION_ROWS` rows are generated (of label 1, for a
            conditional GAN; always with the same key) and their
            `gan_jax.quality.marginal_distance` to the rows of the class
            the GAN makes, scaled, is measured; the state of the step
            with the smallest distance so far is kept as `selected`, and
            `Checkpoint.sample` draws from it. Only training rows are
            used. Steps after the last multiple of `select_every` are
            never candidates (measuring the end of a run would make a run
            continued to more steps select differently from one that went
            there at once); with fewer steps than `select_every` nothing
            is measured and the last step samples, as with None.
        callback: called after each chunk with the state and its metrics.
        should_stop: asked after each chunk; if it answers True, the state
            is saved and `TrainingInterrupted` raised.

    Returns:
        The trained GAN as a `Checkpoint`.

    Raises:
        CheckpointError: the folder holds a checkpoint of other rows,
            config or key, or a damaged one.
        DivergenceError: a loss or parameter became NaN or infinite; the
            folder keeps its last finite step.
        TrainingInterrupted: `should_stop` answered True.
    """
    (trained,) = train_many_checkpointed(
        [rows],
        config,
        num_steps,
        [key],
        labels=None if labels is None else [labels],
        directories=None if directory is None else [directory],
        every=every,
        keep=keep,
        feature_names=feature_names,
        target=target,
        minority_label=minority_label,
        chunk_size=chunk_size,
        select_every=select_every,
        callback=None
        if callback is None
        else lambda states, metrics: callback(
            unstack_states(states)[0],
            {name: values[0] for name, values in metrics.items()},
        ),
        should_stop=should_stop,
    )
    return trained


def train_many_checkpointed(
    rows: Sequence[np.ndarray],
    config: GANConfig,
    num_steps: int,
    keys: Sequence[jax.Array],
    *,
    labels: Sequence[np.ndarray] | None = None,
    directories: Sequence[str | Path] | None = None,
    every: int = DEFAULT_CHECKPOINT_EVERY,
    keep: int = DEFAULT_KEEP,
    feature_names: Sequence[str] | None = None,
    target: str = "Class",
    minority_label: Any = 1,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    select_every: int | None = None,
    seeds_per_group: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    callback: Callable[[GANState, dict[str, np.ndarray]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[Checkpoint]:
    """`train_checkpointed` for many GANs at once, through `train_many`.

    GAN i learns `rows[i]` with root key `keys[i]` and saves into
    `directories[i]`; each ends in the bits `train_checkpointed` gives it
    alone, and each folder is one that `restore` and `gan-jax sample` read.
    The GANs train in step with each other and are saved together. On
    folders that already hold steps, all continue from the newest step that
    every folder holds (a run stopped in the middle of saving them may have
    saved some GANs one step further; those later steps are deleted and
    made again, to the same bits).

    Args:
        rows: per GAN, (rows, features) in original units; row counts may
            differ, features may not.
        config: the configuration of every GAN.
        num_steps: total training steps (counting steps already saved).
        keys: per GAN, its root key.
        labels: per GAN, its rows' 0/1 labels ("conditional" only; see
            `train_checkpointed`).
        directories: per GAN, its folder of saved steps; None for no saving.
        every, keep, feature_names, target, minority_label, chunk_size,
        select_every: as for `train_checkpointed`, the same for every GAN.
        seeds_per_group, devices: as for `gan_jax.training.train_many`.
        callback: called after each chunk with the stacked states and the
            chunk's metrics, each of shape (GANs, steps).
        should_stop: asked after each chunk; True saves every GAN and
            raises `TrainingInterrupted`.

    Returns:
        The trained GANs, one `Checkpoint` each, in the order of `keys`.

    Raises:
        CheckpointError, DivergenceError, TrainingInterrupted: as for
            `train_checkpointed`; a divergence names the GAN's folder.
    """
    check_count("num_steps", num_steps, minimum=0)
    check_count("every", every, minimum=1)
    check_count("keep", keep, minimum=1)
    if select_every is not None:
        check_count("select_every", select_every, minimum=1)
    rows = [np.asarray(part, dtype=np.float32) for part in rows]
    keys = list(keys)
    if not rows or len(rows) != len(keys):
        raise ValueError(
            f"{len(rows)} row arrays for {len(keys)} keys; give one per key"
        )
    if directories is not None:
        directories = [Path(directory).absolute() for directory in directories]
        if len(directories) != len(keys):
            raise ValueError(
                f"{len(directories)} folders for {len(keys)} keys; give one "
                "per key"
            )
    labels = _check_labels(labels, rows, config)
    current = [
        _fresh(
            part,
            part_labels,
            config,
            key,
            feature_names,
            target,
            minority_label,
            select_every,
        )
        for part, part_labels, key in zip(rows, labels, keys, strict=True)
    ]
    # What selection measures against: the rows of the class each GAN
    # makes, scaled as it learned them.
    references = [
        checkpoint.scaler.transform(
            part if part_labels is None else part[part_labels == 1]
        )
        for checkpoint, part, part_labels in zip(
            current, rows, labels, strict=True
        )
        if select_every is not None
    ]
    scaled = [
        checkpoint.scaler.transform(part)
        if part_labels is None
        else with_labels(checkpoint.scaler.transform(part), part_labels)
        for checkpoint, part, part_labels in zip(
            current, rows, labels, strict=True
        )
    ]
    if directories is not None:
        current = _resume_all(directories, current, num_steps)

    with contextlib.ExitStack() as stack:
        managers = (
            None
            if directories is None
            else [
                stack.enter_context(_manager(directory, keep=keep))
                for directory in directories
            ]
        )
        chunks = [[checkpoint.history] for checkpoint in current]

        def updated(states: GANState) -> list[Checkpoint]:
            return [
                _with_history(checkpoint, state, seed_chunks)
                for checkpoint, state, seed_chunks in zip(
                    current, unstack_states(states), chunks, strict=True
                )
            ]

        def on_chunk(states: GANState, metrics: dict[str, np.ndarray]) -> None:
            for index, seed_chunks in enumerate(chunks):
                seed_chunks.append(
                    {name: values[index] for name, values in metrics.items()}
                )
            if callback is not None:
                callback(states, metrics)
            if should_stop is not None and should_stop():
                step = int(np.asarray(states.step)[0])
                if managers is None:
                    raise TrainingInterrupted(step, None)
                _save_all(managers, updated(states))
                raise TrainingInterrupted(step, _common_parent(directories))

        step = current[0].step
        # Without folders, one call; with them, one call per save; and one
        # per selection measurement.
        stops = [every] if managers is not None else []
        stops += [] if select_every is None else [select_every]
        try:
            while step < num_steps:
                target_step = min(
                    [num_steps] + [(step // n + 1) * n for n in stops]
                )
                states, _ = train_many(
                    config,
                    scaled,
                    [checkpoint.key for checkpoint in current],
                    target_step - step,
                    states=stack_states([c.state for c in current]),
                    chunk_size=chunk_size,
                    seeds_per_group=seeds_per_group,
                    devices=devices,
                    callback=on_chunk,
                )
                current = updated(states)
                chunks = [[checkpoint.history] for checkpoint in current]
                step = current[0].step
                if select_every is not None and step % select_every == 0:
                    current = [
                        _measured(checkpoint, reference)
                        for checkpoint, reference in zip(
                            current, references, strict=True
                        )
                    ]
                if managers is not None and (
                    step % every == 0 or step == num_steps
                ):
                    _save_all(managers, current)
        except DivergenceError as error:
            if directories is not None:
                where = directories[error.index or 0]
                saved = latest_step(where)
                text = str(error)
                if error.index is not None:
                    text = text.replace(
                        f" of GAN {error.index}", f" of the GAN in {where}", 1
                    )
                    where = "it"
                error.args = (
                    text
                    + (
                        f"; the last finite checkpoint is step {saved} in "
                        f"{where}"
                        if saved is not None
                        else "; nothing was saved before it"
                    ),
                )
            raise
        if managers is not None and any(
            latest_step(directory) != step for directory in directories
        ):
            _save_all(managers, current)
    return current


# -- internals ------------------------------------------------------------


def _with_history(current: Checkpoint, state: GANState, chunks) -> Checkpoint:
    history = {
        name: np.concatenate([chunk[name] for chunk in chunks]).astype(
            np.float32
        )
        for name in METRIC_NAMES
    }
    return dataclasses.replace(current, state=state, history=history)


def _check_labels(
    labels: Sequence[np.ndarray] | None,
    rows: list[np.ndarray],
    config: GANConfig,
) -> list[np.ndarray | None]:
    """Each GAN's labels (None for every GAN but conditional ones)."""
    conditional = config.objective == "conditional"
    if labels is None:
        if conditional:
            raise ValueError(
                "a conditional GAN learns labelled rows: pass labels"
            )
        return [None] * len(rows)
    if not conditional:
        raise ValueError(
            "labels are for the conditional objective, not "
            f"{config.objective!r}"
        )
    labels = [np.asarray(part) for part in labels]
    if len(labels) != len(rows):
        raise ValueError(
            f"{len(labels)} label arrays for {len(rows)} row arrays"
        )
    for part, part_labels in zip(rows, labels, strict=True):
        if part_labels.shape != part.shape[:1]:
            raise ValueError(
                f"{part_labels.size} labels for {part.shape[0]} rows"
            )
    return labels


def _fresh(
    rows: np.ndarray,
    labels: np.ndarray | None,
    config: GANConfig,
    key: jax.Array,
    feature_names: Sequence[str] | None,
    target: str,
    minority_label: Any,
    select_every: int | None = None,
) -> Checkpoint:
    """A GAN at step 0 with its scaler fitted to `rows` (all of them, for a
    conditional GAN: it learns every class)."""
    names = tuple(feature_names or (f"x{i}" for i in range(rows.shape[1])))
    if len(names) != rows.shape[1]:
        raise ValueError(
            f"{len(names)} feature names for {rows.shape[1]} features"
        )
    return Checkpoint(
        state=init_state(config, rows.shape[1], gan_keys(key).init),
        scaler=make_scaler(config.transform).fit(rows),
        key=key,
        history={name: np.zeros(0, np.float32) for name in METRIC_NAMES},
        feature_names=names,
        target=target,
        minority_label=_json_scalar(minority_label),
        fingerprint=rows_fingerprint(
            rows if labels is None else np.column_stack([rows, labels])
        ),
        versions=_versions(),
        select_every=select_every,
    )


#: Rows generated for each model-selection measurement.
SELECTION_ROWS = 2000

#: Folded into a GAN's root key for the rows of model selection, so that
#: they are drawn apart from the rows a run samples.
_SELECTION_STREAM = 0x5E1EC7


def selection_key(key: jax.Array) -> jax.Array:
    """The key of the rows every selection measurement of a GAN draws."""
    return jax.random.fold_in(key, _SELECTION_STREAM)


def _measured(checkpoint: Checkpoint, reference: np.ndarray) -> Checkpoint:
    """`checkpoint` with its current step measured, and selected if it is
    the best so far (ties keep the earlier step)."""
    generated = np.asarray(
        sample(checkpoint.state, SELECTION_ROWS, selection_key(checkpoint.key))
    )
    distance = marginal_distance(reference, generated)
    selection = np.concatenate(
        [checkpoint.selection, [[checkpoint.step, distance]]]
    )
    best = (
        checkpoint.selection[:, 1].min() if len(checkpoint.selection) else None
    )
    if best is None or distance < best:
        return dataclasses.replace(
            checkpoint, selected=checkpoint.state, selection=selection
        )
    return dataclasses.replace(checkpoint, selection=selection)


def _resume_all(
    directories: list[Path], fresh: list[Checkpoint], num_steps: int
) -> list[Checkpoint]:
    """Each GAN at the newest step that every folder holds (see
    `train_many_checkpointed`), or all fresh if some folder holds none."""
    held = [set(_steps(d)) if d.is_dir() else set() for d in directories]
    common = set.intersection(*held)
    step = max(common) if common else None
    for directory, steps in zip(directories, held, strict=True):
        for later in sorted(s for s in steps if step is None or s > step):
            shutil.rmtree(directory / str(later))
    if step is None:
        return fresh
    return [
        _resume_from(directory, checkpoint, num_steps, step=step)
        for directory, checkpoint in zip(directories, fresh, strict=True)
    ]


def _save_all(managers, checkpoints: list[Checkpoint]) -> None:
    for manager, checkpoint in zip(managers, checkpoints, strict=True):
        _save_with(manager, checkpoint)


def _common_parent(directories: list[Path]) -> Path:
    """The folder to name for a stop: the GAN's own, or the one above all."""
    parents = {directory.parent for directory in directories}
    if len(directories) > 1 and len(parents) == 1:
        return parents.pop()
    return directories[0]


def _resume_from(
    directory: Path,
    fresh: Checkpoint,
    num_steps: int,
    *,
    step: int | None = None,
) -> Checkpoint:
    saved = restore(directory if step is None else directory / str(step))
    where = f"the checkpoint in {directory}"
    if saved.config != fresh.config:
        differing = [
            f"{field.name} ({getattr(saved.config, field.name)!r} in the "
            f"checkpoint, {getattr(fresh.config, field.name)!r} now)"
            for field in dataclasses.fields(GANConfig)
            if getattr(saved.config, field.name)
            != getattr(fresh.config, field.name)
        ]
        raise CheckpointError(
            f"{where} was made with another configuration: "
            + "; ".join(differing)
        )
    if saved.select_every != fresh.select_every:
        raise CheckpointError(
            f"{where} was trained with select_every {saved.select_every!r}, "
            f"not {fresh.select_every!r}"
        )
    if saved.state.num_features != fresh.state.num_features:
        raise CheckpointError(
            f"{where} was trained on {saved.state.num_features} features, "
            f"the data has {fresh.state.num_features}"
        )
    if saved.feature_names != fresh.feature_names:
        raise CheckpointError(
            f"{where} was trained on other columns "
            f"({', '.join(saved.feature_names)})"
        )
    for field in ("target", "minority_label"):
        if getattr(saved, field) != getattr(fresh, field):
            raise CheckpointError(
                f"{where} was trained with {field} "
                f"{getattr(saved, field)!r}, not {getattr(fresh, field)!r}"
            )
    if saved.fingerprint != fresh.fingerprint:
        raise CheckpointError(
            f"{where} was trained on other rows (fingerprint "
            f"{saved.fingerprint[:12]}, the data's is {fresh.fingerprint[:12]})"
        )
    if not np.array_equal(
        jax.random.key_data(saved.key), jax.random.key_data(fresh.key)
    ):
        raise CheckpointError(f"{where} was trained with another seed")
    if saved.step > num_steps:
        raise CheckpointError(
            f"{where} is at step {saved.step}, past the {num_steps} steps "
            "asked for"
        )
    logger.info("resuming from step %d of %s", saved.step, directory)
    return saved


def _versions() -> dict[str, str]:
    versions = {}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _json_scalar(value: Any) -> Any:
    """A label value as JSON can hold it (NumPy scalars become Python ones)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is not None and not isinstance(value, (bool, int, float, str)):
        value = str(value)
    return value


def _arrays(checkpoint: Checkpoint) -> dict[str, Any]:
    arrays = {
        "state": checkpoint.state,
        "scaler": _scaler_arrays(checkpoint.scaler),
        "key": np.asarray(jax.random.key_data(checkpoint.key)),
    }
    # Orbax refuses empty arrays: a step-0 checkpoint has no history, and
    # one measured before selection has none of that either.
    if checkpoint.step > 0:
        arrays["history"] = {
            name: np.asarray(checkpoint.history[name], np.float32)
            for name in METRIC_NAMES
        }
    if checkpoint.selected is not None:
        arrays["selected"] = checkpoint.selected
        arrays["selection"] = np.asarray(checkpoint.selection, np.float64)
    return arrays


def _scaler_arrays(scaler: Scaler | QuantileScaler) -> dict[str, np.ndarray]:
    if isinstance(scaler, QuantileScaler):
        return {"knots": np.asarray(scaler.knots, np.float64)}
    return {
        "data_min": np.asarray(scaler.data_min, np.float64),
        "data_max": np.asarray(scaler.data_max, np.float64),
    }


def _scaler_from(arrays: dict[str, np.ndarray], transform: str):
    scaler = make_scaler(transform)
    if isinstance(scaler, QuantileScaler):
        scaler.knots = arrays["knots"]
    else:
        scaler.data_min = arrays["data_min"]
        scaler.data_max = arrays["data_max"]
    return scaler


def _checksum(arrays: dict[str, Any], described: dict[str, Any]) -> str:
    """SHA-256 of the arrays and of what the metadata says about them, so
    that a changed byte in either is caught."""
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode())
    for path, leaf in jax.tree_util.tree_flatten_with_path(arrays)[0]:
        leaf = np.asarray(leaf)
        digest.update(jax.tree_util.keystr(path).encode())
        digest.update(f"{leaf.dtype}{leaf.shape}".encode())
        digest.update(np.ascontiguousarray(leaf).tobytes())
    return digest.hexdigest()


#: Metadata fields covered by the checksum (all but the checksum itself
#: and the informational versions).
_CHECKED_FIELDS = (
    "format",
    "format_version",
    "step",
    "num_features",
    "config",
    "feature_names",
    "target",
    "minority_label",
    "fingerprint",
    "key_impl",
)


def _meta(checkpoint: Checkpoint, arrays: dict[str, Any]) -> dict[str, Any]:
    meta = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "step": checkpoint.step,
        "num_features": checkpoint.state.num_features,
        "config": dataclasses.asdict(checkpoint.config),
        "feature_names": list(checkpoint.feature_names),
        "target": checkpoint.target,
        "minority_label": checkpoint.minority_label,
        "fingerprint": checkpoint.fingerprint,
        "key_impl": _key_impl_name(checkpoint.key),
        "versions": checkpoint.versions,
    }
    if isinstance(checkpoint.scaler, QuantileScaler):
        # The shape of the knots, which restoring needs before reading
        # them (the checksum covers it with the arrays).
        meta["scaler_knots"] = int(checkpoint.scaler.knots.shape[1])
    if checkpoint.select_every is not None:
        meta["select_every"] = checkpoint.select_every
        # What restoring needs to know before reading the arrays.
        meta["selected_step"] = (
            None if checkpoint.selected is None else checkpoint.selected_step
        )
        meta["measurements"] = len(checkpoint.selection)
    # Through JSON first, so that the checksum sees what a reader will
    # (tuples become lists).
    described = json.loads(json.dumps(_described(meta)))
    meta["checksum"] = _checksum(arrays, described)
    return meta


#: Metadata of model selection, checksummed where present (checkpoints
#: saved without selection do not have them).
_SELECTION_FIELDS = ("select_every", "selected_step", "measurements")


def _described(meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata fields the checksum covers."""
    described = {field: meta.get(field) for field in _CHECKED_FIELDS}
    described.update(
        {field: meta[field] for field in _SELECTION_FIELDS if field in meta}
    )
    return described


def _key_impl_name(key: jax.Array) -> str:
    return str(jax.random.key_impl(key))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Orbax reports every save at INFO level and warns about things that
    do not concern a single-process CPU run; the caller says what matters."""
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        absl.setLevel(level)


@contextlib.contextmanager
def _manager(directory: Path, *, keep: int) -> Iterator[ocp.CheckpointManager]:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep,
        # Saves finish before training goes on: a save reported done is on
        # disk, and nothing runs in the background when a signal arrives.
        enable_async_checkpointing=False,
        create=True,
    )
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(
            f"cannot use {directory} for checkpoints: it is a file"
        )
    try:
        with _quiet():
            manager = ocp.CheckpointManager(directory, options=options)
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"cannot use {directory} for checkpoints: {error}"
        ) from None
    try:
        yield manager
    finally:
        with _quiet():
            manager.close()


def _save_with(manager: ocp.CheckpointManager, checkpoint: Checkpoint) -> None:
    arrays = _arrays(checkpoint)
    try:
        with _quiet():
            manager.save(
                checkpoint.step,
                args=ocp.args.Composite(
                    arrays=ocp.args.StandardSave(arrays),
                    meta=ocp.args.JsonSave(_meta(checkpoint, arrays)),
                ),
                force=True,
            )
            manager.wait_until_finished()
    except OSError as error:
        raise CheckpointError(
            f"cannot save step {checkpoint.step} in {manager.directory}: "
            f"{error}"
        ) from None


def _is_step(path: Path) -> bool:
    return (path / "meta").is_dir() and (path / "arrays").is_dir()


def _steps(directory: Path) -> list[int]:
    """Complete steps: orbax writes a step to a temporary name first."""
    return sorted(
        int(child.name)
        for child in directory.iterdir()
        if child.name.isdigit() and child.is_dir() and _is_step(child)
    )


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads((path / "meta" / "metadata").read_text())
    except FileNotFoundError:
        raise CheckpointError(
            f"{path} is not a gan-jax checkpoint (no meta/metadata)"
        ) from None
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is damaged: its metadata cannot be read ({error})"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise CheckpointError(f"{path} is not a gan-jax checkpoint")
    if meta.get("format_version") != _FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version "
            f"{meta.get('format_version')!r}; this gan-jax reads version "
            f"{_FORMAT_VERSION}"
        )
    return meta


def _restore_step(path: Path) -> Checkpoint:
    meta = _read_meta(path)
    try:
        config = GANConfig(**meta["config"])
        num_features = int(meta["num_features"])
        step = int(meta["step"])
        names = tuple(str(name) for name in meta["feature_names"])
        if len(names) != num_features or num_features < 1 or step < 0:
            raise ValueError("inconsistent sizes")
        select_every = meta.get("select_every")
        selected_step = meta.get("selected_step")
        measurements = int(meta.get("measurements", 0))
        if select_every is not None:
            select_every = int(select_every)
        if selected_step is not None:
            selected_step = int(selected_step)
            if not 0 <= selected_step <= step or measurements < 1:
                raise ValueError("inconsistent selection")
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"{path} is damaged: its metadata is inconsistent ({error})"
        ) from None

    try:
        key = jax.random.key(0, impl=str(meta.get("key_impl", "threefry2x32")))
    except (TypeError, ValueError, KeyError) as error:
        raise CheckpointError(
            f"{path} is damaged: unknown key implementation ({error})"
        ) from None
    try:
        knots = int(meta.get("scaler_knots", 2))
    except (TypeError, ValueError):
        raise CheckpointError(
            f"{path} is damaged: its metadata is inconsistent (scaler_knots)"
        ) from None
    template = _template(config, num_features, step, key, knots)
    if selected_step is not None:
        template.selected = template.state.replace(
            step=jax.numpy.asarray(selected_step, template.state.step.dtype)
        )
        template.selection = np.zeros((measurements, 2), np.float64)
    template = _arrays(template)
    try:
        with _quiet():
            checkpointer = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
            restored = checkpointer.restore(
                path.absolute(),
                args=ocp.args.Composite(
                    arrays=ocp.args.StandardRestore(template)
                ),
            )["arrays"]
    except Exception as error:  # orbax and tensorstore raise many kinds
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else ""
        )
        raise CheckpointError(
            f"{path} is damaged: its arrays cannot be read "
            f"({type(error).__name__}: {first_line[:200]})"
        ) from None
    restored = jax.tree.map(np.asarray, restored)
    if _checksum(restored, _described(meta)) != meta.get("checksum"):
        raise CheckpointError(
            f"{path} is damaged: its arrays do not match the checksum "
            "recorded when it was saved"
        )
    scaler = _scaler_from(restored["scaler"], config.transform)
    state = jax.tree.map(jax.numpy.asarray, restored["state"])
    return Checkpoint(
        state=state,
        scaler=scaler,
        key=jax.random.wrap_key_data(
            restored["key"], impl=jax.random.key_impl(key)
        ),
        history={
            name: restored["history"][name] if step else np.zeros(0, np.float32)
            for name in METRIC_NAMES
        },
        feature_names=names,
        target=str(meta.get("target", "Class")),
        minority_label=meta.get("minority_label", 1),
        fingerprint=str(meta.get("fingerprint", "")),
        versions=dict(meta.get("versions", {})),
        select_every=select_every,
        selected=None
        if selected_step is None
        else jax.tree.map(jax.numpy.asarray, restored["selected"]),
        selection=restored["selection"]
        if selected_step is not None
        else np.zeros((0, 2)),
    )


def _template(
    config: GANConfig,
    num_features: int,
    step: int,
    key,
    scaler_knots: int = 2,
) -> Checkpoint:
    """A checkpoint of the right shapes to restore into."""
    zeros = np.zeros(num_features, np.float64)
    scaler = _scaler_from(
        {
            "data_min": zeros,
            "data_max": zeros + 1,
            "knots": np.zeros((num_features, scaler_knots), np.float64),
        },
        config.transform,
    )
    state = init_state(config, num_features, key)
    return Checkpoint(
        state=state.replace(step=jax.numpy.asarray(step, state.step.dtype)),
        scaler=scaler,
        key=key,
        history={name: np.zeros(step, np.float32) for name in METRIC_NAMES},
        feature_names=(),
        target="",
        minority_label=None,
        fingerprint="",
        versions={},
    )


def remove_older_steps(directory: str | Path) -> None:
    """Deletes every saved step of `directory` but the newest."""
    directory = Path(directory)
    for step in _steps(directory)[:-1]:
        shutil.rmtree(directory / str(step))
