# dvlab tasks. `make` or `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DB     ?= lab.duckdb
SAMPLE ?= sample
LINTED := $(wildcard dvlab tests benchmarks)

.DEFAULT_GOAL := help
.PHONY: help venv demo test lint typecheck bench bench-quick lab clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/dvlab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(BIN)/dvlab ## create .venv and install dvlab with its test tools

demo: venv ## generate sample logs, load them into $(DB), render the incident report
	rm -f $(DB) $(DB).wal
	$(BIN)/dvlab sample --out $(SAMPLE)
	$(BIN)/dvlab --db $(DB) ingest $(SAMPLE)
	$(BIN)/dvlab --db $(DB) report incident-timeline -p id=$$($(BIN)/dvlab --db $(DB) sql \
	  "SELECT correlation_id FROM logs WHERE level = 'error' AND service = 'provisioning' ORDER BY ts LIMIT 1" --format csv | tail -n 1)

test: venv ## lint, type-check and run the whole test suite
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: venv ## ruff check and format check only
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: venv ## mypy only
	$(BIN)/mypy

bench: venv ## ingest benchmark: dvlab vs DuckDB read_json (ceiling) vs pandas, 2,000,000 records
	$(BIN)/python -m benchmarks.ingest_json

bench-quick: venv ## the same with 200,000 records
	$(BIN)/python -m benchmarks.ingest_json --records 200000

lab: venv ## start JupyterLab on notebooks/ with $(DB)
	$(BIN)/dvlab --db $(DB) lab

clean: ## remove the virtualenv, generated data and reports
	rm -rf $(VENV) $(SAMPLE) benchmarks/data reports/*/ $(DB) $(DB).wal
