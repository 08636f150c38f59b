# imagegen — the two commands a newcomer needs: `make demo` and `make test`.
# Everything is installed from this repository's own files into .venv (project) and
# .venv-tools (checkov, which pins its own fork of the hcl2 module; the stand-in providers
# of `make validate` in .venv-tools/standin, with the provider schemas in .venv-tools/tfschemas).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TOOLS  := .venv-tools
STANDIN := $(TOOLS)/standin
CHECKOV_VERSION := 3.3.30
# ?=: a CHECKOV given by the caller wins (and then is not installed again here).
CHECKOV ?= $(abspath $(TOOLS))/bin/checkov
export CHECKOV
export TFSTANDIN_PYTHON := $(abspath $(STANDIN))/bin/python
# Google's own SDK, the wire reference for Vertex requests (tests/unit/test_genai_parity.py),
# and the openai SDK: the clients tests/sdk drives against the local stack (issue 28).
# Dev only, in their own venv: google-cloud-aiplatform 2.7.0 pins google-genai<3.
GENAI  := .venv-genai
GENAI_VERSION := 3.6.1
OPENAI_VERSION := 3.63.0
export IMAGEGEN_GENAI_PYTHON := $(abspath $(GENAI))/bin/python

.PHONY: help install tools browser demo test lint unit integration e2e faults terraform-check validate rehearse bench up down clean screenshots

help:
	@echo "make demo     start the local stack, run three jobs, write images to ./out, stop"
	@echo "make test     lint + unit + integration + end-to-end + terraform checks"
	@echo "make bench    benchmarks (writes bench/RESULTS.md)"
	@echo "make up/down  start/stop the local stack by hand (prints the studio's URL)"
	@echo "make validate terraform validate offline (stand-in providers serving the real schemas)"
	@echo "make rehearse cloudbuild.yaml's steps in order, offline (REHEARSE_ARGS=--skip-tests)"

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs Python 3.11+ as $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

$(TOOLS)/.installed:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q --upgrade pip
	@if [ "$(CHECKOV)" = "$(abspath $(TOOLS))/bin/checkov" ]; then \
	  $(TOOLS)/bin/pip install -q checkov==$(CHECKOV_VERSION); \
	else echo "using CHECKOV=$(CHECKOV)"; fi
	@touch $@

# The stand-in providers' environment, and the provider schemas taken from the prebuilt
# CDK-for-Terraform bindings on PyPI (the only download; validate itself is offline).
$(STANDIN)/.installed: tools/tfstandin/requirements.txt terraform/versions.tf terraform/examples/deploy/versions.tf tools/tfstandin/catalog.py
	$(PYTHON) -m venv $(STANDIN)
	$(STANDIN)/bin/pip install -q -r tools/tfstandin/requirements.txt
	$(STANDIN)/bin/python -m tools.tfstandin fetch terraform/examples/deploy
	@touch $@

$(GENAI)/.installed: Makefile
	$(PYTHON) -m venv $(GENAI)
	$(GENAI)/bin/pip install -q --upgrade pip
	$(GENAI)/bin/pip install -q google-genai==$(GENAI_VERSION) openai==$(OPENAI_VERSION)
	@touch $@

install: $(VENV)/.installed browser
# The studio's browser tests (tests/browser) drive Debian's chromium through Playwright; no
# browser is ever downloaded by Playwright itself. Installed only when missing, as root;
# part of `install`, so `make test` (tests/browser) and `make demo` (its screenshot) have it.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else echo "tests/browser need Debian's chromium: sudo apt-get install -y chromium chromium-driver"; fi
tools: $(TOOLS)/.installed $(STANDIN)/.installed $(GENAI)/.installed

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

unit: install tools
	$(PY) -m pytest tests/unit

integration: install
	$(PY) -m pytest tests/integration

e2e: install
	$(PY) -m pytest tests/e2e tests/faults

terraform-check: install tools
	$(PY) -m pytest tests/terraform

# The whole suite, in two parts side by side (scripts/test_parts.py): the tests that share
# the one local stack (started once), and beside them the ones that need none.
test: install tools lint
	$(PY) scripts/test_parts.py

demo: install
	$(PY) -m devstack.demo

# Refresh the studio screenshots committed in docs/studio from a browser-test run.
screenshots: install
	STUDIO_SCREENSHOTS=docs/studio $(PY) -m pytest tests/browser -q

bench: install
	$(PY) -m bench

up: install
	$(PY) -m devstack up

down: install
	$(PY) -m devstack down

validate: tools
	scripts/validate_terraform.sh

# cloudbuild.yaml's steps in order, offline, stopping at the first that would fail
# (tools/tfstandin/rehearse.py; docs/deploy.md, "Rehearse the pipeline").
REHEARSE_ARGS ?=
rehearse: install tools
	$(PY) -m tools.tfstandin.rehearse $(REHEARSE_ARGS)

clean:
	-$(PY) -m devstack down
	rm -rf $(VENV) $(TOOLS) $(GENAI) .devstack out .pytest_cache .ruff_cache
