"""Champion/challenger per dataset: after a run SUCCEEDS, its winner (the challenger) replaces the dataset's current
champion only when it is better on this run's test split by more than ``promotion_margin``.

* :func:`decide` is the pure rule: given the two scores, the direction and the margin, ``promoted`` or ``kept``.
* :func:`score_champion` re-scores a champion's model (SHA-256 verified before it is unpickled) on a test split with
  the run's ``perf_metric`` and thread limit, with the scorer every experiment is scored with.
* :func:`settle_champion` makes the whole decision for a run and records it through a
  :class:`~hyperparameter_tuner.ports.ChampionTracker` with a compare-and-set on the champion's version: two runs of
  one dataset finishing at once never both win over each other's stale view; the loser of the race decides again
  against the new champion.

Nothing here imports numpy or scikit-learn at module level: the light Lambdas import the records.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import ConfigError, IntegrityError, NotFoundError, StoreError, TunerError
from .records import ArtifactRef, Experiment, Run, RunStatus, utcnow

if TYPE_CHECKING:
    from typing import TypeAlias

    from .data import SplitData

    SplitSource: TypeAlias = SplitData | Callable[[], SplitData]
    from .ports import ChampionTracker, MetadataTracker, ResourceVersionControl

__all__ = [
    "Champion",
    "ChampionDecision",
    "Decision",
    "UnscoreableChampionError",
    "champion_history",
    "check_dataset_name",
    "decide_run_champion",
    "describe_champion",
    "load_champion",
    "decide",
    "load_champion_model",
    "load_verified_model",
    "promote_manually",
    "score_champion",
    "settle_champion",
]

Decision = Literal["first", "promoted", "kept", "manual"]

MAX_ATTEMPTS = 20
"""Compare-and-set attempts of one decision before giving up (each lost race means another decision was recorded)."""


class Champion(BaseModel):
    """The current champion of a dataset: one experiment of one run, and how it got there.

    ``version`` counts the decisions recorded for the dataset (kept ones included); it is the compare-and-set token
    of the next decision. ``scores`` is the champion's ``{metric: value}`` on the test split of the run that
    promoted it.
    """

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    dataset: str
    version: int = Field(ge=1)
    experiment_id: str
    run_id: str
    algo: str
    params: dict[str, Any]
    perf_metric: str
    direction: str
    scores: dict[str, float] = Field(default_factory=dict)
    artifact: ArtifactRef | None = None
    decision: Decision
    promoted_at: datetime = Field(default_factory=utcnow)


class ChampionDecision(BaseModel):
    """One entry of a dataset's champion history: a run's decision (``first``, ``promoted``, ``kept``) or a
    ``manual`` promotion.

    ``champion_experiment_id`` is the champion *after* the decision (the challenger when it was promoted);
    ``previous_experiment_id`` the one before it (``None`` for ``first``). ``challenger_score`` is the winner's
    ``perf_metric`` on the run's test split and ``champion_score`` the previous champion re-scored on that same
    split (``None`` when it could not be scored: ``reason`` says why).
    """

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    dataset: str
    decision: Decision
    champion_experiment_id: str
    previous_experiment_id: str | None = None
    challenger_experiment_id: str | None = None
    challenger_score: float | None = None
    champion_score: float | None = None
    perf_metric: str
    direction: str
    promotion_margin: float = 0.0
    reason: str | None = None
    run_id: str | None = None
    version: int = Field(default=0, ge=0)
    """The champion's version once this decision is recorded (set by the tracker)."""
    decided_at: datetime = Field(default_factory=utcnow)

    @property
    def key(self) -> str:
        """What makes a decision unique in a dataset's history: its run (a run decides once), or for a manual
        promotion the version it was recorded at."""
        return f"run:{self.run_id}" if self.decision != "manual" else f"manual:{self.version}"

    def to_json(self) -> dict[str, Any]:
        """The run JSON's ``champion`` object (strict JSON: a non-finite score is ``null``)."""
        from .results import json_safe

        payload: dict[str, Any] = json_safe(self.model_dump(mode="python"))
        payload["decided_at"] = self.decided_at.isoformat()
        return payload


class UnscoreableChampionError(TunerError):
    """The champion's model cannot be scored on the new test split (other features, missing or altered model)."""


def decide(challenger: float, champion: float, direction: str = "maximize", margin: float = 0.0) -> bool:
    """Whether the challenger beats the champion by more than ``margin`` (in the metric's units and direction).

    ``maximize``: ``challenger > champion + margin``; ``minimize``: ``challenger < champion - margin``. A NaN
    challenger never wins; a NaN champion (and a finite challenger) always loses.

    Examples
    --------
    >>> decide(0.95, 0.90)
    True
    >>> decide(0.95, 0.90, margin=0.05)
    False
    >>> decide(0.95, 0.90, margin=0.04)
    True
    >>> decide(10.0, 12.0, "minimize", margin=1.0)
    True
    >>> decide(0.9, 0.9)
    False
    """
    if math.isnan(challenger):
        return False
    if math.isnan(champion):
        return True
    if direction == "minimize":
        return challenger < champion - margin
    return challenger > champion + margin


def load_verified_model(experiment: Experiment, version_control: ResourceVersionControl) -> Any:
    """An experiment's model, unpickled only after its bytes matched the recorded SHA-256.

    Raises
    ------
    NotFoundError
        When the experiment has no saved model, or its artifact is gone.
    IntegrityError
        When the bytes do not match the recorded SHA-256 (nothing is unpickled).
    """
    import joblib

    if experiment.artifact is None:
        raise NotFoundError(f"experiment {experiment.experiment_id} has no saved model")
    data = version_control.load(experiment.artifact)  # IntegrityError on a mismatch: nothing is unpickled
    return joblib.load(io.BytesIO(data))


def score_champion(experiment: Experiment, version_control: ResourceVersionControl, data: SplitData,
                   perf_metric: str, threads: int = 1) -> float:
    """Re-score a champion's model on ``data``'s test split with ``perf_metric``.

    The model is loaded through ``version_control`` (SHA-256 verified) and scored with
    :func:`~hyperparameter_tuner.metrics.score_estimator` under ``threads`` BLAS/OpenMP threads, as experiments are.

    Raises
    ------
    UnscoreableChampionError
        When the model is missing, fails its SHA-256 check, or cannot predict on these features.
    StoreError
        When the store itself fails (a transient fault is not the champion's).
    """
    from ._threads import pinned_threads
    from .metrics import score_estimator

    try:
        model = load_verified_model(experiment, version_control)
    except (NotFoundError, IntegrityError) as exc:
        raise UnscoreableChampionError(f"its model cannot be loaded ({exc})") from exc
    try:
        with pinned_threads(threads):
            return score_estimator(model, data.X_test, data.y_test, [perf_metric])[perf_metric]
    except Exception as exc:  # noqa: BLE001 - any failure to predict on the new data (features, labels, types)
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise UnscoreableChampionError(f"{type(exc).__name__}: {detail}") from exc


def _loader(data: SplitSource) -> Callable[[], SplitData]:
    """The run's split, or a function loading it, as a function loading it once (only when a model is scored)."""
    if callable(data):
        return functools.cache(data)
    return lambda: data


def _challenger_score(winner: Experiment, perf_metric: str, version_control: ResourceVersionControl,
                      data: Callable[[], SplitData], threads: int) -> float:
    """The winner's ``perf_metric`` on the test split: recorded (``scores.test``), else scored now
    (``score_test: false`` left the test split unscored during the run)."""
    value = winner.scores.get("test", {}).get(perf_metric)
    if value is not None:
        return value
    return score_champion(winner, version_control, data(), perf_metric, threads)


def settle_champion(
    run: Run,
    winner: Experiment,
    data: SplitSource,
    *,
    dataset: str,
    champions: ChampionTracker,
    metadata: MetadataTracker,
    version_control: ResourceVersionControl,
    margin: float = 0.0,
    threads: int = 1,
    on_view: Callable[[Champion | None], None] | None = None,
) -> tuple[ChampionDecision, bool]:
    """Decide whether a SUCCEEDED run's winner becomes ``dataset``'s champion, and record the decision.

    The first successful run of a dataset promotes its winner (``first``). Otherwise the champion is re-scored on
    this run's test split and the winner is ``promoted`` when :func:`decide` says so, else the champion is
    ``kept``. A champion that cannot be scored (other features, a missing or altered model) is replaced
    (``promoted``), with the reason recorded. A winner that *is* the champion keeps it.

    The decision is recorded with a compare-and-set on the champion's version: when another decision was recorded
    in between (two runs finishing at once), this one is made again against the new champion. A run decides once:
    a retry returns the decision already recorded.

    Parameters
    ----------
    run, winner : Run, Experiment
        The SUCCEEDED run and its winning experiment.
    data : SplitData or callable
        The run's split (its test split is the common ground), or a function loading it: it is loaded only when a
        model must be scored (not for a retry, a first decision, or a winner with recorded test scores against no
        champion).
    dataset : str
        The dataset the run belongs to.
    champions, metadata, version_control
        The store's champion tracker, metadata tracker (to find the champion's record) and artifacts.
    margin : float
        ``promotion_margin``: how much better the challenger must be.
    threads : int
        BLAS/OpenMP threads for re-scoring.
    on_view : callable, optional
        Called with the champion each attempt decides against (tests use it to line up concurrent decisions).

    Returns
    -------
    (ChampionDecision, bool)
        The recorded decision, and whether this call recorded it (``False``: it was recorded before, by a retry's
        earlier attempt).
    """
    recorded = champions.get_decision(dataset, f"run:{run.run_id}")
    if recorded is not None:
        return recorded, False  # a retry: nothing to load or score
    data = _loader(data)
    challenger_score = _challenger_score(winner, run.perf_metric, version_control, data, threads)

    def decide_against(current: Champion | None) -> tuple[ChampionDecision, Champion | None]:
        if on_view is not None:
            on_view(current)
        decision = _decide_against(current, run, winner, data, dataset, challenger_score, metadata, version_control,
                                   margin, threads)
        return decision, _champion_of(run, winner, dataset, decision) if decision.decision != "kept" else None

    stored, proposed = _compare_and_set(champions, dataset, decide_against)
    return stored, stored.run_id == run.run_id and stored.decided_at == proposed.decided_at


def _compare_and_set(champions: ChampionTracker, dataset: str,
                     decide: Callable[[Champion | None], tuple[ChampionDecision, Champion | None]]
                     ) -> tuple[ChampionDecision, ChampionDecision]:
    """Decide against the dataset's current champion and record the decision only if the champion is still that one
    (its version); on a lost race, read the new champion and decide again. Returns (stored, last proposed): the
    stored decision differs from the proposed one when a retry of the same run had recorded it already."""
    for _ in range(MAX_ATTEMPTS):
        current = champions.get_champion(dataset)
        decision, new_champion = decide(current)
        stored = champions.record_decision(decision, new_champion, expected_version=current.version if current else 0)
        if stored is not None:
            return stored, decision
    raise StoreError(f"dataset {dataset!r}: the champion kept changing; no decision recorded after {MAX_ATTEMPTS}"
                     " attempts")


def _decide_against(current: Champion | None, run: Run, winner: Experiment, data: Callable[[], SplitData],
                    dataset: str,
                    challenger_score: float, metadata: MetadataTracker, version_control: ResourceVersionControl,
                    margin: float, threads: int) -> ChampionDecision:
    common: dict[str, Any] = {
        "dataset": dataset, "challenger_experiment_id": winner.experiment_id, "challenger_score": challenger_score,
        "perf_metric": run.perf_metric, "direction": run.direction, "promotion_margin": margin, "run_id": run.run_id,
    }
    if current is None:
        return ChampionDecision(decision="first", champion_experiment_id=winner.experiment_id,
                                reason="the dataset's first successful run", **common)
    previous = current.experiment_id
    if previous == winner.experiment_id:
        return ChampionDecision(decision="kept", champion_experiment_id=previous, previous_experiment_id=previous,
                                champion_score=challenger_score, reason="the winner is the champion already",
                                **common)
    record = metadata.get_experiment(current.run_id, previous)
    try:
        if record is None:
            raise UnscoreableChampionError(f"its record in run {current.run_id} is gone")
        champion_score = score_champion(record, version_control, data(), run.perf_metric, threads)
    except UnscoreableChampionError as exc:
        return ChampionDecision(decision="promoted", champion_experiment_id=winner.experiment_id,
                                previous_experiment_id=previous,
                                reason=f"champion {previous} could not be scored on this run's test split: {exc}",
                                **common)
    if current.perf_metric != run.perf_metric:
        common["reason"] = f"compared on {run.perf_metric} (the champion was chosen on {current.perf_metric})"
    if decide(challenger_score, champion_score, run.direction, margin):
        return ChampionDecision(decision="promoted", champion_experiment_id=winner.experiment_id,
                                previous_experiment_id=previous, champion_score=champion_score, **common)
    return ChampionDecision(decision="kept", champion_experiment_id=previous, previous_experiment_id=previous,
                            champion_score=champion_score, **common)


def _champion_of(run: Run, experiment: Experiment, dataset: str, decision: ChampionDecision) -> Champion:
    return Champion(
        dataset=dataset, version=1, experiment_id=experiment.experiment_id, run_id=run.run_id, algo=experiment.algo,
        params=experiment.params, perf_metric=run.perf_metric, direction=run.direction,
        # Its test scores; with score_test: false only the perf_metric the decision scored on test is known.
        scores=experiment.scores.get("test")
        or ({} if decision.challenger_score is None else {run.perf_metric: decision.challenger_score}),
        artifact=experiment.artifact,
        decision=decision.decision, promoted_at=decision.decided_at,
    )


def promote_manually(experiment_id: str, dataset: str, *, champions: ChampionTracker,
                     metadata: MetadataTracker) -> ChampionDecision:
    """Make a SUCCEEDED experiment ``dataset``'s champion by hand; recorded in the history as ``manual``.

    The experiment is the latest SUCCEEDED record of ``experiment_id`` in any run.

    Raises
    ------
    NotFoundError
        When no SUCCEEDED experiment has this id, or it has no saved model.
    """
    record = metadata.find_succeeded(experiment_id)
    if record is None:
        raise NotFoundError(f"experiment {experiment_id!r}: no SUCCEEDED record in this store")
    if record.artifact is None:
        raise NotFoundError(f"experiment {experiment_id!r} has no saved model")
    run = metadata.get_run(record.run_id)

    def by_hand(current: Champion | None) -> tuple[ChampionDecision, Champion | None]:
        decision = ChampionDecision(
            dataset=dataset, decision="manual", champion_experiment_id=experiment_id,
            previous_experiment_id=current.experiment_id if current else None, challenger_experiment_id=experiment_id,
            challenger_score=record.scores.get("test", {}).get(run.perf_metric), perf_metric=run.perf_metric,
            direction=run.direction, reason="promoted by hand", run_id=record.run_id,
        )
        return decision, _champion_of(run, record, dataset, decision)

    return _compare_and_set(champions, dataset, by_hand)[0]


def load_champion_model(dataset: str, *, champions: ChampionTracker, metadata: MetadataTracker,
                        version_control: ResourceVersionControl) -> Any:
    """The current champion's model of ``dataset``, unpickled only after its SHA-256 matched.

    Raises
    ------
    NotFoundError
        When the dataset has no champion, or its model is gone.
    IntegrityError
        When the model's bytes do not match the recorded SHA-256.
    """
    current = champions.get_champion(dataset)
    if current is None:
        raise NotFoundError(f"dataset {dataset!r} has no champion yet")
    record = metadata.get_experiment(current.run_id, current.experiment_id)
    if record is None:
        raise NotFoundError(f"dataset {dataset!r}: champion {current.experiment_id} has no record in run"
                            f" {current.run_id}")
    return load_verified_model(record, version_control)


def champion_history(dataset: str, champions: ChampionTracker | None = None, *,
                     store: str | Path = ".hpt") -> list[dict[str, Any]]:
    """A dataset's champion decisions, oldest first, as plain JSON-safe records (for reports).

    Each record has the :class:`ChampionDecision` fields: ``dataset``, ``decision``
    (``first``/``promoted``/``kept``/``manual``), ``champion_experiment_id``, ``previous_experiment_id``,
    ``challenger_score``, ``champion_score``, ``reason``, ``run_id``, ``version``, ``decided_at`` (ISO text), ...

    Parameters
    ----------
    dataset : str
        The dataset.
    champions : ChampionTracker, optional
        Where to read; default: the local store ``store`` (an absent store has no history).
    store : str or Path
        The local store directory, when ``champions`` is not given. Default ``.hpt``.
    """
    if champions is None:
        from .local.champions import SQLiteChampionTracker
        from .local.sqlite import SQLiteDatabase

        database = Path(store) / "tuner.db"
        if not database.is_file():
            return []
        champions = SQLiteChampionTracker(SQLiteDatabase(database))
    return [decision.to_json() for decision in champions.history(dataset)]


def check_dataset_name(name: str) -> str:
    """Return ``name`` if it is a valid dataset name (what an S3 ``datasets/<dataset>/`` folder may be called).

    Raises
    ------
    ConfigError
        Naming the value, with the name it could be instead.

    Examples
    --------
    >>> check_dataset_name("iris-v2")
    'iris-v2'
    """
    from .aws.events import DATASET_NAME, dataset_name

    if not DATASET_NAME.match(name):  # the very rule of the S3 trigger's datasets/<dataset>/ folders
        raise ConfigError(f"dataset: {name!r} is not a valid dataset name (letters, digits and . _ = -, at most 128,"
                          f" starting with a letter or digit); e.g. {dataset_name(name)!r}")
    return name


def decide_run_champion(run: Run, data: SplitSource, *, dataset: str, champions: ChampionTracker,
                        metadata: MetadataTracker, version_control: ResourceVersionControl, margin: float = 0.0,
                        threads: int = 1) -> tuple[Run, ChampionDecision | None, bool]:
    """Settle a closed run's champion decision and record it on the run (``champion``); FAILED runs never promote.

    Returns
    -------
    (Run, ChampionDecision or None, bool)
        The run as stored afterwards, its decision (``None`` for a run that did not succeed), and whether this call
        recorded the decision (``False`` when a retry found it recorded).
    """
    if run.status is not RunStatus.SUCCEEDED or run.winner is None:
        return run, None, False
    winner = metadata.get_experiment(run.run_id, run.winner)
    if winner is None:
        raise NotFoundError(f"run {run.run_id}: its winner {run.winner} has no record")
    decision, recorded = settle_champion(run, winner, data, dataset=dataset, champions=champions, metadata=metadata,
                                         version_control=version_control, margin=margin, threads=threads)
    if run.champion != decision.to_json():
        run = metadata.update_run(run.run_id, champion=decision.to_json())
    return run, decision, recorded


def describe_champion(dataset: str, *, champions: ChampionTracker, metadata: MetadataTracker) -> dict[str, Any]:
    """What ``hpt champion`` shows: the dataset's current champion and its history, as plain JSON-safe data.

    ``champion`` has ``experiment_id``, ``run_id``, ``algo``, ``params``, ``perf_metric``, ``direction``, ``scores``
    (its test scores when promoted), ``model_uri``, ``sha256``, ``version``, ``decision`` and ``promoted_at``;
    ``history`` is :func:`champion_history`.

    Raises
    ------
    NotFoundError
        When the dataset has no champion.
    """
    from .results import json_safe

    current = champions.get_champion(dataset)
    if current is None:
        raise NotFoundError(f"dataset {dataset!r} has no champion yet (a SUCCEEDED run of it makes the first)")
    record = metadata.get_experiment(current.run_id, current.experiment_id)
    artifact = record.artifact if record is not None and record.artifact is not None else current.artifact
    champion = {
        "experiment_id": current.experiment_id, "run_id": current.run_id, "algo": current.algo,
        "params": current.params, "perf_metric": current.perf_metric, "direction": current.direction,
        "scores": current.scores, "model_uri": artifact.uri if artifact else None,
        "sha256": artifact.sha256 if artifact else None, "version": current.version, "decision": current.decision,
        "promoted_at": current.promoted_at.isoformat(),
    }
    described: dict[str, Any] = json_safe({"dataset": dataset, "champion": champion,
                                           "history": champion_history(dataset, champions)})
    return described


def load_champion(dataset: str, store: str | Path = ".hpt") -> Any:
    """The current champion model of ``dataset`` in a local store, unpickled only after its SHA-256 matched.

    Parameters
    ----------
    dataset : str
        The dataset (``hpt run --dataset``, default the config's ``name`` or the data file's stem).
    store : str or Path
        The store directory. Default ``.hpt``.

    Returns
    -------
    estimator
        The fitted model.

    Raises
    ------
    NotFoundError
        When there is no store there, the dataset has no champion, or its model is gone.
    IntegrityError
        When the model file's bytes do not match the recorded SHA-256.

    Examples
    --------
    >>> model = load_champion("iris-classification", store=".hpt")  # doctest: +SKIP
    >>> model.predict(X_new)  # doctest: +SKIP
    """
    from .local.champions import SQLiteChampionTracker
    from .local.engine import open_store

    if not (Path(store) / "tuner.db").is_file():
        raise NotFoundError(f"store {store}: no tuner store there")
    metadata, version_control, _ = open_store(store)
    return load_champion_model(dataset, champions=SQLiteChampionTracker(metadata.db), metadata=metadata,
                               version_control=version_control)
