"""A LocalStack service served by moto's in-process backend under one lock (``wafv2.py``, ``signer.py``, and the
lock of ``dynamodb.py``).

LocalStack's community edition ships no provider and no generated ``localstack.aws.api.<service>`` module for these
services, so there is no API class to inherit: the dispatch table maps every operation of the botocore service
model (loaded by LocalStack's ``load_service``) to LocalStack's moto fallthrough (``_proxy_moto``), which hands the
request to moto's backend (``moto-ext`` inside LocalStack, state in the LocalStack process), except the operations
a module implements itself. Every operation runs under the module's one lock: moto's backends are not thread-safe
and LocalStack serves on many threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from localstack.aws.api import RequestContext, ServiceRequest
from localstack.aws.skeleton import DispatchTable
from localstack.aws.spec import load_service
from localstack.services.moto import _proxy_moto
from localstack.services.plugins import Service

Operation = Callable[[RequestContext, ServiceRequest], Any]


class MotoServiceProvider:
    """The provider object LocalStack's service needs: its service name (operations are in the dispatch table)."""

    def __init__(self, service: str) -> None:
        self.service = service


def serialized(operation: Operation, lock: threading.RLock) -> Operation:
    """``operation`` run under ``lock`` (moto's backends are not thread-safe)."""

    def locked(context: RequestContext, request: ServiceRequest) -> Any:
        with lock:
            return operation(context, request)

    return locked


def moto_backed_service(
    service: str, lock: threading.RLock, own_operations: Mapping[str, Operation] | None = None
) -> Service:
    """A ``Service`` whose every operation of ``service``'s model goes to moto, or to ``own_operations[name]``,
    under ``lock``."""

    def dispatch_table(provider: object) -> DispatchTable:
        own = own_operations or {}
        return {name: serialized(own.get(name, _proxy_moto), lock) for name in load_service(service).operation_names}

    return Service.for_provider(MotoServiceProvider(service), dispatch_table_factory=dispatch_table)  # type: ignore[arg-type]
