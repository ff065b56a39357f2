"""LocalStack as a managed component on the host, no Docker: its own Python 3.13 venv from a hashed lock
(``venv``), and one instance per directory, started, health-checked and stopped (``instance``)."""
