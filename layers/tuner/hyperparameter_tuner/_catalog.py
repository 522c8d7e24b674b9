"""Write ``_sklearn_catalog.json``: the trainer allow-list and scorer names, for interpreters without sklearn.

Run ``python -m hyperparameter_tuner._catalog`` after upgrading scikit-learn; a test checks the file against
the installed version.
"""

from __future__ import annotations

import json
from typing import Any

from .trainers import CATALOG_PATH, _live_registry


def build_catalog() -> dict[str, Any]:
    """Return the catalog of the installed scikit-learn as a JSON-ready dict."""
    import sklearn
    from sklearn.metrics import get_scorer_names

    return {
        "sklearn_version": sklearn.__version__,
        "estimators": {
            name: {"path": info.path, "params": sorted(info.params), "accepts_any": info.accepts_any}
            for name, (_, info) in sorted(_live_registry().items())
        },
        "scorers": sorted(get_scorer_names()),
    }


if __name__ == "__main__":
    CATALOG_PATH.write_text(json.dumps(build_catalog(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {CATALOG_PATH}")
