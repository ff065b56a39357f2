"""The floor for synth: load the AWS provider binding and synthesize a stack holding only the provider."""

from __future__ import annotations

import sys

from cdktf import App, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider


def main(outdir: str) -> None:
    app = App(outdir=outdir)
    stack = TerraformStack(app, "floor")
    AwsProvider(stack, "aws", region="us-east-1")
    app.synth()


if __name__ == "__main__":
    main(sys.argv[1])
