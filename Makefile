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

bench: $(STAMP)
	for bench in $(BENCHES); do $(BIN)/python bench/$$bench.py || exit 1; done

bench-quick: $(STAMP)
	for bench in $(BENCHES); do $(BIN)/python bench/$$bench.py --quick || exit 1; done

clean:
	rm -rf $(VENV) .distillery
