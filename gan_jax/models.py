"""Flax (linen) networks of the GAN: a dense generator and discriminator.

Both are plain multilayer perceptrons over table rows. Layer names are
explicit (`dense_0`, `batch_norm_0`, ..., `output`) so that parameter trees
read the same in checkpoints, tests and error messages.

The layers are batch-invariant: every sum over the rows of a batch (batch
norm statistics, the bias gradients, the losses) is a fixed binary tree of
elementwise additions (`row_sum`), never an XLA reduction. XLA picks a
reduction's summation order from the shapes around it, so under `jax.vmap`
(many GANs at once, `gan_jax.training.train_many`) or sharding, a reduction
over a seed's 64 rows can round differently from the same reduction in a
lone GAN. A tree of additions rounds the same way whatever is batched
around it, which is what lets a GAN trained among many end in the very
bits of one trained alone. Matrix products need no such care: XLA:CPU
computes each one of a batch with the kernel a lone one gets (the tests
check it), the one exception being handled in `Dense`.
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


def row_sum(x: jax.Array, axis: int = 0) -> jax.Array:
    """Sums along `axis` by a fixed binary tree of elementwise additions.

    The result rounds the same way whatever the surrounding batch or
    sharding (see the module docstring), and so does its gradient, which
    is made of slices and additions only.
    """
    x = jnp.moveaxis(x, axis, 0)
    while x.shape[0] > 1:
        half = x.shape[0] // 2
        paired = x[:half] + x[half : 2 * half]
        x = (
            jnp.concatenate([paired, x[2 * half :]])
            if x.shape[0] % 2
            else paired
        )
    return x[0]


def row_mean(x: jax.Array) -> jax.Array:
    """Mean over axis 0, batch-invariant (see `row_sum`)."""
    return row_sum(x) / x.shape[0]


@jax.custom_vjp
def broadcast_rows(values: jax.Array, like: jax.Array) -> jax.Array:
    """`values` (features,) repeated for every row of `like` (..., features).

    The same as NumPy broadcasting, but its gradient sums the rows with
    `row_sum`: the gradient of plain broadcasting is an XLA reduction,
    which is not batch-invariant.
    """
    return jnp.broadcast_to(values, like.shape)


def _broadcast_rows_forward(values, like):
    return jnp.broadcast_to(values, like.shape), like


def _broadcast_rows_backward(like, cotangent):
    rows = cotangent.reshape(-1, *cotangent.shape[like.ndim - 1 :])
    return row_sum(rows), jnp.zeros_like(like)


broadcast_rows.defvjp(_broadcast_rows_forward, _broadcast_rows_backward)


class Dense(nn.Module):
    """A dense layer, `x @ kernel + bias`, batch-invariant.

    The same parameters (names, shapes, initialisation) as `flax.linen.Dense`
    with Glorot-uniform kernels. A layer with one output unit is an
    elementwise product and a `row_sum`: the gradient of its kernel is a
    matrix-vector product, which XLA:CPU does not compute the same way
    inside and outside `vmap`.

    Attributes:
        features: number of output units.
    """

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", _kernel_init, (x.shape[-1], self.features)
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        if self.features == 1:
            weighted = x * broadcast_rows(kernel[:, 0], x)
            y = row_sum(weighted, axis=-1)[..., None]
        else:
            y = x @ kernel
        return y + broadcast_rows(bias, y)


class BatchNorm(nn.Module):
    """Batch normalisation over axis 0 with Keras's momentum, batch-invariant.

    The same variables as `flax.linen.BatchNorm` (`scale`, `bias`; running
    `mean`, `var`). In training mode it normalises with the batch's mean
    and (biased, two-pass) variance and moves the running averages:
    running = momentum * running + (1 - momentum) * batch.

    Attributes:
        momentum: weight of the old running average.
        epsilon: added to the variance.
        use_running_average: inference mode (the running averages) if True.
    """

    momentum: float
    epsilon: float
    use_running_average: bool

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        num = x.shape[-1]
        running_mean = self.variable(
            "batch_stats", "mean", lambda: jnp.zeros(num, jnp.float32)
        )
        running_var = self.variable(
            "batch_stats", "var", lambda: jnp.ones(num, jnp.float32)
        )
        scale = self.param("scale", nn.initializers.ones, (num,))
        bias = self.param("bias", nn.initializers.zeros, (num,))
        if self.use_running_average:
            mean, var = running_mean.value, running_var.value
        else:
            mean = row_mean(x)
            centred = x - broadcast_rows(mean, x)
            var = row_mean(centred * centred)
            if not self.is_initializing():
                keep = self.momentum
                running_mean.value = (
                    keep * running_mean.value + (1 - keep) * mean
                )
                running_var.value = keep * running_var.value + (1 - keep) * var
        factor = jax.lax.rsqrt(var + self.epsilon) * scale
        normalised = (x - broadcast_rows(mean, x)) * broadcast_rows(factor, x)
        return normalised + broadcast_rows(bias, x)


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


#: Classes a conditional GAN knows: 0 (majority) and 1 (minority).
NUM_CLASSES = 2


def with_label(x: jax.Array, labels: jax.Array | None, config: GANConfig):
    """`x` with each row's label appended one-hot, for the "conditional"
    objective; `x` unchanged for the others (which take no labels)."""
    if config.objective != "conditional":
        if labels is not None:
            raise ValueError(
                f"the {config.objective!r} objective takes no labels"
            )
        return x
    if labels is None:
        raise ValueError("the conditional objective needs each row's label")
    one_hot = jax.nn.one_hot(labels, NUM_CLASSES, dtype=x.dtype)
    return jnp.concatenate([x, one_hot], axis=-1)


class Generator(nn.Module):
    """Maps latent noise (and, if conditional, a label) to rows in [-1, 1].

    Each hidden layer is Dense, then LeakyReLU, then BatchNorm (in that
    order, as in the reference model); the output layer is Dense with tanh.
    With the "conditional" objective the label enters one-hot beside the
    noise.

    Attributes:
        config: the GAN's configuration (widths, slope, batch norm).
        num_features: number of values per generated row.
    """

    config: GANConfig
    num_features: int

    @nn.compact
    def __call__(
        self,
        noise: jax.Array,
        labels: jax.Array | None = None,
        *,
        train: bool,
    ) -> jax.Array:
        """Generates rows.

        Args:
            noise: (batch, latent_dim) latent vectors.
            labels: (batch,) int labels in {0, 1}: the class of each row to
                generate ("conditional" objective only).
            train: batch statistics (and their running average update) when
                True; the running averages when False.

        Returns:
            (batch, num_features) rows in [-1, 1].
        """
        config = self.config
        x = with_label(noise, labels, config)
        for index, width in enumerate(config.generator_widths):
            x = Dense(width, name=f"dense_{index}")(x)
            x = nn.leaky_relu(x, config.leaky_relu_slope)
            x = BatchNorm(
                momentum=config.batch_norm_momentum,
                epsilon=config.batch_norm_epsilon,
                use_running_average=not train,
                name=f"batch_norm_{index}",
            )(x)
        x = Dense(self.num_features, name="output")(x)
        return jnp.tanh(x)


class Discriminator(nn.Module):
    """Scores rows: one logit per row, positive for "looks real".

    Each hidden layer is Dense, then LeakyReLU, then Dropout. The output is a
    raw logit; losses are computed from logits, never from a sigmoid, so
    confident mistakes still give finite, informative gradients. With the
    "conditional" objective the row's label enters one-hot beside it: the
    question becomes "is this a real row of this class?".

    Attributes:
        config: the GAN's configuration (widths, slope, dropout).
    """

    config: GANConfig

    @nn.compact
    def __call__(
        self,
        rows: jax.Array,
        labels: jax.Array | None = None,
        *,
        train: bool,
    ) -> jax.Array:
        """Scores rows.

        Args:
            rows: (batch, num_features) rows.
            labels: (batch,) int labels in {0, 1} ("conditional" only).
            train: dropout is active when True; it then needs a 'dropout'
                PRNG stream in `apply`.

        Returns:
            (batch,) logits. The last hidden layer's activations (before
            dropout) are sown as intermediates/features.
        """
        config = self.config
        x = with_label(rows, labels, config)
        for index, width in enumerate(config.discriminator_widths):
            x = Dense(width, name=f"dense_{index}")(x)
            x = nn.leaky_relu(x, config.leaky_relu_slope)
            if index == len(config.discriminator_widths) - 1:
                # The last hidden layer's activations, for the feature
                # matching of `gan_jax.detection`; a no-op unless `apply`
                # is given mutable=["intermediates"].
                self.sow("intermediates", "features", x)
            x = Dropout(config.dropout_rate, name=f"dropout_{index}")(
                x, deterministic=not train
            )
        x = Dense(1, name="output")(x)
        return x[..., 0]
