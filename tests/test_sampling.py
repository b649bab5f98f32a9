import dataclasses

import jax
import numpy as np
import pytest
from conftest import SMALL_CONFIG

from gan_jax import init_state, sample, train
from gan_jax.sampling import SAMPLE_BLOCK_ROWS


@pytest.fixture(scope="module")
def trained():
    state = init_state(SMALL_CONFIG, 4, jax.random.key(0))
    data = jax.random.uniform(jax.random.key(1), (100, 4), minval=-1)
    state, _ = train(state, data, 20, jax.random.key(2))
    return state


def test_sample_shape_dtype_and_range(trained):
    rows = sample(trained, 1000, jax.random.key(3))
    assert rows.shape == (1000, 4)
    assert rows.dtype == np.float32
    assert float(abs(rows).max()) <= 1.0


def test_same_key_gives_identical_rows(trained):
    first = sample(trained, 300, jax.random.key(4))
    second = sample(trained, 300, jax.random.key(4))
    other = sample(trained, 300, jax.random.key(5))
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_fewer_rows_are_a_prefix_of_more_rows(trained):
    many = sample(trained, SAMPLE_BLOCK_ROWS + 10, jax.random.key(6))
    few = sample(trained, 17, jax.random.key(6))
    np.testing.assert_array_equal(few, many[:17])


def test_rows_are_not_all_the_same(trained):
    rows = np.asarray(sample(trained, 500, jax.random.key(7)))
    assert (rows.std(axis=0) > 1e-3).all()


def test_sample_uses_the_running_averages_of_batch_norm(trained):
    # With batch statistics the stored averages would not matter; in
    # inference mode, shifting them must change every generated row.
    shifted = trained.replace(
        generator_batch_stats=jax.tree.map(
            lambda stat: stat + 5.0, trained.generator_batch_stats
        )
    )
    rows = np.asarray(sample(trained, 50, jax.random.key(8)))
    shifted_rows = np.asarray(sample(shifted, 50, jax.random.key(8)))
    assert (np.abs(rows - shifted_rows).max(axis=1) > 1e-3).all()


def test_zero_rows_give_an_empty_array(trained):
    assert sample(trained, 0, jax.random.key(9)).shape == (0, 4)


@pytest.mark.parametrize("num_rows", [-1, 2.0, True, "10"])
def test_bad_row_count_is_rejected(trained, num_rows):
    with pytest.raises(ValueError, match="num_rows"):
        sample(trained, num_rows, jax.random.key(0))


@pytest.mark.parametrize("label", [2, -1, True, 0.5])
def test_a_label_other_than_0_or_1_is_refused(trained, label):
    with pytest.raises(ValueError, match="label must be 0 or 1"):
        sample(trained, 10, jax.random.key(3), label=label)


def test_an_unconditional_gan_ignores_the_label(trained):
    key = jax.random.key(3)
    np.testing.assert_array_equal(
        sample(trained, 50, key, label=0), sample(trained, 50, key)
    )


def test_a_conditional_gan_samples_each_label_apart_and_reproducibly():
    config = dataclasses.replace(SMALL_CONFIG, objective="conditional")
    state = init_state(config, 4, jax.random.key(0))
    key = jax.random.key(3)
    minority = np.asarray(sample(state, 300, key))
    np.testing.assert_array_equal(minority, sample(state, 300, key, label=1))
    assert not np.array_equal(minority, sample(state, 300, key, label=0))
    # Same prefix property as for every GAN.
    np.testing.assert_array_equal(minority[:7], sample(state, 7, key))
