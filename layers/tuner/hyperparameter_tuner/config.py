"""The tuning configuration: what to try, what to measure, and what wins.

A config file (YAML or JSON) or keyword arguments of the Python API become a validated :class:`TuningConfig`.
Errors name the key and the value at fault, in one line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .grid import ParamGrid, TrainingGrid
from .metrics import Direction, check_metric_names, default_direction
from .trainers import check_params, resolve_trainer

__all__ = [
    "DEFAULT_MAX_EXPERIMENTS",
    "MAX_CONFIG_BYTES",
    "TuningConfig",
    "build_config",
    "check_grid_size",
    "load_config",
    "load_config_text",
    "parse_config",
    "read_config_text",
]

DEFAULT_MAX_EXPERIMENTS = 10_000
DEFAULT_THREADS = 1
DEFAULT_EXPERIMENT_TIMEOUT = 900.0
MAX_CONFIG_BYTES = 256 * 1024
"""A config travels in the run record (a DynamoDB item holds at most 400 KB): large grids are products of
short lists, not one long list."""

GridSpec = dict[str, list[Any]] | list[dict[str, list[Any]]]


class TuningConfig(BaseModel):
    """A validated tuning configuration.

    Attributes
    ----------
    training_params : dict
        ``{trainer: {param: [values]}}`` or ``{trainer: [{...}, {...}]}``; trainers by scikit-learn class name,
        public ``sklearn.`` path, or registered name (classes are accepted in Python and stored by name).
    metrics : list of str
        scikit-learn scorer names recorded for every experiment.
    perf_metric : str
        One of ``metrics``; the winner is best by this metric.
    direction : {"maximize", "minimize"}, optional
        Defaults to the metric's own (``maximize`` for every scikit-learn scorer).
    target : str
        Label column for CSV data. Default ``"target"``.
    trainer_config : dict
        ``{trainer: {param: value}}`` fixed constructor arguments, not searched.
    max_concurrency : int
        Experiment batches run at once on AWS (the Map's ``MaxConcurrency``). Default 10.
    max_failure_ratio : float
        Largest share of failed experiments a run tolerates and still succeeds. Default 1.0: a run fails only
        when every experiment failed.
    batch_size : int, optional
        Experiments per trainer invocation on AWS. Default: spread the grid evenly over ``max_concurrency``
        batches, at most 100 experiments each.
    score_test : bool
        With a validation split, also score every experiment on the test split (default). ``false`` keeps the
        test split untouched for your final evaluation of the winner, and halves the scoring work.
    seed : int
        Mixed into the ``random_state`` the tuner derives for trainers that take one. Default 0.
    threads : int
        BLAS/OpenMP threads each experiment's fit and scoring may use (threadpoolctl), on every path: the same
        value gives bit-identical scores whatever the number of workers. Default 1.
    experiment_timeout : float
        Seconds one experiment (fit and scoring) may take before it is stopped and recorded FAILED
        ("timed out after N s"); the run goes on. Default 900, the longest Lambda invocation; on AWS the
        trainer's own remaining time bounds it too.
    name : str, optional
        A label for the run.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    training_params: dict[str, GridSpec] = Field(min_length=1)
    metrics: list[str] = Field(min_length=1)
    perf_metric: str
    direction: Direction | None = None
    target: str = Field(default="target", min_length=1)
    trainer_config: dict[str, dict[str, Any]] = Field(default_factory=dict)
    max_concurrency: int = Field(default=10, ge=1, le=10_000)
    max_failure_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    batch_size: int | None = Field(default=None, ge=1, le=10_000)
    score_test: bool = True
    seed: int = Field(default=0, ge=0, lt=2**32)
    threads: int = Field(default=DEFAULT_THREADS, ge=1, le=256)
    experiment_timeout: float = Field(default=DEFAULT_EXPERIMENT_TIMEOUT, gt=0, le=7 * 24 * 3600)
    name: str | None = Field(default=None, max_length=200)

    @field_validator("training_params", mode="before")
    @classmethod
    def _resolve_trainers(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        resolved: dict[str, Any] = {}
        for key, spec in value.items():
            name = resolve_trainer(key, "training_params")
            if name in resolved:
                raise ConfigError(f"training_params: trainer {name!r} is given twice")
            ParamGrid(spec, f"training_params.{name}")  # names the key and value at fault
            resolved[name] = spec
        return resolved

    @field_validator("trainer_config", mode="before")
    @classmethod
    def _resolve_trainer_config(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {resolve_trainer(key, "trainer_config"): spec for key, spec in value.items()}

    @field_validator("metrics")
    @classmethod
    def _check_metrics(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            duplicate = next(name for name in value if value.count(name) > 1)
            raise ConfigError(f"metrics: {duplicate!r} is listed twice")
        check_metric_names(value)
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> TuningConfig:
        if self.perf_metric not in self.metrics:
            raise ConfigError(f"perf_metric: {self.perf_metric!r} is not one of metrics {self.metrics}")
        for name, spec in self.training_params.items():
            for sub in _subgrids(spec):
                check_params(name, sub, f"training_params.{name}")
            fixed = self.trainer_config.get(name, {})
            clash = sorted(set(fixed) & {key for params in _subgrids(spec) for key in params})
            if clash:
                raise ConfigError(f"trainer_config.{name}.{clash[0]}: also searched in training_params.{name}")
        for name, fixed in self.trainer_config.items():
            if name not in self.training_params:
                raise ConfigError(f"trainer_config.{name}: trainer is not in training_params")
            check_params(name, fixed, f"trainer_config.{name}")
        size = len(self.to_json().encode())
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"training_params: the config is {size / 1024:.0f} KiB as JSON, over the {MAX_CONFIG_BYTES // 1024} KiB"
                " limit; express large grids as products of short value lists"
            )
        return self

    @property
    def resolved_direction(self) -> Direction:
        """The direction actually used: ``direction`` or the perf metric's default."""
        return self.direction or default_direction(self.perf_metric)

    def grid(self) -> TrainingGrid:
        """Return the :class:`TrainingGrid` of this config."""
        return TrainingGrid(self.training_params)

    def to_json(self) -> str:
        """Compact JSON that keeps key order: the order of ``training_params`` is the grid's order."""
        return json.dumps(self.model_dump(mode="json"), separators=(",", ":"))


def _subgrids(spec: GridSpec) -> Sequence[Mapping[str, Any]]:
    return spec if isinstance(spec, list) else [spec]


def _format_location(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "config"


def _describe(value: Any) -> str:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{type(value).__name__} {shown}"


def format_validation_error(exc: ValidationError, source: str) -> str:
    """Turn a pydantic error into one line naming the key and the value at fault."""
    error = exc.errors(include_url=False)[0]
    loc = [part for part in error["loc"] if part not in ("list[dict[str,list[any]]]", "dict[str,list[any]]")]
    where = _format_location(loc)
    ctx_error = error.get("ctx", {}).get("error")
    if isinstance(ctx_error, ConfigError):
        return f"{source}: {ctx_error}"
    if error["type"] == "missing":
        return f"{source}: {where}: required key is missing"
    if error["type"] == "extra_forbidden":
        return f"{source}: {where}: unknown key"
    message = error["msg"].removeprefix("Value error, ")
    return f"{source}: {where}: {message}, got {_describe(error['input'])}"


def parse_config(data: Any, source: str = "config") -> TuningConfig:
    """Validate a mapping (from a file, an event or keyword arguments) into a :class:`TuningConfig`.

    Raises
    ------
    ConfigError
        One line, prefixed with ``source``, naming the key at fault.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of settings, got {_describe(data)}")
    try:
        return TuningConfig.model_validate(dict(data))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def build_config(training_params: Any, metrics: Any, perf_metric: Any, options: Mapping[str, Any]) -> TuningConfig:
    """Validate the Python API's arguments into a :class:`TuningConfig` (``source`` "tuner" in errors)."""
    given = {"training_params": training_params, "metrics": metrics, "perf_metric": perf_metric}
    for key, value in given.items():
        if value is None:
            raise ConfigError(f"tuner: {key} is required")
    return parse_config({**given, **options}, "tuner")


def check_grid_size(config: TuningConfig, max_experiments: int = DEFAULT_MAX_EXPERIMENTS) -> int:
    """Return the number of experiments, or raise :class:`ConfigError` when it exceeds ``max_experiments``."""
    size = len(config.grid())
    if size > max_experiments:
        raise ConfigError(
            f"training_params: the grid has {size} experiments, over the cap of {max_experiments} per run"
        )
    return size


def load_config_text(text: str, source: str) -> TuningConfig:
    """Parse YAML or JSON text (JSON is YAML) and validate it."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}:{where}: invalid YAML/JSON ({problem})") from None
    if data is None:
        raise ConfigError(f"{source}: the config is empty")
    return parse_config(data, source)


def load_config(path: str | Path) -> TuningConfig:
    """Read and validate a YAML or JSON config file.

    Raises
    ------
    ConfigError
        If the file is missing, unreadable, not YAML/JSON, or invalid (naming the key).
    """
    return load_config_text(read_config_text(path), str(path))


def read_config_text(path: str | Path) -> str:
    """Return a config file's text, or raise :class:`ConfigError` naming the file."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc})") from None
