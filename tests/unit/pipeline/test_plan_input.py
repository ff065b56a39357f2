"""pipeline/policy/plan_input: a plan against existing state read as the same configuration against empty state."""

from __future__ import annotations

from typing import Any

from pipeline.policy.plan_input import unset_read_backs

STAGE = "aws_api_gateway_stage.stage"
NEW = "aws_sqs_queue.new"


def a_plan(module: str = "") -> dict[str, Any]:
    """A stage that exists (read back from state) and a queue being created, in ``module`` (root when empty)."""
    prefix = f"{module}." if module else ""
    stage_values = {
        "client_certificate_id": "",
        "description": "",
        "stage_name": "v1",
        "access_log_settings": [{"destination_arn": "arn:aws:logs:us-east-1:1:log-group:x", "format": ""}],
        "canary_settings": [{"deployment_id": ""}],
        "tags": {"Team": ""},
    }
    resources = [
        {"address": f"{prefix}{STAGE}", "mode": "managed", "values": stage_values},
        {"address": f"{prefix}{NEW}", "mode": "managed", "values": {"name_prefix": ""}},
    ]
    expressions = [
        {
            "address": STAGE,
            "expressions": {
                "description": {"constant_value": ""},  # written by the configuration: stays ""
                "stage_name": {"constant_value": "v1"},
                "access_log_settings": [{"destination_arn": {"references": ["aws_cloudwatch_log_group.x.arn"]}}],
            },
        },
        {"address": NEW, "expressions": {}},
    ]
    planned: dict[str, Any] = {"resources": resources}
    configuration: dict[str, Any] = {"resources": expressions}
    if module:
        planned = {"child_modules": [{"address": module, "resources": resources}]}
        configuration = {"module_calls": {module.removeprefix("module."): {"module": {"resources": expressions}}}}
    return {
        "planned_values": {"root_module": planned},
        "configuration": {"root_module": configuration},
        "resource_changes": [
            {"address": f"{prefix}{STAGE}", "change": {"actions": ["no-op"], "before": stage_values}},
            {"address": f"{prefix}{NEW}", "change": {"actions": ["create"], "before": None}},
        ],
    }


def values(plan: dict[str, Any], address: str) -> dict[str, Any]:
    module = plan["planned_values"]["root_module"]
    resources = module.get("resources") or module["child_modules"][0]["resources"]
    (found,) = [r["values"] for r in resources if r["address"].endswith(address)]
    return found


def test_an_unset_attribute_read_back_as_empty_is_null_again() -> None:
    original = a_plan()
    plan, replaced = unset_read_backs(original)
    stage = values(plan, STAGE)
    assert stage["client_certificate_id"] is None
    assert stage["canary_settings"] == [{"deployment_id": None}]  # a block the configuration does not write
    assert stage["access_log_settings"][0]["format"] is None  # unset inside a block the configuration writes
    assert replaced == 3
    assert values(original, STAGE)["client_certificate_id"] == ""  # the input is not changed


def test_what_the_configuration_writes_and_other_values_stay() -> None:
    plan, _ = unset_read_backs(a_plan())
    stage = values(plan, STAGE)
    assert stage["description"] == ""
    assert stage["stage_name"] == "v1"
    assert stage["access_log_settings"][0]["destination_arn"] == "arn:aws:logs:us-east-1:1:log-group:x"
    assert stage["tags"] == {"Team": ""}  # a map value, not an attribute
    assert values(plan, NEW) == {"name_prefix": ""}  # created by this plan: nothing was read back


def test_resources_of_child_modules_are_read_back_the_same_way() -> None:
    plan, replaced = unset_read_backs(a_plan("module.api"))
    assert values(plan, STAGE)["client_certificate_id"] is None
    assert replaced == 3


def test_a_plan_against_empty_state_is_unchanged() -> None:
    plan = a_plan()
    plan["resource_changes"][0]["change"] = {"actions": ["create"], "before": None}
    assert unset_read_backs(plan) == (plan, 0)
