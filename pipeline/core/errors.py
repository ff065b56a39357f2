"""The one error type the CLI turns into a clear message and exit status 1."""


class PipelineError(Exception):
    """A step cannot go on; the message is one sentence saying what is wrong and what to do."""
