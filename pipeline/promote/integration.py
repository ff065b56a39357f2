"""The post-deploy suite (``tests/integration``) run against the environment a promotion just applied.

The same suite runs against LocalStack and AWS; only the target options differ (``--target localstack
--endpoint <url> --account-id <12 digits>`` or ``--target aws --region <region>``). Resources are found
through the outputs the apply wrote (``build/promote/<env>/outputs.json``) and the artifact that was
applied. The run counts only when every test ran and passed: a failed, errored or skipped test refuses
the promotion as failed (the change is applied; the audit record says so).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.core.runner import CommandFailed, stream
from pipeline.core.settings import Settings
from pipeline.e2e.run import junit_counts
from pipeline.promote.refusals import Reason, Refusal
from pipeline.promote.target import Target

SUITE = "tests/integration"
TIMEOUT_S = 900.0


def command(target: Target, outputs: Path, artifact_dir: Path, junit: Path) -> list[str]:
    """The pytest command line for ``target``."""
    args = [
        sys.executable, "-m", "pytest", SUITE, "-p", "no:cacheprovider", "-q", "-rfEs",
        "-W", "ignore::DeprecationWarning:botocore.auth",
        f"--junitxml={junit}", f"--outputs={outputs}", f"--artifact={artifact_dir}",
        f"--environment={target.environment}", f"--target={target.kind}",
    ]  # fmt: skip
    if target.emulated:
        args += [f"--endpoint={target.endpoint}", f"--account-id={target.account_id}"]
    else:
        args += [f"--region={target.region}"]
    return args


def run_suite(
    settings: Settings, target: Target, outputs: Path, artifact_dir: Path, junit: Path, progress: Callable[[str], None]
) -> None:
    """Run the suite; ``Refusal(INTEGRATION_FAILED)`` unless every test passed (none skipped)."""
    junit.parent.mkdir(parents=True, exist_ok=True)
    junit.unlink(missing_ok=True)
    try:
        stream(
            command(target, outputs, artifact_dir, junit),
            env=settings.child_env(),
            cwd=settings.repo_root,
            check="the post-deploy suite",
            timeout=TIMEOUT_S,
            on_line=lambda line: progress(f"  {line}") if line.strip() else None,
        )
        exit_status = 0
    except CommandFailed as failed:
        exit_status = failed.result.returncode
    counts = junit_counts(junit) if junit.is_file() else None
    if exit_status != 0 or counts is None or counts.failures or counts.errors or counts.skipped:
        shown = (
            f"{counts.tests} run, {counts.failures} failed, {counts.errors} errors, {counts.skipped} skipped"
            if counts
            else f"no JUnit report (exit {exit_status})"
        )
        raise Refusal(
            Reason.INTEGRATION_FAILED,
            f"the post-deploy suite failed against {target.environment}: {shown} (JUnit {junit}); "
            "the change is applied: fix forward or roll back with a new promotion.",
        )
    progress(f"post-deploy suite: {counts.tests} passed against {target.environment}")
