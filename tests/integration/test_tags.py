"""Tags as deployed: every tagged resource of the artifact carries the tags it declares (the environment's
own set - Application, Environment, owner and repository - plus its data classification), so ownership,
environment and classification are visible on every resource (PCI DSS 12.5.1: an inventory of system
components in scope)."""

from __future__ import annotations

import pytest

from tests.integration.system import TAG_READERS, System


@pytest.mark.parametrize("resource_type", sorted(TAG_READERS))
def test_every_resource_carries_its_declared_tags(system: System, resource_type: str) -> None:
    declared = [resource for resource in system.declared.resources(resource_type) if resource.tags]

    wrong = {}
    for resource in declared:
        deployed = system.tags(resource)
        differing = {
            key: (value, deployed.get(key)) for key, value in resource.tags.items() if deployed.get(key) != value
        }
        if differing:
            wrong[resource.address] = differing  # tag -> (declared, deployed)

    assert declared, f"the artifact declares no tagged {resource_type}"
    assert wrong == {}


def test_every_tagged_resource_type_of_the_artifact_has_a_tag_reader(system: System) -> None:
    """A new kind of resource in the stack must not go unchecked: the parametrization above lists them."""
    tagged_types = {resource.type for resource in system.declared.all_resources() if resource.tags}

    assert tagged_types <= set(TAG_READERS), sorted(tagged_types - set(TAG_READERS))
    assert {"Application", "Environment", "ManagedBy"} <= set(system.declared.environment_tags)
