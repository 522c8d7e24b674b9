"""The trainer allow-list: the only way a name in a config becomes a class.

A trainer is resolved from scikit-learn's own estimator registry (``sklearn.utils.discovery.all_estimators``)
by class name or public dotted path (``sklearn.linear_model.LogisticRegression``), or from trainers registered
explicitly in Python with :func:`register_trainer`. Nothing here ever imports a module named by a config.

Where scikit-learn is not installed (the fan-out and reducer Lambdas), names and parameters are checked
against ``_sklearn_catalog.json``, a snapshot of the same registry written by ``python -m
hyperparameter_tuner._catalog`` and tested against the live registry.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import inspect
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError

__all__ = [
    "FILE_PARAMS",
    "TrainerInfo",
    "check_params",
    "check_required_params",
    "get_trainer_class",
    "register_trainer",
    "resolve_trainer",
    "trainer_info",
]

CATALOG_PATH = Path(__file__).with_name("_sklearn_catalog.json")

T = TypeVar("T", bound=type)

FILE_PARAMS: dict[str, tuple[Any, str]] = {
    "memory": (None, "makes the estimator cache to (and read from) a folder on disk"),
    "input": ("content", "makes the estimator read the files its data names"),
}
"""Constructor parameters that make an estimator write or read files, with the only value allowed (the default)."""

KINDS = ("classifier", "regressor", "clusterer", "outlier_detector", "transformer", "other")


@dataclass(frozen=True)
class TrainerInfo:
    """What the tuner knows about a trainer without instantiating it.

    Attributes
    ----------
    name : str
        Canonical name used in configs, ids and records (``LogisticRegression``).
    path : str
        Public dotted path (``sklearn.linear_model.LogisticRegression``) or the registered class's path.
    params : frozenset of str
        Constructor parameters.
    accepts_any : bool
        The constructor takes ``**kwargs``, so parameter names cannot be checked up front.
    kind : str
        ``classifier``, ``regressor``, ``clusterer``, ``outlier_detector``, ``transformer``, ``other`` (from
        scikit-learn's registry), or ``unknown`` (a registered trainer without a scikit-learn mixin).
    required : frozenset of str
        Constructor parameters without a default (``Pipeline``'s ``steps``): a config must supply them.
    methods : frozenset of str
        Which of ``predict``, ``predict_proba`` and ``decision_function`` the class defines (meta-estimators
        define them conditionally on their inner estimator, so having one is necessary, not sufficient).
    conditional : dict
        Methods the class defines but a default instance lacks, with the ``(parameter, value)`` settings that
        enable each (``SVC``: ``predict_proba`` only with ``probability=True``).
    """

    name: str
    path: str
    params: frozenset[str]
    accepts_any: bool = False
    kind: str = "unknown"
    required: frozenset[str] = frozenset()
    methods: frozenset[str] = frozenset({"predict", "predict_proba", "decision_function"})
    conditional: Mapping[str, tuple[tuple[str, Any], ...]] = field(default_factory=dict)

    @property
    def takes_random_state(self) -> bool:
        """Whether the trainer has a ``random_state`` parameter the tuner can seed."""
        return "random_state" in self.params


_CUSTOM: dict[str, tuple[type, TrainerInfo]] = {}


def _public_path(cls: type) -> str:
    parts = []
    for part in cls.__module__.split("."):
        if part.startswith("_"):
            break
        parts.append(part)
    return ".".join([*parts, cls.__name__])


_METHODS = ("predict", "predict_proba", "decision_function")


def _conditional_methods(cls: type) -> dict[str, tuple[tuple[str, Any], ...]]:
    """Methods ``cls`` defines that a default instance lacks, and the single settings that enable each.

    Tried over the options scikit-learn's own parameter constraints list (booleans and string options).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated classes warn when built
            default = cls()
    except Exception:  # noqa: BLE001 - required arguments (meta-estimators): nothing to learn here
        return {}
    missing = [m for m in _METHODS if callable(getattr(cls, m, None)) and not hasattr(default, m)]
    if not missing:
        return {}
    from sklearn.utils._param_validation import StrOptions

    options: list[tuple[str, Any]] = []
    for param, constraints in sorted(getattr(cls, "_parameter_constraints", {}).items()):
        for constraint in constraints:
            if constraint == "boolean":
                options += [(param, True), (param, False)]
            elif isinstance(constraint, StrOptions):
                options += [(param, value) for value in sorted(constraint.options)
                            if value not in getattr(constraint, "deprecated", ())]
    found: dict[str, tuple[tuple[str, Any], ...]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated options warn when set
        for method in missing:
            enabling = []
            for param, value in options:
                try:
                    instance = cls(**{param: value})
                except Exception:  # noqa: BLE001, S112 - an option the constructor refuses enables nothing
                    continue
                if hasattr(instance, method):
                    enabling.append((param, value))
            found[method] = tuple(enabling)
    return found


def _info_from_class(name: str, cls: type, path: str, kind: str | None = None) -> TrainerInfo:
    params: set[str] = set()
    required: set[str] = set()
    accepts_any = False
    init = cls.__init__  # type: ignore[misc]
    for param in list(inspect.signature(init).parameters.values())[1:]:
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            accepts_any = True
        elif param.kind is not inspect.Parameter.VAR_POSITIONAL:
            params.add(param.name)
            if param.default is inspect.Parameter.empty:
                required.add(param.name)
    return TrainerInfo(name=name, path=path, params=frozenset(params), accepts_any=accepts_any,
                       kind=kind or _mixin_kind(cls), required=frozenset(required),
                       methods=frozenset(method for method in _METHODS if callable(getattr(cls, method, None))),
                       conditional=_conditional_methods(cls) if kind is not None else {})


def _mixin_kind(cls: type) -> str:
    """The kind of a registered class, from scikit-learn's mixins (``unknown`` without one, or without sklearn)."""
    try:
        from sklearn.base import ClassifierMixin, ClusterMixin, OutlierMixin, RegressorMixin
    except ImportError:
        return "unknown"
    for mixin, kind in ((ClassifierMixin, "classifier"), (RegressorMixin, "regressor"), (ClusterMixin, "clusterer"),
                        (OutlierMixin, "outlier_detector")):
        if issubclass(cls, mixin):
            return kind
    return "unknown"


def _registry_kinds() -> dict[str, str]:
    from sklearn.base import OutlierMixin
    from sklearn.utils.discovery import all_estimators

    kinds: dict[str, str] = {}
    for type_filter, kind in (("classifier", "classifier"), ("regressor", "regressor"), ("cluster", "clusterer")):
        for name, _ in all_estimators(type_filter=type_filter):
            kinds.setdefault(name, kind)
    for name, cls in all_estimators():
        if issubclass(cls, OutlierMixin):
            kinds.setdefault(name, "outlier_detector")
    for name, _ in all_estimators(type_filter="transformer"):
        kinds.setdefault(name, "transformer")
    return kinds


# Estimators that join scikit-learn's registry only once a `sklearn.experimental.enable_*` module was imported by
# someone: left out, so the allow-list (and its snapshot) never depends on what a process happened to import.
_EXPERIMENTAL = frozenset({"HalvingGridSearchCV", "HalvingRandomSearchCV", "IterativeImputer"})


@cache
def _live_registry() -> dict[str, tuple[type, TrainerInfo]]:
    from sklearn.utils.discovery import all_estimators

    kinds = _registry_kinds()
    return {
        name: (cls, _info_from_class(name, cls, _public_path(cls), kinds.get(name, "other")))
        for name, cls in all_estimators()
        if not inspect.isabstract(cls) and name not in _EXPERIMENTAL
    }


@cache
def _catalog_registry() -> dict[str, TrainerInfo]:
    catalog = _catalog()
    return {
        name: TrainerInfo(name=name, path=entry["path"], params=frozenset(entry["params"]),
                          accepts_any=entry["accepts_any"], kind=entry["kind"],
                          required=frozenset(entry["required"]), methods=frozenset(entry["methods"]),
                          conditional={method: tuple((param, value) for param, value in settings)
                                       for method, settings in entry["conditional"].items()})
        for name, entry in catalog["estimators"].items()
    }


@cache
def _catalog() -> dict[str, Any]:
    catalog: dict[str, Any] = json.loads(CATALOG_PATH.read_text())
    return catalog


@cache
def _installed_sklearn_version() -> str | None:
    try:
        return importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        return None


def _catalog_is_current() -> bool:
    # Without sklearn (light Lambdas) the catalog is all there is; with a different version, use the live registry.
    version = _installed_sklearn_version()
    return version is None or version == _catalog()["sklearn_version"]


def _sklearn_infos() -> dict[str, TrainerInfo]:
    if _catalog_is_current():
        return _catalog_registry()
    return {name: info for name, (_, info) in _live_registry().items()}


def register_trainer(name: str | None = None, trainer: type | None = None) -> Any:
    """Add a custom trainer to the allow-list.

    Use it as a call, ``register_trainer("MyModel", MyModel)``, or as a class decorator,
    ``@register_trainer()`` / ``@register_trainer("MyModel")``. The class must follow the scikit-learn
    estimator API (``fit``, ``predict``, ``get_params``/``set_params``).

    Parameters
    ----------
    name : str, optional
        Name used in configs. Defaults to the class name. Must not shadow a scikit-learn estimator.
    trainer : type, optional
        The trainer class. When omitted, a decorator is returned.

    Returns
    -------
    type or callable
        The class itself, or a decorator that registers and returns it.

    Raises
    ------
    ConfigError
        If the name is taken by a scikit-learn estimator or another registered class, or the class lacks
        ``fit``.
    """

    def _register(cls: T) -> T:
        key = name or cls.__name__
        if not isinstance(cls, type) or not callable(getattr(cls, "fit", None)):
            raise ConfigError(f"register_trainer: {cls!r} is not a class with a fit() method")
        if key in _sklearn_infos():
            raise ConfigError(f"register_trainer: {key!r} is a scikit-learn estimator name; choose another name")
        existing = _CUSTOM.get(key)
        if existing is not None and existing[0] is not cls:
            raise ConfigError(f"register_trainer: {key!r} is already registered to {existing[1].path}")
        _CUSTOM[key] = (cls, _info_from_class(key, cls, f"{cls.__module__}.{cls.__qualname__}"))
        return cls

    if trainer is not None:
        return _register(trainer)
    return _register


def _unknown(key: str, where: str) -> ConfigError:
    names = [*_sklearn_infos(), *_CUSTOM]
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], names, n=1, cutoff=0.8)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(
        f"{where}: unknown trainer {key!r}: not a scikit-learn estimator or a registered trainer{hint}"
    )


def resolve_trainer(key: str | type, where: str = "training_params") -> str:
    """Return the canonical name of a trainer given by name, public path or class.

    Parameters
    ----------
    key : str or type
        A scikit-learn estimator class name (``"SVC"``), its public path (``"sklearn.svm.SVC"``), a registered
        custom trainer's name, or (Python API only) a class object.
    where : str
        Location used in error messages.

    Returns
    -------
    str
        The canonical trainer name.

    Raises
    ------
    ConfigError
        If the name is not on the allow-list. No import is attempted for an unknown name.

    Examples
    --------
    >>> resolve_trainer("sklearn.linear_model.LogisticRegression")
    'LogisticRegression'
    """
    if isinstance(key, type):
        return _resolve_class(key)
    if not isinstance(key, str) or not key:
        raise ConfigError(f"{where}: trainer names must be non-empty strings, got {key!r}")
    if key in _CUSTOM:
        return key
    infos = _sklearn_infos()
    if key in infos:
        return key
    if key.startswith("sklearn."):
        short = key.rsplit(".", 1)[-1]
        if short in infos and infos[short].path == key:
            return short
    raise _unknown(key, where)


def _resolve_class(cls: type) -> str:
    for registered_name, (registered, _) in _CUSTOM.items():
        if registered is cls:
            return registered_name
    is_sklearn = cls.__module__.split(".")[0] == "sklearn" and cls.__name__ in _sklearn_infos()
    if is_sklearn and get_trainer_class(cls.__name__) is cls:
        return cls.__name__
    # A class object handed over in Python is trusted code: register it under its name.
    name: str = register_trainer(None, cls).__name__
    return name


def trainer_info(name: str) -> TrainerInfo:
    """Return the :class:`TrainerInfo` of a canonical trainer name (see :func:`resolve_trainer`)."""
    if name in _CUSTOM:
        return _CUSTOM[name][1]
    infos = _sklearn_infos()
    if name in infos:
        return infos[name]
    raise _unknown(name, "trainer")


def get_trainer_class(name: str) -> type:
    """Return the class of an allow-listed trainer. Needs scikit-learn for scikit-learn trainers."""
    if name in _CUSTOM:
        return _CUSTOM[name][0]
    if _catalog_is_current():
        info = _catalog_registry().get(name)
        if info is None:
            raise _unknown(name, "trainer")
        # The module path comes from the shipped allow-list, never from a config.
        module_name, _, attr = info.path.rpartition(".")
        cls = getattr(importlib.import_module(module_name), attr)
        if not isinstance(cls, type) or cls.__name__ != name:
            raise ConfigError(f"trainer {name!r}: the catalog entry {info.path} does not name that class")
        return cls
    registry = _live_registry()
    if name in registry:
        return registry[name][0]
    raise _unknown(name, "trainer")


def check_params(name: str, params: Mapping[str, Any], where: str) -> None:
    """Check parameter names (and values that touch files) against the trainer before any fit.

    ``params`` maps a name to a list of values (a grid) or to one value (``trainer_config``). Refused: unknown
    names, nested names (``estimator__C``: the tuner builds a trainer from its constructor, which has none),
    and parameters that make the estimator write or read files (:data:`FILE_PARAMS`, e.g. ``memory``).

    Raises
    ------
    ConfigError
        Naming the first parameter at fault (and the closest valid name, for an unknown one).
    """
    info = trainer_info(name)
    for key, value in params.items():
        if "__" in key:
            raise ConfigError(
                f"{where}.{key}: nested parameter names (a__b) are not supported; the tuner builds {name} from its"
                " own constructor parameters"
            )
        if key in FILE_PARAMS:
            allowed, why = FILE_PARAMS[key]
            values = value if isinstance(value, list) and where.startswith("training_params") else [value]
            for item in values:
                if item != allowed:
                    raise ConfigError(f"{where}.{key}: {item!r} is refused: it {why}; only {allowed!r} is allowed")
        if not info.accepts_any and key not in info.params:
            close = difflib.get_close_matches(key, sorted(info.params), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}.{key}: {name} has no parameter {key!r}{hint}")


def check_required_params(name: str, given: set[str] | frozenset[str], where: str) -> None:
    """Raise :class:`ConfigError` when a trainer's required constructor arguments are not all ``given``.

    ``Pipeline`` needs ``steps``, ``VotingClassifier`` needs ``estimators``, ``GridSearchCV`` needs ``estimator``
    and ``param_grid``...: without them every experiment would fail, so the config is refused up front.
    """
    missing = sorted(trainer_info(name).required - set(given))
    if missing:
        raise ConfigError(
            f"{where}: {name} needs {', '.join(repr(m) for m in missing)}, a required constructor argument; give it"
            f" in trainer_config.{name} (or tune another estimator)"
        )

