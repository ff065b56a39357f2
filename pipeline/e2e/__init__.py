"""``make localstack-e2e`` (``run``): the checked artifact on a fresh LocalStack, the e2e suite, teardown
that always runs, and a summary with phase timings, test counts and leftovers."""
