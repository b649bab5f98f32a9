"""gan-jax: deterministic GANs in JAX for the rare class of imbalanced tables.

The public API, re-exported from the modules that define it.
"""

from gan_jax.checkpoints import (
    Checkpoint,
    CheckpointError,
    TrainingInterrupted,
    restore,
    save,
    train_checkpointed,
    train_many_checkpointed,
)
from gan_jax.config import DetectSettings, GANConfig, RunSettings
from gan_jax.data import DataError, Split, Table, load_table, split
from gan_jax.datasets import BUILTIN_DATASET, make_fraud_like
from gan_jax.detection import GANAnomalyDetector
from gan_jax.detectors import DetectionResult, compare_detectors
from gan_jax.evaluation import RunResult, run_comparison
from gan_jax.models import Discriminator, Generator
from gan_jax.oversampling import GANOversampler, gan_training_rows
from gan_jax.quality import Quality, synthetic_quality
from gan_jax.sampling import sample
from gan_jax.scaling import QuantileScaler, Scaler
from gan_jax.training import (
    METRIC_NAMES,
    DivergenceError,
    GANState,
    gan_keys,
    init_many,
    init_state,
    stack_states,
    train,
    train_many,
    train_step,
    unstack_states,
    with_labels,
)

__version__ = "0.1.0"

__all__ = [
    "BUILTIN_DATASET",
    "METRIC_NAMES",
    "Checkpoint",
    "CheckpointError",
    "DataError",
    "DetectSettings",
    "DetectionResult",
    "DivergenceError",
    "Discriminator",
    "GANAnomalyDetector",
    "GANConfig",
    "GANOversampler",
    "GANState",
    "Quality",
    "QuantileScaler",
    "Generator",
    "RunResult",
    "RunSettings",
    "Scaler",
    "Split",
    "Table",
    "TrainingInterrupted",
    "compare_detectors",
    "gan_keys",
    "gan_training_rows",
    "init_many",
    "init_state",
    "load_table",
    "make_fraud_like",
    "restore",
    "run_comparison",
    "sample",
    "save",
    "split",
    "stack_states",
    "synthetic_quality",
    "train",
    "train_checkpointed",
    "train_many",
    "train_many_checkpointed",
    "train_step",
    "unstack_states",
    "with_labels",
]
