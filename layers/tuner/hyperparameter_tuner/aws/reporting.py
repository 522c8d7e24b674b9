"""The Report step: render a closed run's HTML report and keep it in the bucket at ``reports/<run_id>.html``.

The Report function is subscribed to the reducer's ``Tuning Run Completed`` event and to the Champion step's
``Champion Promoted`` / ``Champion Kept`` (the report then holds the decision); ``hpt report RUN_ID --stack NAME``
reads the object back with :func:`fetch_report`. Records come from the DynamoDB metadata tracker, like every other
reader of a run; rendering is :func:`hyperparameter_tuner.report.render_report`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError, NotFoundError, StoreError
from ._common import MISSING_CODES, error_code
from .services import Services, _count

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["REPORTS_PREFIX", "ReportWritten", "RunCompleted", "fetch_report", "report_key", "write_run_report"]

REPORTS_PREFIX = "reports/"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class RunCompleted(BaseModel):
    """The part of a ``Tuning Run Completed`` or ``Champion Promoted`` / ``Kept`` event the Report function reads:
    ``detail.run_id``."""

    model_config = ConfigDict(extra="ignore")

    class Detail(BaseModel):
        model_config = ConfigDict(extra="ignore")

        run_id: str = Field(pattern=_RUN_ID.pattern)

    detail: Detail


class ReportWritten(BaseModel):
    """Where a run's report was written, and how big it is."""

    run_id: str
    uri: str
    size: int
    experiments: int


def report_key(run_id: str) -> str:
    """The bucket key of a run's report.

    Raises
    ------
    ConfigError
        When ``run_id`` cannot be a run id (it would name another key).

    Examples
    --------
    >>> report_key("20261130T120000Z-ab12cd")
    'reports/20261130T120000Z-ab12cd.html'
    """
    if not _RUN_ID.match(run_id):
        raise ConfigError(f"run id {run_id!r} must match {_RUN_ID.pattern}")
    return f"{REPORTS_PREFIX}{run_id}.html"


def write_run_report(run_id: str, services: Services, champion_history: list[Any] | None = None) -> ReportWritten:
    """Render the run's report from the table and put it at ``reports/<run_id>.html`` in the bucket.

    The report shows the run's halving rungs and its dataset's champion history (read from the table unless
    ``champion_history`` is given), as far as it is decided when the event arrives: the function runs when the run
    closes and again when the Champion step has decided.

    Idempotent: a second call for the same run writes the same report again (with a new generation time).

    Raises
    ------
    NotFoundError
        When the run is not in the table.
    StoreError
        When S3 refuses the write.
    """
    from ..report import render_report

    metadata = services.metadata()
    run = metadata.get_run(run_id)
    experiments = list(metadata.iter_experiments(run_id))
    if champion_history is None and run.dataset:
        from ..champion import champion_history as read_history
        from .champions import DynamoDBChampionTracker

        champions = DynamoDBChampionTracker(services.settings.table_name, client=services.dynamodb)
        champion_history = read_history(run.dataset, champions)
    page = render_report(run, experiments, champion_history=champion_history).encode("utf-8")
    key = report_key(run_id)
    bucket = services.settings.bucket_name
    try:
        services.s3.put_object(Bucket=bucket, Key=key, Body=page, ContentType="text/html; charset=utf-8")
    except Exception as exc:
        if not error_code(exc):
            raise
        raise StoreError(f"s3://{bucket}/{key}: {error_code(exc)}") from exc
    _count(services, "ReportsWritten")
    return ReportWritten(run_id=run_id, uri=f"s3://{bucket}/{key}", size=len(page), experiments=len(experiments))


def fetch_report(s3: S3Client, bucket: str, run_id: str) -> bytes:
    """Read a run's report from the bucket.

    Raises
    ------
    ConfigError
        When ``run_id`` cannot be a run id.
    NotFoundError
        When there is no report for the run (yet: the Report function writes it when the run completes).
    StoreError
        When S3 refuses the read for another reason.
    """
    key = report_key(run_id)
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        code = error_code(exc)
        if code in MISSING_CODES:
            raise NotFoundError(
                f"no report for run {run_id} at s3://{bucket}/{key} (the Report function writes it when the run "
                "completes; is the run finished?)"
            ) from None
        if not code:
            raise
        raise StoreError(f"s3://{bucket}/{key}: {code}") from exc
    return body
