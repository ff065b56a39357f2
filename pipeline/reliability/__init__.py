"""Reliability of a deployed paygate (LocalStack or AWS), judged from what it stored: the payment invariants
(``invariants``: every accepted payment ends or is dead-lettered with its alarm raised, its audit trail follows
the lifecycle, one payment per idempotency key, a notification per final transition), checked by
``python -m pipeline invariants`` and through :func:`pipeline.reliability.invariants.check_invariants` by tests."""
