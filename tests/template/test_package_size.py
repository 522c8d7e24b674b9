"""The trainer's package budget: after `sam build` (arm64), TrainerFunction + TunerLayer + MlLayer is at most 200 MB
unzipped, leaving users 50 MB of Lambda's 250 MB for their own trainers. layers/ml/Makefile gets there by pruning the
scikit-learn stack with layers/ml/prune.py; test_pruned_ml_layer_still_fits proves the pruning breaks no fit.

The arm64 layer cannot be imported on the (x86_64) build machine, so the fit check runs the same Makefile target, same
requirements, same prune.py and same Python 3.13, for the build machine's platform, and imports only that tree with
`python3.13 -I -S` (no site-packages, no PYTHONPATH). That tree is cached under .tools/ml-layer-check/, keyed by the
inputs' hash.

Sizes are the sum of the files' sizes (what the unzipped package occupies; directories are not counted), and
"MB" is 10**6 bytes: the budget is 200,000,000 bytes, stricter than 200 MiB.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from _require import missing

ROOT = Path(__file__).resolve().parents[2]
ML_LAYER_SRC = ROOT / "layers" / "ml"
CHECK_CACHE = ROOT / ".tools" / "ml-layer-check"

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes: Lambda's hard limit ("250 MB") for a function plus all its layers
TRAINER_BUDGET_BYTES = 200_000_000  # bytes: 200 MB (10**6) for TrainerFunction + TunerLayer + MlLayer
TRAINER_PARTS = ("TrainerFunction", "TunerLayer", "MlLayer")
LAYER_PYTHON = "3.13"  # template.yaml: python3.13

# pip's messages when it cannot reach the package index: the only reason these tests skip (fail under CI).
OFFLINE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution"
    r"|Network is unreachable|Max retries exceeded|ConnectTimeout|Could not fetch URL"
)


def tree_bytes(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def skip_if_offline(output: str) -> None:
    if OFFLINE.search(output):
        missing(f"pip cannot reach the package index:\n{output[-2000:]}")


def trainer_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `sam build` of template.yaml whose sizes are checked.

    ``make test`` builds first (``make build``) and sets ``HPT_SAM_BUILD_DIR`` to that build, so the budget is checked
    on the very build its ``size`` step made; without it, `sam build` runs into this session's temp dir, once per
    session (per xdist worker).
    """
    from test_tools import run, sam_env, tool  # lazy: test_tools imports this module

    explicit = os.environ.get("HPT_SAM_BUILD_DIR")
    if explicit:
        built = Path(explicit)
        assert all((built / part).is_dir() for part in TRAINER_PARTS), (
            f"HPT_SAM_BUILD_DIR={explicit} holds no complete build of {TRAINER_PARTS}: run `make build`"
        )
        return built
    sam = tool("sam", "sam")
    build_dir = tmp_path_factory.getbasetemp() / "sam-build"
    done = build_dir.with_suffix(".ok")
    if not done.exists():
        shutil.rmtree(build_dir, ignore_errors=True)
        proc = run(
            [sam, "build", "-t", "template.yaml", "--build-dir", build_dir, "--region", "us-east-1"],
            env=sam_env(),
            timeout=900,
        )
        if proc.returncode != 0:
            skip_if_offline(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        done.touch()
    return build_dir


def test_budget_leaves_room_under_the_lambda_limit() -> None:
    assert TRAINER_BUDGET_BYTES <= LAMBDA_UNZIPPED_LIMIT - 50_000_000


def test_trainer_package_within_budget(tmp_path_factory: pytest.TempPathFactory) -> None:
    build_dir = trainer_build(tmp_path_factory)
    sizes = {name: tree_bytes(build_dir / name) for name in TRAINER_PARTS}
    total = sum(sizes.values())
    report = ", ".join(f"{name} {size:,}" for name, size in sizes.items())
    print(f"\ntrainer package: {report}; total {total:,} of {TRAINER_BUDGET_BYTES:,} bytes")
    assert total <= TRAINER_BUDGET_BYTES, f"trainer package {total:,} bytes > budget {TRAINER_BUDGET_BYTES:,}: {report}"
    # The makefile build ships only python/, pruned: no build inputs, no test suites.
    ml = build_dir / "MlLayer"
    assert sorted(p.name for p in ml.iterdir()) == ["python"]
    assert (ml / "python" / "sklearn" / "__init__.py").is_file()
    assert not (ml / "python" / "sklearn" / "tests").exists()
    assert not (ml / "python" / "scipy" / "linalg" / "tests").exists()
    assert list((ml / "python").glob("scikit_learn-*.dist-info/METADATA"))  # trainers read the sklearn version


# Run as `python -I -S -c FIT_CHECK TREE`: imports the ML stack from TREE only, fits and scores every estimator family
# the examples use, round-trips them through joblib, then fits every estimator scikit-learn lists and imports every
# module of the stack. Prints its JSON report on a line starting with FIT_CHECK_REPORT.
FIT_CHECK = r"""
import importlib, io, json, pkgutil, sys, time, warnings
tree = sys.argv[1]
sys.path.insert(0, tree)
t0 = time.time()
import numpy as np, scipy, sklearn, joblib, threadpoolctl
for mod in (np, scipy, sklearn, joblib, threadpoolctl):
    assert mod.__file__.startswith(tree), (mod.__name__, mod.__file__)
warnings.filterwarnings("ignore")
from sklearn.base import is_classifier, is_regressor
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.metrics import check_scoring, get_scorer, get_scorer_names
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils.discovery import all_estimators

STACK = ("numpy", "scipy", "sklearn", "joblib", "threadpoolctl", "narwhals", "cloudpickle")

def pruned_away(exc):
    # What pruning can cause: a module of the stack missing, or a file/shared library gone or unloadable.
    # A missing optional dependency (pandas, pytest, torch, ...) or any other error is not pruning's doing.
    if isinstance(exc, ModuleNotFoundError):
        return (exc.name or "").split(".")[0] in STACK
    return isinstance(exc, (ImportError, OSError))

def roundtrip(est):
    blob = io.BytesIO()
    joblib.dump(est, blob)
    blob.seek(0)
    return joblib.load(blob)

report = {"fits": {}, "broken": []}
Xc, yc = load_iris(return_X_y=True)
Xr, yr = load_diabetes(return_X_y=True)
Xc_tr, Xc_te, yc_tr, yc_te = train_test_split(Xc, yc, random_state=0, stratify=yc)
Xr_tr, Xr_te, yr_tr, yr_te = train_test_split(Xr, yr, random_state=0)
classifiers = [
    LogisticRegression(max_iter=1000), RandomForestClassifier(n_estimators=25, random_state=0),
    KNeighborsClassifier(), SVC(probability=True, random_state=0), HistGradientBoostingClassifier(max_iter=20),
    MLPClassifier(max_iter=500, random_state=0),
]
for est in classifiers:
    est.fit(Xc_tr, yc_tr)
    scores = check_scoring(est, scoring=["accuracy", "f1_macro", "balanced_accuracy", "roc_auc_ovr", "neg_log_loss"])(
        est, Xc_te, yc_te)
    assert scores["accuracy"] > 0.8, (type(est).__name__, scores)
    assert (roundtrip(est).predict(Xc_te) == est.predict(Xc_te)).all()
    report["fits"][type(est).__name__] = round(float(scores["accuracy"]), 3)
regressors = [
    Ridge(), Lasso(alpha=0.1, max_iter=10000), GradientBoostingRegressor(n_estimators=50, random_state=0),
    KNeighborsRegressor(), DecisionTreeRegressor(max_depth=4, random_state=0),
]
for est in regressors:
    est.fit(Xr_tr, yr_tr)
    scores = check_scoring(est, scoring=["r2", "neg_mean_squared_error", "neg_mean_absolute_error"])(
        est, Xr_te, yr_te)
    assert scores["r2"] > 0.0, (type(est).__name__, scores)
    assert np.allclose(roundtrip(est).predict(Xr_te), est.predict(Xr_te))
    report["fits"][type(est).__name__] = round(float(scores["r2"]), 3)
names = get_scorer_names()
assert {"accuracy", "f1_macro", "balanced_accuracy", "r2", "neg_mean_squared_error"} <= set(names)
for name in names:
    get_scorer(name)
report["scorers"] = len(names)

# Trainers may name any estimator scikit-learn lists, and some import scipy only inside fit: fit them all.
estimators = all_estimators()
report["estimators"] = len(estimators)
report["estimators_fitted"] = 0
for name, cls in estimators:
    try:
        est = cls()
        if is_classifier(est):
            est.fit(Xc_tr[:60], yc_tr[:60])
            est.predict(Xc_te[:10])
        elif is_regressor(est):
            est.fit(Xr_tr[:60], yr_tr[:60])
            est.predict(Xr_te[:10])
        else:
            est.fit(Xc_tr[:60], yc_tr[:60])
        report["estimators_fitted"] += 1
    except Exception as exc:
        if pruned_away(exc):
            report["broken"].append(f"{name}: {type(exc).__name__}: {exc}")

# Every module of the stack, bar the pruned test suites and build helpers, must still import.
# (__main__ modules are command lines: importing one runs it.)
skip = (".tests.", ".test.", "._precompute.", "numpy._pyinstaller.", ".__main__.")
report["modules"] = 0
for pkg in (np, scipy, sklearn, joblib):
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".", onerror=lambda name: None):
        if any(s in info.name + "." for s in skip):
            continue
        report["modules"] += 1
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            if pruned_away(exc):
                report["broken"].append(f"import {info.name}: {type(exc).__name__}: {exc}")
report["seconds"] = round(time.time() - t0, 1)
report["versions"] = {m.__name__: m.__version__ for m in (np, scipy, sklearn, joblib)}
print("FIT_CHECK_REPORT " + json.dumps(report))
"""


def layer_python() -> Path:
    """The layer's runtime Python (3.13, as in template.yaml) on this machine: the one `sam build` uses."""
    from test_tools import sam_env  # lazy: test_tools imports this module

    found = shutil.which(f"python{LAYER_PYTHON}", path=sam_env()["PATH"])
    if found is None:
        missing(f"the fit check needs a Python {LAYER_PYTHON} on PATH (none found, pyenv included)")
    return Path(found)


def pruned_tree_for_this_machine(python: Path) -> Path:
    """The ml layer built by layers/ml/Makefile for this machine's platform, cached by its inputs.

    Same requirements, same prune.py and same Python version as the arm64 layer, so the same package versions."""
    python_version = LAYER_PYTHON
    target_platform = f"manylinux_2_28_{platform.machine()}"
    digest = hashlib.sha256(f"{target_platform} {python_version}\n".encode())
    for name in ("requirements.txt", "prune.py", "Makefile"):
        digest.update((ML_LAYER_SRC / name).read_bytes())
    key = digest.hexdigest()[:16]
    tree = CHECK_CACHE / key / "python"
    if tree.is_dir():
        return tree
    CHECK_CACHE.mkdir(parents=True, exist_ok=True)
    for stale in CHECK_CACHE.iterdir():
        if stale.is_dir() and re.fullmatch(r"[0-9a-f]{16}", stale.name):
            shutil.rmtree(stale, ignore_errors=True)
    scratch = CHECK_CACHE / f"{key}.tmp-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    proc = subprocess.run(
        [
            "make", "-s", "-C", str(ML_LAYER_SRC), "build-MlLayer", f"ARTIFACTS_DIR={scratch}",
            f"PYTHON={python}", f"PLATFORM={target_platform}", f"PYTHON_VERSION={python_version}",
        ],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    if proc.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        skip_if_offline(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    try:
        scratch.rename(CHECK_CACHE / key)
    except OSError:  # another xdist worker finished the same build first
        shutil.rmtree(scratch, ignore_errors=True)
    return tree


def test_pruned_ml_layer_still_fits() -> None:
    if shutil.which("make") is None:
        missing("make is not installed (sam build needs it too, for layers/ml/Makefile)")
    python = layer_python()
    tree = pruned_tree_for_this_machine(python)
    assert not (tree / "sklearn" / "tests").exists(), "the cached tree is not pruned"
    proc = subprocess.run(
        [python, "-I", "-S", "-c", FIT_CHECK, str(tree)],
        capture_output=True, text=True, check=False, timeout=600, cwd=tree.parent,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("FIT_CHECK_REPORT ")]
    assert lines, proc.stdout[-5000:] + proc.stderr[-5000:]
    report = json.loads(lines[-1].removeprefix("FIT_CHECK_REPORT "))
    print(f"\npruned ml layer: {report}")
    assert report["broken"] == []
    assert set(report["fits"]) == {
        "LogisticRegression", "RandomForestClassifier", "KNeighborsClassifier", "SVC", "HistGradientBoostingClassifier",
        "MLPClassifier", "Ridge", "Lasso", "GradientBoostingRegressor", "KNeighborsRegressor", "DecisionTreeRegressor",
    }  # fmt: skip
    # The sweeps are not vacuous: scikit-learn lists ~200 estimators, most fit with defaults on this data.
    assert report["estimators"] >= 150
    assert report["estimators_fitted"] >= 100
    assert report["modules"] >= 500
