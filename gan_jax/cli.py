"""The `gan-jax` command line.

Parses, calls the library, prints. Every bad input ends in one line on
stderr and exit status 2; an interrupt ends in exit status 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
import typing
from collections.abc import Sequence

import jax
import numpy as np
from tqdm import tqdm

from gan_jax.config import GANConfig
from gan_jax.data import (
    DataError,
    check_enough_minority_rows,
    load_table,
    split,
)
from gan_jax.datasets import BUILTIN_DATASET
from gan_jax.sampling import sample
from gan_jax.scaling import Scaler
from gan_jax.training import init_state, train

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, not usage plus error."""

    def error(self, message: str) -> typing.NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _parse_widths(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 256,512, got {text!r}"
        ) from None


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per `GANConfig` field, named and defaulted as the field."""
    group = parser.add_argument_group("GAN configuration (GANConfig)")
    hints = typing.get_type_hints(GANConfig)
    for field in dataclasses.fields(GANConfig):
        hint = hints[field.name]
        parse = _parse_widths if hint == tuple[int, ...] else hint
        shown = (
            ",".join(map(str, field.default))
            if isinstance(field.default, tuple)
            else field.default
        )
        group.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=parse,
            default=field.default,
            metavar=field.name.upper(),
            help=f"default: {shown}",
        )


def _parse_names(text: str) -> list[str]:
    return [name for name in text.split(",") if name]


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        default=BUILTIN_DATASET,
        metavar="PATH",
        help=".csv, .parquet or .npz file (X and y arrays), or the built-in "
        f"dataset; default: {BUILTIN_DATASET}",
    )
    group.add_argument(
        "--target",
        metavar="COLUMN",
        help="label column; default: Class (y for .npz)",
    )
    group.add_argument(
        "--drop",
        type=_parse_names,
        action="extend",
        default=[],
        metavar="COLUMNS",
        help="comma-separated columns to leave out (an id, an index)",
    )
    group.add_argument(
        "--minority",
        metavar="LABEL",
        help="label of the rare class; needed unless labels are 0/1 or "
        "booleans",
    )
    group.add_argument(
        "--drop-invalid-rows",
        action="store_true",
        help="drop rows with missing or infinite features instead of stopping",
    )
    group.add_argument(
        "--test-size",
        type=float,
        default=0.3,
        metavar="SHARE",
        help="share of each class held out for testing; default: 0.3",
    )


def _config_from(args: argparse.Namespace) -> GANConfig:
    values = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(GANConfig)
    }
    try:
        return GANConfig(**values)
    except ValueError as error:
        raise UsageError(f"gan-jax: invalid configuration: {error}") from None


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gan-jax",
        description=(
            "Train GANs on the rare class of imbalanced tables and measure "
            "whether their synthetic rows help."
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    train_parser = commands.add_parser(
        "train",
        help="train the GAN on the minority rows of a table",
        description=(
            "Train the GAN on the minority rows of the training split of a "
            "table (scaled to [-1, 1]), then compare synthetic rows with the "
            "held-out minority rows of the test split."
        ),
    )
    _add_data_options(train_parser)
    train_parser.add_argument(
        "--steps",
        type=int,
        default=2000,
        help="training steps (one discriminator and one generator update "
        "each); default: 2000",
    )
    train_parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="root seed of the split and the GAN; default: 0",
    )
    _add_config_options(train_parser)
    return parser


def _train_command(args: argparse.Namespace) -> None:
    if args.steps < 1:
        raise UsageError(
            f"gan-jax train: --steps must be >= 1, got {args.steps}"
        )
    if args.seed < 0:
        raise UsageError(f"gan-jax train: --seed must be >= 0, got {args.seed}")
    config = _config_from(args)

    table = load_table(
        args.data,
        target=args.target,
        drop=args.drop,
        minority=args.minority,
        drop_invalid_rows=args.drop_invalid_rows,
    )
    parts = split(table, test_size=args.test_size, seed=args.seed)
    check_enough_minority_rows(parts.train, what="training split")
    minority = parts.train.minority_features
    scaler = Scaler().fit(minority)
    scaled = scaler.transform(minority)

    init_key, train_key, sample_key = jax.random.split(
        jax.random.key(args.seed), 3
    )
    state = init_state(config, scaled.shape[1], init_key)
    progress = tqdm(
        total=args.steps, unit="step", desc="training", file=sys.stderr
    )

    def show_progress(state, metrics):
        progress.update(len(metrics["d_loss"]))
        progress.set_postfix(
            d_loss=f"{metrics['d_loss'][-1]:.3f}",
            g_loss=f"{metrics['g_loss'][-1]:.3f}",
            refresh=False,
        )

    start = time.perf_counter()
    with progress:
        state, history = train(
            state, scaled, args.steps, train_key, callback=show_progress
        )
    seconds = time.perf_counter() - start

    # A one-number check of what the generator learned: how far synthetic
    # feature means lie from those of the held-out minority rows, next to
    # how far the training rows' means lie from them (scaled units).
    held_out = scaler.transform(parts.test.minority_features).mean(axis=0)
    synthetic = np.asarray(sample(state, 2000, sample_key)).mean(axis=0)
    synthetic_gap = np.abs(synthetic - held_out).mean()
    real_gap = np.abs(scaled.mean(axis=0) - held_out).mean()
    print(
        f"trained {args.steps} steps on {len(minority)} minority rows "
        f"(training split of {table.source}) in {seconds:.1f} s "
        f"({args.steps / seconds:.0f} steps/s, compilation included): "
        f"d_loss {history['d_loss'][-1]:.3f}, "
        f"g_loss {history['g_loss'][-1]:.3f}, "
        f"D(real) {history['d_real'][-1]:.2f}, "
        f"D(fake) {history['d_fake'][-1]:.2f}; "
        f"feature-mean gap to {parts.test.num_minority} held-out minority "
        f"rows: synthetic {synthetic_gap:.3f}, training rows {real_gap:.3f}"
    )


def _print_one_line(message: str) -> None:
    # Column names and file contents can hold line breaks; the promise is
    # one line.
    print(" ".join(message.split("\n")), file=sys.stderr)


_COMMANDS = {"train": _train_command}


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    logging.basicConfig(format="gan-jax: %(message)s", level=logging.WARNING)
    try:
        args = _build_parser().parse_args(argv)
        _COMMANDS[args.command](args)
    except UsageError as error:
        _print_one_line(str(error))
        return EXIT_USAGE
    except DataError as error:
        _print_one_line(f"gan-jax: {error}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gan-jax: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
