"""Harness for the pipeline steps (toolchain, packaging, terraform checks), run as ``python -m pipeline``."""
