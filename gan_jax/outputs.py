"""Where runs write: their folders, their records, and resumable work.

A run's folder (`RunFolder`) starts with `config.json`, which records every
setting, the seeds, the package versions and a fingerprint of the input
data (`gan-jax run --config` reads it back to repeat the run, `--resume` to
continue it). While the run works, the folder gathers the GANs' checkpoints
(`gans/seed-<s>/`) and one file per finished fit (`fits/`), so an
interrupted run loses nothing it finished. The results (`metrics.csv`,
`summary.csv`, `report.md`, `figures/`) appear only when all is done:
they are written in a hidden folder and moved in, `metrics.csv` last, so a
folder with `metrics.csv` is a finished run and one without it is not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gan_jax.classifiers import CLASSIFIERS
from gan_jax.config import DetectSettings, GANConfig, RunSettings
from gan_jax.data import Table
from gan_jax.oversampling import OVERSAMPLERS

#: Where runs write unless told otherwise, relative to the working folder.
DEFAULT_RUNS_DIR = Path("checkpoints") / "runs"

#: Where `gan-jax train` writes unless told otherwise.
DEFAULT_TRAIN_DIR = Path("checkpoints") / "train"

#: Where `gan-jax study` makes its folders by default.
DEFAULT_STUDIES_DIR = Path("checkpoints") / "studies"

#: Where `gan-jax detect` writes its comparisons by default.
DEFAULT_DETECTIONS_DIR = Path("checkpoints") / "detections"

#: Suffixes `write_table` understands.
TABLE_SUFFIXES = (
    ".csv",
    ".csv.gz",
    ".csv.bz2",
    ".csv.xz",
    ".csv.zst",
    ".parquet",
)

_RECORD_FORMAT = 1
_PACKAGES = (
    "gan-jax",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "numpy",
    "pandas",
    "scikit-learn",
    "imbalanced-learn",
    "scipy",
)


class OutputError(Exception):
    """An output folder or run record that cannot be used."""


def fingerprint(table: Table) -> str:
    """SHA-256 of a table's names, features and labels, as hex."""
    digest = hashlib.sha256()
    digest.update(json.dumps([table.feature_names, table.target]).encode())
    digest.update(np.ascontiguousarray(table.features).tobytes())
    digest.update(np.ascontiguousarray(table.labels).tobytes())
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def default_run_dir(
    source: str,
    now: datetime.datetime | None = None,
    parent: Path = DEFAULT_RUNS_DIR,
) -> Path:
    """A new folder name under `parent`: time, then data name.

    A suffix (-2, -3, ...) keeps two runs started in the same second apart.
    """
    now = now or datetime.datetime.now()
    stem = Path(source).name.split(".")[0] or "data"
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-") or "data"
    path = Path(parent) / f"{now:%Y%m%d-%H%M%S}-{slug}"
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


def run_record(
    table: Table,
    data_options: dict[str, Any],
    settings: RunSettings | DetectSettings,
) -> dict[str, Any]:
    """The content of `config.json` (of a run, a study or a detection)."""
    return {
        "format": _RECORD_FORMAT,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "data": {
            **data_options,
            "rows": table.num_rows,
            "features": len(table.feature_names),
            "minority_rows": table.num_minority,
            "fingerprint": fingerprint(table),
        },
        "settings": dataclasses.asdict(settings),
        "seeds": list(settings.seeds),
        "versions": package_versions(),
    }


def read_record(path: Path) -> tuple[dict[str, Any], RunSettings, str]:
    """Reads `config.json`: the data options, the settings, the fingerprint.

    Raises:
        OutputError: the file is missing or is not a gan-jax run record.
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
        data = dict(record["data"])
        fields = dict(record["settings"])
        fields["gan"] = GANConfig(**fields["gan"])
        settings = RunSettings(**fields)
    except FileNotFoundError:
        raise OutputError(f"no such file: {path}") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise OutputError(
            f"{path} is not a usable gan-jax run record ({error})"
        ) from None
    for names, known in (
        (settings.oversamplers, OVERSAMPLERS),
        (settings.classifiers, CLASSIFIERS),
    ):
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise OutputError(
                f"{path} names unknown methods: {', '.join(unknown)}"
            )
    expected = data.pop("fingerprint", None)
    for key in ("rows", "features", "minority_rows"):
        data.pop(key, None)
    return data, settings, expected


def train_record(
    table: Table,
    data_options: dict[str, Any],
    steps: int,
    seed: int,
    test_size: float,
    config: GANConfig,
    checkpoint_every: int,
) -> dict[str, Any]:
    """The content of a `gan-jax train` folder's `config.json`."""
    return {
        "format": _RECORD_FORMAT,
        "command": "train",
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "data": {
            **data_options,
            "test_size": test_size,
            "rows": table.num_rows,
            "features": len(table.feature_names),
            "minority_rows": table.num_minority,
            "fingerprint": fingerprint(table),
        },
        "steps": steps,
        "seed": seed,
        "gan": dataclasses.asdict(config),
        "checkpoint_every": checkpoint_every,
        "versions": package_versions(),
    }


def read_train_record(
    path: Path,
) -> tuple[dict[str, Any], int, int, GANConfig, str | None, int]:
    """Reads a train folder's `config.json`.

    Returns:
        The data options (with `test_size`), the steps, the seed, the GAN's
        configuration, the data's fingerprint and the checkpoint interval.

    Raises:
        OutputError: the file is missing or is not a train record.
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
        if record.get("command") != "train":
            raise ValueError("not written by gan-jax train")
        data = dict(record["data"])
        config = GANConfig(**record["gan"])
        steps, seed = int(record["steps"]), int(record["seed"])
        every = int(record["checkpoint_every"])
        if steps < 1 or seed < 0 or every < 1:
            raise ValueError("steps, seed or checkpoint_every out of range")
    except FileNotFoundError:
        raise OutputError(f"no such file: {path}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise OutputError(
            f"{path} is not a usable gan-jax train record ({error})"
        ) from None
    expected = data.pop("fingerprint", None)
    for key in ("rows", "features", "minority_rows"):
        data.pop(key, None)
    return data, steps, seed, config, expected, every


def write_table(
    path: Path,
    rows: np.ndarray,
    feature_names: tuple[str, ...],
    target: str,
    label: Any,
) -> None:
    """Writes rows and their label column as .csv or .parquet, whole or not
    at all.

    Raises:
        OutputError: an unknown suffix, an existing file or a missing
            folder.
    """
    path = Path(path)
    name = path.name.lower()
    if not name.endswith(TABLE_SUFFIXES):
        raise OutputError(
            f"cannot write {path}: the name must end in "
            + ", ".join(TABLE_SUFFIXES)
        )
    if path.exists():
        raise OutputError(f"{path} already exists; choose another --out")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: no folder {path.parent}")
    frame = pd.DataFrame(np.asarray(rows), columns=list(feature_names))
    frame[target] = [label] * len(frame)
    scratch = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        if name.endswith(".parquet"):
            frame.to_parquet(scratch, index=False)
        else:
            compression = _COMPRESSION[name.rsplit(".csv", 1)[1]]
            frame.to_csv(scratch, index=False, compression=compression)
        os.replace(scratch, path)
    except (OSError, ImportError) as error:
        raise OutputError(f"cannot write {path}: {error}") from None
    finally:
        with contextlib.suppress(OSError):
            scratch.unlink()


_COMPRESSION = {
    "": None,
    ".gz": "gzip",
    ".bz2": "bz2",
    ".xz": "xz",
    ".zst": "zstd",
}


#: One cell of a run's grid: (seed, oversampler, classifier).
Task = tuple[int, str, str]


class RunFolder:
    """The folder of one run: its record, its work so far, its results.

    Use `RunFolder.create` for a new run and `RunFolder.open` to resume one.
    """

    RECORD = "config.json"
    METRICS = "metrics.csv"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: Path, record: dict[str, Any]) -> RunFolder:
        """Makes the folder and writes its record.

        Raises:
            OutputError: `path` exists and is not an empty folder, or
                cannot be made.
        """
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise OutputError(
                f"{path} already exists and is not empty; choose another "
                "--out, or continue it with --resume"
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"cannot create {path}: {error}") from None
        folder = cls(path)
        _write_atomically(
            path / cls.RECORD, json.dumps(record, indent=2).encode()
        )
        return folder

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """An unfinished run's folder, to resume.

        Raises:
            OutputError: no run there, or a finished one.
        """
        path = Path(path)
        if not (path / cls.RECORD).is_file():
            raise OutputError(
                f"{path} is not a gan-jax run folder (no {cls.RECORD})"
                if path.is_dir()
                else f"no run to resume at {path}"
            )
        if (path / cls.METRICS).exists():
            raise OutputError(
                f"{path} is a finished run; nothing to resume (repeat it "
                f"elsewhere with --config {path / cls.RECORD})"
            )
        return cls(path)

    @property
    def record_path(self) -> Path:
        return self.path / self.RECORD

    @property
    def gans(self) -> Path:
        """Where seed s's GAN checkpoints live: `gans/seed-<s>`."""
        return self.path / "gans"

    @property
    def fits(self) -> Path:
        return self.path / "fits"

    def save_fit(self, row: dict, scores: np.ndarray | None) -> None:
        """Records a finished fit (and its test scores, if given)."""
        self.fits.mkdir(exist_ok=True)
        stem = _fit_stem((row["seed"], row["oversampler"], row["classifier"]))
        if scores is not None:
            buffer = _npy_bytes(np.asarray(scores, np.float64))
            _write_atomically(self.fits / f"{stem}.npy", buffer)
        plain = {
            key: value.item() if isinstance(value, np.generic) else value
            for key, value in row.items()
        }
        _write_atomically(
            self.fits / f"{stem}.json", json.dumps(plain).encode()
        )

    def finished_fits(self) -> dict[Task, tuple[dict, np.ndarray]]:
        """The fits recorded so far, with their scores (empty if not kept).

        A file that cannot be read counts as not finished: the fit is simply
        done again.
        """
        finished = {}
        if not self.fits.is_dir():
            return finished
        for path in sorted(self.fits.glob("*.json")):
            try:
                row = json.loads(path.read_text())
                task = (int(row["seed"]), row["oversampler"], row["classifier"])
                scores_path = path.with_suffix(".npy")
                scores = (
                    np.load(scores_path, allow_pickle=False)
                    if scores_path.exists()
                    else np.zeros(0)
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
            finished[task] = (row, scores)
        return finished

    def finish(self, write: Callable[[Path], None]) -> None:
        """Calls `write(folder)` on a hidden folder, then moves its files in.

        `metrics.csv` moves last: its presence marks the run as finished.
        """
        stage = self.path / f".results-partial-{os.getpid()}"
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir()
        try:
            write(stage)
            entries = sorted(
                stage.iterdir(), key=lambda entry: entry.name == self.METRICS
            )
            for entry in entries:
                target = self.path / entry.name
                if target.is_dir():
                    shutil.rmtree(target)
                os.replace(entry, target)
        finally:
            shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """A hidden folder beside `target` that becomes `target` on success.

    Whatever stops the work inside (an error, a signal) removes the hidden
    folder, so that `target` either holds the whole output or does not
    exist.

    Raises:
        OutputError: `target` exists and is not an empty folder, or cannot
            be made.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target} is a file; choose another --out")
    if target.is_dir() and any(target.iterdir()):
        raise OutputError(
            f"{target} already exists and is not empty; choose another --out"
        )
    stage = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir()
    except OSError as error:
        raise OutputError(f"cannot create {target}: {error}") from None
    try:
        yield stage
        if target.is_dir():
            target.rmdir()  # empty, checked above
        os.replace(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _fit_stem(task: Task) -> str:
    seed, oversampler, classifier = task
    return f"seed-{seed}_{oversampler}_{classifier}"


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _write_atomically(path: Path, content: bytes) -> None:
    """Writes a file so that readers see the old one or the whole new one."""
    scratch = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with open(scratch, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(OSError):
            scratch.unlink()
        raise
