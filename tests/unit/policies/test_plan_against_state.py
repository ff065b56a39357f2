"""The gate on a real plan made against existing state, as `make promote` runs it on a second promotion.

``real_plans/dev_plan_against_state.json`` is ``terraform show -json`` of a plan of the dev stack against its
LocalStack deployment (Terraform 1.11.4, AWS provider 5.100.0, account 000000000000; 152 resources, all
no-op, recorded again when the reconciliation was added), trimmed of
``resource_drift`` (read neither by Checkov's plan parser nor by the pack) and with the LocalStack API key's
value redacted. Its first gate failed on false findings that a plan against empty state never shows (issue 9):
literal account ids read back from state (CKV_PAY_041 on the SNS topics), a role's ``inline_policy`` read back
from its ``aws_iam_role_policy`` (CKV_PAY_026 on the role) and ``""`` read back for an unset attribute
(CKV2_AWS_51 passed, so its waiver looked stale).

The variants edit the plan as Terraform would show another configuration or another state; they are scanned
in one Checkov run, each from its own folder, normalized as the gate's ``checkov.scan`` does.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.policy import checkov as policy
from pipeline.policy import gate, pack, waivers
from pipeline.policy.plan_input import unset_read_backs
from tests.unit.background import background_fixture
from tests.unit.policies.support import scan_documents, settings_now

REPO_ROOT = Path(__file__).resolve().parents[3]
CHECKS_DIR = REPO_ROOT / "policies" / "checks"
WAIVERS = REPO_ROOT / "policies" / "waivers.yaml"
REAL_PLAN = Path(__file__).parent / "real_plans" / "dev_plan_against_state.json"
TODAY = dt.date(2026, 11, 30)
Plan = dict[str, Any]

ALARMS_TOPIC = "aws_sns_topic.messaging_alarms_FF398796"
EVENTS_TOPIC = "aws_sns_topic.messaging_payment-events_7FBD7D74"
ALARMS_TOPIC_POLICY = "aws_sns_topic_policy.messaging_alarms-topic-policy_32143C5E"
LOGS_ROLE = "aws_iam_role.api_cloudwatch-role_48BFD53E"
LOGS_ROLE_POLICY = "aws_iam_role_policy.api_cloudwatch-role-policy_32FF1659"
HANDLER_ROLE = "aws_iam_role.api-handler_role_2328467A"
STAGE = "aws_api_gateway_stage.api_stage_9CA2AE48"
FOREIGN = "999999999999"


# --- editing a plan as Terraform would show it ------------------------------------------------------------------


def planned(plan: Plan, address: str) -> dict[str, Any]:
    """The ``values`` of ``address`` in ``planned_values``."""
    (found,) = [r for r in plan["planned_values"]["root_module"]["resources"] if r["address"] == address]
    values: dict[str, Any] = found["values"]
    return values


def configured(plan: Plan, address: str) -> dict[str, Any]:
    """The configuration ``expressions`` of ``address``."""
    (found,) = [r for r in plan["configuration"]["root_module"]["resources"] if r["address"] == address]
    expressions: dict[str, Any] = found["expressions"]
    return expressions


def set_planned(plan: Plan, address: str, key: str, value: Any) -> None:
    """``address`` has ``value`` for ``key`` in the plan (planned value and the change's ``after``)."""
    planned(plan, address)[key] = value
    (change,) = [c for c in plan["resource_changes"] if c["address"] == address]
    change["change"]["after"][key] = value


def remove(plan: Plan, address: str) -> None:
    """The configuration and the state no longer hold ``address``."""
    for section in (plan["planned_values"]["root_module"], plan["configuration"]["root_module"]):
        section["resources"] = [r for r in section["resources"] if r["address"] != address]
    plan["prior_state"]["values"]["root_module"]["resources"] = [
        r for r in plan["prior_state"]["values"]["root_module"]["resources"] if r["address"] != address
    ]
    plan["resource_changes"] = [c for c in plan["resource_changes"] if c["address"] != address]


def add_existing(plan: Plan, address: str, values: dict[str, Any], expressions: dict[str, Any]) -> None:
    """An existing resource the configuration declares with ``expressions``, unchanged by the plan."""
    rtype, name = address.split(".")
    resource = {"address": address, "mode": "managed", "type": rtype, "name": name}
    provider = "registry.terraform.io/hashicorp/aws"
    plan["planned_values"]["root_module"]["resources"].append(
        {**resource, "provider_name": provider, "schema_version": 0, "values": values, "sensitive_values": {}}
    )
    plan["configuration"]["root_module"]["resources"].append(
        {**resource, "provider_config_key": "aws", "expressions": expressions, "schema_version": 0}
    )
    noop = {"actions": ["no-op"], "before": values, "after": values, "after_unknown": {}}
    plan["resource_changes"].append({**resource, "provider_name": provider, "change": noop})


def edit_statement(document: str, sid: str, **changes: Any) -> str:
    """The policy JSON with statement ``sid`` updated by ``changes``."""
    parsed = json.loads(document)
    (statement,) = [s for s in parsed["Statement"] if s.get("Sid") == sid]
    statement.update(changes)
    return json.dumps(parsed)


def foreign_account_management(document: str) -> str:
    """Statement ``AllowAccountManagement`` of the topic policies, naming another account instead of this one."""
    return edit_statement(
        document,
        "AllowAccountManagement",
        Principal={"AWS": f"arn:aws:iam::{FOREIGN}:root"},
        Condition={"StringEquals": {"aws:SourceOwner": FOREIGN}},
    )


# --- the variants -----------------------------------------------------------------------------------------------


def _foreign_account_in_topic_policy(plan: Plan) -> None:
    """The topic policy resource grants another account: failed there, and only there."""
    policy_text = foreign_account_management(planned(plan, ALARMS_TOPIC_POLICY)["policy"])
    set_planned(plan, ALARMS_TOPIC_POLICY, "policy", policy_text)


def _foreign_account_of_a_referenced_resource(plan: Plan) -> None:
    """The topic policy grants the account of a subscription it references (a subscription's ARN is in the topic
    owner's account): only the topic's own account and the caller identity are this account."""
    subscription = "aws_sns_topic_subscription.partner_9A8B7C6D"
    arn = f"arn:aws:sns:us-east-1:{FOREIGN}:partner-events:0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    values = {"arn": arn, "id": arn, "protocol": "sqs", "topic_arn": f"arn:aws:sns:us-east-1:{FOREIGN}:partner-events"}
    add_existing(plan, subscription, values, {"protocol": {"constant_value": "sqs"}})
    configured(plan, ALARMS_TOPIC_POLICY)["policy"]["references"] += [f"{subscription}.arn", subscription]
    _foreign_account_in_topic_policy(plan)


def _topic_policy_without_caller_identity(plan: Plan) -> None:
    """The topic policy writes the account through its topic only: the topic's ARN (the resource it attaches
    to) shows the literal account is this one."""
    expression = configured(plan, ALARMS_TOPIC_POLICY)["policy"]
    expression["references"] = [r for r in expression["references"] if "caller_identity" not in r]


def _topic_policy_set_outside_terraform(plan: Plan) -> None:
    """No resource sets the alarms topic's policy: its read-back is judged at the topic, where the literal
    account id read back from state equals the account of the topic's own ARN."""
    remove(plan, ALARMS_TOPIC_POLICY)


def _foreign_account_in_topic_read_back(plan: Plan) -> None:
    _topic_policy_set_outside_terraform(plan)
    set_planned(plan, ALARMS_TOPIC, "policy", foreign_account_management(planned(plan, ALARMS_TOPIC)["policy"]))


WILDCARD_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}
)


def _inline_policy_declared(plan: Plan) -> None:
    """The role declares an inline policy with wildcards (the provider then plans exactly the declared ones)."""
    declared = {"name": "declared-wildcards", "policy": WILDCARD_POLICY}
    configured(plan, LOGS_ROLE)["inline_policy"] = [
        {"name": {"constant_value": declared["name"]}, "policy": {"constant_value": declared["policy"]}}
    ]
    set_planned(plan, LOGS_ROLE, "inline_policy", [declared])


def _inline_policy_added_outside_terraform(plan: Plan) -> None:
    """An inline policy no aws_iam_role_policy sets (added in the console) is read back: judged at the role."""
    set_planned(plan, LOGS_ROLE, "inline_policy", [{"name": "added-in-console", "policy": WILDCARD_POLICY}])


STACK_POLICY_ARN = "arn:aws:iam::000000000000:policy/paygate-dev-reader"
FOREIGN_POLICY_ARN = f"arn:aws:iam::{FOREIGN}:policy/partner-reader"


def _attach(plan: Plan, policy_arn: str, expression: dict[str, Any]) -> None:
    """The handler role gets a managed policy through an attachment; the role reads it back."""
    attachment = "aws_iam_role_policy_attachment.api-handler_reader_1A2B3C4D"
    role = {"constant_value": f"${{{HANDLER_ROLE}.name}}", "references": [f"{HANDLER_ROLE}.name", HANDLER_ROLE]}
    role_name = planned(plan, HANDLER_ROLE)["name"]
    add_existing(
        plan,
        attachment,
        {"id": f"{role_name}-reader", "policy_arn": policy_arn, "role": role_name},
        {"policy_arn": expression, "role": role},
    )
    set_planned(plan, HANDLER_ROLE, "managed_policy_arns", [policy_arn])


def _stack_policy_attached(plan: Plan) -> None:
    """A policy of the stack, attached to a role: its ARN arrives as a literal in the attachment and the role."""
    document = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:GetQueueUrl", "Resource": "*"}]}
    )
    values = {"arn": STACK_POLICY_ARN, "id": STACK_POLICY_ARN, "name": "paygate-dev-reader", "policy": document}
    add_existing(plan, "aws_iam_policy.api-handler_reader_5E6F7A8B", values, {"policy": {"constant_value": document}})
    reference = "aws_iam_policy.api-handler_reader_5E6F7A8B"
    _attach(plan, STACK_POLICY_ARN, {"references": [f"{reference}.arn", reference]})


def _foreign_policy_attached(plan: Plan) -> None:
    """Another account's customer-managed policy, attached by literal ARN: failed at the attachment only."""
    _attach(plan, FOREIGN_POLICY_ARN, {"constant_value": FOREIGN_POLICY_ARN})


ATTACHMENT = "aws_iam_role_policy_attachment.api-handler_reader_1A2B3C4D"
# variant -> (edit, {(check, address): expected result}); "absent" = no result (UNKNOWN, or not judged there).
VARIANTS: dict[str, tuple[Callable[[Plan], None], dict[tuple[str, str], str]]] = {
    "foreign_account_in_topic_policy": (
        _foreign_account_in_topic_policy,
        {("CKV_PAY_041", ALARMS_TOPIC_POLICY): "failed", ("CKV_PAY_041", ALARMS_TOPIC): "passed"},
    ),
    "foreign_account_of_a_referenced_resource": (
        _foreign_account_of_a_referenced_resource,
        {("CKV_PAY_041", ALARMS_TOPIC_POLICY): "failed"},
    ),
    "topic_policy_without_caller_identity": (
        _topic_policy_without_caller_identity,
        {("CKV_PAY_041", ALARMS_TOPIC_POLICY): "passed"},
    ),
    "topic_policy_set_outside_terraform": (
        _topic_policy_set_outside_terraform,
        {("CKV_PAY_041", ALARMS_TOPIC): "passed"},
    ),
    "foreign_account_in_topic_read_back": (
        _foreign_account_in_topic_read_back,
        {("CKV_PAY_041", ALARMS_TOPIC): "failed", ("CKV_PAY_041", EVENTS_TOPIC): "passed"},
    ),
    "inline_policy_declared": (
        _inline_policy_declared,
        {
            ("CKV_PAY_025", LOGS_ROLE): "failed",
            ("CKV_PAY_026", LOGS_ROLE): "failed",
            ("CKV_PAY_026", LOGS_ROLE_POLICY): "failed",  # still judged (and waived) at its own address
        },
    ),
    "inline_policy_added_outside_terraform": (
        _inline_policy_added_outside_terraform,
        {("CKV_PAY_025", LOGS_ROLE): "failed", ("CKV_PAY_026", LOGS_ROLE): "failed"},
    ),
    "stack_policy_attached": (
        _stack_policy_attached,
        {("CKV_PAY_040", ATTACHMENT): "passed", ("CKV_PAY_040", HANDLER_ROLE): "passed"},
    ),
    "foreign_policy_attached": (
        _foreign_policy_attached,
        {("CKV_PAY_040", ATTACHMENT): "failed", ("CKV_PAY_040", HANDLER_ROLE): "passed"},
    ),
}


def real_plan() -> Plan:
    doc: Plan = json.loads(REAL_PLAN.read_text(encoding="utf-8"))
    return doc


@background_fixture()
def real_plan_scan() -> policy.Scan:
    """The real plan through the gate's own scan (built-in checks and the pack)."""
    return policy.scan(REAL_PLAN, CHECKS_DIR, settings_now())


@background_fixture("tmp_path_factory")
def variant_scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, policy.Scan]:
    """Every variant of the real plan as its own plan file, scanned in two Checkov runs at once."""
    original = real_plan()
    documents = {}
    for name, (edit, _) in VARIANTS.items():
        doc = copy.deepcopy(original)
        edit(doc)
        assert doc != original, f"{name}: the edit changed nothing"
        documents[name] = unset_read_backs(doc)[0]
    roots = [tmp_path_factory.mktemp("plans-against-state"), tmp_path_factory.mktemp("plans-against-state")]
    return scan_documents(documents, roots, "plan.json", policy.TERRAFORM_PLAN)


def results(scan: policy.Scan) -> dict[tuple[str, str], str]:
    return {(f.check_id, f.resource): f.result for f in scan.findings}


def test_the_real_plan_passes_the_gate_with_the_repositorys_waivers(
    real_plan_scan: policy.Scan, mapping: dict[str, pack.Entry]
) -> None:
    verdict = gate.decide([real_plan_scan], mapping, waivers.load(WAIVERS), TODAY)
    assert verdict.ok, (verdict.problems, [(r.finding.check_id, r.finding.resource) for r in verdict.failures])
    assert {f.check_id for f in real_plan_scan.pack_findings} == set(mapping), "every check has a result"


def test_the_reported_false_findings_get_their_right_value(
    real_plan_scan: policy.Scan, mapping: dict[str, pack.Entry]
) -> None:
    found = results(real_plan_scan)
    assert found[("CKV_PAY_041", ALARMS_TOPIC)] == "passed"
    assert found[("CKV_PAY_041", EVENTS_TOPIC)] == "passed"
    assert found[("CKV_PAY_026", LOGS_ROLE)] == "passed"  # its read-back is the role policy's document
    assert found[("CKV_PAY_026", LOGS_ROLE_POLICY)] == "failed"  # judged once, at the address its waiver names
    assert found[("CKV2_AWS_51", STAGE)] == "failed"  # no client certificate: "" read back is unset
    verdict = gate.decide([real_plan_scan], mapping, waivers.load(WAIVERS), TODAY)
    waived = {(r.finding.check_id, r.finding.resource) for r in verdict.rows if r.status == "waived"}
    assert {("CKV_PAY_026", LOGS_ROLE_POLICY), ("CKV2_AWS_51", STAGE)} <= waived


def test_the_caller_identity_the_plan_read_is_this_account(real_plan_scan: policy.Scan) -> None:
    """Policies built from data.aws_caller_identity are decided in the plan, not left UNKNOWN (dropped)."""
    found = results(real_plan_scan)
    assert found[("CKV_PAY_041", ALARMS_TOPIC_POLICY)] == "passed"
    assert found[("CKV_PAY_041", "aws_kms_key.encryption_key_EEB70057")] == "passed"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_gets_its_results(variant: str, variant_scans: dict[str, policy.Scan]) -> None:
    scan = variant_scans[variant]
    assert not scan.parse_errors and not scan.load_errors
    found = results(scan)
    expected = VARIANTS[variant][1]
    assert {key: found.get(key, "absent") for key in expected} == expected
