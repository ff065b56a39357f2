"""CloudWatch metric alarms evaluated every few seconds on their own window, instead of once per window.

What LocalStack 2026.3 does (``localstack/services/cloudwatch/alarm_scheduler.py``,
``AlarmScheduler.schedule_metric_alarm``): each alarm gets a fixed-rate task of period
``EvaluationPeriods * Period`` counted from the alarm's creation, so an alarm with a 60 s period created
during the deploy looks at its metric for the first time up to 60 s after the breach (45 s measured in the
e2e run: most of the poison message test's wait for its alarm).

What AWS does: "CloudWatch evaluates alarms about every minute" on a sliding window of the last
``EvaluationPeriods`` periods, whatever the period (AWS CloudWatch User Guide, "Evaluating an alarm";
"Using Amazon CloudWatch alarms").

What the patch changes: only how often LocalStack runs its own evaluation (``calculate_alarm_state``,
unchanged: same window, statistic, threshold, missing-data treatment and state transitions, so the deployed
alarm definitions mean the same). The task runs every ``PAYGATE_CLOUDWATCH_ALARM_EVALUATION_SECONDS``
(set by ``pipeline.localstack.instance.build_env``), or the alarm's own ``EvaluationPeriods * Period`` when
that is shorter. Evaluating the same sliding window more often than AWS's minute only moves a transition to
the first evaluation after the data arrived; it cannot produce a state the window does not hold.

Registered as the hook ``paygate_alarm_evaluation`` in ``localstack.hooks.on_infra_start``; applied when
LocalStack imports the scheduler (wrapt's post-import hook), before any alarm is created.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType
from typing import Any

from localstack.runtime import hooks
from wrapt.importer import register_post_import_hook

LOG = logging.getLogger(__name__)
INTERVAL_ENV = "PAYGATE_CLOUDWATCH_ALARM_EVALUATION_SECONDS"
MODULE = "localstack.services.cloudwatch.alarm_scheduler"
PATCHED = "_paygate_evaluation_interval"


def interval_seconds() -> float | None:
    """The evaluation interval from ``PAYGATE_CLOUDWATCH_ALARM_EVALUATION_SECONDS``; None when unset or not > 0."""
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    try:
        seconds = float(raw) if raw else 0.0
    except ValueError:
        LOG.warning("%s=%r is not a number of seconds; alarms keep LocalStack's schedule", INTERVAL_ENV, raw)
        return None
    return seconds if seconds > 0 else None


def patch(module: ModuleType) -> None:
    """Reschedule every metric alarm at ``min(interval, EvaluationPeriods * Period)`` seconds (idempotent)."""
    scheduler_class = module.AlarmScheduler
    if getattr(scheduler_class, PATCHED, None) is not None:
        return
    interval = interval_seconds()
    if interval is None:
        return

    def schedule_metric_alarm(self: Any, alarm_arn: str) -> None:
        details = module.get_metric_alarm_details_for_alarm_arn(alarm_arn)
        self.delete_scheduler_for_alarm(alarm_arn)
        if not details:
            LOG.warning("Scheduling alarm failed: could not find alarm %s", alarm_arn)
            return
        if not self._is_alarm_supported(details):
            LOG.warning("Given alarm configuration not yet supported, alarm state will not be evaluated.")
            return
        window = details["EvaluationPeriods"] * details["Period"]
        self.scheduled_alarms[alarm_arn] = self.scheduler.schedule(
            func=module.calculate_alarm_state,
            period=min(interval, window),
            fixed_rate=True,
            args=[alarm_arn],
            on_error=lambda error: LOG.error("Error executing scheduled alarm: %s", error),
        )

    scheduler_class.schedule_metric_alarm = schedule_metric_alarm
    setattr(scheduler_class, PATCHED, interval)


@hooks.on_infra_start()
def paygate_alarm_evaluation() -> None:
    register_post_import_hook(patch, MODULE)
