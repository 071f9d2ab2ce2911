PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-ui dev bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/distillery demo $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test-ui: $(STAMP)
	$(BIN)/pytest -m ui $(PYTEST_ARGS)

dev: $(STAMP)
	$(BIN)/distillery dev

BENCHES := ingest distill embeddings archive cache erasure

# Each bench appends its headline figures to a fresh file; report.py renders them as one table.
# The lifecycle bench comes last: with --scale it runs 100K, 1M and 5M signals/day end to end.
bench: $(STAMP)
	results=$$(mktemp) && trap 'rm -f "$$results"' EXIT && \
	for bench in $(BENCHES); do DISTILLERY_BENCH_RESULTS="$$results" $(BIN)/python bench/$$bench.py || exit 1; done && \
	DISTILLERY_BENCH_RESULTS="$$results" $(BIN)/python bench/lifecycle.py --scale && \
	$(BIN)/python bench/report.py "$$results" --command "make bench" --out bench/RESULTS.md

bench-quick: $(STAMP)
	results=$$(mktemp) && trap 'rm -f "$$results"' EXIT && \
	for bench in $(BENCHES) lifecycle; do DISTILLERY_BENCH_RESULTS="$$results" $(BIN)/python bench/$$bench.py --quick || exit 1; done && \
	$(BIN)/python bench/report.py "$$results" --command "make bench-quick"

clean:
	rm -rf $(VENV) .distillery
