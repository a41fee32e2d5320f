# dvlab tasks. `make` or `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DB     ?= lab.duckdb
SAMPLE ?= sample
SIM    ?= simulation
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

demo: venv ## simulate a site failover, load it into $(DB), answer the status questions, render the incident report
	rm -rf $(DB) $(DB).wal $(SIM)
	$(BIN)/dvlab simulate --scenario site-failover --seed 7 --out $(SIM)
	$(BIN)/dvlab --db $(DB) ingest $(SIM)/logs $(SIM)/events \
	  $(SIM)/tasks/tasks.parquet $(SIM)/tasks/task_transitions.parquet
	$(BIN)/dvlab --db $(DB) status --at $$($(BIN)/python -c "import json, sys; \
	  print(next(m['at'] for m in json.load(open(sys.argv[1]))['moments'] if m['name'] == 'links-down'))" \
	  $(SIM)/truth.json) --out $(SIM)/status.txt
	head -n 40 $(SIM)/status.txt
	$(BIN)/dvlab --db $(DB) report incident-timeline -p id=$$($(BIN)/dvlab --db $(DB) sql \
	  "SELECT correlation_id FROM logs WHERE level = 'error' ORDER BY ts LIMIT 1" --format csv | tail -n 1)

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

bench: venv ## benchmarks: JSON-lines ingest (2,000,000 records), the large platform simulation end to end, the live loaders on real servers (1,000,000 PostgreSQL rows, 200,000 NATS messages), and a day of Prometheus scrapes (1,000 files)
	$(BIN)/python -m benchmarks.ingest_json
	$(BIN)/python -m benchmarks.platform --scale large
	$(BIN)/python -m benchmarks.live
	$(BIN)/python -m benchmarks.scrapes

bench-quick: venv ## the same, smaller: 200,000 records, the medium simulation, 100,000 rows and 20,000 messages, 100 scrapes
	$(BIN)/python -m benchmarks.ingest_json --records 200000
	$(BIN)/python -m benchmarks.platform --scale medium
	$(BIN)/python -m benchmarks.live --pg-rows 100000 --nats-messages 20000
	$(BIN)/python -m benchmarks.scrapes --scrapes 100

lab: venv ## start JupyterLab on notebooks/ with $(DB)
	$(BIN)/dvlab --db $(DB) lab

clean: ## remove the virtualenv, generated data and reports
	rm -rf $(VENV) $(SAMPLE) $(SIM) benchmarks/data reports/*/ $(DB) $(DB).wal
