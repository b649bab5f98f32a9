"""The `gan-jax` command line.

Parses, calls the library, prints. Every bad input ends in one line on
stderr and exit status 2; an interrupt ends in exit status 130.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import signal
import sys
import time
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path

import jax
import numpy as np
from tqdm import tqdm

from gan_jax.checkpoints import (
    DEFAULT_CHECKPOINT_EVERY,
    CheckpointError,
    TrainingInterrupted,
    latest_step,
    remove_older_steps,
    restore,
    train_checkpointed,
)
from gan_jax.classifiers import CLASSIFIERS
from gan_jax.config import (
    OBJECTIVES,
    TRANSFORMS,
    DetectSettings,
    GANConfig,
    RunSettings,
)
from gan_jax.data import (
    DataError,
    check_enough_minority_rows,
    load_table,
    split,
)
from gan_jax.datasets import BUILTIN_DATASET
from gan_jax.detection import SCORES
from gan_jax.detection_report import (
    summary_table as detection_summary_table,
)
from gan_jax.detection_report import write_detection_report
from gan_jax.detectors import DETECTORS, compare_detectors
from gan_jax.detectors import check_settings as check_detection
from gan_jax.evaluation import (
    RerunCheck,
    compare_rerun,
    fit_grid,
    rerun_seed,
    split_for_run,
    train_gans,
)
from gan_jax.outputs import (
    DEFAULT_DETECTIONS_DIR,
    DEFAULT_RUNS_DIR,
    DEFAULT_STUDIES_DIR,
    DEFAULT_TRAIN_DIR,
    OutputError,
    RunFolder,
    default_run_dir,
    fingerprint,
    read_record,
    read_train_record,
    run_record,
    staged_folder,
    train_record,
    write_table,
)
from gan_jax.oversampling import OVERSAMPLERS, gan_training_rows
from gan_jax.report import summary_table, write_report
from gan_jax.training import DivergenceError, gan_keys

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Seeds of `gan-jax study` unless --seeds says otherwise: enough for the
#: spread across seeds to mean something, few enough to stay minutes long
#: on the built-in data.
STUDY_SEEDS = 10


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


#: The `GANConfig` fields that take one of a few names.
_CONFIG_CHOICES = {"objective": OBJECTIVES, "transform": TRANSFORMS}


def _add_config_options(
    parser: argparse.ArgumentParser,
    *,
    unset_default: bool = False,
    defaults: GANConfig | None = None,
) -> None:
    """One option per `GANConfig` field, named as the field and defaulted
    as in `defaults` (the reference GAN unless given).

    With `unset_default`, options not given are None, so that a command can
    tell them from the defaults (`run --config` refuses them).
    """
    defaults = defaults or GANConfig()
    group = parser.add_argument_group("GAN configuration (GANConfig)")
    hints = typing.get_type_hints(GANConfig)
    for field in dataclasses.fields(GANConfig):
        hint = hints[field.name]
        parse = _parse_widths if hint == tuple[int, ...] else hint
        default = getattr(defaults, field.name)
        shown = (
            ",".join(map(str, default))
            if isinstance(default, tuple)
            else default
        )
        choices = _CONFIG_CHOICES.get(field.name)
        group.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=parse,
            choices=choices,
            default=None if unset_default else default,
            metavar="{" + ",".join(choices) + "}"
            if choices
            else field.name.upper(),
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


def _config_from(
    args: argparse.Namespace, base: GANConfig | None = None
) -> GANConfig:
    """The GANConfig of the options given, the others from `base` (the
    reference GAN by default)."""
    values = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(GANConfig)
        if getattr(args, field.name) is not None
    }
    try:
        return dataclasses.replace(base or GANConfig(), **values)
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
    _add_checkpoint_options(train_parser, DEFAULT_TRAIN_DIR)
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
    _add_config_options(
        run_parser, unset_default=True, defaults=RunSettings().gan
    )

    study_parser = commands.add_parser(
        "study",
        help="the comparison of run over many seeds, with their spread and "
        "a re-run check",
        description=(
            "gan-jax run over many seeds: every seed's GAN trained at once, "
            "every oversampler and classifier per seed, and a report of the "
            "spread across seeds. It ends by re-running the last seed from "
            "scratch and checking that its metrics are identical (exit "
            "status 1 if they are not)."
        ),
    )
    _add_data_options(study_parser, unset_default=True)
    _add_run_options(
        study_parser, out_dir=DEFAULT_STUDIES_DIR, seeds=STUDY_SEEDS
    )
    _add_config_options(
        study_parser, unset_default=True, defaults=RunSettings().gan
    )

    detect_parser = commands.add_parser(
        "detect",
        help="the GAN as an unsupervised anomaly detector against "
        "IsolationForest, LocalOutlierFactor and OneClassSVM",
        description=(
            "For each seed: split the table, fit every detector on the "
            "common-class rows of the training split only (no detector "
            "sees a label; the rare training rows are left out), score the "
            "test split, and measure AUPRC and ROC AUC; then aggregate over "
            "seeds, test the GAN against each detector and write a report."
        ),
    )
    _add_data_options(detect_parser)
    _add_detect_options(detect_parser)
    _add_config_options(detect_parser)

    sample_parser = commands.add_parser(
        "sample",
        help="write synthetic minority rows from a saved GAN",
        description=(
            "Sample rows from a GAN saved by `gan-jax train` or `gan-jax "
            "run`, in the original units and column names, with the label "
            "column; the same seed gives the same file."
        ),
    )
    sample_parser.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        metavar="DIR",
        help="a train folder, a run's gans/seed-<s> folder, or one step",
    )
    sample_parser.add_argument(
        "--rows", type=int, required=True, metavar="N", help="rows to write"
    )
    sample_parser.add_argument(
        "--seed", type=int, default=0, metavar="S", help="default: 0"
    )
    sample_parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help=".csv (optionally .gz, .bz2, .xz, .zst) or .parquet; must not "
        "exist",
    )
    return parser


def _add_checkpoint_options(
    parser: argparse.ArgumentParser, default_dir: Path
) -> None:
    group = parser.add_argument_group("checkpoints")
    group.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"output folder; default: a new folder in {default_dir}",
    )
    group.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help="GAN steps between checkpoints; default: "
        f"{DEFAULT_CHECKPOINT_EVERY}",
    )
    group.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue the interrupted run in DIR (takes no other option "
        "but --jobs)",
    )


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


def _positive_or(word: str, what: str):
    """A parser of a positive integer or `word`, which it returns as 0 (it
    is None in RunSettings, but None here means 'not given')."""

    def parse(text: str) -> int:
        if text == word:
            return 0
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(
                f"expected a positive number of {what} or '{word}', got "
                f"{text!r}"
            )
        return value

    return parse


_parse_rows_per_tree = _positive_or("all", "rows")


def _add_run_options(
    parser: argparse.ArgumentParser,
    *,
    out_dir: Path = DEFAULT_RUNS_DIR,
    seeds: int | None = None,
) -> None:
    defaults = RunSettings()
    seeds = defaults.num_seeds if seeds is None else seeds
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
    # Unset (None) unless given, so that --config and --resume can refuse
    # them; the help shows the defaults.
    _add_repetition_options(group, seeds, defaults.seed, defaults.gan_steps)
    group.add_argument(
        "--ratio",
        type=float,
        metavar="R",
        help="minority / majority rows after oversampling; default: "
        f"{defaults.ratio}",
    )
    group.add_argument(
        "--select-every",
        type=_positive_or("none", "steps"),
        metavar="N",
        help="model selection: sample each GAN from the step, among every "
        "N-th, whose rows are closest to its training minority rows, or "
        "'none' for the last step; default: "
        f"{defaults.gan_select_every or 'none'}",
    )
    group.add_argument(
        "--class-weight",
        choices=("reference", "balanced"),
        help="weights of the class-weight oversampler: reference {0: 1, "
        "1: 10} or balanced; default: reference",
    )
    group.add_argument(
        "--forest-rows-per-tree",
        type=_parse_rows_per_tree,
        metavar="N",
        help="rows each random-forest tree draws from larger training sets, "
        "or 'all'; default: "
        f"{defaults.forest_rows_per_tree}",
    )
    group = parser.add_argument_group("execution")
    _add_jobs_option(group, "the fits")
    _add_checkpoint_options(parser, out_dir)
    group.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="repeat the run recorded in FILE (a run's config.json)",
    )


def _add_jobs_option(group, what: str) -> None:
    group.add_argument(
        "--jobs",
        type=int,
        default=-1,
        metavar="N",
        help=f"worker processes for {what} (-1: every core; results do not "
        "depend on it); default: -1",
    )


def _add_repetition_options(
    group, seeds: int, seed: int, steps: int, *, set_defaults: bool = False
) -> None:
    """--seeds, --seed and --steps; None unless given, or the defaults
    shown when `set_defaults`."""
    for flag, metavar, default, text in (
        ("--seeds", "N", seeds, "repetitions, seed S, S+1, ..."),
        ("--seed", "S", seed, "base seed"),
        ("--steps", "N", steps, "GAN training steps"),
    ):
        group.add_argument(
            flag,
            type=int,
            default=default if set_defaults else None,
            metavar=metavar,
            help=f"{text}; default: {default}",
        )


def _add_detect_options(parser: argparse.ArgumentParser) -> None:
    defaults = DetectSettings()
    group = parser.add_argument_group("comparison")
    group.add_argument(
        "--detectors",
        type=_parse_list(DETECTORS),
        default=defaults.detectors,
        metavar="NAMES",
        help=f"default: {','.join(defaults.detectors)}",
    )
    group.add_argument(
        "--score",
        choices=SCORES,
        default=defaults.score,
        help=f"how the GAN scores a row; default: {defaults.score}",
    )
    _add_repetition_options(
        group,
        defaults.num_seeds,
        defaults.seed,
        defaults.gan_steps,
        set_defaults=True,
    )
    group = parser.add_argument_group("execution")
    _add_jobs_option(group, "the standard detectors")
    group.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"output folder; default: a new folder in "
        f"{DEFAULT_DETECTIONS_DIR}",
    )


def _detect_command(args: argparse.Namespace, guard: _StopGuard) -> None:
    if args.jobs == 0 or args.jobs < -1:
        raise UsageError(
            f"gan-jax detect: --jobs must be >= 1 or -1, got {args.jobs}"
        )
    try:
        settings = DetectSettings(
            detectors=args.detectors,
            num_seeds=args.seeds,
            seed=args.seed,
            test_size=args.test_size,
            gan_steps=args.steps,
            score=args.score,
            gan=_config_from(args),
        )
    except ValueError as error:
        raise UsageError(f"gan-jax detect: {error}") from None
    data_options = _data_options(args)
    del data_options["test_size"]  # a detection setting, recorded with them
    options = dict(data_options)
    table = load_table(options.pop("source"), **options)
    try:
        check_detection(table, settings)
    except ValueError as error:
        if isinstance(error, DataError):
            raise
        raise UsageError(f"gan-jax detect: {error}") from None
    record = run_record(table, data_options, settings)
    record["command"] = "detect"
    target = args.out or default_run_dir(
        table.source, parent=DEFAULT_DETECTIONS_DIR
    )
    # Everything is written into a hidden folder beside the target and
    # moved into place at the end: a detection that stops leaves nothing.
    with staged_folder(target) as stage:
        (stage / RunFolder.RECORD).write_text(json.dumps(record, indent=2))
        gan_steps = settings.num_seeds * settings.gan_steps
        with contextlib.ExitStack() as bars:
            gan_bar = (
                bars.enter_context(
                    tqdm(
                        total=gan_steps,
                        unit="step",
                        desc=f"training {settings.num_seeds} GANs",
                        file=sys.stderr,
                    )
                )
                if "gan" in settings.detectors
                else None
            )
            others = [n for n in settings.detectors if n != "gan"]
            fit_bars = []

            def gan_progress(state, metrics):
                gan_bar.update(len(next(iter(metrics.values()))))

            def fit_done(row):
                if row["detector"] == "gan":
                    return
                # Made on the first fit, so that it does not sit under the
                # GAN bar while the GANs train.
                if not fit_bars:
                    fit_bars.append(
                        bars.enter_context(
                            tqdm(
                                total=settings.num_seeds * len(others),
                                unit="fit",
                                desc="standard detectors",
                                file=sys.stderr,
                            )
                        )
                    )
                fit_bars[0].update()

            try:
                result = compare_detectors(
                    table,
                    settings,
                    jobs=args.jobs,
                    on_fit_done=fit_done,
                    gan_callback=gan_progress if gan_bar is not None else None,
                )
            except DivergenceError as error:
                raise CommandFailed(
                    f"gan-jax detect: a GAN's {error}; nothing was written "
                    "(try a smaller --learning-rate or another --seed)"
                ) from None
        write_detection_report(
            result,
            settings,
            stage,
            title=f"gan-jax detect on {table.source}",
            data_description=repr(table),
        )
        result.metrics.to_csv(stage / RunFolder.METRICS, index=False)
    print(detection_summary_table(result.metrics))
    print(f"wrote {target}")


def _train_command(args: argparse.Namespace, guard: _StopGuard) -> None:
    every = _checkpoint_every(args, "train")
    if args.resume is not None:
        defaults = _build_parser().parse_args(["train"])
        _refuse_with_resume(args, defaults, "train")
        folder = args.resume
        if not (folder / RunFolder.RECORD).is_file():
            raise OutputError(
                f"{folder} is not a gan-jax train folder (no "
                f"{RunFolder.RECORD})"
            )
        data_options, steps, seed, config, expected, every = read_train_record(
            folder / RunFolder.RECORD
        )
        if latest_step(folder / "gan") == steps:
            raise OutputError(
                f"{folder} finished its {steps} steps; nothing to resume"
            )
    else:
        if args.steps < 1:
            raise UsageError(
                f"gan-jax train: --steps must be >= 1, got {args.steps}"
            )
        if args.seed < 0:
            raise UsageError(
                f"gan-jax train: --seed must be >= 0, got {args.seed}"
            )
        config, steps, seed = _config_from(args), args.steps, args.seed
        data_options = _data_options(args)
        expected = None

    options = dict(data_options)
    test_size = options.pop("test_size")
    table = load_table(options.pop("source"), **options)
    _check_fingerprint(table, expected)
    parts = split(table, test_size=test_size, seed=seed)
    check_enough_minority_rows(parts.train, what="training split")
    if args.resume is None:
        folder = args.out or default_run_dir(
            table.source, parent=DEFAULT_TRAIN_DIR
        )
        RunFolder.create(
            folder,
            train_record(
                table, data_options, steps, seed, test_size, config, every
            ),
        )

    done = latest_step(folder / "gan") or 0
    progress = tqdm(
        total=steps,
        initial=done,
        unit="step",
        desc="training",
        file=sys.stderr,
    )

    def show_progress(state, metrics):
        progress.update(len(metrics["d_loss"]))
        progress.set_postfix(
            d_loss=f"{metrics['d_loss'][-1]:.3f}",
            g_loss=f"{metrics['g_loss'][-1]:.3f}",
            refresh=False,
        )

    start = time.perf_counter()
    rows, labels = gan_training_rows(
        parts.train.features, parts.train.labels, 1, config
    )
    with guard.resumable(folder, "train"), progress, guard.deferred():
        trained = train_checkpointed(
            rows,
            config,
            steps,
            jax.random.key(seed),
            labels=labels,
            directory=folder / "gan",
            every=every,
            feature_names=table.feature_names,
            target=table.target,
            minority_label=table.label_values[1],
            callback=show_progress,
            should_stop=guard.requested,
        )
    seconds = time.perf_counter() - start
    history = trained.history

    # A one-number check of what the generator learned: how far synthetic
    # feature means lie from those of the held-out minority rows, next to
    # how far the training rows' means lie from them (scaled units).
    scaler = trained.scaler
    scaled = scaler.transform(parts.train.minority_features)
    held_out = scaler.transform(parts.test.minority_features).mean(axis=0)
    synthetic = scaler.transform(
        trained.sample(2000, gan_keys(trained.key).sample)
    )
    synthetic_gap = np.abs(synthetic.mean(axis=0) - held_out).mean()
    real_gap = np.abs(scaled.mean(axis=0) - held_out).mean()
    taken = steps - done
    print(
        f"trained {taken} steps"
        + (f" (resumed at step {done} of {steps})" if done else "")
        + (
            f" on {len(scaled)} minority rows"
            if labels is None
            else f" on {len(rows)} rows ({len(scaled)} minority, labelled)"
        )
        + " (training split of "
        f"{table.source}) in {seconds:.1f} s "
        f"({taken / seconds:.0f} steps/s, compilation included): "
        f"d_loss {history['d_loss'][-1]:.3f}, "
        f"g_loss {history['g_loss'][-1]:.3f}, "
        f"D(real) {history['d_real'][-1]:.2f}, "
        f"D(fake) {history['d_fake'][-1]:.2f}; "
        f"feature-mean gap to {parts.test.num_minority} held-out minority "
        f"rows: synthetic {synthetic_gap:.3f}, training rows {real_gap:.3f}"
    )
    print(
        f"saved {folder}; sample with: gan-jax sample --checkpoint {folder} "
        "--rows N --out rows.csv"
    )


def _checkpoint_every(args: argparse.Namespace, command: str) -> int:
    every = args.checkpoint_every
    if every is None:
        return DEFAULT_CHECKPOINT_EVERY
    if every < 1:
        raise UsageError(
            f"gan-jax {command}: --checkpoint-every must be >= 1, got {every}"
        )
    return every


def _refuse_with_resume(
    args: argparse.Namespace, defaults: argparse.Namespace, command: str
) -> None:
    """--resume continues a recorded run: any other option would change it."""
    allowed = {"resume", "jobs", "command"}
    given = [
        name
        for name, value in vars(args).items()
        if name not in allowed and value != getattr(defaults, name, None)
    ]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise UsageError(
            f"gan-jax {command}: --resume continues a recorded run with its "
            f"own settings; it takes only --jobs, not {flags}"
        )


def _data_options(args: argparse.Namespace) -> dict:
    source = args.data or BUILTIN_DATASET
    if source != BUILTIN_DATASET and Path(source).exists():
        # Recorded absolute, so that --config and --resume work from any
        # folder.
        source = str(Path(source).resolve())
    return {
        "source": source,
        "target": args.target,
        "drop": list(args.drop or []),
        "minority": args.minority,
        "drop_invalid_rows": bool(args.drop_invalid_rows),
        "test_size": 0.3 if args.test_size is None else args.test_size,
    }


def _check_fingerprint(table, expected: str | None) -> None:
    if expected and fingerprint(table) != expected:
        raise DataError(
            f"{table.source} is not the data the recorded run used (its "
            "fingerprint differs); the run cannot be repeated on it"
        )


def _sample_command(args: argparse.Namespace, guard: _StopGuard) -> None:
    if args.rows < 1:
        raise UsageError(
            f"gan-jax sample: --rows must be >= 1, got {args.rows}"
        )
    if args.seed < 0:
        raise UsageError(
            f"gan-jax sample: --seed must be >= 0, got {args.seed}"
        )
    checkpoint = restore(args.checkpoint)
    rows = checkpoint.sample(args.rows, jax.random.key(args.seed))
    if not np.isfinite(rows).all():
        raise CheckpointError(
            f"{args.checkpoint} holds a GAN that generates NaN or infinite "
            "values; no rows written"
        )
    write_table(
        args.out,
        rows,
        checkpoint.feature_names,
        checkpoint.target,
        checkpoint.minority_label,
    )
    step = (
        f"step {checkpoint.step}"
        if checkpoint.selected is None
        else f"step {checkpoint.selected_step}, selected among "
        f"{len(checkpoint.selection)} measured up to step {checkpoint.step}"
    )
    print(
        f"wrote {args.rows} synthetic rows ({step} of {args.checkpoint}, "
        f"seed {args.seed}) to {args.out}"
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
    "select_every",
    "class_weight",
    "test_size",
    "forest_rows_per_tree",
)


def _run_inputs(args: argparse.Namespace):
    """The data options, settings and expected fingerprint of a run (or a
    study)."""
    command = args.command
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
                f"gan-jax {command}: --config repeats a recorded run; it takes "
                f"only --out and --jobs, not {flags}"
            )
        return read_record(args.config)

    data_options = _data_options(args)
    del data_options["test_size"]  # a run setting, recorded with them
    values = {
        "oversamplers": args.oversamplers,
        "classifiers": args.classifiers,
        "num_seeds": STUDY_SEEDS
        if command == "study" and args.seeds is None
        else args.seeds,
        "seed": args.seed,
        "ratio": args.ratio,
        "gan_steps": args.steps,
        "gan_select_every": args.select_every,
        "class_weight": args.class_weight,
        "test_size": args.test_size,
        "forest_rows_per_tree": args.forest_rows_per_tree,
    }
    try:
        given = {k: v for k, v in values.items() if v is not None}
        for name in ("forest_rows_per_tree", "gan_select_every"):
            if given.get(name) == 0:  # 'all' or 'none'
                given[name] = None
        settings = RunSettings(
            **given, gan=_config_from(args, RunSettings().gan)
        )
    except ValueError as error:
        raise UsageError(f"gan-jax {command}: {error}") from None
    return data_options, settings, None


class _RunProgress:
    """Progress bars of a run: GANs first, then the grid of fits."""

    def __init__(
        self,
        settings: RunSettings,
        num_fits: int,
        *,
        steps_done: int = 0,
        fits_done: int = 0,
    ) -> None:
        self.gan_steps = (
            settings.num_seeds * settings.gan_steps
            if "gan" in settings.oversamplers
            else 0
        )
        self.num_fits, self.fits_done = num_fits, fits_done
        self.gan_bar = self.fit_bar = None
        if self.gan_steps and steps_done < self.gan_steps:
            self.gan_bar = tqdm(
                total=self.gan_steps,
                initial=steps_done,
                unit="step",
                desc=f"training {settings.num_seeds} GANs",
                file=sys.stderr,
            )

    def gan_steps_done(self, steps: int) -> None:
        self.gan_bar.update(steps)
        if self.gan_bar.n == self.gan_steps:
            self.gan_bar.close()

    def fit_done(self, row: dict, scores=None) -> None:
        # Made on the first fit, so that it does not sit under the GAN bar.
        if self.fit_bar is None:
            self.fit_bar = tqdm(
                total=self.num_fits,
                initial=self.fits_done,
                unit="fit",
                desc="fits",
                file=sys.stderr,
            )
        self.fit_bar.update()

    def __enter__(self) -> _RunProgress:
        return self

    def __exit__(self, *exc_info) -> None:
        for bar in (self.gan_bar, self.fit_bar):
            if bar is not None:
                bar.close()


def _run_command(args: argparse.Namespace, guard: _StopGuard) -> None:
    """`gan-jax run`, and `gan-jax study`: a run that ends by re-running
    one seed from scratch."""
    command = args.command
    if args.jobs == 0 or args.jobs < -1:
        raise UsageError(
            f"gan-jax {command}: --jobs must be >= 1 or -1, got {args.jobs}"
        )
    every = _checkpoint_every(args, command)
    folder = None
    if args.resume is not None:
        _refuse_with_resume(
            args, _build_parser().parse_args([command]), command
        )
        folder = RunFolder.open(args.resume)
        data_options, settings, expected_fingerprint = read_record(
            folder.record_path
        )
        recorded, every = _recorded_command_and_every(folder.record_path)
        if recorded != command:
            raise OutputError(
                f"{folder.path} holds a gan-jax {recorded}; continue it with "
                f"gan-jax {recorded} --resume {folder.path}"
            )
    else:
        data_options, settings, expected_fingerprint = _run_inputs(args)
    options = dict(data_options)
    table = load_table(options.pop("source"), **options)
    _check_fingerprint(table, expected_fingerprint)
    # Every check before the folder and the progress bars, so that bad
    # input ends in one line and leaves nothing behind.
    splits = split_for_run(table, settings)
    if folder is None:
        record = run_record(table, data_options, settings)
        record["command"] = command
        record["checkpoint_every"] = every
        parent = DEFAULT_STUDIES_DIR if command == "study" else DEFAULT_RUNS_DIR
        folder = RunFolder.create(
            args.out or default_run_dir(table.source, parent=parent), record
        )

    finished = folder.finished_fits()
    first_seed = settings.seeds[0]
    num_fits = (
        settings.num_seeds
        * len(settings.oversamplers)
        * len(settings.classifiers)
    )
    # The GANs resume together from the newest step they all hold.
    steps_done = settings.num_seeds * min(
        latest_step(folder.gans / f"seed-{seed}") or 0
        for seed in settings.seeds
    )

    def fit_done(row: dict, scores: np.ndarray) -> None:
        folder.save_fit(row, scores if row["seed"] == first_seed else None)
        bars.fit_done(row)

    bars = _RunProgress(
        settings, num_fits, steps_done=steps_done, fits_done=len(finished)
    )

    def write_results(stage: Path) -> None:
        write_report(
            result,
            settings,
            stage,
            title=f"gan-jax {command} on {table.source}",
            data_description=repr(table),
            feature_names=table.feature_names,
            rerun=rerun,
        )
        result.metrics.to_csv(stage / RunFolder.METRICS, index=False)

    rerun = None
    # From here on, whatever stops the run leaves a folder to resume.
    with guard.resumable(folder.path, command):
        with bars:
            with guard.deferred():
                gans = train_gans(
                    splits,
                    settings,
                    on_steps=bars.gan_steps_done,
                    checkpoint_root=folder.gans,
                    checkpoint_every=every,
                    should_stop=guard.requested,
                )
            result = fit_grid(
                splits,
                gans,
                settings,
                jobs=args.jobs,
                finished=finished,
                on_fit_done=fit_done,
            )
        for seed in gans:
            remove_older_steps(folder.gans / f"seed-{seed}")
        if command == "study":
            rerun = _rerun_check(table, settings, result, jobs=args.jobs)
        folder.finish(write_results)
    print(summary_table(result))
    if rerun is not None:
        print(rerun.line())
    print(f"wrote {folder.path}")
    if rerun is not None and not rerun.identical:
        raise RerunDiffers(f"gan-jax study: {rerun.line()}")


class CommandFailed(Exception):
    """A command that could not finish; the message says why."""


class RerunDiffers(CommandFailed):
    """A study's re-run seed did not reproduce its metrics."""


def _rerun_check(
    table, settings: RunSettings, result, *, jobs: int
) -> RerunCheck:
    """The last seed of a study again, from scratch, against the study."""
    seed = settings.seeds[-1]
    print(
        f"gan-jax: re-running seed {seed} from scratch to check that it "
        "reproduces",
        file=sys.stderr,
    )
    again = rerun_seed(table, settings, seed, jobs=jobs)
    return compare_rerun(result.metrics, again, seed)


def _recorded_command_and_every(path: Path) -> tuple[str, int]:
    """The command that made a run folder ('run' or 'study') and its steps
    between checkpoints, from a record `read_record` has accepted."""
    record = json.loads(path.read_text())
    command = record.get("command")
    every = record.get("checkpoint_every")
    if (
        not (isinstance(every, int) and not isinstance(every, bool))
        or every < 1
    ):
        every = DEFAULT_CHECKPOINT_EVERY
    return (command if command in ("run", "study") else "run"), every


class _Stopped(BaseException):
    """SIGINT or SIGTERM at a point where stopping at once loses nothing."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Resumable(Exception):
    """A stop after which the work so far can be resumed."""

    def __init__(self, signum: int, folder: Path, command: str) -> None:
        super().__init__(
            f"gan-jax: stopped by {signal.Signals(signum).name}; continue "
            f"with: gan-jax {command} --resume {folder}"
        )
        self.signum = signum


class _StopGuard:
    """SIGINT and SIGTERM, handled so that no finished work is lost.

    While GAN training runs (`deferred`), the first signal asks training to
    finish its chunk and save; a second one stops at once. Elsewhere a
    signal stops at once: what is finished is already on disk.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._deferring = False
        self._previous = {}

    def __enter__(self) -> _StopGuard:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame) -> None:
        if self._deferring and self.signum is None:
            self.signum = signum
            print(
                "\ngan-jax: stopping after the current chunk of training "
                "(signal again to stop at once)",
                file=sys.stderr,
            )
            return
        self.signum = self.signum or signum
        raise _Stopped(signum)

    def requested(self) -> bool:
        return self.signum is not None

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """The first signal waits for training's next chunk boundary."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False

    @contextlib.contextmanager
    def resumable(self, folder: Path, command: str) -> Iterator[None]:
        try:
            yield
        except (TrainingInterrupted, _Stopped, KeyboardInterrupt):
            signum = self.signum or signal.SIGINT
            raise _Resumable(signum, folder, command) from None


_COMMANDS = {
    "train": _train_command,
    "run": _run_command,
    "study": _run_command,
    "sample": _sample_command,
    "detect": _detect_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    logging.basicConfig(format="gan-jax: %(message)s", level=logging.WARNING)
    try:
        with _StopGuard() as guard:
            args = _build_parser().parse_args(argv)
            _COMMANDS[args.command](args, guard)
    except UsageError as error:
        _print_one_line(str(error))
        return EXIT_USAGE
    except (DataError, OutputError, CheckpointError) as error:
        _print_one_line(f"gan-jax: {error}")
        return EXIT_USAGE
    except DivergenceError as error:
        _print_one_line(f"gan-jax: {error}; no synthetic rows were made")
        return EXIT_FAILED
    except CommandFailed as error:
        _print_one_line(str(error))
        return EXIT_FAILED
    except _Resumable as error:
        _print_one_line(str(error))
        return 128 + error.signum
    except (_Stopped, KeyboardInterrupt) as error:
        signum = getattr(error, "signum", signal.SIGINT)
        print(
            f"gan-jax: stopped by {signal.Signals(signum).name}",
            file=sys.stderr,
        )
        return 128 + signum
    return 0


if __name__ == "__main__":
    sys.exit(main())
