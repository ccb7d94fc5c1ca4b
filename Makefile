# Jingkai Hub — every target sets up what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
export HUB_HOME ?= $(CURDIR)/var

.PHONY: install run test lint bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalls only when the project or its lock changes.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt -e '.[dev,airflow]'
	touch $@

install: $(STAMP)

run: install
	BIN=$(BIN) HOST=$(HOST) PORT=$(PORT) WORKERS=$(WORKERS) bash scripts/run.sh

# PostgreSQL and RabbitMQ: CI exports HUB_TEST_POSTGRES_URL and HUB_TEST_AMQP_URL (.ci/run);
# otherwise start local ones if we can.
test: install
	@if [ -z "$$HUB_TEST_POSTGRES_URL" ]; then \
	  url=$$(bash scripts/ci-postgres.sh 2>/dev/null) || echo "PostgreSQL unavailable: its tests will skip"; \
	  export HUB_TEST_POSTGRES_URL=$$url; fi; \
	if [ -z "$$HUB_TEST_AMQP_URL" ]; then \
	  url=$$(bash scripts/ci-rabbitmq.sh 2>/dev/null) || echo "RabbitMQ unavailable: its tests will skip"; \
	  export HUB_TEST_AMQP_URL=$$url; fi; \
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check hub tests bench dags
	$(BIN)/ruff format --check hub tests bench dags
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/mapping.py
	$(BIN)/python bench/soap.py
	$(BIN)/python bench/flow.py

# Regenerate the lock after changing dependencies in pyproject.toml.
lock: | $(BIN)/python
	$(BIN)/python -m pip install -q uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra airflow -p 3.11 \
	  --no-header --no-annotate -o constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
