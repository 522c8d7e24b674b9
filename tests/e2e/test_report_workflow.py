"""The Report function in the emulated application: the completion event the reducer really publishes, delivered by
the template's own rule (moto's matching), makes the real handler write ``reports/<run_id>.html``; ``hpt report RUN_ID
--stack`` fetches it.

moto's EventBridge does not invoke Lambda targets: the emulator delivers a handler's ``PutEvents`` to the functions of
the rules that match it, as EventBridge does on AWS.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hyperparameter_tuner.aws.dynamodb import DynamoDBMetadataTracker
from hyperparameter_tuner.cli import main
from hyperparameter_tuner.emulator import Emulator, s3_object_created_event

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
KEY = "datasets/iris/split.npz"
CONFIG: dict[str, Any] = {
    "name": "report",
    "training_params": {"LogisticRegression": {"C": [0.1, 1.0, 10.0]}, "KNeighborsClassifier": {"n_neighbors": [3, 7]}},
    "trainer_config": {"LogisticRegression": {"max_iter": 300}},
    "metrics": ["accuracy", "f1_macro"],
    "perf_metric": "f1_macro",
    "cv": 3,
}


class _PublishedEvents:
    """Wraps the reducer's EventBridge client: every ``PutEvents`` entry is kept, then passed on to moto."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def put_events(self, **kwargs: Any) -> Any:
        with self._lock:
            self.entries.extend(kwargs["Entries"])
        return self._client.put_events(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def as_delivered(entry: dict[str, Any], emu: Emulator) -> dict[str, Any]:
    """A ``PutEvents`` entry as EventBridge delivers it to a rule's target."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": entry["DetailType"], "source": entry["Source"],
            "account": emu.account_id, "time": "2026-11-30T12:00:00Z", "region": emu.region, "resources": [],
            "detail": json.loads(entry["Detail"])}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(REPO_ROOT / "template.yaml", retry_sleep=False) as emulator:
        yield emulator


def run_to_end(emu: Emulator, split: bytes) -> tuple[str, _PublishedEvents]:
    services = emu.handler_module("ReducerFunction").services
    published = _PublishedEvents(services.events)
    services._clients["events"] = published
    emu.s3.put_object(Bucket=emu.bucket_name, Key="datasets/iris/tuning.yaml", Body=yaml.safe_dump(CONFIG).encode())
    emu.s3.put_object(Bucket=emu.bucket_name, Key=KEY, Body=split)
    head = emu.s3.head_object(Bucket=emu.bucket_name, Key=KEY)
    started = emu.deliver_event(s3_object_created_event(emu.bucket_name, KEY, head["VersionId"], head["ETag"],
                                                        head["ContentLength"]))["FanOutFunction"]
    assert started["status"] == "STARTED", started
    assert emu.wait_for_execution(started["execution_arn"], timeout=120)["status"] == "SUCCEEDED"
    return str(started["run_id"]), published


@pytest.fixture
def split(tmp_path: Path, iris_arrays: dict[str, np.ndarray]) -> bytes:
    path = tmp_path / "split.npz"
    np.savez(path, **iris_arrays)  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle
    return path.read_bytes()


def test_completion_event_makes_the_report_function_write_the_report(
    emu: Emulator, split: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given / When a run completes in the emulated application
    run_id, published = run_to_end(emu, split)

    # Then the reducer's completion event reached the Report function, which wrote the report in the bucket, and so
    # did the Champion step's decision (the report is written again with the dataset's champion history)
    key = f"reports/{run_id}.html"
    (entry,) = published.entries
    completed, decided = emu.invocations("ReportFunction")
    assert completed.event["detail-type"] == "Tuning Run Completed" and decided.event["detail-type"] == (
        "Champion Promoted")
    assert completed.event["detail"]["run_id"] == decided.event["detail"]["run_id"] == run_id
    stored = emu.s3.get_object(Bucket=emu.bucket_name, Key=key)
    assert stored["ContentType"].startswith("text/html")
    page = stored["Body"].read().decode()
    run = DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb).get_run(run_id)
    experiments = list(DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb).iter_experiments(run_id))
    assert len(experiments) == 5
    body = page.split('id="hpt-leaderboard"', 1)[1]
    assert set(re.findall(r'<tr data-id="([^"]+)"', body)) == {e.experiment_id for e in experiments}
    assert f'<code class="winner-id">{run.winner}</code>' in page
    assert 'id="cv"' in page  # cv: 3 gives the fold-spread section
    assert 'id="champion"' in page and run.winner in page.split('id="champion"', 1)[1]  # this run's decision
    assert page.count('<div class="hpt-plot"') == 5  # two trainers' parameters, fit time, cv spread, champion

    # And the template's rules send that very event to the Report function only
    results = emu.deliver_event(as_delivered(entry, emu))
    assert list(results) == ["ReportFunction"]
    assert results["ReportFunction"] == {"run_id": run_id, "uri": f"s3://{emu.bucket_name}/{key}",
                                         "size": len(page.encode()), "experiments": 5}

    # When the user fetches it with the CLI from the emulated stack
    output = tmp_path / "fetched.html"
    code = main(["report", run_id, "--stack", emu.stack_name, "-o", str(output)])

    # Then the file is the stored report, byte for byte
    assert code == 0, capsys.readouterr().err
    assert output.read_text() == page


def test_report_function_is_invoked_with_the_sample_event(emu: Emulator, split: bytes) -> None:
    # Given a finished run and the sample event of events/, naming it (as `sam local invoke ... -e` would)
    run_id, _ = run_to_end(emu, split)
    event = json.loads((REPO_ROOT / "events" / "report_run_completed.json").read_text())
    event["detail"]["run_id"] = run_id

    # When / Then
    reply = emu.invoke("ReportFunction", event)
    assert reply["uri"].endswith(f"/reports/{run_id}.html") and reply["size"] > 1_000_000


def test_cli_report_of_a_run_without_report_is_one_line_exit_2(
    emu: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["report", "no-such-run", "--stack", emu.stack_name, "-o", str(tmp_path / "x.html")])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: no report for run no-such-run at s3://") and err.count("\n") == 1
    assert not (tmp_path / "x.html").exists()


def test_hpt_emulate_report_copies_the_report_function_s_report(
    tmp_path: Path, iris_npz: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a config whose run the emulated application tunes
    config = tmp_path / "tuning.yaml"
    config.write_text(yaml.safe_dump({key: value for key, value in CONFIG.items() if key != "cv"}))
    output = tmp_path / "emulated.html"

    # When
    code = main(["emulate", str(config), "--data", str(iris_npz), "--template", str(REPO_ROOT / "template.yaml"),
                 "--json", "--report", str(output)])

    # Then the JSON's run, every experiment of it and its winner are in the report the Report function wrote
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    page = output.read_text()
    body = page.split('id="hpt-leaderboard"', 1)[1]
    assert set(re.findall(r'<tr data-id="([^"]+)"', body)) == {e["experiment_id"] for e in result["experiments"]}
    assert f'<code class="winner-id">{result["winner"]["experiment_id"]}</code>' in page
    assert f"reports/{result['run_id']}.html" in err
