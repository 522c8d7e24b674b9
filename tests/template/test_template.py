"""What template.yaml must hold: private encrypted storage, the two layers, the functions, least-privilege roles,
the triggers and the state machine wiring. Fast and offline: no AWS, no Docker, no SAM CLI needed.

IAM is checked on the *transformed* template (the roles SAM generates from policy templates), since that is what
CloudFormation deploys.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file

ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = ROOT / "statemachine" / "tuning.asl.json"

FUNCTIONS = ("FanOutFunction", "TrainerFunction", "ReducerFunction", "PromoteFunction")
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}
BUCKET_ARN = "arn:aws:s3:::{DataBucket}"

# Actions that would let a role destroy or expire stored models, open the bucket, or wipe experiment history.
DESTRUCTIVE_ACTIONS = {
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:PutObjectAcl",
    "s3:DeleteBucket",
    "dynamodb:DeleteItem",
    "dynamodb:DeleteTable",
}
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}


# ----------------------------------------------------------------------------------------------- helpers
def evaluate(value: Any, params: dict[str, str] | None = None, conditions: dict[str, Any] | None = None) -> Any:
    """Resolve the intrinsics this template uses into a string, leaving unknown names as ``{Name}``.

    ``Ref`` to a parameter gives ``params``' value (when given), to a resource ``{LogicalId}``; ``GetAtt`` gives
    ``{LogicalId.Attr}`` (the bucket's Arn is spelled out, so S3 resources can be matched against object keys).
    """
    params = params or {}
    conditions = conditions or {}
    if isinstance(value, list):
        return [evaluate(item, params, conditions) for item in value]
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((fn, arg),) = value.items()
    if fn == "Ref":
        return params.get(arg, PSEUDO.get(arg, f"{{{arg}}}"))
    if fn == "Fn::GetAtt":
        name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
        return BUCKET_ARN if (name, attr) == ("DataBucket", "Arn") else f"{{{name}.{attr}}}"
    if fn == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else arg

        def substitute(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in variables:
                return str(evaluate(variables[key], params, conditions))
            if "." in key:
                return str(evaluate({"Fn::GetAtt": key.split(".", 1)}, params, conditions))
            return str(evaluate({"Ref": key}, params, conditions))

        return re.sub(r"\$\{([^}!]+)\}", substitute, text)
    if fn == "Fn::If":
        name, when_true, when_false = arg
        chosen = when_true if evaluate({"Condition": name}, params, conditions) else when_false
        return evaluate(chosen, params, conditions)
    if fn == "Condition":
        return evaluate(conditions[arg], params, conditions)
    if fn == "Fn::Not":
        return not evaluate(arg[0], params, conditions)
    if fn == "Fn::Equals":
        left, right = (evaluate(item, params, conditions) for item in arg)
        return str(left) == str(right)
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resources_of_type(tpl: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in tpl["Resources"].items() if res["Type"] == resource_type}


def role_statements(tpl: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every inline Allow statement of every IAM role, by role logical id."""
    statements: dict[str, list[dict[str, Any]]] = {}
    for name, role in resources_of_type(tpl, "AWS::IAM::Role").items():
        statements[name] = [
            statement
            for policy in role["Properties"].get("Policies", [])
            for statement in as_list(policy["PolicyDocument"]["Statement"])
            if statement["Effect"] == "Allow"
        ]
    return statements


def roles_allowed(tpl: dict[str, Any], action: str, target: str) -> set[str]:
    """Roles with an Allow statement whose actions and resources (IAM wildcards) cover ``action`` on ``target``."""
    allowed = set()
    for role, statements in role_statements(tpl).items():
        for statement in statements:
            actions = as_list(statement["Action"])
            resources = [str(evaluate(r)) for r in as_list(statement["Resource"])]
            if any(fnmatch.fnmatchcase(action, a) for a in actions) and any(
                fnmatch.fnmatchcase(target, r) for r in resources
            ):
                allowed.add(role)
    return allowed


def function_role(tpl: dict[str, Any], function: str) -> str:
    role = tpl["Resources"][function]["Properties"]["Role"]
    return str(role["Fn::GetAtt"][0])


def layer_names(tpl: dict[str, Any], function: str) -> list[str]:
    """The LayerName of each layer a transformed function carries (SAM suffixes layer logical ids with a hash)."""
    layers = tpl["Resources"][function]["Properties"].get("Layers", [])
    return [tpl["Resources"][layer["Ref"]]["Properties"]["LayerName"] for layer in layers]


def eventbridge_wildcard_matches(pattern: str, value: str) -> bool:
    """EventBridge ``wildcard`` matching: ``*`` is any run of characters (``/`` included), nothing else is special."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value) is not None


def requirement_names(path: Path) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower() for line in lines if line]


# ------------------------------------------------------------------------------------------------- lint
def test_cfn_lint_reports_nothing() -> None:
    matches = lint_file(ROOT / "template.yaml", config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


def test_template_is_sam_with_python313_arm64_globals(template: dict[str, Any]) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]


# ---------------------------------------------------------------------------------------------- storage
def test_bucket_is_private(template: dict[str, Any]) -> None:
    block = template["Resources"]["DataBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def test_bucket_is_encrypted_versioned_and_sends_events_to_eventbridge(template: dict[str, Any]) -> None:
    props = template["Resources"]["DataBucket"]["Properties"]
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules and all(
        r["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms", "aws:kms:dsse"} for r in rules
    )
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["NotificationConfiguration"]["EventBridgeConfiguration"] == {"EventBridgeEnabled": True}


def test_bucket_policy_denies_requests_without_tls(template: dict[str, Any]) -> None:
    policies = resources_of_type(template, "AWS::S3::BucketPolicy")
    assert [p["Properties"]["Bucket"] for p in policies.values()] == [{"Ref": "DataBucket"}]
    (policy,) = policies.values()
    deny_tls = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert len(deny_tls) == 1
    statement = deny_tls[0]
    assert statement["Principal"] in ("*", {"AWS": "*"})
    assert "s3:*" in as_list(statement["Action"])
    covered = {str(evaluate(r)) for r in as_list(statement["Resource"])}
    assert covered == {BUCKET_ARN, f"{BUCKET_ARN}/*"}


def test_table_is_on_demand_with_pitr_and_sse(template: dict[str, Any]) -> None:
    props = template["Resources"]["TuningTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_table_keys_and_gsi1(template: dict[str, Any]) -> None:
    props = template["Resources"]["TuningTable"]["Properties"]
    attributes = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert attributes == {"PK": "S", "SK": "S", "GSI1PK": "S", "GSI1SK": "S"}
    assert props["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    (gsi,) = props["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "GSI1"
    assert gsi["KeySchema"] == [
        {"AttributeName": "GSI1PK", "KeyType": "HASH"},
        {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
    ]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}


@pytest.mark.parametrize("name", ["DataBucket", "TuningTable"])
def test_stateful_resources_survive_stack_deletion(template: dict[str, Any], name: str) -> None:
    resource = template["Resources"][name]
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"


# ----------------------------------------------------------------------------------------------- layers
@pytest.mark.parametrize(
    ("name", "content_uri", "build_method"),
    [("TunerLayer", "layers/tuner/", "python3.13"), ("MlLayer", "layers/ml/", "makefile")],  # ml: pip + prune.py
)
def test_layers_are_built_by_sam_for_python313_arm64(
    template: dict[str, Any], name: str, content_uri: str, build_method: str
) -> None:
    layer = template["Resources"][name]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"] == {"BuildMethod": build_method, "BuildArchitecture": "arm64"}
    assert layer["Properties"]["ContentUri"] == content_uri
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert (ROOT / content_uri / "requirements.txt").is_file()


def test_tuner_layer_requirements_leave_the_ml_stack_out() -> None:
    names = requirement_names(ROOT / "layers" / "tuner" / "requirements.txt")
    assert {"pydantic", "pyyaml", "aws-lambda-powertools"} <= set(names)
    assert not {"numpy", "scipy", "scikit-learn", "sklearn", "joblib"} & set(names)


def test_ml_layer_pins_scikit_learn() -> None:
    lines = [line.strip() for line in (ROOT / "layers" / "ml" / "requirements.txt").read_text().splitlines()]
    assert "scikit-learn==1.9.1" in lines


def test_only_the_trainer_carries_the_ml_layer(transformed: dict[str, Any]) -> None:
    assert layer_names(transformed, "TrainerFunction") == ["TunerLayer", "MlLayer"]
    assert layer_names(transformed, "FanOutFunction") == ["TunerLayer"]
    assert layer_names(transformed, "ReducerFunction") == ["TunerLayer"]
    assert layer_names(transformed, "PromoteFunction") == ["TunerLayer"]


# -------------------------------------------------------------------------------------------- functions
@pytest.mark.parametrize("function", FUNCTIONS)
def test_functions_run_python313_on_arm64_with_tracing(transformed: dict[str, Any], function: str) -> None:
    props = transformed["Resources"][function]["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "app.lambda_handler"
    assert props["TracingConfig"] == {"Mode": "Active"}


@pytest.mark.parametrize(
    ("function", "code_uri"),
    [(f, f"functions/{d}/") for f, d in zip(FUNCTIONS, ("fan_out", "trainer", "reducer", "promote"), strict=True)],
)
def test_function_code_locations(template: dict[str, Any], function: str, code_uri: str) -> None:
    assert template["Resources"][function]["Properties"]["CodeUri"] == code_uri


@pytest.mark.parametrize("function", FUNCTIONS)
def test_shared_environment(transformed: dict[str, Any], function: str) -> None:
    env = transformed["Resources"][function]["Properties"]["Environment"]["Variables"]
    assert env["BUCKET_NAME"] == {"Ref": "DataBucket"}
    assert env["TABLE_NAME"] == {"Ref": "TuningTable"}
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "HyperparameterTuner"
    assert env["POWERTOOLS_SERVICE_NAME"]
    assert env["LOG_LEVEL"] == {"Ref": "LogLevel"}


def test_function_specific_environment(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    fan_out = resources["FanOutFunction"]["Properties"]["Environment"]["Variables"]
    assert fan_out["STATE_MACHINE_ARN"] == {"Ref": "TuningStateMachine"}
    assert fan_out["MAX_EXPERIMENTS"] == {"Ref": "MaxExperiments"}
    reducer = resources["ReducerFunction"]["Properties"]["Environment"]["Variables"]
    assert reducer["EVENT_BUS_NAME"] == "default"
    for function in ("TrainerFunction", "ReducerFunction"):
        assert "STATE_MACHINE_ARN" not in resources[function]["Properties"]["Environment"]["Variables"]


def test_trainer_sizing_comes_from_parameters(template: dict[str, Any]) -> None:
    props = template["Resources"]["TrainerFunction"]["Properties"]
    params = template["Parameters"]
    assert props["MemorySize"] == {"Ref": "TrainerMemorySize"}
    assert props["Timeout"] == 900
    concurrency = props["ReservedConcurrentExecutions"]
    conditions = template["Conditions"]
    assert evaluate(concurrency, {"TrainerReservedConcurrency": "50"}, conditions) == "50"
    assert evaluate(concurrency, {"TrainerReservedConcurrency": "0"}, conditions) == "{AWS::NoValue}"
    assert params["TrainerMemorySize"]["Default"] == 3008
    assert params["MaxExperiments"]["Default"] == 10000
    assert params["TrainerReservedConcurrency"]["Default"] > 0


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_a_log_group_with_retention(template: dict[str, Any], function: str) -> None:
    groups = [
        g["Properties"]
        for g in resources_of_type(template, "AWS::Logs::LogGroup").values()
        if g["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
    ]
    assert len(groups) == 1
    assert groups[0]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# -------------------------------------------------------------------------------------------------- IAM
def test_no_role_grants_wildcard_actions(transformed: dict[str, Any]) -> None:
    wildcards = [
        (role, action)
        for role, statements in role_statements(transformed).items()
        for statement in statements
        for action in as_list(statement["Action"])
        if "*" in action
    ]
    assert wildcards == []


def test_no_role_can_delete_or_expire_data(transformed: dict[str, Any]) -> None:
    granted = {
        (role, action)
        for role, statements in role_statements(transformed).items()
        for statement in statements
        for action in as_list(statement["Action"])
        if action in DESTRUCTIVE_ACTIONS
    }
    assert granted == set()


def test_roles_use_only_expected_managed_policies(transformed: dict[str, Any]) -> None:
    for role in resources_of_type(transformed, "AWS::IAM::Role").values():
        assert set(role["Properties"].get("ManagedPolicyArns", [])) <= ALLOWED_MANAGED_POLICIES


def test_only_the_trainer_can_write_models(transformed: dict[str, Any]) -> None:
    trainer_role = function_role(transformed, "TrainerFunction")
    assert roles_allowed(transformed, "s3:PutObject", f"{BUCKET_ARN}/models/run-1/exp-1.joblib") == {trainer_role}


def test_fan_out_writes_only_run_manifests(transformed: dict[str, Any]) -> None:
    fan_out_role = function_role(transformed, "FanOutFunction")
    assert fan_out_role in roles_allowed(transformed, "s3:PutObject", f"{BUCKET_ARN}/runs/run-1/manifest.json")
    for key in ("datasets/iris.npz", "models/run-1/exp-1.joblib", "other.txt"):
        assert fan_out_role not in roles_allowed(transformed, "s3:PutObject", f"{BUCKET_ARN}/{key}")


def test_nobody_writes_datasets(transformed: dict[str, Any]) -> None:
    assert roles_allowed(transformed, "s3:PutObject", f"{BUCKET_ARN}/datasets/iris.npz") == set()


def test_read_access_to_datasets(transformed: dict[str, Any]) -> None:
    readers = roles_allowed(transformed, "s3:GetObject", f"{BUCKET_ARN}/datasets/iris.npz")
    assert {function_role(transformed, f) for f in ("FanOutFunction", "TrainerFunction")} <= readers
    assert function_role(transformed, "ReducerFunction") not in readers


def test_reducer_touches_no_s3_and_publishes_events(transformed: dict[str, Any]) -> None:
    reducer_role = function_role(transformed, "ReducerFunction")
    actions = {a for s in role_statements(transformed)[reducer_role] for a in as_list(s["Action"])}
    assert not {a for a in actions if a.startswith("s3:")}
    # the fan-out too: it publishes the completion of a run it closes after its execution ended outside the Catch
    assert roles_allowed(
        transformed, "events:PutEvents", "arn:aws:events:us-east-1:123456789012:event-bus/default"
    ) == {reducer_role, function_role(transformed, "FanOutFunction"), function_role(transformed, "ChampionFunction")}


@pytest.mark.parametrize("function", ["FanOutFunction", "TrainerFunction", "ReducerFunction"])
def test_functions_write_the_table(transformed: dict[str, Any], function: str) -> None:
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/{TuningTable}"
    assert function_role(transformed, function) in roles_allowed(transformed, "dynamodb:PutItem", table)


def test_promote_reads_the_table_and_touches_only_run_manifests(transformed: dict[str, Any]) -> None:
    role = function_role(transformed, "PromoteFunction")
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/{TuningTable}"
    assert role in roles_allowed(transformed, "dynamodb:Query", table)
    assert role not in roles_allowed(transformed, "dynamodb:PutItem", table)
    assert role in roles_allowed(transformed, "s3:PutObject", f"{BUCKET_ARN}/runs/run-1/rung-1.json")
    assert role in roles_allowed(transformed, "s3:GetObject", f"{BUCKET_ARN}/runs/run-1/manifest.json")
    assert role not in roles_allowed(transformed, "s3:PutObject", f"{BUCKET_ARN}/models/SVC/x.joblib")
    assert role not in roles_allowed(transformed, "s3:GetObject", f"{BUCKET_ARN}/datasets/iris/split.npz")


def test_only_fan_out_and_the_state_machine_start_executions(transformed: dict[str, Any]) -> None:
    starters = {
        role
        for role, statements in role_statements(transformed).items()
        for s in statements
        if "states:StartExecution" in as_list(s["Action"])
    }
    assert starters == {function_role(transformed, "FanOutFunction"), "TuningStateMachineRole"}


# --------------------------------------------------------------------------------------- state machine
def test_state_machine_wiring(template: dict[str, Any]) -> None:
    machine = template["Resources"]["TuningStateMachine"]
    props = machine["Properties"]
    assert machine["Type"] == "AWS::Serverless::StateMachine"
    assert props["Type"] == "STANDARD"
    assert props["DefinitionUri"] == "statemachine/tuning.asl.json"
    assert props["DefinitionSubstitutions"] == {
        "TrainerFunctionArn": {"Fn::GetAtt": ["TrainerFunction", "Arn"]},
        "ReducerFunctionArn": {"Fn::GetAtt": ["ReducerFunction", "Arn"]},
        "PromoteFunctionArn": {"Fn::GetAtt": ["PromoteFunction", "Arn"]},
        "ChampionFunctionArn": {"Fn::GetAtt": ["ChampionFunction", "Arn"]},
        "TableName": {"Ref": "TuningTable"},
        "BucketName": {"Ref": "DataBucket"},
    }
    assert props["Tracing"] == {"Enabled": True}
    assert props["Logging"]["Level"] in {"ERROR", "ALL"}


def test_asl_placeholders_are_all_substituted(template: dict[str, Any]) -> None:
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", ASL_PATH.read_text()))
    substitutions = set(template["Resources"]["TuningStateMachine"]["Properties"]["DefinitionSubstitutions"])
    assert placeholders <= substitutions
    json.loads(ASL_PATH.read_text())


def test_state_machine_can_run_its_distributed_map(transformed: dict[str, Any]) -> None:
    name = evaluate(transformed["Resources"]["TuningStateMachine"]["Properties"]["StateMachineName"])
    machine_arn = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
    execution_arn = f"arn:aws:states:us-east-1:123456789012:execution:{name}/map-run-1:child-1"
    role = "TuningStateMachineRole"
    assert role in roles_allowed(transformed, "states:StartExecution", machine_arn)
    assert role in roles_allowed(transformed, "states:DescribeExecution", execution_arn)
    assert role in roles_allowed(transformed, "states:StopExecution", execution_arn)
    # ItemReader reads the manifest; a Catch may record a failure with dynamodb:putItem.
    assert role in roles_allowed(transformed, "s3:GetObject", f"{BUCKET_ARN}/runs/run-1/manifest.json")
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/{TuningTable}"
    assert role in roles_allowed(transformed, "dynamodb:PutItem", table)
    assert role in roles_allowed(transformed, "dynamodb:UpdateItem", table)


def test_state_machine_invokes_trainer_reducer_promote_and_champion_only(transformed: dict[str, Any]) -> None:
    def function_arn(function: str) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{{{function}}}"

    invokers = {f: roles_allowed(transformed, "lambda:InvokeFunction", function_arn(f))
                for f in (*FUNCTIONS, "ChampionFunction")}
    assert invokers == {
        "FanOutFunction": set(),
        "TrainerFunction": {"TuningStateMachineRole"},
        "ReducerFunction": {"TuningStateMachineRole"},
        "PromoteFunction": {"TuningStateMachineRole"},
        "ChampionFunction": {"TuningStateMachineRole"},
    }


# --------------------------------------------------------------------------------------------- triggers
def test_dataset_rule_matches_only_split_objects_in_the_bucket(transformed: dict[str, Any]) -> None:
    rule = transformed["Resources"]["FanOutFunctionDatasetLanded"]["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "DataBucket"}]
    matchers = [m["wildcard"] for m in pattern["detail"]["object"]["key"]]

    def matches(key: str) -> bool:
        return any(eventbridge_wildcard_matches(m, key) for m in matchers)

    for key in ("datasets/iris.npz", "datasets/iris/v2/split.npz", "datasets/wine/_SUCCESS"):
        assert matches(key), key
    for key in (
        "datasets/wine/train.csv",
        "runs/r1/x.npz",
        "models/m/_SUCCESS",
        "datasets/iris.npz.tmp",
        "datasets/wine/_SUCCESS.bak",
        "datasets/_SUCCESS_old",
    ):
        assert not matches(key), key
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["FanOutFunction", "Arn"]}


def test_schedule_is_enabled_only_with_an_expression(transformed: dict[str, Any]) -> None:
    rule = transformed["Resources"]["FanOutFunctionSchedule"]["Properties"]
    conditions = transformed["Conditions"]
    off = {"ScheduleExpression": "", "ScheduleDataset": ""}
    on = {"ScheduleExpression": "rate(1 day)", "ScheduleDataset": "datasets/iris.npz"}
    assert evaluate(rule["State"], off, conditions) == "DISABLED"
    assert evaluate(rule["State"], on, conditions) == "ENABLED"
    assert evaluate(rule["ScheduleExpression"], on, conditions) == "rate(1 day)"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["FanOutFunction", "Arn"]}
    assert json.loads(evaluate(target["Input"], on, conditions)) == {"kind": "schedule", "dataset": "datasets/iris.npz"}
    for name in ("ScheduleExpression", "ScheduleDataset"):
        assert transformed["Parameters"][name]["Default"] == ""


def test_undeliverable_events_and_failed_fan_outs_reach_the_dead_letter_queue(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    queue = {"Fn::GetAtt": ["FanOutDeadLetterQueue", "Arn"]}
    (policy,) = resources_of_type(transformed, "AWS::SQS::QueuePolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    allowed_sources = set(evaluate(statement["Condition"]["ArnEquals"]["aws:SourceArn"]))
    for rule_id in ("FanOutFunctionDatasetLanded", "FanOutFunctionSchedule", "FanOutFunctionExecutionEnded"):
        rule = resources[rule_id]["Properties"]
        assert rule["Targets"][0]["DeadLetterConfig"] == {"Arn": queue}
        assert f"arn:aws:events:us-east-1:123456789012:rule/{evaluate(rule['Name'])}" in allowed_sources
    (invoke_config,) = resources_of_type(transformed, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"]["FunctionName"] == {"Ref": "FanOutFunction"}
    assert invoke_config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == queue
    assert resources["FanOutDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True


# ---------------------------------------------------------------------------------------------- outputs
def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["BucketName"]["Value"] == {"Ref": "DataBucket"}
    assert outputs["TableName"]["Value"] == {"Ref": "TuningTable"}
    assert outputs["StateMachineArn"]["Value"] == {"Ref": "TuningStateMachine"}
    assert outputs["FanOutFunctionName"]["Value"] == {"Ref": "FanOutFunction"}
    assert outputs["FanOutFunctionArn"]["Value"] == {"Fn::GetAtt": ["FanOutFunction", "Arn"]}
    assert outputs["TrainerFunctionName"]["Value"] == {"Ref": "TrainerFunction"}
    assert outputs["ReducerFunctionName"]["Value"] == {"Ref": "ReducerFunction"}


def test_checkov_skips_carry_a_reason(template: dict[str, Any]) -> None:
    skips = [
        (name, skip)
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips, "expected the documented checkov skips"
    for name, skip in skips:
        assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), (name, skip)
        assert len(skip.get("comment", "").split()) >= 5, (name, skip)


# ------------------------------------------------------------------------------------------------ champion
def test_champion_function_carries_the_ml_layer_and_its_own_least_privilege(transformed: dict[str, Any]) -> None:
    # scikit-learn re-scores the champion: the champion function has the ml layer; the reducer stays light
    assert layer_names(transformed, "ChampionFunction") == ["TunerLayer", "MlLayer"]
    role = function_role(transformed, "ChampionFunction")
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/{TuningTable}"
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem", "dynamodb:Query",
                   "dynamodb:GetItem"):
        assert role in roles_allowed(transformed, action, table), action
    assert role not in roles_allowed(transformed, "dynamodb:BatchWriteItem", table)
    # it reads the split and the champion's model, and writes nothing to S3
    assert role in roles_allowed(transformed, "s3:GetObject", f"{BUCKET_ARN}/models/run-1/exp-1.joblib")
    assert role in roles_allowed(transformed, "s3:GetObject", f"{BUCKET_ARN}/datasets/iris/iris.npz")
    actions = {a for s in role_statements(transformed)[role] for a in as_list(s["Action"])}
    assert not {a for a in actions if a.startswith("s3:") and not a.startswith(("s3:Get", "s3:List"))}
    assert transformed["Resources"]["ChampionFunction"]["Properties"]["Environment"]["Variables"][
        "EVENT_BUS_NAME"] == "default"


def test_champion_step_runs_after_the_reducer_only_for_succeeded_runs() -> None:
    states = json.loads(ASL_PATH.read_text())["States"]
    assert states["Reduce"]["Next"] == "RunSucceeded"
    choice = states["RunSucceeded"]
    assert choice["Choices"] == [{"Variable": "$.status", "StringEquals": "SUCCEEDED", "Next": "Champion"}]
    assert states[choice["Default"]]["Type"] == "Succeed"
    champion = states["Champion"]
    assert champion["Parameters"] == {"FunctionName": "${ChampionFunctionArn}", "Payload": {"run_id.$": "$.run_id"}}
    assert "Catch" not in champion  # the run is closed SUCCEEDED already: nothing may mark it FAILED
    assert champion["End"] is True
