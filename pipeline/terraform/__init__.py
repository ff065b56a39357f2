"""Terraform without a cloud: the CLI configuration for the provider mirror (``tfconfig``), offline
``init`` + ``validate`` against the committed lock file (``validate``) and the offline ``plan`` with a
local STS stub whose JSON the policy gate reads (``offline_plan``)."""
