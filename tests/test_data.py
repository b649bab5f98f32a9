"""Tests for reading, validating and splitting labelled tables."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_jax import datasets
from gan_jax.data import (
    MIN_MINORITY_ROWS,
    DataError,
    Split,
    Table,
    check_enough_minority_rows,
    load_table,
    split,
)
from gan_jax.scaling import Scaler

# Real datasets beside the repository (see shared/data/README.md).
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CARD_COLUMNS = ("Time", *(f"V{j}" for j in range(1, 29)), "Amount")


def _frame() -> pd.DataFrame:
    """Six rows, two of them minority; feature columns not in name order."""
    return pd.DataFrame(
        {
            "b": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5],
            "a": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
            "Class": [0, 1, 0, 0, 1, 0],
        }
    )


FRAME_LABELS = [0, 1, 0, 0, 1, 0]


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


def _savez(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _npy_named_npz(folder: Path) -> Path:
    np.save(folder / "table.npy", np.zeros((3, 2)))
    return (folder / "table.npy").rename(folder / "table.npz")


def _truncated_npz(folder: Path) -> Path:
    whole = _savez(folder / "whole.npz", X=np.zeros((50, 4)), y=np.zeros(50))
    return _write(folder / "table.npz", whole.read_bytes()[:200])


def _refusal(source, **kwargs) -> str:
    """The one-line message of the DataError that load_table raises."""
    with pytest.raises(DataError) as caught:
        load_table(source, **kwargs)
    message = str(caught.value)
    assert len(message.splitlines()) == 1, message
    return message


# --- files that cannot be read ------------------------------------------------

NOISE = np.random.default_rng(0).bytes(512)
CSV_TEXT = "a,b,Class\n1,2,0\n3,4,1\n"


@pytest.mark.parametrize(
    "make, fact",
    [
        pytest.param(lambda d: d / "absent.csv", "no such file", id="missing"),
        pytest.param(
            lambda d: _mkdir(d / "folder.csv"), "directory", id="directory"
        ),
        pytest.param(
            lambda d: _write(d / "table.xlsx", b"PK\x03\x04" + bytes(60)),
            "unsupported format '.xlsx'",
            id="xlsx",
        ),
        pytest.param(
            lambda d: _write(d / "table", CSV_TEXT),
            "no extension",
            id="no extension",
        ),
        pytest.param(
            lambda d: _write(d / "table.csv", NOISE),
            "not UTF-8",
            id="binary csv",
        ),
        pytest.param(
            lambda d: _write(d / "table.csv.gz", CSV_TEXT),
            "as CSV",
            id="csv.gz not gzip",
        ),
        pytest.param(
            lambda d: _write(d / "table.parquet", b"PAR1" + NOISE + b"PAR1"),
            "as Parquet",
            id="corrupt parquet",
        ),
        pytest.param(
            lambda d: _write(d / "table.parquet", CSV_TEXT),
            "as Parquet",
            id="csv named parquet",
        ),
        pytest.param(
            lambda d: _write(d / "table.npz", NOISE),
            ".npz archive",
            id="corrupt npz",
        ),
        pytest.param(_truncated_npz, ".npz archive", id="truncated npz"),
        pytest.param(_npy_named_npz, ".npz archive", id="npy named npz"),
        pytest.param(
            lambda d: _savez(
                d / "table.npz",
                X=np.array([[1, "a"], [2, "b"]], dtype=object),
                y=np.array([0, 1]),
            ),
            "pickled",
            id="pickled npz",
        ),
        pytest.param(
            lambda d: _savez(d / "table.npz", y=np.array([0, 1])),
            "lacks array(s) X",
            id="npz without X",
        ),
        pytest.param(
            lambda d: _savez(d / "table.npz", X=np.zeros((2, 3))),
            "lacks array(s) y",
            id="npz without y",
        ),
        pytest.param(
            lambda d: _savez(d / "table.npz", X=np.zeros(2), y=np.zeros(2)),
            "shapes (2,) and (2,)",
            id="npz with flat X",
        ),
        pytest.param(
            lambda d: _savez(
                d / "table.npz", X=np.zeros((3, 2)), y=np.array([0, 1])
            ),
            "X has 3 rows but y has 2",
            id="npz row counts differ",
        ),
        pytest.param(
            lambda d: _write(d / "table.csv", ""), "is empty", id="empty csv"
        ),
        pytest.param(
            lambda d: _write(d / "table.csv", "a,b,Class\n"),
            "has a header but no rows",
            id="header only",
        ),
    ],
)
def test_unreadable_file_is_refused_naming_the_file(tmp_path, make, fact):
    path = make(tmp_path)
    message = _refusal(path)
    assert message.count(str(path)) == 1
    assert fact in message


def test_npz_labels_are_always_y(tmp_path):
    path = _savez(tmp_path / "t.npz", X=np.zeros((2, 1)), y=np.array([0, 1]))
    assert "'y'" in _refusal(path, target="Class")


def test_source_of_another_type_is_refused():
    assert "got int" in _refusal(5)


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


# --- columns and labels -------------------------------------------------------


@pytest.mark.parametrize(
    "change, kwargs, facts",
    [
        pytest.param(
            lambda f: f.rename(columns={"Class": "label"}),
            {},
            ["no target column 'Class'", "columns: b, a, label"],
            id="no Class column",
        ),
        pytest.param(
            lambda f: f,
            {"target": "fraud"},
            ["no target column 'fraud'", "columns: b, a, Class"],
            id="named target absent",
        ),
        pytest.param(
            lambda f: f.assign(Class=[0, 1, None, 0, None, 0]),
            {},
            ["'Class'", "2 missing value(s)"],
            id="target with missing values",
        ),
        pytest.param(
            lambda f: f.assign(Class=0),
            {},
            ["'Class'", "only one class (0)"],
            id="one class",
        ),
        pytest.param(
            lambda f: f.assign(Class=[0, 1, 2, 0, 1, 0]),
            {},
            ["'Class'", "3 classes (0, 1, 2)"],
            id="three classes",
        ),
        pytest.param(
            lambda f: f.assign(
                Class=["ok", "fraud", "ok", "ok", "fraud", "ok"]
            ),
            {},
            ["'ok' and 'fraud'", "minority"],
            id="two strings without minority",
        ),
        pytest.param(
            lambda f: f.assign(Class=[1, 2, 1, 1, 2, 1]),
            {},
            ["1 and 2", "minority"],
            id="one and two without minority",
        ),
        pytest.param(
            lambda f: f,
            {"minority": 7},
            ["minority label 7", "values: 0, 1"],
            id="minority not a label",
        ),
        pytest.param(
            lambda f: f,
            {"drop": ["id"]},
            ["cannot drop 'id'", "columns: b, a, Class"],
            id="drop absent column",
        ),
        pytest.param(
            lambda f: f,
            {"drop": ["Class"]},
            ["cannot drop the target column 'Class'"],
            id="drop the target",
        ),
        pytest.param(
            lambda f: f,
            {"drop": ["a", "b"]},
            ["no feature columns", "'Class'"],
            id="no features left",
        ),
    ],
)
def test_unusable_columns_or_labels_are_refused(change, kwargs, facts):
    message = _refusal(change(_frame()), **kwargs)
    for fact in facts:
        assert fact in message


def test_frame_without_columns_is_refused():
    assert "no columns" in _refusal(pd.DataFrame())


def test_frame_without_rows_is_refused():
    assert "no rows" in _refusal(_frame().iloc[:0])


# --- feature values -----------------------------------------------------------


def test_non_numeric_feature_columns_are_named_and_refused(tmp_path):
    path = _write(
        tmp_path / "t.csv", "city,a,kind,Class\nLyon,1,x,0\nNice,2,y,1\n"
    )
    message = _refusal(path)
    assert "city (e.g. 'Lyon'), kind (e.g. 'x')" in message
    assert "categorical encoding is not supported yet" in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_missing_or_infinite_values_are_counted_and_located(bad):
    frame = _frame()
    frame.loc[1, "a"] = bad
    frame.loc[3, "a"] = bad
    message = _refusal(frame)
    assert "2 of 6 rows" in message
    assert "(columns: a)" in message


def test_invalid_rows_name_every_column_that_has_one():
    frame = _frame()
    frame.loc[0, "a"] = np.nan
    frame.loc[0, "b"] = np.inf
    message = _refusal(frame)
    assert "1 of 6 rows" in message
    assert "(columns: b, a)" in message


def test_values_beyond_float32_are_refused_not_made_infinite():
    frame = _frame()
    frame.loc[2, "b"] = -1e39
    message = _refusal(frame)
    assert "1 of 6 rows" in message
    assert "float32" in message
    assert "(columns: b)" in message


def test_drop_invalid_rows_refuses_a_table_with_no_valid_row():
    frame = _frame().assign(a=np.nan)
    assert "every row" in _refusal(frame, drop_invalid_rows=True)


def test_drop_invalid_rows_refuses_when_a_class_is_left_empty():
    frame = _frame()
    frame.loc[[1, 4], "a"] = np.nan
    message = _refusal(frame, drop_invalid_rows=True)
    assert "no rows of class 1" in message


# --- duplicate column names ---------------------------------------------------


def _duplicate_csv(folder: Path) -> Path:
    return _write(folder / "t.csv", "a,b,a,Class\n1,2,3,0\n4,5,6,1\n")


def _duplicate_parquet(folder: Path) -> Path:
    columns = [pa.array([1.0, 4.0]), pa.array([2.0, 5.0])]
    columns += [pa.array([3.0, 6.0]), pa.array([0, 1])]
    table = pa.Table.from_arrays(columns, names=["a", "b", "a", "Class"])
    pq.write_table(table, folder / "t.parquet")
    return folder / "t.parquet"


def _duplicate_frame(folder: Path) -> pd.DataFrame:
    return pd.DataFrame(
        [[1.0, 2.0, 3.0, 0], [4.0, 5.0, 6.0, 1]],
        columns=["a", "b", "a", "Class"],
    )


@pytest.mark.parametrize(
    "make",
    [_duplicate_csv, _duplicate_parquet, _duplicate_frame],
    ids=["csv", "parquet", "frame"],
)
def test_duplicate_column_names_are_refused(tmp_path, make):
    assert "duplicate column names: a" in _refusal(make(tmp_path))


def test_blank_csv_header_names_are_not_duplicates(tmp_path):
    # pandas names them "Unnamed: <position>".
    path = _write(tmp_path / "t.csv", ",,a,Class\n1,2,3,0\n4,5,6,1\n")
    table = load_table(path)
    assert table.feature_names == ("Unnamed: 0", "Unnamed: 1", "a")


def test_csv_header_names_that_look_missing_are_kept(tmp_path):
    path = _write(tmp_path / "t.csv", "NA,null,Class\n1,2,0\n4,5,1\n")
    assert load_table(path).feature_names == ("NA", "null")


# --- usable inputs ------------------------------------------------------------


def _as_csv(folder: Path) -> Path:
    _frame().to_csv(folder / "t.csv", index=False)
    return folder / "t.csv"


def _as_gzip_csv(folder: Path) -> Path:
    _frame().to_csv(folder / "t.csv.gz", index=False)
    return folder / "t.csv.gz"


def _as_parquet(folder: Path) -> Path:
    _frame().to_parquet(folder / "t.parquet")
    return folder / "t.parquet"


def _as_npz(folder: Path) -> Path:
    frame = _frame()
    return _savez(
        folder / "t.npz",
        X=frame[["b", "a"]].to_numpy(),
        y=frame["Class"].to_numpy(),
    )


@pytest.fixture(
    params=[
        pytest.param((_as_csv, ("b", "a"), "Class"), id="csv"),
        pytest.param((_as_gzip_csv, ("b", "a"), "Class"), id="csv.gz"),
        pytest.param((_as_parquet, ("b", "a"), "Class"), id="parquet"),
        pytest.param((_as_npz, ("x0", "x1"), "y"), id="npz"),
        pytest.param((lambda _: _frame(), ("b", "a"), "Class"), id="frame"),
    ]
)
def loaded(request, tmp_path):
    """(table from _frame() in each format, its feature names, target)."""
    make, names, target = request.param
    return load_table(make(tmp_path)), names, target


def test_features_are_float32_and_labels_int64(loaded):
    table, _, _ = loaded
    assert table.features.dtype == np.float32
    assert table.labels.dtype == np.int64


def test_features_keep_the_values_and_column_order(loaded):
    table, names, _ = loaded
    assert table.feature_names == names
    expected = _frame()[["b", "a"]].to_numpy(dtype=np.float32)
    np.testing.assert_array_equal(table.features, expected)


def test_zero_one_labels_keep_one_as_the_minority(loaded):
    table, _, _ = loaded
    np.testing.assert_array_equal(table.labels, FRAME_LABELS)
    assert table.label_values == (0, 1)


def test_target_is_class_by_default_and_y_for_npz(loaded):
    table, _, target = loaded
    assert table.target == target


def test_file_source_is_its_path(tmp_path):
    path = _as_csv(tmp_path)
    assert load_table(path).source == str(path)


def test_named_target_is_the_label_and_class_a_feature():
    frame = _frame().assign(fraud=FRAME_LABELS[::-1])
    table = load_table(frame, target="fraud")
    assert table.target == "fraud"
    assert table.feature_names == ("b", "a", "Class")
    np.testing.assert_array_equal(table.labels, FRAME_LABELS[::-1])


def test_builtin_fraud_like_has_card_columns_and_400_minority_rows():
    table = load_table(datasets.BUILTIN_DATASET)
    assert (table.num_rows, table.num_minority) == (20_000, 400)
    assert table.feature_names == CARD_COLUMNS
    assert table.target == "Class"
    assert table.source == "fraud-like"


def test_string_labels_mark_the_named_minority_with_one():
    kinds = ["ok", "fraud", "ok", "ok", "fraud", "ok"]
    table = load_table(_frame().assign(Class=kinds), minority="fraud")
    np.testing.assert_array_equal(table.labels, FRAME_LABELS)
    assert table.label_values == ("ok", "fraud")


def test_numeric_labels_can_name_their_minority_as_text():
    labels = [5, 9, 5, 5, 9, 5]
    table = load_table(_frame().assign(Class=labels), minority="9")
    np.testing.assert_array_equal(table.labels, FRAME_LABELS)
    assert table.label_values == (5, 9)


def test_boolean_labels_make_true_the_minority():
    flags = [bool(label) for label in FRAME_LABELS]
    table = load_table(_frame().assign(Class=flags))
    np.testing.assert_array_equal(table.labels, FRAME_LABELS)
    assert table.label_values == (False, True)


def test_boolean_labels_read_from_csv(tmp_path):
    path = _write(tmp_path / "t.csv", "a,Class\n1,False\n2,True\n3,False\n")
    table = load_table(path)
    np.testing.assert_array_equal(table.labels, [0, 1, 0])
    assert table.label_values == (False, True)


def test_minority_zero_makes_the_zero_rows_label_one():
    table = load_table(_frame(), minority=0)
    np.testing.assert_array_equal(table.labels, 1 - np.array(FRAME_LABELS))
    assert table.label_values == (1, 0)


def test_drop_removes_the_named_columns():
    frame = _frame().assign(id=range(6), note=1.0)
    table = load_table(frame, drop=["id", "note"])
    assert table.feature_names == ("b", "a")


def test_drop_accepts_a_single_column_name():
    table = load_table(_frame().assign(id=range(6)), drop="id")
    assert table.feature_names == ("b", "a")


def test_drop_invalid_rows_drops_exactly_the_invalid_rows():
    frame = _frame()
    frame.loc[0, "a"] = np.nan
    frame.loc[3, "b"] = np.inf
    frame.loc[5, "a"] = -np.inf
    table = load_table(frame, drop_invalid_rows=True)
    kept = _frame().iloc[[1, 2, 4]]
    expected = kept[["b", "a"]].to_numpy(dtype=np.float32)
    np.testing.assert_array_equal(table.features, expected)
    np.testing.assert_array_equal(table.labels, kept["Class"])


def test_loading_leaves_the_dataframe_unchanged():
    frame = _frame().assign(id=range(6))
    frame.columns = ["b", "a", "Class", 7]
    before = frame.copy()
    load_table(frame, drop=["7"])
    pd.testing.assert_frame_equal(frame, before)


def test_minority_features_are_the_rows_labelled_one():
    table = load_table(_frame())
    np.testing.assert_array_equal(
        table.minority_features, [[1.5, 20.0], [4.5, 50.0]]
    )


def test_take_keeps_rows_in_the_given_order():
    part = load_table(_frame()).take(np.array([4, 0]))
    np.testing.assert_array_equal(part.features, [[4.5, 50.0], [0.5, 10.0]])
    np.testing.assert_array_equal(part.labels, [1, 0])


# --- enough minority rows for a GAN -------------------------------------------


def _table(labels) -> Table:
    """A table whose first feature is each row's position."""
    labels = np.asarray(labels, dtype=np.int64)
    rows = np.arange(len(labels), dtype=np.float32)
    return Table(
        features=np.column_stack([rows, rows * 2]),
        labels=labels,
        feature_names=("row", "twice"),
        target="Class",
        label_values=(0, 1),
        source="made.csv",
    )


def _positions(table: Table) -> np.ndarray:
    return table.features[:, 0].astype(np.int64)


def test_too_few_minority_rows_are_refused_with_the_count_and_minimum():
    table = _table([0] * 50 + [1] * (MIN_MINORITY_ROWS - 1))
    with pytest.raises(DataError) as caught:
        check_enough_minority_rows(table, what="training split")
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert f"{MIN_MINORITY_ROWS - 1} minority rows" in message
    assert f"at least {MIN_MINORITY_ROWS}" in message
    assert "training split of made.csv" in message


def test_the_minimum_number_of_minority_rows_is_enough():
    table = _table([0] * 50 + [1] * MIN_MINORITY_ROWS)
    check_enough_minority_rows(table)


def test_a_custom_minimum_applies():
    table = _table([0] * 50 + [1] * 5)
    with pytest.raises(DataError, match="at least 6"):
        check_enough_minority_rows(table, minimum=6)


def test_a_test_share_can_leave_too_few_minority_rows_to_train_on():
    table = _table([0] * 100 + [1] * (MIN_MINORITY_ROWS + 5))
    train = split(table, test_size=0.5, seed=0).train
    with pytest.raises(DataError, match=f"{train.num_minority} minority"):
        check_enough_minority_rows(train, what="training split")


# --- splitting ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, fact",
    [
        ({"test_size": 0.0}, "test_size must lie in (0, 1), got 0.0"),
        ({"test_size": 1.0}, "test_size must lie in (0, 1), got 1.0"),
        ({"test_size": float("nan")}, "test_size must lie in (0, 1)"),
        ({"test_size": True}, "test_size must lie in (0, 1), got True"),
        ({"validation_size": -0.1}, "validation_size must lie in [0, 1)"),
        ({"validation_size": 0.8}, "below 1, got 0.25 + 0.8"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
        ({"seed": 1.0}, "seed must be a non-negative integer, got 1.0"),
        ({"seed": True}, "seed must be a non-negative integer, got True"),
    ],
)
def test_split_refuses_bad_sizes_and_seeds(kwargs, fact):
    arguments = {"test_size": 0.25, "seed": 0, **kwargs}
    with pytest.raises(DataError) as caught:
        split(_table([0] * 10 + [1] * 10), **arguments)
    assert fact in str(caught.value)


@pytest.mark.parametrize(
    "majority, minority, validation_size, fact",
    [
        (
            10,
            1,
            0.0,
            "1 minority row(s); a split into 2 parts needs at least 2",
        ),
        (
            10,
            2,
            0.2,
            "2 minority row(s); a split into 3 parts needs at least 3",
        ),
        (1, 10, 0.0, "1 majority row(s)"),
    ],
)
def test_split_refuses_a_class_too_small_for_every_part(
    majority, minority, validation_size, fact
):
    table = _table([0] * majority + [1] * minority)
    with pytest.raises(DataError) as caught:
        split(table, test_size=0.3, seed=0, validation_size=validation_size)
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert "made.csv" in message
    assert fact in message


@st.composite
def split_cases(draw) -> tuple[np.ndarray, float, float, int]:
    """(labels, test_size, validation_size, seed) that split can serve."""
    validation = draw(st.booleans())
    needed = 3 if validation else 2
    majority = draw(st.integers(needed, 60))
    minority = draw(st.integers(needed, 30))
    labels = draw(st.permutations([0] * majority + [1] * minority))
    test_size = draw(st.floats(0.01, 0.9))
    validation_size = (
        draw(st.floats(0.01, 0.98 - test_size)) if validation else 0.0
    )
    seed = draw(st.integers(0, 2**32 - 1))
    return np.array(labels), test_size, validation_size, seed


def _split(case) -> tuple[Table, Split]:
    labels, test_size, validation_size, seed = case
    table = _table(labels)
    parts = split(
        table, test_size=test_size, seed=seed, validation_size=validation_size
    )
    return table, parts


def _parts(parts: Split) -> list[Table]:
    return [part for part in parts if part is not None]


@settings(max_examples=50, deadline=None)
@given(split_cases())
def test_parts_are_disjoint_and_cover_every_row(case):
    table, parts = _split(case)
    positions = np.concatenate([_positions(part) for part in _parts(parts)])
    np.testing.assert_array_equal(np.sort(positions), np.arange(table.num_rows))


@settings(max_examples=50, deadline=None)
@given(split_cases())
def test_every_part_has_both_classes(case):
    _, parts = _split(case)
    for part in _parts(parts):
        assert set(part.labels.tolist()) == {0, 1}


@settings(max_examples=50, deadline=None)
@given(split_cases())
def test_parts_have_a_validation_part_only_when_asked(case):
    _, _, validation_size, _ = case
    _, parts = _split(case)
    assert (parts.validation is not None) == (validation_size > 0)


@settings(max_examples=50, deadline=None)
@given(split_cases())
def test_class_counts_follow_the_rounded_shares(case):
    labels, test_size, validation_size, _ = case
    _, parts = _split(case)
    num_parts = 3 if validation_size > 0 else 2
    for label in (0, 1):
        count = int(np.sum(labels == label))
        test = min(max(1, round(count * test_size)), count - num_parts + 1)
        validation = 0
        if validation_size > 0:
            validation = min(
                max(1, round(count * validation_size)), count - test - 1
            )
            assert np.sum(parts.validation.labels == label) == validation
        assert np.sum(parts.test.labels == label) == test
        assert np.sum(parts.train.labels == label) == (
            count - test - validation
        )


@settings(max_examples=50, deadline=None)
@given(split_cases())
def test_rows_keep_their_features_and_table_order(case):
    table, parts = _split(case)
    for part in _parts(parts):
        positions = _positions(part)
        assert np.all(np.diff(positions) > 0)
        np.testing.assert_array_equal(part.labels, table.labels[positions])
        np.testing.assert_array_equal(part.features, table.features[positions])


@settings(max_examples=50, deadline=None)
@given(split_cases())
def test_same_seed_gives_the_same_split(case):
    _, first = _split(case)
    _, second = _split(case)
    for one, other in zip(_parts(first), _parts(second), strict=True):
        np.testing.assert_array_equal(_positions(one), _positions(other))


def test_different_seeds_give_different_splits():
    table = _table([0] * 500 + [1] * 100)
    tests = [
        _positions(split(table, test_size=0.25, seed=seed).test)
        for seed in (0, 1)
    ]
    assert not np.array_equal(*tests)


def test_parts_keep_the_table_metadata():
    table = _table([0] * 6 + [1] * 6)
    parts = split(table, test_size=0.3, seed=3, validation_size=0.3)
    for part in parts:
        assert part.feature_names == table.feature_names
        assert (part.target, part.source) == (table.target, table.source)
        assert part.label_values == table.label_values


# --- real datasets ------------------------------------------------------------


def _real(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real dataset {path} is not present beside the repo")
    return path


def test_credit_card_sample_loads_with_its_documented_shape():
    table = load_table(_real("creditcard_sample.csv"))
    assert (table.num_rows, table.num_minority) == (24_648, 492)
    assert table.feature_names == CARD_COLUMNS
    assert table.target == "Class"
    assert np.isfinite(table.features).all()


@pytest.mark.parametrize(
    "name, rows, features, minority",
    [
        ("mammography", 11_183, 6, 260),
        ("thyroid", 3_772, 6, 93),
        ("satimage-2", 5_803, 36, 71),
        ("cardio", 1_831, 21, 176),
        ("pendigits", 6_870, 16, 156),
        ("annthyroid", 7_200, 6, 534),
    ],
)
def test_adbench_archive_loads_with_its_documented_shape(
    name, rows, features, minority
):
    table = load_table(_real(f"adbench_{name}.npz"))
    assert table.features.shape == (rows, features)
    assert table.num_minority == minority
    assert table.feature_names == tuple(f"x{i}" for i in range(features))
    assert table.target == "y"


def test_text_columns_holding_only_numbers_are_read_as_numbers():
    frame = pd.DataFrame(
        {"a": ["1.5", "2", "-3e2"], "b": [1, 2, 3], "Class": [0, 1, 0]}
    )
    table = load_table(frame)
    np.testing.assert_array_equal(table.features[:, 0], [1.5, 2.0, -300.0])


def test_a_datetime_feature_column_is_refused_with_its_type():
    frame = pd.DataFrame(
        {
            "when": pd.to_datetime(["2020-01-01"] * 3),
            "b": [1, 2, 3],
            "Class": [0, 1, 0],
        }
    )
    with pytest.raises(DataError, match="when \\(of type datetime64"):
        load_table(frame)


def test_to_frame_restores_names_and_original_labels():
    frame = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0], "label": ["ok", "x", "ok"]}
    )
    table = load_table(frame, target="label", minority="x")
    pd.testing.assert_frame_equal(
        table.to_frame(), frame, check_dtype=False, check_column_type=False
    )


def test_synthetic_rows_map_back_to_original_units_and_names():
    table = load_table(datasets.BUILTIN_DATASET)
    scaler = Scaler().fit(table.minority_features)
    scaled = scaler.transform(table.minority_features[:5])
    frame = table.minority_frame(scaler.inverse_transform(scaled))
    assert list(frame.columns) == [*table.feature_names, "Class"]
    assert (frame["Class"] == 1).all()
    np.testing.assert_allclose(
        frame[list(table.feature_names)].to_numpy(),
        table.minority_features[:5],
        rtol=1e-5,
        atol=1e-3,
    )


def test_minority_frame_rejects_the_wrong_width():
    table = load_table(datasets.BUILTIN_DATASET)
    with pytest.raises(ValueError, match="expected"):
        table.minority_frame(np.zeros((2, 3)))
