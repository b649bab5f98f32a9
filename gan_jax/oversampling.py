"""Oversamplers: ways to give a classifier more (or heavier) minority rows.

Every oversampler sees the training split only. `ratio` means the same for
all of them: the number of minority rows over the number of majority rows
after resampling (imbalanced-learn's float `sampling_strategy`).

`GANOversampler` is an imbalanced-learn sampler, so it also works inside
`imblearn.pipeline.Pipeline` and scikit-learn cross-validation.
"""

from __future__ import annotations

import dataclasses
import logging
import numbers
import os
from pathlib import Path

import jax
import numpy as np
from imblearn.over_sampling import (
    ADASYN,
    SMOTE,
    BorderlineSMOTE,
    RandomOverSampler,
)
from imblearn.over_sampling.base import BaseOverSampler
from sklearn.utils import check_random_state

from gan_jax.checkpoints import (
    DEFAULT_CHECKPOINT_EVERY,
    train_checkpointed,
)
from gan_jax.config import GANConfig
from gan_jax.data import DataError
from gan_jax.training import DEFAULT_CHUNK_SIZE, gan_keys

logger = logging.getLogger(__name__)

#: Names accepted by `resample` (and by --oversamplers), baseline first.
OVERSAMPLERS = (
    "none",
    "class-weight",
    "random",
    "smote",
    "borderline-smote",
    "adasyn",
    "gan",
)

#: The reference study's weights: a minority row counts ten times.
REFERENCE_CLASS_WEIGHTS = {0: 1.0, 1: 10.0}

#: Neighbours for the SMOTE family (imbalanced-learn's default).
_NEIGHBOURS = 5


@dataclasses.dataclass(frozen=True, eq=False)
class Resampled:
    """A training set after oversampling.

    Attributes:
        features: (rows, features) real rows, then any synthetic rows.
        labels: (rows,) 0/1 labels.
        sample_weight: (rows,) per-row weights, or None for equal weights.
        num_synthetic: how many rows were added.
    """

    features: np.ndarray
    labels: np.ndarray
    sample_weight: np.ndarray | None
    num_synthetic: int


def num_rows_to_add(labels: np.ndarray, ratio: float) -> int:
    """Minority rows to add so that minority / majority reaches `ratio`.

    Zero when the training rows already reach it (as imbalanced-learn's
    arithmetic has it: int(ratio * majority) - minority).
    """
    if not isinstance(ratio, numbers.Real) or not 0 < ratio <= 1:
        raise ValueError(f"ratio must lie in (0, 1], got {ratio!r}")
    labels = np.asarray(labels)
    num_minority = int((labels == 1).sum())
    num_majority = int((labels == 0).sum())
    return max(0, int(ratio * num_majority) - num_minority)


def resample(
    name: str,
    features: np.ndarray,
    labels: np.ndarray,
    *,
    ratio: float,
    seed: int,
    class_weight: str = "reference",
    synthetic: np.ndarray | None = None,
) -> Resampled:
    """Applies the oversampler `name` to a training set.

    Args:
        name: one of `OVERSAMPLERS`.
        features: (rows, features) training rows in original units.
        labels: (rows,) 0/1 training labels.
        ratio: minority / majority after resampling (not used by `none` and
            `class-weight`).
        seed: random state of the imbalanced-learn samplers.
        class_weight: for `class-weight`: "reference" ({0: 1, 1: 10}) or
            "balanced" (each class weighs as much in total).
        synthetic: for `gan`: the generated minority rows, in original
            units (from `GANOversampler`); at most the number to add is used.

    Returns:
        The resampled training set.
    """
    features = np.asarray(features)
    labels = np.asarray(labels)
    if name == "none":
        return Resampled(features, labels, None, 0)
    if name == "class-weight":
        return Resampled(
            features, labels, class_weights(labels, class_weight), 0
        )
    if name not in OVERSAMPLERS:
        raise ValueError(
            f"unknown oversampler {name!r}; choose from "
            f"{', '.join(OVERSAMPLERS)}"
        )

    to_add = num_rows_to_add(labels, ratio)
    if to_add == 0:
        return Resampled(features, labels, None, 0)
    if name == "gan":
        if synthetic is None or len(synthetic) < to_add:
            raise ValueError(
                f"the gan oversampler needs {to_add} synthetic rows, got "
                f"{0 if synthetic is None else len(synthetic)}"
            )
        new_rows = np.asarray(synthetic[:to_add], dtype=features.dtype)
        return Resampled(
            np.concatenate([features, new_rows]),
            np.concatenate([labels, np.ones(to_add, labels.dtype)]),
            None,
            to_add,
        )

    target = {1: int((labels == 1).sum()) + to_add}
    neighbours = min(_NEIGHBOURS, int((labels == 1).sum()) - 1)
    sampler = {
        "random": lambda: RandomOverSampler(
            sampling_strategy=target, random_state=seed
        ),
        "smote": lambda: SMOTE(
            sampling_strategy=target, random_state=seed, k_neighbors=neighbours
        ),
        "borderline-smote": lambda: BorderlineSMOTE(
            sampling_strategy=target, random_state=seed, k_neighbors=neighbours
        ),
        "adasyn": lambda: ADASYN(
            sampling_strategy=target, random_state=seed, n_neighbors=neighbours
        ),
    }[name]()
    try:
        new_features, new_labels = sampler.fit_resample(features, labels)
    except (ValueError, RuntimeError) as error:
        # imbalanced-learn refuses some data outright (ADASYN when no
        # minority row has a majority neighbour); say which and why.
        raise DataError(
            f"{name} cannot oversample this training split: "
            f"{str(error).strip().splitlines()[0].rstrip('.')}; leave it "
            "out with --oversamplers"
        ) from None
    return Resampled(
        new_features, new_labels, None, len(new_labels) - len(labels)
    )


def class_weights(labels: np.ndarray, kind: str = "reference") -> np.ndarray:
    """Per-row weights: "reference" {0: 1, 1: 10} or "balanced"."""
    labels = np.asarray(labels)
    if kind == "reference":
        weights = REFERENCE_CLASS_WEIGHTS
    elif kind == "balanced":
        counts = np.bincount(labels, minlength=2)
        weights = {c: len(labels) / (2 * counts[c]) for c in (0, 1)}
    else:
        raise ValueError(
            f"class_weight must be 'reference' or 'balanced', got {kind!r}"
        )
    return np.where(labels == 1, weights[1], weights[0]).astype(np.float64)


def gan_training_rows(
    features: np.ndarray, labels: np.ndarray, label, config: GANConfig
) -> tuple[np.ndarray, np.ndarray | None]:
    """What a GAN learns to make rows of class `label`: (rows, None), that
    class's rows; or, for the "conditional" objective, every row with its
    0/1 label (1: of class `label`)."""
    features, labels = np.asarray(features), np.asarray(labels)
    if config.objective == "conditional":
        return features, (labels == label).astype(np.int32)
    return features[labels == label], None


def random_state_key(random_state) -> jax.Array:
    """A JAX key from a scikit-learn style `random_state`.

    An int is the seed; None means 0, so that results are always
    reproducible; a NumPy RandomState gives its next integer.
    """
    if random_state is None:
        return jax.random.key(0)
    if isinstance(random_state, numbers.Integral):
        return jax.random.key(int(random_state))
    state = check_random_state(random_state)
    return jax.random.key(int(state.randint(2**31 - 1)))


class GANOversampler(BaseOverSampler):
    """Oversampling with a GAN per resampled class (imbalanced-learn API).

    For each class that `sampling_strategy` asks more rows of, a GAN is
    trained on that class's rows (scaled to [-1, 1] by a `Scaler` fitted on
    them) and the missing rows are sampled and mapped back to the original
    units. A "conditional" GAN learns every row instead, labelled 1 for
    that class and 0 for the others (the scaler fitted on all of them),
    and is sampled with label 1.

    Args:
        sampling_strategy: as for every imbalanced-learn oversampler; a
            float is the minority / majority ratio after resampling.
        random_state: an int seeds the GAN (initialisation, training,
            sampling) through one JAX key; None means 0, so that results are
            always reproducible; a NumPy RandomState gives its next integer.
        config: the GAN's configuration (the reference GAN by default).
        num_steps: training steps per GAN.
        chunk_size: steps per compiled call (does not change results).
        callback: passed to `gan_jax.train`, called after each chunk with
            the state and the chunk's metrics (progress bars).
        checkpoint_dir: if given, each GAN saves its training every
            `checkpoint_every` steps into `checkpoint_dir/class-<label>`,
            and a later fit on the same rows continues from there (see
            `gan_jax.checkpoints.train_checkpointed`).
        checkpoint_every: steps between saves.
        select_every: model selection: sample from the step, among every
            `select_every`-th, whose rows are closest to the training rows
            of the class (see `gan_jax.train_checkpointed`); None: from
            the last step.

    Attributes:
        states_: the trained `GANState` per resampled class.
        histories_: the training metrics per resampled class.
        scalers_: the fitted `Scaler` per resampled class.
        synthetic_: the generated rows per resampled class.
    """

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "config": [GANConfig, None],
        "num_steps": [numbers.Integral],
        "chunk_size": [numbers.Integral],
        "callback": [callable, None],
        "checkpoint_dir": [str, os.PathLike, None],
        "checkpoint_every": [numbers.Integral],
        "select_every": [numbers.Integral, None],
    }

    def __init__(
        self,
        *,
        sampling_strategy="auto",
        random_state=None,
        config: GANConfig | None = None,
        num_steps: int = 1000,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        callback=None,
        checkpoint_dir=None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        select_every: int | None = None,
    ):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state
        self.config = config
        self.num_steps = num_steps
        self.chunk_size = chunk_size
        self.callback = callback
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.select_every = select_every

    def _fit_resample(self, X, y):
        config = self.config or GANConfig()
        root = random_state_key(self.random_state)
        classes = sorted(np.unique(y).tolist())
        self.states_, self.histories_ = {}, {}
        self.scalers_, self.synthetic_ = {}, {}
        new_features, new_labels = [X], [y]
        for label, count in self.sampling_strategy_.items():
            if count <= 0:
                continue
            names = getattr(self, "feature_names_in_", None)
            rows, labels = gan_training_rows(X, y, label, config)
            fitted = train_checkpointed(
                rows,
                config,
                self.num_steps,
                jax.random.fold_in(root, classes.index(label)),
                labels=labels,
                select_every=self.select_every,
                directory=None
                if self.checkpoint_dir is None
                else Path(self.checkpoint_dir) / f"class-{label}",
                every=self.checkpoint_every,
                feature_names=None if names is None else list(names),
                minority_label=label,
                chunk_size=self.chunk_size,
                callback=self.callback,
            )
            synthetic = fitted.sample(
                count, gan_keys(fitted.key).sample
            ).astype(X.dtype)
            state, history, scaler = (
                fitted.state,
                fitted.history,
                fitted.scaler,
            )
            self.states_[label], self.histories_[label] = state, history
            self.scalers_[label], self.synthetic_[label] = scaler, synthetic
            new_features.append(synthetic)
            new_labels.append(np.full(count, label, dtype=y.dtype))
        return np.concatenate(new_features), np.concatenate(new_labels)
