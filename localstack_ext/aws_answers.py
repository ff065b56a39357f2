"""Where LocalStack 2026.3 answers a read differently from AWS, the patch that makes it answer as AWS does.

Each patch is a module of its own, with the difference it fixes in its docstring (what LocalStack does,
what AWS does, what the patch changes):

- ``lambda_kms``: ``KMSKeyArn`` in a function's configuration;
- ``stepfunctions_configuration``: ``encryptionConfiguration`` and ``tracingConfiguration`` of state
  machines, their versions and executions, and activities' ``encryptionConfiguration``;
- ``sqs_attributes``: ``RedrivePolicy`` and ``RedriveAllowPolicy`` as AWS's compact JSON;
- ``lambda_code_signing``: a function's ``CodeSigningConfigArn`` kept from ``CreateFunction`` (and its code
  checked against the config, ``Enforce`` refusing unsigned code, as Lambda does).

Without them, ``terraform plan`` right after an apply to LocalStack plans changes on every run (a perpetual
diff; ``pipeline.deploy.apply.check_no_drift``). A patch is applied when LocalStack first imports the
module it changes (wrapt's post-import hooks, ``wrapt.importer.register_post_import_hook``; wrapt is in
LocalStack's locked venv through aws-xray-sdk), before any request reaches that service, so a LocalStack
that never serves Step Functions does not pay the import of its provider at start-up. Applying a patch
twice changes nothing.

Registered as the hook ``paygate_aws_answers`` in ``localstack.hooks.on_infra_start``.
"""

from __future__ import annotations

from localstack.runtime import hooks
from wrapt.importer import register_post_import_hook

# LocalStack module -> the patches applied once it is imported ("module:function", loaded only then).
PATCHES = {
    "localstack.services.lambda_.provider": (
        "localstack_ext.lambda_kms:patch",
        "localstack_ext.lambda_code_signing:patch",
    ),
    "localstack.services.stepfunctions.provider": ("localstack_ext.stepfunctions_configuration:patch",),
    "localstack.services.sqs.models": ("localstack_ext.sqs_attributes:patch",),
}


@hooks.on_infra_start()
def paygate_aws_answers() -> None:
    for module, patches in PATCHES.items():
        for patch in patches:
            register_post_import_hook(patch, module)
