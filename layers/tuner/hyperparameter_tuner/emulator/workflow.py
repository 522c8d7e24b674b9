"""``hpt emulate``: the whole AWS workflow of ``template.yaml`` on one split, run locally in the emulator.

It uploads the config and the split as a user would (``datasets/<dataset>/tuning.yaml`` and the split),
delivers the upload trigger to the fan-out the way the template wires it, waits for the state machine, and
reads the run back from the emulated table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import read_config_text
from ..errors import ConfigError, DataError, TunerError
from ..results import RunResult

__all__ = ["EmulatedInputError", "emulate_run"]


class EmulatedInputError(ConfigError):
    """The fan-out refused the config or the data (its FAILED run record's reason is the message)."""


def _dataset_name(config_path: Path, text: str) -> str:
    import yaml

    try:
        name = (yaml.safe_load(text) or {}).get("name")
    except (yaml.YAMLError, AttributeError):
        name = None
    from ..aws.events import dataset_name

    return dataset_name(str(name or config_path.stem))


def _local_names(message: str, names: dict[str, str]) -> str:
    """``message`` with every emulated S3 location in ``names`` replaced by the user's own path (longest first).

    Examples
    --------
    >>> _local_names("s3://b/datasets/d/x.npz: X_train contains NaN", {"s3://b/datasets/d/x.npz": "x.npz"})
    'x.npz: X_train contains NaN'
    """
    for uri in sorted(names, key=len, reverse=True):
        message = message.replace(uri, names[uri])
    return message


def emulate_run(
    config_path: str | Path,
    data_path: str | Path,
    *,
    template: str | Path = "template.yaml",
    timeout: float = 3600.0,
    on_started: Callable[[dict[str, Any]], None] | None = None,
) -> RunResult:
    """Run one tuning through the emulated AWS application and return its :class:`RunResult`.

    Raises
    ------
    EmulatedInputError
        When the fan-out recorded the run as FAILED for bad input, or rejected the event. The message names the
        user's config and data paths, not the emulated bucket's keys they were uploaded to.
    ConfigError, DataError
        When the local files cannot be read or uploaded.
    """
    from ..aws.dynamodb import DynamoDBMetadataTracker
    from ..aws.s3data import upload_split
    from . import Emulator

    config_path, data_path, template = Path(config_path), Path(data_path), Path(template)
    if not template.is_file():
        raise ConfigError(f"{template}: no such template (run from the project root or pass --template)")
    config_text = read_config_text(config_path)
    if not data_path.exists():
        raise DataError(f"{data_path}: no such file or folder")
    dataset = _dataset_name(config_path, config_text)
    # moto warns that ToleratedFailurePercentage has no effect there; the reducer enforces the tolerance instead.
    logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor").setLevel(logging.ERROR)
    suffix = ".json" if config_path.suffix == ".json" else ".yaml"
    with Emulator(template, retry_sleep=False) as emu:
        prefix = f"datasets/{dataset}/"
        config_key = f"{prefix}tuning{suffix}"
        emu.s3.put_object(Bucket=emu.bucket_name, Key=config_key, Body=config_text.encode())
        key, _ = upload_split(emu.s3, emu.bucket_name, prefix, data_path)
        bucket_uri = f"s3://{emu.bucket_name}/"
        names = {bucket_uri + config_key: str(config_path)}
        if data_path.is_dir():  # a CSV folder: its files were uploaded under <prefix><folder name>/
            names[f"{bucket_uri}{prefix}{data_path.name}/"] = f"{data_path}/"
            names[f"{bucket_uri}{prefix}{data_path.name}"] = str(data_path)
        else:
            names[bucket_uri + key] = str(data_path)
        started = emu.deliver_s3_object_created(key)["FanOutFunction"]
        if on_started is not None:
            on_started(started)
        if started.get("status") in ("FAILED", "REJECTED"):
            raise EmulatedInputError(_local_names(str(started.get("reason")), names))
        execution = emu.wait_for_execution(started["execution_arn"], timeout=timeout)
        metadata = DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb)
        run = metadata.get_run(started["run_id"])
        result = RunResult.collect(run, metadata.iter_experiments(run.run_id))
        if execution.get("status") != "SUCCEEDED" and run.status.value not in ("SUCCEEDED", "FAILED"):
            raise TunerError(f"execution {execution.get('status')}: {execution.get('cause') or execution.get('error')}")
        return result
