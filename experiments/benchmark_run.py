"""Wall time and peak memory of `gan-jax run` on a full-size table.

Run from the repository root:

    python experiments/benchmark_run.py [--rows 284807] [--skip-command]

It writes a table the size of the full credit-card file (by default
284,807 rows, 30 features, 492 minority rows, from the built-in dataset's
recipe) to a temporary CSV, then:

1. times each phase of one seed of the default run in this process, one
   fit at a time: loading, the GAN's training, each oversampler, and each
   classifier's fit and scoring on each oversampler's output (with the peak
   resident memory each phase adds; Linux only, from /proc/self);
2. runs `gan-jax run` with default settings on the file and prints its wall
   time and the peak resident memory of its largest process.

The per-phase figures say what dominates; the second is the number a user
waits for.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gan_jax
from gan_jax.evaluation import evaluate_fit, train_seed_gan

FULL_ROWS = 284_807
FULL_FRAUDS = 492


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Phase:
    """Times a block and measures the peak memory it adds."""

    def __init__(self, name: str, table: list) -> None:
        self.name, self.table = name, table

    def __enter__(self) -> Phase:
        # Reset the peak (VmHWM) to the current size.
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        self.rss = _status_mib("VmRSS")
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        seconds = time.perf_counter() - self.start
        added = _status_mib("VmHWM") - self.rss
        self.table.append((self.name, seconds, added))
        print(
            f"  {self.name:<48} {seconds:8.1f} s  +{added:6.0f} MiB",
            file=sys.stderr,
            flush=True,
        )


def phases_of_one_seed(path: Path, settings: gan_jax.RunSettings) -> list:
    rows = []
    with Phase("load", rows):
        table = gan_jax.load_table(path)
    seed = settings.seeds[0]
    with Phase("split", rows):
        parts = gan_jax.split(table, test_size=settings.test_size, seed=seed)
    with Phase(f"GAN training ({settings.gan_steps} steps)", rows):
        gan = train_seed_gan(parts.train, seed, settings)
    for oversampler in settings.oversamplers:
        for classifier in settings.classifiers:
            with Phase(f"{oversampler} + {classifier}", rows):
                evaluate_fit(
                    parts.train,
                    parts.test,
                    seed=seed,
                    oversampler=oversampler,
                    classifier=classifier,
                    settings=settings,
                    synthetic=gan.synthetic,
                )
    return rows


def run_command(path: Path, out: Path) -> tuple[float, float]:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gan_jax", "run", "--data", str(path)]
        + ["--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=FULL_ROWS)
    parser.add_argument(
        "--skip-command",
        action="store_true",
        help="time the phases only, not the whole command",
    )
    args = parser.parse_args()
    settings = gan_jax.RunSettings()

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "full_size.csv"
        gan_jax.make_fraud_like(
            num_rows=args.rows,
            minority_fraction=FULL_FRAUDS / FULL_ROWS,
            seed=0,
        ).to_csv(path, index=False)
        print(
            f"one seed of the default run, phase by phase ({args.rows:,} rows):"
        )
        rows = phases_of_one_seed(path, settings)
        command = None
        if not args.skip_command:
            print("gan-jax run with default settings ...", file=sys.stderr)
            command = run_command(path, Path(folder) / "run")

    total = sum(seconds for _, seconds, _ in rows)
    print(f"\n{'phase':<48} {'seconds':>8} {'share':>6} {'+MiB':>6}")
    for name, seconds, added in sorted(rows, key=lambda row: -row[1]):
        print(f"{name:<48} {seconds:8.1f} {seconds / total:6.1%} {added:6.0f}")
    print(f"{'one seed, one fit at a time':<48} {total:8.1f}")
    if command is not None:
        seconds, peak = command
        print(
            f"\ngan-jax run ({settings.num_seeds} seeds, every core): "
            f"{seconds:.0f} s wall, peak {peak:.0f} MiB in its largest "
            "process"
        )


if __name__ == "__main__":
    main()
