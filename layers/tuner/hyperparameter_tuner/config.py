"""The tuning configuration: what to try, what to measure, and what wins.

A config file (YAML or JSON) or keyword arguments of the Python API become a validated :class:`TuningConfig`.
Errors name the key and the value at fault, in one line.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from .data import DEFAULT_MAX_DATA_BYTES, LabelSummary, SplitData
from .errors import ConfigError, DataError
from .grid import ParamGrid, TrainingGrid, check_json_value, decode_tagged, encode_tagged
from .metrics import (
    Direction,
    check_direction,
    check_labels,
    check_metric_names,
    check_metrics_for_trainer,
    default_direction,
)
from .search import Rung, SampledCandidates, check_halving_resource, halving_schedule, parse_space
from .trainers import check_params, check_required_params, resolve_trainer, trainer_info

__all__ = [
    "DEFAULT_MAX_DATA_BYTES",
    "DEFAULT_MAX_EXPERIMENTS",
    "MAX_CONFIG_BYTES",
    "MAX_YAML_EXPANSION",
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
short lists, not one long list. A config file is read up to this many bytes (plus one, to know it is over)."""
MAX_YAML_EXPANSION = 4 * MAX_CONFIG_BYTES
"""Upper bound on a YAML document's size once its aliases are expanded (scalar characters plus one per node).
A document without aliases stays well under it; an alias bomb ("billion laughs") is refused before it grows."""

GridSpec = dict[str, list[Any] | dict[str, Any]] | list[dict[str, list[Any] | dict[str, Any]]]

_HALVING_KEYS = ("factor", "resource", "min_resources", "max_resources")


class SearchConfig(BaseModel):
    """How candidates are chosen: every cell of the grid, random draws, or successive halving.

    Attributes
    ----------
    strategy : {"grid", "random", "halving"}
        ``grid`` tries every combination of the value lists; ``random`` draws ``n_iter`` candidates per trainer
        with ``ParameterSampler(space, n_iter, random_state=seed)`` (values may be distributions);
        ``halving`` runs ``HalvingGridSearchCV``'s rungs over the grid (or over ``n_iter`` draws).
    n_iter : int, optional
        Candidates drawn per trainer: required with ``random``, optional with ``halving``.
    factor : float
        Halving: ``1 / factor`` of the candidates go on to the next rung, which has ``factor`` times the
        resources. Default 3.
    resource : str
        Halving: ``n_samples`` (rows of the training split) or a parameter every trainer accepts (e.g.
        ``n_estimators``). Default ``n_samples``.
    min_resources : int or {"exhaust", "smallest"}
        Halving: resources of the first rung, as in scikit-learn. Default ``exhaust``.
    max_resources : int or "auto"
        Halving: the most resources a rung uses; ``auto`` is the training split's rows. Default ``auto``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Literal["grid", "random", "halving"] = "grid"
    n_iter: int | None = Field(default=None, ge=1, le=DEFAULT_MAX_EXPERIMENTS)
    factor: float = Field(default=3, gt=1, allow_inf_nan=False)
    resource: str = Field(default="n_samples", min_length=1)
    min_resources: int | Literal["exhaust", "smallest"] = "exhaust"
    max_resources: int | Literal["auto"] = "auto"

    @field_validator("n_iter", "min_resources", "max_resources", mode="before")
    @classmethod
    def _strict_int(cls, value: Any, info: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and value.is_integer()):
            raise ConfigError(f"search.{info.field_name}: expected an integer, got {_describe(value)}")
        if isinstance(value, int) and value < 1:
            raise ConfigError(f"search.{info.field_name}: expected an integer >= 1, got {value}")
        return value

    @model_validator(mode="after")
    def _check_keys(self) -> SearchConfig:
        given = self.model_fields_set
        if self.strategy == "random" and self.n_iter is None:
            raise ConfigError("search.n_iter: required with strategy random (how many candidates to draw per trainer)")
        if self.strategy == "grid" and "n_iter" in given:
            raise ConfigError("search.n_iter: only used with strategy random or halving (a grid tries every cell)")
        if self.strategy != "halving":
            extra = [key for key in _HALVING_KEYS if key in given]
            if extra:
                raise ConfigError(f"search.{extra[0]}: only used with strategy halving, not {self.strategy}")
        return self

    def normalized(self) -> dict[str, Any]:
        """The block as runs report it: ``strategy`` and the keys that strategy uses (defaults filled in)."""
        if self.strategy == "grid":
            return {"strategy": "grid"}
        if self.strategy == "random":
            return {"strategy": "random", "n_iter": self.n_iter}
        factor: float | int = int(self.factor) if float(self.factor).is_integer() else self.factor
        return {"strategy": "halving", "n_iter": self.n_iter, "factor": factor, "resource": self.resource,
                "min_resources": self.min_resources, "max_resources": self.max_resources}


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
    max_data_bytes : int
        Largest split accepted, in bytes of in-memory arrays (read from the ``.npz`` array headers, or the CSV
        files' sizes) before anything is loaded. Default 1 GiB.
    cv : int, optional
        Cross-validate each experiment on the training split with ``K`` folds, as ``GridSearchCV(cv=K)`` does
        (``check_cv``: ``StratifiedKFold`` for classifiers, else ``KFold``, no shuffling): ``scores.cv`` holds
        every metric's fold mean and ``scores.cv_std`` its standard deviation, and the winner is chosen by the
        fold mean. The saved model is then fit on the whole training split and scored on validation and test.
        Default: no cross-validation (the winner is chosen on validation, else test).
    name : str, optional
        A label for the run.
    promotion_margin : float
        How much better (in ``perf_metric``'s units and direction) a run's winner must be than the dataset's
        champion, both scored on the run's test split, to be promoted. Default 0: any improvement.
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
    max_data_bytes: int = Field(default=DEFAULT_MAX_DATA_BYTES, ge=1)
    cv: int | None = None
    search: SearchConfig = Field(default_factory=SearchConfig)
    name: str | None = Field(default=None, max_length=200)
    promotion_margin: float = 0.0

    @field_validator("promotion_margin", mode="before")
    @classmethod
    def _check_promotion_margin(cls, value: Any) -> Any:
        # Strict: true or "0.1" are mistakes; NaN and infinities would make every comparison meaningless.
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"promotion_margin: expected a finite number >= 0 (in perf_metric's units), got"
                              f" {_describe(value)}")
        return float(value)

    @field_validator("cv", mode="before")
    @classmethod
    def _check_cv(cls, value: Any) -> Any:
        # Strict: "3" or true are mistakes, not 3 or 1 folds.
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
            raise ConfigError(f"cv: expected an integer >= 2 (the number of folds), got {_describe(value)}")
        return value

    @field_validator("training_params", mode="before")
    @classmethod
    def _resolve_trainers(cls, value: Any) -> Any:
        value = decode_tagged(value)  # dicts with non-string keys, as the JSON dump carries them
        if not isinstance(value, Mapping):
            return value
        resolved: dict[str, Any] = {}
        for key, spec in value.items():
            name = resolve_trainer(key, "training_params")
            if name in resolved:
                raise ConfigError(f"training_params: trainer {name!r} is given twice")
            if _has_distribution(spec):
                parse_space(spec, f"training_params.{name}")  # distributions: allowed by random and halving only
            else:
                ParamGrid(spec, f"training_params.{name}")  # names the key and value at fault
            resolved[name] = spec
        return resolved

    @field_validator("trainer_config", mode="before")
    @classmethod
    def _resolve_trainer_config(cls, value: Any) -> Any:
        value = decode_tagged(value)
        if not isinstance(value, Mapping):
            return value
        resolved: dict[str, Any] = {}
        for key, fixed in value.items():
            name = resolve_trainer(key, "trainer_config")
            if isinstance(fixed, Mapping):
                for param, item in fixed.items():
                    check_json_value(item, f"trainer_config.{name}.{param}")
            resolved[name] = fixed
        return resolved

    @field_serializer("search")
    def _normalized_search(self, value: SearchConfig) -> dict[str, Any]:
        return value.normalized()  # only the keys the strategy uses: parsing the dump again gives the same config

    @field_serializer("training_params", "trainer_config", when_used="json")
    def _tag_keys(self, value: Any) -> Any:
        return encode_tagged(value)  # decoded again by the validators above: a JSON round trip is exact

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
        if self.direction is not None:
            check_direction(self.perf_metric, self.direction)
        self._check_search()
        for name, spec in self.training_params.items():
            for sub in _subgrids(spec):
                check_params(name, _as_lists(sub), f"training_params.{name}")
            fixed = self.trainer_config.get(name, {})
            clash = sorted(set(fixed) & {key for params in _subgrids(spec) for key in params})
            if clash:
                raise ConfigError(f"trainer_config.{name}.{clash[0]}: also searched in training_params.{name}")
        for name, fixed in self.trainer_config.items():
            if name not in self.training_params:
                raise ConfigError(f"trainer_config.{name}: trainer is not in training_params")
            check_params(name, fixed, f"trainer_config.{name}")
        for name, spec in self.training_params.items():
            fixed = self.trainer_config.get(name, {})
            for sub in _subgrids(spec):
                check_required_params(name, {*fixed, *sub}, f"training_params.{name}")
            settings = [{**{key: [value] for key, value in fixed.items()}, **_as_lists(sub)}
                        for sub in _subgrids(spec)]
            check_metrics_for_trainer(name, self.metrics, f"training_params.{name}", settings)
        size = len(self.to_json().encode())
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"training_params: the config is {size / 1024:.0f} KiB as JSON, over the {MAX_CONFIG_BYTES // 1024} KiB"
                " limit; express large grids as products of short value lists"
            )
        return self

    def _check_search(self) -> None:
        search = self.search
        if search.strategy == "grid" or (search.strategy == "halving" and search.n_iter is None):
            for name, spec in self.training_params.items():
                if _has_distribution(spec):
                    param = next(key for sub in _subgrids(spec) for key, value in sub.items()
                                 if isinstance(value, Mapping))
                    needs = "strategy random, or halving with n_iter" if search.strategy == "halving" else (
                        "search: {strategy: random, n_iter: N}")
                    raise ConfigError(f"training_params.{name}.{param}: a distribution needs {needs}; "
                                      f"strategy {search.strategy} tries lists of values only")
        if search.strategy != "halving":
            return
        if search.resource != "n_samples":
            for name, spec in self.training_params.items():
                info = trainer_info(name)
                searched = {key for sub in _subgrids(spec) for key in sub}
                check_halving_resource(search.resource, searched, None if info.accepts_any else info.params)
                if search.resource in self.trainer_config.get(name, {}):
                    raise ConfigError(f"trainer_config.{name}.{search.resource}: is the halving resource, set per"
                                      " rung; remove it")
            if search.max_resources == "auto":
                raise ConfigError(f"search.max_resources: 'auto' needs resource 'n_samples'; give an integer for "
                                  f"resource {search.resource!r}")
        # What can be checked without the data: a parameter resource's schedule is fully known now.
        if search.resource != "n_samples":
            self.halving_rungs(0, 0)

    @cached_property
    def _candidates(self) -> TrainingGrid | SampledCandidates:
        if self.search.n_iter is not None:
            return SampledCandidates(self.training_params, self.search.n_iter, self.seed)
        return TrainingGrid(self.training_params)  # type: ignore[arg-type]  # lists only here

    def halving_rungs(self, n_samples_train: int, n_classes: int) -> list[Rung]:
        """The rungs of this config's successive halving on a training split of ``n_samples_train`` rows and
        ``n_classes`` distinct labels: ``HalvingGridSearchCV``'s ``n_candidates_`` and ``n_resources_`` (an
        empty list unless ``search.strategy`` is ``halving``).

        Raises
        ------
        ConfigError
            Where scikit-learn would refuse the settings on that split (``min_resources_ > max_resources_``, a
            rung with more rows than the split, an empty fold).
        """
        if self.search.strategy != "halving":
            return []
        classifier = any(trainer_info(name).kind == "classifier" for name in self.training_params)
        search = self.search
        return halving_schedule(
            len(self.grid()), factor=search.factor, min_resources=search.min_resources,
            max_resources=search.max_resources, resource=search.resource, n_samples_train=n_samples_train,
            n_classes=n_classes, cv=self.cv, is_classifier=classifier, location="search")

    def split_rungs(self, split: SplitData) -> list[Rung]:
        """:meth:`halving_rungs` for a loaded split."""
        if self.search.strategy != "halving":
            return []
        labels = split.y_train.tolist() if hasattr(split.y_train, "tolist") else list(split.y_train)
        try:
            return self.halving_rungs(len(labels), len(set(labels)))
        except ConfigError as exc:
            raise ConfigError(f"{split.source}: {exc}") from None

    @property
    def resolved_direction(self) -> Direction:
        """The direction actually used: ``direction`` or the perf metric's default."""
        return self.direction or default_direction(self.perf_metric)

    def grid(self) -> TrainingGrid | SampledCandidates:
        """Return this config's candidates, indexable: ``grid()[i]`` is ``(trainer, params)``.

        The :class:`TrainingGrid` of ``training_params`` (duplicate candidates dropped, see :attr:`notes`), or
        with ``search.n_iter`` the :class:`~hyperparameter_tuner.search.SampledCandidates` drawn per trainer
        (its length is known without scipy; indexing draws the candidates, which needs scipy).
        """
        return self._candidates

    def check_labels(self, labels: Mapping[str, LabelSummary], source: str) -> None:
        """Refuse a split whose labels cannot work with this config's trainers and metrics (one class, float
        labels for a classifier, mixed types, a two-class metric on more classes); see
        :func:`~hyperparameter_tuner.metrics.check_labels`.

        Raises
        ------
        DataError, ConfigError
            One line naming the split and the array, or the metric.
        """
        check_labels(list(self.training_params), self.metrics, labels, source)

    def check_split(self, split: SplitData) -> None:
        """:meth:`check_labels` on a loaded split (what every local path calls before a run is recorded), with
        ``cv`` :meth:`check_folds` on its training labels, and with halving the rungs it allows
        (:meth:`split_rungs`)."""
        self.check_labels(split.labels(), split.source)
        self.check_folds(split.y_train, split.source)
        self.split_rungs(split)

    def check_folds(self, y_train: Any, source: str) -> None:
        """Refuse ``cv`` folds the training split cannot fill: more folds than rows, or, with a classifier among
        the trainers, more folds than the rarest class of ``y_train`` has rows (``StratifiedKFold`` would then
        leave that class out of some folds, or fail). Does nothing without ``cv``.

        Raises
        ------
        DataError
            One line naming ``cv``, the split and the count at fault.
        """
        if self.cv is None:
            return
        values = y_train.tolist() if hasattr(y_train, "tolist") else list(y_train)
        if self.cv > len(values):
            raise DataError(f"{source}: cv: {self.cv} folds need at least {self.cv} rows in y_train,"
                            f" it has {len(values)}")
        classifiers = [name for name in self.training_params if trainer_info(name).kind == "classifier"]
        if not classifiers:
            return
        counts = Counter(values)
        label, count = min(counts.items(), key=lambda item: item[1])
        if count < self.cv:
            raise DataError(f"{source}: cv: {self.cv} stratified folds (for {classifiers[0]}) need at least"
                            f" {self.cv} rows of each class in y_train; class {label!r} has {count}")

    def eval_split(self, data: SplitData) -> str:
        """The split the winner is chosen on: ``"cv"`` (fold means) with ``cv``, else ``data.eval_split``."""
        return "cv" if self.cv is not None else data.eval_split

    @property
    def notes(self) -> list[str]:
        """Things worth telling the user that are not errors, one line each: duplicate values and overlapping
        sub-grids, which are deduplicated (each candidate is tried once and counted once)."""
        return self.grid().notes

    def to_json(self) -> str:
        """Compact JSON that keeps key order: the order of ``training_params`` is the grid's order."""
        return json.dumps(self.model_dump(mode="json"), separators=(",", ":"))


def _subgrids(spec: GridSpec) -> Sequence[Mapping[str, Any]]:
    return spec if isinstance(spec, list) else [spec]


def _has_distribution(spec: Any) -> bool:
    subs = spec if isinstance(spec, list) else [spec]
    return any(isinstance(sub, Mapping) and any(isinstance(value, Mapping) for value in sub.values()) for sub in subs)


def _as_lists(sub: Mapping[str, Any]) -> dict[str, Any]:
    """A subspace with each distribution replaced by its bounds, so parameter checks see example values."""
    out: dict[str, Any] = {}
    for key, value in sub.items():
        if isinstance(value, Mapping):
            high = value.get("high")
            if value.get("distribution") == "randint" and isinstance(high, int):
                high -= 1  # randint's high is exclusive
            out[key] = [value.get("low"), high]
        else:
            out[key] = value
    return out


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


class _DuplicateKeyError(yaml.YAMLError):
    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message, self.mark = message, mark


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping and alias expansions that grow past
    :data:`MAX_YAML_EXPANSION` (an alias bomb is refused from its node graph, before anything is built)."""

    def construct_document(self, node: yaml.Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # "<<: *base" merges; explicit keys override merged ones, as YAML intends
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # an unhashable key: the base constructor names it
                if first is not None:
                    raise _DuplicateKeyError(
                        f"key {key!r} is given twice (first on line {first + 1}); the second would silently"
                        " replace the first", key_node.start_mark)
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _check_expansion(root: yaml.Node) -> None:
    """Raise when the document, with every alias expanded, is larger than :data:`MAX_YAML_EXPANSION`.

    Sizes are memoised per node, so the check is linear in the document's own nodes whatever the expansion.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(f"line {node.start_mark.line + 1}: an alias refers to the node that contains it")
        active.add(key)
        if isinstance(node, yaml.ScalarNode):
            total = 1 + len(node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        else:
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        if total > MAX_YAML_EXPANSION:
            raise ConfigError(
                f"line {node.start_mark.line + 1}: aliases expand the config past {MAX_YAML_EXPANSION // 1024} KiB"
                " (a YAML alias bomb?); write the values out"
            )
        sizes[key] = total
        return total

    size(root)


def load_config_text(text: str, source: str) -> TuningConfig:
    """Parse YAML or JSON text (JSON is YAML) and validate it.

    The text is capped at :data:`MAX_CONFIG_BYTES`, a key given twice in one mapping is an error (naming the key
    and its line), and YAML aliases may not expand the document past :data:`MAX_YAML_EXPANSION`.
    """
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: the config is {size} bytes, over the {MAX_CONFIG_BYTES // 1024} KiB limit")
    try:
        data = yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: the config is nested too deeply") from None
    except _DuplicateKeyError as exc:
        mark = exc.mark
        raise ConfigError(f"{source}: line {mark.line + 1}, column {mark.column + 1}: {exc.message}") from None
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
    """Return a config file's text, or raise :class:`ConfigError` naming the file.

    At most ``MAX_CONFIG_BYTES + 1`` bytes are read, so ``/dev/zero`` or a huge file ends at once with one line.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: the config is over the {MAX_CONFIG_BYTES // 1024} KiB limit")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read the config (not UTF-8: {exc.reason} at byte {exc.start})") from None
