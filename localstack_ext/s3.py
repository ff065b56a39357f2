"""S3 for host-mode LocalStack with its object storage inside the instance's run directory.

LocalStack's own S3 provider keeps object bodies in the fixed folder ``/tmp/localstack-s3-storage``
(``DEFAULT_S3_TMP_DIR`` in ``localstack/services/s3/provider.py``), whatever ``TMPDIR`` says: two
instances on one machine would share (and, on stop, delete) each other's objects. This provider is the
same ``S3Provider`` with its ephemeral store under ``$TMPDIR/s3-storage``; ``pipeline/localstack/instance.py``
points ``TMPDIR`` into the run directory, so stopping an instance removes its objects with it.

Selected with ``PROVIDER_OVERRIDE_S3=paygate``; registered as the entry point ``s3:paygate``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from localstack.services.plugins import Service, aws_provider

PROVIDER_NAME = "paygate"
STORAGE_FOLDER = "s3-storage"


def storage_root() -> Path:
    """Where object bodies live: a folder of this process's temp dir (the instance's run dir)."""
    return Path(tempfile.gettempdir()) / STORAGE_FOLDER


@aws_provider(api="s3", name=PROVIDER_NAME)
def s3_paygate() -> Service:
    from localstack.services.s3.provider import S3Provider
    from localstack.services.s3.storage.ephemeral import EphemeralS3ObjectStore

    return Service.for_provider(S3Provider(storage_backend=EphemeralS3ObjectStore(str(storage_root()))))
