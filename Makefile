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

# Quick runs check that every bench works, two at a time (each log is shown if it fails); their
# figures are small-size smoke figures, not the targets, which `make bench` measures on a quiet machine.
bench-quick: $(STAMP)
	logs=$$(mktemp -d) && trap 'rm -rf "$$logs"' EXIT && \
	printf '%s\n' $(BENCHES) lifecycle | xargs -P 2 -I{} sh -c \
		'DISTILLERY_BENCH_RESULTS="$$1/results.jsonl" $(BIN)/python bench/$$2.py --quick > "$$1/$$2.log" 2>&1 || { cat "$$1/$$2.log"; exit 255; }' \
		_ "$$logs" {} && \
	$(BIN)/python bench/report.py "$$logs/results.jsonl" --command "make bench-quick"

clean:
	rm -rf $(VENV) .distillery
