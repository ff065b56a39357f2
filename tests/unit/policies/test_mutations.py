"""Each check catches a violation of the REAL synthesized stack: mutate its JSON, the gate fails with that id.

All mutated stacks (plus the unmutated baseline) are scanned in one Checkov run over a directory; the
verdict of each comes from the gate's own ``decide`` with the project's waivers. One mutation also goes
through the CLI end to end (with Checkov's built-in checks and the reports).
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline import cli
from pipeline.policy import checkov as policy
from pipeline.policy import gate, pack, waivers
from tests.unit.background import background_fixture
from tests.unit.policies.support import scan_documents

REPO_ROOT = Path(__file__).resolve().parents[3]
CHECKS_DIR = REPO_ROOT / "policies" / "checks"
WAIVERS = REPO_ROOT / "policies" / "waivers.yaml"
TODAY = dt.date(2026, 11, 27)
Doc = dict[str, Any]


def resources(doc: Doc, rtype: str) -> dict[str, Doc]:
    found: dict[str, Doc] = doc["resource"][rtype]
    return found


def one(doc: Doc, rtype: str, contains: str) -> Doc:
    """The one resource of ``rtype`` whose id contains ``contains`` (ids carry the construct path)."""
    matches = [body for rid, body in resources(doc, rtype).items() if contains in rid]
    assert len(matches) == 1, (rtype, contains, len(matches))
    return matches[0]


def drop(doc: Doc, rtype: str, contains: str) -> None:
    """Delete the one resource of ``rtype`` whose id contains ``contains``."""
    ids = [rid for rid in resources(doc, rtype) if contains in rid]
    assert len(ids) == 1, (rtype, contains, ids)
    del doc["resource"][rtype][ids[0]]


def add_statement(doc: Doc, statement: Doc) -> None:
    policy_doc = one(doc, "aws_iam_role_policy", "payment-processor_base-policy")
    parsed = json.loads(policy_doc["policy"])
    parsed["Statement"].append(statement)
    policy_doc["policy"] = json.dumps(parsed)


def _001(doc: Doc) -> None:
    rule = one(doc, "aws_s3_bucket_server_side_encryption_configuration", "batch-files")["rule"][0]
    rule["apply_server_side_encryption_by_default"] = {"sse_algorithm": "AES256"}


def _016(doc: Doc) -> None:
    settings = one(doc, "aws_api_gateway_method_settings", "method-settings")["settings"]
    del settings["throttling_rate_limit"], settings["throttling_burst_limit"]


def _020(doc: Doc) -> None:
    one(doc, "aws_lambda_function", "api-handler")["environment"]["variables"]["DB_PASSWORD"] = "hunter2"


def _034(doc: Doc) -> None:
    del one(doc, "aws_sqs_queue", "messaging_payments_")["redrive_policy"]


def _036(doc: Doc) -> None:
    drop(doc, "aws_cloudwatch_metric_alarm", "api-handler-errors")
    drop(doc, "aws_cloudwatch_metric_alarm", "api-handler-throttles")


def _037(doc: Doc) -> None:
    del one(doc, "aws_lambda_function", "api-handler")["dead_letter_config"]
    drop(doc, "aws_lambda_function_event_invoke_config", "api-handler")


def _038(doc: Doc) -> None:
    policy_doc = one(doc, "aws_s3_bucket_policy", "batch-files")
    parsed = json.loads(policy_doc["policy"])
    parsed["Statement"] = [s for s in parsed["Statement"] if s.get("Sid") != "DenyInsecureTransport"]
    policy_doc["policy"] = json.dumps(parsed)


def _050(doc: Doc) -> None:
    """A plaintext subscription of the payment-events topic (issue 10, item 16)."""
    topic = next(rid for rid in resources(doc, "aws_sns_topic") if "payment-events" in rid)
    resources(doc, "aws_sns_topic_subscription")["events_to_webhook"] = {
        "endpoint": "http://hooks.example.com/payment-events",
        "protocol": "http",
        "topic_arn": f"${{aws_sns_topic.{topic}.arn}}",
    }


def _039(doc: Doc) -> None:
    queue = one(doc, "aws_sqs_queue", "messaging_payments_")
    queue["redrive_policy"] = queue["redrive_policy"].replace('"maxReceiveCount": 5', '"maxReceiveCount": 1000')
    assert "1000" in queue["redrive_policy"]


TABLE = "aws_dynamodb_table"
FUNCTION = "aws_lambda_function"
MACHINE = "aws_sfn_state_machine"
STAGE = "aws_api_gateway_stage"
# One violation per check, as a reviewer would write it. (CKV_PAY_030 drops the access-log bucket's policy:
# the batch-files bucket stays connected to a policy through the access-log policy's SourceArn reference.)
MUTATIONS: dict[str, Callable[[Doc], None]] = {
    "CKV_PAY_001": _001,
    "CKV_PAY_002": lambda d: one(d, TABLE, "payments").pop("server_side_encryption"),
    "CKV_PAY_003": lambda d: one(d, "aws_sqs_queue", "messaging_payments_").pop("kms_master_key_id"),
    "CKV_PAY_004": lambda d: one(d, "aws_sns_topic", "payment-events").pop("kms_master_key_id"),
    "CKV_PAY_005": lambda d: one(d, "aws_cloudwatch_log_group", "api-handler").pop("kms_key_id"),
    "CKV_PAY_006": lambda d: one(d, FUNCTION, "api-handler").pop("kms_key_arn"),
    "CKV_PAY_007": lambda d: one(d, "aws_kms_key", "encryption").update(enable_key_rotation=False),
    "CKV_PAY_008": lambda d: one(d, "aws_s3_bucket_versioning", "batch-files").update(
        versioning_configuration={"status": "Suspended"}
    ),
    "CKV_PAY_009": lambda d: one(d, TABLE, "payments").update(point_in_time_recovery={"enabled": False}),
    "CKV_PAY_010": lambda d: one(d, TABLE, "payments")["tags"].update(Environment="production"),
    "CKV_PAY_011": lambda d: one(d, "aws_cloudwatch_log_group", "workflow_logs").update(retention_in_days=30),
    "CKV_PAY_012": lambda d: one(d, "aws_api_gateway_method", "create-method").update(authorization="NONE"),
    "CKV_PAY_013": lambda d: one(d, "aws_api_gateway_method", "create-method").pop("request_validator_id"),
    "CKV_PAY_014": lambda d: one(d, STAGE, "stage").pop("access_log_settings"),
    "CKV_PAY_015": lambda d: one(d, STAGE, "stage").update(xray_tracing_enabled=False),
    "CKV_PAY_016": _016,
    "CKV_PAY_017": lambda d: one(d, FUNCTION, "payment-processor").update(tracing_config={"mode": "PassThrough"}),
    "CKV_PAY_018": lambda d: one(d, FUNCTION, "payment-processor").pop("reserved_concurrent_executions"),
    "CKV_PAY_019": lambda d: one(d, FUNCTION, "batch-processor").update(runtime="python3.8"),
    "CKV_PAY_020": _020,
    "CKV_PAY_021": lambda d: one(d, "aws_lambda_function_event_invoke_config", "batch-processor").pop(
        "destination_config"
    ),
    "CKV_PAY_022": lambda d: one(d, MACHINE, "state-machine")["logging_configuration"].update(
        include_execution_data=True
    ),
    "CKV_PAY_023": lambda d: one(d, MACHINE, "state-machine").update(tracing_configuration={"enabled": False}),
    "CKV_PAY_024": lambda d: one(d, "aws_cloudwatch_metric_alarm", "api-5xx").pop("alarm_actions"),
    "CKV_PAY_025": lambda d: add_statement(
        d, {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:us-east-1:1:table/x"}
    ),
    "CKV_PAY_026": lambda d: add_statement(d, {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}),
    "CKV_PAY_027": lambda d: add_statement(d, {"Effect": "Allow", "Action": "*", "Resource": "*"}),
    "CKV_PAY_028": lambda d: one(d, "aws_sqs_queue", "messaging_payments_")["tags"].pop("DataClassification"),
    "CKV_PAY_029": lambda d: drop(d, "aws_s3_bucket_public_access_block", "batch-files"),
    "CKV_PAY_030": lambda d: drop(d, "aws_s3_bucket_policy", "access-logs"),
    "CKV_PAY_031": lambda d: drop(d, "aws_s3_bucket_server_side_encryption_configuration", "batch-files"),
    "CKV_PAY_032": lambda d: drop(d, "aws_s3_bucket_versioning", "batch-files"),
    "CKV_PAY_033": lambda d: drop(d, "aws_s3_bucket_logging", "batch-files"),
    "CKV_PAY_034": _034,
    "CKV_PAY_035": lambda d: drop(d, "aws_cloudwatch_metric_alarm", "payments-dlq-depth"),
    "CKV_PAY_036": _036,
    "CKV_PAY_037": _037,
    "CKV_PAY_038": _038,
    "CKV_PAY_039": _039,
    "CKV_PAY_042": lambda d: drop(d, "aws_wafv2_web_acl_association", "association"),
    "CKV_PAY_043": lambda d: one(d, "aws_lambda_code_signing_config", "code-signing").update(
        policies={"untrusted_artifact_on_deployment": "Warn"}
    ),
    "CKV_PAY_050": _050,
}
BASELINE = "baseline"


@background_fixture("stack", "tmp_path_factory")
def mutated_scans(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, policy.Scan]:
    """Every mutation (and the baseline) as its own stack file, scanned in two Checkov runs at once (the longest
    background job: one run over all of them was the policy suite's last step, alone on one core)."""
    real_stack: Doc = stack.doc
    documents = {}
    for name, mutate in {BASELINE: lambda d: None, **MUTATIONS}.items():
        doc = copy.deepcopy(real_stack)
        mutate(doc)
        assert name == BASELINE or doc != real_stack, f"{name}: the mutation changed nothing"
        documents[name] = doc
    roots = [tmp_path_factory.mktemp("mutations"), tmp_path_factory.mktemp("mutations")]
    return scan_documents(documents, roots, "cdk.tf.json", policy.TERRAFORM_JSON)


def pack_waivers() -> tuple[waivers.Waiver, ...]:
    return tuple(w for w in waivers.load(WAIVERS) if w.check.startswith(policy.PACK_PREFIX))


def test_every_check_has_a_mutation(mapping: dict[str, pack.Entry]) -> None:
    assert set(MUTATIONS) == set(mapping)


def test_the_unmutated_stack_passes_the_pack(
    mutated_scans: dict[str, policy.Scan], mapping: dict[str, pack.Entry]
) -> None:
    verdict = gate.decide([mutated_scans[BASELINE]], mapping, pack_waivers(), TODAY)
    assert verdict.ok, (verdict.problems, [(r.finding.check_id, r.finding.resource) for r in verdict.failures])
    ran = {f.check_id for f in mutated_scans[BASELINE].findings}
    assert ran == set(mapping), "every check has a result on the real stack"


@pytest.mark.parametrize("check_id", sorted(MUTATIONS))
def test_mutation_fails_the_gate_with_its_check(
    check_id: str, mutated_scans: dict[str, policy.Scan], mapping: dict[str, pack.Entry]
) -> None:
    verdict = gate.decide([mutated_scans[check_id]], mapping, pack_waivers(), TODAY)
    assert not verdict.ok
    assert check_id in verdict.failed_checks()


def test_cli_gate_fails_on_a_mutated_stack_with_the_id(real_stack: Doc, tmp_path: Path) -> None:
    doc = copy.deepcopy(real_stack)
    MUTATIONS["CKV_PAY_029"](doc)
    target = tmp_path / "cdk.tf.json"
    target.write_text(json.dumps(doc), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["policy-gate", "--input", str(target), "--out", str(tmp_path / "reports")], out=out, err=err)
    assert code == 1
    assert "CKV_PAY_029" in err.getvalue()
    assert "FAILED critical CKV_PAY_029" in out.getvalue()
    assert (tmp_path / "reports" / "policy.sarif").is_file()


def test_cli_gate_passes_the_real_stack_with_builtin_checks_and_waivers(real_stack: Doc, tmp_path: Path) -> None:
    target = tmp_path / "cdk.tf.json"
    target.write_text(json.dumps(real_stack), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["policy-gate", "--input", str(target), "--out", str(tmp_path / "reports")], out=out, err=err)
    assert (code, err.getvalue()) == (0, "")
    assert "policy gate PASSED: 0 failed, 0 problems" in out.getvalue()
    assert "WAIVED builtin  CKV_AWS_117" in out.getvalue()


def _020_live_psp_key(doc: Doc) -> None:
    """Issue 10, item 15: a live Stripe secret key (``sk_live_`` + 24 alphanumerics) in a function's environment."""
    one(doc, FUNCTION, "payment-processor")["environment"]["variables"]["PSP_KEY"] = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


def test_a_live_psp_key_in_a_function_environment_fails_the_gate(
    real_stack: Doc, gate_settings: Any, mapping: dict[str, pack.Entry], tmp_path: Path
) -> None:
    doc = copy.deepcopy(real_stack)
    _020_live_psp_key(doc)
    (tmp_path / "cdk.tf.json").write_text(json.dumps(doc), encoding="utf-8")
    scans = policy.run_checkov(tmp_path, policy.TERRAFORM_JSON, CHECKS_DIR, gate_settings, only=["CKV_PAY_020"])
    verdict = gate.decide(list(scans.values()), mapping, pack_waivers(), TODAY)
    assert not verdict.ok and verdict.failed_checks() == {"CKV_PAY_020"}
    assert [r.finding.resource for r in verdict.failures] == [
        rid for rid in (f"{FUNCTION}.{name}" for name in resources(doc, FUNCTION)) if "payment-processor" in rid
    ]


# --- Policy blind spots (issue 10, items 9-11 and 19): one real-stack mutation per member of each kind ----------
# Each names the check that must fail and the resource it must fail on. They are scanned in one Checkov run of
# their own, so this section stands alone.


def address_of(doc: Doc, rtype: str, contains: str) -> str:
    """``<type>.<id>`` of the one resource of ``rtype`` whose id contains ``contains``."""
    ids = [rid for rid in resources(doc, rtype) if contains in rid]
    assert len(ids) == 1, (rtype, contains, ids)
    return f"{rtype}.{ids[0]}"


def arn_of(doc: Doc, rtype: str, contains: str) -> str:
    return "${" + address_of(doc, rtype, contains) + ".arn}"


def add_resource(doc: Doc, rtype: str, name: str, body: Doc, block: str = "resource") -> None:
    doc.setdefault(block, {}).setdefault(rtype, {})[name] = body


def add_resource_statement(doc: Doc, rtype: str, contains: str, statement: Doc) -> None:
    """Append ``statement`` to the JSON ``policy`` of a resource-policy-bearing resource."""
    body = one(doc, rtype, contains)
    parsed = json.loads(body["policy"])
    parsed["Statement"].append(statement)
    body["policy"] = json.dumps(parsed)


PROCESSOR_POLICY = ("aws_iam_role_policy", "payment-processor_base-policy")
PROCESSOR_ROLE = ("aws_iam_role", "payment-processor_role")
KEY = ("aws_kms_key", "encryption")
PAYMENTS_QUEUE = ("aws_sqs_queue", "messaging_payments_")
PAYMENTS_TABLE = ("aws_dynamodb_table", "payments")
DOCUMENT = "data.aws_iam_policy_document.mutation"


def _document_granting_dynamodb_star(doc: Doc) -> None:
    statement = {"effect": "Allow", "actions": ["dynamodb:*"], "resources": [arn_of(doc, *PAYMENTS_TABLE)]}
    add_resource(doc, "aws_iam_policy_document", "mutation", {"statement": [statement]}, block="data")
    role = "${" + address_of(doc, *PROCESSOR_ROLE) + ".id}"
    policy = {"name": "from-document", "role": role, "policy": "${" + DOCUMENT + ".json}"}
    add_resource(doc, "aws_iam_role_policy", "mutation", policy)


def _attach(doc: Doc, policy_arn: str) -> None:
    role = "${" + address_of(doc, *PROCESSOR_ROLE) + ".name}"
    add_resource(doc, "aws_iam_role_policy_attachment", "mutation", {"role": role, "policy_arn": policy_arn})


def _queue_policy_anyone_sends(doc: Doc) -> None:
    queue = address_of(doc, *PAYMENTS_QUEUE)
    statement = {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "${" + queue + ".arn}"}
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    add_resource(
        doc, "aws_sqs_queue_policy", "mutation", {"queue_url": "${" + queue + ".id}", "policy": json.dumps(policy)}
    )


def _open_permission(permission: Doc) -> None:
    """Principal "*" without the source that pinned it (a pinned "*" is closed: only S3 sends aws:SourceArn)."""
    permission.update(principal="*")
    del permission["source_arn"], permission["source_account"]


def _allow(action: str | list[str], resource: str, **extra: Any) -> Doc:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


ANYONE_KMS = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}
MUTATIONS["CKV_PAY_040"] = lambda d: _attach(d, "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess")
MUTATIONS["CKV_PAY_041"] = lambda d: add_resource_statement(d, *KEY, ANYONE_KMS)

# name -> (check that must fail, the resource it fails on (a function of the stack), the mutation)
BLIND_SPOTS: dict[str, tuple[str, Callable[[Doc], str], Callable[[Doc], None]]] = {
    "action-question-star-on-payments-table": (
        "CKV_PAY_025",
        lambda d: address_of(d, *PROCESSOR_POLICY),
        lambda d: add_statement(d, _allow(["dynamodb:?*"], arn_of(d, *PAYMENTS_TABLE))),
    ),
    "action-infix-star": (
        "CKV_PAY_025",
        lambda d: address_of(d, *PROCESSOR_POLICY),
        lambda d: add_statement(d, _allow("dynamodb:*Item*", arn_of(d, *PAYMENTS_TABLE))),
    ),
    "not-action-in-allow": (
        "CKV_PAY_025",
        lambda d: address_of(d, *PROCESSOR_POLICY),
        lambda d: add_statement(
            d, {"Effect": "Allow", "NotAction": "iam:CreateUser", "Resource": arn_of(d, *PAYMENTS_TABLE)}
        ),
    ),
    "data-source-document-granting-dynamodb-star": (
        "CKV_PAY_025",
        lambda d: DOCUMENT,
        _document_granting_dynamodb_star,
    ),
    "role-inline-policy-with-wildcard": (
        "CKV_PAY_025",
        lambda d: address_of(d, *PROCESSOR_ROLE),
        lambda d: one(d, *PROCESSOR_ROLE).update(
            inline_policy=[{"name": "inline", "policy": json.dumps({"Statement": [_allow("s3:Get*", "*")]})}]
        ),
    ),
    "table-arn-prefix-matches-other-tables": (
        "CKV_PAY_026",
        lambda d: address_of(d, *PROCESSOR_POLICY),
        lambda d: add_statement(d, _allow("dynamodb:GetItem", arn_of(d, *PAYMENTS_TABLE) + "*")),
    ),
    "region-and-account-wildcards": (
        "CKV_PAY_026",
        lambda d: address_of(d, *PROCESSOR_POLICY),
        lambda d: add_statement(d, _allow("dynamodb:GetItem", "arn:aws:dynamodb:*:*:table/*")),
    ),
    "not-resource-in-allow": (
        "CKV_PAY_026",
        lambda d: address_of(d, *PROCESSOR_POLICY),
        lambda d: add_statement(d, {"Effect": "Allow", "Action": "dynamodb:GetItem", "NotResource": "arn:aws:s3:::x"}),
    ),
    "every-action-on-every-arn": (
        "CKV_PAY_027",
        lambda d: address_of(d, *PROCESSOR_POLICY),
        lambda d: add_statement(d, _allow("*:*", "arn:aws:*")),
    ),
    "managed-policy-arns-on-role": (
        "CKV_PAY_040",
        lambda d: address_of(d, *PROCESSOR_ROLE),
        lambda d: one(d, *PROCESSOR_ROLE).update(managed_policy_arns=["arn:aws:iam::aws:policy/PowerUserAccess"]),
    ),
    "dynamodb-full-access-attachment": (
        "CKV_PAY_040",
        lambda d: "aws_iam_role_policy_attachment.mutation",
        MUTATIONS["CKV_PAY_040"],
    ),
    "kms-key-policy-open-to-anyone": ("CKV_PAY_041", lambda d: address_of(d, *KEY), MUTATIONS["CKV_PAY_041"]),
    "queue-policy-lets-anyone-send": (
        "CKV_PAY_041",
        lambda d: "aws_sqs_queue_policy.mutation",
        _queue_policy_anyone_sends,
    ),
    "topic-policy-names-another-account": (
        "CKV_PAY_041",
        lambda d: address_of(d, "aws_sns_topic_policy", "events-topic-policy"),
        lambda d: add_resource_statement(
            d,
            "aws_sns_topic_policy",
            "events-topic-policy",
            {"Effect": "Allow", "Principal": {"AWS": ["999999999999"]}, "Action": "sns:Subscribe", "Resource": "*"},
        ),
    ),
    "lambda-permission-for-anyone": (
        "CKV_PAY_041",
        lambda d: address_of(d, "aws_lambda_permission", "allow-s3-invoke"),
        lambda d: _open_permission(one(d, "aws_lambda_permission", "allow-s3-invoke")),
    ),
    "key-policy-service-principal-unpinned": (
        "CKV_PAY_041",
        lambda d: address_of(d, *KEY),
        lambda d: add_resource_statement(
            d,
            *KEY,
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "kms:Decrypt",
                "Resource": "*",
            },
        ),
    ),
    "trust-policy-another-account": (
        "CKV_PAY_041",
        lambda d: address_of(d, *PROCESSOR_ROLE),
        lambda d: one(d, *PROCESSOR_ROLE).update(
            assume_role_policy=json.dumps(
                {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "999999999999"}, "Action": "sts:AssumeRole"}]}
            )
        ),
    ),
}


@background_fixture("stack", "tmp_path_factory")
def blind_spot_scans(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, policy.Scan]]:
    """Each blind-spot mutation as its own stack file, scanned in two Checkov runs at once; name -> (resource, scan)."""
    real_stack: Doc = stack.doc
    documents, targets = {}, {}
    for name, (_, target, mutate) in BLIND_SPOTS.items():
        doc = copy.deepcopy(real_stack)
        mutate(doc)
        assert doc != real_stack, f"{name}: the mutation changed nothing"
        targets[name] = target(doc)
        documents[name] = doc
    roots = [tmp_path_factory.mktemp("blind-spots"), tmp_path_factory.mktemp("blind-spots")]
    scans = scan_documents(documents, roots, "cdk.tf.json", policy.TERRAFORM_JSON)
    return {name: (targets[name], scan) for name, scan in scans.items()}


@pytest.mark.parametrize("name", sorted(BLIND_SPOTS))
def test_policy_blind_spot_fails_the_gate_with_its_check(
    name: str, blind_spot_scans: dict[str, tuple[str, policy.Scan]], mapping: dict[str, pack.Entry]
) -> None:
    check_id = BLIND_SPOTS[name][0]
    resource, scan = blind_spot_scans[name]
    verdict = gate.decide([scan], mapping, pack_waivers(), TODAY)
    assert not verdict.ok
    assert (check_id, resource) in {(r.finding.check_id, r.finding.resource) for r in verdict.failures}


# --- Issue 10, items 12-14 and 16: the blind spots, as mutations of the real stack with their right verdict ---------

REQUIRED_TAGS = ("Environment", "Application", "DataClassification")


def _tls_deny_on_bucket_arn_only(doc: Doc) -> None:
    """Item 12: the batch bucket's aws:SecureTransport deny names the bucket ARN only, not its objects."""
    policy_doc = one(doc, "aws_s3_bucket_policy", "batch-files")
    parsed = json.loads(policy_doc["policy"])
    deny = next(s for s in parsed["Statement"] if s.get("Sid") == "DenyInsecureTransport")
    deny["Resource"] = [r for r in deny["Resource"] if not r.endswith("/*")]
    assert len(deny["Resource"]) == 1
    policy_doc["policy"] = json.dumps(parsed)


def _sse_key_through_aws_managed_alias(doc: Doc) -> None:
    """Item 13: the batch bucket's SSE key is ``data.aws_kms_alias`` of ``alias/aws/s3`` (an AWS-managed key)."""
    doc["data"]["aws_kms_alias"] = {"s3_default": {"name": "alias/aws/s3"}}
    rule = one(doc, "aws_s3_bucket_server_side_encryption_configuration", "batch-files")["rule"][0]
    default = rule["apply_server_side_encryption_by_default"]
    default["kms_master_key_id"] = "${data.aws_kms_alias.s3_default.target_key_arn}"


def _required_tags_in_default_tags(doc: Doc) -> None:
    """Item 14: the required tags move from every resource into the provider's default_tags; a resource keeps only
    a value that differs from the default (DataClassification confidential), which wins over it."""
    defaults = {name: one(doc, "aws_sns_topic", "alarms")["tags"][name] for name in REQUIRED_TAGS}
    assert defaults["DataClassification"] == "internal"
    doc["provider"]["aws"][0]["default_tags"] = [{"tags": defaults}]
    for items in doc["resource"].values():
        for body in items.values():
            own = body.get("tags")
            if isinstance(own, dict):
                for name in REQUIRED_TAGS:
                    if own.get(name) == defaults[name]:
                        del own[name]
    kept = [b["tags"] for items in doc["resource"].values() for b in items.values() if isinstance(b.get("tags"), dict)]
    assert kept and all("Environment" not in t and "Application" not in t for t in kept)
    assert any(t.get("DataClassification") == "confidential" for t in kept)


# name -> (the check whose verdict the mutation decides, True when the gate must fail with it, the mutation)
VARIANTS: dict[str, tuple[str, bool, Callable[[Doc], None]]] = {
    "tls_deny_on_bucket_arn_only": ("CKV_PAY_038", True, _tls_deny_on_bucket_arn_only),
    "sse_key_through_aws_managed_alias": ("CKV_PAY_001", True, _sse_key_through_aws_managed_alias),
    "required_tags_in_default_tags": ("CKV_PAY_028", False, _required_tags_in_default_tags),
    "plaintext_subscription_of_payment_events": ("CKV_PAY_050", True, _050),
}


@background_fixture("stack", "tmp_path_factory")
def variant_scans(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, policy.Scan]:
    """Every variant as its own stack file, all scanned in one Checkov run."""
    real_stack: Doc = stack.doc
    documents = {}
    for name, (_, _, mutate) in VARIANTS.items():
        doc = copy.deepcopy(real_stack)
        mutate(doc)
        assert doc != real_stack, f"{name}: the mutation changed nothing"
        documents[name] = doc
    return scan_documents(documents, [tmp_path_factory.mktemp("variants")], "cdk.tf.json", policy.TERRAFORM_JSON)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_gets_its_verdict(
    name: str,
    variant_scans: dict[str, policy.Scan],
    mutated_scans: dict[str, policy.Scan],
    mapping: dict[str, pack.Entry],
) -> None:
    check_id, must_fail, _ = VARIANTS[name]
    scan = variant_scans[name]
    verdict = gate.decide([scan], mapping, pack_waivers(), TODAY)
    if must_fail:
        assert not verdict.ok
        assert verdict.failed_checks() == {check_id}, "only the mutated rule fails"
    else:
        assert verdict.ok, (verdict.problems, [(r.finding.check_id, r.finding.resource) for r in verdict.failures])
        decided = {f.resource for f in scan.findings if f.check_id == check_id and f.result == "passed"}
        baseline = {f.resource for f in mutated_scans[BASELINE].findings if f.check_id == check_id}
        assert decided == baseline, "every resource the check decides on the real stack still passes"
