"""``_sklearn_catalog.json`` (the allow-list and scorer names the light Lambdas use without scikit-learn) is exactly
what its generator, ``python -m hyperparameter_tuner._catalog``, makes of the installed scikit-learn.

The comparison is over whatever the generator produces, so a field added to the catalog is covered as soon as the
generator writes it; a stale file fails with the command that regenerates it.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
import sklearn
from sklearn.metrics import get_scorer_names
from sklearn.utils.discovery import all_estimators

from hyperparameter_tuner._catalog import build_catalog
from hyperparameter_tuner.trainers import CATALOG_PATH

REGENERATE = "stale: run `.venv/bin/python -m hyperparameter_tuner._catalog` and commit the file"


@pytest.fixture(scope="module")
def live() -> dict[str, Any]:
    """The catalog generated from the scikit-learn installed here, as JSON would carry it."""
    generated: dict[str, Any] = json.loads(json.dumps(build_catalog()))
    return generated


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    stored: dict[str, Any] = json.loads(CATALOG_PATH.read_text())
    return stored


def test_snapshot_has_every_field_the_generator_writes(live: dict[str, Any], snapshot: dict[str, Any]) -> None:
    assert sorted(snapshot) == sorted(live), REGENERATE


def test_snapshot_equals_the_live_registry_field_by_field(live: dict[str, Any], snapshot: dict[str, Any]) -> None:
    for field in live:
        if isinstance(live[field], dict):
            missing = sorted(set(live[field]) - set(snapshot.get(field, {})))
            extra = sorted(set(snapshot.get(field, {})) - set(live[field]))
            changed = sorted(k for k in set(live[field]) & set(snapshot.get(field, {}))
                             if live[field][k] != snapshot[field][k])
            assert (missing, extra, changed) == ([], [], []), f"{field}: {REGENERATE}"
        else:
            assert snapshot.get(field) == live[field], f"{field}: {REGENERATE}"


def test_snapshot_file_is_byte_for_byte_what_the_generator_writes(live: dict[str, Any]) -> None:
    # Regenerating must be a no-op: same content, same formatting (python -m hyperparameter_tuner._catalog).
    assert CATALOG_PATH.read_text() == json.dumps(live, indent=1, sort_keys=True) + "\n", REGENERATE


def test_the_generator_reads_the_live_registry_not_the_snapshot(live: dict[str, Any]) -> None:
    # Independent of the generator: scikit-learn's own version, scorer names, estimator list and parameter names.
    assert live["sklearn_version"] == sklearn.__version__
    assert sorted(live["scorers"]) == sorted(get_scorer_names())
    # less the experimental ones, which join the registry only after an `enable_*` import somewhere in the process
    experimental = {"HalvingGridSearchCV", "HalvingRandomSearchCV", "IterativeImputer"}
    estimators = {name: cls for name, cls in all_estimators()
                  if not inspect.isabstract(cls) and name not in experimental}
    assert set(live["estimators"]) == set(estimators)
    for name, cls in estimators.items():
        assert set(cls._get_param_names()) <= set(live["estimators"][name]["params"]), name
    assert live["estimators"]["LogisticRegression"]["path"] == "sklearn.linear_model.LogisticRegression"
