"""hyperparameter-tuner: tune scikit-learn models over a grid, locally or on AWS, with every model saved and
every experiment tracked.

The public API is re-exported here; modules are private implementation details unless documented.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import BaseHyperparameterTuner
    from .champion import champion_history, load_champion
    from .config import TuningConfig, load_config, parse_config
    from .data import SplitData, load_split
    from .errors import ConfigError, DataError, IntegrityError, NotFoundError, RunFailedError, StoreError, TunerError
    from .grid import ParamGrid, TrainingGrid, expand_grid
    from .local.engine import LocalTuner, open_store
    from .ports import MetadataTracker, MetricsTracker, ModelTrainer, ResourceVersionControl
    from .records import ArtifactRef, Experiment, ExperimentSpec, ExperimentStatus, ModelVersion, Run, RunStatus
    from .results import RunResult
    from .trainers import register_trainer

# Names resolve on first use (PEP 562), so a Lambda importing one submodule pays only for what it uses.
_EXPORTS = {
    "BaseHyperparameterTuner": "base",
    "champion_history": "champion", "load_champion": "champion",
    "TuningConfig": "config", "load_config": "config", "parse_config": "config",
    "SplitData": "data", "load_split": "data",
    "ConfigError": "errors", "DataError": "errors", "IntegrityError": "errors", "NotFoundError": "errors",
    "StoreError": "errors", "TunerError": "errors",
    "ParamGrid": "grid", "TrainingGrid": "grid", "expand_grid": "grid",
    "LocalTuner": "local.engine", "RunFailedError": "errors", "open_store": "local.engine",
    "MetadataTracker": "ports", "MetricsTracker": "ports", "ModelTrainer": "ports", "ResourceVersionControl": "ports",
    "ArtifactRef": "records", "Experiment": "records", "ExperimentSpec": "records", "ExperimentStatus": "records",
    "ModelVersion": "records", "Run": "records", "RunStatus": "records",
    "RunResult": "results",
    "register_trainer": "trainers",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hyperparameter_tuner' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__version__ = "0.1.0"

__all__ = [
    "ArtifactRef",
    "BaseHyperparameterTuner",
    "ConfigError",
    "DataError",
    "Experiment",
    "ExperimentSpec",
    "ExperimentStatus",
    "IntegrityError",
    "LocalTuner",
    "MetadataTracker",
    "MetricsTracker",
    "ModelTrainer",
    "ModelVersion",
    "NotFoundError",
    "ParamGrid",
    "ResourceVersionControl",
    "Run",
    "RunFailedError",
    "RunResult",
    "RunStatus",
    "SplitData",
    "StoreError",
    "TrainingGrid",
    "TunerError",
    "TuningConfig",
    "__version__",
    "champion_history",
    "expand_grid",
    "load_champion",
    "load_config",
    "load_split",
    "open_store",
    "parse_config",
    "register_trainer",
]
