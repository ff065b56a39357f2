"""Entry point: the only place that reads the environment; builds the config and synthesizes.

The environment named by ``PAYGATE_ENVIRONMENT`` is read from ``environments/<name>.toml`` beside this
file; ``PAYGATE_*`` overrides are applied and reported on stderr, with the environment synthesized.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

from stacks.config import ENVIRONMENTS_DIR, ConfigError, load

REPO_ROOT = Path(__file__).resolve().parent


def main() -> int:
    try:
        loaded = load(os.environ, REPO_ROOT / ENVIRONMENTS_DIR)
    except ConfigError as error:
        print(f"paygate: configuration error: {error}", file=sys.stderr)
        return 2
    config = loaded.config
    print(
        f"paygate: environment {config.environment} from {loaded.file.display}: kind {config.kind}, "
        f"account {config.account_id}, region {config.region}, deletion protection "
        f"{'on' if config.deletion_protection else 'off'}",
        file=sys.stderr,
    )
    for line in loaded.report():
        print(f"paygate: {line}", file=sys.stderr)
    # Imported after validation: loading the provider binding costs ~10 s, not worth paying for a typo.
    from cdktf import App

    from stacks.constants import STACK_NAME
    from stacks.payment_stack import PaymentPlatformStack

    app = App(outdir=os.environ.get("PAYGATE_OUTDIR", "cdktf.out"))
    try:
        PaymentPlatformStack(app, STACK_NAME, config=config)
    except ConfigError as error:
        print(f"paygate: configuration error: {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    status = main()
    # The binding's ~4,500 modules stay loaded until exit, where CPython's final garbage collection walks them
    # all (~3 of a synth's ~14 CPU seconds). Nothing is left to collect: freeze the heap so that walk is skipped.
    gc.freeze()
    sys.exit(status)
