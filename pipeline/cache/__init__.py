"""Content keys of a step's inputs, and unit suites whose results are reused only for the exact same inputs.

``inputs``: the sha256 of every file git would see under the repository (tracked and untracked, not
ignored; by content and executable bit, never by mtime) less the paths a step declares it does not read,
plus the tool versions and the environment variables the step depends on. ``suite``: run one pytest
process, or reuse its JUnit report and coverage data recorded for the same key.
"""
