"""Resource names per environment, with the AWS length limits they must respect."""

from __future__ import annotations

from dataclasses import dataclass

# AWS limits for the names this project generates (service quotas / API docs).
LIMITS = {
    "s3_bucket": 63,
    "lambda_function": 64,
    "iam_role": 64,
    "iam_policy": 128,
    "dynamodb_table": 255,
    "sqs_queue": 80,
    "sns_topic": 256,
    "sfn_state_machine": 80,
    "log_group": 512,
    "alarm": 255,
    "api_gateway": 1024,
    "kms_alias": 256,
    "event_rule": 64,
}
ACCOUNT_ID_LENGTH = 12


class NameTooLongError(ValueError):
    """A generated name would exceed its AWS limit."""


@dataclass(frozen=True)
class Naming:
    """Derives every physical name from ``paygate-<env>`` so environments never collide."""

    prefix: str

    def _fit(self, kind: str, name: str, extra: int = 0) -> str:
        if len(name) + extra > LIMITS[kind]:
            raise NameTooLongError(f"{kind} name {name!r} exceeds the AWS limit of {LIMITS[kind]} characters")
        return name

    def function(self, key: str) -> str:
        return self._fit("lambda_function", f"{self.prefix}-{key.replace('_', '-')}")

    def role(self, purpose: str) -> str:
        return self._fit("iam_role", f"{self.prefix}-{purpose.replace('_', '-')}-role")

    def table(self, purpose: str) -> str:
        return self._fit("dynamodb_table", f"{self.prefix}-{purpose}")

    def queue(self, purpose: str) -> str:
        return self._fit("sqs_queue", f"{self.prefix}-{purpose}")

    def topic(self, purpose: str) -> str:
        return self._fit("sns_topic", f"{self.prefix}-{purpose}")

    def state_machine(self, purpose: str) -> str:
        return self._fit("sfn_state_machine", f"{self.prefix}-{purpose}")

    def alarm(self, purpose: str) -> str:
        return self._fit("alarm", f"{self.prefix}-{purpose}")

    def event_rule(self, purpose: str) -> str:
        return self._fit("event_rule", f"{self.prefix}-{purpose}")

    def api(self, purpose: str) -> str:
        return self._fit("api_gateway", f"{self.prefix}-{purpose}")

    def kms_alias(self, purpose: str) -> str:
        return self._fit("kms_alias", f"alias/{self.prefix}-{purpose}")

    def lambda_log_group(self, function_name: str) -> str:
        return self._fit("log_group", f"/aws/lambda/{function_name}")

    def log_group(self, service: str, purpose: str) -> str:
        return self._fit("log_group", f"/aws/{service}/{self.prefix}-{purpose}")

    def bucket(self, purpose: str, account_id: str) -> str:
        """Globally unique bucket name; ``account_id`` may be an unresolved token (12 digits at apply)."""
        stem = f"{self.prefix}-{purpose}-"
        self._fit("s3_bucket", stem, extra=ACCOUNT_ID_LENGTH)
        return f"{stem}{account_id}"
