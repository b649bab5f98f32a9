"""train_many: many GANs in one compiled program, each in the bits of one
trained alone, whatever the grouping, chunking or devices."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from conftest import SMALL_CONFIG, tree_equal
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_jax import (
    METRIC_NAMES,
    DivergenceError,
    gan_keys,
    init_many,
    init_state,
    stack_states,
    train,
    train_many,
    unstack_states,
    with_labels,
)
from gan_jax import training as training_module

NUM_FEATURES = 3


def _rows(seed: int, count: int) -> np.ndarray:
    generator = np.random.default_rng(seed)
    return generator.uniform(-1, 1, (count, NUM_FEATURES)).astype(np.float32)


def _keys(seeds) -> list[jax.Array]:
    return [jax.random.key(seed) for seed in seeds]


def _alone(key, rows, num_steps, *, state=None):
    """What `train` gives one GAN: the reference `train_many` must match."""
    keys = gan_keys(key)
    if state is None:
        state = init_state(SMALL_CONFIG, NUM_FEATURES, keys.init)
    return train(state, rows, num_steps, keys.train)


@settings(max_examples=3, deadline=None)
@given(
    num_seeds=st.integers(1, 4),
    seeds_per_group=st.integers(1, 4),
    chunk_size=st.integers(1, 6),
    num_steps=st.integers(0, 6),
    ragged=st.booleans(),
    first_seed=st.integers(0, 1000),
)
def test_each_gan_ends_in_the_bits_of_one_trained_alone(
    num_seeds, seeds_per_group, chunk_size, num_steps, ragged, first_seed
):
    seeds = range(first_seed, first_seed + num_seeds)
    keys = _keys(seeds)
    data = (
        [_rows(seed, 20 + 7 * i) for i, seed in enumerate(seeds)]
        if ragged
        else _rows(first_seed, 40)
    )
    states, history = train_many(
        SMALL_CONFIG,
        data,
        keys,
        num_steps,
        chunk_size=chunk_size,
        seeds_per_group=seeds_per_group,
    )
    assert set(history) == set(METRIC_NAMES)
    for index, (key, state) in enumerate(
        zip(keys, unstack_states(states), strict=True)
    ):
        rows = data[index] if ragged else data
        alone_state, alone_history = _alone(key, rows, num_steps)
        assert tree_equal(state, alone_state)
        for name in METRIC_NAMES:
            assert history[name].shape == (num_seeds, num_steps)
            assert np.array_equal(history[name][index], alone_history[name])


def _assert_two_gans_end_as_alone(config, data) -> None:
    """Two GANs of `config` (seeds 3 and 4) trained together on `data`
    end in the bits of each trained alone."""
    seeds = [3, 4]
    # One chunk length and one group: two compilations in all.
    states, history = train_many(
        config, data, _keys(seeds), 4, chunk_size=4, seeds_per_group=2
    )
    for index, state in enumerate(unstack_states(states)):
        keys = gan_keys(jax.random.key(seeds[index]))
        alone_state, alone_history = train(
            init_state(config, NUM_FEATURES, keys.init),
            data[index],
            4,
            keys.train,
            chunk_size=4,
        )
        assert tree_equal(state, alone_state)
        for name in METRIC_NAMES:
            assert np.array_equal(history[name][index], alone_history[name])


def test_wgan_gp_gans_end_in_the_bits_of_ones_trained_alone():
    # The critic's gradient penalty differentiates twice; every sum in it
    # is a tree of additions, so it too must not notice the vmap.
    config = dataclasses.replace(SMALL_CONFIG, objective="wgan-gp")
    data = [_rows(seed, 20 + 9 * i) for i, seed in enumerate([3, 4])]
    _assert_two_gans_end_as_alone(config, data)


def test_continuing_from_states_equals_one_long_run():
    keys = _keys([3, 4, 5])
    data = [_rows(seed, 30) for seed in (3, 4, 5)]
    straight, straight_history = train_many(SMALL_CONFIG, data, keys, 6)
    halfway, first = train_many(SMALL_CONFIG, data, keys, 3)
    resumed, second = train_many(SMALL_CONFIG, data, keys, 3, states=halfway)
    assert tree_equal(straight, resumed)
    for name in METRIC_NAMES:
        joined = np.concatenate([first[name], second[name]], axis=1)
        assert np.array_equal(straight_history[name], joined)


def test_init_many_stacks_the_states_init_state_makes():
    keys = _keys([7, 8])
    stacked = init_many(SMALL_CONFIG, NUM_FEATURES, keys)
    for key, state in zip(keys, unstack_states(stacked), strict=True):
        alone = init_state(SMALL_CONFIG, NUM_FEATURES, gan_keys(key).init)
        assert tree_equal(state, alone)
    assert tree_equal(stack_states(unstack_states(stacked)), stacked)


def test_raw_key_data_and_typed_keys_train_the_same_gans():
    typed = jax.random.split(jax.random.key(9), 2)
    raw = jax.random.key_data(typed)
    data = _rows(9, 30)
    assert tree_equal(
        train_many(SMALL_CONFIG, data, typed, 3),
        train_many(SMALL_CONFIG, data, raw, 3),
    )


def test_the_callback_sees_every_chunk_of_every_seed():
    seen = []
    train_many(
        SMALL_CONFIG,
        _rows(1, 30),
        _keys([1, 2]),
        7,
        chunk_size=3,
        callback=lambda states, metrics: seen.append(
            (np.asarray(states.step).tolist(), metrics["d_loss"].shape)
        ),
    )
    assert seen == [([3, 3], (2, 3)), ([6, 6], (2, 3)), ([7, 7], (2, 1))]


def test_a_small_memory_budget_makes_smaller_groups(monkeypatch):
    devices = jax.devices()[:1]
    roomy = training_module.default_seeds_per_group(
        SMALL_CONFIG, NUM_FEATURES, 100, True, devices
    )
    monkeypatch.setattr(training_module, "_memory_budget", lambda device: 1.0)
    tight = training_module.default_seeds_per_group(
        SMALL_CONFIG, NUM_FEATURES, 100, True, devices
    )
    assert tight == 1 < roomy
    # The default grouping, now one seed per call, changes no bit.
    keys, data = _keys([5, 6, 7]), _rows(5, 30)
    grouped = train_many(SMALL_CONFIG, data, keys, 4)
    monkeypatch.undo()
    assert tree_equal(grouped, train_many(SMALL_CONFIG, data, keys, 4))


def test_a_diverging_gan_is_named_and_the_chunk_start_kept():
    keys = _keys([1, 2, 3])
    states = init_many(SMALL_CONFIG, NUM_FEATURES, keys)
    # GAN 1's discriminator output bias becomes NaN; the others are sound.
    bias = states.discriminator_params["output"]["bias"]
    poisoned = states.replace(
        discriminator_params={
            **states.discriminator_params,
            "output": {
                **states.discriminator_params["output"],
                "bias": bias.at[1].set(np.nan),
            },
        }
    )
    with pytest.raises(DivergenceError, match="of GAN 1") as raised:
        train_many(SMALL_CONFIG, _rows(1, 30), keys, 4, states=poisoned)
    assert raised.value.index == 1
    assert raised.value.step == 1
    kept = jax.tree.leaves(raised.value.last_finite_state)
    assert all(
        np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
        for a, b in zip(kept, jax.tree.leaves(poisoned), strict=True)
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: train_many(SMALL_CONFIG, _rows(0, 9), [], 1), "at least one"),
        (
            lambda: train_many(
                SMALL_CONFIG, [_rows(0, 9)] * 3, _keys([0, 1]), 1
            ),
            "3 data arrays for 2 keys",
        ),
        (
            lambda: train_many(
                SMALL_CONFIG,
                [_rows(0, 9), _rows(1, 9)[:, :2]],
                _keys([0, 1]),
                1,
            ),
            "same features",
        ),
        (
            lambda: train_many(
                SMALL_CONFIG,
                np.full((9, NUM_FEATURES), np.nan, np.float32),
                _keys([0]),
                1,
            ),
            "NaN",
        ),
        (
            lambda: train_many(
                SMALL_CONFIG, np.zeros((0, NUM_FEATURES)), _keys([0]), 1
            ),
            "non-empty",
        ),
        (
            lambda: train_many(SMALL_CONFIG, _rows(0, 9), _keys([0]), -1),
            "num_steps",
        ),
        (
            lambda: train_many(
                SMALL_CONFIG, _rows(0, 9), _keys([0]), 1, seeds_per_group=0
            ),
            "seeds_per_group",
        ),
        (
            lambda: train_many(
                SMALL_CONFIG,
                _rows(0, 9),
                _keys([0, 1]),
                1,
                states=init_many(SMALL_CONFIG, NUM_FEATURES, _keys([0])),
            ),
            "stacked for 2 keys",
        ),
        (
            lambda: train_many(
                SMALL_CONFIG,
                _rows(0, 9)[:, :2],
                _keys([0]),
                1,
                states=init_many(SMALL_CONFIG, NUM_FEATURES, _keys([0])),
            ),
            "2 features",
        ),
        (
            lambda: stack_states(
                [
                    init_state(SMALL_CONFIG, NUM_FEATURES, jax.random.key(0)),
                    train(
                        init_state(
                            SMALL_CONFIG, NUM_FEATURES, jax.random.key(1)
                        ),
                        _rows(0, 9),
                        1,
                        jax.random.key(2),
                    )[0],
                ]
            ),
            None,
        ),
    ],
)
def test_bad_input_is_refused_in_one_clear_error(call, message):
    if message is None:
        # Stacking states at different steps is allowed; training them
        # together is not.
        stacked = call()
        with pytest.raises(ValueError, match="same step"):
            train_many(
                SMALL_CONFIG,
                _rows(0, 9),
                _keys([0, 1]),
                1,
                states=stacked,
            )
        return
    with pytest.raises(ValueError, match=message):
        call()


_SHARDED_SCRIPT = textwrap.dedent(
    """
    import json
    import jax
    import numpy as np
    from conftest import SMALL_CONFIG, tree_equal
    from gan_jax import train_many, unstack_states
    from gan_jax import training

    devices = jax.devices()
    assert len(devices) == 4, devices
    rng = np.random.default_rng(0)
    keys = [jax.random.key(seed) for seed in range(5)]
    data = [
        rng.uniform(-1, 1, (20 + 3 * i, 3)).astype(np.float32)
        for i in range(5)
    ]
    placements = []
    compiled = training._train_chunk_many_jit

    def recording(states, *args):
        placements.append(len(states.step.sharding.device_set))
        return compiled(states, *args)

    training._train_chunk_many_jit = recording
    # 5 seeds over 4 devices: one group of 8 with 3 seeds of padding; two
    # chunks, so that sharded states go round once.
    sharded, sharded_history = train_many(
        SMALL_CONFIG, data, keys, 6, chunk_size=3
    )
    # Groups of 4, the second padded with 3 copies.
    grouped, _ = train_many(
        SMALL_CONFIG, data, keys, 6, chunk_size=3, seeds_per_group=4
    )
    alone, alone_history = train_many(
        SMALL_CONFIG, data, keys, 6, devices=devices[:1], seeds_per_group=5
    )
    print(json.dumps({
        "devices_used": placements,
        "sharded_equal": bool(tree_equal(sharded, alone)),
        "grouped_equal": bool(tree_equal(grouped, alone)),
        "history_equal": all(
            np.array_equal(sharded_history[name], alone_history[name])
            for name in alone_history
        ),
        "seeds": len(unstack_states(sharded)),
    }))
    """
)


def test_sharding_across_four_host_devices_changes_no_bit():
    environment = {
        **os.environ,
        # Must be set before JAX starts, hence the subprocess.
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join(
            [os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")]
        ),
    }
    finished = subprocess.run(
        [sys.executable, "-c", _SHARDED_SCRIPT],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    assert result == {
        # Two chunks of one group of 8, two chunks of two groups of 4, then
        # the unsharded run in one chunk.
        "devices_used": [4] * 6 + [1],
        "sharded_equal": True,
        "grouped_equal": True,
        "history_equal": True,
        "seeds": 5,
    }


def test_conditional_gans_end_in_the_bits_of_ones_trained_alone():
    # The labels enter both networks one-hot, concatenated to their input.
    config = dataclasses.replace(SMALL_CONFIG, objective="conditional")
    data = []
    for index, seed in enumerate([3, 4]):
        rows = _rows(seed, 30 + 7 * index)
        labels = (np.arange(len(rows)) % 6 == 0).astype(int)
        data.append(with_labels(rows, labels))
    _assert_two_gans_end_as_alone(config, data)


def test_conditional_gans_refuse_data_without_labels():
    config = dataclasses.replace(SMALL_CONFIG, objective="conditional")
    with pytest.raises(ValueError, match="label, 0 or 1"):
        train_many(config, _rows(0, 20), _keys([0]), 2)
