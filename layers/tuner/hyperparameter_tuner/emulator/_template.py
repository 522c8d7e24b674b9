"""The SAM template as CloudFormation deploys it: parsed, expanded by AWS's own SAM translator, ready for moto."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from samtranslator.yaml_helper import intrinsics_multi_constructor

__all__ = ["NOT_IN_MOTO", "EmulatorError", "Template", "load_template", "loads_template"]

NOT_IN_MOTO: dict[str, str] = {
    "AWS::S3::BucketPolicy": "bucket policies (moto's S3 does not enforce them)",
    "AWS::SQS::QueuePolicy": "queue policies (moto's SQS does not enforce them)",
    "AWS::Lambda::EventInvokeConfig": "asynchronous retries and on-failure destinations (the emulator invokes "
    "functions synchronously)",
}
"""Resource types that moto's CloudFormation cannot create: the emulator leaves them out of the stack."""

# Code and layers are "packaged" as an S3 object that does not exist (moto is told not to check, see the engine);
# the handlers run from CodeUri. A state machine's DefinitionUri is read here: moto can read neither.
_PACKAGE = {"Bucket": "hpt-emulator-artifacts", "Key": "packaged.zip"}
_PACKAGED = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


class EmulatorError(Exception):
    """The template or the emulated workflow cannot be run by the emulator."""


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (with the SAM translator's own constructor) and keeps dates as strings,
    as CloudFormation reads ``Version: 2012-10-17``."""


_TemplateLoader.add_multi_constructor("!", intrinsics_multi_constructor)
_TemplateLoader.add_constructor("tag:yaml.org,2002:timestamp", _TemplateLoader.construct_yaml_str)  # type: ignore[type-var]


def loads_template(text: str) -> dict[str, Any]:
    """Parse template text (YAML or JSON); short-form tags become long-form dicts, as the SAM CLI reads them.

    Examples
    --------
    >>> loads_template("Value: !GetAtt Fn.Arn")
    {'Value': {'Fn::GetAtt': ['Fn', 'Arn']}}
    """
    data = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise EmulatorError("the template is not a mapping")
    return data


def load_template(path: str | Path) -> Template:
    """Read and parse a template file (YAML or JSON); :class:`EmulatorError` if it is missing or not a template."""
    path = Path(path).resolve()
    try:
        body = loads_template(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise EmulatorError(f"cannot read template {path}: {exc}") from exc
    return Template(body, path)


class Template:
    """A parsed SAM template ``body`` read from ``path`` (relative ``CodeUri``/``DefinitionUri`` start there)."""

    def __init__(self, body: dict[str, Any], path: Path) -> None:
        self.body, self.path, self.base_dir = body, path, path.parent
        self.resources: dict[str, dict[str, Any]] = body.get("Resources") or {}
        if not isinstance(self.resources, dict) or not self.resources:
            raise EmulatorError(f"{path}: the template has no Resources")

    def properties(self, logical_id: str) -> dict[str, Any]:
        """A copy of a resource's unresolved properties with ``Globals`` merged in, as the SAM translator does."""
        from samtranslator.plugins.globals.globals import Globals

        resource = self.resources[logical_id]
        own = copy.deepcopy(resource.get("Properties") or {})
        merged: dict[str, Any] = Globals(copy.deepcopy(self.body)).merge(resource.get("Type", ""), own, logical_id)
        return merged

    def to_cloudformation(self, parameters: dict[str, str], region: str, account_id: str) -> dict[str, Any]:
        """The CloudFormation template to create in moto; :class:`EmulatorError` if the translator rejects the
        template, or a definition cannot be read or has unsubstituted placeholders."""
        from samtranslator.model.exceptions import InvalidDocumentException
        from samtranslator.translator.transform import transform

        sam = copy.deepcopy(self.body)
        definitions: dict[str, str] = {}
        for logical_id, resource in sam["Resources"].items():
            prop = _PACKAGED.get(resource.get("Type", ""))
            props = resource.get("Properties") or {}
            if prop is not None and isinstance(props.get(prop), str):
                if prop == "DefinitionUri":
                    path = self.base_dir / props[prop]
                    try:
                        definitions[logical_id] = path.read_text(encoding="utf-8")
                        json.loads(definitions[logical_id])
                    except (OSError, ValueError) as exc:
                        raise EmulatorError(f"{logical_id}: cannot read DefinitionUri {path}: {exc}") from exc
                props[prop] = _PACKAGE
        pseudo = {"AWS::Region": region, "AWS::AccountId": account_id, "AWS::Partition": "aws"}
        try:
            cfn: dict[str, Any] = transform(sam, {**parameters, **pseudo}, SimpleNamespace(load=dict))
        except InvalidDocumentException as exc:
            causes = "; ".join(cause.message for cause in exc.causes)
            raise EmulatorError(f"{self.path}: the SAM transform failed: {causes}") from exc
        kept = {logical_id: res for logical_id, res in cfn["Resources"].items() if res["Type"] not in NOT_IN_MOTO}
        resources = cfn["Resources"] = kept
        for logical_id, text in definitions.items():
            props = resources[logical_id]["Properties"]
            props.pop("DefinitionS3Location", None)
            props["DefinitionString"] = _join(logical_id, text, props.pop("DefinitionSubstitutions", None) or {})
        return cfn


def _join(logical_id: str, text: str, substitutions: dict[str, Any]) -> dict[str, Any]:
    """``DefinitionSubstitutions`` as CloudFormation applies them, spelt as an ``Fn::Join`` that moto resolves."""
    parts = re.split(r"\$\{([^}]*)\}", text)  # text, name, text, name, ..., text
    missing = sorted({f"${{{name}}}" for name in parts[1::2] if name not in substitutions})
    if missing:
        raise EmulatorError(f"{logical_id}: no DefinitionSubstitutions for {', '.join(missing)}")
    pieces = [substitutions[part] if index % 2 else part for index, part in enumerate(parts)]
    return {"Fn::Join": ["", [piece for piece in pieces if piece != ""]]}
