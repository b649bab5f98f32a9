"""How fast a full-size credit-card file loads, and the memory it needs.

Run from the repository root:

    python experiments/benchmark_loading.py [--rows 284807] [--repeats 3]

It writes a CSV with the shape of the full Kaggle credit-card file (284,807
rows; columns Time, V1 ... V28, Amount, Class; values at full float
precision, about 150 MB) from the built-in dataset's recipe into a
temporary folder, then loads it with `gan_jax.load_table` in fresh
subprocesses and prints, per repeat and as the best: the seconds to load,
the peak resident memory of the process above what it held after its
imports (Linux only: it reads /proc/self), and the size of the float32
feature matrix. With `--path FILE` it loads that file instead (the real
one, if you have it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import gan_jax

FULL_ROWS = 284_807
FULL_FRAUDS = 492

# Runs in a fresh interpreter so that the peak memory is this load's alone.
_MEASURE = """
import json, sys, time
import gan_jax

def status_mib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024

# Reset the peak (VmHWM) to the current size, so that what follows is
# measured alone, not hidden under the larger peak of importing JAX.
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")
before = status_mib("VmRSS")
start = time.perf_counter()
table = gan_jax.load_table(sys.argv[1])
seconds = time.perf_counter() - start
print(json.dumps({
    "seconds": seconds,
    "peak_mib": status_mib("VmHWM") - before,
    "rows": table.num_rows,
    "minority": table.num_minority,
    "features_mib": table.features.nbytes / 2**20,
}))
"""


def write_full_size_csv(path: Path, num_rows: int) -> None:
    frame = gan_jax.make_fraud_like(
        num_rows=num_rows, minority_fraction=FULL_FRAUDS / FULL_ROWS, seed=0
    )
    frame.to_csv(path, index=False)


def measure(path: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=FULL_ROWS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--path", type=Path, help="load this file instead")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = args.path
        if path is None:
            path = Path(folder) / "creditcard_full_size.csv"
            write_full_size_csv(path, args.rows)
        size_mib = path.stat().st_size / 2**20
        print(f"{path.name}: {size_mib:.0f} MiB on disk")
        results = [measure(path) for _ in range(args.repeats)]

    first = results[0]
    print(
        f"{first['rows']:,} rows, {first['minority']} minority, float32 "
        f"features {first['features_mib']:.0f} MiB"
    )
    for index, result in enumerate(results):
        print(
            f"repeat {index + 1}: {result['seconds']:.2f} s, peak memory "
            f"+{result['peak_mib']:.0f} MiB"
        )
    print(
        f"best: {min(r['seconds'] for r in results):.2f} s, "
        f"{min(r['peak_mib'] for r in results):.0f} MiB"
    )


if __name__ == "__main__":
    main()
