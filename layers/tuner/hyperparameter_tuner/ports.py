"""Ports: the collaborators the spec names, as small abstract classes with written contracts.

Adapters implement them for a runtime: SQLite and a folder locally (``hyperparameter_tuner.local``), DynamoDB
and S3 on AWS (``hyperparameter_tuner.aws``). One contract suite (``tests/contract``) runs on every adapter.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import IntegrityError, NotFoundError
from .records import ArtifactRef, Experiment, ModelVersion, Run

if TYPE_CHECKING:
    from .champion import Champion, ChampionDecision

__all__ = ["ChampionTracker", "MetadataTracker", "MetricsTracker", "ModelTrainer", "ResourceVersionControl"]


@runtime_checkable
class ModelTrainer(Protocol):
    """A model trainer: any estimator following the scikit-learn API.

    Trainers are built by the tuner from an allow-listed class (``trainers.get_trainer_class``) with
    ``cls(**trainer_config, **params)``, fitted with ``fit(X, y)`` and scored with scikit-learn scorers.
    """

    def fit(self, X: Any, y: Any) -> Any:
        """Fit on training data and return self."""
        ...

    def predict(self, X: Any) -> Any:
        """Predict labels or values for ``X``."""
        ...

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return constructor parameters."""
        ...


class MetadataTracker(ABC):
    """Runs, model versions and experiments, with their status.

    Contract
    --------
    * ``create_run`` stores a run only if no run has its id and says whether it did; an existing run is left
      untouched (at-least-once triggers may deliver the same run twice).
    * ``get_run`` returns the stored run or raises :class:`~hyperparameter_tuner.errors.NotFoundError`.
    * ``update_run`` changes only the named fields (concurrent updates of different fields are not lost) and
      returns the updated run; unknown run -> ``NotFoundError``; a name that is not a :class:`Run` field, or
      ``run_id`` itself -> ``TypeError``.
    * ``list_runs`` returns runs newest first.
    * ``create_model_version`` reserves a new, unique version for an experiment's model.
    * ``put_experiment`` upserts the record keyed by ``(run_id, experiment_id)``, except that a SUCCEEDED
      record or a ``final`` one is never replaced (retries and late writers are harmless); it returns the record
      now stored.
    * ``get_experiment`` returns the record or ``None``.
    * ``find_succeeded`` returns the most recent SUCCEEDED record of an experiment id in any run, or ``None``.
    * ``iter_experiments`` yields each of a run's records once, in no guaranteed order, reading in pages
      (bounded memory); callers that need grid order sort by ``index``.
    * ``discard_experiment`` removes a record only while it is RUNNING and not ``final`` (an attempt abandoned
      because the store failed, so nothing is left RUNNING), and says whether it removed one. Afterwards reads
      behave as if the record never existed (an adapter may keep a hidden tombstone) and ``put_experiment``
      stores the experiment again.
    * A failure of the backend (I/O, database, AWS service) raises
      :class:`~hyperparameter_tuner.errors.StoreError`, raised ``from`` the backend's exception; so does a stored
      record that cannot be decoded (garbled JSON, a damaged database), with a message naming the store.
    """

    @abstractmethod
    def create_run(self, run: Run) -> bool:
        """Store ``run`` if its id is new; return whether it was stored."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """Return the run or raise ``NotFoundError``."""

    @abstractmethod
    def update_run(self, run_id: str, **changes: Any) -> Run:
        """Set the given fields of a run and return it."""

    @abstractmethod
    def list_runs(self, limit: int = 50) -> list[Run]:
        """Return up to ``limit`` runs, newest first."""

    @abstractmethod
    def create_model_version(self, run_id: str, experiment_id: str) -> ModelVersion:
        """Reserve a new model version for an experiment."""

    @abstractmethod
    def put_experiment(self, experiment: Experiment) -> Experiment:
        """Upsert an experiment record (never replacing a SUCCEEDED one); return the stored record."""

    @abstractmethod
    def get_experiment(self, run_id: str, experiment_id: str) -> Experiment | None:
        """Return the record of an experiment in a run, or ``None``."""

    @abstractmethod
    def find_succeeded(self, experiment_id: str) -> Experiment | None:
        """Return the latest SUCCEEDED record of an experiment id in any run, or ``None``."""

    @abstractmethod
    def iter_experiments(self, run_id: str) -> Iterator[Experiment]:
        """Yield a run's experiment records (any order), page by page."""

    @abstractmethod
    def discard_experiment(self, run_id: str, experiment_id: str) -> bool:
        """Remove a RUNNING, non-final record; return whether one was removed (other records are kept)."""


class ResourceVersionControl(ABC):
    """Versioned storage of model artifacts.

    Contract
    --------
    * ``save`` stores the bytes under ``key`` and returns an :class:`ArtifactRef` with a URI, a version id,
      the SHA-256 of the bytes and their size. Saving the same bytes twice is harmless.
    * ``load`` returns the bytes of exactly that version after checking their SHA-256 against the reference;
      a mismatch raises :class:`~hyperparameter_tuner.errors.IntegrityError` and nothing is returned. A missing
      artifact raises ``NotFoundError``.
    * ``verify`` says whether exactly that version is still stored with bytes matching the recorded SHA-256
      (``False`` when it is missing or altered), without deserialising anything: only verified artifacts are
      reused by a later run. Saving bytes again after their stored copy was lost or altered stores them again.
    * A failure of the backend (I/O, disk full, AWS service) raises
      :class:`~hyperparameter_tuner.errors.StoreError`, raised ``from`` the backend's exception, and leaves no
      partial object behind.

    Adapters implement ``save`` and ``_read`` (fetch the raw bytes of a version); the check lives here, once.
    ``verify`` reads and hashes the bytes unless an adapter has a cheaper exact check.
    """

    @abstractmethod
    def save(self, key: str, data: bytes) -> ArtifactRef:
        """Store bytes; return their reference."""

    @abstractmethod
    def _read(self, ref: ArtifactRef) -> bytes:
        """Return the stored bytes of exactly ``ref``'s version, unverified (``NotFoundError`` if missing)."""

    def load(self, ref: ArtifactRef) -> bytes:
        """Return the bytes of a reference after verifying their SHA-256 (``IntegrityError`` on a mismatch)."""
        data = self._read(ref)
        actual = hashlib.sha256(data).hexdigest()
        if actual != ref.sha256:
            raise IntegrityError(
                f"{ref.uri} (version {ref.version_id}): SHA-256 {actual} does not match the recorded {ref.sha256};"
                " refusing to load"
            )
        return data

    def verify(self, ref: ArtifactRef) -> bool:
        """Return whether ``ref``'s version is stored and its bytes match the recorded SHA-256.

        Parameters
        ----------
        ref : ArtifactRef
            The reference recorded when the artifact was saved.

        Returns
        -------
        bool
            ``False`` when the artifact is missing or its bytes (or size) differ from the record.

        Raises
        ------
        StoreError
            When the backend cannot be read (an infrastructure fault is not a missing artifact).
        """
        try:
            data = self._read(ref)
        except NotFoundError:
            return False
        return len(data) == ref.size and hashlib.sha256(data).hexdigest() == ref.sha256


class MetricsTracker(ABC):
    """Metric values per experiment and split.

    Contract
    --------
    * ``log_metrics`` records ``{name: value}`` for one split of one experiment in one run; logging the same
      split again replaces that split's whole set of values (retries are harmless).
    * ``get_metrics`` returns ``{split: {name: value}}`` for an experiment (empty when nothing was logged).
    """

    @abstractmethod
    def log_metrics(self, run_id: str, experiment_id: str, split: str, metrics: Mapping[str, float]) -> None:
        """Record metric values of one split."""

    @abstractmethod
    def get_metrics(self, run_id: str, experiment_id: str) -> dict[str, dict[str, float]]:
        """Return every logged split's metrics."""


class ChampionTracker(ABC):
    """The champion of each dataset and the history of the decisions that made it.

    Contract
    --------
    * ``get_champion`` returns the dataset's current :class:`~hyperparameter_tuner.champion.Champion` (its
      ``version`` counts the decisions recorded for the dataset), or ``None`` before the first promotion.
    * ``record_decision`` is a compare-and-set on that version. When the dataset's history already holds a decision
      with the same ``key`` (a run decides once), it returns that stored decision and writes nothing. Otherwise,
      when the current version is not ``expected_version`` (``0``: no champion yet), someone else decided in
      between: it returns ``None`` and writes nothing. Otherwise, atomically, it appends the decision to the
      history with ``version = expected_version + 1``, stores ``champion`` (when given: a promotion) with that
      version as the new current champion, or else (a kept champion) bumps the current champion's version, and
      returns the stored decision. Two concurrent calls with the same ``expected_version`` never both succeed.
    * ``get_decision`` returns the recorded decision with that ``key`` (``run:<run_id>``), or ``None``.
    * ``history`` returns a dataset's decisions, oldest first (by version).
    * A failure of the backend raises :class:`~hyperparameter_tuner.errors.StoreError`, as for the other ports.
    """

    @abstractmethod
    def get_champion(self, dataset: str) -> Champion | None:
        """Return the dataset's current champion, or ``None``."""

    @abstractmethod
    def record_decision(self, decision: ChampionDecision, champion: Champion | None,
                        expected_version: int) -> ChampionDecision | None:
        """Record a decision if the champion is still at ``expected_version``; return it (``None`` if stale)."""

    @abstractmethod
    def get_decision(self, dataset: str, key: str) -> ChampionDecision | None:
        """Return the recorded decision with ``key``, or ``None``."""

    @abstractmethod
    def history(self, dataset: str) -> list[ChampionDecision]:
        """Return the dataset's decisions, oldest first."""
