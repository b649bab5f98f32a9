import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gan_jax import GANConfig


def test_defaults_are_the_reference_gan():
    config = GANConfig()
    assert config.latent_dim == 100
    assert config.generator_widths == (256, 512, 1024)
    assert config.discriminator_widths == (512, 256)
    assert config.leaky_relu_slope == 0.2
    assert config.batch_norm_momentum == 0.8
    assert config.dropout_rate == 0.4
    assert config.learning_rate == 2e-4
    assert (config.adam_beta1, config.adam_beta2) == (0.5, 0.999)
    assert config.batch_size == 64
    assert (config.real_target, config.fake_target) == (0.9, 0.0)


def test_config_is_frozen_and_hashable():
    config = GANConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.latent_dim = 3
    assert hash(config) == hash(GANConfig())


def test_widths_given_as_a_list_are_stored_as_a_tuple():
    config = GANConfig(generator_widths=[8, 16], discriminator_widths=[4])
    assert config.generator_widths == (8, 16)
    assert config.discriminator_widths == (4,)
    hash(config)


@pytest.mark.parametrize(
    "field, value",
    [
        ("latent_dim", 0),
        ("latent_dim", 2.5),
        ("latent_dim", True),
        ("batch_size", -1),
        ("generator_widths", (256, 0)),
        ("generator_widths", "256"),
        ("discriminator_widths", 512),
        ("leaky_relu_slope", -0.1),
        ("batch_norm_momentum", 1.5),
        ("batch_norm_epsilon", 0.0),
        ("dropout_rate", 1.0),
        ("learning_rate", float("inf")),
        ("learning_rate", float("nan")),
        ("adam_beta1", 1.0),
        ("real_target", 1.1),
        ("fake_target", 0.95),
    ],
)
def test_invalid_field_raises_a_message_naming_it(field, value):
    with pytest.raises(ValueError, match=field):
        GANConfig(**{field: value})


@given(st.floats().filter(lambda rate: not 0 <= rate < 1))
def test_any_dropout_rate_outside_unit_interval_is_rejected(rate):
    with pytest.raises(ValueError, match="dropout_rate"):
        GANConfig(dropout_rate=rate)


@given(st.integers(max_value=0))
def test_any_non_positive_latent_dim_is_rejected(latent_dim):
    with pytest.raises(ValueError, match="latent_dim"):
        GANConfig(latent_dim=latent_dim)
