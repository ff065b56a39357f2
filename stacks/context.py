"""What every construct of one stack shares: config, naming, account and region."""

from __future__ import annotations

from dataclasses import dataclass

from stacks.config import PlatformConfig
from stacks.naming import Naming


@dataclass(frozen=True)
class StackContext:
    """Config plus the account/partition tokens resolved by Terraform data sources (never at synth)."""

    config: PlatformConfig
    naming: Naming
    account_id: str
    partition: str

    @property
    def region(self) -> str:
        return self.config.region

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        """ARN in this account/region, built from names so no resource depends on another's creation."""
        return ":".join(
            (
                "arn",
                self.partition,
                service,
                self.region if region else "",
                self.account_id if account else "",
                resource,
            )
        )

    def via_service(self, service: str) -> str:
        return f"{service}.{self.region}.amazonaws.com"
