"""Tables in: reading, validating and splitting labelled data.

`load_table` reads a CSV, Parquet or NumPy `.npz` file, a pandas DataFrame
or the built-in dataset into a `Table`: float32 features, 0/1 labels (1 is
the minority, the class the GAN learns) and the names of both. Anything it
cannot use raises a `DataError` whose message says what is wrong, where,
and what to do. `split` makes stratified, seeded train / validation / test
tables; everything fitted later sees the training table only.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from gan_jax import datasets

logger = logging.getLogger(__name__)

#: The label column used when none is named and the table has one.
DEFAULT_TARGET = "Class"

#: Fewest minority rows a GAN is trained on. Below this a GAN can only
#: memorise: a batch of 64 would repeat each row several times.
MIN_MINORITY_ROWS = 20

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_NPZ_SUFFIXES = (".npz",)
_NPZ_TARGET = "y"


class DataError(ValueError):
    """Input data that gan-jax cannot use; the message says why and how."""


@dataclasses.dataclass(frozen=True, eq=False)
class Table:
    """A labelled table, ready for splitting and training.

    Attributes:
        features: (rows, features) float32 values.
        labels: (rows,) int64, 1 for the minority class, 0 for the majority.
        feature_names: one name per feature column.
        target: name of the label column.
        label_values: the original (majority, minority) label values, to
            write labels back as the user gave them.
        source: where the rows came from (a path, a built-in dataset name,
            or "DataFrame").
    """

    features: np.ndarray
    labels: np.ndarray
    feature_names: tuple[str, ...]
    target: str
    label_values: tuple[Any, Any]
    source: str

    @property
    def num_rows(self) -> int:
        return len(self.labels)

    @property
    def num_minority(self) -> int:
        return int(self.labels.sum())

    @property
    def minority_features(self) -> np.ndarray:
        """(minority rows, features): the rows a GAN learns from."""
        return self.features[self.labels == 1]

    def take(self, rows: np.ndarray) -> Table:
        """The table restricted to the row indices `rows`, in that order."""
        return dataclasses.replace(
            self, features=self.features[rows], labels=self.labels[rows]
        )

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame, with its names and original labels."""
        frame = pd.DataFrame(self.features, columns=list(self.feature_names))
        frame[self.target] = np.asarray(self.label_values, dtype=object)[
            self.labels
        ]
        return frame

    def minority_frame(self, rows: np.ndarray) -> pd.DataFrame:
        """Minority rows in original units as a DataFrame like the table's.

        Args:
            rows: (rows, features) values in the table's original units, such
                as synthetic rows after `Scaler.inverse_transform`.

        Returns:
            The rows under the table's feature names, with the target column
            holding the minority's original label.
        """
        rows = np.asarray(rows)
        if rows.ndim != 2 or rows.shape[1] != len(self.feature_names):
            raise ValueError(
                f"expected (rows, {len(self.feature_names)}) values, got "
                f"shape {rows.shape}"
            )
        frame = pd.DataFrame(rows, columns=list(self.feature_names))
        frame[self.target] = [self.label_values[1]] * len(frame)
        return frame

    def __repr__(self) -> str:
        return (
            f"Table({self.source!r}: {self.num_rows} rows, "
            f"{len(self.feature_names)} features, "
            f"{self.num_minority} minority)"
        )


class Split(NamedTuple):
    """Disjoint parts of a table; `validation` is None when not asked for."""

    train: Table
    test: Table
    validation: Table | None = None


def load_table(
    source: str | os.PathLike | pd.DataFrame,
    *,
    target: str | None = None,
    drop: Sequence[str] = (),
    minority: Any = None,
    drop_invalid_rows: bool = False,
) -> Table:
    """Reads and validates a labelled table.

    Args:
        source: a path to a `.csv` (header row; optionally compressed),
            `.parquet` or `.npz` file (arrays `X` and `y`, as ADBench ships
            them; columns named `x0, x1, ...`), a pandas DataFrame, or the
            name of the built-in dataset (`datasets.BUILTIN_DATASET`).
        target: the label column; by default `Class` (and `y` for `.npz`).
        drop: columns to leave out, such as an index or an identifier.
        minority: the label value of the rare class. Needed unless the
            labels are 0/1 or booleans (then 1, or True, is the minority).
        drop_invalid_rows: drop rows with missing or infinite feature values
            instead of refusing the table.

    Returns:
        The table, with the minority labelled 1.

    Raises:
        DataError: the source cannot be read or is not a usable table.
    """
    if isinstance(drop, str):
        drop = [drop]
    frame, name, default_target = _read(source, target)
    frame = _with_checked_columns(frame, name)
    target = default_target if target is None else str(target)
    _check_columns_exist(frame, name, target, drop)
    if frame.empty:
        raise DataError(f"{name} has a header but no rows")

    labels, label_values = _binary_labels(frame[target], name, target, minority)
    features = frame.drop(columns=[target, *drop])
    if features.shape[1] == 0:
        raise DataError(
            f"{name} has no feature columns left besides the target {target!r}"
        )
    features = _numeric_features(features, name)
    values = features.to_numpy(dtype=np.float64)
    invalid = ~np.isfinite(values).all(axis=1)
    if invalid.any():
        if not drop_invalid_rows:
            raise DataError(_invalid_rows_message(features, invalid, name))
        logger.warning(
            "dropped %d of %d rows with missing or infinite values from %s",
            invalid.sum(),
            len(invalid),
            name,
        )
        values, labels = values[~invalid], labels[~invalid]
        if len(labels) == 0:
            raise DataError(f"{name}: every row has a missing value")
    # Finite float64 values beyond the float32 range would become infinite.
    too_large = np.abs(values) > np.finfo(np.float32).max
    if too_large.any():
        raise DataError(_too_large_message(features, too_large, name))
    table = Table(
        features=np.ascontiguousarray(values, dtype=np.float32),
        labels=labels,
        feature_names=tuple(features.columns),
        target=target,
        label_values=label_values,
        source=name,
    )
    _check_two_classes(table.labels, name, target, label_values)
    return table


def split(
    table: Table,
    *,
    test_size: float,
    seed: int,
    validation_size: float = 0.0,
) -> Split:
    """Splits a table into disjoint, stratified train, test (and validation).

    Each class is shuffled with `numpy.random.default_rng(seed)` and cut in
    the same proportions, so every part keeps the table's minority share
    and the same seed always gives the same parts. Each part gets at least
    one row of each class; the training part keeps the rest.

    Args:
        table: the table to split.
        test_size: share of each class's rows in the test part, in (0, 1).
        seed: non-negative integer seed.
        validation_size: share in the validation part, in [0, 1); 0 makes
            no validation part.

    Returns:
        The parts; rows keep the table's order within each part.
    """
    _check_fraction("test_size", test_size, allow_zero=False)
    _check_fraction("validation_size", validation_size, allow_zero=True)
    if test_size + validation_size >= 1:
        raise DataError(
            "test_size + validation_size must be below 1, got "
            f"{test_size} + {validation_size}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    if seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")

    rng = np.random.default_rng(int(seed))
    parts = {"train": [], "validation": [], "test": []}
    needed = 3 if validation_size > 0 else 2
    for label in (0, 1):
        rows = np.flatnonzero(table.labels == label)
        if len(rows) < needed:
            kind = "minority" if label == 1 else "majority"
            raise DataError(
                f"{table.source} has {len(rows)} {kind} row(s); a split "
                f"into {needed} parts needs at least {needed} so that every "
                f"part has both classes"
            )
        rows = rng.permutation(rows)
        # Every part gets at least one row of the class, and the training
        # part keeps at least one.
        num_test = _share(len(rows), test_size, most=len(rows) - needed + 1)
        num_validation = (
            _share(len(rows), validation_size, most=len(rows) - num_test - 1)
            if validation_size > 0
            else 0
        )
        parts["test"].append(rows[:num_test])
        parts["validation"].append(rows[num_test : num_test + num_validation])
        parts["train"].append(rows[num_test + num_validation :])

    def part(name: str) -> Table:
        return table.take(np.sort(np.concatenate(parts[name])))

    validation = part("validation") if validation_size > 0 else None
    return Split(train=part("train"), test=part("test"), validation=validation)


def check_enough_minority_rows(
    table: Table, *, minimum: int = MIN_MINORITY_ROWS, what: str = "table"
) -> None:
    """Raises DataError if `table` has too few minority rows for a GAN."""
    if table.num_minority < minimum:
        raise DataError(
            f"the {what} of {table.source} has {table.num_minority} minority "
            f"rows; a GAN needs at least {minimum} to learn from (use more "
            f"data or a smaller test share)"
        )


# --- reading ------------------------------------------------------------------


def _read(
    source: str | os.PathLike | pd.DataFrame, target: str | None
) -> tuple[pd.DataFrame, str, str]:
    """Returns the raw frame, a name for messages and the default target."""
    if isinstance(source, pd.DataFrame):
        return source, "DataFrame", DEFAULT_TARGET
    if isinstance(source, str) and source == datasets.BUILTIN_DATASET:
        return datasets.make_fraud_like(), source, DEFAULT_TARGET
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(
            "source must be a file path, a pandas DataFrame or "
            f"{datasets.BUILTIN_DATASET!r}, got {type(source).__name__}"
        )
    path = Path(source)
    name = str(source)
    if not path.exists():
        raise DataError(f"no such file: {name}")
    if path.is_dir():
        raise DataError(f"{name} is a directory, not a table file")
    suffix = "".join(path.suffixes[-2:]).lower()
    try:
        if suffix.endswith(_NPZ_SUFFIXES):
            if target not in (None, _NPZ_TARGET):
                raise DataError(
                    f"{name}: .npz archives keep their labels in array "
                    f"{_NPZ_TARGET!r}; a target column does not apply"
                )
            return _read_npz(path, name), name, _NPZ_TARGET
        if suffix.endswith(_PARQUET_SUFFIXES):
            return _read_parquet(path, name), name, DEFAULT_TARGET
        if suffix.endswith(_CSV_SUFFIXES):
            return _read_csv(path, name), name, DEFAULT_TARGET
    except PermissionError:
        raise DataError(f"cannot read {name}: permission denied") from None
    raise DataError(
        f"{name}: unsupported format {path.suffix or '(no extension)'!r}; "
        "use .csv, .parquet or .npz"
    )


def _read_csv(path: Path, name: str) -> pd.DataFrame:
    try:
        # pandas renames repeated header names ("A", "A.1"); the raw first
        # row shows them as written. Blank names are not repeats: pandas
        # names them "Unnamed: <position>".
        header = pd.read_csv(
            path, header=None, nrows=1, dtype=str, keep_default_na=False
        )
        frame = pd.read_csv(path, low_memory=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{name} is empty") from None
    except UnicodeDecodeError:
        raise DataError(
            f"cannot read {name} as CSV: it is not UTF-8 text"
        ) from None
    except (pd.errors.ParserError, ValueError, OSError, EOFError) as error:
        raise DataError(
            f"cannot read {name} as CSV: {_first_line(error)}"
        ) from None
    _check_unique([column for column in header.iloc[0] if column], name)
    return frame


def _read_parquet(path: Path, name: str) -> pd.DataFrame:
    # Imported here: CSV and .npz users need not pay for importing pyarrow.
    import pyarrow.parquet as pq

    try:
        # Unlike pq.read_table, ParquetFile reads repeated column names,
        # so that the check below can name them.
        with pq.ParquetFile(path) as parquet_file:
            arrow_table = parquet_file.read()
    except Exception as error:  # pyarrow raises several unrelated types
        raise DataError(
            f"cannot read {name} as Parquet: {_first_line(error)}"
        ) from None
    _check_unique(arrow_table.column_names, name)
    return arrow_table.to_pandas()


def _read_npz(path: Path, name: str) -> pd.DataFrame:
    # np.load reads anything that is not a zip archive as pickled objects
    # or a single .npy array; neither is an .npz table.
    if not zipfile.is_zipfile(path):
        raise DataError(f"cannot read {name} as a NumPy .npz archive")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("X", _NPZ_TARGET) if key not in archive]
            if missing:
                raise DataError(
                    f"{name} lacks array(s) {', '.join(missing)}; a .npz "
                    f"table holds X (rows, features) and y (rows,); found: "
                    f"{', '.join(archive.files) or 'nothing'}"
                )
            features, labels = archive["X"], archive[_NPZ_TARGET]
    except DataError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError):
        raise DataError(f"cannot read {name} as a NumPy .npz archive") from None
    except ValueError as error:
        # NumPy refuses object arrays "when allow_pickle=False".
        if "allow_pickle" in str(error):
            raise DataError(
                f"{name} holds pickled objects, which gan-jax never loads"
            ) from None
        raise DataError(f"cannot read {name}: {_first_line(error)}") from None
    if features.ndim != 2 or labels.ndim != 1:
        raise DataError(
            f"{name}: X must be (rows, features) and y (rows,), got shapes "
            f"{features.shape} and {labels.shape}"
        )
    if len(features) != len(labels):
        raise DataError(
            f"{name}: X has {len(features)} rows but y has {len(labels)}"
        )
    frame = pd.DataFrame(
        features, columns=[f"x{i}" for i in range(features.shape[1])]
    )
    frame[_NPZ_TARGET] = labels
    return frame


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --- validation ---------------------------------------------------------------


def _with_checked_columns(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    if frame.shape[1] == 0:
        raise DataError(f"{name} has no columns")
    columns = [str(column) for column in frame.columns]
    _check_unique(columns, name)
    if list(frame.columns) != columns:
        frame = frame.set_axis(columns, axis=1)
    return frame


def _check_unique(columns: Sequence[str], name: str) -> None:
    seen, repeated = set(), []
    for column in columns:
        if column in seen and column not in repeated:
            repeated.append(column)
        seen.add(column)
    if repeated:
        raise DataError(
            f"{name} has duplicate column names: {', '.join(repeated)}"
        )


def _check_columns_exist(
    frame: pd.DataFrame, name: str, target: str, drop: Sequence[str]
) -> None:
    columns = list(frame.columns)
    listed = _list_columns(columns)
    if target not in columns:
        raise DataError(
            f"{name} has no target column {target!r}; name it with "
            f"--target (columns: {listed})"
        )
    for column in drop:
        if str(column) == target:
            raise DataError(f"cannot drop the target column {target!r}")
        if str(column) not in columns:
            raise DataError(
                f"cannot drop {column!r}: {name} has no such column "
                f"(columns: {listed})"
            )


def _list_columns(columns: Sequence[str], limit: int = 40) -> str:
    shown = ", ".join(columns[:limit])
    if len(columns) > limit:
        shown += f", ... ({len(columns)} in all)"
    return shown


def _binary_labels(
    column: pd.Series, name: str, target: str, minority: Any
) -> tuple[np.ndarray, tuple[Any, Any]]:
    """0/1 labels from a two-valued column, and the (majority, minority)."""
    missing = int(column.isna().sum())
    if missing:
        raise DataError(
            f"{name}: target column {target!r} has {missing} missing "
            f"value(s); fill or remove those rows"
        )
    values = list(pd.unique(column))
    if len(values) == 1:
        raise DataError(
            f"{name}: target column {target!r} has only one class "
            f"({_plain(values[0])!r}); gan-jax needs both a majority and a "
            "minority"
        )
    if len(values) > 2:
        shown = ", ".join(repr(_plain(v)) for v in values[:6])
        raise DataError(
            f"{name}: target column {target!r} has {len(values)} classes "
            f"({shown}{', ...' if len(values) > 6 else ''}); gan-jax needs "
            "exactly two"
        )
    values = [_plain(value) for value in values]
    if minority is None:
        minority_value = _default_minority(values)
        if minority_value is None:
            raise DataError(
                f"{name}: target column {target!r} holds "
                f"{values[0]!r} and {values[1]!r}; say which is the rare "
                "class with --minority"
            )
    else:
        matches = [
            v for v in values if v == minority or str(v) == str(minority)
        ]
        if not matches:
            raise DataError(
                f"{name}: minority label {minority!r} is not in target "
                f"column {target!r} (values: {values[0]!r}, {values[1]!r})"
            )
        minority_value = matches[0]
    majority_value = next(v for v in values if v != minority_value)
    labels = np.asarray(
        (column.map(_plain) == minority_value).to_numpy(), dtype=np.int64
    )
    return labels, (majority_value, minority_value)


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python scalar it holds."""
    return value.item() if isinstance(value, np.generic) else value


def _default_minority(values: list[Any]) -> Any:
    if all(isinstance(v, bool) for v in values):
        return True
    numeric = all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    )
    if numeric and sorted(values) == [0, 1]:
        return next(v for v in values if v == 1)
    return None


def _numeric_features(features: pd.DataFrame, name: str) -> pd.DataFrame:
    """The features as numbers; text columns that hold only numbers count."""
    bad, converted_columns = [], {}
    for column in features.columns:
        series = features[column]
        if pd.api.types.is_bool_dtype(series) or (
            pd.api.types.is_numeric_dtype(series)
            and not pd.api.types.is_complex_dtype(series)
        ):
            continue
        textual = pd.api.types.is_object_dtype(
            series
        ) or pd.api.types.is_string_dtype(series)
        converted = pd.to_numeric(series, errors="coerce") if textual else None
        offending = (
            series[converted.isna() & series.notna()] if textual else series
        )
        if textual and offending.empty:
            converted_columns[column] = converted
            continue
        example = (
            f" (e.g. {offending.iloc[0]!r})"
            if textual
            else f" (of type {series.dtype})"
        )
        bad.append(f"{column}{example}")
    if bad:
        raise DataError(
            f"{name} has non-numeric feature columns: {', '.join(bad)}; "
            "categorical encoding is not supported yet: encode them as "
            "numbers or leave them out with --drop"
        )
    if converted_columns:
        features = features.assign(**converted_columns)
    return features


def _invalid_rows_message(
    features: pd.DataFrame, invalid: np.ndarray, name: str
) -> str:
    values = features.to_numpy(dtype=np.float64)
    columns = [
        column
        for column, finite in zip(
            features.columns, np.isfinite(values).all(axis=0), strict=True
        )
        if not finite
    ]
    return (
        f"{name}: {int(invalid.sum())} of {len(invalid)} rows have missing "
        f"or infinite feature values (columns: {_list_columns(columns)}); "
        "fill them, or drop those rows with --drop-invalid-rows"
    )


def _too_large_message(
    features: pd.DataFrame, too_large: np.ndarray, name: str
) -> str:
    columns = [
        column
        for column, large in zip(
            features.columns, too_large.any(axis=0), strict=True
        )
        if large
    ]
    return (
        f"{name}: {int(too_large.any(axis=1).sum())} of {len(too_large)} "
        "rows have feature values beyond the float32 range of +-3.4e38 "
        f"(columns: {_list_columns(columns)}); rescale those columns"
    )


def _check_two_classes(
    labels: np.ndarray, name: str, target: str, label_values: tuple
) -> None:
    counts = np.bincount(labels, minlength=2)
    for label, count in enumerate(counts):
        if count == 0:
            raise DataError(
                f"{name}: no rows of class {label_values[label]!r} in "
                f"target column {target!r} remain after dropping rows with "
                "missing values"
            )


def _check_fraction(name: str, value: object, *, allow_zero: bool) -> None:
    ok = (
        isinstance(value, (int, float, np.floating))
        and not isinstance(value, bool)
        and (0 <= value < 1 if allow_zero else 0 < value < 1)
    )
    if not ok:
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise DataError(f"{name} must lie in {interval}, got {value!r}")


def _share(count: int, fraction: float, *, most: int) -> int:
    """round(count * fraction), clipped to [1, most]."""
    return min(max(1, round(count * fraction)), most)
