"""The harness behind the make targets, run as ``python -m pipeline <command>`` (one entry point: ``cli.py``).

One folder per pipeline step, in the order an artifact travels through them:

- ``core/``       what every step shares: the error type, settings read once by the CLI, subprocesses,
                  the toolchain finder (Python, terraform, the provider mirror), process trees (psutil).
- ``build/``      the Lambda archives (deterministic zips from git's files and the uv.lock layer) and the
                  artifact: the synthesized stack directory named by one SHA-256.
- ``terraform/``  the terraform CLI config, offline ``init`` + ``validate``, and the offline ``plan``
                  (local STS stub) the policy gate reads.
- ``policy/``     the policy gate: Checkov with the PCI DSS pack, the pack's mapping, waivers, the verdict
                  and its reports.
- ``localstack/`` LocalStack as a managed component on the host (no Docker): its venv, start, stop.
- ``deploy/``     terraform apply/destroy of the checked artifact onto a running LocalStack.
- ``e2e/``        ``make localstack-e2e``: up -> deploy -> e2e suite -> teardown -> summary.
- ``evidence/``   the signed evidence of one artifact (in-toto Statement in a DSSE envelope).
- ``promote/``    gated promotion to an environment: saved plan, approval by plan hash, apply, drift,
                  and the hash-chained audit trail.
"""
