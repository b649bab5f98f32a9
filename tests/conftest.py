"""Shared test helpers: a small config, jit on and off, tree equality."""

import os

import jax
import numpy as np
import pytest
from hypothesis import settings

from gan_jax import GANConfig

# CI must not pass or fail by luck: there hypothesis replays the same
# examples every run. Elsewhere it keeps exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Small enough that un-jitted, op-by-op steps stay fast; the same code paths
# as the reference architecture (three generator layers with batch norm, two
# discriminator layers with dropout).
SMALL_CONFIG = GANConfig(
    latent_dim=8,
    generator_widths=(16, 32, 16),
    discriminator_widths=(32, 16),
    batch_size=16,
)


@pytest.fixture(params=["jit", "no_jit"], scope="session")
def maybe_jit(request):
    """Every train_step property is checked with and without `jax.jit`."""
    if request.param == "jit":
        return jax.jit
    return lambda function: function


def tree_equal(left, right) -> bool:
    """Bit-for-bit equality of two pytrees (same structure, same values)."""
    left_leaves, left_def = jax.tree.flatten(left)
    right_leaves, right_def = jax.tree.flatten(right)
    return left_def == right_def and all(
        np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(left_leaves, right_leaves, strict=True)
    )
