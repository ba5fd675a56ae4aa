# Boucle — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: run test provision provision-test lint schema bench

run: provision
	scripts/run.sh

test: provision-test
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/python -m pytest -q -p no:randomly

provision:
	scripts/provision.sh

provision-test:
	scripts/provision.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

# Regenerates the committed OpenAPI document (CI fails when it drifts from the code).
schema:
	$(PY) manage.py spectacular --file openapi.yaml --validate

# Search, matching and statistics benchmarks; N offers (default 1,000,000). Results: benchmarks/results/
N ?= 1000000
bench: provision
	$(PY) -m benchmarks.run --offers $(N)
