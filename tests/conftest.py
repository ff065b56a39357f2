"""Settings shared by every test suite."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Timing is not a property: on a loaded 2-core CI machine an example may take longer than
# Hypothesis' default 200 ms deadline, or data generation may look "too slow", without anything
# being wrong. Speed is measured by the benchmarks, not by tests.
settings.register_profile(
    "paygate",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("paygate")
