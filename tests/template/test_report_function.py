"""The Report function in template.yaml: its own layer (plotly.js only), the rule on the reducer's completion event,
a least-privilege role (read the table, write ``reports/*``), and nothing of it on the other functions.

Offline and fast, like test_template.py, except the layer build check at the end, which runs layers/report/Makefile
(pip needs the package index: offline it skips, or fails under CI).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from _require import missing
from test_package_size import skip_if_offline, tree_bytes
from test_template import (
    BUCKET_ARN,
    ROOT,
    as_list,
    evaluate,
    function_role,
    layer_names,
    requirement_names,
    resources_of_type,
    role_statements,
    roles_allowed,
)

from hyperparameter_tuner.aws.reduce import COMPLETION_DETAIL_TYPE, COMPLETION_SOURCE

TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/{TuningTable}"


def test_report_layer_is_built_by_its_makefile_for_python313_arm64(template: dict[str, Any]) -> None:
    layer = template["Resources"]["ReportLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["ContentUri"] == "layers/report/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert requirement_names(ROOT / "layers" / "report" / "requirements.txt") == ["plotly"]
    assert "build-ReportLayer:" in (ROOT / "layers" / "report" / "Makefile").read_text()


def test_only_the_report_function_carries_the_report_layer(transformed: dict[str, Any]) -> None:
    assert layer_names(transformed, "ReportFunction") == ["TunerLayer", "ReportLayer"]
    for function in ("FanOutFunction", "TrainerFunction", "ReducerFunction"):
        assert "ReportLayer" not in layer_names(transformed, function)


def test_report_function_runtime_code_and_log_group(template: dict[str, Any], transformed: dict[str, Any]) -> None:
    props = transformed["Resources"]["ReportFunction"]["Properties"]
    assert (props["Runtime"], props["Architectures"]) == ("python3.13", ["arm64"])
    assert props["Handler"] == "app.lambda_handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert template["Resources"]["ReportFunction"]["Properties"]["CodeUri"] == "functions/report/"
    env = props["Environment"]["Variables"]
    assert env["BUCKET_NAME"] == {"Ref": "DataBucket"} and env["TABLE_NAME"] == {"Ref": "TuningTable"}
    groups = [g for g in resources_of_type(template, "AWS::Logs::LogGroup").values()
              if g["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${ReportFunction}"}]
    assert len(groups) == 1 and groups[0]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert template["Outputs"]["ReportFunctionName"]["Value"] == {"Ref": "ReportFunction"}


def test_report_rule_matches_the_completion_event_the_reducer_publishes(transformed: dict[str, Any]) -> None:
    rules = [rule["Properties"] for rule in resources_of_type(transformed, "AWS::Events::Rule").values()
             if rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["ReportFunction", "Arn"]}]
    (rule,) = rules
    assert rule["EventPattern"] == {"source": [COMPLETION_SOURCE],
                                    "detail-type": [COMPLETION_DETAIL_TYPE, "Champion Promoted", "Champion Kept"]}
    target = rule["Targets"][0]
    assert "Input" not in target and "InputPath" not in target  # the handler reads the whole event's detail
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ReportDeadLetterQueue", "Arn"]}}
    (policy,) = [p for p in resources_of_type(transformed, "AWS::SQS::QueuePolicy").values()
                 if p["Properties"]["Queues"] == [{"Ref": "ReportDeadLetterQueue"}]]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    source = evaluate(statement["Condition"]["ArnEquals"]["aws:SourceArn"])
    assert source == f"arn:aws:events:us-east-1:123456789012:rule/{evaluate(rule['Name'])}"
    (invoke_config,) = [c for c in resources_of_type(transformed, "AWS::Lambda::EventInvokeConfig").values()
                        if c["Properties"]["FunctionName"] == {"Ref": "ReportFunction"}]
    destination = invoke_config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["ReportDeadLetterQueue", "Arn"]}


def test_report_role_reads_the_table_and_writes_only_reports(transformed: dict[str, Any]) -> None:
    role = function_role(transformed, "ReportFunction")
    assert role in roles_allowed(transformed, "dynamodb:Query", TABLE_ARN)
    assert role in roles_allowed(transformed, "dynamodb:GetItem", TABLE_ARN)
    assert role not in roles_allowed(transformed, "dynamodb:PutItem", TABLE_ARN)
    assert role not in roles_allowed(transformed, "dynamodb:UpdateItem", TABLE_ARN)
    assert roles_allowed(transformed, "s3:PutObject", f"{BUCKET_ARN}/reports/run-1.html") == {role}
    for key in ("models/run-1/exp-1.joblib", "runs/run-1/manifest.json", "datasets/iris.npz", "other.html"):
        assert role not in roles_allowed(transformed, "s3:PutObject", f"{BUCKET_ARN}/{key}")
    assert role not in roles_allowed(transformed, "s3:GetObject", f"{BUCKET_ARN}/models/run-1/exp-1.joblib")
    actions = {a for s in role_statements(transformed)[role] for a in as_list(s["Action"])}
    assert not {a for a in actions if a.startswith(("states:", "events:", "lambda:"))}


def test_report_event_sample_names_the_completion_event() -> None:
    event = json.loads((ROOT / "events" / "report_run_completed.json").read_text())
    assert (event["source"], event["detail-type"]) == (COMPLETION_SOURCE, COMPLETION_DETAIL_TYPE)
    assert event["detail"]["run_id"]


def test_report_layer_build_ships_plotly_js_only(tmp_path: Path) -> None:
    # Given the layer built by its Makefile, as `sam build` runs it (plotly is pure Python: any platform's build)
    proc = subprocess.run(
        ["make", "-s", "-C", str(ROOT / "layers" / "report"), "build-ReportLayer", f"ARTIFACTS_DIR={tmp_path}",
         f"PYTHON={sys.executable}"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    if proc.returncode != 0:
        skip_if_offline(proc.stdout + proc.stderr)
    if proc.returncode == 127:
        missing("make is not installed")
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # Then it holds plotly.js and the package's metadata, nothing else, well under 10 MB
    tree = tmp_path / "python"
    files = sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file() and "dist-info" not in str(p))
    assert files == ["plotly/__init__.py", "plotly/package_data/plotly.min.js"]
    assert tree_bytes(tmp_path) < 10_000_000
    # And the report code finds plotly.js there, in an interpreter that sees only that tree and the package
    # (the tree first on sys.path, as /opt/python is on Lambda: the venv's own plotly comes after it)
    probe = ("import importlib.util, sys; sys.path[:0] = sys.argv[1:3]; "
             "from hyperparameter_tuner.report import plotly_js; "
             "print(len(plotly_js()), importlib.util.find_spec('plotly').origin)")
    found = subprocess.run([sys.executable, "-I", "-c", probe, str(tree), str(ROOT / "layers" / "tuner")],
                           capture_output=True, text=True, check=False, timeout=120)
    assert found.returncode == 0, found.stderr
    size, origin = found.stdout.split()
    assert origin == str(tree / "plotly" / "__init__.py")
    assert int(size) == len((tree / "plotly" / "package_data" / "plotly.min.js").read_text(encoding="utf-8"))
