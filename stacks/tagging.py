"""Aspect that puts the environment's tags on every taggable resource, explicitly.

Provider ``default_tags`` would not show in ``cdk.tf.json``, so policy checks that read the
synthesized resources could not see them; explicit tags are visible to every reader.
"""

from __future__ import annotations

from collections.abc import Mapping

import jsii
from cdktf import IAspect, TerraformResource
from constructs import IConstruct


@jsii.implements(IAspect)
class EnvironmentTags:
    """Merge the common tags under each resource's own tags (a resource's own value wins)."""

    def __init__(self, tags: Mapping[str, str]) -> None:
        self._tags = dict(tags)

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, TerraformResource) or not hasattr(node, "tags_input"):
            return
        own = node.tags_input or {}
        node.tags = {**self._tags, **own}  # type: ignore[attr-defined]
