"""Write the example splits from datasets that ship inside scikit-learn (no downloads).

Usage: ``python examples/make_data.py [OUT_DIR]`` (default ``examples/data``). Writes
``iris.npz`` (train/validation/test), ``digits.npz`` (the same, for the halving example) and ``diabetes/``
(train.csv, validation.csv, test.csv with a ``target`` column).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.model_selection import train_test_split


def _three_way(X: np.ndarray, y: np.ndarray, stratify: bool, seed: int = 0) -> dict[str, np.ndarray]:
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, test_size=0.4, random_state=seed, stratify=y if stratify else None
    )
    X_val, X_test, y_val, y_test = train_test_split(
        X_rest, y_rest, test_size=0.5, random_state=seed, stratify=y_rest if stratify else None
    )
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val, "X_test": X_test, "y_test": y_test}


def write_iris(out: Path) -> Path:
    """Iris (150 rows, 3 classes) as an .npz split."""
    iris = load_iris()
    path = out / "iris.npz"
    np.savez(path, **_three_way(iris.data, iris.target, stratify=True))
    return path


def write_digits(out: Path) -> Path:
    """Digits (1,797 rows of 8x8 pixels, 10 classes) as an .npz split."""
    digits = load_digits()
    path = out / "digits.npz"
    np.savez(path, **_three_way(digits.data, digits.target, stratify=True))
    return path


def write_diabetes(out: Path) -> Path:
    """Diabetes (442 rows, regression) as a folder of CSV files."""
    diabetes = load_diabetes()
    arrays = _three_way(diabetes.data, diabetes.target, stratify=False)
    folder = out / "diabetes"
    folder.mkdir(parents=True, exist_ok=True)
    for split, suffix in (("train", "train"), ("validation", "val"), ("test", "test")):
        with (folder / f"{split}.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([*diabetes.feature_names, "target"])
            for row, label in zip(arrays[f"X_{suffix}"], arrays[f"y_{suffix}"], strict=True):
                writer.writerow([repr(float(v)) for v in row] + [repr(float(label))])
    return folder


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else Path(__file__).with_name("data")
    out.mkdir(parents=True, exist_ok=True)
    for path in (write_iris(out), write_digits(out), write_diabetes(out)):
        print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
