"""One exception hierarchy for the whole package.

Every error the tuner raises on purpose derives from :class:`TunerError`, so callers (the CLI, the Lambda
handlers) can tell a user's mistake from a bug with a single ``except`` clause.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "IntegrityError",
    "NotFoundError",
    "RunFailedError",
    "StoreError",
    "TunerError",
]


class TunerError(Exception):
    """Root of every error raised on purpose by hyperparameter-tuner."""


class ConfigError(TunerError, ValueError):
    """The tuning configuration (or an argument standing for part of it) is invalid."""


class DataError(TunerError, ValueError):
    """The split dataset is missing, unreadable or inconsistent."""


class IntegrityError(TunerError):
    """Stored bytes do not match the SHA-256 recorded for them; they are never deserialised."""


class NotFoundError(TunerError, KeyError):
    """A run, experiment or artifact that was asked for does not exist."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "not found"


class RunFailedError(TunerError):
    """The run ended FAILED (every experiment failed, too many did, or its workflow stopped): it has no winner.

    Raised by ``run_experiment`` of the local and the Step Functions tuner; the reason is the message.
    """


class StoreError(TunerError):
    """A storage backend failed (I/O, database or AWS service error)."""
