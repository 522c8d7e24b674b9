"""Split loaders: ``.npz`` and CSV folders, fingerprints, and errors naming the file, array, line or column."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hyperparameter_tuner import DataError, load_split
from hyperparameter_tuner.data import inspect_csv_split, inspect_npz, inspect_npz_split

# -- round trips --------------------------------------------------------------------------------------------


def test_npz_round_trip_with_validation(iris_npz: Path, iris_arrays: dict[str, np.ndarray]) -> None:
    split = load_split(iris_npz)

    for name, array in iris_arrays.items():
        np.testing.assert_array_equal(getattr(split, name), array)
    assert split.has_validation
    assert split.eval_split == "validation"
    assert [name for name, _, _ in split.scoring_splits()] == ["validation", "test"]
    assert split.source == str(iris_npz)
    assert len(split.fingerprint) == 64


def test_npz_round_trip_without_validation(iris_npz_no_val: Path) -> None:
    split = load_split(iris_npz_no_val)

    assert split.X_val is None and split.y_val is None
    assert split.eval_split == "test"
    assert [name for name, _, _ in split.scoring_splits()] == ["test"]


def test_csv_round_trip_with_validation(csv_split: Path, iris_arrays: dict[str, np.ndarray]) -> None:
    split = load_split(csv_split)

    for name, array in iris_arrays.items():
        np.testing.assert_array_equal(getattr(split, name), array)
    assert split.y_train.dtype.kind == "i"
    assert split.feature_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert split.eval_split == "validation"


def test_csv_round_trip_without_validation(csv_split: Path) -> None:
    (csv_split / "validation.csv").unlink()

    split = load_split(csv_split)

    assert split.X_val is None
    assert split.eval_split == "test"


def test_csv_label_column_from_config_and_string_labels(tmp_path: Path) -> None:
    folder = tmp_path / "labels"
    folder.mkdir()
    for name in ("train.csv", "test.csv"):
        (folder / name).write_text("species,a,b\nsetosa,1.0,2\nvirginica, 3 ,4.5\n")

    split = load_split(folder, target="species")

    assert split.y_train.tolist() == ["setosa", "virginica"]
    np.testing.assert_array_equal(split.X_train, [[1.0, 2.0], [3.0, 4.5]])
    assert split.feature_names == ["a", "b"]


# -- fingerprints ------------------------------------------------------------------------------------------


def test_npz_fingerprint_follows_content(tmp_path: Path, iris_npz: Path, iris_arrays: dict[str, np.ndarray]) -> None:
    # Given a byte copy, the same arrays saved again, and different arrays
    copy = tmp_path / "copy" / "renamed.npz"
    copy.parent.mkdir()
    shutil.copy(iris_npz, copy)
    resaved = tmp_path / "resaved.npz"
    np.savez(resaved, **iris_arrays)  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle
    changed = tmp_path / "changed.npz"
    np.savez(changed, **{**iris_arrays, "y_test": iris_arrays["y_test"][::-1].copy()})  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle

    # When fingerprinted
    original = load_split(iris_npz).fingerprint

    # Then the name and place do not matter, the content does
    assert load_split(copy).fingerprint == original
    assert load_split(resaved).fingerprint == original
    assert load_split(changed).fingerprint != original


def test_csv_fingerprint_follows_content(tmp_path: Path, csv_split: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(csv_split, copy)
    original = load_split(csv_split).fingerprint

    assert load_split(copy).fingerprint == original

    text = (copy / "test.csv").read_text().splitlines()
    text[1] = text[1].replace(text[1].split(",")[0], "9.5", 1)
    (copy / "test.csv").write_text("\n".join(text) + "\n")
    assert load_split(copy).fingerprint != original

    without_validation = tmp_path / "noval"
    shutil.copytree(csv_split, without_validation)
    (without_validation / "validation.csv").unlink()
    assert load_split(without_validation).fingerprint != original


def test_npz_and_csv_fingerprints_ignore_unrelated_files(csv_split: Path) -> None:
    original = load_split(csv_split).fingerprint
    (csv_split / "README.txt").write_text("notes")

    assert load_split(csv_split).fingerprint == original


# -- bad npz -----------------------------------------------------------------------------------------------


def _save(tmp_path: Path, arrays: dict[str, Any], name: str = "bad.npz", **kwargs: Any) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays, **kwargs)
    return path


def _arrays(iris_arrays: dict[str, np.ndarray], **changes: Any) -> dict[str, Any]:
    arrays: dict[str, Any] = dict(iris_arrays)
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    return arrays


def _with_nan(array: np.ndarray) -> np.ndarray:
    array = array.astype(float).copy()
    array[3, 1] = np.nan
    return array


def _with_inf(array: np.ndarray) -> np.ndarray:
    array = array.astype(float).copy()
    array[2, 0] = np.inf
    return array


def _object_rows(array: np.ndarray) -> np.ndarray:
    return np.array([list(row) for row in array], dtype=object)


BAD_NPZ = [
    ("missing-X_test", {"X_test": None}, r"bad\.npz: array 'X_test' is missing"),
    ("missing-y_train", {"y_train": None}, r"bad\.npz: array 'y_train' is missing"),
    ("X_val-without-y_val", {"y_val": None}, r"bad\.npz: y_val is missing \(X_val and y_val come together\)"),
    ("row-mismatch", {"y_train": np.zeros(89)}, r"bad\.npz: X_train has 90 rows but y_train has 89"),
    ("one-dimensional-X", {"X_test": np.zeros(30)}, r"bad\.npz: X_test must be 2-D"),
    ("two-dimensional-y", {"y_val": np.zeros((30, 1))}, r"bad\.npz: y_val must be 1-D"),
    ("feature-count-mismatch", {"X_val": np.zeros((30, 3))}, r"bad\.npz: X_val has 3 features but X_train has 4"),
    ("no-rows", {"X_test": np.zeros((0, 4)), "y_test": np.zeros(0)}, r"bad\.npz: X_test has no rows"),
    ("string-features", {"X_train": np.full((90, 4), "a")}, r"bad\.npz: X_train must be numeric"),
    ("nan-in-X", "nan", r"bad\.npz: X_train contains NaN"),
    ("inf-in-X", "inf", r"bad\.npz: X_train contains inf"),
]


@pytest.mark.parametrize(("changes", "message"), [case[1:] for case in BAD_NPZ], ids=[case[0] for case in BAD_NPZ])
def test_bad_npz_is_refused_naming_the_array(
    tmp_path: Path, iris_arrays: dict[str, np.ndarray], changes: Any, message: str
) -> None:
    if changes == "nan":
        changes = {"X_train": _with_nan(iris_arrays["X_train"])}
    elif changes == "inf":
        changes = {"X_train": _with_inf(iris_arrays["X_train"])}
    path = _save(tmp_path, _arrays(iris_arrays, **changes))

    with pytest.raises(DataError, match=message):
        load_split(path)


def test_object_array_is_refused_without_unpickling(tmp_path: Path, iris_arrays: dict[str, np.ndarray]) -> None:
    path = _save(tmp_path, _arrays(iris_arrays, X_train=_object_rows(iris_arrays["X_train"])), allow_pickle=True)

    with pytest.raises(DataError, match=r"bad\.npz: X_train must be numeric, got dtype kind 'O'"):
        load_split(path)


def test_object_labels_are_refused(tmp_path: Path, iris_arrays: dict[str, np.ndarray]) -> None:
    path = _save(tmp_path, _arrays(iris_arrays, y_test=iris_arrays["y_test"].astype(object)), allow_pickle=True)

    with pytest.raises(DataError, match=r"bad\.npz: y_test is an object array"):
        load_split(path)


def test_not_a_zip_npz(tmp_path: Path) -> None:
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not a zip file at all")

    with pytest.raises(DataError, match=r"garbage\.npz: not a readable \.npz file"):
        load_split(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"absent\.npz: no such file or folder"):
        load_split(tmp_path / "absent.npz")


@pytest.mark.parametrize("name", ["data.csv", "data.npy", "data"])
def test_wrong_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("a,b\n1,2\n")

    with pytest.raises(DataError, match=r"expected an \.npz file or a folder of CSV files"):
        load_split(path)


# -- bad CSV -----------------------------------------------------------------------------------------------

GOOD_CSV = "a,b,target\n1.0,2.0,0\n3.0,4.0,1\n"

BAD_CSV = [
    ("non-numeric-cell", "a,b,target\n1.0,2.0,0\n3.0,four,1\n",
     r"train\.csv line 3, column 'b': 'four' is not a number"),
    ("empty-cell", "a,b,target\n1.0,,0\n", r"train\.csv line 2, column 'b': '' is not a number"),
    ("nan-cell", "a,b,target\nnan,2.0,0\n", r"train\.csv line 2, column 'a': missing value \(NaN\)"),
    ("inf-cell", "a,b,target\ninf,2.0,0\n", r"train\.csv line 2, column 'a': .*inf"),
    ("missing-label-column", "a,b,label\n1.0,2.0,0\n", r"train\.csv: label column 'target' is missing"),
    ("ragged-row", "a,b,target\n1.0,2.0,0\n3.0,1\n", r"train\.csv line 3: 2 fields, the header has 3"),
    ("long-row", "a,b,target\n1.0,2.0,0,7\n", r"train\.csv line 2: 4 fields, the header has 3"),
    ("empty-file", "", r"train\.csv: the file is empty"),
    ("header-only", "a,b,target\n", r"train\.csv: there are no data rows"),
    ("empty-label", "a,b,target\n1.0,2.0, \n", r"train\.csv line 2, column 'target': the label is empty"),
    ("label-only", "target\n1\n", r"train\.csv: there are no feature columns besides 'target'"),
]


@pytest.mark.parametrize(("train_text", "message"), [case[1:] for case in BAD_CSV], ids=[case[0] for case in BAD_CSV])
def test_bad_csv_is_refused_naming_file_line_and_column(tmp_path: Path, train_text: str, message: str) -> None:
    folder = tmp_path / "split"
    folder.mkdir()
    (folder / "train.csv").write_text(train_text)
    (folder / "test.csv").write_text(GOOD_CSV)

    with pytest.raises(DataError, match=message):
        load_split(folder)


def test_csv_folder_without_test_file(tmp_path: Path) -> None:
    folder = tmp_path / "split"
    folder.mkdir()
    (folder / "train.csv").write_text(GOOD_CSV)

    with pytest.raises(DataError, match=r"test\.csv is missing"):
        load_split(folder)


def test_csv_columns_must_match_between_files(tmp_path: Path) -> None:
    folder = tmp_path / "split"
    folder.mkdir()
    (folder / "train.csv").write_text(GOOD_CSV)
    (folder / "test.csv").write_text("a,c,target\n1.0,2.0,0\n")

    with pytest.raises(DataError, match=r"test\.csv: columns differ from train\.csv"):
        load_split(folder)


def test_csv_that_is_not_utf8(tmp_path: Path) -> None:
    folder = tmp_path / "split"
    folder.mkdir()
    (folder / "train.csv").write_bytes("a,b,target\n1.0,2.0,\xe9\n".encode("latin-1"))
    (folder / "test.csv").write_text(GOOD_CSV)

    with pytest.raises(DataError, match=r"train\.csv: not UTF-8 text"):
        load_split(folder)


# -- the fan-out's standard-library checks equal the loader's (issue 8, items 6 and 9) ----------------------------


def _float16_with(value: float, order: str = "<") -> Any:
    def change(array: np.ndarray) -> np.ndarray:
        copy = array.astype(f"{order}f2")
        copy[1, 2] = value
        return copy

    return change


FLOAT_WIDTHS = [
    ("float16-nan", "<", "f2", np.nan, "NaN"), ("float16-inf", "<", "f2", np.inf, "inf"),
    ("float16-big-endian-nan", ">", "f2", np.nan, "NaN"), ("float32-big-endian-inf", ">", "f4", -np.inf, "inf"),
    ("float64-nan", "<", "f8", np.nan, "NaN"),
]


@pytest.mark.parametrize(("order", "code", "value", "word"), [case[1:] for case in FLOAT_WIDTHS],
                         ids=[case[0] for case in FLOAT_WIDTHS])
def test_nan_and_inf_are_refused_on_both_paths_for_every_float_width(
    tmp_path: Path, iris_arrays: dict[str, np.ndarray], order: str, code: str, value: float, word: str,
) -> None:
    # Given an X_val of that width with one non-finite value
    X_val = iris_arrays["X_val"].astype(f"{order}{code}")
    X_val[1, 2] = value
    assert not np.isfinite(X_val).all()  # numpy agrees the array is bad (the oracle)
    path = _save(tmp_path, _arrays(iris_arrays, X_val=X_val))

    # When / Then: the loader (numpy) and the fan-out's scan (standard library) both refuse it, naming it
    with pytest.raises(DataError, match=rf"bad\.npz: X_val contains {word}$"):
        load_split(path)
    with path.open("rb") as fh, pytest.raises(DataError, match=rf"bad\.npz: X_val contains {word}$"):
        inspect_npz(fh, str(path), check_values=True)


def test_finite_float16_passes_both_paths(tmp_path: Path, iris_arrays: dict[str, np.ndarray]) -> None:
    path = _save(tmp_path, _arrays(iris_arrays, X_train=iris_arrays["X_train"].astype(np.float16)))

    assert load_split(path).X_train.dtype == np.float16
    with path.open("rb") as fh:
        assert inspect_npz(fh, str(path), check_values=True)["X_train"] == (90, 4)


LABELS = [
    ("int64", np.array([0, 2, 1, 2])), ("uint8", np.array([3, 3, 7], dtype=np.uint8)),
    ("big-endian-int32", np.array([5, -1, 5], dtype=">i4")), ("bool", np.array([True, False, True])),
    ("float-integers", np.array([1.0, 0.0, 1.0])), ("float-fractional", np.array([0.25, 1.0, 0.25])),
    ("float16", np.array([2.0, 0.5, 2.0], dtype=np.float16)), ("unicode", np.array(["cat", "dog", "cat"])),
    ("bytes", np.array([b"x", b"yy"])),
]


@pytest.mark.parametrize("y", [case[1] for case in LABELS], ids=[case[0] for case in LABELS])
def test_label_summaries_without_numpy_equal_the_loaders(tmp_path: Path, y: np.ndarray) -> None:
    # Given an .npz whose labels are y
    X = np.zeros((len(y), 2))
    path = _save(tmp_path, {"X_train": X, "y_train": y, "X_test": X, "y_test": y})

    # When the fan-out summarises them from the bytes, and the loader from the arrays
    with path.open("rb") as fh:
        pure = inspect_npz_split(fh, str(path), labels=True).labels["y_train"]
    loaded = load_split(path).labels()["y_train"]

    # Then both agree, with numpy's own unique values as the oracle
    assert pure == loaded
    expected = {v.item() if not isinstance(v, bytes | str) else v for v in np.unique(y)}
    expected = {int(v) if isinstance(v, float | bool) and float(v).is_integer() else v for v in expected}
    assert set(pure.classes) == expected
    assert pure.is_text == (y.dtype.kind in "US")


def test_csv_label_summary_reads_labels_as_the_loader_does(tmp_path: Path, csv_split: Path) -> None:
    files = {name: (csv_split / name).open("rb") for name in ("train.csv", "validation.csv", "test.csv")}
    try:
        report = inspect_csv_split(files, str(csv_split))  # type: ignore[arg-type]
    finally:
        for handle in files.values():
            handle.close()

    assert report.labels == load_split(csv_split).labels()
    assert report.labels["y_train"].classes == {0, 1, 2}


# -- max_data_bytes: checked before loading --------------------------------------------------------------------


def test_max_data_bytes_is_checked_from_the_npz_headers_before_loading(
    tmp_path: Path, iris_npz: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given numpy's loader replaced by one that must not be reached
    def no_load(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("np.load was called")

    monkeypatch.setattr(np, "load", no_load)
    # X_train is 90 x 4 float64 = 2880 bytes, y_train 90 int64 = 720 bytes (hand-computed)
    with pytest.raises(DataError, match=r"iris\.npz: array 'y_train': shape \(90,\) of <i8 brings the split's arrays"
                                        r" to 3\.5 KiB \(3600 bytes\), over max_data_bytes 3000 \(2\.9 KiB\)"):
        load_split(iris_npz, max_data_bytes=3000)


def test_max_data_bytes_of_exactly_the_split_is_accepted(iris_npz: Path, iris_arrays: dict[str, np.ndarray]) -> None:
    total = sum(array.nbytes for array in iris_arrays.values())

    assert load_split(iris_npz, max_data_bytes=total).X_train.shape == (90, 4)
    with pytest.raises(DataError, match=rf"array 'y_val'.*\({total} bytes\), over max_data_bytes {total - 1} "):
        load_split(iris_npz, max_data_bytes=total - 1)


def test_max_data_bytes_for_csv_counts_the_files(csv_split: Path) -> None:
    sizes = [(csv_split / name).stat().st_size for name in ("train.csv", "validation.csv", "test.csv")]

    assert load_split(csv_split, max_data_bytes=sum(sizes)).X_train.shape == (90, 4)
    with pytest.raises(DataError, match=r"iris_csv/test\.csv: the CSV files total .* over max_data_bytes"):
        load_split(csv_split, max_data_bytes=sum(sizes) - 1)


def test_an_npz_file_far_larger_than_the_limit_is_refused_from_its_size(tmp_path: Path,
                                                                      iris_arrays: dict[str, np.ndarray]) -> None:
    # Given an .npz with an extra 2 MiB member (not an array the split uses) and a limit of 1 KiB
    path = _save(tmp_path, {**iris_arrays, "padding": np.zeros(2**18)})

    with pytest.raises(DataError, match=r"bad\.npz: the file is 2\.0 MiB .*over max_data_bytes 1024 \(1\.0 KiB"
                                        r" \+ 1\.0 MiB for headers\)"):
        load_split(path, max_data_bytes=1024)


def test_float128_is_refused_on_both_paths(tmp_path: Path, iris_arrays: dict[str, np.ndarray]) -> None:
    wide = np.dtype(np.longdouble)
    path = _save(tmp_path, _arrays(iris_arrays, X_train=iris_arrays["X_train"].astype(wide)))
    message = rf"X_train is float{8 * wide.itemsize}, which is not supported; use float64"
    if wide.itemsize == 8:  # longdouble is float64 on this platform: nothing to refuse
        assert load_split(path).X_train.dtype == np.float64
        return

    with pytest.raises(DataError, match=message):
        load_split(path)
    with path.open("rb") as fh, pytest.raises(DataError, match=message):
        inspect_npz(fh, str(path), check_values=True)


def test_labels_of_mixed_python_types_are_refused_naming_the_array() -> None:
    from hyperparameter_tuner.data import SplitData

    X = np.zeros((3, 2))
    split = SplitData(X_train=X, y_train=np.array([1, "a", 2.5], dtype=object), X_test=X,
                      y_test=np.array([0, 1, 0]), source="memory")

    with pytest.raises(DataError, match=r"^memory: y_train mixes label types \(float, int, str\)"):
        split.labels()
