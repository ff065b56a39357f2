"""Evidence per artifact: what the pipeline proved about one artifact digest, signed and re-checkable.

Owns ``build/evidence/<env>/<artifact_sha256>/``: the policy verdict and reports, the JUnit XML of the
unit suites and of the e2e suite, the e2e summary, and ``manifest.dsse.json`` (an in-toto Statement v1
in a DSSE envelope, ed25519) tying them to the artifact's files and to the commit.

- ``signing``: the signing key (a CI key from configuration, else a throwaway local key), trust, DSSE.
- ``predicate``: the in-toto Statement and its predicate (the verdicts), parsed strictly.
- ``bundle``: collects a step's evidence into the bundle and re-signs the manifest (``evidence sign``).
- ``verify``: re-hashes a freshly synthesized artifact and checks a bundle against it
  (``evidence verify``); ``require_promotable`` is what the promote command calls.

The audit trail of promote runs uses the same signing: ``pipeline.promote.audit``.
"""
