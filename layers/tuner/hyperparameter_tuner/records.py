"""Records kept by the metadata tracker: runs, model versions and experiments.

Plain pydantic models shared by every adapter (SQLite, DynamoDB) and by the JSON output of the CLI.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .grid import encode_tagged

__all__ = [
    "ArtifactRef",
    "Experiment",
    "ExperimentSpec",
    "ExperimentStatus",
    "ModelVersion",
    "Run",
    "RunStatus",
    "content_id",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def content_id(*parts: Any, length: int = 16) -> str:
    """Return a short SHA-256 hex id of JSON-serialisable ``parts`` (sorted keys, so dict order is irrelevant).

    Dicts with non-string keys (``class_weight: {0: 1}``) are hashed in their tagged form
    (:func:`~hyperparameter_tuner.grid.encode_tagged`), so ``{0: 1}`` and ``{"0": 1}`` get different ids and mixed
    key types never break the sort; every other value hashes as before.

    Examples
    --------
    >>> content_id({"b": 1, "a": 2}) == content_id({"a": 2, "b": 1})
    True
    >>> content_id({0: 1}) == content_id({"0": 1})
    False
    """
    payload = json.dumps(encode_tagged(parts, sort_pairs=True), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:length]


class RunStatus(StrEnum):
    """Lifecycle of a run."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class ExperimentStatus(StrEnum):
    """Lifecycle of an experiment."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class _Candidate(BaseModel):
    """What identifies an experiment: the fields a spec and a record share."""

    experiment_id: str
    index: int
    algo: str
    params: dict[str, Any]
    trainer_config: dict[str, Any] = Field(default_factory=dict)
    data_fingerprint: str
    rung: int | None = None
    """Successive halving: the rung (iteration) this experiment belongs to; ``None`` otherwise."""
    n_resources: int | None = None
    """Successive halving: the rung's resources (training rows, or the value of the resource parameter)."""
    candidate: int | None = None
    """Successive halving: the candidate's index in the run's candidate list (its grid or sample order), which
    ``index`` (the position in its rung) is not."""


class ExperimentSpec(_Candidate):
    """One candidate of the grid, fully determined: what to train, with what, on which data.

    ``experiment_id`` is a content hash of (trainer, params, trainer_config, data fingerprint), where
    ``params`` already holds any ``random_state`` the tuner derived.
    """

    model_config = ConfigDict(frozen=True)


class ArtifactRef(BaseModel):
    """Where a saved model lives, and the checksum its bytes must match before they are deserialised."""

    model_config = ConfigDict(frozen=True)

    uri: str
    version_id: str
    sha256: str
    size: int


class ModelVersion(BaseModel):
    """A model version reserved in the metadata tracker for the model an experiment is about to build."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    experiment_id: str
    version: str
    created_at: datetime = Field(default_factory=utcnow)


class Experiment(_Candidate):
    """The record of one experiment in one run.

    ``scores`` holds every metric on every scored split, ``{"validation": {...}, "test": {...}}``;
    ``metrics`` is the performance split's view of it.
    """

    # A score can be NaN (r2 on one sample): keep it as NaN through JSON, not as an unreadable null.
    model_config = ConfigDict(ser_json_inf_nan="constants")

    run_id: str
    status: ExperimentStatus = ExperimentStatus.RUNNING
    model_version: str | None = None
    scores: dict[str, dict[str, float]] = Field(default_factory=dict)
    eval_split: str = "test"
    fit_time: float | None = None
    score_time: float | None = None
    artifact: ArtifactRef | None = None
    error_type: str | None = None
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    final: bool = False
    """Written when the run closed (a batch the state machine recorded as failed): never replaced."""
    reused_from: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None

    @property
    def metrics(self) -> dict[str, float]:
        """Metric values on the performance split (validation when present, else test)."""
        return self.scores.get(self.eval_split, {})

    @classmethod
    def from_spec(cls, spec: ExperimentSpec, run_id: str, **fields: Any) -> Experiment:
        """Start a record for ``spec`` in ``run_id``."""
        return cls(run_id=run_id, **spec.model_dump(), **fields)


class Run(BaseModel):
    """The record of one tuning run."""

    run_id: str
    name: str | None = None
    status: RunStatus = RunStatus.PENDING
    config: dict[str, Any]
    perf_metric: str
    direction: str
    data_uri: str
    data_fingerprint: str
    data_versions: dict[str, str] = Field(default_factory=dict)
    total: int
    batches: int | None = None
    reused: int = 0
    winner: str | None = None
    reason: str | None = None
    input_error: bool = False
    execution_arn: str | None = None
    owner: str | None = None
    """``host:pid:start`` of the local process running it: a RUNNING run whose owner died is stale."""
    search: dict[str, Any] = Field(default_factory=lambda: {"strategy": "grid"})
    """The normalized search block of the config (``strategy`` and the keys that strategy uses)."""
    rungs: list[dict[str, int]] = Field(default_factory=list)
    """Successive halving: ``[{rung, n_candidates, n_resources}]`` as ``HalvingGridSearchCV`` plans them."""
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    dataset: str | None = None
    """The dataset the run belongs to (champion/challenger is per dataset)."""
    champion: dict[str, Any] | None = None
    """The champion decision of a SUCCEEDED run (:class:`~hyperparameter_tuner.champion.ChampionDecision` as JSON)."""
