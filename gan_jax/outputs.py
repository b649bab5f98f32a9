"""Where runs write: whole output folders or nothing, and their records.

A run writes into a hidden sibling folder and renames it into place only
when everything is written, so a failed or interrupted run never leaves a
half-written result behind. `config.json` records every setting, the seeds,
the package versions and a fingerprint of the input data; `gan-jax run
--config` reads it back to repeat the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gan_jax.classifiers import CLASSIFIERS
from gan_jax.config import GANConfig, RunSettings
from gan_jax.data import Table
from gan_jax.oversampling import OVERSAMPLERS

#: Where runs write unless told otherwise, relative to the working folder.
DEFAULT_RUNS_DIR = Path("checkpoints") / "runs"

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


def default_run_dir(source: str, now: datetime.datetime | None = None) -> Path:
    """A new folder name under `DEFAULT_RUNS_DIR`: time, then data name."""
    now = now or datetime.datetime.now()
    stem = Path(source).name.split(".")[0] or "data"
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-") or "data"
    return DEFAULT_RUNS_DIR / f"{now:%Y%m%d-%H%M%S}-{slug}"


@contextlib.contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yields a scratch folder that becomes `final` only on success.

    Raises:
        OutputError: `final` exists and is not an empty folder.
    """
    final = Path(final)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise OutputError(
            f"{final} already exists and is not empty; choose another --out"
        )
    scratch = final.parent / f".{final.name}.partial-{os.getpid()}"
    try:
        scratch.mkdir(parents=True, exist_ok=False)
    except OSError as error:
        raise OutputError(f"cannot create {scratch}: {error}") from None
    try:
        yield scratch
        if final.exists():
            final.rmdir()
        scratch.rename(final)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def run_record(
    table: Table, data_options: dict[str, Any], settings: RunSettings
) -> dict[str, Any]:
    """The content of `config.json`."""
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
