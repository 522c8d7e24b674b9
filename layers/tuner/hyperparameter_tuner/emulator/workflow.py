"""``hpt emulate``: the whole AWS workflow of ``template.yaml`` on one split, run locally in the emulator: the config
and split uploaded as a user would (``datasets/<dataset>/``), the upload event delivered as the template wires it,
the state machine awaited, and the run read back from the emulated table."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ..aws.dynamodb import DynamoDBMetadataTracker
from ..aws.events import dataset_name
from ..aws.s3data import upload_split
from ..config import read_config_text
from ..errors import ConfigError, DataError, TunerError
from ..results import RunResult
from ._engine import Emulator

__all__ = ["EmulatedInputError", "emulate_run"]


class EmulatedInputError(ConfigError):
    """The fan-out refused the config or the data (its FAILED run record's reason is the message)."""


def emulate_run(
    config_path: str | Path, data_path: str | Path, *, template: str | Path = "template.yaml", timeout: float = 3600.0,
    on_started: Callable[[dict[str, Any]], None] | None = None, report: str | Path | None = None,
) -> RunResult:  # fmt: skip
    """Run one tuning through the emulated AWS application and return its :class:`RunResult`; with ``report``, copy
    the HTML report the stack's Report function wrote (``reports/<run_id>.html``) to that file.

    Raises
    ------
    EmulatedInputError
        When the fan-out recorded the run as FAILED for bad input, or rejected the event. The message names the
        user's config and data paths, not the emulated bucket's keys they were uploaded to.
    ConfigError, DataError
        When the local files cannot be read or uploaded.
    """
    config_path, data_path, template = Path(config_path), Path(data_path), Path(template)
    if not template.is_file():
        raise ConfigError(f"{template}: no such template (run from the project root or pass --template)")
    config_text = read_config_text(config_path)
    if not data_path.exists():
        raise DataError(f"{data_path}: no such file or folder")
    try:
        name = (yaml.safe_load(config_text) or {}).get("name")
    except (yaml.YAMLError, AttributeError):  # the fan-out reports what is wrong with the config
        name = None
    prefix = f"datasets/{dataset_name(str(name or config_path.stem))}/"
    # moto warns that ToleratedFailurePercentage has no effect there; the reducer enforces the tolerance instead.
    logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor").setLevel(logging.ERROR)
    with Emulator(template, retry_sleep=False) as emu:
        config_key = f"{prefix}tuning{'.json' if config_path.suffix == '.json' else '.yaml'}"
        emu.s3.put_object(Bucket=emu.bucket_name, Key=config_key, Body=config_text.encode())
        key, _ = upload_split(emu.s3, emu.bucket_name, prefix, data_path)
        uploaded = f"s3://{emu.bucket_name}/{prefix}{data_path.name}"  # the split (a CSV folder: its files under it)
        names = {f"s3://{emu.bucket_name}/{config_key}": str(config_path), uploaded: str(data_path)}
        names[f"{uploaded}/"] = f"{data_path}/"
        # the reply of the function the upload's rule targets (the fan-out's: it carries the run's status)
        replies = emu.deliver_s3_object_created(key).values()
        started = next((reply for reply in replies if isinstance(reply, dict) and "status" in reply), None)
        if started is None:
            raise TunerError(f"{template}: no function answered the upload of {key} with a run status")
        if on_started is not None:
            on_started(started)
        if started.get("status") in ("FAILED", "REJECTED"):
            reason = str(started.get("reason"))
            for uri in sorted(names, key=len, reverse=True):  # each emulated S3 location named by the user's path
                reason = reason.replace(uri, names[uri])
            raise EmulatedInputError(reason)
        execution = emu.wait_for_execution(started["execution_arn"], timeout=timeout)
        metadata = DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb)
        run = metadata.get_run(started["run_id"])
        result = RunResult.collect(run, metadata.iter_experiments(run.run_id))
        if execution.get("status") != "SUCCEEDED" and run.status.value not in ("SUCCEEDED", "FAILED"):
            raise TunerError(f"execution {execution.get('status')}: {execution.get('cause') or execution.get('error')}")
        if report is not None:  # what the stack's Report function wrote to the bucket
            from ..aws.reporting import fetch_report

            Path(report).write_bytes(fetch_report(emu.s3, emu.bucket_name, run.run_id))
        return result
