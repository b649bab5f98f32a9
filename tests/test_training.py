import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import SMALL_CONFIG, tree_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gan_jax import (
    METRIC_NAMES,
    GANConfig,
    gan_keys,
    init_state,
    sample,
    train,
    with_labels,
)
from gan_jax import train_step as plain_train_step
from gan_jax.models import Discriminator
from gan_jax.training import (
    discriminator_update,
    generator_forward,
    generator_update,
)

NUM_FEATURES = 3


@pytest.fixture(scope="module")
def state():
    return init_state(SMALL_CONFIG, NUM_FEATURES, jax.random.key(0))


@pytest.fixture(scope="module")
def data():
    uniform = jax.random.uniform(jax.random.key(1), (200, NUM_FEATURES))
    return 2 * uniform - 1


def _real_batch(seed: int = 2, rows: int = 16) -> jax.Array:
    return jax.random.uniform(
        jax.random.key(seed), (rows, NUM_FEATURES), minval=-1, maxval=1
    )


def _noise(rows: int = 16) -> jax.Array:
    return jax.random.normal(jax.random.key(3), (rows, SMALL_CONFIG.latent_dim))


# --- train_step: determinism -------------------------------------------------


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_same_inputs_give_bit_identical_state_and_metrics(state, seed):
    # Jitted only: un-jitted, every example costs seconds of op-by-op
    # dispatch; the un-jitted step is exercised by the tests around it.
    step = jax.jit(plain_train_step)
    key = jax.random.key(seed)
    first = step(state, _real_batch(), key)
    second = step(state, _real_batch(), key)
    assert tree_equal(first, second)


def test_different_key_gives_different_state(state, maybe_jit):
    step = maybe_jit(plain_train_step)
    first, _ = step(state, _real_batch(), jax.random.key(10))
    second, _ = step(state, _real_batch(), jax.random.key(11))
    assert not tree_equal(first.generator_params, second.generator_params)
    assert not tree_equal(
        first.discriminator_params, second.discriminator_params
    )


def test_same_seed_gives_identical_initial_state():
    first = init_state(SMALL_CONFIG, NUM_FEATURES, jax.random.key(4))
    second = init_state(SMALL_CONFIG, NUM_FEATURES, jax.random.key(4))
    other = init_state(SMALL_CONFIG, NUM_FEATURES, jax.random.key(5))
    assert tree_equal(first, second)
    assert not tree_equal(first.generator_params, other.generator_params)


# --- train_step: each update trains its own network only ---------------------


def test_discriminator_update_changes_only_the_discriminator(state, maybe_jit):
    update = maybe_jit(discriminator_update)
    fake = generator_forward(state, _noise()).rows
    new, _ = update(state, _real_batch(), fake, jax.random.key(6))
    assert tree_equal(new.generator_params, state.generator_params)
    assert tree_equal(new.generator_opt_state, state.generator_opt_state)
    assert tree_equal(new.generator_batch_stats, state.generator_batch_stats)
    assert not tree_equal(new.discriminator_params, state.discriminator_params)
    assert not tree_equal(
        new.discriminator_opt_state, state.discriminator_opt_state
    )


def test_generator_update_changes_only_the_generator(state, maybe_jit):
    # The failure this rules out: a discriminator frozen for the generator's
    # update that silently stays frozen (or one that keeps training through
    # the generator's loss).
    def update(state, noise, key):
        return generator_update(state, generator_forward(state, noise), key)

    new, _ = maybe_jit(update)(state, _noise(), jax.random.key(7))
    assert tree_equal(new.discriminator_params, state.discriminator_params)
    assert tree_equal(
        new.discriminator_opt_state, state.discriminator_opt_state
    )
    assert not tree_equal(new.generator_params, state.generator_params)
    assert not tree_equal(new.generator_opt_state, state.generator_opt_state)
    assert not tree_equal(
        new.generator_batch_stats, state.generator_batch_stats
    )


def test_train_step_trains_both_networks_and_counts_the_step(state, maybe_jit):
    new, _ = maybe_jit(plain_train_step)(
        state, _real_batch(), jax.random.key(8)
    )
    assert int(new.step) == int(state.step) + 1
    assert not tree_equal(new.generator_params, state.generator_params)
    assert not tree_equal(new.discriminator_params, state.discriminator_params)


def test_discriminator_keeps_learning_over_many_steps(state, data):
    trained, _ = train(state, data, 20, jax.random.key(9), chunk_size=10)
    params = jax.tree.leaves(trained.discriminator_params)
    initial = jax.tree.leaves(state.discriminator_params)
    moved = [
        not np.array_equal(a, b) for a, b in zip(params, initial, strict=True)
    ]
    assert all(moved)


# --- train_step: metrics ----------------------------------------------------


def test_metrics_are_measured_against_the_true_source(maybe_jit):
    # Without dropout the logits can be recomputed exactly.
    config = GANConfig(
        latent_dim=4,
        generator_widths=(8,),
        discriminator_widths=(8,),
        dropout_rate=0.0,
    )
    state = init_state(config, NUM_FEATURES, jax.random.key(0))
    real = _real_batch(rows=32)
    fake = generator_forward(
        state, jax.random.normal(jax.random.key(1), (32, 4))
    )
    _, metrics = maybe_jit(discriminator_update)(
        state, real, fake.rows, jax.random.key(2)
    )
    variables = {"params": state.discriminator_params}
    real_logits = Discriminator(config).apply(variables, real, train=False)
    fake_logits = Discriminator(config).apply(variables, fake.rows, train=False)
    real_prob = np.asarray(jax.nn.sigmoid(real_logits))
    fake_prob = np.asarray(jax.nn.sigmoid(fake_logits))
    np.testing.assert_allclose(metrics["d_real"], real_prob.mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["d_fake"], fake_prob.mean(), rtol=1e-5)
    assert float(metrics["d_real_accuracy"]) == (real_prob > 0.5).mean()
    assert float(metrics["d_fake_accuracy"]) == (fake_prob <= 0.5).mean()
    # Smoothed target 0.9 for real rows, 0 for generated ones.
    expected_loss = 0.5 * (
        -np.mean(0.9 * np.log(real_prob) + 0.1 * np.log1p(-real_prob))
        - np.mean(np.log1p(-fake_prob))
    )
    np.testing.assert_allclose(metrics["d_loss"], expected_loss, rtol=1e-4)


@settings(max_examples=15, deadline=None)
@given(
    batch=st.sampled_from([1, 2, 16]).flatmap(
        lambda rows: hnp.arrays(
            np.float32,
            (rows, NUM_FEATURES),
            elements=st.floats(-1, 1, width=32),
        )
    ),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_any_real_batch_gives_finite_losses_and_rows_in_range(
    state, batch, seed
):
    # Jitted only, as above.
    new, metrics = jax.jit(plain_train_step)(state, batch, jax.random.key(seed))
    assert set(metrics) == set(METRIC_NAMES)
    for name, value in metrics.items():
        assert value.shape == (), name
        assert bool(jnp.isfinite(value)), name
    for name in ("d_real", "d_fake", "d_real_accuracy", "d_fake_accuracy"):
        assert 0.0 <= float(metrics[name]) <= 1.0, name
    assert all(bool(jnp.isfinite(x).all()) for x in jax.tree.leaves(new))
    rows = generator_forward(new, _noise(rows=len(batch))).rows
    assert rows.shape == (len(batch), NUM_FEATURES)
    assert bool(jnp.all(jnp.abs(rows) <= 1.0))
    sampled = sample(new, 5, jax.random.key(seed))
    assert sampled.shape == (5, NUM_FEATURES)
    assert bool(jnp.all(jnp.abs(sampled) <= 1.0))


# --- train: chunking, resumption, history -----------------------------------


@pytest.mark.parametrize("first_part", [1, 7, 12])
def test_train_in_two_calls_equals_one_call(state, data, first_part):
    key = jax.random.key(20)
    straight, straight_history = train(state, data, 12, key, chunk_size=5)
    part, first_history = train(state, data, first_part, key, chunk_size=5)
    resumed, second_history = train(
        part, data, 12 - first_part, key, chunk_size=5
    )
    assert tree_equal(straight, resumed)
    for name in METRIC_NAMES:
        joined = np.concatenate([first_history[name], second_history[name]])
        np.testing.assert_array_equal(straight_history[name], joined)


def test_chunk_size_does_not_change_the_result(state, data):
    key = jax.random.key(21)
    small, small_history = train(state, data, 12, key, chunk_size=3)
    large, large_history = train(state, data, 12, key, chunk_size=100)
    assert tree_equal(small, large)
    assert tree_equal(small_history, large_history)


def test_history_holds_one_value_per_step(state, data):
    _, history = train(state, data, 9, jax.random.key(22), chunk_size=4)
    assert set(history) == set(METRIC_NAMES)
    for values in history.values():
        assert values.shape == (9,)
        assert values.dtype == np.float32


def test_callback_sees_each_chunk(state, data):
    seen = []

    def record(new_state, metrics):
        seen.append((int(new_state.step), len(metrics["d_loss"])))

    train(state, data, 10, jax.random.key(23), chunk_size=4, callback=record)
    assert seen == [(4, 4), (8, 4), (10, 2)]


def test_zero_steps_return_the_state_unchanged(state, data):
    same, history = train(state, data, 0, jax.random.key(24))
    assert same is state
    assert all(values.shape == (0,) for values in history.values())


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(num_steps=-1), "num_steps"),
        (dict(num_steps=2.5), "num_steps"),
        (dict(chunk_size=0), "chunk_size"),
        (dict(data=np.zeros((5, NUM_FEATURES + 1))), "features"),
        (dict(data=np.zeros((0, NUM_FEATURES))), "non-empty"),
        (dict(data=np.zeros(NUM_FEATURES)), "non-empty"),
        (dict(data=np.full((5, NUM_FEATURES), np.nan)), "NaN"),
    ],
)
def test_train_rejects_bad_arguments(state, data, bad, message):
    arguments = dict(num_steps=3, chunk_size=2, data=data)
    arguments.update(bad)
    with pytest.raises(ValueError, match=message):
        train(
            state,
            arguments["data"],
            arguments["num_steps"],
            jax.random.key(0),
            chunk_size=arguments["chunk_size"],
        )


def test_init_state_rejects_a_non_positive_feature_count():
    with pytest.raises(ValueError, match="num_features"):
        init_state(SMALL_CONFIG, 0, jax.random.key(0))


# --- learning ----------------------------------------------------------------


def test_training_learns_a_two_dimensional_gaussian():
    rng = np.random.default_rng(0)
    mean = np.array([0.3, -0.2])
    std = np.array([0.2, 0.15])
    covariance = np.outer(std, std) * np.array([[1.0, 0.6], [0.6, 1.0]])
    data = np.clip(rng.multivariate_normal(mean, covariance, 2000), -1, 1)
    config = GANConfig(
        latent_dim=8, generator_widths=(64, 64), discriminator_widths=(64, 64)
    )
    untrained = init_state(config, 2, jax.random.key(0))
    trained, _ = train(untrained, data, 3000, jax.random.key(1))

    def distance(state):
        rows = np.asarray(sample(state, 4000, jax.random.key(2)))
        mean_gap = np.abs(rows.mean(axis=0) - data.mean(axis=0)).max()
        cov_gap = np.abs(np.cov(rows.T) - np.cov(data.T)).max()
        return mean_gap, cov_gap

    # Bounds: about a third of the real standard deviation for the means and
    # half the real variance of the second feature for the covariance.
    untrained_mean_gap, untrained_cov_gap = distance(untrained)
    trained_mean_gap, trained_cov_gap = distance(trained)
    assert trained_mean_gap < 0.06 and trained_cov_gap < 0.012
    assert untrained_mean_gap > 0.06 or untrained_cov_gap > 0.012


# --- WGAN-GP ------------------------------------------------------------------

WGAN_CONFIG = GANConfig(
    latent_dim=8,
    generator_widths=(32, 32),
    discriminator_widths=(32, 32),
    batch_size=32,
    objective="wgan-gp",
    # Adam as Gulrajani et al. set it (beta1 0, beta2 0.9), faster.
    learning_rate=5e-4,
    adam_beta1=0.0,
    adam_beta2=0.9,
)


@pytest.fixture(scope="module")
def gaussian():
    rng = np.random.default_rng(0)
    rows = rng.normal([0.3, -0.2], [0.2, 0.1], size=(2000, 2))
    return np.clip(rows, -1, 1).astype(np.float32)


@pytest.fixture(scope="module")
def trained_wgan(gaussian):
    untrained = init_state(WGAN_CONFIG, 2, jax.random.key(0))
    trained, history = train(untrained, gaussian, 1500, jax.random.key(1))
    return untrained, trained, history


def test_wgan_gp_learns_a_two_dimensional_gaussian(gaussian, trained_wgan):
    untrained, trained, _ = trained_wgan

    def gaps(state):
        rows = np.asarray(sample(state, 4000, jax.random.key(2)))
        return (
            np.abs(rows.mean(axis=0) - gaussian.mean(axis=0)).max(),
            np.abs(rows.std(axis=0) - gaussian.std(axis=0)).max(),
        )

    # The smaller standard deviation, for both. WGAN-GP closes the last of
    # the gap slowly on rows this narrow: over four seeds 1500 steps left
    # 0.03 to 0.095 (3000 steps, 0.05 to 0.11); untrained, 0.28 to 0.65.
    assert max(gaps(trained)) < 0.1
    assert max(gaps(untrained)) > 0.25


def test_the_gradient_penalty_keeps_the_critics_slope_near_one(
    gaussian, trained_wgan
):
    _, trained, history = trained_wgan
    generated = np.asarray(sample(trained, 500, jax.random.key(3)))
    mix = np.random.default_rng(4).uniform(size=(500, 1))
    between = jnp.asarray(mix * gaussian[:500] + (1 - mix) * generated)
    critic = Discriminator(WGAN_CONFIG)

    def score(row):
        variables = {"params": trained.discriminator_params}
        return critic.apply(variables, row[None], train=False)[0]

    slopes = jax.vmap(jax.grad(score))(between)
    norms = np.linalg.norm(np.asarray(slopes), axis=1)
    assert abs(np.median(norms) - 1) < 0.25
    # The critic's estimate of the Wasserstein distance ends small.
    assert np.all(np.isfinite(history["d_loss"]))
    assert (
        abs(float(np.mean(history["d_real"][-100:] - history["d_fake"][-100:])))
        < 0.1
    )


def test_a_wgan_gp_step_updates_the_critic_then_the_generator(gaussian):
    state = init_state(WGAN_CONFIG, 2, jax.random.key(5))
    batch = gaussian[: WGAN_CONFIG.batch_size * WGAN_CONFIG.critic_steps]
    after, metrics = jax.jit(plain_train_step)(state, batch, jax.random.key(6))
    assert int(after.step) == 1
    assert int(after.discriminator_opt_state.count) == WGAN_CONFIG.critic_steps
    assert int(after.generator_opt_state.count) == 1
    assert set(metrics) == set(METRIC_NAMES)
    assert not tree_equal(
        after.generator_batch_stats, state.generator_batch_stats
    )


def test_a_wgan_gp_batch_must_split_into_the_critic_updates(gaussian):
    state = init_state(WGAN_CONFIG, 2, jax.random.key(5))
    with pytest.raises(ValueError, match="critic batches"):
        plain_train_step(state, gaussian[:33], jax.random.key(6))


@pytest.mark.parametrize(
    "field, value",
    [
        ("objective", "wgan"),
        ("critic_steps", 0),
        ("gradient_penalty", 0.0),
        ("gradient_penalty", float("inf")),
    ],
)
def test_bad_wgan_settings_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        GANConfig(**{field: value})


# --- conditional --------------------------------------------------------------

CONDITIONAL_CONFIG = GANConfig(
    latent_dim=8,
    generator_widths=(32, 32),
    discriminator_widths=(32,),
    batch_size=32,
    objective="conditional",
)


def _two_classes(num_majority=400, num_minority=20, seed=0):
    """Majority rows near -0.5, minority rows near +0.5, in 3 features."""
    rng = np.random.default_rng(seed)
    rows = np.concatenate(
        [
            rng.normal(-0.5, 0.1, (num_majority, NUM_FEATURES)),
            rng.normal(0.5, 0.1, (num_minority, NUM_FEATURES)),
        ]
    ).clip(-1, 1)
    labels = np.array([0] * num_majority + [1] * num_minority)
    return rows.astype(np.float32), labels


def test_a_conditional_step_trains_both_networks_on_labelled_rows(maybe_jit):
    state = init_state(CONDITIONAL_CONFIG, NUM_FEATURES, jax.random.key(0))
    rows, labels = _two_classes()
    batch = with_labels(rows, labels)[::13][:32]
    after, metrics = maybe_jit(plain_train_step)(
        state, batch, jax.random.key(1)
    )
    assert int(after.step) == 1
    assert not tree_equal(after.generator_params, state.generator_params)
    assert not tree_equal(
        after.discriminator_params, state.discriminator_params
    )
    assert all(np.isfinite(float(metrics[name])) for name in METRIC_NAMES)
    # The label enters each network beside its input, one-hot.
    assert state.generator_params["dense_0"]["kernel"].shape[0] == 8 + 2
    assert (
        state.discriminator_params["dense_0"]["kernel"].shape[0]
        == NUM_FEATURES + 2
    )


def test_a_conditional_gan_makes_the_class_it_is_asked_for():
    rows, labels = _two_classes()
    keys = gan_keys(jax.random.key(0))
    state = init_state(CONDITIONAL_CONFIG, NUM_FEATURES, keys.init)
    trained, _ = train(state, with_labels(rows, labels), 600, keys.train)
    minority = np.asarray(sample(trained, 1000, keys.sample, label=1))
    majority = np.asarray(sample(trained, 1000, keys.sample, label=0))
    # The classes lie around +0.5 and -0.5 in every feature: a row is of
    # the minority's kind if its features average above 0. An untrained
    # or unconditional generator makes both classes alike.
    # (Measured: 0.82 of the minority rows and 0.91 of the majority rows
    # on their class's side; untrained, 0.58 and 0.54.)
    assert (minority.mean(axis=1) > 0).mean() > 0.75
    assert (majority.mean(axis=1) < 0).mean() > 0.75
    untrained = [
        np.asarray(sample(state, 1000, keys.sample, label=label))
        for label in (0, 1)
    ]
    assert all(
        0.25 < (rows.mean(axis=1) > 0).mean() < 0.75 for rows in untrained
    )


@settings(max_examples=25, deadline=None)
@given(
    num_majority=st.integers(0, 300),
    num_minority=st.integers(1, 60),
    seed=st.integers(0, 1000),
)
def test_with_labels_keeps_every_row_and_balances_the_classes(
    num_majority, num_minority, seed
):
    rows, labels = _two_classes(num_majority, num_minority, seed)
    order = np.random.default_rng(seed).permutation(len(rows))
    rows, labels = rows[order], labels[order]
    data = with_labels(rows, labels)
    assert data.dtype == np.float32 and data.shape[1] == NUM_FEATURES + 1
    assert set(np.unique(data[:, -1])) <= {0.0, 1.0}
    # Every row, with its own label, and nothing else.
    given_rows = {
        (row.tobytes(), label) for row, label in zip(rows, labels, strict=True)
    }
    made_rows = {(row[:-1].tobytes(), int(row[-1])) for row in np.asarray(data)}
    assert made_rows == given_rows
    assert int((data[:, -1] == 0).sum()) == num_majority
    copies = int((data[:, -1] == 1).sum())
    assert copies % num_minority == 0
    # As many of each class as whole copies allow.
    if num_majority >= num_minority:
        assert abs(copies - num_majority) <= num_minority / 2


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d[:, :-1], "columns"),
        (lambda d: d.at[3, -1].set(0.5), "label, 0 or 1"),
    ],
)
def test_conditional_data_needs_a_label_column_of_zeros_and_ones(make, message):
    rows, labels = _two_classes(40, 4)
    state = init_state(CONDITIONAL_CONFIG, NUM_FEATURES, jax.random.key(0))
    data = jnp.asarray(with_labels(rows, labels))
    with pytest.raises(ValueError, match=message):
        train(state, make(data), 2, jax.random.key(1))


def test_with_labels_refuses_labels_that_do_not_fit_the_rows():
    rows, labels = _two_classes(10, 2)
    with pytest.raises(ValueError, match="one label per row"):
        with_labels(rows, labels[:-1])
    with pytest.raises(ValueError, match="0 or 1"):
        with_labels(rows, labels * 2)
    with pytest.raises(ValueError, match="rows of label 1"):
        with_labels(rows, np.zeros_like(labels))


def test_labels_are_refused_by_an_unconditional_gan():
    state = init_state(SMALL_CONFIG, NUM_FEATURES, jax.random.key(0))
    with pytest.raises(ValueError, match="takes no labels"):
        Discriminator(SMALL_CONFIG).apply(
            {"params": state.discriminator_params},
            _real_batch(),
            jnp.zeros(16, jnp.int32),
            train=False,
        )
