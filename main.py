"""Entry point: the only place that reads the environment; builds the config and synthesizes."""

from __future__ import annotations

import os
import sys

from stacks.config import ConfigError, from_environ


def main() -> int:
    try:
        config = from_environ(os.environ)
    except ConfigError as error:
        print(f"paygate: configuration error: {error}", file=sys.stderr)
        return 2
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
    sys.exit(main())
