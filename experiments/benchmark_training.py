"""How fast gan-jax trains and samples, and how close to the machine's limit.

Run from the repository root:

    python experiments/benchmark_training.py [--steps 2500] [--repeats 3]

For the reference architecture (`GANConfig()` defaults, batch 64) on 30
random features in [-1, 1], it prints one table: steps/s of `gan_jax.train`
and of a plain Python loop over `jax.jit(scanned_step)`, once dispatching
only and once reading the losses back every step as a logging loop does;
whether that loop ends in the same bits as `train`; the matmul GFLOP of one
step, counted from the layer sizes, and the GFLOP/s they are done at; the
GFLOP/s of large float32 matrix products on this machine and the share of
it `train` reaches; and the rows/s of `gan_jax.sample`. Each timing is
repeated and shown as best and median, because the machine may be shared.
The default run takes about two to three minutes on a 2-core CPU.

`gan_jax.training.scanned_step` is the exact step `train` scans over, made
public for this comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import gan_jax
from gan_jax.training import DEFAULT_CHUNK_SIZE, scanned_step

NUM_FEATURES = 30
NUM_DATA_ROWS = 2000


def step_matmul_flops(
    config: gan_jax.GANConfig, num_features: int
) -> dict[str, int]:
    """Matmul flops of one `train_step`, by part, from the layer sizes.

    A dense layer of n_in x n_out on B rows costs 2 * B * n_in * n_out
    flops forward; its backward costs as much again for the weight
    gradient, and again for the input gradient where one is needed. Reverse
    mode needs the input gradient of every layer above the lowest one whose
    weights it differentiates, so a weight-gradient backward skips only the
    first layer's input gradient, whose input (noise, data, or generated
    rows behind `stop_gradient`) needs none.

    Only matmuls are counted. Biases, activations, batch norm, the dropout
    hash, the losses and Adam (about 15 flops per parameter) add roughly 5%
    more flops (XLA's own count, printed next to this one, says how much);
    being memory-bound, they take a larger share of the time.

    Returns:
        Flops of: the generator's forward pass, its backward pass, the
        discriminator's update, and the discriminator's passes for the
        generator's update.
    """
    batch = config.batch_size
    generator_sizes = [
        config.latent_dim,
        *config.generator_widths,
        num_features,
    ]
    discriminator_sizes = [num_features, *config.discriminator_widths, 1]

    def pass_flops(sizes: list[int], rows: int, skip_first: bool) -> int:
        """One pass (forward, or one kind of gradient) over all layers."""
        layers = list(zip(sizes[:-1], sizes[1:], strict=True))
        if skip_first:
            layers = layers[1:]
        return sum(2 * rows * n_in * n_out for n_in, n_out in layers)

    # One generator forward pass in training mode; `jax.vjp` keeps it for
    # both updates, so it is not repeated for the generator's update.
    generator_forward = pass_flops(generator_sizes, batch, False)

    # Weight gradients of every layer, input gradients of all but the first
    # (the noise needs none).
    generator_backward = pass_flops(generator_sizes, batch, False) + pass_flops(
        generator_sizes, batch, True
    )

    # Real and generated rows go through in one batch of 2B: forward, weight
    # gradients, and input gradients of all but the first layer (the rows
    # are data or behind `stop_gradient`).
    discriminator_update = (
        2 * pass_flops(discriminator_sizes, 2 * batch, False)
    ) + pass_flops(discriminator_sizes, 2 * batch, True)

    # The updated discriminator scores the B generated rows again, then
    # passes the gradient back to the rows through every layer; its own
    # weights are read, never differentiated.
    discriminator_for_generator = 2 * pass_flops(
        discriminator_sizes, batch, False
    )

    return {
        "G forward": generator_forward,
        "G backward": generator_backward,
        "D update": discriminator_update,
        "D for G": discriminator_for_generator,
    }


def xla_flops(step_fn, *args) -> float | None:
    """XLA's estimate of all the flops of one compiled call, if it has one."""
    try:
        analysis = step_fn.lower(*args).compile().cost_analysis()
    except Exception:  # The cost model is best-effort and backend-specific.
        return None
    # Older JAX versions return one dict per device.
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else None
    if not analysis or "flops" not in analysis:
        return None
    return float(analysis["flops"])


def seconds_of(run: Callable[[], object]) -> float:
    """Wall time of `run`, which must block until its work is done."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def matmul_gflops(size: int, key: jax.Array, repeats: int) -> float:
    """Best GFLOP/s of a jitted float32 `jnp.dot` of two size x size."""
    a_key, b_key = jax.random.split(key)
    a = jax.random.normal(a_key, (size, size), jnp.float32)
    b = jax.random.normal(b_key, (size, size), jnp.float32)
    dot = jax.jit(jnp.dot)
    dot(a, b).block_until_ready()
    best = min(
        seconds_of(lambda: dot(a, b).block_until_ready())
        for _ in range(max(repeats, 3))
    )
    return 2 * size**3 / best / 1e9


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--steps",
        type=int,
        default=2500,
        help="steps timed per repeat, for train and for each loop",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="repeats of each timing; best and median are shown",
    )
    parser.add_argument(
        "--sample-rows",
        type=int,
        default=200_000,
        help="rows generated per timed call of gan_jax.sample",
    )
    args = parser.parse_args()
    for name in ("steps", "repeats", "sample_rows"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    config = gan_jax.GANConfig()
    init_key, data_key, train_key, sample_key, matmul_key = jax.random.split(
        jax.random.key(0), 5
    )
    initial = gan_jax.init_state(config, NUM_FEATURES, init_key)
    data = jax.random.uniform(
        data_key, (NUM_DATA_ROWS, NUM_FEATURES), minval=-1.0, maxval=1.0
    )
    step_fn = jax.jit(scanned_step)

    def run_train() -> gan_jax.GANState:
        state, _ = gan_jax.train(initial, data, args.steps, train_key)
        return jax.block_until_ready(state)

    def run_loop(read_back: bool) -> gan_jax.GANState:
        state = initial
        for _ in range(args.steps):
            state, metrics = step_fn(state, data, train_key)
            if read_back:
                # Waits for the step to finish, as logging a loss does.
                float(metrics["d_loss"])
                float(metrics["g_loss"])
        return jax.block_until_ready(state)

    # Warm-up: compile the full chunk and any remainder of `train`, and the
    # loop's step, so that no timing below includes compilation.
    remainder = args.steps % DEFAULT_CHUNK_SIZE
    warm_steps = min(args.steps, DEFAULT_CHUNK_SIZE) + remainder
    jax.block_until_ready(
        gan_jax.train(initial, data, warm_steps, train_key)[0]
    )
    jax.block_until_ready(step_fn(initial, data, train_key))

    # The three variants take turns within each repeat, so that load from
    # other processes falls on all of them alike.
    variants = ("train", "loop", "loop+read")
    seconds = {name: [] for name in variants}
    finals = {}
    for _ in range(args.repeats):
        for name, run in zip(
            variants,
            (run_train, lambda: run_loop(False), lambda: run_loop(True)),
            strict=True,
        ):
            start = time.perf_counter()
            finals[name] = run()
            seconds[name].append(time.perf_counter() - start)
    rates = {name: [args.steps / s for s in seconds[name]] for name in variants}

    # Every repeat starts from `initial` with the same key, so the last
    # repeat's states suffice to compare the loop with `train`.
    same_bits = jax.tree.structure(finals["train"]) == jax.tree.structure(
        finals["loop"]
    ) and all(
        np.array_equal(a, b)
        for a, b in zip(
            jax.tree.leaves(finals["train"]),
            jax.tree.leaves(finals["loop"]),
            strict=True,
        )
    )

    flops_by_part = step_matmul_flops(config, NUM_FEATURES)
    all_op_flops = xla_flops(step_fn, initial, data, train_key)
    matmul = {
        size: matmul_gflops(size, matmul_key, args.repeats)
        for size in (2048, 4096)
    }

    trained = finals["train"]
    jax.block_until_ready(gan_jax.sample(trained, args.sample_rows, sample_key))
    sample_rates = [
        args.sample_rows
        / seconds_of(
            lambda: jax.block_until_ready(
                gan_jax.sample(trained, args.sample_rows, sample_key)
            )
        )
        for _ in range(args.repeats)
    ]

    print_report(
        args,
        rates,
        same_bits,
        flops_by_part,
        all_op_flops,
        matmul,
        sample_rates,
    )


def print_report(
    args: argparse.Namespace,
    rates: dict[str, list[float]],
    same_bits: bool,
    flops_by_part: dict[str, int],
    all_op_flops: float | None,
    matmul: dict[int, float],
    sample_rates: list[float],
) -> None:
    """Prints the summary table: best and median of each timing."""
    device = jax.devices()[0]
    step_gflop = sum(flops_by_part.values()) / 1e9
    peak = max(matmul.values())

    def best_median(values: list[float]) -> tuple[float, float]:
        return max(values), statistics.median(values)

    def row(label: str, unit: str, values: tuple[float, ...], fmt: str):
        cells = "".join(f"{value:>10{fmt}}" for value in values)
        print(f"{label:<40}{unit:<8}{cells}")

    print(
        f"gan-jax {gan_jax.__version__}, jax {jax.__version__}, backend "
        f"{jax.default_backend()}, device {device.device_kind} ({device}), "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"GANConfig() defaults, batch {gan_jax.GANConfig().batch_size}, "
        f"{NUM_FEATURES} features, {NUM_DATA_ROWS} rows; {args.steps} "
        f"steps x {args.repeats} repeats"
    )

    train = best_median(rates["train"])
    loop = best_median(rates["loop"])
    loop_read = best_median(rates["loop+read"])
    print(f"\n{'':<48}{'best':>10}{'median':>10}")
    row(f"train (scan, {DEFAULT_CHUNK_SIZE} per call)", "steps/s", train, ".1f")
    row("loop of jit(scanned_step), dispatch", "steps/s", loop, ".1f")
    row("loop, losses read back every step", "steps/s", loop_read, ".1f")
    row(
        "train / loop (dispatch)",
        "ratio",
        (train[0] / loop[0], train[1] / loop[1]),
        ".2f",
    )
    row(
        "train / loop (read back)",
        "ratio",
        (train[0] / loop_read[0], train[1] / loop_read[1]),
        ".2f",
    )
    print(
        f"{'same bits (loop vs train)':<48}{'yes' if same_bits else 'no':>10}"
    )

    parts = ", ".join(
        f"{name} {flops / 1e9:.3f}" for name, flops in flops_by_part.items()
    )
    print(f"\nmatmul GFLOP per step: {step_gflop:.3f}\n  ({parts})")
    if all_op_flops is None:
        print("XLA's count of all ops per step: not available")
    else:
        print(
            f"XLA's count of all ops per step: {all_op_flops / 1e9:.3f} "
            f"GFLOP (matmuls {100 * step_gflop * 1e9 / all_op_flops:.0f}%)"
        )
    print(f"{'':<48}{'best':>10}{'median':>10}")
    for label, values in (
        ("train", train),
        ("loop, dispatch", loop),
        ("loop, read back", loop_read),
    ):
        row(label, "GFLOP/s", tuple(step_gflop * r for r in values), ".1f")
    for size, gflops in matmul.items():
        row(f"float32 matmul {size}x{size}", "GFLOP/s", (gflops,), ".1f")
    row(
        "train / fastest matmul",
        "%",
        tuple(100 * step_gflop * r / peak for r in train),
        ".1f",
    )

    print(f"\n{'':<48}{'best':>10}{'median':>10}")
    row(
        f"sample, {args.sample_rows:,} rows per call",
        "rows/s",
        best_median(sample_rates),
        ",.0f",
    )


if __name__ == "__main__":
    main()
