"""The `gan-jax` command line.

Parses, calls the library, prints. Every bad input ends in one line on
stderr and exit status 2; an interrupt ends in exit status 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
import typing
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
from tqdm import tqdm

from gan_jax.classifiers import CLASSIFIERS
from gan_jax.config import GANConfig, RunSettings
from gan_jax.data import (
    DataError,
    check_enough_minority_rows,
    load_table,
    split,
)
from gan_jax.datasets import BUILTIN_DATASET
from gan_jax.evaluation import run_comparison, split_for_run
from gan_jax.outputs import (
    DEFAULT_RUNS_DIR,
    OutputError,
    atomic_directory,
    default_run_dir,
    fingerprint,
    read_record,
    run_record,
)
from gan_jax.oversampling import OVERSAMPLERS
from gan_jax.report import summary_table, write_report
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


def _add_config_options(
    parser: argparse.ArgumentParser, *, unset_default: bool = False
) -> None:
    """One option per `GANConfig` field, named and defaulted as the field.

    With `unset_default`, options not given are None, so that a command can
    tell them from the defaults (`run --config` refuses them).
    """
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
            default=None if unset_default else field.default,
            metavar=field.name.upper(),
            help=f"default: {shown}",
        )


def _parse_names(text: str) -> list[str]:
    return [name for name in text.split(",") if name]


def _add_data_options(
    parser: argparse.ArgumentParser, *, unset_default: bool = False
) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        default=None if unset_default else BUILTIN_DATASET,
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
        default=None if unset_default else [],
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
        default=None if unset_default else False,
        help="drop rows with missing or infinite features instead of stopping",
    )
    group.add_argument(
        "--test-size",
        type=float,
        default=None if unset_default else 0.3,
        metavar="SHARE",
        help="share of each class held out for testing; default: 0.3",
    )


def _config_from(args: argparse.Namespace) -> GANConfig:
    values = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(GANConfig)
        if getattr(args, field.name) is not None
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

    run_parser = commands.add_parser(
        "run",
        help="compare GAN augmentation with no augmentation and classical "
        "oversamplers",
        description=(
            "For each seed: split the table, fit every oversampler on the "
            "training split, fit every classifier on each result, and score "
            "it on the untouched test split; then aggregate over seeds, test "
            "the differences and write a report."
        ),
    )
    _add_data_options(run_parser, unset_default=True)
    _add_run_options(run_parser)
    _add_config_options(run_parser, unset_default=True)
    return parser


def _parse_list(known: tuple[str, ...]):
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(name for name in text.split(",") if name)
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown name(s) {', '.join(unknown) or '(none given)'}; "
                f"choose from {','.join(known)}"
            )
        return names

    return parse


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    defaults = RunSettings()
    group = parser.add_argument_group("comparison")
    group.add_argument(
        "--oversamplers",
        type=_parse_list(OVERSAMPLERS),
        metavar="NAMES",
        help=f"default: {','.join(defaults.oversamplers)}",
    )
    group.add_argument(
        "--classifiers",
        type=_parse_list(CLASSIFIERS),
        metavar="NAMES",
        help=f"default: {','.join(defaults.classifiers)}",
    )
    group.add_argument(
        "--seeds",
        type=int,
        metavar="N",
        help=f"repetitions, seed S, S+1, ...; default: {defaults.num_seeds}",
    )
    group.add_argument(
        "--seed",
        type=int,
        metavar="S",
        help=f"base seed; default: {defaults.seed}",
    )
    group.add_argument(
        "--ratio",
        type=float,
        metavar="R",
        help="minority / majority rows after oversampling; default: "
        f"{defaults.ratio}",
    )
    group.add_argument(
        "--steps",
        type=int,
        metavar="N",
        help=f"GAN training steps; default: {defaults.gan_steps}",
    )
    group.add_argument(
        "--class-weight",
        choices=("reference", "balanced"),
        help="weights of the class-weight oversampler: reference {0: 1, "
        "1: 10} or balanced; default: reference",
    )
    group = parser.add_argument_group("execution")
    group.add_argument(
        "--jobs",
        type=int,
        default=-1,
        metavar="N",
        help="worker processes for the fits (-1: every core; results do "
        "not depend on it); default: -1",
    )
    group.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"output folder; default: a new folder in {DEFAULT_RUNS_DIR}",
    )
    group.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="repeat the run recorded in FILE (a run's config.json)",
    )


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


_DATA_OPTIONS = ("data", "target", "drop", "minority", "drop_invalid_rows")
_RUN_OPTIONS = (
    "oversamplers",
    "classifiers",
    "seeds",
    "seed",
    "ratio",
    "steps",
    "class_weight",
    "test_size",
)


def _run_inputs(args: argparse.Namespace):
    """The data options, settings and expected fingerprint of a run."""
    given = [
        name
        for name in (
            *_DATA_OPTIONS,
            *_RUN_OPTIONS,
            *(field.name for field in dataclasses.fields(GANConfig)),
        )
        if getattr(args, name) is not None
    ]
    if args.config is not None:
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise UsageError(
                f"gan-jax run: --config repeats a recorded run; it takes "
                f"only --out and --jobs, not {flags}"
            )
        return read_record(args.config)

    source = args.data or BUILTIN_DATASET
    if source != BUILTIN_DATASET and Path(source).exists():
        # Recorded absolute, so that --config works from any folder.
        source = str(Path(source).resolve())
    data_options = {
        "source": source,
        "target": args.target,
        "drop": list(args.drop or []),
        "minority": args.minority,
        "drop_invalid_rows": bool(args.drop_invalid_rows),
    }
    values = {
        "oversamplers": args.oversamplers,
        "classifiers": args.classifiers,
        "num_seeds": args.seeds,
        "seed": args.seed,
        "ratio": args.ratio,
        "gan_steps": args.steps,
        "class_weight": args.class_weight,
        "test_size": args.test_size,
    }
    try:
        settings = RunSettings(
            **{k: v for k, v in values.items() if v is not None},
            gan=_config_from(args),
        )
    except ValueError as error:
        raise UsageError(f"gan-jax run: {error}") from None
    return data_options, settings, None


class _RunProgress:
    """Progress bars of a run: GANs first, then the grid of fits."""

    def __init__(self, settings: RunSettings, num_fits: int) -> None:
        self.gan_steps = (
            settings.num_seeds * settings.gan_steps
            if "gan" in settings.oversamplers
            else 0
        )
        self.num_fits = num_fits
        self.gan_bar = self.fit_bar = None
        if self.gan_steps:
            self.gan_bar = tqdm(
                total=self.gan_steps,
                unit="step",
                desc=f"training {settings.num_seeds} GANs",
                file=sys.stderr,
            )

    def gan_steps_done(self, steps: int) -> None:
        self.gan_bar.update(steps)
        if self.gan_bar.n == self.gan_steps:
            self.gan_bar.close()

    def fit_done(self, row: dict) -> None:
        # Made on the first fit, so that it does not sit under the GAN bar.
        if self.fit_bar is None:
            self.fit_bar = tqdm(
                total=self.num_fits, unit="fit", desc="fits", file=sys.stderr
            )
        self.fit_bar.update()

    def __enter__(self) -> _RunProgress:
        return self

    def __exit__(self, *exc_info) -> None:
        for bar in (self.gan_bar, self.fit_bar):
            if bar is not None:
                bar.close()


def _run_command(args: argparse.Namespace) -> None:
    if args.jobs == 0 or args.jobs < -1:
        raise UsageError(
            f"gan-jax run: --jobs must be >= 1 or -1, got {args.jobs}"
        )
    data_options, settings, expected_fingerprint = _run_inputs(args)
    options = dict(data_options)
    table = load_table(options.pop("source"), **options)
    if expected_fingerprint and fingerprint(table) != expected_fingerprint:
        raise DataError(
            f"{table.source} is not the data the recorded run used (its "
            "fingerprint differs); the run cannot be repeated on it"
        )
    # Every check before the progress bars, so that bad input ends in one
    # line and nothing else.
    split_for_run(table, settings)
    out = args.out or default_run_dir(table.source)

    num_fits = (
        settings.num_seeds
        * len(settings.oversamplers)
        * len(settings.classifiers)
    )
    with atomic_directory(out) as scratch:
        bars = _RunProgress(settings, num_fits)
        with bars:
            result = run_comparison(
                table,
                settings,
                jobs=args.jobs,
                on_gan_steps=bars.gan_steps_done,
                on_fit_done=bars.fit_done,
            )
        result.metrics.to_csv(scratch / "metrics.csv", index=False)
        record = run_record(table, data_options, settings)
        (scratch / "config.json").write_text(json.dumps(record, indent=2))
        write_report(
            result,
            settings,
            scratch,
            title=f"gan-jax run on {table.source}",
            data_description=repr(table),
            feature_names=table.feature_names,
        )
    print(summary_table(result))
    print(f"wrote {out}")


_COMMANDS = {"train": _train_command, "run": _run_command}


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    logging.basicConfig(format="gan-jax: %(message)s", level=logging.WARNING)
    try:
        args = _build_parser().parse_args(argv)
        _COMMANDS[args.command](args)
    except UsageError as error:
        _print_one_line(str(error))
        return EXIT_USAGE
    except (DataError, OutputError) as error:
        _print_one_line(f"gan-jax: {error}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gan-jax: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
