# Boucle — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: run test provision provision-test lint typecheck schema messages bench bench-bulk bench-scale profile fuzz

run: provision
	scripts/run.sh

test: provision-test
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/python -m pytest -q -p no:randomly

provision:
	scripts/provision.sh

provision-test:
	scripts/provision.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

# mypy with django-stubs and djangorestframework-stubs on the domain packages and api/ ([tool.mypy] in
# pyproject.toml), alone; `make test` runs it too.
typecheck:
	.venv/bin/mypy

# Regenerates the committed OpenAPI document (CI fails when it drifts from the code, or warns).
schema:
	$(PY) manage.py spectacular --file openapi.yaml --validate --fail-on-warn

# Schemathesis against the API served by gunicorn, as an association, a firm's API key and the city
# (also part of `make test`): tests/test_contract_fuzzing.py.
fuzz: provision-test
	$(PY) -m pytest -q -p no:randomly -rP tests/test_contract_fuzzing.py

# Refreshes locale/fr/LC_MESSAGES/django.po from the source; translate the new entries, then commit it
# (the compiled .mo files are not committed: provisioning compiles them).
messages:
	$(PY) manage.py makemessages -l fr --ignore=.venv --ignore=.local --ignore=tests --no-obsolete

# Search, matching and statistics benchmarks in a separate database (boucle_bench): N offers,
# NEEDS needs, HANDOVERS ledger rows (defaults below). BENCH_ARGS=--skip-generate reuses the data set.
# Results: benchmarks/results/
N ?= 1000000
HANDOVERS ?= 1000000
NEEDS ?= 100000
BENCH_ARGS ?=
bench: provision
	$(PY) -m benchmarks.run --offers $(N) --needs $(NEEDS) --handovers $(HANDOVERS) $(BENCH_ARGS)
	$(PY) -m benchmarks.bench_bulk

# POST offers/bulk/ through HTTP (new offers, updates, the 5,000-SKU nightly sync) in a small database
# of its own (boucle_bench_bulk, recreated each run): about a minute, no data set to generate.
bench-bulk: provision
	$(PY) -m benchmarks.bench_bulk

# Search at 100 k, 1 M and 5 M offers (each generated in turn in boucle_bench): the growth of the search
# SQL's p95 and of the two-level floor's. Results: benchmarks/results/scale-*.json
bench-scale: provision
	$(PY) -m benchmarks.scale

# Where a search's time goes in the server: py-spy samples one gunicorn worker serving searches from the
# bench database (run `make bench` first). PROFILE_ARGS="--path floor" profiles the framework floor.
# Results: benchmarks/results/profile-*
PROFILE_ARGS ?=
profile: provision
	$(PY) -m benchmarks.profile $(PROFILE_ARGS)
