"""A deployment as an operator's command sees it: its outputs file and a boto3 session to it.

Shared by the commands that act on a deployed environment after the fact (``merchant-bind``/``merchant-revoke``:
:mod:`pipeline.merchants`; ``invariants``: :mod:`pipeline.reliability`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from pipeline.core.errors import PipelineError
from pipeline.deploy.apply import FAKE_SECRET, LOCALSTACK_DEFAULT_ACCOUNT

# An operator's command: a few standard-mode retries, and a read that may take a while (a table scan's page).
OPERATOR_CLIENT_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20)


def read_flat_outputs(path: Path, error: type[PipelineError]) -> dict[str, Any]:
    """The outputs of ``path``, flat (``{name: value}``): the LocalStack harness writes them so, ``terraform output
    -json`` nests each as ``{"value": ...}``. Raises ``error`` when the file is missing, not JSON or not an object."""
    if not path.is_file():
        raise error(f"no deployment outputs at {path}: deploy first (make localstack-deploy)")
    try:
        outputs = json.loads(path.read_bytes())
    except ValueError:
        raise error(f"{path} is not JSON") from None
    if not isinstance(outputs, dict):
        raise error(f"{path} is not a JSON object of outputs")
    return {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in outputs.items()}


def operator_session(
    region: str, *, localstack: bool, account_id: str | None, environ: Mapping[str, str]
) -> boto3.session.Session:
    """The caller's credentials (the default chain); on LocalStack without any, the account id as access key id
    (LocalStack docs, "Multi-account setups": a 12-digit access key id is the account acted in)."""
    if localstack and not environ.get("AWS_ACCESS_KEY_ID"):
        return boto3.session.Session(
            region_name=region,
            aws_access_key_id=account_id or LOCALSTACK_DEFAULT_ACCOUNT,
            aws_secret_access_key=FAKE_SECRET,
        )
    return boto3.session.Session(region_name=region)
