"""Why a promotion stops, as one sentence and a distinct exit status per reason.

Every refusal happens before ``terraform apply`` runs (or, for drift and the post-deploy suite, after it
and before the run is recorded as applied). The statuses are stable: CI jobs and people branch on them.
"""

from __future__ import annotations

from enum import IntEnum

from pipeline.core.errors import PipelineError


class Reason(IntEnum):
    """Exit status of ``python -m pipeline promote`` per refusal (1 stays "any other pipeline error")."""

    DIRTY_TREE = 10
    UNDECLARED_ENVIRONMENT = 11
    NO_EVIDENCE = 12
    WAIVER_EXPIRED = 13
    NO_CREDENTIALS = 14
    WRONG_ACCOUNT = 15
    BACKEND_UNREACHABLE = 16
    PLAN_POLICY_FAILED = 17
    REPLACE_NOT_ALLOWED = 18
    APPROVAL_MISMATCH = 19
    PLAN_STALE = 20
    SELF_APPROVAL = 21
    APPLY_FAILED = 22
    INTEGRATION_FAILED = 23
    DRIFT = 24
    AUDIT_TRAIL_BROKEN = 25


class Refusal(PipelineError):
    """A promotion refused for ``reason``; ``str()`` is the one sentence shown to the user."""

    def __init__(self, reason: Reason, sentence: str) -> None:
        super().__init__(sentence)
        self.reason = reason

    @property
    def status(self) -> int:
        return int(self.reason)
