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

dev: $(STAMP)
	$(BIN)/distillery dev

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

bench-quick: $(STAMP)
	$(BIN)/python bench/ingest.py --quick

clean:
	rm -rf $(VENV) .distillery
