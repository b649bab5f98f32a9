import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_jax import GANConfig, init_state
from gan_jax.models import (
    BatchNorm,
    Dense,
    Discriminator,
    Dropout,
    Generator,
    broadcast_rows,
    dropout_keep_mask,
    row_mean,
    row_sum,
)


def _count(tree) -> int:
    return sum(leaf.size for leaf in jax.tree.leaves(tree))


def test_reference_parameter_count_for_30_features():
    state = init_state(GANConfig(), 30, jax.random.key(0))
    # Dense layers: inputs * outputs weights + outputs biases; batch norm:
    # a scale and a bias per unit (its running mean and variance are batch
    # statistics, not parameters).
    generator = (
        (100 * 256 + 256)
        + 2 * 256
        + (256 * 512 + 512)
        + 2 * 512
        + (512 * 1024 + 1024)
        + 2 * 1024
        + (1024 * 30 + 30)
    )
    discriminator = (30 * 512 + 512) + (512 * 256 + 256) + (256 * 1 + 1)
    assert _count(state.generator_params) == generator == 717_086
    assert _count(state.discriminator_params) == discriminator == 147_457
    assert _count(state.generator_batch_stats) == 2 * (256 + 512 + 1024)


def test_generator_outputs_rows_in_tanh_range():
    config = GANConfig(latent_dim=4, generator_widths=(8,))
    generator = Generator(config, num_features=3)
    noise = 100.0 * jax.random.normal(jax.random.key(0), (50, 4))
    variables = generator.init(jax.random.key(1), noise, train=False)
    rows, _ = generator.apply(
        variables, noise, train=True, mutable=["batch_stats"]
    )
    assert rows.shape == (50, 3)
    assert bool(jnp.all(jnp.abs(rows) <= 1.0))


def test_generator_batch_norm_running_average_uses_keras_momentum():
    config = GANConfig(latent_dim=2, generator_widths=(4,))
    generator = Generator(config, num_features=1)
    noise = jax.random.normal(jax.random.key(0), (32, 2))
    variables = generator.init(jax.random.key(1), noise, train=False)
    _, updates = generator.apply(
        variables, noise, train=True, mutable=["batch_stats"]
    )
    # Recompute the batch mean of the batch norm's input by hand.
    dense = variables["params"]["dense_0"]
    hidden = jax.nn.leaky_relu(noise @ dense["kernel"] + dense["bias"], 0.2)
    expected = 0.8 * 0.0 + 0.2 * hidden.mean(axis=0)
    np.testing.assert_allclose(
        updates["batch_stats"]["batch_norm_0"]["mean"], expected, rtol=1e-5
    )


def test_discriminator_gives_one_logit_per_row():
    discriminator = Discriminator(GANConfig(discriminator_widths=(8,)))
    rows = jnp.ones((7, 5))
    variables = discriminator.init(jax.random.key(0), rows, train=False)
    logits = discriminator.apply(
        variables, rows, train=True, rngs={"dropout": jax.random.key(1)}
    )
    assert logits.shape == (7,)


def test_discriminator_without_training_flag_is_deterministic():
    discriminator = Discriminator(GANConfig(discriminator_widths=(8,)))
    rows = jax.random.normal(jax.random.key(0), (7, 5))
    variables = discriminator.init(jax.random.key(0), rows, train=False)
    first = discriminator.apply(variables, rows, train=False)
    second = discriminator.apply(variables, rows, train=False)
    np.testing.assert_array_equal(first, second)


@settings(max_examples=20, deadline=None)
@given(
    rate=st.floats(min_value=0.05, max_value=0.95),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_dropout_keeps_units_at_the_configured_rate(rate, seed):
    keep = dropout_keep_mask(jax.random.key(seed), (200, 500), rate)
    # 100,000 Bernoulli draws: the standard error of the mean is below
    # 0.0016, so 0.01 is more than six of them.
    assert abs(float(keep.mean()) - (1 - rate)) < 0.01


def test_dropout_mask_is_a_function_of_the_key():
    shape = (64, 512)
    first = dropout_keep_mask(jax.random.key(1), shape, 0.4)
    again = dropout_keep_mask(jax.random.key(1), shape, 0.4)
    other = dropout_keep_mask(jax.random.key(2), shape, 0.4)
    np.testing.assert_array_equal(first, again)
    # Independent masks agree on about 0.6^2 + 0.4^2 = 52 % of units.
    assert 0.49 < float((first == other).mean()) < 0.55


def test_dropout_masks_of_neighbouring_units_are_uncorrelated():
    keep = np.asarray(dropout_keep_mask(jax.random.key(3), (400, 256), 0.4))
    flat = keep.astype(np.float64).ravel()
    lag_one = np.corrcoef(flat[:-1], flat[1:])[0, 1]
    across_rows = np.corrcoef(keep[:-1].ravel(), keep[1:].ravel())[0, 1]
    assert abs(lag_one) < 0.02
    assert abs(across_rows) < 0.02


@pytest.mark.parametrize("rate", [0.0, 0.4])
def test_dropout_scales_kept_units_so_the_mean_is_preserved(rate):
    ones = jnp.ones((64, 4096))
    out = Dropout(rate).apply(
        {}, ones, deterministic=False, rngs={"dropout": jax.random.key(5)}
    )
    kept = np.asarray(out)[np.asarray(out) != 0]
    np.testing.assert_allclose(kept, 1 / (1 - rate), rtol=1e-6)
    assert abs(float(out.mean()) - 1.0) < 0.01


def test_dropout_is_the_identity_when_deterministic():
    rows = jax.random.normal(jax.random.key(0), (8, 16))
    out = Dropout(0.4).apply({}, rows, deterministic=True)
    np.testing.assert_array_equal(out, rows)


# --- batch-invariant layers ---------------------------------------------------


@settings(max_examples=10, deadline=None)
@given(
    rows=st.integers(1, 70),
    columns=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
)
def test_row_sum_is_a_sum_that_rounds_the_same_under_vmap(rows, columns, seed):
    x = jax.random.normal(jax.random.key(seed), (3, rows, columns)) * 10
    alone = [np.asarray(row_sum(part)) for part in x]
    batched = np.asarray(jax.jit(jax.vmap(row_sum))(x))
    for index, value in enumerate(alone):
        assert np.array_equal(batched[index], value)
        np.testing.assert_allclose(
            value, np.asarray(x[index], np.float64).sum(0), rtol=1e-5, atol=1e-4
        )
    np.testing.assert_allclose(
        np.asarray(row_mean(x[0])), np.asarray(x[0]).mean(0), atol=1e-5
    )


def test_broadcast_rows_is_broadcasting_with_a_row_sum_gradient():
    values = jnp.arange(3.0)
    like = jnp.ones((5, 3))
    assert np.array_equal(broadcast_rows(values, like), np.tile(values, (5, 1)))
    weights = jax.random.normal(jax.random.key(0), (5, 3))
    grad = jax.grad(lambda v: (broadcast_rows(v, like) * weights).sum())(values)
    np.testing.assert_allclose(grad, np.asarray(weights).sum(0), rtol=1e-6)


@pytest.mark.parametrize("features", [1, 7])
def test_dense_matches_flax_dense(features):
    x = jax.random.normal(jax.random.key(1), (16, 5))
    ours = Dense(features)
    params = ours.init(jax.random.key(2), x)
    theirs = nn.Dense(features, kernel_init=nn.initializers.glorot_uniform())
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(
        jnp.shape, theirs.init(jax.random.key(2), x)
    )
    np.testing.assert_allclose(
        ours.apply(params, x), theirs.apply(params, x), rtol=1e-5, atol=1e-6
    )


def test_batch_norm_matches_flax_batch_norm_with_keras_momentum():
    x = jax.random.normal(jax.random.key(3), (32, 6)) * 3 + 1
    ours = BatchNorm(momentum=0.8, epsilon=1e-3, use_running_average=False)
    theirs = nn.BatchNorm(momentum=0.8, epsilon=1e-3, use_running_average=False)
    variables = ours.init(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, variables) == jax.tree.map(
        jnp.shape, theirs.init(jax.random.key(0), x)
    )
    y, ours_stats = ours.apply(variables, x, mutable=["batch_stats"])
    expected, theirs_stats = theirs.apply(variables, x, mutable=["batch_stats"])
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    for name in ("mean", "var"):
        np.testing.assert_allclose(
            ours_stats["batch_stats"][name],
            theirs_stats["batch_stats"][name],
            rtol=1e-5,
            atol=1e-6,
        )
