"""Plugins for the host-mode LocalStack (no Docker); installed ``--no-deps`` into LocalStack's own virtualenv.

Only importable there (they import ``localstack``), never from the project venv: ruff lints them,
mypy does not check them.
"""
