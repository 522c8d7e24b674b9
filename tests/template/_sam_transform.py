"""Expand template.yaml's SAM resources into plain CloudFormation, offline.

Used in-process when ``aws-sam-translator`` is importable, otherwise run as a script by the Python of the SAM CLI's
own venv (``.tools/sam/bin/python``): JSON template on stdin, transformed JSON template on stdout.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from typing import Any

# Local paths are only meaningful to `sam build`/`sam package`; the translator wants S3 locations.
_ARTIFACT_PROPERTIES = {
    "AWS::Serverless::Function": ("CodeUri", "s3://artifacts/code.zip"),
    "AWS::Serverless::LayerVersion": ("ContentUri", "s3://artifacts/layer.zip"),
    "AWS::Serverless::StateMachine": ("DefinitionUri", "s3://artifacts/definition.asl.json"),
}

PSEUDO_PARAMETERS = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}


class _NoManagedPolicies:
    """Stands in for the IAM-backed loader: the template names no managed policy by name."""

    def load(self) -> dict[str, str]:
        return {}


def transform(template: dict[str, Any]) -> dict[str, Any]:
    """Return the CloudFormation template that the SAM transform makes of ``template``."""
    from samtranslator.translator.transform import transform as sam_transform

    # The translator resolves AWS::Region through boto3's default session and fails without one.
    os.environ.setdefault("AWS_DEFAULT_REGION", PSEUDO_PARAMETERS["AWS::Region"])
    fragment = copy.deepcopy(template)
    for resource in fragment.get("Resources", {}).values():
        artifact = _ARTIFACT_PROPERTIES.get(resource.get("Type", ""))
        if artifact is not None and isinstance(resource.get("Properties", {}).get(artifact[0]), str):
            resource["Properties"][artifact[0]] = artifact[1]
    return dict(sam_transform(fragment, dict(PSEUDO_PARAMETERS), _NoManagedPolicies()))


if __name__ == "__main__":
    json.dump(transform(json.load(sys.stdin)), sys.stdout)
