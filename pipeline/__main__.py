"""``python -m pipeline <command>``."""

import sys

from pipeline.cli import interrupt_on_sigterm, main

interrupt_on_sigterm()
sys.exit(main())
