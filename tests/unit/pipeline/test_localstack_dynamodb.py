"""DynamoDB on host-mode LocalStack through the project's plugin (``localstack_ext/dynamodb.py``: moto in-process).

One real LocalStack for the module (started with ``PROVIDER_OVERRIDE_DYNAMODB=paygate`` by
``pipeline.localstack.instance``), driven with boto3 from the project venv; the last test checks that it is
stopped. A missing LocalStack venv fails with the command to run, it never skips.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from pipeline.localstack import instance as localstack
from pipeline.localstack.instance import Instance
from tests.unit.pipeline.real_localstack import client, running_in

TABLE = "payments"
INDEX = "by-merchant"


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("localstack-dynamodb")
    with running_in(tmp) as (_, running):
        yield running


@pytest.fixture(scope="module")
def dynamodb(instance: Instance) -> Any:
    return client(instance, "dynamodb")


def payment(payment_id: str, merchant: str, amount: int) -> dict[str, dict[str, str]]:
    return {"pk": {"S": payment_id}, "merchant": {"S": merchant}, "amount": {"N": str(amount)}}


def test_a_table_with_a_gsi_is_created_and_active(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "merchant", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": INDEX,
                "KeySchema": [{"AttributeName": "merchant", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == [INDEX]
    assert TABLE in dynamodb.list_tables()["TableNames"]


def test_put_get_and_a_conditional_put_that_fails(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item=payment("p-1", "m-1", 100))
    assert dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "p-1"}})["Item"] == payment("p-1", "m-1", 100)
    with pytest.raises(ClientError) as failed:
        dynamodb.put_item(
            TableName=TABLE, Item=payment("p-1", "m-1", 999), ConditionExpression="attribute_not_exists(pk)"
        )
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "p-1"}})["Item"]["amount"] == {"N": "100"}


def test_update_with_a_condition_applies_only_when_it_holds(dynamodb: Any) -> None:
    updated = dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "p-1"}},
        UpdateExpression="SET amount = :new",
        ConditionExpression="amount = :old",
        ExpressionAttributeValues={":new": {"N": "150"}, ":old": {"N": "100"}},
        ReturnValues="ALL_NEW",
    )
    assert updated["Attributes"]["amount"] == {"N": "150"}
    with pytest.raises(ClientError) as failed:
        dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": "p-1"}},
            UpdateExpression="SET amount = :new",
            ConditionExpression="amount = :old",
            ExpressionAttributeValues={":new": {"N": "1"}, ":old": {"N": "100"}},
        )
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"


def test_batch_write_and_a_gsi_query(dynamodb: Any) -> None:
    items = [payment("p-2", "m-2", 20), payment("p-3", "m-2", 30), payment("p-4", "m-3", 40)]
    result = dynamodb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": item}} for item in items]})
    assert result["UnprocessedItems"] == {}
    found = dynamodb.query(
        TableName=TABLE,
        IndexName=INDEX,
        KeyConditionExpression="merchant = :m",
        ExpressionAttributeValues={":m": {"S": "m-2"}},
    )
    assert sorted(item["pk"]["S"] for item in found["Items"]) == ["p-2", "p-3"]


def test_ttl_attribute_is_recorded(dynamodb: Any) -> None:
    spec = dynamodb.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )["TimeToLiveSpecification"]
    assert spec == {"Enabled": True, "AttributeName": "expires_at"}
    description = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert description["TimeToLiveStatus"] == "ENABLED" and description["AttributeName"] == "expires_at"


def test_transact_write_items_commits_all_or_nothing(dynamodb: Any) -> None:
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": payment("p-5", "m-5", 50)}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "p-2"}},
                    "UpdateExpression": "SET amount = amount + :d",
                    "ExpressionAttributeValues": {":d": {"N": "5"}},
                }
            },
        ]
    )
    assert dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "p-5"}})["Item"]["amount"] == {"N": "50"}
    assert dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "p-2"}})["Item"]["amount"] == {"N": "25"}
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": payment("p-6", "m-6", 60)}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "p-1"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "p-6"}})


WRITERS = 2
READERS = 2
UPDATES = 40  # per writer; each sets a and b to the same value in one UpdateItem, with fillers between them
FILLERS = 8  # attributes set between a and b, each a list like a batch's "errors" (the e2e's torn item)
ERRORS = {"L": [{"M": {"line": {"N": str(n)}, "code": {"S": "INVALID_AMOUNT"}}} for n in range(20)]}


def test_an_update_item_is_never_seen_half_applied(instance: Instance) -> None:
    """DynamoDB applies an UpdateItem atomically: a consistent read sees all of its SET actions or none.

    moto applies the actions one by one to the stored item, in place; LocalStack serves requests on many
    threads, so a GetItem between two actions saw e.g. a batch's final ``status`` without its ``accepted``
    count (an e2e failure). Source: DynamoDB developer guide, "Read consistency" and "UpdateItem".
    """
    dynamodb = client(instance, "dynamodb", Config(max_pool_connections=WRITERS + READERS))
    key = {"pk": {"S": "torn-read"}}
    dynamodb.put_item(TableName=TABLE, Item={**key, "a": {"N": "0"}, "b": {"N": "0"}})
    done = threading.Event()
    torn: list[dict[str, Any]] = []

    def write(writer: int) -> None:
        for n in range(UPDATES):
            value = {"N": str(writer * UPDATES + n)}
            dynamodb.update_item(
                TableName=TABLE,
                Key=key,
                UpdateExpression=f"SET a = :v, {', '.join(f'f{i} = :errors' for i in range(FILLERS))}, b = :v",
                ExpressionAttributeValues={":v": value, ":errors": ERRORS},
            )

    def read() -> int:
        reads = 0
        while not done.is_set():
            item = dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
            reads += 1
            if item["a"] != item["b"]:
                torn.append({"a": item["a"], "b": item["b"]})
        return reads

    with ThreadPoolExecutor(WRITERS + READERS) as pool:
        readers = [pool.submit(read) for _ in range(READERS)]
        for writer in [pool.submit(write, w) for w in range(WRITERS)]:
            writer.result()
        done.set()
        reads = sum(reader.result() for reader in readers)
    assert reads > 0
    assert torn == [], f"{len(torn)} of {reads} reads saw half an UpdateItem, e.g. {torn[0]}"


def test_of_concurrent_conditional_puts_of_one_key_exactly_one_succeeds(instance: Instance) -> None:
    """``attribute_not_exists`` on a key is checked and written as one step (the idempotency-key store needs it)."""
    dynamodb = client(instance, "dynamodb", Config(max_pool_connections=8))
    rounds, contenders = 40, 6

    def claim(round_: int, contender: int) -> bool:
        try:
            dynamodb.put_item(
                TableName=TABLE,
                Item={"pk": {"S": f"claim-{round_}"}, "owner": {"N": str(contender)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False
        return True

    with ThreadPoolExecutor(contenders) as pool:
        for round_ in range(rounds):
            won = list(pool.map(lambda contender: claim(round_, contender), range(contenders)))  # noqa: B023
            assert sum(won) == 1, (round_, won)
            owner = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"claim-{round_}"}})["Item"]["owner"]
            assert won[int(owner["N"])], (round_, won, owner)


def test_the_module_instance_is_stopped_and_cleaned_afterwards(instance: Instance) -> None:
    # Runs last in this module: the module fixture is torn down after it; running_in() checks it is gone.
    assert localstack.is_localstack(instance.pid)
