"""Slim a pip --target tree of the scikit-learn stack (the ml layer) in place, and report what each step saved.

    python prune.py TARGET_DIR            # e.g. $(ARTIFACTS_DIR)/python
    python prune.py TARGET_DIR --json     # the per-step savings as JSON on stdout (used by the tests)

Used by layers/ml/Makefile for the arm64 layer that `sam build` makes, and by
tests/template/test_package_size.py on an x86_64 tree of the same requirements, which is then imported and fitted
in isolation: every step below must keep that test green. Each step removes only files that nothing imports or opens
at run time:

- tests:     the test suites (`tests/` and `test/` directories) of numpy, scipy, scikit-learn and joblib. Runtime
             helpers live elsewhere (numpy/testing, scipy/_lib/_testutils.py, sklearn/utils/_testing.py) and stay.
- bytecode:  `__pycache__/` and `*.pyc`: the Makefile installs with --no-compile, so this is a safety net
             (bytecode for the build machine's Python would not even match the runtime's).
- sources:   Cython/C/C++ sources and headers (*.pyx, *.pxd, *.pxi, *.c, *.cpp, *.h, *.hpp, Tempita *.tp),
             `include/` directories and static libraries (*.a): inputs for compiling extensions against numpy/scipy,
             never read when importing them.
- stubs:     type stubs (*.pyi), read by static type checkers only.
- extras:    numpy/_pyinstaller (PyInstaller hooks), scipy/special/_precompute (scripts that generated scipy's
             tables) and `bin/` (console scripts such as f2py and numpy-config, not on a Lambda layer's PATH anyway).
             numpy/f2py stays: "f2py" is in numpy.__all__, and scipy's array_api_compat runs `from numpy import *`
             when scikit-learn is imported, which imports numpy.f2py.

Nothing else is removed: no scipy submodule goes, because trainers may name any estimator scikit-learn lists and
several import scipy lazily inside fit; *.dist-info stays whole (importlib.metadata reads scikit-learn's version,
and it holds the licenses).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

TEST_DIR_NAMES = frozenset({"tests", "test"})
TEST_DIR_PACKAGES = ("numpy", "scipy", "sklearn", "joblib")
SOURCE_SUFFIXES = frozenset({".pyx", ".pxd", ".pxi", ".c", ".cpp", ".h", ".hpp", ".tp", ".a"})
EXTRA_PATHS = ("numpy/_pyinstaller", "scipy/special/_precompute", "bin")


def size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def remove(path: Path) -> int:
    freed = size(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return freed


def in_dist_info(root: Path, path: Path) -> bool:
    # *.dist-info/licenses/ mirrors source paths (numpy's has an include/ directory): licenses always stay.
    return any(part.endswith(".dist-info") for part in path.relative_to(root).parts)


def files(root: Path, pattern: str = "*") -> list[Path]:
    return sorted(p for p in root.rglob(pattern) if (p.is_file() or p.is_symlink()) and not in_dist_info(root, p))


def dirs_named(root: Path, names: frozenset[str]) -> Iterator[Path]:
    # Materialise the list first (the caller deletes while we walk); a directory inside one already removed is
    # skipped by the callers' exists() check.
    yield from sorted(p for p in root.rglob("*") if p.is_dir() and p.name in names and not in_dist_info(root, p))


def step_tests(root: Path) -> int:
    freed = 0
    for package in TEST_DIR_PACKAGES:
        if (root / package).is_dir():
            for path in dirs_named(root / package, TEST_DIR_NAMES):
                if path.exists():
                    freed += remove(path)
    return freed


def step_bytecode(root: Path) -> int:
    freed = sum(remove(p) for p in dirs_named(root, frozenset({"__pycache__"})) if p.exists())
    return freed + sum(remove(p) for p in files(root, "*.pyc"))


def step_sources(root: Path) -> int:
    freed = sum(remove(p) for p in dirs_named(root, frozenset({"include"})) if p.exists())
    return freed + sum(remove(p) for p in files(root) if p.suffix in SOURCE_SUFFIXES)


def step_stubs(root: Path) -> int:
    return sum(remove(p) for p in files(root, "*.pyi"))


def step_extras(root: Path) -> int:
    return sum(remove(root / rel) for rel in EXTRA_PATHS if (root / rel).exists())


STEPS: dict[str, Callable[[Path], int]] = {
    "tests": step_tests,
    "bytecode": step_bytecode,
    "sources": step_sources,
    "stubs": step_stubs,
    "extras": step_extras,
}


def prune(root: Path) -> dict[str, int]:
    """Run every step on ``root``; returns bytes freed per step, plus ``before`` and ``after``."""
    if not (root / "sklearn" / "__init__.py").is_file():
        raise SystemExit(f"prune.py: {root} does not look like the ml layer (no sklearn/__init__.py)")
    report = {"before": size(root)}
    for name, step in STEPS.items():
        report[name] = step(root)
    report["after"] = size(root)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path, help="the pip --target directory (the layer's python/)")
    parser.add_argument("--json", action="store_true", help="print the per-step savings as JSON")
    args = parser.parse_args(argv)
    report = prune(args.target)
    if args.json:
        print(json.dumps(report))
    else:
        for name, freed in report.items():
            print(f"prune: {name:<9} {freed:>12,} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
