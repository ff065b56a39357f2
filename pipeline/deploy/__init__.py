"""Deploy: ``terraform apply`` of the artifact the policy gate passed onto a running LocalStack, the
outputs the suites read, and ``terraform destroy`` (``apply``)."""
