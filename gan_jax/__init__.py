"""gan-jax: deterministic GANs in JAX for the rare class of imbalanced tables.

The public API, re-exported from the modules that define it.
"""

from gan_jax.config import GANConfig
from gan_jax.datasets import BUILTIN_DATASET, make_fraud_like
from gan_jax.models import Discriminator, Generator
from gan_jax.sampling import sample
from gan_jax.scaling import Scaler
from gan_jax.training import (
    METRIC_NAMES,
    GANState,
    init_state,
    train,
    train_step,
)

__version__ = "0.1.0"

__all__ = [
    "BUILTIN_DATASET",
    "METRIC_NAMES",
    "Discriminator",
    "GANConfig",
    "GANState",
    "Generator",
    "Scaler",
    "init_state",
    "make_fraud_like",
    "sample",
    "train",
    "train_step",
]
