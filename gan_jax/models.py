"""Flax (linen) networks of the GAN: a dense generator and discriminator.

Both are plain multilayer perceptrons over table rows. Layer names are
explicit (`dense_0`, `batch_norm_0`, ..., `output`) so that parameter trees
read the same in checkpoints, tests and error messages.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.config import GANConfig

# Keras's Dense default; the reference model was written in Keras, and
# Glorot keeps the deep generator's early outputs away from tanh saturation.
_kernel_init = nn.initializers.glorot_uniform()


def _mix32(x: jax.Array) -> jax.Array:
    """A bijective 32-bit integer hash with low bias (the "lowbias32" mix)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def dropout_keep_mask(key: jax.Array, shape: tuple[int, ...], rate: float):
    """Bernoulli(1 - rate) keep mask from a counter-based hash of `key`.

    Threefry, JAX's default generator, needs about 10 ns per random word on
    these CPUs: the reference discriminator's masks (about 150,000 values
    per step) then cost a third of the whole step. Here threefry draws only
    two 32-bit words from `key`, and each mask value is a hash of its
    position and those words, about 15 times cheaper. The masks stay a pure
    function of the key (same key, same mask, on every platform); the hash
    is ample for dropout but is not a general-purpose generator.

    Returns:
        A boolean array of `shape`, True where a unit is kept.
    """
    seeds = jax.random.bits(key, (2,), jnp.uint32)
    counter = jnp.arange(math.prod(shape), dtype=jnp.uint32).reshape(shape)
    hashed = _mix32(
        _mix32(counter * jnp.uint32(0x9E3779B9) ^ seeds[0]) ^ seeds[1]
    )
    threshold = min(round(rate * 2.0**32), 2**32 - 1)
    return hashed >= jnp.uint32(threshold)


class Dropout(nn.Module):
    """Inverted dropout with hash-based masks (see `dropout_keep_mask`).

    Attributes:
        rate: probability of zeroing a unit, in [0, 1).
    """

    rate: float

    @nn.compact
    def __call__(self, x: jax.Array, *, deterministic: bool) -> jax.Array:
        if deterministic or self.rate == 0.0:
            return x
        keep = dropout_keep_mask(self.make_rng("dropout"), x.shape, self.rate)
        return jnp.where(keep, x / (1.0 - self.rate), jnp.zeros_like(x))


class Generator(nn.Module):
    """Maps latent noise to rows in [-1, 1].

    Each hidden layer is Dense, then LeakyReLU, then BatchNorm (in that
    order, as in the reference model); the output layer is Dense with tanh.

    Attributes:
        config: the GAN's configuration (widths, slope, batch norm).
        num_features: number of values per generated row.
    """

    config: GANConfig
    num_features: int

    @nn.compact
    def __call__(self, noise: jax.Array, *, train: bool) -> jax.Array:
        """Generates rows.

        Args:
            noise: (batch, latent_dim) latent vectors.
            train: batch statistics (and their running average update) when
                True; the running averages when False.

        Returns:
            (batch, num_features) rows in [-1, 1].
        """
        config = self.config
        x = noise
        for index, width in enumerate(config.generator_widths):
            x = nn.Dense(
                width, kernel_init=_kernel_init, name=f"dense_{index}"
            )(x)
            x = nn.leaky_relu(x, config.leaky_relu_slope)
            x = nn.BatchNorm(
                use_running_average=not train,
                momentum=config.batch_norm_momentum,
                epsilon=config.batch_norm_epsilon,
                name=f"batch_norm_{index}",
            )(x)
        x = nn.Dense(
            self.num_features, kernel_init=_kernel_init, name="output"
        )(x)
        return jnp.tanh(x)


class Discriminator(nn.Module):
    """Scores rows: one logit per row, positive for "looks real".

    Each hidden layer is Dense, then LeakyReLU, then Dropout. The output is a
    raw logit; losses are computed from logits, never from a sigmoid, so
    confident mistakes still give finite, informative gradients.

    Attributes:
        config: the GAN's configuration (widths, slope, dropout).
    """

    config: GANConfig

    @nn.compact
    def __call__(self, rows: jax.Array, *, train: bool) -> jax.Array:
        """Scores rows.

        Args:
            rows: (batch, num_features) rows.
            train: dropout is active when True; it then needs a 'dropout'
                PRNG stream in `apply`.

        Returns:
            (batch,) logits.
        """
        config = self.config
        x = rows
        for index, width in enumerate(config.discriminator_widths):
            x = nn.Dense(
                width, kernel_init=_kernel_init, name=f"dense_{index}"
            )(x)
            x = nn.leaky_relu(x, config.leaky_relu_slope)
            x = Dropout(config.dropout_rate, name=f"dropout_{index}")(
                x, deterministic=not train
            )
        x = nn.Dense(1, kernel_init=_kernel_init, name="output")(x)
        return x[..., 0]
