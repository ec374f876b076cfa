# The whole set-up is these targets: `make serve` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 4000
CONFIG ?=

.PHONY: serve test lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/switchyard serve --host $(HOST) --port $(PORT) $(if $(CONFIG),--config $(CONFIG))

test: $(STAMP)
	scripts/test-services.sh
	$(BIN)/ruff check switchyard tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/overhead.py

clean:
	rm -rf $(VENV) .switchyard .pytest_cache .mypy_cache .ruff_cache
