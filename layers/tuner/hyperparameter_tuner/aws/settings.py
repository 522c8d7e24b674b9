"""Lambda settings: the environment, validated once at cold start into a pydantic model."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import DEFAULT_MAX_EXPERIMENTS
from ..errors import ConfigError

__all__ = ["Settings"]


class Settings(BaseModel):
    """What the handlers need from their environment (names as set in ``template.yaml``)."""

    model_config = ConfigDict(frozen=True)

    bucket_name: str = Field(min_length=3)
    table_name: str = Field(min_length=3)
    state_machine_arn: str | None = None
    event_bus_name: str = "default"
    max_experiments: int = Field(default=DEFAULT_MAX_EXPERIMENTS, ge=1)
    trainer_concurrency: int = Field(default=0, ge=0)
    """The trainer's reserved concurrency (0: none reserved); caps the Map's ``MaxConcurrency``."""
    data_cache_dir: str = "/tmp/hpt-data"  # noqa: S108 - Lambda's only writable disk

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``BUCKET_NAME``, ``TABLE_NAME``, ``STATE_MACHINE_ARN``, ``EVENT_BUS_NAME``, ``MAX_EXPERIMENTS``,
        ``TRAINER_CONCURRENCY``, ``DATA_CACHE_DIR`` from the environment.

        Raises
        ------
        ConfigError
            Naming the variable that is missing or invalid.
        """
        env = os.environ if environ is None else environ
        fields = {name: env[name.upper()] for name in cls.model_fields if env.get(name.upper())}
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            name = str(error["loc"][0]).upper() if error["loc"] else "environment"
            raise ConfigError(f"environment variable {name}: {error['msg']}") from None
