# The doors into pagemill. `make run` and `make test` set up a fresh Debian machine (as root).
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PATH := $(HOME)/.local/bin:$(PATH)

.PHONY: help setup services run test lint check schema check-schema migrations \
	check-migrations openapi check-openapi bench docker

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: ## Install system packages, uv and the virtual environment (what is missing)
	@scripts/bootstrap.sh

services: setup ## Start PostgreSQL and Redis on loopback unless they already answer
	@scripts/services.sh

run: setup ## Serve the API with the embedded worker, SQLite and in-memory broker
	uv run pagemill serve

test: services ## Run the whole test suite against the real PostgreSQL and Redis
	uv run pytest

lint: setup ## ruff check, ruff format --check, mypy, import-linter (layers, no circles)
	uv run ruff check .
	uv run ruff format --check .
	uv run mypy .
	uv run lint-imports

check: check-migrations check-schema check-openapi ## Fail when generated files drift from the code

schema: setup ## Regenerate schema.graphql from the code
	uv run python -m gql.schema > schema.graphql.tmp
	mv schema.graphql.tmp schema.graphql

check-schema: setup ## Fail when schema.graphql differs from the code
	@if [ -f gql/schema.py ]; then \
		uv run python -m gql.schema | diff -u schema.graphql - \
			|| { echo "schema.graphql is stale: run make schema" >&2; exit 1; }; \
	fi

openapi: setup ## Regenerate openapi.json (the REST face) from the code
	uv run python -m gql.openapi_export > openapi.json.tmp
	mv openapi.json.tmp openapi.json

check-openapi: setup ## Fail when openapi.json differs from the code
	uv run python -m gql.openapi_export | diff -u openapi.json - \
		|| { echo "openapi.json is stale: run make openapi" >&2; exit 1; }

migrations: setup ## Write the next aerich migration for PostgreSQL and SQLite (NAME=...)
	uv run python -m models.migrate generate $(or $(NAME),update)

check-migrations: setup ## Fail when the models differ from the latest migrations
	uv run python -m models.migrate check

bench: services ## Run the benchmarks
	@if [ -f bench/__main__.py ]; then uv run python -m bench; \
	elif [ -f bench/run.py ]; then uv run python bench/run.py; \
	else echo "no benchmark yet (bench/run.py)" >&2; exit 1; fi

docker: ## Build the image (needs a Docker engine)
	docker build -t pagemill .
