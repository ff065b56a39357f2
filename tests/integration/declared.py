"""What an environment's artifact declares: the expectations the post-deploy suite holds the deployment to.

The artifact is the synthesized stack directory that was applied (``cdktf.out/stacks/paygate`` of ``make
synth ENV=<name>``); its ``cdk.tf.json`` is the environment's configuration made concrete (tags, deletion
protection, limits, log retention), so "as the environment declares" is read here, once, and never
re-derived from ``PAYGATE_*`` variables or constants.

A declared value may be a Terraform reference (``${aws_kms_key.x.arn}``); :func:`name_pattern` turns a
name with references into a regular expression the deployed name must match.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STACK_FILE = "cdk.tf.json"
REFERENCE = re.compile(r"\$\{[^}]*\}")


class ArtifactError(ValueError):
    """The artifact is missing or unreadable; the message says where and what to run."""


@dataclass(frozen=True)
class Resource:
    """One declared resource: Terraform type, logical name (``<type>.<name>`` is its address), arguments."""

    type: str
    name: str
    arguments: Mapping[str, Any]

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.arguments.get("tags") or {})


@dataclass(frozen=True)
class Declared:
    """The declarations of one ``cdk.tf.json`` (``stack``), read by the tests through typed accessors."""

    stack: Mapping[str, Any]
    source: Path

    @classmethod
    def read(cls, stack_dir: Path) -> Declared:
        """Read ``<stack_dir>/cdk.tf.json``; ArtifactError when it is absent or not JSON."""
        path = stack_dir / STACK_FILE
        try:
            stack = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ArtifactError(
                f"no artifact at {path}: synthesize the environment that was deployed (`make synth ENV=<name>`) "
                "or pass --artifact <stack dir>"
            ) from None
        except ValueError as error:
            raise ArtifactError(f"{path} is not JSON ({error}): synthesize the stack again") from None
        if not isinstance(stack, dict) or not isinstance(stack.get("resource"), dict):
            raise ArtifactError(f"{path} declares no resources: it is not a synthesized stack")
        return cls(stack, path)

    def resources(self, type_: str) -> list[Resource]:
        """Every declared resource of one Terraform type, in the artifact's order."""
        found = self.stack["resource"].get(type_, {})
        return [Resource(type_, name, arguments) for name, arguments in found.items()]

    def all_resources(self) -> Iterator[Resource]:
        for type_ in self.stack["resource"]:
            yield from self.resources(type_)

    def referenced(self, type_: str, reference: object) -> Resource:
        """The declared resource of ``type_`` a ``${<type>.<name>.<attribute>…}`` reference names; ArtifactError
        when the reference is of another kind or names nothing declared."""
        prefix = f"${{{type_}."
        name = str(reference).removeprefix(prefix).split(".", 1)[0]
        found = self.stack["resource"].get(type_, {}).get(name)
        if not str(reference).startswith(prefix) or found is None:
            raise ArtifactError(f"{self.source}: {reference!r} names no declared {type_}")
        return Resource(type_, name, found)

    def by(self, type_: str, argument: str) -> dict[str, Resource]:
        """Resources of ``type_`` keyed by one literal argument (``function_name``, ``name``…)."""
        return {str(resource.arguments[argument]): resource for resource in self.resources(type_)}

    @property
    def region(self) -> str:
        providers = self.stack.get("provider", {}).get("aws", [])
        region = providers[0].get("region") if providers else None
        if not isinstance(region, str):
            raise ArtifactError(f"{self.source} sets no provider region")
        return region

    @property
    def environment_tags(self) -> dict[str, str]:
        """The tags every tagged resource declares with the same value: the environment's own tag set."""
        tagged = [resource.tags for resource in self.all_resources() if resource.tags]
        if not tagged:
            raise ArtifactError(f"{self.source} tags no resource")
        common = dict(tagged[0])
        for tags in tagged[1:]:
            common = {key: value for key, value in common.items() if tags.get(key) == value}
        return common

    @property
    def environment(self) -> str:
        tags = self.environment_tags
        if "Environment" not in tags:
            raise ArtifactError(f"{self.source}: no Environment tag common to every resource")
        return tags["Environment"]


def name_pattern(declared: str) -> re.Pattern[str]:
    """A declared name whose ``${...}`` references match any run of characters other than ``/``:
    ``API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.api.id}/v1`` -> ``API-Gateway-Execution-Logs_[^/]+/v1``."""
    parts = REFERENCE.split(declared)
    return re.compile("[^/]+".join(re.escape(part) for part in parts))


def literal_prefix(declared: str) -> str:
    """The part of a declared name before its first reference (a listing prefix for the deployed name)."""
    return REFERENCE.split(declared, maxsplit=1)[0]
