"""Bad input, everywhere it can enter: ``hpt run``, the fan-out's three event kinds, the Python API, ``hpt emulate``
and ``hpt submit``.

One table of cases (config text, data builder, event or argv, and the message fragment that must name the field or
file) is run through every entry point that applies:

* ``hpt run``: exit 2, exactly one stderr line ``error: ...``, no traceback, nothing on stdout, no ``--store`` dir;
* the fan-out handler under plain moto (milliseconds per case): a FAILED run record with ``input_error`` and the
  reason, no execution started, no manifest under ``runs/``;
* the Python API: ``LocalTuner(...)`` (or ``load_config``) raises ConfigError / DataError and writes nothing;
* ``hpt emulate`` and ``hpt submit`` (the whole emulated deployment) for a few representative cases.

Also here: hostile trainer names are refused before any import, and the experiments-per-run cap.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import importlib
import importlib.util
import io
import json
import math
import re
import struct
import sys
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from urllib.parse import quote_plus

import boto3
import numpy as np
import pytest
import yaml
from moto import mock_aws
from numpy.lib import format as npy_format

from hyperparameter_tuner import ConfigError, DataError, LocalTuner, load_config, parse_config
from hyperparameter_tuner.aws.dynamodb import DynamoDBMetadataTracker
from hyperparameter_tuner.aws.s3data import upload_split
from hyperparameter_tuner.cli import main
from hyperparameter_tuner.config import DEFAULT_MAX_EXPERIMENTS, check_grid_size
from hyperparameter_tuner.emulator import Emulator, LambdaContext, load_template, s3_object_created_event
from hyperparameter_tuner.records import RunStatus

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "hpt-bad-input-bucket"
TABLE = "hpt-bad-input-table"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:hpt-bad-input"
TRIVIAL_DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
DATASET = "badinput"

BASE: dict[str, Any] = {
    "name": "bad-input",
    "training_params": {"LogisticRegression": {"C": [0.5, 1.0]}},
    "trainer_config": {"LogisticRegression": {"max_iter": 300}},
    "metrics": ["accuracy"],
    "perf_metric": "accuracy",
}

_DROP = object()


def cfg(**changes: Any) -> dict[str, Any]:
    """BASE with keys changed (``_DROP`` removes a key)."""
    merged = {**BASE, **changes}
    return {key: value for key, value in merged.items() if value is not _DROP}


# -- data builders: (folder to write in, iris arrays) -> path of the split --------------------------------------

DataBuilder = Callable[[Path, dict[str, np.ndarray]], Path]


def good_npz(tmp: Path, arrays: dict[str, np.ndarray]) -> Path:
    path = tmp / "split.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle
    return path


def npz_with(**changes: Any) -> DataBuilder:
    """An ``.npz`` of the iris split with arrays replaced (``None`` drops one); a callable value maps the old one."""

    def build(tmp: Path, arrays: dict[str, np.ndarray]) -> Path:
        merged: dict[str, Any] = dict(arrays)
        for name, value in changes.items():
            merged[name] = value(arrays[name]) if callable(value) else value
        path = tmp / "bad.npz"
        np.savez(path, **{name: value for name, value in merged.items() if value is not None})
        return path

    return build


def raw_file(name: str, body: bytes) -> DataBuilder:
    def build(tmp: Path, arrays: dict[str, np.ndarray]) -> Path:
        path = tmp / name
        path.write_bytes(body)
        return path

    return build


def absent(tmp: Path, arrays: dict[str, np.ndarray]) -> Path:
    return tmp / "absent.npz"


def _csv_text(X: np.ndarray, y: np.ndarray, columns: list[str]) -> str:
    lines = [",".join(columns)]
    lines += [",".join([*(repr(float(v)) for v in row), str(int(label))]) for row, label in zip(X, y, strict=True)]
    return "\n".join(lines) + "\n"


def csv_folder(*, train: str | bytes | None = None, test: str | bytes | None = "default",
               label: str = "target") -> DataBuilder:
    """A CSV split folder from iris; ``train``/``test`` replace a file's content (``None`` test: no test.csv)."""

    def build(tmp: Path, arrays: dict[str, np.ndarray]) -> Path:
        folder = tmp / "split"
        folder.mkdir()
        columns = ["a", "b", "c", "d", label]
        files = {
            "train.csv": train if train is not None else _csv_text(arrays["X_train"], arrays["y_train"], columns),
            "test.csv": _csv_text(arrays["X_test"], arrays["y_test"], columns) if test == "default" else test,
        }
        for name, body in files.items():
            if body is not None:
                (folder / name).write_bytes(body.encode() if isinstance(body, str) else body)
        return folder

    return build


def _with_nan(array: np.ndarray) -> np.ndarray:
    copy = array.astype(float).copy()
    copy[3, 1] = np.nan
    return copy


# -- fan-out events: built in a deployment; may upload what they need ------------------------------------------


def s3_event(key: str, bucket: str = BUCKET, version: str | None = "v-none") -> dict[str, Any]:
    """The EventBridge "Object Created" event for ``key`` (the builder form-encodes the key, as S3 does)."""
    return s3_object_created_event(bucket, key, version, '"0123456789abcdef0123456789abcdef"', 10)


def _without_detail(env: SimpleNamespace) -> Any:
    event = s3_event(f"datasets/{DATASET}/split.npz")
    del event["detail"]
    return event


def _direct_missing_config(env: SimpleNamespace) -> Any:
    env.s3.put_object(Bucket=BUCKET, Key=f"datasets/{DATASET}/split.npz", Body=env.good_npz_bytes)
    return {"kind": "direct", "config_key": "submissions/nothing-here.yaml",
            "data_key": f"datasets/{DATASET}/split.npz"}


def _dataset_without_config(env: SimpleNamespace) -> Any:
    key = f"datasets/{DATASET}/split.npz"
    env.s3.put_object(Bucket=BUCKET, Key=key, Body=env.good_npz_bytes)
    return s3_event(key, version=env.s3.head_object(Bucket=BUCKET, Key=key)["VersionId"])


def _schedule_without_split(env: SimpleNamespace) -> Any:
    env.s3.put_object(Bucket=BUCKET, Key=f"datasets/{DATASET}/tuning.yaml", Body=yaml.safe_dump(BASE).encode())
    return {"kind": "schedule", "dataset": DATASET}


# -- the table ----------------------------------------------------------------------------------------------------

RUN, FAN_OUT, API, CLI = "hpt run", "fan-out", "python api", "cli"
FILE_ENTRY_POINTS = frozenset({RUN, FAN_OUT, API})


@dataclass(frozen=True)
class Case:
    """One bad input and the fragment (a regex) its error must contain at every entry point that applies."""

    id: str
    message: str
    config: Any = field(default_factory=lambda: dict(BASE))
    config_text: str | None = None
    data: DataBuilder = good_npz
    event: Callable[[SimpleNamespace], Any] | None = None
    argv: tuple[str, ...] | None = None
    max_experiments: int | None = None
    fan_out_message: str | None = None
    fan_out_status: str = "FAILED"
    entry_points: frozenset[str] = FILE_ENTRY_POINTS
    needs_data: bool = False
    """A config that is valid alone but cannot work on the split (labels, classes): the API refuses it at run."""

    def text(self) -> str:
        return self.config_text if self.config_text is not None else yaml.safe_dump(self.config, sort_keys=False)


def config_case(id: str, message: str, config: Any = None, *, text: str | None = None, **kw: Any) -> Case:
    return Case(id=id, message=message, config=config if config is not None else dict(BASE), config_text=text, **kw)


def data_case(id: str, message: str, data: DataBuilder, **kw: Any) -> Case:
    return Case(id=id, message=message, data=data, **kw)


def event_case(id: str, message: str, event: Callable[[SimpleNamespace], Any], status: str = "REJECTED") -> Case:
    return Case(id=id, message=message, event=event, fan_out_status=status, entry_points=frozenset({FAN_OUT}))


def cli_case(id: str, message: str, *argv: str) -> Case:
    return Case(id=id, message=message, argv=argv, entry_points=frozenset({CLI}))


SIX = {"LogisticRegression": {"C": [0.1, 0.2, 0.5, 1.0, 2.0, 5.0]}}

CONFIG_CASES = [
    config_case("yaml-syntax", r"line 2, column \d+: invalid YAML/JSON", text="training_params: {LogisticRegression:\n"
                "  metrics: [accuracy\n"),
    config_case("json-syntax", r"invalid YAML/JSON", text='{"training_params": {"LogisticRegression": {}},,}'),
    config_case("empty-file", r"the config is empty", text="\n# nothing\n"),
    config_case("scalar-document", r"expected a mapping of settings, got str", text="just a string\n"),
    config_case("missing-training_params", r"training_params(: required key is missing| is required)",
                cfg(training_params=_DROP)),
    config_case("missing-metrics", r"metrics(: required key is missing| is required)", cfg(metrics=_DROP)),
    config_case("missing-perf_metric", r"perf_metric(: required key is missing| is required)",
                cfg(perf_metric=_DROP, trainer_config=_DROP)),
    config_case("empty-training_params", r"training_params: .*at least 1 item", cfg(training_params={},
                                                                                   trainer_config=_DROP)),
    config_case("empty-metrics", r"metrics: .*at least 1 item", cfg(metrics=[])),
    config_case("unknown-trainer", r"unknown trainer 'NoSuchRegressor'",
                cfg(training_params={"NoSuchRegressor": {"alpha": [1]}}, trainer_config=_DROP)),
    config_case("unknown-parameter", r"training_params\.LogisticRegression\.Cee: LogisticRegression has no parameter",
                cfg(training_params={"LogisticRegression": {"Cee": [1.0]}})),
    config_case("unknown-metric", r"metrics\[1\]: unknown metric 'accuracyy'", cfg(metrics=["accuracy", "accuracyy"])),
    config_case("perf_metric-outside-metrics", r"perf_metric: 'f1_macro' is not one of metrics",
                cfg(perf_metric="f1_macro")),
    config_case("duplicate-metric", r"metrics: 'accuracy' is listed twice", cfg(metrics=["accuracy", "accuracy"])),
    config_case("metrics-not-a-list", r"metrics: Input should be a valid list", cfg(metrics="accuracy")),
    config_case("max_concurrency-wrong-type", r"max_concurrency: .*valid integer", cfg(max_concurrency="lots")),
    config_case("max_concurrency-zero", r"max_concurrency: .*greater than or equal to 1", cfg(max_concurrency=0)),
    config_case("max_failure_ratio-above-1", r"max_failure_ratio: .*less than or equal to 1",
                cfg(max_failure_ratio=1.5)),
    config_case("batch_size-zero", r"batch_size: .*greater than or equal to 1", cfg(batch_size=0)),
    config_case("seed-negative", r"seed: .*greater than or equal to 0", cfg(seed=-5)),
    config_case("direction-unknown", r"direction: .*'maximize' or 'minimize'", cfg(direction="upwards")),
    config_case("target-empty", r"target: .*at least 1 character", cfg(target="")),
    config_case("name-too-long", r"name: .*at most 200 characters", cfg(name="n" * 201)),
    config_case("unknown-top-level-key", r"trainers: unknown key", cfg(trainers={"SVC": {}})),
    config_case("scalar-parameter-values", r"training_params\.LogisticRegression\.C: expected a list of values",
                cfg(training_params={"LogisticRegression": {"C": 1.0}})),
    config_case("empty-parameter-values", r"training_params\.LogisticRegression\.C: the list of values is empty",
                cfg(training_params={"LogisticRegression": {"C": []}})),
    config_case("trainer_config-for-absent-trainer", r"trainer_config\.SVC: trainer is not in training_params",
                cfg(trainer_config={"SVC": {"C": 1.0}})),
    config_case("trainer_config-clashes-with-grid", r"trainer_config\.LogisticRegression\.C: also searched",
                cfg(trainer_config={"LogisticRegression": {"C": 3.0}})),
    config_case("hostile-trainer-os.system", r"unknown trainer 'os\.system'",
                cfg(training_params={"os.system": {}}, trainer_config=_DROP)),
    config_case("grid-over-the-cap", r"the grid has 6 experiments, over the cap of 5",
                cfg(training_params=SIX), max_experiments=5),
    config_case("search-distribution-on-a-grid",
                r"training_params\.LogisticRegression\.C: a distribution needs search: \{strategy: random",
                cfg(training_params={"LogisticRegression": {"C": {"distribution": "loguniform", "low": 0.1,
                                                                   "high": 10}}})),
    config_case("search-random-without-n_iter", r"search\.n_iter: required with strategy random",
                cfg(search={"strategy": "random"})),
    config_case("search-unknown-distribution", r"did you mean 'loguniform'",
                cfg(training_params={"LogisticRegression": {"C": {"distribution": "logunifrom", "low": 0.1,
                                                                   "high": 10}}}, search={"strategy": "random",
                                                                                          "n_iter": 2})),
    config_case("halving-rung-larger-than-the-split",
                r"search: min_resources_=500 is greater than max_resources_=90",
                cfg(search={"strategy": "halving", "min_resources": 500}), needs_data=True),
]

DATA_CASES = [
    data_case("data-missing", r"absent\.npz: no such (file or folder|object)", absent),
    data_case("data-not-a-zip", r"not a readable \.npz file", raw_file("split.npz", b"PK? no, just text")),
    data_case("data-wrong-format", r"expected an \.npz file or a folder of CSV files", raw_file("data.txt", b"1,2\n"),
              fan_out_message=r"'datasets/badinput/data\.txt' is not a split", fan_out_status="REJECTED"),
    data_case("data-missing-array", r"array 'y_test' is missing", npz_with(y_test=None)),
    data_case("data-x_val-without-y_val", r"y_val is missing \(X_val and y_val come together\)",
              npz_with(y_val=None)),
    data_case("data-row-count-mismatch", r"X_train has 90 rows but y_train has 89",
              npz_with(y_train=lambda y: y[:89])),
    data_case("data-feature-count-mismatch", r"X_test has 3 features but X_train has 4",
              npz_with(X_test=lambda x: x[:, :3])),
    data_case("data-one-dimensional-X", r"X_train must be 2-D", npz_with(X_train=lambda x: x[:, 0])),
    data_case("data-string-features", r"X_train must be numeric, got dtype kind 'U'",
              npz_with(X_train=lambda x: x.astype(str))),
    data_case("data-object-array", r"X_test must be numeric, got dtype kind 'O'",
              npz_with(X_test=lambda x: x.astype(object))),
    data_case("data-nan-in-npz", r"X_train contains NaN", npz_with(X_train=_with_nan)),
    data_case("csv-missing-label-column", r"train\.csv: label column 'target' is missing",
              csv_folder(label="species")),
    data_case("csv-non-numeric-feature", r"train\.csv line 3, column 'b': 'four' is not a number",
              csv_folder(train="a,b,c,d,target\n1,2,3,4,0\n1,four,3,4,1\n")),
    data_case("csv-nan-feature", r"train\.csv line 2, column 'c': missing value \(NaN\)",
              csv_folder(train="a,b,c,d,target\n1,2,nan,4,0\n1,2,3,4,1\n")),
    data_case("csv-missing-test-file", r"test\.csv is missing", csv_folder(test=None)),
    data_case("csv-not-utf8", r"train\.csv: not UTF-8 text", csv_folder(train=b"a,b,c,d,target\n\xff\xfe,1,2,3,0\n")),
    data_case("csv-columns-differ", r"test\.csv: columns differ from train\.csv",
              csv_folder(test="a,b,c,e,target\n1,2,3,4,0\n")),
]

EVENT_CASES = [
    event_case("event-not-an-object", r"event must be a JSON object, got list", lambda env: ["not", "an", "event"]),
    event_case("event-s3-without-detail", r"S3 upload event: detail: Field required", _without_detail),
    event_case("event-s3-key-outside-datasets", r"'uploads/split\.npz' is not under datasets/",
               lambda env: s3_event("uploads/split.npz")),
    event_case("event-s3-non-split-object", r"'datasets/badinput/notes\.txt' is not a split",
               lambda env: s3_event("datasets/badinput/notes.txt")),
    event_case("event-s3-csv-file-not-marker", r"'datasets/badinput/2026/train\.csv' is not a split",
               lambda env: s3_event("datasets/badinput/2026/train.csv")),
    event_case("event-s3-key-directly-under-datasets", r"expected datasets/<dataset>/<split>",
               lambda env: s3_event("datasets/split.npz")),
    event_case("event-s3-invalid-dataset-name", r"dataset name '\.hidden' must match",
               lambda env: s3_event("datasets/.hidden/split.npz")),
    event_case("event-s3-other-bucket", r"event for bucket 'someone-elses-bucket'",
               lambda env: s3_event(f"datasets/{DATASET}/split.npz", bucket="someone-elses-bucket")),
    event_case("event-schedule-without-dataset", r"schedule event: dataset: Field required",
               lambda env: {"kind": "schedule"}),
    event_case("event-schedule-invalid-dataset", r"schedule event: dataset: String should match pattern",
               lambda env: {"kind": "schedule", "dataset": "../etc"}),
    event_case("event-schedule-extra-field", r"schedule event: bucket: Extra inputs are not permitted",
               lambda env: {"kind": "schedule", "dataset": DATASET, "bucket": "x"}),
    event_case("event-schedule-dataset-without-split", r"dataset 'badinput' has no split", _schedule_without_split),
    event_case("event-unknown-kind", r"event is not an S3 upload", lambda env: {"kind": "manual"}),
    event_case("event-direct-without-config_key", r"direct event: config_key: Field required",
               lambda env: {"kind": "direct", "data_key": f"datasets/{DATASET}/split.npz"}),
    event_case("event-direct-config-object-missing", r"submissions/nothing-here\.yaml: no such config object",
               _direct_missing_config, status="FAILED"),
    event_case("event-dataset-without-config", r"no tuning\.yaml or tuning\.yml or tuning\.json for this dataset",
               _dataset_without_config, status="FAILED"),
]

CLI_CASES = [
    cli_case("cli-no-command", r"required: command"),
    cli_case("cli-unknown-command", r"invalid choice: 'train'", "train", "{config}"),
    cli_case("cli-run-without-data", r"required: --data", "run", "{config}"),
    cli_case("cli-run-without-config", r"required: config", "run", "--data", "{data}"),
    cli_case("cli-run-jobs-zero", r"argument --jobs: expected a positive integer, got 0",
             "run", "{config}", "--data", "{data}", "--jobs", "0"),
    cli_case("cli-run-jobs-not-a-number", r"argument --jobs: expected a positive integer, got 'many'",
             "run", "{config}", "--data", "{data}", "--jobs", "many"),
    cli_case("cli-run-max-experiments-negative", r"argument --max-experiments: expected a positive integer",
             "run", "{config}", "--data", "{data}", "--max-experiments=-3"),
    cli_case("cli-run-top-zero", r"argument --top: expected a positive integer, got 0",
             "run", "{config}", "--data", "{data}", "--top", "0"),
    cli_case("cli-run-unknown-flag", r"unrecognized arguments: --fast",
             "run", "{config}", "--data", "{data}", "--fast"),
    cli_case("cli-run-store-is-a-file", r"store .*not a directory",
             "run", "{config}", "--data", "{data}", "--store", "{file}"),
    cli_case("cli-submit-without-stack", r"required: --stack", "submit", "{config}", "--data", "{data}"),
    cli_case("cli-emulate-missing-template", r"nope\.yaml: no such template",
             "emulate", "{config}", "--data", "{data}", "--template", "{tmp}/nope.yaml"),
    cli_case("cli-leaderboard-without-store", r"no tuner store there", "leaderboard", "--store", "{store}"),
    cli_case("cli-submit-poll-not-a-number", r"argument --poll: invalid float value",
             "submit", "{config}", "--data", "{data}", "--stack", "s", "--poll", "soon"),
]


# -- inputs that surely fail, refused up front (issue 8, items 6 and 7) ------------------------------------------

# A 325-byte "billion laughs": 9**7 = 4.8 million values once its aliases are expanded.
ALIAS_BOMB = "".join(
    [f"{a}: &{a} [{', '.join(['1'] * 9)}]\n" if a == "a" else f"{a}: &{a} [{', '.join([f'*{prev}'] * 9)}]\n"
     for prev, a in zip("xabcdef", "abcdefg", strict=True)]
) + "training_params: {LogisticRegression: {C: *g}}\nmetrics: [accuracy]\nperf_metric: accuracy\n"

_BLOCK = bytes(1 << 22)  # 4 MiB of zeros


@functools.cache
def _deflated_zero_block() -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(_BLOCK) + compressor.flush(zlib.Z_FULL_FLUSH)


@functools.cache
def _zero_member(shape: tuple[int, ...], descr: str) -> tuple[bytes, int, int]:
    """One ``.npy`` member of zeros, deflated: (compressed bytes, CRC-32, uncompressed size)."""
    header = io.BytesIO()
    npy_format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
    head = header.getvalue()
    nbytes = math.prod(shape) * np.dtype(descr).itemsize
    assert nbytes % len(_BLOCK) == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    # After a full flush every block is independent, so one deflated 4 MiB block can be repeated.
    data = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    data += _deflated_zero_block() * (nbytes // len(_BLOCK)) + compressor.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head)
    for _ in range(nbytes // len(_BLOCK)):
        crc = zlib.crc32(_BLOCK, crc)
    return data, crc, len(head) + nbytes


def zero_npz_bytes(arrays: dict[str, tuple[tuple[int, ...], str]]) -> bytes:
    """A valid ``.npz`` (np.load reads it) of all-zero arrays: numpy.lib.format headers, a hand-written zip of
    deflated members. A few MB on disk for GBs in memory."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, (shape, descr) in arrays.items():
        data, crc, size = _zero_member(shape, descr)
        filename = f"{name}.npy".encode()
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(filename), 0))
        out.write(filename + data)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                                  len(filename), 0, 0, 0, 0, 0, offset) + filename)
    start = out.tell()
    out.write(central.getvalue())
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(arrays), len(arrays), len(central.getvalue()), start, 0))
    return out.getvalue()


HUGE_ROWS = 2**28  # X_train and X_test: 2**28 x 1 float64 = 2 GiB each in memory


def huge_npz(tmp: Path, arrays: dict[str, np.ndarray]) -> Path:
    path = tmp / "huge.npz"
    path.write_bytes(zero_npz_bytes({"X_train": ((HUGE_ROWS, 1), "<f8"), "y_train": ((HUGE_ROWS,), "|i1"),
                                     "X_test": ((HUGE_ROWS, 1), "<f8"), "y_test": ((HUGE_ROWS,), "|i1")}))
    return path


def _labels(**changes: Callable[[np.ndarray], np.ndarray]) -> DataBuilder:
    return npz_with(**changes)


def _as_float16_with(value: float) -> Callable[[np.ndarray], np.ndarray]:
    def change(array: np.ndarray) -> np.ndarray:
        copy = array.astype(np.float16)
        copy[2, 3] = value
        return copy

    return change


REGRESSION = {"training_params": {"Ridge": {"alpha": [1.0]}}, "metrics": ["r2"], "perf_metric": "r2"}


def only(trainer: str, *, metrics: list[str] | None = None, params: dict[str, Any] | None = None,
         **extra: Any) -> dict[str, Any]:
    """A config of one trainer (no trainer_config) and the given metrics (perf_metric: the first)."""
    metrics = metrics or ["accuracy"]
    return {"training_params": {trainer: params or {}}, "metrics": metrics, "perf_metric": metrics[0], **extra}


REQUIRED_ARGUMENTS = [("Pipeline", "steps"), ("VotingClassifier", "estimators"), ("StackingClassifier", "estimators"),
                      ("GridSearchCV", "estimator"), ("ColumnTransformer", "transformers"),
                      ("FeatureUnion", "transformer_list"), ("RFE", "estimator"), ("SelectFromModel", "estimator"),
                      ("OneVsRestClassifier", "estimator")]

UP_FRONT_CASES = [
    config_case("yaml-alias-bomb", r"line \d: aliases expand the config past 1024 KiB", text=ALIAS_BOMB),
    config_case("yaml-duplicate-trainer",
                r"line 4, column 3: key 'LogisticRegression' is given twice \(first on line 2\)",
                text="training_params:\n  LogisticRegression: {C: [1.0]}\n  SVC: {}\n  LogisticRegression: {C: [2.0]}\n"
                     "metrics: [accuracy]\nperf_metric: accuracy\n"),
    config_case("yaml-duplicate-parameter", r"line 4, column 5: key 'C' is given twice \(first on line 3\)",
                text="training_params:\n  LogisticRegression:\n    C: [1.0]\n    C: [2.0]\n"
                     "metrics: [accuracy]\nperf_metric: accuracy\n"),
    config_case("json-duplicate-top-level-key", r"key 'metrics' is given twice \(first on line 1\)",
                text='{"metrics": ["accuracy"],\n "training_params": {"SVC": {}}, "perf_metric": "accuracy",\n'
                     ' "metrics": ["f1_macro"]}\n'),
    config_case("yaml-nested-too-deeply", r"the config is nested too deeply",
                text="training_params: {LogisticRegression: {C: " + "[" * 3000 + "]" * 3000 + "}}\n"),
    config_case("config-over-256-KiB", r"over the 256 KiB limit",
                text="# " + "x" * (256 * 1024) + "\n" + yaml.safe_dump(BASE)),
    config_case("nan-parameter-value", r"training_params\.LogisticRegression\.C\[0\]: nan is not a usable value",
                text="training_params: {LogisticRegression: {C: [.nan, .inf, 1.0]}}\nmetrics: [accuracy]\n"
                     "perf_metric: accuracy\n"),
    config_case("inf-parameter-value", r"training_params\.LogisticRegression\.C\[1\]: inf is not a usable value",
                text="training_params: {LogisticRegression: {C: [1.0, .inf]}}\nmetrics: [accuracy]\n"
                     "perf_metric: accuracy\n"),
    config_case("nan-in-trainer_config", r"trainer_config\.LogisticRegression\.tol: nan is not a usable value",
                text="training_params: {LogisticRegression: {C: [1.0]}}\ntrainer_config: {LogisticRegression: "
                     "{tol: .nan}}\nmetrics: [accuracy]\nperf_metric: accuracy\n"),
    config_case("nan-inside-a-dict-value", r"class_weight\[0\]\[1\]: -inf is not a usable value",
                text="training_params: {LogisticRegression: {class_weight: [{0: 1.0, 1: -.inf}]}}\n"
                     "metrics: [accuracy]\nperf_metric: accuracy\n"),
    config_case("date-parameter-value", r"training_params\.SVC\.kernel\[0\]: 2024-01-01 was read as a date",
                text="training_params: {SVC: {kernel: [2024-01-01]}}\nmetrics: [accuracy]\nperf_metric: accuracy\n"),
    config_case("bytes-parameter-value", r"training_params\.SVC\.kernel\[0\]: a bytes value .* cannot be carried",
                text="training_params: {SVC: {kernel: [!!binary aGk=]}}\nmetrics: [accuracy]\nperf_metric: accuracy\n"),
    config_case("roc_auc-on-a-regressor",
                r"metrics\[0\]: 'roc_auc' is a classification metric, but training_params\.Ridge is a regressor",
                only("Ridge", metrics=["roc_auc"])),
    config_case("accuracy-on-a-regressor",
                r"metrics\[1\]: 'accuracy' is a classification metric, but training_params\.Ridge is a regressor",
                only("Ridge", metrics=["r2", "accuracy"])),
    config_case("r2-on-a-classifier",
                r"metrics\[0\]: 'r2' is a regression metric, but training_params\.LogisticRegression is a classifier",
                only("LogisticRegression", metrics=["r2"])),
    config_case("neg_log_loss-without-predict_proba",
                r"metrics\[0\]: 'neg_log_loss' needs predict_proba\(\), which training_params\.RidgeClassifier"
                r" does not have",
                only("RidgeClassifier", metrics=["neg_log_loss"])),
    config_case("neg_log_loss-on-SVC-without-probability",
                r"'neg_log_loss' needs predict_proba\(\), which training_params\.SVC has only with probability=True",
                only("SVC", metrics=["neg_log_loss"], params={"C": [1.0]})),
    *[config_case(f"required-argument-{name}", rf"training_params\.{name}: {name} needs '{argument}'",
                  only(name)) for name, argument in REQUIRED_ARGUMENTS],
    config_case("clusterer-with-accuracy",
                r"metrics\[0\]: 'accuracy' is a classification metric, but training_params\.KMeans is a clusterer",
                only("KMeans", params={"n_clusters": [3]})),
    config_case("transformer-with-accuracy", r"training_params\.StandardScaler is a transformer \(no predict\)",
                only("StandardScaler")),
    config_case("outlier-detector-with-accuracy", r"training_params\.IsolationForest is an outlier detector",
                only("IsolationForest")),
    config_case("nested-parameter-name", r"training_params\.BaggingClassifier\.estimator__max_depth: nested parameter"
                r" names \(a__b\) are not supported", only("BaggingClassifier", params={"estimator__max_depth": [2]})),
    config_case("memory-parameter", r"training_params\.AgglomerativeClustering\.memory: '/tmp/hpt-cache' is refused: "
                "it makes the estimator cache to", only("AgglomerativeClustering", metrics=["adjusted_rand_score"],
                                                         params={"memory": ["/tmp/hpt-cache"]})),
    config_case("direction-minimize-on-a-scorer",
                r"direction: 'minimize' contradicts perf_metric 'neg_log_loss': scikit-learn scorers are"
                r" greater-is-better",
                cfg(metrics=["neg_log_loss"], perf_metric="neg_log_loss", direction="minimize")),
    config_case("multilabel-only-metric", r"metrics\[0\]: 'f1_samples' needs multilabel targets",
                cfg(metrics=["f1_samples"], perf_metric="f1_samples")),
    config_case("max_data_bytes-zero", r"max_data_bytes: .*greater than or equal to 1", cfg(max_data_bytes=0)),
    Case(id="roc_auc-on-three-classes", needs_data=True, config=cfg(metrics=["roc_auc"], perf_metric="roc_auc"),
         message=r"metrics\[0\]: 'roc_auc' works on two classes only, and .* has 3 classes"),
    Case(id="f1-on-three-classes", needs_data=True, config=cfg(metrics=["accuracy", "f1"]),
         message=r"metrics\[1\]: 'f1' works on two classes only, and .* has 3 classes"),
    Case(id="labels-one-class", needs_data=True, data=_labels(y_train=np.zeros_like),
         message=r"y_train has a single class \(0\), but training_params\.LogisticRegression is a classifier"),
    Case(id="labels-float-for-a-classifier", needs_data=True, data=_labels(y_val=lambda y: y + 0.5),
         message=r"y_val holds non-integer numbers \(e\.g\. [0-9.]+\), but training_params\.LogisticRegression"
                 r" is a classifier"),
    Case(id="labels-mixed-types", needs_data=True, data=_labels(y_test=lambda y: np.array([f"c{v}" for v in y])),
         message=r"y_test holds text but y_train holds numbers"),
    Case(id="labels-text-for-a-regressor", needs_data=True, config=REGRESSION,
         data=_labels(**{name: (lambda y: np.array([f"c{v}" for v in y])) for name in ("y_train", "y_val", "y_test")}),
         message=r"y_train holds text labels, but training_params\.Ridge is a regressor"),
    data_case("data-float16-nan", r"X_train contains NaN$", npz_with(X_train=_as_float16_with(np.nan))),
    data_case("data-float16-inf", r"X_val contains inf$", npz_with(X_val=_as_float16_with(-np.inf))),
    data_case("data-2x2GiB-in-a-4MB-npz", r"huge\.npz: array 'X_train': shape \(268435456, 1\) of <f8 brings the"
              r" split's arrays to 2\.0 GiB \(2147483648 bytes\), over max_data_bytes 1073741824 \(1\.0 GiB\)",
              huge_npz),
    Case(id="data-over-a-small-max_data_bytes", config=cfg(max_data_bytes=1000), needs_data=True,
         message=r"array 'X_train': shape \(90, 4\) of <f8 brings the split's arrays to .* over max_data_bytes 1000"),
    Case(id="csv-over-max_data_bytes", config=cfg(max_data_bytes=1000), data=csv_folder(), needs_data=True,
         message=r"train\.csv: the CSV files total .* over max_data_bytes 1000"),
]

CASES: list[Case] = [*CONFIG_CASES, *DATA_CASES, *EVENT_CASES, *CLI_CASES, *UP_FRONT_CASES]
assert len(CASES) >= 30
assert len({case.id for case in CASES}) == len(CASES), "case ids are distinct"


def _params(entry_point: str) -> list[Any]:
    return [pytest.param(case, id=case.id) for case in CASES if entry_point in case.entry_points]


# -- shared fixtures and helpers ----------------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    return folder


def write_inputs(case: Case, workdir: Path, arrays: dict[str, np.ndarray]) -> tuple[Path, Path]:
    config = workdir / "tuning.yaml"
    config.write_text(case.text())
    return config, case.data(workdir, arrays)


def assert_one_error_line(code: int, captured: Any, message: str) -> str:
    assert code == 2, (code, captured.err)
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert re.search(message, captured.err), captured.err
    return str(captured.err)


# -- hpt run --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params(RUN))
def test_hpt_run_refuses(case: Case, tmp_path: Path, workdir: Path, iris_arrays: dict[str, np.ndarray],
                         capsys: pytest.CaptureFixture[str]) -> None:
    # Given
    config, data = write_inputs(case, workdir, iris_arrays)
    store = tmp_path / "store"
    argv = ["run", str(config), "--data", str(data), "--store", str(store), "--jobs", "1"]
    if case.max_experiments is not None:
        argv += ["--max-experiments", str(case.max_experiments)]

    # When
    code = main(argv)

    # Then
    assert_one_error_line(code, capsys.readouterr(), case.message)
    assert not store.exists()


@pytest.mark.parametrize("case", _params(CLI))
def test_cli_arguments_are_refused(case: Case, tmp_path: Path, workdir: Path, iris_arrays: dict[str, np.ndarray],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    # Given
    config, data = write_inputs(case, workdir, iris_arrays)
    store, file = tmp_path / "store", tmp_path / "a-file"
    file.write_text("not a store")
    names = {"config": config, "data": data, "store": store, "file": file, "tmp": tmp_path}
    argv = [arg.format(**{k: str(v) for k, v in names.items()}) for arg in case.argv or ()]

    # When
    code = main(argv)

    # Then
    assert_one_error_line(code, capsys.readouterr(), case.message)
    assert not store.exists()
    assert file.read_text() == "not a store"


# -- the fan-out handler under plain moto ---------------------------------------------------------------------


@contextlib.contextmanager
def fan_out_deployment(tmp_path: Path, arrays: dict[str, np.ndarray]) -> Iterator[SimpleNamespace]:
    """moto with the template's bucket and table, a state machine that is never executed, and the fan-out handler
    imported (a cold start) with its template environment."""
    environment = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "hyperparameter-tuner", "POWERTOOLS_METRICS_NAMESPACE": "HyperparameterTuner",
        "BUCKET_NAME": BUCKET, "TABLE_NAME": TABLE, "STATE_MACHINE_ARN": STATE_MACHINE_ARN,
        "MAX_EXPERIMENTS": str(DEFAULT_MAX_EXPERIMENTS), "TRAINER_CONCURRENCY": "0",
        "DATA_CACHE_DIR": str(tmp_path / "lambda-tmp"),
    }
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
            monkeypatch.delenv(name, raising=False)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        table = load_template(TEMPLATE).properties("TuningTable")
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(TableName=TABLE, BillingMode=table["BillingMode"], KeySchema=table["KeySchema"],
                              AttributeDefinitions=table["AttributeDefinitions"],
                              GlobalSecondaryIndexes=table["GlobalSecondaryIndexes"])
        sfn = boto3.client("stepfunctions", region_name=REGION)
        sfn.create_state_machine(name="hpt-bad-input", definition=TRIVIAL_DEFINITION,
                                 roleArn=f"arn:aws:iam::{ACCOUNT}:role/hpt-test")
        module_name = f"_hpt_bad_input_fan_out_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(module_name, REPO_ROOT / "functions" / "fan_out" / "app.py")
        assert spec is not None and spec.loader is not None
        module: ModuleType = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
            buffer = tmp_path / "good-bytes.npz"
            np.savez(buffer, **arrays)  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle
            context = LambdaContext(function_name="fan-out", invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}"
                                    ":function:fan-out", memory_limit_in_mb=512, timeout_s=300.0)
            yield SimpleNamespace(
                s3=s3, dynamodb=dynamodb, sfn=sfn, module=module,
                handler=lambda event: module.lambda_handler(event, context),
                metadata=DynamoDBMetadataTracker(TABLE, client=dynamodb), good_npz_bytes=buffer.read_bytes(),
            )
        finally:
            sys.modules.pop(module_name, None)


class SharedDeployment:
    """One fan-out deployment per module (its mock and handler are reused across cases), started lazily and stopped
    before a test starts an :class:`Emulator` (moto's state is process-wide: two mocks cannot live side by side)."""

    def __init__(self, tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
        self.tmp_path, self.arrays = tmp_path, arrays
        self._stack: contextlib.ExitStack | None = None
        self.env: SimpleNamespace | None = None

    def start(self) -> SimpleNamespace:
        if self.env is None:
            self._stack = contextlib.ExitStack()
            self.env = self._stack.enter_context(fan_out_deployment(self.tmp_path, self.arrays))
        return self.env

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack = self.env = None


@pytest.fixture(scope="module")
def shared_deployment(tmp_path_factory: pytest.TempPathFactory,
                      iris_arrays: dict[str, np.ndarray]) -> Iterator[SharedDeployment]:
    deployment = SharedDeployment(tmp_path_factory.mktemp("fan-out"), iris_arrays)
    yield deployment
    deployment.stop()


@pytest.fixture
def fan_out_env(shared_deployment: SharedDeployment) -> Iterator[SimpleNamespace]:
    """The module's fan-out deployment, emptied for this test; ``env.cap(n)`` sets the fan-out's MAX_EXPERIMENTS."""
    env = shared_deployment.start()
    services = env.module.services
    settings = services.settings
    for page in env.s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET):
        for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            env.s3.delete_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])
    for item in env.dynamodb.scan(TableName=TABLE)["Items"]:
        env.dynamodb.delete_item(TableName=TABLE, Key={"PK": item["PK"], "SK": item["SK"]})
    env.executions_before = executions(env)

    def cap(max_experiments: int) -> None:
        services.settings = settings.model_copy(update={"max_experiments": max_experiments})

    env.cap = cap
    try:
        yield env
    finally:
        services.settings = settings


def executions(env: SimpleNamespace) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = env.sfn.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]
    return found


def keys_under(env: SimpleNamespace, prefix: str) -> list[str]:
    return [item["Key"] for item in env.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def upload_inputs(env: SimpleNamespace, config_text: str, data: Path) -> dict[str, Any]:
    """Put the config and the split under ``datasets/<dataset>/`` as a user would; return the split's S3 event."""
    prefix = f"datasets/{DATASET}/"
    env.s3.put_object(Bucket=BUCKET, Key=f"{prefix}tuning.yaml", Body=config_text.encode())
    if not data.exists():
        return s3_event(f"{prefix}{data.name}")
    key, _ = upload_split(env.s3, BUCKET, prefix, data)
    return s3_event(key, version=env.s3.head_object(Bucket=BUCKET, Key=key)["VersionId"])


def assert_input_failure(env: SimpleNamespace, result: dict[str, Any], status: str, message: str) -> None:
    assert result["status"] == status, result
    assert re.search(message, result["reason"] or ""), result["reason"]
    run = env.metadata.get_run(result["run_id"])
    assert (run.status, run.input_error) == (RunStatus.FAILED, True)
    assert run.reason is not None and re.search(message, run.reason), run.reason
    assert executions(env) == env.executions_before
    assert keys_under(env, "runs/") == []


@pytest.mark.parametrize("case", _params(FAN_OUT))
def test_fan_out_records_a_failed_run_and_starts_nothing(
    case: Case, fan_out_env: SimpleNamespace, workdir: Path, iris_arrays: dict[str, np.ndarray],
) -> None:
    # Given
    env = fan_out_env
    env.cap(case.max_experiments or DEFAULT_MAX_EXPERIMENTS)
    if case.event is not None:
        event = case.event(env)
    else:
        event = upload_inputs(env, case.text(), case.data(workdir, iris_arrays))

    # When
    result = env.handler(event)

    # Then
    assert_input_failure(env, result, case.fan_out_status, case.fan_out_message or case.message)


@pytest.mark.parametrize("key", [
    f"datasets/{DATASET}/my split.npz",
    f"datasets/{DATASET}/c++ v1+v2.npz",
    f"datasets/{DATASET}/folder with space+plus/_SUCCESS",
])
def test_fan_out_decodes_keys_with_spaces_and_plus(
    key: str, fan_out_env: SimpleNamespace, tmp_path: Path, iris_arrays: dict[str, np.ndarray],
) -> None:
    env = fan_out_env
    # Given: the split under a key with a space and a '+', the event's key form-encoded as S3 sends it
    env.s3.put_object(Bucket=BUCKET, Key=f"datasets/{DATASET}/tuning.yaml", Body=yaml.safe_dump(BASE).encode())
    if key.endswith("_SUCCESS"):
        folder = key.removesuffix("_SUCCESS")
        split = csv_folder()(tmp_path, iris_arrays)
        for name in ("train.csv", "test.csv"):
            env.s3.put_object(Bucket=BUCKET, Key=folder + name, Body=(split / name).read_bytes())
        env.s3.put_object(Bucket=BUCKET, Key=key, Body=b"")
    else:
        env.s3.put_object(Bucket=BUCKET, Key=key, Body=env.good_npz_bytes)
    event = s3_event(key, version=env.s3.head_object(Bucket=BUCKET, Key=key)["VersionId"])
    assert event["detail"]["object"]["key"] == quote_plus(key, safe="/")  # "+" for a space, "%2B" for a "+"

    # When
    result = env.handler(event)

    # Then: the run is on the decoded key
    assert result["status"] == "STARTED", result
    run = env.metadata.get_run(result["run_id"])
    assert run.data_uri == f"s3://{BUCKET}/{key.removesuffix('_SUCCESS')}"
    started = [e["name"] for e in executions(env) if e not in env.executions_before]
    assert started == [result["run_id"]]


# -- the Python API -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params(API))
def test_python_api_raises(case: Case, tmp_path: Path, workdir: Path, iris_arrays: dict[str, np.ndarray]) -> None:
    config_path, data = write_inputs(case, workdir, iris_arrays)
    store = tmp_path / "api-store"
    is_config_case = case.data is good_npz and not case.needs_data
    if case.needs_data:
        # Given a tuner of the case's config (valid on its own); When it runs on the split
        tuner = LocalTuner(store=store, jobs=1, **case.config)
        with pytest.raises((ConfigError, DataError)) as raised:
            tuner.run_experiment(data)
        # Then: one line naming the metric or the array, and no run was recorded
        assert re.search(case.message, str(raised.value)), str(raised.value)
        assert "\n" not in str(raised.value)
        assert tuner.metadata_tracker.list_runs() == []
    elif is_config_case:
        # When the config is given in Python (or, for raw text, loaded from its file)
        with pytest.raises(ConfigError) as raised:
            if case.config_text is not None:
                load_config(config_path)
            else:
                options = {k: v for k, v in case.config.items()}
                LocalTuner(store=store, jobs=1, max_experiments=case.max_experiments or DEFAULT_MAX_EXPERIMENTS,
                           **options)
        # Then: the error names the key, and nothing was created
        assert re.search(case.message, str(raised.value)), str(raised.value)
        assert not store.exists()
    else:
        # Given a valid tuner; When it runs on the bad split
        tuner = LocalTuner(store=store, jobs=1, **BASE)
        with pytest.raises(DataError) as raised:
            tuner.run_experiment(data)
        # Then: the error names the file/array/line, and no run was recorded
        assert re.search(case.message, str(raised.value)), str(raised.value)
        assert tuner.metadata_tracker.list_runs() == []


# -- duplicates: tried once, counted once, never failures ----------------------------------------------------------

DUPLICATES: dict[str, Any] = {
    "name": "duplicates",
    "training_params": {"LogisticRegression": {"C": [1.0, 1.0]},
                        "SVC": [{"C": [0.5, 1.0], "kernel": ["linear"]}, {"C": [1.0], "kernel": ["linear", "rbf"]}]},
    "trainer_config": {"LogisticRegression": {"max_iter": 300}},
    "metrics": ["accuracy"], "perf_metric": "accuracy", "max_failure_ratio": 0,
}
# Distinct candidates, by hand: LR C=1.0; SVC (0.5, linear), (1.0, linear), (1.0, rbf).
DISTINCT = 4


def test_hpt_run_tries_duplicates_once_and_a_strict_run_succeeds(
    tmp_path: Path, workdir: Path, iris_arrays: dict[str, np.ndarray], capsys: pytest.CaptureFixture[str],
) -> None:
    config = workdir / "dup.yaml"
    config.write_text(yaml.safe_dump(DUPLICATES, sort_keys=False))

    code = main(["run", str(config), "--data", str(good_npz(workdir, iris_arrays)), "--store", str(tmp_path / "s"),
                 "--jobs", "1", "--json"])

    payload = json.loads(capsys.readouterr().out)
    assert (code, payload["status"], payload["total"]) == (0, "SUCCEEDED", DISTINCT)
    ids = [experiment["experiment_id"] for experiment in payload["experiments"]]
    assert len(ids) == len(set(ids)) == DISTINCT
    assert all(experiment["status"] == "SUCCEEDED" for experiment in payload["experiments"])


def test_python_api_tries_duplicates_once(tmp_path: Path, iris_arrays: dict[str, np.ndarray]) -> None:
    tuner = LocalTuner(store=tmp_path / "s", jobs=1, **DUPLICATES)

    result = tuner.run(good_npz(tmp_path, iris_arrays))

    assert (result.run.status, result.run.total, len(result.experiments)) == (RunStatus.SUCCEEDED, DISTINCT, DISTINCT)
    assert tuner.config.notes == [
        "training_params.LogisticRegression.C: 1.0 listed more than once; each value is tried once",
        "training_params.SVC[1]: 1 candidate(s) repeat an earlier sub-grid, each is tried once",
    ]


def test_fan_out_counts_duplicates_once(fan_out_env: SimpleNamespace, tmp_path: Path,
                                        iris_arrays: dict[str, np.ndarray]) -> None:
    event = upload_inputs(fan_out_env, yaml.safe_dump(DUPLICATES, sort_keys=False), good_npz(tmp_path, iris_arrays))

    result = fan_out_env.handler(event)

    assert (result["status"], result["total"]) == ("STARTED", DISTINCT)
    assert fan_out_env.metadata.get_run(result["run_id"]).total == DISTINCT


# -- hostile configs: refused before any import -------------------------------------------------------------------

HOSTILE = ["subprocess.call", "os.system", "builtins.eval", "sklearn.linear_model._logistic.LogisticRegression",
           "__import__", "sklearn.utils._testing.X"]


@pytest.fixture
def import_recorder(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every ``importlib.import_module`` and ``__import__`` call (module names, and from-list names)."""
    calls: list[str] = []
    real_import_module, real_import = importlib.import_module, builtins.__import__

    def import_module(name: str, package: str | None = None) -> Any:
        calls.append(name)
        return real_import_module(name, package)

    def dunder_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        calls.append(name)
        calls.extend(f"{name}.{item}" for item in fromlist or ())
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(importlib, "import_module", import_module)
    monkeypatch.setattr(builtins, "__import__", dunder_import)
    return calls


def named_by(trainer: str, calls: list[str]) -> list[str]:
    """Calls that import the trainer's module path (or the name itself)."""
    module = trainer.rpartition(".")[0] or trainer
    return [call for call in calls if call in (trainer, module) or call.startswith(module + ".")]


def test_import_recorder_can_see_an_import(import_recorder: list[str]) -> None:
    # The recorder itself works: an import by name is seen (so the tests below can fail).
    importlib.import_module("json.decoder")
    exec("import json.encoder")  # noqa: S102
    assert named_by("json.decoder.JSONDecoder", import_recorder) == ["json.decoder"]
    assert "json.encoder" in import_recorder


@pytest.mark.parametrize("trainer", HOSTILE)
def test_hostile_trainer_in_a_config_file_is_refused_before_any_import(
    trainer: str, workdir: Path, import_recorder: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    # Given caches warmed by a valid config, then a config naming a hostile trainer
    parse_config(BASE)
    path = workdir / "hostile.yaml"
    path.write_text(yaml.safe_dump({**BASE, "training_params": {trainer: {}}, "trainer_config": {}}))
    import_recorder.clear()

    # When it is loaded, and run through hpt run
    with pytest.raises(ConfigError, match=f"unknown trainer '{trainer}'"):
        load_config(path)
    code = main(["run", str(path), "--data", str(tmp_path / "x.npz"), "--store", str(tmp_path / "store")])

    # Then nothing named by the config was imported
    assert_one_error_line(code, capsys.readouterr(), f"unknown trainer '{trainer}'")
    assert named_by(trainer, import_recorder) == []


@pytest.mark.parametrize("trainer", HOSTILE)
def test_hostile_trainer_in_the_python_api_is_refused_before_any_import(
    trainer: str, tmp_path: Path, import_recorder: list[str],
) -> None:
    parse_config(BASE)
    import_recorder.clear()

    with pytest.raises(ConfigError, match=f"tuner: training_params: unknown trainer '{trainer}'"):
        LocalTuner({trainer: {}}, ["accuracy"], "accuracy", store=tmp_path / "store")

    assert named_by(trainer, import_recorder) == []
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("trainer", HOSTILE)
def test_hostile_trainer_through_the_fan_out_is_refused_before_any_import(
    trainer: str, fan_out_env: SimpleNamespace, tmp_path: Path, iris_arrays: dict[str, np.ndarray],
    import_recorder: list[str],
) -> None:
    env = fan_out_env
    # Given a warm fan-out and a dataset whose config names a hostile trainer
    env.handler({"kind": "schedule", "dataset": "warm-up"})
    text = yaml.safe_dump({**BASE, "training_params": {trainer: {}}, "trainer_config": {}})
    event = upload_inputs(env, text, good_npz(tmp_path, iris_arrays))
    import_recorder.clear()

    # When
    result = env.handler(event)

    # Then
    assert_input_failure(env, result, "FAILED", f"unknown trainer '{trainer}'")
    assert named_by(trainer, import_recorder) == []


# -- the experiments-per-run cap ----------------------------------------------------------------------------------


def _ridge(n: int) -> dict[str, Any]:
    return {"training_params": {"Ridge": {"alpha": [float(i + 1) for i in range(n)]}}, "metrics": ["r2"],
            "perf_metric": "r2"}


def test_default_cap_accepts_10000_experiments(tmp_path: Path) -> None:
    config = parse_config(_ridge(10_000))

    assert DEFAULT_MAX_EXPERIMENTS == 10_000
    assert check_grid_size(config) == 10_000
    assert len(LocalTuner(config=config, store=tmp_path / "store").config.grid()) == 10_000  # validated, not trained


def test_default_cap_refuses_10001_experiments(tmp_path: Path, workdir: Path, iris_arrays: dict[str, np.ndarray],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    message = r"the grid has 10001 experiments, over the cap of 10000 per run"
    config = parse_config(_ridge(10_001))
    path = workdir / "big.yaml"
    path.write_text(yaml.safe_dump(_ridge(10_001)))

    with pytest.raises(ConfigError, match=message):
        check_grid_size(config)
    with pytest.raises(ConfigError, match=message):
        LocalTuner(config=config, store=tmp_path / "store")
    code = main(["run", str(path), "--data", str(good_npz(workdir, iris_arrays)), "--store", str(tmp_path / "store")])

    assert_one_error_line(code, capsys.readouterr(), message)
    assert not (tmp_path / "store").exists()


def test_fan_out_default_cap_refuses_10001_experiments(fan_out_env: SimpleNamespace, tmp_path: Path,
                                                       iris_arrays: dict[str, np.ndarray]) -> None:
    env = fan_out_env
    env.cap(int(load_template(TEMPLATE).body["Parameters"]["MaxExperiments"]["Default"]))
    event = upload_inputs(env, yaml.safe_dump(_ridge(10_001)), good_npz(tmp_path, iris_arrays))

    result = env.handler(event)

    assert_input_failure(env, result, "FAILED", r"the grid has 10001 experiments, over the cap of 10000")


# -- hpt emulate and hpt submit: the whole emulated deployment, a few representative cases ------------------------

EMULATE_CASES = ["unknown-metric", "data-missing-array", "csv-non-numeric-feature", "yaml-alias-bomb",
                 "nan-parameter-value", "data-float16-nan", "roc_auc-on-three-classes"]


@pytest.mark.e2e
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES if c.id in EMULATE_CASES])
def test_hpt_emulate_refuses(case: Case, workdir: Path, iris_arrays: dict[str, np.ndarray],
                             capsys: pytest.CaptureFixture[str], shared_deployment: SharedDeployment) -> None:
    shared_deployment.stop()
    config, data = write_inputs(case, workdir, iris_arrays)

    code = main(["emulate", str(config), "--data", str(data), "--template", str(TEMPLATE)])

    assert_one_error_line(code, capsys.readouterr(), case.message)


@pytest.mark.e2e
def test_hpt_run_and_hpt_emulate_agree_on_values_json_reshapes(
    shared_deployment: SharedDeployment, tmp_path: Path, workdir: Path, iris_arrays: dict[str, np.ndarray],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given int-keyed class weights (the emulated trainer re-parses the config from its JSON run record)
    shared_deployment.stop()
    config = workdir / "weights.yaml"
    config.write_text("training_params:\n  LogisticRegression:\n    class_weight: [{0: 1, 1: 2, 2: 3}, null]\n"
                      "    C: [1.0, 1.0]\ntrainer_config: {LogisticRegression: {max_iter: 300}}\n"
                      "metrics: [accuracy]\nperf_metric: accuracy\nmax_failure_ratio: 0\n")
    data = good_npz(workdir, iris_arrays)

    # When it runs locally and emulated
    assert main(["run", str(config), "--data", str(data), "--store", str(tmp_path / "s"), "--jobs", "1",
                 "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert main(["emulate", str(config), "--data", str(data), "--template", str(TEMPLATE), "--json"]) == 0
    emulated = json.loads(capsys.readouterr().out)

    # Then: the same two experiments, ids and scores, all SUCCEEDED
    def summary(payload: dict[str, Any]) -> list[tuple[str, str, float]]:
        return sorted((e["experiment_id"], e["status"], e["metrics"]["accuracy"]) for e in payload["experiments"])

    assert local["total"] == emulated["total"] == 2
    assert summary(local) == summary(emulated)
    assert {status for _, status, _ in summary(local)} == {"SUCCEEDED"}


def stack_body(outputs: dict[str, str]) -> str:
    """A CloudFormation stack with nothing in it but literal outputs."""
    return json.dumps({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    })


@contextlib.contextmanager
def emulated_stack(shared_deployment: SharedDeployment) -> Iterator[tuple[Emulator, str]]:
    """The emulator running template.yaml (MaxExperiments 5), and a moto CloudFormation stack whose outputs name it.

    Started inside the test's call phase, so the emulator's output routing wraps the ``sys.stdout`` capsys reads.
    """
    shared_deployment.stop()
    stack = "hpt-bad-input"
    with Emulator(TEMPLATE, retry_sleep=False, parameters={"MaxExperiments": "5"}) as emu:
        outputs = {"BucketName": emu.bucket_name, "TableName": emu.table_name,
                   "StateMachineArn": emu.state_machine_arn,
                   "FanOutFunctionName": emu.functions["FanOutFunction"].name}
        emu.client("cloudformation").create_stack(StackName=stack, TemplateBody=stack_body(outputs))
        yield emu, stack


def _sfn_executions(emu: Emulator) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = emu.sfn.list_executions(stateMachineArn=emu.state_machine_arn)["executions"]
    return found


def _keys(emu: Emulator, prefix: str = "") -> list[str]:
    return [item["Key"] for item in emu.s3.list_objects_v2(Bucket=emu.bucket_name, Prefix=prefix).get("Contents", [])]


@pytest.mark.e2e
def test_hpt_submit_refuses_a_bad_config_before_uploading(
    shared_deployment: SharedDeployment, workdir: Path, iris_arrays: dict[str, np.ndarray],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with emulated_stack(shared_deployment) as (emu, stack):
        _submit_bad_config(emu, stack, workdir, iris_arrays, capsys)


def _submit_bad_config(emu: Emulator, stack: str, workdir: Path, iris_arrays: dict[str, np.ndarray],
                       capsys: pytest.CaptureFixture[str]) -> None:
    # Given
    case = next(c for c in CASES if c.id == "perf_metric-outside-metrics")
    config, data = write_inputs(case, workdir, iris_arrays)

    # When
    code = main(["submit", str(config), "--data", str(data), "--stack", stack])

    # Then: refused locally; nothing uploaded, recorded or started
    assert_one_error_line(code, capsys.readouterr(), case.message)
    assert _keys(emu) == []
    assert emu.invocations("FanOutFunction") == []
    assert _sfn_executions(emu) == []


@pytest.mark.e2e
def test_hpt_submit_reports_the_fan_outs_refusal(
    shared_deployment: SharedDeployment, workdir: Path, iris_arrays: dict[str, np.ndarray],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with emulated_stack(shared_deployment) as (emu, stack):
        _submit_over_the_deployments_cap(emu, stack, workdir, iris_arrays, capsys)


def _submit_over_the_deployments_cap(emu: Emulator, stack: str, workdir: Path, iris_arrays: dict[str, np.ndarray],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    # Given: a 6-experiment grid, valid locally, over the deployment's MaxExperiments of 5
    case = next(c for c in CASES if c.id == "grid-over-the-cap")
    config, data = write_inputs(case, workdir, iris_arrays)

    # When
    code = main(["submit", str(config), "--data", str(data), "--stack", stack])

    # Then: the fan-out's reason on one line, a FAILED run record, no execution and no manifest
    assert_one_error_line(code, capsys.readouterr(), case.message)
    (invocation,) = emu.invocations("FanOutFunction")
    assert invocation.result["status"] == "FAILED"
    run = DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb).get_run(invocation.result["run_id"])
    assert (run.status, run.input_error) == (RunStatus.FAILED, True)
    assert _sfn_executions(emu) == []
    assert _keys(emu, "runs/") == []
