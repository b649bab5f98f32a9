"""GAN state, the pure training step, and the scanned training loops.

Everything here is a pure function of explicit inputs: a `GANState`, a batch
of real rows and a PRNG key in, a new `GANState` and metrics out. The same
inputs give the same bits on the same platform.

Randomness: `train` derives the key of global step t as
`fold_in(key, t)`, so a run's result depends only on its key and its total
number of steps, never on how the steps were split into chunks or calls.

`train_many` trains one GAN per key in one compiled program (`jax.vmap`
over the seeds, the seed axis sharded across devices when there are
several). Every layer, loss and optimizer step is batch-invariant (see
`gan_jax.models`), so each seed ends in the bits that `train` gives it
alone, whatever the number of seeds, groups or devices.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.config import GANConfig
from gan_jax.models import Discriminator, Generator, row_mean, row_sum

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
            finite (for `train_many`: every GAN's, stacked).
        index: for `train_many` with several keys, the position of the GAN
            that diverged first; None for one GAN.
    """

    def __init__(
        self,
        step: int,
        what: str,
        value: float,
        last_finite_state: GANState,
        index: int | None = None,
    ) -> None:
        which = "" if index is None else f" of GAN {index}"
        super().__init__(
            f"training diverged at step {step}{which}: {what} became {value}"
            if what in METRIC_NAMES
            else f"training diverged by step {step}{which}: the {what} hold "
            "NaN or infinite values"
        )
        self.step, self.what, self.value = step, what, value
        self.last_finite_state = last_finite_state
        self.index = index


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


class AdamState(NamedTuple):
    """Adam's state for one network.

    Attributes:
        count: scalar int32, the number of updates so far.
        mu: first-moment estimates, shaped like the parameters.
        nu: second-moment estimates, shaped like the parameters.
    """

    count: jax.Array
    mu: Any
    nu: Any


def adam(
    learning_rate: float, b1: float, b2: float, eps: float
) -> optax.GradientTransformation:
    """Adam with bias correction, the update `optax.adam` computes.

    An optax `GradientTransformation` (so it composes with optax), written
    out because `optax.adam` is not batch-invariant on XLA:CPU: a seed's
    update under `jax.vmap` differed from the lone seed's in the last bit
    (found by `train_many`'s tests; it happens when one bias correction
    divides a whole tree of moments, and not for a single array). Here both
    bias corrections become scalar factors first, so every operation on a
    tensor is a plain elementwise one.
    """

    def init(params) -> AdamState:
        return AdamState(
            count=jnp.zeros((), jnp.int32),
            mu=jax.tree.map(jnp.zeros_like, params),
            nu=jax.tree.map(jnp.zeros_like, params),
        )

    def update(grads, state: AdamState, params=None):
        del params  # Adam does not look at the parameters.
        count = state.count + 1
        step = count.astype(jnp.float32)
        mu_factor = 1.0 / (1.0 - jnp.float32(b1) ** step)
        nu_factor = 1.0 / (1.0 - jnp.float32(b2) ** step)
        mu = jax.tree.map(lambda m, g: b1 * m + (1.0 - b1) * g, state.mu, grads)
        nu = jax.tree.map(
            lambda v, g: b2 * v + (1.0 - b2) * (g * g), state.nu, grads
        )
        updates = jax.tree.map(
            lambda m, v: (
                -learning_rate
                * (m * mu_factor)
                / (jnp.sqrt(v * nu_factor) + eps)
            ),
            mu,
            nu,
        )
        return updates, AdamState(count, mu, nu)

    return optax.GradientTransformation(init, update)


def make_optimizer(config: GANConfig) -> optax.GradientTransformation:
    """Adam as configured; both networks use one of these each."""
    return adam(
        config.learning_rate,
        config.adam_beta1,
        config.adam_beta2,
        config.adam_epsilon,
    )


class GANKeys(NamedTuple):
    """The keys a GAN's root key is split into.

    Attributes:
        init: the networks' initial parameters.
        train: the steps (`train` folds the step number into it).
        sample: the rows a run draws from the trained GAN.
    """

    init: jax.Array
    train: jax.Array
    sample: jax.Array


def gan_keys(key: jax.Array) -> GANKeys:
    """Splits a GAN's root key; every trainer in gan-jax does it this way."""
    return GANKeys(*jax.random.split(key, 3))


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
    conditional = config.objective == "conditional"
    labels = jnp.zeros((1,), jnp.int32) if conditional else None
    generator_vars = Generator(config, num_features).init(
        generator_key, jnp.zeros((1, config.latent_dim)), labels, train=False
    )
    discriminator_vars = Discriminator(config).init(
        discriminator_key, jnp.zeros((1, num_features)), labels, train=False
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
    return row_mean(optax.sigmoid_binary_cross_entropy(logits, labels))


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


def generator_forward(
    state: GANState, noise: jax.Array, labels: jax.Array | None = None
) -> GeneratorForward:
    """Generates rows in training mode, keeping what an update needs.

    Args:
        state: the GAN.
        noise: (batch, latent_dim) latent vectors.
        labels: (batch,) the class of each row ("conditional" only).
    """
    generator = Generator(state.config, state.num_features)

    def generate(generator_params):
        variables = {
            "params": generator_params,
            "batch_stats": state.generator_batch_stats,
        }
        rows, updates = generator.apply(
            variables, noise, labels, train=True, mutable=["batch_stats"]
        )
        return rows, updates["batch_stats"]

    rows, pullback, batch_stats = jax.vjp(
        generate, state.generator_params, has_aux=True
    )
    return GeneratorForward(rows, pullback, batch_stats)


def discriminator_update(
    state: GANState,
    real_batch: jax.Array,
    fake_batch: jax.Array,
    key: jax.Array,
    labels: jax.Array | None = None,
) -> tuple[GANState, Metrics]:
    """One Adam step of the discriminator; nothing of the generator changes.

    Args:
        state: the GAN.
        real_batch: (batch, num_features) real rows, target `real_target`.
        fake_batch: (batch', num_features) generated rows, target
            `fake_target`; no gradient flows back into the generator.
        key: PRNG key for dropout.
        labels: ("conditional" only) (batch,) the class of each real row,
            and of the generated row in the same place of `fake_batch`.

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
            None if labels is None else jnp.concatenate([labels, labels]),
            train=True,
            rngs={"dropout": key},
        )
        # Slices, not `jnp.split`: the gradient of XLA's split rounded
        # differently under `vmap` (`train_many`'s tests caught it).
        real_logits, fake_logits = logits[:num_real], logits[num_real:]
        loss = 0.5 * (
            _mean_bce(real_logits, config.real_target)
            + _mean_bce(fake_logits, config.fake_target)
        )
        return loss, (real_logits, fake_logits)

    (loss, (real_logits, fake_logits)), grads = jax.value_and_grad(
        loss_fn, has_aux=True
    )(state.discriminator_params)
    metrics = {
        "d_loss": loss,
        "d_real": row_mean(jax.nn.sigmoid(real_logits)),
        "d_fake": row_mean(jax.nn.sigmoid(fake_logits)),
        "d_real_accuracy": row_mean((real_logits > 0).astype(jnp.float32)),
        "d_fake_accuracy": row_mean((fake_logits <= 0).astype(jnp.float32)),
    }
    return _discriminator_step(state, grads), metrics


def _discriminator_step(state: GANState, grads) -> GANState:
    """The state after one Adam step of the discriminator along `grads`."""
    updates, opt_state = make_optimizer(state.config).update(
        grads, state.discriminator_opt_state, state.discriminator_params
    )
    return state.replace(
        discriminator_params=optax.apply_updates(
            state.discriminator_params, updates
        ),
        discriminator_opt_state=opt_state,
    )


def generator_update(
    state: GANState,
    forward: GeneratorForward,
    key: jax.Array,
    labels: jax.Array | None = None,
) -> tuple[GANState, jax.Array]:
    """One Adam step of the generator through the frozen discriminator.

    The non-saturating loss: binary cross-entropy of the discriminator's
    logits on `forward.rows` against target 1 (for "wgan-gp": minus the
    critic's mean score). The discriminator's parameters and optimizer
    state are read, never written.

    Args:
        state: the GAN; `forward` must come from its generator.
        forward: the generator's forward pass (`generator_forward`).
        key: PRNG key for the discriminator's dropout.
        labels: ("conditional" only) (batch,) the class each row of
            `forward.rows` was generated for.

    Returns:
        The state with new generator parameters, optimizer state and batch
        statistics, and the generator loss.
    """
    discriminator = Discriminator(state.config)

    wasserstein = state.config.objective == "wgan-gp"

    def loss_fn(rows):
        logits = discriminator.apply(
            {"params": state.discriminator_params},
            rows,
            labels,
            # The WGAN-GP critic runs without dropout (see critic_update).
            train=not wasserstein,
            rngs={"dropout": key},
        )
        if wasserstein:
            return -row_mean(logits)  # raise the critic's score of fakes
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


def critic_update(
    state: GANState, real_batch: jax.Array, key: jax.Array
) -> tuple[GANState, Metrics]:
    """One Adam step of the WGAN-GP critic on fresh generated rows.

    The critic's loss is mean(critic(fake)) - mean(critic(real)) plus
    `gradient_penalty` times the mean of (|grad critic(x)| - 1)^2 over
    rows x on random points between each real row and a generated one.
    The critic is the discriminator network without dropout, whatever
    `dropout_rate` says: dropout's noise defeats the penalty.
    The generated rows come from batch norm in training mode, but the
    running averages do not move: they advance once per step, with the
    generator's update.

    Returns:
        The state with new discriminator parameters and optimizer state,
        and its metrics: `d_loss`, `d_real` and `d_fake` (the critic's mean
        score of real and generated rows), `d_real_accuracy` (share of
        real rows scored above the mean generated score) and
        `d_fake_accuracy` (share of generated rows below the mean real
        score).
    """
    config = state.config
    discriminator = Discriminator(config)
    noise_key, mix_key = jax.random.split(key)
    num_real = real_batch.shape[0]
    noise = jax.random.normal(
        noise_key, (num_real, config.latent_dim), jnp.float32
    )
    fake_batch = jax.lax.stop_gradient(generator_forward(state, noise).rows)
    mix = jax.random.uniform(mix_key, (num_real, 1), jnp.float32)
    between = mix * real_batch + (1 - mix) * fake_batch

    def scores(params, rows):
        # No dropout: its noise defeats the gradient penalty (a 2-D
        # Gaussian collapsed to a point with the reference's 0.4).
        return discriminator.apply({"params": params}, rows, train=False)

    def loss_fn(params):
        both = scores(params, jnp.concatenate([real_batch, fake_batch]))
        real_scores, fake_scores = both[:num_real], both[num_real:]
        # Each row's score depends on its own row only (no batch norm in
        # the critic), so the gradient of their sum is every row's own.
        slopes = jax.grad(lambda rows: row_sum(scores(params, rows)))(between)
        norms = jnp.sqrt(row_sum(slopes * slopes, axis=-1) + 1e-12)
        penalty = row_mean((norms - 1.0) ** 2)
        loss = (
            row_mean(fake_scores)
            - row_mean(real_scores)
            + config.gradient_penalty * penalty
        )
        return loss, (real_scores, fake_scores)

    (loss, (real_scores, fake_scores)), grads = jax.value_and_grad(
        loss_fn, has_aux=True
    )(state.discriminator_params)
    real_mean, fake_mean = row_mean(real_scores), row_mean(fake_scores)
    metrics = {
        "d_loss": loss,
        "d_real": real_mean,
        "d_fake": fake_mean,
        "d_real_accuracy": row_mean(
            (real_scores > fake_mean).astype(jnp.float32)
        ),
        "d_fake_accuracy": row_mean(
            (fake_scores < real_mean).astype(jnp.float32)
        ),
    }
    return _discriminator_step(state, grads), metrics


def _wgan_step(
    state: GANState, real_batch: jax.Array, key: jax.Array
) -> tuple[GANState, Metrics]:
    """`critic_steps` critic updates, then one generator update."""
    config = state.config
    if real_batch.shape[0] % config.critic_steps:
        raise ValueError(
            f"a wgan-gp step splits its real rows into {config.critic_steps} "
            f"critic batches; {real_batch.shape[0]} rows do not divide"
        )
    batches = real_batch.reshape(config.critic_steps, -1, real_batch.shape[1])
    critic_keys_key, noise_key, generator_key = jax.random.split(key, 3)
    critic_keys = jax.random.split(critic_keys_key, config.critic_steps)

    def one_critic_update(state, batch_and_key):
        return critic_update(state, *batch_and_key)

    state, per_update = jax.lax.scan(
        one_critic_update, state, (batches, critic_keys)
    )
    metrics = {name: row_mean(values) for name, values in per_update.items()}
    noise = jax.random.normal(
        noise_key, (batches.shape[1], config.latent_dim), jnp.float32
    )
    forward = generator_forward(state, noise)
    state, g_loss = generator_update(state, forward, generator_key)
    return state.replace(step=state.step + 1), {**metrics, "g_loss": g_loss}


def split_labels(batch: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(rows, labels) of a conditional GAN's data: the label is the last
    column, 0.0 or 1.0, returned as int32."""
    return batch[:, :-1], batch[:, -1].astype(jnp.int32)


def data_columns(config: GANConfig, num_features: int) -> int:
    """Columns of the data a GAN of `num_features` features learns from:
    the features, and for "conditional" each row's label after them."""
    return num_features + (config.objective == "conditional")


def with_labels(rows: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A conditional GAN's data: `rows` with each row's 0/1 label as a last
    column, the label-1 rows repeated until each class has about as many.

    Balancing matters because a step draws its batch uniformly: with 2 %
    minority rows the generator would hardly ever be asked for the class it
    is trained to make. The repeats are whole copies in a fixed order, so
    the data (and the run) is a function of the rows and labels alone.

    Args:
        rows: (rows, features) scaled rows.
        labels: (rows,) 0/1 labels.

    Returns:
        (rows', features + 1) float32: the label-0 rows, then the label-1
        rows repeated round(#0 / #1) times (at least once).
    """
    rows = np.asarray(rows, np.float32)
    labels = np.asarray(labels)
    if labels.shape != rows.shape[:1]:
        raise ValueError(
            f"{labels.shape[0] if labels.ndim else 0} labels for "
            f"{rows.shape[0]} rows; give one label per row"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    minority, majority = rows[labels == 1], rows[labels == 0]
    if not len(minority):
        raise ValueError("a conditional GAN needs rows of label 1")
    repeats = max(1, round(len(majority) / len(minority)))
    labelled = [
        np.column_stack([majority, np.zeros(len(majority), np.float32)]),
        np.tile(
            np.column_stack([minority, np.ones(len(minority), np.float32)]),
            (repeats, 1),
        ),
    ]
    return np.concatenate(labelled)


def _width_message(
    columns: int, config: GANConfig, num_features: int, *, many: bool = False
) -> str:
    """Says that data of `columns` columns does not fit the GAN(s)."""
    made_for = "GANs were" if many else "GAN was"
    if config.objective == "conditional":
        return (
            f"data has {columns} columns but the conditional {made_for} "
            f"made for {num_features} features and the label "
            f"({num_features + 1} columns)"
        )
    return f"data has {columns} features but the {made_for} made for " + str(
        num_features
    )


def _check_labels_column(config: GANConfig, data: np.ndarray) -> None:
    """Raises ValueError if a conditional GAN's data has a label other
    than 0 or 1 in its last column."""
    if (
        config.objective == "conditional"
        and not np.isin(np.asarray(data)[..., -1], (0.0, 1.0)).all()
    ):
        raise ValueError(
            "a conditional GAN's data must hold each row's label, 0 or 1, "
            "in its last column (see gan_jax.training.with_labels)"
        )


def rows_per_step(config: GANConfig) -> int:
    """Real rows one training step reads: a batch, or one per critic
    update for "wgan-gp"."""
    if config.objective == "wgan-gp":
        return config.batch_size * config.critic_steps
    return config.batch_size


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

    With `config.objective == "conditional"` each generated row is made
    for the label of the real row in its place, and both networks see the
    labels.

    With `config.objective == "wgan-gp"` the step is `critic_steps`
    critic updates (`critic_update`), each on its own share of
    `real_batch` and its own generated rows, then one generator update on
    fresh rows; the metrics are the critic updates' means.

    Args:
        state: the GAN before the step.
        real_batch: (batch, num_features) real rows, scaled to [-1, 1]
            (for "wgan-gp", `critic_steps` batches one after another; for
            "conditional", (batch, num_features + 1): each row's label,
            0 or 1, as its last value).
        key: PRNG key for the noise and both updates' dropout.

    Returns:
        The state after the step, and scalar metrics: `d_loss`, `g_loss`,
        `d_real` and `d_fake` (mean probability of "real" on real and on
        generated rows) and `d_real_accuracy` and `d_fake_accuracy` (share
        of real rows scored above 0.5, of generated rows at or below 0.5),
        all but `g_loss` measured by the discriminator before its update.
    """
    real_batch = jnp.asarray(real_batch, jnp.float32)
    if state.config.objective == "wgan-gp":
        return _wgan_step(state, real_batch, key)
    labels = None
    if state.config.objective == "conditional":
        # Each generated row is made for the label of the real row in its
        # place, so both sides of the discriminator see the same classes.
        real_batch, labels = split_labels(real_batch)
    noise_key, discriminator_key, generator_key = jax.random.split(key, 3)
    noise = jax.random.normal(
        noise_key,
        (real_batch.shape[0], state.config.latent_dim),
        jnp.float32,
    )
    forward = generator_forward(state, noise, labels)
    state, metrics = discriminator_update(
        state, real_batch, forward.rows, discriminator_key, labels
    )
    state, g_loss = generator_update(state, forward, generator_key, labels)
    return state.replace(step=state.step + 1), {**metrics, "g_loss": g_loss}


def draw_batch(
    data: jax.Array,
    batch_size: int,
    key: jax.Array,
    num_rows: int | jax.Array | None = None,
) -> jax.Array:
    """Draws `batch_size` of the first `num_rows` rows of `data` (default:
    all), uniformly, with replacement. The rows beyond are padding."""
    if num_rows is None:
        num_rows = data.shape[0]
    indices = jax.random.randint(key, (batch_size,), 0, num_rows)
    return jnp.take(data, indices, axis=0)


def scanned_step(
    state: GANState,
    data: jax.Array,
    key: jax.Array,
    num_rows: int | jax.Array | None = None,
) -> tuple[GANState, Metrics]:
    """The step `train` takes at `state.step`: batch and keys from the step.

    Exposed so that a plain Python loop over a jitted `scanned_step` does
    exactly what `train` does (the benchmark compares the two).
    """
    step_key = jax.random.fold_in(key, state.step)
    batch_key, update_key = jax.random.split(step_key)
    batch = draw_batch(data, rows_per_step(state.config), batch_key, num_rows)
    return train_step(state, batch, update_key)


def _train_chunk(
    state: GANState,
    data: jax.Array,
    key: jax.Array,
    num_steps: int,
    num_rows: int | jax.Array | None = None,
) -> tuple[GANState, Metrics]:
    def body(carry, _):
        return scanned_step(carry, data, key, num_rows)

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

    Each step draws `rows_per_step(config)` rows uniformly with replacement and
    calls `train_step`, inside `jax.lax.scan`, `chunk_size` steps per
    compiled call. Step t uses `fold_in(key, t)`, t counted from the start
    of training (`state.step`), so `train(s, d, n, k)` gives the same bits
    as `train(s, d, m, k)` followed by `train(that, d, n - m, k)`, whatever
    the chunk sizes.

    Args:
        state: the GAN to continue from.
        data: (rows, num_features) real rows, scaled to [-1, 1]; for the
            "conditional" objective, each row's label, 0 or 1, after its
            features (`with_labels` makes such data).
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
    columns = data_columns(state.config, state.num_features)
    if data.shape[1] != columns:
        raise ValueError(
            _width_message(data.shape[1], state.config, state.num_features)
        )
    if not bool(jnp.isfinite(data).all()):
        raise ValueError("data contains NaN or infinite values")
    _check_labels_column(state.config, data)

    def one_chunk(state, length):
        state, metrics = _train_chunk_jit(state, data, key, length)
        return state, jax.device_get(metrics)

    start = time.perf_counter()
    state, chunks = _in_chunks(
        state, num_steps, chunk_size, one_chunk, _check_finite, callback
    )
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


def _in_chunks(state, num_steps, chunk_size, one_chunk, check, callback):
    """`one_chunk(state, length)` until `num_steps` steps are taken, each
    chunk checked by `check(previous, state, metrics)` and then passed to
    `callback`. Returns the last state and the metrics of every chunk."""
    chunks = []
    remaining = int(num_steps)
    while remaining > 0:
        length = min(int(chunk_size), remaining)
        previous = state
        state, metrics = one_chunk(state, length)
        check(previous, state, metrics)
        chunks.append(metrics)
        remaining -= length
        if callback is not None:
            callback(state, metrics)
    return state, chunks


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


_networks_finite_jit = jax.jit(_networks_finite)
_networks_finite_many = jax.jit(jax.vmap(_networks_finite))


def _first_bad(metrics: dict[str, np.ndarray]) -> tuple[int, int] | None:
    """(step index, metric index) of the first non-finite metric, or None.

    Args:
        metrics: each of `METRIC_NAMES` as a (steps,) array.
    """
    values = np.stack([metrics[name] for name in METRIC_NAMES])
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    index = int(np.argmax(bad.any(axis=0)))
    return index, int(np.argmax(bad[:, index]))


def _check_finite(
    previous: GANState, state: GANState, metrics: dict[str, np.ndarray]
) -> None:
    """Raises DivergenceError if the chunk that made `state` diverged.

    Checked after every chunk, not at the end: a diverged generator must
    never be sampled or saved, and the chunk's starting state is the last
    one known to be finite.
    """
    finite = jax.device_get(_networks_finite_jit(state))
    _raise_if_diverged(
        int(previous.step),
        {name: values[None] for name, values in metrics.items()},
        {what: np.asarray(value)[None] for what, value in finite.items()},
        previous,
        many=False,
    )


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


# Many GANs at once.


def init_many(
    config: GANConfig, num_features: int, keys: jax.Array
) -> GANState:
    """One fresh GAN per root key, stacked along a leading seed axis.

    GAN i is `init_state(config, num_features, gan_keys(keys[i]).init)`.
    """
    keys = _key_array(keys)
    states = [
        init_state(config, num_features, gan_keys(key).init) for key in keys
    ]
    return stack_states(states)


def stack_states(states: Sequence[GANState]) -> GANState:
    """GANs of one config stacked along a new leading seed axis."""
    if not states:
        raise ValueError("no states to stack")
    configs = {state.config for state in states}
    if len(configs) > 1:
        raise ValueError("the states to stack have different configs")
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def unstack_states(states: GANState) -> list[GANState]:
    """The GANs of a stacked state (from `train_many`), one by one."""
    count = jax.tree.leaves(states)[0].shape[0]
    return [
        jax.tree.map(lambda leaf, i=i: leaf[i], states) for i in range(count)
    ]


def train_many(
    config: GANConfig,
    data: jax.Array | Sequence[jax.Array],
    keys: jax.Array,
    num_steps: int,
    *,
    states: GANState | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    seeds_per_group: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    callback: Callable[[GANState, dict[str, np.ndarray]], None] | None = None,
) -> tuple[GANState, dict[str, np.ndarray]]:
    """Trains one GAN per key, all in one compiled program.

    GAN i ends in the very bits of
    `train(init_state(config, F, k.init), data_i, num_steps, k.train)` with
    `k = gan_keys(keys[i])`: every operation of a step is batch-invariant
    (see `gan_jax.models`), so neither the other seeds nor the grouping
    nor the devices change a seed's result. The tests check it bit for bit.

    The seeds go through `jax.vmap` in groups of `seeds_per_group`. With
    several devices the seed axis of each group is sharded across them
    (a one-axis `jax.sharding.Mesh` named "seeds"); a group that does not
    divide evenly is padded with copies of its last seed, whose results
    are dropped. Across hosts, call `jax.distributed.initialize()` first on
    every host and pass the same arguments everywhere; `devices` then
    defaults to every device of every host.

    Args:
        config: the GANs' configuration (all GANs share it).
        data: (rows, features) real rows in [-1, 1] that every GAN learns,
            or one such array per key (row counts may differ); labels last
            for "conditional", as for `train`.
        keys: (seeds,) root keys, one per GAN.
        num_steps: steps to take (0 returns the states unchanged).
        states: stacked states to continue from (a previous `train_many`,
            or `stack_states` of restored checkpoints) instead of fresh
            ones; they must all be at the same step.
        chunk_size: steps per compiled call; the result does not depend on
            it.
        seeds_per_group: seeds per compiled call; the result does not
            depend on it. Default: every seed, or as many as an estimate
            of the memory they need allows (`default_seeds_per_group`).
        devices: the devices to shard the seeds across; default: every
            device of JAX's default backend.
        callback: called after each chunk with the stacked states and the
            chunk's metrics, each of shape (seeds, steps).

    Returns:
        The stacked states after training and the history: each metric of
        `METRIC_NAMES` as a float32 array of shape (seeds, num_steps).

    Raises:
        DivergenceError: a GAN's loss, metric or parameter became NaN or
            infinite (checked after every chunk); `index` says which GAN,
            `last_finite_state` holds every GAN at the chunk's start.
    """
    check_count("num_steps", num_steps, minimum=0)
    check_count("chunk_size", chunk_size, minimum=1)
    keys = _key_array(keys)
    num_seeds = keys.shape[0]
    rows, counts, shared = _stack_data(data, num_seeds)
    _check_labels_column(config, rows)
    num_features = rows.shape[-1] - (config.objective == "conditional")
    if states is None:
        states = init_many(config, num_features, keys)
    else:
        _check_stacked(states, config, num_seeds, num_features)
    devices = list(jax.devices() if devices is None else devices)
    if seeds_per_group is None:
        seeds_per_group = default_seeds_per_group(
            config, num_features, rows.shape[-2], shared, devices
        )
    check_count("seeds_per_group", seeds_per_group, minimum=1)
    groups = _seed_groups(num_seeds, seeds_per_group, len(devices))
    mesh = (
        jax.sharding.Mesh(np.array(devices), ("seeds",))
        if len(devices) > 1
        else None
    )
    train_keys = jnp.stack([gan_keys(key).train for key in keys])

    def one_chunk(states, length):
        parts = [
            _train_group(
                states, rows, train_keys, counts, group, length, shared, mesh
            )
            for group in groups
        ]
        metrics = {
            name: np.concatenate([part[1][name] for part in parts])
            for name in METRIC_NAMES
        }
        return _concatenate_groups([part[0] for part in parts]), metrics

    start = time.perf_counter()
    states, chunks = _in_chunks(
        states, num_steps, chunk_size, one_chunk, _check_finite_many, callback
    )
    seconds = time.perf_counter() - start

    if num_steps:
        logger.info(
            "trained %d GANs for %d steps in %.1f s (%.0f steps/s in all)",
            num_seeds,
            num_steps,
            seconds,
            num_seeds * num_steps / seconds,
        )
    history = {
        name: np.concatenate(
            [np.zeros((num_seeds, 0), np.float32)]
            + [chunk[name] for chunk in chunks],
            axis=1,
        )
        for name in METRIC_NAMES
    }
    return states, history


#: Most seeds a CPU device trains per compiled call by default. On the
#: 2-core machines here (reference GAN, 16 seeds) groups of 4 ran fastest;
#: groups of 16 were about a fifth slower, their parameters and Adam moments
#: no longer fitting the caches that one seed's do.
CPU_SEEDS_PER_DEVICE = 4


def default_seeds_per_group(
    config: GANConfig,
    num_features: int,
    num_rows: int,
    shared_data: bool,
    devices: Sequence[jax.Device],
) -> int:
    """Seeds per compiled call that fit in memory, by a rough estimate.

    Per seed: parameters, gradients and both Adam moments of both networks
    in and out of the call, the activations of a step and their
    gradients, the row data if it is the seed's own, all doubled for
    safety. The budget is `_memory_budget` per device; the result is a
    multiple of the number of devices, at least one per device. On a CPU
    it is also at most `CPU_SEEDS_PER_DEVICE` per device.
    """
    floats = 8 * _parameter_count(config, num_features)
    widths = sum(config.generator_widths) + sum(config.discriminator_widths)
    floats += 6 * 2 * config.batch_size * (widths + num_features)
    if not shared_data:
        floats += num_rows * num_features
    per_seed = 2 * 4 * floats
    per_device = max(1, int(_memory_budget(devices[0]) // per_seed))
    if devices[0].platform == "cpu":
        per_device = min(per_device, CPU_SEEDS_PER_DEVICE)
    return per_device * len(devices)


def _parameter_count(config: GANConfig, num_features: int) -> int:
    sizes = (config.latent_dim, *config.generator_widths, num_features)
    count = sum((a + 1) * b for a, b in zip(sizes, sizes[1:], strict=False))
    count += 4 * sum(config.generator_widths)  # batch norm
    sizes = (num_features, *config.discriminator_widths, 1)
    return count + sum(
        (a + 1) * b for a, b in zip(sizes, sizes[1:], strict=False)
    )


def _memory_budget(device: jax.Device) -> float:
    """Bytes one device may give a group: half its memory where JAX knows
    it (GPU, TPU), a quarter of the machine's otherwise (CPU)."""
    try:
        stats = device.memory_stats() or {}
    except (AttributeError, NotImplementedError, RuntimeError):
        stats = {}
    if stats.get("bytes_limit"):
        return stats["bytes_limit"] / 2
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        physical = 8 * 2**30
    return physical / 4


def _key_array(keys) -> jax.Array:
    """Typed PRNG keys, shape (seeds,), from typed keys or raw key data."""
    if not isinstance(keys, jax.Array):
        keys = list(keys)
        if not keys:
            raise ValueError("train_many needs at least one key")
        keys = jnp.stack(keys)
    if not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        keys = jax.random.wrap_key_data(keys)
    if keys.ndim != 1 or keys.shape[0] == 0:
        raise ValueError(
            f"keys must be a non-empty (seeds,) array of keys, got shape "
            f"{keys.shape}"
        )
    return keys


def _stack_data(data, num_seeds: int) -> tuple[jax.Array, jax.Array, bool]:
    """(rows, counts, shared): the data as one array, each seed's row count.

    Shared data stays (rows, features); per-seed data becomes (seeds,
    rows, features), padded with zeros to the longest, which `draw_batch`
    never draws (it draws below each seed's count).
    """
    per_seed = not hasattr(data, "ndim") or data.ndim == 3
    arrays = [
        np.asarray(rows, np.float32) for rows in (data if per_seed else [data])
    ]
    for rows in arrays:
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError(
                "data must be a non-empty (rows, features) array, or one per "
                f"key; got shape {rows.shape}"
            )
        if not np.isfinite(rows).all():
            raise ValueError("data contains NaN or infinite values")
    if len({rows.shape[1] for rows in arrays}) > 1:
        raise ValueError("every seed's data must have the same features")
    if not per_seed:
        counts = np.full(num_seeds, arrays[0].shape[0], np.int32)
        return jnp.asarray(arrays[0]), jnp.asarray(counts), True
    if len(arrays) != num_seeds:
        raise ValueError(
            f"{len(arrays)} data arrays for {num_seeds} keys; give one per key"
        )
    longest = max(rows.shape[0] for rows in arrays)
    padded = np.zeros((num_seeds, longest, arrays[0].shape[1]), np.float32)
    for index, rows in enumerate(arrays):
        padded[index, : rows.shape[0]] = rows
    counts = np.array([rows.shape[0] for rows in arrays], np.int32)
    return jnp.asarray(padded), jnp.asarray(counts), False


def _check_stacked(
    states: GANState, config: GANConfig, num_seeds: int, num_features: int
) -> None:
    if states.config != config:
        raise ValueError("the states were made with another config")
    steps = np.asarray(states.step)
    if steps.shape != (num_seeds,):
        raise ValueError(
            f"states must be stacked for {num_seeds} keys, got step shape "
            f"{steps.shape}"
        )
    if len(set(steps.tolist())) > 1:
        raise ValueError(
            "the states must all be at the same step, got steps "
            f"{sorted(set(steps.tolist()))}"
        )
    if states.num_features != num_features:
        raise ValueError(
            _width_message(
                data_columns(config, num_features),
                config,
                states.num_features,
                many=True,
            )
        )


def _seed_groups(
    num_seeds: int, seeds_per_group: int, num_devices: int
) -> list[np.ndarray]:
    """Indices of the seeds of each group, padded to fill every device.

    Groups are consecutive; a group's size is a multiple of the device
    count, the padding repeating its last seed.
    """
    size = max(num_devices, seeds_per_group // num_devices * num_devices)
    groups = []
    for begin in range(0, num_seeds, size):
        indices = list(range(begin, min(begin + size, num_seeds)))
        padding = -len(indices) % num_devices
        groups.append(np.array(indices + [indices[-1]] * padding))
    return groups


def _train_chunk_many(
    states: GANState,
    data: jax.Array,
    keys: jax.Array,
    num_rows: jax.Array,
    num_steps: int,
    shared_data: bool,
) -> tuple[GANState, Metrics]:
    def one(state, rows, key, count):
        return _train_chunk(state, rows, key, num_steps, count)

    data_axis = None if shared_data else 0
    return jax.vmap(one, in_axes=(0, data_axis, 0, 0))(
        states, data, keys, num_rows
    )


_train_chunk_many_jit = jax.jit(_train_chunk_many, static_argnums=(4, 5))


def _train_group(
    states: GANState,
    rows: jax.Array,
    train_keys: jax.Array,
    counts: jax.Array,
    group: np.ndarray,
    length: int,
    shared: bool,
    mesh: jax.sharding.Mesh | None,
) -> tuple[GANState, dict[str, np.ndarray]]:
    """One chunk of steps for the seeds `group`: their states and metrics,
    without the padding."""
    whole = len(group) == counts.shape[0] and bool(
        (group == np.arange(len(group))).all()
    )

    def take(tree):
        return tree if whole else jax.tree.map(lambda leaf: leaf[group], tree)

    if len(group) == 1 and mesh is None:
        # A lone seed takes `train`'s own program: on XLA:CPU a vmap over
        # one seed ran about a third slower than no vmap at all.
        (seed,) = group.tolist()
        state = jax.tree.map(lambda leaf: leaf[seed], states)
        new_state, metrics = _train_chunk_jit(
            state,
            rows if shared else rows[seed],
            train_keys[seed],
            length,
            None if shared else counts[seed],
        )
        return jax.tree.map(lambda leaf: leaf[None], new_state), {
            name: _to_host(metrics[name])[None] for name in METRIC_NAMES
        }

    inputs = (take(states), rows if shared else take(rows))
    inputs += (take(train_keys), take(counts))
    if mesh is not None:
        by_seed = jax.sharding.NamedSharding(
            mesh, jax.sharding.PartitionSpec("seeds")
        )
        replicated = jax.sharding.NamedSharding(
            mesh, jax.sharding.PartitionSpec()
        )
        shardings = (by_seed, replicated if shared else by_seed)
        shardings += (by_seed, by_seed)
        inputs = tuple(
            jax.device_put(tree, sharding)
            for tree, sharding in zip(inputs, shardings, strict=True)
        )
    new_states, metrics = _train_chunk_many_jit(*inputs, length, shared)
    real = len(dict.fromkeys(group.tolist()))
    if mesh is not None:
        # Sharded states come back through the host: slicing or regrouping
        # them on the devices makes XLA insert collectives, and XLA:CPU's
        # abort the process when an overloaded machine makes one wait 40 s.
        new_states = jax.tree.map(
            lambda leaf: _to_host(leaf)[:real], new_states
        )
    elif real < len(group):
        new_states = jax.tree.map(lambda leaf: leaf[:real], new_states)
    return new_states, {
        name: _to_host(metrics[name])[:real] for name in METRIC_NAMES
    }


def _to_host(array: jax.Array) -> np.ndarray:
    """A device array as NumPy, gathered from every host if need be."""
    if getattr(array, "is_fully_addressable", True):
        return np.asarray(jax.device_get(array))
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(array, tiled=True))


def _concatenate_groups(parts: list[GANState]) -> GANState:
    """The groups' states back in one stack, in seed order, on the default
    device."""
    if len(parts) == 1:
        return jax.tree.map(jnp.asarray, parts[0])
    return jax.tree.map(lambda *leaves: jnp.concatenate(leaves), *parts)


def _check_finite_many(
    previous: GANState, states: GANState, metrics: dict[str, np.ndarray]
) -> None:
    """`_check_finite` for stacked GANs: raises for the first that diverged."""
    finite = {
        what: _to_host(values)
        for what, values in _networks_finite_many(states).items()
    }
    _raise_if_diverged(
        int(np.asarray(previous.step)[0]),
        metrics,
        finite,
        previous,
        many=metrics[METRIC_NAMES[0]].shape[0] > 1,
    )


def _raise_if_diverged(
    step: int,
    metrics: dict[str, np.ndarray],
    finite: dict[str, np.ndarray],
    previous: GANState,
    *,
    many: bool,
) -> None:
    """Raises DivergenceError for the GAN whose metrics went bad first, or
    else for the first whose networks are not finite.

    Args:
        step: the step the chunk started from.
        metrics: each metric as a (GANs, steps) array.
        finite: per network, a (GANs,) array of "every value finite".
        previous: the state(s) at the chunk's start.
        many: name the GAN's index in the error.
    """
    first = None
    for seed in range(metrics[METRIC_NAMES[0]].shape[0]):
        bad = _first_bad({name: metrics[name][seed] for name in METRIC_NAMES})
        if bad is not None and (first is None or bad[0] < first[1][0]):
            first = (seed, bad)
    if first is not None:
        seed, (index, which) = first
        name = METRIC_NAMES[which]
        raise DivergenceError(
            step + index + 1,
            name,
            float(metrics[name][seed, index]),
            previous,
            index=seed if many else None,
        )
    for what, values in finite.items():
        if not values.all():
            raise DivergenceError(
                step + metrics[METRIC_NAMES[0]].shape[1],
                what,
                float("nan"),
                previous,
                index=int(np.argmin(values)) if many else None,
            )
