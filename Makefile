# hyperparameter-tuner: the two commands of the README, and their parts.
#   make example   install into .venv, write the example splits, tune both examples locally
#   make test      install into .venv (+ checker tools in .tools/), lint, type-check, scan, `sam build` and check the
#                  trainer package against its size budget, run every test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PY313 := $(shell pyenv root 2>/dev/null)/versions/3.13.0/bin
SAM_BUILD_DIR := $(CURDIR)/.aws-sam/build

.PHONY: install example test lint typecheck scan pytest tools build size clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

examples/data/iris.npz examples/data/digits.npz: examples/make_data.py | $(STAMP)
	$(BIN)/python examples/make_data.py

example: $(STAMP) examples/data/iris.npz examples/data/digits.npz
	$(BIN)/hpt run examples/iris.yaml --data examples/data/iris.npz
	$(BIN)/hpt run examples/diabetes.yaml --data examples/data/diabetes
	$(BIN)/hpt run examples/halving.yaml --data examples/data/digits.npz

tools:
	bash .ci/tools.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/cfn-lint template.yaml

# [tool.mypy] in pyproject.toml checks the package, functions/, benchmarks/ and tests/. The second run holds what the
# first cannot: tests/template/conftest.py (a second top-level `conftest` next to tests/functional's), and the two
# benchmarks the tests import as benchmarks.* (checked there too), here as the scripts they also are.
typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy tests/template/conftest.py benchmarks/scale.py benchmarks/transitions.py

scan: tools
	SAM_CLI_TELEMETRY=0 .tools/sam/bin/sam validate --lint --region us-east-1
	.tools/cfn-lint/bin/cfn-lint -t template.yaml -a cfn_lint_serverless.rules
	.tools/checkov/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

pytest: $(STAMP)
	AWS_EC2_METADATA_DISABLED=true $(BIN)/python -m pytest -n 2 -q

# The size budget is a step of its own, on the build `make build` just made; the test run then reuses that build
# (HPT_SAM_BUILD_DIR) instead of building again. Without CI set, a missing tool skips its test; with CI, it fails.
test: export HPT_SAM_BUILD_DIR := $(SAM_BUILD_DIR)
test: $(STAMP) tools lint typecheck scan size pytest

build: tools
	PATH="$(PY313):$$PATH" SAM_CLI_TELEMETRY=0 .tools/sam/bin/sam build --region us-east-1 --build-dir $(SAM_BUILD_DIR)

size: $(STAMP) build
	HPT_SAM_BUILD_DIR=$(SAM_BUILD_DIR) AWS_EC2_METADATA_DISABLED=true $(BIN)/python -m pytest -q -p no:xdist \
		tests/template/test_package_size.py::test_budget_leaves_room_under_the_lambda_limit \
		tests/template/test_package_size.py::test_trainer_package_within_budget \
		tests/template/test_tools.py::test_sam_build_trainer_fits_lambda_size_limit

clean:
	rm -rf .hpt .aws-sam examples/data .pytest_cache .mypy_cache .ruff_cache
