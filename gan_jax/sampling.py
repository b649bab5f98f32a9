"""Drawing synthetic rows from a trained generator."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax.models import Generator
from gan_jax.training import GANState, check_count

#: Rows generated per compiled call: bounds memory for any `num_rows` and
#: compiles one program whatever the number of rows asked for.
SAMPLE_BLOCK_ROWS = 4096


@jax.jit
def _generate_block(
    state: GANState, key: jax.Array, label: jax.Array
) -> jax.Array:
    noise = jax.random.normal(
        key, (SAMPLE_BLOCK_ROWS, state.config.latent_dim), jnp.float32
    )
    variables = {
        "params": state.generator_params,
        "batch_stats": state.generator_batch_stats,
    }
    labels = (
        jnp.full((SAMPLE_BLOCK_ROWS,), label, jnp.int32)
        if state.config.objective == "conditional"
        else None
    )
    generator = Generator(state.config, state.num_features)
    return generator.apply(variables, noise, labels, train=False)


def sample(
    state: GANState, num_rows: int, key: jax.Array, *, label: int = 1
) -> jax.Array:
    """Generates synthetic rows, batch norm in inference mode.

    Rows come in blocks of `SAMPLE_BLOCK_ROWS`, block i drawn with
    `fold_in(key, i)`, so the first n rows are the same whatever the total
    asked for: sample(s, 10, k) equals sample(s, 1000, k)[:10].

    Args:
        state: a (trained) GAN.
        num_rows: number of rows to generate, 0 or more.
        key: PRNG key; the same key gives the same rows.
        label: the class to generate, 0 or 1, for a "conditional" GAN
            (1, the minority, by default); other GANs make the one class
            they learned and ignore it.

    Returns:
        (num_rows, num_features) float32 rows in [-1, 1].
    """
    check_count("num_rows", num_rows, minimum=0)
    if label not in (0, 1) or isinstance(label, bool):
        raise ValueError(f"label must be 0 or 1, got {label!r}")
    num_blocks = -(-int(num_rows) // SAMPLE_BLOCK_ROWS)
    blocks = [
        _generate_block(state, jax.random.fold_in(key, index), jnp.int32(label))
        for index in range(num_blocks)
    ]
    if not blocks:
        return jnp.zeros((0, state.num_features), jnp.float32)
    return jnp.concatenate(blocks)[:num_rows]
