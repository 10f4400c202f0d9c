# The two commands a newcomer types: `make demo` and `make test`.
# Each creates or reuses .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo serve test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

demo: $(STAMP)
	$(BIN)/python -m glue demo

# The shop on HTTP (GLUE_DATABASES__*, default customers, inventory and orders.sqlite
# here); Ctrl-C stops it.
serve: $(STAMP)
	$(BIN)/python -m glue serve --app domains.shop.api:make_api

lint: $(STAMP)
	$(BIN)/ruff check glue tests domains examples benchmarks
	$(BIN)/ruff format --check glue tests domains examples benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy glue tests

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/dispatch.py
	$(BIN)/python benchmarks/write.py
	$(BIN)/python benchmarks/join.py
	$(BIN)/python benchmarks/http.py
	$(BIN)/python benchmarks/outbox.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
