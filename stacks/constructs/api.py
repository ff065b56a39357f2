"""REST API: POST /payments and GET /payments/{id}, IAM + API key, validated, logged, throttled."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.api_gateway_account import ApiGatewayAccount
from cdktf_cdktf_provider_aws.api_gateway_api_key import ApiGatewayApiKey
from cdktf_cdktf_provider_aws.api_gateway_deployment import ApiGatewayDeployment
from cdktf_cdktf_provider_aws.api_gateway_gateway_response import ApiGatewayGatewayResponse
from cdktf_cdktf_provider_aws.api_gateway_integration import ApiGatewayIntegration
from cdktf_cdktf_provider_aws.api_gateway_method import ApiGatewayMethod
from cdktf_cdktf_provider_aws.api_gateway_method_settings import ApiGatewayMethodSettings
from cdktf_cdktf_provider_aws.api_gateway_model import ApiGatewayModel
from cdktf_cdktf_provider_aws.api_gateway_request_validator import ApiGatewayRequestValidator
from cdktf_cdktf_provider_aws.api_gateway_resource import ApiGatewayResource
from cdktf_cdktf_provider_aws.api_gateway_rest_api import ApiGatewayRestApi
from cdktf_cdktf_provider_aws.api_gateway_stage import ApiGatewayStage
from cdktf_cdktf_provider_aws.api_gateway_usage_plan import ApiGatewayUsagePlan, ApiGatewayUsagePlanApiStages
from cdktf_cdktf_provider_aws.api_gateway_usage_plan_key import ApiGatewayUsagePlanKey
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from constructs import Construct

from contracts import CREATE_PAYMENT_REQUEST, RETRY_AFTER_SECONDS, load_schema
from stacks.config import ConfigError, PlatformConfig
from stacks.constants import API_STAGE
from stacks.constructs.encryption import PlatformKey
from stacks.constructs.functions import PaymentFunction
from stacks.constructs.iam import Statement, grant, service_role
from stacks.context import StackContext

IDEMPOTENCY_HEADER = "Idempotency-Key"
CREATE_MODEL_NAME = "CreatePaymentRequest"
# Access log: who called what and the outcome; never bodies, headers or query strings.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "extendedRequestId": "$context.extendedRequestId",
        "requestTime": "$context.requestTimeEpoch",
        "sourceIp": "$context.identity.sourceIp",
        "caller": "$context.identity.caller",
        "userArn": "$context.identity.userArn",
        "apiKeyId": "$context.identity.apiKeyId",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "integrationLatency": "$context.integrationLatency",
        "errorMessage": "$context.error.message",
    },
    sort_keys=True,
    separators=(",", ":"),
)


# Answers API Gateway gives itself (before the handler runs), in the contract's error shape
# (contracts/schemas/error.schema.json): response type -> (status, code, message). Messages are fixed
# text: the gateway's own detail (e.g. validationErrorString) can quote request data, so it is not used.
GATEWAY_RESPONSES: dict[str, tuple[str, str, str]] = {
    "BAD_REQUEST_BODY": ("400", "VALIDATION_FAILED", "body does not match the create-payment contract"),
    "BAD_REQUEST_PARAMETERS": ("400", "IDEMPOTENCY_KEY_INVALID", f"{IDEMPOTENCY_HEADER} header is required"),
    "INVALID_API_KEY": ("403", "FORBIDDEN", "a valid API key is required"),
    "MISSING_AUTHENTICATION_TOKEN": ("403", "FORBIDDEN", "missing authentication or no such route"),
    "ACCESS_DENIED": ("403", "FORBIDDEN", "access denied"),
    "EXPIRED_TOKEN": ("403", "FORBIDDEN", "the request signature has expired"),
    "INVALID_SIGNATURE": ("403", "FORBIDDEN", "the request signature is not valid"),
    "THROTTLED": ("429", "THROTTLED", "too many requests; retry with backoff"),
    "QUOTA_EXCEEDED": ("429", "THROTTLED", "the API key's quota is used up"),
    "REQUEST_TOO_LARGE": ("413", "VALIDATION_FAILED", "the request body is too large"),
    "UNSUPPORTED_MEDIA_TYPE": ("415", "UNSUPPORTED_MEDIA_TYPE", "the request body must be application/json"),
    # A Lambda throttle (its reserved concurrency in use) reaches API Gateway as INTEGRATION_FAILURE, which would
    # otherwise fall to DEFAULT_5XX: a 500 for what is a capacity refusal (AWS re:Post, "API Gateway proxy
    # integration does not forward Lambda throttling"). It also covers any other failure to invoke the function.
    "INTEGRATION_FAILURE": ("503", "SERVICE_UNAVAILABLE", "the service is busy; retry after the Retry-After delay"),
    "DEFAULT_4XX": ("400", "REQUEST_REJECTED", "the request was rejected"),
    "DEFAULT_5XX": ("500", "INTERNAL_ERROR", "internal error"),
}


# The gateway's refusals that a retry can cure tell the client when to retry (RFC 9110 10.2.3 Retry-After).
RETRY_AFTER: dict[str, int] = {"THROTTLED": RETRY_AFTER_SECONDS, "INTEGRATION_FAILURE": RETRY_AFTER_SECONDS}


def contract_amount_maximum() -> int:
    """The create-payment contract's amount maximum (minor units): the ceiling of every environment's limit."""
    maximum: int = load_schema(CREATE_PAYMENT_REQUEST)["properties"]["amount"]["maximum"]
    return maximum


def check_amount_limit(config: PlatformConfig) -> None:
    """ConfigError when the environment's amount limit is above the contract's maximum: the API model would
    then refuse (400) amounts the handler accepts, and the contract would promise less than the API takes."""
    if config.max_payment_minor_units > contract_amount_maximum():
        raise ConfigError(
            f"max payment amount {config.max_payment_minor_units} is above the create-payment contract's maximum "
            f"{contract_amount_maximum()} minor units (contracts/schemas/create_payment_request.schema.json)"
        )


def gateway_response_template(code: str, message: str) -> str:
    """The VTL body of a gateway response: the contract error with API Gateway's request id."""
    body = {"error": {"code": code, "message": message, "request_id": "$context.requestId"}}
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _route_definition() -> dict[str, Any]:
    """Everything that, when changed, needs a new deployment of the API."""
    return {
        "routes": {
            "POST /payments": {"auth": "AWS_IAM", "api_key": True, "model": CREATE_MODEL_NAME},
            "GET /payments/{id}": {"auth": "AWS_IAM", "api_key": True},
        },
        "model": load_schema(CREATE_PAYMENT_REQUEST),
        "validator": {"body": True, "params": True},
        "idempotency_header": IDEMPOTENCY_HEADER,
        "gateway_responses": GATEWAY_RESPONSES,
        "retry_after": RETRY_AFTER,
    }


def deployment_fingerprint() -> str:
    """SHA-256 of the route definition: the deployment is replaced exactly when the API changes."""
    return hashlib.sha256(json.dumps(_route_definition(), sort_keys=True).encode()).hexdigest()


class PaymentsApi(Construct):
    """API Gateway REST API in front of the api_handler function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ctx: StackContext,
        key: PlatformKey,
        handler: PaymentFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        config = ctx.config
        check_amount_limit(config)
        self.api = ApiGatewayRestApi(
            self,
            "api",
            name=ctx.naming.api("payments"),
            description="paygate payments API",
            endpoint_configuration={"types": ["REGIONAL"]},
            api_key_source="HEADER",
            # Checkov CKV_AWS_237: a replacement API exists before the old one goes (no window without an API).
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
        payments = ApiGatewayResource(
            self, "payments", rest_api_id=self.api.id, parent_id=self.api.root_resource_id, path_part="payments"
        )
        payment = ApiGatewayResource(self, "payment", rest_api_id=self.api.id, parent_id=payments.id, path_part="{id}")
        model = ApiGatewayModel(
            self,
            "create-model",
            rest_api_id=self.api.id,
            name=CREATE_MODEL_NAME,
            content_type="application/json",
            schema=json.dumps(load_schema(CREATE_PAYMENT_REQUEST), sort_keys=True),
        )
        self.validator = ApiGatewayRequestValidator(
            self,
            "validator",
            rest_api_id=self.api.id,
            name="body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        create = ApiGatewayMethod(
            self,
            "create-method",
            rest_api_id=self.api.id,
            resource_id=payments.id,
            http_method="POST",
            authorization="AWS_IAM",
            api_key_required=True,
            request_validator_id=self.validator.id,
            request_models={"application/json": model.name},
            request_parameters={f"method.request.header.{IDEMPOTENCY_HEADER}": True},
        )
        get = ApiGatewayMethod(
            self,
            "get-method",
            rest_api_id=self.api.id,
            resource_id=payment.id,
            http_method="GET",
            authorization="AWS_IAM",
            api_key_required=True,
            request_validator_id=self.validator.id,
            request_parameters={"method.request.path.id": True},
        )
        integrations = [
            ApiGatewayIntegration(
                self,
                f"{name}-integration",
                rest_api_id=self.api.id,
                resource_id=method.resource_id,
                http_method=method.http_method,
                integration_http_method="POST",
                type="AWS_PROXY",
                uri=handler.function.invoke_arn,
            )
            for name, method in (("create", create), ("get", get))
        ]
        for name, route in (("create", "POST/payments"), ("get", "GET/payments/*")):
            LambdaPermission(
                self,
                f"{name}-permission",
                statement_id=f"AllowApiGateway-{name}",
                action="lambda:InvokeFunction",
                function_name=handler.function.function_name,
                principal="apigateway.amazonaws.com",
                source_arn=f"{self.api.execution_arn}/*/{route}",
            )

        responses = [
            ApiGatewayGatewayResponse(
                self,
                f"gateway-response-{kind.lower().replace('_', '-')}",
                rest_api_id=self.api.id,
                response_type=kind,
                status_code=status,
                response_templates={"application/json": gateway_response_template(code, message)},
                response_parameters=(
                    {"gatewayresponse.header.Retry-After": f"'{RETRY_AFTER[kind]}'"} if kind in RETRY_AFTER else None
                ),
            )
            for kind, (status, code, message) in GATEWAY_RESPONSES.items()
        ]
        deployment = ApiGatewayDeployment(
            self,
            "deployment",
            rest_api_id=self.api.id,
            triggers={"redeployment": deployment_fingerprint()},
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            depends_on=[create, get, *integrations, model, self.validator, *responses],
        )
        account = self._account_logging_role(ctx)
        self.access_logs = CloudwatchLogGroup(
            self,
            "access-logs",
            name=ctx.naming.log_group("apigateway", "payments-access"),
            retention_in_days=config.log_retention_days,
            kms_key_id=key.arn,
        )
        # API Gateway creates its execution log group on first use with no retention and no key;
        # owning it here makes retention and encryption ours.
        self.execution_logs = CloudwatchLogGroup(
            self,
            "execution-logs",
            name=f"API-Gateway-Execution-Logs_{self.api.id}/{API_STAGE}",
            retention_in_days=config.log_retention_days,
            kms_key_id=key.arn,
        )
        self.stage = ApiGatewayStage(
            self,
            "stage",
            rest_api_id=self.api.id,
            deployment_id=deployment.id,
            stage_name=API_STAGE,
            xray_tracing_enabled=True,
            access_log_settings={"destination_arn": self.access_logs.arn, "format": ACCESS_LOG_FORMAT},
            depends_on=[account, self.execution_logs],
        )
        ApiGatewayMethodSettings(
            self,
            "method-settings",
            rest_api_id=self.api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings={
                "metrics_enabled": True,
                "logging_level": "ERROR",
                # Full request/response logging would write payment data to logs (PCI DSS 3.3).
                "data_trace_enabled": False,
                "throttling_rate_limit": config.api_rate_limit,
                "throttling_burst_limit": config.api_burst_limit,
            },
        )
        self.usage_plan = plan = ApiGatewayUsagePlan(
            self,
            "usage-plan",
            name=ctx.naming.api("payments-default-plan"),
            api_stages=[ApiGatewayUsagePlanApiStages(api_id=self.api.id, stage=self.stage.stage_name)],
            throttle_settings={"rate_limit": config.api_rate_limit, "burst_limit": config.api_burst_limit},
            quota_settings={"limit": config.api_quota_per_day, "period": "DAY"},
        )
        self.api_key = ApiGatewayApiKey(self, "api-key", name=ctx.naming.api("payments-default-key"), enabled=True)
        ApiGatewayUsagePlanKey(
            self, "usage-plan-key", key_id=self.api_key.id, key_type="API_KEY", usage_plan_id=plan.id
        )

    def _account_logging_role(self, ctx: StackContext) -> ApiGatewayAccount:
        """Region-wide setting: the role API Gateway uses to write execution and access logs."""
        role = service_role(
            self,
            "cloudwatch-role",
            name=ctx.naming.role("apigw-logs"),
            service="apigateway.amazonaws.com",
        )
        policy = grant(
            self,
            "cloudwatch-role-policy",
            role=role,
            name="push-to-cloudwatch-logs",
            statements=[
                Statement(
                    sid="WriteApiLogs",
                    actions=(
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:DescribeLogStreams",
                        "logs:PutLogEvents",
                    ),
                    resources=(
                        ctx.arn("logs", "log-group:API-Gateway-Execution-Logs_*"),
                        ctx.arn("logs", f"log-group:/aws/apigateway/{ctx.config.prefix}-*"),
                    ),
                ),
                Statement(
                    sid="FindLogGroups",
                    actions=("logs:DescribeLogGroups",),
                    # DescribeLogGroups is authorized against the account's whole log-group space.
                    resources=(ctx.arn("logs", "log-group:*"),),
                ),
            ],
        )
        return ApiGatewayAccount(self, "account", cloudwatch_role_arn=role.arn, depends_on=[policy])

    @property
    def invoke_url(self) -> str:
        return self.stage.invoke_url
