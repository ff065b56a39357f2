"""Synthesized-stack fixtures shared by the stack tests and the policy pack's self-tests.

One process synthesizes every stack (the provider import costs ~10 s). The default stack is
synthesized once per session; tests read its ``cdk.tf.json`` through ``Synthesized``. Lambda
archives are small deterministic zips, different per function, so a test can tell one function's
``source_code_hash`` from another's.

Only the folders whose tests load the provider binding (``PROVIDER_FOLDERS``) import it, before
their modules are collected; the other unit suites (pipeline, handlers, contracts) never pay for it.
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stacks.config import PlatformConfig
from stacks.constants import FUNCTION_HANDLERS, STACK_NAME
from tests.unit.background import BackgroundJobs, Job, jobs_used_by

# Before anything loads jsii (the cdktf imports below are lazy): node 20 is fine here.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def _import_provider_untraced() -> None:
    """Under coverage, import the provider binding with the tracer paused (10 s instead of ~95 s).

    Coverage measures only our packages, but its tracer (the C tracer: Python 3.12 cannot measure
    branches with sys.monitoring) still runs on every Python call, and importing the binding's
    ~2,100 generated modules makes tens of millions of them. None of our code runs during this
    import, so pausing the tracer loses no measurement. Without coverage nothing happens here and
    the pure tests (config, naming) never load the provider.
    """
    import coverage

    current = coverage.Coverage.current()
    if current is None:
        return
    current.stop()
    try:
        import cdktf  # noqa: F401
        import cdktf_cdktf_provider_aws  # noqa: F401
    finally:
        current.start()


PROVIDER_FOLDERS = frozenset({"stacks", "policies"})


def will_collect(folder: Path, args: list[str], invocation_dir: Path) -> bool:
    """Whether a run with these command-line ``args`` collects tests of ``folder``: an argument names the folder,
    a path inside it, or a folder above it (``tests/unit`` collects every suite)."""
    for arg in args:
        target = (invocation_dir / arg.split("::", 1)[0]).resolve()
        if target == folder or folder in target.parents or target in folder.parents:
            return True
    return False


def pytest_collect_directory(path: Path, parent: pytest.Collector) -> None:
    """Load the provider (coverage paused) before the first folder whose test modules import it.

    pytest calls this hook for every folder of ``tests/unit`` when it collects any one of them (it makes a node
    for each, then descends only into the selected ones), so the selection is checked: the handler and pipeline
    suites imported the binding under coverage for nothing (~15 s of CPU each).
    """
    config = parent.config
    if (
        path.name in PROVIDER_FOLDERS
        and path.parent == Path(__file__).parent
        and will_collect(path.resolve(), list(config.args), config.invocation_params.dir)
    ):
        _import_provider_untraced()


ACCOUNT_TOKEN = "${data.aws_caller_identity.caller.account_id}"
PARTITION_TOKEN = "${data.aws_partition.partition.partition}"
DEFAULT_SETTINGS: dict[str, Any] = {
    "environment": "dev",
    "region": "eu-west-1",
    "state_bucket": "paygate-terraform-state",
    "state_region": "eu-west-1",
    "kind": "localstack",
    "account_id": "000000000000",
}
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def write_dummy_archives(directory: Path) -> dict[str, Path]:
    """One deterministic zip per function (fixed timestamps, content naming the function)."""
    directory.mkdir(parents=True, exist_ok=True)
    archives = {}
    for key in FUNCTION_HANDLERS:
        path = directory / f"{key}.zip"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            info = zipfile.ZipInfo(f"lambdas/{key}/handler.py", date_time=_ZIP_DATE)
            archive.writestr(info, f"def handler(event, context):\n    return {{'function': {key!r}}}\n")
        archives[key] = path
    return archives


@dataclass(repr=False)
class Synthesized:
    """One synthesized stack: the config it came from, the construct tree and ``cdk.tf.json``."""

    config: PlatformConfig
    stack: Any
    text: str
    doc: dict[str, Any] = field(init=False)

    ACCOUNT = ACCOUNT_TOKEN
    PARTITION = PARTITION_TOKEN

    def __post_init__(self) -> None:
        self.doc = json.loads(self.text)

    def __repr__(self) -> str:  # keeps failure reports readable (the JSON is ~100 KB)
        return f"Synthesized(environment={self.config.environment!r}, region={self.config.region!r})"

    # --- resources -------------------------------------------------------------------------------
    def resources(self, rtype: str) -> dict[str, dict[str, Any]]:
        return dict(self.doc["resource"].get(rtype, {}))

    def only(self, rtype: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(rtype)
        assert len(found) == 1, f"expected exactly one {rtype}, found {sorted(found)}"
        return next(iter(found.items()))

    def named(self, rtype: str, name: str, attribute: str = "name") -> tuple[str, dict[str, Any]]:
        """The one resource of ``rtype`` whose ``attribute`` equals ``name``."""
        found = [(rid, body) for rid, body in self.resources(rtype).items() if body.get(attribute) == name]
        assert len(found) == 1, f"expected one {rtype} with {attribute}={name!r}, found {len(found)}"
        return found[0]

    @staticmethod
    def ref(rtype: str, rid: str, attribute: str) -> str:
        """How cdk.tf.json refers to another resource's attribute."""
        return f"${{{rtype}.{rid}.{attribute}}}"

    def referenced(self, rtype: str, reference: str) -> tuple[str, dict[str, Any]]:
        """The resource of ``rtype`` a ``${<rtype>.<id>.<attribute>…}`` reference names (the inverse of ``ref``)."""
        prefix = f"${{{rtype}."
        assert reference.startswith(prefix), f"{reference!r} does not refer to a {rtype}"
        rid = reference.removeprefix(prefix).split(".", 1)[0]
        return rid, self.resources(rtype)[rid]

    def all_resources(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for rtype, items in self.doc["resource"].items():
            for rid, body in items.items():
                yield rtype, rid, body

    def arn(self, service: str, resource: str) -> str:
        """An ARN in this stack's account and region, as it appears (with tokens) in cdk.tf.json."""
        return f"arn:{PARTITION_TOKEN}:{service}:{self.config.region}:{ACCOUNT_TOKEN}:{resource}"

    # --- well-known resources of the default stack ---------------------------------------------
    @property
    def key_arn(self) -> str:
        rid, _ = self.only("aws_kms_key")
        return self.ref("aws_kms_key", rid, "arn")

    def function(self, key: str) -> tuple[str, dict[str, Any]]:
        """The Lambda function packaged from ``<key>.zip`` (found by its handler, not by its name)."""
        found = [
            (rid, body)
            for rid, body in self.resources("aws_lambda_function").items()
            if body["handler"] == FUNCTION_HANDLERS[key]
        ]
        assert len(found) == 1, f"expected one function with handler {FUNCTION_HANDLERS[key]}"
        return found[0]

    def queue(self, name: str) -> tuple[str, dict[str, Any]]:
        return self.named("aws_sqs_queue", f"{self.config.prefix}-{name}")

    def topic(self, name: str) -> tuple[str, dict[str, Any]]:
        return self.named("aws_sns_topic", f"{self.config.prefix}-{name}")

    def bucket(self, purpose: str) -> tuple[str, dict[str, Any]]:
        return self.named("aws_s3_bucket", f"{self.config.prefix}-{purpose}-{ACCOUNT_TOKEN}", "bucket")

    def attached_to_bucket(self, rtype: str, bucket_id: str) -> list[dict[str, Any]]:
        """Bucket sub-resources (versioning, SSE, ...) whose ``bucket`` is this bucket."""
        ref = self.ref("aws_s3_bucket", bucket_id, "id")
        return [body for body in self.resources(rtype).values() if body["bucket"] == ref]

    # --- policies --------------------------------------------------------------------------------
    @staticmethod
    def statements(policy: str) -> list[dict[str, Any]]:
        """Statements of a JSON policy with Action/Resource always as lists."""
        document = json.loads(policy)
        assert document["Version"] == "2012-10-17"
        result = []
        for statement in document["Statement"]:
            normalized = dict(statement)
            for key in ("Action", "Resource"):
                if key in normalized and isinstance(normalized[key], str):
                    normalized[key] = [normalized[key]]
            result.append(normalized)
        return result

    def statement(self, policy: str, sid: str) -> dict[str, Any]:
        found = [s for s in self.statements(policy) if s.get("Sid") == sid]
        assert len(found) == 1, f"expected one statement {sid}"
        return found[0]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Spare the interpreter's exit a ~3 s garbage-collector walk over the provider binding.

    The binding imports ~4,500 modules; at exit CPython's cyclic GC traverses all of them while
    tearing modules down. Nothing needs collecting by then, so the heap is frozen (excluded from
    GC). Reference counting still frees what it frees; only cycle collection is skipped.
    """
    gc.freeze()


BACKGROUND_JOBS = pytest.StashKey[list[Job]]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Note which background fixtures (tests/unit/background.py) the selected tests use."""
    session.config.stash[BACKGROUND_JOBS] = jobs_used_by(session.items)


@pytest.fixture(scope="session", autouse=True)
def background_jobs(request: pytest.FixtureRequest) -> Iterator[BackgroundJobs]:
    """Start every background fixture the session's tests use, when its first test starts (none: no threads)."""
    jobs = BackgroundJobs()
    for job in request.config.stash.get(BACKGROUND_JOBS, []):
        jobs.start(job, request)
    yield jobs
    jobs.close()


def _synthesize(config: PlatformConfig, outdir: Path) -> Synthesized:
    from cdktf import Testing

    from stacks.payment_stack import PaymentPlatformStack

    app = Testing.app(outdir=str(outdir))
    stack = PaymentPlatformStack(app, STACK_NAME, config=config)
    return Synthesized(config=config, stack=stack, text=Testing.synth(stack))


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("artifacts")
    write_dummy_archives(directory)
    return directory


@pytest.fixture(scope="session")
def make_config(artifacts_dir: Path) -> Callable[..., PlatformConfig]:
    """A valid config with the dummy archives; keyword arguments override the defaults."""

    def factory(**overrides: Any) -> PlatformConfig:
        return PlatformConfig(**{**DEFAULT_SETTINGS, "artifacts_dir": artifacts_dir, **overrides})

    return factory


@pytest.fixture(scope="session")
def synthesize(tmp_path_factory: pytest.TempPathFactory) -> Callable[[PlatformConfig], Synthesized]:
    """Synthesize a stack for ``config`` into a fresh output dir (safe to call from hypothesis examples)."""
    base = tmp_path_factory.mktemp("synth")

    def run(config: PlatformConfig) -> Synthesized:
        return _synthesize(config, Path(tempfile.mkdtemp(dir=base)))

    return run


@pytest.fixture(scope="session")
def default_config(make_config: Callable[..., PlatformConfig]) -> PlatformConfig:
    return make_config()


@pytest.fixture(scope="session")
def stack(default_config: PlatformConfig, synthesize: Callable[[PlatformConfig], Synthesized]) -> Synthesized:
    """The default (dev) stack, synthesized once for the whole session."""
    return synthesize(default_config)


@pytest.fixture(scope="session")
def protected_stack(
    make_config: Callable[..., PlatformConfig], synthesize: Callable[[PlatformConfig], Synthesized]
) -> Synthesized:
    """A production-like stack: deletion protection, a commit tag, longer retention, custom limits."""
    from stacks.config import FunctionLimits

    return synthesize(
        make_config(
            environment="prod",
            region="us-west-2",
            state_region="us-east-1",
            kind="aws",
            account_id="222222222222",
            deletion_protection=True,
            commit="0123abc",
            log_retention_days=731,
            api_rate_limit=25.0,
            api_burst_limit=40,
            api_quota_per_day=5_000,
            functions={
                "payment_processor": FunctionLimits(memory_mb=1024, timeout_seconds=120, reserved_concurrency=15)
            },
        )
    )
