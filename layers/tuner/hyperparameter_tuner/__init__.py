"""hyperparameter-tuner: tune scikit-learn models over a grid, locally or on AWS, with every model saved and
every experiment tracked.

The public API is re-exported here; modules are private implementation details unless documented.
"""

from __future__ import annotations

from .base import BaseHyperparameterTuner
from .config import TuningConfig, load_config, parse_config
from .data import SplitData, load_split
from .errors import ConfigError, DataError, IntegrityError, NotFoundError, StoreError, TunerError
from .grid import ParamGrid, TrainingGrid, expand_grid
from .local.engine import LocalTuner, RunFailedError, open_store
from .ports import MetadataTracker, MetricsTracker, ModelTrainer, ResourceVersionControl
from .records import ArtifactRef, Experiment, ExperimentSpec, ExperimentStatus, ModelVersion, Run, RunStatus
from .results import RunResult
from .trainers import register_trainer

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
    "expand_grid",
    "load_config",
    "load_split",
    "open_store",
    "parse_config",
    "register_trainer",
]
