"""The pack's rules that read the rest of the input (policies/lib.py): a plan made against existing state and
the synthesized ``cdk.tf.json``, found from the resource Checkov is scanning (``policies.stack.locate``).

Each test writes the smallest input that shows one rule (``terraform show -json`` shape, Terraform docs "JSON
Output Format": ``planned_values`` for values, ``configuration`` for expressions and their ``references``); the
real plan of the dev stack is held against the whole gate in test_plan_against_state.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from checkov.common.models.enums import CheckResult

from policies import lib
from tests.unit.policies.support import FakeCheck

OWN = "111122223333"
OTHER = "999999999999"


Resource = tuple[str, dict[str, Any], dict[str, Any]]  # address, planned values, configuration expressions


def refs(*references: str) -> dict[str, list[str]]:
    """A configuration expression that references (Terraform lists the attribute, then the object)."""
    return {"references": list(references)}


def const(value: Any) -> dict[str, Any]:
    return {"constant_value": value}


def write_plan(tmp_path: Path, *resources: Resource) -> Path:
    """A plan file of root-module ``resources``."""

    def kind(address: str) -> tuple[str, str, str]:
        mode = "data" if address.startswith("data.") else "managed"
        rtype, name = address.removeprefix("data.").split(".")
        return mode, rtype, name

    planned = [
        {"address": a, "mode": kind(a)[0], "type": kind(a)[1], "name": kind(a)[2], "values": v} for a, v, _ in resources
    ]
    configured = [
        {"address": a, "mode": kind(a)[0], "type": kind(a)[1], "name": kind(a)[2], "expressions": e}
        for a, _, e in resources
    ]
    plan = {
        "format_version": "1.2",
        "planned_values": {"root_module": {"resources": planned}},
        "configuration": {"root_module": {"resources": configured}},
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    return path


def scanned(plan: Path, address: str, **conf: Any) -> tuple[FakeCheck, dict[str, Any]]:
    """The check and the conf Checkov hands it for ``address`` of ``plan`` (values wrapped in lists)."""
    rtype, name = address.split(".")
    check = FakeCheck(f"/{plan.name}:{rtype}:{name}", rtype)
    return check, {"__address__": [address], "__file__": [str(plan)], **{k: [v] for k, v in conf.items()}}


TOPIC_ARN = f"arn:aws:sns:us-east-1:{OWN}:payment-events"


# --- own_accounts: which literal account ids a plan shows to be this account --------------------------------------


def test_a_resources_own_computed_arn_names_this_account(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, ("aws_sns_topic.t", {"arn": TOPIC_ARN, "name": "payment-events"}, {"name": const("x")}))
    assert lib.own_accounts(*scanned(plan, "aws_sns_topic.t")) == frozenset({OWN})


def test_an_arn_the_configuration_sets_is_not_this_accounts_proof(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, ("aws_sns_topic.t", {"arn": TOPIC_ARN}, {"arn": const(TOPIC_ARN)}))
    assert lib.own_accounts(*scanned(plan, "aws_sns_topic.t")) == frozenset()


def test_a_policy_is_in_the_account_of_the_resource_it_attaches_to(tmp_path: Path) -> None:
    plan = write_plan(
        tmp_path,
        ("aws_sns_topic.t", {"arn": TOPIC_ARN}, {}),
        ("aws_sns_topic.elsewhere", {"arn": f"arn:aws:sns:us-east-1:{OTHER}:x"}, {}),
        (
            "aws_sns_topic_policy.p",
            {"arn": TOPIC_ARN, "policy": "{}"},
            {"arn": refs("aws_sns_topic.t.arn", "aws_sns_topic.t"), "policy": refs("aws_sns_topic.elsewhere.arn")},
        ),
        ("aws_sns_topic_policy.of_data", {"arn": TOPIC_ARN}, {"arn": refs("data.aws_sns_topic.d.arn")}),
        ("aws_sns_topic_policy.of_var", {"arn": TOPIC_ARN}, {"arn": refs("var.topic")}),
    )
    # the topic it attaches to counts; another resource it merely mentions (in its policy) does not
    assert lib.own_accounts(*scanned(plan, "aws_sns_topic_policy.p")) == frozenset({OWN})
    assert lib.own_accounts(*scanned(plan, "aws_sns_topic_policy.of_data")) == frozenset()
    assert lib.own_accounts(*scanned(plan, "aws_sns_topic_policy.of_var")) == frozenset()


def test_the_caller_identity_a_plan_read_is_this_account(tmp_path: Path) -> None:
    plan = write_plan(
        tmp_path,
        ("data.aws_caller_identity.c", {"account_id": OWN}, {}),
        ("data.aws_caller_identity.unread", {"account_id": "known after apply"}, {}),
        ("aws_sqs_queue.q", {"policy": "{}"}, {"policy": refs("data.aws_caller_identity.c.account_id")}),
        ("aws_sqs_queue.u", {"policy": "{}"}, {"policy": refs("data.aws_caller_identity.unread.account_id")}),
        ("aws_sqs_queue.missing", {"policy": "{}"}, {"policy": refs("data.aws_caller_identity.gone.account_id")}),
    )
    assert lib.own_accounts(*scanned(plan, "aws_sqs_queue.q")) == frozenset({OWN})
    assert lib.own_accounts(*scanned(plan, "aws_sqs_queue.u")) == frozenset()
    assert lib.own_accounts(*scanned(plan, "aws_sqs_queue.missing")) == frozenset()


def test_without_a_plan_no_literal_account_is_known(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, ("aws_sns_topic.t", {"arn": TOPIC_ARN}, {}))
    check, conf = scanned(plan, "aws_sns_topic.t")
    assert lib.own_accounts(check, {k: v for k, v in conf.items() if k != "__address__"}) == frozenset()
    assert lib.own_accounts(check, {**conf, "__file__": [str(tmp_path / "gone.json")]}) == frozenset()


# --- caller_unresolved: may a literal account be the caller's? ------------------------------------------------------


def test_the_caller_is_unresolved_only_when_the_plan_does_not_show_its_account(tmp_path: Path) -> None:
    plan = write_plan(
        tmp_path,
        ("data.aws_caller_identity.c", {"account_id": OWN}, {}),
        ("data.aws_caller_identity.unread", {}, {}),
        (
            "aws_sqs_queue.q",
            {},
            {"policy": refs("data.aws_caller_identity.c.account_id", "data.aws_caller_identity.c")},
        ),
        ("aws_sqs_queue.u", {}, {"policy": refs("data.aws_caller_identity.unread.account_id")}),
        (
            "aws_sqs_queue.both",
            {},
            {"a": refs("data.aws_caller_identity.c.id"), "b": refs("data.aws_caller_identity.unread.id")},
        ),
    )
    caller = {"references_": ["data.aws_caller_identity.c.account_id"]}
    check, conf = scanned(plan, "aws_sqs_queue.q")
    assert lib.caller_unresolved(check, conf) is False  # no reference to the caller at all
    assert lib.caller_unresolved(check, {**conf, **caller}) is False  # the plan shows its account
    check, conf = scanned(plan, "aws_sqs_queue.u")
    assert lib.caller_unresolved(check, {**conf, **caller}) is True
    check, conf = scanned(plan, "aws_sqs_queue.both")
    assert lib.caller_unresolved(check, {**conf, **caller}) is True  # one unread caller is enough
    assert lib.caller_unresolved(check, {**conf, **caller, "__file__": [str(tmp_path / "gone.json")]}) is True


# --- set_elsewhere / judged_strings: what another block of the stack sets -------------------------------------------


ROLE = (
    "aws_iam_role.r",
    {"name": "paygate-role", "id": "paygate-role", "inline_policy": []},
    {"name": const("paygate-role")},
)
# An inline policy "push" of that role, written by a block that references the role.
PUSH_BY_REFERENCE = (
    "aws_iam_role_policy.by_reference",
    {"name": "push", "role": "paygate-role"},
    {"role": refs("aws_iam_role.r.id", "aws_iam_role.r")},
)


def test_a_roles_inline_policies_written_by_role_policy_blocks(tmp_path: Path) -> None:
    plan = write_plan(
        tmp_path,
        ROLE,
        PUSH_BY_REFERENCE,
        ("aws_iam_role_policy.by_value", {"name": "pull", "role": "paygate-role"}, {"role": const("paygate-role")}),
        ("aws_iam_role_policy.other_role", {"name": "other", "role": "another-role"}, {"role": const("another-role")}),
    )
    elsewhere = lib.set_elsewhere(*scanned(plan, "aws_iam_role.r"), "inline_policy")
    assert elsewhere == lib.SetElsewhere(entries=frozenset({"push", "pull"}))
    assert (elsewhere.covers("push"), elsewhere.covers("other"), elsewhere.covers(None)) == (True, False, False)


def test_a_roles_identity_documents_leave_out_the_inline_policies_other_blocks_write(tmp_path: Path) -> None:
    """The plan's read-back of ``inline_policy`` lists what the role's ``aws_iam_role_policy`` blocks wrote: those
    are judged at their own address, so the role's documents are only the ones no block sets (here: one added
    outside Terraform, and one without a name). Without the check, nothing is known to be set elsewhere."""
    plan = write_plan(
        tmp_path,
        ROLE,
        PUSH_BY_REFERENCE,
    )

    def inline(name: str | None, action: str) -> dict[str, Any]:
        document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}
        return {"policy": json.dumps(document), **({"name": name} if name is not None else {})}

    check, conf = scanned(plan, "aws_iam_role.r")
    conf["inline_policy"] = [[inline("push", "sqs:SendMessage"), inline("console", "s3:*"), inline(None, "kms:*")]]
    judged = [s.actions for d in lib.identity_documents(conf, "aws_iam_role", check) for s in d.statements]
    assert judged == [("s3:*",), ("kms:*",)]
    unchecked = [s.actions for d in lib.identity_documents(conf, "aws_iam_role") for s in d.statements]
    assert unchecked == [("sqs:SendMessage",), ("s3:*",), ("kms:*",)]


def test_an_exclusive_block_keeps_its_list_and_removes_every_other_entry(tmp_path: Path) -> None:
    plan = write_plan(
        tmp_path,
        ROLE,
        ("aws_iam_role_policies_exclusive.x", {"role_name": "paygate-role", "policy_names": ["a", "b"]}, {}),
    )
    elsewhere = lib.set_elsewhere(*scanned(plan, "aws_iam_role.r"), "inline_policy")
    assert elsewhere == lib.SetElsewhere(kept=frozenset({"a", "b"}))
    assert (elsewhere.covers("added-in-console"), elsewhere.covers("a")) == (True, False)


def test_managed_policy_arns_attached_elsewhere_are_not_judged_on_the_role(tmp_path: Path) -> None:
    attached = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    plan = write_plan(
        tmp_path,
        (
            "aws_iam_role.r",
            {"name": "paygate-role", "managed_policy_arns": [attached, "arn:aws:iam::aws:policy/Admin"]},
            {},
        ),
        ("aws_iam_role_policy_attachment.a", {"role": "paygate-role", "policy_arn": attached}, {}),
        (
            "aws_iam_policy_attachment.b",
            {"roles": ["paygate-role"], "policy_arn": "arn:aws:iam::aws:policy/Billing"},
            {},
        ),
    )
    check, conf = scanned(plan, "aws_iam_role.r", managed_policy_arns=[attached, "arn:aws:iam::aws:policy/Admin"])
    assert lib.set_elsewhere(check, conf, "managed_policy_arns").entries == frozenset(
        {attached, "arn:aws:iam::aws:policy/Billing"}
    )
    assert lib.judged_strings(check, conf, "managed_policy_arns") == ("arn:aws:iam::aws:policy/Admin",)


def test_a_whole_policy_set_by_its_policy_resource(tmp_path: Path) -> None:
    plan = write_plan(
        tmp_path,
        ("aws_sns_topic.t", {"arn": TOPIC_ARN, "policy": "{}"}, {}),
        ("aws_sns_topic_policy.p", {"arn": TOPIC_ARN}, {"arn": refs("aws_sns_topic.t.arn", "aws_sns_topic.t")}),
        ("aws_sns_topic.alone", {"arn": f"arn:aws:sns:us-east-1:{OWN}:alone", "policy": "{}"}, {}),
    )
    assert lib.set_elsewhere(*scanned(plan, "aws_sns_topic.t"), "policy") == lib.SetElsewhere(whole=True)
    assert lib.set_elsewhere(*scanned(plan, "aws_sns_topic.alone"), "policy") == lib.NOWHERE
    # a policy the resource's own configuration sets is judged here
    declared = write_plan(
        tmp_path,
        ("aws_sns_topic.t", {"arn": TOPIC_ARN, "policy": "{}"}, {"policy": const("{}")}),
        ("aws_sns_topic_policy.p", {"arn": TOPIC_ARN}, {"arn": refs("aws_sns_topic.t.arn")}),
    )
    assert lib.set_elsewhere(*scanned(declared, "aws_sns_topic.t"), "policy") == lib.NOWHERE


def test_a_topics_resource_policies_leave_out_the_one_its_policy_resource_sets(tmp_path: Path) -> None:
    """The read-back ``policy`` of a topic whose aws_sns_topic_policy sets it is judged at that resource, not
    twice; a topic nothing else manages keeps its own; without the check both are judged here."""
    document = json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sns:Publish"}]})
    plan = write_plan(
        tmp_path,
        ("aws_sns_topic.t", {"arn": TOPIC_ARN, "policy": document}, {}),
        ("aws_sns_topic_policy.p", {"arn": TOPIC_ARN}, {"arn": refs("aws_sns_topic.t.arn", "aws_sns_topic.t")}),
        ("aws_sns_topic.alone", {"arn": f"arn:aws:sns:us-east-1:{OWN}:alone", "policy": document}, {}),
    )
    managed_check, managed = scanned(plan, "aws_sns_topic.t", policy=document)
    alone_check, alone = scanned(plan, "aws_sns_topic.alone", policy=document)
    assert lib.resource_policy_documents(managed, "aws_sns_topic", managed_check) == []
    assert len(lib.resource_policy_documents(alone, "aws_sns_topic", alone_check)) == 1
    assert len(lib.resource_policy_documents(managed, "aws_sns_topic")) == 1


def test_a_manager_naming_the_resource_by_value_links_to_it_and_a_missing_block_does_not(tmp_path: Path) -> None:
    """A role policy naming the role by its name (no reference) manages it; one naming a role the plan does
    not hold, or an unresolved name, manages nothing."""
    plan = write_plan(
        tmp_path,
        ROLE,
        ("aws_iam_role_policy.by_value", {"name": "pull", "role": "paygate-role"}, {"role": const("paygate-role")}),
        ("aws_iam_role_policy.unresolved", {"name": "x", "role": "${var.role}"}, {"role": refs("var.role")}),
    )
    elsewhere = lib.set_elsewhere(*scanned(plan, "aws_iam_role.r"), "inline_policy")
    assert elsewhere == lib.SetElsewhere(entries=frozenset({"pull"}))
    check, conf = scanned(plan, "aws_iam_role.gone")
    assert lib.set_elsewhere(check, conf, "inline_policy") == lib.NOWHERE


def test_nothing_is_set_elsewhere_without_a_plan_or_a_manager(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, ROLE, ("aws_iam_role_policy.p", {"name": "push", "role": "paygate-role"}, {}))
    check, conf = scanned(plan, "aws_iam_role.r")
    assert (
        lib.set_elsewhere(check, {k: v for k, v in conf.items() if k != "__address__"}, "inline_policy") == lib.NOWHERE
    )
    assert lib.set_elsewhere(check, conf, "tags") == lib.NOWHERE  # no resource manages a role's tags
    assert lib.set_elsewhere(check, {**conf, "__file__": [str(tmp_path / "gone.json")]}, "inline_policy") == lib.NOWHERE
    assert lib.judged_strings(
        FakeCheck("/x:aws_iam_role:r", "aws_iam_role"), {"managed_policy_arns": [["a", "b"]]}, "managed_policy_arns"
    ) == ("a", "b")


# --- stack_arns: the stack's own policies, read back from state ----------------------------------------------------


def test_stack_arns_are_the_provider_computed_arns_of_that_type(tmp_path: Path) -> None:
    plan = write_plan(
        tmp_path,
        ("aws_iam_policy.reader", {"arn": f"arn:aws:iam::{OWN}:policy/reader"}, {}),
        ("aws_iam_policy.declared", {"arn": f"arn:aws:iam::{OWN}:policy/declared"}, {"arn": const("x")}),
        ("aws_iam_policy.unknown", {"arn": "known after apply"}, {}),
        ("aws_iam_role.r", {"arn": f"arn:aws:iam::{OWN}:role/r"}, {}),
    )
    check, conf = scanned(plan, "aws_iam_role.r")
    assert lib.stack_arns(check, conf, "aws_iam_policy") == frozenset({f"arn:aws:iam::{OWN}:policy/reader"})
    assert lib.stack_arns(check, {k: v for k, v in conf.items() if k != "__address__"}, "aws_iam_policy") == frozenset()


# --- the synthesized JSON: tags and keys through the input ---------------------------------------------------------


def write_json_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, doc: dict[str, Any]) -> None:
    """``cdk.tf.json`` in the working directory, where Checkov's ``--file cdk.tf.json`` finds it."""
    (tmp_path / "cdk.tf.json").write_text(json.dumps(doc), encoding="utf-8")
    monkeypatch.chdir(tmp_path)


def test_resource_tags_merge_the_providers_default_tags_under_the_resources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_json_stack(
        tmp_path,
        monkeypatch,
        {
            "provider": {"aws": [{"default_tags": [{"tags": {"Environment": "dev", "Owner": "payments"}}]}]},
            "resource": {"aws_sqs_queue": {"q": {"tags": {"Owner": "platform"}}, "untagged": {}}},
        },
    )
    check = FakeCheck("/cdk.tf.json:aws_sqs_queue:q", "aws_sqs_queue")
    assert lib.resource_tags(check, {"tags": [{"Owner": "platform"}]}) == {"Environment": "dev", "Owner": "platform"}
    check = FakeCheck("/cdk.tf.json:aws_sqs_queue:untagged", "aws_sqs_queue")
    assert lib.resource_tags(check, {}) == {"Environment": "dev", "Owner": "payments"}
    lost = FakeCheck("/elsewhere.tf.json:aws_sqs_queue:q", "aws_sqs_queue")
    assert lib.resource_tags(lost, {"tags": [{"Owner": "platform"}]}) == {"Owner": "platform"}


def test_default_tags_held_in_an_unknown_variable_are_unresolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_json_stack(
        tmp_path,
        monkeypatch,
        {
            "provider": {"aws": [{"default_tags": [{"tags": "${var.tags}"}]}]},
            "variable": {"tags": {"type": "map(string)"}},
            "resource": {"aws_sqs_queue": {"q": {}}},
        },
    )
    assert lib.resource_tags(FakeCheck("/cdk.tf.json:aws_sqs_queue:q", "aws_sqs_queue"), {}) is None


def test_checked_key_follows_the_key_through_the_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_json_stack(
        tmp_path,
        monkeypatch,
        {
            "data": {"aws_kms_alias": {"s3": {"name": "alias/aws/s3"}, "mine": {"name": "alias/payments"}}},
            "resource": {"aws_s3_bucket": {"b": {}}},
        },
    )
    check = FakeCheck("/cdk.tf.json:aws_s3_bucket:b", "aws_s3_bucket")
    assert lib.checked_key(check, {}, "${data.aws_kms_alias.s3.target_key_arn}") == CheckResult.FAILED
    assert lib.checked_key(check, {}, "${data.aws_kms_alias.mine.target_key_arn}") == CheckResult.PASSED
    lost = FakeCheck("/elsewhere.tf.json:aws_s3_bucket:b", "aws_s3_bucket")
    assert lib.checked_key(lost, {}, "${data.aws_kms_alias.mine.target_key_arn}") == CheckResult.FAILED


@pytest.mark.parametrize(
    ("provider", "extra", "expected"),
    [
        (
            {"default_tags": [{"tags": "${local.tags}"}]},
            {"locals": {"tags": {"Owner": "payments"}}},
            {"Owner": "payments"},
        ),
        ({"default_tags": [{"tags": "${var.tags}"}]}, {"variable": {"tags": {"default": {"A": "1"}}}}, {"A": "1"}),
        ({"default_tags": [{"tags": "${local.tags}"}]}, {"locals": {"tags": "not-a-map"}}, None),  # unreadable
        ({"default_tags": [{"tags": "${local.a}${local.b}"}]}, {"locals": {"a": {"A": "1"}, "b": {"B": "2"}}}, None),
        ({"default_tags": [{"tags": "prefix-${local.a}"}]}, {"locals": {"a": {"A": "1"}}}, None),
        ({"default_tags": [{"tags": ["Owner", "payments"]}]}, {}, {}),  # not a map: no tags from the provider
        ({"default_tags": []}, {}, {}),
        ({"region": "eu-west-1"}, {}, {}),  # no default_tags at all
    ],
    ids=["local", "variable-default", "local-not-a-map", "two-references", "text-around", "a-list", "empty", "none"],
)
def test_default_tags_are_read_through_one_variable_or_local_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: dict[str, Any], extra: dict[str, Any], expected: Any
) -> None:
    """A provider's default_tags: a map, or one reference to a variable or local holding a map; anything the
    pack cannot read as one map is unresolved (None: the tag check then says UNKNOWN, never PASSED)."""
    write_json_stack(
        tmp_path, monkeypatch, {"provider": {"aws": [provider]}, "resource": {"aws_sqs_queue": {"q": {}}}, **extra}
    )
    assert lib.resource_tags(FakeCheck("/cdk.tf.json:aws_sqs_queue:q", "aws_sqs_queue"), {}) == expected


def test_without_a_stack_there_are_no_default_tags() -> None:
    assert lib.default_tags(None, "aws_sqs_queue.q") == {}
