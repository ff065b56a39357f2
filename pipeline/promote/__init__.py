"""Gated promotion: saved plan, approval bound to its hash, apply, post-deploy suite, drift, audit trail."""
