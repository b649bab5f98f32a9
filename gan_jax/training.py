"""GAN state, the pure training step, and the scanned training loop.

Everything here is a pure function of explicit inputs: a `GANState`, a batch
of real rows and a PRNG key in, a new `GANState` and metrics out. The same
inputs give the same bits on the same platform.

Randomness: `train` derives the key of global step t as
`fold_in(key, t)`, so a run's result depends only on its key and its total
number of steps, never on how the steps were split into chunks or calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.config import GANConfig
from gan_jax.models import Discriminator, Generator

logger = logging.getLogger(__name__)

Metrics = dict[str, jax.Array]

#: Names of the per-step metrics returned by `train_step` and `train`.
METRIC_NAMES = (
    "d_loss",
    "g_loss",
    "d_real",
    "d_fake",
    "d_real_accuracy",
    "d_fake_accuracy",
)

#: Steps per compiled call of `train`: long enough that dispatch costs
#: nothing, short enough for a lively progress bar.
DEFAULT_CHUNK_SIZE = 250


class DivergenceError(ArithmeticError):
    """Training produced a NaN or infinite loss or parameter.

    Attributes:
        step: the first step (counted from 1) whose metrics were not finite,
            or the last step of the chunk when only parameters were.
        what: the metric or network whose values were not finite.
        value: the offending value.
        last_finite_state: the state at the start of the chunk, every value
            finite.
    """

    def __init__(
        self, step: int, what: str, value: float, last_finite_state: GANState
    ) -> None:
        super().__init__(
            f"training diverged at step {step}: {what} became {value}"
            if what in METRIC_NAMES
            else f"training diverged by step {step}: the {what} hold NaN "
            "or infinite values"
        )
        self.step, self.what, self.value = step, what, value
        self.last_finite_state = last_finite_state


class GANState(flax.struct.PyTreeNode):
    """Everything that changes while a GAN trains, as one pytree.

    Attributes:
        step: scalar int32, the number of steps taken so far.
        generator_params: the generator's parameters.
        generator_batch_stats: the generator's batch norm running averages.
        discriminator_params: the discriminator's parameters.
        generator_opt_state: Adam's state for the generator.
        discriminator_opt_state: Adam's state for the discriminator.
        config: static (not a leaf): traced functions read the architecture
            and hyperparameters from here and need nothing else.
    """

    step: jax.Array
    generator_params: Any
    generator_batch_stats: Any
    discriminator_params: Any
    generator_opt_state: optax.OptState
    discriminator_opt_state: optax.OptState
    config: GANConfig = flax.struct.field(pytree_node=False)

    @property
    def num_features(self) -> int:
        """Number of values in each row the generator makes."""
        return self.generator_params["output"]["bias"].shape[-1]


def make_optimizer(config: GANConfig) -> optax.GradientTransformation:
    """Adam as configured; both networks use one of these each."""
    return optax.adam(
        config.learning_rate,
        b1=config.adam_beta1,
        b2=config.adam_beta2,
        eps=config.adam_epsilon,
    )


def init_state(
    config: GANConfig, num_features: int, key: jax.Array
) -> GANState:
    """Creates a freshly initialised GAN.

    Args:
        config: architecture and training settings.
        num_features: number of values per table row.
        key: PRNG key; it decides both networks' initial parameters.

    Returns:
        The state at step 0.
    """
    if (
        not isinstance(num_features, (int, np.integer))
        or isinstance(num_features, bool)
        or num_features < 1
    ):
        raise ValueError(
            f"num_features must be a positive integer, got {num_features!r}"
        )
    num_features = int(num_features)
    generator_key, discriminator_key = jax.random.split(key)
    generator_vars = Generator(config, num_features).init(
        generator_key, jnp.zeros((1, config.latent_dim)), train=False
    )
    discriminator_vars = Discriminator(config).init(
        discriminator_key, jnp.zeros((1, num_features)), train=False
    )
    optimizer = make_optimizer(config)
    return GANState(
        step=jnp.zeros((), jnp.int32),
        generator_params=generator_vars["params"],
        generator_batch_stats=generator_vars["batch_stats"],
        discriminator_params=discriminator_vars["params"],
        generator_opt_state=optimizer.init(generator_vars["params"]),
        discriminator_opt_state=optimizer.init(discriminator_vars["params"]),
        config=config,
    )


def _mean_bce(logits: jax.Array, target: float) -> jax.Array:
    labels = jnp.full_like(logits, target)
    return optax.sigmoid_binary_cross_entropy(logits, labels).mean()


class GeneratorForward(NamedTuple):
    """A generator forward pass kept for one update.

    Attributes:
        rows: (batch, num_features) generated rows.
        pullback: maps a cotangent of `rows` to one of the generator's
            parameters (from `jax.vjp`).
        batch_stats: the running averages after this batch.
    """

    rows: jax.Array
    pullback: Callable[[jax.Array], tuple[Any]]
    batch_stats: Any


def generator_forward(state: GANState, noise: jax.Array) -> GeneratorForward:
    """Generates rows in training mode, keeping what an update needs.

    Args:
        state: the GAN.
        noise: (batch, latent_dim) latent vectors.
    """
    generator = Generator(state.config, state.num_features)

    def generate(generator_params):
        variables = {
            "params": generator_params,
            "batch_stats": state.generator_batch_stats,
        }
        rows, updates = generator.apply(
            variables, noise, train=True, mutable=["batch_stats"]
        )
        return rows, updates["batch_stats"]

    rows, pullback, batch_stats = jax.vjp(
        generate, state.generator_params, has_aux=True
    )
    return GeneratorForward(rows, pullback, batch_stats)


def discriminator_update(
    state: GANState, real_batch: jax.Array, fake_batch: jax.Array, key
) -> tuple[GANState, Metrics]:
    """One Adam step of the discriminator; nothing of the generator changes.

    Args:
        state: the GAN.
        real_batch: (batch, num_features) real rows, target `real_target`.
        fake_batch: (batch', num_features) generated rows, target
            `fake_target`; no gradient flows back into the generator.
        key: PRNG key for dropout.

    Returns:
        The state with new discriminator parameters and optimizer state, and
        the metrics of `train_step` other than `g_loss`.
    """
    config = state.config
    discriminator = Discriminator(config)
    fake_batch = jax.lax.stop_gradient(fake_batch)
    num_real = real_batch.shape[0]

    def loss_fn(discriminator_params):
        # No batch norm in the discriminator, so one pass over the real and
        # generated rows together is the same as two separate passes.
        logits = discriminator.apply(
            {"params": discriminator_params},
            jnp.concatenate([real_batch, fake_batch]),
            train=True,
            rngs={"dropout": key},
        )
        real_logits, fake_logits = jnp.split(logits, [num_real])
        loss = 0.5 * (
            _mean_bce(real_logits, config.real_target)
            + _mean_bce(fake_logits, config.fake_target)
        )
        return loss, (real_logits, fake_logits)

    (loss, (real_logits, fake_logits)), grads = jax.value_and_grad(
        loss_fn, has_aux=True
    )(state.discriminator_params)
    updates, opt_state = make_optimizer(config).update(
        grads, state.discriminator_opt_state, state.discriminator_params
    )
    metrics = {
        "d_loss": loss,
        "d_real": jax.nn.sigmoid(real_logits).mean(),
        "d_fake": jax.nn.sigmoid(fake_logits).mean(),
        "d_real_accuracy": (real_logits > 0).mean(dtype=jnp.float32),
        "d_fake_accuracy": (fake_logits <= 0).mean(dtype=jnp.float32),
    }
    new_state = state.replace(
        discriminator_params=optax.apply_updates(
            state.discriminator_params, updates
        ),
        discriminator_opt_state=opt_state,
    )
    return new_state, metrics


def generator_update(
    state: GANState, forward: GeneratorForward, key: jax.Array
) -> tuple[GANState, jax.Array]:
    """One Adam step of the generator through the frozen discriminator.

    The non-saturating loss: binary cross-entropy of the discriminator's
    logits on `forward.rows` against target 1. The discriminator's
    parameters and optimizer state are read, never written.

    Args:
        state: the GAN; `forward` must come from its generator.
        forward: the generator's forward pass (`generator_forward`).
        key: PRNG key for the discriminator's dropout.

    Returns:
        The state with new generator parameters, optimizer state and batch
        statistics, and the generator loss.
    """
    discriminator = Discriminator(state.config)

    def loss_fn(rows):
        logits = discriminator.apply(
            {"params": state.discriminator_params},
            rows,
            train=True,
            rngs={"dropout": key},
        )
        return _mean_bce(logits, 1.0)

    loss, rows_grad = jax.value_and_grad(loss_fn)(forward.rows)
    (grads,) = forward.pullback(rows_grad)
    updates, opt_state = make_optimizer(state.config).update(
        grads, state.generator_opt_state, state.generator_params
    )
    new_state = state.replace(
        generator_params=optax.apply_updates(state.generator_params, updates),
        generator_batch_stats=forward.batch_stats,
        generator_opt_state=opt_state,
    )
    return new_state, loss


def train_step(
    state: GANState, real_batch: jax.Array, key: jax.Array
) -> tuple[GANState, Metrics]:
    """One discriminator update, then one generator update.

    The discriminator learns to tell `real_batch` (target
    `config.real_target`) from as many freshly generated rows (target
    `config.fake_target`). The generator then learns, with the non-saturating
    loss, to fool the updated discriminator on those same generated rows:
    its forward pass is computed once and reused through `jax.vjp`, which
    saves a third of the generator's work per step. Batch norm uses batch
    statistics, and its running averages advance once per step.

    Args:
        state: the GAN before the step.
        real_batch: (batch, num_features) real rows, scaled to [-1, 1].
        key: PRNG key for the noise and both updates' dropout.

    Returns:
        The state after the step, and scalar metrics: `d_loss`, `g_loss`,
        `d_real` and `d_fake` (mean probability of "real" on real and on
        generated rows) and `d_real_accuracy` and `d_fake_accuracy` (share
        of real rows scored above 0.5, of generated rows at or below 0.5),
        all but `g_loss` measured by the discriminator before its update.
    """
    real_batch = jnp.asarray(real_batch, jnp.float32)
    noise_key, discriminator_key, generator_key = jax.random.split(key, 3)
    noise = jax.random.normal(
        noise_key,
        (real_batch.shape[0], state.config.latent_dim),
        jnp.float32,
    )
    forward = generator_forward(state, noise)
    state, metrics = discriminator_update(
        state, real_batch, forward.rows, discriminator_key
    )
    state, g_loss = generator_update(state, forward, generator_key)
    return state.replace(step=state.step + 1), {**metrics, "g_loss": g_loss}


def draw_batch(data: jax.Array, batch_size: int, key: jax.Array) -> jax.Array:
    """Draws `batch_size` rows of `data` uniformly, with replacement."""
    indices = jax.random.randint(key, (batch_size,), 0, data.shape[0])
    return jnp.take(data, indices, axis=0)


def scanned_step(
    state: GANState, data: jax.Array, key: jax.Array
) -> tuple[GANState, Metrics]:
    """The step `train` takes at `state.step`: batch and keys from the step.

    Exposed so that a plain Python loop over a jitted `scanned_step` does
    exactly what `train` does (the benchmark compares the two).
    """
    step_key = jax.random.fold_in(key, state.step)
    batch_key, update_key = jax.random.split(step_key)
    batch = draw_batch(data, state.config.batch_size, batch_key)
    return train_step(state, batch, update_key)


def _train_chunk(
    state: GANState, data: jax.Array, key: jax.Array, num_steps: int
) -> tuple[GANState, Metrics]:
    def body(carry, _):
        return scanned_step(carry, data, key)

    return jax.lax.scan(body, state, length=num_steps)


_train_chunk_jit = jax.jit(_train_chunk, static_argnums=3)


def train(
    state: GANState,
    data: jax.Array,
    num_steps: int,
    key: jax.Array,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    callback: Callable[[GANState, dict[str, np.ndarray]], None] | None = None,
) -> tuple[GANState, dict[str, np.ndarray]]:
    """Trains for `num_steps` steps on batches drawn from `data`.

    Each step draws `config.batch_size` rows uniformly with replacement and
    calls `train_step`, inside `jax.lax.scan`, `chunk_size` steps per
    compiled call. Step t uses `fold_in(key, t)`, t counted from the start
    of training (`state.step`), so `train(s, d, n, k)` gives the same bits
    as `train(s, d, m, k)` followed by `train(that, d, n - m, k)`, whatever
    the chunk sizes.

    Args:
        state: the GAN to continue from.
        data: (rows, num_features) real rows, scaled to [-1, 1].
        num_steps: number of steps to take (0 returns `state` unchanged).
        key: the run's PRNG key; pass the same key to every call of a run.
        chunk_size: steps per compiled call; the result does not depend on
            it. At most two programs are compiled per call (a full chunk and
            the remainder).
        callback: called after each chunk with the new state and the
            chunk's metrics, e.g. for progress bars or checkpoints.

    Returns:
        The state after training, and the history: each metric of
        `METRIC_NAMES` as a float32 array of shape (num_steps,).

    Raises:
        DivergenceError: a loss, metric or parameter became NaN or infinite
            (checked after every chunk; the error holds the chunk's finite
            starting state, and `callback` is not called for that chunk).
    """
    check_count("num_steps", num_steps, minimum=0)
    check_count("chunk_size", chunk_size, minimum=1)
    data = jnp.asarray(data, jnp.float32)
    if data.ndim != 2 or data.shape[0] == 0:
        raise ValueError(
            "data must be a non-empty (rows, features) array, got shape "
            f"{data.shape}"
        )
    if data.shape[1] != state.num_features:
        raise ValueError(
            f"data has {data.shape[1]} features but the GAN was made for "
            f"{state.num_features}"
        )
    if not bool(jnp.isfinite(data).all()):
        raise ValueError("data contains NaN or infinite values")

    chunks = []
    start = time.perf_counter()
    remaining = int(num_steps)
    while remaining > 0:
        length = min(int(chunk_size), remaining)
        previous = state
        state, metrics = _train_chunk_jit(state, data, key, length)
        metrics = jax.device_get(metrics)
        _check_finite(previous, state, metrics)
        chunks.append(metrics)
        remaining -= length
        if callback is not None:
            callback(state, metrics)
    seconds = time.perf_counter() - start

    if num_steps:
        logger.info(
            "trained %d steps in %.1f s (%.0f steps/s)",
            num_steps,
            seconds,
            num_steps / seconds,
        )
    history = {
        name: np.concatenate(
            [np.zeros(0, np.float32)] + [chunk[name] for chunk in chunks]
        )
        for name in METRIC_NAMES
    }
    return state, history


@jax.jit
def _networks_finite(state: GANState) -> dict[str, jax.Array]:
    def finite(tree) -> jax.Array:
        leaves = jax.tree.leaves(tree)
        return jnp.all(jnp.stack([jnp.isfinite(leaf).all() for leaf in leaves]))

    return {
        "generator parameters": finite(
            (state.generator_params, state.generator_batch_stats)
        ),
        "discriminator parameters": finite(state.discriminator_params),
        "optimizer state": finite(
            (state.generator_opt_state, state.discriminator_opt_state)
        ),
    }


def _check_finite(
    previous: GANState, state: GANState, metrics: dict[str, np.ndarray]
) -> None:
    """Raises DivergenceError if the chunk that made `state` diverged.

    Checked after every chunk, not at the end: a diverged generator must
    never be sampled or saved, and the chunk's starting state is the last
    one known to be finite.
    """
    values = np.stack([metrics[name] for name in METRIC_NAMES])
    bad = ~np.isfinite(values)
    if bad.any():
        index = int(np.argmax(bad.any(axis=0)))
        which = int(np.argmax(bad[:, index]))
        raise DivergenceError(
            int(previous.step) + index + 1,
            METRIC_NAMES[which],
            float(values[which, index]),
            previous,
        )
    for what, finite in jax.device_get(_networks_finite(state)).items():
        if not finite:
            raise DivergenceError(int(state.step), what, float("nan"), previous)


def check_count(name: str, value: object, *, minimum: int) -> None:
    """Raises ValueError unless `value` is an integer >= `minimum`."""
    if (
        not isinstance(value, (int, np.integer))
        or isinstance(value, bool)
        or value < minimum
    ):
        raise ValueError(
            f"{name} must be an integer >= {minimum}, got {value!r}"
        )
