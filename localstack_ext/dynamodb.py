"""DynamoDB for host-mode LocalStack, served by moto's in-process backend (no Java, no DynamoDB Local).

LocalStack's own DynamoDB provider forwards to DynamoDB Local, which it downloads together with a Java
runtime on first use: that fails offline. This provider has no operation of its own; every DynamoDB
operation falls through (``MotoFallbackDispatcher``) to moto's DynamoDB backend, which ships inside
LocalStack as ``moto-ext`` and keeps its state in the LocalStack process.

Selected with ``PROVIDER_OVERRIDE_DYNAMODB=paygate`` (``pipeline/localstack/instance.py`` sets it). Registered as
the entry point ``dynamodb:paygate`` in the plux namespace ``localstack.aws.provider`` (the name
``aws_provider`` gives LocalStack's own providers: ``<api>:<name>``) of the project package, which
``pipeline/localstack/venv.py`` installs into LocalStack's virtualenv.

Covered as far as moto implements them: tables (create/describe/list/update/delete), items
(put/get/update/delete, query, scan), condition expressions (``ConditionalCheckFailedException``),
global and local secondary indexes, ``UpdateTimeToLive``/``DescribeTimeToLive`` (the attribute is
recorded; expired items are not deleted), batch reads and writes, transactions
(``TransactWriteItems``/``TransactGetItems``, ``TransactionCanceledException`` with reasons).

Every operation runs under one lock, so each is atomic and isolated as in DynamoDB: moto applies an
UpdateItem's actions one at a time to the stored item, in place, and checks a condition before it writes,
while LocalStack serves requests on many threads, so without the lock a consistent read could see half an
UpdateItem (a batch's final status without its counts) and two conditional writes of one key could both
pass. DynamoDB: every single-item write is atomic, a strongly consistent read returns the result of every
write that succeeded before it, and transactions are serializable (Developer Guide, "Read consistency",
"Condition expressions", "Amazon DynamoDB Transactions: How it works"). Serializing is stricter than
DynamoDB and costs nothing that matters at an emulator's request rates.

Not covered: DynamoDB Streams (``dynamodbstreams`` stays LocalStack's own provider and sees nothing
of these tables, so no stream-triggered Lambdas), PartiQL beyond what moto parses, backups/exports,
global tables, and persistence across restarts (state lives in memory only).
"""

from __future__ import annotations

import threading

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.aws.skeleton import DispatchTable
from localstack.services.moto import MotoFallbackDispatcher
from localstack.services.plugins import Service, aws_provider

from localstack_ext.moto_service import serialized

PROVIDER_NAME = "paygate"


class MotoDynamoDBProvider(DynamodbApi):
    """Implements nothing itself: each generated ``DynamodbApi`` method raises NotImplementedError, so
    ``MotoFallbackDispatcher`` hands every operation to moto."""


def serialized_moto_dispatcher(provider: object) -> DispatchTable:
    """``MotoFallbackDispatcher``'s table with every operation run under one lock (see the module docstring)."""
    lock = threading.RLock()
    return {operation: serialized(handler, lock) for operation, handler in MotoFallbackDispatcher(provider).items()}


@aws_provider(api="dynamodb", name=PROVIDER_NAME)
def dynamodb_paygate() -> Service:
    return Service.for_provider(MotoDynamoDBProvider(), dispatch_table_factory=serialized_moto_dispatcher)
