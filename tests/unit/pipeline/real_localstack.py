"""A real host-mode LocalStack for one test module, in a scratch directory (the project's venv symlinked in).

Shared by the plugin tests (DynamoDB, Lambda): a missing LocalStack venv fails with the command to run,
it never skips; the instance is stopped and cleaned when the ``with`` block ends, and that is checked.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from botocore.config import Config

from pipeline.core.settings import Settings, from_environ
from pipeline.localstack import instance as localstack
from pipeline.localstack.instance import Instance
from tests import aws_clients

REPO_ROOT = Path(__file__).resolve().parents[3]
REAL_VENV = REPO_ROOT / "build" / "localstack" / "venv"
UV = REPO_ROOT / "build" / "tools" / "bin" / "uv"
REGION = "eu-west-1"
# The workers' python3.12 (pipeline.localstack.instance passes find_python() on as PAYGATE_LAMBDA_PYTHON): the project
# venv's base interpreter, so functions see their own code, not the project's packages. Named explicitly
# because the scratch HOME hides pyenv's shims.
BASE_PYTHON = Path(sys.base_prefix) / "bin" / "python3.12"


@contextlib.contextmanager
def running_in(tmp: Path) -> Iterator[tuple[Settings, Instance]]:
    """Settings rooted in ``tmp`` and a LocalStack started from them, stopped on exit and checked gone."""
    assert (REAL_VENV / "bin" / "python").is_file(), (
        f"LocalStack's virtualenv is missing ({REAL_VENV}): run `make localstack-venv` (`make unit` does it first)"
    )
    root = tmp / "ls"
    root.mkdir()
    (root / "venv").symlink_to(REAL_VENV)
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp / "home"),
        "PAYGATE_UV": str(UV),
        "PAYGATE_CACHE_DIR": str(tmp / "cache"),
        "PAYGATE_LOCALSTACK_DIR": str(root),
        "PAYGATE_PYTHON": str(BASE_PYTHON),
    }
    settings = from_environ(environ, tmp)
    with localstack.running_localstack(settings) as running:
        yield settings, running
    # Stopped and cleaned: no process of its group, no state file (a failure here is the module's teardown error).
    assert not localstack.is_localstack(running.pid)
    assert localstack.group_members(running.pid) == []
    assert localstack.read_state(localstack.Layout.of(settings)) is None


def client(instance: Instance, service: str, config: Config | None = None) -> Any:
    return aws_clients.client(instance.endpoint, REGION, service, config)
