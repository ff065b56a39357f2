"""Promotion of a checked artifact to an environment, and its signed, hash-chained audit trail (``audit``)."""
