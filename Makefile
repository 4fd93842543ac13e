# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

## Run the whole payment flow on an embedded Redis (no server needed).
demo: install
	$(BIN)/b2bpay demo $(DEMO_ARGS)

## Every test: unit, integration (real Redis), end-to-end, API, web and faults (worker
## processes), on two pytest-xdist workers (tests sharing a stack stay on one, see
## tests/conftest.py); the 25 slowest are listed at the end.
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25 $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check shared services tests
	$(BIN)/ruff format --check shared services tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .b2bpay .pytest_cache .mypy_cache .ruff_cache
