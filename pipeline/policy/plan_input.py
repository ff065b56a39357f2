"""A plan made against existing state, read by Checkov as the same configuration planned against empty state.

The AWS provider's SDKv2 resources cannot keep null for an optional string in state: one the configuration
leaves unset is read back as ``""`` (terraform-plugin-sdk cannot tell null from the zero value:
hashicorp/terraform-plugin-sdk#741, "GetOk output for null string field and empty string field are
identical"). A plan made against empty state shows ``null`` there. Checkov's ``exists`` operator counts
``""`` as set, so a built-in check passes a deployed resource that the first plan of the same artifact failed
(``CKV2_AWS_51``: ``client_certificate_id = ""`` on an API Gateway stage without a client certificate), and the
waiver of that finding then looks stale. Before Checkov reads a plan, an existing resource's ``""`` for an
attribute its configuration does not set goes back to ``null`` (Terraform docs, "JSON Output Format":
``planned_values`` holds the values, ``configuration`` the expressions, ``resource_changes`` the prior values).
Nothing the configuration sets is touched, nor any other value.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import Any

_INDEX = re.compile(r"\[[^\]]*\]")


def unset_read_backs(plan: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """A copy of ``plan`` (``terraform show -json`` output) in which every managed resource that already exists
    (its ``resource_changes`` entry has a ``before``) holds ``null`` instead of ``""`` for each attribute, also
    inside nested blocks, that its configuration does not set; and how many values were replaced."""
    doc = copy.deepcopy(dict(plan))
    existing = {
        str(change.get("address"))
        for change in doc.get("resource_changes") or []
        if isinstance(change, dict) and isinstance(change.get("change"), dict) and change["change"].get("before")
    }
    configuration = doc.get("configuration", {}).get("root_module", {})
    replaced = 0
    for module_address, resource in _resources(doc.get("planned_values", {}).get("root_module", {})):
        address = str(resource.get("address", ""))
        values = resource.get("values")
        if resource.get("mode") != "managed" or address not in existing or not isinstance(values, dict):
            continue
        relative = _INDEX.sub("", address.removeprefix(f"{module_address}.") if module_address else address)
        replaced += _unset(values, _expressions(configuration, module_address, relative))
    return doc, replaced


def _resources(module: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(module address, resource) for every resource of a ``planned_values`` module and its child modules."""
    for resource in module.get("resources") or []:
        if isinstance(resource, dict):
            yield str(module.get("address", "")), resource
    for child in module.get("child_modules") or []:
        if isinstance(child, dict):
            yield from _resources(child)


def _expressions(root: Mapping[str, Any], module_address: str, relative: str) -> Mapping[str, Any]:
    """The configuration ``expressions`` of ``relative`` in the module at ``module_address`` (``{}`` if none)."""
    module: Any = root
    for name in re.findall(r"module\.([^.\[]+)", module_address):
        module = module.get("module_calls", {}).get(name, {}).get("module", {}) if isinstance(module, dict) else {}
    for resource in module.get("resources") or [] if isinstance(module, dict) else []:
        if isinstance(resource, dict) and resource.get("address") == relative:
            expressions = resource.get("expressions")
            return expressions if isinstance(expressions, dict) else {}
    return {}


def _unset(values: dict[str, Any], expressions: Mapping[str, Any]) -> int:
    replaced = 0
    for key, value in values.items():
        declared = expressions.get(key)
        if key in expressions and not isinstance(declared, list):
            continue  # the configuration sets it (a constant, a reference or an expression)
        if value == "":
            values[key] = None
            replaced += 1
        elif isinstance(value, list):
            blocks = declared if isinstance(declared, list) else []
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    nested = blocks[index] if index < len(blocks) and isinstance(blocks[index], dict) else {}
                    replaced += _unset(item, nested)
    return replaced
