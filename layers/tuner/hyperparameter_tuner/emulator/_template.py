"""Read a SAM/CloudFormation template and resolve its intrinsic functions to concrete values.

Only what the emulator needs: short-form tags (``!Ref``, ``!Sub``, ``!GetAtt``, ...) become their long-form
dicts, SAM ``Globals`` merge into each function's properties, and :class:`Resolver` evaluates ``Ref``,
``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``, ``Fn::If`` and friends against the emulated resources.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["NO_VALUE", "EmulatorError", "Resolver", "Template", "load_template", "loads_template"]


class EmulatorError(Exception):
    """The template or the emulated workflow cannot be run by the emulator."""


class _NoValue:
    """Marker for ``AWS::NoValue``: the property is removed from its mapping or list."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()

# Tags whose long form is not ``Fn::<Name>``.
_PLAIN_TAGS = {"Ref": "Ref", "Condition": "Condition"}


class _TemplateLoader(yaml.SafeLoader):
    """A SafeLoader that understands CloudFormation short-form tags and keeps dates as strings."""


def _construct_cfn_tag(loader: _TemplateLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = _PLAIN_TAGS.get(tag_suffix, f"Fn::{tag_suffix}")
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _construct_cfn_tag)
# CloudFormation reads `Version: 2012-10-17` as a string, not a date.
_TemplateLoader.add_constructor("tag:yaml.org,2002:timestamp", _TemplateLoader.construct_yaml_str)  # type: ignore[type-var]


def loads_template(text: str) -> dict[str, Any]:
    """Parse template text (YAML or JSON) with CloudFormation short-form tags.

    Parameters
    ----------
    text : str
        The template body.

    Returns
    -------
    dict
        The template, short tags turned into long-form dicts.

    Examples
    --------
    >>> loads_template("Value: !GetAtt Fn.Arn")
    {'Value': {'Fn::GetAtt': ['Fn', 'Arn']}}
    """
    data = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise EmulatorError("the template is not a mapping")
    return data


class Template:
    """A parsed template with SAM ``Globals`` applied to its functions.

    Parameters
    ----------
    body : dict
        The parsed template (see :func:`loads_template`).
    path : Path
        Where the template lives; relative ``CodeUri``/``DefinitionUri`` are resolved against its folder.
    """

    def __init__(self, body: dict[str, Any], path: Path) -> None:
        self.body = body
        self.path = path
        self.base_dir = path.parent
        resources = body.get("Resources")
        if not isinstance(resources, dict) or not resources:
            raise EmulatorError(f"{path}: the template has no Resources")
        self.resources: dict[str, dict[str, Any]] = resources
        self.parameters: dict[str, dict[str, Any]] = body.get("Parameters") or {}
        self.conditions: dict[str, Any] = body.get("Conditions") or {}
        self.mappings: dict[str, Any] = body.get("Mappings") or {}
        self.globals: dict[str, Any] = body.get("Globals") or {}

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        """Return the resources of the given types, by logical id, in template order."""
        return {name: res for name, res in self.resources.items() if res.get("Type") in types}

    def properties(self, logical_id: str) -> dict[str, Any]:
        """Return a resource's properties, with SAM ``Globals`` merged in for serverless resources.

        Parameters
        ----------
        logical_id : str
            The resource's logical id.

        Returns
        -------
        dict
            Unresolved properties (maps merged, lists concatenated, scalars from the resource win).
        """
        resource = self.resources[logical_id]
        own: dict[str, Any] = resource.get("Properties") or {}
        section = {
            "AWS::Serverless::Function": "Function",
            "AWS::Serverless::StateMachine": "StateMachine",
            "AWS::Serverless::SimpleTable": "SimpleTable",
        }.get(resource.get("Type", ""))
        if section is None:
            return own
        return _merge_globals(self.globals.get(section) or {}, own)


def _merge_globals(global_value: Any, own_value: Any) -> Any:
    if isinstance(global_value, dict) and isinstance(own_value, dict):
        merged = dict(global_value)
        for key, value in own_value.items():
            merged[key] = _merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(own_value, list):
        return [*global_value, *own_value]
    return own_value


def load_template(path: str | Path) -> Template:
    """Read and parse a template file.

    Parameters
    ----------
    path : str or Path
        The template file (YAML or JSON).

    Returns
    -------
    Template
        The parsed template.

    Raises
    ------
    EmulatorError
        If the file is missing or is not a template.
    """
    template_path = Path(path).resolve()
    try:
        text = template_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EmulatorError(f"cannot read template {template_path}: {exc}") from exc
    try:
        body = loads_template(text)
    except yaml.YAMLError as exc:
        raise EmulatorError(f"{template_path} is not valid YAML: {exc}") from exc
    return Template(body, template_path)


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class Resolver:
    """Evaluate intrinsic functions against emulated resources.

    Parameters
    ----------
    template : Template
        The template whose parameters, conditions and mappings are used.
    pseudo : Mapping[str, Any]
        Pseudo parameters (``AWS::Region``, ``AWS::AccountId``, ...).
    refs : Mapping[str, Any]
        ``Ref`` value of each resource by logical id.
    attributes : Callable[[str, str], Any]
        ``Fn::GetAtt`` of ``(logical_id, attribute)``; raises ``KeyError`` when unknown.
    parameter_values : Mapping[str, str]
        Overrides for template parameters (else their ``Default``).
    """

    def __init__(
        self,
        template: Template,
        pseudo: Mapping[str, Any],
        refs: Mapping[str, Any],
        attributes: Callable[[str, str], Any],
        parameter_values: Mapping[str, str],
    ) -> None:
        self._template = template
        self._pseudo = dict(pseudo)
        self._refs = refs
        self._attributes = attributes
        self._parameter_values = dict(parameter_values)
        self._condition_cache: dict[str, bool] = {}

    # -- public -------------------------------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """Return ``value`` with every intrinsic function evaluated (``AWS::NoValue`` entries dropped)."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = self._functions().get(key)
            if handler is not None:
                return handler(arg)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def condition(self, name: str) -> bool:
        """Evaluate a named condition of the template."""
        if name not in self._condition_cache:
            if name not in self._template.conditions:
                raise EmulatorError(f"unknown condition {name!r}")
            self._condition_cache[name] = bool(self.resolve(self._template.conditions[name]))
        return self._condition_cache[name]

    def sub(self, text: str, variables: Mapping[str, Any] | None = None) -> str:
        """Evaluate ``Fn::Sub`` on ``text`` with extra ``variables`` (which win over resources)."""
        extra = dict(variables or {})

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in extra:
                return _to_string(extra[name])
            if "." in name and name.split(".", 1)[0] in self._template.resources:
                logical_id, attribute = name.split(".", 1)
                return _to_string(self._get_att([logical_id, attribute]))
            return _to_string(self._ref(name))

        return _SUB_VARIABLE.sub(replace, text)

    # -- intrinsic functions ------------------------------------------------------------------------------------

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._fn_sub,
            "Fn::Join": self._fn_join,
            "Fn::If": self._fn_if,
            "Fn::Equals": self._fn_equals,
            "Fn::Not": lambda arg: not self._boolean(self.resolve(arg)[0]),
            "Fn::And": lambda arg: all(self._boolean(item) for item in self.resolve(arg)),
            "Fn::Or": lambda arg: any(self._boolean(item) for item in self.resolve(arg)),
            "Condition": lambda arg: self.condition(self.resolve(arg)),
            "Fn::Select": self._fn_select,
            "Fn::Split": self._fn_split,
            "Fn::FindInMap": self._fn_find_in_map,
            "Fn::Base64": lambda arg: base64.b64encode(_to_string(self.resolve(arg)).encode()).decode(),
            "Fn::GetAZs": lambda _arg: [f"{self._pseudo['AWS::Region']}{zone}" for zone in "abc"],
            "Fn::ToJsonString": lambda arg: json.dumps(self.resolve(arg), separators=(",", ":")),
        }

    def _ref(self, arg: Any) -> Any:
        name = self.resolve(arg)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._template.parameters:
            return self._parameter(name)
        if name in self._refs:
            return self._refs[name]
        raise EmulatorError(f"Ref to unknown name {name!r}")

    def _parameter(self, name: str) -> Any:
        spec = self._template.parameters[name]
        if name in self._parameter_values:
            value: Any = self._parameter_values[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise EmulatorError(f"parameter {name!r} has no Default and no value was given")
        if spec.get("Type") in ("CommaDelimitedList", "List<String>") and isinstance(value, str):
            return [item.strip() for item in value.split(",")]
        return value if isinstance(value, list) else _to_string(value)

    def _get_att(self, arg: Any) -> Any:
        resolved = self.resolve(arg)
        logical_id, attribute = resolved.split(".", 1) if isinstance(resolved, str) else resolved
        try:
            return self._attributes(logical_id, attribute)
        except KeyError:
            raise EmulatorError(f"Fn::GetAtt {logical_id}.{attribute} is not supported by the emulator") from None

    def _fn_sub(self, arg: Any) -> str:
        if isinstance(arg, str):
            return self.sub(arg)
        text, variables = arg
        return self.sub(text, self.resolve(variables))

    def _fn_join(self, arg: Any) -> str:
        delimiter, items = arg
        return str(delimiter).join(_to_string(item) for item in self.resolve(items))

    def _fn_if(self, arg: Any) -> Any:
        name, if_true, if_false = arg
        return self.resolve(if_true if self.condition(name) else if_false)

    def _fn_equals(self, arg: Any) -> bool:
        left, right = self.resolve(arg)
        return _to_string(left) == _to_string(right)

    def _fn_select(self, arg: Any) -> Any:
        index, items = self.resolve(arg)
        return items[int(index)]

    def _fn_split(self, arg: Any) -> list[str]:
        delimiter, text = self.resolve(arg)
        return str(text).split(str(delimiter))

    def _fn_find_in_map(self, arg: Any) -> Any:
        map_name, top, second = self.resolve(arg)[:3]
        try:
            return self._template.mappings[map_name][top][second]
        except KeyError:
            raise EmulatorError(f"Fn::FindInMap {map_name}/{top}/{second} not found") from None

    @staticmethod
    def _boolean(value: Any) -> bool:
        if isinstance(value, str):
            return value.lower() == "true"
        return bool(value)


def _to_string(value: Any) -> str:
    """Render a resolved value the way CloudFormation puts it into a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def to_environment_value(value: Any) -> str:
    """Render a resolved environment variable value as Lambda stores it."""
    return _to_string(value)
