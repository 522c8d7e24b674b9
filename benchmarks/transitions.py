"""Step Functions state transitions of one emulated run, counted from the execution history, against ``hpt plan``.

AWS bills a Standard workflow per state transition: every state a workflow enters (a retried attempt counts again)
and, for a Distributed Map, one per child workflow execution it starts; the child executions' own states are
billed too. This script runs the template's state machine in the emulator (moto) and counts, from moto's history
events: the states the parent execution entered (``get_execution_history``), the child executions the map run
started (``describe_map_run``), and the states those children entered. moto keeps the children's events in a
history of the map run that its API does not expose, so the script records that history while the run lasts.

    .venv/bin/python benchmarks/transitions.py [CONFIG --data PATH]   # default: examples/iris.yaml on its data

Prints the counts, the plan's figure for the same config, and ``ratios: measured/planned ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def _recording_map_run_histories() -> Iterator[list[Any]]:
    """Keep every history moto creates for a Distributed Map's child executions (a list of EventManagers)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as component,
    )

    original = component.EventManager
    managers: list[Any] = []

    class RecordingEventManager(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            managers.append(self)

    component.EventManager = RecordingEventManager  # type: ignore[misc]  # a class swapped on moto's module, on purpose
    try:
        yield managers
    finally:
        component.EventManager = original  # type: ignore[misc]  # (and put back)


def _transitions(event_types: Counter[str]) -> int:
    """States entered, plus attempts beyond the first of each task (retries are billed as transitions)."""
    entered = sum(n for kind, n in event_types.items() if kind.endswith("StateEntered"))
    attempts = event_types["LambdaFunctionScheduled"] + event_types["TaskScheduled"]
    tasks = event_types["TaskStateEntered"]
    return entered + max(attempts - tasks, 0)


def measure_transitions(config_path: str | Path, data_path: str | Path,
                        template: str | Path = ROOT / "template.yaml") -> dict[str, Any]:
    """Run ``config_path`` on ``data_path`` in the emulator and count the run's billed state transitions.

    Returns
    -------
    dict
        ``experiments``, ``batches``, ``parent`` (transitions of the parent execution), ``child_executions``,
        ``children`` (transitions inside the child executions), ``transitions`` (the sum of the three) and the
        event-type counts behind them (``parent_events``, ``child_events``).
    """
    from hyperparameter_tuner.aws.s3data import upload_split
    from hyperparameter_tuner.emulator import Emulator

    logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor").setLevel(logging.ERROR)
    config_path, data_path = Path(config_path), Path(data_path)
    with _recording_map_run_histories() as managers, Emulator(Path(template), retry_sleep=False) as emu:
        prefix = "datasets/transitions/"
        emu.s3.put_object(Bucket=emu.bucket_name, Key=f"{prefix}tuning{config_path.suffix}",
                          Body=config_path.read_bytes())
        key, _ = upload_split(emu.s3, emu.bucket_name, prefix, data_path)
        started = emu.deliver_s3_object_created(key)["FanOutFunction"]
        assert started["status"] == "STARTED", started
        execution = emu.wait_for_execution(started["execution_arn"], timeout=3600)
        assert execution["status"] == "SUCCEEDED", execution
        history = emu.sfn.get_execution_history(executionArn=started["execution_arn"], maxResults=1000)
        assert "nextToken" not in history
        parent_events = Counter(event["type"] for event in history["events"])
        map_runs = emu.sfn.list_map_runs(executionArn=started["execution_arn"])["mapRuns"]
        child_executions = sum(
            emu.sfn.describe_map_run(mapRunArn=run["mapRunArn"])["executionCounts"]["total"] for run in map_runs
        )
    child_events: Counter[str] = Counter()
    for manager in managers:
        for event in manager._history_event_list:
            child_events[str(getattr(event["type"], "value", event["type"]))] += 1
    parent, children = _transitions(parent_events), _transitions(child_events)
    return {
        "experiments": started["total"], "batches": started["batches"], "parent": parent,
        "child_executions": child_executions, "children": children,
        "transitions": parent + child_executions + children,
        "parent_events": dict(parent_events), "child_events": dict(child_events),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "examples" / "iris.yaml"))
    parser.add_argument("--data", default=str(ROOT / "examples" / "data" / "iris.npz"))
    args = parser.parse_args()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        os.environ.setdefault(name, value)
    from hyperparameter_tuner.config import load_config
    from hyperparameter_tuner.planning import make_plan

    measured = measure_transitions(args.config, args.data)
    config = load_config(args.config)
    plan = make_plan(config, {name: None for name in config.training_params}, "none", build_dir=None)
    print(f"{measured['experiments']} experiments in {measured['batches']} batches")
    print(f"parent execution: {measured['parent']} transitions ({measured['parent_events']})")
    print(f"child executions started: {measured['child_executions']}")
    print(f"inside the child executions: {measured['children']} transitions ({measured['child_events']})")
    print(f"measured: {measured['transitions']} transitions, "
          f"{measured['transitions'] / measured['experiments']:.4f} per experiment; "
          f"hpt plan: {plan.state_transitions} ({plan.transitions_per_experiment:.4f} per experiment)")
    print(f"ratios: measured/planned transitions {measured['transitions'] / plan.state_transitions:.2f}")


if __name__ == "__main__":
    main()
