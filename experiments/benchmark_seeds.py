"""Many seeds at once: `train_many` against training them one after another.

Run from the repository root:

    python experiments/benchmark_seeds.py [--steps 500] [--seeds 1,4,16]

For the reference architecture (`GANConfig()` defaults, batch 64) on 30
random features, each seed with its own rows (as in a run, where every seed
has its own split; passed as one array per seed, `train_many`'s path for
a run), it prints the total training steps per second (steps
times seeds, over wall time) of

- `gan_jax.train_many`, every seed in one compiled, vmapped program, and
- a loop calling `gan_jax.train` for one seed after another,

for each seed count, measured side by side in one process, and checks that
both end in the same bits. Compilation is left out of both: each is run
once before it is timed. The default takes about ten minutes on a 2-core CPU
(16 seeds one after another dominate it).

On a CPU the gain of vmapping is modest: one seed's matrix products
already keep the cores busy, so batching mostly saves per-step overhead
(dispatch, small kernels, the optimizer's elementwise passes). On a GPU one
seed of the reference GAN (batch 64) uses a sliver of the device, so 16
seeds vmapped should take little more wall time than one: a total speed-up
close to the number of seeds, until the device's arithmetic or memory is
full.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import gan_jax
from gan_jax.training import DEFAULT_CHUNK_SIZE

NUM_FEATURES = 30
ROWS_PER_SEED = 350  # about the rare rows of a credit-card training split


def _parse_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected counts >= 1, got {text!r}")
    return counts


def _data(num_seeds: int) -> list[np.ndarray]:
    # One row count for every seed, so that the loop compiles `train` once
    # (rows of other counts would compile it again for each seed, a cost
    # `train_many` does not have, left out here).
    rng = np.random.default_rng(0)
    shape = (ROWS_PER_SEED, NUM_FEATURES)
    return [
        rng.uniform(-1, 1, shape).astype(np.float32) for _ in range(num_seeds)
    ]


def _sequential(config, data, keys, num_steps):
    states = []
    for rows, key in zip(data, keys, strict=True):
        parts = gan_jax.gan_keys(key)
        state = gan_jax.init_state(config, NUM_FEATURES, parts.init)
        state, _ = gan_jax.train(state, rows, num_steps, parts.train)
        states.append(state)
    jax.block_until_ready(states)
    return gan_jax.stack_states(states)


def _vmapped(config, data, keys, num_steps):
    states, _ = gan_jax.train_many(config, data, keys, num_steps)
    return jax.block_until_ready(states)


def _timed(function, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seeds", type=_parse_counts, default=[1, 4, 16])
    args = parser.parse_args()

    config = gan_jax.GANConfig()
    print(
        f"JAX {jax.__version__} on {jax.devices()[0].platform} "
        f"({len(jax.devices())} device(s)); reference GAN, batch "
        f"{config.batch_size}, {NUM_FEATURES} features, {args.steps} steps "
        "per seed"
    )
    header = (
        f"{'seeds':>5}  {'vmapped steps/s':>15}  {'sequential steps/s':>18}"
        f"  {'ratio':>5}  same bits"
    )
    print(header)
    print("-" * len(header))
    for num_seeds in args.seeds:
        data = _data(num_seeds)
        keys = [jax.random.key(seed) for seed in range(num_seeds)]
        # Compile both (every chunk length the timed calls use), then time
        # them back to back.
        chunk = DEFAULT_CHUNK_SIZE
        warm_up = (
            args.steps if args.steps <= chunk else chunk + args.steps % chunk
        )
        _vmapped(config, data, keys, warm_up)
        _sequential(config, data[:1], keys[:1], warm_up)
        vmapped_time, vmapped = _timed(_vmapped, config, data, keys, args.steps)
        sequential_time, sequential = _timed(
            _sequential, config, data, keys, args.steps
        )
        same = all(
            np.array_equal(np.asarray(a), np.asarray(b))
            for a, b in zip(
                jax.tree.leaves(vmapped),
                jax.tree.leaves(sequential),
                strict=True,
            )
        )
        total = num_seeds * args.steps
        print(
            f"{num_seeds:>5}  {total / vmapped_time:>15.0f}  "
            f"{total / sequential_time:>18.0f}  "
            f"{sequential_time / vmapped_time:>5.2f}  {'yes' if same else 'NO'}"
        )


if __name__ == "__main__":
    main()
